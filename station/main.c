/*
 * main.c: `certstation COMMAND ...`: dispatch to the command groups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "station/cli.h"
#include "station/file_read.h"

#define CLI_DEFAULT_CONFIG "/etc/certstation/certstation.json"

static const char cli_usage[] =
    "usage: certstation COMMAND [OPTIONS]\n"
    "\n"
    "An issuing CA for the production line: device CSRs in, policy-checked,\n"
    "HSM-signed certificate chains out, every step in a durable ledger.\n"
    "\n"
    "Commands:\n"
    "  init --demo DIR [--key-type P-256|P-384|RSA-2048|RSA-3072]\n"
    "        create a demo PKI: SoftHSM2 token, offline root (software key, demo\n"
    "        only), issuing-CA key generated inside the token, its certificate,\n"
    "        config and profile. Safe to re-run.\n"
    "  issue --config F --csr FILE --device-id ID [--profile P] [--out FILE]\n"
    "        one issuance through the full transaction; prints the chain (PEM)\n"
    "        or the specific refusal.\n"
    "  ca show --config F\n"
    "        CA chain, key location and type, validity, HSM state.\n"
    "  ca keygen --config F --key-type P-256|P-384|RSA-2048|RSA-3072\n"
    "        generate the issuing-CA key inside the HSM token (production set-up).\n"
    "  ca csr --config F --subject /CN=NAME[/O=ORG]... [--pathlen N] [--out FILE]\n"
    "        a PKCS#10 request for that key, signed in the HSM, for the offline root.\n"
    "  ca install --config F --cert FILE [--chain FILE] [--replace]\n"
    "        check the returned CA certificate (same key, CA:TRUE, keyCertSign,\n"
    "        valid, path to a root) and put it and its chain in place.\n"
    "  ca verification-cert --config F CODE [--out FILE]\n"
    "        proof-of-possession certificate (CN=CODE) signed by the CA key in the\n"
    "        HSM, for registering the CA with Azure IoT Hub / DPS or AWS IoT.\n"
    "  ledger verify --config F\n"
    "        check the hash-chained audit trail; fails on an edited, deleted or\n"
    "        truncated row.\n"
    "  ledger export --config F --format csv|json [--from T] [--to T] [--out FILE]\n"
    "        issuances with serial, SHA-1/SHA-256 thumbprints, validity, state, PEM.\n"
    "  ledger backup --config F --out FILE|DIR [--keep N]\n"
    "        a verified, consistent copy of the live ledger (never cp it).\n"
    "  workorder import --config F FILE.csv\n"
    "        load the allowlist: device_id,lot,quota per line.\n"
    "  run --config F [--devices N] [--seconds S]\n"
    "        the station daemon: provisions devices in every fixture slot of the\n"
    "        config's \"line\" section until SIGTERM.\n"
    "  bench issue [--seconds N] [--threads LIST] [--key-types LIST] [--no-cfssl]\n"
    "        issuance rate through the full transaction next to the raw HSM sign\n"
    "        rate, the crypto-only bound and cfssl, with ratios.\n"
    "  bench line [--fixtures LIST] [--bauds LIST] [--dialects frame,text] [--seconds S]\n"
    "        the whole line against simulated devices: devices/h, per-device time\n"
    "        against wire floor + device compute, bytes per device, scaling.\n"
    "  sim --count N [--dialect frame|text] [--baud B] [--links DIR] [--fault SPEC]...\n"
    "        virtual fixtures: N pty ports playing simulated devices through the\n"
    "        provisioning protocol (see `certstation sim --help`).\n"
    "  ports [--config F] [--json] [--slot NAME=RULE]...\n"
    "        serial ports with USB VID:PID, serial number and location; which port\n"
    "        each slot's match rule selects now, and which slots have none.\n"
    "  ports loopback PORT [--baud LIST] [--bytes N] [--flow none|rtscts|xonxoff]\n"
    "        TX-RX jumper self-test of one port at each baud rate.\n"
    "  user add|remove|list --config F [NAME] [--role operator|supervisor] [--password-file FILE]\n"
    "        the dashboard's users (web.users, mode 0600, scrypt hashes).\n"
    "\n"
    "The config file defaults to $CERTSTATION_CONFIG, else " CLI_DEFAULT_CONFIG ".\n"
    "The HSM PIN comes from the key URI's pin-source=file:PATH or from the\n"
    "environment variable named by hsm.pin_env (default CERTSTATION_HSM_PIN).\n"
    "Exit status: 0 success, 1 refused or failed, 2 usage error.\n";

const char *
cli_config_path(const char *opt)
{
	const char *env;

	if (opt != NULL)
		return opt;
	env = getenv("CERTSTATION_CONFIG");
	if (env != NULL && env[0] != '\0')
		return env;
	return CLI_DEFAULT_CONFIG;
}

int
cli_group_help(int argc, char **argv, const char *usage)
{
	if (argc < 2 || (strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0))
		return 0;
	fputs(usage, stdout);
	return 1;
}

uint8_t *
cli_file_read(const char *path, size_t max, size_t *len, struct cs_err *err)
{
	char *buf = NULL;
	int rc;

	/* "-" and <(command) work as well as a file */
	rc = cs_file_read(path, "an input file", max, CS_FILE_STDIN | CS_FILE_PIPE, &buf, len, err);
	/* a missing input file has always been an I/O error on the command line */
	if (rc == CS_ERR_NOT_FOUND && err != NULL)
		err->code = CS_ERR_IO;
	return (uint8_t *)buf;
}

int
cli_file_write(const char *path, const void *data, size_t len, struct cs_err *err)
{
	FILE *f;
	int rc = CS_OK;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len)
			return cs_err_set(err, CS_ERR_IO, "cannot write to standard output");
		return CS_OK;
	}
	f = fopen(path, "wb");
	if (f == NULL)
		return cs_err_set(err, CS_ERR_IO, "%s: cannot create", path);
	if (fwrite(data, 1, len, f) != len)
		rc = cs_err_set(err, CS_ERR_IO, "%s: write failed", path);
	if (fclose(f) != 0 && rc == CS_OK)
		rc = cs_err_set(err, CS_ERR_IO, "%s: write failed", path);
	return rc;
}

int
cli_fail(const struct cs_err *err)
{
	fprintf(stderr, "certstation: %s\n", err->msg[0] != '\0' ? err->msg : cs_strerror(err->code));
	return CLI_EXIT_FAIL;
}

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct cli_command cli_commands[] = {
	{"init", cli_init_main},
	{"issue", cli_issue_main},
	{"ca", cli_ca_main},
	{"ledger", cli_ledger_main},
	{"workorder", cli_workorder_main},
	{"run", cli_run_main},
	{"bench", cli_bench_main},
	{"sim", cli_sim_main},
	{"ports", cli_ports_main},
	{"user", cli_user_main},
};

int
main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(cli_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("certstation %s\n", CERTSTATION_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cli_commands) / sizeof(cli_commands[0]); i++)
		if (strcmp(argv[1], cli_commands[i].name) == 0)
			return cli_commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "certstation: unknown command '%s' (try --help)\n", argv[1]);
	return CLI_EXIT_USAGE;
}
