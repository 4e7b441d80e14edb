/*
 * json_locate.c: a small forward-only JSON scanner that follows a key path.
 *
 * DESIGN: it does not validate JSON (Jansson already did, or the text is
 * hostile fuzz input); it only needs to skip values correctly in valid text
 * and to terminate on anything else. Skipping a container counts brackets
 * outside strings, so there is no recursion and no depth limit to enforce.
 */
#include "station/json_locate.h"

#include <stdint.h>
#include <string.h>

struct jl_scan {
	const char *s;
	size_t len;
	size_t i;
};

static void
jl_skip_ws(struct jl_scan *sc)
{
	while (sc->i < sc->len) {
		char c = sc->s[sc->i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->i++;
	}
}

/* At '"': move past the closing quote. -1 if unterminated. */
static int
jl_skip_string(struct jl_scan *sc)
{
	sc->i++;
	while (sc->i < sc->len) {
		char c = sc->s[sc->i];
		if (c == '\\') {
			sc->i += 2;
			continue;
		}
		sc->i++;
		if (c == '"')
			return 0;
	}
	sc->i = sc->len;
	return -1;
}

/* Skip one value of any kind. -1 on malformed text. */
static int
jl_skip_value(struct jl_scan *sc)
{
	size_t depth = 0;

	if (sc->i >= sc->len)
		return -1;
	do {
		char c;

		if (sc->i >= sc->len)
			return -1;
		c = sc->s[sc->i];
		if (c == '"') {
			if (jl_skip_string(sc) != 0)
				return -1;
		} else if (c == '{' || c == '[') {
			depth++;
			sc->i++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return -1;
			depth--;
			sc->i++;
		} else if (depth == 0) {
			/* a scalar: runs to the next delimiter */
			size_t start = sc->i;
			while (sc->i < sc->len) {
				c = sc->s[sc->i];
				if (c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' ||
				    c == '\n' || c == '\r' || c == ':')
					break;
				sc->i++;
			}
			return sc->i > start ? 0 : -1;
		} else {
			sc->i++;
		}
	} while (depth > 0);
	return 0;
}

static int
jl_hex4(const char *p, size_t avail, uint32_t *out)
{
	uint32_t v = 0;

	if (avail < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t
jl_utf8_encode(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * At '"': decode the string while comparing it with key, and move past it.
 * 1 if equal, 0 if not, -1 on malformed text.
 */
static int
jl_string_equals(struct jl_scan *sc, const char *key, size_t key_len)
{
	size_t k = 0;
	int equal = 1;

	sc->i++;
	while (sc->i < sc->len) {
		unsigned char buf[4];
		size_t n;
		char c = sc->s[sc->i];

		if (c == '"') {
			sc->i++;
			return equal && k == key_len;
		}
		if (c != '\\') {
			buf[0] = (unsigned char)c;
			n = 1;
			sc->i++;
		} else {
			char e;

			if (sc->i + 1 >= sc->len)
				return -1;
			e = sc->s[sc->i + 1];
			sc->i += 2;
			n = 1;
			switch (e) {
			case '"': buf[0] = '"'; break;
			case '\\': buf[0] = '\\'; break;
			case '/': buf[0] = '/'; break;
			case 'b': buf[0] = '\b'; break;
			case 'f': buf[0] = '\f'; break;
			case 'n': buf[0] = '\n'; break;
			case 'r': buf[0] = '\r'; break;
			case 't': buf[0] = '\t'; break;
			case 'u': {
				uint32_t cp, lo;

				if (jl_hex4(sc->s + sc->i, sc->len - sc->i, &cp) != 0)
					return -1;
				sc->i += 4;
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					/* a high surrogate must pair with a low one */
					if (sc->i + 6 > sc->len || sc->s[sc->i] != '\\' ||
					    sc->s[sc->i + 1] != 'u' ||
					    jl_hex4(sc->s + sc->i + 2, 4, &lo) != 0 || lo < 0xDC00 ||
					    lo > 0xDFFF)
						return -1;
					sc->i += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
					return -1;
				}
				n = jl_utf8_encode(cp, buf);
				break;
			}
			default:
				return -1;
			}
		}
		for (size_t j = 0; j < n; j++) {
			if (k >= key_len || (unsigned char)key[k] != buf[j])
				equal = 0;
			k++;
		}
	}
	return -1;
}

void
json_locate_offset(const char *text, size_t len, size_t off, struct json_locate_pos *out)
{
	unsigned long line = 1, column = 1;

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n') {
			line++;
			column = 1;
		} else if ((c & 0xC0) != 0x80) {
			/* count characters, not UTF-8 continuation bytes */
			column++;
		}
	}
	out->line = line;
	out->column = column;
	out->offset = off;
}

/* At '{': find key; leave sc at its value and *key_at at its opening quote. */
static int
jl_find_member(struct jl_scan *sc, const struct json_locate_step *st, size_t *key_at)
{
	sc->i++;
	for (;;) {
		size_t at;
		int eq;

		jl_skip_ws(sc);
		if (sc->i >= sc->len)
			return CS_ERR_INVALID_ARG;
		if (sc->s[sc->i] == '}')
			return CS_ERR_NOT_FOUND;
		if (sc->s[sc->i] != '"')
			return CS_ERR_INVALID_ARG;
		at = sc->i;
		eq = jl_string_equals(sc, st->key, st->key_len);
		if (eq < 0)
			return CS_ERR_INVALID_ARG;
		jl_skip_ws(sc);
		if (sc->i >= sc->len || sc->s[sc->i] != ':')
			return CS_ERR_INVALID_ARG;
		sc->i++;
		jl_skip_ws(sc);
		if (eq) {
			*key_at = at;
			return 0;
		}
		if (jl_skip_value(sc) != 0)
			return CS_ERR_INVALID_ARG;
		jl_skip_ws(sc);
		if (sc->i >= sc->len)
			return CS_ERR_INVALID_ARG;
		if (sc->s[sc->i] == '}')
			return CS_ERR_NOT_FOUND;
		if (sc->s[sc->i] != ',')
			return CS_ERR_INVALID_ARG;
		sc->i++;
	}
}

/* At '[': move to element index. */
static int
jl_find_element(struct jl_scan *sc, size_t index)
{
	size_t k = 0;

	sc->i++;
	for (;;) {
		jl_skip_ws(sc);
		if (sc->i >= sc->len)
			return CS_ERR_INVALID_ARG;
		if (sc->s[sc->i] == ']')
			return CS_ERR_NOT_FOUND;
		if (k == index)
			return 0;
		if (jl_skip_value(sc) != 0)
			return CS_ERR_INVALID_ARG;
		jl_skip_ws(sc);
		if (sc->i >= sc->len)
			return CS_ERR_INVALID_ARG;
		if (sc->s[sc->i] == ']')
			return CS_ERR_NOT_FOUND;
		if (sc->s[sc->i] != ',')
			return CS_ERR_INVALID_ARG;
		sc->i++;
		k++;
	}
}

int
json_locate(const char *text, size_t len, const struct json_locate_step *steps, size_t n,
    struct json_locate_pos *out)
{
	struct jl_scan sc = {text, len, 0};
	size_t at;
	int rc;

	if (text == NULL || out == NULL || (n > 0 && steps == NULL) || n > JSON_LOCATE_MAX_STEPS)
		return CS_ERR_INVALID_ARG;
	/* a UTF-8 byte order mark is not part of the first value */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		sc.i = 3;
	jl_skip_ws(&sc);
	if (sc.i >= len)
		return CS_ERR_INVALID_ARG;
	at = sc.i;
	for (size_t k = 0; k < n; k++) {
		char open = steps[k].key != NULL ? '{' : '[';

		if (sc.s[sc.i] != open)
			return CS_ERR_NOT_FOUND;
		if (steps[k].key != NULL)
			rc = jl_find_member(&sc, &steps[k], &at);
		else {
			rc = jl_find_element(&sc, steps[k].index);
			at = sc.i;
		}
		if (rc != 0)
			return rc;
		if (sc.i >= len)
			return CS_ERR_INVALID_ARG;
	}
	json_locate_offset(text, len, at, out);
	return 0;
}

int
json_locate_path(const char *text, size_t len, const char *path, struct json_locate_pos *out)
{
	struct json_locate_step steps[JSON_LOCATE_MAX_STEPS];
	size_t n = 0;
	const char *p = path;

	if (path == NULL)
		return CS_ERR_INVALID_ARG;
	while (*p != '\0') {
		if (n == JSON_LOCATE_MAX_STEPS)
			return CS_ERR_INVALID_ARG;
		if (*p == '[') {
			size_t v = 0;

			p++;
			if (*p < '0' || *p > '9')
				return CS_ERR_INVALID_ARG;
			while (*p >= '0' && *p <= '9') {
				if (v > (SIZE_MAX - 9) / 10)
					return CS_ERR_INVALID_ARG;
				v = v * 10 + (size_t)(*p - '0');
				p++;
			}
			if (*p != ']')
				return CS_ERR_INVALID_ARG;
			p++;
			steps[n].key = NULL;
			steps[n].key_len = 0;
			steps[n].index = v;
			n++;
		} else {
			const char *start = p;

			while (*p != '\0' && *p != '.' && *p != '[')
				p++;
			steps[n].key = start;
			steps[n].key_len = (size_t)(p - start);
			steps[n].index = 0;
			n++;
		}
		if (*p == '.') {
			p++;
			if (*p == '\0' || *p == '.')
				return CS_ERR_INVALID_ARG;
		}
	}
	return json_locate(text, len, steps, n, out);
}
