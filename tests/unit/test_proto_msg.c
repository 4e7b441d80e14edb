/*
 * test_proto_msg.c: the TLV payload codec (proto_msg_encode/decode) and
 * the name tables: every message type round-trips; hostile payloads
 * (truncated, duplicated, oversize, missing, non-printable, wrong fixed
 * lengths) get the documented status; unknown tags are skipped.
 */
#include <stdio.h>
#include <string.h>

#include "protocols/proto.h"
#include "tests/support/check.h"
#include "tests/unit/test_proto_util.h"

static const enum proto_type all_types[] = {
    PROTO_HELLO,    PROTO_CSR_REQUEST, PROTO_CSR,   PROTO_CHAIN,
    PROTO_READBACK, PROTO_RESULT,      PROTO_ERROR,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static struct tp_store store;
static uint8_t buf[PROTO_MSG_MAX + 64];

static int
decode_bytes(uint8_t type, const uint8_t *p, size_t n)
{
	struct proto_msg m;

	return proto_msg_decode(type, p, n, &m);
}

static void
test_round_trip(void)
{
	size_t i, len, cut;

	for (i = 0; i < NTYPES; i++) {
		struct proto_msg m, d;
		int rc;

		tp_sample(&m, all_types[i], &store, 260, 3);
		rc = proto_msg_encode(&m, buf, sizeof(buf), &len);
		CHECK_INT_EQ(rc, PROTO_OK);
		rc = proto_msg_decode((uint8_t)m.type, buf, len, &d);
		CHECK_INT_EQ(rc, PROTO_OK);
		CHECK(tp_msg_eq(&m, &d));
		/* every capacity short of the need is refused, never overrun */
		for (cut = 0; cut < len; cut++)
			CHECK_INT_EQ(proto_msg_encode(&m, buf, cut, &len) == PROTO_E_SPACE, 1);
		CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_OK);
		/* a cut inside any TLV (not at a boundary) is always caught */
		for (cut = 1; cut < len; cut++) {
			size_t pos = 0;
			int boundary = 0;

			while (pos < len) {
				if (pos == cut)
					boundary = 1;
				pos += 3 + ((size_t)buf[pos + 1] << 8 | buf[pos + 2]);
			}
			if (!boundary)
				CHECK(decode_bytes((uint8_t)m.type, buf, cut) == PROTO_E_MALFORMED);
		}
	}
}

static void
test_hello_fields(void)
{
	struct proto_msg m, d;
	size_t len;

	tp_sample(&m, PROTO_HELLO, &store, 0, 0);
	m.max_frame = 1024;
	m.model.len = 0;
	m.firmware.len = 0;
	m.caps = 0xdeadbeef;
	m.key_type = 200; /* unknown key types pass; the session refuses them */
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_OK);
	CHECK_INT_EQ(proto_msg_decode(PROTO_HELLO, buf, len, &d), PROTO_OK);
	CHECK_INT_EQ(d.max_frame, 1024);
	CHECK_INT_EQ(d.caps, 0xdeadbeef);
	CHECK_INT_EQ(d.key_type, 200);
	CHECK_INT_EQ(d.model.len, 0);
	CHECK(tp_msg_eq(&m, &d));

	/* exact bytes of a small HELLO: tags in order, big-endian lengths */
	{
		static const uint8_t want[] = {
		    0x01, 0x00, 0x01, 0x01,                   /* version 1 */
		    0x02, 0x00, 0x02, 'A',  'B',              /* device_id */
		    0x05, 0x00, 0x01, 0x01,                   /* key_type p256 */
		    0x06, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, /* caps */
		    0x07, 0x00, 0x02, 0x01, 0x00,             /* max_frame 256 */
		};
		memset(&m, 0, sizeof(m));
		m.type = PROTO_HELLO;
		m.version = 1;
		m.device_id.p = (const uint8_t *)"AB";
		m.device_id.len = 2;
		m.key_type = PROTO_KEY_P256;
		m.caps = PROTO_CAP_READBACK;
		m.max_frame = 256;
		CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_OK);
		CHECK_INT_EQ(len, sizeof(want));
		CHECK(memcmp(buf, want, sizeof(want)) == 0);
	}
}

static void
test_encode_refusals(void)
{
	struct proto_msg m;
	size_t len;
	uint8_t big[PROTO_CERT_MAX + 1];
	size_t i;

	memset(big, 'a', sizeof(big));
	tp_sample(&m, PROTO_HELLO, &store, 0, 0);
	m.device_id.len = 0;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);
	m.device_id.p = big;
	m.device_id.len = PROTO_DEVICE_ID_MAX + 1;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_TOO_LARGE);
	m.device_id.len = PROTO_DEVICE_ID_MAX;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_OK);
	m.device_id.p = (const uint8_t *)"a b";
	m.device_id.len = 3; /* space is not allowed in identifiers */
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);
	tp_sample(&m, PROTO_HELLO, &store, 0, 0);
	m.max_frame = 63;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);
	m.max_frame = PROTO_FRAME_MAX + 1;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);

	tp_sample(&m, PROTO_CSR, &store, PROTO_CSR_MAX + 1, 0);
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_TOO_LARGE);
	m.csr.len = 0;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);
	m.csr.p = NULL;
	m.csr.len = 5;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);

	tp_sample(&m, PROTO_CHAIN, &store, 100, 3);
	m.cert_count = 0;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);
	m.cert_count = PROTO_CHAIN_CERTS_MAX + 1;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_TOO_LARGE);
	/* 5 certificates of 3300: each under its cap, together over the chain's */
	tp_sample(&m, PROTO_CHAIN, &store, 3000, 5);
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_OK);
	for (i = 0; i < 5; i++)
		m.certs[i].len = 3300;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_TOO_LARGE);
	/* 6 of 2700 fit; one byte past PROTO_CHAIN_MAX does not */
	tp_sample(&m, PROTO_CHAIN, &store, 2700, 6);
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_OK);
	m.certs[5].len = 2700 + (PROTO_CHAIN_MAX - 6 * 2700) + 1;
	m.certs[5].p = big;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_TOO_LARGE);
	m.certs[5].len--;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_OK);

	tp_sample(&m, PROTO_RESULT, &store, 0, 0);
	m.text.p = big;
	m.text.len = PROTO_TEXT_MAX + 1;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_TOO_LARGE);
	m.text.p = (const uint8_t *)"tab\there";
	m.text.len = 8;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);

	m.type = PROTO_ACK;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);
	m.type = (enum proto_type)0x42;
	CHECK_INT_EQ(proto_msg_encode(&m, buf, sizeof(buf), &len), PROTO_E_ARG);
	CHECK_INT_EQ(proto_msg_encode(NULL, buf, sizeof(buf), &len), PROTO_E_ARG);
}

/* Hostile payloads, each with the status it must get. */
struct hostile {
	const char *name;
	uint8_t type;
	uint8_t bytes[48];
	size_t len;
	int want;
};

#define HELLO_OK 0x01, 0, 1, 1, 0x02, 0, 2, 'i', 'd', 0x05, 0, 1, 1

static const struct hostile hostiles[] = {
    {"valid minimal hello", PROTO_HELLO, {HELLO_OK}, 13, PROTO_OK},
    {"unknown tag skipped", PROTO_HELLO, {HELLO_OK, 0x99, 0, 2, 0xff, 0xff}, 18, PROTO_OK},
    {"other type's tag skipped", PROTO_HELLO, {HELLO_OK, 0x40, 0, 1, 0}, 17, PROTO_OK},
    {"empty payload", PROTO_HELLO, {0}, 0, PROTO_E_MALFORMED},
    {"missing device_id", PROTO_HELLO, {0x01, 0, 1, 1, 0x05, 0, 1, 1}, 8, PROTO_E_MALFORMED},
    {"missing version", PROTO_HELLO, {0x02, 0, 1, 'x', 0x05, 0, 1, 1}, 8, PROTO_E_MALFORMED},
    {"missing key_type", PROTO_HELLO, {0x01, 0, 1, 1, 0x02, 0, 1, 'x'}, 8, PROTO_E_MALFORMED},
    {"duplicate version", PROTO_HELLO, {HELLO_OK, 0x01, 0, 1, 1}, 17, PROTO_E_MALFORMED},
    {"version 2 bytes",
     PROTO_HELLO,
     {0x01, 0, 2, 0, 1, 0x02, 0, 1, 'x', 0x05, 0, 1, 1},
     13,
     PROTO_E_MALFORMED},
    {"empty device_id",
     PROTO_HELLO,
     {0x01, 0, 1, 1, 0x02, 0, 0, 0x05, 0, 1, 1},
     11,
     PROTO_E_MALFORMED},
    {"device_id with space",
     PROTO_HELLO,
     {0x01, 0, 1, 1, 0x02, 0, 2, 'a', ' ', 0x05, 0, 1, 1},
     13,
     PROTO_E_MALFORMED},
    {"device_id with NUL",
     PROTO_HELLO,
     {0x01, 0, 1, 1, 0x02, 0, 2, 'a', 0, 0x05, 0, 1, 1},
     13,
     PROTO_E_MALFORMED},
    {"caps 2 bytes", PROTO_HELLO, {HELLO_OK, 0x06, 0, 2, 0, 1}, 18, PROTO_E_MALFORMED},
    {"max_frame 63", PROTO_HELLO, {HELLO_OK, 0x07, 0, 2, 0, 63}, 18, PROTO_E_MALFORMED},
    {"max_frame 4097", PROTO_HELLO, {HELLO_OK, 0x07, 0, 2, 0x10, 0x01}, 18, PROTO_E_MALFORMED},
    {"max_frame 4096", PROTO_HELLO, {HELLO_OK, 0x07, 0, 2, 0x10, 0x00}, 18, PROTO_OK},
    {"truncated header", PROTO_HELLO, {HELLO_OK, 0x07, 0}, 15, PROTO_E_MALFORMED},
    {"value past end", PROTO_HELLO, {HELLO_OK, 0x99, 0, 9, 1}, 17, PROTO_E_MALFORMED},
    {"nonce 15 bytes", PROTO_CSR_REQUEST, {0x10, 0, 15}, 18, PROTO_E_MALFORMED},
    {"nonce ok", PROTO_CSR_REQUEST, {0x10, 0, 16}, 19, PROTO_OK},
    {"no nonce", PROTO_CSR_REQUEST, {0x07, 0, 2, 1, 0}, 5, PROTO_E_MALFORMED},
    {"empty csr", PROTO_CSR, {0x20, 0, 0}, 3, PROTO_E_MALFORMED},
    {"csr ok", PROTO_CSR, {0x20, 0, 2, 0x30, 0}, 5, PROTO_OK},
    {"two csr", PROTO_CSR, {0x20, 0, 1, 0x30, 0x20, 0, 1, 0x30}, 8, PROTO_E_MALFORMED},
    {"csr over cap", PROTO_CSR, {0x20, 0x10, 0x01}, 3, PROTO_E_MALFORMED}, /* past end first */
    {"chain empty", PROTO_CHAIN, {0}, 0, PROTO_E_MALFORMED},
    {"chain empty cert", PROTO_CHAIN, {0x30, 0, 1, 0x30, 0x30, 0, 0}, 7, PROTO_E_MALFORMED},
    {"chain 6 certs",
     PROTO_CHAIN,
     {0x30, 0, 1, 1, 0x30, 0, 1, 2, 0x30, 0, 1, 3, 0x30, 0, 1, 4, 0x30, 0, 1, 5, 0x30, 0, 1, 6},
     24,
     PROTO_OK},
    {"chain 7 certs",
     PROTO_CHAIN,
     {0x30, 0, 1,    1, 0x30, 0, 1,    2, 0x30, 0, 1,    3, 0x30, 0,
      1,    4, 0x30, 0, 1,    5, 0x30, 0, 1,    6, 0x30, 0, 1,    7},
     28,
     PROTO_E_TOO_LARGE},
    {"sha256 31", PROTO_READBACK, {0x40, 0, 31}, 34, PROTO_E_MALFORMED},
    {"sha256 ok", PROTO_READBACK, {0x40, 0, 32}, 35, PROTO_OK},
    {"result without reason", PROTO_RESULT, {0x51, 0, 2, 'o', 'k'}, 5, PROTO_E_MALFORMED},
    {"result pass", PROTO_RESULT, {0x50, 0, 2, 0, 0}, 5, PROTO_OK},
    {"reason 1 byte", PROTO_RESULT, {0x50, 0, 1, 0}, 4, PROTO_E_MALFORMED},
    {"text with LF", PROTO_ERROR, {0x50, 0, 2, 0, 9, 0x51, 0, 2, 'a', '\n'}, 10, PROTO_E_MALFORMED},
    {"text with space", PROTO_ERROR, {0x50, 0, 2, 0, 9, 0x51, 0, 3, 'a', ' ', 'b'}, 11, PROTO_OK},
    {"type ACK", PROTO_ACK, {0}, 0, PROTO_E_MALFORMED},
    {"type 0", 0, {0}, 0, PROTO_E_MALFORMED},
    {"type 8", 8, {0}, 0, PROTO_E_MALFORMED},
};

static void
test_hostile(void)
{
	size_t i;

	for (i = 0; i < sizeof(hostiles) / sizeof(hostiles[0]); i++) {
		const struct hostile *h = &hostiles[i];
		int rc = decode_bytes(h->type, h->bytes, h->len);

		if (rc != h->want)
			fprintf(stderr, "hostile case '%s': got %s, want %s\n", h->name,
			        proto_status_name(rc), proto_status_name(h->want));
		CHECK_INT_EQ(rc, h->want);
	}
}

static void
test_size_caps(void)
{
	static uint8_t p[PROTO_MSG_MAX + 16];
	size_t i, pos;

	/* a device_id of 129 bytes */
	memset(p, 'a', sizeof(p));
	pos = 0;
	p[pos++] = 0x01, p[pos++] = 0, p[pos++] = 1, p[pos++] = 1;
	p[pos++] = 0x05, p[pos++] = 0, p[pos++] = 1, p[pos++] = 1;
	p[pos++] = 0x02, p[pos++] = 0, p[pos++] = PROTO_DEVICE_ID_MAX + 1;
	CHECK_INT_EQ(decode_bytes(PROTO_HELLO, p, pos + PROTO_DEVICE_ID_MAX + 1),
	             PROTO_E_TOO_LARGE);
	p[pos - 1] = PROTO_DEVICE_ID_MAX;
	CHECK_INT_EQ(decode_bytes(PROTO_HELLO, p, pos + PROTO_DEVICE_ID_MAX), PROTO_OK);

	/* a CSR of PROTO_CSR_MAX + 1 */
	p[0] = 0x20, p[1] = (PROTO_CSR_MAX + 1) >> 8, p[2] = (PROTO_CSR_MAX + 1) & 0xff;
	CHECK_INT_EQ(decode_bytes(PROTO_CSR, p, 3 + PROTO_CSR_MAX + 1), PROTO_E_TOO_LARGE);
	p[1] = PROTO_CSR_MAX >> 8, p[2] = PROTO_CSR_MAX & 0xff;
	CHECK_INT_EQ(decode_bytes(PROTO_CSR, p, 3 + PROTO_CSR_MAX), PROTO_OK);

	/* 4 certificates of 4000 bytes fit (16000 <= PROTO_CHAIN_MAX) */
	for (i = 0, pos = 0; i < 4; i++) {
		p[pos] = 0x30, p[pos + 1] = 4000 >> 8, p[pos + 2] = 4000 & 0xff;
		pos += 3 + 4000;
	}
	CHECK_INT_EQ(decode_bytes(PROTO_CHAIN, p, pos), PROTO_OK);
	/* a fifth of 400: each under PROTO_CERT_MAX, together over the chain cap */
	p[pos] = 0x30, p[pos + 1] = 400 >> 8, p[pos + 2] = 400 & 0xff;
	CHECK_INT_EQ(decode_bytes(PROTO_CHAIN, p, pos + 3 + 400), PROTO_E_TOO_LARGE);
	/* the whole payload over PROTO_MSG_MAX is refused before it is walked */
	CHECK_INT_EQ(decode_bytes(PROTO_CHAIN, p, PROTO_MSG_MAX + 1), PROTO_E_TOO_LARGE);
	/* a certificate of PROTO_CERT_MAX + 1 */
	p[0] = 0x30, p[1] = (PROTO_CERT_MAX + 1) >> 8, p[2] = (PROTO_CERT_MAX + 1) & 0xff;
	CHECK_INT_EQ(decode_bytes(PROTO_CHAIN, p, 3 + PROTO_CERT_MAX + 1), PROTO_E_TOO_LARGE);
	/* a sentence of 161 */
	p[0] = 0x50, p[1] = 0, p[2] = 2, p[3] = 0, p[4] = 1;
	p[5] = 0x51, p[6] = 0, p[7] = PROTO_TEXT_MAX + 1;
	memset(p + 8, 'x', PROTO_TEXT_MAX + 1);
	CHECK_INT_EQ(decode_bytes(PROTO_ERROR, p, 8 + PROTO_TEXT_MAX + 1), PROTO_E_TOO_LARGE);
	p[7] = PROTO_TEXT_MAX;
	CHECK_INT_EQ(decode_bytes(PROTO_ERROR, p, 8 + PROTO_TEXT_MAX), PROTO_OK);
}

static void
test_names(void)
{
	int kt, s;

	CHECK(strcmp(proto_type_name(PROTO_CSR_REQUEST), "CSR_REQUEST") == 0);
	CHECK(strcmp(proto_type_name(PROTO_NAK), "NAK") == 0);
	CHECK(strcmp(proto_type_name(0x55), "?") == 0);
	CHECK(strcmp(proto_reason_name(PROTO_R_READBACK), "readback") == 0);
	CHECK(strcmp(proto_reason_name(PROTO_R_VERSION), "version") == 0);
	CHECK(strcmp(proto_reason_name(999), "unknown") == 0);
	CHECK(strcmp(proto_status_name(PROTO_E_CRC), "crc") == 0);
	CHECK(strcmp(proto_status_name(-99), "?") == 0);
	for (s = PROTO_E_UNEXPECTED; s <= PROTO_OK; s++)
		CHECK(strcmp(proto_status_name(s), "?") != 0);
	for (kt = PROTO_KEY_P256; kt <= PROTO_KEY_RSA4096; kt++)
		CHECK_INT_EQ(proto_key_type_parse(proto_key_type_name(kt)), kt);
	CHECK_INT_EQ(proto_key_type_parse("P256"), PROTO_KEY_P256);
	CHECK_INT_EQ(proto_key_type_parse("p2566"), PROTO_KEY_UNKNOWN);
	CHECK_INT_EQ(proto_key_type_parse("p25"), PROTO_KEY_UNKNOWN);
	CHECK_INT_EQ(proto_key_type_parse(""), PROTO_KEY_UNKNOWN);
	CHECK_INT_EQ(proto_key_type_parse(NULL), PROTO_KEY_UNKNOWN);
	CHECK(strcmp(proto_key_type_name(77), "unknown") == 0);
	CHECK(strcmp(proto_key_type_name(-1), "unknown") == 0);
}

int
main(void)
{
	test_round_trip();
	test_hello_fields();
	test_encode_refusals();
	test_hostile();
	test_size_caps();
	test_names();
	return check_finish("test_proto_msg");
}
