/*
 * workorder.h: parser for work-order allowlists, CSV "device_id,lot,quota".
 *
 * Contract: a pure push parser (no I/O, no globals, no clock) that accepts
 * the file in chunks of any size, including 1 byte, and gives the same rows
 * and the same first error whatever the split. Everything is capped before
 * it is stored: the whole input (WORKORDER_FILE_MAX), a line
 * (WORKORDER_LINE_MAX), a field (WORKORDER_FIELD_MAX), the number of
 * distinct lots (WORKORDER_LOTS_MAX); memory use is bounded by those caps,
 * not by the input.
 *
 * Format: an optional header row "device_id,lot,quota" (detected by its
 * first field, case-insensitive); then one device per line. device_id and
 * lot: 1..64 printable ASCII characters without spaces; quota: a
 * non-negative whole number up to WORKORDER_QUOTA_MAX, or empty for "no
 * quota". The quota belongs to the lot, so rows of one lot must agree on it.
 * LF or CRLF line ends, a UTF-8 byte-order mark, blank lines, spaces around
 * fields and RFC 4180 quoted fields ("a""b") are accepted. Every rejection
 * names the input, the line, the column and the rule:
 * "workorder.csv line 17 column 3: quota 'abc' is not a number".
 *
 * Duplicate device IDs across lines are not detected here (that needs
 * unbounded memory); the ledger import detects them.
 */
#ifndef STATION_WORKORDER_H
#define STATION_WORKORDER_H

#include <stddef.h>
#include <stdint.h>

#include "station/cs_error.h"

#define WORKORDER_FILE_MAX (16u * 1024u * 1024u)
#define WORKORDER_LINE_MAX 1024
#define WORKORDER_FIELD_MAX 64
#define WORKORDER_LOTS_MAX 1024
#define WORKORDER_QUOTA_MAX 1000000000LL

/* One device row; the strings are valid only during the callback. */
struct workorder_row {
	const char *device_id;
	const char *lot;
	int64_t quota; /* -1: no quota */
	size_t line;   /* 1-based line number in the input */
	int lot_first; /* 1 on the first row of this lot in the input */
};

/* Called for each valid row in input order. Return 0 to go on, or a
 * negative code (with err filled) to stop the parse with that error. */
typedef int (*workorder_row_fn)(const struct workorder_row *row, void *arg,
    struct cs_err *err);

struct workorder_parser;

/* New parser; name (e.g. the file's base name) starts every error message.
 * NULL on out of memory. */
struct workorder_parser *workorder_parser_new(const char *name);

/* NULL is fine. */
void workorder_parser_free(struct workorder_parser *p);

/* Feed the next len bytes; fn (may be NULL) receives each complete row.
 * 0, or the first error (sticky: later calls return it again). */
int workorder_parser_feed(struct workorder_parser *p, const void *data, size_t len,
    workorder_row_fn fn, void *arg, struct cs_err *err);

/* End of input: parses a last line without a newline and rejects a work
 * order without any device row. 0 or the first error. */
int workorder_parser_finish(struct workorder_parser *p, workorder_row_fn fn, void *arg,
    struct cs_err *err);

/* Rows delivered and distinct lots seen so far. */
size_t workorder_parser_rows(const struct workorder_parser *p);
size_t workorder_parser_lots(const struct workorder_parser *p);

/* Whole buffer in one call: new + feed + finish + free. rows/lots may be
 * NULL. */
int workorder_parse(const char *name, const void *data, size_t len, workorder_row_fn fn,
    void *arg, size_t *rows /* OUT */, size_t *lots /* OUT */, struct cs_err *err);

#endif
