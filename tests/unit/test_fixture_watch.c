/*
 * test_fixture_watch.c: the hot-plug watch on real pseudo-terminals behind
 * a symlink, the way the simulator (or /dev/serial/by-id) presents a slot:
 * the link appears (APPEARED), goes (GONE), is re-pointed to another pty
 * (MOVED), its target pty closes (GONE); plus TCP slots, an absent USB
 * rule, the event cap, and how long a poll takes.
 */
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixtures/fixture.h"
#include "tests/support/check.h"

struct pty {
	int master, slave;
	char path[64];
};

static int
pty_make(struct pty *t)
{
	return openpty(&t->master, &t->slave, NULL, NULL, NULL) == 0 &&
		   ttyname_r(t->slave, t->path, sizeof(t->path)) == 0
	    ? 0
	    : -1;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct fixture_watch w; /* large: keep it off the stack */

static size_t
poll_once(struct fixture_event *ev, size_t cap)
{
	struct cs_err err;
	size_t n = 999;

	cs_err_clear(&err);
	CHECK_INT_EQ(fixture_watch_poll(&w, ev, cap, &n, &err), CS_OK);
	return n == 999 ? 0 : n;
}

/* Point link at target, atomically (as udev and the simulator do). */
static int
relink(const char *target, const char *link)
{
	char tmp[160];

	snprintf(tmp, sizeof(tmp), "%s.new", link);
	unlink(tmp);
	if (symlink(target, tmp) != 0)
		return -1;
	return rename(tmp, link);
}

int
main(void)
{
	char dir[] = "/tmp/certstation-watch.XXXXXX", link0[128], link3[128];
	struct fixture_match rules[4];
	struct fixture_event ev[8];
	struct pty a, b;
	struct cs_err err;
	size_t n;
	long t0;

	if (mkdtemp(dir) == NULL || pty_make(&a) != 0 || pty_make(&b) != 0) {
		perror("setup");
		CHECK(0);
		return check_finish("test_fixture_watch");
	}
	snprintf(link0, sizeof(link0), "%s/slot0", dir);
	snprintf(link3, sizeof(link3), "%s/slot3", dir);
	memset(rules, 0, sizeof(rules));
	rules[0].kind = FIXTURE_MATCH_PATH;
	snprintf(rules[0].value, sizeof(rules[0].value), "%s", link0);
	CHECK_INT_EQ(fixture_match_parse("tcp=127.0.0.1:4001", &rules[1], &err), CS_OK);
	CHECK_INT_EQ(fixture_match_parse("usb-serial=CERTSTATION-NO-SUCH-ADAPTER", &rules[2], &err), CS_OK);
	rules[3].kind = FIXTURE_MATCH_PATH;
	snprintf(rules[3].value, sizeof(rules[3].value), "%s", link3);

	CHECK_INT_EQ(fixture_watch_init(&w, rules, FIXTURE_WATCH_MAX + 1), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(fixture_watch_init(&w, NULL, 2), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(fixture_watch_init(&w, rules, 4), CS_OK);

	/* First poll: what is present now (only the TCP slot). */
	n = poll_once(ev, 8);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].slot, 1);
	CHECK_INT_EQ(ev[0].kind, FIXTURE_PORT_APPEARED);
	CHECK(strcmp(ev[0].spec, "tcp:127.0.0.1:4001") == 0);
	/* Nothing changed: nothing reported. */
	CHECK_INT_EQ(poll_once(ev, 8), 0);

	/* The slot's link appears: APPEARED with the pty it points at. */
	CHECK_INT_EQ(symlink(a.path, link0), 0);
	n = poll_once(ev, 8);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].slot, 0);
	CHECK_INT_EQ(ev[0].kind, FIXTURE_PORT_APPEARED);
	CHECK(strcmp(ev[0].spec, a.path) == 0);
	CHECK_INT_EQ(poll_once(ev, 8), 0);

	/* Removed: GONE, naming where it was. */
	CHECK_INT_EQ(unlink(link0), 0);
	n = poll_once(ev, 8);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].slot, 0);
	CHECK_INT_EQ(ev[0].kind, FIXTURE_PORT_GONE);
	CHECK(strcmp(ev[0].spec, a.path) == 0);

	/* Back, then re-pointed to another pty: MOVED to the new target. */
	CHECK_INT_EQ(relink(a.path, link0), 0);
	n = poll_once(ev, 8);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].kind, FIXTURE_PORT_APPEARED);
	CHECK_INT_EQ(relink(b.path, link0), 0);
	n = poll_once(ev, 8);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].slot, 0);
	CHECK_INT_EQ(ev[0].kind, FIXTURE_PORT_MOVED);
	CHECK(strcmp(ev[0].spec, b.path) == 0);
	CHECK_INT_EQ(poll_once(ev, 8), 0);

	/* The target pty itself goes away (its node disappears with its last
	 * descriptor): the link dangles, the slot is GONE. */
	close(b.master);
	close(b.slave);
	t0 = now_ms();
	n = 0;
	while (n == 0 && now_ms() - t0 < 2000) {
		n = poll_once(ev, 8);
		if (n == 0)
			usleep(20000);
	}
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].kind, FIXTURE_PORT_GONE);
	CHECK(strcmp(ev[0].spec, b.path) == 0);

	/* Two slots change at once but only one event fits: the other is
	 * reported by the next poll, not lost. */
	CHECK_INT_EQ(relink(a.path, link0), 0);
	CHECK_INT_EQ(relink(a.path, link3), 0);
	n = poll_once(ev, 1);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].slot, 0);
	n = poll_once(ev, 1);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].slot, 3);
	CHECK_INT_EQ(ev[0].kind, FIXTURE_PORT_APPEARED);
	CHECK_INT_EQ(poll_once(ev, 8), 0);
	/* cap 0 reports nothing and loses nothing. */
	unlink(link3);
	CHECK_INT_EQ(poll_once(NULL, 0), 0);
	n = poll_once(ev, 8);
	CHECK_INT_EQ(n, 1);
	CHECK_INT_EQ(ev[0].kind, FIXTURE_PORT_GONE);

	/* A poll (with a USB rule, so libserialport enumerates) is far inside
	 * the 500 ms cadence. */
	t0 = now_ms();
	for (int i = 0; i < 10; i++)
		poll_once(ev, 8);
	CHECK(now_ms() - t0 < 2000);
	fprintf(stderr, "  10 polls: %ld ms\n", now_ms() - t0);

	/* A fresh watch reports the present slots again. */
	CHECK_INT_EQ(fixture_watch_init(&w, rules, 4), CS_OK);
	n = poll_once(ev, 8);
	CHECK_INT_EQ(n, 2);

	unlink(link0);
	unlink(link3);
	rmdir(dir);
	close(a.master);
	close(a.slave);
	return check_finish("test_fixture_watch");
}
