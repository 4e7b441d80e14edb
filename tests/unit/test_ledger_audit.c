/*
 * test_ledger_audit.c: ledger_verify() passes on an honest ledger and names
 * the row when a copy of the file is edited behind the ledger's back with
 * plain SQL (the sqlite3 API, as an attacker with a database tool would).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "station/ledger.h"
#include "tests/support/check.h"

static char dir[256];
static char dbpath[512];

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
op_run(ledger *l, enum ledger_op_kind kind, int64_t *id, const char *device, unsigned n)
{
	static const uint8_t cert[600] = {0x30, 0x82, 0x02, 0x54};
	uint8_t serial[LEDGER_SERIAL_LEN] = {0x11};
	struct cs_err err = {0};
	struct ledger_op op = {
		.kind = kind,
		.id = *id,
		.device_id = device,
		.profile = "widget-a",
		.lot = "L1",
		.serial = serial,
		.cert_der = cert,
		.cert_len = sizeof(cert),
		.reason = CS_ERR_POLICY_QUOTA,
		.reason_text = "lot L1 used 5 of 5",
		.err = &err,
	};
	int rc;

	serial[LEDGER_SERIAL_LEN - 1] = (uint8_t)n;
	rc = ledger_apply(l, &op);
	if (rc != 0)
		fprintf(stderr, "op %d failed: %s\n", (int)kind, err.msg);
	*id = op.id;
	return rc;
}

/* Issuances 1..3 verified, 4 failed, 5 refused, 6 signed. */
static int
ledger_populate(void)
{
	struct cs_err err = {0};
	ledger *l = ledger_open(dbpath, &err);
	int64_t id;
	unsigned i;
	int rc = 0;

	if (l == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	for (i = 1; i <= 3; i++) {
		char dev[16];

		snprintf(dev, sizeof(dev), "dev-%04u", i);
		id = 0;
		rc |= op_run(l, LEDGER_OP_RESERVE, &id, dev, i);
		rc |= op_run(l, LEDGER_OP_SIGNED, &id, dev, i);
		rc |= op_run(l, LEDGER_OP_INJECTED, &id, dev, i);
		rc |= op_run(l, LEDGER_OP_VERIFIED, &id, dev, i);
	}
	id = 0;
	rc |= op_run(l, LEDGER_OP_RESERVE, &id, "dev-0004", 4);
	rc |= op_run(l, LEDGER_OP_FAILED, &id, "dev-0004", 4);
	id = 0;
	rc |= op_run(l, LEDGER_OP_REFUSED, &id, "dev-0005", 5);
	id = 0;
	rc |= op_run(l, LEDGER_OP_RESERVE, &id, "dev-0006", 6);
	rc |= op_run(l, LEDGER_OP_SIGNED, &id, "dev-0006", 6);
	id = 1;
	rc |= op_run(l, LEDGER_OP_REDELIVERED, &id, NULL, 0);
	ledger_close(l);
	return rc;
}

static int
file_copy(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[65536];
	size_t n;
	int rc = 0;

	if (in == NULL || out == NULL)
		rc = -1;
	while (rc == 0) {
		n = fread(buf, 1, sizeof(buf), in);
		if (n == 0)
			break;
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	}
	if (in != NULL)
		fclose(in);
	if (out != NULL && fclose(out) != 0)
		rc = -1;
	return rc;
}

/* Copy the ledger, run sql on the copy, verify the copy. */
static int
tamper(const char *name, const char *sql, struct cs_err *err)
{
	char copy[600];
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	snprintf(copy, sizeof(copy), "%s/%s.db", dir, name);
	if (file_copy(dbpath, copy) != 0) {
		CHECK(!"copy failed");
		return -1;
	}
	CHECK_INT_EQ(sqlite3_open(copy, &db), SQLITE_OK);
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "%s: %s\n", name, msg);
	CHECK_INT_EQ(rc, SQLITE_OK);
	CHECK_INT_EQ(sqlite3_changes(db) > 0, 1);
	sqlite3_free(msg);
	sqlite3_close(db);
	rc = ledger_verify(copy, NULL, err);
	fprintf(stderr, "%-18s -> %s\n", name, err->msg);
	return rc;
}

int
main(void)
{
	struct ledger_verify_report rep = {0};
	struct cs_err err = {0};
	ledger *l;

	snprintf(dir, sizeof(dir), "/tmp/test_ledger_audit.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/ledger.db", dir);

	/* Fresh, empty ledger verifies. */
	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	ledger_close(l);
	CHECK_INT_EQ(ledger_verify(dbpath, &rep, &err), 0);
	CHECK_INT_EQ(rep.audit_rows, 0);

	CHECK_INT_EQ(ledger_populate(), 0);
	CHECK_INT_EQ(ledger_verify(dbpath, &rep, &err), 0);
	if (err.code != 0)
		fprintf(stderr, "verify: %s\n", err.msg);
	/* 3x4 + 2 + 1 + 2 + 1 redelivery */
	CHECK_INT_EQ(rep.audit_rows, 18);
	CHECK_INT_EQ(rep.head_seq, 18);
	CHECK_INT_EQ(rep.issuances, 6);

	/* Reopening (no interrupted rows but 6 is SIGNED, not RESERVED) and
	 * verifying again still passes: open itself must not break the chain. */
	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	ledger_close(l);
	CHECK_INT_EQ(ledger_verify(dbpath, &rep, &err), 0);

	CHECK_INT_EQ(tamper("edit-payload",
			 "UPDATE audit SET payload = replace(payload, 'dev-0002', 'dev-9999') "
			 "WHERE seq = 6",
			 &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "audit seq 6");
	CHECK_MSG_HAS(err, "row edited");

	CHECK_INT_EQ(tamper("edit-device", "UPDATE issuance SET device_id = 'dev-evil' WHERE id = 2",
			 &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "issuance 2: device_id is 'dev-evil'");
	CHECK_MSG_HAS(err, "'dev-0002' in its last audit row (seq 8)");

	CHECK_INT_EQ(tamper("edit-cert",
			 "UPDATE issuance SET cert_der = x'3003020107' WHERE id = 3", &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "issuance 3: cert_sha256");

	CHECK_INT_EQ(tamper("edit-state",
			 "UPDATE issuance SET state = 'SIGNED' WHERE id = 1", &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "issuance 1: state is 'SIGNED'");

	CHECK_INT_EQ(tamper("delete-middle", "DELETE FROM audit WHERE seq = 7", &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "audit seq 7 is missing");

	CHECK_INT_EQ(tamper("truncate-tail", "DELETE FROM audit WHERE seq > 15", &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "ends at seq 15 but audit_head records seq 18");

	CHECK_INT_EQ(tamper("delete-issuance", "DELETE FROM issuance WHERE id = 4", &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "issuance 4 (audit seq 13) is missing");

	CHECK_INT_EQ(tamper("delete-head", "DELETE FROM audit_head", &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "audit_head row is missing");

	CHECK_INT_EQ(tamper("insert-issuance",
			 "INSERT INTO issuance(device_id, profile, state, created_at, updated_at) "
			 "VALUES ('ghost', 'widget-a', 'VERIFIED', 1, 1)",
			 &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "issuance 7 has no audit row");

	CHECK_INT_EQ(tamper("swap-rows",
			 "UPDATE audit SET seq = -1 WHERE seq = 2; "
			 "UPDATE audit SET seq = 2 WHERE seq = 3; "
			 "UPDATE audit SET seq = 3 WHERE seq = -1",
			 &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "audit seq 2");

	CHECK_INT_EQ(tamper("edit-event-column",
			 "UPDATE audit SET event = 'VERIFIED' WHERE seq = 5", &err),
	    CS_ERR_LEDGER_TAMPERED);
	CHECK_MSG_HAS(err, "audit seq 5: event column 'VERIFIED'");

	/* Not a ledger at all. */
	{
		char other[600];
		FILE *f;

		snprintf(other, sizeof(other), "%s/not-a-ledger.db", dir);
		f = fopen(other, "w");
		fputs("hello, I am not SQLite at all, but long enough to look like a file\n", f);
		fclose(f);
		CHECK(ledger_verify(other, NULL, &err) != 0);
		CHECK_MSG_HAS(err, "not-a-ledger.db");
	}
	CHECK_INT_EQ(ledger_verify(NULL, NULL, &err), CS_ERR_INVALID_ARG);

	/* The original is untouched by all of the above. */
	CHECK_INT_EQ(ledger_verify(dbpath, &rep, &err), 0);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_finish("test_ledger_audit");
}
