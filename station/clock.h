/*
 * clock.h: the station's clocks, in one place.
 *
 * Wall time (cs_real_us) for what is stored and shown: ledger timestamps,
 * serial prefixes, the dashboard. Monotonic time (cs_mono_us, cs_mono_ms)
 * for timeouts, deadlines and ages: it never jumps when the clock is set.
 * cs_time_text prints a Unix time in seconds as ISO 8601 UTC.
 * Header-only: these sit on hot paths and in every thread.
 */
#ifndef STATION_CLOCK_H
#define STATION_CLOCK_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline int64_t
cs_real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t
cs_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline uint64_t
cs_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "2026-11-23T03:05:52Z"; the number itself if it is no printable date. */
static inline void
cs_time_text(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)t);
}

#endif
