/*
 * proto.h: the station <-> device provisioning protocol, both ends.
 *
 * Contract: everything here is pure (bytes in, messages out): no I/O, no
 * clock, no allocation, no globals. Time enters as a number of milliseconds
 * the caller passes in; buffers are the caller's. The same code runs in the
 * station, in the simulator and, compiled alone, in device firmware; it
 * depends on nothing but <stddef.h>, <stdint.h> and <string.h>.
 *
 * Layers (PROTOCOL.md is the normative description):
 *
 *   proto_msg   one logical message (HELLO, CSR_REQUEST, CSR, CHAIN,
 *               READBACK, RESULT, ERROR); fields are slices into a buffer.
 *   dialects    how a message travels:
 *                 frame: TLV payload, split into chunks that fit the peer's
 *                        announced maximum frame; each chunk is one frame
 *                        [type|flags|seq|payload|CRC-32] COBS-encoded and
 *                        0x00-delimited; every data frame is acknowledged
 *                        (stop-and-wait) and retransmitted on timeout.
 *                 text:  one ASCII line per message; CSR and CHAIN carry
 *                        PEM blocks on the following lines.
 *   proto_link  the sans-I/O endpoint: feed it received bytes, take the
 *               bytes it wants written, give it messages to send, receive
 *               complete messages, call proto_link_tick() when its deadline
 *               passes. One struct per connection, no allocation.
 *
 * Threads: a proto_link belongs to one thread at a time.
 */
#ifndef PROTOCOLS_PROTO_H
#define PROTOCOLS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1

/* Sizes (bytes). Every decoder caps at these before looking further. */
#define PROTO_DEVICE_ID_MAX 128 /* same as the ledger's */
#define PROTO_NAME_MAX 64       /* model */
#define PROTO_FIRMWARE_MAX 32
#define PROTO_TEXT_MAX 160      /* RESULT/ERROR sentence */
#define PROTO_NONCE_LEN 16
#define PROTO_CSR_MAX 4096      /* DER */
#define PROTO_CERT_MAX 4096     /* one certificate, DER */
#define PROTO_CHAIN_CERTS_MAX 6
#define PROTO_CHAIN_MAX 16384   /* all certificates, DER, concatenated */
#define PROTO_MSG_MAX (PROTO_CHAIN_MAX + 256) /* largest TLV payload of one message */

/* frame dialect: a frame is header (4) + payload + CRC-32 (4), before COBS. */
#define PROTO_FRAME_MIN 64      /* every receiver accepts at least this */
#define PROTO_FRAME_MAX 4096    /* nobody announces more */
#define PROTO_FRAME_DEFAULT 1024
#define PROTO_FRAME_OVERHEAD 8
/* Wire bytes of one frame of n bytes: COBS adds at most n/254 + 1, plus the 0x00 delimiter. */
#define PROTO_FRAME_WIRE_MAX(n) ((n) + (n) / 254 + 2)

/* text dialect */
#define PROTO_LINE_MAX 512      /* including the LF; PEM lines are 64 */

enum proto_dialect {
	PROTO_DIALECT_FRAME = 1,
	PROTO_DIALECT_TEXT = 2,
};

enum proto_role {
	PROTO_ROLE_STATION = 1,
	PROTO_ROLE_DEVICE = 2,
};

/* Message types; values are the frame dialect's type byte. */
enum proto_type {
	PROTO_HELLO = 0x01,       /* device -> station */
	PROTO_CSR_REQUEST = 0x02, /* station -> device: nonce, station's max frame */
	PROTO_CSR = 0x03,         /* device -> station: DER CSR with the nonce as challengePassword */
	PROTO_CHAIN = 0x04,       /* station -> device: certificates, device first */
	PROTO_READBACK = 0x05,    /* device -> station: SHA-256 of what it stored */
	PROTO_RESULT = 0x06,      /* station -> device: pass/fail + reason */
	PROTO_ERROR = 0x07,       /* either way: the sender gives up on this exchange */
	/* frame dialect link control, never returned by proto_link_recv(): */
	PROTO_ACK = 0x7e,
	PROTO_NAK = 0x7f,
};

enum proto_key_type {
	PROTO_KEY_UNKNOWN = 0,
	PROTO_KEY_P256 = 1,
	PROTO_KEY_P384 = 2,
	PROTO_KEY_RSA2048 = 3,
	PROTO_KEY_RSA3072 = 4,
	PROTO_KEY_RSA4096 = 5,
};

/* HELLO capability bits */
#define PROTO_CAP_READBACK 0x0001u /* the device can read back what it stored (required) */
#define PROTO_CAP_RESULT_LED 0x0002u /* the device shows RESULT to the operator */

/* Reason codes in RESULT and ERROR (u16 on the wire). Stable; firmware
 * switches on them. 0 = pass. */
enum proto_reason {
	PROTO_R_OK = 0,
	PROTO_R_PROTOCOL = 1,        /* malformed message or unexpected message type */
	PROTO_R_TIMEOUT = 2,         /* peer stopped answering */
	PROTO_R_TOO_LARGE = 3,       /* message or frame over a limit */
	PROTO_R_CSR_REFUSED = 4,     /* CSR malformed, bad signature, key type */
	PROTO_R_NONCE = 5,           /* CSR does not carry this exchange's nonce */
	PROTO_R_POLICY = 6,          /* device ID / allowlist / quota / re-issue */
	PROTO_R_READBACK = 7,        /* read-back hash does not match */
	PROTO_R_STATION = 8,         /* station fault (HSM down, ledger); not the device's */
	PROTO_R_DEVICE = 9,          /* device-side failure (keygen, storage) */
	PROTO_R_ABORTED = 10,        /* operator pause or station shutdown */
	PROTO_R_VERSION = 11,        /* protocol version not supported */
};

/* Status of the functions below. Negative; 0 is success. */
enum proto_status {
	PROTO_OK = 0,
	PROTO_E_ARG = -1,        /* caller error (NULL, wrong state) */
	PROTO_E_SPACE = -2,      /* caller's buffer too small */
	PROTO_E_MALFORMED = -3,  /* bytes violate the encoding */
	PROTO_E_TOO_LARGE = -4,  /* a field, message or frame over its limit */
	PROTO_E_CRC = -5,        /* frame CRC mismatch */
	PROTO_E_TIMEOUT = -6,    /* retransmissions exhausted */
	PROTO_E_BUSY = -7,       /* a message is still being sent */
	PROTO_E_UNEXPECTED = -8, /* valid message, wrong type for the caller */
};

/* Name for logs, e.g. "crc"; never NULL. */
const char *proto_status_name(int status);
const char *proto_type_name(int type);     /* "HELLO", ... or "?" */
const char *proto_reason_name(int reason); /* "readback", ... stable tokens */
const char *proto_key_type_name(int kt);   /* "p256", "rsa2048", ... */
int proto_key_type_parse(const char *s);   /* inverse; PROTO_KEY_UNKNOWN if none */

/* A byte range; p may be NULL when len is 0. */
struct proto_bytes {
	const uint8_t *p;
	size_t len;
};

/*
 * One logical message. Only the fields of its type are meaningful. Strings
 * are not NUL-terminated (slices); decoders guarantee printable ASCII
 * 0x21..0x7e for device_id/model/firmware and 0x20..0x7e for text.
 */
struct proto_msg {
	enum proto_type type;

	/* HELLO */
	uint8_t version;
	struct proto_bytes device_id, model, firmware;
	uint8_t key_type;  /* enum proto_key_type */
	uint32_t caps;
	uint16_t max_frame; /* frame dialect: largest frame the sender accepts */

	/* CSR_REQUEST: nonce, max_frame (station's) */
	uint8_t nonce[PROTO_NONCE_LEN];

	/* CSR */
	struct proto_bytes csr; /* DER */

	/* CHAIN: each certificate DER, device certificate first */
	struct proto_bytes certs[PROTO_CHAIN_CERTS_MAX];
	size_t cert_count;

	/* READBACK */
	uint8_t sha256[32];

	/* RESULT (pass = reason == PROTO_R_OK) and ERROR */
	uint16_t reason;
	struct proto_bytes text;
};

/*
 * What READBACK hashes, in both dialects: SHA-256 over the DER certificates
 * as delivered, concatenated in order. (The text dialect delivers PEM; the
 * device hashes the decoded DER.) Hashing is the caller's job (the codec has
 * no SHA-256); this gives the bytes in order.
 */

/* ---- messages: TLV payload of the frame dialect (PROTOCOL.md section 5) ---- */

/* Encode m into out; *len = bytes written. PROTO_E_SPACE / PROTO_E_TOO_LARGE / PROTO_E_ARG. */
int proto_msg_encode(const struct proto_msg *m, uint8_t *out, size_t cap, size_t *len);

/* Decode a whole TLV payload of the given type. Slices in m point into in,
 * which must outlive m. Unknown tags are skipped (forward compatibility);
 * duplicate or oversize known tags, missing required tags and truncation
 * are PROTO_E_MALFORMED / PROTO_E_TOO_LARGE; so is a type that is not a
 * message (PROTO_E_MALFORMED). */
int proto_msg_decode(uint8_t type, const uint8_t *in, size_t len, struct proto_msg *m);

/* ---- the frame codec (single frames; no chunking, no ACKs) ---- */

struct proto_frame {
	uint8_t type;  /* enum proto_type */
	uint8_t flags; /* PROTO_FLAG_* */
	uint16_t seq;
	const uint8_t *payload; /* into the decoder's buffer */
	size_t payload_len;
};

#define PROTO_FLAG_MORE 0x01u  /* another chunk of this message follows */
#define PROTO_FLAG_FIRST 0x02u /* first chunk of a message */

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32()). */
uint32_t proto_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Header + payload + CRC, COBS-encoded, 0x00 appended, into out. */
int proto_frame_encode(const struct proto_frame *f, uint8_t *out, size_t cap, size_t *len);

/*
 * Resumable frame decoder. buf holds one frame being decoded; its capacity
 * bounds the frame size (bytes beyond it discard the frame until the next
 * 0x00 and report PROTO_E_TOO_LARGE once).
 */
struct proto_frame_decoder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	uint8_t code;  /* COBS: bytes left in the current block */
	uint8_t block; /* COBS: the current block's code byte */
	uint8_t state; /* private */
	uint8_t overflow;
};

void proto_frame_decoder_init(struct proto_frame_decoder *d, uint8_t *buf, size_t cap);

/*
 * Consume bytes from in (up to n) until a frame ends or the input runs out.
 * *used = bytes consumed. Returns:
 *   1  a valid frame is in *f (slices into d->buf, valid until the next call)
 *   0  need more input (all n consumed)
 *   <0 a bad frame was discarded (PROTO_E_CRC, PROTO_E_MALFORMED,
 *      PROTO_E_TOO_LARGE); decoding resumes with the next byte.
 * Any split of the input gives the same sequence of results.
 */
int proto_frame_decode(struct proto_frame_decoder *d, const uint8_t *in, size_t n,
    size_t *used, struct proto_frame *f);

/* ---- the link: one endpoint of one connection, either dialect ---- */

struct proto_link_config {
	enum proto_dialect dialect;
	enum proto_role role;
	uint16_t max_frame;        /* frame: largest frame we accept (announce it) */
	uint32_t ack_timeout_ms;   /* frame: resend an unacknowledged frame after this */
	uint8_t max_retries;       /* frame: resends per frame before PROTO_E_TIMEOUT */
	/* caller's buffers */
	uint8_t *rx_buf;           /* reassembly of one received message (>= PROTO_MSG_MAX for a station) */
	size_t rx_cap;
	uint8_t *tx_buf;           /* encoded message being sent */
	size_t tx_cap;
	uint8_t *frame_buf;        /* frame: one frame being decoded (>= max_frame) */
	size_t frame_cap;
};

struct proto_link_stats {
	uint64_t bytes_in, bytes_out;
	uint32_t frames_in, frames_out, retransmits, bad_frames, naks_sent, naks_received;
	uint32_t lines_in, lines_out, bad_lines;
	int last_bad; /* proto_status of the last bad frame or line (0: none yet) */
};

struct proto_link {
	struct proto_link_config cfg;
	struct proto_link_stats stats;
	uint16_t peer_max_frame;   /* frame: PROTO_FRAME_MIN until the peer announces */
	/* private state below: touch only through the functions */
	int error_;                /* first error of the current input call */
	uint8_t failed_;           /* the last message was given up (retries exhausted) */
	uint8_t sync_;             /* emit a delimiter (0x00 / LF) before the next byte */
	/* receive */
	struct proto_frame_decoder fdec_;
	size_t rx_len_;            /* bytes of the message being reassembled in rx_buf */
	uint16_t rx_seq_expected_; /* seq of the next chunk (last accepted + 1) */
	uint16_t rx_last_seq_;     /* last accepted data frame: duplicate detection */
	uint32_t rx_last_crc_;
	uint8_t rx_have_last_, rx_type_, rx_ready_, rx_in_msg_;
	struct proto_msg rx_msg_;
	/* send */
	size_t tx_len_, tx_off_, tx_chunk_; /* message in tx_buf; current chunk */
	uint16_t tx_seq_;
	uint8_t tx_type_, tx_active_, tx_need_send_, tx_sent_, tx_waiting_ack_, tx_retries_;
	uint8_t out_is_chunk_;     /* out_ holds the current chunk (not a stale resend) */
	uint64_t tx_deadline_ms_;
	size_t out_off_, out_len_;
	uint8_t out_[PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX) + 16]; /* frame or text line being written */
	uint8_t ctl_[32];          /* pending ACK/NAK frames */
	size_t ctl_off_, ctl_len_;
	/* text dialect */
	uint8_t text_state_, text_skip_, text_label_, text_certs_want_, text_certs_got_;
	uint8_t b64_n_, b64_pad_, b64_end_;
	uint32_t b64_acc_;
	size_t text_field_pos_;    /* TLV header of the PEM block being decoded */
	uint8_t line_[PROTO_LINE_MAX];
	size_t line_len_;
	struct proto_msg tx_msg_;  /* text: the message being written, slices into tx_buf */
	uint8_t txt_phase_, txt_cert_;
	size_t txt_pos_;
};

/* 0, or PROTO_E_ARG: unknown dialect/role, a missing buffer, or (frame)
 * max_frame outside PROTO_FRAME_MIN..PROTO_FRAME_MAX, frame_cap < max_frame,
 * ack_timeout_ms 0. cfg is copied; cfg.ack_timeout_ms may be changed later. */
int proto_link_init(struct proto_link *l, const struct proto_link_config *cfg);

/* Forget any partial message in both directions (after an abort); keeps stats and peer_max_frame. */
void proto_link_reset(struct proto_link *l);

/*
 * Received bytes. Consumes all of them (a frame dialect link also queues
 * the ACK/NAK they call for). Returns 0, or a negative proto_status when
 * the peer violated the protocol beyond recovery (a message over rx_cap,
 * a text line over PROTO_LINE_MAX: PROTO_E_TOO_LARGE; a complete message
 * that breaks the field rules: PROTO_E_MALFORMED, the message is dropped);
 * the first such error of the call is returned and the link stays usable.
 * Bad frames alone are counted and NAKed, not fatal; so are text lines that
 * do not start with a keyword (boot logs). Both set stats.last_bad.
 */
int proto_link_input(struct proto_link *l, const uint8_t *in, size_t n, uint64_t now_ms);

/* 1 when bytes of an unfinished frame (line) are pending and they begin the
 * way a real one does: frame: type and flags decoded, a known type and no
 * reserved flag bit; text: printable ASCII only. 0 otherwise. Tells a peer
 * that stopped half-way through a frame from one that sent noise. */
int proto_link_rx_partial_plausible(const struct proto_link *l);

/* 1 and *m when a whole message has arrived (slices valid until the next
 * input call), else 0. Call it after every input call: a message completing
 * while the previous one is still untaken is not acknowledged (frame: the
 * sender resends it) or is dropped and counted in bad_lines (text). */
int proto_link_recv(struct proto_link *l, struct proto_msg *m);

/* Queue a message. PROTO_E_BUSY while the previous one is not yet fully
 * acknowledged (frame) or written (text). m is copied (as TLV into tx_buf:
 * PROTO_E_SPACE if it does not fit); field errors as proto_msg_encode();
 * text: PROTO_E_TOO_LARGE if its first line would pass PROTO_LINE_MAX.
 * Frame dialect: a HELLO (device) or CSR_REQUEST (station) announces
 * cfg.max_frame, whatever m->max_frame says; text never carries max_frame. */
int proto_link_send(struct proto_link *l, const struct proto_msg *m, uint64_t now_ms);

/* 1 when the last message sent has been fully written (text) or acknowledged
 * (frame); also before the first send; 0 after PROTO_E_TIMEOUT until the next send. */
int proto_link_send_done(const struct proto_link *l);

/* Bytes to write now: copies up to cap into out and returns the count (0: nothing).
 * Call it after every other call until it returns 0. A frame's ACK timer
 * starts when its last byte is returned here. */
size_t proto_link_output(struct proto_link *l, uint8_t *out, size_t cap, uint64_t now_ms);

/*
 * Time passes: resend an unacknowledged frame when its deadline is due.
 * Returns 0, or PROTO_E_TIMEOUT (once) when retries are exhausted: the
 * message is given up and the link is ready for the next one.
 * *next_ms = when to call again (UINT64_MAX: no frame waiting for its ACK;
 * a resend it queued is fetched with proto_link_output()). Text: no-op.
 */
int proto_link_tick(struct proto_link *l, uint64_t now_ms, uint64_t *next_ms);

#endif
