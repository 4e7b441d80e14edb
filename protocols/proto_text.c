/*
 * proto_text.c: the text dialect (PROTOCOL.md section 6).
 *
 * DESIGN: sending writes one line at a time into the link's output buffer,
 * so a 16 KiB chain never needs its PEM form in memory: the message stays
 * TLV in tx_buf and each base64 line is made from 48 DER bytes when the
 * previous line has been written. Receiving collects one line (capped at
 * PROTO_LINE_MAX), then turns it into TLV in rx_buf: key=value lines
 * directly, PEM blocks by a streaming base64 decoder that writes the DER
 * straight into the TLV value. The finished TLV goes through
 * proto_msg_decode(), so field rules are the frame dialect's, exactly.
 *
 * Lines whose first word is not a keyword of ours are counted and ignored
 * (a device's boot log or a human's typing); a line that starts with a
 * keyword but breaks the rules is an error the session must hear about.
 */
#include "protocols/proto_int.h"

#include <string.h>

#define TOKENS_MAX 16
#define PEM_LINE_BYTES 48 /* 64 base64 characters */

/* PEM labels */
enum {
	LABEL_CSR = 1,     /* CERTIFICATE REQUEST */
	LABEL_NEW_CSR = 2, /* NEW CERTIFICATE REQUEST (older OpenSSL) */
	LABEL_CERT = 3,    /* CERTIFICATE */
};

/* What the next line of a message being written is (txt_phase_). */
enum {
	TXT_HEADER = 0,
	TXT_BEGIN,
	TXT_BODY,
	TXT_END,
	TXT_DONE,
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hex_digits[] = "0123456789abcdef";

static void
bad_line(struct proto_link *l, int why)
{
	l->stats.bad_lines++;
	l->stats.last_bad = why;
}

static const char *
label_text(uint8_t label)
{
	switch (label) {
	case LABEL_CSR:
		return "CERTIFICATE REQUEST";
	case LABEL_NEW_CSR:
		return "NEW CERTIFICATE REQUEST";
	default:
		return "CERTIFICATE";
	}
}

/* ---- sending ---- */

/* A bounded line writer; overflow is remembered, not reported per call. */
struct line_writer {
	uint8_t *p;
	size_t cap, len;
	int overflow;
};

static void
lw_byte(struct line_writer *w, uint8_t b)
{
	if (w->len >= w->cap) {
		w->overflow = 1;
		return;
	}
	w->p[w->len++] = b;
}

static void
lw_str(struct line_writer *w, const char *s)
{
	while (*s != '\0')
		lw_byte(w, (uint8_t)*s++);
}

static void
lw_dec(struct line_writer *w, uint32_t v)
{
	char d[10];
	size_t n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		lw_byte(w, (uint8_t)d[--n]);
}

static void
lw_hex(struct line_writer *w, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		lw_byte(w, (uint8_t)hex_digits[p[i] >> 4]);
		lw_byte(w, (uint8_t)hex_digits[p[i] & 0x0f]);
	}
}

/* " key=value" with space, '%', '=' and non-printables as %XX. */
static void
lw_pair(struct line_writer *w, const char *key, const struct proto_bytes *v)
{
	static const char upper[] = "0123456789ABCDEF";
	size_t i;

	lw_byte(w, ' ');
	lw_str(w, key);
	lw_byte(w, '=');
	for (i = 0; i < v->len; i++) {
		uint8_t b = v->p[i];

		if (b <= 0x20 || b >= 0x7f || b == '%' || b == '=') {
			lw_byte(w, '%');
			lw_byte(w, (uint8_t)upper[b >> 4]);
			lw_byte(w, (uint8_t)upper[b & 0x0f]);
		} else {
			lw_byte(w, b);
		}
	}
}

static void
lw_base64(struct line_writer *w, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		lw_byte(w, (uint8_t)b64_alphabet[v >> 18]);
		lw_byte(w, (uint8_t)b64_alphabet[(v >> 12) & 0x3f]);
		lw_byte(w, (uint8_t)b64_alphabet[(v >> 6) & 0x3f]);
		lw_byte(w, (uint8_t)b64_alphabet[v & 0x3f]);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		lw_byte(w, (uint8_t)b64_alphabet[v >> 18]);
		lw_byte(w, (uint8_t)b64_alphabet[(v >> 12) & 0x3f]);
		lw_str(w, "==");
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		lw_byte(w, (uint8_t)b64_alphabet[v >> 18]);
		lw_byte(w, (uint8_t)b64_alphabet[(v >> 12) & 0x3f]);
		lw_byte(w, (uint8_t)b64_alphabet[(v >> 6) & 0x3f]);
		lw_byte(w, '=');
	}
}

static void
header_line(const struct proto_msg *m, struct line_writer *w)
{
	switch (m->type) {
	case PROTO_HELLO:
		lw_str(w, "HELLO v=");
		lw_dec(w, m->version);
		lw_pair(w, "id", &m->device_id);
		if (m->model.len > 0)
			lw_pair(w, "model", &m->model);
		if (m->firmware.len > 0)
			lw_pair(w, "fw", &m->firmware);
		lw_str(w, " key=");
		lw_str(w, proto_key_type_name(m->key_type));
		lw_str(w, " caps=");
		lw_dec(w, m->caps);
		break;
	case PROTO_CSR_REQUEST:
		lw_str(w, "CSRREQ nonce=");
		lw_hex(w, m->nonce, sizeof(m->nonce));
		break;
	case PROTO_CSR:
		lw_str(w, "CSR");
		break;
	case PROTO_CHAIN:
		lw_str(w, "CHAIN n=");
		lw_dec(w, (uint32_t)m->cert_count);
		break;
	case PROTO_READBACK:
		lw_str(w, "READBACK sha256=");
		lw_hex(w, m->sha256, sizeof(m->sha256));
		break;
	case PROTO_RESULT:
		if (m->reason == PROTO_R_OK) {
			lw_str(w, "RESULT pass");
		} else {
			lw_str(w, "RESULT fail reason=");
			lw_dec(w, m->reason);
		}
		if (m->text.len > 0)
			lw_pair(w, "msg", &m->text);
		break;
	default: /* PROTO_ERROR: the only type left after proto_msg_decode() */
		lw_str(w, "ERROR reason=");
		lw_dec(w, m->reason);
		if (m->text.len > 0)
			lw_pair(w, "msg", &m->text);
		break;
	}
	lw_byte(w, '\n');
}

static struct line_writer
out_writer(struct proto_link *l)
{
	struct line_writer w = {l->out_, PROTO_LINE_MAX, 0, 0};

	return w;
}

int
proto_text_send_start(struct proto_link *l)
{
	struct line_writer w = out_writer(l);

	header_line(&l->tx_msg_, &w);
	if (w.overflow)
		return PROTO_E_TOO_LARGE;
	l->out_off_ = 0;
	l->out_len_ = w.len;
	l->txt_cert_ = 0;
	l->txt_pos_ = 0;
	l->txt_phase_ =
	    l->tx_msg_.type == PROTO_CSR || l->tx_msg_.type == PROTO_CHAIN ? TXT_BEGIN : TXT_DONE;
	return PROTO_OK;
}

static const struct proto_bytes *
txt_blob(const struct proto_link *l)
{
	return l->tx_msg_.type == PROTO_CSR ? &l->tx_msg_.csr : &l->tx_msg_.certs[l->txt_cert_];
}

int
proto_text_next_line(struct proto_link *l)
{
	struct line_writer w = out_writer(l);
	const char *label = label_text(l->tx_msg_.type == PROTO_CSR ? LABEL_CSR : LABEL_CERT);
	const struct proto_bytes *blob;
	size_t n;

	switch (l->txt_phase_) {
	case TXT_BEGIN:
		lw_str(&w, "-----BEGIN ");
		lw_str(&w, label);
		lw_str(&w, "-----\n");
		l->txt_phase_ = TXT_BODY;
		l->txt_pos_ = 0;
		break;
	case TXT_BODY:
		blob = txt_blob(l);
		n = blob->len - l->txt_pos_;
		if (n > PEM_LINE_BYTES)
			n = PEM_LINE_BYTES;
		lw_base64(&w, blob->p + l->txt_pos_, n);
		lw_byte(&w, '\n');
		l->txt_pos_ += n;
		if (l->txt_pos_ >= blob->len)
			l->txt_phase_ = TXT_END;
		break;
	case TXT_END:
		lw_str(&w, "-----END ");
		lw_str(&w, label);
		lw_str(&w, "-----\n");
		l->txt_cert_++;
		l->txt_phase_ =
		    l->tx_msg_.type == PROTO_CHAIN && l->txt_cert_ < l->tx_msg_.cert_count
		        ? TXT_BEGIN
		        : TXT_DONE;
		break;
	default:
		return 0;
	}
	l->out_off_ = 0;
	l->out_len_ = w.len;
	return 1;
}

/* ---- receiving: the TLV being rebuilt in rx_buf ---- */

static size_t
rx_limit(const struct proto_link *l)
{
	return l->cfg.rx_cap < PROTO_MSG_MAX ? l->cfg.rx_cap : PROTO_MSG_MAX;
}

static int
rx_put(struct proto_link *l, const uint8_t *p, size_t n)
{
	if (n > rx_limit(l) - l->rx_len_)
		return PROTO_E_TOO_LARGE;
	memcpy(l->cfg.rx_buf + l->rx_len_, p, n);
	l->rx_len_ += n;
	return PROTO_OK;
}

static int
rx_tlv_begin(struct proto_link *l, uint8_t tag, size_t *hdr)
{
	uint8_t h[PROTO_TLV_HEADER] = {tag, 0, 0};

	*hdr = l->rx_len_;
	return rx_put(l, h, sizeof(h));
}

static int
rx_tlv_end(struct proto_link *l, size_t hdr)
{
	size_t n = l->rx_len_ - hdr - PROTO_TLV_HEADER;

	if (n > 0xffff)
		return PROTO_E_TOO_LARGE;
	l->cfg.rx_buf[hdr + 1] = (uint8_t)(n >> 8);
	l->cfg.rx_buf[hdr + 2] = (uint8_t)n;
	return PROTO_OK;
}

static int
rx_tlv(struct proto_link *l, uint8_t tag, const uint8_t *v, size_t n)
{
	size_t hdr;
	int rc = rx_tlv_begin(l, tag, &hdr);

	if (rc == 0)
		rc = rx_put(l, v, n);
	if (rc == 0)
		rc = rx_tlv_end(l, hdr);
	return rc;
}

/* ---- receiving: key=value lines ---- */

struct token {
	const uint8_t *k, *v;
	size_t klen, vlen;
	int has_eq;
};

static int
hex_val(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Splits p (after the keyword) at runs of spaces into tokens. */
static int
tokenize(const uint8_t *p, size_t n, struct token *t, size_t *count)
{
	size_t i = 0, j, k;

	*count = 0;
	while (i < n) {
		struct token *tk;

		if (p[i] == ' ') {
			i++;
			continue;
		}
		if (*count == TOKENS_MAX)
			return PROTO_E_MALFORMED;
		tk = &t[(*count)++];
		for (j = i; j < n && p[j] != ' '; j++)
			;
		tk->k = p + i;
		tk->has_eq = 0;
		tk->klen = j - i;
		tk->v = NULL;
		tk->vlen = 0;
		for (k = i; k < j; k++) {
			if (p[k] == '=') {
				tk->has_eq = 1;
				tk->klen = k - i;
				tk->v = p + k + 1;
				tk->vlen = j - k - 1;
				break;
			}
		}
		if (tk->has_eq && tk->klen == 0)
			return PROTO_E_MALFORMED;
		i = j;
	}
	/* a key given twice is ambiguous, known or not */
	for (j = 0; j < *count; j++)
		for (k = j + 1; k < *count; k++)
			if (t[j].has_eq && t[k].has_eq && t[j].klen == t[k].klen &&
			    memcmp(t[j].k, t[k].k, t[j].klen) == 0)
				return PROTO_E_MALFORMED;
	return PROTO_OK;
}

static const struct token *
find_key(const struct token *t, size_t count, const char *key)
{
	size_t i, n = strlen(key);

	for (i = 0; i < count; i++)
		if (t[i].has_eq && t[i].klen == n && memcmp(t[i].k, key, n) == 0)
			return &t[i];
	return NULL;
}

/* Decimal, digits only, at most max. */
static int
parse_dec(const struct token *t, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (t->vlen == 0 || t->vlen > 10)
		return PROTO_E_MALFORMED;
	for (i = 0; i < t->vlen; i++) {
		if (t->v[i] < '0' || t->v[i] > '9')
			return PROTO_E_MALFORMED;
		v = v * 10 + (uint64_t)(t->v[i] - '0');
	}
	if (v > max)
		return PROTO_E_MALFORMED;
	*out = (uint32_t)v;
	return PROTO_OK;
}

/* Exactly 2 * n hex digits into out. */
static int
parse_hex(const struct token *t, uint8_t *out, size_t n)
{
	size_t i;

	if (t->vlen != 2 * n)
		return PROTO_E_MALFORMED;
	for (i = 0; i < n; i++) {
		int hi = hex_val(t->v[2 * i]), lo = hex_val(t->v[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return PROTO_E_MALFORMED;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return PROTO_OK;
}

/* An escaped value as one TLV; the field rules are proto_msg_decode()'s. */
static int
put_escaped(struct proto_link *l, uint8_t tag, const struct token *t)
{
	size_t hdr, i;
	int rc = rx_tlv_begin(l, tag, &hdr);

	for (i = 0; rc == 0 && i < t->vlen; i++) {
		uint8_t b = t->v[i];

		if (b == '%') {
			int hi, lo;

			if (t->vlen - i < 3)
				return PROTO_E_MALFORMED;
			hi = hex_val(t->v[i + 1]);
			lo = hex_val(t->v[i + 2]);
			if (hi < 0 || lo < 0)
				return PROTO_E_MALFORMED;
			b = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
		rc = rx_put(l, &b, 1);
	}
	if (rc == 0)
		rc = rx_tlv_end(l, hdr);
	return rc;
}

static int
put_u8(struct proto_link *l, uint8_t tag, uint32_t v)
{
	uint8_t b = (uint8_t)v;

	return rx_tlv(l, tag, &b, 1);
}

static int
put_u16(struct proto_link *l, uint8_t tag, uint32_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	return rx_tlv(l, tag, b, sizeof(b));
}

static int
put_u32(struct proto_link *l, uint8_t tag, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return rx_tlv(l, tag, b, sizeof(b));
}

static int
parse_hello(struct proto_link *l, const struct token *t, size_t count)
{
	const struct token *v;
	uint32_t n;
	int rc = PROTO_OK;

	v = find_key(t, count, "v");
	if (v != NULL) {
		rc = parse_dec(v, 0xff, &n);
		if (rc == 0)
			rc = put_u8(l, PROTO_TAG_VERSION, n);
	}
	v = find_key(t, count, "id");
	if (rc == 0 && v != NULL)
		rc = put_escaped(l, PROTO_TAG_DEVICE_ID, v);
	v = find_key(t, count, "model");
	if (rc == 0 && v != NULL)
		rc = put_escaped(l, PROTO_TAG_MODEL, v);
	v = find_key(t, count, "fw");
	if (rc == 0 && v != NULL)
		rc = put_escaped(l, PROTO_TAG_FIRMWARE, v);
	v = find_key(t, count, "key");
	if (rc == 0 && v != NULL) {
		char name[16];
		size_t len = v->vlen < sizeof(name) - 1 ? v->vlen : 0; /* too long: unknown */

		memcpy(name, v->v, len);
		name[len] = '\0';
		/* an unknown key type is passed on as 0 for the session to refuse */
		rc = put_u8(l, PROTO_TAG_KEY_TYPE, (uint32_t)proto_key_type_parse(name));
	}
	v = find_key(t, count, "caps");
	if (rc == 0 && v != NULL) {
		rc = parse_dec(v, 0xffffffffu, &n);
		if (rc == 0)
			rc = put_u32(l, PROTO_TAG_CAPS, n);
	}
	return rc;
}

static int
parse_hex_field(struct proto_link *l, const struct token *t, size_t count, const char *key,
                uint8_t tag, size_t n)
{
	const struct token *v = find_key(t, count, key);
	uint8_t buf[32];
	int rc;

	if (v == NULL)
		return PROTO_E_MALFORMED;
	rc = parse_hex(v, buf, n);
	if (rc == 0)
		rc = rx_tlv(l, tag, buf, n);
	return rc;
}

/* RESULT pass [msg=..] | RESULT fail reason=N [msg=..] | ERROR reason=N [msg=..] */
static int
parse_outcome(struct proto_link *l, uint8_t type, const struct token *t, size_t count)
{
	const struct token *v = find_key(t, count, "reason");
	size_t i, bare = 0;
	uint32_t reason = 0;
	int rc = PROTO_OK, pass = 0;

	for (i = 0; i < count; i++)
		if (!t[i].has_eq)
			bare++;
	if (type == PROTO_RESULT) {
		if (count == 0 || t[0].has_eq || bare != 1)
			return PROTO_E_MALFORMED;
		if (t[0].klen == 4 && memcmp(t[0].k, "pass", 4) == 0)
			pass = 1;
		else if (t[0].klen != 4 || memcmp(t[0].k, "fail", 4) != 0)
			return PROTO_E_MALFORMED;
	} else if (bare != 0) {
		return PROTO_E_MALFORMED;
	}
	if (v != NULL)
		rc = parse_dec(v, 0xffff, &reason);
	if (rc != 0)
		return rc;
	if (type == PROTO_RESULT && (pass ? reason != 0 : (v == NULL || reason == 0)))
		return PROTO_E_MALFORMED; /* "pass" with a reason, or "fail" without one */
	if (type == PROTO_ERROR && v == NULL)
		return PROTO_E_MALFORMED;
	rc = put_u16(l, PROTO_TAG_REASON, reason);
	v = find_key(t, count, "msg");
	if (rc == 0 && v != NULL)
		rc = put_escaped(l, PROTO_TAG_TEXT, v);
	return rc;
}

static int
keyword_type(const uint8_t *p, size_t n)
{
	static const struct {
		const char *word;
		int type;
	} words[] = {
	    {"HELLO", PROTO_HELLO}, {"CSRREQ", PROTO_CSR_REQUEST}, {"CSR", PROTO_CSR},
	    {"CHAIN", PROTO_CHAIN}, {"READBACK", PROTO_READBACK},  {"RESULT", PROTO_RESULT},
	    {"ERROR", PROTO_ERROR},
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == n && memcmp(words[i].word, p, n) == 0)
			return words[i].type;
	return 0;
}

static void
rx_abort(struct proto_link *l)
{
	l->text_state_ = PROTO_TEXT_IDLE;
	l->rx_len_ = 0;
}

/* The message in rx_buf is complete: check it as the frame dialect would. */
static int
rx_complete(struct proto_link *l, uint8_t type)
{
	int rc = proto_msg_decode(type, l->cfg.rx_buf, l->rx_len_, &l->rx_msg_);

	rx_abort(l);
	if (rc != 0) {
		bad_line(l, rc);
		return rc;
	}
	l->rx_ready_ = 1;
	return PROTO_OK;
}

static int
idle_line(struct proto_link *l, const uint8_t *p, size_t n)
{
	struct token t[TOKENS_MAX];
	size_t kw, i, count;
	int type, rc;
	uint32_t certs;

	if (n == 0 || p[0] == '#')
		return PROTO_OK;
	for (kw = 0; kw < n && p[kw] != ' '; kw++)
		;
	type = keyword_type(p, kw);
	if (type == 0) {
		bad_line(l, PROTO_E_UNEXPECTED); /* not ours: boot log, typing */
		return PROTO_OK;
	}
	if (l->rx_ready_) {
		bad_line(l, PROTO_E_BUSY); /* the previous message was not taken yet */
		return PROTO_OK;
	}
	for (i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e) {
			bad_line(l, PROTO_E_MALFORMED);
			return PROTO_E_MALFORMED;
		}
	}
	rx_abort(l);
	rc = tokenize(p + kw, n - kw, t, &count);
	if (rc == 0) {
		switch (type) {
		case PROTO_HELLO:
			rc = parse_hello(l, t, count);
			break;
		case PROTO_CSR_REQUEST:
			rc =
			    parse_hex_field(l, t, count, "nonce", PROTO_TAG_NONCE, PROTO_NONCE_LEN);
			break;
		case PROTO_READBACK:
			rc = parse_hex_field(l, t, count, "sha256", PROTO_TAG_SHA256, 32);
			break;
		case PROTO_RESULT:
		case PROTO_ERROR:
			rc = parse_outcome(l, (uint8_t)type, t, count);
			break;
		case PROTO_CSR:
			for (i = 0; i < count; i++)
				if (!t[i].has_eq)
					rc = PROTO_E_MALFORMED;
			if (rc == 0) {
				l->text_label_ = LABEL_CSR;
				l->text_certs_want_ = 1;
			}
			break;
		default: /* PROTO_CHAIN */
			if (find_key(t, count, "n") == NULL)
				rc = PROTO_E_MALFORMED;
			else
				rc = parse_dec(find_key(t, count, "n"), 0xffff, &certs);
			for (i = 0; rc == 0 && i < count; i++)
				if (!t[i].has_eq)
					rc = PROTO_E_MALFORMED;
			if (rc == 0 && certs == 0)
				rc = PROTO_E_MALFORMED;
			if (rc == 0 && certs > PROTO_CHAIN_CERTS_MAX)
				rc = PROTO_E_TOO_LARGE;
			if (rc == 0) {
				l->text_label_ = LABEL_CERT;
				l->text_certs_want_ = (uint8_t)certs;
			}
			break;
		}
	}
	if (rc != 0) {
		rx_abort(l);
		bad_line(l, rc);
		return rc;
	}
	l->rx_type_ = (uint8_t)type;
	if (type == PROTO_CSR || type == PROTO_CHAIN) {
		l->text_certs_got_ = 0;
		l->text_state_ = PROTO_TEXT_BEGIN;
		return PROTO_OK;
	}
	return rx_complete(l, (uint8_t)type);
}

/* ---- receiving: PEM blocks ---- */

static int
line_is(const uint8_t *p, size_t n, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);

	return n == la + lb + lc && memcmp(p, a, la) == 0 && memcmp(p + la, b, lb) == 0 &&
	       memcmp(p + la + lb, c, lc) == 0;
}

static int
b64_val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
field_put(struct proto_link *l, const uint8_t *p, size_t n)
{
	size_t have = l->rx_len_ - l->text_field_pos_ - PROTO_TLV_HEADER;
	size_t max = l->text_label_ == LABEL_CERT ? PROTO_CERT_MAX : PROTO_CSR_MAX;

	if (n > max - have)
		return PROTO_E_TOO_LARGE;
	return rx_put(l, p, n);
}

/* One line of base64 body; the quartet state carries across lines. */
static int
b64_line(struct proto_link *l, const uint8_t *p, size_t n)
{
	size_t i;
	int rc = PROTO_OK;

	for (i = 0; rc == 0 && i < n; i++) {
		int v = b64_val(p[i]);

		if (l->b64_end_)
			return PROTO_E_MALFORMED; /* data after the padding */
		if (p[i] == '=') {
			if (l->b64_n_ < 2)
				return PROTO_E_MALFORMED;
			l->b64_pad_++;
			l->b64_n_++;
		} else if (v < 0 || l->b64_pad_ > 0) {
			return PROTO_E_MALFORMED;
		} else {
			l->b64_acc_ = l->b64_acc_ << 6 | (uint32_t)v;
			l->b64_n_++;
		}
		if (l->b64_n_ == 4) {
			uint32_t a = l->b64_acc_;
			uint8_t out[3];

			if (l->b64_pad_ == 0) {
				out[0] = (uint8_t)(a >> 16);
				out[1] = (uint8_t)(a >> 8);
				out[2] = (uint8_t)a;
				rc = field_put(l, out, 3);
			} else if (l->b64_pad_ == 1) {
				/* 18 bits of which 16 are data: the last 2 must be zero */
				if ((a & 0x3) != 0)
					return PROTO_E_MALFORMED;
				out[0] = (uint8_t)(a >> 10);
				out[1] = (uint8_t)(a >> 2);
				rc = field_put(l, out, 2);
				l->b64_end_ = 1;
			} else {
				if ((a & 0xf) != 0)
					return PROTO_E_MALFORMED;
				out[0] = (uint8_t)(a >> 4);
				rc = field_put(l, out, 1);
				l->b64_end_ = 1;
			}
			l->b64_n_ = 0;
			l->b64_acc_ = 0;
		}
	}
	return rc;
}

/* A line while a PEM block is expected or open. *idle: the message was
 * abandoned and the line should be read again as a message line. */
static int
pem_line(struct proto_link *l, const uint8_t *p, size_t n, int *idle)
{
	const char *label = label_text(l->text_label_);
	int rc;

	*idle = 0;
	if (n == 0 || p[0] == '#')
		return PROTO_OK;
	if (l->text_state_ == PROTO_TEXT_BEGIN) {
		if (l->rx_type_ == PROTO_CSR &&
		    line_is(p, n, "-----BEGIN ", "NEW CERTIFICATE REQUEST", "-----"))
			l->text_label_ = LABEL_NEW_CSR;
		else if (!line_is(p, n, "-----BEGIN ", label_text(l->text_label_), "-----"))
			goto abandon;
		rc = rx_tlv_begin(l, l->rx_type_ == PROTO_CSR ? PROTO_TAG_CSR : PROTO_TAG_CERT,
		                  &l->text_field_pos_);
		if (rc != 0)
			goto fail;
		l->b64_acc_ = 0;
		l->b64_n_ = 0;
		l->b64_pad_ = 0;
		l->b64_end_ = 0;
		l->text_state_ = PROTO_TEXT_BODY;
		return PROTO_OK;
	}
	if (n >= 9 && memcmp(p, "-----END ", 9) == 0) {
		if (!line_is(p, n, "-----END ", label, "-----") || l->b64_n_ != 0)
			goto abandon; /* wrong label, or base64 cut short */
		rc = rx_tlv_end(l, l->text_field_pos_);
		if (rc != 0)
			goto fail;
		l->text_certs_got_++;
		if (l->text_certs_got_ < l->text_certs_want_) {
			l->text_label_ = LABEL_CERT;
			l->text_state_ = PROTO_TEXT_BEGIN;
			return PROTO_OK;
		}
		return rx_complete(l, l->rx_type_);
	}
	rc = b64_line(l, p, n);
	if (rc == PROTO_E_MALFORMED)
		goto abandon;
	if (rc != 0)
		goto fail;
	return PROTO_OK;
abandon:
	/* not this block's line: a new message (HELLO after a reboot) or noise */
	*idle = 1;
	rc = PROTO_E_MALFORMED;
fail:
	rx_abort(l);
	bad_line(l, rc);
	return rc;
}

static int
text_line(struct proto_link *l, const uint8_t *p, size_t n)
{
	int rc, rc2, idle;

	if (l->text_state_ == PROTO_TEXT_IDLE)
		return idle_line(l, p, n);
	rc = pem_line(l, p, n, &idle);
	if (!idle)
		return rc;
	rc2 = idle_line(l, p, n);
	return rc != 0 ? rc : rc2;
}

void
proto_text_rx_reset(struct proto_link *l)
{
	rx_abort(l);
	l->line_len_ = 0;
	l->text_skip_ = 0;
}

int
proto_text_input(struct proto_link *l, const uint8_t *in, size_t n)
{
	size_t i;
	int first = PROTO_OK;

	for (i = 0; i < n; i++) {
		uint8_t b = in[i];
		int rc = PROTO_OK;

		if (b == '\n') {
			size_t len = l->line_len_;

			l->line_len_ = 0;
			if (l->text_skip_) {
				l->text_skip_ = 0; /* end of an overlong line, already reported */
				continue;
			}
			l->stats.lines_in++;
			if (len > 0 && l->line_[len - 1] == '\r')
				len--;
			rc = text_line(l, l->line_, len);
		} else if (l->text_skip_) {
			continue;
		} else if (l->line_len_ >= PROTO_LINE_MAX - 1) {
			/* PROTO_LINE_MAX counts the LF: this line is over the limit */
			l->text_skip_ = 1;
			l->line_len_ = 0;
			bad_line(l, PROTO_E_TOO_LARGE);
			rx_abort(l);
			rc = PROTO_E_TOO_LARGE;
		} else {
			l->line_[l->line_len_++] = b;
		}
		if (rc != 0 && first == 0)
			first = rc;
	}
	return first;
}
