/*
 * fuzz_web_json.c: arbitrary request bodies through the JSON pre-scan and,
 * when it lets them through, Jansson, exactly as the server does.
 * Invariant: whatever Jansson builds from a body the pre-scan accepted
 * nests no deeper than WEB_JSON_DEPTH_MAX and holds no string longer than
 * WEB_JSON_STRING_MAX bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "web-ui/web_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
depth_of(json_t *j)
{
	size_t d = 0, k;
	const char *key;
	json_t *v;

	if (json_is_array(j)) {
		json_array_foreach(j, k, v)
		{
			size_t c = depth_of(v);

			if (c > d)
				d = c;
		}
		return d + 1;
	}
	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
		{
			size_t c = depth_of(v);

			if (strlen(key) > WEB_JSON_STRING_MAX)
				abort();
			if (c > d)
				d = c;
		}
		return d + 1;
	}
	if (json_is_string(j) && json_string_length(j) > WEB_JSON_STRING_MAX)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_err err;
	json_error_t jerr;
	json_t *j;

	if (size > 64 * 1024)
		return 0; /* the server refuses larger bodies before this point */
	if (web_json_prescan((const char *)data, size, &err) != WEB_JSON_OK)
		return 0;
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		return 0;
	if (depth_of(j) > WEB_JSON_DEPTH_MAX)
		abort();
	json_decref(j);
	return 0;
}
