/*
 * test_port_tcp.c: the tcp backend against a real listener on 127.0.0.1:0:
 * connect, TCP_NODELAY, bytes both ways, flush, peer close and reset
 * (CS_ERR_PORT_GONE), connection refused (CS_ERR_PORT_OPEN), a peer that
 * stops reading (CS_ERR_TIMEOUT), and the "tcp:HOST:PORT" spec rules.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fixtures/port.h"
#include "fixtures/port_int.h"
#include "tests/support/check.h"

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A listener on 127.0.0.1 with a kernel-chosen port. */
static int
listener(unsigned *port_out)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		perror("listener");
		return -1;
	}
	*port_out = ntohs(a.sin_port);
	return fd;
}

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
		else
			break;
	}
	return got;
}

static void
test_connect_and_bytes(void)
{
	uint8_t buf[64];
	struct cs_err err;
	char spec[64];
	unsigned portno = 0;
	int lfd, peer = -1, one = 0;
	socklen_t ol = sizeof(one);
	port *p = NULL;
	size_t got = 0;
	long t0;

	lfd = listener(&portno);
	if (lfd < 0) {
		CHECK(0);
		return;
	}
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", portno);
	CHECK_INT_EQ(port_open(spec, NULL, &p, &err), CS_OK);
	if (p == NULL)
		goto out;
	peer = accept(lfd, NULL, NULL);
	CHECK(peer >= 0);
	CHECK_INT_EQ(port_backend_of(p), PORT_BACKEND_TCP);
	CHECK(strcmp(port_spec(p), spec) == 0);
	CHECK_INT_EQ(getsockopt(port_fd(p), IPPROTO_TCP, TCP_NODELAY, &one, &ol), 0);
	CHECK(one != 0);

	CHECK_INT_EQ(port_write(p, (const uint8_t *)"to-peer", 7, 1000, &err), CS_OK);
	CHECK_INT_EQ(read_fd(peer, buf, 7, 2000), 7);
	CHECK(memcmp(buf, "to-peer", 7) == 0);
	CHECK_INT_EQ(write(peer, "from-peer", 9), 9);
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 2000, &got, &err), CS_OK);
	CHECK_INT_EQ(got, 9);
	CHECK(memcmp(buf, "from-peer", 9) == 0);

	/* Read timeout with a quiet peer. */
	t0 = now_ms();
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 200, &got, &err), CS_OK);
	CHECK_INT_EQ(got, 0);
	CHECK(now_ms() - t0 >= 180);

	/* Flush drops what has arrived. */
	CHECK_INT_EQ(write(peer, "junk", 4), 4);
	{
		struct pollfd pfd = {.fd = port_fd(p), .events = POLLIN};
		CHECK_INT_EQ(poll(&pfd, 1, 2000), 1);
	}
	CHECK_INT_EQ(port_flush(p, &err), CS_OK);
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 100, &got, &err), CS_OK);
	CHECK_INT_EQ(got, 0);

	/* The peer closes: GONE, at once, and from then on. */
	close(peer);
	peer = -1;
	t0 = now_ms();
	CHECK_INT_EQ(port_read(p, buf, sizeof(buf), 5000, &got, &err), CS_ERR_PORT_GONE);
	CHECK(now_ms() - t0 < 1000);
	CHECK_MSG_HAS(err, spec);
	CHECK_MSG_HAS(err, "closed");
	CHECK_INT_EQ(port_write(p, buf, 1, 100, &err), CS_ERR_PORT_GONE);
	CHECK_INT_EQ(port_flush(p, &err), CS_ERR_PORT_GONE);
	port_close(p);
	p = NULL;

	/* A peer that closes while we only write: the first send may still be
	 * accepted, the reset after it is GONE (and no SIGPIPE kills us). */
	CHECK_INT_EQ(port_open(spec, NULL, &p, &err), CS_OK);
	if (p == NULL)
		goto out;
	peer = accept(lfd, NULL, NULL);
	close(peer);
	peer = -1;
	{
		int rc = CS_OK;

		for (int i = 0; i < 100 && rc == CS_OK; i++) {
			rc = port_write(p, (const uint8_t *)"ping", 4, 100, &err);
			if (rc == CS_OK)
				usleep(10000);
		}
		CHECK_INT_EQ(rc, CS_ERR_PORT_GONE);
		CHECK_MSG_HAS(err, spec);
	}
	port_close(p);
	p = NULL;

	/* A peer that accepts but never reads: the write times out. */
	CHECK_INT_EQ(port_open(spec, NULL, &p, &err), CS_OK);
	if (p == NULL)
		goto out;
	peer = accept(lfd, NULL, NULL);
	{
		size_t n = 64u << 20;
		uint8_t *big = calloc(1, n);

		CHECK(big != NULL);
		if (big != NULL) {
			t0 = now_ms();
			CHECK_INT_EQ(port_write(p, big, n, 300, &err), CS_ERR_TIMEOUT);
			CHECK(now_ms() - t0 >= 280);
			CHECK(now_ms() - t0 < 3000);
			CHECK_MSG_HAS(err, "of 67108864 bytes");
		}
		free(big);
	}
out:
	if (peer >= 0)
		close(peer);
	port_close(p);
	close(lfd);
}

static void
test_refused(void)
{
	struct cs_err err;
	char spec[64];
	unsigned portno = 0;
	port *p = NULL;
	int lfd = listener(&portno);

	/* The port was just free'd: nothing listens on it now. */
	close(lfd);
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%u", portno);
	CHECK_INT_EQ(port_open(spec, NULL, &p, &err), CS_ERR_PORT_OPEN);
	CHECK(p == NULL);
	CHECK_MSG_HAS(err, "refused");
	CHECK_MSG_HAS(err, spec);
}

static void
test_ipv6(void)
{
	struct sockaddr_in6 a;
	socklen_t len = sizeof(a);
	struct cs_err err;
	char spec[64];
	int lfd = socket(AF_INET6, SOCK_STREAM, 0), peer;
	port *p = NULL;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) != 0) {
		fprintf(stderr, "test_port_tcp: no IPv6 loopback here; [::1] connect not tested\n");
		if (lfd >= 0)
			close(lfd);
		return;
	}
	snprintf(spec, sizeof(spec), "tcp:[::1]:%u", ntohs(a.sin6_port));
	CHECK_INT_EQ(port_open(spec, NULL, &p, &err), CS_OK);
	peer = accept(lfd, NULL, NULL);
	CHECK(peer >= 0);
	if (p != NULL && peer >= 0) {
		uint8_t buf[4];

		CHECK_INT_EQ(port_write(p, (const uint8_t *)"six", 3, 1000, &err), CS_OK);
		CHECK_INT_EQ(read_fd(peer, buf, 3, 2000), 3);
	}
	if (peer >= 0)
		close(peer);
	port_close(p);
	close(lfd);
}

static void
test_specs(void)
{
	static const struct {
		const char *spec, *needle;
	} bad[] = {
	    {"tcp:", "no port"},
	    {"tcp:host", "no port"},
	    {"tcp:host:", "empty port"},
	    {"tcp:host:99999", "out of range"},
	    {"tcp:host:0", "port 0"},
	    {"tcp:host:-1", "not a number"},
	    {"tcp:host:+80", "not a number"},
	    {"tcp:host:8o", "not a number"},
	    {"tcp:host:123456789012345678901234567890", "out of range"},
	    {"tcp:[::1]:x", "not a number"},
	    {"tcp:[::1]", "':PORT'"},
	    {"tcp:[::1:80", "without ']'"},
	    {"tcp:[]:80", "no host"},
	    {"tcp:[fe80::1%eth0]:80", "bracketed IPv6"},
	    {"tcp::80", "no host"},
	    {"tcp:::1:80", "more than one ':'"},
	    {"tcp:a:b:c", "more than one ':'"},
	    {"tcp:ho st:80", "not allowed"},
	    {"tcp:h\x01:80", "not allowed"},
	    {"tcp:h/x:80", "not allowed"},
	};
	char host[PORT_TCP_HOST_MAX + 1], svc[PORT_TCP_SERVICE_MAX], longhost[400];
	struct cs_err err;
	port *p = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cs_err_clear(&err);
		CHECK_INT_EQ(port_tcp_spec_parse(bad[i].spec, host, svc, &err), CS_ERR_INVALID_ARG);
		CHECK_MSG_HAS(err, bad[i].needle);
		/* port_open refuses it the same way, without a connect attempt. */
		CHECK_INT_EQ(port_open(bad[i].spec, NULL, &p, &err), CS_ERR_INVALID_ARG);
		CHECK(p == NULL);
	}
	CHECK_INT_EQ(port_tcp_spec_parse("tcp:127.0.0.1:4001", host, svc, &err), CS_OK);
	CHECK(strcmp(host, "127.0.0.1") == 0 && strcmp(svc, "4001") == 0);
	CHECK_INT_EQ(port_tcp_spec_parse("tcp:[::1]:65535", host, svc, &err), CS_OK);
	CHECK(strcmp(host, "::1") == 0 && strcmp(svc, "65535") == 0);
	CHECK_INT_EQ(port_tcp_spec_parse("tcp:fixture-ctl_2.line1:00023", host, svc, &err), CS_OK);
	CHECK(strcmp(host, "fixture-ctl_2.line1") == 0 && strcmp(svc, "23") == 0);
	CHECK_INT_EQ(port_tcp_spec_parse("udp:h:1", host, svc, &err), CS_ERR_INVALID_ARG);
	memset(longhost, 'a', sizeof(longhost));
	memcpy(longhost, "tcp:", 4);
	snprintf(longhost + 300, sizeof(longhost) - 300, ":80");
	CHECK_INT_EQ(port_tcp_spec_parse(longhost, host, svc, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "longer than");
}

int
main(void)
{
	test_specs();
	test_connect_and_bytes();
	test_refused();
	test_ipv6();
	return check_finish("test_port_tcp");
}
