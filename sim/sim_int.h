/*
 * sim_int.h: the simulator's internals: the wire model (baud pacing), one
 * simulated device (key, CSR, chain check, storage) and one port.
 *
 * Contract: sim_wire and sim_rxq are pure arithmetic on nanosecond times the
 * caller passes in (testable without a clock). sim_dev wraps OpenSSL and
 * owns its key. sim_port_main() is a port thread's body.
 *
 * Threads: each sim_port and the sim_dev it plays belong to its thread; the
 * shared struct sim is read-only after start except for its atomics and
 * the totals under sim->lock.
 */
#ifndef SIM_SIM_INT_H
#define SIM_SIM_INT_H

#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "protocols/device.h"
#include "sim/sim.h"

/*
 * The line, one direction at a time, 8N1: a byte takes 10/baud s.
 *
 * Transmit: free_ns is when the line has sent everything written so far.
 * A write may run ahead of it by at most burst_ns (about 1 ms of bytes,
 * at least one byte), so the average rate is exact while the number of
 * writes stays small even at 921600 baud.
 */
struct sim_wire {
	uint64_t byte_ns; /* 0: unpaced */
	uint64_t burst_ns;
	uint64_t free_ns;
};

void sim_wire_init(struct sim_wire *w, uint32_t baud);

/* How many of want bytes may be written at now. */
size_t sim_wire_room(const struct sim_wire *w, uint64_t now_ns, size_t want);

/* n bytes were written at now: the line is busy with them. */
void sim_wire_commit(struct sim_wire *w, uint64_t now_ns, size_t n);

/* When at least one byte may be written (<= now: at once). */
uint64_t sim_wire_next(const struct sim_wire *w, uint64_t now_ns);

/* Nanoseconds the line needs for n bytes. */
uint64_t sim_wire_ns(const struct sim_wire *w, size_t n);

/*
 * Receive: the station writes into the pty at memory speed; its bytes are
 * queued here and released to the device only as fast as the line would
 * have delivered them. t0_ns is when the first queued byte started on the
 * wire; byte k (0-based) is complete at t0_ns + (k + 1) * byte_ns.
 */
#define SIM_RXQ_CAP 65536

struct sim_rxq {
	uint8_t buf[SIM_RXQ_CAP];
	size_t off, len;
	uint64_t byte_ns;
	uint64_t t0_ns;
};

void sim_rxq_init(struct sim_rxq *q, uint32_t baud);
void sim_rxq_clear(struct sim_rxq *q);
size_t sim_rxq_room(const struct sim_rxq *q);
/* Queue n bytes read at now (n <= sim_rxq_room()). */
void sim_rxq_push(struct sim_rxq *q, const uint8_t *p, size_t n, uint64_t now_ns);
/* Bytes complete at now, from *p on; call sim_rxq_pop() with what was used. */
size_t sim_rxq_ready(const struct sim_rxq *q, uint64_t now_ns, const uint8_t **p /* OUT */);
void sim_rxq_pop(struct sim_rxq *q, size_t n);
/* When the next queued byte is complete; UINT64_MAX if none is queued. */
uint64_t sim_rxq_next(const struct sim_rxq *q);

/* splitmix64: the simulator's reproducible random bytes (faults, not keys). */
uint64_t sim_rand_next(uint64_t *state);
void sim_rand_bytes(uint64_t *state, uint8_t *out, size_t n);

/* ---- one device ---- */

#define SIM_ID_MAX (SIM_ID_PREFIX_MAX + 24)

struct sim_dev {
	char id[SIM_ID_MAX];
	uint64_t number;
	int key_type;
	enum sim_fault_kind fault;
	const char *store_dir;

	EVP_PKEY *key;
	double keygen_ms, csr_ms;

	/* replay: the CSR to send instead of a fresh one (borrowed) */
	const uint8_t *replay_csr;
	size_t replay_csr_len;
	/* the CSR actually sent, for the next replay on this port */
	uint8_t csr[PROTO_CSR_MAX];
	size_t csr_len;

	int csr_requests; /* CSR_REQUESTs answered */
	uint8_t storage[PROTO_CHAIN_MAX];
	size_t cert_len[PROTO_CHAIN_CERTS_MAX];
	size_t cert_count;

	/* outcome */
	int ended;
	int reason;
	char text[PROTO_TEXT_MAX + 1];
	char detail[256]; /* the device's own finding (chain check, storage) */
};

/* Reset d for a new device; key generation happens at the first CSR_REQUEST. */
void sim_dev_init(struct sim_dev *d, const char *id, uint64_t number, int key_type,
                  enum sim_fault_kind fault, const char *store_dir);
void sim_dev_clear(struct sim_dev *d); /* frees the key */

/* The proto_device callbacks; ctx is a struct sim_dev. */
extern const struct proto_device_ops sim_dev_ops;

/* Build a CSR for d (generating its key first if needed) with the given
 * nonce; DER into out. 0 or -1 with d->detail. Also used by replay for a
 * CSR with an unrelated nonce. */
int sim_dev_make_csr(struct sim_dev *d, const uint8_t nonce[PROTO_NONCE_LEN], uint8_t *out,
                     size_t cap, size_t *len /* OUT */);

/* ---- the run and its ports ---- */

struct sim_totals {
	uint64_t passed, failed, aborted, unexpected;
	uint64_t done; /* passed + failed */
	double wall_ms, keygen_ms, csr_ms;
	uint64_t bytes_out, bytes_in;
	uint64_t by_reason[16];
};

struct sim;

struct sim_port {
	struct sim *sim;
	unsigned index;
	char name[16];
	char pts[64];
	char link_path[PATH_MAX]; /* DIR/sim-P, "" without --links */
	int master, slave;
	pthread_t thread;
	int started;
	uint64_t rng;

	char last_id[SIM_ID_MAX];
	/* drop: the pulled device is re-seated next, same ID, same key */
	EVP_PKEY *return_key;
	char return_id[SIM_ID_MAX];
	uint64_t return_number;
	uint8_t last_csr[PROTO_CSR_MAX];
	size_t last_csr_len;

	/* the device's link buffers (no allocation per device) */
	uint8_t rx_buf[PROTO_MSG_MAX * 2];
	uint8_t tx_buf[PROTO_MSG_MAX * 2];
	uint8_t frame_buf[PROTO_FRAME_MAX + 64];
	uint8_t csr_buf[PROTO_CSR_MAX];
	struct proto_link link;
	struct proto_device dev;
	struct sim_dev sdev;

	struct sim_wire tx;
	struct sim_rxq rxq;
	uint8_t txq[8192];
	size_t txq_off, txq_len;
};

struct sim {
	const struct sim_options *o;
	struct sim_port *ports[SIM_PORTS_MAX];
	atomic_int stop;
	int stop_fd; /* eventfd, readable once stopping */
	atomic_uint_fast64_t next_number;
	atomic_uint finished_ports;
	pthread_mutex_t lock; /* totals and output lines */
	struct sim_totals totals;
};

/* Create (or re-create, after a drop) the port's pty pair and its symlink. */
int sim_port_open(struct sim_port *p, struct cs_err *err);
void sim_port_close(struct sim_port *p);

/* A port thread: plays devices until its quota or the stop. */
void *sim_port_main(void *arg);

/* CLOCK_MONOTONIC in ns. */
uint64_t sim_now_ns(void);

#endif
