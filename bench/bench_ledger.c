/*
 * bench_ledger.c: what group commit buys. One issuance is RESERVE + SIGNED
 * (a ~600-byte certificate); every op is durable (synchronous=FULL) before
 * ledger_apply() returns. With one submitter each op pays its own fsync;
 * with 8 or 32 concurrent submitters (fixture slots) the writer folds
 * whatever is queued into one transaction.
 *
 * usage: bench_ledger [DIR [ISSUANCES_PER_RUN]]   (DIR on the disk to measure)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "station/ledger.h"

struct worker {
	ledger *l;
	int index;
	int count;
	int failures;
};

static uint8_t cert_blob[600];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < w->count; i++) {
		static const uint8_t pk[32] = {7};
		uint8_t serial[16] = {0x55};
		char device[48];
		struct ledger_op op;

		snprintf(device, sizeof(device), "bench-%d-%d", w->index, i);
		serial[8] = (uint8_t)(w->index >> 8);
		serial[9] = (uint8_t)w->index;
		serial[12] = (uint8_t)(i >> 24);
		serial[13] = (uint8_t)(i >> 16);
		serial[14] = (uint8_t)(i >> 8);
		serial[15] = (uint8_t)i;
		memset(&op, 0, sizeof(op));
		op.kind = LEDGER_OP_RESERVE;
		op.device_id = device;
		op.profile = "widget-a";
		op.lot = "BENCH";
		op.fixture = "F1";
		op.slot = "1";
		op.serial = serial;
		op.pubkey_sha256 = pk;
		op.csr_sha256 = pk;
		op.not_before = 1700000000;
		op.not_after = 1707776000;
		if (ledger_apply(w->l, &op) != 0) {
			w->failures++;
			continue;
		}
		op.kind = LEDGER_OP_SIGNED;
		op.cert_der = cert_blob;
		op.cert_len = sizeof(cert_blob);
		op.duration_us = 1000;
		if (ledger_apply(w->l, &op) != 0)
			w->failures++;
	}
	return NULL;
}

static int
run(const char *dir, int run_no, int threads, int issuances)
{
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	pthread_t *tid = calloc((size_t)threads, sizeof(*tid));
	struct ledger_stats st;
	struct cs_err err = {0};
	char path[1024];
	double t0, t1;
	ledger *l;
	int i, failures = 0;

	snprintf(path, sizeof(path), "%s/bench-%d.db", dir, run_no);
	unlink(path);
	l = ledger_open(path, &err);
	if (l == NULL || w == NULL || tid == NULL) {
		fprintf(stderr, "bench_ledger: %s\n", err.msg);
		free(w);
		free(tid);
		return 1;
	}
	t0 = now_s();
	for (i = 0; i < threads; i++) {
		w[i].l = l;
		w[i].index = i;
		w[i].count = issuances / threads;
		pthread_create(&tid[i], NULL, worker_main, &w[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		failures += w[i].failures;
	}
	t1 = now_s();
	ledger_stats_get(l, &st);
	ledger_close(l);
	printf("%10d %10d %8llu %8.2f %10.0f %12.0f %8llu %11.1f %9llu %s\n", threads,
	    (issuances / threads) * threads, (unsigned long long)st.ops_committed, t1 - t0,
	    (double)st.ops_committed / (t1 - t0),
	    (double)st.ops_committed / 2 / (t1 - t0), (unsigned long long)st.commits,
	    st.commits > 0 ? (double)st.ops_committed / (double)st.commits : 0.0,
	    (unsigned long long)st.max_batch, failures != 0 ? "FAILURES" : "");
	unlink(path);
	free(w);
	free(tid);
	return failures != 0;
}

int
main(int argc, char **argv)
{
	char tmp[] = "/var/tmp/bench_ledger.XXXXXX";
	const char *dir = argc > 1 ? argv[1] : NULL;
	int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000;
	int rc = 0;
	size_t i;

	for (i = 0; i < sizeof(cert_blob); i++)
		cert_blob[i] = (uint8_t)(i * 131 + 7);
	cert_blob[0] = 0x30;
	cert_blob[1] = 0x82;
	if (dir == NULL) {
		dir = mkdtemp(tmp);
		if (dir == NULL) {
			perror("mkdtemp");
			return 1;
		}
	}
	if (n < 32)
		n = 32;
	printf("ledger group commit, WAL + synchronous=FULL, in %s\n", dir);
	printf("%10s %10s %8s %8s %10s %12s %8s %11s %9s\n", "submitters", "issuances", "ops",
	    "seconds", "ops/s", "issuances/s", "commits", "ops/commit", "max batch");
	rc |= run(dir, 1, 1, n / 4);
	rc |= run(dir, 2, 8, n);
	rc |= run(dir, 3, 32, n);
	if (argc <= 1)
		rmdir(dir);
	return rc;
}
