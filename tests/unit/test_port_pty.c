/*
 * test_port_pty.c: the pty backend on real pseudo-terminals from openpty():
 * backend choice (also through a symlink), termios settings as the kernel
 * holds them, bytes both ways, read and write timeouts, flush, and the
 * master closing under an open port (CS_ERR_PORT_GONE, sticky).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fixtures/fixture.h"
#include "fixtures/port.h"
#include "tests/support/check.h"

struct pty {
	int master, slave;
	char path[64];
};

static int
pty_make(struct pty *t)
{
	if (openpty(&t->master, &t->slave, NULL, NULL, NULL) != 0) {
		perror("openpty");
		return -1;
	}
	if (ttyname_r(t->slave, t->path, sizeof(t->path)) != 0) {
		perror("ttyname_r");
		return -1;
	}
	return 0;
}

static void
pty_free(struct pty *t)
{
	if (t->master >= 0)
		close(t->master);
	if (t->slave >= 0)
		close(t->slave);
	t->master = t->slave = -1;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly n bytes from fd within ms. */
static size_t
read_fd(int fd, uint8_t *buf, size_t n, int ms)
{
	long deadline = now_ms() + ms;
	size_t got = 0;

	while (got < n && now_ms() < deadline) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t k;

		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
			continue;
		k = read(fd, buf + got, n - got);
		if (k > 0)
			got += (size_t)k;
		else if (k < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	return got;
}

/* Read from the port until n bytes came or ms passed. */
static size_t
read_port(port *p, uint8_t *buf, size_t n, int ms, int *rc_out)
{
	long deadline = now_ms() + ms;
	size_t got = 0, k;
	struct cs_err err;
	int rc = CS_OK;

	while (got < n && now_ms() < deadline) {
		rc = port_read(p, buf + got, n - got, (int)(deadline - now_ms()), &k, &err);
		if (rc != CS_OK)
			break;
		got += k;
	}
	*rc_out = rc;
	return got;
}

static void
test_settings_applied(void)
{
	struct port_settings s;
	struct termios t;
	struct cs_err err;
	struct pty pt;
	port *p = NULL;

	if (pty_make(&pt) != 0) {
		CHECK(0);
		return;
	}
	port_settings_default(&s);
	s.baud = 57600;
	s.data_bits = 7;
	s.parity = PORT_PARITY_EVEN;
	s.stop_bits = 2;
	s.flow = PORT_FLOW_RTSCTS;
	CHECK_INT_EQ(port_open(pt.path, &s, &p, &err), CS_OK);
	if (p == NULL)
		goto out;
	CHECK_INT_EQ(port_backend_of(p), PORT_BACKEND_PTY);
	CHECK(strcmp(port_spec(p), pt.path) == 0);
	CHECK(port_fd(p) >= 0);
	CHECK(fcntl(port_fd(p), F_GETFL) & O_NONBLOCK);
	/* The slave's termios is one per tty: read it through our own slave fd. */
	CHECK_INT_EQ(tcgetattr(pt.slave, &t), 0);
	CHECK((t.c_lflag & (ICANON | ECHO | ISIG | IEXTEN)) == 0);
	CHECK((t.c_oflag & OPOST) == 0);
	CHECK((t.c_iflag & (ICRNL | IXON)) == 0);
	CHECK_INT_EQ(t.c_cc[VMIN], 0);
	CHECK_INT_EQ(t.c_cc[VTIME], 0);
	CHECK_INT_EQ(cfgetospeed(&t), B57600);
	CHECK_INT_EQ(cfgetispeed(&t), B57600);
	/* Linux's pty driver forces CS8 without parity whatever is asked (a
	 * pty carries whole bytes); stop bits, flow control and speed stay. */
	CHECK(t.c_cflag & CSTOPB);
	CHECK(t.c_cflag & CRTSCTS);
	CHECK(t.c_cflag & CREAD);
	port_close(p);
	p = NULL;

	/* Defaults undo all of that; xonxoff sets IXON/IXOFF; odd parity. */
	port_settings_default(&s);
	CHECK_INT_EQ(port_open(pt.path, &s, &p, &err), CS_OK);
	CHECK_INT_EQ(tcgetattr(pt.slave, &t), 0);
	CHECK_INT_EQ(cfgetospeed(&t), B115200);
	CHECK_INT_EQ(t.c_cflag & CSIZE, CS8);
	CHECK(!(t.c_cflag & (PARENB | CSTOPB | CRTSCTS)));
	CHECK(!(t.c_iflag & (IXON | IXOFF)));
	port_close(p);
	p = NULL;
	s.baud = 921600;
	s.parity = PORT_PARITY_ODD;
	s.flow = PORT_FLOW_XONXOFF;
	CHECK_INT_EQ(port_open(pt.path, &s, &p, &err), CS_OK);
	CHECK_INT_EQ(tcgetattr(pt.slave, &t), 0);
	CHECK_INT_EQ(cfgetospeed(&t), B921600);
	CHECK((t.c_iflag & (IXON | IXOFF)) == (IXON | IXOFF));
	port_close(p);
	p = NULL;

	/* Out-of-range settings are refused before anything is opened; a rate
	 * termios has no constant for is refused by the pty backend. */
	s.baud = 300;
	CHECK_INT_EQ(port_open(pt.path, &s, &p, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "300");
	CHECK(p == NULL);
	port_settings_default(&s);
	s.data_bits = 9;
	CHECK_INT_EQ(port_open(pt.path, &s, &p, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "data bits");
	port_settings_default(&s);
	s.baud = 250000;
	CHECK_INT_EQ(port_open(pt.path, &s, &p, &err), CS_ERR_PORT_OPEN);
	CHECK_MSG_HAS(err, "250000");
	/* NULL settings mean the defaults. */
	CHECK_INT_EQ(port_open(pt.path, NULL, &p, &err), CS_OK);
	CHECK_INT_EQ(tcgetattr(pt.slave, &t), 0);
	CHECK_INT_EQ(cfgetospeed(&t), B115200);
out:
	port_close(p);
	pty_free(&pt);
}

static void
test_bytes_both_ways(void)
{
	uint8_t big[60000], back[60000], buf[64];
	struct cs_err err;
	struct pty pt;
	port *p = NULL;
	size_t got = 0;
	int rc;

	if (pty_make(&pt) != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT_EQ(port_open(pt.path, NULL, &p, &err), CS_OK);
	if (p == NULL)
		goto out;
	CHECK_INT_EQ(port_write(p, (const uint8_t *)"hello", 5, 1000, &err), CS_OK);
	CHECK_INT_EQ(read_fd(pt.master, buf, 5, 2000), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);

	CHECK_INT_EQ(write(pt.master, "world\r\n\x03\x00\xff", 10), 10);
	/* Raw mode: CR, LF, ^C, NUL and 0xff arrive untouched. */
	CHECK_INT_EQ(read_port(p, buf, 10, 2000, &rc), 10);
	CHECK_INT_EQ(rc, CS_OK);
	CHECK(memcmp(buf, "world\r\n\x03\x00\xff", 10) == 0);

	/* The descriptor is pollable for input. */
	CHECK_INT_EQ(write(pt.master, "x", 1), 1);
	{
		struct pollfd pfd = {.fd = port_fd(p), .events = POLLIN};

		CHECK_INT_EQ(poll(&pfd, 1, 2000), 1);
		CHECK(pfd.revents & POLLIN);
	}
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 1000, &got, &err), CS_OK);
	CHECK_INT_EQ(got, 1);

	/* A larger block master -> port, all 256 byte values. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));
	{
		size_t off = 0, rx = 0;
		long deadline = now_ms() + 5000;

		while (rx < sizeof(big) && now_ms() < deadline) {
			if (off < sizeof(big)) {
				ssize_t k = write(pt.master, big + off,
				    sizeof(big) - off > 4096 ? 4096 : sizeof(big) - off);
				if (k > 0)
					off += (size_t)k;
			}
			rc = port_read(p, back + rx, sizeof(back) - rx, 50, &got, &err);
			if (rc != CS_OK)
				break;
			rx += got;
		}
		CHECK_INT_EQ(rx, sizeof(big));
		CHECK(memcmp(big, back, sizeof(big)) == 0);
	}
out:
	port_close(p);
	pty_free(&pt);
}

static void
test_timeouts_and_flush(void)
{
	static uint8_t big[1 << 20];
	uint8_t buf[64];
	struct cs_err err;
	struct pty pt;
	port *p = NULL;
	size_t got = 99;
	long t0, dt;

	if (pty_make(&pt) != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT_EQ(port_open(pt.path, NULL, &p, &err), CS_OK);
	if (p == NULL)
		goto out;

	/* Nothing to read: 0 bytes after about the timeout. */
	t0 = now_ms();
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 300, &got, &err), CS_OK);
	dt = now_ms() - t0;
	CHECK_INT_EQ(got, 0);
	CHECK(dt >= 280 && dt < 1500);
	/* Timeout 0: do not wait. */
	t0 = now_ms();
	got = 99;
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 0, &got, &err), CS_OK);
	CHECK_INT_EQ(got, 0);
	CHECK(now_ms() - t0 < 100);
	/* Bytes already there come back at once even with a long timeout. */
	CHECK_INT_EQ(write(pt.master, "ab", 2), 2);
	{
		struct pollfd pfd = {.fd = port_fd(p), .events = POLLIN};
		CHECK_INT_EQ(poll(&pfd, 1, 2000), 1);
	}
	t0 = now_ms();
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 5000, &got, &err), CS_OK);
	CHECK_INT_EQ(got, 2);
	CHECK(now_ms() - t0 < 1000);

	/* Flush drops what arrived and was not read. */
	CHECK_INT_EQ(write(pt.master, "stale", 5), 5);
	{
		struct pollfd pfd = {.fd = port_fd(p), .events = POLLIN};
		CHECK_INT_EQ(poll(&pfd, 1, 2000), 1);
	}
	CHECK_INT_EQ(port_flush(p, &err), CS_OK);
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 200, &got, &err), CS_OK);
	CHECK_INT_EQ(got, 0);
	CHECK_INT_EQ(write(pt.master, "fresh", 5), 5);
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 2000, &got, &err), CS_OK);
	CHECK_INT_EQ(got, 5);
	CHECK(memcmp(buf, "fresh", 5) == 0);

	/* Nobody reads the master: the write times out, and says how far it got. */
	memset(big, 'z', sizeof(big));
	t0 = now_ms();
	CHECK_INT_EQ(port_write(p, big, sizeof(big), 300, &err), CS_ERR_TIMEOUT);
	dt = now_ms() - t0;
	CHECK(dt >= 280 && dt < 2000);
	CHECK_MSG_HAS(err, pt.path);
	CHECK_MSG_HAS(err, "of 1048576 bytes");
	/* Output not yet taken by the other side is discarded by a flush. */
	CHECK_INT_EQ(port_flush(p, &err), CS_OK);
out:
	port_close(p);
	pty_free(&pt);
}

static void
test_master_closed(void)
{
	uint8_t buf[16];
	struct cs_err err;
	struct pty pt;
	port *p = NULL;
	size_t got = 0;
	long t0;

	if (pty_make(&pt) != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT_EQ(port_open(pt.path, NULL, &p, &err), CS_OK);
	if (p == NULL)
		goto out;
	/* Closing the master hangs the slave up (the kernel drops what was
	 * still unread), so the next read says GONE. */
	close(pt.master);
	pt.master = -1;
	close(pt.slave);
	pt.slave = -1;
	t0 = now_ms();
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 5000, &got, &err), CS_ERR_PORT_GONE);
	CHECK(now_ms() - t0 < 1000); /* noticed at once, not after the timeout */
	CHECK_INT_EQ(got, 0);
	CHECK_MSG_HAS(err, pt.path);
	CHECK_MSG_HAS(err, "closed");
	/* Sticky, for every operation. */
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 0, &got, &err), CS_ERR_PORT_GONE);
	CHECK_MSG_HAS(err, pt.path);
	CHECK_INT_EQ(port_write(p, buf, 1, 100, &err), CS_ERR_PORT_GONE);
	CHECK_INT_EQ(port_flush(p, &err), CS_ERR_PORT_GONE);
	port_close(p);
	p = NULL;

	/* A write is where it shows first when the port only sends. */
	if (pty_make(&pt) != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT_EQ(port_open(pt.path, NULL, &p, &err), CS_OK);
	if (p == NULL)
		goto out;
	close(pt.master);
	pt.master = -1;
	CHECK_INT_EQ(port_write(p, (const uint8_t *)"ping", 4, 1000, &err), CS_ERR_PORT_GONE);
	CHECK_MSG_HAS(err, pt.path);
	port_close(p);
	p = NULL;
	/* Opening a slave whose master is gone is an open failure, not a hang. */
	CHECK(port_open(pt.path, NULL, &p, &err) != CS_OK);
	CHECK(p == NULL);
	pty_free(&pt);

	/* A hung-up tty (what an unplugged USB adapter becomes) reads 0 bytes
	 * like an idle one; only POLLHUP tells. A caller that polls the fd and
	 * reads with timeout 0 must get GONE, not an endless "nothing yet". */
	if (pty_make(&pt) != 0) {
		CHECK(0);
		return;
	}
	CHECK_INT_EQ(port_open(pt.path, NULL, &p, &err), CS_OK);
	if (p == NULL)
		goto out;
	if (ioctl(pt.slave, TIOCVHANGUP) != 0) {
		fprintf(stderr, "test_port_pty: TIOCVHANGUP: %s; hang-up case not tested\n",
		    strerror(errno));
	} else {
		struct pollfd pfd = {.fd = port_fd(p), .events = POLLIN};

		CHECK_INT_EQ(poll(&pfd, 1, 1000), 1);
		CHECK(pfd.revents & POLLHUP);
		CHECK_INT_EQ(read(port_fd(p), buf, sizeof(buf)), 0); /* the ambiguity itself */
		t0 = now_ms();
		CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 0, &got, &err), CS_ERR_PORT_GONE);
		CHECK_INT_EQ(got, 0);
		CHECK(now_ms() - t0 < 500);
	}
out:
	port_close(p);
	pty_free(&pt);
}

static void
test_symlink_and_backends(void)
{
	char dir[] = "/tmp/certstation-pty.XXXXXX", link[128], file[128];
	struct cs_err err;
	struct pty pt;
	port *p = NULL;
	uint8_t buf[8];

	if (pty_make(&pt) != 0 || mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	snprintf(link, sizeof(link), "%s/slot0", dir);
	snprintf(file, sizeof(file), "%s/plain", dir);
	CHECK_INT_EQ(symlink(pt.path, link), 0);
	CHECK_INT_EQ(port_open(link, NULL, &p, &err), CS_OK);
	if (p != NULL) {
		CHECK_INT_EQ(port_backend_of(p), PORT_BACKEND_PTY);
		CHECK(strcmp(port_spec(p), link) == 0);
		CHECK_INT_EQ(port_write(p, (const uint8_t *)"via", 3, 1000, &err), CS_OK);
		CHECK_INT_EQ(read_fd(pt.master, buf, 3, 2000), 3);
		CHECK(memcmp(buf, "via", 3) == 0);
		port_close(p);
		p = NULL;
	}
	/* The pty backend chosen by hand works too; on a non-tty it refuses. */
	CHECK_INT_EQ(port_open_backend(pt.path, PORT_BACKEND_PTY, NULL, &p, &err), CS_OK);
	port_close(p);
	p = NULL;
	CHECK_INT_EQ(port_open_backend("/dev/null", PORT_BACKEND_PTY, NULL, &p, &err), CS_ERR_PORT_OPEN);
	CHECK_MSG_HAS(err, "not a terminal");
	CHECK(p == NULL);
	CHECK_INT_EQ(port_open_backend(file, PORT_BACKEND_PTY, NULL, &p, &err), CS_ERR_PORT_NOT_FOUND);
	CHECK_MSG_HAS(err, file);
	/* Bad arguments. */
	CHECK_INT_EQ(port_open("", NULL, &p, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(port_open_backend(pt.path, (enum port_backend)42, NULL, &p, &err),
	    CS_ERR_INVALID_ARG);
	{
		char longp[PORT_PATH_MAX + 10];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		CHECK_INT_EQ(port_open(longp, NULL, &p, &err), CS_ERR_INVALID_ARG);
	}
	port_close(NULL);
	CHECK(strcmp(port_backend_name(PORT_BACKEND_PTY), "pty") == 0);
	unlink(link);
	rmdir(dir);
	pty_free(&pt);
}

int
main(void)
{
	test_settings_applied();
	test_bytes_both_ways();
	test_timeouts_and_flush();
	test_master_closed();
	test_symlink_and_backends();
	return check_finish("test_port_pty");
}
