/*
 * fuzz_workorder.c: the work-order parser on arbitrary bytes. Besides "no
 * crash", it checks the parser's promise that the split does not matter:
 * whole input and 1-byte / first-byte-sized chunks give the same status,
 * message and row count.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "station/workorder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count_row(const struct workorder_row *row, void *arg, struct cs_err *err)
{
	size_t *n = arg;

	(void)err;
	/* what the callback sees is what the header promises */
	if (row->device_id[0] == '\0' || strlen(row->device_id) > WORKORDER_FIELD_MAX ||
	    row->lot[0] == '\0' || strlen(row->lot) > WORKORDER_FIELD_MAX ||
	    row->quota < -1 || row->quota > WORKORDER_QUOTA_MAX || row->line == 0)
		abort();
	(*n)++;
	return 0;
}

static int
parse_chunked(const uint8_t *data, size_t size, size_t step, size_t *rows, struct cs_err *err)
{
	struct workorder_parser *p = workorder_parser_new("fuzz.csv");
	size_t off = 0;
	int rc = 0;

	if (p == NULL)
		abort();
	*rows = 0;
	while (rc == 0 && off < size) {
		size_t n = size - off < step ? size - off : step;

		rc = workorder_parser_feed(p, data + off, n, count_row, rows, err);
		off += n;
	}
	if (rc == 0)
		rc = workorder_parser_finish(p, count_row, rows, err);
	workorder_parser_free(p);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_err e1 = {0}, e2 = {0}, e3 = {0};
	size_t r1 = 0, r2 = 0, r3 = 0;
	int rc1, rc2, rc3;

	rc1 = workorder_parse("fuzz.csv", data, size, count_row, &r1, NULL, NULL, &e1);
	rc2 = parse_chunked(data, size, 1, &r2, &e2);
	rc3 = parse_chunked(data, size, size > 0 ? (size_t)data[0] % 13 + 1 : 1, &r3, &e3);
	if (rc1 != rc2 || rc1 != rc3 || r1 != r2 || r1 != r3 || strcmp(e1.msg, e2.msg) != 0 ||
	    strcmp(e1.msg, e3.msg) != 0)
		abort();
	if (rc1 != 0 && e1.msg[0] == '\0')
		abort();
	return 0;
}
