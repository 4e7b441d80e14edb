/*
 * device.h: the device side of one provisioning exchange, for firmware.
 *
 * Contract: a proto_device drives one exchange over a proto_link whose role
 * is PROTO_ROLE_DEVICE:
 *
 *   HELLO  ->                 (resent every hello_interval_ms until answered)
 *          <- CSR_REQUEST     make_csr(nonce) builds the CSR
 *   CSR    ->
 *          <- CHAIN           store_chain(), then readback() hashes what was stored
 *   READBACK ->
 *          <- RESULT          result(); state DONE_PASS or DONE_FAIL
 *
 * An ERROR from the station ends the exchange (DONE_FAIL with its reason);
 * so does a failing callback (the device sends ERROR with PROTO_R_DEVICE),
 * a message that makes no sense in the current state (ERROR with
 * PROTO_R_PROTOCOL), and progress_timeout_ms without a message from the
 * station (PROTO_R_TIMEOUT). A repeated CSR_REQUEST or CHAIN is answered
 * again (the station may restart a step). A failing RESULT is accepted in
 * any state, a passing one only after READBACK (before, it is a protocol
 * error: a device never reports a pass without a stored, checked chain).
 * result() is called exactly once, when the exchange ends.
 *
 * The nonce goes into the CSR as its PKCS#9 challengePassword attribute
 * (RFC 2985 5.4.1): the 32 lower-case hex digits of the 16 nonce bytes, in
 * order, as a PrintableString or UTF8String. proto_device_nonce_hex() writes
 * exactly that text. The read-back hash is SHA-256 over the DER certificates
 * concatenated in the order received, computed over what the device reads
 * back from its storage, not over the received buffer.
 *
 * Like proto.h: no allocation, no I/O, no clock, no globals; time is the
 * caller's millisecond counter (any monotonic origin). The caller owns the
 * link, its buffers and the CSR buffer; none is freed here.
 *
 * Threads: a proto_device and its link belong to one thread at a time;
 * callbacks run on the calling thread: make_csr() from inside
 * proto_device_output(), the others from proto_device_input() (and
 * result() also from proto_device_tick() or proto_device_output()).
 */
#ifndef PROTOCOLS_DEVICE_H
#define PROTOCOLS_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "protocols/proto.h"

#define PROTO_DEVICE_HELLO_INTERVAL_MS 2000u
#define PROTO_DEVICE_PROGRESS_TIMEOUT_MS 60000u
#define PROTO_DEVICE_NONCE_HEX_LEN (2 * PROTO_NONCE_LEN)

enum proto_device_state {
	PROTO_DEVICE_IDLE = 0,        /* initialised, not started */
	PROTO_DEVICE_HELLO = 1,       /* HELLO sent, waiting for CSR_REQUEST */
	PROTO_DEVICE_WAIT_CHAIN = 2,  /* CSR_REQUEST seen: CSR made and sent, CHAIN awaited */
	PROTO_DEVICE_WAIT_RESULT = 3, /* READBACK sent, waiting for RESULT */
	PROTO_DEVICE_DONE_PASS = 4,   /* RESULT with PROTO_R_OK */
	PROTO_DEVICE_DONE_FAIL = 5,   /* anything else; see proto_device_reason() */
};

/*
 * What the firmware provides. Each callback returns 0, or a negative value
 * when it failed (the exchange then ends with PROTO_R_DEVICE).
 */
struct proto_device_ops {
	/* Build a CSR (DER) carrying the nonce as challengePassword (see above)
	 * into out[0..cap); *len = its length. */
	int (*make_csr)(void *ctx, const uint8_t nonce[PROTO_NONCE_LEN], uint8_t *out, size_t cap,
	                size_t *len /* OUT */);
	/* Store chain->certs[0..cert_count) (DER, device certificate first).
	 * The slices are valid only during the call. */
	int (*store_chain)(void *ctx, const struct proto_msg *chain);
	/* SHA-256 over the stored DER certificates, read back from storage. */
	int (*readback)(void *ctx, uint8_t sha256[32] /* OUT */);
	/* The exchange ended: reason PROTO_R_OK = pass; text is NUL-terminated
	 * (the station's sentence, or the device's own for a local failure). */
	void (*result)(void *ctx, int reason, const char *text);
};

/* Who the device is; the strings must stay valid while the device runs. */
struct proto_device_info {
	const char *device_id; /* printable ASCII, 1..PROTO_DEVICE_ID_MAX */
	const char *model;     /* 1..PROTO_NAME_MAX */
	const char *firmware;  /* 1..PROTO_FIRMWARE_MAX */
	uint8_t key_type;      /* enum proto_key_type */
	uint32_t caps;         /* PROTO_CAP_*; PROTO_CAP_READBACK is added */
	uint8_t *csr_buf;      /* room for the CSR (DER); PROTO_CSR_MAX covers any */
	size_t csr_cap;
	uint32_t hello_interval_ms;   /* 0: PROTO_DEVICE_HELLO_INTERVAL_MS */
	uint32_t progress_timeout_ms; /* 0: PROTO_DEVICE_PROGRESS_TIMEOUT_MS */
	uint8_t version;              /* 0: PROTO_VERSION (other values only for tests) */
};

struct proto_device {
	/* private: use the functions below */
	struct proto_link *link_;
	const struct proto_device_ops *ops_;
	void *ctx_;
	struct proto_device_info info_;
	enum proto_device_state state_;
	uint8_t pending_; /* message type waiting for the link, 0: none */
	uint8_t ended_;   /* result() has been called */
	uint8_t csr_due_; /* CSR_REQUEST seen, make_csr not yet called */
	uint8_t nonce_[PROTO_NONCE_LEN];
	uint16_t reason_;
	uint16_t err_reason_; /* pending ERROR */
	size_t csr_len_;
	uint8_t sha256_[32];
	uint64_t hello_at_ms_; /* next HELLO resend */
	uint64_t deadline_ms_; /* progress timeout */
	char text_[PROTO_TEXT_MAX + 1];
};

/*
 * Bind dev to link (already proto_link_init'ed with PROTO_ROLE_DEVICE), the
 * callbacks and the device's identity. Returns 0, or PROTO_E_ARG for a NULL
 * pointer, a link of the wrong role, or an identity the HELLO cannot carry.
 */
int proto_device_init(struct proto_device *dev, struct proto_link *link,
                      const struct proto_device_ops *ops, void *ctx,
                      const struct proto_device_info *info);

/* Send the first HELLO. Returns 0 or PROTO_E_ARG (not IDLE). */
int proto_device_start(struct proto_device *dev, uint64_t now_ms);

/* Bytes received from the station: feeds the link and acts on every whole
 * message. Returns 0 (protocol trouble ends the exchange, it is not an
 * error of the call) or PROTO_E_ARG. */
int proto_device_input(struct proto_device *dev, const uint8_t *in, size_t n, uint64_t now_ms);

/* Bytes to write to the station now, up to cap; 0: nothing. make_csr()
 * runs in here, once the ACK of the CSR_REQUEST has been handed out (key
 * generation may be slow). Keep calling after the exchange ended until it
 * returns 0: the last ACK or ERROR may still be waiting. */
size_t proto_device_output(struct proto_device *dev, uint8_t *out, size_t cap, uint64_t now_ms);

/* Time passes: HELLO resends, link retransmissions, the progress timeout.
 * *next_ms = when to call again (UINT64_MAX: nothing scheduled). Returns 0
 * or PROTO_E_ARG. */
int proto_device_tick(struct proto_device *dev, uint64_t now_ms, uint64_t *next_ms /* OUT */);

enum proto_device_state proto_device_state(const struct proto_device *dev);

/* 1 once the exchange has ended (DONE_PASS or DONE_FAIL), else 0. */
int proto_device_done(const struct proto_device *dev);

/* Why it ended: PROTO_R_* (PROTO_R_OK while running or after a pass). */
int proto_device_reason(const struct proto_device *dev);

/* The closing sentence, NUL-terminated ("" while running). */
const char *proto_device_text(const struct proto_device *dev);

/* The challengePassword text for a nonce: 32 lower-case hex digits and a
 * NUL into out (at least PROTO_DEVICE_NONCE_HEX_LEN + 1 bytes). */
void proto_device_nonce_hex(const uint8_t nonce[PROTO_NONCE_LEN], char *out);

const char *proto_device_state_name(int state); /* "hello", ...; never NULL */

#endif
