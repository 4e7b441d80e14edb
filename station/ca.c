/*
 * ca.c: load the issuing CA's certificate chain and bind it to the HSM key.
 * Runs once at start, so OpenSSL's X509 objects are fine here; nothing on the
 * issuance path touches them afterwards.
 */
#include "station/ca.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int
ca_time_to_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int
ca_cert_fill(struct ca_cert *c, X509 *x)
{
	BIO *mem = NULL;
	unsigned char *p;
	char *pem;
	long len;
	int n, rc = CS_ERR_NOMEM;

	n = i2d_X509(x, NULL);
	if (n <= 0)
		goto out;
	c->der = malloc((size_t)n);
	if (c->der == NULL)
		goto out;
	p = c->der;
	c->der_len = (size_t)i2d_X509(x, &p);

	mem = BIO_new(BIO_s_mem());
	if (mem == NULL || PEM_write_bio_X509(mem, x) != 1)
		goto out;
	len = BIO_get_mem_data(mem, &pem);
	c->pem = malloc((size_t)len + 1);
	if (c->pem == NULL)
		goto out;
	memcpy(c->pem, pem, (size_t)len);
	c->pem[len] = '\0';

	X509_NAME_oneline(X509_get_subject_name(x), c->subject, sizeof(c->subject));
	if (ca_time_to_unix(X509_get0_notBefore(x), &c->not_before) != 0 ||
	    ca_time_to_unix(X509_get0_notAfter(x), &c->not_after) != 0) {
		rc = CS_ERR_CONFIG;
		goto out;
	}
	rc = CS_OK;
out:
	BIO_free(mem);
	return rc;
}

/* Append every certificate in a PEM file to ca->chain. */
static int
ca_read_file(struct ca *ca, const char *path, X509 **xs, struct cs_err *err)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	size_t before = ca->chain_len;
	int rc = CS_OK;

	if (f == NULL)
		return cs_err_set(err, CS_ERR_IO, "%s: cannot open CA certificate file: %s", path,
		    strerror(errno));
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (ca->chain_len == CA_CHAIN_MAX) {
			X509_free(x);
			rc = cs_err_set(err, CS_ERR_CONFIG, "%s: more than %d certificates in the CA chain",
			    path, CA_CHAIN_MAX);
			goto out;
		}
		xs[ca->chain_len] = x;
		rc = ca_cert_fill(&ca->chain[ca->chain_len], x);
		ca->chain_len++;
		if (rc != CS_OK) {
			cs_err_set(err, rc, "%s: certificate %zu cannot be read", path, ca->chain_len);
			goto out;
		}
	}
	ERR_clear_error(); /* PEM_read_X509 ends with a "no start line" error at EOF */
	if (ca->chain_len == before)
		rc = cs_err_set(err, CS_ERR_CONFIG, "%s: no PEM certificate found", path);
out:
	fclose(f);
	return rc;
}

enum hsm_sig_alg
ca_sig_alg_for(enum hsm_key_type t, int rsa_pss)
{
	switch (t) {
	case HSM_KEY_EC_P256:
		return HSM_SIG_ECDSA_SHA256;
	case HSM_KEY_EC_P384:
		return HSM_SIG_ECDSA_SHA384;
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
	case HSM_KEY_RSA_4096:
		return rsa_pss ? HSM_SIG_RSA_PSS_SHA256 : HSM_SIG_RSA_PKCS1_SHA256;
	default:
		return HSM_SIG_ECDSA_SHA256;
	}
}

static enum hsm_key_type
ca_key_type_of(X509 *x)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char curve[64];
	size_t len = 0;

	if (pk == NULL)
		return HSM_KEY_NONE;
	if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(pk, "group", curve, sizeof(curve), &len) != 1)
			return HSM_KEY_NONE;
		if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0)
			return HSM_KEY_EC_P256;
		if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0)
			return HSM_KEY_EC_P384;
		return HSM_KEY_NONE;
	}
	if (EVP_PKEY_is_a(pk, "RSA")) {
		switch (EVP_PKEY_get_bits(pk)) {
		case 2048:
			return HSM_KEY_RSA_2048;
		case 3072:
			return HSM_KEY_RSA_3072;
		case 4096:
			return HSM_KEY_RSA_4096;
		default:
			return HSM_KEY_NONE;
		}
	}
	return HSM_KEY_NONE;
}

struct ca *
ca_load(const char *issuing_cert_file, const char *chain_file, const struct hsm_key_info *key,
    int rsa_pss, struct cs_err *err)
{
	struct ca *ca = calloc(1, sizeof(*ca));
	X509 *xs[CA_CHAIN_MAX] = {0};
	unsigned char *spki = NULL, *p;
	const ASN1_OCTET_STRING *ski;
	int n, ok = 0;

	if (ca == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (ca_read_file(ca, issuing_cert_file, xs, err) != CS_OK)
		goto out;
	if (chain_file != NULL && ca_read_file(ca, chain_file, xs, err) != CS_OK)
		goto out;

	if (X509_check_ca(xs[0]) == 0) {
		cs_err_set(err, CS_ERR_CONFIG, "%s: '%s' is not a CA certificate (no basicConstraints CA:TRUE)",
		    issuing_cert_file, ca->chain[0].subject);
		goto out;
	}
	for (size_t i = 0; i + 1 < ca->chain_len; i++) {
		if (X509_check_issued(xs[i + 1], xs[i]) != X509_V_OK) {
			cs_err_set(err, CS_ERR_CONFIG, "CA chain out of order: '%s' is not issued by '%s'",
			    ca->chain[i].subject, ca->chain[i + 1].subject);
			goto out;
		}
	}
	ca->has_root = X509_check_issued(xs[ca->chain_len - 1], xs[ca->chain_len - 1]) == X509_V_OK;

	ca->key_type = ca_key_type_of(xs[0]);
	if (ca->key_type == HSM_KEY_NONE) {
		cs_err_set(err, CS_ERR_CONFIG,
		    "%s: issuing CA key type not supported (use P-256, P-384, RSA-2048/3072/4096)",
		    issuing_cert_file);
		goto out;
	}
	ca->sig_alg = ca_sig_alg_for(ca->key_type, rsa_pss);

	n = i2d_X509_NAME(X509_get_subject_name(xs[0]), NULL);
	ca->issuer_name = n > 0 ? malloc((size_t)n) : NULL;
	if (ca->issuer_name == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	p = ca->issuer_name;
	ca->issuer_name_len = (size_t)i2d_X509_NAME(X509_get_subject_name(xs[0]), &p);

	ski = X509_get0_subject_key_id(xs[0]);
	if (ski != NULL && (size_t)ASN1_STRING_length(ski) <= sizeof(ca->ski)) {
		ca->ski_len = (size_t)ASN1_STRING_length(ski);
		memcpy(ca->ski, ASN1_STRING_get0_data(ski), ca->ski_len);
	}

	if (key != NULL) {
		n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(xs[0]), &spki);
		if (n <= 0 || (size_t)n != key->spki_len || memcmp(spki, key->spki, key->spki_len) != 0) {
			cs_err_set(err, CS_ERR_HSM_KEY_MISMATCH,
			    "%s: the public key of '%s' is not the public key of HSM key '%s' (%s); "
			    "the certificate belongs to another key",
			    issuing_cert_file, ca->chain[0].subject, key->key_label,
			    hsm_key_type_name(key->type));
			goto out;
		}
	}
	ok = 1;
out:
	OPENSSL_free(spki);
	for (size_t i = 0; i < CA_CHAIN_MAX; i++)
		X509_free(xs[i]);
	if (!ok) {
		ca_free(ca);
		return NULL;
	}
	return ca;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	for (size_t i = 0; i < ca->chain_len; i++) {
		free(ca->chain[i].der);
		free(ca->chain[i].pem);
	}
	free(ca->issuer_name);
	free(ca);
}
