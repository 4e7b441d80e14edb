/*
 * test_web_session.c: dashboard sessions (random IDs stored hashed, CSRF
 * tokens, idle timeout, least-recently-used eviction), the login rate
 * limiter, and the event bus between slot threads and event streams
 * (bounded backlog, overflow becomes a resync, a reader that never reads
 * never slows a publisher). Time is driven by the test.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "tests/support/check.h"
#include "web-ui/web_events.h"
#include "web-ui/web_session.h"

#define SEC INT64_C(1000000)

static void
test_sessions(void)
{
	web_sessions *ws = web_sessions_new(60 * SEC, 4);
	char c1[65], c2[65], bad[65];
	struct web_session_info i1, got;
	uint8_t h[32];
	unsigned int hl = 0;

	CHECK(ws != NULL);
	if (ws == NULL)
		return;
	CHECK_INT_EQ(web_session_create(ws, "ana", USER_ROLE_SUPERVISOR, 1000 * SEC, c1, &i1), 0);
	CHECK_INT_EQ(web_session_create(ws, "bo", USER_ROLE_OPERATOR, 1000 * SEC, c2, NULL), 0);
	CHECK_INT_EQ(strlen(c1), 64);
	CHECK_INT_EQ(strspn(c1, "0123456789abcdef"), 64);
	CHECK(strcmp(c1, c2) != 0);
	CHECK_INT_EQ(strlen(i1.csrf), 64);
	CHECK(strcmp(i1.csrf, c1) != 0);
	/* the table keeps the ID's SHA-256, not the ID */
	EVP_Digest(c1, 64, h, &hl, EVP_sha256(), NULL);
	CHECK(memcmp(h, i1.id_hash, 32) == 0);

	CHECK_INT_EQ(web_session_lookup(ws, c1, 1010 * SEC, 1, &got), 0);
	CHECK(strcmp(got.user, "ana") == 0);
	CHECK_INT_EQ(got.role, USER_ROLE_SUPERVISOR);
	CHECK(strcmp(got.csrf, i1.csrf) == 0);
	CHECK(web_session_csrf_ok(&got, i1.csrf));
	memcpy(bad, i1.csrf, 65);
	bad[10] = bad[10] == 'a' ? 'b' : 'a';
	CHECK(!web_session_csrf_ok(&got, bad));
	CHECK(!web_session_csrf_ok(&got, ""));
	CHECK(!web_session_csrf_ok(&got, NULL));
	bad[63] = '\0';
	CHECK(!web_session_csrf_ok(&got, bad));

	/* malformed or unknown cookies */
	CHECK_INT_EQ(web_session_lookup(ws, "", 1010 * SEC, 1, &got), CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(web_session_lookup(ws, "zz", 1010 * SEC, 1, &got), CS_ERR_NOT_FOUND);
	memcpy(bad, c1, 65);
	bad[0] = bad[0] == '0' ? '1' : '0';
	CHECK_INT_EQ(web_session_lookup(ws, bad, 1010 * SEC, 1, &got), CS_ERR_NOT_FOUND);
	memcpy(bad, c1, 65);
	bad[5] = 'A'; /* upper case is not the form handed out */
	CHECK_INT_EQ(web_session_lookup(ws, bad, 1010 * SEC, 1, &got), CS_ERR_NOT_FOUND);

	/* idle timeout: c1 touched at 1010 lives until 1070; c2 (1000) until 1060 */
	CHECK(web_session_alive(ws, i1.id_hash, 1069 * SEC));
	CHECK_INT_EQ(web_session_lookup(ws, c2, 1061 * SEC, 1, &got), CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(web_session_lookup(ws, c1, 1069 * SEC, 0, &got), 0); /* no touch */
	CHECK_INT_EQ(web_session_lookup(ws, c1, 1070 * SEC, 1, &got), CS_ERR_NOT_FOUND);
	CHECK(!web_session_alive(ws, i1.id_hash, 1070 * SEC));
	CHECK_INT_EQ(web_session_count(ws, 1070 * SEC), 0);

	/* destroy */
	CHECK_INT_EQ(web_session_create(ws, "ana", USER_ROLE_OPERATOR, 2000 * SEC, c1, &i1), 0);
	CHECK_INT_EQ(web_session_destroy(ws, c1), 0);
	CHECK_INT_EQ(web_session_destroy(ws, c1), CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(web_session_lookup(ws, c1, 2000 * SEC, 1, &got), CS_ERR_NOT_FOUND);

	/* a full table drops the least recently used session */
	{
		char c[5][65];

		for (int k = 0; k < 4; k++)
			CHECK_INT_EQ(web_session_create(ws, "u", USER_ROLE_OPERATOR, (3000 + k) * SEC,
					 c[k], NULL),
			    0);
		CHECK_INT_EQ(web_session_lookup(ws, c[0], 3010 * SEC, 1, &got), 0); /* c[1] is now oldest */
		CHECK_INT_EQ(web_session_create(ws, "u", USER_ROLE_OPERATOR, 3011 * SEC, c[4], NULL), 0);
		CHECK_INT_EQ(web_session_count(ws, 3011 * SEC), 4);
		CHECK_INT_EQ(web_session_lookup(ws, c[1], 3012 * SEC, 1, &got), CS_ERR_NOT_FOUND);
		CHECK_INT_EQ(web_session_lookup(ws, c[0], 3012 * SEC, 1, &got), 0);
		CHECK_INT_EQ(web_session_lookup(ws, c[4], 3012 * SEC, 1, &got), 0);
	}
	web_sessions_free(ws);
	web_sessions_free(NULL);
}

static void
test_ratelimit(void)
{
	web_ratelimit *rl = web_ratelimit_new(5, 60 * SEC, 3);
	unsigned retry = 0;

	CHECK(rl != NULL);
	if (rl == NULL)
		return;
	for (int k = 0; k < 5; k++) {
		CHECK_INT_EQ(web_ratelimit_check(rl, "addr:10.0.0.1", (100 + k) * SEC, &retry), 0);
		web_ratelimit_fail(rl, "addr:10.0.0.1", (100 + k) * SEC);
	}
	CHECK_INT_EQ(web_ratelimit_check(rl, "addr:10.0.0.1", 105 * SEC, &retry), CS_ERR_BUSY);
	CHECK_INT_EQ(retry, 55); /* window opened at 100 s */
	CHECK_INT_EQ(web_ratelimit_check(rl, "addr:10.0.0.2", 105 * SEC, &retry), 0);
	CHECK_INT_EQ(web_ratelimit_check(rl, "addr:10.0.0.1", 159 * SEC + 1, &retry), CS_ERR_BUSY);
	CHECK_INT_EQ(retry, 1);
	/* the window ends: allowed again, counting from zero */
	CHECK_INT_EQ(web_ratelimit_check(rl, "addr:10.0.0.1", 160 * SEC, &retry), 0);
	web_ratelimit_fail(rl, "addr:10.0.0.1", 160 * SEC);
	CHECK_INT_EQ(web_ratelimit_check(rl, "addr:10.0.0.1", 161 * SEC, &retry), 0);

	/* four failures stay under the limit */
	for (int k = 0; k < 4; k++)
		web_ratelimit_fail(rl, "user:bo", 200 * SEC);
	CHECK_INT_EQ(web_ratelimit_check(rl, "user:bo", 200 * SEC, &retry), 0);
	web_ratelimit_fail(rl, "user:bo", 200 * SEC);
	CHECK_INT_EQ(web_ratelimit_check(rl, "user:bo", 200 * SEC, &retry), CS_ERR_BUSY);

	/* a full table reuses the oldest window, never grows */
	web_ratelimit_fail(rl, "user:x1", 201 * SEC);
	web_ratelimit_fail(rl, "user:x2", 202 * SEC);
	web_ratelimit_fail(rl, "user:x3", 203 * SEC);
	CHECK_INT_EQ(web_ratelimit_check(rl, "user:bo", 203 * SEC, &retry), 0);
	web_ratelimit_free(rl);
	web_ratelimit_free(NULL);
}

static void
event_for(struct web_event *ev, unsigned n)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = WEB_EV_SLOT;
	snprintf(ev->slot.name, sizeof(ev->slot.name), "s%u", n);
}

static void
test_bus_basic(void)
{
	web_bus *b = web_bus_new();
	struct web_event ev, got;
	uint64_t cur;
	struct timespec t0, t1;

	CHECK(b != NULL);
	if (b == NULL)
		return;
	cur = web_bus_cursor(b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT_EQ(web_bus_read(b, &cur, &got, 50), WEB_BUS_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 45);
	for (unsigned k = 0; k < 3; k++) {
		event_for(&ev, k);
		web_bus_publish(b, &ev);
	}
	for (unsigned k = 0; k < 3; k++) {
		char name[8];

		snprintf(name, sizeof(name), "s%u", k);
		CHECK_INT_EQ(web_bus_read(b, &cur, &got, 0), WEB_BUS_EVENT);
		CHECK(strcmp(got.slot.name, name) == 0);
	}
	CHECK_INT_EQ(web_bus_read(b, &cur, &got, 0), WEB_BUS_TIMEOUT);

	/* a reader that fell more than the ring behind is told once, then
	 * continues with what comes next */
	for (unsigned k = 0; k < WEB_BUS_RING + 5; k++) {
		event_for(&ev, 100 + k);
		web_bus_publish(b, &ev);
	}
	CHECK_INT_EQ(web_bus_read(b, &cur, &got, 0), WEB_BUS_OVERFLOW);
	CHECK_INT_EQ(web_bus_read(b, &cur, &got, 0), WEB_BUS_TIMEOUT);
	event_for(&ev, 7);
	web_bus_publish(b, &ev);
	CHECK_INT_EQ(web_bus_read(b, &cur, &got, 0), WEB_BUS_EVENT);
	CHECK(strcmp(got.slot.name, "s7") == 0);
	/* exactly a ring's worth behind is not an overflow */
	for (unsigned k = 0; k < WEB_BUS_RING; k++) {
		event_for(&ev, k);
		web_bus_publish(b, &ev);
	}
	CHECK_INT_EQ(web_bus_read(b, &cur, &got, 0), WEB_BUS_EVENT);
	CHECK(strcmp(got.slot.name, "s0") == 0);

	web_bus_stop(b);
	CHECK_INT_EQ(web_bus_read(b, &cur, &got, 1000), WEB_BUS_STOPPED);
	web_bus_free(b);
}

struct waiter {
	web_bus *b;
	uint64_t cursor;
	enum web_bus_result r;
	struct web_event ev;
};

static void *
waiter_main(void *arg)
{
	struct waiter *wt = arg;

	wt->r = web_bus_read(wt->b, &wt->cursor, &wt->ev, 5000);
	return NULL;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
test_bus_threads(void)
{
	web_bus *b = web_bus_new();
	struct waiter wt;
	pthread_t th;
	struct web_event ev;
	int64_t t0, dt;
	uint64_t stuck;

	CHECK(b != NULL);
	if (b == NULL)
		return;
	/* a blocked reader wakes on publish, not on its timeout */
	memset(&wt, 0, sizeof(wt));
	wt.b = b;
	wt.cursor = web_bus_cursor(b);
	t0 = mono_us();
	pthread_create(&th, NULL, waiter_main, &wt);
	{
		struct timespec d = {0, 50 * 1000 * 1000};

		nanosleep(&d, NULL);
	}
	event_for(&ev, 42);
	web_bus_publish(b, &ev);
	pthread_join(th, NULL);
	CHECK_INT_EQ(wt.r, WEB_BUS_EVENT);
	CHECK(strcmp(wt.ev.slot.name, "s42") == 0);
	CHECK(mono_us() - t0 < 2000000);

	/* a reader that never reads costs the publisher nothing: 100,000
	 * events go through quickly, and the reader then gets one overflow */
	stuck = web_bus_cursor(b);
	t0 = mono_us();
	for (unsigned k = 0; k < 100000; k++) {
		ev.slot.passed = k;
		web_bus_publish(b, &ev);
	}
	dt = mono_us() - t0;
	CHECK(dt < 5000000);
	{
		struct web_event got;

		CHECK_INT_EQ(web_bus_read(b, &stuck, &got, 0), WEB_BUS_OVERFLOW);
	}

	/* poke wakes a reader without an event; stop wakes it for good */
	memset(&wt, 0, sizeof(wt));
	wt.b = b;
	wt.cursor = web_bus_cursor(b);
	pthread_create(&th, NULL, waiter_main, &wt);
	{
		struct timespec d = {0, 50 * 1000 * 1000};

		nanosleep(&d, NULL);
	}
	t0 = mono_us();
	web_bus_poke(b);
	pthread_join(th, NULL);
	CHECK_INT_EQ(wt.r, WEB_BUS_TIMEOUT);
	CHECK(mono_us() - t0 < 2000000);

	memset(&wt, 0, sizeof(wt));
	wt.b = b;
	wt.cursor = web_bus_cursor(b);
	pthread_create(&th, NULL, waiter_main, &wt);
	{
		struct timespec d = {0, 50 * 1000 * 1000};

		nanosleep(&d, NULL);
	}
	t0 = mono_us();
	web_bus_stop(b);
	pthread_join(th, NULL);
	CHECK_INT_EQ(wt.r, WEB_BUS_STOPPED);
	CHECK(mono_us() - t0 < 2000000);
	web_bus_free(b);
	web_bus_publish(NULL, &ev); /* a station without a dashboard */
}

int
main(void)
{
	test_sessions();
	test_ratelimit();
	test_bus_basic();
	test_bus_threads();
	return check_finish("test_web_session");
}
