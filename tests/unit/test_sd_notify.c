/*
 * test_sd_notify.c: the service-manager notification protocol against a real
 * unix datagram socket, in the filesystem and in the abstract namespace, and
 * the watchdog environment rules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "station/sd_notify.h"
#include "tests/support/check.h"

/* Bind a datagram socket at name ("@x": abstract); -1 on failure. */
static int
listener(const char *name)
{
	struct sockaddr_un sa;
	size_t n = strlen(name);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) != 0) {
		perror("bind");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void
expect_datagram(int fd, const char *want)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	CHECK(n >= 0);
	if (n < 0)
		return;
	buf[n] = '\0';
	CHECK(strcmp(buf, want) == 0);
	if (strcmp(buf, want) != 0)
		fprintf(stderr, "  got '%s', want '%s'\n", buf, want);
}

int
main(void)
{
	char dir[] = "/tmp/test_sd_notify.XXXXXX", path[200], abs_name[64], pid[32];
	char longpath[200];
	int fd;

	/* not under a service manager: nothing happens, no error */
	unsetenv("NOTIFY_SOCKET");
	CHECK_INT_EQ(cs_notify("READY=1"), 1);
	setenv("NOTIFY_SOCKET", "", 1);
	CHECK_INT_EQ(cs_notify("READY=1"), 1);

	/* a socket in the filesystem */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listener(path);
	CHECK(fd >= 0);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_INT_EQ(cs_notify("READY=1\nSTATUS=provisioning on 4 slot(s)"), 0);
	expect_datagram(fd, "READY=1\nSTATUS=provisioning on 4 slot(s)");
	CHECK_INT_EQ(cs_notify("WATCHDOG=1"), 0);
	expect_datagram(fd, "WATCHDOG=1");
	CHECK_INT_EQ(cs_notify(NULL), -1);
	close(fd);
	unlink(path);
	/* the manager went away: an error, not a crash or a hang */
	errno = 0;
	CHECK_INT_EQ(cs_notify("WATCHDOG=1"), -1);
	CHECK(errno == ENOENT || errno == ECONNREFUSED);

	/* the abstract namespace ("@name") */
	snprintf(abs_name, sizeof(abs_name), "@certstation-test-%ld", (long)getpid());
	fd = listener(abs_name);
	CHECK(fd >= 0);
	setenv("NOTIFY_SOCKET", abs_name, 1);
	CHECK_INT_EQ(cs_notify("STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	close(fd);

	/* names that cannot be a socket */
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	CHECK_INT_EQ(cs_notify("READY=1"), -1);
	setenv("NOTIFY_SOCKET", "@", 1);
	CHECK_INT_EQ(cs_notify("READY=1"), -1);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longpath, 1);
	CHECK_INT_EQ(cs_notify("READY=1"), -1);
	unsetenv("NOTIFY_SOCKET");

	/* the watchdog: only for this process, only a positive number */
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	CHECK(cs_notify_watchdog_usec() == 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	CHECK(cs_notify_watchdog_usec() == 30000000u);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	CHECK(cs_notify_watchdog_usec() == 30000000u);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	CHECK(cs_notify_watchdog_usec() == 0);
	setenv("WATCHDOG_PID", "12x", 1);
	CHECK(cs_notify_watchdog_usec() == 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "0", 1);
	CHECK(cs_notify_watchdog_usec() == 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	CHECK(cs_notify_watchdog_usec() == 0);
	setenv("WATCHDOG_USEC", "30s", 1);
	CHECK(cs_notify_watchdog_usec() == 0);
	setenv("WATCHDOG_USEC", "99999999999999999999999", 1);
	CHECK(cs_notify_watchdog_usec() == 0);

	rmdir(dir);
	return check_finish("test_sd_notify");
}
