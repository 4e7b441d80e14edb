/*
 * fuzz_proto_frame.c: the frame decoder and the frame dialect link on
 * arbitrary bytes.
 *
 * Decoder: whole input, 1-byte and 7-byte pieces must give the same
 * sequence of results (status, type, flags, seq, payload).
 * Link, as station and as device, each with a chunked message of its own
 * in flight (so ACKs and NAKs in the input matter): fed in pieces with the
 * clock moving, every message it delivers keeps the header's promises, and
 * everything it writes decodes as valid frames no larger than allowed.
 * A second pass reads the input as records (length byte, then type, flags,
 * seq, payload) and sends them as frames with correct CRCs, so the link's
 * sequence, chunking and ACK logic is reached, not only its CRC check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/proto.h"
#include "tests/unit/test_proto_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A running digest of decoder results: equal sequences, equal digests. */
static uint32_t
decode_digest(const uint8_t *data, size_t size, size_t step, size_t *count)
{
	static uint8_t buf[PROTO_FRAME_MAX];
	struct proto_frame_decoder d;
	uint32_t h = 0;
	size_t off = 0;

	*count = 0;
	proto_frame_decoder_init(&d, buf, 1024);
	while (off < size) {
		size_t k = size - off < step ? size - off : step, pos = 0;

		while (pos < k) {
			struct proto_frame f;
			size_t used;
			int rc = proto_frame_decode(&d, data + off + pos, k - pos, &used, &f);

			if (used > k - pos || (rc == 0 && used != k - pos))
				abort();
			pos += used;
			if (rc == 0)
				break;
			(*count)++;
			h = h * 31u + (uint32_t)(rc + 16);
			if (rc == 1) {
				if (f.payload_len + PROTO_FRAME_OVERHEAD > 1024)
					abort();
				h = h * 31u + f.type;
				h = h * 31u + f.flags;
				h = h * 31u + f.seq;
				h = proto_crc32(h, f.payload, f.payload_len);
			}
		}
		off += k;
	}
	return h;
}

static void
check_msg(const struct proto_msg *m)
{
	static uint8_t buf[PROTO_MSG_MAX];
	size_t len;

	/* a delivered message always re-encodes: it obeys every field rule */
	if (proto_msg_encode(m, buf, sizeof(buf), &len) != PROTO_OK)
		abort();
}

/* The largest max_frame the peer announced so far: a chunk keeps the size it
 * was cut to, even if the peer announces less later. */
static uint16_t peer_max_seen;

/* Everything the link wants to write must be well-formed frames. */
static void
check_output(struct proto_link *l, uint64_t now)
{
	static uint8_t out[2 * PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX)], fb[PROTO_FRAME_MAX];
	struct proto_frame_decoder d;
	size_t n, pos = 0;

	proto_frame_decoder_init(&d, fb, sizeof(fb));
	while ((n = proto_link_output(l, out, sizeof(out), now)) > 0) {
		pos = 0;
		while (pos < n) {
			struct proto_frame f;
			size_t used;
			int rc = proto_frame_decode(&d, out + pos, n - pos, &used, &f);

			pos += used;
			if (rc < 0)
				abort();
			if (l->peer_max_frame > peer_max_seen)
				peer_max_seen = l->peer_max_frame;
			if (rc == 1 && f.payload_len + PROTO_FRAME_OVERHEAD > peer_max_seen &&
			    f.type != PROTO_ACK && f.type != PROTO_NAK)
				abort();
		}
	}
}

static void
run_link(enum proto_role role, uint16_t max_frame, const uint8_t *data, size_t size, size_t step)
{
	static struct tp_end e;
	static struct tp_store st;
	struct proto_msg m;
	uint64_t now = 0, next;
	size_t off = 0;

	if (tp_end_init(&e, PROTO_DIALECT_FRAME, role, max_frame, TP_BUF) != 0)
		abort();
	peer_max_seen = PROTO_FRAME_MIN;
	tp_sample(&m, role == PROTO_ROLE_STATION ? PROTO_CHAIN : PROTO_CSR, &st, 300, 2);
	if (proto_link_send(&e.l, &m, now) != 0)
		abort();
	check_output(&e.l, now);
	while (off < size) {
		size_t k = size - off < step ? size - off : step;
		int rc = proto_link_input(&e.l, data + off, k, now);

		if (rc > 0)
			abort();
		off += k;
		while (proto_link_recv(&e.l, &m) == 1)
			check_msg(&m);
		now += 100;
		(void)proto_link_tick(&e.l, now, &next);
		check_output(&e.l, now);
		/* keep something in flight */
		tp_sample(&m, PROTO_ERROR, &st, 0, 0);
		rc = proto_link_send(&e.l, &m, now);
		if (rc != 0 && rc != PROTO_E_BUSY)
			abort();
	}
	if (e.l.peer_max_frame < PROTO_FRAME_MIN || e.l.peer_max_frame > PROTO_FRAME_MAX)
		abort();
}

/* Records -> valid frames on the wire; returns the wire length. */
static size_t
records_to_wire(const uint8_t *data, size_t size, uint8_t *wire, size_t cap)
{
	size_t pos = 0, n = 0;

	while (pos < size) {
		size_t k = data[pos++];
		struct proto_frame f;
		size_t len;

		if (k > size - pos)
			k = size - pos;
		if (k >= 4) {
			f.type = data[pos];
			f.flags = data[pos + 1];
			f.seq = (uint16_t)(data[pos + 2] << 8 | data[pos + 3]);
			f.payload = data + pos + 4;
			f.payload_len = k - 4;
			if (proto_frame_encode(&f, wire + n, cap - n, &len) == PROTO_OK)
				n += len;
		}
		pos += k;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t wire[2 * 65536];
	size_t c1, c2, c3;
	uint32_t h1 = decode_digest(data, size, size > 0 ? size : 1, &c1);
	uint32_t h2 = decode_digest(data, size, 1, &c2);
	uint32_t h3 = decode_digest(data, size, 7, &c3);

	if (h1 != h2 || h1 != h3 || c1 != c2 || c1 != c3)
		abort();
	run_link(PROTO_ROLE_STATION, 64, data, size, size > 0 ? size : 1);
	run_link(PROTO_ROLE_STATION, 1024, data, size, 1);
	run_link(PROTO_ROLE_DEVICE, 64, data, size, 13);
	run_link(PROTO_ROLE_DEVICE, 1024, data, size, size > 0 ? size : 1);
	if (size <= 32768) {
		size_t n = records_to_wire(data, size, wire, sizeof(wire));

		run_link(PROTO_ROLE_STATION, 64, wire, n, n > 0 ? n : 1);
		run_link(PROTO_ROLE_DEVICE, 256, wire, n, 11);
	}
	return 0;
}
