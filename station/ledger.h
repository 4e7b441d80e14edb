/*
 * ledger.h: the durable record of every issuance (SQLite, WAL,
 * synchronous=FULL).
 *
 * Contract: an issuance moves RESERVED -> SIGNED -> INJECTED -> VERIFIED, or
 * to FAILED(reason) from any state before VERIFIED; a request refused before
 * reservation is recorded directly as FAILED. Every transition is one
 * ledger_op; its done callback runs only after the transaction holding it is
 * durable (COMMIT returned with synchronous=FULL), so the issuer never signs
 * without a durable RESERVED row and never hands out a certificate that is
 * not stored.
 *
 * DESIGN: one writer thread owns the write connection and group-commits
 * whatever ops are queued when it wakes (one fsync for many rows, across
 * all callers); nothing is weakened to get there. While busy (the previous
 * commit ended under 2 ms ago) it lingers up to 2 ms for a fuller batch; a
 * lone op on an idle station is committed at once. Each op also appends one
 * row to the audit trail: numbered (seq), hash-chained
 * (hash = SHA-256(prev_hash || canonical row)), and anchored in a head row
 * updated in the same transaction, so ledger_verify() detects an edited,
 * deleted, reordered or truncated row, and an issuance row whose fields no
 * longer match its last audit row.
 *
 * Threads: ledger_submit()/ledger_apply() and the lookups are safe from any
 * thread. Done callbacks run on the writer thread: keep them short (hand
 * the work back to a queue). ledger_open()/ledger_close() from one thread.
 */
#ifndef STATION_LEDGER_H
#define STATION_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "station/cs_error.h"

typedef struct ledger ledger;

enum ledger_state {
	LEDGER_RESERVED = 1,
	LEDGER_SIGNED,
	LEDGER_INJECTED,
	LEDGER_VERIFIED,
	LEDGER_FAILED,
};

enum ledger_op_kind {
	LEDGER_OP_RESERVE = 1, /* new row RESERVED; sets op->id */
	LEDGER_OP_SIGNED,      /* id: RESERVED -> SIGNED, stores cert_der */
	LEDGER_OP_INJECTED,    /* id: SIGNED/INJECTED/FAILED-with-certificate -> INJECTED;
				  VERIFIED stays VERIFIED (re-delivery after rework) */
	LEDGER_OP_VERIFIED,    /* id: INJECTED (or VERIFIED again) -> VERIFIED */
	LEDGER_OP_FAILED,      /* id: any state but VERIFIED -> FAILED(reason) */
	LEDGER_OP_REFUSED,     /* new row directly FAILED(reason) (no serial); sets op->id */
	LEDGER_OP_REDELIVERED, /* id: audit-only event: stored certificate handed out again */
};

#define LEDGER_DEVICE_ID_MAX 128
#define LEDGER_NAME_MAX 64   /* profile, lot, fixture, slot */
#define LEDGER_REASON_TEXT_MAX 512
#define LEDGER_SERIAL_LEN 20 /* = CERT_SERIAL_LEN */
#define LEDGER_TIMINGS_MAX 256

/*
 * One transition. All pointers are borrowed and must stay valid until done
 * runs. Fields a kind does not use are ignored.
 */
struct ledger_op {
	enum ledger_op_kind kind;
	int64_t id; /* IN for transitions, OUT for RESERVE/REFUSED */

	/* RESERVE and REFUSED */
	const char *device_id;
	const char *profile;
	const char *lot;     /* NULL: none */
	const char *fixture; /* NULL: none (CLI) */
	const char *slot;    /* NULL: none */
	const uint8_t *serial;        /* RESERVE: LEDGER_SERIAL_LEN bytes; REFUSED: NULL */
	const uint8_t *pubkey_sha256; /* 32 bytes or NULL (refused before the key was read) */
	const uint8_t *csr_sha256;    /* 32 bytes or NULL */
	int64_t not_before, not_after; /* RESERVE */

	/* SIGNED */
	const uint8_t *cert_der;
	size_t cert_len;

	/* INJECTED / VERIFIED: optional read-back hash the device reported */
	const uint8_t *readback_sha256;

	/* FAILED and REFUSED */
	int reason;              /* CS_ERR_*; stored as cs_reason_name(reason) */
	const char *reason_text; /* the specific sentence */

	int64_t duration_us; /* time spent so far on this issuance, stored with the row */

	/* INJECTED / VERIFIED / FAILED / REFUSED: the exchange's step timings as
	 * compact JSON ({"csr_ms":..,"issue_ms":..,"chain_ms":..}), NULL: unchanged */
	const char *timings;

	/* completion: called on the writer thread once durable (status 0) or failed */
	void (*done)(struct ledger_op *op, int status);
	void *arg;

	/* optional OUT (NULL: none): filled with the sentence when the op fails,
	 * before done runs ("issuance 12: cannot go from VERIFIED to FAILED") */
	struct cs_err *err;

	struct ledger_op *next_; /* private: queue link */
	int status_;             /* private: outcome while the batch completes */
};

/* Latest facts about one issuance, for lookups and exports. */
struct ledger_record {
	int64_t id;
	enum ledger_state state;
	char device_id[LEDGER_DEVICE_ID_MAX + 1];
	char profile[LEDGER_NAME_MAX + 1];
	char lot[LEDGER_NAME_MAX + 1];
	char fixture[LEDGER_NAME_MAX + 1];
	char slot[LEDGER_NAME_MAX + 1];
	uint8_t serial[LEDGER_SERIAL_LEN];
	int has_serial;
	uint8_t pubkey_sha256[32];
	uint8_t csr_sha256[32];
	int64_t created_at, updated_at; /* Unix microseconds */
	int64_t not_before, not_after;  /* Unix seconds */
	int64_t duration_us;
	char reason[64];
	char reason_text[LEDGER_REASON_TEXT_MAX];
	char timings[LEDGER_TIMINGS_MAX];
	uint8_t *cert_der; /* owned, malloc'ed; NULL if not signed */
	size_t cert_len;
};

/* Open or create the ledger at path (schema, WAL, synchronous=FULL, writer
 * thread). Rows left RESERVED by a crash become FAILED("interrupted"): a
 * RESERVED row has no stored certificate, so nothing was handed out, and its
 * serial is never reused. NULL on failure with err set. */
ledger *ledger_open(const char *path, struct cs_err *err);

/* Drain queued ops, stop the writer, close. NULL is fine. */
void ledger_close(ledger *l);

/* Queue op for the next group commit; op->done is called later on the writer
 * thread. Returns CS_ERR_STOPPED after close began, else 0. */
int ledger_submit(ledger *l, struct ledger_op *op);

/* Submit op and wait until it is durable. Returns the op's status. op->done
 * must be NULL (this call supplies its own). */
int ledger_apply(ledger *l, struct ledger_op *op);

/* Latest issuance of device_id that is not FAILED. 0, or CS_ERR_NOT_FOUND.
 * out->cert_der is allocated; release with ledger_record_clear(). */
int ledger_device_latest(ledger *l, const char *device_id, struct ledger_record *out /* OUT */);

/* One issuance by id. 0, or CS_ERR_NOT_FOUND. */
int ledger_record_get(ledger *l, int64_t id, struct ledger_record *out /* OUT */);

/* Free what a lookup allocated inside rec; rec itself is the caller's. */
void ledger_record_clear(struct ledger_record *rec);

/* Number of issuances (not FAILED, distinct serials) charged to lot. */
int ledger_lot_issued(ledger *l, const char *lot, int64_t *count /* OUT */);

/* Work-order allowlist: CSV "device_id,lot,quota" (header row optional,
 * quota is per lot and must agree between rows of one lot). Size-capped,
 * every bad line named by number. Replaces entries for the same device IDs;
 * one transaction: all lines or none. */
struct ledger_import_stats {
	size_t devices;
	size_t lots;
};
int ledger_workorder_import(ledger *l, const char *csv_path,
    struct ledger_import_stats *stats /* OUT */, struct cs_err *err);

/* Allowlist lookup: 0 with lot and quota (-1: no quota), or CS_ERR_NOT_FOUND. */
int ledger_allowlist_get(ledger *l, const char *device_id, char lot[LEDGER_NAME_MAX + 1],
    int64_t *quota /* OUT */);

/* Walk the audit chain and cross-check the issuance rows. 0 if intact,
 * CS_ERR_LEDGER_TAMPERED with the first broken seq/row named in err. */
struct ledger_verify_report {
	int64_t audit_rows;
	int64_t issuances;
	int64_t head_seq;
};
int ledger_verify(const char *path, struct ledger_verify_report *out /* OUT */, struct cs_err *err);

/* A consistent copy of the ledger at src_path into dst_path, taken while the
 * station may be committing (one snapshot; the writer is never blocked).
 * dst_path must not exist (CS_ERR_CONFIG: backups are never overwritten).
 * The copy is one self-contained file (no WAL), fsync'ed with its directory,
 * and passes SQLite's integrity check and ledger_verify() before 0 is
 * returned with its figures in *out; a copy that fails is removed. */
int ledger_backup(const char *src_path, const char *dst_path,
    struct ledger_verify_report *out /* OUT */, struct cs_err *err);

enum ledger_export_format {
	LEDGER_EXPORT_CSV = 1,
	LEDGER_EXPORT_JSON,
};
/* Issuances created in [from_us, to_us) (0/INT64_MAX for all), with device ID,
 * serial (hex), SHA-1 and SHA-256 thumbprints (upper-case hex as IoT Hub shows
 * them), validity (ISO 8601), state, reason, and cert PEM. */
int ledger_export(const char *path, FILE *out, enum ledger_export_format fmt,
    int64_t from_us, int64_t to_us, struct cs_err *err);

const char *ledger_state_name(enum ledger_state s); /* "RESERVED", ... */

/* Counters of the writer, for the dashboard and the benchmark. Any thread. */
struct ledger_stats {
	uint64_t commits;         /* successful group commits */
	uint64_t ops_committed;   /* ops that became durable */
	uint64_t ops_failed;      /* ops refused (bad transition, conflict) or lost to a failed commit */
	uint64_t commit_failures; /* batches whose COMMIT (or BEGIN) failed */
	uint64_t max_batch;       /* largest number of ops in one commit */
};
void ledger_stats_get(ledger *l, struct ledger_stats *out /* OUT */);

/* How long the oldest work handed to the writer has waited unfinished, in
 * ms; 0 when the writer is idle. A healthy writer stays in the tens of ms
 * (one fsync); seconds mean a hung disk or a stuck writer. Any thread. */
uint64_t ledger_writer_lag_ms(ledger *l);

#endif
