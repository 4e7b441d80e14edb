/*
 * proto_int.h: what proto_link.c and proto_text.c share; not for callers.
 *
 * Contract: the text dialect's half of a proto_link. proto_link.c owns the
 * link's buffers and the output queue; proto_text.c turns a message (already
 * TLV-encoded in tx_buf and decoded back into tx_msg_) into lines one at a
 * time, and received bytes into lines and lines into messages (rebuilt as
 * TLV in rx_buf, then checked by proto_msg_decode(), so both dialects obey
 * one set of field rules).
 *
 * Threads: as proto_link: one thread at a time per link.
 */
#ifndef PROTOCOLS_PROTO_INT_H
#define PROTOCOLS_PROTO_INT_H

#include "protocols/proto.h"

/* TLV tags of the payload (PROTOCOL.md section 5); the text dialect rebuilds
 * received messages as the same TLV. */
enum {
	PROTO_TAG_VERSION = 0x01,
	PROTO_TAG_DEVICE_ID = 0x02,
	PROTO_TAG_MODEL = 0x03,
	PROTO_TAG_FIRMWARE = 0x04,
	PROTO_TAG_KEY_TYPE = 0x05,
	PROTO_TAG_CAPS = 0x06,
	PROTO_TAG_MAX_FRAME = 0x07,
	PROTO_TAG_NONCE = 0x10,
	PROTO_TAG_CSR = 0x20,
	PROTO_TAG_CERT = 0x30,
	PROTO_TAG_SHA256 = 0x40,
	PROTO_TAG_REASON = 0x50,
	PROTO_TAG_TEXT = 0x51,
};

/* Bytes of a TLV header: tag and 2-byte length. */
#define PROTO_TLV_HEADER 3

/* Text state of a link (text_state_). */
enum {
	PROTO_TEXT_IDLE = 0,  /* waiting for a message line */
	PROTO_TEXT_BEGIN = 1, /* waiting for a PEM BEGIN line */
	PROTO_TEXT_BODY = 2,  /* inside a PEM block */
};

/* Start writing l->tx_msg_: puts its first line into out_. PROTO_E_TOO_LARGE
 * if that line would exceed PROTO_LINE_MAX. */
int proto_text_send_start(struct proto_link *l);

/* Put the next line of the message being written into out_. 1 if a line was
 * produced, 0 when the message is complete. */
int proto_text_next_line(struct proto_link *l);

/* Received bytes of a text link; returns the first error (see proto_link_input). */
int proto_text_input(struct proto_link *l, const uint8_t *in, size_t n);

/* Forget a partially received text message and line. */
void proto_text_rx_reset(struct proto_link *l);

/* Number of bytes proto_link queues for writing. */
#define PROTO_OUT_CAP(l) (sizeof((l)->out_))

#endif
