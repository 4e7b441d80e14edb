/*
 * file_read.h: read a whole small file into memory, bounded.
 *
 * Contract: cs_file_read() opens the path, checks what it found with fstat
 * on the same descriptor (a regular file; with CS_FILE_PRIVATE, no access
 * for group or others), refuses a size over max before reading, and then
 * reads to at most max + 1 bytes, so a file that grew after the fstat is
 * still refused. Memory is bounded by max and by the file, not by what the
 * file claims: a buffer starts at the size fstat reported and grows only as
 * bytes arrive. Every refusal names the path, and the rule through `what`.
 * Any thread; standard input is read only when CS_FILE_STDIN asks for it.
 */
#ifndef STATION_FILE_READ_H
#define STATION_FILE_READ_H

#include <stddef.h>

#include "station/cs_error.h"

#define CS_FILE_PRIVATE 0x1u /* refuse a file that group or others may access (a secret) */
#define CS_FILE_STDIN 0x2u   /* "-" reads standard input (unchecked until read) */
#define CS_FILE_PIPE 0x4u    /* also a FIFO, e.g. a shell's <(command), read to the cap */

/*
 * Read path (at most max bytes, max < SIZE_MAX - 1) into a malloc'ed,
 * NUL-terminated buffer: 0, *out (the caller frees it) and *len (the bytes
 * read, NUL bytes inside the file included, the terminating NUL not).
 * what is the kind of file with its article, the subject of the rules in
 * messages: "a configuration" gives "PATH is N bytes; a configuration is at
 * most MAX bytes". len may be NULL.
 *
 * On failure *out is NULL, nothing is left allocated (a partly read buffer
 * is wiped before it is freed), err holds "PATH: ..." ("standard input: ..."
 * for "-") and the return is:
 *   CS_ERR_NOT_FOUND  no such file (ENOENT): "PATH: cannot open: REASON"
 *   CS_ERR_IO         any other open, fstat or read failure:
 *                     "PATH: cannot open|cannot stat|cannot read: REASON"
 *   CS_ERR_CONFIG     not a regular file: "PATH: not a regular file (a directory)";
 *                     CS_FILE_PRIVATE and mode & 077: "PATH: mode 0644 gives
 *                     other users access; WHAT must be private to its owner
 *                     (run: chmod 600 PATH)"
 *   CS_ERR_TOO_LARGE  over max: "PATH is N bytes; WHAT is at most MAX bytes" when
 *                     fstat shows it, and then *len is N; "PATH: WHAT is at most
 *                     MAX bytes" when only reading does (a file that grew, or
 *                     standard input), and then *len is 0
 *   CS_ERR_NOMEM      "PATH: out of memory"
 *   CS_ERR_INVALID_ARG path or out NULL, or max too large
 * Callers that must keep a code of their own (a missing configuration has
 * always been CS_ERR_IO) map it where they call.
 */
int cs_file_read(const char *path, const char *what, size_t max, unsigned flags,
    char **out /* OUT */, size_t *len /* OUT */, struct cs_err *err);

/* Write all n bytes of p to fd (short writes continued, EINTR retried):
 * 0, or -1 with errno set. The write side of the files cs_file_read()
 * reads back (users file, CA certificates). */
int cs_write_all(int fd, const void *p, size_t n);

/* fsync the directory that holds path, so that a file just created or
 * renamed there survives a power cut. 0, or CS_ERR_IO ("PATH: fsync of its
 * directory: ...") / CS_ERR_INVALID_ARG (path too long). */
int cs_dir_sync(const char *path, struct cs_err *err);

#endif
