/*
 * sd_notify.c: the notification protocol of sd_notify(3), by hand (contract
 * in sd_notify.h). One datagram per call on a fresh socket: the station
 * notifies a few times a minute, so keeping a socket open buys nothing and
 * would outlive a manager restart.
 */
#define _GNU_SOURCE
#include "station/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
cs_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t n, len;
	socklen_t salen;
	ssize_t sent;
	int fd, e;

	if (path == NULL || path[0] == '\0')
		return 1;
	if (state == NULL) {
		errno = EINVAL;
		return -1;
	}
	n = strlen(path);
	/* "@name" is the abstract namespace: a leading NUL, not part of the path */
	if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof(sa.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/' ? 1 : 0));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	len = strlen(state);
	sent = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	e = errno;
	close(fd);
	if (sent < 0 || (size_t)sent != len) {
		errno = sent < 0 ? e : EMSGSIZE;
		return -1;
	}
	return 0;
}

uint64_t
cs_notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (usec == NULL || usec[0] == '\0')
		return 0;
	if (pid != NULL && pid[0] != '\0') {
		errno = 0;
		v = strtoull(pid, &end, 10);
		if (errno != 0 || *end != '\0' || v != (unsigned long long)getpid())
			return 0; /* meant for another process (we were forked or exec'ed) */
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || usec[0] == '-' || v == 0)
		return 0;
	return (uint64_t)v;
}
