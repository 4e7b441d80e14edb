/*
 * test_csr.c: csr_decode / csr_parse / csr_verify against requests that
 * OpenSSL generates at test time (every supported key and signature type,
 * plus secp256k1 which must be refused), against every truncation and
 * every single-bit flip of real requests, against random bytes, and against
 * the hostile fixture files in tests/data/csr (README there lists each case
 * and the result it must produce).
 */
#include <dirent.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "station/csr.h"
#include "station/der.h"
#include "tests/support/check.h"

#define NO_PSS (-100)

struct req_opts {
	const EVP_MD *md;
	int pss_salt; /* NO_PSS, or an RSA_PSS_SALTLEN_* value */
	const char *cn;
	const char *challenge;
	const char *ext_name; /* e.g. "basicConstraints" */
	const char *ext_value;
};

static uint8_t *
make_csr(EVP_PKEY *key, const struct req_opts *o, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *der = NULL;
	int n;

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)o->cn, -1, -1,
	                           0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Acme Devices",
	                           -1, -1, 0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, key);
	if (o->challenge != NULL)
		X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_ASC,
		                          (const unsigned char *)o->challenge, -1);
	if (o->ext_name != NULL) {
		X509V3_CTX ctx;
		X509_EXTENSION *e;
		STACK_OF(X509_EXTENSION) *sk = sk_X509_EXTENSION_new_null();

		X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
		e = X509V3_EXT_nconf(NULL, &ctx, o->ext_name, o->ext_value);
		sk_X509_EXTENSION_push(sk, e);
		X509_REQ_add_extensions(req, sk);
		sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
	}
	if (EVP_DigestSignInit(mctx, &pctx, o->md, NULL, key) != 1)
		goto out;
	if (o->pss_salt != NO_PSS) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, o->pss_salt);
	}
	if (X509_REQ_sign_ctx(req, mctx) <= 0)
		goto out;
	n = i2d_X509_REQ(req, &der);
	*len = n > 0 ? (size_t)n : 0;
out:
	EVP_MD_CTX_free(mctx);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return der;
}

static int
run_all(const uint8_t *in, size_t len, struct csr *csr, uint8_t *buf, struct cs_err *err)
{
	size_t dlen;
	int rc;

	rc = csr_decode(in, len, buf, CSR_MAX_DER, &dlen, err);
	if (rc == 0)
		rc = csr_parse(buf, dlen, csr, err);
	if (rc == 0)
		rc = csr_verify(csr, err);
	return rc;
}

static int
rc_is_refusal(int rc)
{
	return rc == CS_ERR_CSR_MALFORMED || rc == CS_ERR_CSR_UNSUPPORTED ||
	       rc == CS_ERR_CSR_SIGNATURE || rc == CS_ERR_CSR_TOO_LARGE;
}

struct kind {
	const char *label;
	EVP_PKEY *key;
	struct req_opts opts;
	enum csr_key_type type;
	unsigned bits;
	enum csr_sig_alg sig;
	int expect_verify; /* 0 or CS_ERR_CSR_UNSUPPORTED */
	int mutate;        /* run the every-bit-flip sweep */
};

static void
check_kind(const struct kind *k)
{
	struct csr csr;
	struct cs_err err;
	uint8_t *der, *spki = NULL, *info = NULL, *mut;
	uint8_t buf[CSR_MAX_DER];
	size_t len = 0, dlen;
	X509_REQ *req;
	const uint8_t *p;
	int spki_len, info_len, rc;
	char name[32];
	BIO *bio;
	char *pem;
	long pem_len;

	der = make_csr(k->key, &k->opts, &len);
	CHECK(der != NULL);
	if (der == NULL)
		return;
	fprintf(stderr, "# %s: %zu bytes\n", k->label, len);

	rc = csr_parse(der, len, &csr, &err);
	CHECK_INT_EQ(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "# %s: %s\n", k->label, err.msg);
		OPENSSL_free(der);
		return;
	}
	CHECK_INT_EQ(csr.key_type, k->type);
	CHECK_INT_EQ(csr.key_bits, k->bits);
	CHECK_INT_EQ(csr.sig_alg, k->sig);
	CHECK(strcmp(csr.subject_cn, k->opts.cn) == 0);
	CHECK(csr.der.p == der && csr.der.len == len);
	CHECK(csr.challenge.p == NULL);
	CHECK_INT_EQ(csr.has_ext_request, 0);
	CHECK_INT_EQ(csr.requests_ca, 0);
	CHECK(strcmp(csr_key_type_name(csr.key_type, csr.key_bits, name, sizeof(name)),
	             k->type == CSR_KEY_RSA ? "RSA-2048" : name) == 0);

	/* What OpenSSL reads from the same bytes. */
	p = der;
	req = d2i_X509_REQ(NULL, &p, (long)len);
	CHECK(req != NULL);
	if (req != NULL) {
		spki_len = i2d_PUBKEY(X509_REQ_get0_pubkey(req), &spki);
		CHECK(spki_len > 0 && (size_t)spki_len == csr.spki.len &&
		      memcmp(spki, csr.spki.p, csr.spki.len) == 0);
		info_len = i2d_re_X509_REQ_tbs(req, &info);
		CHECK(info_len > 0 && (size_t)info_len == csr.info.len &&
		      memcmp(info, csr.info.p, csr.info.len) == 0);
		CHECK_INT_EQ(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
		if (k->type != CSR_KEY_RSA && k->type != CSR_KEY_ED25519 &&
		    k->type != CSR_KEY_EC_OTHER)
			CHECK_INT_EQ(EVP_PKEY_get_bits(X509_REQ_get0_pubkey(req)), (int)k->bits);

		/* PEM of the same request decodes to the same DER. */
		bio = BIO_new(BIO_s_mem());
		PEM_write_bio_X509_REQ(bio, req);
		pem_len = BIO_get_mem_data(bio, &pem);
		CHECK_INT_EQ(csr_decode((const uint8_t *)pem, (size_t)pem_len, buf, sizeof(buf),
		                        &dlen, &err),
		             0);
		CHECK(dlen == len && memcmp(buf, der, len) == 0);
		BIO_free(bio);
		OPENSSL_free(spki);
		OPENSSL_free(info);
		X509_REQ_free(req);
	}

	rc = csr_verify(&csr, &err);
	CHECK_INT_EQ(rc, k->expect_verify);
	if (rc != k->expect_verify)
		fprintf(stderr, "# %s: verify: %s\n", k->label, err.msg);
	if (k->expect_verify == CS_ERR_CSR_UNSUPPORTED) {
		CHECK_MSG_HAS(
		    err,
		    "EC (unsupported curve) (algorithm 1.2.840.10045.2.1, curve 1.3.132.0.10)");
		OPENSSL_free(der);
		return;
	}

	mut = malloc(len);
	memcpy(mut, der, len);

	/* A flipped bit in the signature's last octet. */
	mut[len - 1] ^= 0x01;
	CHECK_INT_EQ(csr_parse(mut, len, &csr, &err), 0);
	CHECK_INT_EQ(csr_verify(&csr, &err), CS_ERR_CSR_SIGNATURE);
	CHECK_MSG_HAS(err, "does not verify");
	mut[len - 1] ^= 0x01;

	/* A flipped bit in the signed info (the last byte of the CN text). */
	{
		size_t cnl = strlen(k->opts.cn);
		uint8_t *hit = NULL;

		for (size_t i = 0; i + cnl <= len; i++)
			if (memcmp(mut + i, k->opts.cn, cnl) == 0) {
				hit = mut + i + cnl - 1;
				break;
			}
		CHECK(hit != NULL);
		if (hit != NULL) {
			*hit ^= 0x01;
			CHECK_INT_EQ(csr_parse(mut, len, &csr, &err), 0);
			CHECK_INT_EQ(csr_verify(&csr, &err), CS_ERR_CSR_SIGNATURE);
			*hit ^= 0x01;
		}
	}

	/* Every truncation is refused as malformed, never parsed. */
	for (size_t cut = 0; cut < len; cut++) {
		rc = csr_parse(mut, cut, &csr, &err);
		CHECK(rc == CS_ERR_CSR_MALFORMED);
		if (rc != CS_ERR_CSR_MALFORMED) {
			fprintf(stderr, "# %s: truncated at %zu: rc %d\n", k->label, cut, rc);
			break;
		}
	}

	/* No single-bit change of a request still passes parse + verify:
	 * every byte is either signed or part of the signature's framing. */
	if (k->mutate) {
		int passed = 0, bad_rc = 0;

		for (size_t i = 0; i < len; i++) {
			for (int b = 0; b < 8; b++) {
				mut[i] ^= (uint8_t)(1u << b);
				rc = csr_parse(mut, len, &csr, &err);
				if (rc == 0)
					rc = csr_verify(&csr, &err);
				if (rc == 0) {
					passed++;
					fprintf(stderr,
					        "# %s: flip byte %zu bit %d still verifies\n",
					        k->label, i, b);
				} else if (!rc_is_refusal(rc)) {
					bad_rc++;
				}
				mut[i] ^= (uint8_t)(1u << b);
			}
		}
		CHECK_INT_EQ(passed, 0);
		CHECK_INT_EQ(bad_rc, 0);
	}
	free(mut);
	OPENSSL_free(der);
}

static void
test_generated(void)
{
	EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	const struct kind kinds[] = {
	    {"P-256 SHA-256",
	     p256,
	     {EVP_sha256(), NO_PSS, "dev-p256", NULL, NULL, NULL},
	     CSR_KEY_EC_P256,
	     256,
	     CSR_SIG_ECDSA_SHA256,
	     0,
	     1},
	    {"P-256 SHA-384",
	     p256,
	     {EVP_sha384(), NO_PSS, "dev-p256b", NULL, NULL, NULL},
	     CSR_KEY_EC_P256,
	     256,
	     CSR_SIG_ECDSA_SHA384,
	     0,
	     0},
	    {"P-384 SHA-384",
	     p384,
	     {EVP_sha384(), NO_PSS, "dev-p384", NULL, NULL, NULL},
	     CSR_KEY_EC_P384,
	     384,
	     CSR_SIG_ECDSA_SHA384,
	     0,
	     1},
	    {"P-521 SHA-512",
	     p521,
	     {EVP_sha512(), NO_PSS, "dev-p521", NULL, NULL, NULL},
	     CSR_KEY_EC_P521,
	     521,
	     CSR_SIG_ECDSA_SHA512,
	     0,
	     0},
	    {"secp256k1",
	     k1,
	     {EVP_sha256(), NO_PSS, "dev-k1", NULL, NULL, NULL},
	     CSR_KEY_EC_OTHER,
	     0,
	     CSR_SIG_ECDSA_SHA256,
	     CS_ERR_CSR_UNSUPPORTED,
	     0},
	    {"RSA-2048 PKCS#1 SHA-256",
	     rsa,
	     {EVP_sha256(), NO_PSS, "dev-rsa", NULL, NULL, NULL},
	     CSR_KEY_RSA,
	     2048,
	     CSR_SIG_RSA_PKCS1_SHA256,
	     0,
	     1},
	    {"RSA-2048 PKCS#1 SHA-384",
	     rsa,
	     {EVP_sha384(), NO_PSS, "dev-rsa3", NULL, NULL, NULL},
	     CSR_KEY_RSA,
	     2048,
	     CSR_SIG_RSA_PKCS1_SHA384,
	     0,
	     0},
	    {"RSA-2048 PKCS#1 SHA-512",
	     rsa,
	     {EVP_sha512(), NO_PSS, "dev-rsa5", NULL, NULL, NULL},
	     CSR_KEY_RSA,
	     2048,
	     CSR_SIG_RSA_PKCS1_SHA512,
	     0,
	     0},
	    {"RSA-2048 PSS SHA-256",
	     rsa,
	     {EVP_sha256(), RSA_PSS_SALTLEN_DIGEST, "dev-pss", NULL, NULL, NULL},
	     CSR_KEY_RSA,
	     2048,
	     CSR_SIG_RSA_PSS,
	     0,
	     1},
	    {"RSA-2048 PSS SHA-384 max salt",
	     rsa,
	     {EVP_sha384(), RSA_PSS_SALTLEN_MAX, "dev-pss3", NULL, NULL, NULL},
	     CSR_KEY_RSA,
	     2048,
	     CSR_SIG_RSA_PSS,
	     0,
	     0},
	    {"RSA-2048 PSS SHA-512",
	     rsa,
	     {EVP_sha512(), RSA_PSS_SALTLEN_DIGEST, "dev-pss5", NULL, NULL, NULL},
	     CSR_KEY_RSA,
	     2048,
	     CSR_SIG_RSA_PSS,
	     0,
	     0},
	    {"Ed25519",
	     ed,
	     {NULL, NO_PSS, "dev-ed", NULL, NULL, NULL},
	     CSR_KEY_ED25519,
	     256,
	     CSR_SIG_ED25519,
	     0,
	     1},
	};

	CHECK(p256 != NULL && p384 != NULL && p521 != NULL && k1 != NULL && rsa != NULL &&
	      ed != NULL);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		check_kind(&kinds[i]);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
}

static void
test_attributes(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct req_opts chal = {EVP_sha256(), NO_PSS, "dev-chal", "lot42-secret", NULL, NULL};
	struct req_opts ca = {EVP_sha256(),      NO_PSS, "dev-ca", NULL, "basicConstraints",
	                      "critical,CA:TRUE"};
	struct req_opts notca = {EVP_sha256(),       NO_PSS,    "dev-notca", NULL,
	                         "basicConstraints", "CA:FALSE"};
	struct req_opts ku = {EVP_sha256(), NO_PSS, "dev-ku", "pw", "keyUsage", "digitalSignature"};
	struct csr csr;
	struct cs_err err;
	uint8_t *der;
	size_t len = 0;

	der = make_csr(key, &chal, &len);
	CHECK_INT_EQ(csr_parse(der, len, &csr, &err), 0);
	CHECK(csr.challenge.len == 12 && memcmp(csr.challenge.p, "lot42-secret", 12) == 0);
	CHECK_INT_EQ(csr.has_ext_request, 0);
	CHECK_INT_EQ(csr_verify(&csr, &err), 0);
	OPENSSL_free(der);

	der = make_csr(key, &ca, &len);
	CHECK_INT_EQ(csr_parse(der, len, &csr, &err), 0);
	CHECK_INT_EQ(csr.has_ext_request, 1);
	CHECK_INT_EQ(csr.requests_ca, 1);
	CHECK_INT_EQ(csr_verify(&csr, &err), 0);
	OPENSSL_free(der);

	der = make_csr(key, &notca, &len);
	CHECK_INT_EQ(csr_parse(der, len, &csr, &err), 0);
	CHECK_INT_EQ(csr.has_ext_request, 1);
	CHECK_INT_EQ(csr.requests_ca, 0);
	OPENSSL_free(der);

	der = make_csr(key, &ku, &len);
	CHECK_INT_EQ(csr_parse(der, len, &csr, &err), 0);
	CHECK_INT_EQ(csr.has_ext_request, 1);
	CHECK_INT_EQ(csr.requests_ca, 0);
	CHECK(csr.challenge.len == 2 && memcmp(csr.challenge.p, "pw", 2) == 0);
	OPENSSL_free(der);

	/* A compressed P-256 point is 33 bytes and verifies. */
	CHECK_INT_EQ(EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
	                                            "compressed"),
	             1);
	der = make_csr(key, &chal, &len);
	CHECK_INT_EQ(csr_parse(der, len, &csr, &err), 0);
	CHECK_INT_EQ(csr.key.len, 33);
	CHECK(csr.key.p[0] == 0x02 || csr.key.p[0] == 0x03);
	CHECK_INT_EQ(csr_verify(&csr, &err), 0);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
}

static void
test_sizes(void)
{
	static uint8_t big[CSR_MAX_PEM + 2];
	uint8_t out[CSR_MAX_DER];
	struct csr csr;
	struct cs_err err;
	size_t dlen;

	memset(big, 0, sizeof(big));
	big[0] = 0x30;
	CHECK_INT_EQ(csr_parse(big, CSR_MAX_DER + 1, &csr, &err), CS_ERR_CSR_TOO_LARGE);
	CHECK_MSG_HAS(err, "8193 bytes");
	CHECK_INT_EQ(csr_decode(big, CSR_MAX_DER + 1, out, sizeof(out), &dlen, &err),
	             CS_ERR_CSR_TOO_LARGE);
	CHECK_INT_EQ(csr_decode(big, CSR_MAX_PEM + 1, out, sizeof(out), &dlen, &err),
	             CS_ERR_CSR_TOO_LARGE);

	/* A PEM block under CSR_MAX_PEM whose contents exceed CSR_MAX_DER. */
	{
		size_t n = 0;
		const char *hdr = "-----BEGIN CERTIFICATE REQUEST-----\n";
		const char *ftr = "-----END CERTIFICATE REQUEST-----\n";

		memcpy(big, hdr, strlen(hdr));
		n = strlen(hdr);
		for (size_t i = 0; i < 11200; i++) {
			big[n++] = 'A';
			if (i % 64 == 63)
				big[n++] = '\n';
		}
		memcpy(big + n, ftr, strlen(ftr));
		n += strlen(ftr);
		CHECK(n <= CSR_MAX_PEM);
		CHECK_INT_EQ(csr_decode(big, n, out, sizeof(out), &dlen, &err),
		             CS_ERR_CSR_TOO_LARGE);
	}
	CHECK_INT_EQ(csr_parse(big, 0, &csr, &err), CS_ERR_CSR_MALFORMED);
}

static uint32_t rng_state = 0x12345678u;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void
test_garbage(void)
{
	uint8_t in[700], buf[CSR_MAX_DER];
	struct csr csr;
	struct cs_err err;
	int bad = 0;

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = rng() % sizeof(in);
		int rc;

		for (size_t i = 0; i < len; i++)
			in[i] = (uint8_t)rng();
		/* Make some inputs look like DER so the parser goes deeper. */
		if (len > 4 && (iter & 1)) {
			in[0] = 0x30;
			in[1] = 0x82;
			in[2] = (uint8_t)((len - 4) >> 8);
			in[3] = (uint8_t)(len - 4);
			in[4] = 0x30;
		}
		rc = run_all(in, len, &csr, buf, &err);
		if (rc == 0 || !rc_is_refusal(rc))
			bad++;
	}
	CHECK_INT_EQ(bad, 0);
}

static void
test_der(void)
{
	uint8_t buf[300], small[4], content[200];
	struct der_writer w;
	struct der_reader r;
	struct der_tlv t;
	size_t len, m, off = 0;
	static const uint8_t nonminimal[] = {0x30, 0x81, 0x01, 0x00};
	static const uint8_t indefinite[] = {0x30, 0x80, 0x00, 0x00};
	static const uint8_t lead_zero[] = {0x04, 0x82, 0x00, 0x81};
	char text[64];

	memset(content, 0x5a, sizeof(content));
	der_writer_init(&w, buf, sizeof(buf));
	m = der_begin(&w, DER_SEQUENCE);
	der_put_tlv(&w, DER_OCTET_STRING, content, sizeof(content));
	der_end(&w, m);
	CHECK_INT_EQ(der_writer_finish(&w, &len), 0);
	CHECK_INT_EQ(len, 3 + 3 + 200);
	CHECK(buf[0] == 0x30 && buf[1] == 0x81 && buf[2] == 203 && buf[3] == 0x04 &&
	      buf[4] == 0x81 && buf[5] == 200);
	der_reader_init(&r, buf, len);
	CHECK_INT_EQ(der_read(&r, &t, NULL), DER_OK);
	CHECK_INT_EQ(t.len, 203);
	CHECK(der_reader_done(&r));

	der_writer_init(&w, small, sizeof(small));
	der_put_tlv(&w, DER_OCTET_STRING, content, 10);
	CHECK_INT_EQ(der_writer_finish(&w, &len), -1);

	/* INTEGER from bytes with the top bit set gets a 0x00 octet. */
	{
		static const uint8_t v[] = {0x00, 0x00, 0x80, 0x01};

		der_writer_init(&w, buf, sizeof(buf));
		der_put_uint_be(&w, v, sizeof(v));
		CHECK_INT_EQ(der_writer_finish(&w, &len), 0);
		CHECK(len == 5 && buf[1] == 3 && buf[2] == 0x00 && buf[3] == 0x80);
	}

	der_reader_init(&r, nonminimal, sizeof(nonminimal));
	CHECK_INT_EQ(der_read(&r, &t, &off), DER_ERR_LENGTH_FORM);
	CHECK_INT_EQ(off, 1);
	der_reader_init(&r, indefinite, sizeof(indefinite));
	CHECK_INT_EQ(der_read(&r, &t, &off), DER_ERR_INDEFINITE);
	der_reader_init(&r, lead_zero, sizeof(lead_zero));
	CHECK_INT_EQ(der_read(&r, &t, &off), DER_ERR_LENGTH_FORM);

	der_oid_text((const uint8_t *)"\x2b\x81\x04\x00\x0a", 5, text, sizeof(text));
	CHECK(strcmp(text, "1.3.132.0.10") == 0);
	der_oid_text((const uint8_t *)"\x2a\x86\x48\xce\x3d\x02\x01", 7, text, sizeof(text));
	CHECK(strcmp(text, "1.2.840.10045.2.1") == 0);
}

/* ---- fixture files ---------------------------------------------------------- */

static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

/* Splits off the next blank-separated word of s (NUL-terminating it);
 * *rest points after it. NULL if there is none. */
static char *
next_word(char *s, char **rest)
{
	char *w;

	*rest = NULL;
	if (s == NULL)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return NULL;
	w = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*rest = s;
	return w;
}

/* README lines "case FILE EXPECT FRAGMENT...": EXPECT is "ok" or a
 * cs_reason_name() token; FRAGMENT must appear in the error message (or is
 * a field check for ok cases: "requests_ca", "challenge=VALUE",
 * "key=NAME"). */
static void
test_fixtures(void)
{
	char path[512], line[512];
	FILE *readme;
	int cases = 0, listed_files = 0, dir_files = 0;
	char listed[64][64];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/csr/README", TEST_DATA_DIR);
	readme = fopen(path, "r");
	CHECK(readme != NULL);
	if (readme == NULL)
		return;
	while (fgets(line, sizeof(line), readme) != NULL) {
		char *file, *expect, *frag, *save = NULL;
		uint8_t *data, buf[CSR_MAX_DER];
		struct csr csr;
		struct cs_err err;
		size_t len = 0;
		int rc;

		if (strncmp(line, "case ", 5) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		file = next_word(line + 5, &save);
		expect = next_word(save, &save);
		frag = save;
		while (frag != NULL && (*frag == ' ' || *frag == '\t'))
			frag++;
		if (frag != NULL && *frag == '\0')
			frag = NULL;
		CHECK(file != NULL && expect != NULL && frag != NULL);
		if (file == NULL || expect == NULL || frag == NULL)
			continue;
		if (listed_files < 64)
			snprintf(listed[listed_files++], sizeof(listed[0]), "%s", file);
		snprintf(path, sizeof(path), "%s/csr/%s", TEST_DATA_DIR, file);
		data = read_file(path, &len);
		CHECK(data != NULL);
		if (data == NULL) {
			fprintf(stderr, "# fixture %s missing\n", file);
			continue;
		}
		cs_err_clear(&err);
		rc = run_all(data, len, &csr, buf, &err);
		cases++;
		if (strcmp(expect, "ok") == 0) {
			CHECK_INT_EQ(rc, 0);
			if (strcmp(frag, "requests_ca") == 0)
				CHECK_INT_EQ(csr.requests_ca, 1);
			else if (strncmp(frag, "challenge=", 10) == 0)
				CHECK(csr.challenge.len == strlen(frag + 10) &&
				      memcmp(csr.challenge.p, frag + 10, csr.challenge.len) == 0);
			else if (strncmp(frag, "key=", 4) == 0) {
				char name[32];

				CHECK(strcmp(csr_key_type_name(csr.key_type, csr.key_bits, name,
				                               sizeof(name)),
				             frag + 4) == 0);
			}
		} else {
			CHECK(strcmp(cs_reason_name(rc), expect) == 0);
			CHECK_MSG_HAS(err, frag);
		}
		if ((rc == 0) != (strcmp(expect, "ok") == 0) ||
		    (rc != 0 &&
		     (strcmp(cs_reason_name(rc), expect) != 0 || strstr(err.msg, frag) == NULL)))
			fprintf(stderr, "# fixture %s: got %s: %s\n", file, cs_reason_name(rc),
			        err.msg);
		free(data);
	}
	fclose(readme);
	CHECK(cases >= 25);

	/* Every fixture file in the directory is listed in README. */
	snprintf(path, sizeof(path), "%s/csr", TEST_DATA_DIR);
	d = opendir(path);
	CHECK(d != NULL);
	while (d != NULL && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		int found = 0;

		if (n[0] == '.' || strcmp(n, "README") == 0 || strcmp(n, "make.sh") == 0)
			continue;
		dir_files++;
		for (int i = 0; i < listed_files; i++)
			if (strcmp(listed[i], n) == 0)
				found = 1;
		if (!found)
			fprintf(stderr, "# fixture %s is not listed in README\n", n);
		CHECK(found);
	}
	if (d != NULL)
		closedir(d);
	CHECK_INT_EQ(dir_files, listed_files);
}

int
main(void)
{
	test_der();
	test_generated();
	test_attributes();
	test_sizes();
	test_garbage();
	test_fixtures();
	return check_finish("test_csr");
}
