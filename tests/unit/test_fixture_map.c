/*
 * test_fixture_map.c: slot match rules: text form both ways and its
 * refusals, and fixture_resolve() against a synthetic port list (USB serial
 * number, USB location, duplicates) and real paths (a pty, a symlink to it,
 * a missing node, a plain file) and TCP.
 */
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures/fixture.h"
#include "tests/support/check.h"

static void
test_parse_format(void)
{
	static const char *const good[] = {
	    "usb-serial=FT1234",
	    "usb-serial=A50285BI with spaces",
	    "usb-location=1-1.4",
	    "usb-location=3-10.2.1",
	    "usb-location=1-1.2:1.3",
	    "path=/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0",
	    "path=/dev/pts/7",
	    "tcp=127.0.0.1:4001",
	    "tcp=[::1]:4001",
	    "tcp=fixture-ctl.line1:7000",
	};
	static const char *const bad[][2] = {
	    {"FT1234", "KIND=VALUE"},
	    {"serial=FT1234", "unknown kind 'serial'"},
	    {"=x", "unknown kind"},
	    {"usb-serial=", "empty value"},
	    {"path=dev/ttyUSB0", "absolute"},
	    {"path=/dev/tty\nUSB0", "control character"},
	    {"usb-serial=\x7f", "control character"},
	    {"usb-location=abc", "1-1.4"},
	    {"usb-location=1-", "1-1.4"},
	    {"usb-location=1-1.", "1-1.4"},
	    {"usb-location=1-1:1", "1-1.4"},
	    {"usb-location=1-1:1.", "1-1.4"},
	    {"usb-location=1-1:1.0.2", "1-1.4"},
	    {"usb-location=/dev/ttyUSB0", "1-1.4"},
	    {"tcp=host", "no port"},
	    {"tcp=host:99999", "out of range"},
	    {"tcp=tcp:host:1", "more than one ':'"},
	};
	struct fixture_match m, keep;
	struct cs_err err;
	char out[PORT_PATH_MAX + 32], longv[PORT_PATH_MAX + 10], huge[1000];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cs_err_clear(&err);
		CHECK_INT_EQ(fixture_match_parse(good[i], &m, &err), CS_OK);
		fixture_match_format(&m, out, sizeof(out));
		if (strcmp(out, good[i]) != 0)
			fprintf(stderr, "round trip: '%s' -> '%s'\n", good[i], out);
		CHECK(strcmp(out, good[i]) == 0);
	}
	CHECK_INT_EQ(fixture_match_parse("usb-serial=FT1", &m, &err), CS_OK);
	CHECK_INT_EQ(m.kind, FIXTURE_MATCH_USB_SERIAL);
	CHECK(strcmp(m.value, "FT1") == 0);
	CHECK_INT_EQ(fixture_match_parse("tcp=h:1", &m, &err), CS_OK);
	CHECK_INT_EQ(m.kind, FIXTURE_MATCH_TCP);
	/* Only the first '=' separates: a value may hold more. */
	CHECK_INT_EQ(fixture_match_parse("usb-serial=a=b", &m, &err), CS_OK);
	CHECK(strcmp(m.value, "a=b") == 0);

	keep = m;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cs_err_clear(&err);
		CHECK_INT_EQ(fixture_match_parse(bad[i][0], &m, &err), CS_ERR_CONFIG);
		CHECK_MSG_HAS(err, bad[i][1]);
		CHECK(memcmp(&m, &keep, sizeof(m)) == 0); /* untouched */
	}
	CHECK_INT_EQ(fixture_match_parse(NULL, &m, &err), CS_ERR_CONFIG);
	snprintf(longv, sizeof(longv), "path=/");
	memset(longv + 6, 'x', sizeof(longv) - 7);
	longv[sizeof(longv) - 1] = '\0';
	CHECK_INT_EQ(fixture_match_parse(longv, &m, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "longer than");
	memset(huge, 'u', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	CHECK_INT_EQ(fixture_match_parse(huge, &m, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "too long");
	/* fixture_match_check(): the same rules on a struct built elsewhere. */
	memset(&m, 0, sizeof(m));
	m.kind = FIXTURE_MATCH_USB_LOCATION;
	snprintf(m.value, sizeof(m.value), "1-1.4");
	CHECK_INT_EQ(fixture_match_check(&m, &err), CS_OK);
	snprintf(m.value, sizeof(m.value), "front-left");
	CHECK_INT_EQ(fixture_match_check(&m, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "usb-location=front-left");
	m.kind = FIXTURE_MATCH_TCP;
	snprintf(m.value, sizeof(m.value), "ctl:70000");
	CHECK_INT_EQ(fixture_match_check(&m, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "out of range");
	m.kind = FIXTURE_MATCH_PATH;
	m.value[0] = '\0';
	CHECK_INT_EQ(fixture_match_check(&m, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "empty value");
	memset(m.value, 'p', sizeof(m.value)); /* no terminator */
	CHECK_INT_EQ(fixture_match_check(&m, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "longer than");
	m.kind = (enum fixture_match_kind)0;
	snprintf(m.value, sizeof(m.value), "/dev/ttyS0");
	CHECK_INT_EQ(fixture_match_check(&m, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "kind 0");
	/* Formatting into a small buffer truncates safely. */
	CHECK_INT_EQ(fixture_match_parse("usb-serial=FT1234", &m, &err), CS_OK);
	fixture_match_format(&m, out, 8);
	CHECK(strcmp(out, "usb-ser") == 0);
}

static void
set_port(struct port_info *p, const char *path, const char *serial, const char *loc)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->transport = serial != NULL ? PORT_TRANSPORT_USB : PORT_TRANSPORT_NATIVE;
	if (serial != NULL) {
		p->usb_vid = 0x0403;
		p->usb_pid = 0x6001;
		snprintf(p->usb_serial, sizeof(p->usb_serial), "%s", serial);
		snprintf(p->usb_location, sizeof(p->usb_location), "%s", loc);
	}
}

static int
resolve(const char *rule, const struct port_info *ports, size_t n, char *spec, struct cs_err *err)
{
	struct fixture_match m;

	if (fixture_match_parse(rule, &m, err) != CS_OK) {
		fprintf(stderr, "bad test rule %s: %s\n", rule, err->msg);
		return -999;
	}
	return fixture_resolve(&m, ports, n, spec, PORT_PATH_MAX, err);
}

static void
test_resolve(void)
{
	char dir[] = "/tmp/certstation-map.XXXXXX", link[128], file[128], pts[64], spec[PORT_PATH_MAX];
	char rule[256];
	struct port_info ports[6];
	struct fixture_match m;
	struct cs_err err;
	int master = -1, slave = -1, fd;

	set_port(&ports[0], "/dev/ttyUSB0", "FT1234", "1-1.4");
	set_port(&ports[1], "/dev/ttyUSB1", "A50285BI", "1-1.3");
	set_port(&ports[2], "/dev/ttyUSB2", "CLONE", "1-2");
	set_port(&ports[3], "/dev/ttyUSB3", "CLONE", "1-3");
	set_port(&ports[4], "/dev/ttyS0", NULL, NULL);
	set_port(&ports[5], "/dev/ttyACM0", "", "2-1");

	/* USB serial number: the adapter, wherever it is plugged. */
	CHECK_INT_EQ(resolve("usb-serial=FT1234", ports, 6, spec, &err), CS_OK);
	CHECK(strcmp(spec, "/dev/ttyUSB0") == 0);
	CHECK_INT_EQ(resolve("usb-serial=A50285BI", ports, 6, spec, &err), CS_OK);
	CHECK(strcmp(spec, "/dev/ttyUSB1") == 0);
	/* The same adapter moved to another node: the slot follows it. */
	snprintf(ports[0].path, sizeof(ports[0].path), "/dev/ttyUSB7");
	CHECK_INT_EQ(resolve("usb-serial=FT1234", ports, 6, spec, &err), CS_OK);
	CHECK(strcmp(spec, "/dev/ttyUSB7") == 0);
	/* Exact match only. */
	CHECK_INT_EQ(resolve("usb-serial=ft1234", ports, 6, spec, &err), CS_ERR_PORT_NOT_FOUND);
	CHECK_INT_EQ(resolve("usb-serial=FT123", ports, 6, spec, &err), CS_ERR_PORT_NOT_FOUND);
	CHECK_MSG_HAS(err, "FT123");
	CHECK(spec[0] == '\0');
	/* Two adapters with one serial number: refuse to guess. */
	CHECK_INT_EQ(resolve("usb-serial=CLONE", ports, 6, spec, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "/dev/ttyUSB2");
	CHECK_MSG_HAS(err, "/dev/ttyUSB3");
	CHECK_MSG_HAS(err, "usb-location");
	CHECK(spec[0] == '\0');

	/* USB location: the socket, whatever adapter is in it. */
	CHECK_INT_EQ(resolve("usb-location=1-1.3", ports, 6, spec, &err), CS_OK);
	CHECK(strcmp(spec, "/dev/ttyUSB1") == 0);
	CHECK_INT_EQ(resolve("usb-location=1-3", ports, 6, spec, &err), CS_OK);
	CHECK(strcmp(spec, "/dev/ttyUSB3") == 0);
	CHECK_INT_EQ(resolve("usb-location=2-1", ports, 6, spec, &err), CS_OK);
	CHECK(strcmp(spec, "/dev/ttyACM0") == 0);
	CHECK_INT_EQ(resolve("usb-location=1-1", ports, 6, spec, &err), CS_ERR_PORT_NOT_FOUND);
	CHECK_MSG_HAS(err, "1-1");
	CHECK_INT_EQ(resolve("usb-location=9-9", ports, 0, spec, &err), CS_ERR_PORT_NOT_FOUND);
	CHECK_INT_EQ(resolve("usb-serial=FT1234", NULL, 0, spec, &err), CS_ERR_PORT_NOT_FOUND);

	/* TCP: always "present"; the spec to open. */
	CHECK_INT_EQ(resolve("tcp=127.0.0.1:4001", ports, 6, spec, &err), CS_OK);
	CHECK(strcmp(spec, "tcp:127.0.0.1:4001") == 0);
	CHECK_INT_EQ(resolve("tcp=[::1]:23", NULL, 0, spec, &err), CS_OK);
	CHECK(strcmp(spec, "tcp:[::1]:23") == 0);
	memset(&m, 0, sizeof(m));
	m.kind = FIXTURE_MATCH_TCP;
	snprintf(m.value, sizeof(m.value), "no-port");
	CHECK_INT_EQ(fixture_resolve(&m, ports, 6, spec, sizeof(spec), &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "no port");

	/* Paths: a real pty, a symlink to it (resolved to the target), gone, a file. */
	if (openpty(&master, &slave, NULL, NULL, NULL) != 0 || ttyname_r(slave, pts, sizeof(pts)) != 0 ||
	    mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	snprintf(rule, sizeof(rule), "path=%s", pts);
	CHECK_INT_EQ(resolve(rule, ports, 6, spec, &err), CS_OK);
	CHECK(strcmp(spec, pts) == 0);
	snprintf(link, sizeof(link), "%s/slot-left", dir);
	CHECK_INT_EQ(symlink(pts, link), 0);
	snprintf(rule, sizeof(rule), "path=%s", link);
	CHECK_INT_EQ(resolve(rule, NULL, 0, spec, &err), CS_OK);
	CHECK(strcmp(spec, pts) == 0);
	unlink(link);
	CHECK_INT_EQ(resolve(rule, NULL, 0, spec, &err), CS_ERR_PORT_NOT_FOUND);
	CHECK_MSG_HAS(err, link);
	/* A dangling symlink is absent too. */
	CHECK_INT_EQ(symlink("/dev/pts/certstation-none", link), 0);
	CHECK_INT_EQ(resolve(rule, NULL, 0, spec, &err), CS_ERR_PORT_NOT_FOUND);
	unlink(link);
	snprintf(file, sizeof(file), "%s/plain", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	if (fd >= 0)
		close(fd);
	snprintf(rule, sizeof(rule), "path=%s", file);
	CHECK_INT_EQ(resolve(rule, NULL, 0, spec, &err), CS_ERR_PORT_NOT_FOUND);
	CHECK_MSG_HAS(err, "not a serial device");
	unlink(file);
	rmdir(dir);
	close(master);
	close(slave);

	/* Bad calls. */
	CHECK_INT_EQ(resolve("usb-serial=FT1234", ports, 6, spec, &err), CS_OK);
	CHECK_INT_EQ(fixture_match_parse("usb-serial=FT1234", &m, &err), CS_OK);
	CHECK_INT_EQ(fixture_resolve(&m, ports, 6, spec, 4, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(fixture_resolve(&m, NULL, 3, spec, sizeof(spec), &err), CS_ERR_INVALID_ARG);
	memset(&m, 0, sizeof(m));
	m.kind = FIXTURE_MATCH_PATH;
	CHECK_INT_EQ(fixture_resolve(&m, ports, 6, spec, sizeof(spec), &err), CS_ERR_CONFIG);
	m.kind = (enum fixture_match_kind)99;
	snprintf(m.value, sizeof(m.value), "x");
	CHECK_INT_EQ(fixture_resolve(&m, ports, 6, spec, sizeof(spec), &err), CS_ERR_CONFIG);
	memset(m.value, 'x', sizeof(m.value)); /* no terminator */
	m.kind = FIXTURE_MATCH_USB_SERIAL;
	CHECK_INT_EQ(fixture_resolve(&m, ports, 6, spec, sizeof(spec), &err), CS_ERR_CONFIG);
}

int
main(void)
{
	test_parse_format();
	test_resolve();
	return check_finish("test_fixture_map");
}
