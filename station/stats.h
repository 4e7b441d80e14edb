/*
 * stats.h: the line's figures for people: throughput, yield, failures by
 * reason, exchange durations; what the dashboard and /metrics show.
 *
 * Contract: stats_record() takes every LINE_EV_DEVICE_DONE event (from the
 * line's event callback) and is cheap (one short mutex hold, no I/O, no
 * allocation). stats_snapshot_get() copies everything under the same mutex;
 * readers never touch a lock the issuance path holds. A "shift" is the span
 * since the station started or since the last stats_new_shift() (a
 * supervisor's action); the minute series covers the last 60 minutes.
 *
 * Time: minutes are wall-clock minutes (CLOCK_REALTIME, aligned to the
 * minute). Minutes without events are zero. If the clock jumps backwards,
 * the earlier minute simply becomes a new current minute (the older ones
 * move down the series); nothing is lost or double-counted and counters
 * never go down. A jump forward of an hour or more empties the series.
 *
 * Threads: all functions from any thread.
 */
#ifndef STATION_STATS_H
#define STATION_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "station/line.h"

typedef struct stats stats;

#define STATS_MINUTES 60
#define STATS_REASONS_MAX 64
#define STATS_DURATION_BUCKETS 12 /* finite upper bounds; +Inf implied */

struct stats_reason {
	char reason[64];       /* cs_reason_name() token */
	uint64_t total;        /* since start */
	uint64_t shift;        /* this shift */
};

struct stats_snapshot {
	int64_t now_us;            /* CLOCK_REALTIME, Unix microseconds */
	int64_t started_us;        /* station start */
	int64_t shift_started_us;
	uint64_t shift_number;     /* 1 at start, +1 per new shift */

	uint64_t passed_total, failed_total; /* since start */
	uint64_t passed_shift, failed_shift;

	/* devices that finished per minute: [0] is the current minute (started
	 * at minute0_us), [k] the minute k minutes before */
	int64_t minute0_us;
	uint32_t passed_per_minute[STATS_MINUTES];
	uint32_t failed_per_minute[STATS_MINUTES];

	/* derived, for the big numbers */
	double devices_per_hour;   /* finished devices over the last 60 minutes (or since start if shorter), per hour */
	double yield_shift;        /* passed / (passed + failed) this shift, 0..1; -1 if none */

	/* most frequent first: by shift count, then by total, then by name, so
	 * the shift's chart reads top-down and reasons seen only in earlier
	 * shifts (shift == 0) follow */
	struct stats_reason reasons[STATS_REASONS_MAX];
	size_t reason_count;

	/* exchange duration (HELLO to RESULT), Prometheus-style cumulative
	 * buckets: count of exchanges <= bound_s[i]; +Inf = duration_count.
	 * Bounds (s): 0.05 0.1 0.2 0.3 0.5 0.75 1 1.5 2.5 5 10 30 (a P-256
	 * exchange at 115200 baud takes about 0.15 to 0.3 s; stalls end at
	 * the step timeouts, tens of seconds) */
	double duration_bound_s[STATS_DURATION_BUCKETS];
	uint64_t duration_le[STATS_DURATION_BUCKETS];
	uint64_t duration_count;
	double duration_sum_s;
};

stats *stats_new(void);
void stats_free(stats *s); /* NULL is fine */

/* Record an event from the line (only LINE_EV_DEVICE_DONE counts). */
void stats_record(stats *s, const struct line_event *ev);

/* Start a new shift: shift counters and per-reason shift counts restart. */
void stats_new_shift(stats *s);

void stats_snapshot_get(stats *s, struct stats_snapshot *out /* OUT */);

/* The same with the clock given (CLOCK_REALTIME, Unix microseconds), for
 * tests and replays: stats_new() == stats_new_at(now), and so on. */
stats *stats_new_at(int64_t now_us);
void stats_record_at(stats *s, const struct line_event *ev, int64_t now_us);
void stats_new_shift_at(stats *s, int64_t now_us);
void stats_snapshot_at(stats *s, int64_t now_us, struct stats_snapshot *out /* OUT */);

#endif
