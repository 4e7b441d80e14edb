/*
 * csr.h: PKCS#10 certification requests from devices (untrusted bytes).
 *
 * Contract: csr_decode() caps the size first (CSR_MAX_DER bytes of DER,
 * CSR_MAX_PEM of PEM), accepts DER or one PEM "CERTIFICATE REQUEST" block,
 * and copies DER into the caller's buffer. csr_parse() is a strict,
 * bounded DER parser written for hostile input (no OpenSSL decoder on the hot
 * path: OpenSSL 3's key decoders cost more than the signature itself); the
 * struct it fills borrows slices of the input, which must outlive it.
 * csr_verify() checks the request's self-signature (proof of possession)
 * over the exact certificationRequestInfo bytes.
 *
 * Every rejection says which rule it enforces, with the byte offset.
 *
 * Verified: ECDSA on P-256/P-384/P-521 (uncompressed or compressed points)
 * with SHA-256/384/512, RSA PKCS#1 v1.5 and RSASSA-PSS with SHA-256/384/512
 * (SHA-1 refused), Ed25519. A key on another curve (CSR_KEY_EC_OTHER) or of
 * another algorithm (CSR_KEY_OTHER) parses, so the policy can name it, and
 * csr_verify() refuses it with CS_ERR_CSR_UNSUPPORTED; an unknown signature
 * algorithm is CS_ERR_CSR_UNSUPPORTED from csr_parse().
 *
 * Any thread. No mutable globals: csr_verify() creates its read-only
 * per-curve EC_GROUPs once per process (pthread_once).
 */
#ifndef STATION_CSR_H
#define STATION_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "station/cs_error.h"

#define CSR_MAX_DER 8192
#define CSR_MAX_PEM 12288

enum csr_key_type {
	CSR_KEY_UNKNOWN = 0,
	CSR_KEY_EC_P256,
	CSR_KEY_EC_P384,
	CSR_KEY_EC_P521,
	CSR_KEY_EC_OTHER, /* a named curve we do not support, or explicit parameters */
	CSR_KEY_RSA,
	CSR_KEY_ED25519,
	CSR_KEY_OTHER,
};

enum csr_sig_alg {
	CSR_SIG_UNKNOWN = 0,
	CSR_SIG_ECDSA_SHA256,
	CSR_SIG_ECDSA_SHA384,
	CSR_SIG_ECDSA_SHA512,
	CSR_SIG_RSA_PKCS1_SHA256,
	CSR_SIG_RSA_PKCS1_SHA384,
	CSR_SIG_RSA_PKCS1_SHA512,
	CSR_SIG_RSA_PSS,
	CSR_SIG_ED25519,
};

struct csr_slice {
	const uint8_t *p;
	size_t len;
};

struct csr {
	struct csr_slice der;       /* the whole request */
	struct csr_slice info;      /* certificationRequestInfo, the signed bytes (TLV) */
	struct csr_slice subject;   /* Name (TLV) */
	struct csr_slice spki;      /* SubjectPublicKeyInfo (TLV), copied into certificates */
	struct csr_slice key;       /* subjectPublicKey BIT STRING contents, unused-bits octet removed:
	                             * EC point (04||X||Y or compressed) or RSAPublicKey DER */
	enum csr_key_type key_type;
	unsigned key_bits;          /* curve size or RSA modulus bits */
	enum csr_sig_alg sig_alg;
	struct csr_slice sig_alg_params; /* RSASSA-PSS-params (TLV) when sig_alg == CSR_SIG_RSA_PSS */
	struct csr_slice signature; /* signature BIT STRING contents, unused-bits octet removed */
	char subject_cn[129];       /* first commonName as text, "" if none (informational) */
	struct csr_slice challenge; /* challengePassword value bytes, if present */
	int has_ext_request;        /* an extensionRequest attribute was present */
	int requests_ca;            /* extensionRequest carries basicConstraints cA=TRUE */
};

/* Name of a key type for messages and profiles: "P-256", "RSA-2048", ... ;
 * for RSA the bits are included. buf must hold 32 bytes. */
const char *csr_key_type_name(enum csr_key_type t, unsigned bits, char *buf, size_t buflen);

/* DER or PEM in, DER out (copied into der, capacity der_cap >= CSR_MAX_DER).
 * Errors: CS_ERR_CSR_TOO_LARGE, CS_ERR_CSR_MALFORMED. */
int csr_decode(const uint8_t *in, size_t in_len, uint8_t *der, size_t der_cap,
    size_t *der_len /* OUT */, struct cs_err *err);

/* Parse DER. Errors: CS_ERR_CSR_TOO_LARGE, CS_ERR_CSR_MALFORMED,
 * CS_ERR_CSR_UNSUPPORTED (well-formed but an algorithm we cannot verify). */
int csr_parse(const uint8_t *der, size_t der_len, struct csr *out /* OUT */, struct cs_err *err);

/* Verify the self-signature. CS_ERR_CSR_SIGNATURE if it does not verify,
 * CS_ERR_CSR_UNSUPPORTED for an algorithm we cannot check. */
int csr_verify(const struct csr *csr, struct cs_err *err);

#endif
