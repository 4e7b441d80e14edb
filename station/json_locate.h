/*
 * json_locate.h: where a key path sits in JSON source text.
 *
 * Jansson keeps no positions per value, yet a configuration error is only
 * useful with "FILE:LINE:COLUMN". json_locate() walks the original text along
 * a path of object keys and array indices and reports the line and column of
 * the key (for an object member) or of the element (for an array index).
 *
 * Contract: pure and bounded: no allocation, no recursion, each byte of the
 * text is looked at a bounded number of times. Any text is accepted (it
 * may be malformed: then the answer is CS_ERR_NOT_FOUND or
 * CS_ERR_INVALID_ARG, never a crash). Keys are compared after decoding JSON
 * string escapes, so "wid\u0067et" matches widget. Lines and columns start at
 * 1; the column counts characters (UTF-8 sequences), as Jansson does.
 * Any thread.
 */
#ifndef STATION_JSON_LOCATE_H
#define STATION_JSON_LOCATE_H

#include <stddef.h>

#include "station/cs_error.h"

#define JSON_LOCATE_MAX_STEPS 32

/* One step of a path: an object key (key != NULL, key_len bytes, may hold
 * NUL bytes) or, with key == NULL, an array index. */
struct json_locate_step {
	const char *key;
	size_t key_len;
	size_t index;
};

struct json_locate_pos {
	unsigned long line;
	unsigned long column;
	size_t offset; /* byte offset into the text */
};

/* Position of the member or element the path names; n == 0 names the root
 * value. 0 and *out, CS_ERR_NOT_FOUND if the path is absent, or
 * CS_ERR_INVALID_ARG for malformed text or n > JSON_LOCATE_MAX_STEPS. */
int json_locate(const char *text, size_t len, const struct json_locate_step *steps, size_t n,
    struct json_locate_pos *out /* OUT */);

/* The same with a textual path: keys separated by '.', indices as "[N]", e.g.
 * "profiles.widget-a.subject[0].CN". Keys containing '.' or '[' cannot be
 * written this way; use json_locate(). "" names the root. */
int json_locate_path(const char *text, size_t len, const char *path,
    struct json_locate_pos *out /* OUT */);

/* Line and column of byte offset off (clamped to len). */
void json_locate_offset(const char *text, size_t len, size_t off,
    struct json_locate_pos *out /* OUT */);

#endif
