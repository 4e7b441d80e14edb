/*
 * stats.c: the line's figures for people (contract in stats.h).
 *
 * DESIGN: everything lives in one small struct under one mutex; a record is
 * a handful of additions and, at most once a minute, clearing a few ring
 * entries. No allocation after stats_new(), no I/O.
 *
 * The minute series is a ring of STATS_MINUTES entries, each labelled with
 * the wall-clock minute (Unix minutes) it counts; head is the current one.
 * Moving to a later minute clears the entries skipped over (at most the
 * whole ring), so minutes without events read zero. An earlier minute (the
 * clock was set back) is not looked for in the ring: it becomes the next
 * head, so counts are never added twice or into a minute that was already
 * reported, and indices stay in range whatever the clock does. The clock is
 * read under the mutex, so two slot threads that finish at a minute
 * boundary cannot present their minutes out of order and fake a jump back.
 *
 * Failure reasons are keyed by their cs_reason_name() token in a fixed
 * table: the tokens are a closed set smaller than the table; a token beyond
 * it (never expected) is counted under "other" in the last entry rather
 * than dropped.
 */
#include "station/clock.h"
#include "station/stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "station/cs_error.h"

#define STATS_MINUTE_US INT64_C(60000000)
#define STATS_HOUR_US INT64_C(3600000000)

/* Upper bounds of the duration buckets in microseconds (stats.h lists them
 * in seconds); the last bucket is +Inf. */
static const int64_t stats_bound_us[STATS_DURATION_BUCKETS] = {
	50000, 100000, 200000, 300000, 500000, 750000,
	1000000, 1500000, 2500000, 5000000, 10000000, 30000000,
};

struct stats_minute {
	int64_t minute; /* Unix minute this entry counts */
	uint32_t passed, failed;
};

struct stats {
	pthread_mutex_t mu;
	int64_t started_us, shift_started_us;
	uint64_t shift_number;
	uint64_t passed_total, failed_total, passed_shift, failed_shift;

	struct stats_minute ring[STATS_MINUTES];
	size_t head; /* ring[head] is the current minute */

	struct stats_reason reasons[STATS_REASONS_MAX];
	size_t reason_count;

	uint64_t duration_bucket[STATS_DURATION_BUCKETS + 1]; /* not cumulative; last = +Inf */
	uint64_t duration_count;
	int64_t duration_sum_us;
};

/* floor(us / 1 minute), also for times before 1970 */
static int64_t
stats_minute_of(int64_t us)
{
	int64_t m = us / STATS_MINUTE_US;

	if (us % STATS_MINUTE_US < 0)
		m--;
	return m;
}

/* Make the minute of now the current one (under mu). */
static void
stats_advance(stats *s, int64_t now_us)
{
	int64_t m = stats_minute_of(now_us), cur = s->ring[s->head].minute, steps;

	if (m == cur)
		return;
	if (m < cur) {
		/* clock set back: a fresh current minute, history moves down by one */
		s->head = (s->head + 1) % STATS_MINUTES;
		s->ring[s->head] = (struct stats_minute){m, 0, 0};
		return;
	}
	/* forward: clear every minute skipped over; the difference is compared
	 * before anything is added to it, so a clock jump of years is fine */
	steps = m - cur < STATS_MINUTES ? m - cur : STATS_MINUTES;
	for (int64_t k = steps - 1; k >= 0; k--) {
		s->head = (s->head + 1) % STATS_MINUTES;
		s->ring[s->head] = (struct stats_minute){m - k, 0, 0};
	}
}

stats *
stats_new_at(int64_t now_us)
{
	stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return NULL;
	}
	s->started_us = now_us;
	s->shift_started_us = now_us;
	s->shift_number = 1;
	/* the ring starts as an hour of empty minutes ending now */
	for (size_t k = 0; k < STATS_MINUTES; k++)
		s->ring[k].minute = stats_minute_of(now_us) - (int64_t)(STATS_MINUTES - 1 - k);
	s->head = STATS_MINUTES - 1;
	return s;
}

stats *
stats_new(void)
{
	return stats_new_at(cs_real_us());
}

void
stats_free(stats *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* The table entry for reason (under mu). */
static struct stats_reason *
stats_reason_slot(stats *s, const char *reason)
{
	struct stats_reason *r;

	for (size_t k = 0; k < s->reason_count; k++)
		if (strcmp(s->reasons[k].reason, reason) == 0)
			return &s->reasons[k];
	if (s->reason_count == STATS_REASONS_MAX - 1 && strcmp(reason, "other") != 0)
		reason = "other"; /* keep the last entry for the overflow */
	if (s->reason_count == STATS_REASONS_MAX)
		return &s->reasons[STATS_REASONS_MAX - 1];
	r = &s->reasons[s->reason_count++];
	memset(r, 0, sizeof(*r));
	strncpy(r->reason, reason, sizeof(r->reason) - 1);
	return r;
}

/* Count one finished exchange at now_us (under mu). */
static void
stats_record_locked(stats *s, const struct line_event *ev, int64_t now_us)
{
	struct stats_minute *cur;
	int64_t d = ev->duration_us > 0 ? ev->duration_us : 0;
	size_t b = 0;

	stats_advance(s, now_us);
	cur = &s->ring[s->head];
	if (ev->status == 0) {
		s->passed_total++;
		s->passed_shift++;
		if (cur->passed < UINT32_MAX)
			cur->passed++;
	} else {
		struct stats_reason *r = stats_reason_slot(s, cs_reason_name(ev->status));

		s->failed_total++;
		s->failed_shift++;
		if (cur->failed < UINT32_MAX)
			cur->failed++;
		r->total++;
		r->shift++;
	}
	while (b < STATS_DURATION_BUCKETS && d > stats_bound_us[b])
		b++;
	s->duration_bucket[b]++;
	s->duration_count++;
	if (s->duration_sum_us <= INT64_MAX - d)
		s->duration_sum_us += d;
}

void
stats_record_at(stats *s, const struct line_event *ev, int64_t now_us)
{
	if (s == NULL || ev == NULL || ev->kind != LINE_EV_DEVICE_DONE)
		return;
	pthread_mutex_lock(&s->mu);
	stats_record_locked(s, ev, now_us);
	pthread_mutex_unlock(&s->mu);
}

void
stats_record(stats *s, const struct line_event *ev)
{
	if (s == NULL || ev == NULL || ev->kind != LINE_EV_DEVICE_DONE)
		return;
	pthread_mutex_lock(&s->mu);
	stats_record_locked(s, ev, cs_real_us());
	pthread_mutex_unlock(&s->mu);
}

static void
stats_new_shift_locked(stats *s, int64_t now_us)
{
	s->shift_started_us = now_us;
	s->shift_number++;
	s->passed_shift = 0;
	s->failed_shift = 0;
	for (size_t k = 0; k < s->reason_count; k++)
		s->reasons[k].shift = 0;
}

void
stats_new_shift_at(stats *s, int64_t now_us)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	stats_new_shift_locked(s, now_us);
	pthread_mutex_unlock(&s->mu);
}

void
stats_new_shift(stats *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	stats_new_shift_locked(s, cs_real_us());
	pthread_mutex_unlock(&s->mu);
}

/* Most frequent this shift first, then by total, then by name. */
static int
stats_reason_cmp(const void *a, const void *b)
{
	const struct stats_reason *x = a, *y = b;

	if (x->shift != y->shift)
		return x->shift > y->shift ? -1 : 1;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->reason, y->reason);
}

/* Copy the counters at now_us (under mu). */
static void
stats_copy_locked(stats *s, int64_t now_us, struct stats_snapshot *out)
{
	uint64_t cum = 0;

	stats_advance(s, now_us);
	out->now_us = now_us;
	out->started_us = s->started_us;
	out->shift_started_us = s->shift_started_us;
	out->shift_number = s->shift_number;
	out->passed_total = s->passed_total;
	out->failed_total = s->failed_total;
	out->passed_shift = s->passed_shift;
	out->failed_shift = s->failed_shift;
	out->minute0_us = s->ring[s->head].minute * STATS_MINUTE_US;
	for (size_t k = 0; k < STATS_MINUTES; k++) {
		const struct stats_minute *m =
		    &s->ring[(s->head + STATS_MINUTES - k) % STATS_MINUTES];

		out->passed_per_minute[k] = m->passed;
		out->failed_per_minute[k] = m->failed;
	}
	memcpy(out->reasons, s->reasons, s->reason_count * sizeof(s->reasons[0]));
	out->reason_count = s->reason_count;
	for (size_t b = 0; b < STATS_DURATION_BUCKETS; b++) {
		cum += s->duration_bucket[b];
		out->duration_le[b] = cum;
	}
	out->duration_count = s->duration_count;
	out->duration_sum_s = (double)s->duration_sum_us / 1e6;
}

/* Fill out; with read_clock the time is read under the lock (like
 * stats_record()), so a snapshot never sees a minute older than the last
 * record's and never mistakes that for the clock being set back. */
static void
stats_snapshot_fill(stats *s, int read_clock, int64_t now_us, struct stats_snapshot *out)
{
	uint64_t devices = 0;
	int64_t span_us, since_start_us, window_us;

	memset(out, 0, sizeof(*out));
	out->yield_shift = -1;
	for (size_t b = 0; b < STATS_DURATION_BUCKETS; b++)
		out->duration_bound_s[b] = (double)stats_bound_us[b] / 1e6;
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	if (read_clock)
		now_us = cs_real_us();
	stats_copy_locked(s, now_us, out);
	pthread_mutex_unlock(&s->mu);

	/* derived figures and the sort happen outside the lock */
	qsort(out->reasons, out->reason_count, sizeof(out->reasons[0]), stats_reason_cmp);
	if (out->passed_shift + out->failed_shift > 0)
		out->yield_shift = (double)out->passed_shift /
		    (double)(out->passed_shift + out->failed_shift);
	for (size_t k = 0; k < STATS_MINUTES; k++)
		devices += (uint64_t)out->passed_per_minute[k] + out->failed_per_minute[k];
	/* The series covers 59 whole minutes and the current one so far; a
	 * younger station divides by its age instead, but by at least a minute
	 * so that the first device is not extrapolated to thousands per hour. */
	span_us = (STATS_MINUTES - 1) * STATS_MINUTE_US + (now_us - out->minute0_us);
	since_start_us = now_us - out->started_us;
	window_us = since_start_us > 0 && since_start_us < span_us ? since_start_us : span_us;
	if (window_us < STATS_MINUTE_US)
		window_us = STATS_MINUTE_US;
	out->devices_per_hour = (double)devices * (double)STATS_HOUR_US / (double)window_us;
}

void
stats_snapshot_at(stats *s, int64_t now_us, struct stats_snapshot *out)
{
	stats_snapshot_fill(s, 0, now_us, out);
}

void
stats_snapshot_get(stats *s, struct stats_snapshot *out)
{
	stats_snapshot_fill(s, 1, 0, out);
}
