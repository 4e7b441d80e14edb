/*
 * cli_ca.c: `certstation ca show` and `certstation ca verification-cert`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "station/cli.h"
#include "station/issuer.h"
#include "station/station.h"

static const char ca_usage[] =
    "usage: certstation ca show [--config F]\n"
    "       certstation ca verification-cert [--config F] [--out FILE] CODE\n"
    "  verification-cert: the proof-of-possession certificate for CA registration.\n"
    "  CODE is the verification code the cloud service gives (Azure IoT Hub/DPS:\n"
    "  'Generate verification code'; AWS IoT: the registration code). The\n"
    "  certificate's CN is CODE and it is signed by the issuing-CA key in the HSM.\n";

static void
ca_time_format(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
ca_show(struct station *st)
{
	struct hsm_key_info ki;
	struct hsm_status hs;
	char nb[32], na[32];

	hsm_key_info_get(st->hsm, &ki);
	hsm_status_get(st->hsm, &hs);
	printf("Issuing CA key\n");
	printf("  location:    %s\n", ki.uri);
	printf("  token:       %s\n", ki.token_label);
	printf("  type:        %s\n", hsm_key_type_name(ki.type));
	printf("  sensitive:   %s, extractable: %s\n", ki.sensitive ? "yes" : "NO",
	    ki.extractable ? "YES" : "no");
	printf("  HSM state:   %s%s%s\n", hsm_state_name(hs.state), hs.reason[0] ? ": " : "",
	    hs.reason);
	printf("Chain (%zu certificate%s, %s)\n", st->ca->chain_len, st->ca->chain_len == 1 ? "" : "s",
	    st->ca->has_root ? "ends at a self-signed root" : "root not included");
	for (size_t i = 0; i < st->ca->chain_len; i++) {
		ca_time_format(st->ca->chain[i].not_before, nb, sizeof(nb));
		ca_time_format(st->ca->chain[i].not_after, na, sizeof(na));
		printf("  [%zu] %s\n      valid %s .. %s\n", i, st->ca->chain[i].subject, nb, na);
	}
	printf("\n%s", st->ca->chain[0].pem);
	return CLI_EXIT_OK;
}

int
cli_ca_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *out = NULL, *sub;
	struct station *st = NULL;
	struct cs_err err;
	uint8_t der[CERT_MAX_DER];
	size_t der_len = 0;
	char *pem = NULL;
	int c, rc = CLI_EXIT_FAIL;

	cs_err_clear(&err);
	if (argc < 2) {
		fputs(ca_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_group_help(argc, argv, ca_usage))
		return CLI_EXIT_OK;
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(ca_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(ca_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (strcmp(sub, "show") == 0 && optind == argc) {
		st = station_open(cli_config_path(config), STATION_OPEN_NO_LEDGER, &err);
		if (st == NULL)
			return cli_fail(&err);
		rc = ca_show(st);
	} else if (strcmp(sub, "verification-cert") == 0 && optind + 1 == argc) {
		st = station_open(cli_config_path(config), STATION_OPEN_NO_LEDGER, &err);
		if (st == NULL)
			return cli_fail(&err);
		if (station_verification_cert(st, argv[optind], der, sizeof(der), &der_len, &err) !=
		    CS_OK) {
			rc = cli_fail(&err);
			goto out;
		}
		pem = issuer_cert_pem(der, der_len);
		if (pem == NULL || cli_file_write(out, pem, strlen(pem), &err) != CS_OK) {
			rc = cli_fail(&err);
			goto out;
		}
		fprintf(stderr, "certstation: verification certificate for code '%s' signed by '%s'\n",
		    argv[optind], st->ca->chain[0].subject);
		rc = CLI_EXIT_OK;
	} else {
		fputs(ca_usage, stderr);
		return CLI_EXIT_USAGE;
	}
out:
	free(pem);
	station_close(st);
	return rc;
}
