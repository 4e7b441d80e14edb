/*
 * test_file_read.c: station/file_read.c: whole files read under a cap.
 * Sizes around the cap, empty files and NUL bytes inside; what is refused
 * (missing, a directory, a FIFO, a device, group or other access with
 * CS_FILE_PRIVATE, unreadable) with its code and message; standard input
 * for "-" only when asked; a file that is larger than fstat said; and on
 * every failure *out NULL (the leak check of the sanitizer build does the
 * rest).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>

#include "station/file_read.h"
#include "tests/support/check.h"

static char dir[64];
static char sentinel; /* *out is set to &sentinel before a call that must fail */

static void
path_in(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

/* Write n bytes to path with exactly this mode (umask aside). */
static int
put(const char *path, const void *data, size_t n, mode_t mode)
{
	int fd, rc = 0;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (n > 0 && write(fd, data, n) != (ssize_t)n)
		rc = -1;
	if (fchmod(fd, mode) != 0)
		rc = -1;
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

/* A read that must fail with code and a message holding needle; *out must
 * come back NULL whatever it held before. Returns *len. */
static size_t
expect_fail(const char *path, size_t max, unsigned flags, int code, const char *needle)
{
	struct cs_err err;
	char *out = &sentinel;
	size_t len = 777;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = cs_file_read(path, "a test file", max, flags, &out, &len, &err);
	CHECK_INT_EQ(rc, code);
	CHECK_INT_EQ(err.code, code);
	CHECK(out == NULL);
	if (needle != NULL)
		CHECK_MSG_HAS(err, needle);
	if (rc == 0)
		free(out);
	return len;
}

/* A read that must succeed with exactly n bytes equal to data. */
static void
expect_read(const char *path, size_t max, unsigned flags, const void *data, size_t n)
{
	struct cs_err err;
	char *out = NULL;
	size_t len = 777;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = cs_file_read(path, "a test file", max, flags, &out, &len, &err);
	CHECK_INT_EQ(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "  %s: %s\n", path, err.msg);
		return;
	}
	CHECK(out != NULL);
	CHECK_INT_EQ(len, n);
	if (out != NULL && len == n) {
		CHECK(memcmp(out, data, n) == 0);
		CHECK_INT_EQ(out[n], '\0');
	}
	free(out);
}

static void
test_sizes(void)
{
	char path[128], msg[256];
	static char big[300000];
	size_t len;

	path_in(path, sizeof(path), "hello.txt");
	CHECK_INT_EQ(put(path, "hello\n", 6, 0644), 0);
	expect_read(path, 1024, 0, "hello\n", 6);
	/* len may be NULL */
	{
		char *out = NULL;

		CHECK_INT_EQ(cs_file_read(path, "a test file", 1024, 0, &out, NULL, NULL), 0);
		CHECK(out != NULL && strcmp(out, "hello\n") == 0);
		free(out);
	}

	path_in(path, sizeof(path), "empty.txt");
	CHECK_INT_EQ(put(path, "", 0, 0644), 0);
	expect_read(path, 1024, 0, "", 0);
	expect_read(path, 0, 0, "", 0);

	/* exactly at the cap is read; one byte more is refused before reading,
	 * with the size fstat showed in the message and in *len */
	memset(big, 'x', sizeof(big));
	path_in(path, sizeof(path), "cap.txt");
	CHECK_INT_EQ(put(path, big, 100, 0644), 0);
	expect_read(path, 100, 0, big, 100);
	CHECK_INT_EQ(put(path, big, 101, 0644), 0);
	len = expect_fail(path, 100, 0, CS_ERR_TOO_LARGE, "a test file is at most 100 bytes");
	CHECK_INT_EQ(len, 101);
	snprintf(msg, sizeof(msg), "%s is 101 bytes; a test file is at most 100 bytes", path);
	expect_fail(path, 100, 0, CS_ERR_TOO_LARGE, msg);
	CHECK_INT_EQ(put(path, "x", 1, 0644), 0);
	expect_fail(path, 0, 0, CS_ERR_TOO_LARGE, "is 1 bytes; a test file is at most 0 bytes");

	/* larger than the first buffer of standard input, far under the cap */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	path_in(path, sizeof(path), "big.txt");
	CHECK_INT_EQ(put(path, big, sizeof(big), 0644), 0);
	expect_read(path, 1024 * 1024, 0, big, sizeof(big));
	expect_read(path, sizeof(big), 0, big, sizeof(big));
	expect_fail(path, sizeof(big) - 1, 0, CS_ERR_TOO_LARGE, "is 300000 bytes");

	/* NUL bytes are data: len counts them */
	path_in(path, sizeof(path), "nul.bin");
	CHECK_INT_EQ(put(path, "a\0b\0c", 5, 0644), 0);
	expect_read(path, 5, 0, "a\0b\0c", 5);
	expect_fail(path, 4, 0, CS_ERR_TOO_LARGE, "is 5 bytes");
}

static void
test_not_files(void)
{
	char path[128], msg[256];

	path_in(path, sizeof(path), "absent.txt");
	snprintf(msg, sizeof(msg), "%s: cannot open: %s", path, strerror(ENOENT));
	CHECK_INT_EQ(expect_fail(path, 1024, 0, CS_ERR_NOT_FOUND, msg), 0);
	/* a missing directory on the way is not found either */
	path_in(path, sizeof(path), "no-dir/absent.txt");
	expect_fail(path, 1024, 0, CS_ERR_NOT_FOUND, "cannot open");
	/* err may be NULL */
	{
		char *out = &sentinel;

		CHECK_INT_EQ(cs_file_read(path, "a test file", 1024, 0, &out, NULL, NULL),
		    CS_ERR_NOT_FOUND);
		CHECK(out == NULL);
	}

	snprintf(msg, sizeof(msg), "%s: not a regular file (a directory)", dir);
	expect_fail(dir, 1024, 0, CS_ERR_CONFIG, msg);
	expect_fail("/dev/null", 1024, 0, CS_ERR_CONFIG,
	    "/dev/null: not a regular file (a character device)");

	/* a FIFO nobody writes to: refused at once, not waited on */
	path_in(path, sizeof(path), "fifo");
	CHECK_INT_EQ(mkfifo(path, 0600), 0);
	expect_fail(path, 1024, 0, CS_ERR_CONFIG, "not a regular file (a FIFO)");

	/* with CS_FILE_PIPE a FIFO is read to its writer's end, like a shell's
	 * <(command); its cap still holds */
	for (int big = 0; big < 2; big++) {
		pid_t pid = fork();
		char *out = &sentinel;
		size_t len = 0;
		int rc;

		if (pid == 0) {
			int w;

			usleep(100 * 1000); /* the reader is waiting by now */
			w = open(path, O_WRONLY);
			if (w >= 0) {
				if (big)
					for (int k = 0; k < 40; k++)
						(void)!write(w, "0123456789abcdef0123456789abcdef", 32);
				else
					(void)!write(w, "-----BEGIN CERTIFICATE REQUEST-----\n", 36);
				close(w);
			}
			_exit(0);
		}
		CHECK(pid > 0);
		rc = cs_file_read(path, "a test file", 1024, CS_FILE_PIPE, &out, &len, NULL);
		if (big) {
			CHECK_INT_EQ(rc, CS_ERR_TOO_LARGE);
			CHECK(out == NULL);
		} else {
			CHECK_INT_EQ(rc, 0);
			CHECK(len == 36 && out != NULL && out != &sentinel &&
			    strcmp(out, "-----BEGIN CERTIFICATE REQUEST-----\n") == 0);
			if (out != &sentinel)
				free(out);
		}
		waitpid(pid, NULL, 0);
	}
	unlink(path);

	/* a file the process may not open (root may open anything) */
	if (geteuid() != 0) {
		path_in(path, sizeof(path), "locked.txt");
		CHECK_INT_EQ(put(path, "secret", 6, 0000), 0);
		snprintf(msg, sizeof(msg), "%s: cannot open: %s", path, strerror(EACCES));
		expect_fail(path, 1024, 0, CS_ERR_IO, msg);
		unlink(path);
	}
}

static void
test_private(void)
{
	char path[128], msg[512];

	path_in(path, sizeof(path), "secret.txt");
	CHECK_INT_EQ(put(path, "token\n", 6, 0600), 0);
	expect_read(path, 64, CS_FILE_PRIVATE, "token\n", 6);
	CHECK_INT_EQ(put(path, "token\n", 6, 0400), 0);
	expect_read(path, 64, CS_FILE_PRIVATE, "token\n", 6);

	CHECK_INT_EQ(put(path, "token\n", 6, 0640), 0);
	snprintf(msg, sizeof(msg),
	    "%s: mode 0640 gives other users access; a test file must be private to its "
	    "owner (run: chmod 600 %s)", path, path);
	expect_fail(path, 64, CS_FILE_PRIVATE, CS_ERR_CONFIG, msg);
	CHECK_INT_EQ(put(path, "token\n", 6, 0604), 0);
	expect_fail(path, 64, CS_FILE_PRIVATE, CS_ERR_CONFIG, "mode 0604");
	/* write or execute for others is access too */
	CHECK_INT_EQ(put(path, "token\n", 6, 0620), 0);
	expect_fail(path, 64, CS_FILE_PRIVATE, CS_ERR_CONFIG, "mode 0620");
	CHECK_INT_EQ(put(path, "token\n", 6, 0601), 0);
	expect_fail(path, 64, CS_FILE_PRIVATE, CS_ERR_CONFIG, "chmod 600");
	/* the mode is judged before the size */
	expect_fail(path, 1, CS_FILE_PRIVATE, CS_ERR_CONFIG, "mode 0601");
	/* without the flag the mode is not looked at */
	CHECK_INT_EQ(put(path, "token\n", 6, 0644), 0);
	expect_read(path, 64, 0, "token\n", 6);
	unlink(path);
}

/* Put a pipe holding data (n bytes, then EOF) on descriptor 0. */
static int
stdin_from(const void *data, size_t n)
{
	int p[2];

	if (pipe(p) != 0)
		return -1;
	if (write(p[1], data, n) != (ssize_t)n || close(p[1]) != 0 ||
	    dup2(p[0], STDIN_FILENO) < 0) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	return 0;
}

static void
test_stdin(void)
{
	static char big[200000];
	char cwd[1024], path[128];
	size_t len;
	int saved = dup(STDIN_FILENO), fd;

	CHECK(saved >= 0);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_INT_EQ(chdir(dir), 0);

	CHECK_INT_EQ(stdin_from("csr\0data\n", 9), 0);
	expect_read("-", 64, CS_FILE_STDIN, "csr\0data\n", 9);

	CHECK_INT_EQ(stdin_from("0123456789a", 11), 0);
	len = expect_fail("-", 10, CS_FILE_STDIN, CS_ERR_TOO_LARGE,
	    "standard input: a test file is at most 10 bytes");
	CHECK_INT_EQ(len, 0); /* no size is known for a stream */

	CHECK_INT_EQ(stdin_from("", 0), 0);
	expect_read("-", 64, CS_FILE_STDIN, "", 0);

	/* a regular file on standard input, longer than the first buffer */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	path_in(path, sizeof(path), "stdin.bin");
	CHECK_INT_EQ(put(path, big, sizeof(big), 0644), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && dup2(fd, STDIN_FILENO) == STDIN_FILENO);
	if (fd >= 0)
		close(fd);
	expect_read("-", sizeof(big), CS_FILE_STDIN, big, sizeof(big));
	unlink(path);

	/* without the flag "-" is a file name like any other (none here) */
	CHECK_INT_EQ(stdin_from("not this", 8), 0);
	expect_fail("-", 64, 0, CS_ERR_NOT_FOUND, "-: cannot open");
	CHECK_INT_EQ(put("-", "dash", 4, 0644), 0);
	expect_read("-", 64, 0, "dash", 4);
	/* and standard input was left alone */
	expect_read("-", 64, CS_FILE_STDIN, "not this", 8);
	unlink("-");

	CHECK_INT_EQ(chdir(cwd), 0);
	if (saved >= 0) {
		dup2(saved, STDIN_FILENO);
		close(saved);
	}
}

/* /proc files are regular and claim 0 bytes: the cap must hold on what is
 * read, not on what fstat said, as for a file that grew after the fstat. */
static void
test_more_than_fstat_said(void)
{
	const char *proc = "/proc/self/status";
	struct cs_err err;
	struct stat st;
	char *out = NULL;
	size_t len = 0;
	int rc;

	if (stat(proc, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
		fprintf(stderr, "test_file_read: no %s claiming 0 bytes; skipped\n", proc);
		return;
	}
	len = expect_fail(proc, 16, 0, CS_ERR_TOO_LARGE,
	    "/proc/self/status: a test file is at most 16 bytes");
	CHECK_INT_EQ(len, 0);
	rc = cs_file_read(proc, "a test file", 1024 * 1024, 0, &out, &len, &err);
	CHECK_INT_EQ(rc, 0);
	CHECK(out != NULL && len > 16 && strlen(out) == len);
	CHECK(out != NULL && strncmp(out, "Name:", 5) == 0);
	free(out);
}

static void
test_arguments(void)
{
	struct cs_err err;
	char *out = &sentinel;
	char path[128];

	path_in(path, sizeof(path), "hello.txt");
	CHECK_INT_EQ(cs_file_read(NULL, "a test file", 64, 0, &out, NULL, &err),
	    CS_ERR_INVALID_ARG);
	CHECK(out == NULL);
	CHECK_INT_EQ(cs_file_read(path, "a test file", 64, 0, NULL, NULL, &err),
	    CS_ERR_INVALID_ARG);
	out = &sentinel;
	CHECK_INT_EQ(cs_file_read(path, "a test file", SIZE_MAX, 0, &out, NULL, &err),
	    CS_ERR_INVALID_ARG);
	CHECK(out == NULL);
	out = &sentinel;
	CHECK_INT_EQ(cs_file_read(path, "a test file", SIZE_MAX - 1, 0, &out, NULL, &err),
	    CS_ERR_INVALID_ARG);
	CHECK(out == NULL);
	/* what may be NULL */
	CHECK_INT_EQ(put(path, "abc", 3, 0644), 0);
	CHECK_INT_EQ(cs_file_read(path, NULL, 2, 0, &out, NULL, &err), CS_ERR_TOO_LARGE);
	CHECK_MSG_HAS(err, "a file is at most 2 bytes");
	CHECK(out == NULL);
	unlink(path);
}

int
main(void)
{
	static const char *const left[] = {"hello.txt", "empty.txt", "cap.txt", "big.txt",
		"nul.bin", NULL};
	char path[128];

	/* a read that blocks (a FIFO without a writer) fails the test, not the suite */
	alarm(60);
	snprintf(dir, sizeof(dir), "/tmp/test_file_read.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_sizes();
	test_not_files();
	test_private();
	test_stdin();
	test_more_than_fstat_said();
	test_arguments();
	for (size_t i = 0; left[i] != NULL; i++) {
		path_in(path, sizeof(path), left[i]);
		unlink(path);
	}
	CHECK_INT_EQ(rmdir(dir), 0);
	return check_finish("test_file_read");
}
