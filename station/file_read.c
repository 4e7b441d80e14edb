/*
 * file_read.c: read a whole small file into memory, bounded (contract in
 * file_read.h).
 *
 * DESIGN: every check is made on the descriptor that is read, never on the
 * path, so the file cannot be swapped between the check and the read. The
 * open is non-blocking: opening a FIFO for reading otherwise waits for a
 * writer, and a configuration path that names one would hang the station
 * before fstat could refuse it; for a regular file O_NONBLOCK changes
 * nothing. The size from fstat only sizes the first buffer and refuses a
 * file early; the cap itself is enforced on the bytes actually read.
 */
#include "station/file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* First buffer for standard input, whose size nobody announces. */
#define CS_FILE_STREAM_FIRST (64 * 1024)

static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "an unknown kind of file";
}

/* Grow *buf (holding got bytes, room for cap + 1) to ncap + 1 bytes. The
 * old block is wiped rather than handed to realloc: callers read secrets
 * (a TLS key, the metrics token) and realloc may leave a copy behind. */
static int
file_grow(char **buf, size_t got, size_t ncap)
{
	char *nb = malloc(ncap + 1);

	if (nb == NULL)
		return CS_ERR_NOMEM;
	memcpy(nb, *buf, got);
	explicit_bzero(*buf, got);
	free(*buf);
	*buf = nb;
	return 0;
}

int
cs_file_read(const char *path, const char *what, size_t max, unsigned flags, char **out,
    size_t *len, struct cs_err *err)
{
	struct stat st;
	const char *name = path;
	char *buf = NULL;
	size_t cap, got = 0;
	ssize_t n;
	int fd = -1, use_stdin = 0, use_pipe = 0, rc = 0, e;

	if (out != NULL)
		*out = NULL;
	if (len != NULL)
		*len = 0;
	/* max + 2 bytes must be expressible: the byte past the cap and the NUL */
	if (path == NULL || out == NULL || max >= SIZE_MAX - 1)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "cs_file_read: NULL path or output, or no limit");
	if (what == NULL)
		what = "a file";

	if ((flags & CS_FILE_STDIN) != 0 && strcmp(path, "-") == 0) {
		use_stdin = 1;
		fd = STDIN_FILENO;
		name = "standard input";
		cap = max < CS_FILE_STREAM_FIRST ? max + 1 : CS_FILE_STREAM_FIRST;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0) {
			e = errno;
			return cs_err_set(err, e == ENOENT ? CS_ERR_NOT_FOUND : CS_ERR_IO,
			    "%s: cannot open: %s", path, strerror(e));
		}
		if (fstat(fd, &st) != 0) {
			rc = cs_err_set(err, CS_ERR_IO, "%s: cannot stat: %s", path,
			    strerror(errno));
			goto out;
		}
		if (S_ISFIFO(st.st_mode) && (flags & CS_FILE_PIPE) != 0) {
			/* asked for: open it again, blocking, so that it waits for
			 * its writer like `cat` would (a shell's <(command) has
			 * one already), and make sure it is still a pipe */
			close(fd);
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
			if (fd < 0 || fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
				rc = cs_err_set(err, CS_ERR_IO, "%s: cannot open the pipe: %s", path,
				    fd < 0 ? strerror(errno) : "it changed");
				goto out;
			}
			use_pipe = 1;
		} else if (!S_ISREG(st.st_mode)) {
			rc = cs_err_set(err, CS_ERR_CONFIG, "%s: not a regular file (%s)", path,
			    file_kind(st.st_mode));
			goto out;
		}
		if ((flags & CS_FILE_PRIVATE) != 0 && (st.st_mode & 077) != 0) {
			rc = cs_err_set(err, CS_ERR_CONFIG,
			    "%s: mode %04o gives other users access; %s must be private to its "
			    "owner (run: chmod 600 %s)",
			    path, (unsigned)(st.st_mode & 07777), what, path);
			goto out;
		}
		if (st.st_size < 0 || (uintmax_t)st.st_size > max) {
			if (len != NULL)
				*len = (uintmax_t)st.st_size > SIZE_MAX ? SIZE_MAX :
				    (size_t)st.st_size;
			rc = cs_err_set(err, CS_ERR_TOO_LARGE,
			    "%s is %lld bytes; %s is at most %zu bytes", path,
			    (long long)st.st_size, what, max);
			goto out;
		}
		/* one byte past the announced size: the read that finds EOF needs
		 * no growth; a pipe announces nothing */
		cap = use_pipe ? (max < CS_FILE_STREAM_FIRST ? max + 1 : CS_FILE_STREAM_FIRST)
			       : (size_t)st.st_size + 1;
	}

	buf = malloc(cap + 1);
	if (buf == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "%s: out of memory", name);
		goto out;
	}
	/* Read up to max + 1 bytes: the extra byte tells a file at the cap from
	 * one past it (grown since fstat, or a stream). cap never exceeds max + 1. */
	while (got <= max) {
		if (got == cap) {
			size_t ncap = cap <= (max + 1) / 2 ? cap * 2 : max + 1;

			if (file_grow(&buf, got, ncap) != 0) {
				rc = cs_err_set(err, CS_ERR_NOMEM, "%s: out of memory", name);
				goto out;
			}
			cap = ncap;
		}
		n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cs_err_set(err, CS_ERR_IO, "%s: cannot read: %s", name,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max) {
		rc = cs_err_set(err, CS_ERR_TOO_LARGE, "%s: %s is at most %zu bytes", name, what,
		    max);
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	if (len != NULL)
		*len = got;
	buf = NULL;
out:
	if (buf != NULL) {
		explicit_bzero(buf, got);
		free(buf);
	}
	if (!use_stdin)
		close(fd);
	return rc;
}

int
cs_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
cs_dir_sync(const char *path, struct cs_err *err)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int n, fd, rc = 0;

	if (slash == NULL)
		n = snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		n = snprintf(dir, sizeof(dir), "/");
	else
		n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (n <= 0 || (size_t)n >= sizeof(dir))
		return cs_err_set(err, CS_ERR_INVALID_ARG, "%s: path too long", path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = cs_err_set(err, CS_ERR_IO, "%s: fsync of its directory: %s", path,
		    strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}
