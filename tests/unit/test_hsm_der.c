/*
 * test_hsm_der.c: raw r||s -> DER ECDSA-Sig-Value, and SubjectPublicKeyInfo
 * built from PKCS#11 attributes, checked against OpenSSL's own encoders.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hsm/hsm_int.h"
#include "tests/support/check.h"

/* Our encoding must equal OpenSSL's i2d_ECDSA_SIG for the same r, s. */
static void
check_against_openssl(const uint8_t *raw, size_t raw_len)
{
	uint8_t der[160];
	size_t der_len = sizeof(der);
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)(raw_len / 2), NULL);
	BIGNUM *ss = BN_bin2bn(raw + raw_len / 2, (int)(raw_len / 2), NULL);
	unsigned char *ref = NULL;
	int ref_len;

	ECDSA_SIG_set0(s, r, ss);
	ref_len = i2d_ECDSA_SIG(s, &ref);
	CHECK_INT_EQ(hsm_ecdsa_raw_to_der(raw, raw_len, der, &der_len), CS_OK);
	CHECK_INT_EQ(der_len, ref_len);
	CHECK(ref_len > 0 && memcmp(der, ref, (size_t)ref_len) == 0);
	OPENSSL_free(ref);
	ECDSA_SIG_free(s);
}

static void
test_ecdsa_der(void)
{
	uint8_t raw[96], der[120];
	size_t der_len;
	unsigned i;

	/* Plain case: no high bit, no leading zero. */
	for (i = 0; i < 64; i++)
		raw[i] = (uint8_t)(0x11 + i);
	check_against_openssl(raw, 64);
	der_len = sizeof(der);
	CHECK_INT_EQ(hsm_ecdsa_raw_to_der(raw, 64, der, &der_len), CS_OK);
	CHECK_INT_EQ(der_len, 70);
	CHECK(der[0] == 0x30 && der[1] == 68 && der[2] == 0x02 && der[3] == 32);

	/* High bit set in r and s: each INTEGER gets a 0x00 pad. */
	raw[0] = 0x80;
	raw[32] = 0xff;
	check_against_openssl(raw, 64);
	der_len = sizeof(der);
	CHECK_INT_EQ(hsm_ecdsa_raw_to_der(raw, 64, der, &der_len), CS_OK);
	CHECK_INT_EQ(der_len, 72);
	CHECK(der[3] == 33 && der[4] == 0x00 && der[5] == 0x80);

	/* Leading zeros stripped; a zero byte before a high-bit byte stays. */
	memset(raw, 0, 3);
	raw[3] = 0x7f;
	memset(raw + 32, 0, 1);
	raw[33] = 0x90;
	check_against_openssl(raw, 64);
	der_len = sizeof(der);
	CHECK_INT_EQ(hsm_ecdsa_raw_to_der(raw, 64, der, &der_len), CS_OK);
	CHECK(der[2] == 0x02 && der[3] == 29 && der[4] == 0x7f);

	/* All-zero r (degenerate, but must still encode as INTEGER 0). */
	memset(raw, 0, 32);
	check_against_openssl(raw, 64);

	/* P-384 with high bits: the longest output, 2 + 2 * (2 + 49) = 104. */
	memset(raw, 0xff, 96);
	check_against_openssl(raw, 96);
	der_len = sizeof(der);
	CHECK_INT_EQ(hsm_ecdsa_raw_to_der(raw, 96, der, &der_len), CS_OK);
	CHECK_INT_EQ(der_len, 104);

	/* Bad input and a short output buffer. */
	der_len = sizeof(der);
	CHECK_INT_EQ(hsm_ecdsa_raw_to_der(raw, 63, der, &der_len), CS_ERR_INVALID_ARG);
	der_len = 50;
	CHECK_INT_EQ(hsm_ecdsa_raw_to_der(raw, 96, der, &der_len), CS_ERR_TOO_LARGE);
}

static void
test_spki(void)
{
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	EVP_PKEY *k = EVP_EC_gen("P-256");
	EVP_PKEY *rk = EVP_RSA_gen(2048);
	unsigned char *ref = NULL;
	int ref_len;
	uint8_t point[200], wrapped[200], out[HSM_SPKI_MAX];
	size_t plen = 0, out_len;
	enum hsm_key_type t = HSM_KEY_NONE;
	unsigned bits = 0;
	struct cs_err err;

	/* EC: both the bare point and SoftHSM's OCTET STRING form. */
	CHECK(k != NULL);
	EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", point, sizeof(point), &plen);
	CHECK_INT_EQ(plen, 65);
	ref_len = i2d_PUBKEY(k, &ref);
	out_len = sizeof(out);
	CHECK_INT_EQ(hsm_spki_from_ec(p256, sizeof(p256), point, plen, out, &out_len, &t, &err), CS_OK);
	CHECK_INT_EQ(t, HSM_KEY_EC_P256);
	CHECK(out_len == (size_t)ref_len && memcmp(out, ref, out_len) == 0);
	wrapped[0] = 0x04;
	wrapped[1] = (uint8_t)plen;
	memcpy(wrapped + 2, point, plen);
	out_len = sizeof(out);
	CHECK_INT_EQ(hsm_spki_from_ec(p256, sizeof(p256), wrapped, plen + 2, out, &out_len, &t, &err),
	    CS_OK);
	CHECK(out_len == (size_t)ref_len && memcmp(out, ref, out_len) == 0);
	OPENSSL_free(ref);
	ref = NULL;
	/* Wrong curve, compressed point. */
	{
		static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

		out_len = sizeof(out);
		CHECK_INT_EQ(hsm_spki_from_ec(p521, sizeof(p521), point, plen, out, &out_len, &t,
				 &err),
		    CS_ERR_HSM_UNSUPPORTED);
		CHECK_MSG_HAS(err, "P-256 or P-384");
		point[0] = 0x02;
		out_len = sizeof(out);
		CHECK_INT_EQ(hsm_spki_from_ec(p256, sizeof(p256), point, 33, out, &out_len, &t, &err),
		    CS_ERR_HSM_UNSUPPORTED);
		CHECK_MSG_HAS(err, "uncompressed");
	}

	/* RSA */
	{
		BIGNUM *n = NULL, *e = NULL;
		uint8_t nb[512], eb[8];
		int nl, el;

		CHECK(rk != NULL);
		EVP_PKEY_get_bn_param(rk, "n", &n);
		EVP_PKEY_get_bn_param(rk, "e", &e);
		nl = BN_bn2bin(n, nb);
		el = BN_bn2bin(e, eb);
		ref_len = i2d_PUBKEY(rk, &ref);
		out_len = sizeof(out);
		CHECK_INT_EQ(hsm_spki_from_rsa(nb, (size_t)nl, eb, (size_t)el, out, &out_len, &t, &bits,
				 &err),
		    CS_OK);
		CHECK_INT_EQ(t, HSM_KEY_RSA_2048);
		CHECK_INT_EQ(bits, 2048);
		CHECK(out_len == (size_t)ref_len && memcmp(out, ref, out_len) == 0);
		out_len = sizeof(out);
		CHECK_INT_EQ(hsm_spki_from_rsa(nb, 128, eb, (size_t)el, out, &out_len, &t, &bits, &err),
		    CS_ERR_HSM_UNSUPPORTED);
		CHECK_MSG_HAS(err, "1024 bits");
		OPENSSL_free(ref);
		BN_free(n);
		BN_free(e);
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(rk);
}

static void
test_digest_info(void)
{
	size_t len = 0;
	const uint8_t *p = hsm_digest_info_prefix(32, &len);

	CHECK(p != NULL && len == 19 && p[len - 1] == 32);
	p = hsm_digest_info_prefix(48, &len);
	CHECK(p != NULL && len == 19 && p[len - 1] == 48);
	CHECK(hsm_digest_info_prefix(20, &len) == NULL);
}

int
main(void)
{
	test_ecdsa_der();
	test_spki();
	test_digest_info();
	return check_finish("test_hsm_der");
}
