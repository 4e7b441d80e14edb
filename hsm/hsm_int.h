/*
 * hsm_int.h: internals shared by the files of hsm/ (and its unit tests).
 * Nothing outside hsm/ and tests/unit/test_hsm*.c includes this header.
 */
#ifndef HSM_HSM_INT_H
#define HSM_HSM_INT_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "hsm/hsm.h"
#include "station/cs_error.h"

/* ---- module registry (hsm_module.c) ---- */

/* A loaded, initialised PKCS#11 module. One per path per process: the
 * registry hands the same one to every hsm_open()/hsm_token_init() and calls
 * C_Initialize on first use and C_Finalize after the last release. */
struct hsm_module {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	char path[512];
	unsigned refs;
	int initialized_here; /* 0 if someone else in the process initialised it */
	struct hsm_module *next;
};

int hsm_module_acquire(const char *path, struct hsm_module **out /* OUT */, struct cs_err *err);
void hsm_module_release(struct hsm_module *m);

/* C_Finalize + C_Initialize: the module forgets every session and login and
 * looks at its tokens afresh (SoftHSM2 never re-reads a token directory that
 * went away and came back; some USB-token modules need it after a re-plug).
 * Only for a module this process initialised and that has exactly one user;
 * the caller guarantees that no thread is inside the module. */
int hsm_module_restart(struct hsm_module *m, struct cs_err *err);

/* 1 if hsm_module_restart() would go ahead (this process initialised the
 * module and has one user of it), so a caller need not drain for nothing. */
int hsm_module_restartable(struct hsm_module *m);

/* "CKR_PIN_INCORRECT" etc.; "CKR_0x%lx" style for unknown codes (static buffer
 * is avoided: unknown codes come back as "CKR_VENDOR_OR_UNKNOWN"). */
const char *hsm_ckr_name(CK_RV rv);

/* ---- DER helpers (hsm_der.c) ---- */

/* Convert a raw r||s ECDSA signature (raw_len = 2 * field bytes) into a DER
 * ECDSA-Sig-Value: INTEGERs are minimal (leading zeros stripped) and get a
 * 0x00 prefix when the high bit is set. 0 or CS_ERR_INVALID_ARG /
 * CS_ERR_TOO_LARGE (*out_len is in: capacity, out: length). */
int hsm_ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len, uint8_t *out, size_t *out_len);

/* Build a DER SubjectPublicKeyInfo for an EC key from CKA_EC_PARAMS (a named
 * curve OID) and CKA_EC_POINT (raw or wrapped in a DER OCTET STRING, as
 * SoftHSM returns it). Sets *type to P-256/P-384; CS_ERR_HSM_UNSUPPORTED for
 * other curves. */
int hsm_spki_from_ec(const uint8_t *params, size_t params_len, const uint8_t *point,
    size_t point_len, uint8_t *out, size_t *out_len, enum hsm_key_type *type /* OUT */,
    struct cs_err *err);

/* Same for RSA from CKA_MODULUS and CKA_PUBLIC_EXPONENT; 2048/3072/4096 only. */
int hsm_spki_from_rsa(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len,
    uint8_t *out, size_t *out_len, enum hsm_key_type *type /* OUT */, unsigned *bits /* OUT */,
    struct cs_err *err);

/* DigestInfo prefix for PKCS#1 v1.5 (RFC 8017 section 9.2 note 1). */
const uint8_t *hsm_digest_info_prefix(size_t digest_len, size_t *prefix_len /* OUT */);

/* ---- software verifier (hsm_verify.c) ---- */

struct hsm_verifier;

/* Built once at open from the DER SPKI; immutable afterwards, so any number
 * of threads may verify with it at once. NULL with err set on failure. */
struct hsm_verifier *hsm_verifier_new(const uint8_t *spki, size_t spki_len, struct cs_err *err);
void hsm_verifier_free(struct hsm_verifier *v);

/* 0 if sig (DER ECDSA-Sig-Value or raw RSA signature) is valid for digest
 * under alg, CS_ERR_HSM_BAD_SIGNATURE otherwise. */
int hsm_verifier_check(const struct hsm_verifier *v, enum hsm_sig_alg alg,
    const uint8_t *digest, size_t digest_len, const uint8_t *sig, size_t sig_len);

#endif
