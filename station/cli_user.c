/*
 * cli_user.c: `certstation user add|remove|list`: the dashboard's users
 * file named by the config's web.users (station/users.h).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "station/cli.h"
#include "station/config.h"
#include "station/users.h"

static const char user_usage[] =
    "usage: certstation user add [--config F] NAME --role operator|supervisor\n"
    "                            [--password-file FILE]\n"
    "       certstation user remove [--config F] NAME\n"
    "       certstation user list [--config F]\n"
    "  The users file is the config's web.users (default users.json beside the\n"
    "  config), mode 0600. NAME: 1..64 of A-Z a-z 0-9 . _ -. Password: 10..256\n"
    "  bytes, asked twice on the terminal with echo off, else one line from\n"
    "  standard input or the first line of --password-file.\n"
    "  Roles: operator (watch, pause/resume slots), supervisor (also exports,\n"
    "  new shift and every other action).\n";

/* one more than allowed, so that "too long" can be told from "exactly max" */
#define USER_LINE_CAP (USER_PASSWORD_MAX + 2)

/* ---- the terminal, echo off ---- */

static struct termios user_tty_saved;
static volatile sig_atomic_t user_tty_changed;

/* Put the terminal back before dying of a signal, or the shell stays blind. */
static void
user_tty_signal(int sig)
{
	if (user_tty_changed)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &user_tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line of at most USER_PASSWORD_MAX bytes from f into buf (NUL-
 * terminated, newline removed). 0, or a cs_err for too long, NUL bytes or
 * nothing at all. */
static int
user_line_read(FILE *f, const char *what, char *buf, struct cs_err *err)
{
	size_t n = 0;
	int c, saw_any = 0;

	for (;;) {
		c = getc(f);
		if (c == EOF)
			break;
		saw_any = 1;
		if (c == '\n')
			break;
		if (c == '\0') {
			explicit_bzero(buf, USER_LINE_CAP);
			return cs_err_set(err, CS_ERR_INVALID_ARG, "%s: the password contains a NUL byte",
			    what);
		}
		if (n + 1 >= USER_LINE_CAP) {
			explicit_bzero(buf, USER_LINE_CAP);
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "%s: the password is longer than %d bytes", what, USER_PASSWORD_MAX);
		}
		buf[n++] = (char)c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (!saw_any)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "%s: no password given", what);
	return 0;
}

static int
user_tty_prompt(const char *prompt, char *buf, struct cs_err *err)
{
	struct termios quiet;
	struct sigaction sa, old_int, old_term, old_hup, old_quit;
	int rc;

	if (tcgetattr(STDIN_FILENO, &user_tty_saved) != 0)
		return cs_err_set(err, CS_ERR_IO, "cannot read the terminal settings: %s",
		    strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = user_tty_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sigaction(SIGQUIT, &sa, &old_quit);
	quiet = user_tty_saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL; /* the Enter key still moves to the next line */
	user_tty_changed = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
		rc = cs_err_set(err, CS_ERR_IO, "cannot turn the terminal's echo off: %s",
		    strerror(errno));
		goto out;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	rc = user_line_read(stdin, "terminal", buf, err);
out:
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &user_tty_saved);
	user_tty_changed = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	return rc;
}

/* The new password into pw (USER_LINE_CAP bytes) from FILE, the terminal
 * (twice) or standard input. */
static int
user_password_get(const char *file, const char *name, char *pw, struct cs_err *err)
{
	char again[USER_LINE_CAP], prompt[128];
	FILE *f;
	int rc;

	if (file != NULL) {
		f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
		if (f == NULL)
			return cs_err_set(err, CS_ERR_IO, "%s: cannot open: %s", file, strerror(errno));
		rc = user_line_read(f, file, pw, err);
		if (f != stdin)
			fclose(f);
		return rc;
	}
	if (!isatty(STDIN_FILENO))
		return user_line_read(stdin, "standard input", pw, err);
	snprintf(prompt, sizeof(prompt), "Password for %s: ", name);
	rc = user_tty_prompt(prompt, pw, err);
	if (rc != 0)
		return rc;
	/* say "too short" before asking a second time */
	if (strlen(pw) < USER_PASSWORD_MIN)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "password is %zu bytes; it must be %d..%d "
		    "bytes", strlen(pw), USER_PASSWORD_MIN, USER_PASSWORD_MAX);
	rc = user_tty_prompt("Same password again: ", again, err);
	if (rc == 0 && strcmp(pw, again) != 0)
		rc = cs_err_set(err, CS_ERR_INVALID_ARG, "the two passwords differ; nothing changed");
	explicit_bzero(again, sizeof(again));
	return rc;
}

/* ---- the subcommands ---- */

static int
user_add(const char *users_path, const char *name, enum user_role role, const char *pw_file)
{
	char pw[USER_LINE_CAP];
	struct cs_err err;
	users *u;
	int existed = 0, rc;

	cs_err_clear(&err);
	rc = user_password_get(pw_file, name, pw, &err);
	if (rc != 0) {
		explicit_bzero(pw, sizeof(pw));
		return cli_fail(&err);
	}
	u = users_load(users_path, NULL);
	for (size_t k = 0; k < users_count(u); k++)
		if (strcmp(users_name(u, k), name) == 0)
			existed = 1;
	users_free(u);
	rc = users_file_set(users_path, name, role, pw, &err);
	explicit_bzero(pw, sizeof(pw));
	if (rc != 0)
		return cli_fail(&err);
	fprintf(stderr, "certstation: user '%s' (%s) %s %s\n", name, user_role_name(role),
	    existed ? "replaced in" : "added to", users_path);
	return CLI_EXIT_OK;
}

static int
user_remove(const char *users_path, const char *name)
{
	struct cs_err err;

	if (users_file_remove(users_path, name, &err) != 0)
		return cli_fail(&err);
	fprintf(stderr, "certstation: user '%s' removed from %s\n", name, users_path);
	return CLI_EXIT_OK;
}

static int
user_list(const char *users_path)
{
	struct cs_err err;
	users *u = users_load(users_path, &err);
	size_t width = 4;

	if (u == NULL && err.code == CS_ERR_NOT_FOUND) {
		fprintf(stderr, "certstation: no users yet (%s does not exist; `certstation user "
		    "add` creates it)\n", users_path);
		return CLI_EXIT_OK;
	}
	if (u == NULL)
		return cli_fail(&err);
	for (size_t k = 0; k < users_count(u); k++)
		if (strlen(users_name(u, k)) > width)
			width = strlen(users_name(u, k));
	printf("%-*s  %s\n", (int)width, "NAME", "ROLE");
	for (size_t k = 0; k < users_count(u); k++)
		printf("%-*s  %s\n", (int)width, users_name(u, k), user_role_name(users_role(u, k)));
	users_free(u);
	return CLI_EXIT_OK;
}

int
cli_user_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"role", required_argument, NULL, 'r'},
	    {"password-file", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *role_text = NULL, *pw_file = NULL, *sub, *name = NULL;
	enum user_role role = USER_ROLE_NONE;
	struct cs_config *cfg = NULL;
	struct cs_err err;
	int c, rc;

	cs_err_clear(&err);
	if (argc < 2) {
		fputs(user_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_group_help(argc, argv, user_usage))
		return CLI_EXIT_OK;
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			role_text = optarg;
			break;
		case 'p':
			pw_file = optarg;
			break;
		case 'h':
			fputs(user_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(user_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (strcmp(sub, "add") == 0 && optind + 1 == argc) {
		name = argv[optind];
		if (role_text == NULL) {
			fprintf(stderr, "certstation: user add needs --role operator|supervisor\n");
			return CLI_EXIT_USAGE;
		}
		role = user_role_parse(role_text);
		if (role == USER_ROLE_NONE) {
			fprintf(stderr, "certstation: unknown role '%.64s' (operator or supervisor)\n",
			    role_text);
			return CLI_EXIT_USAGE;
		}
	} else if (strcmp(sub, "remove") == 0 && optind + 1 == argc && role_text == NULL &&
	    pw_file == NULL) {
		name = argv[optind];
	} else if (!(strcmp(sub, "list") == 0 && optind == argc && role_text == NULL &&
		       pw_file == NULL)) {
		fputs(user_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	/* a bad name is refused before anyone types a password */
	if (name != NULL && !users_name_valid(name)) {
		cs_err_set(&err, CS_ERR_INVALID_ARG,
		    "user name '%.64s' is not valid: 1..%d characters of A-Z a-z 0-9 . _ -", name,
		    USER_NAME_MAX);
		return cli_fail(&err);
	}
	cfg = config_load(cli_config_path(config), &err);
	if (cfg == NULL)
		return cli_fail(&err);
	if (strcmp(sub, "add") == 0)
		rc = user_add(cfg->web.users_path, name, role, pw_file);
	else if (strcmp(sub, "remove") == 0)
		rc = user_remove(cfg->web.users_path, name);
	else
		rc = user_list(cfg->web.users_path);
	config_free(cfg);
	return rc;
}
