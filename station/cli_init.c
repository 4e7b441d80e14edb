/*
 * cli_init.c: `certstation init --demo DIR` (the work is in demo.c).
 */
#include <getopt.h>
#include <stdio.h>

#include "hsm/hsm.h"
#include "station/cli.h"
#include "station/demo.h"

static const char init_usage[] =
    "usage: certstation init --demo DIR [--key-type P-256|P-384|RSA-2048|RSA-3072]\n"
    "  Creates a demo PKI under DIR (see README). The root CA key is a software\n"
    "  file: acceptable for a demo only; in production the root stays offline.\n";

int
cli_init_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"demo", required_argument, NULL, 'd'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"module", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *demo = NULL, *module = CERTSTATION_DEFAULT_MODULE;
	enum hsm_key_type type = HSM_KEY_EC_P256;
	struct cs_err err;
	int c;

	cs_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			demo = optarg;
			break;
		case 'k':
			type = hsm_key_type_from_name(optarg);
			if (type == HSM_KEY_NONE) {
				fprintf(stderr, "certstation: unknown key type '%s'\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'm':
			module = optarg;
			break;
		case 'h':
			fputs(init_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(init_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (demo == NULL || optind != argc) {
		fputs(init_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (demo_pki_create(demo, type, module, 1, &err) != CS_OK)
		return cli_fail(&err);
	return CLI_EXIT_OK;
}
