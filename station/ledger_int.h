/*
 * ledger_int.h: what ledger.c, ledger_audit.c and ledger_export.c share:
 * the schema, the one column list every reader of an issuance row uses, and
 * the canonical audit payload.
 *
 * The payload of an audit row is built from the issuance row as stored after
 * the op (never from the op itself), so that ledger_verify() can rebuild it
 * from the row at any later time and compare byte for byte.
 */
#ifndef STATION_LEDGER_INT_H
#define STATION_LEDGER_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "station/cs_error.h"
#include "station/ledger.h"

#define LEDGER_SCHEMA_VERSION 2 /* 2: issuance.timings */
#define LEDGER_BUSY_TIMEOUT_MS 5000
#define LEDGER_CERT_MAX (64 * 1024) /* a DER chain element larger than this is a bug */
#define LEDGER_HASH_LEN 32
#define LEDGER_LINGER_US 2000    /* see writer_linger() */
#define LEDGER_LINGER_MIN_BATCH 8 /* linger only after a commit at least this full */
#define LEDGER_BATCH_TARGET 64
#define LEDGER_CACHE_KIB "32768" /* SQLite page cache per connection */

/* Column list of an issuance row; ledger_row_read() and the payload builder
 * index into it with the LEDGER_COL_* numbers below. */
#define LEDGER_ROW_COLUMNS                                                                       \
	"id, state, device_id, profile, lot, fixture, slot, serial, pubkey_sha256, csr_sha256, " \
	"not_before, not_after, cert_der, created_at, updated_at, duration_us, reason, "         \
	"reason_text, readback_sha256, timings"

enum ledger_col {
	LEDGER_COL_ID = 0,
	LEDGER_COL_STATE,
	LEDGER_COL_DEVICE_ID,
	LEDGER_COL_PROFILE,
	LEDGER_COL_LOT,
	LEDGER_COL_FIXTURE,
	LEDGER_COL_SLOT,
	LEDGER_COL_SERIAL,
	LEDGER_COL_PUBKEY,
	LEDGER_COL_CSR,
	LEDGER_COL_NOT_BEFORE,
	LEDGER_COL_NOT_AFTER,
	LEDGER_COL_CERT,
	LEDGER_COL_CREATED,
	LEDGER_COL_UPDATED,
	LEDGER_COL_DURATION,
	LEDGER_COL_REASON,
	LEDGER_COL_REASON_TEXT,
	LEDGER_COL_READBACK,
	LEDGER_COL_TIMINGS,
	LEDGER_COL_COUNT_,
};

/* Parse "RESERVED".. into the enum; 0 if unknown. */
enum ledger_state ledger_state_parse(const char *name);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void ledger_hex(const uint8_t *p, size_t n, char *out, int upper);

/* Fill rec from the current row of st (selected with LEDGER_ROW_COLUMNS).
 * rec->cert_der is malloc'ed. 0 or CS_ERR_NOMEM / CS_ERR_LEDGER_CORRUPT. */
int ledger_row_read(sqlite3_stmt *st, struct ledger_record *rec);

/*
 * Canonical payload of the audit row for event at time at (Unix us), from
 * the current row of st (selected with LEDGER_ROW_COLUMNS): "key=value\n"
 * lines in a fixed order, NULL columns omitted, bytes outside 0x21..0x7e and
 * '%' written as %XX, hashes as lower-case hex, the certificate as its
 * SHA-256. Deterministic: same row, same bytes. *out is malloc'ed,
 * NUL-terminated. 0 or CS_ERR_NOMEM.
 */
int ledger_payload_build(sqlite3_stmt *st, const char *event, int64_t at, char **out,
    size_t *out_len);

/* hash = SHA-256(prev_hash || seq as 8 bytes big-endian || payload). */
int ledger_chain_hash(const uint8_t prev[LEDGER_HASH_LEN], int64_t seq, const char *payload,
    size_t payload_len, uint8_t out[LEDGER_HASH_LEN]);

/* Open path read-only for verify/export, checking the schema version.
 * NULL with err set on failure. */
sqlite3 *ledger_db_open_ro(const char *path, struct cs_err *err);

#endif
