/*
 * sim.h: the device simulator behind `certstation sim`: N virtual fixture
 * ports, each playing a production line of devices that provision
 * themselves over the real protocol (protocols/device.h) against a station
 * on the other end of a pseudo-terminal.
 *
 * Contract: sim_run() creates N pty pairs (the simulator keeps the masters;
 * the station opens the slaves, or the stable symlinks DIR/sim-P), prints
 * "sim-P PATH" per port, then plays devices one after another on every port
 * until each has played its quota or SIGINT/SIGTERM arrives. Every device
 * generates its own key with OpenSSL, sends a CSR with CN = its ID and the
 * nonce as challengePassword, verifies the chain it gets (leaf key = its
 * key, each signature against the next certificate), stores it, reads it
 * back and prints one line with its outcome. Faults (sim_fault) make chosen
 * devices misbehave on purpose. Bytes leave at the configured baud rate
 * (8N1: 10 bits per byte), and the station's bytes reach the device no
 * faster than the line would carry them.
 *
 * Threads: sim_run() is called from one thread; it starts one thread per
 * port and blocks SIGINT/SIGTERM in the process to receive them itself.
 * The sim_fault functions are pure and safe anywhere.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "protocols/proto.h"
#include "station/cs_error.h"

#define SIM_PORTS_MAX 64
#define SIM_FAULTS_MAX 32
#define SIM_ID_PREFIX_MAX 32

enum sim_fault_kind {
	SIM_FAULT_NONE = 0,
	SIM_FAULT_GARBAGE,        /* random bytes instead of the CSR, never a valid message */
	SIM_FAULT_NOISE,          /* a burst of random bytes mid-transfer; must still pass */
	SIM_FAULT_DROP,           /* cable pulled mid-chain: pty closed and re-created */
	SIM_FAULT_STALL,          /* stops answering after HELLO */
	SIM_FAULT_BAD_SIG,        /* CSR with a corrupted signature */
	SIM_FAULT_REPLAY,         /* the CSR of a previous exchange, with its old nonce */
	SIM_FAULT_WRONG_READBACK, /* reports a wrong hash */
	SIM_FAULT_DUP_ID,         /* the previous device's ID on this port, new key */
	SIM_FAULT_OFF_LIST,       /* ID "X-..." that no allowlist has */
	SIM_FAULT_OVERSIZE,       /* a frame / text line over the station's limit */
	SIM_FAULT_BAD_VERSION,    /* HELLO with protocol version 99 */
	SIM_FAULT_STALL_MID,      /* stops half-way through its CSR's first frame/line */
};

enum sim_fault_which {
	SIM_WHICH_ALL = 0, /* every device */
	SIM_WHICH_DEVICE,  /* device number n (1-based, in start order, all ports) */
	SIM_WHICH_EVERY,   /* every n-th device */
	SIM_WHICH_PORT,    /* every device on port n (0-based) */
};

/* "--fault KIND[:WHICH]", WHICH = N | every=K | port=P | port=P.N. */
struct sim_fault {
	enum sim_fault_kind kind;
	enum sim_fault_which which;
	uint64_t n;
	uint64_t nth; /* SIM_WHICH_PORT: 0 = every device on the port, else the nth (1-based) */
};

/* Parse one fault spec. 0, or CS_ERR_INVALID_ARG with err naming the bad part. */
int sim_fault_parse(const char *spec, struct sim_fault *out /* OUT */, struct cs_err *err);

/* The first fault in list[0..count) that applies to device number (1-based,
 * all ports), the nth (1-based) device on port; SIM_FAULT_NONE if none. */
enum sim_fault_kind sim_fault_pick(const struct sim_fault *list, size_t count, uint64_t number,
                                   unsigned port, uint64_t nth);

const char *sim_fault_name(int kind); /* "garbage", ...; "none"; never NULL */

/* What the fault makes the device do, for its result line; never NULL. */
const char *sim_fault_what(int kind);

/* 1 when a device with this fault must fail, 0 when it must pass, -1 when
 * either is right (the station's policy decides: dup-id, off-list). */
int sim_fault_expect_fail(int kind);

struct sim_options {
	unsigned count; /* ports, 1..SIM_PORTS_MAX */
	enum proto_dialect dialect;
	uint32_t baud;           /* 0: no pacing */
	int key_type;            /* PROTO_KEY_P256 / P384 / RSA2048 / RSA3072 */
	const char *id_prefix;   /* "SN-" */
	uint64_t id_start;       /* number of the first device's ID */
	const char *links_dir;   /* NULL: no symlinks */
	const char *fixture_map; /* NULL: none */
	const char *store_dir;   /* NULL: chains kept in memory only */
	struct sim_fault faults[SIM_FAULTS_MAX];
	size_t fault_count;
	uint64_t devices_per_port; /* 0: until SIGINT/SIGTERM */
	uint32_t gap_ms;           /* between two devices on a port */
	uint16_t max_frame;        /* the devices' announced max frame */
	uint64_t seed;             /* random bytes of faults (not keys) */
	uint32_t timeout_ms;       /* device progress timeout */
	int json;                  /* machine-readable summary at the end */
	FILE *out;                 /* port lines, device lines, summary */
};

/* Defaults: 1 port, frame, 115200, P-256, "SN-", 1, gap 100 ms, max frame
 * PROTO_FRAME_DEFAULT, timeout 60 s, until stopped, stdout. */
void sim_options_default(struct sim_options *o);

/*
 * Run the simulation to the end. Returns 0 when every device behaved as
 * expected (faults included, see sim_fault_expect_fail()), CS_ERR_DEVICE_ERROR
 * when one did not, or another CS_ERR_* with err when the simulator itself
 * could not run (pty, symlink, thread, file).
 */
int sim_run(const struct sim_options *o, struct cs_err *err);

#endif
