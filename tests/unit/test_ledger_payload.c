/*
 * test_ledger_payload.c: the canonical audit payload stays byte for byte
 * what every existing ledger file was written with. One row is pinned to a
 * literal payload; many rows with awkward values (bytes that need escaping,
 * negative and extreme integers, non-integers in integer columns, NULLs,
 * long blobs) are compared with a plain reference rendering of the format
 * written one byte at a time with printf.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "station/ledger_int.h"
#include "tests/support/check.h"

struct ref {
	char buf[16384];
	size_t len;
};

static void
ref_raw(struct ref *r, const char *s, size_t n)
{
	if (r->len + n >= sizeof(r->buf))
		abort();
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

static void
ref_esc(struct ref *r, const unsigned char *s, size_t n)
{
	size_t i;
	char e[4];

	for (i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '%') {
			snprintf(e, sizeof(e), "%%%02X", s[i]);
			ref_raw(r, e, 3);
		} else {
			ref_raw(r, (const char *)&s[i], 1);
		}
	}
}

static void
ref_int(struct ref *r, const char *key, long long v)
{
	char line[80];
	int n = snprintf(line, sizeof(line), "%s=%lld\n", key, v);

	ref_raw(r, line, (size_t)n);
}

static void
ref_text(struct ref *r, sqlite3_stmt *st, int col, const char *key)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	ref_raw(r, key, strlen(key));
	ref_raw(r, "=", 1);
	ref_esc(r, sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
	ref_raw(r, "\n", 1);
}

static void
ref_intcol(struct ref *r, sqlite3_stmt *st, int col, const char *key)
{
	int type = sqlite3_column_type(st, col);

	if (type == SQLITE_NULL)
		return;
	if (type != SQLITE_INTEGER) {
		ref_raw(r, key, strlen(key));
		ref_raw(r, "=?", 2);
		ref_esc(r, sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
		ref_raw(r, "\n", 1);
		return;
	}
	ref_int(r, key, (long long)sqlite3_column_int64(st, col));
}

static void
ref_hex(struct ref *r, sqlite3_stmt *st, int col, const char *key)
{
	const unsigned char *p;
	int i, n;
	char h[3];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	p = sqlite3_column_blob(st, col);
	n = sqlite3_column_bytes(st, col);
	ref_raw(r, key, strlen(key));
	ref_raw(r, "=", 1);
	for (i = 0; i < n; i++) {
		snprintf(h, sizeof(h), "%02x", p[i]);
		ref_raw(r, h, 2);
	}
	ref_raw(r, "\n", 1);
}

static void
ref_build(struct ref *r, sqlite3_stmt *st, const char *event, long long at)
{
	r->len = 0;
	r->buf[0] = '\0';
	ref_int(r, "v", 1);
	ref_raw(r, "event=", 6);
	ref_esc(r, (const unsigned char *)event, strlen(event));
	ref_raw(r, "\n", 1);
	ref_int(r, "issuance", (long long)sqlite3_column_int64(st, LEDGER_COL_ID));
	ref_int(r, "at", at);
	ref_text(r, st, LEDGER_COL_STATE, "state");
	ref_text(r, st, LEDGER_COL_DEVICE_ID, "device_id");
	ref_text(r, st, LEDGER_COL_PROFILE, "profile");
	ref_text(r, st, LEDGER_COL_LOT, "lot");
	ref_text(r, st, LEDGER_COL_FIXTURE, "fixture");
	ref_text(r, st, LEDGER_COL_SLOT, "slot");
	ref_hex(r, st, LEDGER_COL_SERIAL, "serial");
	ref_hex(r, st, LEDGER_COL_PUBKEY, "pubkey_sha256");
	ref_hex(r, st, LEDGER_COL_CSR, "csr_sha256");
	ref_intcol(r, st, LEDGER_COL_NOT_BEFORE, "not_before");
	ref_intcol(r, st, LEDGER_COL_NOT_AFTER, "not_after");
	if (sqlite3_column_type(st, LEDGER_COL_CERT) != SQLITE_NULL) {
		unsigned char h[32];
		unsigned int hl = 0;
		const void *c = sqlite3_column_blob(st, LEDGER_COL_CERT);
		char line[100];
		int i, o;

		EVP_Digest(c != NULL ? c : "", (size_t)sqlite3_column_bytes(st, LEDGER_COL_CERT), h,
		    &hl, EVP_sha256(), NULL);
		o = snprintf(line, sizeof(line), "cert_sha256=");
		for (i = 0; i < 32; i++)
			o += snprintf(line + o, sizeof(line) - (size_t)o, "%02x", h[i]);
		ref_raw(r, line, (size_t)o);
		ref_raw(r, "\n", 1);
	}
	ref_intcol(r, st, LEDGER_COL_CREATED, "created_at");
	ref_intcol(r, st, LEDGER_COL_UPDATED, "updated_at");
	ref_intcol(r, st, LEDGER_COL_DURATION, "duration_us");
	ref_text(r, st, LEDGER_COL_REASON, "reason");
	ref_text(r, st, LEDGER_COL_REASON_TEXT, "reason_text");
	ref_hex(r, st, LEDGER_COL_READBACK, "readback_sha256");
	ref_text(r, st, LEDGER_COL_TIMINGS, "timings");
}

/* A table with the issuance columns but no constraints, so that any value
 * an edited file could hold can be fed to the builder. */
static const char table_sql[] =
	"CREATE TABLE issuance(id INTEGER PRIMARY KEY, state, device_id, profile, lot, fixture, "
	"slot, serial, pubkey_sha256, csr_sha256, not_before, not_after, cert_der, created_at, "
	"updated_at, duration_us, reason, reason_text, readback_sha256, timings);"
	/* 1: a typical SIGNED row */
	"INSERT INTO issuance VALUES (1, 'SIGNED', 'DEV-0001', 'widget-a', 'L1', 'F1', '3', "
	"x'0102030405060708090a0b0c0d0e0f10', x'aa', x'bb', 1700000000, 1800000000, "
	"x'30820254', 1700000000123456, 1700000000223456, 1234, NULL, NULL, NULL, "
	"'csr=120,sign=900');"
	/* 2: bytes that need escaping, negative and extreme integers */
	"INSERT INTO issuance VALUES (2, 'FAILED', 'dev 2%' || char(10) || 'x=y' || char(233), "
	"'p' || char(127) || char(0) || 'q', '', NULL, NULL, NULL, NULL, NULL, "
	"-9223372036854775808, 9223372036854775807, NULL, 0, -1, -0, 'POLICY_QUOTA', "
	"'lot L1 used 5 of 5' || char(13, 10, 9) || '%41', NULL, NULL);"
	/* 3: not what the ledger writes: text, real and blob in integer columns */
	"INSERT INTO issuance VALUES (3, 'VERIFIED', 'd', 'p', NULL, NULL, NULL, zeroblob(0), "
	"zeroblob(33), randomblob(200), 'soon', 1.5, randomblob(3000), x'00ff', 42, "
	"999999999999, NULL, NULL, randomblob(32), '');";

static int
payload_matches(sqlite3_stmt *st, const char *event, long long at, struct ref *r)
{
	char *p = NULL;
	size_t n = 0;
	int ok;

	if (ledger_payload_build(st, event, at, &p, &n) != 0)
		return 0;
	ref_build(r, st, event, at);
	ok = n == r->len && memcmp(p, r->buf, n) == 0 && strlen(p) == n;
	if (!ok)
		fprintf(stderr, "payload differs:\n--- built\n%s\n--- reference\n%s\n", p, r->buf);
	free(p);
	return ok;
}

int
main(void)
{
	static const char *const events[] = {"RESERVED", "SIGNED", "INJECTED", "VERIFIED",
		"FAILED", "REFUSED", "REDELIVERED", "INTERRUPTED", "odd event%\n"};
	static const long long ats[] = {0, 1, -1, 1700000000123456LL, INT64_MIN, INT64_MAX};
	static struct ref r;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *p = NULL;
	size_t n = 0, e, a;
	int rows = 0;

	CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, table_sql, NULL, NULL, NULL) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "SELECT " LEDGER_ROW_COLUMNS " FROM issuance ORDER BY id", -1,
		  &st, NULL) == SQLITE_OK);

	/* The pinned row: the format itself, independent of any builder. */
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK(ledger_payload_build(st, "SIGNED", 1700000000223456LL, &p, &n) == 0);
	CHECK(p != NULL && strcmp(p,
			       "v=1\nevent=SIGNED\nissuance=1\nat=1700000000223456\n"
			       "state=SIGNED\ndevice_id=DEV-0001\nprofile=widget-a\nlot=L1\n"
			       "fixture=F1\nslot=3\nserial=0102030405060708090a0b0c0d0e0f10\n"
			       "pubkey_sha256=aa\ncsr_sha256=bb\nnot_before=1700000000\n"
			       "not_after=1800000000\n"
			       "cert_sha256=82cba77dfd4daac73ec9c98e7630e8b5a05ccc24b6a24192cb904d4374f47255\n"
			       "created_at=1700000000123456\nupdated_at=1700000000223456\n"
			       "duration_us=1234\ntimings=csr=120,sign=900\n") == 0);
	CHECK(n == (p != NULL ? strlen(p) : 0));
	free(p);
	sqlite3_reset(st);

	while (sqlite3_step(st) == SQLITE_ROW) {
		rows++;
		for (e = 0; e < sizeof(events) / sizeof(events[0]); e++)
			for (a = 0; a < sizeof(ats) / sizeof(ats[0]); a++)
				CHECK(payload_matches(st, events[e], ats[a], &r));
	}
	CHECK_INT_EQ(rows, 3);
	/* The escapes really were exercised. */
	CHECK(strstr(r.buf, "%0A") != NULL || strstr(r.buf, "%25") != NULL);

	sqlite3_finalize(st);
	sqlite3_close(db);
	return check_finish("test_ledger_payload");
}
