/*
 * cli.h: the certstation command line. Each cli_*.c file implements one
 * command group; main.c dispatches. Exit status: 0 success, 1 refused or
 * failed (the reason on stderr), 2 usage error.
 */
#ifndef STATION_CLI_H
#define STATION_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "station/cs_error.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Config path from --config, else $CERTSTATION_CONFIG, else the system default. */
const char *cli_config_path(const char *opt);

/* Read a whole regular file, or standard input for "-", refusing more than
 * max bytes (cs_file_read()). Returns malloc'ed bytes (NUL-terminated for
 * convenience) or NULL with err: CS_ERR_IO (cannot open or read),
 * CS_ERR_CONFIG (not a regular file), CS_ERR_TOO_LARGE, CS_ERR_NOMEM. */
/* A subcommand group called as "GROUP --help" (or -h): print usage to
 * stdout and return 1; the caller exits CLI_EXIT_OK. */
int cli_group_help(int argc, char **argv, const char *usage);

uint8_t *cli_file_read(const char *path, size_t max, size_t *len /* OUT */, struct cs_err *err);

/* Write data to path (mode 0644) or stdout if path is NULL or "-". */
int cli_file_write(const char *path, const void *data, size_t len, struct cs_err *err);

/* Print "certstation: <msg>" to stderr and return CLI_EXIT_FAIL. */
int cli_fail(const struct cs_err *err);

int cli_init_main(int argc, char **argv);
int cli_issue_main(int argc, char **argv);
int cli_ca_main(int argc, char **argv);
int cli_ledger_main(int argc, char **argv);
int cli_workorder_main(int argc, char **argv);
int cli_bench_main(int argc, char **argv);
int cli_bench_line_main(int argc, char **argv); /* `bench line` (cli_bench_line.c) */
int cli_sim_main(int argc, char **argv);
int cli_ports_main(int argc, char **argv);
int cli_run_main(int argc, char **argv);
int cli_user_main(int argc, char **argv);

#endif
