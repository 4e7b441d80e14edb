/*
 * test_proto_util.h: what the protocol tests share: sample messages of
 * every type, field-by-field comparison, deep copies of received messages,
 * and a station + device pair of real proto_links wired back to back in
 * memory, with a filter that may drop or damage frames and a clock the test
 * drives (time only moves when both ends are idle, to the next deadline).
 *
 * Contract: header-only (static inline) so each test_proto_*.c stays one
 * executable; nothing here replaces the code under test.
 * Threads: single-threaded tests only.
 */
#ifndef TESTS_UNIT_TEST_PROTO_UTIL_H
#define TESTS_UNIT_TEST_PROTO_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/proto.h"

/* Deterministic filler for DER-like blobs (a few zeros, like real DER). */
static inline void
tp_fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
		if ((seed >> 8) % 37 == 0)
			p[i] = 0;
	}
	if (n > 0)
		p[0] = 0x30; /* looks like DER; the codec does not care */
}

/* Storage for sample messages' slices. */
struct tp_store {
	uint8_t blob[PROTO_CHAIN_MAX];
};

/*
 * A valid message of each type. For CSR, big is the DER size; for CHAIN, the
 * size of each of count certificates. Slices point into st.
 */
static inline void
tp_sample(struct proto_msg *m, enum proto_type type, struct tp_store *st, size_t big, size_t count)
{
	static const char id[] = "SN-000123", model[] = "widget", fw[] = "1.2.0";
	static const char text[] = "readback mismatch: 3 of 1394 bytes differ";
	size_t i;

	memset(m, 0, sizeof(*m));
	m->type = type;
	switch (type) {
	case PROTO_HELLO:
		m->version = PROTO_VERSION;
		m->device_id.p = (const uint8_t *)id;
		m->device_id.len = sizeof(id) - 1;
		m->model.p = (const uint8_t *)model;
		m->model.len = sizeof(model) - 1;
		m->firmware.p = (const uint8_t *)fw;
		m->firmware.len = sizeof(fw) - 1;
		m->key_type = PROTO_KEY_P256;
		m->caps = PROTO_CAP_READBACK | PROTO_CAP_RESULT_LED;
		break;
	case PROTO_CSR_REQUEST:
		for (i = 0; i < PROTO_NONCE_LEN; i++)
			m->nonce[i] = (uint8_t)(0xa0 + i * 7);
		break;
	case PROTO_CSR:
		tp_fill(st->blob, big, 7);
		m->csr.p = st->blob;
		m->csr.len = big;
		break;
	case PROTO_CHAIN:
		for (i = 0; i < count; i++) {
			tp_fill(st->blob + i * big, big, (uint32_t)(100 + i));
			m->certs[i].p = st->blob + i * big;
			m->certs[i].len = big;
		}
		m->cert_count = count;
		break;
	case PROTO_READBACK:
		for (i = 0; i < 32; i++)
			m->sha256[i] = (uint8_t)(i * 13 + 1);
		break;
	case PROTO_RESULT:
		m->reason = PROTO_R_READBACK;
		m->text.p = (const uint8_t *)text;
		m->text.len = sizeof(text) - 1;
		break;
	default: /* PROTO_ERROR */
		m->reason = PROTO_R_DEVICE;
		m->text.p = (const uint8_t *)"key generation failed";
		m->text.len = strlen("key generation failed");
		break;
	}
}

static inline int
tp_bytes_eq(const struct proto_bytes *a, const struct proto_bytes *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* Field-by-field equality of the fields a's type carries (max_frame aside:
 * the link sets it). */
static inline int
tp_msg_eq(const struct proto_msg *a, const struct proto_msg *b)
{
	size_t i;

	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case PROTO_HELLO:
		return a->version == b->version && tp_bytes_eq(&a->device_id, &b->device_id) &&
		       tp_bytes_eq(&a->model, &b->model) &&
		       tp_bytes_eq(&a->firmware, &b->firmware) && a->key_type == b->key_type &&
		       a->caps == b->caps;
	case PROTO_CSR_REQUEST:
		return memcmp(a->nonce, b->nonce, PROTO_NONCE_LEN) == 0;
	case PROTO_CSR:
		return tp_bytes_eq(&a->csr, &b->csr);
	case PROTO_CHAIN:
		if (a->cert_count != b->cert_count)
			return 0;
		for (i = 0; i < a->cert_count; i++)
			if (!tp_bytes_eq(&a->certs[i], &b->certs[i]))
				return 0;
		return 1;
	case PROTO_READBACK:
		return memcmp(a->sha256, b->sha256, 32) == 0;
	case PROTO_RESULT:
	case PROTO_ERROR:
		return a->reason == b->reason && tp_bytes_eq(&a->text, &b->text);
	default:
		return 0;
	}
}

/* A received message, copied out of the link's buffer. */
struct tp_msgbuf {
	struct proto_msg m;
	uint8_t tlv[PROTO_MSG_MAX];
	size_t len;
};

static inline int
tp_copy(struct tp_msgbuf *dst, const struct proto_msg *m)
{
	int rc = proto_msg_encode(m, dst->tlv, sizeof(dst->tlv), &dst->len);

	if (rc == 0)
		rc = proto_msg_decode((uint8_t)m->type, dst->tlv, dst->len, &dst->m);
	dst->m.max_frame = m->max_frame;
	return rc;
}

/* ---- a station and a device, back to back ---- */

#define TP_GOT_MAX 16
#define TP_ERR_MAX 64
#define TP_BUF (PROTO_MSG_MAX + 64)

struct tp_end {
	struct proto_link l;
	uint8_t rx[TP_BUF], tx[TP_BUF], frame[PROTO_FRAME_MAX];
	struct tp_msgbuf got[TP_GOT_MAX];
	size_t ngot;
	int errors[TP_ERR_MAX]; /* from proto_link_input */
	size_t nerr;
	size_t timeouts; /* PROTO_E_TIMEOUT from proto_link_tick */
	uint8_t partial[PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX) + 64]; /* frame being carried */
	size_t partial_len;
};

/* Frame filter: from_station says the direction; may change frame/len
 * (wire bytes with the 0x00); returns 0 to drop the frame. */
typedef int (*tp_filter_fn)(void *ctx, int from_station, uint8_t *frame, size_t *len);

struct tp_pair {
	struct tp_end st, dev;
	uint64_t now;
	size_t chunk;     /* bytes per proto_link_input call; 0 = as written */
	size_t out_chunk; /* bytes per proto_link_output call; 0 = a big buffer */
	tp_filter_fn filter;
	void *ctx;
	uint64_t wire_st, wire_dev; /* bytes written by each end */
};

static inline int
tp_end_init(struct tp_end *e, enum proto_dialect dialect, enum proto_role role, uint16_t max_frame,
            size_t rx_cap)
{
	struct proto_link_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.dialect = dialect;
	cfg.role = role;
	cfg.max_frame = max_frame;
	cfg.ack_timeout_ms = 300;
	cfg.max_retries = 5;
	cfg.rx_buf = e->rx;
	cfg.rx_cap = rx_cap;
	cfg.tx_buf = e->tx;
	cfg.tx_cap = sizeof(e->tx);
	cfg.frame_buf = e->frame;
	cfg.frame_cap = sizeof(e->frame);
	e->ngot = 0;
	e->nerr = 0;
	e->timeouts = 0;
	e->partial_len = 0;
	return proto_link_init(&e->l, &cfg);
}

/* malloc'ed (two links and their buffers are ~200 KiB); NULL on failure. */
static inline struct tp_pair *
tp_pair_new(enum proto_dialect dialect, uint16_t st_max, uint16_t dev_max)
{
	struct tp_pair *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if (tp_end_init(&p->st, dialect, PROTO_ROLE_STATION, st_max, TP_BUF) != 0 ||
	    tp_end_init(&p->dev, dialect, PROTO_ROLE_DEVICE, dev_max, TP_BUF) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

static inline void
tp_feed(struct tp_pair *p, struct tp_end *dst, const uint8_t *b, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t k = p->chunk == 0 || n - off < p->chunk ? n - off : p->chunk;
		struct proto_msg m;
		int rc = proto_link_input(&dst->l, b + off, k, p->now);

		off += k;
		if (rc != 0 && dst->nerr < TP_ERR_MAX)
			dst->errors[dst->nerr++] = rc;
		while (proto_link_recv(&dst->l, &m) == 1) {
			if (dst->ngot < TP_GOT_MAX)
				tp_copy(&dst->got[dst->ngot], &m);
			dst->ngot++;
		}
	}
}

/* Carry bytes from src to dst; frame dialect: whole frames through the filter. */
static inline void
tp_carry(struct tp_pair *p, struct tp_end *src, struct tp_end *dst, const uint8_t *b, size_t n)
{
	size_t i;
	int from_station = src == &p->st;

	if (src->l.cfg.dialect == PROTO_DIALECT_TEXT || p->filter == NULL) {
		tp_feed(p, dst, b, n);
		return;
	}
	for (i = 0; i < n; i++) {
		if (src->partial_len < sizeof(src->partial))
			src->partial[src->partial_len++] = b[i];
		if (b[i] == 0x00) {
			size_t len = src->partial_len;

			if (p->filter(p->ctx, from_station, src->partial, &len))
				tp_feed(p, dst, src->partial, len);
			src->partial_len = 0;
		}
	}
}

static inline int
tp_outputs(struct tp_pair *p)
{
	static uint8_t buf[PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX) * 2];
	int moved = 0, side;

	for (side = 0; side < 2; side++) {
		struct tp_end *src = side == 0 ? &p->st : &p->dev;
		struct tp_end *dst = side == 0 ? &p->dev : &p->st;
		size_t cap = p->out_chunk != 0 ? p->out_chunk : sizeof(buf);
		size_t n = proto_link_output(&src->l, buf, cap, p->now);

		if (n > 0) {
			moved = 1;
			if (side == 0)
				p->wire_st += n;
			else
				p->wire_dev += n;
			tp_carry(p, src, dst, buf, n);
		}
	}
	return moved;
}

/* Ticks both ends; returns the earlier deadline; *timed_out if one gave up. */
static inline uint64_t
tp_ticks(struct tp_pair *p, int *timed_out)
{
	uint64_t next = UINT64_MAX, t;
	int side;

	for (side = 0; side < 2; side++) {
		struct tp_end *e = side == 0 ? &p->st : &p->dev;

		if (proto_link_tick(&e->l, p->now, &t) == PROTO_E_TIMEOUT) {
			e->timeouts++;
			*timed_out = 1;
		}
		if (t < next)
			next = t;
	}
	return next;
}

/* Run until both ends are idle with nothing pending, or the clock would
 * pass limit_ms. Returns the number of steps taken. */
static inline size_t
tp_run(struct tp_pair *p, uint64_t limit_ms)
{
	size_t steps;

	for (steps = 0; steps < 1000000; steps++) {
		uint64_t next;
		int timed_out = 0;

		if (tp_outputs(p))
			continue;
		next = tp_ticks(p, &timed_out);
		if (timed_out || tp_outputs(p))
			continue;
		if (next == UINT64_MAX || next > limit_ms)
			break;
		p->now = next > p->now ? next : p->now + 1;
	}
	return steps;
}

#endif
