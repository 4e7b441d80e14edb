/*
 * test_sim_exchange.c: the simulator (sim/) against a small station
 * written here: real ptys, real proto_link (role STATION), a throwaway
 * OpenSSL CA that checks each CSR (signature, challengePassword = hex
 * nonce, CN = device ID), issues, sends the chain and checks the read-back
 * hash. Covers both dialects, baud pacing (no device faster than its bytes
 * on the wire), every fault with the verdicts on both sides, the hot-plug
 * of a dropped port; a device's own checks (its CSR, the chain it refuses,
 * storage and read-back); and the pure parts: wire arithmetic and --fault
 * specs.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim_int.h"
#include "tests/support/check.h"

#define ST_IDLE_MS 1000 /* the test station gives up on a silent device after this */
#define ST_MAX_VERDICTS 16

static char workdir[256];

/* ---- pure parts ---- */

static void
test_wire(void)
{
	struct sim_wire w;
	struct sim_rxq *q = calloc(1, sizeof(*q));
	const uint8_t *p;
	uint64_t t = 1000000000ull, sent = 0;
	uint8_t bytes[300];

	/* 115200 baud: 86806 ns per byte; a burst is ~1 ms = 11 bytes */
	sim_wire_init(&w, 115200);
	CHECK_INT_EQ(w.byte_ns, 86806);
	CHECK_INT_EQ(sim_wire_room(&w, t, 1000), 11);
	sim_wire_commit(&w, t, 11);
	CHECK_INT_EQ(sim_wire_room(&w, t, 1000), 0);
	CHECK(sim_wire_next(&w, t) > t);
	/* over one simulated second the average is exact: 11520 bytes */
	for (uint64_t now = t; now < t + 1000000000ull; now = sim_wire_next(&w, now)) {
		size_t k = sim_wire_room(&w, now, 1000);

		sim_wire_commit(&w, now, k);
		sent += k;
	}
	CHECK(sent >= 11520 && sent <= 11520 + 12);
	/* an idle line does not bank time */
	t += 10000000000ull;
	CHECK_INT_EQ(sim_wire_room(&w, t, 1000), 11);
	/* 9600 baud: a byte is longer than the burst; one byte at a time */
	sim_wire_init(&w, 9600);
	CHECK_INT_EQ(sim_wire_room(&w, t, 100), 1);
	sim_wire_commit(&w, t, 1);
	CHECK_INT_EQ(sim_wire_room(&w, t, 100), 0);
	CHECK_INT_EQ(sim_wire_room(&w, t + 1041667, 100), 1);
	/* unpaced */
	sim_wire_init(&w, 0);
	CHECK_INT_EQ(sim_wire_room(&w, t, 5000), 5000);

	/* receive: bytes come out no faster than the line delivers them */
	memset(bytes, 'x', sizeof(bytes));
	sim_rxq_init(q, 115200);
	sim_rxq_push(q, bytes, sizeof(bytes), t);
	CHECK_INT_EQ(sim_rxq_ready(q, t, &p), 0);
	/* the next wake-up: a millisecond's worth (11 bytes at 115200), not each byte */
	CHECK_INT_EQ(sim_rxq_next(q), t + 11 * 86806);
	CHECK_INT_EQ(sim_rxq_ready(q, t + 86806, &p), 1);
	CHECK_INT_EQ(sim_rxq_ready(q, t + 10 * 86806, &p), 10);
	sim_rxq_pop(q, 10);
	CHECK_INT_EQ(sim_rxq_ready(q, t + 10 * 86806, &p), 0);
	CHECK_INT_EQ(sim_rxq_ready(q, t + 1000000000ull, &p), 290);
	sim_rxq_pop(q, 290);
	CHECK(sim_rxq_next(q) == UINT64_MAX);
	/* a burst read later starts when it was read, not back in the past */
	sim_rxq_push(q, bytes, 5, t + 2000000000ull);
	CHECK_INT_EQ(sim_rxq_ready(q, t + 2000000000ull + 86806, &p), 1);
	/* fewer bytes than a millisecond's worth: wake when the last one is in */
	CHECK_INT_EQ(sim_rxq_next(q), t + 2000000000ull + 5 * 86806);
	sim_rxq_init(q, 0);
	sim_rxq_push(q, bytes, 7, t);
	CHECK_INT_EQ(sim_rxq_ready(q, t, &p), 7);
	free(q);
}

static void
test_fault_parse(void)
{
	struct sim_fault f[4];
	struct cs_err err;

	CHECK_INT_EQ(sim_fault_parse("garbage", &f[0], &err), CS_OK);
	CHECK_INT_EQ(f[0].kind, SIM_FAULT_GARBAGE);
	CHECK_INT_EQ(f[0].which, SIM_WHICH_ALL);
	CHECK_INT_EQ(sim_fault_parse("wrong-readback:3", &f[1], &err), CS_OK);
	CHECK_INT_EQ(f[1].which, SIM_WHICH_DEVICE);
	CHECK_INT_EQ(f[1].n, 3);
	CHECK_INT_EQ(sim_fault_parse("noise:every=4", &f[2], &err), CS_OK);
	CHECK_INT_EQ(f[2].which, SIM_WHICH_EVERY);
	CHECK_INT_EQ(sim_fault_parse("drop:port=2", &f[3], &err), CS_OK);
	CHECK_INT_EQ(f[3].which, SIM_WHICH_PORT);
	CHECK_INT_EQ(f[3].n, 2);

	CHECK_INT_EQ(sim_fault_parse("nosuch", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "unknown kind");
	CHECK_INT_EQ(sim_fault_parse("garbage:0", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(sim_fault_parse("garbage:every=0", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "every=K");
	CHECK_INT_EQ(sim_fault_parse("garbage:port=64", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(sim_fault_parse("garbage:3x", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(sim_fault_parse("garbage:", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(sim_fault_parse("garbagex", &f[0], &err), CS_ERR_INVALID_ARG);

	/* first match wins; order as given */
	CHECK_INT_EQ(sim_fault_pick(&f[1], 3, 3, 0, 1), SIM_FAULT_WRONG_READBACK);
	CHECK_INT_EQ(sim_fault_pick(&f[1], 3, 4, 0, 1), SIM_FAULT_NOISE);
	CHECK_INT_EQ(sim_fault_pick(&f[1], 3, 5, 2, 7), SIM_FAULT_DROP);
	CHECK_INT_EQ(sim_fault_pick(&f[1], 3, 5, 1, 1), SIM_FAULT_NONE);
	CHECK_INT_EQ(sim_fault_pick(f, 0, 1, 0, 1), SIM_FAULT_NONE);

	/* port=P.N: only the N-th device on port P */
	CHECK_INT_EQ(sim_fault_parse("stall:port=3.2", &f[0], &err), CS_OK);
	CHECK_INT_EQ(f[0].which, SIM_WHICH_PORT);
	CHECK_INT_EQ(f[0].n, 3);
	CHECK_INT_EQ(f[0].nth, 2);
	CHECK_INT_EQ(sim_fault_pick(f, 1, 9, 3, 2), SIM_FAULT_STALL);
	CHECK_INT_EQ(sim_fault_pick(f, 1, 9, 3, 1), SIM_FAULT_NONE);
	CHECK_INT_EQ(sim_fault_pick(f, 1, 9, 3, 3), SIM_FAULT_NONE);
	CHECK_INT_EQ(sim_fault_pick(f, 1, 9, 2, 2), SIM_FAULT_NONE);
	CHECK_INT_EQ(sim_fault_parse("stall:port=3.0", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "port=P.N");
	CHECK_INT_EQ(sim_fault_parse("stall:port=3.", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(sim_fault_parse("stall:port=.2", &f[0], &err), CS_ERR_INVALID_ARG);
	CHECK(strcmp(sim_fault_name(SIM_FAULT_BAD_VERSION), "bad-version") == 0);
	CHECK_INT_EQ(sim_fault_expect_fail(SIM_FAULT_NOISE), 0);
	CHECK_INT_EQ(sim_fault_expect_fail(SIM_FAULT_GARBAGE), 1);
	CHECK_INT_EQ(sim_fault_expect_fail(SIM_FAULT_DUP_ID), -1);
}

/* ---- a station, just enough to provision real devices ---- */

struct st_ca {
	EVP_PKEY *key;
	X509 *cert;
	pthread_mutex_t lock;
	long serial;
};

struct st_verdict {
	char id[SIM_ID_MAX];
	int reason; /* PROTO_R_*, or -1: the port vanished mid-exchange */
};

struct st_port {
	char path[PATH_MAX];
	enum proto_dialect dialect;
	int want;
	struct st_ca *ca;
	struct st_verdict verdicts[ST_MAX_VERDICTS];
	int n;
	int reopened;

	int fd;
	struct proto_link link;
	uint8_t rx[PROTO_MSG_MAX], tx[PROTO_MSG_MAX], frame[PROTO_FRAME_MAX];
	int in_ex;
	int error_once; /* an ERROR is written once, never retransmitted */
	char id[SIM_ID_MAX];
	uint8_t nonce[PROTO_NONCE_LEN];
	uint8_t chain[2 * PROTO_CERT_MAX];
	size_t leaf_len, chain_len;
	uint64_t last_ms;
};

static uint64_t
ms_now(void)
{
	return sim_now_ns() / 1000000ull;
}

static void
st_ca_init(struct st_ca *ca)
{
	X509_NAME *name;

	memset(ca, 0, sizeof(*ca));
	pthread_mutex_init(&ca->lock, NULL);
	ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ca->cert = X509_new();
	if (ca->key == NULL || ca->cert == NULL)
		abort();
	X509_set_version(ca->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(ca->cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(ca->cert), 3600);
	name = X509_get_subject_name(ca->cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"Test Line CA",
	                           -1, -1, 0);
	X509_set_issuer_name(ca->cert, name);
	X509_set_pubkey(ca->cert, ca->key);
	if (X509_sign(ca->cert, ca->key, EVP_sha256()) <= 0)
		abort();
	ca->serial = 100;
}

static void
st_ca_free(struct st_ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	pthread_mutex_destroy(&ca->lock);
}

static void
st_send(struct st_port *s, const struct proto_msg *m)
{
	if (!proto_link_send_done(&s->link))
		proto_link_reset(&s->link);
	if (proto_link_send(&s->link, m, ms_now()) != PROTO_OK)
		fprintf(stderr, "test station: cannot send %s\n", proto_type_name(m->type));
}

static void
st_verdict(struct st_port *s, int reason)
{
	if (s->n < ST_MAX_VERDICTS) {
		snprintf(s->verdicts[s->n].id, sizeof(s->verdicts[s->n].id), "%s", s->id);
		s->verdicts[s->n].reason = reason;
		s->n++;
	}
	s->in_ex = 0;
}

/* End the exchange with ERROR (what the station does on a refusal). */
static void
st_refuse(struct st_port *s, int reason, const char *text)
{
	struct proto_msg m;

	/* whatever the device half-sent is junk now: start the next exchange
	 * on a clean line */
	proto_link_reset(&s->link);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_ERROR;
	m.reason = (uint16_t)reason;
	m.text.p = (const uint8_t *)text;
	m.text.len = strlen(text);
	st_send(s, &m);
	s->error_once = 1;
	st_verdict(s, reason);
}

/* Check the CSR as the real station must, then issue. 0 or a PROTO_R_*. */
static int
st_issue(struct st_port *s, const struct proto_msg *csr_msg, const char **why)
{
	const unsigned char *p = csr_msg->csr.p;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)csr_msg->csr.len);
	X509 *leaf = NULL;
	EVP_PKEY *pub;
	char cn[SIM_ID_MAX], hex[PROTO_DEVICE_NONCE_HEX_LEN + 1];
	int idx, rc = PROTO_R_CSR_REFUSED;
	unsigned char *out;

	*why = "CSR does not parse";
	if (req == NULL)
		goto out;
	pub = X509_REQ_get0_pubkey(req);
	*why = "CSR signature does not verify";
	if (pub == NULL || X509_REQ_verify(req, pub) != 1)
		goto out;
	/* challengePassword: 32 lower-case hex digits of the nonce */
	rc = PROTO_R_NONCE;
	*why = "CSR challengePassword is not this exchange's nonce";
	idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
	if (idx < 0)
		goto out;
	{
		ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(req, idx), 0);

		proto_device_nonce_hex(s->nonce, hex);
		if (t == NULL || t->type != V_ASN1_PRINTABLESTRING ||
		    ASN1_STRING_length(t->value.asn1_string) != PROTO_DEVICE_NONCE_HEX_LEN ||
		    memcmp(ASN1_STRING_get0_data(t->value.asn1_string), hex,
		           PROTO_DEVICE_NONCE_HEX_LEN) != 0)
			goto out;
	}
	rc = PROTO_R_POLICY;
	*why = "CSR CN is not the device ID";
	if (X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn,
	                              sizeof(cn)) <= 0 ||
	    strcmp(cn, s->id) != 0)
		goto out;
	rc = PROTO_R_STATION;
	*why = "issuing failed";
	leaf = X509_new();
	pthread_mutex_lock(&s->ca->lock);
	ASN1_INTEGER_set(X509_get_serialNumber(leaf), ++s->ca->serial);
	X509_set_version(leaf, 2);
	X509_gmtime_adj(X509_getm_notBefore(leaf), -60);
	X509_gmtime_adj(X509_getm_notAfter(leaf), 3600);
	X509_set_subject_name(leaf, X509_REQ_get_subject_name(req));
	X509_set_issuer_name(leaf, X509_get_subject_name(s->ca->cert));
	X509_set_pubkey(leaf, pub);
	idx = X509_sign(leaf, s->ca->key, EVP_sha256());
	pthread_mutex_unlock(&s->ca->lock);
	if (idx <= 0)
		goto out;
	out = s->chain;
	s->leaf_len = (size_t)i2d_X509(leaf, &out);
	s->chain_len = s->leaf_len + (size_t)i2d_X509(s->ca->cert, &out);
	rc = PROTO_R_OK;
out:
	X509_free(leaf);
	X509_REQ_free(req);
	ERR_clear_error();
	return rc;
}

static void
st_on_msg(struct st_port *s, const struct proto_msg *m)
{
	struct proto_msg r;
	uint8_t sum[32];
	unsigned int n = 0;
	const char *why;
	int rc;

	memset(&r, 0, sizeof(r));
	s->last_ms = ms_now();
	switch (m->type) {
	case PROTO_HELLO:
		if (s->in_ex && m->device_id.len == strlen(s->id) &&
		    memcmp(m->device_id.p, s->id, m->device_id.len) == 0)
			return; /* a resend while our CSR_REQUEST is on its way */
		snprintf(s->id, sizeof(s->id), "%.*s", (int)m->device_id.len,
		         (const char *)m->device_id.p);
		s->in_ex = 1;
		if (m->version != PROTO_VERSION) {
			st_refuse(s, PROTO_R_VERSION, "protocol version not supported");
			return;
		}
		RAND_bytes(s->nonce, sizeof(s->nonce));
		r.type = PROTO_CSR_REQUEST;
		memcpy(r.nonce, s->nonce, sizeof(r.nonce));
		st_send(s, &r);
		return;
	case PROTO_CSR:
		if (!s->in_ex)
			return;
		rc = st_issue(s, m, &why);
		if (rc != PROTO_R_OK) {
			st_refuse(s, rc, why);
			return;
		}
		r.type = PROTO_CHAIN;
		r.certs[0].p = s->chain;
		r.certs[0].len = s->leaf_len;
		r.certs[1].p = s->chain + s->leaf_len;
		r.certs[1].len = s->chain_len - s->leaf_len;
		r.cert_count = 2;
		st_send(s, &r);
		return;
	case PROTO_READBACK:
		if (!s->in_ex)
			return;
		EVP_Digest(s->chain, s->chain_len, sum, &n, EVP_sha256(), NULL);
		r.type = PROTO_RESULT;
		r.reason = memcmp(sum, m->sha256, 32) == 0 ? PROTO_R_OK : PROTO_R_READBACK;
		r.text.p = (const uint8_t *)(r.reason == PROTO_R_OK ? "provisioned"
		                                                    : "read-back hash differs");
		r.text.len = strlen((const char *)r.text.p);
		st_send(s, &r);
		st_verdict(s, r.reason);
		return;
	case PROTO_ERROR:
		if (s->in_ex)
			st_verdict(s, m->reason);
		return;
	default:
		return;
	}
}

static int
st_open(struct st_port *s, uint64_t deadline)
{
	struct termios t;
	struct proto_link_config c;

	while ((s->fd = open(s->path, O_RDWR | O_NOCTTY | O_NONBLOCK)) < 0) {
		struct timespec ts = {0, 10000000L};

		if (ms_now() > deadline)
			return -1;
		nanosleep(&ts, NULL);
	}
	if (tcgetattr(s->fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(s->fd, TCSANOW, &t);
	}
	memset(&c, 0, sizeof(c));
	c.dialect = s->dialect;
	c.role = PROTO_ROLE_STATION;
	c.max_frame = 512;
	c.ack_timeout_ms = 300;
	c.max_retries = 4;
	c.rx_buf = s->rx;
	c.rx_cap = sizeof(s->rx);
	c.tx_buf = s->tx;
	c.tx_cap = sizeof(s->tx);
	c.frame_buf = s->frame;
	c.frame_cap = sizeof(s->frame);
	if (proto_link_init(&s->link, &c) != PROTO_OK)
		abort();
	s->in_ex = 0;
	return 0;
}

static void *
st_main(void *arg)
{
	struct st_port *s = arg;
	uint64_t deadline = ms_now() + 20000, linger = 0;

	if (st_open(s, deadline) != 0)
		return NULL;
	while (ms_now() < deadline) {
		struct pollfd pfd = {s->fd, POLLIN, 0};
		uint8_t buf[4096];
		struct proto_msg m;
		ssize_t n;
		uint64_t next;
		int rc;

		poll(&pfd, 1, 5);
		n = read(s->fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			/* the fixture's port went away: hot-plug, open it again */
			if (s->in_ex)
				st_verdict(s, -1);
			close(s->fd);
			s->fd = -1;
			s->reopened++;
			if (s->n >= s->want || st_open(s, deadline) != 0)
				break;
			continue;
		}
		if (n > 0) {
			rc = proto_link_input(&s->link, buf, (size_t)n, ms_now());
			if (rc < 0 && s->in_ex)
				st_refuse(s,
				          rc == PROTO_E_TOO_LARGE ? PROTO_R_TOO_LARGE
				                                  : PROTO_R_PROTOCOL,
				          "the device broke the protocol");
		}
		while (proto_link_recv(&s->link, &m) == 1)
			st_on_msg(s, &m);
		if (proto_link_tick(&s->link, ms_now(), &next) == PROTO_E_TIMEOUT && s->in_ex)
			st_refuse(s, PROTO_R_TIMEOUT, "the device stopped acknowledging");
		if (s->in_ex && ms_now() - s->last_ms > ST_IDLE_MS)
			st_refuse(s, PROTO_R_TIMEOUT, "the device stopped answering");
		for (;;) {
			size_t k = proto_link_output(&s->link, buf, sizeof(buf), ms_now()), off = 0;

			if (k == 0) {
				/* A device that ends with our ERROR may never ACK it;
				 * resent later, it would hit the next device's HELLO. */
				if (s->error_once && s->dialect == PROTO_DIALECT_FRAME)
					proto_link_reset(&s->link);
				s->error_once = 0;
				break;
			}
			while (off < k) {
				ssize_t w = write(s->fd, buf + off, k - off);

				if (w > 0)
					off += (size_t)w;
				else if (w < 0 && errno != EAGAIN && errno != EINTR)
					break;
				else
					poll(&pfd, 0, 1);
			}
		}
		if (s->n >= s->want) {
			/* let the last RESULT/ERROR and its ACK cross */
			if (linger == 0)
				linger = ms_now() + 300;
			if (ms_now() > linger)
				break;
		}
	}
	if (s->fd >= 0)
		close(s->fd);
	return NULL;
}

/* ---- one simulated device's own checks, without a line ---- */

static X509 *
make_cert(const char *cn, EVP_PKEY *pub, const struct st_ca *ca, EVP_PKEY *signer)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca->cert));
	X509_set_pubkey(x, pub);
	if (X509_sign(x, signer, EVP_sha256()) <= 0)
		abort();
	return x;
}

/* chain = DER of a and b into buf, as CHAIN delivers it */
static void
chain_of(struct proto_msg *m, uint8_t *buf, X509 *a, X509 *b)
{
	unsigned char *p = buf;
	int la = i2d_X509(a, &p), lb = i2d_X509(b, &p);

	memset(m, 0, sizeof(*m));
	m->type = PROTO_CHAIN;
	m->certs[0].p = buf;
	m->certs[0].len = (size_t)la;
	m->certs[1].p = buf + la;
	m->certs[1].len = (size_t)lb;
	m->cert_count = 2;
}

static void
test_dev_chain_check(struct st_ca *ca)
{
	struct sim_dev *d = calloc(1, sizeof(*d));
	struct proto_msg m;
	uint8_t csr[PROTO_CSR_MAX], nonce[PROTO_NONCE_LEN] = {1, 2, 3}, buf[8192], got[32],
	                            want[32];
	size_t len = 0;
	unsigned int n = 0;
	char store[300];
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *leaf, *bad_leaf, *ca_other;

	/* the CSR: CN = ID, challengePassword = hex nonce, a valid signature */
	sim_dev_init(d, "SN-000042", 42, PROTO_KEY_P256, SIM_FAULT_NONE, NULL);
	CHECK_INT_EQ(sim_dev_make_csr(d, nonce, csr, sizeof(csr), &len), 0);
	CHECK(d->key != NULL && len > 100);
	{
		const unsigned char *p = csr;
		X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
		char cn[64];
		int idx;

		CHECK(req != NULL && X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1);
		CHECK(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn,
		                                sizeof(cn)) > 0 &&
		      strcmp(cn, "SN-000042") == 0);
		idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
		CHECK(idx >= 0);
		if (idx >= 0) {
			ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(req, idx), 0);

			CHECK(t != NULL && t->type == V_ASN1_PRINTABLESTRING &&
			      ASN1_STRING_length(t->value.asn1_string) == 32 &&
			      memcmp(ASN1_STRING_get0_data(t->value.asn1_string),
			             "01020300000000000000000000000000", 32) == 0);
		}
		X509_REQ_free(req);
	}

	/* a good chain is stored and read back: SHA-256 of the DER, in order */
	leaf = make_cert("SN-000042", d->key, ca, ca->key);
	chain_of(&m, buf, leaf, ca->cert);
	CHECK_INT_EQ(sim_dev_ops.store_chain(d, &m), 0);
	CHECK_INT_EQ(sim_dev_ops.readback(d, got), 0);
	EVP_Digest(buf, m.certs[0].len + m.certs[1].len, want, &n, EVP_sha256(), NULL);
	CHECK(memcmp(got, want, 32) == 0);

	/* someone else's certificate */
	bad_leaf = make_cert("SN-000042", other, ca, ca->key);
	chain_of(&m, buf, bad_leaf, ca->cert);
	CHECK_INT_EQ(sim_dev_ops.store_chain(d, &m), -1);
	CHECK(strstr(d->detail, "not the device's key") != NULL);

	/* the next certificate did not sign it */
	ca_other = make_cert("Test Line CA", other, ca, other);
	chain_of(&m, buf, leaf, ca_other);
	CHECK_INT_EQ(sim_dev_ops.store_chain(d, &m), -1);
	CHECK(strstr(d->detail, "not signed by certificate 1") != NULL);

	/* --store: the PEM file, read back from the file; wrong-readback lies */
	snprintf(store, sizeof(store), "%s", workdir);
	d->store_dir = store;
	d->fault = SIM_FAULT_WRONG_READBACK;
	chain_of(&m, buf, leaf, ca->cert);
	CHECK_INT_EQ(sim_dev_ops.store_chain(d, &m), 0);
	CHECK_INT_EQ(sim_dev_ops.readback(d, got), 0);
	CHECK(memcmp(got + 1, want + 1, 31) == 0 && (got[0] ^ want[0]) == 0xff);
	snprintf(store, sizeof(store), "%s/SN-000042.pem", workdir);
	{
		FILE *f = fopen(store, "r");
		char line[128];
		int begins = 0;

		while (f != NULL && fgets(line, sizeof(line), f) != NULL)
			begins += strncmp(line, "-----BEGIN CERTIFICATE-----", 27) == 0;
		if (f != NULL)
			fclose(f);
		CHECK_INT_EQ(begins, 2);
	}
	X509_free(leaf);
	X509_free(bad_leaf);
	X509_free(ca_other);
	EVP_PKEY_free(other);
	sim_dev_clear(d);
	free(d);
}

/* ---- running the simulator against it ---- */

struct sim_thread {
	struct sim_options o;
	struct cs_err err;
	int rc;
};

static void *
sim_thread_main(void *arg)
{
	struct sim_thread *t = arg;

	t->rc = sim_run(&t->o, &t->err);
	return NULL;
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Find the result line of a device: "sim-P ID PASS|FAIL ..." */
static const char *
find_line(const char *out, const char *id, char *line, size_t cap)
{
	const char *start = out;

	while (*start != '\0') {
		const char *end = strchr(start, '\n');
		size_t len = end != NULL ? (size_t)(end - start) : strlen(start);

		snprintf(line, cap, "%.*s", (int)len, start);
		if (strncmp(line, "sim-", 4) == 0 && strstr(line, id) != NULL &&
		    (strstr(line, " PASS ") != NULL || strstr(line, " FAIL ") != NULL))
			return line;
		start += len;
		if (*start == '\n')
			start++;
	}
	line[0] = '\0';
	return NULL;
}

/*
 * Run the simulator with `ports` ports against the test station; returns
 * the simulator's output (malloc'ed) and fills the stations' verdicts.
 */
static char *
run(struct sim_options *o, struct st_port *st, unsigned ports, int want_per_port, struct st_ca *ca,
    int *sim_rc)
{
	struct sim_thread *t = calloc(1, sizeof(*t));
	pthread_t sim_tid, st_tid[4];
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	char links[300];

	snprintf(links, sizeof(links), "%s/links", workdir);
	o->count = ports;
	o->links_dir = links;
	o->out = out;
	o->devices_per_port = (uint64_t)want_per_port;
	t->o = *o;
	pthread_create(&sim_tid, NULL, sim_thread_main, t);
	for (unsigned i = 0; i < ports; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		snprintf(st[i].path, sizeof(st[i].path), "%s/sim-%u", links, i);
		st[i].dialect = o->dialect;
		st[i].want = want_per_port;
		st[i].ca = ca;
		st[i].fd = -1;
		pthread_create(&st_tid[i], NULL, st_main, &st[i]);
	}
	pthread_join(sim_tid, NULL);
	for (unsigned i = 0; i < ports; i++)
		pthread_join(st_tid[i], NULL);
	fclose(out);
	*sim_rc = t->rc;
	if (t->rc != CS_OK)
		fprintf(stderr, "sim_run: %d %s\n", t->rc, t->err.msg);
	free(t);
	fputs(buf, stderr); /* the simulator's lines, for a failing run's log */
	return buf;
}

/* wall time close to the wire time of the device's bytes at baud, never under */
static void
check_paced(const char *line, uint32_t baud)
{
	const char *p = strstr(line, " ms keygen ");
	const char *b = strstr(line, " bytes ");
	double wall, floor_ms;
	unsigned long out = 0, in = 0;

	CHECK(p != NULL && b != NULL);
	if (p == NULL || b == NULL)
		return;
	while (p > line && p[-1] != ' ')
		p--;
	wall = strtod(p, NULL);
	{
		char *slash;

		out = strtoul(b + 7, &slash, 10);
		in = strtoul(slash + 1, NULL, 10);
	}
	floor_ms = (double)(out + in) * 10.0 * 1000.0 / baud;
	CHECK(out > 100 && in > 500);
	/* A write may run up to ~1 ms ahead of the line (the burst), once per
	 * device write after a pause: HELLO, CSR, ACKs, READBACK. */
	if (wall + 6.0 < floor_ms || wall > 1.5 * floor_ms + 100.0) {
		fprintf(stderr, "not paced at the baud rate: %s (floor %.1f ms)\n", line, floor_ms);
		check_failures++;
	}
}

static void
test_pass(enum proto_dialect dialect, unsigned ports, int per_port, uint32_t baud, struct st_ca *ca)
{
	struct sim_options o;
	struct st_port *st = calloc(4, sizeof(*st));
	char line[1024], id[SIM_ID_MAX], store[300], path[400];
	char *out;
	int rc, total = ports * per_port;
	struct stat sb;

	snprintf(store, sizeof(store), "%s/store", workdir);
	sim_options_default(&o);
	o.dialect = dialect;
	o.baud = baud;
	o.gap_ms = 20;
	o.seed = 42;
	o.store_dir = store;
	o.json = 1;
	o.id_start = dialect == PROTO_DIALECT_TEXT ? 500 : 100;
	out = run(&o, st, ports, per_port, ca, &rc);
	CHECK_INT_EQ(rc, CS_OK);
	for (int i = 0; i < total; i++) {
		snprintf(id, sizeof(id), " SN-%06d ", (int)o.id_start + i);
		CHECK(find_line(out, id, line, sizeof(line)) != NULL);
		CHECK(strstr(line, " PASS ") != NULL);
		if (baud > 0)
			check_paced(line, baud);
		/* the chain as the device stored it */
		snprintf(path, sizeof(path), "%s/SN-%06d.pem", store, (int)o.id_start + i);
		CHECK(stat(path, &sb) == 0 && sb.st_size > 500);
	}
	for (unsigned i = 0; i < ports; i++) {
		CHECK_INT_EQ(st[i].n, per_port);
		for (int k = 0; k < st[i].n; k++)
			CHECK_INT_EQ(st[i].verdicts[k].reason, PROTO_R_OK);
	}
	snprintf(line, sizeof(line), "summary: devices %d passed %d failed 0", total, total);
	CHECK(strstr(out, line) != NULL);
	CHECK(strstr(out, "\"passed\":") != NULL); /* --json */
	free(out);
	free(st);
}

struct fault_case {
	enum sim_fault_kind kind;
	const char *sim_result; /* "PASS" or "FAIL <reason>" prefix; NULL: any FAIL */
	int station_reason;     /* -2: not checked */
};

static void
test_faults(enum proto_dialect dialect, const struct fault_case *cases, size_t ncases,
            struct st_ca *ca)
{
	struct sim_options o;
	struct st_port *st = calloc(1, sizeof(*st));
	char line[1024], id[SIM_ID_MAX];
	char *out;
	int rc;

	sim_options_default(&o);
	o.dialect = dialect;
	o.baud = 0;
	o.gap_ms = 20;
	o.seed = 7;
	o.timeout_ms = 5000;
	o.id_start = dialect == PROTO_DIALECT_TEXT ? 300 : 200;
	for (size_t i = 0; i < ncases; i++) {
		o.faults[o.fault_count].kind = cases[i].kind;
		o.faults[o.fault_count].which = SIM_WHICH_DEVICE;
		o.faults[o.fault_count].n = i + 1;
		o.fault_count++;
	}
	out = run(&o, st, 1, (int)ncases, ca, &rc);
	CHECK_INT_EQ(rc, CS_OK); /* every device ended as its fault predicts */
	for (size_t i = 0; i < ncases; i++) {
		const struct fault_case *c = &cases[i];
		char want[64];

		snprintf(id, sizeof(id), " %s%06d ", c->kind == SIM_FAULT_OFF_LIST ? "X-" : "SN-",
		         (int)(o.id_start + i));
		if (i > 0 && cases[i - 1].kind == SIM_FAULT_DROP) /* the same board re-seated */
			snprintf(id, sizeof(id), " SN-%06d ", (int)(o.id_start + i - 1));
		if (c->kind == SIM_FAULT_DUP_ID) /* the previous device's ID */
			snprintf(id, sizeof(id), " SN-%06d ",
			         (int)(o.id_start + i - (i > 1 && cases[i - 2].kind == SIM_FAULT_DROP
			                                     ? 2 : 1)));
		if (i > 0 && cases[i - 1].kind == SIM_FAULT_DROP) /* its second line */
			snprintf(want, sizeof(want), "%sPASS ", id);
		else
			snprintf(want, sizeof(want), "%s", c->kind == SIM_FAULT_DUP_ID ? "fault=dup-id" : id);
		if (find_line(out, want, line, sizeof(line)) == NULL ||
		    strstr(line, id) == NULL) {
			fprintf(stderr, "no result line for%s(%s)\n", id, sim_fault_name(c->kind));
			check_failures++;
			continue;
		}
		snprintf(want, sizeof(want), "fault=%s", sim_fault_name(c->kind));
		if (c->kind != SIM_FAULT_NONE)
			CHECK(strstr(line, want) != NULL);
		if (c->sim_result != NULL && strstr(line, c->sim_result) == NULL) {
			fprintf(stderr, "%s: expected '%s' in: %s\n", sim_fault_name(c->kind),
			        c->sim_result, line);
			check_failures++;
		}
		if (c->sim_result == NULL)
			CHECK(strstr(line, " FAIL ") != NULL);
	}
	/* the station's own view, in order */
	for (size_t i = 0, k = 0; i < ncases && k < (size_t)st->n; i++) {
		if (cases[i].station_reason == -2) {
			k++;
			continue;
		}
		if (st->verdicts[k].reason != cases[i].station_reason) {
			fprintf(stderr, "station verdict %zu (%s, %s): %d, expected %d\n", k,
			        st->verdicts[k].id, sim_fault_name(cases[i].kind),
			        st->verdicts[k].reason, cases[i].station_reason);
			check_failures++;
		}
		k++;
	}
	free(out);
	free(st);
}

static const struct fault_case frame_cases[] = {
    {SIM_FAULT_NONE, " PASS ", PROTO_R_OK},
    {SIM_FAULT_WRONG_READBACK, " FAIL readback ", PROTO_R_READBACK},
    {SIM_FAULT_BAD_SIG, " FAIL csr-refused ", PROTO_R_CSR_REFUSED},
    {SIM_FAULT_REPLAY, " FAIL nonce ", PROTO_R_NONCE},
    {SIM_FAULT_NOISE, " PASS ", PROTO_R_OK},
    {SIM_FAULT_BAD_VERSION, " FAIL version ", PROTO_R_VERSION},
    {SIM_FAULT_GARBAGE, NULL, PROTO_R_TIMEOUT},
    {SIM_FAULT_OVERSIZE, NULL, -2},
    {SIM_FAULT_STALL, " FAIL timeout ", -2},
    {SIM_FAULT_DROP, " FAIL unplugged ", -1},
    {SIM_FAULT_NONE, " PASS ", PROTO_R_OK},     /* the pulled board re-seated, same key */
    {SIM_FAULT_DUP_ID, " PASS ", PROTO_R_OK},   /* this station re-issues */
    {SIM_FAULT_OFF_LIST, " PASS ", PROTO_R_OK}, /* this station has no allowlist */
};

static const struct fault_case text_cases[] = {
    {SIM_FAULT_NOISE, " PASS ", PROTO_R_OK},
    {SIM_FAULT_OVERSIZE, " FAIL too-large ", PROTO_R_TOO_LARGE},
    {SIM_FAULT_GARBAGE, " FAIL timeout ", PROTO_R_TIMEOUT},
    {SIM_FAULT_BAD_SIG, " FAIL csr-refused ", PROTO_R_CSR_REFUSED},
    {SIM_FAULT_NONE, " PASS ", PROTO_R_OK},
};

int
main(void)
{
	struct st_ca ca;
	char *tmpl;

	test_wire();
	test_fault_parse();

	snprintf(workdir, sizeof(workdir), "/tmp/certstation-sim.XXXXXX");
	tmpl = mkdtemp(workdir);
	if (tmpl == NULL) {
		perror("mkdtemp");
		return 1;
	}
	st_ca_init(&ca);
	test_dev_chain_check(&ca);
	test_pass(PROTO_DIALECT_FRAME, 2, 2, 115200, &ca);
	test_pass(PROTO_DIALECT_TEXT, 1, 2, 230400, &ca);
	test_faults(PROTO_DIALECT_FRAME, frame_cases, sizeof(frame_cases) / sizeof(frame_cases[0]),
	            &ca);
	test_faults(PROTO_DIALECT_TEXT, text_cases, sizeof(text_cases) / sizeof(text_cases[0]),
	            &ca);
	st_ca_free(&ca);
	nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_finish("test_sim_exchange");
}
