/*
 * ledger.c: opening the ledger, the writer thread and its group commit, and
 * the lookups.
 *
 * DESIGN: one writer thread owns the write connection and its prepared
 * statements. ledger_submit() links the caller's op into a queue (no
 * allocation) and signals. The writer takes every queued op at once, runs
 * BEGIN IMMEDIATE, applies each op (a refused transition is decided before
 * any write, a duplicate serial is undone by SQLite's statement rollback, so
 * either fails that op only; see writer_op()), appends one audit
 * row per applied op, moves audit_head once, and COMMITs: with
 * synchronous=FULL that is one durable fsync for the whole batch. Only then
 * are the done callbacks called. If BEGIN or COMMIT fails, every op of the
 * batch fails with CS_ERR_LEDGER_IO and the next batch starts afresh: a
 * caller never proceeds on an op that is not durable.
 *
 * Lookups use a second, read-only connection under its own mutex; in WAL
 * mode readers do not block the writer, and they see committed data only.
 *
 * Rare maintenance work that writes (work-order import) is handed to the
 * writer thread as a job, so the write connection stays single-threaded.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "station/clock.h"
#include "station/file_read.h"
#include "station/ledger.h"
#include "station/ledger_int.h"
#include "station/workorder.h"

struct ledger_job {
	int (*fn)(ledger *l, void *arg, struct cs_err *err);
	void *arg;
	struct cs_err *err;
	int status;
	int finished;
	pthread_cond_t cond; /* waits with l->mu */
	struct ledger_job *next;
};

enum wstmt {
	W_BEGIN,
	W_COMMIT,
	W_ROLLBACK,
	W_INSERT,
	W_STATE,
	W_UPDATE,
	W_ROW,
	W_SERIAL,
	W_AUDIT,
	W_HEAD,
	W_COUNT_,
};

static const char *const wsql[W_COUNT_] = {
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_INSERT] = "INSERT INTO issuance(device_id, profile, lot, fixture, slot, serial, "
		     "pubkey_sha256, csr_sha256, state, reason, reason_text, not_before, "
		     "not_after, created_at, updated_at, duration_us, timings) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15, "
		     "?16)",
	[W_STATE] = "SELECT state, cert_der IS NOT NULL FROM issuance WHERE id = ?1",
	/* A row that leaves FAILED (a signed certificate re-delivered after an
	 * interrupted exchange) drops its old reason: the reason always
	 * explains the current state. */
	[W_UPDATE] = "UPDATE issuance SET state = ?1, cert_der = coalesce(?2, cert_der), "
		     "readback_sha256 = coalesce(?3, readback_sha256), "
		     "reason = CASE WHEN ?1 = 'FAILED' THEN coalesce(?4, reason) END, "
		     "reason_text = CASE WHEN ?1 = 'FAILED' THEN coalesce(?5, reason_text) END, "
		     "updated_at = ?6, "
		     "duration_us = CASE WHEN ?7 > 0 THEN ?7 ELSE duration_us END, "
		     "fixture = coalesce(?9, fixture), slot = coalesce(?10, slot), "
		     "timings = coalesce(?11, timings) "
		     "WHERE id = ?8",
	[W_ROW] = "SELECT " LEDGER_ROW_COLUMNS " FROM issuance WHERE id = ?1",
	[W_SERIAL] = "SELECT id FROM issuance WHERE serial = ?1",
	[W_AUDIT] = "INSERT INTO audit(seq, at, issuance_id, event, payload, prev_hash, hash) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[W_HEAD] = "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1",
};

enum rstmt {
	R_LATEST,
	R_GET,
	R_LOT,
	R_ALLOW,
	R_COUNT_,
};

static const char *const rsql[R_COUNT_] = {
	/* A FAILED row that holds a certificate was signed and then interrupted
	 * (device pulled, read-back wrong): that certificate is still the
	 * device's, and is delivered again rather than a second one signed. */
	[R_LATEST] = "SELECT " LEDGER_ROW_COLUMNS " FROM issuance WHERE device_id = ?1 "
		     "AND (state <> 'FAILED' OR cert_der IS NOT NULL) ORDER BY id DESC LIMIT 1",
	[R_GET] = "SELECT " LEDGER_ROW_COLUMNS " FROM issuance WHERE id = ?1",
	[R_LOT] = "SELECT count(*) FROM issuance WHERE lot = ?1 "
		  "AND (state <> 'FAILED' OR cert_der IS NOT NULL) AND serial IS NOT NULL",
	[R_ALLOW] = "SELECT a.lot, l.quota FROM allowlist a JOIN lot l ON l.lot = a.lot "
		    "WHERE a.device_id = ?1",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS issuance("
	" id INTEGER PRIMARY KEY,"
	" device_id TEXT NOT NULL,"
	" profile TEXT NOT NULL,"
	" lot TEXT, fixture TEXT, slot TEXT,"
	" serial BLOB UNIQUE,"
	" pubkey_sha256 BLOB, csr_sha256 BLOB,"
	" state TEXT NOT NULL CHECK (state IN ('RESERVED','SIGNED','INJECTED','VERIFIED',"
	"'FAILED')),"
	" reason TEXT, reason_text TEXT,"
	" not_before INTEGER, not_after INTEGER,"
	" cert_der BLOB,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	" duration_us INTEGER NOT NULL DEFAULT 0,"
	" readback_sha256 BLOB,"
	" timings TEXT);"
	"CREATE INDEX IF NOT EXISTS issuance_device ON issuance(device_id, id);"
	"CREATE INDEX IF NOT EXISTS issuance_lot ON issuance(lot);"
	"CREATE INDEX IF NOT EXISTS issuance_created ON issuance(created_at);"
	"CREATE INDEX IF NOT EXISTS issuance_reserved ON issuance(id) WHERE state = 'RESERVED';"
	"CREATE TABLE IF NOT EXISTS audit("
	" seq INTEGER PRIMARY KEY,"
	" at INTEGER NOT NULL,"
	" issuance_id INTEGER NOT NULL REFERENCES issuance(id),"
	" event TEXT NOT NULL,"
	" payload TEXT NOT NULL,"
	" prev_hash BLOB NOT NULL,"
	" hash BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS audit_issuance ON audit(issuance_id, seq);"
	"CREATE TABLE IF NOT EXISTS audit_head("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" seq INTEGER NOT NULL,"
	" hash BLOB NOT NULL);"
	"INSERT OR IGNORE INTO audit_head(id, seq, hash) VALUES (1, 0, zeroblob(32));"
	"CREATE TABLE IF NOT EXISTS lot("
	" lot TEXT PRIMARY KEY,"
	" quota INTEGER);"
	"CREATE TABLE IF NOT EXISTS allowlist("
	" device_id TEXT PRIMARY KEY,"
	" lot TEXT NOT NULL REFERENCES lot(lot));";

struct ledger {
	char *path;
	sqlite3 *wdb;
	sqlite3 *rdb;
	sqlite3_stmt *w[W_COUNT_];
	sqlite3_stmt *r[R_COUNT_];
	pthread_mutex_t rmu; /* guards rdb and r[] */

	pthread_mutex_t mu; /* guards the queue, jobs, stopping, stats */
	pthread_cond_t cv;
	struct ledger_op *head, *tail;
	size_t queued;       /* ops in head..tail */
	int lingering;       /* writer is collecting a batch: wake it only when full */
	size_t last_batch;   /* ops in the last commit (writer thread only) */
	/* when the oldest work not yet taken by the writer arrived, and when
	 * the batch the writer is working on did (0: none): their age is the
	 * writer's lag, which a service watchdog reads */
	int64_t pending_since_us, batch_since_us;
	int64_t last_commit_us;
	struct ledger_job *jobs, *jobs_tail;
	int stopping;
	pthread_t thread;
	int thread_started;
	struct ledger_stats stats;

	/* writer thread only: the chain head as of the last statement applied */
	int64_t seq;
	uint8_t hash[LEDGER_HASH_LEN];
};

static int
io_err(struct cs_err *err, sqlite3 *db, const char *what)
{
	return cs_err_set(err, CS_ERR_LEDGER_IO, "ledger %s failed: %s", what,
	    db != NULL ? sqlite3_errmsg(db) : "no connection");
}

/* Run a prepared statement that returns no rows, and reset it. */
static int
w_run(ledger *l, enum wstmt k)
{
	int rc = sqlite3_step(l->w[k]);

	sqlite3_reset(l->w[k]);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void
w_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void
bind_opt_text(sqlite3_stmt *st, int i, const char *s, size_t max)
{
	size_t n;

	if (s == NULL) {
		sqlite3_bind_null(st, i);
		return;
	}
	n = strnlen(s, max);
	sqlite3_bind_text(st, i, s, (int)n, SQLITE_STATIC);
}

static void
bind_opt_blob(sqlite3_stmt *st, int i, const uint8_t *p, size_t n)
{
	if (p == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
}

static int
check_name(struct cs_err *e, const char *what, const char *s, size_t max, int required)
{
	size_t n;

	if (s == NULL) {
		if (required)
			return cs_err_set(e, CS_ERR_INVALID_ARG, "ledger: %s is missing", what);
		return 0;
	}
	n = strnlen(s, max + 1);
	if (required && n == 0)
		return cs_err_set(e, CS_ERR_INVALID_ARG, "ledger: %s is empty", what);
	if (n > max)
		return cs_err_set(e, CS_ERR_INVALID_ARG, "ledger: %s is longer than %zu bytes",
		    what, max);
	return 0;
}

static const char *
op_event(enum ledger_op_kind k)
{
	switch (k) {
	case LEDGER_OP_RESERVE:
		return "RESERVED";
	case LEDGER_OP_SIGNED:
		return "SIGNED";
	case LEDGER_OP_INJECTED:
		return "INJECTED";
	case LEDGER_OP_VERIFIED:
		return "VERIFIED";
	case LEDGER_OP_FAILED:
		return "FAILED";
	case LEDGER_OP_REFUSED:
		return "REFUSED";
	case LEDGER_OP_REDELIVERED:
		return "REDELIVERED";
	}
	return NULL;
}

/* Insert a new row (RESERVE, REFUSED). */
static int
op_insert(ledger *l, struct ledger_op *op, int64_t now, struct cs_err *e)
{
	sqlite3_stmt *st = l->w[W_INSERT];
	int refused = op->kind == LEDGER_OP_REFUSED;
	const char *reason_text;
	int rc;

	if (!refused) {
		rc = check_name(e, "device ID", op->device_id, LEDGER_DEVICE_ID_MAX, 1);
		if (rc == 0)
			rc = check_name(e, "profile", op->profile, LEDGER_NAME_MAX, 1);
		if (rc == 0 && op->serial == NULL)
			rc = cs_err_set(e, CS_ERR_INVALID_ARG, "ledger: RESERVE without a serial");
		if (rc == 0)
			rc = check_name(e, "lot", op->lot, LEDGER_NAME_MAX, 0);
		if (rc == 0)
			rc = check_name(e, "fixture", op->fixture, LEDGER_NAME_MAX, 0);
		if (rc == 0)
			rc = check_name(e, "slot", op->slot, LEDGER_NAME_MAX, 0);
		if (rc != 0)
			return rc;
	}
	/* A refusal is recorded whatever the request held: overlong names are
	 * truncated rather than losing the record of the refusal. */
	bind_opt_text(st, 1, op->device_id != NULL ? op->device_id : "", LEDGER_DEVICE_ID_MAX);
	bind_opt_text(st, 2, op->profile != NULL ? op->profile : "", LEDGER_NAME_MAX);
	bind_opt_text(st, 3, op->lot, LEDGER_NAME_MAX);
	bind_opt_text(st, 4, op->fixture, LEDGER_NAME_MAX);
	bind_opt_text(st, 5, op->slot, LEDGER_NAME_MAX);
	bind_opt_blob(st, 6, refused ? NULL : op->serial, LEDGER_SERIAL_LEN);
	bind_opt_blob(st, 7, op->pubkey_sha256, 32);
	bind_opt_blob(st, 8, op->csr_sha256, 32);
	sqlite3_bind_text(st, 9, refused ? "FAILED" : "RESERVED", -1, SQLITE_STATIC);
	if (refused) {
		reason_text = op->reason_text != NULL ? op->reason_text : cs_strerror(op->reason);
		sqlite3_bind_text(st, 10, cs_reason_name(op->reason), -1, SQLITE_STATIC);
		bind_opt_text(st, 11, reason_text, LEDGER_REASON_TEXT_MAX - 1);
		sqlite3_bind_null(st, 12);
		sqlite3_bind_null(st, 13);
	} else {
		sqlite3_bind_int64(st, 12, op->not_before);
		sqlite3_bind_int64(st, 13, op->not_after);
	}
	sqlite3_bind_int64(st, 14, now);
	sqlite3_bind_int64(st, 15, op->duration_us > 0 ? op->duration_us : 0);
	bind_opt_text(st, 16, op->timings, LEDGER_TIMINGS_MAX - 1);
	rc = sqlite3_step(st);
	w_done(st);
	if (rc == SQLITE_DONE) {
		op->id = sqlite3_last_insert_rowid(l->wdb);
		return 0;
	}
	if (rc == SQLITE_CONSTRAINT && sqlite3_extended_errcode(l->wdb) ==
	    SQLITE_CONSTRAINT_UNIQUE) {
		char hex[2 * LEDGER_SERIAL_LEN + 1];
		long long other = 0;

		ledger_hex(op->serial, LEDGER_SERIAL_LEN, hex, 0);
		sqlite3_bind_blob(l->w[W_SERIAL], 1, op->serial, LEDGER_SERIAL_LEN, SQLITE_STATIC);
		if (sqlite3_step(l->w[W_SERIAL]) == SQLITE_ROW)
			other = sqlite3_column_int64(l->w[W_SERIAL], 0);
		w_done(l->w[W_SERIAL]);
		return cs_err_set(e, CS_ERR_LEDGER_CONFLICT,
		    "serial %s is already recorded by issuance %lld; a serial is never reused", hex,
		    other);
	}
	return io_err(e, l->wdb, "insert of an issuance");
}

/* Which states each transition may start from (bit per enum ledger_state). */
static unsigned
allowed_from(enum ledger_op_kind k)
{
	switch (k) {
	case LEDGER_OP_SIGNED:
		return 1u << LEDGER_RESERVED;
	case LEDGER_OP_INJECTED:
		/* again after VERIFIED (rework: the same certificate re-delivered)
		 * and after FAILED if a certificate is stored (checked by the caller) */
		return 1u << LEDGER_SIGNED | 1u << LEDGER_INJECTED | 1u << LEDGER_VERIFIED |
		    1u << LEDGER_FAILED;
	case LEDGER_OP_VERIFIED:
		return 1u << LEDGER_INJECTED | 1u << LEDGER_VERIFIED;
	case LEDGER_OP_FAILED:
		return 1u << LEDGER_RESERVED | 1u << LEDGER_SIGNED | 1u << LEDGER_INJECTED;
	case LEDGER_OP_REDELIVERED:
		return 1u << LEDGER_SIGNED | 1u << LEDGER_INJECTED | 1u << LEDGER_VERIFIED |
		    1u << LEDGER_FAILED;
	default:
		return 0;
	}
}

static enum ledger_state
target_state(enum ledger_op_kind k, enum ledger_state from)
{
	switch (k) {
	case LEDGER_OP_SIGNED:
		return LEDGER_SIGNED;
	case LEDGER_OP_INJECTED:
		/* a certificate verified once stays VERIFIED when it is delivered
		 * again (rework): an interrupted re-delivery cannot make it fail */
		return from == LEDGER_VERIFIED ? LEDGER_VERIFIED : LEDGER_INJECTED;
	case LEDGER_OP_VERIFIED:
		return LEDGER_VERIFIED;
	case LEDGER_OP_FAILED:
		return LEDGER_FAILED;
	default:
		return from;
	}
}

static void
allowed_list(unsigned mask, char *out, size_t cap)
{
	int s;

	out[0] = '\0';
	for (s = LEDGER_RESERVED; s <= LEDGER_FAILED; s++) {
		if ((mask & (1u << s)) == 0)
			continue;
		if (out[0] != '\0')
			strncat(out, ", ", cap - strlen(out) - 1);
		strncat(out, ledger_state_name((enum ledger_state)s), cap - strlen(out) - 1);
	}
}

/* Move an existing row; the check and the write run in one transaction on
 * the only writer, so nothing can slip in between. */
static int
op_transition(ledger *l, struct ledger_op *op, int64_t now, const char *reason_override,
    struct cs_err *e)
{
	sqlite3_stmt *st = l->w[W_STATE];
	enum ledger_state from, to;
	unsigned mask = allowed_from(op->kind);
	int rc, has_cert;

	if (op->id <= 0)
		return cs_err_set(e, CS_ERR_INVALID_ARG, "ledger: %s without an issuance id",
		    op_event(op->kind));
	if (op->kind == LEDGER_OP_SIGNED &&
	    (op->cert_der == NULL || op->cert_len == 0 || op->cert_len > LEDGER_CERT_MAX))
		return cs_err_set(e, CS_ERR_INVALID_ARG,
		    "ledger: issuance %lld: SIGNED needs a certificate of 1..%d bytes, got %zu",
		    (long long)op->id, LEDGER_CERT_MAX, op->cert_der != NULL ? op->cert_len : 0);
	sqlite3_bind_int64(st, 1, op->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		w_done(st);
		return cs_err_set(e, CS_ERR_NOT_FOUND, "ledger: issuance %lld does not exist",
		    (long long)op->id);
	}
	if (rc != SQLITE_ROW) {
		w_done(st);
		return io_err(e, l->wdb, "state lookup");
	}
	from = ledger_state_parse((const char *)sqlite3_column_text(st, 0));
	has_cert = sqlite3_column_int(st, 1);
	w_done(st);
	to = target_state(op->kind, from);
	/* Leaving FAILED is only for a certificate that exists: a refusal or an
	 * interrupted reservation stays failed for good. */
	if (from == LEDGER_FAILED && !has_cert)
		mask &= ~(1u << LEDGER_FAILED);
	if (from == 0 || (mask & (1u << from)) == 0) {
		char list[80];

		allowed_list(mask, list, sizeof(list));
		return cs_err_set(e, CS_ERR_INVALID_ARG,
		    "issuance %lld: cannot go from %s to %s (%s is allowed only from %s)",
		    (long long)op->id, ledger_state_name(from),
		    op->kind == LEDGER_OP_REDELIVERED ? "REDELIVERED" : ledger_state_name(to),
		    op_event(op->kind), list);
	}
	if (op->kind == LEDGER_OP_REDELIVERED)
		return 0; /* audit-only */
	st = l->w[W_UPDATE];
	sqlite3_bind_text(st, 1, ledger_state_name(to), -1, SQLITE_STATIC);
	if (op->kind == LEDGER_OP_SIGNED)
		sqlite3_bind_blob(st, 2, op->cert_der, (int)op->cert_len, SQLITE_STATIC);
	if ((op->kind == LEDGER_OP_INJECTED || op->kind == LEDGER_OP_VERIFIED) &&
	    op->readback_sha256 != NULL)
		sqlite3_bind_blob(st, 3, op->readback_sha256, 32, SQLITE_STATIC);
	if (op->kind == LEDGER_OP_FAILED) {
		const char *text = op->reason_text != NULL ? op->reason_text
							    : cs_strerror(op->reason);

		sqlite3_bind_text(st, 4,
		    reason_override != NULL ? reason_override : cs_reason_name(op->reason), -1,
		    SQLITE_STATIC);
		bind_opt_text(st, 5, text, LEDGER_REASON_TEXT_MAX - 1);
	}
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, op->duration_us);
	sqlite3_bind_int64(st, 8, op->id);
	if (op->kind == LEDGER_OP_INJECTED) {
		/* a re-delivery may happen on another slot */
		bind_opt_text(st, 9, op->fixture, LEDGER_NAME_MAX);
		bind_opt_text(st, 10, op->slot, LEDGER_NAME_MAX);
	}
	bind_opt_text(st, 11, op->timings, LEDGER_TIMINGS_MAX - 1);
	rc = sqlite3_step(st);
	w_done(st);
	if (rc != SQLITE_DONE)
		return io_err(e, l->wdb, "update of an issuance");
	return 0;
}

/* Append the audit row for issuance id as it now stands. On success the
 * new head is in *seq / hash (not yet in l: the savepoint may still fail). */
static int
audit_append(ledger *l, int64_t id, const char *event, int64_t now, int64_t *seq,
    uint8_t hash[LEDGER_HASH_LEN], struct cs_err *e)
{
	sqlite3_stmt *row = l->w[W_ROW], *ins = l->w[W_AUDIT];
	char *payload = NULL;
	size_t plen = 0;
	int rc;

	sqlite3_bind_int64(row, 1, id);
	rc = sqlite3_step(row);
	if (rc != SQLITE_ROW) {
		rc = io_err(e, l->wdb, "re-reading an issuance for the audit trail");
		goto out;
	}
	rc = ledger_payload_build(row, event, now, &payload, &plen);
	if (rc != 0) {
		cs_err_set(e, rc, "ledger: cannot build the audit payload of issuance %lld",
		    (long long)id);
		goto out;
	}
	*seq = l->seq + 1;
	rc = ledger_chain_hash(l->hash, *seq, payload, plen, hash);
	if (rc != 0) {
		cs_err_set(e, rc, "ledger: SHA-256 of the audit row failed");
		goto out;
	}
	sqlite3_bind_int64(ins, 1, *seq);
	sqlite3_bind_int64(ins, 2, now);
	sqlite3_bind_int64(ins, 3, id);
	sqlite3_bind_text(ins, 4, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 5, payload, (int)plen, SQLITE_STATIC);
	sqlite3_bind_blob(ins, 6, l->hash, LEDGER_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(ins, 7, hash, LEDGER_HASH_LEN, SQLITE_STATIC);
	rc = sqlite3_step(ins);
	w_done(ins);
	rc = rc == SQLITE_DONE ? 0 : io_err(e, l->wdb, "audit append");
out:
	w_done(row);
	free(payload);
	return rc;
}

/* One op inside its own savepoint. event_override / reason_override serve
 * the recovery of interrupted rows at open. */
static int
writer_op(ledger *l, struct ledger_op *op, int64_t now, const char *event_override,
    const char *reason_override, int *half_applied, struct cs_err *e)
{
	const char *event = event_override != NULL ? event_override : op_event(op->kind);
	int64_t seq = 0;
	uint8_t hash[LEDGER_HASH_LEN];
	int rc;

	if (event == NULL)
		return cs_err_set(e, CS_ERR_INVALID_ARG, "ledger: unknown op kind %d",
		    (int)op->kind);
	/* No savepoint per op (they cost two statements each on the hot path):
	 * every refusal (bad transition, unknown id, bad arguments) is decided
	 * before anything is written, and a failing INSERT (duplicate serial)
	 * is undone by SQLite's statement rollback. A failure after the first
	 * write of an op leaves it half-applied, so it breaks the whole batch. */
	if (op->kind == LEDGER_OP_RESERVE || op->kind == LEDGER_OP_REFUSED)
		rc = op_insert(l, op, now, e);
	else
		rc = op_transition(l, op, now, reason_override, e);
	if (rc != 0)
		return rc;
	rc = audit_append(l, op->id, event, now, &seq, hash, e);
	if (rc != 0) {
		*half_applied = 1;
		return rc;
	}
	l->seq = seq;
	memcpy(l->hash, hash, LEDGER_HASH_LEN);
	return 0;
}

/* Apply a batch in one transaction; statuses land in op->status_. */
static void
writer_batch(ledger *l, struct ledger_op *ops, const char *event_override,
    const char *reason_override)
{
	struct ledger_op *op;
	int64_t saved_seq = l->seq, committed = 0, failed = 0;
	uint8_t saved_hash[LEDGER_HASH_LEN];
	struct cs_err batch = {0};
	int broken = 0;

	memcpy(saved_hash, l->hash, LEDGER_HASH_LEN);
	if (w_run(l, W_BEGIN) != SQLITE_OK) {
		io_err(&batch, l->wdb, "BEGIN");
		broken = 1;
	}
	for (op = ops; op != NULL && !broken; op = op->next_) {
		struct cs_err e = {0};
		int64_t id_in = op->id;

		int half_applied = 0;

		op->status_ = writer_op(l, op, cs_real_us(), event_override, reason_override,
		    &half_applied, &e);
		if (op->status_ != 0) {
			if (op->kind == LEDGER_OP_RESERVE || op->kind == LEDGER_OP_REFUSED)
				op->id = id_in;
			if (op->err != NULL)
				*op->err = e;
		}
		if (half_applied || sqlite3_get_autocommit(l->wdb)) {
			/* Half an op written, or SQLite rolled the whole transaction
			 * back (disk full, I/O): nothing of this batch may stand. */
			batch = e;
			broken = 1;
		}
	}
	if (!broken) {
		sqlite3_bind_int64(l->w[W_HEAD], 1, l->seq);
		sqlite3_bind_blob(l->w[W_HEAD], 2, l->hash, LEDGER_HASH_LEN, SQLITE_STATIC);
		if (w_run(l, W_HEAD) != SQLITE_OK) {
			io_err(&batch, l->wdb, "audit_head update");
			broken = 1;
		}
		sqlite3_clear_bindings(l->w[W_HEAD]);
	}
	if (!broken && w_run(l, W_COMMIT) != SQLITE_OK) {
		io_err(&batch, l->wdb, "COMMIT");
		broken = 1;
	}
	if (broken) {
		if (!sqlite3_get_autocommit(l->wdb))
			w_run(l, W_ROLLBACK);
		l->seq = saved_seq;
		memcpy(l->hash, saved_hash, LEDGER_HASH_LEN);
	}
	for (op = ops; op != NULL; op = op->next_) {
		if (broken) {
			op->status_ = CS_ERR_LEDGER_IO;
			if (op->kind == LEDGER_OP_RESERVE || op->kind == LEDGER_OP_REFUSED)
				op->id = 0;
			if (op->err != NULL)
				cs_err_set(op->err, CS_ERR_LEDGER_IO,
				    "%s; nothing of this batch was stored", batch.msg);
		} else if (op->status_ == 0 && op->err != NULL) {
			cs_err_clear(op->err);
		}
		if (op->status_ == 0)
			committed++;
		else
			failed++;
	}
	pthread_mutex_lock(&l->mu);
	if (broken) {
		l->stats.commit_failures++;
	} else {
		l->stats.commits++;
		if ((uint64_t)committed > l->stats.max_batch)
			l->stats.max_batch = (uint64_t)committed;
	}
	l->stats.ops_committed += (uint64_t)committed;
	l->stats.ops_failed += (uint64_t)failed;
	pthread_mutex_unlock(&l->mu);
}

static void
batch_complete(struct ledger_op *ops)
{
	while (ops != NULL) {
		/* done may free op: take the link first. */
		struct ledger_op *next = ops->next_;
		int status = ops->status_;

		ops->next_ = NULL;
		if (ops->done != NULL)
			ops->done(ops, status);
		ops = next;
	}
}

/*
 * Group-commit linger. Under load, committing whatever one wake-up finds
 * gives batches of 3-5 rows and spends the CPU the signers need on commits
 * and fsyncs. So when the previous commit ended less than LEDGER_LINGER_US
 * ago and carried at least LEDGER_LINGER_MIN_BATCH rows (the station is
 * busy), the writer waits up to that long for the batch to fill to
 * LEDGER_BATCH_TARGET. A lone request (an idle line, the CLI) and a few
 * fixtures whose steps follow one another (each waits for the previous
 * commit) are committed at once: lingering would only add latency to them.
 * Called with l->mu held; returns with it held.
 */
static void
writer_linger(ledger *l)
{
	struct timespec deadline;
	int64_t now = cs_real_us(), until;

	if (l->head == NULL || l->stopping || l->queued >= LEDGER_BATCH_TARGET ||
	    now - l->last_commit_us > LEDGER_LINGER_US || l->last_batch < LEDGER_LINGER_MIN_BATCH)
		return;
	until = now + LEDGER_LINGER_US;
	deadline.tv_sec = (time_t)(until / 1000000);
	deadline.tv_nsec = (long)(until % 1000000) * 1000;
	l->lingering = 1;
	while (l->queued < LEDGER_BATCH_TARGET && !l->stopping && l->jobs == NULL)
		if (pthread_cond_timedwait(&l->cv, &l->mu, &deadline) != 0)
			break;
	l->lingering = 0;
}

static void *
writer_main(void *arg)
{
	ledger *l = arg;

	prctl(PR_SET_NAME, "cs-ledger"); /* visible in top -H, ps -L, perf */

	for (;;) {
		struct ledger_op *ops;
		struct ledger_job *jobs, *j;

		pthread_mutex_lock(&l->mu);
		while (l->head == NULL && l->jobs == NULL && !l->stopping)
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->head == NULL && l->jobs == NULL && l->stopping) {
			pthread_mutex_unlock(&l->mu);
			break;
		}
		writer_linger(l);
		ops = l->head;
		l->last_batch = l->queued;
		l->head = l->tail = NULL;
		l->queued = 0;
		jobs = l->jobs;
		l->jobs = l->jobs_tail = NULL;
		l->batch_since_us = l->pending_since_us;
		l->pending_since_us = 0;
		pthread_mutex_unlock(&l->mu);

		if (ops != NULL) {
			writer_batch(l, ops, NULL, NULL);
			l->last_commit_us = cs_real_us();
			batch_complete(ops);
		}
		while (jobs != NULL) {
			j = jobs;
			jobs = j->next;
			j->status = j->fn(l, j->arg, j->err);
			pthread_mutex_lock(&l->mu);
			j->finished = 1;
			pthread_cond_signal(&j->cond);
			pthread_mutex_unlock(&l->mu);
		}
		pthread_mutex_lock(&l->mu);
		l->batch_since_us = 0;
		pthread_mutex_unlock(&l->mu);
	}
	return NULL;
}

uint64_t
ledger_writer_lag_ms(ledger *l)
{
	int64_t oldest, now = cs_mono_us();

	if (l == NULL)
		return 0;
	pthread_mutex_lock(&l->mu);
	oldest = l->batch_since_us != 0 ? l->batch_since_us : l->pending_since_us;
	pthread_mutex_unlock(&l->mu);
	return oldest != 0 && now > oldest ? (uint64_t)(now - oldest) / 1000u : 0;
}

/* Run fn on the writer thread and wait for it. */
static int
ledger_job_run(ledger *l, int (*fn)(ledger *, void *, struct cs_err *), void *arg,
    struct cs_err *err)
{
	struct ledger_job job = {.fn = fn, .arg = arg, .err = err};

	pthread_cond_init(&job.cond, NULL);
	pthread_mutex_lock(&l->mu);
	if (l->stopping) {
		pthread_mutex_unlock(&l->mu);
		pthread_cond_destroy(&job.cond);
		return cs_err_set(err, CS_ERR_STOPPED, "ledger is closing");
	}
	if (l->pending_since_us == 0)
		l->pending_since_us = cs_mono_us();
	if (l->jobs_tail != NULL)
		l->jobs_tail->next = &job;
	else
		l->jobs = &job;
	l->jobs_tail = &job;
	pthread_cond_signal(&l->cv);
	while (!job.finished)
		pthread_cond_wait(&job.cond, &l->mu);
	pthread_mutex_unlock(&l->mu);
	pthread_cond_destroy(&job.cond);
	return job.status;
}

static int
exec_sql(sqlite3 *db, const char *sql, struct cs_err *err, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		cs_err_set(err, CS_ERR_LEDGER_IO, "ledger %s failed: %s", what,
		    msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return CS_ERR_LEDGER_IO;
	}
	return 0;
}

static int
pragma_int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int
db_configure(ledger *l, struct cs_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	int rc;

	sqlite3_busy_timeout(l->wdb, LEDGER_BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(l->wdb, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		rc = cs_err_set(err, CS_ERR_LEDGER_IO,
		    "ledger %s cannot use WAL journaling: %s", l->path, sqlite3_errmsg(l->wdb));
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	/* FULL, never NORMAL: in WAL mode NORMAL may lose the last commits on
	 * power loss, and a lost RESERVED row could mean a reused serial. */
	/* A page cache big enough for a shift's working set: the serial index
	 * is keyed by random bytes, so its inserts touch pages all over it. */
	rc = exec_sql(l->wdb,
	    "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-" LEDGER_CACHE_KIB ";",
	    err, "configuration");
	if (rc != 0)
		return rc;
	if (pragma_int(l->wdb, "PRAGMA synchronous", &v) != 0 || v != 2)
		return cs_err_set(err, CS_ERR_LEDGER_IO,
		    "ledger %s: synchronous=FULL did not take effect (reads %lld)", l->path,
		    (long long)v);
	if (pragma_int(l->wdb, "PRAGMA user_version", &v) != 0)
		return io_err(err, l->wdb, "reading the schema version");
	if (v > LEDGER_SCHEMA_VERSION)
		return cs_err_set(err, CS_ERR_LEDGER_CORRUPT,
		    "ledger %s has schema version %lld; this station knows up to version %d",
		    l->path, (long long)v, LEDGER_SCHEMA_VERSION);
	if (v < LEDGER_SCHEMA_VERSION) {
		char sql[sizeof(schema_sql) + 256];

		/* version 1 lacked issuance.timings; the CREATEs below are no-ops
		 * for tables that exist */
		snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; %s %s PRAGMA user_version=%d; COMMIT;",
		    v == 1 ? "ALTER TABLE issuance ADD COLUMN timings TEXT;" : "", schema_sql,
		    LEDGER_SCHEMA_VERSION);
		rc = exec_sql(l->wdb, sql, err, "schema creation");
		if (rc != 0) {
			sqlite3_exec(l->wdb, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
	}
	return exec_sql(l->wdb,
	    "CREATE TEMP TABLE IF NOT EXISTS import_device("
	    " device_id TEXT PRIMARY KEY, line INTEGER NOT NULL)",
	    err, "import table creation");
}

static int
head_load(ledger *l, struct cs_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(l->wdb, "SELECT seq, hash FROM audit_head WHERE id = 1", -1, &st,
		NULL) != SQLITE_OK) {
		rc = io_err(err, l->wdb, "reading audit_head");
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_bytes(st, 1) != LEDGER_HASH_LEN) {
		rc = cs_err_set(err, CS_ERR_LEDGER_CORRUPT,
		    "ledger %s: audit_head row is missing or malformed", l->path);
		goto out;
	}
	l->seq = sqlite3_column_int64(st, 0);
	memcpy(l->hash, sqlite3_column_blob(st, 1), LEDGER_HASH_LEN);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Rows left RESERVED by a crash: nothing was signed for them (SIGNED is
 * written before a certificate leaves the station), so they fail with a
 * reason the operator can read, and their serials stay burnt. */
static int
recover_interrupted(ledger *l, struct cs_err *err)
{
	sqlite3_stmt *st = NULL;
	struct ledger_op *ops = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0, step;

	if (sqlite3_prepare_v2(l->wdb, "SELECT id FROM issuance WHERE state = 'RESERVED' ORDER BY id",
		-1, &st, NULL) != SQLITE_OK) {
		rc = io_err(err, l->wdb, "search for interrupted issuances");
		goto out;
	}
	for (;;) {
		step = sqlite3_step(st);
		if (step != SQLITE_ROW)
			break;
		if (n == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 16;
			struct ledger_op *np = realloc(ops, ncap * sizeof(*ops));

			if (np == NULL) {
				rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory during recovery");
				goto out;
			}
			ops = np;
			cap = ncap;
		}
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n].kind = LEDGER_OP_FAILED;
		ops[n].id = sqlite3_column_int64(st, 0);
		ops[n].reason_text = "interrupted: the station stopped before the certificate was "
				     "signed; nothing was handed out and the serial is not reused";
		n++;
	}
	if (step != SQLITE_DONE) {
		rc = io_err(err, l->wdb, "search for interrupted issuances");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (n == 0)
		goto out;
	for (i = 0; i + 1 < n; i++)
		ops[i].next_ = &ops[i + 1];
	writer_batch(l, ops, "INTERRUPTED", "interrupted");
	for (i = 0; i < n; i++) {
		if (ops[i].status_ != 0) {
			rc = cs_err_set(err, CS_ERR_LEDGER_IO,
			    "ledger %s: cannot mark interrupted issuance %lld as failed", l->path,
			    (long long)ops[i].id);
			break;
		}
	}
out:
	sqlite3_finalize(st);
	free(ops);
	return rc;
}

static int
statements_prepare(ledger *l, struct cs_err *err)
{
	int i;

	for (i = 0; i < W_COUNT_; i++)
		if (sqlite3_prepare_v3(l->wdb, wsql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->w[i],
			NULL) != SQLITE_OK)
			return cs_err_set(err, CS_ERR_LEDGER_CORRUPT,
			    "ledger %s: statement %d does not prepare: %s", l->path, i,
			    sqlite3_errmsg(l->wdb));
	for (i = 0; i < R_COUNT_; i++)
		if (sqlite3_prepare_v3(l->rdb, rsql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->r[i],
			NULL) != SQLITE_OK)
			return cs_err_set(err, CS_ERR_LEDGER_CORRUPT,
			    "ledger %s: lookup %d does not prepare: %s", l->path, i,
			    sqlite3_errmsg(l->rdb));
	return 0;
}

static void
ledger_free(ledger *l)
{
	int i;

	for (i = 0; i < W_COUNT_; i++)
		sqlite3_finalize(l->w[i]);
	for (i = 0; i < R_COUNT_; i++)
		sqlite3_finalize(l->r[i]);
	sqlite3_close(l->rdb);
	sqlite3_close(l->wdb);
	pthread_mutex_destroy(&l->rmu);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->path);
	free(l);
}

ledger *
ledger_open(const char *path, struct cs_err *err)
{
	ledger *l;
	int rc;

	cs_err_clear(err);
	if (path == NULL || path[0] == '\0') {
		cs_err_set(err, CS_ERR_INVALID_ARG, "ledger path is empty");
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory opening the ledger");
		return NULL;
	}
	pthread_mutex_init(&l->rmu, NULL);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->path = strdup(path);
	if (l->path == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory opening the ledger");
		goto fail;
	}
	rc = sqlite3_open_v2(path, &l->wdb,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		cs_err_set(err, CS_ERR_LEDGER_IO, "ledger %s cannot be opened: %s", path,
		    l->wdb != NULL ? sqlite3_errmsg(l->wdb) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(l->wdb, 0);
	if (db_configure(l, err) != 0)
		goto fail;
	rc = sqlite3_open_v2(path, &l->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		cs_err_set(err, CS_ERR_LEDGER_IO, "ledger %s cannot be opened for reading: %s", path,
		    l->rdb != NULL ? sqlite3_errmsg(l->rdb) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(l->rdb, LEDGER_BUSY_TIMEOUT_MS);
	sqlite3_exec(l->rdb, "PRAGMA cache_size=-" LEDGER_CACHE_KIB, NULL, NULL, NULL);
	if (statements_prepare(l, err) != 0 || head_load(l, err) != 0 ||
	    recover_interrupted(l, err) != 0)
		goto fail;
	if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
		cs_err_set(err, CS_ERR_INTERNAL, "ledger writer thread cannot start: %s",
		    strerror(errno));
		goto fail;
	}
	l->thread_started = 1;
	return l;
fail:
	ledger_free(l);
	return NULL;
}

void
ledger_close(ledger *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	if (l->thread_started)
		pthread_join(l->thread, NULL);
	ledger_free(l);
}

int
ledger_submit(ledger *l, struct ledger_op *op)
{
	if (l == NULL || op == NULL)
		return CS_ERR_INVALID_ARG;
	op->next_ = NULL;
	op->status_ = 0;
	pthread_mutex_lock(&l->mu);
	if (l->stopping) {
		pthread_mutex_unlock(&l->mu);
		return CS_ERR_STOPPED;
	}
	if (l->pending_since_us == 0)
		l->pending_since_us = cs_mono_us();
	if (l->tail != NULL)
		l->tail->next_ = op;
	else
		l->head = op;
	l->tail = op;
	l->queued++;
	if (!l->lingering || l->queued >= LEDGER_BATCH_TARGET)
		pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

struct apply_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finished;
	int status;
	void *arg;
};

static void
apply_done(struct ledger_op *op, int status)
{
	struct apply_wait *w = op->arg;

	pthread_mutex_lock(&w->mu);
	w->status = status;
	w->finished = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int
ledger_apply(ledger *l, struct ledger_op *op)
{
	struct apply_wait w = {.finished = 0};
	int rc;

	if (l == NULL || op == NULL || op->done != NULL)
		return CS_ERR_INVALID_ARG;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.arg = op->arg;
	op->arg = &w;
	op->done = apply_done;
	rc = ledger_submit(l, op);
	if (rc == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.finished)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		rc = w.status;
	} else if (op->err != NULL) {
		cs_err_set(op->err, rc, "ledger is closing; the op was not stored");
	}
	op->arg = w.arg;
	op->done = NULL;
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}

/* Lookups: one statement at a time on the read connection. */
static int
record_lookup(ledger *l, enum rstmt k, const char *device_id, int64_t id,
    struct ledger_record *out)
{
	sqlite3_stmt *st;
	int rc, step;

	if (l == NULL || out == NULL)
		return CS_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&l->rmu);
	st = l->r[k];
	if (device_id != NULL)
		sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = ledger_row_read(st, out);
	else if (step == SQLITE_DONE)
		rc = CS_ERR_NOT_FOUND;
	else
		rc = CS_ERR_LEDGER_IO;
	w_done(st);
	pthread_mutex_unlock(&l->rmu);
	if (rc != 0)
		ledger_record_clear(out);
	return rc;
}

int
ledger_device_latest(ledger *l, const char *device_id, struct ledger_record *out)
{
	if (device_id == NULL)
		return CS_ERR_INVALID_ARG;
	return record_lookup(l, R_LATEST, device_id, 0, out);
}

int
ledger_record_get(ledger *l, int64_t id, struct ledger_record *out)
{
	return record_lookup(l, R_GET, NULL, id, out);
}

int
ledger_lot_issued(ledger *l, const char *lot, int64_t *count)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (l == NULL || lot == NULL || count == NULL)
		return CS_ERR_INVALID_ARG;
	*count = 0;
	pthread_mutex_lock(&l->rmu);
	st = l->r[R_LOT];
	sqlite3_bind_text(st, 1, lot, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	else
		rc = CS_ERR_LEDGER_IO;
	w_done(st);
	pthread_mutex_unlock(&l->rmu);
	return rc;
}

int
ledger_allowlist_get(ledger *l, const char *device_id, char lot[LEDGER_NAME_MAX + 1],
    int64_t *quota)
{
	sqlite3_stmt *st;
	int rc, step;

	if (l == NULL || device_id == NULL || lot == NULL || quota == NULL)
		return CS_ERR_INVALID_ARG;
	lot[0] = '\0';
	*quota = -1;
	pthread_mutex_lock(&l->rmu);
	st = l->r[R_ALLOW];
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		snprintf(lot, LEDGER_NAME_MAX + 1, "%s", t != NULL ? (const char *)t : "");
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			*quota = sqlite3_column_int64(st, 1);
		rc = 0;
	} else {
		rc = step == SQLITE_DONE ? CS_ERR_NOT_FOUND : CS_ERR_LEDGER_IO;
	}
	w_done(st);
	pthread_mutex_unlock(&l->rmu);
	return rc;
}

void
ledger_stats_get(ledger *l, struct ledger_stats *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	*out = l->stats;
	pthread_mutex_unlock(&l->mu);
}

/* Work-order import: parsed and written on the writer thread, one
 * transaction. */
struct import_ctx {
	const char *data;
	size_t len;
	const char *name;
	sqlite3_stmt *lot_up, *dev_ins, *dev_line, *allow_up;
	struct ledger_import_stats stats;
};

static int
import_row(const struct workorder_row *row, void *arg, struct cs_err *err)
{
	struct import_ctx *c = arg;
	int rc;

	if (row->lot_first) {
		sqlite3_bind_text(c->lot_up, 1, row->lot, -1, SQLITE_STATIC);
		if (row->quota >= 0)
			sqlite3_bind_int64(c->lot_up, 2, row->quota);
		else
			sqlite3_bind_null(c->lot_up, 2);
		rc = sqlite3_step(c->lot_up);
		w_done(c->lot_up);
		if (rc != SQLITE_DONE)
			return cs_err_set(err, CS_ERR_LEDGER_IO, "%s line %zu: storing lot failed: %s",
			    c->name, row->line, sqlite3_errmsg(sqlite3_db_handle(c->lot_up)));
	}
	sqlite3_bind_text(c->dev_ins, 1, row->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->dev_ins, 2, (int64_t)row->line);
	rc = sqlite3_step(c->dev_ins);
	w_done(c->dev_ins);
	if (rc == SQLITE_CONSTRAINT) {
		long long first = 0;

		sqlite3_bind_text(c->dev_line, 1, row->device_id, -1, SQLITE_STATIC);
		if (sqlite3_step(c->dev_line) == SQLITE_ROW)
			first = sqlite3_column_int64(c->dev_line, 0);
		w_done(c->dev_line);
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s line %zu column 1: device_id '%s' is already listed on line %lld", c->name,
		    row->line, row->device_id, first);
	}
	if (rc != SQLITE_DONE)
		return cs_err_set(err, CS_ERR_LEDGER_IO, "%s line %zu: import failed: %s", c->name,
		    row->line, sqlite3_errmsg(sqlite3_db_handle(c->dev_ins)));
	sqlite3_bind_text(c->allow_up, 1, row->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->allow_up, 2, row->lot, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->allow_up);
	w_done(c->allow_up);
	if (rc != SQLITE_DONE)
		return cs_err_set(err, CS_ERR_LEDGER_IO, "%s line %zu: storing device failed: %s",
		    c->name, row->line, sqlite3_errmsg(sqlite3_db_handle(c->allow_up)));
	return 0;
}

static int
import_job(ledger *l, void *arg, struct cs_err *err)
{
	struct import_ctx *c = arg;
	size_t rows = 0, lots = 0;
	int rc;

	if (sqlite3_prepare_v2(l->wdb,
		"INSERT INTO lot(lot, quota) VALUES (?1, ?2) "
		"ON CONFLICT(lot) DO UPDATE SET quota = excluded.quota",
		-1, &c->lot_up, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(l->wdb, "INSERT INTO temp.import_device(device_id, line) VALUES (?1, ?2)",
		-1, &c->dev_ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(l->wdb, "SELECT line FROM temp.import_device WHERE device_id = ?1", -1,
		&c->dev_line, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(l->wdb,
		"INSERT INTO allowlist(device_id, lot) VALUES (?1, ?2) "
		"ON CONFLICT(device_id) DO UPDATE SET lot = excluded.lot",
		-1, &c->allow_up, NULL) != SQLITE_OK) {
		rc = io_err(err, l->wdb, "import preparation");
		goto out;
	}
	if (w_run(l, W_BEGIN) != SQLITE_OK) {
		rc = io_err(err, l->wdb, "BEGIN for the import");
		goto out;
	}
	rc = exec_sql(l->wdb, "DELETE FROM temp.import_device", err, "import preparation");
	if (rc == 0)
		rc = workorder_parse(c->name, c->data, c->len, import_row, c, &rows, &lots, err);
	if (rc == 0)
		rc = exec_sql(l->wdb, "DELETE FROM temp.import_device", err, "import cleanup");
	if (rc == 0 && w_run(l, W_COMMIT) != SQLITE_OK)
		rc = io_err(err, l->wdb, "COMMIT of the import");
	if (rc != 0 && !sqlite3_get_autocommit(l->wdb))
		w_run(l, W_ROLLBACK);
	if (rc == 0) {
		c->stats.devices = rows;
		c->stats.lots = lots;
	}
out:
	sqlite3_finalize(c->lot_up);
	sqlite3_finalize(c->dev_ins);
	sqlite3_finalize(c->dev_line);
	sqlite3_finalize(c->allow_up);
	return rc;
}

/* The work-order CSV, whole. Codes as importers have always seen them: a
 * file that cannot be opened or read, or is not a regular file, is
 * CS_ERR_IO; one over WORKORDER_FILE_MAX is CS_ERR_TOO_LARGE. */
static int
workorder_file_read(const char *path, char **data, size_t *len, struct cs_err *err)
{
	struct cs_err rerr;
	int rc;

	rc = cs_file_read(path, "a work order", WORKORDER_FILE_MAX, 0, data, len, &rerr);
	if (rc == CS_ERR_TOO_LARGE && *len > 0)
		return cs_err_set(err, rc,
		    "work order %s is %zu bytes; the limit is %u bytes (16 MiB)", path, *len,
		    WORKORDER_FILE_MAX);
	if (rc == CS_ERR_NOT_FOUND || rc == CS_ERR_CONFIG)
		rc = CS_ERR_IO;
	if (rc != 0)
		return cs_err_set(err, rc, "work order %s", rerr.msg);
	return 0;
}

int
ledger_workorder_import(ledger *l, const char *csv_path, struct ledger_import_stats *stats,
    struct cs_err *err)
{
	struct import_ctx c = {0};
	char *data = NULL;
	const char *base;
	int rc;

	cs_err_clear(err);
	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	if (l == NULL || csv_path == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "work order import: NULL argument");
	rc = workorder_file_read(csv_path, &data, &c.len, err);
	if (rc != 0)
		return rc;
	base = strrchr(csv_path, '/');
	c.name = base != NULL ? base + 1 : csv_path;
	c.data = data;
	rc = ledger_job_run(l, import_job, &c, err);
	if (rc == 0 && stats != NULL)
		*stats = c.stats;
	free(data);
	return rc;
}
