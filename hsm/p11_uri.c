/*
 * p11_uri.c: RFC 7512 PKCS#11 URI parser (see p11_uri.h).
 *
 * The input comes from configuration files and command lines, so it is
 * treated as hostile: the length is capped before anything else, every
 * decoded value has a fixed-size home and overflowing it is an error, and
 * every refusal names the attribute and the byte offset.
 */
#include "hsm/p11_uri.h"

#include <string.h>

struct uri_cursor {
	const char *s; /* whole URI, for offsets */
	size_t len;
};

static int
uri_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode [v, v+vlen) into out (capacity cap bytes; for strings the caller
 * passes cap-1 and terminates). Refuses bare non-printable bytes, malformed
 * escapes and overflow. */
static int
uri_value_decode(const struct uri_cursor *c, const char *name, const char *v, size_t vlen,
    uint8_t *out, size_t cap, size_t *out_len, struct cs_err *err)
{
	size_t i, n = 0;
	size_t base = (size_t)(v - c->s);

	for (i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)v[i];
		uint8_t b;

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= vlen)
				return cs_err_set(err, CS_ERR_CONFIG,
				    "PKCS#11 URI: attribute '%s' has a truncated percent escape at offset %zu",
				    name, base + i);
			hi = uri_hex_value(v[i + 1]);
			lo = uri_hex_value(v[i + 2]);
			if (hi < 0 || lo < 0)
				return cs_err_set(err, CS_ERR_CONFIG,
				    "PKCS#11 URI: attribute '%s' has a malformed percent escape at offset %zu "
				    "(RFC 3986 needs '%%' and two hex digits)",
				    name, base + i);
			b = (uint8_t)(hi * 16 + lo);
			i += 2;
		} else if (ch <= 0x20 || ch >= 0x7f) {
			return cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: attribute '%s' has byte 0x%02x at offset %zu that must be "
			    "percent-encoded (RFC 7512 section 2.3)",
			    name, ch, base + i);
		} else {
			b = (uint8_t)ch;
		}
		if (n >= cap)
			return cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: attribute '%s' at offset %zu is longer than %zu bytes once decoded",
			    name, base, cap);
		out[n++] = b;
	}
	*out_len = n;
	return CS_OK;
}

/* Decode into a NUL-terminated string of capacity cap (value <= cap-1 bytes). */
static int
uri_string_decode(const struct uri_cursor *c, const char *name, const char *v, size_t vlen,
    char *out, size_t cap, struct cs_err *err)
{
	size_t n = 0;
	int rc;

	rc = uri_value_decode(c, name, v, vlen, (uint8_t *)out, cap - 1, &n, err);
	if (rc != CS_OK)
		return rc;
	if (memchr(out, '\0', n) != NULL)
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI: attribute '%s' at offset %zu decodes to a NUL byte",
		    name, (size_t)(v - c->s));
	out[n] = '\0';
	return CS_OK;
}

static int
uri_dup(const struct uri_cursor *c, int *seen, const char *name, const char *at, struct cs_err *err)
{
	if (*seen)
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI: attribute '%s' appears twice (second at offset %zu)", name,
		    (size_t)(at - c->s));
	*seen = 1;
	return CS_OK;
}

static int
uri_name_is(const char *n, size_t nlen, const char *want)
{
	return strlen(want) == nlen && memcmp(n, want, nlen) == 0;
}

static int
uri_path_attr(const struct uri_cursor *c, const char *n, size_t nlen, const char *v, size_t vlen,
    struct p11_uri *u, int *seen_type, struct cs_err *err)
{
	int rc;

	if (uri_name_is(n, nlen, "token")) {
		rc = uri_dup(c, &u->has_token, "token", n, err);
		if (rc == CS_OK)
			rc = uri_string_decode(c, "token", v, vlen, u->token, sizeof(u->token), err);
		return rc;
	}
	if (uri_name_is(n, nlen, "manufacturer")) {
		rc = uri_dup(c, &u->has_manufacturer, "manufacturer", n, err);
		if (rc == CS_OK)
			rc = uri_string_decode(c, "manufacturer", v, vlen, u->manufacturer,
			    sizeof(u->manufacturer), err);
		return rc;
	}
	if (uri_name_is(n, nlen, "serial")) {
		rc = uri_dup(c, &u->has_serial, "serial", n, err);
		if (rc == CS_OK)
			rc = uri_string_decode(c, "serial", v, vlen, u->serial, sizeof(u->serial), err);
		return rc;
	}
	if (uri_name_is(n, nlen, "model")) {
		rc = uri_dup(c, &u->has_model, "model", n, err);
		if (rc == CS_OK)
			rc = uri_string_decode(c, "model", v, vlen, u->model, sizeof(u->model), err);
		return rc;
	}
	if (uri_name_is(n, nlen, "object")) {
		rc = uri_dup(c, &u->has_object, "object", n, err);
		if (rc == CS_OK)
			rc = uri_string_decode(c, "object", v, vlen, u->object, sizeof(u->object), err);
		if (rc == CS_OK && u->object[0] == '\0')
			rc = cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: attribute 'object' at offset %zu is empty",
			    (size_t)(n - c->s));
		return rc;
	}
	if (uri_name_is(n, nlen, "id")) {
		rc = uri_dup(c, &u->has_id, "id", n, err);
		if (rc == CS_OK)
			rc = uri_value_decode(c, "id", v, vlen, u->id, sizeof(u->id), &u->id_len, err);
		if (rc == CS_OK && u->id_len == 0)
			rc = cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: attribute 'id' at offset %zu is empty", (size_t)(n - c->s));
		return rc;
	}
	if (uri_name_is(n, nlen, "type")) {
		char t[16];

		rc = uri_dup(c, seen_type, "type", n, err);
		if (rc == CS_OK)
			rc = uri_string_decode(c, "type", v, vlen, t, sizeof(t), err);
		if (rc != CS_OK)
			return rc;
		if (strcmp(t, "private") == 0)
			u->type = P11_URI_TYPE_PRIVATE;
		else if (strcmp(t, "public") == 0)
			u->type = P11_URI_TYPE_PUBLIC;
		else if (strcmp(t, "cert") == 0)
			u->type = P11_URI_TYPE_CERT;
		else if (strcmp(t, "secret-key") == 0)
			u->type = P11_URI_TYPE_SECRET_KEY;
		else if (strcmp(t, "data") == 0)
			u->type = P11_URI_TYPE_DATA;
		else
			return cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: type '%s' at offset %zu is not one of private, public, cert, "
			    "secret-key, data",
			    t, (size_t)(v - c->s));
		return CS_OK;
	}
	if (uri_name_is(n, nlen, "slot-id")) {
		unsigned long val = 0;
		size_t i;

		rc = uri_dup(c, &u->has_slot_id, "slot-id", n, err);
		if (rc != CS_OK)
			return rc;
		if (vlen == 0 || vlen > 20)
			return cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: slot-id at offset %zu must be 1 to 20 decimal digits",
			    (size_t)(v - c->s));
		for (i = 0; i < vlen; i++) {
			unsigned d;

			if (v[i] < '0' || v[i] > '9')
				return cs_err_set(err, CS_ERR_CONFIG,
				    "PKCS#11 URI: slot-id has non-digit '%c' at offset %zu",
				    v[i] > 0x20 && v[i] < 0x7f ? v[i] : '?', (size_t)(v + i - c->s));
			d = (unsigned)(v[i] - '0');
			if (val > (~0UL - d) / 10)
				return cs_err_set(err, CS_ERR_CONFIG,
				    "PKCS#11 URI: slot-id at offset %zu does not fit CK_SLOT_ID",
				    (size_t)(v - c->s));
			val = val * 10 + d;
		}
		u->slot_num = val;
		return CS_OK;
	}
	if (uri_name_is(n, nlen, "library-manufacturer") ||
	    uri_name_is(n, nlen, "library-description") ||
	    uri_name_is(n, nlen, "library-version") || uri_name_is(n, nlen, "slot-description") ||
	    uri_name_is(n, nlen, "slot-manufacturer")) {
		uint8_t scratch[128];
		size_t dummy;

		/* Valid RFC 7512 attributes we do not select on; still checked. */
		return uri_value_decode(c, "library/slot attribute", v, vlen, scratch,
		    sizeof(scratch), &dummy, err);
	}
	return cs_err_set(err, CS_ERR_CONFIG,
	    "PKCS#11 URI: unknown path attribute '%.*s' at offset %zu", (int)(nlen > 40 ? 40 : nlen),
	    n, (size_t)(n - c->s));
}

static int
uri_pin_source_set(const struct uri_cursor *c, const char *v, size_t vlen, struct p11_uri *u,
    struct cs_err *err)
{
	char tmp[P11_URI_PATH_MAX + 8];
	const char *p = tmp;
	int rc;

	rc = uri_string_decode(c, "pin-source", v, vlen, tmp, sizeof(tmp), err);
	if (rc != CS_OK)
		return rc;
	if (strncmp(tmp, "file://", 7) == 0) {
		p = tmp + 7;
		if (*p != '/')
			return cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: pin-source at offset %zu names a remote host; only "
			    "file:///path, file:path or a plain path are allowed",
			    (size_t)(v - c->s));
	} else if (strncmp(tmp, "file:", 5) == 0) {
		p = tmp + 5;
	} else if (tmp[0] == '|') {
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI: pin-source at offset %zu asks to run a command; only a file is "
		    "allowed",
		    (size_t)(v - c->s));
	}
	if (*p == '\0')
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI: pin-source at offset %zu names no file", (size_t)(v - c->s));
	if (strlen(p) >= sizeof(u->pin_source))
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI: pin-source at offset %zu is longer than %zu bytes",
		    (size_t)(v - c->s), sizeof(u->pin_source) - 1);
	memcpy(u->pin_source, p, strlen(p) + 1);
	return CS_OK;
}

static int
uri_query_attr(const struct uri_cursor *c, const char *n, size_t nlen, const char *v, size_t vlen,
    struct p11_uri *u, struct cs_err *err)
{
	int rc;

	if (uri_name_is(n, nlen, "pin-value"))
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI: pin-value at offset %zu is refused: a PIN must never be written "
		    "in configuration; use pin-source=file:/path (mode 0600) or the PIN "
		    "environment variable",
		    (size_t)(n - c->s));
	if (uri_name_is(n, nlen, "pin-source")) {
		rc = uri_dup(c, &u->has_pin_source, "pin-source", n, err);
		if (rc == CS_OK)
			rc = uri_pin_source_set(c, v, vlen, u, err);
		return rc;
	}
	if (uri_name_is(n, nlen, "module-path")) {
		rc = uri_dup(c, &u->has_module_path, "module-path", n, err);
		if (rc == CS_OK)
			rc = uri_string_decode(c, "module-path", v, vlen, u->module_path,
			    sizeof(u->module_path), err);
		if (rc == CS_OK && u->module_path[0] == '\0')
			rc = cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: module-path at offset %zu is empty", (size_t)(n - c->s));
		return rc;
	}
	if (uri_name_is(n, nlen, "module-name"))
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI: module-name at offset %zu is not supported; give module-path "
		    "with the library's full path",
		    (size_t)(n - c->s));
	return cs_err_set(err, CS_ERR_CONFIG,
	    "PKCS#11 URI: unknown query attribute '%.*s' at offset %zu",
	    (int)(nlen > 40 ? 40 : nlen), n, (size_t)(n - c->s));
}

int
p11_uri_parse(const char *s, size_t len, struct p11_uri *out, struct cs_err *err)
{
	struct uri_cursor c = {s, len};
	const char *p, *end, *q;
	int seen_type = 0;
	int in_query = 0;
	int rc = CS_OK;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return cs_err_set(err, CS_ERR_CONFIG, "PKCS#11 URI: none given");
	if (len > P11_URI_MAX)
		return cs_err_set(err, CS_ERR_TOO_LARGE,
		    "PKCS#11 URI is %zu bytes; the limit is %d", len, P11_URI_MAX);
	if (len < 7 || (memcmp(s, "pkcs11:", 7) != 0 && memcmp(s, "PKCS11:", 7) != 0))
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI must start with 'pkcs11:' (RFC 7512 section 2.3)");

	p = s + 7;
	end = s + len;
	q = memchr(p, '?', (size_t)(end - p));
	while (p < end) {
		const char *seg_end, *eq;
		char sep = in_query ? '&' : ';';
		const char *lim = in_query || q == NULL ? end : q;

		seg_end = memchr(p, sep, (size_t)(lim - p));
		if (seg_end == NULL)
			seg_end = lim;
		if (seg_end == p) {
			/* "pkcs11:" alone, or "pkcs11:?x=y", has an empty path. */
			if (!in_query && p == s + 7 && p == lim) {
				;
			} else {
				return cs_err_set(err, CS_ERR_CONFIG,
				    "PKCS#11 URI: empty attribute at offset %zu", (size_t)(p - s));
			}
		} else {
			eq = memchr(p, '=', (size_t)(seg_end - p));
			if (eq == NULL || eq == p)
				return cs_err_set(err, CS_ERR_CONFIG,
				    "PKCS#11 URI: attribute at offset %zu is not name=value",
				    (size_t)(p - s));
			if (in_query)
				rc = uri_query_attr(&c, p, (size_t)(eq - p), eq + 1,
				    (size_t)(seg_end - eq - 1), out, err);
			else
				rc = uri_path_attr(&c, p, (size_t)(eq - p), eq + 1,
				    (size_t)(seg_end - eq - 1), out, &seen_type, err);
			if (rc != CS_OK)
				return rc;
		}
		if (seg_end == end)
			break;
		if (!in_query && seg_end == q) {
			in_query = 1;
			p = q + 1;
			if (p == end)
				return cs_err_set(err, CS_ERR_CONFIG,
				    "PKCS#11 URI: empty query after '?' at offset %zu", (size_t)(q - s));
			continue;
		}
		p = seg_end + 1;
		if (p == end)
			return cs_err_set(err, CS_ERR_CONFIG,
			    "PKCS#11 URI: trailing '%c' at offset %zu", sep, (size_t)(seg_end - s));
	}
	return CS_OK;
}

const char *
p11_uri_type_name(enum p11_uri_type t)
{
	switch (t) {
	case P11_URI_TYPE_PRIVATE:
		return "private";
	case P11_URI_TYPE_PUBLIC:
		return "public";
	case P11_URI_TYPE_CERT:
		return "cert";
	case P11_URI_TYPE_SECRET_KEY:
		return "secret-key";
	case P11_URI_TYPE_DATA:
		return "data";
	case P11_URI_TYPE_ANY:
		break;
	}
	return "";
}

struct uri_out {
	char *buf;
	size_t cap, n;
	int overflow;
};

static void
uri_out_byte(struct uri_out *o, char ch)
{
	if (o->n + 1 >= o->cap) {
		o->overflow = 1;
		return;
	}
	o->buf[o->n++] = ch;
	o->buf[o->n] = '\0';
}

static void
uri_out_str(struct uri_out *o, const char *str)
{
	while (*str != '\0')
		uri_out_byte(o, *str++);
}

static void
uri_out_value(struct uri_out *o, const uint8_t *v, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t b = v[i];

		if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
		    b == '-' || b == '.' || b == '_' || b == '~' || (keep_slash && b == '/')) {
			uri_out_byte(o, (char)b);
		} else {
			uri_out_byte(o, '%');
			uri_out_byte(o, hex[b >> 4]);
			uri_out_byte(o, hex[b & 15]);
		}
	}
}

static void
uri_out_attr(struct uri_out *o, int *first, const char *name, const uint8_t *v, size_t n)
{
	if (!*first)
		uri_out_byte(o, ';');
	*first = 0;
	uri_out_str(o, name);
	uri_out_byte(o, '=');
	uri_out_value(o, v, n, 0);
}

int
p11_uri_format(const struct p11_uri *u, char *buf, size_t cap)
{
	struct uri_out o = {buf, cap, 0, 0};
	int first = 1;

	if (cap == 0)
		return CS_ERR_TOO_LARGE;
	buf[0] = '\0';
	uri_out_str(&o, "pkcs11:");
	if (u->has_token)
		uri_out_attr(&o, &first, "token", (const uint8_t *)u->token, strlen(u->token));
	if (u->has_manufacturer)
		uri_out_attr(&o, &first, "manufacturer", (const uint8_t *)u->manufacturer,
		    strlen(u->manufacturer));
	if (u->has_serial)
		uri_out_attr(&o, &first, "serial", (const uint8_t *)u->serial, strlen(u->serial));
	if (u->has_model)
		uri_out_attr(&o, &first, "model", (const uint8_t *)u->model, strlen(u->model));
	if (u->has_object)
		uri_out_attr(&o, &first, "object", (const uint8_t *)u->object, strlen(u->object));
	if (u->has_id)
		uri_out_attr(&o, &first, "id", u->id, u->id_len);
	if (u->type != P11_URI_TYPE_ANY) {
		const char *t = p11_uri_type_name(u->type);

		uri_out_attr(&o, &first, "type", (const uint8_t *)t, strlen(t));
	}
	if (u->has_slot_id) {
		char num[24];
		size_t i = sizeof(num);
		unsigned long v = u->slot_num;

		num[--i] = '\0';
		do {
			num[--i] = (char)('0' + v % 10);
			v /= 10;
		} while (v != 0);
		uri_out_attr(&o, &first, "slot-id", (const uint8_t *)(num + i), strlen(num + i));
	}
	if (u->has_module_path) {
		uri_out_str(&o, "?module-path=");
		uri_out_value(&o, (const uint8_t *)u->module_path, strlen(u->module_path), 1);
	}
	return o.overflow ? CS_ERR_TOO_LARGE : CS_OK;
}
