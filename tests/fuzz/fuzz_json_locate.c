/*
 * fuzz_json_locate.c: arbitrary text and path for the key locator.
 * Input: the path (json_locate_path syntax) up to the first newline, then
 * the JSON text. Also walks the same text with raw steps taken from the
 * path bytes, so keys with '.', '[' and NUL get exercised too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "station/json_locate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size < 256 ? size : 256);
	char path[257];
	size_t plen, tlen;
	const char *text;
	struct json_locate_pos pos;
	struct json_locate_step steps[JSON_LOCATE_MAX_STEPS + 1];
	size_t n = 0;

	if (nl == NULL)
		return 0;
	plen = (size_t)(nl - in);
	memcpy(path, in, plen);
	path[plen] = '\0';
	text = nl + 1;
	tlen = size - plen - 1;

	if (json_locate_path(text, tlen, path, &pos) == 0 && pos.offset >= tlen)
		abort();

	/* raw steps: each byte below 0x10 is an index, the rest are 1..3-byte keys */
	for (size_t i = 0; i < plen && n <= JSON_LOCATE_MAX_STEPS; n++) {
		if ((unsigned char)path[i] < 0x10) {
			steps[n].key = NULL;
			steps[n].key_len = 0;
			steps[n].index = (unsigned char)path[i];
			i++;
		} else {
			size_t k = plen - i < 3 ? plen - i : 3;
			steps[n].key = path + i;
			steps[n].key_len = k;
			steps[n].index = 0;
			i += k;
		}
	}
	if (json_locate(text, tlen, steps, n, &pos) == 0) {
		struct json_locate_pos again;

		if (pos.offset >= tlen)
			abort();
		json_locate_offset(text, tlen, pos.offset, &again);
		if (again.line != pos.line || again.column != pos.column)
			abort();
	}
	return 0;
}
