/*
 * cli_issue.c: `certstation issue`: one CSR through the whole transaction.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "station/cli.h"
#include "station/csr.h"
#include "station/station.h"

static const char issue_usage[] =
    "usage: certstation issue [--config F] --csr FILE --device-id ID [--profile P] [--out FILE]\n"
    "  --csr FILE      the device's PKCS#10 request, PEM or DER ('-' for stdin)\n"
    "  --device-id ID  becomes the certificate's CN (Azure: the registration ID)\n"
    "  --profile P     issuance profile (default: the config's default_profile)\n"
    "  --out FILE      write the chain there instead of standard output\n";

int
cli_issue_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"csr", required_argument, NULL, 'r'},
	    {"device-id", required_argument, NULL, 'd'},
	    {"profile", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *csr_path = NULL, *device_id = NULL, *profile = NULL;
	const char *out = NULL;
	struct station *st = NULL;
	struct issuer_request *req = NULL;
	struct cs_err err;
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	char *chain = NULL;
	int c, rc = CLI_EXIT_FAIL;

	cs_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			csr_path = optarg;
			break;
		case 'd':
			device_id = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(issue_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(issue_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (csr_path == NULL || device_id == NULL || optind != argc) {
		fputs(issue_usage, stderr);
		return CLI_EXIT_USAGE;
	}

	/* Read a little more than the PEM cap so the parser, not the reader,
	 * gives the specific "too large" refusal (and it is recorded). */
	csr = cli_file_read(csr_path, CSR_MAX_PEM * 4, &csr_len, &err);
	if (csr == NULL)
		return cli_fail(&err);
	st = station_open(cli_config_path(config), 0, &err);
	if (st == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		goto out;
	req->csr = csr;
	req->csr_len = csr_len;
	req->device_id = device_id;
	req->profile = profile;
	if (issuer_issue(st->issuer, req) != CS_OK) {
		fprintf(stderr, "certstation: refused [%s]: %s\n", cs_reason_name(req->status),
		    req->err.msg);
		goto out;
	}
	chain = issuer_chain_pem(st->issuer, req);
	if (chain == NULL) {
		cs_err_set(&err, CS_ERR_NOMEM, "cannot assemble the chain");
		rc = cli_fail(&err);
		goto out;
	}
	if (cli_file_write(out, chain, strlen(chain), &err) != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	fprintf(stderr, "certstation: %s certificate for '%s' (ledger row %lld, %lld us)\n",
	    req->redelivered ? "re-delivered the stored" : "issued a", device_id,
	    (long long)req->ledger_id, (long long)req->duration_us);
	rc = CLI_EXIT_OK;
out:
	free(chain);
	free(req);
	station_close(st);
	free(csr);
	return rc;
}
