/*
 * test_port_serial.c: the libserialport backend's error paths, which run
 * without hardware: a missing device, a pseudo-terminal (libserialport
 * 0.1.1 refuses them: a clear error, no crash), a character device that is
 * no serial port, a plain file. The data path needs an adapter with a TX-RX
 * jumper: `certstation ports loopback` (fixtures/README.md).
 */
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures/port.h"
#include "tests/support/check.h"

int
main(void)
{
	char dir[] = "/tmp/certstation-serial.XXXXXX", link[128], file[128], pts[64];
	struct port_settings s;
	struct cs_err err;
	port *p = NULL;
	int master = -1, slave = -1, fd;

	/* Nothing there: NOT_FOUND naming the path, whichever way it is opened. */
	cs_err_clear(&err);
	CHECK_INT_EQ(port_open("/dev/ttyUSB-certstation-missing", NULL, &p, &err), CS_ERR_PORT_NOT_FOUND);
	CHECK(p == NULL);
	CHECK_MSG_HAS(err, "/dev/ttyUSB-certstation-missing");
	CHECK_MSG_HAS(err, "no such serial port");
	CHECK_INT_EQ(port_open_backend("/dev/ttyACM-certstation-missing", PORT_BACKEND_SERIAL, NULL, &p,
			 &err),
	    CS_ERR_PORT_NOT_FOUND);
	CHECK_MSG_HAS(err, "/dev/ttyACM-certstation-missing");

	/* A pty forced through libserialport. */
	if (openpty(&master, &slave, NULL, NULL, NULL) != 0 || ttyname_r(slave, pts, sizeof(pts)) != 0 ||
	    mkdtemp(dir) == NULL) {
		perror("setup");
		CHECK(0);
		return check_finish("test_port_serial");
	}
	cs_err_clear(&err);
	CHECK_INT_EQ(port_open_backend(pts, PORT_BACKEND_SERIAL, NULL, &p, &err), CS_ERR_PORT_OPEN);
	CHECK(p == NULL);
	CHECK_MSG_HAS(err, pts);
	CHECK_MSG_HAS(err, "pseudo-terminal");
	CHECK_MSG_HAS(err, "pty backend");
	snprintf(link, sizeof(link), "%s/by-id-link", dir);
	CHECK_INT_EQ(symlink(pts, link), 0);
	CHECK_INT_EQ(port_open_backend(link, PORT_BACKEND_SERIAL, NULL, &p, &err), CS_ERR_PORT_OPEN);
	CHECK_MSG_HAS(err, link);
	CHECK_MSG_HAS(err, "pseudo-terminal");
	/* ... while port_open() picks the pty backend for the same path. */
	CHECK_INT_EQ(port_open(link, NULL, &p, &err), CS_OK);
	CHECK(p != NULL && port_backend_of(p) == PORT_BACKEND_PTY);
	port_close(p);
	p = NULL;

	/* A character device that is not a tty, and a plain file: port_open()
	 * sends them to the serial backend, which refuses them by name. */
	CHECK_INT_EQ(port_open("/dev/null", NULL, &p, &err), CS_ERR_PORT_OPEN);
	CHECK(p == NULL);
	CHECK_MSG_HAS(err, "/dev/null");
	CHECK_MSG_HAS(err, "libserialport does not know this device");
	snprintf(file, sizeof(file), "%s/plain", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_INT_EQ(port_open(file, NULL, &p, &err), CS_ERR_PORT_OPEN);
	CHECK_MSG_HAS(err, "not a serial device");
	CHECK_INT_EQ(port_open_backend(dir, PORT_BACKEND_SERIAL, NULL, &p, &err), CS_ERR_PORT_OPEN);
	CHECK_MSG_HAS(err, dir);

	/* Settings are checked before libserialport is asked anything. */
	port_settings_default(&s);
	s.stop_bits = 3;
	CHECK_INT_EQ(port_open_backend("/dev/ttyUSB-certstation-missing", PORT_BACKEND_SERIAL, &s, &p,
			 &err),
	    CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "stop bits");
	s.stop_bits = 1;
	s.parity = (enum port_parity)7;
	CHECK_INT_EQ(port_open_backend("/dev/ttyUSB-certstation-missing", PORT_BACKEND_SERIAL, &s, &p,
			 &err),
	    CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "parity");
	CHECK(strcmp(port_backend_name(PORT_BACKEND_SERIAL), "serial") == 0);

	unlink(file);
	unlink(link);
	rmdir(dir);
	close(master);
	close(slave);
	return check_finish("test_port_serial");
}
