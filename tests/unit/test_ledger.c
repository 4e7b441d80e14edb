/*
 * test_ledger.c: the ledger's lifecycle, transitions, conflicts, crash
 * recovery, group commit under many threads, and the lookups, on a real
 * SQLite file in a temporary directory.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

static void
serial_make(uint8_t s[LEDGER_SERIAL_LEN], unsigned n)
{
	memset(s, 0, LEDGER_SERIAL_LEN);
	s[0] = 0x42;
	s[LEDGER_SERIAL_LEN - 4] = (uint8_t)(n >> 24);
	s[LEDGER_SERIAL_LEN - 3] = (uint8_t)(n >> 16);
	s[LEDGER_SERIAL_LEN - 2] = (uint8_t)(n >> 8);
	s[LEDGER_SERIAL_LEN - 1] = (uint8_t)n;
}

static int64_t
reserve(ledger *l, const char *device, const char *lot, const uint8_t *serial, int *status)
{
	static const uint8_t pk[32] = {1, 2, 3};
	struct ledger_op op = {
		.kind = LEDGER_OP_RESERVE,
		.device_id = device,
		.profile = "widget-a",
		.lot = lot,
		.fixture = "F1",
		.slot = "3",
		.serial = serial,
		.pubkey_sha256 = pk,
		.not_before = 1700000000,
		.not_after = 1707776000,
	};

	*status = ledger_apply(l, &op);
	return op.id;
}

static int
transition(ledger *l, enum ledger_op_kind kind, int64_t id, struct cs_err *err)
{
	static const uint8_t cert[] = {0x30, 0x03, 0x02, 0x01, 0x05};
	struct ledger_op op = {
		.kind = kind,
		.id = id,
		.cert_der = cert,
		.cert_len = sizeof(cert),
		.reason = CS_ERR_HSM_SIGN,
		.reason_text = "C_Sign returned CKR_DEVICE_ERROR",
		.duration_us = 1234,
		.err = err,
	};

	return ledger_apply(l, &op);
}

static void
ignore_done(struct ledger_op *op, int status)
{
	(void)op;
	(void)status;
}

static void
test_lifecycle(void)
{
	struct cs_err err = {0};
	struct ledger_record rec;
	uint8_t s1[LEDGER_SERIAL_LEN], s7[LEDGER_SERIAL_LEN];
	ledger *l = ledger_open(dbpath, &err);
	int64_t id, refused_id;
	int st;

	CHECK(l != NULL);
	if (l == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return;
	}
	serial_make(s1, 1);
	id = reserve(l, "dev-0001", "L1", s1, &st);
	CHECK_INT_EQ(st, 0);
	CHECK(id > 0);
	CHECK_INT_EQ(ledger_record_get(l, id, &rec), 0);
	CHECK_INT_EQ(rec.state, LEDGER_RESERVED);
	CHECK(strcmp(rec.device_id, "dev-0001") == 0);
	CHECK(strcmp(rec.fixture, "F1") == 0);
	CHECK(rec.has_serial && memcmp(rec.serial, s1, LEDGER_SERIAL_LEN) == 0);
	CHECK(rec.cert_der == NULL);
	ledger_record_clear(&rec);

	CHECK_INT_EQ(transition(l, LEDGER_OP_SIGNED, id, &err), 0);
	CHECK_INT_EQ(transition(l, LEDGER_OP_INJECTED, id, &err), 0);
	CHECK_INT_EQ(transition(l, LEDGER_OP_INJECTED, id, &err), 0); /* re-delivery */
	CHECK_INT_EQ(transition(l, LEDGER_OP_REDELIVERED, id, &err), 0);
	CHECK_INT_EQ(transition(l, LEDGER_OP_VERIFIED, id, &err), 0);
	CHECK_INT_EQ(transition(l, LEDGER_OP_REDELIVERED, id, &err), 0);

	CHECK_INT_EQ(ledger_device_latest(l, "dev-0001", &rec), 0);
	CHECK_INT_EQ(rec.id, id);
	CHECK_INT_EQ(rec.state, LEDGER_VERIFIED);
	CHECK_INT_EQ(rec.cert_len, 5);
	CHECK(rec.cert_der != NULL && rec.cert_der[0] == 0x30);
	CHECK_INT_EQ(rec.duration_us, 1234);
	CHECK_INT_EQ(rec.not_after, 1707776000);
	ledger_record_clear(&rec);
	ledger_record_clear(&rec); /* idempotent */
	ledger_record_clear(NULL);

	/* Illegal transitions, each named. */
	CHECK_INT_EQ(transition(l, LEDGER_OP_FAILED, id, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "cannot go from VERIFIED to FAILED");
	CHECK_MSG_HAS(err, "issuance");
	CHECK_INT_EQ(transition(l, LEDGER_OP_SIGNED, id, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "from VERIFIED to SIGNED");
	CHECK_INT_EQ(transition(l, LEDGER_OP_SIGNED, 999999, &err), CS_ERR_NOT_FOUND);
	CHECK_MSG_HAS(err, "999999");

	/* Second issuance: RESERVED -> VERIFIED skipping steps is refused,
	 * FAILED once only. */
	serial_make(s1, 2);
	id = reserve(l, "dev-0002", "L1", s1, &st);
	refused_id = id;
	CHECK_INT_EQ(st, 0);
	CHECK_INT_EQ(transition(l, LEDGER_OP_VERIFIED, id, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "from RESERVED to VERIFIED");
	CHECK_INT_EQ(transition(l, LEDGER_OP_INJECTED, id, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(transition(l, LEDGER_OP_REDELIVERED, id, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "from RESERVED to REDELIVERED");
	CHECK_INT_EQ(transition(l, LEDGER_OP_FAILED, id, &err), 0);
	CHECK_INT_EQ(transition(l, LEDGER_OP_FAILED, id, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "from FAILED to FAILED");
	CHECK_INT_EQ(ledger_record_get(l, id, &rec), 0);
	CHECK_INT_EQ(rec.state, LEDGER_FAILED);
	CHECK(strcmp(rec.reason, "hsm-sign") == 0);
	CHECK(strcmp(rec.reason_text, "C_Sign returned CKR_DEVICE_ERROR") == 0);
	ledger_record_clear(&rec);
	CHECK_INT_EQ(ledger_device_latest(l, "dev-0002", &rec), CS_ERR_NOT_FOUND);

	/* An exchange interrupted after signing: the row fails with its reason,
	 * but keeps its certificate, so the device that comes back gets that
	 * certificate again and the row can still reach VERIFIED (the old
	 * reason goes; the audit trail keeps the history). */
	serial_make(s7, 7);
	id = reserve(l, "dev-0007", "L1", s7, &st);
	CHECK_INT_EQ(st, 0);
	CHECK_INT_EQ(transition(l, LEDGER_OP_SIGNED, id, &err), 0);
	{
		struct ledger_op op = {.kind = LEDGER_OP_FAILED, .id = id,
		    .reason = CS_ERR_DEVICE_GONE, .reason_text = "device left mid-chain",
		    .timings = "{\"hello_ms\":3}", .err = &err};

		CHECK_INT_EQ(ledger_apply(l, &op), 0);
	}
	CHECK_INT_EQ(ledger_device_latest(l, "dev-0007", &rec), 0);
	CHECK_INT_EQ(rec.id, id);
	CHECK_INT_EQ(rec.state, LEDGER_FAILED);
	CHECK(strcmp(rec.reason, "device-gone") == 0);
	CHECK(strcmp(rec.timings, "{\"hello_ms\":3}") == 0);
	ledger_record_clear(&rec);
	CHECK_INT_EQ(transition(l, LEDGER_OP_REDELIVERED, id, &err), 0);
	{
		struct ledger_op op = {.kind = LEDGER_OP_INJECTED, .id = id, .fixture = "F2",
		    .slot = "9", .timings = "{\"chain_ms\":5}", .err = &err};

		CHECK_INT_EQ(ledger_apply(l, &op), 0);
	}
	CHECK_INT_EQ(transition(l, LEDGER_OP_VERIFIED, id, &err), 0);
	CHECK_INT_EQ(ledger_record_get(l, id, &rec), 0);
	CHECK_INT_EQ(rec.state, LEDGER_VERIFIED);
	CHECK(rec.reason[0] == '\0');
	CHECK(rec.reason_text[0] == '\0');
	CHECK(strcmp(rec.slot, "9") == 0);
	CHECK(strcmp(rec.fixture, "F2") == 0);
	CHECK(strcmp(rec.timings, "{\"chain_ms\":5}") == 0);
	ledger_record_clear(&rec);
	/* rework after VERIFIED: delivered again (the row stays VERIFIED, so an
	 * interrupted re-delivery cannot turn it FAILED), verified again */
	CHECK_INT_EQ(transition(l, LEDGER_OP_INJECTED, id, &err), 0);
	CHECK_INT_EQ(ledger_record_get(l, id, &rec), 0);
	CHECK_INT_EQ(rec.state, LEDGER_VERIFIED);
	ledger_record_clear(&rec);
	CHECK_INT_EQ(transition(l, LEDGER_OP_FAILED, id, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "from VERIFIED to FAILED");
	CHECK_INT_EQ(transition(l, LEDGER_OP_VERIFIED, id, &err), 0);
	CHECK_INT_EQ(ledger_record_get(l, id, &rec), 0);
	CHECK_INT_EQ(rec.state, LEDGER_VERIFIED);
	ledger_record_clear(&rec);
	/* a failure without a certificate stays failed for good */
	CHECK_INT_EQ(transition(l, LEDGER_OP_INJECTED, refused_id, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "from FAILED to INJECTED");
	CHECK_INT_EQ(transition(l, LEDGER_OP_REDELIVERED, refused_id, &err), CS_ERR_INVALID_ARG);

	/* Duplicate serial. */
	{
		struct ledger_op op = {.kind = LEDGER_OP_RESERVE, .device_id = "dev-0003",
		    .profile = "widget-a", .serial = s1, .err = &err};

		CHECK_INT_EQ(ledger_apply(l, &op), CS_ERR_LEDGER_CONFLICT);
		CHECK_MSG_HAS(err, "serial 4200000000000000000000000000000000000002");
		CHECK_MSG_HAS(err, "already recorded");
		CHECK_INT_EQ(op.id, 0);
	}
	/* RESERVE without what it needs. */
	{
		struct ledger_op op = {.kind = LEDGER_OP_RESERVE, .device_id = "dev-0003",
		    .profile = "widget-a", .err = &err};

		CHECK_INT_EQ(ledger_apply(l, &op), CS_ERR_INVALID_ARG);
		CHECK_MSG_HAS(err, "without a serial");
		op.done = ignore_done;
		CHECK_INT_EQ(ledger_apply(l, &op), CS_ERR_INVALID_ARG); /* done must be NULL */
	}

	/* Refusal: a new FAILED row without serial, not counted for the lot. */
	{
		struct ledger_op op = {.kind = LEDGER_OP_REFUSED, .device_id = "dev-bad",
		    .profile = "widget-a", .lot = "L1", .reason = CS_ERR_CSR_SIGNATURE,
		    .reason_text = "CSR signature does not verify with its own key"};
		int64_t n = -1;

		CHECK_INT_EQ(ledger_apply(l, &op), 0);
		CHECK(op.id > id);
		CHECK_INT_EQ(ledger_record_get(l, op.id, &rec), 0);
		CHECK_INT_EQ(rec.state, LEDGER_FAILED);
		CHECK(!rec.has_serial);
		CHECK(strcmp(rec.reason, "csr-signature") == 0);
		CHECK(strstr(rec.reason_text, "does not verify") != NULL);
		ledger_record_clear(&rec);
		CHECK_INT_EQ(ledger_lot_issued(l, "L1", &n), 0);
		/* dev-0001 and dev-0007 (its exchange failed, but its certificate
		 * exists); not dev-0002 (failed unsigned) nor dev-bad (refused) */
		CHECK_INT_EQ(n, 2);
		CHECK_INT_EQ(ledger_lot_issued(l, "nope", &n), 0);
		CHECK_INT_EQ(n, 0);
		/* a refused row whose device ID is unusable is still recorded */
		op.device_id = NULL;
		op.profile = NULL;
		CHECK_INT_EQ(ledger_apply(l, &op), 0);
	}
	ledger_close(l);
	CHECK_INT_EQ(ledger_submit(NULL, NULL), CS_ERR_INVALID_ARG);
	ledger_close(NULL);
}

/* A process that dies right after its RESERVE, as a power cut would. */
static void
test_crash_recovery(void)
{
	struct cs_err err = {0};
	struct ledger_record rec;
	uint8_t s[LEDGER_SERIAL_LEN];
	pid_t pid;
	int wst = 0, st;
	ledger *l;
	int64_t n = -1;

	serial_make(s, 77);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		ledger *cl = ledger_open(dbpath, NULL);

		if (cl == NULL)
			_exit(2);
		reserve(cl, "dev-crash", "L2", s, &st);
		_exit(st == 0 ? 0 : 3); /* no ledger_close: the writer just vanishes */
	}
	CHECK(pid > 0);
	waitpid(pid, &wst, 0);
	CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);

	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	if (l == NULL)
		return;
	CHECK_INT_EQ(ledger_device_latest(l, "dev-crash", &rec), CS_ERR_NOT_FOUND);
	{
		/* find it by walking ids: it is the newest row */
		int64_t id;
		int found = 0;

		for (id = 1; id < 100 && !found; id++) {
			if (ledger_record_get(l, id, &rec) != 0)
				continue;
			if (strcmp(rec.device_id, "dev-crash") == 0) {
				found = 1;
				CHECK_INT_EQ(rec.state, LEDGER_FAILED);
				CHECK(strcmp(rec.reason, "interrupted") == 0);
				CHECK(strstr(rec.reason_text, "before the certificate was signed") !=
				    NULL);
				CHECK(rec.has_serial && memcmp(rec.serial, s, LEDGER_SERIAL_LEN) == 0);
			}
			ledger_record_clear(&rec);
		}
		CHECK(found);
	}
	CHECK_INT_EQ(ledger_lot_issued(l, "L2", &n), 0);
	CHECK_INT_EQ(n, 0);
	/* the burnt serial stays burnt */
	reserve(l, "dev-crash", "L2", s, &st);
	CHECK_INT_EQ(st, CS_ERR_LEDGER_CONFLICT);
	ledger_close(l);
	{
		struct ledger_verify_report rep;

		CHECK_INT_EQ(ledger_verify(dbpath, &rep, &err), 0);
		if (err.code != 0)
			fprintf(stderr, "verify: %s\n", err.msg);
	}
}

/* Group commit from many threads. */
#define GC_THREADS 8
#define GC_OPS 200

struct gc_op {
	struct ledger_op op;
	uint8_t serial[LEDGER_SERIAL_LEN];
	char device[32];
	int calls;
	int status;
};

struct gc_thread {
	ledger *l;
	int index;
	struct gc_op *ops;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;
};

static void
gc_done(struct ledger_op *op, int status)
{
	struct gc_thread *t = op->arg;
	struct gc_op *g = (struct gc_op *)op; /* op is the first member */

	pthread_mutex_lock(&t->mu);
	g->calls++;
	g->status = status;
	t->pending--;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

static void *
gc_main(void *arg)
{
	struct gc_thread *t = arg;
	int i;

	for (i = 0; i < GC_OPS; i++) {
		struct gc_op *g = &t->ops[i];

		serial_make(g->serial, (unsigned)(1000000 + t->index * GC_OPS + i));
		snprintf(g->device, sizeof(g->device), "gc-%d-%d", t->index, i);
		g->op.kind = LEDGER_OP_RESERVE;
		g->op.device_id = g->device;
		g->op.profile = "widget-a";
		g->op.lot = "GC";
		g->op.serial = g->serial;
		g->op.done = gc_done;
		g->op.arg = t;
		pthread_mutex_lock(&t->mu);
		t->pending++;
		pthread_mutex_unlock(&t->mu);
		if (ledger_submit(t->l, &g->op) != 0) {
			pthread_mutex_lock(&t->mu);
			t->pending--;
			pthread_mutex_unlock(&t->mu);
		}
		if (i % 4 == 3) {
			/* bounded in-flight, like a fixture line */
			pthread_mutex_lock(&t->mu);
			while (t->pending > 2)
				pthread_cond_wait(&t->cv, &t->mu);
			pthread_mutex_unlock(&t->mu);
		}
	}
	pthread_mutex_lock(&t->mu);
	while (t->pending > 0)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static void
test_group_commit(void)
{
	static struct gc_op ops[GC_THREADS][GC_OPS];
	struct gc_thread th[GC_THREADS];
	pthread_t tid[GC_THREADS];
	struct ledger_stats stats;
	struct cs_err err = {0};
	struct ledger_record rec;
	int64_t n = -1;
	ledger *l = ledger_open(dbpath, &err);
	int i, j, ok = 1, calls_ok = 1;

	CHECK(l != NULL);
	if (l == NULL)
		return;
	for (i = 0; i < GC_THREADS; i++) {
		th[i].l = l;
		th[i].index = i;
		th[i].ops = ops[i];
		th[i].pending = 0;
		pthread_mutex_init(&th[i].mu, NULL);
		pthread_cond_init(&th[i].cv, NULL);
		pthread_create(&tid[i], NULL, gc_main, &th[i]);
	}
	for (i = 0; i < GC_THREADS; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < GC_THREADS; i++)
		for (j = 0; j < GC_OPS; j++) {
			if (ops[i][j].calls != 1)
				calls_ok = 0;
			if (ops[i][j].status != 0 || ops[i][j].op.id <= 0)
				ok = 0;
		}
	CHECK(calls_ok);
	CHECK(ok);
	ledger_stats_get(l, &stats);
	fprintf(stderr, "group commit: %llu ops in %llu commits (max batch %llu)\n",
	    (unsigned long long)stats.ops_committed, (unsigned long long)stats.commits,
	    (unsigned long long)stats.max_batch);
	CHECK_INT_EQ(stats.ops_committed, GC_THREADS * GC_OPS);
	CHECK(stats.commits < stats.ops_committed); /* ops shared commits */
	CHECK(stats.max_batch > 1);
	ledger_close(l);
	for (i = 0; i < GC_THREADS; i++) {
		pthread_mutex_destroy(&th[i].mu);
		pthread_cond_destroy(&th[i].cv);
	}

	/* Everything is there after reopening, under the id each done saw. */
	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	if (l == NULL)
		return;
	CHECK_INT_EQ(ledger_lot_issued(l, "GC", &n), 0);
	CHECK_INT_EQ(n, 0); /* they were RESERVED, so recovery failed them all */
	ok = 1;
	for (i = 0; i < GC_THREADS; i++)
		for (j = 0; j < GC_OPS; j++) {
			if (ledger_record_get(l, ops[i][j].op.id, &rec) != 0 ||
			    strcmp(rec.device_id, ops[i][j].device) != 0 ||
			    memcmp(rec.serial, ops[i][j].serial, LEDGER_SERIAL_LEN) != 0 ||
			    strcmp(rec.reason, "interrupted") != 0)
				ok = 0;
			ledger_record_clear(&rec);
		}
	CHECK(ok);
	ledger_close(l);
	CHECK_INT_EQ(ledger_verify(dbpath, NULL, &err), 0);
	if (err.code != 0)
		fprintf(stderr, "verify: %s\n", err.msg);
}

/* A COMMIT that fails takes every op of its batch down, and the next batch
 * works. The failure is injected with a deferred foreign key that a trigger
 * violates: SQLite only notices at COMMIT. */
struct hold {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int release;
	int calls;
	int status[3];
};

static void
hold_done(struct ledger_op *op, int status)
{
	struct hold *h = op->arg;

	pthread_mutex_lock(&h->mu);
	h->status[h->calls++] = status;
	/* the first completion keeps the writer busy until the rest is queued */
	while (h->calls == 1 && !h->release)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

static void
test_commit_failure(void)
{
	struct hold h = {.calls = 0};
	struct cs_err e1 = {0}, e2 = {0}, err = {0};
	struct ledger_op a = {0}, b = {0}, c = {0};
	uint8_t sa[LEDGER_SERIAL_LEN], sb[LEDGER_SERIAL_LEN], sc[LEDGER_SERIAL_LEN];
	sqlite3 *db = NULL;
	ledger *l;
	int st;

	CHECK_INT_EQ(sqlite3_open(dbpath, &db), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_exec(db,
			 "CREATE TABLE poison(x INTEGER REFERENCES lot(lot) "
			 "DEFERRABLE INITIALLY DEFERRED);"
			 "CREATE TRIGGER poison_t AFTER INSERT ON issuance "
			 "WHEN NEW.device_id = 'poison' BEGIN INSERT INTO poison VALUES (42); END;",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	if (l == NULL)
		return;
	serial_make(sa, 5001);
	serial_make(sb, 5002);
	serial_make(sc, 5003);
	a.kind = b.kind = c.kind = LEDGER_OP_RESERVE;
	a.profile = b.profile = c.profile = "widget-a";
	a.device_id = "fine-a";
	b.device_id = "fine-b";
	c.device_id = "poison";
	a.serial = sa;
	b.serial = sb;
	c.serial = sc;
	a.done = b.done = c.done = hold_done;
	a.arg = b.arg = c.arg = &h;
	b.err = &e1;
	c.err = &e2;
	CHECK_INT_EQ(ledger_submit(l, &a), 0);
	for (;;) {
		int n;

		pthread_mutex_lock(&h.mu);
		n = h.calls;
		pthread_mutex_unlock(&h.mu);
		if (n > 0)
			break;
		usleep(1000);
	}
	CHECK_INT_EQ(ledger_submit(l, &b), 0);
	CHECK_INT_EQ(ledger_submit(l, &c), 0);
	pthread_mutex_lock(&h.mu);
	h.release = 1;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	for (;;) {
		int n;

		pthread_mutex_lock(&h.mu);
		n = h.calls;
		pthread_mutex_unlock(&h.mu);
		if (n == 3)
			break;
		usleep(1000);
	}
	/* the next batch works */
	serial_make(sa, 5004);
	reserve(l, "after", NULL, sa, &st);
	CHECK_INT_EQ(st, 0);
	pthread_mutex_lock(&h.mu);
	CHECK_INT_EQ(h.calls, 3);
	CHECK_INT_EQ(h.status[0], 0);
	CHECK_INT_EQ(h.status[1], CS_ERR_LEDGER_IO);
	CHECK_INT_EQ(h.status[2], CS_ERR_LEDGER_IO);
	pthread_mutex_unlock(&h.mu);
	CHECK_MSG_HAS(e1, "COMMIT failed");
	CHECK_MSG_HAS(e1, "nothing of this batch was stored");
	CHECK_INT_EQ(b.id, 0);
	{
		struct ledger_record rec;

		CHECK_INT_EQ(ledger_device_latest(l, "fine-b", &rec), CS_ERR_NOT_FOUND);
		CHECK_INT_EQ(ledger_device_latest(l, "fine-a", &rec), 0);
		ledger_record_clear(&rec);
	}
	ledger_close(l);
	/* The chain stayed contiguous across the lost batch. */
	CHECK_INT_EQ(ledger_verify(dbpath, NULL, &err), 0);
	if (err.code != 0)
		fprintf(stderr, "verify: %s\n", err.msg);
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.cv);
}

static void
test_submit_after_close_and_schema(void)
{
	struct cs_err err = {0};
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char other[600];
	ledger *l;

	/* Settings that matter for durability, read back from the file. */
	CHECK_INT_EQ(sqlite3_open(dbpath, &db), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
	CHECK(strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0);
	sqlite3_finalize(st);
	CHECK_INT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
	CHECK_INT_EQ(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* A newer schema is refused, not silently used. */
	snprintf(other, sizeof(other), "%s/future.db", dir);
	CHECK_INT_EQ(sqlite3_open(other, &db), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_exec(db, "PRAGMA user_version=9", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	l = ledger_open(other, &err);
	CHECK(l == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_LEDGER_CORRUPT);
	CHECK_MSG_HAS(err, "schema version 9");
	ledger_close(l);

	int64_t old_id = 0;

	/* A version-1 ledger (no timings column) is upgraded in place and its
	 * rows stay readable. */
	snprintf(other, sizeof(other), "%s/v1.db", dir);
	l = ledger_open(other, &err);
	CHECK(l != NULL);
	if (l != NULL) {
		uint8_t s[LEDGER_SERIAL_LEN];
		int status;

		serial_make(s, 11);
		old_id = reserve(l, "old-1", NULL, s, &status);
		CHECK(old_id > 0);
		CHECK_INT_EQ(status, 0);
		ledger_close(l);
	}
	CHECK_INT_EQ(sqlite3_open(other, &db), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_exec(db, "ALTER TABLE issuance DROP COLUMN timings; PRAGMA user_version=1",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	l = ledger_open(other, &err);
	CHECK(l != NULL);
	if (l != NULL) {
		struct ledger_record rec;

		CHECK_INT_EQ(ledger_record_get(l, old_id, &rec), 0);
		CHECK(strcmp(rec.device_id, "old-1") == 0);
		CHECK(rec.timings[0] == '\0');
		ledger_record_clear(&rec);
		ledger_close(l);
	}
	CHECK_INT_EQ(sqlite3_open(other, &db), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	CHECK_INT_EQ(sqlite3_step(st), SQLITE_ROW);
	CHECK_INT_EQ(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	sqlite3_close(db);

	snprintf(other, sizeof(other), "%s/no/such/dir/x.db", dir);
	CHECK(ledger_open(other, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_LEDGER_IO);
}

static void
test_allowlist(void)
{
	struct ledger_import_stats stats;
	struct cs_err err = {0};
	char lot[LEDGER_NAME_MAX + 1];
	char path[600];
	int64_t quota = 0;
	FILE *f;
	ledger *l = ledger_open(dbpath, &err);

	CHECK(l != NULL);
	if (l == NULL)
		return;
	CHECK_INT_EQ(ledger_allowlist_get(l, "w-1", lot, &quota), CS_ERR_NOT_FOUND);
	snprintf(path, sizeof(path), "%s/wo1.csv", dir);
	f = fopen(path, "w");
	fputs("device_id,lot,quota\nw-1,LA,2\nw-2,LA,2\nw-3,LB,\n", f);
	fclose(f);
	CHECK_INT_EQ(ledger_workorder_import(l, path, &stats, &err), 0);
	CHECK_INT_EQ(stats.devices, 3);
	CHECK_INT_EQ(stats.lots, 2);
	CHECK_INT_EQ(ledger_allowlist_get(l, "w-1", lot, &quota), 0);
	CHECK(strcmp(lot, "LA") == 0);
	CHECK_INT_EQ(quota, 2);
	CHECK_INT_EQ(ledger_allowlist_get(l, "w-3", lot, &quota), 0);
	CHECK(strcmp(lot, "LB") == 0);
	CHECK_INT_EQ(quota, -1);

	/* A second work order moves w-1 and changes LA's quota. */
	f = fopen(path, "w");
	fputs("w-1,LB,\nw-9,LA,5\n", f);
	fclose(f);
	CHECK_INT_EQ(ledger_workorder_import(l, path, &stats, &err), 0);
	CHECK_INT_EQ(ledger_allowlist_get(l, "w-1", lot, &quota), 0);
	CHECK(strcmp(lot, "LB") == 0);
	CHECK_INT_EQ(ledger_allowlist_get(l, "w-2", lot, &quota), 0);
	CHECK_INT_EQ(quota, 5);

	/* All or nothing: a bad last line leaves the allowlist as it was. */
	f = fopen(path, "w");
	fputs("w-20,LC,1\nw-21,LC,1\nw-22,LC,x\n", f);
	fclose(f);
	CHECK_INT_EQ(ledger_workorder_import(l, path, &stats, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "wo1.csv line 3 column 3: quota 'x' is not a number");
	CHECK_INT_EQ(ledger_allowlist_get(l, "w-20", lot, &quota), CS_ERR_NOT_FOUND);

	/* A device listed twice in one file. */
	f = fopen(path, "w");
	fputs("w-30,LC,1\nw-31,LC,1\nw-30,LD,1\n", f);
	fclose(f);
	CHECK_INT_EQ(ledger_workorder_import(l, path, &stats, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "line 3 column 1: device_id 'w-30' is already listed on line 1");
	CHECK_INT_EQ(ledger_allowlist_get(l, "w-31", lot, &quota), CS_ERR_NOT_FOUND);

	snprintf(path, sizeof(path), "%s/missing.csv", dir);
	CHECK_INT_EQ(ledger_workorder_import(l, path, &stats, &err), CS_ERR_IO);
	CHECK_MSG_HAS(err, "missing.csv");
	ledger_close(l);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_ledger.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/ledger.db", dir);
	test_lifecycle();
	test_crash_recovery();
	test_group_commit();
	test_commit_failure();
	test_submit_after_close_and_schema();
	test_allowlist();
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_finish("test_ledger");
}
