/*
 * test_proto_frame.c: CRC-32 and the COBS frame codec. Known vectors; every
 * payload size up to past two COBS blocks round-trips; every truncation
 * and every single-bit flip of a valid frame is rejected and the decoder
 * resynchronises on the next delimiter; any split of the input gives the
 * same results; frames over the buffer are reported once.
 */
#include <stdio.h>
#include <string.h>

#include "protocols/proto.h"
#include "tests/support/check.h"
#include "tests/unit/test_proto_util.h"

#define WIRE_CAP PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX)

static uint8_t dec_buf[PROTO_FRAME_MAX];

/* One decode result, with a copy of the frame. */
struct result {
	int rc;
	uint8_t type, flags;
	uint16_t seq;
	size_t len;
	uint8_t payload[PROTO_FRAME_MAX];
};

#define RESULTS_MAX 64

/* Decodes all of in, step bytes per call; returns the number of results. */
static size_t
decode_all(const uint8_t *in, size_t n, size_t step, size_t cap, struct result *res)
{
	struct proto_frame_decoder d;
	size_t off = 0, count = 0;

	proto_frame_decoder_init(&d, dec_buf, cap);
	while (off < n) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		size_t pos = 0;

		while (pos < k) {
			struct proto_frame f;
			size_t used;
			int rc = proto_frame_decode(&d, in + off + pos, k - pos, &used, &f);

			CHECK(used <= k - pos);
			pos += used;
			if (rc == 0) {
				CHECK_INT_EQ(pos, k);
				break;
			}
			if (count < RESULTS_MAX) {
				struct result *r = &res[count];

				memset(r, 0, sizeof(*r));
				r->rc = rc;
				if (rc == 1) {
					r->type = f.type;
					r->flags = f.flags;
					r->seq = f.seq;
					r->len = f.payload_len;
					memcpy(r->payload, f.payload, f.payload_len);
				}
			}
			count++;
		}
		off += k;
	}
	return count;
}

static int
result_eq(const struct result *a, const struct result *b)
{
	return a->rc == b->rc && a->type == b->type && a->flags == b->flags && a->seq == b->seq &&
	       a->len == b->len && memcmp(a->payload, b->payload, a->len) == 0;
}

static size_t
encode(uint8_t type, uint8_t flags, uint16_t seq, const uint8_t *p, size_t n, uint8_t *out)
{
	struct proto_frame f = {type, flags, seq, p, n};
	size_t len = 0;
	int rc = proto_frame_encode(&f, out, WIRE_CAP, &len);

	CHECK_INT_EQ(rc, PROTO_OK);
	return len;
}

static void
test_crc(void)
{
	const uint8_t *s = (const uint8_t *)"123456789";

	CHECK_INT_EQ(proto_crc32(0, s, 9), 0xcbf43926u); /* the standard check value */
	CHECK_INT_EQ(proto_crc32(proto_crc32(0, s, 4), s + 4, 5), 0xcbf43926u);
	CHECK_INT_EQ(proto_crc32(0, NULL, 0), 0);
	CHECK_INT_EQ(proto_crc32(0, (const uint8_t *)"a", 1), 0xe8b7be43u);
}

static void
test_known_bytes(void)
{
	/* ACK seq 1: 7e 00 00 01 + CRC, COBS-encoded */
	uint8_t out[WIRE_CAP], raw[8] = {0x7e, 0x00, 0x00, 0x01};
	uint32_t crc = proto_crc32(0, raw, 4);
	size_t n, i;
	struct result r[4];

	raw[4] = (uint8_t)(crc >> 24), raw[5] = (uint8_t)(crc >> 16);
	raw[6] = (uint8_t)(crc >> 8), raw[7] = (uint8_t)crc;
	n = encode(PROTO_ACK, 0, 1, NULL, 0, out);
	CHECK(n <= PROTO_FRAME_WIRE_MAX(8));
	CHECK_INT_EQ(out[n - 1], 0x00);
	for (i = 0; i + 1 < n; i++)
		CHECK(out[i] != 0x00); /* COBS: no zero but the delimiter */
	/* COBS by hand: 02 7e | 01 | 01 | ... */
	CHECK_INT_EQ(out[0], 0x02);
	CHECK_INT_EQ(out[1], 0x7e);
	CHECK_INT_EQ(out[2], 0x01);
	CHECK_INT_EQ(decode_all(out, n, 0, sizeof(dec_buf), r), 1);
	CHECK_INT_EQ(r[0].rc, 1);
	CHECK_INT_EQ(r[0].type, PROTO_ACK);
	CHECK_INT_EQ(r[0].seq, 1);
	CHECK_INT_EQ(r[0].len, 0);
}

static void
test_round_trip_sizes(void)
{
	static uint8_t payload[PROTO_FRAME_MAX], out[WIRE_CAP];
	struct result r[2];
	size_t n, len, zeros;

	for (n = 0; n <= 600; n++) {
		for (zeros = 0; zeros < 3; zeros++) {
			/* no zeros (longest COBS runs), DER-like, all zeros */
			if (zeros == 0)
				memset(payload, 0xa5, n);
			else if (zeros == 1)
				tp_fill(payload, n, (uint32_t)n);
			else
				memset(payload, 0, n);
			len = encode(0x03, PROTO_FLAG_FIRST, (uint16_t)(n * 31), payload, n, out);
			CHECK(len <= PROTO_FRAME_WIRE_MAX(n + PROTO_FRAME_OVERHEAD));
			CHECK_INT_EQ(decode_all(out, len, 0, sizeof(dec_buf), r), 1);
			CHECK_INT_EQ(r[0].rc, 1);
			CHECK_INT_EQ(r[0].len, n);
			CHECK_INT_EQ(r[0].seq, (uint16_t)(n * 31));
			CHECK(memcmp(r[0].payload, payload, n) == 0);
		}
	}
	/* the largest frame */
	memset(payload, 0x11, sizeof(payload));
	len = encode(0x04, 0, 65535, payload, PROTO_FRAME_MAX - PROTO_FRAME_OVERHEAD, out);
	CHECK(len <= PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX));
	CHECK_INT_EQ(decode_all(out, len, 0, PROTO_FRAME_MAX, r), 1);
	CHECK_INT_EQ(r[0].rc, 1);
	CHECK_INT_EQ(r[0].seq, 65535);
}

static void
test_encode_refusals(void)
{
	static uint8_t payload[PROTO_FRAME_MAX], out[WIRE_CAP];
	struct proto_frame f = {0x03, 0, 0, payload, PROTO_FRAME_MAX - PROTO_FRAME_OVERHEAD + 1};
	size_t len, cap, need;

	CHECK_INT_EQ(proto_frame_encode(&f, out, sizeof(out), &len), PROTO_E_TOO_LARGE);
	f.payload_len = 100;
	f.payload = NULL;
	CHECK_INT_EQ(proto_frame_encode(&f, out, sizeof(out), &len), PROTO_E_ARG);
	f.payload = payload;
	tp_fill(payload, 300, 3);
	f.payload_len = 300;
	CHECK_INT_EQ(proto_frame_encode(&f, out, sizeof(out), &need), PROTO_OK);
	for (cap = 0; cap < need; cap++)
		CHECK_INT_EQ(proto_frame_encode(&f, out, cap, &len), PROTO_E_SPACE);
	CHECK_INT_EQ(proto_frame_encode(&f, out, need, &len), PROTO_OK);
	CHECK_INT_EQ(len, need);
}

static void
test_truncation_and_flips(void)
{
	static uint8_t payload[300], a[WIRE_CAP], b[WIRE_CAP], stream[3 * WIRE_CAP];
	static struct result r[RESULTS_MAX];
	size_t na, nb, cut, bit, k, i;

	tp_fill(payload, sizeof(payload), 99);
	na = encode(0x04, PROTO_FLAG_FIRST | PROTO_FLAG_MORE, 7, payload, sizeof(payload), a);
	nb = encode(0x05, PROTO_FLAG_FIRST, 8, payload, 40, b);

	/* every truncation of a, then its delimiter, then b: a is rejected, b is delivered */
	for (cut = 1; cut < na; cut++) {
		memcpy(stream, a, cut - 1 + 1);
		stream[cut - 1] = 0x00;
		memcpy(stream + cut, b, nb);
		k = decode_all(stream, cut + nb, 0, sizeof(dec_buf), r);
		CHECK(k >= 1);
		for (i = 0; i + 1 < k; i++)
			CHECK(r[i].rc < 0);
		CHECK_INT_EQ(r[k - 1].rc, 1);
		CHECK_INT_EQ(r[k - 1].seq, 8);
	}

	/* every single-bit flip of a (delimiter included), then b, then b again:
	 * nothing but b is ever delivered, and the last b always is */
	for (bit = 0; bit < na * 8; bit++) {
		size_t delivered = 0;

		memcpy(stream, a, na);
		stream[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memcpy(stream + na, b, nb);
		memcpy(stream + na + nb, b, nb);
		k = decode_all(stream, na + 2 * nb, 0, sizeof(dec_buf), r);
		for (i = 0; i < k && i < RESULTS_MAX; i++) {
			if (r[i].rc != 1)
				continue;
			delivered++;
			CHECK_INT_EQ(r[i].seq, 8);
			CHECK_INT_EQ(r[i].len, 40);
		}
		CHECK(delivered >= 1);
		CHECK(k > 0 && r[k - 1].rc == 1);
		/* the damage is reported, not silently dropped, unless the flip made
		 * an empty frame (a lone 0x00 code byte) */
		CHECK(k >= 2 || stream[0] == 0x00);
	}
}

static void
test_splits_and_resync(void)
{
	static uint8_t stream[4 * WIRE_CAP + 64], payload[500];
	static struct result whole[RESULTS_MAX], split[RESULTS_MAX];
	size_t n = 0, k1, k2, step, i;

	tp_fill(payload, sizeof(payload), 5);
	stream[n++] = 0x00; /* leading delimiter: an empty frame, ignored */
	memcpy(stream + n, "noise before a frame", 20);
	n += 20;
	stream[n++] = 0x00;
	n += encode(0x01, PROTO_FLAG_FIRST, 0, payload, 120, stream + n);
	stream[n++] = 0x00; /* two delimiters in a row */
	n += encode(PROTO_ACK, 0, 3, NULL, 0, stream + n);
	stream[n++] = 0x05; /* a block cut short by the delimiter */
	stream[n++] = 0x11;
	stream[n++] = 0x00;
	stream[n++] = 0x01; /* too short to hold a header and CRC */
	stream[n++] = 0x00;
	n += encode(0x03, 0, 9, payload, 500, stream + n);
	n += encode(0x03, 0, 10, payload, 7, stream + n);

	k1 = decode_all(stream, n, 0, sizeof(dec_buf), whole);
	CHECK_INT_EQ(k1, 7);
	CHECK_INT_EQ(whole[0].rc, PROTO_E_MALFORMED); /* the noise: its first block runs past it */
	CHECK_INT_EQ(whole[1].rc, 1);
	CHECK_INT_EQ(whole[1].len, 120);
	CHECK_INT_EQ(whole[2].rc, 1);
	CHECK_INT_EQ(whole[2].type, PROTO_ACK);
	CHECK_INT_EQ(whole[3].rc, PROTO_E_MALFORMED);
	CHECK_INT_EQ(whole[4].rc, PROTO_E_MALFORMED);
	CHECK_INT_EQ(whole[5].rc, 1);
	CHECK_INT_EQ(whole[5].len, 500);
	CHECK_INT_EQ(whole[6].rc, 1);
	CHECK_INT_EQ(whole[6].seq, 10);
	for (step = 1; step <= 300; step += (step < 20 ? 1 : 37)) {
		k2 = decode_all(stream, n, step, sizeof(dec_buf), split);
		CHECK_INT_EQ(k2, k1);
		for (i = 0; i < k1 && i < k2; i++)
			CHECK(result_eq(&whole[i], &split[i]));
	}
}

static void
test_oversize(void)
{
	static uint8_t payload[400], stream[3 * WIRE_CAP];
	static struct result r[RESULTS_MAX];
	size_t n = 0, k, step;

	tp_fill(payload, sizeof(payload), 11);
	n += encode(0x03, PROTO_FLAG_FIRST, 1, payload, 200, stream + n); /* 208 > 64 */
	n += encode(0x03, PROTO_FLAG_FIRST, 2, payload, 56, stream + n);  /* exactly 64 */
	n += encode(0x03, PROTO_FLAG_FIRST, 3, payload, 57, stream + n);  /* 65 */
	for (step = 0; step < 4; step++) {
		k = decode_all(stream, n, step, 64, r);
		CHECK_INT_EQ(k, 3);
		CHECK_INT_EQ(r[0].rc, PROTO_E_TOO_LARGE);
		CHECK_INT_EQ(r[1].rc, 1);
		CHECK_INT_EQ(r[1].seq, 2);
		CHECK_INT_EQ(r[2].rc, PROTO_E_TOO_LARGE);
	}
}

int
main(void)
{
	test_crc();
	test_known_bytes();
	test_round_trip_sizes();
	test_encode_refusals();
	test_truncation_and_flips();
	test_splits_and_resync();
	test_oversize();
	return check_finish("test_proto_frame");
}
