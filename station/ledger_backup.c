/*
 * ledger_backup.c: a consistent copy of the live ledger (contract in
 * ledger.h, ledger_backup()).
 *
 * DESIGN: copying the SQLite file with cp while the station commits can
 * give a torn copy (the WAL holds the newest pages); SQLite's online backup
 * does it right. The whole copy is one backup step: a chunked backup
 * restarts every time another connection writes, which on a busy line is
 * every few milliseconds, while one step reads a single snapshot (WAL mode:
 * the station's writer is never blocked). The copy goes to a temporary
 * name beside the target, is switched to rollback journal mode so that it
 * is one self-contained file, fsync'ed, and verified like `ledger verify`
 * (audit chain, head, issuance rows) plus SQLite's integrity check; only
 * then does it get its name (link(2): never over an existing file), so a
 * copy cut short by a crash or a power cut never looks like a backup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "station/file_read.h"
#include "station/ledger_int.h"

/* fsync path, then the directory holding it (the new name must survive
 * power loss too). */
static int
backup_sync(const char *path, struct cs_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return cs_err_set(err, CS_ERR_IO, "backup %s: fsync: %s", path, strerror(e));
	}
	close(fd);
	return cs_dir_sync(path, err);
}

static int
backup_integrity(const char *path, struct cs_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = cs_err_set(err, CS_ERR_LEDGER_CORRUPT, "backup %s cannot be checked: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : "out of memory");
	} else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		rc = cs_err_set(err, CS_ERR_LEDGER_CORRUPT, "backup %s fails SQLite's integrity "
		    "check: %.200s", path, (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* How long a backup waits for a lock the station holds (a commit takes
 * milliseconds; a minute means something is wrong). */
#define BACKUP_BUSY_MAX_MS 60000

static int
backup_copy(const char *src_path, const char *tmp_path, struct cs_err *err)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b;
	sqlite3_stmt *st = NULL;
	int rc = 0, step, waited = 0;

	src = ledger_db_open_ro(src_path, err); /* also refuses another schema version */
	if (src == NULL)
		return err != NULL ? err->code : CS_ERR_LEDGER_IO;
	if (sqlite3_open_v2(tmp_path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = cs_err_set(err, CS_ERR_IO, "backup %s cannot be opened: %s", tmp_path,
		    dst != NULL ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (b == NULL) {
		rc = cs_err_set(err, CS_ERR_IO, "backup %s: %s", tmp_path, sqlite3_errmsg(dst));
		goto out;
	}
	/* the station holds the write lock for a commit at most: wait it out */
	for (;;) {
		step = sqlite3_backup_step(b, -1);
		if ((step != SQLITE_BUSY && step != SQLITE_LOCKED) || waited >= BACKUP_BUSY_MAX_MS)
			break;
		sqlite3_sleep(20);
		waited += 20;
	}
	sqlite3_backup_finish(b);
	if (step != SQLITE_DONE) {
		rc = cs_err_set(err, CS_ERR_IO, "backup of %s: copy failed: %s%s", src_path,
		    sqlite3_errstr(step), waited >= BACKUP_BUSY_MAX_MS ? " (locked for a minute)" : "");
		goto out;
	}
	/* the copy carries the ledger's WAL flag: one file, no -wal beside it */
	if (sqlite3_prepare_v2(dst, "PRAGMA journal_mode=DELETE", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "delete") != 0) {
		rc = cs_err_set(err, CS_ERR_IO, "backup %s: cannot leave WAL mode: %s", tmp_path,
		    sqlite3_errmsg(dst));
		goto out;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(src);
	sqlite3_close(dst);
	return rc;
}

int
ledger_backup(const char *src_path, const char *dst_path, struct ledger_verify_report *out,
    struct cs_err *err)
{
	char tmp[4096];
	struct stat st;
	int fd, rc;

	cs_err_clear(err);
	if (src_path == NULL || dst_path == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "ledger backup: NULL path");
	if (stat(src_path, &st) != 0)
		return cs_err_set(err, CS_ERR_LEDGER_IO, "ledger %s: %s", src_path, strerror(errno));
	/* never overwrite: an old backup is worth more than a typo (checked
	 * again, atomically, when the copy gets its name) */
	if (access(dst_path, F_OK) == 0)
		return cs_err_set(err, CS_ERR_CONFIG,
		    "backup %s: already exists; backups are never overwritten", dst_path);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", dst_path) >= (int)sizeof(tmp))
		return cs_err_set(err, CS_ERR_TOO_LARGE, "backup path is too long");
	fd = mkstemp(tmp);
	if (fd < 0)
		return cs_err_set(err, CS_ERR_IO, "backup %s: %s", dst_path, strerror(errno));
	(void)fchmod(fd, st.st_mode & 0660);
	close(fd);

	rc = backup_copy(src_path, tmp, err);
	if (rc == 0)
		rc = backup_sync(tmp, err);
	if (rc == 0)
		rc = backup_integrity(tmp, err);
	if (rc == 0)
		rc = ledger_verify(tmp, out, err);
	if (rc == 0 && link(tmp, dst_path) != 0)
		rc = cs_err_set(err, errno == EEXIST ? CS_ERR_CONFIG : CS_ERR_IO, "backup %s: %s",
		    dst_path,
		    errno == EEXIST ? "already exists; backups are never overwritten"
				    : strerror(errno));
	unlink(tmp);
	if (rc == 0)
		rc = backup_sync(dst_path, err);
	return rc;
}
