/*
 * sim_wire.c: the serial line's timing, both directions, and the
 * simulator's reproducible random bytes. Pure arithmetic (see sim_int.h).
 */
#include <string.h>

#include "sim/sim_int.h"

#define SIM_NS_PER_S 1000000000ull
#define SIM_BURST_NS 1000000ull /* write at most ~1 ms of bytes ahead of the line */

void
sim_wire_init(struct sim_wire *w, uint32_t baud)
{
	memset(w, 0, sizeof(*w));
	if (baud == 0)
		return;
	/* 8N1: start bit, 8 data bits, stop bit. Rounded to the nearest ns:
	 * at 921600 baud the error is under 0.01 %. */
	w->byte_ns = (10 * SIM_NS_PER_S + baud / 2) / baud;
	w->burst_ns = w->byte_ns > SIM_BURST_NS ? w->byte_ns : SIM_BURST_NS;
}

size_t
sim_wire_room(const struct sim_wire *w, uint64_t now_ns, size_t want)
{
	uint64_t start, room;

	if (w->byte_ns == 0)
		return want;
	/* An idle line does not bank time: the next byte starts now. */
	start = w->free_ns > now_ns ? w->free_ns : now_ns;
	if (start >= now_ns + w->burst_ns)
		return 0;
	room = (now_ns + w->burst_ns - start) / w->byte_ns;
	return room < want ? (size_t)room : want;
}

void
sim_wire_commit(struct sim_wire *w, uint64_t now_ns, size_t n)
{
	uint64_t start = w->free_ns > now_ns ? w->free_ns : now_ns;

	w->free_ns = start + (uint64_t)n * w->byte_ns;
}

uint64_t
sim_wire_next(const struct sim_wire *w, uint64_t now_ns)
{
	uint64_t t;

	if (w->byte_ns == 0 || w->free_ns + w->byte_ns <= now_ns + w->burst_ns)
		return now_ns;
	t = w->free_ns + w->byte_ns - w->burst_ns;
	return t;
}

uint64_t
sim_wire_ns(const struct sim_wire *w, size_t n)
{
	return w->byte_ns * (uint64_t)n;
}

void
sim_rxq_init(struct sim_rxq *q, uint32_t baud)
{
	struct sim_wire w;

	sim_wire_init(&w, baud);
	q->byte_ns = w.byte_ns;
	q->off = q->len = 0;
	q->t0_ns = 0;
}

void
sim_rxq_clear(struct sim_rxq *q)
{
	q->off = q->len = 0;
}

size_t
sim_rxq_room(const struct sim_rxq *q)
{
	return SIM_RXQ_CAP - q->len;
}

void
sim_rxq_push(struct sim_rxq *q, const uint8_t *p, size_t n, uint64_t now_ns)
{
	if (n > sim_rxq_room(q))
		n = sim_rxq_room(q);
	if (q->len == 0) {
		q->off = 0;
		/* The first byte of a new burst starts on the wire when it was
		 * read, or right after the previous burst if that is later. */
		if (q->t0_ns < now_ns)
			q->t0_ns = now_ns;
	} else if (q->off + q->len + n > SIM_RXQ_CAP) {
		memmove(q->buf, q->buf + q->off, q->len);
		q->off = 0;
	}
	memcpy(q->buf + q->off + q->len, p, n);
	q->len += n;
}

#define SIM_RX_BATCH_NS 1000000ull

size_t
sim_rxq_ready(const struct sim_rxq *q, uint64_t now_ns, const uint8_t **p)
{
	uint64_t n;

	*p = q->buf + q->off;
	if (q->len == 0)
		return 0;
	if (q->byte_ns == 0)
		return q->len;
	if (now_ns <= q->t0_ns)
		return 0;
	n = (now_ns - q->t0_ns) / q->byte_ns;
	return n < q->len ? (size_t)n : q->len;
}

void
sim_rxq_pop(struct sim_rxq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->off += n;
	q->len -= n;
	q->t0_ns += (uint64_t)n * q->byte_ns;
	if (q->len == 0)
		q->off = 0;
}

uint64_t
sim_rxq_next(const struct sim_rxq *q)
{
	uint64_t batch;

	if (q->len == 0)
		return UINT64_MAX;
	/* Wake when a millisecond's worth of bytes (or the rest of the queue)
	 * has crossed the wire, not per byte: at 115200 baud a per-byte wake-up
	 * is every 87 us, and with 32 ports the simulator's own polling would
	 * take the CPU the station is being measured on. A message still ends
	 * exactly when its last byte would. */
	batch = q->byte_ns > 0 ? SIM_RX_BATCH_NS / q->byte_ns : 1;
	if (batch == 0)
		batch = 1;
	if (batch > q->len)
		batch = q->len;
	return q->t0_ns + batch * q->byte_ns;
}

uint64_t
sim_rand_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void
sim_rand_bytes(uint64_t *state, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = sim_rand_next(state);

		for (size_t j = 0; j < 8 && i + j < n; j++)
			out[i + j] = (uint8_t)(r >> (8 * j));
	}
}
