/*
 * device.c: the device side of one provisioning exchange (see device.h).
 *
 * DESIGN: the device is a responder. Whatever the station asks last is what
 * it answers: a second CSR_REQUEST gets a new CSR, a second CHAIN is stored
 * and read back again, so a station that restarts a step never finds the
 * device stuck in the wrong state. Only one outgoing message is kept
 * (pending_); it is rebuilt from the device's own fields each time the link
 * is free, so the link's single transmit buffer is never overrun and no
 * message is encoded twice while it is still in flight.
 */
#include <string.h>

#include "protocols/device.h"

static size_t
device_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

static int
device_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* A string field of HELLO: 1..max printable characters. */
static int
device_field_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = device_strnlen(s, max + 1);
	return n >= 1 && n <= max && device_printable(s, n);
}

static struct proto_bytes
device_slice(const char *s)
{
	struct proto_bytes b;

	b.p = (const uint8_t *)s;
	b.len = device_strnlen(s, PROTO_DEVICE_ID_MAX + 1);
	return b;
}

static void
device_set_text(struct proto_device *dev, const uint8_t *p, size_t len)
{
	if (len > PROTO_TEXT_MAX)
		len = PROTO_TEXT_MAX;
	if (len > 0)
		memcpy(dev->text_, p, len);
	dev->text_[len] = '\0';
}

/*
 * End the exchange once: record why, tell the firmware, and (for a local
 * failure) queue an ERROR so the station does not wait for its own timeout.
 */
static void
device_finish(struct proto_device *dev, int reason, const uint8_t *text, size_t text_len,
              int send_error)
{
	if (dev->ended_)
		return;
	dev->ended_ = 1;
	dev->csr_due_ = 0;
	dev->reason_ = (uint16_t)reason;
	dev->state_ = reason == PROTO_R_OK ? PROTO_DEVICE_DONE_PASS : PROTO_DEVICE_DONE_FAIL;
	device_set_text(dev, text, text_len);
	if (send_error) {
		/* A half-sent message would hold the link forever; the exchange
		 * is over, so drop it and make room for the ERROR. */
		if (!proto_link_send_done(dev->link_))
			proto_link_reset(dev->link_);
		dev->err_reason_ = (uint16_t)reason;
		dev->pending_ = PROTO_ERROR;
	} else {
		dev->pending_ = 0;
	}
	dev->ops_->result(dev->ctx_, reason, dev->text_);
}

static void
device_fail(struct proto_device *dev, int reason, const char *sentence)
{
	device_finish(dev, reason, (const uint8_t *)sentence, strlen(sentence), 1);
}

/* Hand the pending message to the link if it is free. */
static void
device_try_send(struct proto_device *dev, uint64_t now_ms)
{
	struct proto_msg m;
	int rc;

	if (dev->pending_ == 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = (enum proto_type)dev->pending_;
	switch (dev->pending_) {
	case PROTO_HELLO:
		m.version = dev->info_.version;
		m.device_id = device_slice(dev->info_.device_id);
		m.model = device_slice(dev->info_.model);
		m.firmware = device_slice(dev->info_.firmware);
		m.key_type = dev->info_.key_type;
		m.caps = dev->info_.caps;
		m.max_frame = dev->link_->cfg.max_frame;
		break;
	case PROTO_CSR:
		m.csr.p = dev->info_.csr_buf;
		m.csr.len = dev->csr_len_;
		break;
	case PROTO_READBACK:
		memcpy(m.sha256, dev->sha256_, sizeof(m.sha256));
		break;
	case PROTO_ERROR:
		m.reason = dev->err_reason_;
		m.text.p = (const uint8_t *)dev->text_;
		m.text.len = strlen(dev->text_);
		break;
	default:
		dev->pending_ = 0;
		return;
	}
	rc = proto_link_send(dev->link_, &m, now_ms);
	if (rc == PROTO_E_BUSY)
		return; /* try again when the link is free */
	dev->pending_ = 0;
	if (rc != PROTO_OK && m.type != PROTO_ERROR)
		device_fail(dev,
		            rc == PROTO_E_TOO_LARGE || rc == PROTO_E_SPACE ? PROTO_R_TOO_LARGE
		                                                           : PROTO_R_DEVICE,
		            m.type == PROTO_CSR ? "the CSR does not fit the link's transmit buffer"
		                                : "the link refused a message the device built");
	/* An ERROR that cannot be sent is dropped: the exchange is over anyway. */
}

/*
 * CSR_REQUEST: remember the nonce; the CSR is built on the next
 * proto_device_output() call once the link has nothing else to write, so
 * the ACK of the request leaves before a slow key generation starts and
 * the station does not resend the request meanwhile.
 */
static void
device_on_csr_request(struct proto_device *dev, const struct proto_msg *m)
{
	memcpy(dev->nonce_, m->nonce, sizeof(dev->nonce_));
	dev->csr_due_ = 1;
	dev->state_ = PROTO_DEVICE_WAIT_CHAIN;
	dev->pending_ = 0; /* whatever was waiting is superseded: a new CSR follows */
}

static void
device_make_csr(struct proto_device *dev)
{
	size_t len = 0;

	dev->csr_due_ = 0;
	if (dev->ops_->make_csr(dev->ctx_, dev->nonce_, dev->info_.csr_buf, dev->info_.csr_cap,
	                        &len) < 0) {
		device_fail(dev, PROTO_R_DEVICE, "the device could not build its CSR");
		return;
	}
	if (len == 0 || len > dev->info_.csr_cap || len > PROTO_CSR_MAX) {
		device_fail(dev, PROTO_R_DEVICE, "the device built an empty or oversize CSR");
		return;
	}
	dev->csr_len_ = len;
	dev->pending_ = PROTO_CSR;
}

static void
device_on_chain(struct proto_device *dev, const struct proto_msg *m)
{
	if ((dev->state_ != PROTO_DEVICE_WAIT_CHAIN && dev->state_ != PROTO_DEVICE_WAIT_RESULT) ||
	    dev->csr_due_) {
		device_fail(dev, PROTO_R_PROTOCOL, "CHAIN arrived before the device sent a CSR");
		return;
	}
	if (m->cert_count == 0 || m->cert_count > PROTO_CHAIN_CERTS_MAX) {
		device_fail(dev, PROTO_R_PROTOCOL, "CHAIN carries no certificate, or too many");
		return;
	}
	if (dev->ops_->store_chain(dev->ctx_, m) < 0) {
		device_fail(dev, PROTO_R_DEVICE, "the device could not store the chain");
		return;
	}
	if (dev->ops_->readback(dev->ctx_, dev->sha256_) < 0) {
		device_fail(dev, PROTO_R_DEVICE, "the device could not read back the stored chain");
		return;
	}
	dev->state_ = PROTO_DEVICE_WAIT_RESULT;
	dev->pending_ = PROTO_READBACK;
}

static void
device_on_msg(struct proto_device *dev, const struct proto_msg *m, uint64_t now_ms)
{
	if (dev->ended_)
		return; /* the link still ACKs a repeated RESULT; nothing to do */
	dev->deadline_ms_ = now_ms + dev->info_.progress_timeout_ms;
	switch (m->type) {
	case PROTO_CSR_REQUEST:
		device_on_csr_request(dev, m);
		break;
	case PROTO_CHAIN:
		device_on_chain(dev, m);
		break;
	case PROTO_RESULT:
		/* A pass means "your stored chain is right": only after READBACK. */
		if (m->reason == PROTO_R_OK && dev->state_ != PROTO_DEVICE_WAIT_RESULT)
			device_fail(dev, PROTO_R_PROTOCOL,
			            "RESULT pass arrived before the read-back");
		else
			device_finish(dev, m->reason, m->text.p, m->text.len, 0);
		break;
	case PROTO_ERROR:
		/* An ERROR always fails, even one that (wrongly) says "ok". */
		device_finish(dev, m->reason != PROTO_R_OK ? m->reason : PROTO_R_PROTOCOL,
		              m->text.p, m->text.len, 0);
		break;
	default:
		device_fail(dev, PROTO_R_PROTOCOL,
		            "the station sent a message only a device sends");
		break;
	}
}

int
proto_device_init(struct proto_device *dev, struct proto_link *link,
                  const struct proto_device_ops *ops, void *ctx,
                  const struct proto_device_info *info)
{
	if (dev == NULL || link == NULL || ops == NULL || info == NULL)
		return PROTO_E_ARG;
	if (ops->make_csr == NULL || ops->store_chain == NULL || ops->readback == NULL ||
	    ops->result == NULL)
		return PROTO_E_ARG;
	if (link->cfg.role != PROTO_ROLE_DEVICE)
		return PROTO_E_ARG;
	if (!device_field_ok(info->device_id, PROTO_DEVICE_ID_MAX) ||
	    !device_field_ok(info->model, PROTO_NAME_MAX) ||
	    !device_field_ok(info->firmware, PROTO_FIRMWARE_MAX))
		return PROTO_E_ARG;
	if (info->csr_buf == NULL || info->csr_cap == 0)
		return PROTO_E_ARG;
	memset(dev, 0, sizeof(*dev));
	dev->link_ = link;
	dev->ops_ = ops;
	dev->ctx_ = ctx;
	dev->info_ = *info;
	dev->info_.caps |= PROTO_CAP_READBACK;
	if (dev->info_.hello_interval_ms == 0)
		dev->info_.hello_interval_ms = PROTO_DEVICE_HELLO_INTERVAL_MS;
	if (dev->info_.progress_timeout_ms == 0)
		dev->info_.progress_timeout_ms = PROTO_DEVICE_PROGRESS_TIMEOUT_MS;
	if (dev->info_.version == 0)
		dev->info_.version = PROTO_VERSION;
	dev->state_ = PROTO_DEVICE_IDLE;
	return PROTO_OK;
}

int
proto_device_start(struct proto_device *dev, uint64_t now_ms)
{
	if (dev == NULL || dev->state_ != PROTO_DEVICE_IDLE || dev->link_ == NULL)
		return PROTO_E_ARG;
	dev->state_ = PROTO_DEVICE_HELLO;
	dev->pending_ = PROTO_HELLO;
	dev->hello_at_ms_ = now_ms + dev->info_.hello_interval_ms;
	dev->deadline_ms_ = now_ms + dev->info_.progress_timeout_ms;
	device_try_send(dev, now_ms);
	return PROTO_OK;
}

int
proto_device_input(struct proto_device *dev, const uint8_t *in, size_t n, uint64_t now_ms)
{
	struct proto_msg m;
	uint8_t delim;
	size_t off = 0;
	int rc;

	if (dev == NULL || (in == NULL && n > 0) || dev->state_ == PROTO_DEVICE_IDLE)
		return PROTO_E_ARG;
	/* The link holds one received message until it is taken: feed it up
	 * to each delimiter (a message can only end there) and take what
	 * completed, so two messages in one read are both seen. */
	delim = dev->link_->cfg.dialect == PROTO_DIALECT_TEXT ? (uint8_t)'\n' : 0x00;
	while (off < n) {
		const uint8_t *end = memchr(in + off, delim, n - off);
		size_t k = end != NULL ? (size_t)(end - (in + off)) + 1 : n - off;

		rc = proto_link_input(dev->link_, in + off, k, now_ms);
		off += k;
		if (rc < 0 && !dev->ended_)
			device_fail(dev,
			            rc == PROTO_E_TOO_LARGE ? PROTO_R_TOO_LARGE : PROTO_R_PROTOCOL,
			            rc == PROTO_E_TOO_LARGE
			                ? "the station sent a message over the device's limit"
			                : "the station violated the protocol");
		while (proto_link_recv(dev->link_, &m) == 1)
			device_on_msg(dev, &m, now_ms);
	}
	device_try_send(dev, now_ms);
	return PROTO_OK;
}

size_t
proto_device_output(struct proto_device *dev, uint8_t *out, size_t cap, uint64_t now_ms)
{
	size_t n;

	if (dev == NULL || out == NULL || dev->state_ == PROTO_DEVICE_IDLE)
		return 0;
	device_try_send(dev, now_ms);
	n = proto_link_output(dev->link_, out, cap, now_ms);
	if (n == 0 && dev->csr_due_ && !dev->ended_) {
		device_make_csr(dev);
		device_try_send(dev, now_ms);
		n = proto_link_output(dev->link_, out, cap, now_ms);
	}
	if (n < cap && dev->pending_ != 0) {
		/* the previous message just left: the pending one can follow */
		device_try_send(dev, now_ms);
		n += proto_link_output(dev->link_, out + n, cap - n, now_ms);
	}
	return n;
}

int
proto_device_tick(struct proto_device *dev, uint64_t now_ms, uint64_t *next_ms)
{
	uint64_t next = UINT64_MAX, link_next = UINT64_MAX;
	int rc;

	if (dev == NULL || next_ms == NULL)
		return PROTO_E_ARG;
	*next_ms = UINT64_MAX;
	if (dev->state_ == PROTO_DEVICE_IDLE)
		return PROTO_OK;
	rc = proto_link_tick(dev->link_, now_ms, &link_next);
	if (rc == PROTO_E_TIMEOUT && !dev->ended_) {
		if (dev->state_ == PROTO_DEVICE_HELLO) {
			/* Nobody is listening yet: keep offering HELLO until the
			 * progress timeout, like a device waiting on the line. */
			proto_link_reset(dev->link_);
			dev->pending_ = PROTO_HELLO;
			dev->hello_at_ms_ = now_ms + dev->info_.hello_interval_ms;
		} else {
			device_fail(dev, PROTO_R_TIMEOUT,
			            "the station stopped acknowledging the device's frames");
		}
	}
	if (!dev->ended_) {
		if (dev->state_ == PROTO_DEVICE_HELLO && now_ms >= dev->hello_at_ms_) {
			/* A HELLO still in flight is the link's to retransmit. */
			if (dev->pending_ == 0 && proto_link_send_done(dev->link_))
				dev->pending_ = PROTO_HELLO;
			dev->hello_at_ms_ = now_ms + dev->info_.hello_interval_ms;
		}
		if (now_ms >= dev->deadline_ms_)
			device_fail(
			    dev, PROTO_R_TIMEOUT,
			    dev->state_ == PROTO_DEVICE_HELLO
			        ? "no CSR_REQUEST from the station within the progress timeout"
			        : "the station stopped answering within the progress timeout");
	}
	device_try_send(dev, now_ms);
	if (!dev->ended_) {
		next = dev->deadline_ms_;
		if (dev->state_ == PROTO_DEVICE_HELLO && dev->hello_at_ms_ < next)
			next = dev->hello_at_ms_;
	}
	/* the link may have work after it was polled above (a new send) */
	(void)proto_link_tick(dev->link_, now_ms, &link_next);
	*next_ms = link_next < next ? link_next : next;
	return PROTO_OK;
}

enum proto_device_state
proto_device_state(const struct proto_device *dev)
{
	return dev != NULL ? dev->state_ : PROTO_DEVICE_IDLE;
}

int
proto_device_done(const struct proto_device *dev)
{
	return dev != NULL && dev->ended_;
}

int
proto_device_reason(const struct proto_device *dev)
{
	return dev != NULL ? dev->reason_ : PROTO_R_OK;
}

const char *
proto_device_text(const struct proto_device *dev)
{
	return dev != NULL ? dev->text_ : "";
}

void
proto_device_nonce_hex(const uint8_t nonce[PROTO_NONCE_LEN], char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < PROTO_NONCE_LEN; i++) {
		out[2 * i] = hex[nonce[i] >> 4];
		out[2 * i + 1] = hex[nonce[i] & 0x0f];
	}
	out[PROTO_DEVICE_NONCE_HEX_LEN] = '\0';
}

const char *
proto_device_state_name(int state)
{
	switch (state) {
	case PROTO_DEVICE_IDLE:
		return "idle";
	case PROTO_DEVICE_HELLO:
		return "hello";
	case PROTO_DEVICE_WAIT_CHAIN:
		return "wait-chain";
	case PROTO_DEVICE_WAIT_RESULT:
		return "wait-result";
	case PROTO_DEVICE_DONE_PASS:
		return "pass";
	case PROTO_DEVICE_DONE_FAIL:
		return "fail";
	}
	return "?";
}
