/*
 * proto_msg.c: the TLV payload of one message (PROTOCOL.md section 5).
 *
 * DESIGN: the encoder enforces exactly the rules the decoder checks, so
 * anything proto_msg_encode() accepts, proto_msg_decode() gives back field
 * for field; the fuzz target checks that round trip. Every length is
 * compared with the bytes that remain and with the field's cap before the
 * value is looked at.
 */
#include "protocols/proto_int.h"

#include <string.h>

/* Bits of the "seen" mask, one per non-repeating tag. */
enum {
	SEEN_VERSION = 1u << 0,
	SEEN_DEVICE_ID = 1u << 1,
	SEEN_MODEL = 1u << 2,
	SEEN_FIRMWARE = 1u << 3,
	SEEN_KEY_TYPE = 1u << 4,
	SEEN_CAPS = 1u << 5,
	SEEN_MAX_FRAME = 1u << 6,
	SEEN_NONCE = 1u << 7,
	SEEN_CSR = 1u << 8,
	SEEN_SHA256 = 1u << 9,
	SEEN_REASON = 1u << 10,
	SEEN_TEXT = 1u << 11,
};

/* Bytes lo..0x7e only; lo is 0x21 for identifiers, 0x20 for sentences. */
static int
printable(const uint8_t *p, size_t n, uint8_t lo)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < lo || p[i] > 0x7e)
			return 0;
	return 1;
}

static int
slice_ok(const struct proto_bytes *b)
{
	return b->len == 0 || b->p != NULL;
}

/* Checks a string field for encoding: PROTO_E_TOO_LARGE / PROTO_E_ARG. */
static int
check_string(const struct proto_bytes *b, size_t min, size_t max, uint8_t lo)
{
	if (!slice_ok(b))
		return PROTO_E_ARG;
	if (b->len > max)
		return PROTO_E_TOO_LARGE;
	if (b->len < min || !printable(b->p, b->len, lo))
		return PROTO_E_ARG;
	return PROTO_OK;
}

static int
put_tlv(uint8_t *out, size_t cap, size_t *pos, uint8_t tag, const uint8_t *v, size_t n)
{
	if (n > 0xffff)
		return PROTO_E_TOO_LARGE;
	if (cap - *pos < PROTO_TLV_HEADER || cap - *pos - PROTO_TLV_HEADER < n)
		return PROTO_E_SPACE;
	out[*pos] = tag;
	out[*pos + 1] = (uint8_t)(n >> 8);
	out[*pos + 2] = (uint8_t)n;
	if (n > 0)
		memcpy(out + *pos + PROTO_TLV_HEADER, v, n);
	*pos += PROTO_TLV_HEADER + n;
	return PROTO_OK;
}

static int
put_u8(uint8_t *out, size_t cap, size_t *pos, uint8_t tag, uint8_t v)
{
	return put_tlv(out, cap, pos, tag, &v, 1);
}

static int
put_u16(uint8_t *out, size_t cap, size_t *pos, uint8_t tag, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	return put_tlv(out, cap, pos, tag, b, sizeof(b));
}

static int
put_u32(uint8_t *out, size_t cap, size_t *pos, uint8_t tag, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	return put_tlv(out, cap, pos, tag, b, sizeof(b));
}

static int
max_frame_ok(uint16_t v)
{
	return v >= PROTO_FRAME_MIN && v <= PROTO_FRAME_MAX;
}

static int
encode_hello(const struct proto_msg *m, uint8_t *out, size_t cap, size_t *pos)
{
	int rc;

	rc = check_string(&m->device_id, 1, PROTO_DEVICE_ID_MAX, 0x21);
	if (rc == 0)
		rc = check_string(&m->model, 0, PROTO_NAME_MAX, 0x21);
	if (rc == 0)
		rc = check_string(&m->firmware, 0, PROTO_FIRMWARE_MAX, 0x21);
	if (rc == 0 && m->max_frame != 0 && !max_frame_ok(m->max_frame))
		rc = PROTO_E_ARG;
	if (rc == 0)
		rc = put_u8(out, cap, pos, PROTO_TAG_VERSION, m->version);
	if (rc == 0)
		rc = put_tlv(out, cap, pos, PROTO_TAG_DEVICE_ID, m->device_id.p, m->device_id.len);
	if (rc == 0 && m->model.len > 0)
		rc = put_tlv(out, cap, pos, PROTO_TAG_MODEL, m->model.p, m->model.len);
	if (rc == 0 && m->firmware.len > 0)
		rc = put_tlv(out, cap, pos, PROTO_TAG_FIRMWARE, m->firmware.p, m->firmware.len);
	if (rc == 0)
		rc = put_u8(out, cap, pos, PROTO_TAG_KEY_TYPE, m->key_type);
	if (rc == 0)
		rc = put_u32(out, cap, pos, PROTO_TAG_CAPS, m->caps);
	if (rc == 0 && m->max_frame != 0)
		rc = put_u16(out, cap, pos, PROTO_TAG_MAX_FRAME, m->max_frame);
	return rc;
}

static int
encode_chain(const struct proto_msg *m, uint8_t *out, size_t cap, size_t *pos)
{
	size_t i, total = 0;
	int rc = PROTO_OK;

	if (m->cert_count > PROTO_CHAIN_CERTS_MAX)
		return PROTO_E_TOO_LARGE;
	if (m->cert_count == 0)
		return PROTO_E_ARG;
	for (i = 0; i < m->cert_count; i++) {
		if (!slice_ok(&m->certs[i]) || m->certs[i].len == 0)
			return PROTO_E_ARG;
		if (m->certs[i].len > PROTO_CERT_MAX)
			return PROTO_E_TOO_LARGE;
		total += m->certs[i].len;
	}
	if (total > PROTO_CHAIN_MAX)
		return PROTO_E_TOO_LARGE;
	for (i = 0; rc == 0 && i < m->cert_count; i++)
		rc = put_tlv(out, cap, pos, PROTO_TAG_CERT, m->certs[i].p, m->certs[i].len);
	return rc;
}

int
proto_msg_encode(const struct proto_msg *m, uint8_t *out, size_t cap, size_t *len)
{
	size_t pos = 0;
	int rc;

	if (m == NULL || len == NULL || (out == NULL && cap > 0))
		return PROTO_E_ARG;
	*len = 0;
	switch (m->type) {
	case PROTO_HELLO:
		rc = encode_hello(m, out, cap, &pos);
		break;
	case PROTO_CSR_REQUEST:
		if (m->max_frame != 0 && !max_frame_ok(m->max_frame))
			return PROTO_E_ARG;
		rc = put_tlv(out, cap, &pos, PROTO_TAG_NONCE, m->nonce, PROTO_NONCE_LEN);
		if (rc == 0 && m->max_frame != 0)
			rc = put_u16(out, cap, &pos, PROTO_TAG_MAX_FRAME, m->max_frame);
		break;
	case PROTO_CSR:
		if (!slice_ok(&m->csr) || m->csr.len == 0)
			return PROTO_E_ARG;
		if (m->csr.len > PROTO_CSR_MAX)
			return PROTO_E_TOO_LARGE;
		rc = put_tlv(out, cap, &pos, PROTO_TAG_CSR, m->csr.p, m->csr.len);
		break;
	case PROTO_CHAIN:
		rc = encode_chain(m, out, cap, &pos);
		break;
	case PROTO_READBACK:
		rc = put_tlv(out, cap, &pos, PROTO_TAG_SHA256, m->sha256, sizeof(m->sha256));
		break;
	case PROTO_RESULT:
	case PROTO_ERROR:
		rc = check_string(&m->text, 0, PROTO_TEXT_MAX, 0x20);
		if (rc == 0)
			rc = put_u16(out, cap, &pos, PROTO_TAG_REASON, m->reason);
		if (rc == 0 && m->text.len > 0)
			rc = put_tlv(out, cap, &pos, PROTO_TAG_TEXT, m->text.p, m->text.len);
		break;
	default:
		return PROTO_E_ARG;
	}
	if (rc == 0)
		*len = pos;
	return rc;
}

/* ---- decoding ---- */

/* Which tags a type carries; any other tag is skipped like an unknown one. */
static int
tag_belongs(uint8_t type, uint8_t tag)
{
	switch (type) {
	case PROTO_HELLO:
		return tag >= PROTO_TAG_VERSION && tag <= PROTO_TAG_MAX_FRAME;
	case PROTO_CSR_REQUEST:
		return tag == PROTO_TAG_NONCE || tag == PROTO_TAG_MAX_FRAME;
	case PROTO_CSR:
		return tag == PROTO_TAG_CSR;
	case PROTO_CHAIN:
		return tag == PROTO_TAG_CERT;
	case PROTO_READBACK:
		return tag == PROTO_TAG_SHA256;
	case PROTO_RESULT:
	case PROTO_ERROR:
		return tag == PROTO_TAG_REASON || tag == PROTO_TAG_TEXT;
	default:
		return 0;
	}
}

static unsigned
tag_seen_bit(uint8_t tag)
{
	switch (tag) {
	case PROTO_TAG_VERSION:
		return SEEN_VERSION;
	case PROTO_TAG_DEVICE_ID:
		return SEEN_DEVICE_ID;
	case PROTO_TAG_MODEL:
		return SEEN_MODEL;
	case PROTO_TAG_FIRMWARE:
		return SEEN_FIRMWARE;
	case PROTO_TAG_KEY_TYPE:
		return SEEN_KEY_TYPE;
	case PROTO_TAG_CAPS:
		return SEEN_CAPS;
	case PROTO_TAG_MAX_FRAME:
		return SEEN_MAX_FRAME;
	case PROTO_TAG_NONCE:
		return SEEN_NONCE;
	case PROTO_TAG_CSR:
		return SEEN_CSR;
	case PROTO_TAG_SHA256:
		return SEEN_SHA256;
	case PROTO_TAG_REASON:
		return SEEN_REASON;
	case PROTO_TAG_TEXT:
		return SEEN_TEXT;
	default:
		return 0; /* PROTO_TAG_CERT repeats */
	}
}

static unsigned
required_tags(uint8_t type)
{
	switch (type) {
	case PROTO_HELLO:
		return SEEN_VERSION | SEEN_DEVICE_ID | SEEN_KEY_TYPE;
	case PROTO_CSR_REQUEST:
		return SEEN_NONCE;
	case PROTO_CSR:
		return SEEN_CSR;
	case PROTO_READBACK:
		return SEEN_SHA256;
	case PROTO_RESULT:
	case PROTO_ERROR:
		return SEEN_REASON;
	default:
		return 0; /* CHAIN: at least one cert, checked by count */
	}
}

/* A string value: length within [min, max], bytes lo..0x7e. */
static int
take_string(const uint8_t *v, size_t n, size_t min, size_t max, uint8_t lo, struct proto_bytes *out)
{
	if (n > max)
		return PROTO_E_TOO_LARGE;
	if (n < min || !printable(v, n, lo))
		return PROTO_E_MALFORMED;
	out->p = n > 0 ? v : NULL;
	out->len = n;
	return PROTO_OK;
}

/* A DER blob: 1..max bytes (its content is the caller's to parse). */
static int
take_blob(const uint8_t *v, size_t n, size_t max, struct proto_bytes *out)
{
	if (n > max)
		return PROTO_E_TOO_LARGE;
	if (n == 0)
		return PROTO_E_MALFORMED;
	out->p = v;
	out->len = n;
	return PROTO_OK;
}

static int
decode_field(struct proto_msg *m, uint8_t tag, const uint8_t *v, size_t n, size_t *chain_total)
{
	switch (tag) {
	case PROTO_TAG_VERSION:
		if (n != 1)
			return PROTO_E_MALFORMED;
		m->version = v[0];
		return PROTO_OK;
	case PROTO_TAG_DEVICE_ID:
		return take_string(v, n, 1, PROTO_DEVICE_ID_MAX, 0x21, &m->device_id);
	case PROTO_TAG_MODEL:
		return take_string(v, n, 0, PROTO_NAME_MAX, 0x21, &m->model);
	case PROTO_TAG_FIRMWARE:
		return take_string(v, n, 0, PROTO_FIRMWARE_MAX, 0x21, &m->firmware);
	case PROTO_TAG_KEY_TYPE:
		if (n != 1)
			return PROTO_E_MALFORMED;
		m->key_type = v[0];
		return PROTO_OK;
	case PROTO_TAG_CAPS:
		if (n != 4)
			return PROTO_E_MALFORMED;
		m->caps = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
		return PROTO_OK;
	case PROTO_TAG_MAX_FRAME:
		if (n != 2)
			return PROTO_E_MALFORMED;
		m->max_frame = (uint16_t)(v[0] << 8 | v[1]);
		return max_frame_ok(m->max_frame) ? PROTO_OK : PROTO_E_MALFORMED;
	case PROTO_TAG_NONCE:
		if (n != PROTO_NONCE_LEN)
			return PROTO_E_MALFORMED;
		memcpy(m->nonce, v, PROTO_NONCE_LEN);
		return PROTO_OK;
	case PROTO_TAG_CSR:
		return take_blob(v, n, PROTO_CSR_MAX, &m->csr);
	case PROTO_TAG_CERT:
		if (m->cert_count == PROTO_CHAIN_CERTS_MAX)
			return PROTO_E_TOO_LARGE;
		if (n > PROTO_CHAIN_MAX - *chain_total)
			return PROTO_E_TOO_LARGE;
		*chain_total += n;
		return take_blob(v, n, PROTO_CERT_MAX, &m->certs[m->cert_count++]);
	case PROTO_TAG_SHA256:
		if (n != sizeof(m->sha256))
			return PROTO_E_MALFORMED;
		memcpy(m->sha256, v, sizeof(m->sha256));
		return PROTO_OK;
	case PROTO_TAG_REASON:
		if (n != 2)
			return PROTO_E_MALFORMED;
		m->reason = (uint16_t)(v[0] << 8 | v[1]);
		return PROTO_OK;
	case PROTO_TAG_TEXT:
		return take_string(v, n, 0, PROTO_TEXT_MAX, 0x20, &m->text);
	default:
		return PROTO_OK;
	}
}

static int
decode_fields(uint8_t type, const uint8_t *in, size_t len, struct proto_msg *m)
{
	size_t pos = 0, chain_total = 0;
	unsigned seen = 0;
	int rc;

	m->type = (enum proto_type)type;
	if (type < PROTO_HELLO || type > PROTO_ERROR)
		return PROTO_E_MALFORMED;
	if (len > PROTO_MSG_MAX)
		return PROTO_E_TOO_LARGE;
	while (pos < len) {
		uint8_t tag;
		size_t n;
		unsigned bit;

		if (len - pos < PROTO_TLV_HEADER)
			return PROTO_E_MALFORMED; /* truncated header */
		tag = in[pos];
		n = (size_t)in[pos + 1] << 8 | in[pos + 2];
		pos += PROTO_TLV_HEADER;
		if (n > len - pos)
			return PROTO_E_MALFORMED; /* value runs past the end */
		if (tag_belongs(type, tag)) {
			bit = tag_seen_bit(tag);
			if (bit != 0 && (seen & bit) != 0)
				return PROTO_E_MALFORMED; /* duplicate */
			seen |= bit;
			rc = decode_field(m, tag, in + pos, n, &chain_total);
			if (rc != 0)
				return rc;
		}
		pos += n;
	}
	if ((seen & required_tags(type)) != required_tags(type))
		return PROTO_E_MALFORMED;
	if (type == PROTO_CHAIN && m->cert_count == 0)
		return PROTO_E_MALFORMED;
	return PROTO_OK;
}

int
proto_msg_decode(uint8_t type, const uint8_t *in, size_t len, struct proto_msg *m)
{
	int rc;

	if (m == NULL || (in == NULL && len > 0))
		return PROTO_E_ARG;
	memset(m, 0, sizeof(*m));
	rc = decode_fields(type, in, len, m);
	if (rc != 0) {
		/* no half-filled message for a caller that ignores the status */
		memset(m, 0, sizeof(*m));
		m->type = (enum proto_type)type;
	}
	return rc;
}
