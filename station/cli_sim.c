/*
 * cli_sim.c: `certstation sim`: virtual fixtures with simulated devices on
 * pseudo-terminals, for tests, demos and benchmarks of the line (sim/sim.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim.h"
#include "station/cli.h"

static const char sim_usage[] =
    "usage: certstation sim --count N [--dialect frame|text] [--baud B]\n"
    "                       [--key p256|p384|rsa2048|rsa3072] [--id-prefix SN-] [--id-start 1]\n"
    "                       [--links DIR] [--fixture-map FILE] [--store DIR]\n"
    "                       [--fault KIND[:WHICH]]... [--devices-per-port M | --once]\n"
    "                       [--gap-ms 100] [--max-frame N] [--timeout-ms 60000]\n"
    "                       [--seed S] [--json]\n"
    "  N virtual fixture ports (pty pairs; the station opens the printed paths or\n"
    "  the links DIR/sim-P). Each port plays devices one after another: key,\n"
    "  CSR with CN = device ID and the nonce as challengePassword, chain check,\n"
    "  storage, read-back. One line per device: \"sim-P ID PASS|FAIL ...\".\n"
    "  Bytes are paced at B baud 8N1 in both directions (0: no pacing).\n"
    "  --fault KIND[:WHICH], KIND one of garbage noise drop stall bad-sig replay\n"
    "  wrong-readback dup-id off-list oversize bad-version stall-mid; WHICH a device number\n"
    "  (1-based, in start order), every=K, port=P (all its devices) or port=P.N\n"
    "  (its N-th device only); without WHICH: every device.\n"
    "  Runs until SIGINT/SIGTERM unless --devices-per-port/--once. Exit status 1\n"
    "  when a device did not end as its fault (or none) predicts.\n";

static int
sim_cli_number(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, "certstation sim: %s '%s': expected a number %" PRIu64 "..%" PRIu64 "\n",
	        opt, s, min, max);
	return -1;
}

int
cli_sim_main(int argc, char **argv)
{
	enum {
		OPT_COUNT = 1000,
		OPT_DIALECT,
		OPT_BAUD,
		OPT_KEY,
		OPT_ID_PREFIX,
		OPT_ID_START,
		OPT_LINKS,
		OPT_FIXTURE_MAP,
		OPT_STORE,
		OPT_FAULT,
		OPT_PER_PORT,
		OPT_ONCE,
		OPT_GAP,
		OPT_MAX_FRAME,
		OPT_TIMEOUT,
		OPT_SEED,
		OPT_JSON,
		OPT_HELP,
	};
	static const struct option longopts[] = {
	    {"count", required_argument, NULL, OPT_COUNT},
	    {"dialect", required_argument, NULL, OPT_DIALECT},
	    {"baud", required_argument, NULL, OPT_BAUD},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"id-prefix", required_argument, NULL, OPT_ID_PREFIX},
	    {"id-start", required_argument, NULL, OPT_ID_START},
	    {"links", required_argument, NULL, OPT_LINKS},
	    {"fixture-map", required_argument, NULL, OPT_FIXTURE_MAP},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"fault", required_argument, NULL, OPT_FAULT},
	    {"devices-per-port", required_argument, NULL, OPT_PER_PORT},
	    {"once", no_argument, NULL, OPT_ONCE},
	    {"gap-ms", required_argument, NULL, OPT_GAP},
	    {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
	    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	    {"seed", required_argument, NULL, OPT_SEED},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	struct sim_options o;
	struct cs_err err;
	uint64_t v;
	int c, have_count = 0, have_seed = 0, rc;

	sim_options_default(&o);
	cs_err_clear(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_COUNT:
			if (sim_cli_number("--count", optarg, 1, SIM_PORTS_MAX, &v) != 0)
				return CLI_EXIT_USAGE;
			o.count = (unsigned)v;
			have_count = 1;
			break;
		case OPT_DIALECT:
			if (strcmp(optarg, "frame") == 0) {
				o.dialect = PROTO_DIALECT_FRAME;
			} else if (strcmp(optarg, "text") == 0) {
				o.dialect = PROTO_DIALECT_TEXT;
			} else {
				fprintf(stderr, "certstation sim: --dialect '%s': frame or text\n",
				        optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_BAUD:
			if (sim_cli_number("--baud", optarg, 0, 4000000, &v) != 0)
				return CLI_EXIT_USAGE;
			o.baud = (uint32_t)v;
			break;
		case OPT_KEY:
			o.key_type = proto_key_type_parse(optarg);
			if (o.key_type != PROTO_KEY_P256 && o.key_type != PROTO_KEY_P384 &&
			    o.key_type != PROTO_KEY_RSA2048 && o.key_type != PROTO_KEY_RSA3072) {
				fprintf(stderr,
				        "certstation sim: --key '%s': one of p256, p384, rsa2048, "
				        "rsa3072\n",
				        optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_ID_PREFIX:
			o.id_prefix = optarg;
			break;
		case OPT_ID_START:
			if (sim_cli_number("--id-start", optarg, 0, 999999999999ull, &v) != 0)
				return CLI_EXIT_USAGE;
			o.id_start = v;
			break;
		case OPT_LINKS:
			o.links_dir = optarg;
			break;
		case OPT_FIXTURE_MAP:
			o.fixture_map = optarg;
			break;
		case OPT_STORE:
			o.store_dir = optarg;
			break;
		case OPT_FAULT:
			if (o.fault_count == SIM_FAULTS_MAX) {
				fprintf(stderr, "certstation sim: at most %d --fault options\n",
				        SIM_FAULTS_MAX);
				return CLI_EXIT_USAGE;
			}
			if (sim_fault_parse(optarg, &o.faults[o.fault_count], &err) != CS_OK) {
				fprintf(stderr, "certstation sim: %s\n", err.msg);
				return CLI_EXIT_USAGE;
			}
			o.fault_count++;
			break;
		case OPT_PER_PORT:
			if (sim_cli_number("--devices-per-port", optarg, 1, UINT32_MAX, &v) != 0)
				return CLI_EXIT_USAGE;
			o.devices_per_port = v;
			break;
		case OPT_ONCE:
			o.devices_per_port = 1;
			break;
		case OPT_GAP:
			if (sim_cli_number("--gap-ms", optarg, 0, 3600000, &v) != 0)
				return CLI_EXIT_USAGE;
			o.gap_ms = (uint32_t)v;
			break;
		case OPT_MAX_FRAME:
			if (sim_cli_number("--max-frame", optarg, PROTO_FRAME_MIN, PROTO_FRAME_MAX,
			                   &v) != 0)
				return CLI_EXIT_USAGE;
			o.max_frame = (uint16_t)v;
			break;
		case OPT_TIMEOUT:
			if (sim_cli_number("--timeout-ms", optarg, 1, 3600000, &v) != 0)
				return CLI_EXIT_USAGE;
			o.timeout_ms = (uint32_t)v;
			break;
		case OPT_SEED:
			if (sim_cli_number("--seed", optarg, 0, INT64_MAX, &v) != 0)
				return CLI_EXIT_USAGE;
			o.seed = v;
			have_seed = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_HELP:
			fputs(sim_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(sim_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc || !have_count) {
		fputs(have_count ? "certstation sim: unexpected argument\n"
		                 : "certstation sim: --count N is required\n",
		      stderr);
		fputs(sim_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!have_seed) {
		struct timespec ts;

		/* Printed in the JSON summary, so a run can be repeated. */
		clock_gettime(CLOCK_REALTIME, &ts);
		o.seed = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	/* Lines go to a pipe in tests and benchmarks: one write per line. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = sim_run(&o, &err);
	if (rc == CS_ERR_DEVICE_ERROR) {
		fprintf(stderr, "certstation sim: %s\n", err.msg);
		return CLI_EXIT_FAIL;
	}
	if (rc != CS_OK)
		return cli_fail(&err);
	return CLI_EXIT_OK;
}
