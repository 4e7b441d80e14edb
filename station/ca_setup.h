/*
 * ca_setup.h: putting the station's own issuing CA into service: its key
 * generated inside the HSM token, a PKCS#10 request for that key signed by
 * the token, and the installation of the certificate the offline root (or
 * an intermediate) returns. `certstation ca keygen|csr|install`.
 *
 * Contract:
 * - ca_subject_parse() is a pure function on untrusted text (the --subject
 *   argument): OpenSSL-style "/CN=Line 1 Issuing CA/O=Contoso/C=DE",
 *   backslash escapes any byte, size-capped before anything else; every
 *   refusal names the byte position and the rule. Fuzzed by
 *   tests/fuzz/fuzz_ca_subject.c.
 * - ca_key_generate() refuses a key that already exists; the new key is
 *   CKA_SENSITIVE, not extractable (hsm_key_generate()).
 * - ca_csr_create() builds the request around the HSM key's public key,
 *   has the token sign it with the algorithm the CA signs certificates
 *   with (ca_sig_alg_for()), and verifies the finished request with
 *   OpenSSL before handing it out. The private key never leaves the token.
 * - ca_install_check() decides whether a returned certificate may become
 *   the station's issuing CA: same key as the HSM (byte-identical SPKI),
 *   CA:TRUE, keyCertSign, valid now, and a path up to a self-signed root
 *   given with it (X509_verify_cert, X509_V_FLAG_X509_STRICT); each failure
 *   has its own sentence. ca_install_write() then puts the files in place
 *   atomically, after proving that ca_load() accepts them.
 *
 * Threads: one thread, from the command line; nothing here is on the
 * issuance path. The HSM handles passed in must not be signing elsewhere.
 */
#ifndef STATION_CA_SETUP_H
#define STATION_CA_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "hsm/p11_uri.h"
#include "station/cert.h"
#include "station/cs_error.h"

#define CA_SUBJECT_MAX_LEN 1024  /* the whole --subject text, bytes */
#define CA_SUBJECT_MAX_ATTRS 16  /* attributes in one subject */
#define CA_SUBJECT_VALUE_MAX 512 /* bytes of one decoded value (128 characters of 4 bytes) */
#define CA_PATHLEN_MAX 16        /* largest --pathlen accepted */

struct ca_subject_attr {
	enum cert_rdn_type type;
	size_t len;                            /* bytes in value */
	char value[CA_SUBJECT_VALUE_MAX + 1];  /* decoded UTF-8, NUL-terminated */
};

/* A parsed subject, attributes in the order given (the first is the first
 * RDN of the Name, as `openssl req -subj` does it). */
struct ca_subject {
	struct ca_subject_attr attr[CA_SUBJECT_MAX_ATTRS];
	size_t count;
};

/*
 * Parse len bytes of text (need not be NUL-terminated). Accepted names:
 * CN, O, OU, C, ST, L, serialNumber and their long forms (commonName, ...),
 * case-insensitive. Rules: starts with '/'; every component is NAME=VALUE;
 * a value is non-empty, valid UTF-8 without control characters, without
 * leading or trailing blanks, within RFC 5280's upper bound for its
 * attribute; C is two capital letters; serialNumber is PrintableString; CN
 * is required, and CN and C appear at most once.
 * 0 on success; CS_ERR_TOO_LARGE over CA_SUBJECT_MAX_LEN; CS_ERR_INVALID_ARG
 * for anything else, with "subject byte N: ..." in err.
 */
int ca_subject_parse(const char *text, size_t len, struct ca_subject *out /* OUT */,
    struct cs_err *err);

/* Write s back in the form ca_subject_parse() reads ('/' and '\' in values
 * escaped), NUL-terminated. 0, or CS_ERR_TOO_LARGE if cap is too small. */
int ca_subject_format(const struct ca_subject *s, char *buf, size_t cap);

/* Lower-case hex of n bytes into out (NUL-terminated, cut to fit cap). */
void ca_hex(char *out, size_t cap, const uint8_t *v, size_t n);

/* "CN", "O", ... for an attribute type; "?" if unknown. */
const char *ca_subject_attr_name(enum cert_rdn_type t);

/* What ca_key_generate() made. */
struct ca_keygen_result {
	struct hsm_key_info key;     /* type, labels, SPKI, display URI */
	uint8_t id[P11_URI_ID_MAX];  /* CKA_ID of both key objects */
	size_t id_len;
	uint8_t spki_sha256[32];     /* SHA-256 of key.spki */
};

/*
 * Generate the key pair cfg->uri names (object= is the label) inside the
 * token. When the URI has no id=, a random 8-byte CKA_ID is chosen here so
 * that it can be reported. Refuses with CS_ERR_CONFIG if the token already
 * holds the key (the message says how to look at it). The module's
 * environment (hsm.module_env) must be set by the caller.
 * 0 and *out, or CS_ERR_* with err set.
 */
int ca_key_generate(const struct hsm_config *cfg, enum hsm_key_type type,
    struct ca_keygen_result *out /* OUT */, struct cs_err *err);

/*
 * A PKCS#10 request for h's key: subject subj; extensions basicConstraints
 * (critical, CA:TRUE, pathLenConstraint pathlen), keyUsage (critical,
 * keyCertSign, cRLSign) and subjectKeyIdentifier (the SHA-1 the station
 * uses, cert_ski_from_spki()). Signed by the token with
 * ca_sig_alg_for(key type, rsa_pss) and verified with OpenSSL.
 * 0 and *pem (malloc'ed "CERTIFICATE REQUEST" PEM, the caller frees it), or
 * CS_ERR_* with err set (pathlen above CA_PATHLEN_MAX: CS_ERR_INVALID_ARG).
 */
int ca_csr_create(hsm *h, const struct ca_subject *subj, unsigned pathlen, int rsa_pss,
    char **pem /* OUT */, struct cs_err *err);

/* What ca_install_check() accepted, ready to be written. */
struct ca_install_plan {
	char *cert_pem;      /* the issuing CA certificate, PEM (malloc'ed) */
	char *chain_pem;     /* the verified path above it, issuer first, ending at the root */
	size_t chain_count;  /* certificates in chain_pem */
	size_t unused_count; /* certificates of the chain file that are not on the path */
	char subject[256];   /* one-line subject of the issuing CA certificate */
	char root_subject[256];
	int64_t not_before, not_after;
};

#define CA_CERT_FILE_MAX (64 * 1024)   /* --cert: one certificate, PEM or DER */
#define CA_CHAIN_FILE_MAX (256 * 1024) /* --chain: PEM, up to CA_CHAIN_MAX - 1 certificates */

/*
 * Check the certificate in cert_file (one certificate, PEM or DER) against
 * key and the certificates in chain_file (PEM or one DER certificate; NULL
 * is refused: the path must end at a root), at time now (Unix seconds).
 * Order of the checks: one certificate; its public key is key's; CA:TRUE;
 * keyUsage keyCertSign; notBefore <= now <= notAfter; chain_file holds a
 * self-signed certificate; X509_verify_cert with X509_V_FLAG_X509_STRICT.
 * 0 and *out (release with ca_install_plan_clear()), or CS_ERR_* with the
 * rule in err: CS_ERR_HSM_KEY_MISMATCH for another key, CS_ERR_INVALID_ARG
 * for a refused certificate or chain, CS_ERR_IO / CS_ERR_TOO_LARGE for files.
 */
int ca_install_check(const char *cert_file, const char *chain_file,
    const struct hsm_key_info *key, int64_t now, struct ca_install_plan *out /* OUT */,
    struct cs_err *err);

/* Free what a plan holds and zero it. NULL is fine. */
void ca_install_plan_clear(struct ca_install_plan *p);

#define CA_INSTALL_REPLACE 0x1u /* replace existing files, keeping them as FILE.previous */
#define CA_INSTALL_REPLACED_CERT 0x1   /* *replaced: ca.certificate had a predecessor */
#define CA_INSTALL_REPLACED_CHAIN 0x2  /* *replaced: ca.chain had a predecessor */

/*
 * Write the plan to cert_path and chain_path (the config's ca.certificate
 * and ca.chain): each goes to a temporary file in its target's directory
 * and is fsync'ed; ca_load() must accept the two temporary files with key
 * and rsa_pss (what the station does at start); then each is moved into
 * place and the directory fsync'ed. Without CA_INSTALL_REPLACE an existing
 * target is refused (CS_ERR_CONFIG, nothing written). With it, an existing
 * target is first copied to TARGET.previous (an older .previous is
 * replaced), and the new file takes the old one's mode and, where
 * permitted, its owner and group. *replaced (may be NULL) says what was
 * replaced: CA_INSTALL_REPLACED_CERT | CA_INSTALL_REPLACED_CHAIN bits.
 * 0, or CS_ERR_* with err set.
 */
int ca_install_write(const struct ca_install_plan *p, const char *cert_path,
    const char *chain_path, unsigned flags, const struct hsm_key_info *key, int rsa_pss,
    int *replaced /* OUT */, struct cs_err *err);

#endif
