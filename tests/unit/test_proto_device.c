/*
 * test_proto_device.c: the device side of the exchange (protocols/device.h)
 * against a station driven by hand in this test through a second, real
 * proto_link (role STATION), in memory, on a virtual clock: full exchanges
 * in both dialects and with 1-byte writes, ERROR from the station, the
 * device's own failures, HELLO resend timing, the 60 s progress timeout, a
 * repeated CSR_REQUEST, a pass that comes too early, two messages in one
 * read, and hostile station input.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/device.h"
#include "tests/support/check.h"

#define CERT_A_LEN 700
#define CERT_B_LEN 450

/* What the station side of the test does on each device message. */
enum station_mode {
	ST_AUTO = 0,     /* a correct station */
	ST_SILENT,       /* the station's link runs (ACKs) but it answers nothing */
	ST_ABSENT,       /* nothing is on the line */
	ST_ERROR_ON_CSR, /* answers the CSR with ERROR */
	ST_NO_CHAIN,     /* sends CSR_REQUEST, then never the chain */
	ST_CHAIN_FIRST,  /* answers HELLO with a CHAIN */
	ST_TWO_REQUESTS, /* answers the first CSR with a second CSR_REQUEST */
	ST_HUGE_CHAIN,   /* a chain larger than the device's receive buffer */
	ST_EARLY_PASS,   /* answers HELLO with RESULT pass */
};

struct harness {
	enum proto_dialect dialect;
	enum station_mode mode;
	uint64_t now;
	size_t chunk; /* bytes per write in both directions */

	/* device */
	struct proto_link dlink;
	struct proto_device dev;
	uint8_t d_rx[PROTO_MSG_MAX], d_tx[PROTO_MSG_MAX], d_frame[PROTO_FRAME_MAX];
	uint8_t csr_buf[PROTO_CSR_MAX];
	uint8_t storage[PROTO_CHAIN_MAX];
	size_t stored_len, stored_certs;
	int make_csr_calls, results, result_reason;
	char result_text[PROTO_TEXT_MAX + 1];
	uint8_t csr_nonce[PROTO_NONCE_LEN];
	int fail_store, corrupt_storage;

	/* station */
	struct proto_link slink;
	uint8_t s_rx[PROTO_MSG_MAX], s_tx[PROTO_MSG_MAX], s_frame[PROTO_FRAME_MAX];
	uint8_t nonce[PROTO_NONCE_LEN];
	uint8_t cert_a[CERT_A_LEN], cert_b[CERT_B_LEN];
	uint8_t huge[3000];
	int hellos, csrs, readbacks, errors, csr_ok, readback_ok;
	uint16_t error_reason;
	char hello_id[PROTO_DEVICE_ID_MAX + 1];
};

static struct harness H;

static void
sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		abort();
}

/* ---- the device's callbacks (what firmware would write) ---- */

static int
cb_make_csr(void *ctx, const uint8_t nonce[PROTO_NONCE_LEN], uint8_t *out, size_t cap, size_t *len)
{
	struct harness *h = ctx;
	char hex[PROTO_DEVICE_NONCE_HEX_LEN + 1];
	int n;

	h->make_csr_calls++;
	memcpy(h->csr_nonce, nonce, PROTO_NONCE_LEN);
	proto_device_nonce_hex(nonce, hex);
	/* not DER: the session and the link carry the bytes, they do not parse them */
	n = snprintf((char *)out, cap, "CSR challengePassword=%s", hex);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	*len = (size_t)n;
	return 0;
}

static int
cb_store_chain(void *ctx, const struct proto_msg *chain)
{
	struct harness *h = ctx;

	if (h->fail_store)
		return -1;
	h->stored_len = 0;
	for (size_t i = 0; i < chain->cert_count; i++) {
		if (h->stored_len + chain->certs[i].len > sizeof(h->storage))
			return -1;
		memcpy(h->storage + h->stored_len, chain->certs[i].p, chain->certs[i].len);
		h->stored_len += chain->certs[i].len;
	}
	h->stored_certs = chain->cert_count;
	if (h->corrupt_storage)
		h->storage[10] ^= 1; /* a bad flash write */
	return 0;
}

static int
cb_readback(void *ctx, uint8_t out[32])
{
	struct harness *h = ctx;

	sha256(h->storage, h->stored_len, out);
	return 0;
}

static void
cb_result(void *ctx, int reason, const char *text)
{
	struct harness *h = ctx;

	h->results++;
	h->result_reason = reason;
	snprintf(h->result_text, sizeof(h->result_text), "%s", text);
}

static const struct proto_device_ops ops = {cb_make_csr, cb_store_chain, cb_readback, cb_result};

/* ---- the station, by hand ---- */

static void
station_send(struct harness *h, const struct proto_msg *m)
{
	int rc = proto_link_send(&h->slink, m, h->now);

	if (rc != PROTO_OK) {
		fprintf(stderr, "station send %s: %s\n", proto_type_name(m->type),
		        proto_status_name(rc));
		check_failures++;
	}
}

static void
station_send_chain(struct harness *h, int huge)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_CHAIN;
	if (huge) {
		for (size_t i = 0; i < 5; i++) {
			m.certs[i].p = h->huge;
			m.certs[i].len = sizeof(h->huge);
		}
		m.cert_count = 5;
	} else {
		m.certs[0].p = h->cert_a;
		m.certs[0].len = sizeof(h->cert_a);
		m.certs[1].p = h->cert_b;
		m.certs[1].len = sizeof(h->cert_b);
		m.cert_count = 2;
	}
	station_send(h, &m);
}

static void
station_send_csr_request(struct harness *h)
{
	struct proto_msg m;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_CSR_REQUEST;
	memcpy(m.nonce, h->nonce, sizeof(m.nonce));
	station_send(h, &m);
}

static void
station_on_msg(struct harness *h, const struct proto_msg *m)
{
	struct proto_msg r;
	char want[64], hex[PROTO_DEVICE_NONCE_HEX_LEN + 1];
	uint8_t chain[CERT_A_LEN + CERT_B_LEN], sum[32];

	memset(&r, 0, sizeof(r));
	switch (m->type) {
	case PROTO_HELLO:
		h->hellos++;
		snprintf(h->hello_id, sizeof(h->hello_id), "%.*s", (int)m->device_id.len,
		         (const char *)m->device_id.p);
		if (h->mode == ST_SILENT)
			return;
		if (h->mode == ST_CHAIN_FIRST) {
			station_send_chain(h, 0);
			return;
		}
		if (h->mode == ST_EARLY_PASS) {
			r.type = PROTO_RESULT;
			r.reason = PROTO_R_OK;
			station_send(h, &r);
			return;
		}
		station_send_csr_request(h);
		return;
	case PROTO_CSR:
		h->csrs++;
		proto_device_nonce_hex(h->nonce, hex);
		snprintf(want, sizeof(want), "CSR challengePassword=%s", hex);
		h->csr_ok = m->csr.len == strlen(want) && memcmp(m->csr.p, want, m->csr.len) == 0;
		if (h->mode == ST_ERROR_ON_CSR) {
			r.type = PROTO_ERROR;
			r.reason = PROTO_R_POLICY;
			r.text.p = (const uint8_t *)"device ID SN-1 is not on the allowlist";
			r.text.len = strlen((const char *)r.text.p);
			station_send(h, &r);
		} else if (h->mode == ST_TWO_REQUESTS && h->csrs == 1) {
			h->nonce[0] ^= 0xff; /* a new exchange: a new nonce */
			station_send_csr_request(h);
		} else if (h->mode != ST_NO_CHAIN) {
			station_send_chain(h, h->mode == ST_HUGE_CHAIN);
		}
		return;
	case PROTO_READBACK:
		h->readbacks++;
		memcpy(chain, h->cert_a, sizeof(h->cert_a));
		memcpy(chain + sizeof(h->cert_a), h->cert_b, sizeof(h->cert_b));
		sha256(chain, sizeof(chain), sum);
		h->readback_ok = memcmp(sum, m->sha256, 32) == 0;
		r.type = PROTO_RESULT;
		r.reason = h->readback_ok ? PROTO_R_OK : PROTO_R_READBACK;
		r.text.p = (const uint8_t *)(h->readback_ok ? "provisioned" : "read-back mismatch");
		r.text.len = strlen((const char *)r.text.p);
		station_send(h, &r);
		return;
	case PROTO_ERROR:
		h->errors++;
		h->error_reason = m->reason;
		return;
	default:
		return;
	}
}

static void
harness_setup(struct harness *h, enum proto_dialect dialect, enum station_mode mode, size_t chunk)
{
	struct proto_link_config dc, sc;
	struct proto_device_info info;

	memset(h, 0, sizeof(*h));
	h->dialect = dialect;
	h->mode = mode;
	h->chunk = chunk;
	h->now = 1000; /* any origin */
	for (size_t i = 0; i < sizeof(h->cert_a); i++)
		h->cert_a[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(h->cert_b); i++)
		h->cert_b[i] = (uint8_t)(i * 13 + 5);
	for (size_t i = 0; i < PROTO_NONCE_LEN; i++)
		h->nonce[i] = (uint8_t)(0xa0 + i);

	memset(&dc, 0, sizeof(dc));
	dc.dialect = dialect;
	dc.role = PROTO_ROLE_DEVICE;
	dc.max_frame = 128; /* small: a chain takes many frames */
	dc.ack_timeout_ms = 200;
	dc.max_retries = 3;
	dc.rx_buf = h->d_rx;
	dc.rx_cap = mode == ST_HUGE_CHAIN ? 4096 : sizeof(h->d_rx);
	dc.tx_buf = h->d_tx;
	dc.tx_cap = sizeof(h->d_tx);
	dc.frame_buf = h->d_frame;
	dc.frame_cap = sizeof(h->d_frame);
	CHECK_INT_EQ(proto_link_init(&h->dlink, &dc), PROTO_OK);

	sc = dc;
	sc.role = PROTO_ROLE_STATION;
	sc.max_frame = 256;
	sc.rx_buf = h->s_rx;
	sc.rx_cap = sizeof(h->s_rx);
	sc.tx_buf = h->s_tx;
	sc.tx_cap = sizeof(h->s_tx);
	sc.frame_buf = h->s_frame;
	sc.frame_cap = sizeof(h->s_frame);
	CHECK_INT_EQ(proto_link_init(&h->slink, &sc), PROTO_OK);

	memset(&info, 0, sizeof(info));
	info.device_id = "SN-000001";
	info.model = "widget-a";
	info.firmware = "1.2.3";
	info.key_type = PROTO_KEY_P256;
	info.csr_buf = h->csr_buf;
	info.csr_cap = sizeof(h->csr_buf);
	CHECK_INT_EQ(proto_device_init(&h->dev, &h->dlink, &ops, h, &info), PROTO_OK);
}

/* Move bytes both ways until the line is quiet; returns device bytes written. */
static size_t
pump(struct harness *h)
{
	uint8_t buf[PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX) + 64];
	size_t total = 0;

	for (int rounds = 0; rounds < 100000; rounds++) {
		size_t cap = h->chunk < sizeof(buf) ? h->chunk : sizeof(buf);
		size_t n = proto_device_output(&h->dev, buf, cap, h->now), m = 0;
		struct proto_msg msg;

		total += n;
		if (h->mode != ST_ABSENT) {
			if (n > 0)
				proto_link_input(&h->slink, buf, n, h->now);
			while (proto_link_recv(&h->slink, &msg) == 1)
				station_on_msg(h, &msg);
			m = proto_link_output(&h->slink, buf, cap, h->now);
			if (m > 0)
				proto_device_input(&h->dev, buf, m, h->now);
		}
		if (n == 0 && m == 0)
			break;
	}
	return total;
}

/* Advance the clock to t in steps, ticking both ends and pumping. */
static void
run_until(struct harness *h, uint64_t t, uint64_t step)
{
	while (h->now < t) {
		uint64_t next;

		h->now = h->now + step < t ? h->now + step : t;
		proto_device_tick(&h->dev, h->now, &next);
		proto_link_tick(&h->slink, h->now, &next);
		pump(h);
	}
}

static void
test_full_exchange(enum proto_dialect dialect, size_t chunk)
{
	struct harness *h = &H;
	uint8_t chain[CERT_A_LEN + CERT_B_LEN];

	harness_setup(h, dialect, ST_AUTO, chunk);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_IDLE);
	CHECK_INT_EQ(proto_device_start(&h->dev, h->now), PROTO_OK);
	CHECK_INT_EQ(proto_device_start(&h->dev, h->now), PROTO_E_ARG); /* once only */
	pump(h);
	run_until(h, h->now + 50, 10);

	CHECK_INT_EQ(h->hellos, 1);
	CHECK(strcmp(h->hello_id, "SN-000001") == 0);
	CHECK_INT_EQ(h->make_csr_calls, 1);
	CHECK(memcmp(h->csr_nonce, h->nonce, PROTO_NONCE_LEN) == 0);
	CHECK(h->csr_ok);
	CHECK_INT_EQ(h->stored_certs, 2);
	memcpy(chain, h->cert_a, sizeof(h->cert_a));
	memcpy(chain + sizeof(h->cert_a), h->cert_b, sizeof(h->cert_b));
	CHECK_INT_EQ(h->stored_len, sizeof(chain));
	CHECK(memcmp(h->storage, chain, sizeof(chain)) == 0);
	CHECK(h->readback_ok);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_PASS);
	CHECK(proto_device_done(&h->dev));
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_OK);
	CHECK(strcmp(proto_device_text(&h->dev), "provisioned") == 0);
	CHECK_INT_EQ(h->results, 1);
	CHECK_INT_EQ(h->result_reason, PROTO_R_OK);
	CHECK(strcmp(h->result_text, "provisioned") == 0);
	CHECK_INT_EQ(h->errors, 0);
	if (dialect == PROTO_DIALECT_FRAME) {
		/* the 1150-byte chain took many 128-byte frames, all acknowledged */
		CHECK(h->dlink.stats.frames_in > 10);
		CHECK(proto_link_send_done(&h->slink)); /* the RESULT was ACKed */
	}
	/* nothing more happens afterwards */
	run_until(h, h->now + 70000, 1000);
	CHECK_INT_EQ(h->results, 1);
	CHECK_INT_EQ(h->hellos, 1);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_PASS);
}

static void
test_wrong_readback(void)
{
	struct harness *h = &H;

	harness_setup(h, PROTO_DIALECT_FRAME, ST_AUTO, 4096);
	h->corrupt_storage = 1;
	proto_device_start(&h->dev, h->now);
	run_until(h, h->now + 50, 10);
	CHECK_INT_EQ(h->readbacks, 1);
	CHECK(!h->readback_ok);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_READBACK);
	CHECK(strcmp(h->result_text, "read-back mismatch") == 0);
}

static void
test_station_error(enum proto_dialect dialect)
{
	struct harness *h = &H;

	harness_setup(h, dialect, ST_ERROR_ON_CSR, 4096);
	proto_device_start(&h->dev, h->now);
	run_until(h, h->now + 50, 10);
	CHECK_INT_EQ(h->csrs, 1);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_POLICY);
	CHECK(strcmp(proto_device_text(&h->dev), "device ID SN-1 is not on the allowlist") == 0);
	CHECK_INT_EQ(h->results, 1);
	CHECK_INT_EQ(h->result_reason, PROTO_R_POLICY);
	CHECK_INT_EQ(h->stored_certs, 0);
	CHECK_INT_EQ(h->errors, 0); /* the device does not answer an ERROR with one */
	/* a later CHAIN changes nothing */
	station_send_chain(h, 0);
	run_until(h, h->now + 50, 10);
	CHECK_INT_EQ(h->stored_certs, 0);
	CHECK_INT_EQ(h->results, 1);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
}

static void
test_store_fails(enum proto_dialect dialect)
{
	struct harness *h = &H;

	harness_setup(h, dialect, ST_AUTO, 4096);
	h->fail_store = 1;
	proto_device_start(&h->dev, h->now);
	run_until(h, h->now + 50, 10);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_DEVICE);
	CHECK(strstr(proto_device_text(&h->dev), "store") != NULL);
	CHECK_INT_EQ(h->results, 1);
	CHECK_INT_EQ(h->errors, 1); /* the station is told, not left to time out */
	CHECK_INT_EQ(h->error_reason, PROTO_R_DEVICE);
	CHECK_INT_EQ(h->readbacks, 0);
}

/* HELLO every 2 s while the station does not ask for a CSR. */
static void
test_hello_resend(enum proto_dialect dialect)
{
	struct harness *h = &H;
	uint64_t t0, next = 0;

	harness_setup(h, dialect, ST_SILENT, 4096);
	t0 = h->now;
	proto_device_start(&h->dev, h->now);
	pump(h);
	CHECK_INT_EQ(h->hellos, 1);
	CHECK_INT_EQ(proto_device_tick(&h->dev, h->now, &next), PROTO_OK);
	CHECK(next <= t0 + PROTO_DEVICE_HELLO_INTERVAL_MS); /* the caller knows when */
	run_until(h, t0 + 1999, 1);
	CHECK_INT_EQ(h->hellos, 1);
	run_until(h, t0 + 2000, 1);
	CHECK_INT_EQ(h->hellos, 2);
	run_until(h, t0 + 3999, 1);
	CHECK_INT_EQ(h->hellos, 2);
	run_until(h, t0 + 4000, 1);
	CHECK_INT_EQ(h->hellos, 3);
	run_until(h, t0 + 10000, 100);
	CHECK_INT_EQ(h->hellos, 6);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_HELLO);
	CHECK_INT_EQ(h->make_csr_calls, 0);
}

/* 60 s without a CSR_REQUEST, station present but silent or absent. */
static void
test_hello_timeout(enum proto_dialect dialect, enum station_mode mode)
{
	struct harness *h = &H;
	uint64_t t0;

	harness_setup(h, dialect, mode, 4096);
	t0 = h->now;
	proto_device_start(&h->dev, h->now);
	pump(h);
	run_until(h, t0 + PROTO_DEVICE_PROGRESS_TIMEOUT_MS - 1, 50);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_HELLO);
	CHECK_INT_EQ(h->results, 0);
	run_until(h, t0 + PROTO_DEVICE_PROGRESS_TIMEOUT_MS, 1);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_TIMEOUT);
	CHECK(strstr(proto_device_text(&h->dev), "CSR_REQUEST") != NULL);
	CHECK_INT_EQ(h->results, 1);
	if (mode == ST_SILENT) {
		/* HELLO every 2 s for a minute, then the ERROR that says why */
		CHECK(h->hellos >= 29 && h->hellos <= 31);
		run_until(h, h->now + 100, 10);
		CHECK_INT_EQ(h->errors, 1);
		CHECK_INT_EQ(h->error_reason, PROTO_R_TIMEOUT);
	}
}

/* The station asks for a CSR, then never sends the chain. */
static void
test_chain_timeout(void)
{
	struct harness *h = &H;
	uint64_t t_csr;

	harness_setup(h, PROTO_DIALECT_FRAME, ST_NO_CHAIN, 4096);
	proto_device_start(&h->dev, h->now);
	pump(h);
	t_csr = h->now;
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_WAIT_CHAIN);
	run_until(h, t_csr + PROTO_DEVICE_PROGRESS_TIMEOUT_MS - 1, 100);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_WAIT_CHAIN);
	run_until(h, t_csr + PROTO_DEVICE_PROGRESS_TIMEOUT_MS, 1);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_TIMEOUT);
	CHECK(strstr(proto_device_text(&h->dev), "stopped answering") != NULL);
}

static void
test_chain_before_csr(enum proto_dialect dialect)
{
	struct harness *h = &H;

	harness_setup(h, dialect, ST_CHAIN_FIRST, 4096);
	proto_device_start(&h->dev, h->now);
	run_until(h, h->now + 50, 10);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_PROTOCOL);
	CHECK_INT_EQ(h->stored_certs, 0);
	CHECK_INT_EQ(h->errors, 1);
	CHECK_INT_EQ(h->error_reason, PROTO_R_PROTOCOL);
}

/* A second CSR_REQUEST (new nonce) is answered with a new CSR. */
static void
test_repeated_csr_request(enum proto_dialect dialect)
{
	struct harness *h = &H;

	harness_setup(h, dialect, ST_TWO_REQUESTS, 4096);
	proto_device_start(&h->dev, h->now);
	run_until(h, h->now + 50, 10);
	CHECK_INT_EQ(h->make_csr_calls, 2);
	CHECK_INT_EQ(h->csrs, 2);
	CHECK(h->csr_ok); /* the second CSR carries the second nonce */
	CHECK(memcmp(h->csr_nonce, h->nonce, PROTO_NONCE_LEN) == 0);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_PASS);
}

/* A chain over the device's receive buffer ends the exchange, clearly. */
static void
test_huge_chain(enum proto_dialect dialect)
{
	struct harness *h = &H;

	harness_setup(h, dialect, ST_HUGE_CHAIN, 4096);
	proto_device_start(&h->dev, h->now);
	run_until(h, h->now + 3000, 10);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_TOO_LARGE);
	CHECK_INT_EQ(h->stored_certs, 0);
	CHECK_INT_EQ(h->results, 1);
}

/* Hostile bytes from the "station": never a crash, never a pass. */
static void
test_garbage_input(enum proto_dialect dialect)
{
	struct harness *h = &H;
	uint8_t junk[4096];
	uint64_t r = 12345, next;

	harness_setup(h, dialect, ST_ABSENT, 4096);
	proto_device_start(&h->dev, h->now);
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			r = r * 6364136223846793005ull + 1442695040888963407ull;
			junk[i] = (uint8_t)(r >> 56);
		}
		proto_device_input(&h->dev, junk, sizeof(junk), h->now);
		pump(h);
		h->now += 100;
		proto_device_tick(&h->dev, h->now, &next);
	}
	CHECK(proto_device_state(&h->dev) != PROTO_DEVICE_DONE_PASS);
	CHECK_INT_EQ(h->stored_certs, 0);
	CHECK(h->results <= 1);
}

/* A pass before the device stored and read back anything is not a pass. */
static void
test_early_pass(enum proto_dialect dialect)
{
	struct harness *h = &H;

	harness_setup(h, dialect, ST_EARLY_PASS, 4096);
	proto_device_start(&h->dev, h->now);
	run_until(h, h->now + 50, 10);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_DONE_FAIL);
	CHECK_INT_EQ(proto_device_reason(&h->dev), PROTO_R_PROTOCOL);
	CHECK_INT_EQ(h->results, 1);
	CHECK_INT_EQ(h->result_reason, PROTO_R_PROTOCOL);
	CHECK_INT_EQ(h->errors, 1);
}

/* Two station messages in one read (text): both are acted on, the second
 * (a CSR_REQUEST with a new nonce) last. */
static void
test_two_messages_one_read(void)
{
	struct harness *h = &H;
	uint8_t buf[1024];
	size_t len = 0;

	harness_setup(h, PROTO_DIALECT_TEXT, ST_ABSENT, 4096);
	proto_device_start(&h->dev, h->now);
	pump(h);
	station_send_csr_request(h);
	len += proto_link_output(&h->slink, buf + len, sizeof(buf) - len, h->now);
	h->nonce[3] ^= 0x55;
	station_send_csr_request(h);
	len += proto_link_output(&h->slink, buf + len, sizeof(buf) - len, h->now);
	CHECK(len > 80);
	CHECK_INT_EQ(proto_device_input(&h->dev, buf, len, h->now), PROTO_OK);
	CHECK_INT_EQ(h->make_csr_calls, 0); /* not inside input: after the ACK is out */
	pump(h);
	CHECK_INT_EQ(h->make_csr_calls, 1);
	CHECK(memcmp(h->csr_nonce, h->nonce, PROTO_NONCE_LEN) == 0);
	CHECK_INT_EQ(proto_device_state(&h->dev), PROTO_DEVICE_WAIT_CHAIN);
}

/* frame: the ACK of CSR_REQUEST leaves before make_csr() runs. */
static void
test_ack_before_make_csr(void)
{
	struct harness *h = &H;
	uint8_t buf[2048];
	size_t n;

	harness_setup(h, PROTO_DIALECT_FRAME, ST_ABSENT, 4096);
	proto_device_start(&h->dev, h->now);
	n = proto_device_output(&h->dev, buf, sizeof(buf), h->now);
	proto_link_input(&h->slink, buf, n, h->now); /* first HELLO chunk */
	n = proto_link_output(&h->slink, buf, sizeof(buf), h->now);
	proto_device_input(&h->dev, buf, n, h->now); /* its ACK */
	n = proto_device_output(&h->dev, buf, sizeof(buf), h->now);
	proto_link_input(&h->slink, buf, n, h->now); /* the rest of HELLO */
	n = proto_link_output(&h->slink, buf, sizeof(buf), h->now);
	proto_device_input(&h->dev, buf, n, h->now);
	station_send_csr_request(h);
	n = proto_link_output(&h->slink, buf, sizeof(buf), h->now);
	proto_device_input(&h->dev, buf, n, h->now);
	n = proto_device_output(&h->dev, buf, sizeof(buf), h->now);
	CHECK(n > 0 && n <= 10); /* just the ACK */
	CHECK_INT_EQ(h->make_csr_calls, 0);
	n = proto_device_output(&h->dev, buf, sizeof(buf), h->now);
	CHECK_INT_EQ(h->make_csr_calls, 1);
	CHECK(n > 20); /* the CSR frame */
}

static void
test_init_args(void)
{
	struct harness *h = &H;
	struct proto_device_info info;
	struct proto_device dev;
	char long_id[PROTO_DEVICE_ID_MAX + 2];

	harness_setup(h, PROTO_DIALECT_FRAME, ST_AUTO, 4096);
	memset(&info, 0, sizeof(info));
	info.device_id = "SN-1";
	info.model = "m";
	info.firmware = "f";
	info.csr_buf = h->csr_buf;
	info.csr_cap = sizeof(h->csr_buf);
	CHECK_INT_EQ(proto_device_init(&dev, &h->dlink, &ops, h, &info), PROTO_OK);
	CHECK_INT_EQ(proto_device_init(&dev, &h->slink, &ops, h, &info),
	             PROTO_E_ARG); /* station link */
	CHECK_INT_EQ(proto_device_init(&dev, NULL, &ops, h, &info), PROTO_E_ARG);
	info.device_id = "SN 1";
	CHECK_INT_EQ(proto_device_init(&dev, &h->dlink, &ops, h, &info), PROTO_E_ARG);
	info.device_id = "";
	CHECK_INT_EQ(proto_device_init(&dev, &h->dlink, &ops, h, &info), PROTO_E_ARG);
	memset(long_id, 'A', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	info.device_id = long_id;
	CHECK_INT_EQ(proto_device_init(&dev, &h->dlink, &ops, h, &info), PROTO_E_ARG);
	long_id[PROTO_DEVICE_ID_MAX] = '\0';
	CHECK_INT_EQ(proto_device_init(&dev, &h->dlink, &ops, h, &info), PROTO_OK);
	info.csr_buf = NULL;
	CHECK_INT_EQ(proto_device_init(&dev, &h->dlink, &ops, h, &info), PROTO_E_ARG);
	/* not started: input is refused, output and tick are quiet */
	info.csr_buf = h->csr_buf;
	CHECK_INT_EQ(proto_device_init(&dev, &h->dlink, &ops, h, &info), PROTO_OK);
	CHECK_INT_EQ(proto_device_input(&dev, (const uint8_t *)"x", 1, 0), PROTO_E_ARG);
	{
		uint8_t out[16];
		uint64_t next = 0;

		CHECK_INT_EQ(proto_device_output(&dev, out, sizeof(out), 0), 0);
		CHECK_INT_EQ(proto_device_tick(&dev, 0, &next), PROTO_OK);
		CHECK(next == UINT64_MAX);
	}
}

static void
test_nonce_hex(void)
{
	const uint8_t nonce[PROTO_NONCE_LEN] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff,
	                                        0x10, 0x20, 0x30, 0x40, 0x5a, 0xa5, 0x09, 0x90};
	char hex[PROTO_DEVICE_NONCE_HEX_LEN + 1];

	proto_device_nonce_hex(nonce, hex);
	CHECK(strcmp(hex, "00017f80abcdefff102030405aa50990") == 0);
	CHECK(strcmp(proto_device_state_name(PROTO_DEVICE_WAIT_CHAIN), "wait-chain") == 0);
	CHECK(strcmp(proto_device_state_name(99), "?") == 0);
}

int
main(void)
{
	test_nonce_hex();
	test_init_args();
	test_full_exchange(PROTO_DIALECT_FRAME, 4096);
	test_full_exchange(PROTO_DIALECT_TEXT, 4096);
	test_full_exchange(PROTO_DIALECT_FRAME, 1);
	test_full_exchange(PROTO_DIALECT_TEXT, 1);
	test_full_exchange(PROTO_DIALECT_FRAME, 7);
	test_wrong_readback();
	test_station_error(PROTO_DIALECT_FRAME);
	test_station_error(PROTO_DIALECT_TEXT);
	test_store_fails(PROTO_DIALECT_FRAME);
	test_store_fails(PROTO_DIALECT_TEXT);
	test_hello_resend(PROTO_DIALECT_FRAME);
	test_hello_resend(PROTO_DIALECT_TEXT);
	test_hello_timeout(PROTO_DIALECT_FRAME, ST_SILENT);
	test_hello_timeout(PROTO_DIALECT_TEXT, ST_SILENT);
	test_hello_timeout(PROTO_DIALECT_FRAME, ST_ABSENT);
	test_chain_timeout();
	test_chain_before_csr(PROTO_DIALECT_FRAME);
	test_chain_before_csr(PROTO_DIALECT_TEXT);
	test_repeated_csr_request(PROTO_DIALECT_FRAME);
	test_repeated_csr_request(PROTO_DIALECT_TEXT);
	test_huge_chain(PROTO_DIALECT_FRAME);
	test_huge_chain(PROTO_DIALECT_TEXT);
	test_early_pass(PROTO_DIALECT_FRAME);
	test_early_pass(PROTO_DIALECT_TEXT);
	test_two_messages_one_read();
	test_ack_before_make_csr();
	test_garbage_input(PROTO_DIALECT_FRAME);
	test_garbage_input(PROTO_DIALECT_TEXT);
	return check_finish("test_proto_device");
}
