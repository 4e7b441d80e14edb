/*
 * test_web_ledger_query.c: the dashboard's read-only ledger view on a real
 * ledger file: filters (device ID prefix, state, slot, reason, time range),
 * paging (limit, keyset, offset, total), one issuance with its
 * certificate, per-reason counts, health, reading while the writer
 * commits, and that the connection cannot write.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "station/ledger.h"
#include "station/ledger_query.h"
#include "tests/support/check.h"

static char dir[256];
static char dbpath[512];
static unsigned serial_n;

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
pause_ms(long ms)
{
	struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&d, NULL);
}

static const uint8_t fake_cert[] = {0x30, 0x03, 0x02, 0x01, 0x07};

/* One device through the ledger: VERIFIED, or FAILED(reason) after signing. */
static int64_t
device(ledger *l, const char *id, const char *slot, int fail_reason)
{
	static const uint8_t pk[32] = {9};
	uint8_t serial[LEDGER_SERIAL_LEN] = {0x41};
	struct ledger_op op;

	serial_n++;
	serial[18] = (uint8_t)(serial_n >> 8);
	serial[19] = (uint8_t)serial_n;
	memset(&op, 0, sizeof(op));
	op.kind = LEDGER_OP_RESERVE;
	op.device_id = id;
	op.profile = "device";
	op.slot = slot;
	op.serial = serial;
	op.pubkey_sha256 = pk;
	op.not_before = 1700000000;
	op.not_after = 1707776000;
	if (ledger_apply(l, &op) != 0)
		return -1;
	{
		struct ledger_op s = {.kind = LEDGER_OP_SIGNED, .id = op.id, .cert_der = fake_cert,
		    .cert_len = sizeof(fake_cert)};
		struct ledger_op i = {.kind = LEDGER_OP_INJECTED, .id = op.id,
		    .timings = "{\"csr_ms\":3,\"total_ms\":20}"};
		struct ledger_op e = {.kind = fail_reason != 0 ? LEDGER_OP_FAILED : LEDGER_OP_VERIFIED,
		    .id = op.id, .reason = fail_reason, .reason_text = "read back 5f3a, sent 9c01",
		    .duration_us = 20000};

		if (ledger_apply(l, &s) != 0 || ledger_apply(l, &i) != 0 || ledger_apply(l, &e) != 0)
			return -1;
	}
	return op.id;
}

static int64_t
refused(ledger *l, const char *id, int reason)
{
	struct ledger_op op = {.kind = LEDGER_OP_REFUSED, .device_id = id, .profile = "device",
	    .slot = "s2", .reason = reason, .reason_text = "device ID does not match"};

	return ledger_apply(l, &op) == 0 ? op.id : -1;
}

struct collect {
	int64_t ids[64];
	size_t n;
	int saw_cert;
};

static int
collect_row(void *arg, const struct ledger_record *rec)
{
	struct collect *c = arg;

	if (c->n < 64)
		c->ids[c->n++] = rec->id;
	if (rec->cert_der != NULL)
		c->saw_cert = 1;
	return 0;
}

static size_t
list(ledger_query *q, const struct ledger_query_filter *f, struct collect *c, int *more,
    int64_t *total)
{
	struct cs_err err;

	memset(c, 0, sizeof(*c));
	CHECK_INT_EQ(ledger_query_list(q, f, collect_row, c, more, total, &err), 0);
	return c->n;
}

static int
stop_after_two(void *arg, const struct ledger_record *rec)
{
	int *n = arg;

	(void)rec;
	return ++*n >= 2 ? CS_ERR_BUSY : 0;
}

struct writer {
	ledger *l;
	int stop;
	int written;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	char id[32];

	for (int k = 0; k < 200 && !__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST); k++) {
		snprintf(id, sizeof(id), "W-%04d", k);
		if (device(w->l, id, "s9", 0) > 0)
			__atomic_add_fetch(&w->written, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

int
main(void)
{
	struct ledger_query_filter f;
	struct collect c;
	struct cs_err err;
	struct ledger_record rec;
	ledger *l;
	ledger_query *q;
	int64_t t_mid, t_end, total = -1, id_fail, id_ref, ids[4];
	int more = 0;

	snprintf(dir, sizeof(dir), "/tmp/test_web_lq.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/ledger.sqlite", dir);
	CHECK(ledger_query_open(dbpath, 1, &err) == NULL); /* no file yet */
	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	if (l == NULL)
		goto out;

	ids[0] = device(l, "A-001", "s1", 0);
	ids[1] = device(l, "A-002", "s1", 0);
	pause_ms(5);
	t_mid = now_us();
	pause_ms(5);
	ids[2] = device(l, "A-010", "s1", 0);
	id_fail = device(l, "B-001", "s2", CS_ERR_DEVICE_READBACK);
	id_ref = refused(l, "B-002", CS_ERR_POLICY_DEVICE_ID);
	ids[3] = device(l, "C\xff\xff", "s3", 0);
	device(l, "C\xff", "s3", CS_ERR_DEVICE_READBACK);
	device(l, "D", "s3", CS_ERR_DEVICE_TIMEOUT);
	pause_ms(5);
	t_end = now_us();
	CHECK(ids[0] > 0 && ids[3] > 0 && id_fail > 0 && id_ref > 0);

	q = ledger_query_open(dbpath, 2, &err);
	CHECK(q != NULL);
	if (q == NULL)
		goto out_l;
	CHECK(strcmp(ledger_query_path(q), dbpath) == 0);

	memset(&f, 0, sizeof(f));
	f.limit = 50;
	CHECK_INT_EQ(list(q, &f, &c, &more, &total), 8);
	CHECK_INT_EQ(total, 8);
	CHECK_INT_EQ(more, 0);
	CHECK(c.ids[0] > c.ids[1] && c.ids[1] > c.ids[7]); /* newest first */
	CHECK(!c.saw_cert);                                /* lists carry no certificate */

	/* device ID prefix, including bytes 0xff at the end of the prefix */
	f.device_prefix = "A-0";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 3);
	f.device_prefix = "A-01";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 1);
	CHECK_INT_EQ(c.ids[0], ids[2]);
	f.device_prefix = "C\xff";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 2);
	f.device_prefix = "C\xff\xff";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 1);
	CHECK_INT_EQ(c.ids[0], ids[3]);
	f.device_prefix = "%";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 0); /* no LIKE wildcards */
	f.device_prefix = "";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 8);
	f.device_prefix = NULL;

	f.state = LEDGER_FAILED;
	CHECK_INT_EQ(list(q, &f, &c, NULL, &total), 4);
	CHECK_INT_EQ(total, 4);
	f.reason = "readback-mismatch";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 2);
	f.slot = "s2";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 1);
	CHECK_INT_EQ(c.ids[0], id_fail);
	f.state = 0;
	f.reason = NULL;
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 2); /* s2: B-001 and the refusal */
	f.slot = "s2' OR 1=1 --";
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 0); /* values are bound, never spliced */
	f.slot = NULL;

	/* time range on created_at */
	f.from_us = t_mid;
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 6);
	f.from_us = 0;
	f.to_us = t_mid;
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 2);
	f.from_us = t_end;
	f.to_us = INT64_MAX;
	CHECK_INT_EQ(list(q, &f, &c, NULL, NULL), 0);
	f.from_us = 0;

	/* paging: limit + more, keyset, offset */
	f.limit = 3;
	CHECK_INT_EQ(list(q, &f, &c, &more, &total), 3);
	CHECK_INT_EQ(more, 1);
	CHECK_INT_EQ(total, 8);
	f.before_id = c.ids[2];
	CHECK_INT_EQ(list(q, &f, &c, &more, &total), 3);
	CHECK_INT_EQ(more, 1);
	CHECK_INT_EQ(total, 8); /* total ignores paging */
	f.before_id = c.ids[2];
	CHECK_INT_EQ(list(q, &f, &c, &more, NULL), 2);
	CHECK_INT_EQ(more, 0);
	CHECK_INT_EQ(c.ids[1], ids[0]);
	f.before_id = 0;
	f.offset = 6;
	CHECK_INT_EQ(list(q, &f, &c, &more, NULL), 2);
	CHECK_INT_EQ(more, 0);
	f.offset = 0;

	/* bounds and early stop */
	f.limit = 0;
	CHECK_INT_EQ(ledger_query_list(q, &f, collect_row, &c, NULL, NULL, &err), CS_ERR_INVALID_ARG);
	f.limit = LEDGER_QUERY_LIMIT_MAX + 1;
	CHECK_INT_EQ(ledger_query_list(q, &f, collect_row, &c, NULL, NULL, &err), CS_ERR_INVALID_ARG);
	f.limit = 10;
	f.offset = LEDGER_QUERY_OFFSET_MAX + 1;
	CHECK_INT_EQ(ledger_query_list(q, &f, collect_row, &c, NULL, NULL, &err), CS_ERR_INVALID_ARG);
	f.offset = 0;
	{
		int n = 0;

		CHECK_INT_EQ(ledger_query_list(q, &f, stop_after_two, &n, NULL, NULL, &err), CS_ERR_BUSY);
		CHECK_INT_EQ(n, 2);
	}

	/* one issuance with its certificate */
	CHECK_INT_EQ(ledger_query_get(q, id_fail, &rec, &err), 0);
	CHECK(strcmp(rec.device_id, "B-001") == 0);
	CHECK_INT_EQ(rec.state, LEDGER_FAILED);
	CHECK(strcmp(rec.reason, "readback-mismatch") == 0);
	CHECK_INT_EQ(rec.cert_len, sizeof(fake_cert));
	CHECK(rec.cert_der != NULL && memcmp(rec.cert_der, fake_cert, sizeof(fake_cert)) == 0);
	CHECK(strstr(rec.timings, "csr_ms") != NULL);
	ledger_record_clear(&rec);
	CHECK_INT_EQ(ledger_query_get(q, id_ref, &rec, &err), 0);
	CHECK(!rec.has_serial);
	CHECK(rec.cert_der == NULL);
	ledger_record_clear(&rec);
	CHECK_INT_EQ(ledger_query_get(q, 99999, &rec, &err), CS_ERR_NOT_FOUND);
	CHECK_MSG_HAS(err, "99999");

	/* per-reason counts and states over a range */
	{
		struct ledger_reason_count rc[8];
		int64_t states[LEDGER_FAILED + 1];
		size_t n = 0;

		CHECK_INT_EQ(ledger_query_reasons(q, 0, INT64_MAX, rc, 8, &n, states, &err), 0);
		CHECK_INT_EQ(n, 3);
		CHECK(strcmp(rc[0].reason, "readback-mismatch") == 0);
		CHECK_INT_EQ(rc[0].count, 2);
		CHECK_INT_EQ(rc[1].count + rc[2].count, 2);
		CHECK_INT_EQ(states[LEDGER_VERIFIED], 4);
		CHECK_INT_EQ(states[LEDGER_FAILED], 4);
		CHECK_INT_EQ(states[LEDGER_RESERVED], 0);
		CHECK_INT_EQ(ledger_query_reasons(q, 0, t_mid, rc, 8, &n, states, &err), 0);
		CHECK_INT_EQ(n, 0);
		CHECK_INT_EQ(states[LEDGER_VERIFIED], 2);
		CHECK_INT_EQ(ledger_query_reasons(q, 0, INT64_MAX, rc, 1, &n, NULL, &err), 0);
		CHECK_INT_EQ(n, 1);
	}

	/* health */
	{
		struct ledger_query_health h;

		CHECK_INT_EQ(ledger_query_health(q, &h, &err), 0);
		CHECK(h.size_bytes > 0);
		CHECK(h.last_commit_us >= t_mid && h.last_commit_us <= t_end);
		CHECK(h.last_id >= ids[3]);
	}

	/* the dashboard's connection cannot write */
	{
		sqlite3 *db = NULL;

		CHECK_INT_EQ(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		CHECK(sqlite3_exec(db, "DELETE FROM issuance", NULL, NULL, NULL) != SQLITE_OK);
		sqlite3_close(db);
	}

	/* reads go on while the writer commits, and see a consistent count */
	{
		struct writer w = {l, 0, 0};
		pthread_t th;
		int64_t last = 0, t;
		int reads = 0, monotonic = 1;

		pthread_create(&th, NULL, writer_main, &w);
		memset(&f, 0, sizeof(f));
		f.limit = 5;
		/* at least 100 reads, and on until the writer has committed some
		 * rows (a fast reader may otherwise finish before the first one) */
		for (int k = 0; k < 100 || (__atomic_load_n(&w.written, __ATOMIC_SEQ_CST) < 5 &&
		    k < 100000); k++) {
			t = -1;
			if (ledger_query_list(q, &f, collect_row, &c, NULL, &t, &err) != 0)
				break;
			if (t < last)
				monotonic = 0;
			last = t;
			reads++;
		}
		__atomic_store_n(&w.stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(th, NULL);
		CHECK(reads >= 100);
		CHECK(monotonic);
		CHECK(w.written > 0);
	}

	ledger_query_close(q);
	ledger_query_close(NULL);
out_l:
	ledger_close(l);
out:
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_finish("test_web_ledger_query");
}
