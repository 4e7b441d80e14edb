/*
 * ledger_query.c: the dashboard's read-only ledger connections (contract
 * in ledger_query.h).
 *
 * The list statement is assembled from fixed fragments, one per filter in
 * use, so SQLite can pick the index that fits (device prefix as a range on
 * issuance_device, time as a range on issuance_created, keyset paging on
 * the primary key); values are always bound.
 */
#include "station/ledger_query.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "station/ledger_int.h"

/* LEDGER_ROW_COLUMNS with the certificate left out (NULL in its place), so
 * ledger_row_read() works unchanged on list rows. Keep in LEDGER_COL_* order. */
#define LQ_LIST_COLUMNS                                                                          \
	"id, state, device_id, profile, lot, fixture, slot, serial, pubkey_sha256, csr_sha256, " \
	"not_before, not_after, NULL, created_at, updated_at, duration_us, reason, "             \
	"reason_text, readback_sha256, timings"

struct lq_conn {
	pthread_mutex_t mu;
	sqlite3 *db;
};

struct ledger_query {
	char *path;
	unsigned n;
	unsigned next; /* round robin when all are busy */
	pthread_mutex_t pick_mu;
	struct lq_conn c[LEDGER_QUERY_CONNECTIONS_MAX];
};

ledger_query *
ledger_query_open(const char *path, unsigned connections, struct cs_err *err)
{
	ledger_query *q;

	cs_err_clear(err);
	if (connections == 0)
		connections = 2;
	if (connections > LEDGER_QUERY_CONNECTIONS_MAX)
		connections = LEDGER_QUERY_CONNECTIONS_MAX;
	q = calloc(1, sizeof(*q));
	if (q == NULL || (q->path = strdup(path != NULL ? path : "")) == NULL) {
		free(q);
		cs_err_set(err, CS_ERR_NOMEM, "ledger query: out of memory");
		return NULL;
	}
	pthread_mutex_init(&q->pick_mu, NULL);
	for (unsigned k = 0; k < connections; k++) {
		pthread_mutex_init(&q->c[k].mu, NULL);
		q->n++;
		q->c[k].db = ledger_db_open_ro(path, err);
		if (q->c[k].db == NULL) {
			ledger_query_close(q);
			return NULL;
		}
		/* belt and braces: this connection never writes */
		sqlite3_exec(q->c[k].db, "PRAGMA query_only = 1", NULL, NULL, NULL);
	}
	return q;
}

void
ledger_query_close(ledger_query *q)
{
	if (q == NULL)
		return;
	for (unsigned k = 0; k < q->n; k++) {
		sqlite3_close(q->c[k].db);
		pthread_mutex_destroy(&q->c[k].mu);
	}
	pthread_mutex_destroy(&q->pick_mu);
	free(q->path);
	free(q);
}

const char *
ledger_query_path(const ledger_query *q)
{
	return q != NULL ? q->path : "";
}

/* A free connection, else wait for one in turn. Returned locked. */
static struct lq_conn *
conn_get(ledger_query *q)
{
	unsigned k;

	for (k = 0; k < q->n; k++)
		if (pthread_mutex_trylock(&q->c[k].mu) == 0)
			return &q->c[k];
	pthread_mutex_lock(&q->pick_mu);
	k = q->next++ % q->n;
	pthread_mutex_unlock(&q->pick_mu);
	pthread_mutex_lock(&q->c[k].mu);
	return &q->c[k];
}

static void
conn_put(struct lq_conn *c)
{
	pthread_mutex_unlock(&c->mu);
}

static int
io_fail(struct cs_err *err, sqlite3 *db, const char *what)
{
	return cs_err_set(err, CS_ERR_LEDGER_IO, "ledger query (%s): %s", what, sqlite3_errmsg(db));
}

/* The smallest string greater than every string starting with p, as a
 * bound for "device_id < upper": p with its last byte below 0xff raised by
 * one (trailing 0xff bytes dropped). 0 if there is none (p all 0xff). */
static int
prefix_upper(const char *p, char *out, size_t cap)
{
	size_t n = strnlen(p, cap - 1);

	memcpy(out, p, n);
	while (n > 0 && (unsigned char)out[n - 1] == 0xff)
		n--;
	if (n == 0)
		return 0;
	out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	out[n] = '\0';
	return 1;
}

struct lq_where {
	char sql[512];
	char upper[LEDGER_DEVICE_ID_MAX + 2];
	int has_prefix, has_upper;
};

/* WHERE clause for f; paging adds "id < ?8" when asked. Parameters:
 * ?1 prefix, ?2 upper bound, ?3 state, ?4 slot, ?5 reason, ?6 from, ?7 to,
 * ?8 before, ?9 limit, ?10 offset. */
static void
where_build(const struct ledger_query_filter *f, int paging, struct lq_where *w)
{
	size_t o = 0;

	memset(w, 0, sizeof(*w));
	o += (size_t)snprintf(w->sql + o, sizeof(w->sql) - o, " WHERE 1");
	if (f->device_prefix != NULL && f->device_prefix[0] != '\0') {
		w->has_prefix = 1;
		o += (size_t)snprintf(w->sql + o, sizeof(w->sql) - o, " AND device_id >= ?1");
		w->has_upper = prefix_upper(f->device_prefix, w->upper, sizeof(w->upper));
		if (w->has_upper)
			o += (size_t)snprintf(w->sql + o, sizeof(w->sql) - o, " AND device_id < ?2");
	}
	if (f->state != 0)
		o += (size_t)snprintf(w->sql + o, sizeof(w->sql) - o, " AND state = ?3");
	if (f->slot != NULL)
		o += (size_t)snprintf(w->sql + o, sizeof(w->sql) - o, " AND slot = ?4");
	if (f->reason != NULL)
		o += (size_t)snprintf(w->sql + o, sizeof(w->sql) - o, " AND reason = ?5");
	if (f->from_us > 0)
		o += (size_t)snprintf(w->sql + o, sizeof(w->sql) - o, " AND created_at >= ?6");
	if (f->to_us > 0 && f->to_us < INT64_MAX)
		o += (size_t)snprintf(w->sql + o, sizeof(w->sql) - o, " AND created_at < ?7");
	if (paging && f->before_id > 0)
		snprintf(w->sql + o, sizeof(w->sql) - o, " AND id < ?8");
}

static void
where_bind(sqlite3_stmt *st, const struct ledger_query_filter *f, const struct lq_where *w)
{
	if (w->has_prefix)
		sqlite3_bind_text(st, 1, f->device_prefix, -1, SQLITE_STATIC);
	if (w->has_upper)
		sqlite3_bind_text(st, 2, w->upper, -1, SQLITE_STATIC);
	if (f->state != 0)
		sqlite3_bind_text(st, 3, ledger_state_name(f->state), -1, SQLITE_STATIC);
	if (f->slot != NULL)
		sqlite3_bind_text(st, 4, f->slot, -1, SQLITE_STATIC);
	if (f->reason != NULL)
		sqlite3_bind_text(st, 5, f->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, f->from_us);
	sqlite3_bind_int64(st, 7, f->to_us);
	sqlite3_bind_int64(st, 8, f->before_id);
}

int
ledger_query_list(ledger_query *q, const struct ledger_query_filter *f, ledger_query_row_fn fn,
    void *arg, int *more, int64_t *total, struct cs_err *err)
{
	struct lq_where w;
	struct lq_conn *c;
	sqlite3_stmt *st = NULL;
	struct ledger_record rec;
	char sql[1024];
	size_t rows = 0;
	int rc = 0, step;

	cs_err_clear(err);
	if (more != NULL)
		*more = 0;
	if (f->limit < 1 || f->limit > LEDGER_QUERY_LIMIT_MAX || f->offset > LEDGER_QUERY_OFFSET_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "ledger query: limit must be 1..%d and offset at most %d", LEDGER_QUERY_LIMIT_MAX,
		    LEDGER_QUERY_OFFSET_MAX);
	if (f->device_prefix != NULL && strlen(f->device_prefix) > LEDGER_DEVICE_ID_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "ledger query: device ID prefix is longer than %d bytes", LEDGER_DEVICE_ID_MAX);
	c = conn_get(q);
	where_build(f, 1, &w);
	/* one row beyond the page tells whether another page exists */
	snprintf(sql, sizeof(sql), "SELECT " LQ_LIST_COLUMNS " FROM issuance%s "
	    "ORDER BY id DESC LIMIT ?9 OFFSET ?10", w.sql);
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = io_fail(err, c->db, "list");
		goto out;
	}
	where_bind(st, f, &w);
	sqlite3_bind_int64(st, 9, (int64_t)f->limit + 1);
	sqlite3_bind_int64(st, 10, (int64_t)f->offset);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (rows == f->limit) {
			if (more != NULL)
				*more = 1;
			break;
		}
		rc = ledger_row_read(st, &rec);
		if (rc != 0) {
			cs_err_set(err, rc, "ledger query: issuance row %lld cannot be read",
			    (long long)sqlite3_column_int64(st, 0));
			goto out;
		}
		rows++;
		rc = fn(arg, &rec);
		ledger_record_clear(&rec);
		if (rc != 0)
			goto out;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		rc = io_fail(err, c->db, "list");
		goto out;
	}
	if (total != NULL) {
		sqlite3_finalize(st);
		st = NULL;
		where_build(f, 0, &w);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM issuance%s", w.sql);
		if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
			rc = io_fail(err, c->db, "count");
			goto out;
		}
		where_bind(st, f, &w);
		if (sqlite3_step(st) != SQLITE_ROW) {
			rc = io_fail(err, c->db, "count");
			goto out;
		}
		*total = sqlite3_column_int64(st, 0);
	}
out:
	sqlite3_finalize(st);
	conn_put(c);
	return rc;
}

int
ledger_query_get(ledger_query *q, int64_t id, struct ledger_record *out, struct cs_err *err)
{
	struct lq_conn *c;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	cs_err_clear(err);
	memset(out, 0, sizeof(*out));
	c = conn_get(q);
	if (sqlite3_prepare_v2(c->db, "SELECT " LEDGER_ROW_COLUMNS " FROM issuance WHERE id = ?1",
		-1, &st, NULL) != SQLITE_OK) {
		rc = io_fail(err, c->db, "get");
		goto out;
	}
	sqlite3_bind_int64(st, 1, id);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE)
		rc = cs_err_set(err, CS_ERR_NOT_FOUND, "no issuance with id %lld", (long long)id);
	else if (step != SQLITE_ROW)
		rc = io_fail(err, c->db, "get");
	else if ((rc = ledger_row_read(st, out)) != 0)
		cs_err_set(err, rc, "ledger query: issuance row %lld cannot be read", (long long)id);
out:
	sqlite3_finalize(st);
	conn_put(c);
	return rc;
}

int
ledger_query_reasons(ledger_query *q, int64_t from_us, int64_t to_us,
    struct ledger_reason_count *out, size_t cap, size_t *n, int64_t states[LEDGER_FAILED + 1],
    struct cs_err *err)
{
	struct lq_conn *c;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	cs_err_clear(err);
	*n = 0;
	if (states != NULL)
		memset(states, 0, sizeof(int64_t) * (LEDGER_FAILED + 1));
	c = conn_get(q);
	if (sqlite3_prepare_v2(c->db,
		"SELECT coalesce(reason, ''), count(*) FROM issuance WHERE state = 'FAILED' "
		"AND created_at >= ?1 AND created_at < ?2 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?3",
		-1, &st, NULL) != SQLITE_OK) {
		rc = io_fail(err, c->db, "reasons");
		goto out;
	}
	sqlite3_bind_int64(st, 1, from_us);
	sqlite3_bind_int64(st, 2, to_us);
	sqlite3_bind_int64(st, 3, (int64_t)cap);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *r = sqlite3_column_text(st, 0);

		snprintf(out[*n].reason, sizeof(out[*n].reason), "%s", r != NULL ? (const char *)r : "");
		out[*n].count = sqlite3_column_int64(st, 1);
		(*n)++;
	}
	if (step != SQLITE_DONE) {
		rc = io_fail(err, c->db, "reasons");
		goto out;
	}
	if (states != NULL) {
		sqlite3_finalize(st);
		st = NULL;
		if (sqlite3_prepare_v2(c->db,
			"SELECT state, count(*) FROM issuance WHERE created_at >= ?1 "
			"AND created_at < ?2 GROUP BY state",
			-1, &st, NULL) != SQLITE_OK) {
			rc = io_fail(err, c->db, "states");
			goto out;
		}
		sqlite3_bind_int64(st, 1, from_us);
		sqlite3_bind_int64(st, 2, to_us);
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			enum ledger_state s =
			    ledger_state_parse((const char *)sqlite3_column_text(st, 0));

			if (s >= LEDGER_RESERVED && s <= LEDGER_FAILED)
				states[s] = sqlite3_column_int64(st, 1);
		}
		if (step != SQLITE_DONE)
			rc = io_fail(err, c->db, "states");
	}
out:
	sqlite3_finalize(st);
	conn_put(c);
	return rc;
}

static int64_t
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int
ledger_query_health(ledger_query *q, struct ledger_query_health *out, struct cs_err *err)
{
	struct lq_conn *c;
	sqlite3_stmt *st = NULL;
	char wal[4096 + 8];
	int rc = 0;

	cs_err_clear(err);
	memset(out, 0, sizeof(*out));
	out->size_bytes = file_size(q->path);
	snprintf(wal, sizeof(wal), "%s-wal", q->path);
	out->wal_bytes = file_size(wal);
	c = conn_get(q);
	if (sqlite3_prepare_v2(c->db,
		"SELECT (SELECT at FROM audit ORDER BY seq DESC LIMIT 1), "
		"(SELECT max(id) FROM issuance)",
		-1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		rc = io_fail(err, c->db, "health");
		goto out;
	}
	out->last_commit_us = sqlite3_column_int64(st, 0);
	out->last_id = sqlite3_column_int64(st, 1);
out:
	sqlite3_finalize(st);
	conn_put(c);
	return rc;
}
