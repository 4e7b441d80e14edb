/*
 * web_parse.h: the dashboard server's parsers of untrusted request bytes:
 * request target (path segments and query string), Cookie header, JSON body
 * pre-scan, time and number parameters, Host/Origin allow lists.
 *
 * Contract: pure functions over (pointer, length): no I/O, no clock, no
 * globals, no allocation. Every input is capped before it is looked at
 * (WEB_URI_MAX, WEB_COOKIE_HEADER_MAX, ...); a refusal returns a negative
 * CS_ERR_* and, where an err is taken, a sentence naming what was wrong,
 * which the server sends back in the 4xx body. Fuzzed by
 * tests/fuzz/fuzz_web_*.c.
 *
 * Threads: any thread; no shared state.
 */
#ifndef WEB_UI_WEB_PARSE_H
#define WEB_UI_WEB_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "station/config.h"
#include "station/cs_error.h"

#define WEB_URI_MAX 2048          /* request target, path + query */
#define WEB_PATH_SEGS_MAX 8
#define WEB_SEGMENT_MAX 255       /* one decoded path segment */
#define WEB_QUERY_PAIRS_MAX 16
#define WEB_COOKIE_HEADER_MAX 8192
#define WEB_JSON_DEPTH_MAX 8
#define WEB_JSON_STRING_MAX 4096
#define WEB_JSON_VALUES_MAX 1024

/* A request target split and percent-decoded. Path segments between '/';
 * "/" has no segments, "/a/" has "a" and "". Query keys and values are
 * decoded ('+' is a space in the query). Decoded text never holds NUL or
 * other control bytes: they are refused. */
struct web_target {
	size_t seg_count;
	const char *seg[WEB_PATH_SEGS_MAX];
	size_t pair_count;
	const char *key[WEB_QUERY_PAIRS_MAX];
	const char *value[WEB_QUERY_PAIRS_MAX];
	char buf[WEB_URI_MAX + WEB_PATH_SEGS_MAX + 2 * WEB_QUERY_PAIRS_MAX + 2]; /* private */
};

/* Parse an origin-form request target ("/path?query"). 0, or
 * CS_ERR_TOO_LARGE (longer than WEB_URI_MAX, too many segments or pairs, a
 * segment over WEB_SEGMENT_MAX) or CS_ERR_INVALID_ARG (not starting with
 * '/', bad %-escape, control byte, a query key given twice), with err. */
int web_target_parse(const char *uri, size_t len, struct web_target *t /* OUT */,
    struct cs_err *err);

/* The value of query key, or NULL. */
const char *web_target_query(const struct web_target *t, const char *key);

/* Find cookie name in a Cookie header (RFC 6265 section 5.4 syntax:
 * "a=1; b=2", optional quotes around a value). The first occurrence wins.
 * 0 with the value copied to out (NUL-terminated), CS_ERR_NOT_FOUND,
 * CS_ERR_TOO_LARGE (header over WEB_COOKIE_HEADER_MAX or value not fitting
 * cap). */
int web_cookie_find(const char *header, size_t len, const char *name, char *out, size_t cap);

/* Whether an Authorization header (RFC 6750: "Bearer", any case, then one
 * or more spaces and the token; trailing spaces ignored) carries exactly
 * token. The comparison takes the same time wherever the bytes differ.
 * Headers over WEB_AUTH_HEADER_MAX bytes, an empty token and NULLs never
 * match. 1 or 0. */
#define WEB_AUTH_HEADER_MAX 1024
int web_bearer_match(const char *header, size_t len, const char *token);

/* Why a JSON pre-scan refused a body. */
enum web_json_refusal {
	WEB_JSON_OK = 0,
	WEB_JSON_TOO_DEEP,     /* nesting over WEB_JSON_DEPTH_MAX */
	WEB_JSON_TOO_LARGE,    /* a string over WEB_JSON_STRING_MAX, or over WEB_JSON_VALUES_MAX values */
	WEB_JSON_MALFORMED,    /* brackets that cannot balance, a NUL byte, an unterminated string */
};

/* Look at a JSON text without building anything, before Jansson parses it:
 * depth of nesting, string lengths, number of values. Syntax beyond
 * brackets and strings is Jansson's job. WEB_JSON_OK (0) or the refusal,
 * with err naming the byte offset. */
enum web_json_refusal web_json_prescan(const char *buf, size_t len, struct cs_err *err);

/* A time parameter: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.fraction]]Z"
 * (UTC, years 1970..9999, fraction up to 9 digits) or an integer number of
 * Unix milliseconds (up to 15 digits). 0 with *us, or CS_ERR_INVALID_ARG. */
int web_time_parse(const char *s, int64_t *us /* OUT */);

/* "2025-03-04T10:15:02.123Z" into out (at least 32 bytes). */
void web_time_format(int64_t us, char *out, size_t cap);

/* A decimal integer 0..max, no sign, no spaces, at most 19 digits.
 * 0 with *out, or CS_ERR_INVALID_ARG. */
int web_uint_parse(const char *s, uint64_t max, uint64_t *out /* OUT */);

/* 1 if value equals one of list (ASCII case-insensitive), else 0. */
int web_allow_match(char *const *list, size_t count, const char *value);

#endif
