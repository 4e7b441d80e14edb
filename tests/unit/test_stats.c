/*
 * test_stats.c: station/stats.c: counts, the minute series across an hour
 * boundary and through clock jumps, failure reasons and their order, shift
 * reset, the cumulative duration histogram, devices per hour, and exact
 * totals with four threads recording at once.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "station/cs_error.h"
#include "station/stats.h"
#include "tests/support/check.h"

#define US_PER_S INT64_C(1000000)
#define US_PER_MIN (60 * US_PER_S)
/* 2024-01-01T11:00:00Z */
#define T_1100 (INT64_C(1704106800) * US_PER_S)

static struct slot_snapshot test_slot;

static struct line_event
done(int status, int64_t duration_us)
{
	struct line_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = LINE_EV_DEVICE_DONE;
	ev.slot = &test_slot;
	ev.status = status;
	ev.duration_us = duration_us;
	return ev;
}

static void
rec(stats *s, int status, int64_t duration_us, int64_t at)
{
	struct line_event ev = done(status, duration_us);

	stats_record_at(s, &ev, at);
}

static const struct stats_reason *
reason_find(const struct stats_snapshot *sn, const char *name)
{
	for (size_t k = 0; k < sn->reason_count; k++)
		if (strcmp(sn->reasons[k].reason, name) == 0)
			return &sn->reasons[k];
	return NULL;
}

static int
near(double a, double b)
{
	return fabs(a - b) < 1e-6 * (fabs(b) > 1 ? fabs(b) : 1);
}

static void
test_counts(void)
{
	struct stats_snapshot sn;
	struct line_event other;
	stats *s = stats_new_at(T_1100 + 30 * US_PER_S);
	int64_t t = T_1100 + 40 * US_PER_S;

	CHECK(s != NULL);
	if (s == NULL)
		return;
	stats_snapshot_at(s, t, &sn);
	CHECK_INT_EQ(sn.passed_total + sn.failed_total, 0);
	CHECK(sn.yield_shift == -1);
	CHECK_INT_EQ(sn.shift_number, 1);
	CHECK_INT_EQ(sn.started_us, T_1100 + 30 * US_PER_S);
	CHECK_INT_EQ(sn.reason_count, 0);
	CHECK(sn.devices_per_hour == 0);

	for (int i = 0; i < 7; i++)
		rec(s, 0, 150000, t);
	rec(s, CS_ERR_DEVICE_READBACK, 200000, t);
	rec(s, CS_ERR_DEVICE_TIMEOUT, 10000000, t + US_PER_S);
	rec(s, CS_ERR_DEVICE_READBACK, 300000, t + 2 * US_PER_S);
	/* only DEVICE_DONE counts */
	other = done(0, 1);
	other.kind = LINE_EV_SLOT_STATE;
	stats_record_at(s, &other, t);
	stats_record(s, NULL);
	stats_record(NULL, &other);

	stats_snapshot_at(s, t + 3 * US_PER_S, &sn);
	CHECK_INT_EQ(sn.now_us, t + 3 * US_PER_S);
	CHECK_INT_EQ(sn.passed_total, 7);
	CHECK_INT_EQ(sn.failed_total, 3);
	CHECK_INT_EQ(sn.passed_shift, 7);
	CHECK_INT_EQ(sn.failed_shift, 3);
	CHECK(near(sn.yield_shift, 0.7));
	CHECK_INT_EQ(sn.minute0_us, T_1100);
	CHECK_INT_EQ(sn.passed_per_minute[0], 7);
	CHECK_INT_EQ(sn.failed_per_minute[0], 3);
	CHECK_INT_EQ(sn.passed_per_minute[1], 0);
	CHECK_INT_EQ(sn.reason_count, 2);
	CHECK(reason_find(&sn, cs_reason_name(CS_ERR_DEVICE_READBACK)) != NULL &&
	    reason_find(&sn, cs_reason_name(CS_ERR_DEVICE_READBACK))->total == 2);
	CHECK(reason_find(&sn, cs_reason_name(CS_ERR_DEVICE_TIMEOUT)) != NULL &&
	    reason_find(&sn, cs_reason_name(CS_ERR_DEVICE_TIMEOUT))->shift == 1);
	CHECK_INT_EQ(sn.duration_count, 10);
	CHECK(near(sn.duration_sum_s, 7 * 0.15 + 0.2 + 10 + 0.3));
	/* station 13 s old: the rate is not extrapolated from seconds, one minute at least */
	CHECK(near(sn.devices_per_hour, 10 * 60.0));

	/* snapshot of NULL: empty, bounds still filled */
	stats_snapshot_get(NULL, &sn);
	CHECK_INT_EQ(sn.passed_total, 0);
	CHECK(sn.yield_shift == -1);
	CHECK(near(sn.duration_bound_s[0], 0.05) && near(sn.duration_bound_s[11], 30));
	stats_free(s);
	stats_free(NULL);
}

/* 10:58:30 .. 11:02: events in some minutes, one minute silent, then past an hour. */
static void
test_minutes(void)
{
	struct stats_snapshot sn;
	int64_t t0 = T_1100 - 2 * US_PER_MIN + 30 * US_PER_S; /* 10:58:30 */
	stats *s = stats_new_at(t0 - 3 * US_PER_MIN);

	if (s == NULL) {
		CHECK(s != NULL);
		return;
	}
	rec(s, 0, 1000, t0);                                 /* 10:58 */
	rec(s, 0, 1000, t0 + 29 * US_PER_S);                 /* 10:58:59 */
	rec(s, CS_ERR_DEVICE_GONE, 1000, t0 + 30 * US_PER_S);/* 10:59:00 */
	/* 11:00 silent */
	rec(s, 0, 1000, T_1100 + US_PER_MIN);                /* 11:01:00 */
	rec(s, 0, 1000, T_1100 + US_PER_MIN + 59 * US_PER_S);/* 11:01:59 */
	rec(s, 0, 1000, T_1100 + 2 * US_PER_MIN + 1);        /* 11:02:00.000001 */

	stats_snapshot_at(s, T_1100 + 2 * US_PER_MIN + 30 * US_PER_S, &sn);
	CHECK_INT_EQ(sn.minute0_us, T_1100 + 2 * US_PER_MIN);
	CHECK_INT_EQ(sn.passed_per_minute[0], 1); /* 11:02 */
	CHECK_INT_EQ(sn.passed_per_minute[1], 2); /* 11:01 */
	CHECK_INT_EQ(sn.passed_per_minute[2], 0); /* 11:00 */
	CHECK_INT_EQ(sn.failed_per_minute[2], 0);
	CHECK_INT_EQ(sn.passed_per_minute[3], 0); /* 10:59 */
	CHECK_INT_EQ(sn.failed_per_minute[3], 1);
	CHECK_INT_EQ(sn.passed_per_minute[4], 2); /* 10:58 */
	CHECK_INT_EQ(sn.passed_per_minute[5], 0);

	/* a snapshot later, without events: the series slides, minutes read zero */
	stats_snapshot_at(s, T_1100 + 10 * US_PER_MIN, &sn);
	CHECK_INT_EQ(sn.minute0_us, T_1100 + 10 * US_PER_MIN);
	CHECK_INT_EQ(sn.passed_per_minute[0], 0);
	CHECK_INT_EQ(sn.passed_per_minute[8], 1);
	CHECK_INT_EQ(sn.passed_per_minute[9], 2);
	CHECK_INT_EQ(sn.failed_per_minute[11], 1);
	CHECK_INT_EQ(sn.passed_per_minute[12], 2);

	/* 10:58 is exactly 59 minutes before 11:57: still the last entry */
	stats_snapshot_at(s, T_1100 + 57 * US_PER_MIN, &sn);
	CHECK_INT_EQ(sn.passed_per_minute[59], 2);
	CHECK_INT_EQ(sn.failed_per_minute[58], 1);
	/* and gone one minute later; the rest slid down by one */
	stats_snapshot_at(s, T_1100 + 58 * US_PER_MIN, &sn);
	CHECK_INT_EQ(sn.failed_per_minute[59], 1);
	CHECK_INT_EQ(sn.passed_per_minute[57], 2);
	{
		uint64_t sum = 0;
		for (int k = 0; k < STATS_MINUTES; k++)
			sum += sn.passed_per_minute[k] + sn.failed_per_minute[k];
		CHECK_INT_EQ(sum, 4);
	}
	/* a whole day later: nothing in the series, totals kept */
	stats_snapshot_at(s, T_1100 + 24 * 60 * US_PER_MIN, &sn);
	for (int k = 0; k < STATS_MINUTES; k++)
		CHECK(sn.passed_per_minute[k] == 0 && sn.failed_per_minute[k] == 0);
	CHECK_INT_EQ(sn.passed_total, 5);
	CHECK_INT_EQ(sn.failed_total, 1);
	CHECK(sn.devices_per_hour == 0);
	stats_free(s);
}

static void
test_clock_jumps(void)
{
	struct stats_snapshot sn;
	int64_t t = T_1100 + 5 * US_PER_MIN; /* 11:05 */
	stats *s = stats_new_at(t - US_PER_MIN);

	if (s == NULL) {
		CHECK(s != NULL);
		return;
	}
	rec(s, 0, 1000, t);
	rec(s, 0, 1000, t + US_PER_S);
	/* clock set back 35 minutes: a new current minute, 11:05 moves down */
	rec(s, CS_ERR_DEVICE_TIMEOUT, 1000, t - 35 * US_PER_MIN);
	stats_snapshot_at(s, t - 35 * US_PER_MIN + US_PER_S, &sn);
	CHECK_INT_EQ(sn.minute0_us, T_1100 - 30 * US_PER_MIN);
	CHECK_INT_EQ(sn.failed_per_minute[0], 1);
	CHECK_INT_EQ(sn.passed_per_minute[0], 0);
	CHECK_INT_EQ(sn.passed_per_minute[1], 2);
	CHECK_INT_EQ(sn.passed_total, 2);
	CHECK_INT_EQ(sn.failed_total, 1);
	/* far before 1970 and far in the future: no crash, counters consistent */
	rec(s, 0, 1000, -INT64_C(5000000000) * US_PER_S);
	rec(s, 0, 1000, INT64_MAX / 2);
	rec(s, 0, 1000, INT64_MAX / 2 - 7 * US_PER_MIN);
	stats_snapshot_at(s, INT64_MAX / 2, &sn);
	CHECK_INT_EQ(sn.passed_total, 5);
	/* the jump back 7 minutes became the current minute after the one at
	 * INT64_MAX / 2; the clock moving on from there recreates 7 minutes */
	CHECK_INT_EQ(sn.passed_per_minute[0], 0);
	CHECK_INT_EQ(sn.passed_per_minute[6], 0);
	CHECK_INT_EQ(sn.passed_per_minute[7], 1);
	CHECK_INT_EQ(sn.passed_per_minute[8], 1);
	CHECK_INT_EQ(sn.passed_per_minute[9], 0);
	/* back to normal: the series restarts there, nothing double-counted */
	rec(s, 0, 1000, t + 2 * US_PER_MIN);
	stats_snapshot_at(s, t + 2 * US_PER_MIN, &sn);
	{
		uint64_t sum = 0;
		for (int k = 0; k < STATS_MINUTES; k++)
			sum += sn.passed_per_minute[k] + sn.failed_per_minute[k];
		CHECK(sum <= sn.passed_total + sn.failed_total);
		CHECK_INT_EQ(sn.passed_per_minute[0], 1);
	}
	CHECK_INT_EQ(sn.passed_total, 6);
	stats_free(s);
}

static void
test_reasons_and_shift(void)
{
	struct stats_snapshot sn;
	int64_t t = T_1100;
	stats *s = stats_new_at(t);
	const char *readback = cs_reason_name(CS_ERR_DEVICE_READBACK);
	const char *timeout = cs_reason_name(CS_ERR_DEVICE_TIMEOUT);
	const char *protocol = cs_reason_name(CS_ERR_DEVICE_PROTOCOL);
	const char *nonce = cs_reason_name(CS_ERR_CSR_NONCE);

	if (s == NULL) {
		CHECK(s != NULL);
		return;
	}
	CHECK(strcmp(readback, timeout) != 0 && strcmp(timeout, protocol) != 0);
	for (int i = 0; i < 3; i++)
		rec(s, CS_ERR_DEVICE_TIMEOUT, 1000, t);
	for (int i = 0; i < 5; i++)
		rec(s, CS_ERR_DEVICE_READBACK, 1000, t);
	rec(s, CS_ERR_DEVICE_PROTOCOL, 1000, t);
	rec(s, CS_ERR_CSR_NONCE, 1000, t);
	for (int i = 0; i < 4; i++)
		rec(s, 0, 1000, t);
	stats_snapshot_at(s, t + US_PER_S, &sn);
	CHECK_INT_EQ(sn.reason_count, 4);
	CHECK(strcmp(sn.reasons[0].reason, readback) == 0 && sn.reasons[0].total == 5);
	CHECK(strcmp(sn.reasons[1].reason, timeout) == 0 && sn.reasons[1].total == 3);
	/* a tie is ordered by name, so the order is stable between snapshots */
	CHECK(strcmp(sn.reasons[2].reason, strcmp(nonce, protocol) < 0 ? nonce : protocol) == 0);
	CHECK(sn.reasons[2].total == 1 && sn.reasons[3].total == 1);
	CHECK(near(sn.yield_shift, 4.0 / 14.0));

	/* new shift: shift counters restart, totals stay */
	stats_new_shift_at(s, t + 2 * US_PER_S);
	stats_snapshot_at(s, t + 3 * US_PER_S, &sn);
	CHECK_INT_EQ(sn.shift_number, 2);
	CHECK_INT_EQ(sn.shift_started_us, t + 2 * US_PER_S);
	CHECK_INT_EQ(sn.passed_shift, 0);
	CHECK_INT_EQ(sn.failed_shift, 0);
	CHECK_INT_EQ(sn.passed_total, 4);
	CHECK_INT_EQ(sn.failed_total, 10);
	CHECK(sn.yield_shift == -1);
	CHECK_INT_EQ(sn.reason_count, 4);
	for (size_t k = 0; k < sn.reason_count; k++)
		CHECK_INT_EQ(sn.reasons[k].shift, 0);
	CHECK(strcmp(sn.reasons[0].reason, readback) == 0);
	/* the minute series is not a shift figure */
	CHECK_INT_EQ(sn.failed_per_minute[0], 10);

	/* this shift's most frequent reason comes first */
	rec(s, CS_ERR_DEVICE_PROTOCOL, 1000, t + 4 * US_PER_S);
	rec(s, CS_ERR_DEVICE_PROTOCOL, 1000, t + 4 * US_PER_S);
	rec(s, 0, 1000, t + 4 * US_PER_S);
	stats_snapshot_at(s, t + 5 * US_PER_S, &sn);
	CHECK(strcmp(sn.reasons[0].reason, protocol) == 0);
	CHECK_INT_EQ(sn.reasons[0].shift, 2);
	CHECK_INT_EQ(sn.reasons[0].total, 3);
	CHECK(strcmp(sn.reasons[1].reason, readback) == 0);
	CHECK(near(sn.yield_shift, 1.0 / 3.0));

	/* real clock variant */
	stats_new_shift(s);
	stats_snapshot_get(s, &sn);
	CHECK_INT_EQ(sn.shift_number, 3);
	CHECK(sn.shift_started_us > T_1100 && sn.shift_started_us <= sn.now_us);
	stats_free(s);
}

static void
test_histogram(void)
{
	static const int64_t d[] = {40000, 50000, 50001, 250000, 1000000, 29000000, 31000000,
		100000000, -5};
	struct stats_snapshot sn;
	stats *s = stats_new_at(T_1100);
	double sum = 0;

	if (s == NULL) {
		CHECK(s != NULL);
		return;
	}
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		rec(s, 0, d[i], T_1100);
		sum += d[i] > 0 ? (double)d[i] / 1e6 : 0;
	}
	stats_snapshot_at(s, T_1100, &sn);
	CHECK_INT_EQ(sn.duration_count, 9);
	CHECK(near(sn.duration_sum_s, sum));
	/* bounds 0.05 0.1 0.2 0.3 0.5 0.75 1 1.5 2.5 5 10 30 */
	CHECK(near(sn.duration_bound_s[0], 0.05));
	CHECK(near(sn.duration_bound_s[3], 0.3));
	CHECK(near(sn.duration_bound_s[6], 1.0));
	CHECK(near(sn.duration_bound_s[11], 30.0));
	CHECK_INT_EQ(sn.duration_le[0], 3);  /* -5 (as 0), 0.04, 0.05 (a bound is inclusive) */
	CHECK_INT_EQ(sn.duration_le[1], 4);  /* + 0.050001 */
	CHECK_INT_EQ(sn.duration_le[2], 4);
	CHECK_INT_EQ(sn.duration_le[3], 5);  /* + 0.25 */
	CHECK_INT_EQ(sn.duration_le[5], 5);
	CHECK_INT_EQ(sn.duration_le[6], 6);  /* + 1.0 */
	CHECK_INT_EQ(sn.duration_le[10], 6);
	CHECK_INT_EQ(sn.duration_le[11], 7); /* + 29; 31 and 100 only in +Inf */
	for (int b = 1; b < STATS_DURATION_BUCKETS; b++) {
		CHECK(sn.duration_le[b] >= sn.duration_le[b - 1]);
		CHECK(sn.duration_bound_s[b] > sn.duration_bound_s[b - 1]);
	}
	CHECK(sn.duration_le[STATS_DURATION_BUCKETS - 1] <= sn.duration_count);
	stats_free(s);
}

static void
test_devices_per_hour(void)
{
	struct stats_snapshot sn;
	stats *s = stats_new_at(T_1100 - 2 * 60 * US_PER_MIN);

	if (s == NULL) {
		CHECK(s != NULL);
		return;
	}
	/* 2 devices a minute from 10:00 to 11:00; the window at 11:00:30 is
	 * 10:01:00..11:00:30 = 59.5 minutes holding 118 devices (10:01..10:59)
	 * and 1 at 11:00 */
	for (int m = 0; m <= 60; m++) {
		rec(s, 0, 1000, T_1100 - 60 * US_PER_MIN + m * US_PER_MIN + 10 * US_PER_S);
		if (m < 60)
			rec(s, 0, 1000, T_1100 - 60 * US_PER_MIN + m * US_PER_MIN + 40 * US_PER_S);
	}
	stats_snapshot_at(s, T_1100 + 30 * US_PER_S, &sn);
	CHECK(near(sn.devices_per_hour, 119.0 * 60.0 / 59.5));
	stats_free(s);

	/* a station 10 minutes old divides by its age */
	s = stats_new_at(T_1100);
	if (s == NULL)
		return;
	for (int i = 0; i < 20; i++)
		rec(s, i % 5 == 0 ? CS_ERR_DEVICE_READBACK : 0, 1000, T_1100 + i * 30 * US_PER_S);
	stats_snapshot_at(s, T_1100 + 10 * US_PER_MIN, &sn);
	CHECK(near(sn.devices_per_hour, 120.0));
	CHECK(near(sn.yield_shift, 16.0 / 20.0));
	stats_free(s);
}

#define THREADS 4
#define PER_THREAD 10000

static void *
hammer(void *arg)
{
	stats *s = arg;
	struct stats_snapshot sn;

	for (int i = 0; i < PER_THREAD; i++) {
		struct line_event ev = done(i % 10 == 0 ? CS_ERR_DEVICE_READBACK
		    : i % 10 == 1 ? CS_ERR_DEVICE_TIMEOUT : 0, (int64_t)(i % 7) * 100000);

		stats_record(s, &ev);
		if (i % 1000 == 0)
			stats_snapshot_get(s, &sn); /* readers at the same time */
	}
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[THREADS];
	struct stats_snapshot sn;
	stats *s = stats_new();
	uint64_t minutes = 0, reasons = 0;

	if (s == NULL) {
		CHECK(s != NULL);
		return;
	}
	for (int i = 0; i < THREADS; i++)
		CHECK_INT_EQ(pthread_create(&t[i], NULL, hammer, s), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	stats_snapshot_get(s, &sn);
	CHECK_INT_EQ(sn.passed_total, THREADS * PER_THREAD * 8 / 10);
	CHECK_INT_EQ(sn.failed_total, THREADS * PER_THREAD * 2 / 10);
	CHECK_INT_EQ(sn.passed_shift, THREADS * PER_THREAD * 8 / 10);
	CHECK_INT_EQ(sn.duration_count, THREADS * PER_THREAD);
	CHECK_INT_EQ(sn.reason_count, 2);
	for (size_t k = 0; k < sn.reason_count; k++) {
		CHECK_INT_EQ(sn.reasons[k].total, THREADS * PER_THREAD / 10);
		reasons += sn.reasons[k].total;
	}
	CHECK_INT_EQ(reasons, sn.failed_total);
	for (int k = 0; k < STATS_MINUTES; k++)
		minutes += sn.passed_per_minute[k] + sn.failed_per_minute[k];
	CHECK_INT_EQ(minutes, THREADS * PER_THREAD);
	CHECK(sn.now_us >= sn.minute0_us && sn.now_us - sn.minute0_us < US_PER_MIN);
	CHECK(sn.minute0_us % US_PER_MIN == 0);
	stats_free(s);
}

int
main(void)
{
	test_counts();
	test_minutes();
	test_clock_jumps();
	test_reasons_and_shift();
	test_histogram();
	test_devices_per_hour();
	test_threads();
	return check_finish("test_stats");
}
