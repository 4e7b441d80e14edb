/*
 * web_parse.c: parsers of untrusted request bytes (contract in web_parse.h).
 *
 * Each parser checks the length first, then walks the bytes once with
 * explicit bounds; nothing here allocates, so a hostile request costs at
 * most one pass over at most a few KiB.
 */
#include "web-ui/web_parse.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int
hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Decode in[0..len) into t->buf at *used; NUL-terminate; *out points at it. */
static int
decode_piece(struct web_target *t, size_t *used, const char *in, size_t len, int plus_space,
    size_t max, const char **out, struct cs_err *err)
{
	size_t o = *used, start = *used, i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return cs_err_set(err, CS_ERR_INVALID_ARG,
				    "request target: '%%' at the end without two hex digits");
			hi = hex_val((unsigned char)in[i + 1]);
			lo = hex_val((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return cs_err_set(err, CS_ERR_INVALID_ARG,
				    "request target: '%%' must be followed by two hex digits");
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (is_ctl(c))
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "request target: control character (0x%02x) not allowed", c);
		if (o - start >= max)
			return cs_err_set(err, CS_ERR_TOO_LARGE,
			    "request target: a path segment or parameter is longer than %zu bytes", max);
		if (o + 1 >= sizeof(t->buf))
			return cs_err_set(err, CS_ERR_TOO_LARGE, "request target is too long");
		t->buf[o++] = (char)c;
	}
	if (o >= sizeof(t->buf))
		return cs_err_set(err, CS_ERR_TOO_LARGE, "request target is too long");
	t->buf[o++] = '\0';
	*out = t->buf + start;
	*used = o;
	return 0;
}

int
web_target_parse(const char *uri, size_t len, struct web_target *t, struct cs_err *err)
{
	const char *q, *p, *end;
	size_t used = 0, path_len;
	int rc;

	cs_err_clear(err);
	memset(t, 0, offsetof(struct web_target, buf));
	t->buf[0] = '\0';
	if (uri == NULL || len == 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "request target is empty");
	if (len > WEB_URI_MAX)
		return cs_err_set(err, CS_ERR_TOO_LARGE,
		    "request target is %zu bytes; the limit is %d", len, WEB_URI_MAX);
	if (uri[0] != '/')
		return cs_err_set(err, CS_ERR_INVALID_ARG, "request target must start with '/'");
	if (memchr(uri, '#', len) != NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "request target must not hold a fragment ('#')");
	q = memchr(uri, '?', len);
	path_len = q != NULL ? (size_t)(q - uri) : len;

	/* path: segments after each '/' */
	p = uri + 1;
	end = uri + path_len;
	if (path_len > 1) {
		for (;;) {
			const char *slash = memchr(p, '/', (size_t)(end - p));
			const char *seg_end = slash != NULL ? slash : end;

			if (t->seg_count >= WEB_PATH_SEGS_MAX)
				return cs_err_set(err, CS_ERR_TOO_LARGE,
				    "request path has more than %d segments", WEB_PATH_SEGS_MAX);
			rc = decode_piece(t, &used, p, (size_t)(seg_end - p), 0, WEB_SEGMENT_MAX,
			    &t->seg[t->seg_count], err);
			if (rc != 0)
				return rc;
			t->seg_count++;
			if (slash == NULL)
				break;
			p = slash + 1;
		}
	}

	/* query: key[=value] pairs between '&' */
	if (q != NULL) {
		p = q + 1;
		end = uri + len;
		while (p < end) {
			const char *amp = memchr(p, '&', (size_t)(end - p));
			const char *pair_end = amp != NULL ? amp : end;
			const char *eq = memchr(p, '=', (size_t)(pair_end - p));
			const char *key_end = eq != NULL ? eq : pair_end;
			size_t k = t->pair_count;

			if (pair_end == p) {
				p = pair_end + 1;
				continue;
			}
			if (key_end == p)
				return cs_err_set(err, CS_ERR_INVALID_ARG,
				    "query string: a parameter has no name");
			if (k >= WEB_QUERY_PAIRS_MAX)
				return cs_err_set(err, CS_ERR_TOO_LARGE,
				    "query string has more than %d parameters", WEB_QUERY_PAIRS_MAX);
			rc = decode_piece(t, &used, p, (size_t)(key_end - p), 1, 64, &t->key[k], err);
			if (rc == 0)
				rc = decode_piece(t, &used, eq != NULL ? eq + 1 : pair_end,
				    eq != NULL ? (size_t)(pair_end - eq - 1) : 0, 1, WEB_URI_MAX,
				    &t->value[k], err);
			if (rc != 0)
				return rc;
			for (size_t j = 0; j < k; j++)
				if (strcmp(t->key[j], t->key[k]) == 0)
					return cs_err_set(err, CS_ERR_INVALID_ARG,
					    "query string: parameter '%s' is given twice", t->key[k]);
			t->pair_count++;
			if (amp == NULL)
				break;
			p = amp + 1;
		}
	}
	return 0;
}

const char *
web_target_query(const struct web_target *t, const char *key)
{
	for (size_t k = 0; k < t->pair_count; k++)
		if (strcmp(t->key[k], key) == 0)
			return t->value[k];
	return NULL;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int
web_bearer_match(const char *header, size_t len, const char *token)
{
	size_t i = 6, tlen;
	unsigned diff = 0;

	if (header == NULL || token == NULL || len > WEB_AUTH_HEADER_MAX || token[0] == '\0')
		return 0;
	if (len < 8 || strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
		return 0;
	while (i < len && header[i] == ' ')
		i++;
	while (len > i && header[len - 1] == ' ')
		len--;
	tlen = strlen(token);
	if (len - i != tlen)
		return 0;
	for (size_t k = 0; k < tlen; k++)
		diff |= (unsigned)(unsigned char)(header[i + k] ^ token[k]);
	return diff == 0;
}

int
web_cookie_find(const char *header, size_t len, const char *name, char *out, size_t cap)
{
	size_t i = 0, name_len = strlen(name);

	if (cap > 0)
		out[0] = '\0';
	if (header == NULL)
		return CS_ERR_NOT_FOUND;
	if (len > WEB_COOKIE_HEADER_MAX)
		return CS_ERR_TOO_LARGE;
	while (i < len) {
		size_t n0, n1, v0, v1;

		while (i < len && (is_ows(header[i]) || header[i] == ';'))
			i++;
		n0 = i;
		while (i < len && header[i] != '=' && header[i] != ';')
			i++;
		if (i >= len || header[i] == ';')
			continue; /* a piece without '=' is ignored (RFC 6265 5.2) */
		n1 = i;
		while (n1 > n0 && is_ows(header[n1 - 1]))
			n1--;
		i++; /* '=' */
		while (i < len && is_ows(header[i]))
			i++;
		v0 = i;
		while (i < len && header[i] != ';')
			i++;
		v1 = i;
		while (v1 > v0 && is_ows(header[v1 - 1]))
			v1--;
		if (v1 - v0 >= 2 && header[v0] == '"' && header[v1 - 1] == '"') {
			v0++;
			v1--;
		}
		if (n1 - n0 == name_len && memcmp(header + n0, name, name_len) == 0) {
			if (v1 - v0 + 1 > cap)
				return CS_ERR_TOO_LARGE;
			memcpy(out, header + v0, v1 - v0);
			out[v1 - v0] = '\0';
			return 0;
		}
	}
	return CS_ERR_NOT_FOUND;
}

enum web_json_refusal
web_json_prescan(const char *buf, size_t len, struct cs_err *err)
{
	char stack[WEB_JSON_DEPTH_MAX];
	size_t depth = 0, values = 1, str_start = 0, i;
	int in_str = 0, esc = 0;

	cs_err_clear(err);
	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (c == '\0') {
			cs_err_set(err, CS_ERR_INVALID_ARG, "JSON body holds a NUL byte at offset %zu", i);
			return WEB_JSON_MALFORMED;
		}
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			if (in_str && i - str_start > WEB_JSON_STRING_MAX) {
				cs_err_set(err, CS_ERR_TOO_LARGE,
				    "JSON body: string at offset %zu is longer than %d bytes", str_start,
				    WEB_JSON_STRING_MAX);
				return WEB_JSON_TOO_LARGE;
			}
			continue;
		}
		switch (c) {
		case '"':
			in_str = 1;
			str_start = i;
			break;
		case '[':
		case '{':
			if (depth >= WEB_JSON_DEPTH_MAX) {
				cs_err_set(err, CS_ERR_TOO_LARGE,
				    "JSON body nests deeper than %d levels (offset %zu)",
				    WEB_JSON_DEPTH_MAX, i);
				return WEB_JSON_TOO_DEEP;
			}
			stack[depth++] = c;
			values++;
			break;
		case ']':
		case '}':
			if (depth == 0 || stack[depth - 1] != (c == ']' ? '[' : '{')) {
				cs_err_set(err, CS_ERR_INVALID_ARG,
				    "JSON body: unmatched '%c' at offset %zu", c, i);
				return WEB_JSON_MALFORMED;
			}
			depth--;
			break;
		case ',':
			values++;
			break;
		default:
			break;
		}
		if (values > WEB_JSON_VALUES_MAX) {
			cs_err_set(err, CS_ERR_TOO_LARGE, "JSON body has more than %d values",
			    WEB_JSON_VALUES_MAX);
			return WEB_JSON_TOO_LARGE;
		}
	}
	if (in_str) {
		cs_err_set(err, CS_ERR_INVALID_ARG, "JSON body: string at offset %zu is not closed",
		    str_start);
		return WEB_JSON_MALFORMED;
	}
	if (depth != 0) {
		cs_err_set(err, CS_ERR_INVALID_ARG, "JSON body ends inside %zu open bracket(s)", depth);
		return WEB_JSON_MALFORMED;
	}
	return WEB_JSON_OK;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil): no time zone, no libc state. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
web_time_parse(const char *s, int64_t *us)
{
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	size_t len, i;
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t frac_us = 0;

	if (s == NULL)
		return CS_ERR_INVALID_ARG;
	len = strnlen(s, 40);
	if (len == 0 || len >= 40)
		return CS_ERR_INVALID_ARG;
	if (strspn(s, "0123456789") == len) {
		uint64_t ms;

		if (len > 15 || web_uint_parse(s, UINT64_C(999999999999999), &ms) != 0)
			return CS_ERR_INVALID_ARG;
		*us = (int64_t)ms * 1000;
		return 0;
	}
	if (len < 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) != 0 ||
	    digits(s + 5, 2, &mo) != 0 || digits(s + 8, 2, &d) != 0)
		return CS_ERR_INVALID_ARG;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return CS_ERR_INVALID_ARG;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return CS_ERR_INVALID_ARG;
	i = 10;
	if (len > 10) {
		if (len < 17 || s[10] != 'T' || s[13] != ':' || digits(s + 11, 2, &h) != 0 ||
		    digits(s + 14, 2, &mi) != 0)
			return CS_ERR_INVALID_ARG;
		i = 16;
		if (s[i] == ':') {
			if (len < i + 3 || digits(s + i + 1, 2, &sec) != 0)
				return CS_ERR_INVALID_ARG;
			i += 3;
			if (s[i] == '.') {
				size_t nd = 0;
				int64_t scale = 100000;

				for (i++; s[i] >= '0' && s[i] <= '9'; i++, nd++) {
					if (nd >= 9)
						return CS_ERR_INVALID_ARG;
					frac_us += (s[i] - '0') * scale;
					scale /= 10;
				}
				if (nd == 0)
					return CS_ERR_INVALID_ARG;
			}
		}
		if (s[i] != 'Z' || i + 1 != len)
			return CS_ERR_INVALID_ARG;
		if (h > 23 || mi > 59 || sec > 59)
			return CS_ERR_INVALID_ARG;
	}
	*us = ((days_from_civil(y, mo, d) * 86400) + h * 3600 + mi * 60 + sec) * INT64_C(1000000) +
	      frac_us;
	return 0;
}

void
web_time_format(int64_t us, char *out, size_t cap)
{
	int64_t sec = us / 1000000, rem = us % 1000000;
	time_t tt;
	struct tm tm;
	char base[32];

	if (rem < 0) {
		rem += 1000000;
		sec--;
	}
	tt = (time_t)sec;
	if (gmtime_r(&tt, &tm) == NULL || strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, cap, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, cap, "%.20s.%03dZ", base, (int)(rem / 1000));
}

int
web_uint_parse(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0')
		return CS_ERR_INVALID_ARG;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned dgt;

		if (i >= 19 || s[i] < '0' || s[i] > '9')
			return CS_ERR_INVALID_ARG;
		dgt = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - dgt) / 10)
			return CS_ERR_INVALID_ARG;
		v = v * 10 + dgt;
	}
	if (v > max)
		return CS_ERR_INVALID_ARG;
	*out = v;
	return 0;
}

int
web_allow_match(char *const *list, size_t count, const char *value)
{
	if (value == NULL)
		return 0;
	for (size_t k = 0; k < count; k++)
		if (list[k] != NULL && strcasecmp(list[k], value) == 0)
			return 1;
	return 0;
}
