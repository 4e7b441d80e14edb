/*
 * cli_ports.c: `certstation ports` (which serial ports are there, and which
 * slot each one serves) and `certstation ports loopback` (a TX-RX jumper
 * self-test of one port at several baud rates).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixtures/fixture.h"
#include "fixtures/port.h"
#include "station/clock.h"
#include "station/cli.h"
#include "station/config.h"

/*
 * The slot part of `ports`: every slot's rule, the port it resolves to now,
 * or why it has none. Returns how many slots have no port (0 = all present),
 * or a negative CS_ERR_* if the ports cannot be listed. The configuration's
 * fixture map calls this with its slot names and rules; `--slot` calls it
 * with the ones given on the command line.
 */
int cli_ports_print_slots(const struct fixture_match *rules, const char *const *names, size_t n,
    FILE *out);

static const char ports_usage[] =
    "usage: certstation ports [--config F] [--json] [--slot NAME=RULE]...\n"
    "       certstation ports loopback PORT [--baud LIST] [--bytes N] [--flow none|rtscts|xonxoff]\n"
    "\n"
    "  ports: every serial port libserialport sees: path, transport, USB VID:PID,\n"
    "  serial number, location (bus-port path such as 1-1.4), manufacturer/product.\n"
    "  --config F adds the slots of F's \"line\" section: which port each one is on\n"
    "  now, and which slots have none. --slot NAME=RULE (repeatable) does the same\n"
    "  for a rule not yet in a config. RULE: usb-serial=SERIAL, usb-location=1-1.4,\n"
    "  path=/dev/serial/by-id/..., tcp=HOST:PORT. Pseudo-terminals and tcp ports are\n"
    "  not listed (nothing to enumerate) but path= and tcp= rules resolve them.\n"
    "\n"
    "  loopback: put a jumper between TX and RX of PORT (also RTS-CTS for\n"
    "  --flow rtscts), then for each baud rate (default 9600,115200,230400,460800,\n"
    "  921600) open PORT 8N1, send N pseudo-random bytes (default 4096), read them\n"
    "  back and compare. Prints per rate OK with the measured bytes/s against the\n"
    "  wire limit, the first mismatching byte, or a timeout. PORT may be a device\n"
    "  path, a pseudo-terminal whose other end echoes, or tcp:HOST:PORT.\n"
    "\n"
    "Exit status: 0 success (loopback: every rate passed), 1 failed, 2 usage error.\n";

/* ---- listing ---- */

static const char *
transport_name(enum port_transport t)
{
	switch (t) {
	case PORT_TRANSPORT_NATIVE:
		return "native";
	case PORT_TRANSPORT_USB:
		return "usb";
	case PORT_TRANSPORT_BLUETOOTH:
		return "bluetooth";
	case PORT_TRANSPORT_OTHER:
		break;
	}
	return "other";
}

/* "FTDI FT232R USB UART" for USB ports, libserialport's description otherwise. */
static void
port_label(const struct port_info *pi, char *out, size_t cap)
{
	if (pi->usb_manufacturer[0] != '\0' || pi->usb_product[0] != '\0')
		snprintf(out, cap, "%s%s%s", pi->usb_manufacturer,
		    pi->usb_manufacturer[0] != '\0' && pi->usb_product[0] != '\0' ? " " : "",
		    pi->usb_product);
	else
		snprintf(out, cap, "%s", pi->description);
}

/* USB strings come from the device: keep them printable on a terminal. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

struct slot_state {
	char spec[PORT_PATH_MAX]; /* "" = absent */
	int code;                 /* fixture_resolve()'s result */
	char why[CS_ERR_MSG_MAX];
};

static void
slots_resolve(const struct fixture_match *rules, size_t n, const struct port_info *ports,
    size_t count, struct slot_state *st)
{
	for (size_t i = 0; i < n; i++) {
		struct cs_err err;

		cs_err_clear(&err);
		st[i].code = fixture_resolve(&rules[i], ports, count, st[i].spec, sizeof(st[i].spec), &err);
		if (st[i].code != CS_OK)
			st[i].spec[0] = '\0';
		snprintf(st[i].why, sizeof(st[i].why), "%s", err.msg);
	}
}

int
cli_ports_print_slots(const struct fixture_match *rules, const char *const *names, size_t n,
    FILE *out)
{
	struct port_info *ports = NULL;
	struct slot_state *st = NULL;
	size_t count = 0, absent = 0, width = 4;
	struct cs_err err;
	char rule[PORT_PATH_MAX + 16];
	int rc;

	cs_err_clear(&err);
	rc = port_enumerate(&ports, &count, &err);
	if (rc != CS_OK) {
		fprintf(stderr, "certstation: %s\n", err.msg);
		return rc;
	}
	st = calloc(n > 0 ? n : 1, sizeof(*st));
	if (st == NULL) {
		free(ports);
		return CS_ERR_NOMEM;
	}
	slots_resolve(rules, n, ports, count, st);
	for (size_t i = 0; i < n; i++) {
		absent += st[i].code != CS_OK;
		if (strlen(names[i]) > width)
			width = strlen(names[i]);
	}
	fprintf(out, "Slots: %zu, %zu with a port, %zu without\n", n, n - absent, absent);
	for (size_t i = 0; i < n; i++) {
		fixture_match_format(&rules[i], rule, sizeof(rule));
		if (st[i].code == CS_OK)
			fprintf(out, "  %-*s  %-32s  %s\n", (int)width, names[i], rule, st[i].spec);
		else
			fprintf(out, "  %-*s  %-32s  %s: %s\n", (int)width, names[i], rule,
			    st[i].code == CS_ERR_PORT_NOT_FOUND ? "ABSENT" : "ERROR", st[i].why);
	}
	free(st);
	free(ports);
	return (int)(absent > INT32_MAX ? INT32_MAX : absent);
}

static void
print_ports_text(const struct port_info *ports, size_t count, const char *const *names,
    const struct slot_state *st, size_t nslots)
{
	char vidpid[16], label[2 * PORT_TEXT_MAX + 2], serial[PORT_TEXT_MAX], slot[64];

	if (count == 0) {
		printf("No serial ports found. (Pseudo-terminals and tcp: ports are not listed;\n"
		       "check one with --slot NAME=path=/dev/pts/N or --slot NAME=tcp=HOST:PORT.)\n");
		return;
	}
	printf("%-20s %-9s %-9s %-20s %-12s %s%s\n", "PATH", "TRANSPORT", "VID:PID", "SERIAL",
	    "LOCATION", "DESCRIPTION", nslots > 0 ? " / SLOT" : "");
	for (size_t i = 0; i < count; i++) {
		const struct port_info *pi = &ports[i];

		if (pi->transport == PORT_TRANSPORT_USB)
			snprintf(vidpid, sizeof(vidpid), "%04x:%04x", pi->usb_vid & 0xffff,
			    pi->usb_pid & 0xffff);
		else
			snprintf(vidpid, sizeof(vidpid), "-");
		port_label(pi, label, sizeof(label));
		printable(label);
		snprintf(serial, sizeof(serial), "%s", pi->usb_serial[0] != '\0' ? pi->usb_serial : "-");
		printable(serial);
		slot[0] = '\0';
		for (size_t s = 0; s < nslots; s++)
			if (st[s].code == CS_OK && strcmp(st[s].spec, pi->path) == 0)
				snprintf(slot, sizeof(slot), " / slot %s", names[s]);
		printf("%-20s %-9s %-9s %-20s %-12s %s%s\n", pi->path, transport_name(pi->transport),
		    vidpid, serial, pi->usb_location[0] != '\0' ? pi->usb_location : "-", label, slot);
	}
}

/* Jansson refuses invalid UTF-8: USB strings come from the device, so bytes
 * outside ASCII become '?' rather than losing the port. "" -> null. */
static json_t *
json_text(const char *s)
{
	char copy[PORT_PATH_MAX + CS_ERR_MSG_MAX];
	json_t *j;

	if (s == NULL || s[0] == '\0')
		return json_null();
	j = json_string(s);
	if (j != NULL)
		return j;
	snprintf(copy, sizeof(copy), "%s", s);
	printable(copy);
	return json_string(copy);
}

static int
print_ports_json(const struct port_info *ports, size_t count, const struct fixture_match *rules,
    const char *const *names, const struct slot_state *st, size_t nslots)
{
	json_t *root = json_object(), *arr = json_array(), *slots = json_array();
	char hex[8], rule[PORT_PATH_MAX + 16];
	int bad = root == NULL || arr == NULL || slots == NULL;

	for (size_t i = 0; !bad && i < count; i++) {
		const struct port_info *pi = &ports[i];
		json_t *o = json_object(), *slot = json_null();
		int usb = pi->transport == PORT_TRANSPORT_USB;

		bad |= o == NULL;
		for (size_t s = 0; !bad && s < nslots; s++)
			if (st[s].code == CS_OK && strcmp(st[s].spec, pi->path) == 0) {
				json_decref(slot);
				slot = json_text(names[s]);
			}
		bad |= json_object_set_new(o, "path", json_text(pi->path));
		bad |= json_object_set_new(o, "transport", json_string(transport_name(pi->transport)));
		snprintf(hex, sizeof(hex), "%04x", pi->usb_vid & 0xffff);
		bad |= json_object_set_new(o, "usb_vid", usb ? json_string(hex) : json_null());
		snprintf(hex, sizeof(hex), "%04x", pi->usb_pid & 0xffff);
		bad |= json_object_set_new(o, "usb_pid", usb ? json_string(hex) : json_null());
		bad |= json_object_set_new(o, "serial", json_text(pi->usb_serial));
		bad |= json_object_set_new(o, "location", json_text(pi->usb_location));
		bad |= json_object_set_new(o, "manufacturer", json_text(pi->usb_manufacturer));
		bad |= json_object_set_new(o, "product", json_text(pi->usb_product));
		bad |= json_object_set_new(o, "description", json_text(pi->description));
		bad |= json_object_set_new(o, "slot", slot);
		bad |= json_array_append_new(arr, o);
	}
	for (size_t s = 0; !bad && s < nslots; s++) {
		json_t *o = json_object();

		bad |= o == NULL;
		fixture_match_format(&rules[s], rule, sizeof(rule));
		bad |= json_object_set_new(o, "name", json_text(names[s]));
		bad |= json_object_set_new(o, "rule", json_text(rule));
		bad |= json_object_set_new(o, "port", json_text(st[s].spec));
		bad |= json_object_set_new(o, "status",
		    json_string(st[s].code == CS_OK ? "present"
			    : st[s].code == CS_ERR_PORT_NOT_FOUND ? "absent"
								  : "error"));
		bad |= json_object_set_new(o, "reason", st[s].code == CS_OK ? json_null() : json_text(st[s].why));
		bad |= json_array_append_new(slots, o);
	}
	if (!bad) {
		bad |= json_object_set_new(root, "ports", arr);
		arr = NULL;
		if (nslots > 0)
			bad |= json_object_set(root, "slots", slots);
	}
	if (!bad)
		bad = json_dumpf(root, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) == EOF;
	json_decref(arr);
	json_decref(slots);
	json_decref(root);
	return bad ? CS_ERR_NOMEM : CS_OK;
}

#define PORTS_SLOTS_MAX FIXTURE_WATCH_MAX
#define PORTS_SLOT_NAME_MAX 64

static int
ports_list(int json, const struct fixture_match *rules, const char *const *names, size_t nslots)
{
	struct port_info *ports = NULL;
	struct slot_state *st = NULL;
	size_t count = 0;
	struct cs_err err;
	int rc = CLI_EXIT_FAIL;

	cs_err_clear(&err);
	if (port_enumerate(&ports, &count, &err) != CS_OK)
		return cli_fail(&err);
	st = calloc(nslots > 0 ? nslots : 1, sizeof(*st));
	if (st == NULL) {
		cs_err_set(&err, CS_ERR_NOMEM, "out of memory");
		rc = cli_fail(&err);
		goto out;
	}
	slots_resolve(rules, nslots, ports, count, st);
	if (json) {
		if (print_ports_json(ports, count, rules, names, st, nslots) != CS_OK) {
			cs_err_set(&err, CS_ERR_NOMEM, "cannot build the JSON listing");
			rc = cli_fail(&err);
			goto out;
		}
		rc = CLI_EXIT_OK;
		goto out;
	}
	print_ports_text(ports, count, names, st, nslots);
	if (nslots > 0) {
		printf("\n");
		if (cli_ports_print_slots(rules, names, nslots, stdout) < 0)
			goto out;
	}
	rc = CLI_EXIT_OK;
out:
	if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
		cs_err_set(&err, CS_ERR_IO, "cannot write to standard output");
		rc = cli_fail(&err);
	}
	free(st);
	free(ports);
	return rc;
}

/* ---- loopback ---- */

#define LOOPBACK_BYTES_MAX (1024 * 1024)
#define LOOPBACK_RATES_MAX 32
#define LOOPBACK_WINDOW 2048 /* bytes in flight: half the kernel's tty read buffer */
#define LOOPBACK_CHUNK 256

/* "9600,115200" -> rates; 0 or -1 with a message on stderr. */
static int
parse_rates(const char *list, unsigned *rates, size_t *n)
{
	const char *c = list;

	*n = 0;
	while (*c != '\0') {
		unsigned long v = 0;
		const char *start = c;

		while (*c >= '0' && *c <= '9' && v <= 4000000)
			v = v * 10 + (unsigned long)(*c++ - '0');
		if (c == start || (*c != ',' && *c != '\0') || v < 1200 || v > 4000000) {
			fprintf(stderr, "certstation: --baud '%s': each rate must be a number 1200..4000000\n",
			    list);
			return -1;
		}
		if (*n == LOOPBACK_RATES_MAX) {
			fprintf(stderr, "certstation: --baud: at most %d rates\n", LOOPBACK_RATES_MAX);
			return -1;
		}
		rates[(*n)++] = (unsigned)v;
		if (*c == ',')
			c++;
		if (*c == '\0' && c[-1] == ',') {
			fprintf(stderr, "certstation: --baud '%s': trailing comma\n", list);
			return -1;
		}
	}
	if (*n == 0) {
		fprintf(stderr, "certstation: --baud: no rate given\n");
		return -1;
	}
	return 0;
}

static uint32_t
xorshift32(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* One result line: "  115200 8N1         OK ..." */
#define LOOPBACK_WHY_MAX (CS_ERR_MSG_MAX + 64)

/* Prints the line; a failure line also goes to first_fail (if not NULL and
 * still empty), which ends up in the message on stderr. */
static void loopback_line(const struct port_settings *s, char *first_fail, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
loopback_line(const struct port_settings *s, char *first_fail, const char *fmt, ...)
{
	char set[64], line[LOOPBACK_WHY_MAX];
	va_list ap;

	port_settings_format(s, set, sizeof(set));
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("  %-20s %s\n", set, line);
	if (first_fail != NULL && first_fail[0] == '\0') {
		char *w = line;

		/* The column padding after the verdict is for the table only. */
		for (const char *r = line; *r != '\0'; r++)
			if (!(*r == ' ' && r[1] == ' '))
				*w++ = *r;
		*w = '\0';
		snprintf(first_fail, LOOPBACK_WHY_MAX, "%.24s: %.*s", set, LOOPBACK_WHY_MAX - 32, line);
	}
}

/* One rate on an open port. Prints its line; returns 1 if it passed. */
static int
loopback_one(port *p, const struct port_settings *s, size_t nbytes, uint8_t *tx, uint8_t *rx,
    char *why)
{
	unsigned bits = 1 + s->data_bits + (s->parity != PORT_PARITY_NONE) + s->stop_bits;
	double wire_bps = (double)s->baud / bits;
	int64_t wire_ms = (int64_t)((double)nbytes * 1000.0 / wire_bps);
	/* Twice the wire time, plus room for USB latency timers (16 ms on FTDI)
	 * and a loaded machine. */
	int64_t timeout_ms = 2 * wire_ms + 2000;
	uint32_t seed = 0x9e3779b9u ^ s->baud ^ (uint32_t)getpid();
	size_t txo = 0, rxo = 0, got;
	int64_t start, deadline, left;
	struct cs_err err;
	double secs;

	cs_err_clear(&err);
	for (size_t i = 0; i < nbytes; i++) {
		tx[i] = (uint8_t)(xorshift32(&seed) >> 24);
		/* With software flow control the line discipline eats XON/XOFF. */
		if (s->flow == PORT_FLOW_XONXOFF && (tx[i] == 0x11 || tx[i] == 0x13))
			tx[i] |= 0x80;
	}
	if (port_flush(p, &err) != CS_OK) {
		loopback_line(s, why, "FAIL      %s", err.msg);
		return 0;
	}
	start = cs_mono_us();
	deadline = start + timeout_ms * 1000;
	while (rxo < nbytes) {
		int can_send = txo < nbytes && txo - rxo < LOOPBACK_WINDOW;
		int wait_ms;

		left = (deadline - cs_mono_us()) / 1000;
		if (left <= 0) {
			loopback_line(s, why, "TIMEOUT   %zu of %zu bytes back within %.2f s (wire time %.2f s)", rxo,
			    nbytes, (double)timeout_ms / 1000.0, (double)wire_ms / 1000.0);
			return 0;
		}
		if (can_send) {
			size_t chunk = nbytes - txo;

			if (chunk > LOOPBACK_WINDOW - (txo - rxo))
				chunk = LOOPBACK_WINDOW - (txo - rxo);
			if (chunk > LOOPBACK_CHUNK)
				chunk = LOOPBACK_CHUNK;
			if (port_write(p, tx + txo, chunk, (int)left, &err) != CS_OK) {
				loopback_line(s, why, "FAIL      after %zu bytes sent: %s", txo, err.msg);
				return 0;
			}
			txo += chunk;
		}
		can_send = txo < nbytes && txo - rxo < LOOPBACK_WINDOW;
		wait_ms = can_send ? 0 : (int)(left < 100 ? left : 100);
		if (port_read(p, rx + rxo, nbytes - rxo, wait_ms, &got, &err) != CS_OK) {
			loopback_line(s, why, "FAIL      after %zu bytes back: %s", rxo, err.msg);
			return 0;
		}
		for (size_t i = rxo; i < rxo + got; i++) {
			if (rx[i] != tx[i]) {
				loopback_line(s, why, "MISMATCH  at byte %zu of %zu: sent 0x%02x, got 0x%02x", i,
				    nbytes, tx[i], rx[i]);
				return 0;
			}
		}
		rxo += got;
	}
	secs = (double)(cs_mono_us() - start) / 1e6;
	/* Anything more is not an echo of ours: noise, or a device talking. */
	if (port_read(p, rx, nbytes, 50, &got, &err) == CS_OK && got > 0) {
		loopback_line(s, why, "FAIL      %zu bytes more than were sent came back", got);
		return 0;
	}
	if (port_backend_of(p) == PORT_BACKEND_SERIAL)
		loopback_line(s, NULL, "OK        %zu bytes in %.3f s = %.0f B/s (wire limit %.0f B/s: %.1f %%)", nbytes,
		    secs, (double)nbytes / secs, wire_bps, 100.0 * ((double)nbytes / secs) / wire_bps);
	else
		loopback_line(s, NULL, "OK        %zu bytes in %.3f s = %.0f B/s (a %s does not pace bytes at %.0f B/s)",
		    nbytes, secs, (double)nbytes / secs, port_backend_name(port_backend_of(p)), wire_bps);
	return 1;
}

static int
ports_loopback(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"baud", required_argument, NULL, 'b'},
	    {"bytes", required_argument, NULL, 'n'},
	    {"flow", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned rates[LOOPBACK_RATES_MAX];
	char why[LOOPBACK_WHY_MAX] = "";
	size_t nrates = 0, nbytes = 4096, passed = 0;
	enum port_flow flow = PORT_FLOW_NONE;
	const char *spec;
	uint8_t *tx = NULL, *rx = NULL;
	struct cs_err err;
	char *end;
	int c, rc = CLI_EXIT_FAIL;

	cs_err_clear(&err);
	parse_rates("9600,115200,230400,460800,921600", rates, &nrates);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_rates(optarg, rates, &nrates) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'n': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || v == 0 ||
			    v > LOOPBACK_BYTES_MAX) {
				fprintf(stderr, "certstation: --bytes '%s': must be 1..%d\n", optarg,
				    LOOPBACK_BYTES_MAX);
				return CLI_EXIT_USAGE;
			}
			nbytes = (size_t)v;
			break;
		}
		case 'f':
			if (port_flow_parse(optarg, &flow) != CS_OK) {
				fprintf(stderr, "certstation: --flow '%s': none, rtscts or xonxoff\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(ports_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(ports_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fputs(ports_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	spec = argv[optind];
	tx = malloc(nbytes);
	rx = malloc(nbytes);
	if (tx == NULL || rx == NULL) {
		cs_err_set(&err, CS_ERR_NOMEM, "out of memory for %zu bytes", nbytes);
		rc = cli_fail(&err);
		goto out;
	}
	for (size_t i = 0; i < nrates; i++) {
		struct port_settings s;
		port *p = NULL;
		int orc;

		port_settings_default(&s);
		s.baud = rates[i];
		s.flow = flow;
		orc = port_open(spec, &s, &p, &err);
		if (orc == CS_ERR_PORT_NOT_FOUND || orc == CS_ERR_INVALID_ARG) {
			/* Not there at all: no rate can pass, say it once. */
			rc = cli_fail(&err);
			goto out;
		}
		if (i == 0)
			printf("loopback %s: %zu bytes per rate, flow control %s\n", spec, nbytes,
			    flow == PORT_FLOW_RTSCTS ? "rtscts" : flow == PORT_FLOW_XONXOFF ? "xonxoff" : "none");
		if (orc != CS_OK) {
			loopback_line(&s, why, "FAIL      %s", err.msg);
			continue;
		}
		passed += (size_t)loopback_one(p, &s, nbytes, tx, rx, why);
		port_close(p);
		fflush(stdout);
	}
	printf("loopback %s: %zu of %zu rates passed\n", spec, passed, nrates);
	rc = passed == nrates ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	if (rc != CLI_EXIT_OK)
		fprintf(stderr, "certstation: loopback on %s failed at %zu of %zu rates; first: %s\n",
		    spec, nrates - passed, nrates, why);
out:
	free(tx);
	free(rx);
	return rc;
}

/* ---- entry ---- */

int
cli_ports_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"slot", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static struct fixture_match rules[PORTS_SLOTS_MAX];
	static char names[PORTS_SLOTS_MAX][PORTS_SLOT_NAME_MAX];
	const char *name_ptr[PORTS_SLOTS_MAX];
	static struct fixture_match cli_rules[PORTS_SLOTS_MAX];
	const char *cli_names[PORTS_SLOTS_MAX];
	struct cs_config *cfg = NULL;
	const char *config = NULL;
	size_t nslots = 0, ncli = 0;
	struct cs_err err;
	int c, json = 0, rc;

	cs_err_clear(&err);
	if (argc >= 2 && strcmp(argv[1], "loopback") == 0)
		return ports_loopback(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 's': {
			const char *eq = strchr(optarg, '=');
			size_t len = eq != NULL ? (size_t)(eq - optarg) : 0;

			if (eq == NULL || len == 0 || len >= PORTS_SLOT_NAME_MAX) {
				fprintf(stderr,
				    "certstation: --slot '%s': expected NAME=RULE, e.g. left=usb-serial=FT1234 "
				    "(NAME 1..%d characters)\n",
				    optarg, PORTS_SLOT_NAME_MAX - 1);
				return CLI_EXIT_USAGE;
			}
			if (ncli == PORTS_SLOTS_MAX) {
				fprintf(stderr, "certstation: at most %d --slot options\n", PORTS_SLOTS_MAX);
				return CLI_EXIT_USAGE;
			}
			if (fixture_match_parse(eq + 1, &cli_rules[ncli], &err) != CS_OK) {
				fprintf(stderr, "certstation: --slot '%s': %s\n", optarg, err.msg);
				return CLI_EXIT_USAGE;
			}
			memcpy(names[ncli], optarg, len);
			names[ncli][len] = '\0';
			cli_names[ncli] = names[ncli];
			ncli++;
			break;
		}
		case 'h':
			fputs(ports_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(ports_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(ports_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	/* The config's slots first, in its order, then the --slot ones. Only an
	 * explicit --config is read: listing ports needs no configuration. */
	if (config != NULL) {
		cfg = config_load(config, &err);
		if (cfg == NULL)
			return cli_fail(&err);
		for (size_t i = 0; i < cfg->line.slot_count && nslots < PORTS_SLOTS_MAX; i++) {
			rules[nslots] = cfg->line.slots[i].match;
			name_ptr[nslots] = cfg->line.slots[i].name;
			nslots++;
		}
	}
	if (nslots + ncli > PORTS_SLOTS_MAX) {
		cs_err_set(&err, CS_ERR_INVALID_ARG, "more than %d slots in %s and --slot together",
		    PORTS_SLOTS_MAX, config);
		config_free(cfg);
		return cli_fail(&err);
	}
	for (size_t i = 0; i < ncli; i++) {
		rules[nslots] = cli_rules[i];
		name_ptr[nslots] = cli_names[i];
		nslots++;
	}
	rc = ports_list(json, rules, name_ptr, nslots);
	config_free(cfg);
	return rc;
}
