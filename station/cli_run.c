/*
 * cli_run.c: `certstation run`: the station daemon.
 *
 * Runs in the foreground (systemd's Type=simple), logs one line per event to
 * stderr (journald timestamps them). SIGTERM or SIGINT: every slot abandons
 * its exchange safely (the ledger row says FAILED "aborted" unless the device
 * was already VERIFIED; the device is told), ports close, the ledger's last
 * group commit lands, then the process exits 0.
 *
 * DESIGN: the signals are blocked before any thread starts and taken with
 * sigtimedwait() on the main thread, so no handler runs inside a slot or the
 * ledger writer.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "station/cli.h"
#include "station/line.h"
#include "station/station.h"

static const char run_usage[] =
    "usage: certstation run [--config F] [--devices N] [--seconds S]\n"
    "  Provision devices in every fixture slot of the config's \"line\" section\n"
    "  until SIGTERM/SIGINT.\n"
    "  --devices N   stop after N exchanges have ended (pass or fail): for tests\n"
    "  --seconds S   stop after S seconds\n"
    "Logs go to stderr; the ledger records every device.\n";

struct run_totals {
	atomic_ulong done, passed, failed;
};

static void
run_on_event(void *arg, const struct line_event *ev)
{
	struct run_totals *t = arg;

	if (ev->kind != LINE_EV_DEVICE_DONE)
		return;
	if (ev->status == 0)
		atomic_fetch_add(&t->passed, 1);
	else
		atomic_fetch_add(&t->failed, 1);
	atomic_fetch_add(&t->done, 1);
}

int
cli_run_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"devices", required_argument, NULL, 'n'},
	    {"seconds", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	unsigned long max_devices = 0, seconds = 0;
	struct run_totals totals;
	struct station *st = NULL;
	struct cs_err err;
	sigset_t sigs;
	line *ln = NULL;
	time_t started;
	int c, sig = 0;
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

	memset(&totals, 0, sizeof(totals));
	st = station_open(cli_config_path(config), 0, &err);
	if (st == NULL)
		return cli_fail(&err);
	ln = line_start(st->cfg, st->issuer, st->ledger, run_on_event, &totals, &err);
	if (ln == NULL) {
		station_close(st);
		return cli_fail(&err);
	}
	fprintf(stderr, "certstation: station running: %zu slot(s), ledger %s\n",
	    line_slot_count(ln), st->cfg->ledger_path);
	started = time(NULL);
	for (;;) {
		struct timespec tick = {0, 100 * 1000 * 1000};

		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig > 0)
			break;
		if (max_devices > 0 && atomic_load(&totals.done) >= max_devices)
			break;
		if (seconds > 0 && (unsigned long)(time(NULL) - started) >= seconds)
			break;
	}
	if (sig > 0)
		fprintf(stderr, "certstation: %s: stopping\n", strsignal(sig));
	line_stop(ln);
	station_close(st);
	fprintf(stderr, "certstation: stopped: %lu device(s) done, %lu verified, %lu failed\n",
	    (unsigned long)atomic_load(&totals.done), (unsigned long)atomic_load(&totals.passed),
	    (unsigned long)atomic_load(&totals.failed));
	return CLI_EXIT_OK;
}
