/*
 * fuzz_proto_device.c: the device session (protocols/device.h) fed
 * arbitrary bytes as if from the station, in either dialect, split into
 * chunks, with time passing between them. Besides "no crash", it checks
 * the session's promises: result() at most once and only with the state
 * it leaves, a PASS only with reason 0, and the chain handed to
 * store_chain() inside its limits.
 *
 * Input: byte 0 chooses the setup (bit 0: text dialect; bits 1-4: chunk
 * size, 0 = 1 byte, else 7 * value; bit 5: a 2 KiB receive buffer), the
 * rest is the station's bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_dev {
	int results, reason, csr_calls, stores;
	size_t rx_cap;
};

static int
fuzz_make_csr(void *ctx, const uint8_t nonce[PROTO_NONCE_LEN], uint8_t *out, size_t cap,
              size_t *len)
{
	struct fuzz_dev *f = ctx;
	char hex[PROTO_DEVICE_NONCE_HEX_LEN + 1];

	f->csr_calls++;
	proto_device_nonce_hex(nonce, hex);
	if (strlen(hex) != PROTO_DEVICE_NONCE_HEX_LEN || cap < PROTO_DEVICE_NONCE_HEX_LEN)
		abort();
	memcpy(out, hex, PROTO_DEVICE_NONCE_HEX_LEN);
	*len = PROTO_DEVICE_NONCE_HEX_LEN;
	return 0;
}

static int
fuzz_store_chain(void *ctx, const struct proto_msg *chain)
{
	struct fuzz_dev *f = ctx;
	size_t total = 0;

	f->stores++;
	if (chain->type != PROTO_CHAIN || chain->cert_count == 0 ||
	    chain->cert_count > PROTO_CHAIN_CERTS_MAX)
		abort();
	for (size_t i = 0; i < chain->cert_count; i++) {
		if (chain->certs[i].len > 0 && chain->certs[i].p == NULL)
			abort();
		total += chain->certs[i].len;
	}
	if (total > f->rx_cap)
		abort();
	return 0;
}

static int
fuzz_readback(void *ctx, uint8_t sha256[32])
{
	(void)ctx;
	memset(sha256, 0x5a, 32);
	return 0;
}

static void
fuzz_result(void *ctx, int reason, const char *text)
{
	struct fuzz_dev *f = ctx;

	if (text == NULL || strlen(text) > PROTO_TEXT_MAX)
		abort();
	f->results++;
	f->reason = reason;
}

static const struct proto_device_ops fuzz_ops = {fuzz_make_csr, fuzz_store_chain, fuzz_readback,
                                                 fuzz_result};

static uint8_t rx_buf[PROTO_MSG_MAX], tx_buf[PROTO_MSG_MAX], frame_buf[PROTO_FRAME_MAX];
static uint8_t csr_buf[PROTO_CSR_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_link link;
	struct proto_link_config c;
	struct proto_device dev;
	struct proto_device_info info;
	struct fuzz_dev f;
	uint8_t out[512];
	uint64_t now = 5000, next;
	size_t chunk, off = 1;
	enum proto_device_state st;

	if (size < 1)
		return 0;
	memset(&f, 0, sizeof(f));
	memset(&c, 0, sizeof(c));
	c.dialect = (data[0] & 1) ? PROTO_DIALECT_TEXT : PROTO_DIALECT_FRAME;
	c.role = PROTO_ROLE_DEVICE;
	c.max_frame = 256;
	c.ack_timeout_ms = 300;
	c.max_retries = 3;
	c.rx_buf = rx_buf;
	c.rx_cap = (data[0] & 0x20) ? 2048 : sizeof(rx_buf);
	c.tx_buf = tx_buf;
	c.tx_cap = sizeof(tx_buf);
	c.frame_buf = frame_buf;
	c.frame_cap = sizeof(frame_buf);
	f.rx_cap = c.rx_cap;
	chunk = ((data[0] >> 1) & 0x0f) == 0 ? 1 : 7u * ((data[0] >> 1) & 0x0f);
	if (proto_link_init(&link, &c) != PROTO_OK)
		abort();
	memset(&info, 0, sizeof(info));
	info.device_id = "SN-000001";
	info.model = "fuzz";
	info.firmware = "1";
	info.key_type = PROTO_KEY_P256;
	info.csr_buf = csr_buf;
	info.csr_cap = sizeof(csr_buf);
	if (proto_device_init(&dev, &link, &fuzz_ops, &f, &info) != PROTO_OK ||
	    proto_device_start(&dev, now) != PROTO_OK)
		abort();
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (proto_device_input(&dev, data + off, n, now) != PROTO_OK)
			abort();
		off += n;
		while (proto_device_output(&dev, out, sizeof(out), now) > 0)
			;
		now += 10;
		if (proto_device_tick(&dev, now, &next) != PROTO_OK || next < now)
			abort();
	}
	/* and then a long silence: the progress timeout must end it */
	now += PROTO_DEVICE_PROGRESS_TIMEOUT_MS + 1;
	proto_device_tick(&dev, now, &next);
	while (proto_device_output(&dev, out, sizeof(out), now) > 0)
		;

	st = proto_device_state(&dev);
	if (f.results != 1 || !proto_device_done(&dev))
		abort();
	if ((st == PROTO_DEVICE_DONE_PASS) != (f.reason == PROTO_R_OK) ||
	    (st != PROTO_DEVICE_DONE_PASS && st != PROTO_DEVICE_DONE_FAIL) ||
	    proto_device_reason(&dev) != f.reason)
		abort();
	if (f.stores > 0 && f.csr_calls == 0)
		abort(); /* a chain is stored only after a CSR was sent */
	return 0;
}
