/* strptime() is X/Open, not POSIX.1 base. */
#define _XOPEN_SOURCE 700

/*
 * cli_ledger.c: `certstation ledger verify|export` and `certstation workorder import`.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "station/cli.h"
#include "station/config.h"
#include "station/ledger.h"
#include "station/station.h"

static const char ledger_usage[] =
    "usage: certstation ledger verify [--config F]\n"
    "       certstation ledger export [--config F] --format csv|json [--from T] [--to T] [--out FILE]\n"
    "       certstation ledger backup [--config F] --out FILE|DIR [--keep N]\n"
    "  T is UTC: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ; --from inclusive, --to exclusive.\n"
    "  backup: a consistent copy while the station runs (never cp a live ledger),\n"
    "  one self-contained file, verified before it is reported; DIR gets\n"
    "  ledger-YYYYMMDDTHHMMSSZ.sqlite; an existing FILE is never overwritten.\n"
    "  --keep N (with DIR): then delete all but the newest N dated backups there.\n";

static const char workorder_usage[] =
    "usage: certstation workorder import [--config F] FILE.csv\n"
    "  FILE.csv: device_id,lot,quota per line (header optional; quota empty = none).\n";

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" -> Unix microseconds. */
static int
ledger_time_parse(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
		if (end == NULL || *end != '\0')
			return -1;
	}
	*out = (int64_t)timegm(&tm) * 1000000;
	return 0;
}

static int
backup_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is name one of ours: "ledger-YYYYMMDDTHHMMSSZ.sqlite"? Nothing else in the
 * directory is ever deleted. */
static int
backup_name_ours(const char *name)
{
	static const char shape[] = "ledger-########T######Z.sqlite";

	if (strlen(name) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i] != '\0'; i++)
		if (shape[i] == '#' ? !isdigit((unsigned char)name[i]) : name[i] != shape[i])
			return 0;
	return 1;
}

/* Keep the newest keep dated backups in dir (their names sort by time),
 * counting the one just written (fresh, a name inside dir) and never
 * removing it: a clock that was once ahead must not make today's backup
 * look like the oldest. */
static void
backup_prune(const char *dir, const char *fresh, unsigned long keep)
{
	char *names[4096], path[4096];
	size_t n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && n < sizeof(names) / sizeof(names[0]))
		if (backup_name_ours(de->d_name) && strcmp(de->d_name, fresh) != 0 &&
		    (names[n] = strdup(de->d_name)) != NULL)
			n++;
	closedir(d);
	keep--; /* the fresh one */
	qsort(names, n, sizeof(names[0]), backup_name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i + keep < n) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			if (unlink(path) == 0)
				printf("removed old backup %s\n", path);
			else
				fprintf(stderr, "certstation: cannot remove old backup %s: %s\n", path,
				    strerror(errno));
		}
		free(names[i]);
	}
}

/* `ledger backup`: out names the file, or a directory to put a dated one in
 * (and, with keep > 0, to prune). */
static int
ledger_backup_cli(const struct cs_config *cfg, const char *out, unsigned long keep,
    struct cs_err *err)
{
	struct ledger_verify_report rep;
	struct stat st;
	char path[4096], stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	if (out == NULL) {
		fputs(ledger_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (keep > 0 && (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))) {
		cs_err_set(err, CS_ERR_INVALID_ARG, "--keep needs --out to name a directory");
		return cli_fail(err);
	}
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		if (snprintf(path, sizeof(path), "%s/ledger-%s.sqlite", out, stamp) >=
		    (int)sizeof(path)) {
			cs_err_set(err, CS_ERR_TOO_LARGE, "%s: path too long", out);
			return cli_fail(err);
		}
	} else if (snprintf(path, sizeof(path), "%s", out) >= (int)sizeof(path)) {
		cs_err_set(err, CS_ERR_TOO_LARGE, "%s: path too long", out);
		return cli_fail(err);
	}
	if (ledger_backup(cfg->ledger_path, path, &rep, err) != CS_OK)
		return cli_fail(err);
	printf("backup %s: verified: %lld issuances, %lld audit rows (head %lld)\n", path,
	    (long long)rep.issuances, (long long)rep.audit_rows, (long long)rep.head_seq);
	if (keep > 0)
		backup_prune(out, path + strlen(out) + 1, keep);
	return CLI_EXIT_OK;
}

int
cli_ledger_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"format", required_argument, NULL, 'f'},
	    {"from", required_argument, NULL, 'F'},
	    {"to", required_argument, NULL, 'T'},
	    {"out", required_argument, NULL, 'o'},
	    {"keep", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *format = NULL, *out = NULL, *sub;
	unsigned long keep = 0;
	char *end;
	int64_t from = 0, to = INT64_MAX;
	struct cs_config *cfg = NULL;
	struct cs_err err;
	FILE *f = NULL;
	int c, rc = CLI_EXIT_FAIL;

	cs_err_clear(&err);
	if (argc < 2) {
		fputs(ledger_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_group_help(argc, argv, ledger_usage))
		return CLI_EXIT_OK;
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'F':
		case 'T':
			if (ledger_time_parse(optarg, c == 'F' ? &from : &to) != 0) {
				fprintf(stderr, "certstation: '%s' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n",
				    optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'k':
			errno = 0;
			keep = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '-' || keep == 0 ||
			    keep > 100000) {
				fprintf(stderr, "certstation: --keep needs a number 1..100000, not '%s'\n",
				    optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(ledger_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(ledger_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(ledger_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	cfg = config_load(cli_config_path(config), &err);
	if (cfg == NULL)
		return cli_fail(&err);

	if (strcmp(sub, "verify") == 0) {
		struct ledger_verify_report rep;

		if (ledger_verify(cfg->ledger_path, &rep, &err) != CS_OK) {
			rc = cli_fail(&err);
			goto out;
		}
		printf("ledger %s: intact: %lld audit rows (head %lld), %lld issuances\n",
		    cfg->ledger_path, (long long)rep.audit_rows, (long long)rep.head_seq,
		    (long long)rep.issuances);
		rc = CLI_EXIT_OK;
	} else if (strcmp(sub, "export") == 0) {
		enum ledger_export_format fmt;

		if (format != NULL && strcmp(format, "csv") == 0) {
			fmt = LEDGER_EXPORT_CSV;
		} else if (format != NULL && strcmp(format, "json") == 0) {
			fmt = LEDGER_EXPORT_JSON;
		} else {
			fputs(ledger_usage, stderr);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		f = out == NULL || strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
		if (f == NULL) {
			cs_err_set(&err, CS_ERR_IO, "%s: cannot create", out);
			rc = cli_fail(&err);
			goto out;
		}
		if (ledger_export(cfg->ledger_path, f, fmt, from, to, &err) != CS_OK) {
			rc = cli_fail(&err);
			goto out;
		}
		rc = CLI_EXIT_OK;
	} else if (strcmp(sub, "backup") == 0) {
		rc = ledger_backup_cli(cfg, out, keep, &err);
	} else {
		fputs(ledger_usage, stderr);
		rc = CLI_EXIT_USAGE;
	}
out:
	if (f != NULL && f != stdout && fclose(f) != 0 && rc == CLI_EXIT_OK) {
		cs_err_set(&err, CS_ERR_IO, "%s: write failed", out);
		rc = cli_fail(&err);
	}
	config_free(cfg);
	return rc;
}

int
cli_workorder_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	struct station *st;
	struct ledger_import_stats stats;
	struct cs_err err;
	int c, rc = CLI_EXIT_FAIL;

	cs_err_clear(&err);
	if (argc < 2 || strcmp(argv[1], "import") != 0) {
		fputs(workorder_usage, argc < 2 ? stderr : stdout);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			fputs(workorder_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(workorder_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fputs(workorder_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	st = station_open(cli_config_path(config), STATION_OPEN_NO_HSM, &err);
	if (st == NULL)
		return cli_fail(&err);
	if (ledger_workorder_import(st->ledger, argv[optind], &stats, &err) != CS_OK) {
		rc = cli_fail(&err);
	} else {
		printf("imported %zu devices in %zu lots from %s\n", stats.devices, stats.lots,
		    argv[optind]);
		rc = CLI_EXIT_OK;
	}
	station_close(st);
	return rc;
}
