/*
 * cert.h: building device certificates without OpenSSL's X509 object.
 *
 * DESIGN: OpenSSL 3.0 spends more time re-encoding the subject key
 * (X509_set_pubkey) than the HSM spends signing. So the station encodes the
 * TBSCertificate itself from a fully decided template: the SPKI bytes are
 * copied verbatim from the (already verified) CSR, the issuer Name verbatim
 * from the CA certificate. The caller hashes the TBS, has the HSM sign the
 * digest, and cert_assemble() wraps TBS + algorithm + signature.
 *
 * The template is decided by the profile, never by the CSR. cert_template_check()
 * is the pre-issuance lint run on the template before anything is signed.
 * Pure functions: any thread, no globals.
 */
#ifndef STATION_CERT_H
#define STATION_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "station/cs_error.h"

#define CERT_MAX_DER 8192
/* Serial numbers: 20 octets (the RFC 5280 maximum), positive. A 4-octet
 * time-ordered prefix, then 128 bits from the CSPRNG; see cert_serial_generate(). */
#define CERT_SERIAL_LEN 20
#define CERT_SERIAL_RANDOM_LEN 16
#define CERT_MAX_RDN 8
#define CERT_MAX_SAN 8
#define CERT_MAX_URLS 4
#define CERT_MAX_EKU 8
#define CERT_NOT_AFTER_FOREVER ((int64_t)253402300799) /* 9999-12-31T23:59:59Z, IEEE 802.1AR */

/* Subject attributes we write, in the order given by the profile. */
enum cert_rdn_type {
	CERT_RDN_CN = 1,
	CERT_RDN_O,
	CERT_RDN_OU,
	CERT_RDN_C, /* PrintableString, exactly 2 letters */
	CERT_RDN_L,
	CERT_RDN_ST,
	CERT_RDN_SERIALNUMBER, /* PrintableString */
};

enum cert_san_type {
	CERT_SAN_DNS = 1,
	CERT_SAN_URI,
	CERT_SAN_EMAIL,
	CERT_SAN_IP, /* value is text: dotted IPv4 or IPv6 */
};

/* keyUsage bits as in RFC 5280 (bit 0 = digitalSignature). */
#define CERT_KU_DIGITAL_SIGNATURE (1u << 0)
#define CERT_KU_NON_REPUDIATION (1u << 1)
#define CERT_KU_KEY_ENCIPHERMENT (1u << 2)
#define CERT_KU_DATA_ENCIPHERMENT (1u << 3)
#define CERT_KU_KEY_AGREEMENT (1u << 4)
#define CERT_KU_KEY_CERT_SIGN (1u << 5)
#define CERT_KU_CRL_SIGN (1u << 6)

enum cert_eku {
	CERT_EKU_SERVER_AUTH = 1,
	CERT_EKU_CLIENT_AUTH,
	CERT_EKU_CODE_SIGNING,
	CERT_EKU_EMAIL_PROTECTION,
};

/* What kind of key the SPKI holds; decides which KU bits make sense. */
enum cert_key_class {
	CERT_KEY_CLASS_EC = 1,
	CERT_KEY_CLASS_RSA,
};

struct cert_rdn {
	enum cert_rdn_type type;
	const char *value; /* UTF-8, borrowed */
};

struct cert_san {
	enum cert_san_type type;
	const char *value; /* borrowed */
};

struct cert_template {
	uint8_t serial[CERT_SERIAL_LEN];
	enum hsm_sig_alg sig_alg;

	const uint8_t *issuer_name; /* DER Name of the issuing CA (its subject), borrowed */
	size_t issuer_name_len;
	const uint8_t *issuer_ski;  /* the CA's subjectKeyIdentifier, for AKI; NULL: omit AKI */
	size_t issuer_ski_len;
	int64_t ca_not_before, ca_not_after; /* for the lint: validity must nest */

	int64_t not_before; /* Unix seconds, UTC */
	int64_t not_after;  /* or CERT_NOT_AFTER_FOREVER */

	struct cert_rdn subject[CERT_MAX_RDN];
	size_t subject_count;
	struct cert_san san[CERT_MAX_SAN];
	size_t san_count;

	const uint8_t *spki; /* DER SubjectPublicKeyInfo, borrowed (from the verified CSR) */
	size_t spki_len;
	enum cert_key_class key_class;

	unsigned key_usage;        /* CERT_KU_* bits; 0: omit the extension */
	enum cert_eku eku[CERT_MAX_EKU];
	size_t eku_count;
	const char *crl_urls[CERT_MAX_URLS];
	size_t crl_url_count;
	const char *ocsp_urls[CERT_MAX_URLS];
	size_t ocsp_url_count;
	const char *ca_issuers_urls[CERT_MAX_URLS];
	size_t ca_issuers_url_count;
	/* basicConstraints is always written CA:FALSE, critical; there is no field
	 * to change that: the station never issues a CA certificate. */
};

/* Pre-issuance lint: validity nests inside the CA's (a CERT_NOT_AFTER_FOREVER notAfter
 * is exempt: IEEE 802.1AR "no expiration") and not_before < not_after,
 * subject has a CN of 1..64 chars, attribute and SAN lengths within RFC 5280
 * upper bounds, C is 2 letters, KU consistent with the key class (no
 * keyCertSign/cRLSign; keyEncipherment only for RSA; keyAgreement only for EC),
 * EKU list without duplicates, serial positive and non-zero.
 * CS_ERR_POLICY_LINT with the rule named in err. */
int cert_template_check(const struct cert_template *t, struct cs_err *err);

/* Encode the TBSCertificate into out (capacity cap). 0 and *out_len, or
 * CS_ERR_TOO_LARGE / CS_ERR_INVALID_ARG. Does not run the lint. */
int cert_tbs_encode(const struct cert_template *t, uint8_t *out, size_t cap,
    size_t *out_len /* OUT */);

/* Certificate ::= SEQUENCE { tbs, signatureAlgorithm, BIT STRING sig }.
 * sig is what hsm_sign_digest() returned. */
int cert_assemble(const uint8_t *tbs, size_t tbs_len, enum hsm_sig_alg alg,
    const uint8_t *sig, size_t sig_len, uint8_t *out, size_t cap, size_t *out_len /* OUT */);

/* SubjectKeyIdentifier as the station computes it: SHA-1 of the
 * subjectPublicKey BIT STRING contents of spki (RFC 5280 4.2.1.2 method 1). */
int cert_ski_from_spki(const uint8_t *spki, size_t spki_len, uint8_t out[20]);

/*
 * A new serial number: octet 0 is 0x40 | 6 bits and octets 1-3 carry the
 * rest of a 30-bit millisecond clock (it wraps every 12.4 days), octets 4-19
 * are 128 bits from the CSPRNG. Positive (top bit clear), never zero, always
 * 20 octets in DER.
 * DESIGN: the ledger enforces uniqueness with a UNIQUE index on the serial.
 * Keyed by fully random bytes, every insert lands on a random page of that
 * index, and each commit writes one index page per row to the WAL; with
 * the time-ordered prefix consecutive issuances land on the same page.
 * Uniqueness and unpredictability come from the 128 random bits alone.
 * 0, or CS_ERR_INTERNAL if the CSPRNG fails. Any thread.
 */
int cert_serial_generate(uint8_t out[CERT_SERIAL_LEN], int64_t now_us);

/* Digest length and whether SHA-384 is used for an algorithm. */
size_t cert_sig_alg_digest_len(enum hsm_sig_alg alg);

/* DER -> one PEM "CERTIFICATE" block with 64-character lines, as
 * PEM_write_bio_X509 writes it, built from the bytes alone (a stored blob
 * OpenSSL would not parse is still shown). malloc'ed; NULL on failure;
 * "" for len 0. */
char *cert_pem_encode(const uint8_t *der, size_t len);

#endif
