/*
 * test_proto_text.c: the text dialect. Every message type through a real
 * station link and a real device link (whole, 1 byte at a time); the exact
 * lines on the wire; PEM as OpenSSL writes and reads it (OpenSSL is the
 * independent reference here, the codec itself has no OpenSSL); hostile
 * input: lines over the limit, bad base64, bad hex, a missing END line,
 * garbage lines, wrong counts, bad escapes, buffers too small.
 */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "protocols/proto.h"
#include "tests/support/check.h"
#include "tests/unit/test_proto_util.h"

static struct tp_store store_a, store_b;
static struct tp_end dev_end; /* a lone receiving end for hand-written input */

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
	if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL) {
			*len = fread(buf, 1, (size_t)n, f);
			buf[*len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* Feeds s to a fresh station-side text end (rx_cap as given), in steps of
 * step bytes; returns the first error; messages are in dev_end.got. */
static int
feed_text(const char *s, size_t len, size_t step, size_t rx_cap)
{
	int first = 0;
	size_t off = 0;

	CHECK_INT_EQ(tp_end_init(&dev_end, PROTO_DIALECT_TEXT, PROTO_ROLE_STATION, 0, rx_cap), 0);
	while (off < len) {
		size_t k = step == 0 || len - off < step ? len - off : step;
		struct proto_msg m;
		int rc = proto_link_input(&dev_end.l, (const uint8_t *)s + off, k, 0);

		off += k;
		if (rc != 0 && first == 0)
			first = rc;
		if (rc != 0 && dev_end.nerr < TP_ERR_MAX)
			dev_end.errors[dev_end.nerr++] = rc;
		while (proto_link_recv(&dev_end.l, &m) == 1) {
			if (dev_end.ngot < TP_GOT_MAX)
				tp_copy(&dev_end.got[dev_end.ngot], &m);
			dev_end.ngot++;
		}
	}
	return first;
}

static int
feed_str(const char *s)
{
	return feed_text(s, strlen(s), 0, TP_BUF);
}

/* Everything a link writes for one message, as a string (caller's buffer). */
static size_t
text_of(const struct proto_msg *m, enum proto_role role, char *out, size_t cap)
{
	static struct tp_end e;
	size_t n = 0, k;

	CHECK_INT_EQ(tp_end_init(&e, PROTO_DIALECT_TEXT, role, 0, TP_BUF), 0);
	CHECK_INT_EQ(proto_link_send(&e.l, m, 0), PROTO_OK);
	while (n + 1 < cap && (k = proto_link_output(&e.l, (uint8_t *)out + n, cap - 1 - n, 0)) > 0)
		n += k;
	out[n] = '\0';
	CHECK_INT_EQ(proto_link_send_done(&e.l), 1);
	return n;
}

static void
text_exchange(size_t chunk, size_t out_chunk)
{
	static const enum proto_type order[] = {PROTO_HELLO, PROTO_CSR_REQUEST, PROTO_CSR,
	                                        PROTO_CHAIN, PROTO_READBACK,    PROTO_RESULT,
	                                        PROTO_ERROR, PROTO_ERROR};
	struct tp_pair *p = tp_pair_new(PROTO_DIALECT_TEXT, 0, 0);
	size_t i;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	p->chunk = chunk;
	p->out_chunk = out_chunk;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int from_station = order[i] == PROTO_CSR_REQUEST || order[i] == PROTO_CHAIN ||
		                   order[i] == PROTO_RESULT || i == 7;
		struct tp_end *src = from_station ? &p->st : &p->dev;
		struct tp_end *dst = from_station ? &p->dev : &p->st;
		struct proto_msg m;
		size_t before = dst->ngot;

		tp_sample(&m, order[i], order[i] == PROTO_CHAIN ? &store_b : &store_a,
		          order[i] == PROTO_CHAIN ? 2730 : 260, 6);
		CHECK_INT_EQ(proto_link_send(&src->l, &m, p->now), PROTO_OK);
		CHECK_INT_EQ(proto_link_send(&src->l, &m, p->now), PROTO_E_BUSY);
		tp_run(p, 1000);
		CHECK_INT_EQ(proto_link_send_done(&src->l), 1);
		CHECK_INT_EQ(dst->ngot, before + 1);
		if (dst->ngot == before + 1)
			CHECK(tp_msg_eq(&dst->got[before].m, &m));
	}
	CHECK_INT_EQ(p->st.nerr, 0);
	CHECK_INT_EQ(p->dev.nerr, 0);
	CHECK_INT_EQ(p->st.l.stats.bad_lines, 0);
	CHECK_INT_EQ(p->dev.l.stats.bad_lines, 0);
	CHECK_INT_EQ(p->st.l.stats.lines_out, p->dev.l.stats.lines_in);
	CHECK_INT_EQ(p->dev.l.stats.lines_out, p->st.l.stats.lines_in);
	CHECK_INT_EQ(p->now, 0);
	free(p);
}

static void
test_exchange(void)
{
	text_exchange(0, 0);
	text_exchange(1, 0);
	text_exchange(5, 1);
	text_exchange(0, 13);
}

static void
test_exact_lines(void)
{
	static char out[40000];
	struct proto_msg m;
	uint64_t next = 0;
	size_t i;

	tp_sample(&m, PROTO_HELLO, &store_a, 0, 0);
	m.caps = PROTO_CAP_READBACK;
	m.max_frame = 1024; /* not carried in text */
	text_of(&m, PROTO_ROLE_DEVICE, out, sizeof(out));
	CHECK(strcmp(out, "HELLO v=1 id=SN-000123 model=widget fw=1.2.0 key=p256 caps=1\n") == 0);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_RESULT;
	m.reason = PROTO_R_READBACK;
	m.text.p = (const uint8_t *)"readback mismatch";
	m.text.len = strlen("readback mismatch");
	text_of(&m, PROTO_ROLE_STATION, out, sizeof(out));
	CHECK(strcmp(out, "RESULT fail reason=7 msg=readback%20mismatch\n") == 0);
	m.reason = 0;
	m.text.len = 0;
	text_of(&m, PROTO_ROLE_STATION, out, sizeof(out));
	CHECK(strcmp(out, "RESULT pass\n") == 0);
	m.type = PROTO_ERROR;
	m.reason = PROTO_R_DEVICE;
	m.text.p = (const uint8_t *)"50% = half";
	m.text.len = strlen("50% = half");
	text_of(&m, PROTO_ROLE_DEVICE, out, sizeof(out));
	CHECK(strcmp(out, "ERROR reason=9 msg=50%25%20%3D%20half\n") == 0);

	tp_sample(&m, PROTO_CSR_REQUEST, &store_a, 0, 0);
	text_of(&m, PROTO_ROLE_STATION, out, sizeof(out));
	CHECK(strcmp(out, "CSRREQ nonce=a0a7aeb5bcc3cad1d8dfe6edf4fb0209\n") == 0);
	tp_sample(&m, PROTO_READBACK, &store_a, 0, 0);
	text_of(&m, PROTO_ROLE_DEVICE, out, sizeof(out));
	CHECK(strncmp(out, "READBACK sha256=010e1b28", 24) == 0);
	CHECK_INT_EQ(strlen(out), strlen("READBACK sha256=") + 64 + 1);

	/* escapes round-trip through an identifier */
	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	m.version = 1;
	m.device_id.p = (const uint8_t *)"a%b=c~";
	m.device_id.len = 6;
	m.key_type = PROTO_KEY_RSA3072;
	text_of(&m, PROTO_ROLE_DEVICE, out, sizeof(out));
	CHECK(strcmp(out, "HELLO v=1 id=a%25b%3Dc~ key=rsa3072 caps=0\n") == 0);
	CHECK_INT_EQ(feed_str(out), 0);
	CHECK_INT_EQ(dev_end.ngot, 1);
	CHECK(dev_end.ngot == 1 && tp_msg_eq(&dev_end.got[0].m, &m));

	/* a HELLO whose escaped line would pass PROTO_LINE_MAX is refused at send */
	{
		static uint8_t pct[PROTO_DEVICE_ID_MAX];
		static struct tp_end e;

		memset(pct, '%', sizeof(pct));
		m.device_id.p = pct;
		m.device_id.len = sizeof(pct);
		m.model.p = pct;
		m.model.len = PROTO_NAME_MAX;
		m.firmware.p = pct;
		m.firmware.len = PROTO_FIRMWARE_MAX;
		CHECK_INT_EQ(tp_end_init(&e, PROTO_DIALECT_TEXT, PROTO_ROLE_DEVICE, 0, TP_BUF), 0);
		CHECK_INT_EQ(proto_link_send(&e.l, &m, 0), PROTO_E_TOO_LARGE);
		CHECK_INT_EQ(proto_link_send_done(&e.l), 1);
		CHECK_INT_EQ(proto_link_output(&e.l, (uint8_t *)out, sizeof(out), 0), 0);
		/* text links have no timers */
		CHECK_INT_EQ(proto_link_tick(&e.l, 123456, &next), PROTO_OK);
		CHECK(next == UINT64_MAX);
	}

	/* CHAIN: n=, then one PEM block per certificate, 64-character lines */
	tp_sample(&m, PROTO_CHAIN, &store_b, 100, 2);
	text_of(&m, PROTO_ROLE_STATION, out, sizeof(out));
	CHECK(strncmp(out, "CHAIN n=2\n-----BEGIN CERTIFICATE-----\n", 38) == 0);
	{
		const char *line = out;
		size_t lines = 0, longest = 0;

		while ((line = strchr(line, '\n')) != NULL) {
			const char *next_nl = strchr(line + 1, '\n');

			if (next_nl != NULL && (size_t)(next_nl - line - 1) > longest)
				longest = (size_t)(next_nl - line - 1);
			lines++;
			line++;
		}
		/* 1 + 2 x (BEGIN + 3 body lines (136 base64 chars) + END) */
		CHECK_INT_EQ(lines, 1 + 2 * 5);
		CHECK_INT_EQ(longest, 64);
	}
	for (i = 0; out[i] != '\0'; i++)
		CHECK(out[i] == '\n' || (out[i] >= 0x20 && out[i] <= 0x7e));
}

/* The codec's PEM against OpenSSL's, both ways, with a real CSR. */
static void
test_pem_against_openssl(void)
{
	static char out[8192], in[8192];
	const char *files[] = {TEST_DATA_DIR "/csr/valid-p256.pem",
	                       TEST_DATA_DIR "/csr/valid-p256-new-label.pem"};
	size_t f;

	for (f = 0; f < 2; f++) {
		size_t len, n;
		char *pem = slurp(files[f], &len);
		BIO *bio;
		char *name = NULL, *header = NULL;
		unsigned char *der = NULL;
		long der_len = 0;
		struct proto_msg m;

		CHECK(pem != NULL);
		if (pem == NULL)
			return;
		bio = BIO_new_mem_buf(pem, (int)len);
		CHECK(bio != NULL && PEM_read_bio(bio, &name, &header, &der, &der_len) == 1);
		BIO_free(bio);
		/* what the device sends: "CSR", then the PEM file as it is */
		n = (size_t)snprintf(in, sizeof(in), "CSR\n%s", pem);
		CHECK_INT_EQ(feed_text(in, n, 0, TP_BUF), 0);
		CHECK_INT_EQ(dev_end.ngot, 1);
		CHECK(dev_end.ngot == 1 && dev_end.got[0].m.csr.len == (size_t)der_len &&
		      memcmp(dev_end.got[0].m.csr.p, der, (size_t)der_len) == 0);
		CHECK_INT_EQ(feed_text(in, n, 1, TP_BUF), 0);
		CHECK_INT_EQ(dev_end.ngot, 1);

		/* what the codec writes is what OpenSSL writes */
		memset(&m, 0, sizeof(m));
		m.type = PROTO_CSR;
		m.csr.p = der;
		m.csr.len = (size_t)der_len;
		n = text_of(&m, PROTO_ROLE_DEVICE, out, sizeof(out));
		bio = BIO_new(BIO_s_mem());
		CHECK(bio != NULL &&
		      PEM_write_bio(bio, "CERTIFICATE REQUEST", "", der, der_len) > 0);
		{
			char *ref = NULL;
			long rl = BIO_get_mem_data(bio, &ref);

			CHECK(n == (size_t)rl + 4);
			CHECK(strncmp(out, "CSR\n", 4) == 0 &&
			      memcmp(out + 4, ref, (size_t)rl) == 0);
		}
		BIO_free(bio);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		free(pem);
	}
}

struct bad_case {
	const char *name;
	const char *text;
	int want_rc;      /* first error from input */
	size_t want_msgs; /* messages delivered */
};

#define PEM_BEGIN "-----BEGIN CERTIFICATE REQUEST-----\n"
#define PEM_END "-----END CERTIFICATE REQUEST-----\n"
#define NONCE "nonce=00112233445566778899aabbccddeeff"
#define SHA "sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const struct bad_case cases[] = {
    {"valid CSR", "CSR\n" PEM_BEGIN "MIIBAA==\n" PEM_END, 0, 1},
    {"bad base64 char", "CSR\n" PEM_BEGIN "MII!AA==\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"base64 space", "CSR\n" PEM_BEGIN "MIIB AA==\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"base64 pad bits", "CSR\n" PEM_BEGIN "MIIBAB==\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"base64 pad bits 1", "CSR\n" PEM_BEGIN "MIIBAAB=\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"base64 after pad", "CSR\n" PEM_BEGIN "MIIBAA==\nMIIB\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"base64 pad first", "CSR\n" PEM_BEGIN "M===\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"base64 cut short", "CSR\n" PEM_BEGIN "MIIBA\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"base64 across lines", "CSR\n" PEM_BEGIN "MI\nIBAA=\n=\n" PEM_END, 0, 1},
    {"empty PEM", "CSR\n" PEM_BEGIN PEM_END, PROTO_E_MALFORMED, 0},
    {"missing END, new message", "CSR\n" PEM_BEGIN "MIIBAA==\nREADBACK " SHA "\n",
     PROTO_E_MALFORMED, 1},
    {"missing BEGIN", "CSR\nMIIBAA==\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"wrong END label", "CSR\n" PEM_BEGIN "MIIBAA==\n-----END CERTIFICATE-----\n",
     PROTO_E_MALFORMED, 0},
    {"CSR with bare word", "CSR now\n", PROTO_E_MALFORMED, 0},
    {"CHAIN n=0", "CHAIN n=0\n", PROTO_E_MALFORMED, 0},
    {"CHAIN n=7", "CHAIN n=7\n", PROTO_E_TOO_LARGE, 0},
    {"CHAIN without n", "CHAIN\n", PROTO_E_MALFORMED, 0},
    {"CHAIN short",
     "CHAIN n=2\n-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n"
     "RESULT pass\n",
     PROTO_E_MALFORMED, 1},
    {"CHAIN ok",
     "CHAIN n=2\n-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n"
     "-----BEGIN CERTIFICATE-----\nMIIBAQ==\n-----END CERTIFICATE-----\n",
     0, 1},
    {"CHAIN cert labelled CSR", "CHAIN n=1\n" PEM_BEGIN "MIIBAA==\n" PEM_END, PROTO_E_MALFORMED, 0},
    {"bad hex nonce", "CSRREQ nonce=0011223344556677889gaabbccddeeff\n", PROTO_E_MALFORMED, 0},
    {"short nonce", "CSRREQ nonce=00112233445566778899aabbccddee\n", PROTO_E_MALFORMED, 0},
    {"no nonce", "CSRREQ\n", PROTO_E_MALFORMED, 0},
    {"nonce ok, upper case", "CSRREQ nonce=00112233445566778899AABBCCDDEEFF\n", 0, 1},
    {"bad hex sha",
     "READBACK sha256=xx112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
     PROTO_E_MALFORMED, 0},
    {"RESULT pass", "RESULT pass\n", 0, 1},
    {"RESULT pass with reason", "RESULT pass reason=3\n", PROTO_E_MALFORMED, 0},
    {"RESULT fail no reason", "RESULT fail\n", PROTO_E_MALFORMED, 0},
    {"RESULT fail reason 0", "RESULT fail reason=0\n", PROTO_E_MALFORMED, 0},
    {"RESULT bare", "RESULT\n", PROTO_E_MALFORMED, 0},
    {"RESULT maybe", "RESULT maybe\n", PROTO_E_MALFORMED, 0},
    {"RESULT two words", "RESULT pass fail\n", PROTO_E_MALFORMED, 0},
    {"ERROR reason too big", "ERROR reason=65536\n", PROTO_E_MALFORMED, 0},
    {"ERROR reason sign", "ERROR reason=-1\n", PROTO_E_MALFORMED, 0},
    {"ERROR no reason", "ERROR msg=x\n", PROTO_E_MALFORMED, 0},
    {"duplicate key", "ERROR reason=1 reason=2\n", PROTO_E_MALFORMED, 0},
    {"unknown key ignored", "ERROR reason=1 retry=later\n", 0, 1},
    {"empty key", "ERROR reason=1 =x\n", PROTO_E_MALFORMED, 0},
    {"runs of spaces", "ERROR  reason=1   msg=a%20b \n", 0, 1},
    {"bad escape", "ERROR reason=1 msg=100%\n", PROTO_E_MALFORMED, 0},
    {"bad escape digits", "ERROR reason=1 msg=%G1\n", PROTO_E_MALFORMED, 0},
    {"escaped LF", "ERROR reason=1 msg=a%0Ab\n", PROTO_E_MALFORMED, 0},
    {"msg too long",
     "ERROR reason=1 msg=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxx\n",
     PROTO_E_TOO_LARGE, 0},
    {"HELLO ok", "HELLO v=1 id=X key=p384 caps=3\n", 0, 1},
    {"HELLO unknown key type", "HELLO v=1 id=X key=ed25519\n", 0, 1},
    {"HELLO no id", "HELLO v=1 key=p256 caps=1\n", PROTO_E_MALFORMED, 0},
    {"HELLO empty id", "HELLO v=1 id= key=p256\n", PROTO_E_MALFORMED, 0},
    {"HELLO id NUL", "HELLO v=1 id=a%00 key=p256\n", PROTO_E_MALFORMED, 0},
    {"HELLO id space", "HELLO v=1 id=a%20b key=p256\n", PROTO_E_MALFORMED, 0},
    {"HELLO v=256", "HELLO v=256 id=X key=p256\n", PROTO_E_MALFORMED, 0},
    {"HELLO caps hex", "HELLO v=1 id=X key=p256 caps=0x1\n", PROTO_E_MALFORMED, 0},
    {"HELLO caps max", "HELLO v=1 id=X key=p256 caps=4294967295\n", 0, 1},
    {"HELLO caps over", "HELLO v=1 id=X key=p256 caps=4294967296\n", PROTO_E_MALFORMED, 0},
    {"HELLO tab", "HELLO v=1\tid=X key=p256\n", PROTO_E_MALFORMED, 0},
    {"control char", "HELLO v=1 id=X\x01 key=p256\n", PROTO_E_MALFORMED, 0},
    {"lower-case keyword", "hello v=1 id=X key=p256\n", 0, 0},
    {"garbage", "I (312) boot: ESP-IDF v5.1 2nd stage bootloader\n\x1b[0;32m\n\xff\xfe\x00\n", 0,
     0},
    {"comments, blanks, CRLF", "# a human typed this\r\n\r\n\nRESULT pass\r\n", 0, 1},
    {"CR in the middle", "RESULT pass\rx\n", PROTO_E_MALFORMED, 0},
    {"second message not taken", "RESULT pass\nRESULT pass\n", 0, 1},
    {"no final LF", "RESULT pass", 0, 0},
};

static void
test_bad_input(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		size_t len = strlen(c->text);
		int rc;

		if (strcmp(c->name, "garbage") == 0)
			len += 2; /* the NUL and the LF after it */
		rc = feed_text(c->text, len, 0, TP_BUF);
		if (rc != c->want_rc || dev_end.ngot != c->want_msgs)
			fprintf(stderr, "case '%s': rc %s, %zu messages\n", c->name,
			        proto_status_name(rc), dev_end.ngot);
		CHECK_INT_EQ(rc, c->want_rc);
		CHECK_INT_EQ(dev_end.ngot, c->want_msgs);
		if (c->want_rc != 0)
			CHECK(dev_end.l.stats.bad_lines > 0 && dev_end.l.stats.last_bad < 0);
		if (strcmp(c->name, "garbage") == 0) {
			CHECK_INT_EQ(dev_end.l.stats.bad_lines, 3);
			CHECK_INT_EQ(dev_end.l.stats.last_bad, PROTO_E_UNEXPECTED);
		}
		/* one byte at a time: the same outcome, except the last case, where
		 * taking each message at once lets the second one in */
		if (strcmp(c->name, "second message not taken") == 0)
			continue;
		rc = feed_text(c->text, len, 1, TP_BUF);
		CHECK_INT_EQ(rc, c->want_rc);
		CHECK_INT_EQ(dev_end.ngot, c->want_msgs);
	}
	/* the missing-END case delivered the message that interrupted it */
	CHECK_INT_EQ(feed_str("CSR\n" PEM_BEGIN "MIIBAA==\nREADBACK " SHA "\n"), PROTO_E_MALFORMED);
	CHECK(dev_end.ngot == 1 && dev_end.got[0].m.type == PROTO_READBACK);
	/* the unknown key type arrives as PROTO_KEY_UNKNOWN */
	CHECK_INT_EQ(feed_str("HELLO v=1 id=X key=ed25519\n"), 0);
	CHECK(dev_end.ngot == 1 && dev_end.got[0].m.key_type == PROTO_KEY_UNKNOWN);
	CHECK_INT_EQ(feed_str("ERROR  reason=1   msg=a%20b \n"), 0);
	CHECK(dev_end.ngot == 1 && dev_end.got[0].m.text.len == 3 &&
	      memcmp(dev_end.got[0].m.text.p, "a b", 3) == 0);
}

static void
test_line_limit(void)
{
	static char buf[4096];
	size_t n, pad;
	int rc;

	/* content of PROTO_LINE_MAX - 1 bytes (CR included) + LF: accepted */
	for (pad = 0; pad < 2; pad++) {
		n = (size_t)snprintf(buf, sizeof(buf), "RESULT pass x=");
		while (n < PROTO_LINE_MAX - 2 + pad)
			buf[n++] = 'a';
		buf[n++] = '\r';
		buf[n++] = '\n';
		memcpy(buf + n, "RESULT pass\n", 12);
		n += 12;
		rc = feed_text(buf, n, 0, TP_BUF);
		if (pad == 0) {
			CHECK_INT_EQ(rc, 0);
			CHECK_INT_EQ(dev_end.ngot, 1); /* the second was not taken in time */
		} else {
			/* one byte more: the line is refused, the next line is read */
			CHECK_INT_EQ(rc, PROTO_E_TOO_LARGE);
			CHECK_INT_EQ(dev_end.nerr, 1);
			CHECK_INT_EQ(dev_end.ngot, 1);
			CHECK_INT_EQ(dev_end.l.stats.bad_lines, 1);
			CHECK_INT_EQ(dev_end.l.stats.last_bad, PROTO_E_TOO_LARGE);
		}
		rc = feed_text(buf, n, 1, TP_BUF);
		CHECK_INT_EQ(dev_end.ngot, pad == 0 ? 2 : 1);
		CHECK_INT_EQ(dev_end.nerr, pad); /* reported once, not per byte */
	}
	/* a megabyte without LF: one error, bounded memory, then recovery */
	memset(buf, 'Z', sizeof(buf));
	CHECK_INT_EQ(tp_end_init(&dev_end, PROTO_DIALECT_TEXT, PROTO_ROLE_STATION, 0, TP_BUF), 0);
	rc = 0;
	for (n = 0; n < 256; n++)
		if (proto_link_input(&dev_end.l, (const uint8_t *)buf, sizeof(buf), 0) != 0)
			rc++;
	CHECK_INT_EQ(rc, 1);
	CHECK_INT_EQ(proto_link_input(&dev_end.l, (const uint8_t *)"\nRESULT pass\n", 13, 0), 0);
	{
		struct proto_msg m;

		CHECK_INT_EQ(proto_link_recv(&dev_end.l, &m), 1);
	}
	/* an overlong line in the middle of a PEM block abandons the message */
	n = (size_t)snprintf(buf, sizeof(buf), "CSR\n" PEM_BEGIN "MIIB");
	for (pad = 0; pad < 600; pad++)
		buf[n++] = 'A';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\nAA==\n" PEM_END);
	CHECK_INT_EQ(feed_text(buf, n, 0, TP_BUF), PROTO_E_TOO_LARGE);
	CHECK_INT_EQ(dev_end.ngot, 0);
}

static void
test_buffers(void)
{
	static char buf[16384];
	static uint8_t der[PROTO_CSR_MAX + 3];
	struct proto_msg m;
	size_t n;

	/* a CSR of 260 bytes into an rx_cap of 100 */
	memset(&m, 0, sizeof(m));
	tp_sample(&m, PROTO_CSR, &store_a, 260, 0);
	n = text_of(&m, PROTO_ROLE_DEVICE, buf, sizeof(buf));
	CHECK_INT_EQ(feed_text(buf, n, 0, 100), PROTO_E_TOO_LARGE);
	CHECK_INT_EQ(dev_end.ngot, 0);
	CHECK_INT_EQ(feed_text(buf, n, 0, 263), 0);
	CHECK_INT_EQ(dev_end.ngot, 1);
	/* a PEM CSR over PROTO_CSR_MAX, rx_cap ample */
	tp_fill(der, sizeof(der), 3);
	m.csr.p = der;
	m.csr.len = PROTO_CSR_MAX;
	n = text_of(&m, PROTO_ROLE_DEVICE, buf, sizeof(buf));
	CHECK_INT_EQ(feed_text(buf, n, 0, TP_BUF), 0);
	CHECK_INT_EQ(dev_end.ngot, 1);
	{
		/* a block 3 bytes over the cap: the codec's own base64 of 4095 bytes
		 * (no padding), then one more quartet */
		static struct tp_end e;
		static char csr_text[16384];
		const char *body, *end;
		size_t k, blen, t;

		CHECK_INT_EQ(tp_end_init(&e, PROTO_DIALECT_TEXT, PROTO_ROLE_DEVICE, 0, TP_BUF), 0);
		m.csr.len = PROTO_CSR_MAX - 1;
		CHECK_INT_EQ(proto_link_send(&e.l, &m, 0), 0);
		n = 0;
		while ((k = proto_link_output(&e.l, (uint8_t *)buf + n, sizeof(buf) - 1 - n, 0)) >
		       0)
			n += k;
		buf[n] = '\0';
		body = strstr(buf, "-----\n") + 6;
		end = strstr(body, "-----END");
		blen = (size_t)(end - body);
		t = (size_t)snprintf(csr_text, sizeof(csr_text), "CSR\n" PEM_BEGIN);
		memcpy(csr_text + t, body, blen);
		t += blen;
		CHECK_INT_EQ(
		    feed_text(csr_text,
		              t + (size_t)snprintf(csr_text + t, sizeof(csr_text) - t, PEM_END), 0,
		              TP_BUF),
		    0);
		CHECK_INT_EQ(dev_end.ngot, 1);
		t += (size_t)snprintf(csr_text + t, sizeof(csr_text) - t, "AAAA\n" PEM_END);
		CHECK_INT_EQ(feed_text(csr_text, t, 0, TP_BUF), PROTO_E_TOO_LARGE);
		CHECK_INT_EQ(dev_end.ngot, 0);
	}
}

/* Split invariance over a mixed stream: 1 byte at a time vs line at a time. */
static void
test_split_equivalence(void)
{
	static const char *lines[] = {
	    "# station log\n",
	    "garbage \x01\x02\n",
	    "HELLO v=1 id=SN-1 key=p256 caps=1\n",
	    "CSRREQ " NONCE "\n",
	    "CSR\n" PEM_BEGIN "MIIBAA==\n" PEM_END,
	    "CSR\n" PEM_BEGIN "MI!\n",
	    "READBACK " SHA "\n",
	    "RESULT fail reason=7 msg=x\n",
	    "ERROR reason=x\n",
	    "CHAIN n=1\n-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n",
	};
	static struct tp_end a, b;
	size_t i, j;
	int errs_a[32], errs_b[32];
	size_t na = 0, nb = 0, ga = 0, gb = 0;

	CHECK_INT_EQ(tp_end_init(&a, PROTO_DIALECT_TEXT, PROTO_ROLE_STATION, 0, TP_BUF), 0);
	CHECK_INT_EQ(tp_end_init(&b, PROTO_DIALECT_TEXT, PROTO_ROLE_STATION, 0, TP_BUF), 0);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *s = lines[i];
		size_t len = strlen(s);
		struct proto_msg m;
		int rc;

		/* a: each whole line; a PEM message's lines one input each */
		for (j = 0; j < len;) {
			const char *nl = memchr(s + j, '\n', len - j);
			size_t k = nl != NULL ? (size_t)(nl - (s + j)) + 1 : len - j;

			rc = proto_link_input(&a.l, (const uint8_t *)s + j, k, 0);
			if (rc != 0 && na < 32)
				errs_a[na++] = rc;
			while (proto_link_recv(&a.l, &m) == 1)
				ga = ga * 31 + (size_t)m.type;
			j += k;
		}
		for (j = 0; j < len; j++) {
			rc = proto_link_input(&b.l, (const uint8_t *)s + j, 1, 0);
			if (rc != 0 && nb < 32)
				errs_b[nb++] = rc;
			while (proto_link_recv(&b.l, &m) == 1)
				gb = gb * 31 + (size_t)m.type;
		}
	}
	CHECK_INT_EQ(na, nb);
	CHECK_INT_EQ(na, 2);
	for (i = 0; i < na && i < nb; i++)
		CHECK_INT_EQ(errs_a[i], errs_b[i]);
	CHECK_INT_EQ(ga, gb);
	CHECK(ga != 0);
	CHECK_INT_EQ(a.l.stats.bad_lines, b.l.stats.bad_lines);
	CHECK_INT_EQ(a.l.stats.lines_in, b.l.stats.lines_in);
}

static void
test_reset(void)
{
	static char out[8192];
	struct tp_pair *p = tp_pair_new(PROTO_DIALECT_TEXT, 0, 0);
	struct proto_msg m;
	size_t n;

	CHECK(p != NULL);
	if (p == NULL)
		return;
	/* cut in the middle of a line: the peer sees a broken line end, then a whole message */
	tp_sample(&m, PROTO_CHAIN, &store_b, 300, 2);
	CHECK_INT_EQ(proto_link_send(&p->st.l, &m, 0), 0);
	n = proto_link_output(&p->st.l, (uint8_t *)out, 30, 0);
	tp_feed(p, &p->dev, (const uint8_t *)out, n);
	proto_link_reset(&p->st.l);
	CHECK_INT_EQ(proto_link_send_done(&p->st.l), 1);
	tp_sample(&m, PROTO_RESULT, &store_a, 0, 0);
	CHECK_INT_EQ(proto_link_send(&p->st.l, &m, 0), 0);
	tp_run(p, 1000);
	CHECK_INT_EQ(p->dev.ngot, 1);
	CHECK(p->dev.ngot == 1 && tp_msg_eq(&p->dev.got[0].m, &m));
	CHECK_INT_EQ(p->dev.nerr, 1); /* the cut chain */
	free(p);
}

int
main(void)
{
	test_exchange();
	test_exact_lines();
	test_pem_against_openssl();
	test_bad_input();
	test_line_limit();
	test_buffers();
	test_split_equivalence();
	test_reset();
	return check_finish("test_proto_text");
}
