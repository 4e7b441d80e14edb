/*
 * test_proto_link.c: the frame dialect link, a real station link and a real
 * device link talking to each other in memory. Every message type in both
 * directions at max_frame 64 / 1024 (chunked), fed whole and 1 byte at a
 * time; lost frames, lost ACKs, damaged and truncated frames recovered by
 * retransmission (time driven explicitly through now_ms); retries
 * exhausted; duplicates; a peer that ignores our max_frame; a message over
 * rx_cap; a peer that restarts; seq wrap-around.
 */
#include <stdio.h>
#include <string.h>

#include "protocols/proto.h"
#include "tests/support/check.h"
#include "tests/unit/test_proto_util.h"

/* What the filter does to frames. */
enum action { PASS = 0, DROP, FLIP, TRUNCATE };

struct filt {
	/* the frame to act on: direction, data or ACK, index among those */
	int from_station;
	int want_data; /* 1: data frames, 0: ACK/NAK frames */
	size_t index;  /* act on frames index .. index + count - 1 */
	size_t count;
	enum action action;
	size_t arg; /* FLIP: bit number; TRUNCATE: bytes kept */
	/* observations */
	size_t seen[2][2];  /* [from_station][data] */
	size_t max_data[2]; /* largest decoded data frame per direction */
	size_t acted;
	int limit_check; /* check frame sizes against the receiver's max_frame */
	struct tp_pair *pair;
	size_t oversize; /* frames over the receiver's max_frame */
};

static int
filter_fn(void *ctx, int from_station, uint8_t *frame, size_t *len)
{
	static uint8_t scratch[PROTO_FRAME_MAX + 16];
	struct filt *f = ctx;
	struct proto_frame_decoder d;
	struct proto_frame fr;
	size_t used, idx;
	int rc, data;

	if (*len <= 1)
		return 1; /* a lone delimiter */
	proto_frame_decoder_init(&d, scratch, sizeof(scratch));
	rc = proto_frame_decode(&d, frame, *len, &used, &fr);
	if (rc != 1)
		return 1; /* already damaged: carry as is */
	data = fr.type != PROTO_ACK && fr.type != PROTO_NAK;
	if (data && fr.payload_len + PROTO_FRAME_OVERHEAD > f->max_data[from_station])
		f->max_data[from_station] = fr.payload_len + PROTO_FRAME_OVERHEAD;
	if (f->limit_check && f->pair != NULL) {
		const struct proto_link *dst = from_station ? &f->pair->dev.l : &f->pair->st.l;

		if (fr.payload_len + PROTO_FRAME_OVERHEAD > dst->cfg.max_frame)
			f->oversize++;
	}
	idx = f->seen[from_station][data]++;
	if (f->action == PASS || from_station != f->from_station || data != f->want_data ||
	    idx < f->index || idx >= f->index + f->count)
		return 1;
	f->acted++;
	switch (f->action) {
	case DROP:
		return 0;
	case FLIP:
		frame[(f->arg / 8) % *len] ^= (uint8_t)(1u << (f->arg % 8));
		return 1;
	default: /* TRUNCATE: keep arg bytes, then the delimiter */
		if (f->arg + 1 < *len) {
			frame[f->arg] = 0x00;
			*len = f->arg + 1;
		}
		return 1;
	}
}

static struct tp_store store_a;

/* Sends m from one end and runs the pair; checks it arrived once, intact. */
static void
deliver(struct tp_pair *p, int from_station, const struct proto_msg *m)
{
	struct tp_end *src = from_station ? &p->st : &p->dev;
	struct tp_end *dst = from_station ? &p->dev : &p->st;
	size_t before = dst->ngot;
	int rc = proto_link_send(&src->l, m, p->now);

	CHECK_INT_EQ(rc, PROTO_OK);
	CHECK_INT_EQ(proto_link_send_done(&src->l), 0);
	tp_run(p, p->now + 60000);
	CHECK_INT_EQ(dst->ngot, before + 1);
	if (dst->ngot == before + 1) {
		if (!tp_msg_eq(&dst->got[before % TP_GOT_MAX].m, m))
			fprintf(stderr, "deliver: %s differs after the link\n",
			        proto_type_name(m->type));
		CHECK(tp_msg_eq(&dst->got[before % TP_GOT_MAX].m, m));
	}
	CHECK_INT_EQ(proto_link_send_done(&src->l), 1);
	CHECK_INT_EQ(dst->nerr, 0);
	CHECK_INT_EQ(src->timeouts, 0);
}

/* The whole exchange plus ERROR both ways, on a fresh pair. */
static void
exchange(uint16_t st_max, uint16_t dev_max, size_t chunk, size_t out_chunk, size_t cert_size,
         size_t certs)
{
	static struct tp_store s_csr, s_chain;
	struct tp_pair *p = tp_pair_new(PROTO_DIALECT_FRAME, st_max, dev_max);
	struct filt f;
	struct proto_msg m;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	memset(&f, 0, sizeof(f));
	f.limit_check = 1;
	f.pair = p;
	p->filter = filter_fn;
	p->ctx = &f;
	p->chunk = chunk;
	p->out_chunk = out_chunk;

	CHECK_INT_EQ(p->st.l.peer_max_frame, PROTO_FRAME_MIN);
	CHECK_INT_EQ(p->dev.l.peer_max_frame, PROTO_FRAME_MIN);
	tp_sample(&m, PROTO_HELLO, &store_a, 0, 0);
	deliver(p, 0, &m);
	/* the HELLO went out in frames of at most 64; its max_frame is the device link's */
	CHECK(f.max_data[0] <= PROTO_FRAME_MIN);
	CHECK_INT_EQ(p->st.got[0].m.max_frame, dev_max);
	CHECK_INT_EQ(p->st.l.peer_max_frame, dev_max);
	CHECK_INT_EQ(p->dev.l.peer_max_frame, PROTO_FRAME_MIN);

	tp_sample(&m, PROTO_CSR_REQUEST, &store_a, 0, 0);
	deliver(p, 1, &m);
	CHECK_INT_EQ(p->dev.got[0].m.max_frame, st_max);
	CHECK_INT_EQ(p->dev.l.peer_max_frame, st_max);

	f.max_data[0] = f.max_data[1] = 0;
	tp_sample(&m, PROTO_CSR, &s_csr, 260, 0);
	deliver(p, 0, &m);
	/* chunks fill what the station allows: the TLV is 263 bytes, a frame 8 more */
	CHECK_INT_EQ(f.max_data[0], st_max < 263 + 8 ? st_max : 263 + 8);

	tp_sample(&m, PROTO_CHAIN, &s_chain, cert_size, certs);
	deliver(p, 1, &m);
	CHECK(f.max_data[1] <= dev_max);

	tp_sample(&m, PROTO_READBACK, &store_a, 0, 0);
	deliver(p, 0, &m);
	tp_sample(&m, PROTO_RESULT, &store_a, 0, 0);
	deliver(p, 1, &m);
	tp_sample(&m, PROTO_ERROR, &store_a, 0, 0);
	deliver(p, 0, &m);
	deliver(p, 1, &m);

	CHECK_INT_EQ(f.oversize, 0);
	CHECK_INT_EQ(p->st.l.stats.bad_frames, 0);
	CHECK_INT_EQ(p->dev.l.stats.bad_frames, 0);
	CHECK_INT_EQ(p->st.l.stats.retransmits, 0);
	CHECK_INT_EQ(p->dev.l.stats.retransmits, 0);
	CHECK_INT_EQ(p->st.l.stats.bytes_out, p->dev.l.stats.bytes_in);
	CHECK_INT_EQ(p->dev.l.stats.bytes_out, p->st.l.stats.bytes_in);
	CHECK_INT_EQ(p->st.l.stats.frames_out, p->dev.l.stats.frames_in);
	CHECK(p->now == 0); /* nothing was lost: no timer ever had to fire */
	free(p);
}

static void
test_exchanges(void)
{
	exchange(64, 64, 0, 0, 500, 3);
	exchange(1024, 1024, 0, 0, 500, 3);
	exchange(64, 1024, 0, 0, 500, 3);
	exchange(1024, 256, 0, 0, 500, 3);
	exchange(PROTO_FRAME_MAX, PROTO_FRAME_MAX, 0, 0, 2730, 6); /* the largest chain */
	exchange(64, 64, 0, 0, 2730, 6);
	/* byte at a time in and out */
	exchange(64, 1024, 1, 1, 500, 3);
	exchange(1024, 64, 1, 3, 900, 2);
	exchange(1024, 1024, 7, 0, 500, 3);
}

/* A message sent with a filter in place; returns the pair (caller frees). */
static struct tp_pair *
send_filtered(struct filt *f, enum proto_type type, int from_station, uint16_t max_frame)
{
	static struct tp_store st;
	struct tp_pair *p = tp_pair_new(PROTO_DIALECT_FRAME, max_frame, max_frame);
	struct proto_msg m;

	if (p == NULL)
		return NULL;
	p->filter = filter_fn;
	p->ctx = f;
	f->pair = p;
	tp_sample(&m, type, &st, 600, 3);
	CHECK_INT_EQ(proto_link_send(from_station ? &p->st.l : &p->dev.l, &m, 0), PROTO_OK);
	tp_run(p, 120000);
	return p;
}

static void
check_once(struct tp_pair *p, int to_station, enum proto_type type)
{
	static struct tp_store st;
	struct tp_end *dst = to_station ? &p->st : &p->dev;
	struct tp_end *src = to_station ? &p->dev : &p->st;
	struct proto_msg m;

	tp_sample(&m, type, &st, 600, 3);
	CHECK_INT_EQ(dst->ngot, 1);
	if (dst->ngot == 1)
		CHECK(tp_msg_eq(&dst->got[0].m, &m));
	CHECK_INT_EQ(proto_link_send_done(&src->l), 1);
	CHECK_INT_EQ(src->timeouts, 0);
}

static void
test_lost_frames(void)
{
	size_t i;

	/* each data frame of a 600-byte CSR (603 in TLV: 11 frames of 64), lost once
	 * (and twice in a row) */
	for (i = 0; i < 11; i++) {
		struct filt f = {0};
		struct tp_pair *p;

		f.from_station = 0;
		f.want_data = 1;
		f.index = i;
		f.count = 1 + i % 2;
		f.action = DROP;
		p = send_filtered(&f, PROTO_CSR, 0, 64);
		CHECK(p != NULL);
		if (p == NULL)
			return;
		CHECK_INT_EQ(f.acted, f.count);
		check_once(p, 1, PROTO_CSR);
		CHECK_INT_EQ(p->dev.l.stats.retransmits, f.count);
		CHECK(p->now >= 300 * f.count); /* only the timer could recover it */
		free(p);
	}
}

static void
test_lost_acks(void)
{
	size_t i;

	for (i = 0; i < 11; i++) {
		struct filt f = {0};
		struct tp_pair *p;

		f.from_station = 1;
		f.want_data = 0;
		f.index = i;
		f.count = 1 + i % 3;
		f.action = DROP;
		p = send_filtered(&f, PROTO_CSR, 0, 64);
		CHECK(p != NULL);
		if (p == NULL)
			return;
		CHECK_INT_EQ(f.acted, f.count);
		check_once(p, 1, PROTO_CSR); /* the duplicates were ACKed, not delivered */
		CHECK_INT_EQ(p->dev.l.stats.retransmits, f.count);
		CHECK_INT_EQ(p->st.l.stats.frames_in, p->dev.l.stats.frames_out);
		free(p);
	}
}

static void
test_damaged_frames(void)
{
	size_t bit, cut;

	/* every bit of the 2nd data frame of a CHAIN from the station, flipped */
	for (bit = 0; bit < 8 * 75; bit++) {
		struct filt f = {0};
		struct tp_pair *p;

		f.from_station = 1;
		f.want_data = 1;
		f.index = 1;
		f.count = 1;
		f.action = FLIP;
		f.arg = bit;
		p = send_filtered(&f, PROTO_CHAIN, 1, 64);
		CHECK(p != NULL);
		if (p == NULL)
			return;
		check_once(p, 0, PROTO_CHAIN);
		CHECK(p->dev.l.stats.bad_frames >= 1 || p->dev.l.stats.frames_in > 0);
		free(p);
	}
	/* a damaged data frame is NAKed and resent at once: no timer needed */
	{
		struct filt f = {0};
		struct tp_pair *p;

		f.from_station = 0;
		f.want_data = 1;
		f.index = 2;
		f.count = 1;
		f.action = FLIP;
		f.arg = 8 * 10 + 3;
		p = send_filtered(&f, PROTO_CSR, 0, 64);
		CHECK(p != NULL);
		if (p == NULL)
			return;
		check_once(p, 1, PROTO_CSR);
		CHECK_INT_EQ(p->st.l.stats.bad_frames, 1);
		CHECK_INT_EQ(p->st.l.stats.naks_sent, 1);
		CHECK_INT_EQ(p->dev.l.stats.naks_received, 1);
		CHECK_INT_EQ(p->dev.l.stats.retransmits, 1);
		CHECK_INT_EQ(p->now, 0);
		free(p);
	}
	/* every truncation of the first data frame of a HELLO */
	for (cut = 0; cut < 66; cut++) {
		struct filt f = {0};
		struct tp_pair *p;

		f.from_station = 0;
		f.want_data = 1;
		f.index = 0;
		f.count = 1;
		f.action = TRUNCATE;
		f.arg = cut;
		p = send_filtered(&f, PROTO_HELLO, 0, 64);
		CHECK(p != NULL);
		if (p == NULL)
			return;
		check_once(p, 1, PROTO_HELLO);
		free(p);
	}
}

static void
test_retries_exhausted(void)
{
	struct filt f = {0};
	struct tp_pair *p;
	struct proto_msg m;
	uint64_t next;

	f.from_station = 0;
	f.want_data = 1;
	f.index = 0;
	f.count = 1000;
	f.action = DROP;
	p = send_filtered(&f, PROTO_READBACK, 0, 64);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK_INT_EQ(p->dev.timeouts, 1);
	CHECK_INT_EQ(f.acted, 1 + 5); /* the first send and max_retries resends */
	CHECK_INT_EQ(p->dev.l.stats.retransmits, 5);
	CHECK_INT_EQ(p->now, 6 * 300);
	CHECK_INT_EQ(p->st.ngot, 0);
	CHECK_INT_EQ(proto_link_send_done(&p->dev.l), 0);
	CHECK_INT_EQ(proto_link_tick(&p->dev.l, p->now + 10000, &next),
	             PROTO_OK); /* reported once */
	CHECK(next == UINT64_MAX);
	/* the link is usable again: the next message goes through */
	f.action = PASS;
	tp_sample(&m, PROTO_RESULT, &store_a, 0, 0);
	m.type = PROTO_ERROR;
	CHECK_INT_EQ(proto_link_send(&p->dev.l, &m, p->now), PROTO_OK);
	tp_run(p, p->now + 60000);
	CHECK_INT_EQ(p->st.ngot, 1);
	CHECK_INT_EQ(proto_link_send_done(&p->dev.l), 1);
	free(p);

	/* the deadline counts from when the last byte was written, not from send */
	p = tp_pair_new(PROTO_DIALECT_FRAME, 64, 64);
	CHECK(p != NULL);
	if (p == NULL)
		return;
	{
		uint8_t out[PROTO_FRAME_WIRE_MAX(64) + 8];
		size_t n;

		tp_sample(&m, PROTO_READBACK, &store_a, 0, 0);
		CHECK_INT_EQ(proto_link_send(&p->dev.l, &m, 0), PROTO_OK);
		CHECK_INT_EQ(proto_link_tick(&p->dev.l, 0, &next), PROTO_OK);
		CHECK(next == UINT64_MAX); /* nothing written yet: no deadline */
		n = proto_link_output(&p->dev.l, out, 10, 1000);
		CHECK_INT_EQ(n, 10);
		CHECK_INT_EQ(proto_link_tick(&p->dev.l, 5000, &next), PROTO_OK);
		CHECK(next == UINT64_MAX);
		n = proto_link_output(&p->dev.l, out, sizeof(out), 2000);
		CHECK(n > 0);
		CHECK_INT_EQ(proto_link_tick(&p->dev.l, 2000, &next), PROTO_OK);
		CHECK_INT_EQ(next, 2300);
		CHECK_INT_EQ(proto_link_tick(&p->dev.l, 2299, &next), PROTO_OK);
		CHECK_INT_EQ(p->dev.l.stats.retransmits, 0);
		CHECK_INT_EQ(proto_link_tick(&p->dev.l, 2300, &next), PROTO_OK);
		CHECK_INT_EQ(p->dev.l.stats.retransmits, 1);
		CHECK_INT_EQ(proto_link_send(&p->dev.l, &m, 2300), PROTO_E_BUSY);
	}
	free(p);
}

/* Wire bytes of one frame. */
static size_t
raw_frame(uint8_t type, uint8_t flags, uint16_t seq, const uint8_t *pl, size_t n, uint8_t *out)
{
	struct proto_frame f = {type, flags, seq, pl, n};
	size_t len = 0;

	CHECK_INT_EQ(proto_frame_encode(&f, out, PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX), &len), 0);
	return len;
}

/* Decodes what a link wants to write; counts frames of a type. */
static size_t
count_out(struct proto_link *l, uint8_t type, uint16_t *last_seq)
{
	static uint8_t out[8192], scratch[PROTO_FRAME_MAX];
	struct proto_frame_decoder d;
	size_t n = proto_link_output(l, out, sizeof(out), 0), pos = 0, hits = 0;

	proto_frame_decoder_init(&d, scratch, sizeof(scratch));
	while (pos < n) {
		struct proto_frame f;
		size_t used;
		int rc = proto_frame_decode(&d, out + pos, n - pos, &used, &f);

		pos += used;
		if (rc == 1 && f.type == type) {
			hits++;
			if (last_seq != NULL)
				*last_seq = f.seq;
		}
	}
	return hits;
}

static void
test_hostile_peer(void)
{
	static uint8_t pl[600], wire[PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX)];
	static struct tp_end st;
	struct proto_msg m;
	size_t n, len;
	uint16_t seq = 0xffff;

	/* a frame over our max_frame (peer ignored it): counted, NAKed, not fatal */
	CHECK_INT_EQ(tp_end_init(&st, PROTO_DIALECT_FRAME, PROTO_ROLE_STATION, 64, TP_BUF), 0);
	tp_sample(&m, PROTO_CSR, &store_a, 300, 0);
	CHECK_INT_EQ(proto_msg_encode(&m, pl, sizeof(pl), &len), 0);
	n = raw_frame(PROTO_CSR, PROTO_FLAG_FIRST, 0, pl, 200, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
	CHECK_INT_EQ(st.l.stats.bad_frames, 1);
	CHECK_INT_EQ(st.l.stats.last_bad, PROTO_E_TOO_LARGE);
	CHECK_INT_EQ(count_out(&st.l, PROTO_NAK, &seq), 1);
	CHECK_INT_EQ(seq, 0);
	CHECK_INT_EQ(proto_link_recv(&st.l, &m), 0);

	/* a message over rx_cap: PROTO_E_TOO_LARGE from input, not acknowledged */
	CHECK_INT_EQ(tp_end_init(&st, PROTO_DIALECT_FRAME, PROTO_ROLE_STATION, 1024, 100), 0);
	n = raw_frame(PROTO_CSR, PROTO_FLAG_FIRST | PROTO_FLAG_MORE, 0, pl, 90, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
	CHECK_INT_EQ(count_out(&st.l, PROTO_ACK, NULL), 1);
	n = raw_frame(PROTO_CSR, 0, 1, pl + 90, 20, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_E_TOO_LARGE);
	CHECK_INT_EQ(count_out(&st.l, PROTO_ACK, NULL), 0);
	CHECK_INT_EQ(proto_link_recv(&st.l, &m), 0);
	/* its resend is a continuation of nothing: ignored, no second error */
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
	CHECK_INT_EQ(count_out(&st.l, PROTO_ACK, NULL), 0);

	/* a complete message whose TLV is malformed: acknowledged, then reported */
	CHECK_INT_EQ(tp_end_init(&st, PROTO_DIALECT_FRAME, PROTO_ROLE_STATION, 1024, TP_BUF), 0);
	n = raw_frame(PROTO_HELLO, PROTO_FLAG_FIRST, 5, (const uint8_t *)"\x01\x00\x05", 3, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_E_MALFORMED);
	CHECK_INT_EQ(count_out(&st.l, PROTO_ACK, NULL), 1);
	/* an unknown message type: the same */
	n = raw_frame(0x33, PROTO_FLAG_FIRST, 6, pl, 10, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_E_MALFORMED);
	/* a chunk whose type differs from its message's first chunk */
	n = raw_frame(PROTO_CSR, PROTO_FLAG_FIRST | PROTO_FLAG_MORE, 7, pl, 10, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
	n = raw_frame(PROTO_CHAIN, 0, 8, pl + 10, 10, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_E_MALFORMED);
	/* a continuation with the wrong seq is ignored */
	n = raw_frame(PROTO_CSR, PROTO_FLAG_FIRST | PROTO_FLAG_MORE, 9, pl, 10, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
	n = raw_frame(PROTO_CSR, 0, 11, pl + 10, len - 10, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
	CHECK_INT_EQ(st.l.stats.last_bad, PROTO_E_UNEXPECTED);
	CHECK_INT_EQ(proto_link_recv(&st.l, &m), 0);
	n = raw_frame(PROTO_CSR, 0, 10, pl + 10, len - 10, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
	CHECK_INT_EQ(proto_link_recv(&st.l, &m), 1);
	CHECK_INT_EQ(m.csr.len, 300);
	/* the same last frame again (our ACK was lost): ACKed, not delivered twice */
	(void)count_out(&st.l, PROTO_ACK, NULL);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
	CHECK_INT_EQ(count_out(&st.l, PROTO_ACK, &seq), 1);
	CHECK_INT_EQ(seq, 10);
	CHECK_INT_EQ(proto_link_recv(&st.l, &m), 0);
	/* an ACK with a payload is not an ACK */
	n = raw_frame(PROTO_ACK, 0, 0, pl, 2, wire);
	CHECK_INT_EQ(proto_link_input(&st.l, wire, n, 0), PROTO_OK);
}

static void
test_split_equivalence(void)
{
	/* the device's whole output for a chunked CSR, fed to a station whole
	 * and byte by byte: the same message, the same ACKs, the same stats */
	static struct tp_end dev, a, b;
	static uint8_t wire[16384], acks_a[1024], acks_b[1024];
	struct proto_msg m, ma, mb;
	size_t n = 0, k, i, na, nb;
	int ra = 0, rb = 0;

	CHECK_INT_EQ(tp_end_init(&dev, PROTO_DIALECT_FRAME, PROTO_ROLE_DEVICE, 64, TP_BUF), 0);
	CHECK_INT_EQ(tp_end_init(&a, PROTO_DIALECT_FRAME, PROTO_ROLE_STATION, 64, TP_BUF), 0);
	CHECK_INT_EQ(tp_end_init(&b, PROTO_DIALECT_FRAME, PROTO_ROLE_STATION, 64, TP_BUF), 0);
	tp_sample(&m, PROTO_CSR, &store_a, 700, 0);
	CHECK_INT_EQ(proto_link_send(&dev.l, &m, 0), 0);
	/* play the station's part by hand: ACK each frame as it is written */
	for (i = 0; i < 64 && !proto_link_send_done(&dev.l); i++) {
		uint8_t ack[16];
		size_t al;

		k = proto_link_output(&dev.l, wire + n, sizeof(wire) - n, 0);
		n += k;
		al = raw_frame(PROTO_ACK, 0, (uint16_t)i, NULL, 0, ack);
		CHECK_INT_EQ(proto_link_input(&dev.l, ack, al, 0), 0);
	}
	CHECK_INT_EQ(proto_link_send_done(&dev.l), 1);
	CHECK_INT_EQ(dev.l.stats.frames_out, 13); /* 700 + 3 bytes in 56-byte chunks */
	ra = proto_link_input(&a.l, wire, n, 0);
	for (i = 0; i < n; i++) {
		int rc = proto_link_input(&b.l, wire + i, 1, 0);

		if (rc != 0 && rb == 0)
			rb = rc;
	}
	CHECK_INT_EQ(ra, 0);
	CHECK_INT_EQ(rb, 0);
	CHECK_INT_EQ(proto_link_recv(&a.l, &ma), 1);
	CHECK_INT_EQ(proto_link_recv(&b.l, &mb), 1);
	CHECK(tp_msg_eq(&ma, &m));
	CHECK(tp_msg_eq(&mb, &m));
	na = proto_link_output(&a.l, acks_a, sizeof(acks_a), 0);
	nb = proto_link_output(&b.l, acks_b, sizeof(acks_b), 0);
	/* ctl_ holds three ACKs at a time; the rest were dropped (peer resends) */
	CHECK_INT_EQ(na, nb);
	CHECK(memcmp(acks_a, acks_b, na) == 0);
	CHECK_INT_EQ(a.l.stats.frames_in, b.l.stats.frames_in);
	CHECK_INT_EQ(a.l.stats.frames_in, 13);
}

static void
test_restart_and_busy(void)
{
	struct tp_pair *p = tp_pair_new(PROTO_DIALECT_FRAME, 1024, 512);
	struct proto_msg m, m2;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	tp_sample(&m, PROTO_HELLO, &store_a, 0, 0);
	deliver(p, 0, &m);
	tp_sample(&m, PROTO_CSR_REQUEST, &store_a, 0, 0);
	deliver(p, 1, &m);
	CHECK_INT_EQ(proto_link_send(&p->st.l, &m, p->now), PROTO_OK);
	CHECK_INT_EQ(proto_link_send(&p->st.l, &m, p->now), PROTO_E_BUSY);
	tp_run(p, p->now + 10000);
	CHECK_INT_EQ(p->dev.ngot, 2);

	/* the device reboots: a fresh link, seq from 0 again, the same HELLO */
	CHECK_INT_EQ(tp_end_init(&p->dev, PROTO_DIALECT_FRAME, PROTO_ROLE_DEVICE, 256, TP_BUF), 0);
	tp_sample(&m, PROTO_HELLO, &store_a, 0, 0);
	deliver(p, 0, &m);
	CHECK_INT_EQ(p->st.ngot, 2);
	CHECK_INT_EQ(p->st.l.peer_max_frame, 256);
	/* and the station's next message reaches the new device */
	tp_sample(&m, PROTO_CSR_REQUEST, &store_a, 0, 0);
	deliver(p, 1, &m);

	/* both ends send at once */
	tp_sample(&m, PROTO_CHAIN, &store_a, 700, 3);
	tp_sample(&m2, PROTO_ERROR, &store_a, 0, 0);
	CHECK_INT_EQ(proto_link_send(&p->st.l, &m, p->now), PROTO_OK);
	CHECK_INT_EQ(proto_link_send(&p->dev.l, &m2, p->now), PROTO_OK);
	tp_run(p, p->now + 60000);
	CHECK_INT_EQ(p->dev.ngot, 2);
	CHECK(p->dev.ngot == 2 && tp_msg_eq(&p->dev.got[1].m, &m));
	CHECK_INT_EQ(p->st.ngot, 3);
	CHECK(p->st.ngot == 3 && tp_msg_eq(&p->st.got[2].m, &m2));

	/* reset in the middle of a message: the peer sees the cut frame end, and
	 * the next message arrives whole */
	tp_sample(&m, PROTO_CHAIN, &store_a, 700, 3);
	CHECK_INT_EQ(proto_link_send(&p->st.l, &m, p->now), PROTO_OK);
	{
		static uint8_t out[300];
		size_t n = proto_link_output(&p->st.l, out, 100, p->now);

		tp_feed(p, &p->dev, out, n);
	}
	proto_link_reset(&p->st.l);
	CHECK_INT_EQ(proto_link_send_done(&p->st.l), 1);
	tp_sample(&m, PROTO_RESULT, &store_a, 0, 0);
	deliver(p, 1, &m);
	CHECK_INT_EQ(p->dev.ngot, 3);
	free(p);
}

static void
test_seq_wrap(void)
{
	struct tp_pair *p = tp_pair_new(PROTO_DIALECT_FRAME, 64, 64);
	struct proto_msg m;
	size_t i;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	tp_sample(&m, PROTO_RESULT, &store_a, 0, 0);
	m.text.len = 0; /* one frame per message */
	for (i = 0; i < 65536 + 3; i++) {
		if (proto_link_send(&p->dev.l, &m, p->now) != PROTO_OK)
			break;
		tp_run(p, p->now + 1000);
	}
	CHECK_INT_EQ(i, 65536 + 3);
	CHECK_INT_EQ(p->st.ngot, 65536 + 3);
	CHECK_INT_EQ(p->dev.l.stats.retransmits, 0);
	CHECK_INT_EQ(p->st.l.stats.bad_frames, 0);
	free(p);
}

static void
test_init_refusals(void)
{
	static struct proto_link l;
	static uint8_t rx[64], tx[64], fb[64];
	struct proto_link_config c = {
	    PROTO_DIALECT_FRAME, PROTO_ROLE_STATION, 64, 300, 5, rx, sizeof(rx), tx, sizeof(tx), fb,
	    sizeof(fb)};

	CHECK_INT_EQ(proto_link_init(&l, &c), PROTO_OK);
	c.max_frame = 63;
	CHECK_INT_EQ(proto_link_init(&l, &c), PROTO_E_ARG);
	c.max_frame = 65; /* more than frame_cap */
	CHECK_INT_EQ(proto_link_init(&l, &c), PROTO_E_ARG);
	c.max_frame = 64;
	c.ack_timeout_ms = 0;
	CHECK_INT_EQ(proto_link_init(&l, &c), PROTO_E_ARG);
	c.ack_timeout_ms = 300;
	c.rx_buf = NULL;
	CHECK_INT_EQ(proto_link_init(&l, &c), PROTO_E_ARG);
	c.rx_buf = rx;
	c.role = (enum proto_role)3;
	CHECK_INT_EQ(proto_link_init(&l, &c), PROTO_E_ARG);
	CHECK_INT_EQ(proto_link_init(NULL, &c), PROTO_E_ARG);
	/* a text link needs no frame buffer */
	c.role = PROTO_ROLE_DEVICE;
	c.dialect = PROTO_DIALECT_TEXT;
	c.frame_buf = NULL;
	c.frame_cap = 0;
	CHECK_INT_EQ(proto_link_init(&l, &c), PROTO_OK);
	/* a message over tx_cap */
	{
		struct proto_msg m;

		tp_sample(&m, PROTO_CSR, &store_a, 100, 0);
		CHECK_INT_EQ(proto_link_send(&l, &m, 0), PROTO_E_SPACE);
		CHECK_INT_EQ(proto_link_send_done(&l), 1);
	}
}

/* A sender that stops half-way through a frame (line) is told apart from
 * one that sends noise: proto_link_rx_partial_plausible(). */
static void
test_partial_plausible(void)
{
	static const enum proto_dialect dialects[] = {PROTO_DIALECT_FRAME, PROTO_DIALECT_TEXT};
	static struct tp_end st, dev;
	struct proto_msg m;
	uint8_t wire[2048], noise[300];
	size_t n, i;

	for (size_t k = 0; k < 2; k++) {
		CHECK_INT_EQ(tp_end_init(&st, dialects[k], PROTO_ROLE_STATION, 1024, TP_BUF), 0);
		CHECK_INT_EQ(tp_end_init(&dev, dialects[k], PROTO_ROLE_DEVICE, 64, TP_BUF), 0);
		CHECK_INT_EQ(proto_link_rx_partial_plausible(&st.l), 0); /* nothing pending */
		tp_sample(&m, PROTO_HELLO, &store_a, 0, 0);
		CHECK_INT_EQ(proto_link_send(&dev.l, &m, 0), PROTO_OK);
		n = proto_link_output(&dev.l, wire, sizeof(wire), 0);
		CHECK(n > 8);
		/* every cut inside the first frame (line) that leaves its type
		 * and flags in (frame) or any byte of it (text) is plausible */
		for (i = 0; i < n; i++)
			if (wire[i] == (dialects[k] == PROTO_DIALECT_TEXT ? '\n' : 0x00) && i > 0)
				break;
		CHECK(i > 4);
		for (size_t cut = 4; cut < i; cut++) {
			CHECK_INT_EQ(tp_end_init(&st, dialects[k], PROTO_ROLE_STATION, 1024, TP_BUF), 0);
			CHECK_INT_EQ(proto_link_input(&st.l, wire, cut, 0), PROTO_OK);
			CHECK_INT_EQ(proto_link_rx_partial_plausible(&st.l), 1);
		}
		/* a whole frame (line) leaves nothing pending */
		CHECK_INT_EQ(tp_end_init(&st, dialects[k], PROTO_ROLE_STATION, 1024, TP_BUF), 0);
		proto_link_input(&st.l, wire, i + 1, 0);
		CHECK_INT_EQ(proto_link_rx_partial_plausible(&st.l), 0);
		/* noise without a delimiter is not a frame in progress: 200
		 * random tails, none may pass (bytes outside 0x20..0x7e for text;
		 * a bad type or a reserved flag bit for frames) */
		for (unsigned seed = 1; seed <= 200; seed++) {
			uint32_t x = seed * 2654435761u;

			for (size_t j = 0; j < sizeof(noise); j++) {
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				noise[j] = (uint8_t)(x | 1u); /* never a frame delimiter */
				if (dialects[k] == PROTO_DIALECT_TEXT && noise[j] == '\n')
					noise[j] = 0x80;
			}
			if (dialects[k] == PROTO_DIALECT_FRAME && noise[1] >= 0x01 && noise[1] <= 0x07 &&
			    (noise[2] & 0xfc) == 0)
				noise[2] |= 0x80; /* the one in 2,000 that looks like a header */
			CHECK_INT_EQ(tp_end_init(&st, dialects[k], PROTO_ROLE_STATION, 1024, TP_BUF), 0);
			proto_link_input(&st.l, noise, sizeof(noise), 0);
			CHECK_INT_EQ(proto_link_rx_partial_plausible(&st.l), 0);
		}
	}
	CHECK_INT_EQ(proto_link_rx_partial_plausible(NULL), 0);
}

int
main(void)
{
	test_init_refusals();
	test_exchanges();
	test_lost_frames();
	test_lost_acks();
	test_damaged_frames();
	test_retries_exhausted();
	test_hostile_peer();
	test_split_equivalence();
	test_restart_and_busy();
	test_seq_wrap();
	test_partial_plausible();
	return check_finish("test_proto_link");
}
