/*
 * ledger_query.h: the dashboard's read-only view of the ledger.
 *
 * Contract: ledger_query_open() opens its own read-only SQLite connections
 * on the ledger file (never the issuance path's connections or mutexes;
 * WAL lets them read a consistent snapshot while the writer commits).
 * Queries are bounded: lists take a limit (at most LEDGER_QUERY_LIMIT_MAX)
 * and hand rows to a callback one at a time; all filter values are bound
 * as parameters, never spliced into SQL. Rows of a list carry no
 * certificate (cert_der NULL) to keep pages light; ledger_query_get()
 * returns one row with its certificate.
 *
 * Threads: any thread; up to `connections` queries run at once, more wait
 * for a free connection (a mutex of this module only).
 */
#ifndef STATION_LEDGER_QUERY_H
#define STATION_LEDGER_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "station/cs_error.h"
#include "station/ledger.h"

#define LEDGER_QUERY_LIMIT_MAX 500
#define LEDGER_QUERY_OFFSET_MAX 100000
#define LEDGER_QUERY_CONNECTIONS_MAX 8

typedef struct ledger_query ledger_query;

/* connections: 1..LEDGER_QUERY_CONNECTIONS_MAX (0: 2). NULL with err if the
 * file cannot be opened read-only or has another schema version. */
ledger_query *ledger_query_open(const char *path, unsigned connections, struct cs_err *err);
void ledger_query_close(ledger_query *q); /* NULL is fine */

struct ledger_query_filter {
	const char *device_prefix; /* NULL or "": any device */
	enum ledger_state state;   /* 0: any */
	const char *slot;          /* NULL: any */
	const char *reason;        /* NULL: any */
	int64_t from_us, to_us;    /* created_at in [from_us, to_us); 0 and 0 (or INT64_MAX): no bound */
	int64_t before_id;         /* keyset paging: id < before_id; 0: none */
	size_t offset;             /* rows to skip, <= LEDGER_QUERY_OFFSET_MAX */
	size_t limit;              /* 1..LEDGER_QUERY_LIMIT_MAX */
};

/* Called per row, newest first; rec is valid during the call only. A
 * non-zero return stops the walk and becomes the list's result. */
typedef int (*ledger_query_row_fn)(void *arg, const struct ledger_record *rec);

/* Matching rows, newest (highest id) first. *more (may be NULL) is set to 1
 * if at least one more row matches after the last one handed out; *total
 * (may be NULL) receives the number of matching rows ignoring paging
 * (a second query: only ask when shown). */
int ledger_query_list(ledger_query *q, const struct ledger_query_filter *f,
    ledger_query_row_fn fn, void *arg, int *more /* OUT */, int64_t *total /* OUT */,
    struct cs_err *err);

/* One issuance with its certificate. 0, CS_ERR_NOT_FOUND or
 * CS_ERR_LEDGER_IO. Release with ledger_record_clear(). */
int ledger_query_get(ledger_query *q, int64_t id, struct ledger_record *out /* OUT */,
    struct cs_err *err);

struct ledger_reason_count {
	char reason[64];
	int64_t count;
};

/* FAILED rows per reason created in [from_us, to_us), most frequent first,
 * at most cap of them; and per state counts (index = enum ledger_state,
 * [0] unused) over the same range if states is non-NULL. */
int ledger_query_reasons(ledger_query *q, int64_t from_us, int64_t to_us,
    struct ledger_reason_count *out, size_t cap, size_t *n /* OUT */,
    int64_t states[LEDGER_FAILED + 1] /* OUT */, struct cs_err *err);

struct ledger_query_health {
	int64_t size_bytes;     /* main file */
	int64_t wal_bytes;      /* -wal file, 0 if none */
	int64_t last_commit_us; /* time of the newest audit row, 0 if none */
	int64_t last_id;        /* highest issuance id, 0 if none */
};

/* Cheap facts for the status panel: two stat() calls and two indexed
 * look-ups. */
int ledger_query_health(ledger_query *q, struct ledger_query_health *out /* OUT */,
    struct cs_err *err);

const char *ledger_query_path(const ledger_query *q);

#endif
