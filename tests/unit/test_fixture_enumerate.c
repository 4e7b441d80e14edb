/*
 * test_fixture_enumerate.c: port_enumerate() on this machine (it may have
 * no USB serial port: the list may be empty or real, it must not fail), and
 * the USB location derivation on a sysfs-shaped tree of real directories and
 * symlinks laid out as the kernel lays out an FTDI adapter behind a hub, a
 * CDC-ACM device on a root port, a four-port adapter and an on-board UART.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures/fixture.h"
#include "fixtures/port_int.h"
#include "tests/support/check.h"

static char root[] = "/tmp/certstation-sysfs.XXXXXX";

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* mkdir -p root/rel */
static void
mkdirs(const char *rel)
{
	char path[1024], *c;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (c = path + strlen(root) + 1; *c != '\0'; c++) {
		if (*c == '/') {
			*c = '\0';
			mkdir(path, 0755);
			*c = '/';
		}
	}
	mkdir(path, 0755);
}

static void
put(const char *rel, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/* root/class/tty/<tty>/device -> root/<target> */
static void
tty_link(const char *tty, const char *target)
{
	char dir[256], from[1024], to[1024];

	snprintf(dir, sizeof(dir), "class/tty/%s", tty);
	mkdirs(dir);
	snprintf(from, sizeof(from), "%s/%s/device", root, dir);
	snprintf(to, sizeof(to), "%s/%s", root, target);
	if (symlink(to, from) != 0)
		perror(from);
}

#define HUB "devices/pci0000:00/0000:00:14.0/usb1/1-1"

static void
test_sysfs_locations(void)
{
	char loc[PORT_TEXT_MAX], iface[64];

	if (mkdtemp(root) == NULL) {
		CHECK(0);
		return;
	}
	/* FTDI behind a hub: the tty's device is the usb-serial port directory. */
	mkdirs(HUB "/1-1.4/1-1.4:1.0/ttyUSB0/tty/ttyUSB0");
	put(HUB "/1-1.4/busnum", "1\n");
	put(HUB "/1-1.4/devnum", "7\n");
	tty_link("ttyUSB0", HUB "/1-1.4/1-1.4:1.0/ttyUSB0");
	/* CDC-ACM on root port 3 of bus 2: the device is the interface. */
	mkdirs("devices/pci0000:00/0000:00:14.0/usb2/2-3/2-3:1.0/tty/ttyACM0");
	tty_link("ttyACM0", "devices/pci0000:00/0000:00:14.0/usb2/2-3/2-3:1.0");
	/* Four-port adapter: four interfaces of one device. */
	for (int i = 0; i < 4; i++) {
		char rel[256], tty[16];

		snprintf(rel, sizeof(rel), HUB "/1-1.2/1-1.2:1.%d/ttyUSB%d", i, i + 1);
		mkdirs(rel);
		snprintf(tty, sizeof(tty), "ttyUSB%d", i + 1);
		tty_link(tty, rel);
	}
	/* On-board UART and a tty with no device at all. */
	mkdirs("devices/platform/serial8250/tty/ttyS0");
	tty_link("ttyS0", "devices/platform/serial8250");
	mkdirs("class/tty/console");

	CHECK_INT_EQ(port_usb_location_sysfs(root, "ttyUSB0", -1, -1, loc, sizeof(loc), iface,
			 sizeof(iface)),
	    CS_OK);
	CHECK(strcmp(loc, "1-1.4") == 0);
	CHECK(strcmp(iface, "1-1.4:1.0") == 0);
	/* libserialport's bus/address agree with busnum/devnum ... */
	CHECK_INT_EQ(port_usb_location_sysfs(root, "ttyUSB0", 1, 7, loc, sizeof(loc), NULL, 0), CS_OK);
	CHECK(strcmp(loc, "1-1.4") == 0);
	/* ... or the device was replugged in between: no location rather than a wrong one. */
	CHECK_INT_EQ(port_usb_location_sysfs(root, "ttyUSB0", 1, 8, loc, sizeof(loc), iface,
			 sizeof(iface)),
	    CS_ERR_NOT_FOUND);
	CHECK(loc[0] == '\0');
	CHECK_INT_EQ(port_usb_location_sysfs(root, "ttyACM0", -1, -1, loc, sizeof(loc), iface,
			 sizeof(iface)),
	    CS_OK);
	CHECK(strcmp(loc, "2-3") == 0);
	CHECK(strcmp(iface, "2-3:1.0") == 0);
	CHECK_INT_EQ(port_usb_location_sysfs(root, "ttyUSB3", -1, -1, loc, sizeof(loc), iface,
			 sizeof(iface)),
	    CS_OK);
	CHECK(strcmp(loc, "1-1.2") == 0);
	CHECK(strcmp(iface, "1-1.2:1.2") == 0);
	/* Not on USB, no device, no such tty, names that would leave class/tty. */
	CHECK_INT_EQ(port_usb_location_sysfs(root, "ttyS0", -1, -1, loc, sizeof(loc), iface,
			 sizeof(iface)),
	    CS_ERR_NOT_FOUND);
	CHECK(loc[0] == '\0' && iface[0] == '\0');
	CHECK_INT_EQ(port_usb_location_sysfs(root, "console", -1, -1, loc, sizeof(loc), NULL, 0),
	    CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(port_usb_location_sysfs(root, "ttyUSB99", -1, -1, loc, sizeof(loc), NULL, 0),
	    CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(port_usb_location_sysfs(root, "../tty/ttyUSB0", -1, -1, loc, sizeof(loc), NULL, 0),
	    CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(port_usb_location_sysfs(root, "..", -1, -1, loc, sizeof(loc), NULL, 0),
	    CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(port_usb_location_sysfs(root, "", -1, -1, loc, sizeof(loc), NULL, 0),
	    CS_ERR_NOT_FOUND);
	/* Too small a buffer: no truncated location. */
	CHECK_INT_EQ(port_usb_location_sysfs(root, "ttyUSB0", -1, -1, loc, 3, NULL, 0), CS_ERR_NOT_FOUND);

	/* The four-port adapter: each line gets its interface as location. */
	{
		struct port_info ports[6];
		char ifs[6][64];
		const char *ifp[6];
		const char *ttys[6] = {"ttyUSB0", "ttyUSB1", "ttyUSB2", "ttyUSB3", "ttyUSB4", "ttyS0"};
		char spec[PORT_PATH_MAX];
		struct fixture_match m;
		struct cs_err err;

		memset(ports, 0, sizeof(ports));
		for (int i = 0; i < 6; i++) {
			snprintf(ports[i].path, sizeof(ports[i].path), "/dev/%s", ttys[i]);
			ports[i].transport = i < 5 ? PORT_TRANSPORT_USB : PORT_TRANSPORT_NATIVE;
			port_usb_location_sysfs(root, ttys[i], -1, -1, ports[i].usb_location,
			    sizeof(ports[i].usb_location), ifs[i], sizeof(ifs[i]));
			ifp[i] = ifs[i];
		}
		port_locations_disambiguate(ports, ifp, 6);
		CHECK(strcmp(ports[0].usb_location, "1-1.4") == 0); /* alone: unchanged */
		CHECK(strcmp(ports[1].usb_location, "1-1.2:1.0") == 0);
		CHECK(strcmp(ports[2].usb_location, "1-1.2:1.1") == 0);
		CHECK(strcmp(ports[3].usb_location, "1-1.2:1.2") == 0);
		CHECK(strcmp(ports[4].usb_location, "1-1.2:1.3") == 0);
		CHECK(ports[5].usb_location[0] == '\0');

		/* A rule naming the whole adapter says which lines there are. */
		CHECK_INT_EQ(fixture_match_parse("usb-location=1-1.2", &m, &err), CS_OK);
		CHECK_INT_EQ(fixture_resolve(&m, ports, 6, spec, sizeof(spec), &err), CS_ERR_CONFIG);
		CHECK_MSG_HAS(err, "4 serial ports");
		CHECK_MSG_HAS(err, "usb-location=1-1.2:1.0");
		CHECK_INT_EQ(fixture_match_parse("usb-location=1-1.2:1.3", &m, &err), CS_OK);
		CHECK_INT_EQ(fixture_resolve(&m, ports, 6, spec, sizeof(spec), &err), CS_OK);
		CHECK(strcmp(spec, "/dev/ttyUSB4") == 0);
		CHECK_INT_EQ(fixture_match_parse("usb-location=1-1.4", &m, &err), CS_OK);
		CHECK_INT_EQ(fixture_resolve(&m, ports, 6, spec, sizeof(spec), &err), CS_OK);
		CHECK(strcmp(spec, "/dev/ttyUSB0") == 0);
	}
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
test_enumerate_here(void)
{
	struct port_info *list = NULL, *again = NULL;
	size_t n = 99, n2 = 0;
	struct cs_err err;

	cs_err_clear(&err);
	CHECK_INT_EQ(port_enumerate(&list, &n, &err), CS_OK);
	CHECK(n == 0 || list != NULL);
	for (size_t i = 0; i < n; i++) {
		const struct port_info *pi = &list[i];

		CHECK(strncmp(pi->path, "/dev/", 5) == 0);
		CHECK(pi->transport >= PORT_TRANSPORT_NATIVE && pi->transport <= PORT_TRANSPORT_OTHER);
		if (pi->transport != PORT_TRANSPORT_USB) {
			CHECK(pi->usb_vid == 0 && pi->usb_pid == 0);
			CHECK(pi->usb_serial[0] == '\0' && pi->usb_location[0] == '\0');
		} else {
			CHECK(pi->usb_vid <= 0xffff && pi->usb_pid <= 0xffff);
		}
		fprintf(stderr, "  found %s (%s) %04x:%04x serial '%s' location '%s'\n", pi->path,
		    pi->description, pi->usb_vid, pi->usb_pid, pi->usb_serial, pi->usb_location);
	}
	CHECK_INT_EQ(port_enumerate(&again, &n2, &err), CS_OK);
	CHECK_INT_EQ(n2, n);
	free(list);
	free(again);
}

int
main(void)
{
	test_sysfs_locations();
	test_enumerate_here();
	return check_finish("test_fixture_enumerate");
}
