/*
 * cli_run.c: `certstation run`: the station daemon.
 *
 * Runs in the foreground (systemd's Type=notify), logs one line per event to
 * stderr (journald timestamps them). SIGTERM, SIGINT or SIGHUP (the
 * terminal of a foreground run closed): every slot abandons
 * its exchange safely (the ledger row says FAILED "aborted" unless the device
 * was already VERIFIED; the device is told), ports close, the ledger's last
 * group commit lands, then the process exits 0.
 *
 * DESIGN: the signals are blocked before any thread starts and taken with
 * sigtimedwait() on the main thread, so no handler runs inside a slot or the
 * ledger writer.
 *
 * Under systemd (Type=notify) the station says READY=1 once the line runs,
 * keeps STATUS= current, and with WatchdogSec= pings WATCHDOG=1 at half the
 * interval only while the ledger writer and every slot thread make progress:
 * a PKCS#11 call or a disk that never returns stops the pings, and systemd
 * restarts the station (the ledger's RESERVED/SIGNED rows make that safe).
 *
 * The dashboard (web-ui/) starts after the line, since it shows the line's
 * slots, and stops before it. Slot threads hand every event to the stats
 * and to the dashboard; the dashboard pointer they read is guarded by a
 * read-write lock that only start and stop take for writing, so a slot
 * never publishes into a server being freed. A dashboard that cannot start
 * (port taken, bad TLS files) is logged and the line runs without it: the
 * station must not stop the line for its display.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "station/clock.h"
#include "station/cli.h"
#include "station/ledger.h"
#include "station/line.h"
#include "station/sd_notify.h"
#include "station/station.h"
#include "station/stats.h"
#include "web-ui/web.h"

static const char run_usage[] =
    "usage: certstation run [--config F] [--devices N] [--seconds S] [--no-web]\n"
    "  Provision devices in every fixture slot of the config's \"line\" section\n"
    "  until SIGTERM/SIGINT/SIGHUP, and serve the dashboard (config \"web\", default\n"
    "  http://127.0.0.1:8080/).\n"
    "  --devices N   stop after N exchanges have ended (pass or fail): for tests\n"
    "  --seconds S   stop after S seconds\n"
    "  --no-web      do not start the dashboard\n"
    "Logs go to stderr; the ledger records every device. Under systemd\n"
    "(Type=notify) it says READY=1 once the line runs, keeps STATUS= current and,\n"
    "with WatchdogSec=, pings the watchdog only while the ledger writer and every\n"
    "slot make progress (a hung HSM call or disk gets the station restarted).\n";

/* A slot thread or the ledger writer that has not made progress for this
 * long is hung: a healthy slot comes round its loop every second (a write
 * held by flow control: a few), a healthy writer finishes a group commit in
 * tens of milliseconds. A shorter WatchdogSec= shortens it, down to the
 * floor. */
#define RUN_STUCK_MS 20000
#define RUN_STUCK_FLOOR_MS 3000
#define RUN_STATUS_EVERY_MS 5000

struct run_totals {
	atomic_ulong done, passed, failed;
};

struct run_ctx {
	struct run_totals totals;
	stats *stats;
	pthread_rwlock_t web_lock; /* guards web against start/stop */
	web *web;
};

/* What keeps the station from being healthy, or 0 (why filled). */
static int
run_unhealthy(struct station *st, line *ln, uint64_t wd_ms, char *why, size_t cap)
{
	uint64_t lag = ledger_writer_lag_ms(st->ledger), stuck_ms = RUN_STUCK_MS;

	if (wd_ms < stuck_ms)
		stuck_ms = wd_ms < RUN_STUCK_FLOOR_MS ? RUN_STUCK_FLOOR_MS : wd_ms;
	if (lag > stuck_ms) {
		snprintf(why, cap, "the ledger writer has not finished its work for %llu s",
		    (unsigned long long)(lag / 1000));
		return 1;
	}
	return line_stuck(ln, stuck_ms, why, cap);
}

/* Keep systemd told: STATUS= every few seconds, WATCHDOG=1 at half the
 * interval while healthy. *next_* carry the schedule between calls. */
static void
run_notify_tick(struct station *st, line *ln, const struct run_totals *t, uint64_t wd_ms,
    uint64_t *next_ping, uint64_t *next_status, int *unhealthy)
{
	uint64_t now = cs_mono_ms();
	char why[200], msg[300];

	if (now >= *next_status) {
		snprintf(msg, sizeof(msg), "STATUS=%lu device(s): %lu verified, %lu failed",
		    (unsigned long)atomic_load(&t->done), (unsigned long)atomic_load(&t->passed),
		    (unsigned long)atomic_load(&t->failed));
		if (!*unhealthy)
			cs_notify(msg);
		*next_status = now + RUN_STATUS_EVERY_MS;
	}
	if (wd_ms == 0 || now < *next_ping)
		return;
	*next_ping = now + wd_ms / 2;
	if (run_unhealthy(st, ln, wd_ms, why, sizeof(why))) {
		if (!*unhealthy) {
			fprintf(stderr, "certstation: watchdog: withholding the keep-alive: %s\n",
			    why);
			snprintf(msg, sizeof(msg), "STATUS=hung: %s", why);
			cs_notify(msg);
		}
		*unhealthy = 1;
		return;
	}
	if (*unhealthy)
		fprintf(stderr, "certstation: watchdog: healthy again\n");
	*unhealthy = 0;
	cs_notify("WATCHDOG=1");
}

static void
run_on_event(void *arg, const struct line_event *ev)
{
	struct run_ctx *r = arg;
	struct run_totals *t = &r->totals;

	stats_record(r->stats, ev);
	pthread_rwlock_rdlock(&r->web_lock);
	web_publish(r->web, ev);
	pthread_rwlock_unlock(&r->web_lock);
	if (ev->kind != LINE_EV_DEVICE_DONE)
		return;
	if (ev->status == 0)
		atomic_fetch_add(&t->passed, 1);
	else
		atomic_fetch_add(&t->failed, 1);
	atomic_fetch_add(&t->done, 1);
}

/* Start the dashboard if configured; log where it is, or why not. */
static void
run_web_start(struct run_ctx *r, struct station *st, line *ln)
{
	const struct web_config *wc = &st->cfg->web;
	struct web_context ctx = {st, ln, r->stats};
	struct cs_err err;
	int v6 = strchr(wc->host, ':') != NULL;
	web *w;

	cs_err_clear(&err);
	w = web_start(wc, &ctx, &err);
	if (w == NULL) {
		fprintf(stderr, "certstation: dashboard not started: %s; the line runs without it\n",
		    err.msg);
		return;
	}
	pthread_rwlock_wrlock(&r->web_lock);
	r->web = w;
	pthread_rwlock_unlock(&r->web_lock);
	fprintf(stderr, "certstation: dashboard at %s://%s%s%s:%u/\n",
	    wc->tls_certificate != NULL ? "https" : "http", v6 ? "[" : "", wc->host, v6 ? "]" : "",
	    wc->port);
}

static void
run_web_stop(struct run_ctx *r)
{
	web *w;

	pthread_rwlock_wrlock(&r->web_lock);
	w = r->web;
	r->web = NULL;
	pthread_rwlock_unlock(&r->web_lock);
	web_stop(w);
}

int
cli_run_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"devices", required_argument, NULL, 'n'},
	    {"seconds", required_argument, NULL, 's'},
	    {"no-web", no_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	unsigned long max_devices = 0, seconds = 0;
	struct run_ctx rc;
	struct run_totals *totals = &rc.totals;
	struct station *st = NULL;
	struct cs_err err;
	sigset_t sigs;
	line *ln = NULL;
	time_t started;
	uint64_t wd_ms, next_ping = 0, next_status = 0;
	int c, sig = 0, no_web = 0, unhealthy = 0;
	char ready[200];
	char *end;

	cs_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'n':
		case 's':
			errno = 0;
			if (c == 'n')
				max_devices = strtoul(optarg, &end, 10);
			else
				seconds = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '-' || optarg[0] == '\0') {
				fprintf(stderr, "certstation run: --%s needs a number, not '%s'\n",
				    c == 'n' ? "devices" : "seconds", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'W':
			no_web = 1;
			break;
		case 'h':
			fputs(run_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(run_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(run_usage, stderr);
		return CLI_EXIT_USAGE;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* a device pulled mid-write must not kill the station (TCP fixtures) */
	signal(SIGPIPE, SIG_IGN);

	memset(&rc, 0, sizeof(rc));
	pthread_rwlock_init(&rc.web_lock, NULL);
	st = station_open(cli_config_path(config), 0, &err);
	if (st == NULL) {
		pthread_rwlock_destroy(&rc.web_lock);
		return cli_fail(&err);
	}
	rc.stats = stats_new();
	if (rc.stats == NULL) {
		station_close(st);
		pthread_rwlock_destroy(&rc.web_lock);
		fprintf(stderr, "certstation: out of memory\n");
		return CLI_EXIT_FAIL;
	}
	ln = line_start(st->cfg, st->issuer, st->ledger, run_on_event, &rc, &err);
	if (ln == NULL) {
		stats_free(rc.stats);
		station_close(st);
		pthread_rwlock_destroy(&rc.web_lock);
		return cli_fail(&err);
	}
	fprintf(stderr, "certstation: station running: %zu slot(s), ledger %s\n",
	    line_slot_count(ln), st->cfg->ledger_path);
	if (!no_web && st->cfg->web.enabled)
		run_web_start(&rc, st, ln);
	snprintf(ready, sizeof(ready), "READY=1\nSTATUS=provisioning on %zu slot(s)",
	    line_slot_count(ln));
	if (cs_notify(ready) < 0)
		fprintf(stderr, "certstation: cannot notify the service manager at %s: %s\n",
		    getenv("NOTIFY_SOCKET"), strerror(errno));
	wd_ms = cs_notify_watchdog_usec() / 1000u;
	if (wd_ms > 0)
		fprintf(stderr, "certstation: watchdog: keep-alive every %llu ms while healthy\n",
		    (unsigned long long)(wd_ms / 2));
	next_status = cs_mono_ms() + RUN_STATUS_EVERY_MS;
	started = time(NULL);
	for (;;) {
		struct timespec tick = {0, 100 * 1000 * 1000};

		run_notify_tick(st, ln, totals, wd_ms, &next_ping, &next_status, &unhealthy);
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig > 0)
			break;
		if (max_devices > 0 && atomic_load(&totals->done) >= max_devices)
			break;
		if (seconds > 0 && (unsigned long)(time(NULL) - started) >= seconds)
			break;
	}
	if (sig > 0)
		fprintf(stderr, "certstation: %s: stopping\n", strsignal(sig));
	cs_notify("STOPPING=1\nSTATUS=stopping: abandoning exchanges in flight");
	run_web_stop(&rc);
	line_stop(ln);
	stats_free(rc.stats);
	station_close(st);
	pthread_rwlock_destroy(&rc.web_lock);
	fprintf(stderr, "certstation: stopped: %lu device(s) done, %lu verified, %lu failed\n",
	    (unsigned long)atomic_load(&totals->done), (unsigned long)atomic_load(&totals->passed),
	    (unsigned long)atomic_load(&totals->failed));
	return CLI_EXIT_OK;
}
