/*
 * ca.h: the issuing CA as the station sees it: its certificate chain (from
 * files) bound to its key (in the HSM).
 *
 * Contract: ca_load() reads the issuing CA certificate and the certificates
 * above it (PEM), checks that the issuing CA certificate is a CA, that its
 * public key is byte-for-byte the HSM key's, and extracts what every
 * issuance copies: subject Name DER, SKI, validity, signature algorithm.
 * Read-only after load: any thread.
 */
#ifndef STATION_CA_H
#define STATION_CA_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "station/cs_error.h"

#define CA_CHAIN_MAX 8

struct ca_cert {
	uint8_t *der;
	size_t der_len;
	char *pem;
	char subject[256]; /* one-line text */
	int64_t not_before, not_after;
};

struct ca {
	struct ca_cert chain[CA_CHAIN_MAX]; /* [0] issuing CA, then up to the root */
	size_t chain_len;
	int has_root;                       /* last element is self-signed */
	uint8_t *issuer_name;               /* DER subject of chain[0] */
	size_t issuer_name_len;
	uint8_t ski[64];
	size_t ski_len;
	enum hsm_key_type key_type;
	enum hsm_sig_alg sig_alg;           /* what the issuing key signs with */
};

/* Load the chain: issuing_cert_file holds the issuing CA certificate and may
 * hold more; chain_file (may be NULL) holds the rest up to the root. If key
 * is non-NULL, its SPKI must equal the issuing certificate's
 * (CS_ERR_HSM_KEY_MISMATCH otherwise). rsa_pss selects PSS for RSA keys. */
struct ca *ca_load(const char *issuing_cert_file, const char *chain_file,
    const struct hsm_key_info *key, int rsa_pss, struct cs_err *err);
void ca_free(struct ca *ca);

/* The signature algorithm a CA key of type t signs with: ECDSA with SHA-256
 * (P-256) or SHA-384 (P-384), RSA with SHA-256 as PKCS#1 v1.5 or, with
 * rsa_pss, PSS. Certificates and the CA's own request (ca_setup.h) agree. */
enum hsm_sig_alg ca_sig_alg_for(enum hsm_key_type t, int rsa_pss);

#endif
