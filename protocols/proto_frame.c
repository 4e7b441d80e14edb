/*
 * proto_frame.c: CRC-32 and the COBS frame codec (PROTOCOL.md section 3).
 *
 * DESIGN: the decoder is a byte-at-a-time state machine, so any split of
 * the input gives the same results. COBS's "implicit zero at the end of a
 * block shorter than 254 bytes" is appended lazily, when the next block's
 * code byte arrives: the last block's implicit zero is then never written,
 * and the buffer only ever holds bytes of the frame itself. A frame that
 * outgrows the buffer is skipped up to its delimiter and reported once,
 * when the delimiter arrives.
 */
#include "protocols/proto.h"

#include <string.h>

/* Nibble table of the reflected IEEE polynomial 0xedb88320: 64 bytes of
 * constants instead of 1 KiB, for firmware. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

uint32_t
proto_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	size_t i;

	crc = ~crc;
	for (i = 0; i < n; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ crc_nibble[crc & 0x0f];
		crc = (crc >> 4) ^ crc_nibble[crc & 0x0f];
	}
	return ~crc;
}

/* The unencoded frame as three pieces, read as one sequence. */
struct frame_src {
	uint8_t head[4];
	const uint8_t *payload;
	size_t payload_len;
	uint8_t crc[4];
};

static uint8_t
frame_src_byte(const struct frame_src *s, size_t i)
{
	if (i < 4)
		return s->head[i];
	i -= 4;
	if (i < s->payload_len)
		return s->payload[i];
	return s->crc[i - s->payload_len];
}

int
proto_frame_encode(const struct proto_frame *f, uint8_t *out, size_t cap, size_t *len)
{
	struct frame_src s;
	size_t total, i, o, code_pos;
	uint32_t crc;
	uint8_t code = 1;

	if (f == NULL || len == NULL || (out == NULL && cap > 0) ||
	    (f->payload == NULL && f->payload_len > 0))
		return PROTO_E_ARG;
	*len = 0;
	if (f->payload_len > PROTO_FRAME_MAX - PROTO_FRAME_OVERHEAD)
		return PROTO_E_TOO_LARGE;
	s.head[0] = f->type;
	s.head[1] = f->flags;
	s.head[2] = (uint8_t)(f->seq >> 8);
	s.head[3] = (uint8_t)f->seq;
	s.payload = f->payload;
	s.payload_len = f->payload_len;
	crc = proto_crc32(0, s.head, sizeof(s.head));
	crc = proto_crc32(crc, f->payload, f->payload_len);
	s.crc[0] = (uint8_t)(crc >> 24);
	s.crc[1] = (uint8_t)(crc >> 16);
	s.crc[2] = (uint8_t)(crc >> 8);
	s.crc[3] = (uint8_t)crc;
	total = f->payload_len + PROTO_FRAME_OVERHEAD;

	/* COBS: each block is a code byte (1 + bytes up to the next zero, at
	 * most 0xff) followed by those bytes; the zero itself is implied. */
	if (cap < 1)
		return PROTO_E_SPACE;
	code_pos = 0;
	o = 1;
	for (i = 0; i < total; i++) {
		uint8_t b = frame_src_byte(&s, i);

		if (b != 0) {
			if (o >= cap)
				return PROTO_E_SPACE;
			out[o++] = b;
			code++;
		}
		if (b == 0 || code == 0xff) {
			out[code_pos] = code;
			if (o >= cap)
				return PROTO_E_SPACE;
			code_pos = o++;
			code = 1;
		}
	}
	out[code_pos] = code;
	if (o >= cap)
		return PROTO_E_SPACE;
	out[o++] = 0x00;
	*len = o;
	return PROTO_OK;
}

enum {
	DEC_CODE = 0, /* next byte is a block's code byte (or the delimiter) */
	DEC_DATA = 1, /* inside a block: d->code bytes left */
	DEC_SKIP = 2, /* frame too large: drop until the delimiter */
};

void
proto_frame_decoder_init(struct proto_frame_decoder *d, uint8_t *buf, size_t cap)
{
	if (d == NULL)
		return;
	memset(d, 0, sizeof(*d));
	d->buf = buf;
	d->cap = buf != NULL ? cap : 0;
}

static void
decoder_restart(struct proto_frame_decoder *d)
{
	d->len = 0;
	d->code = 0;
	d->block = 0;
	d->state = DEC_CODE;
	d->overflow = 0;
}

/* Appends one decoded byte; on overflow switches to skipping. */
static void
decoder_put(struct proto_frame_decoder *d, uint8_t b)
{
	if (d->len >= d->cap) {
		d->overflow = 1;
		d->state = DEC_SKIP;
		return;
	}
	d->buf[d->len++] = b;
}

/* A delimiter arrived: judge the frame collected so far. */
static int
decoder_finish(struct proto_frame_decoder *d, struct proto_frame *f)
{
	size_t n = d->len;
	uint32_t want, got;

	if (d->overflow)
		return PROTO_E_TOO_LARGE;
	if (d->state == DEC_DATA)
		return PROTO_E_MALFORMED; /* the delimiter cut a block short */
	if (n < PROTO_FRAME_OVERHEAD)
		return PROTO_E_MALFORMED;
	want = (uint32_t)d->buf[n - 4] << 24 | (uint32_t)d->buf[n - 3] << 16 |
	       (uint32_t)d->buf[n - 2] << 8 | d->buf[n - 1];
	got = proto_crc32(0, d->buf, n - 4);
	if (want != got)
		return PROTO_E_CRC;
	f->type = d->buf[0];
	f->flags = d->buf[1];
	f->seq = (uint16_t)(d->buf[2] << 8 | d->buf[3]);
	f->payload = d->buf + 4;
	f->payload_len = n - PROTO_FRAME_OVERHEAD;
	return 1;
}

int
proto_frame_decode(struct proto_frame_decoder *d, const uint8_t *in, size_t n, size_t *used,
                   struct proto_frame *f)
{
	size_t i;

	if (used != NULL)
		*used = 0;
	if (d == NULL || used == NULL || f == NULL || (in == NULL && n > 0))
		return PROTO_E_ARG;
	for (i = 0; i < n; i++) {
		uint8_t b = in[i];

		if (b == 0x00) {
			int rc;

			if (d->state == DEC_CODE && d->block == 0)
				continue; /* empty frame: a sender's resynchronising delimiter */
			rc = decoder_finish(d, f);
			decoder_restart(d);
			*used = i + 1;
			return rc;
		}
		switch (d->state) {
		case DEC_CODE:
			/* the previous block's implied zero, unless it was a full block */
			if (d->block != 0 && d->block != 0xff)
				decoder_put(d, 0x00);
			if (d->state == DEC_SKIP)
				break;
			d->block = b;
			d->code = (uint8_t)(b - 1);
			d->state = d->code > 0 ? DEC_DATA : DEC_CODE;
			break;
		case DEC_DATA:
			decoder_put(d, b);
			if (d->state == DEC_SKIP)
				break;
			if (--d->code == 0)
				d->state = DEC_CODE;
			break;
		default: /* DEC_SKIP */
			break;
		}
	}
	*used = n;
	return 0;
}
