/*
 * cli_run.c: `certstation run`: the station daemon.
 *
 * Runs in the foreground (systemd's Type=simple), logs one line per event to
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

#include "station/cli.h"
#include "station/line.h"
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
    "Logs go to stderr; the ledger records every device.\n";

struct run_totals {
	atomic_ulong done, passed, failed;
};

struct run_ctx {
	struct run_totals totals;
	stats *stats;
	pthread_rwlock_t web_lock; /* guards web against start/stop */
	web *web;
};

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
	int c, sig = 0, no_web = 0;
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
	started = time(NULL);
	for (;;) {
		struct timespec tick = {0, 100 * 1000 * 1000};

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
