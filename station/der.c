#include "station/der.h"

#include <stdio.h>
#include <string.h>

void
der_reader_init(struct der_reader *r, const uint8_t *buf, size_t len)
{
	r->base = buf;
	r->pos = 0;
	r->end = len;
	r->depth = 0;
}

int
der_reader_done(const struct der_reader *r)
{
	return r->pos >= r->end;
}

int
der_read(struct der_reader *r, struct der_tlv *out, size_t *err_off)
{
	size_t pos = r->pos, avail, len, nlen;
	uint8_t tag, b;

	if (pos >= r->end)
		return DER_ERR_END;
	avail = r->end - pos;
	tag = r->base[pos];
	if ((tag & 0x1f) == 0x1f) {
		if (err_off != NULL)
			*err_off = pos;
		return DER_ERR_HIGH_TAG;
	}
	if (avail < 2) {
		if (err_off != NULL)
			*err_off = pos;
		return DER_ERR_TRUNCATED;
	}
	b = r->base[pos + 1];
	if (b < 0x80) {
		len = b;
		nlen = 0;
	} else if (b == 0x80) {
		if (err_off != NULL)
			*err_off = pos + 1;
		return DER_ERR_INDEFINITE;
	} else {
		nlen = b & 0x7f;
		if (nlen > 4) {
			if (err_off != NULL)
				*err_off = pos + 1;
			return DER_ERR_LENGTH_HUGE;
		}
		if (avail - 2 < nlen) {
			if (err_off != NULL)
				*err_off = pos + 1;
			return DER_ERR_TRUNCATED;
		}
		/* Minimal form: no leading zero octet, and the long form only
		 * for lengths the short form cannot express. */
		if (r->base[pos + 2] == 0) {
			if (err_off != NULL)
				*err_off = pos + 1;
			return DER_ERR_LENGTH_FORM;
		}
		len = 0;
		for (size_t i = 0; i < nlen; i++)
			len = (len << 8) | r->base[pos + 2 + i];
		if (len < 0x80) {
			if (err_off != NULL)
				*err_off = pos + 1;
			return DER_ERR_LENGTH_FORM;
		}
	}
	if (len > avail - 2 - nlen) {
		if (err_off != NULL)
			*err_off = pos + 1;
		return DER_ERR_TRUNCATED;
	}
	out->tag = tag;
	out->off = pos;
	out->hdr_len = 2 + nlen;
	out->val = r->base + pos + 2 + nlen;
	out->len = len;
	out->tlv = r->base + pos;
	out->tlv_len = 2 + nlen + len;
	r->pos = pos + out->tlv_len;
	return DER_OK;
}

int
der_enter(const struct der_reader *parent, const struct der_tlv *t, struct der_reader *child)
{
	if ((t->tag & 0x20) == 0)
		return DER_ERR_NOT_CONSTRUCTED;
	if (parent->depth + 1 > DER_MAX_DEPTH)
		return DER_ERR_DEPTH;
	child->base = parent->base;
	child->pos = t->off + t->hdr_len;
	child->end = child->pos + t->len;
	child->depth = parent->depth + 1;
	return DER_OK;
}

const char *
der_strerror(int status)
{
	switch (status) {
	case DER_OK:
		return "ok";
	case DER_ERR_END:
		return "element missing";
	case DER_ERR_TRUNCATED:
		return "length runs past the end of the enclosing element";
	case DER_ERR_HIGH_TAG:
		return "multi-byte tag numbers are not used in this structure";
	case DER_ERR_INDEFINITE:
		return "indefinite length (BER) is not allowed in DER";
	case DER_ERR_LENGTH_FORM:
		return "length is not in minimal form (X.690 10.1)";
	case DER_ERR_LENGTH_HUGE:
		return "length field is longer than 4 octets";
	case DER_ERR_DEPTH:
		return "nesting is too deep";
	case DER_ERR_NOT_CONSTRUCTED:
		return "element is primitive where a constructed one is required";
	default:
		return "unknown DER error";
	}
}

int
der_integer_is_minimal(const struct der_tlv *t)
{
	if (t->tag != DER_INTEGER || t->len == 0)
		return 0;
	if (t->len >= 2) {
		if (t->val[0] == 0x00 && (t->val[1] & 0x80) == 0)
			return 0;
		if (t->val[0] == 0xff && (t->val[1] & 0x80) != 0)
			return 0;
	}
	return 1;
}

int
der_oid_eq(const struct der_tlv *t, const uint8_t *oid, size_t oid_len)
{
	return t->tag == DER_OID && t->len == oid_len && memcmp(t->val, oid, oid_len) == 0;
}

void
der_oid_text(const uint8_t *oid, size_t oid_len, char *buf, size_t cap)
{
	size_t used = 0;
	uint64_t v = 0;
	int first = 1, n;

	if (cap == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < oid_len; i++) {
		if (v > (UINT64_MAX >> 7)) {
			snprintf(buf + used, cap - used, "%s?", used ? "." : "");
			return;
		}
		v = (v << 7) | (oid[i] & 0x7f);
		if (oid[i] & 0x80)
			continue;
		if (first) {
			unsigned a = v < 40 ? 0 : v < 80 ? 1 : 2;
			n = snprintf(buf + used, cap - used, "%u.%llu", a,
			             (unsigned long long)(v - 40u * a));
			first = 0;
		} else {
			n = snprintf(buf + used, cap - used, ".%llu", (unsigned long long)v);
		}
		if (n < 0 || (size_t)n >= cap - used)
			return;
		used += (size_t)n;
		v = 0;
	}
	if (oid_len == 0 || (oid[oid_len - 1] & 0x80))
		snprintf(buf + used, cap - used, "%s?", used ? "." : "");
}

void
der_writer_init(struct der_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = 0;
}

static int
der_room(struct der_writer *w, size_t n)
{
	if (w->overflow)
		return 0;
	if (n > w->cap - w->len) {
		w->overflow = 1;
		return 0;
	}
	return 1;
}

size_t
der_begin(struct der_writer *w, uint8_t tag)
{
	size_t mark = w->len;

	/* One length octet is reserved; der_end() widens it if needed. */
	if (!der_room(w, 2))
		return mark;
	w->buf[w->len++] = tag;
	w->buf[w->len++] = 0;
	return mark;
}

void
der_end(struct der_writer *w, size_t mark)
{
	size_t start, clen, extra = 0;

	if (w->overflow)
		return;
	start = mark + 2;
	clen = w->len - start;
	if (clen < 0x80) {
		w->buf[mark + 1] = (uint8_t)clen;
		return;
	}
	for (size_t v = clen; v != 0; v >>= 8)
		extra++;
	if (!der_room(w, extra))
		return;
	memmove(w->buf + start + extra, w->buf + start, clen);
	w->buf[mark + 1] = (uint8_t)(0x80 | extra);
	for (size_t i = 0; i < extra; i++)
		w->buf[mark + 2 + i] = (uint8_t)(clen >> (8 * (extra - 1 - i)));
	w->len += extra;
}

static void
der_put_header(struct der_writer *w, uint8_t tag, size_t len)
{
	uint8_t hdr[6];
	size_t n = 0, extra = 0;

	hdr[n++] = tag;
	if (len < 0x80) {
		hdr[n++] = (uint8_t)len;
	} else {
		for (size_t v = len; v != 0; v >>= 8)
			extra++;
		hdr[n++] = (uint8_t)(0x80 | extra);
		for (size_t i = 0; i < extra; i++)
			hdr[n++] = (uint8_t)(len >> (8 * (extra - 1 - i)));
	}
	der_put_raw(w, hdr, n);
}

void
der_put_raw(struct der_writer *w, const uint8_t *p, size_t len)
{
	if (!der_room(w, len))
		return;
	if (len != 0)
		memcpy(w->buf + w->len, p, len);
	w->len += len;
}

void
der_put_tlv(struct der_writer *w, uint8_t tag, const uint8_t *val, size_t len)
{
	if (len > w->cap) {
		w->overflow = 1;
		return;
	}
	der_put_header(w, tag, len);
	der_put_raw(w, val, len);
}

void
der_put_uint_be(struct der_writer *w, const uint8_t *be, size_t len)
{
	static const uint8_t zero = 0;

	while (len > 0 && be[0] == 0) {
		be++;
		len--;
	}
	if (len == 0) {
		der_put_tlv(w, DER_INTEGER, &zero, 1);
		return;
	}
	if (be[0] & 0x80) {
		der_put_header(w, DER_INTEGER, len + 1);
		der_put_raw(w, &zero, 1);
		der_put_raw(w, be, len);
		return;
	}
	der_put_tlv(w, DER_INTEGER, be, len);
}

void
der_put_small_uint(struct der_writer *w, uint32_t v)
{
	uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	der_put_uint_be(w, be, sizeof(be));
}

void
der_put_bit_string(struct der_writer *w, const uint8_t *bytes, size_t len)
{
	static const uint8_t unused = 0;

	if (len >= w->cap) {
		w->overflow = 1;
		return;
	}
	der_put_header(w, DER_BIT_STRING, len + 1);
	der_put_raw(w, &unused, 1);
	der_put_raw(w, bytes, len);
}

int
der_writer_finish(const struct der_writer *w, size_t *len)
{
	if (w->overflow)
		return -1;
	if (len != NULL)
		*len = w->len;
	return 0;
}

size_t
der_utf8_chars(const uint8_t *p, size_t len)
{
	size_t n = 0, i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t extra;
		uint32_t cp;

		if (c < 0x20 || c == 0x7f)
			return (size_t)-1;
		if (c < 0x80) {
			extra = 0;
			cp = c;
		} else if ((c & 0xe0) == 0xc0) {
			extra = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			extra = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			extra = 3;
			cp = c & 0x07;
		} else {
			return (size_t)-1;
		}
		if (len - i <= extra)
			return (size_t)-1;
		for (size_t k = 1; k <= extra; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (size_t)-1;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
		    (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (size_t)-1;
		i += extra + 1;
		n++;
	}
	return n;
}
