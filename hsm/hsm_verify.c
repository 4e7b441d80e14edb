/*
 * hsm_verify.c: software check of every signature the token returns.
 *
 * DESIGN: this runs once per issued certificate, on the hot path, so the
 * key objects are built once at open and the per-call work is the bare
 * math. OpenSSL 3.0's EVP_PKEY_verify() needs an EVP_PKEY_CTX per call
 * (contexts are not shareable between threads) and each
 * EVP_PKEY_CTX_new_from_pkey + EVP_PKEY_verify_init does a provider fetch
 * under a global lock. Measured on the 2-core build VM (OpenSSL 3.0.x,
 * 2000 verifies of one P-256 signature): EVP context per call 79 us,
 * EC_KEY + ECDSA_do_verify 63 us; the 16 us difference is a quarter of a
 * SoftHSM C_Sign. So this one file uses the deprecated low-level EC_KEY /
 * RSA API, which is still present and maintained in 3.x; the deprecation
 * warnings are silenced here only. Verifying a const EC_KEY / RSA from many
 * threads at once is safe: verification does not mutate the key.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <stdlib.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hsm/hsm_int.h"

struct hsm_verifier {
	EC_KEY *ec;
	RSA *rsa;
	size_t rsa_size; /* bytes */
};

struct hsm_verifier *
hsm_verifier_new(const uint8_t *spki, size_t spki_len, struct cs_err *err)
{
	struct hsm_verifier *v = NULL;
	const unsigned char *p = spki;
	EVP_PKEY *pk = NULL;

	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory building the signature verifier");
		goto fail;
	}
	pk = d2i_PUBKEY(NULL, &p, (long)spki_len);
	if (pk == NULL || p != spki + spki_len) {
		cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
		    "public key read from the token (%zu bytes DER) does not parse as "
		    "SubjectPublicKeyInfo",
		    spki_len);
		goto fail;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		v->ec = EVP_PKEY_get1_EC_KEY(pk);
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		v->rsa = EVP_PKEY_get1_RSA(pk);
		if (v->rsa != NULL)
			v->rsa_size = (size_t)RSA_size(v->rsa);
	}
	if (v->ec == NULL && v->rsa == NULL) {
		cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
		    "public key type %d cannot be used to verify signatures",
		    EVP_PKEY_get_base_id(pk));
		goto fail;
	}
	EVP_PKEY_free(pk);
	return v;
fail:
	EVP_PKEY_free(pk);
	hsm_verifier_free(v);
	return NULL;
}

void
hsm_verifier_free(struct hsm_verifier *v)
{
	if (v == NULL)
		return;
	EC_KEY_free(v->ec);
	RSA_free(v->rsa);
	free(v);
}

static int
verify_ecdsa(const struct hsm_verifier *v, const uint8_t *digest, size_t digest_len,
    const uint8_t *sig, size_t sig_len)
{
	const unsigned char *p = sig;
	ECDSA_SIG *s;
	int ok;

	s = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
	if (s == NULL)
		return CS_ERR_HSM_BAD_SIGNATURE;
	ok = p == sig + sig_len && ECDSA_do_verify(digest, (int)digest_len, s, v->ec) == 1;
	ECDSA_SIG_free(s);
	return ok ? CS_OK : CS_ERR_HSM_BAD_SIGNATURE;
}

static int
verify_rsa_pss(const struct hsm_verifier *v, const EVP_MD *md, const uint8_t *digest,
    size_t digest_len, const uint8_t *sig, size_t sig_len)
{
	unsigned char em[512];
	int n;

	if (sig_len != v->rsa_size || sig_len > sizeof(em))
		return CS_ERR_HSM_BAD_SIGNATURE;
	n = RSA_public_decrypt((int)sig_len, sig, em, v->rsa, RSA_NO_PADDING);
	if (n != (int)sig_len)
		return CS_ERR_HSM_BAD_SIGNATURE;
	if (RSA_verify_PKCS1_PSS_mgf1(v->rsa, digest, md, md, em, (int)digest_len) != 1)
		return CS_ERR_HSM_BAD_SIGNATURE;
	return CS_OK;
}

int
hsm_verifier_check(const struct hsm_verifier *v, enum hsm_sig_alg alg, const uint8_t *digest,
    size_t digest_len, const uint8_t *sig, size_t sig_len)
{
	int sha384 = alg == HSM_SIG_ECDSA_SHA384 || alg == HSM_SIG_RSA_PKCS1_SHA384 ||
	    alg == HSM_SIG_RSA_PSS_SHA384;

	if (v == NULL || digest == NULL || sig == NULL || digest_len != (sha384 ? 48u : 32u))
		return CS_ERR_HSM_BAD_SIGNATURE;
	switch (alg) {
	case HSM_SIG_ECDSA_SHA256:
	case HSM_SIG_ECDSA_SHA384:
		if (v->ec == NULL)
			return CS_ERR_HSM_BAD_SIGNATURE;
		return verify_ecdsa(v, digest, digest_len, sig, sig_len);
	case HSM_SIG_RSA_PKCS1_SHA256:
	case HSM_SIG_RSA_PKCS1_SHA384:
		if (v->rsa == NULL || sig_len != v->rsa_size)
			return CS_ERR_HSM_BAD_SIGNATURE;
		if (RSA_verify(sha384 ? NID_sha384 : NID_sha256, digest, (unsigned)digest_len, sig,
			(unsigned)sig_len, v->rsa) != 1)
			return CS_ERR_HSM_BAD_SIGNATURE;
		return CS_OK;
	case HSM_SIG_RSA_PSS_SHA256:
	case HSM_SIG_RSA_PSS_SHA384:
		if (v->rsa == NULL)
			return CS_ERR_HSM_BAD_SIGNATURE;
		return verify_rsa_pss(v, sha384 ? EVP_sha384() : EVP_sha256(), digest, digest_len,
		    sig, sig_len);
	}
	return CS_ERR_HSM_BAD_SIGNATURE;
}
