/*
 * fuzz_web_target.c: arbitrary request targets for the dashboard's path
 * and query parser, and the parameter parsers handlers run on what it
 * returns (times, numbers). Invariants: an accepted target has at most the
 * capped number of segments and pairs, each decoded piece is a
 * NUL-terminated string without control bytes inside the parser's buffer,
 * and an accepted time formats back to a string that parses to the same
 * microsecond rounded down to the millisecond.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web-ui/web_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
piece_check(const struct web_target *t, const char *p, size_t max)
{
	size_t n;

	if (p < t->buf || p >= t->buf + sizeof(t->buf))
		abort();
	n = strnlen(p, (size_t)(t->buf + sizeof(t->buf) - p));
	if (n > max || p + n >= t->buf + sizeof(t->buf))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct web_target t;
	struct cs_err err;
	int64_t us, again;
	uint64_t v;
	char buf[48];

	if (web_target_parse((const char *)data, size, &t, &err) != 0)
		return 0;
	if (t.seg_count > WEB_PATH_SEGS_MAX || t.pair_count > WEB_QUERY_PAIRS_MAX)
		abort();
	for (size_t k = 0; k < t.seg_count; k++)
		piece_check(&t, t.seg[k], WEB_SEGMENT_MAX);
	for (size_t k = 0; k < t.pair_count; k++) {
		piece_check(&t, t.key[k], 64);
		piece_check(&t, t.value[k], WEB_URI_MAX);
		if (web_target_query(&t, t.key[k]) != t.value[k])
			abort(); /* keys are unique */
		/* years past 9999 (15-digit milliseconds) do not format back */
		if (web_time_parse(t.value[k], &us) == 0 && us < INT64_C(253402300800000000)) {
			web_time_format(us, buf, sizeof(buf));
			if (web_time_parse(buf, &again) != 0 || again != us - us % 1000)
				abort();
		}
		if (web_uint_parse(t.value[k], 500, &v) == 0 && v > 500)
			abort();
	}
	return 0;
}
