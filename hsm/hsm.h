/*
 * hsm.h: the issuing-CA key in a PKCS#11 token.
 *
 * Contract: hsm_open() loads any PKCS#11 module by path (dlopen +
 * C_GetFunctionList), finds the token and key named by an RFC 7512 URI, logs
 * in with a PIN taken from the URI's pin-source=file:PATH or from an
 * environment variable (never from pin-value, never logged, wiped with
 * explicit_bzero after C_Login), refuses a private key that is extractable
 * or not sensitive, and keeps a pool of `sessions` sessions.
 *
 * Threads: hsm_sign_digest(), hsm_sign_raw() and hsm_status_get() may be
 * called from any number of threads at once; every other function from one
 * thread with no signer running.
 *
 * Recovery: CKR_USER_NOT_LOGGED_IN -> log in again once and retry;
 * CKR_SESSION_HANDLE_INVALID / CKR_SESSION_CLOSED / CKR_DEVICE_REMOVED /
 * CKR_TOKEN_NOT_PRESENT / CKR_DEVICE_ERROR / CKR_OBJECT_HANDLE_INVALID /
 * CKR_KEY_HANDLE_INVALID -> state DEGRADED, reopen the session (and re-find
 * the key) with exponential backoff, bounded to about 300 ms per call; state
 * DOWN with a reason if that keeps failing (calls made while DOWN try once,
 * without sleeping); back to OK after the next good signature. While DOWN
 * and no session can be opened, a call restarts the module (C_Finalize +
 * C_Initialize, at most once a second, after every other signer has handed
 * its session back), since some modules never look at a token again
 * otherwise. A wrong or locked PIN is never retried automatically.
 *
 * Every signature hsm_sign_digest() returns has been verified with the key's
 * public key (read from the token at open) before it is handed out.
 */
#ifndef HSM_HSM_H
#define HSM_HSM_H

#include <stddef.h>
#include <stdint.h>

#include "station/cs_error.h"

typedef struct hsm hsm;

enum hsm_key_type {
	HSM_KEY_NONE = 0,
	HSM_KEY_EC_P256,
	HSM_KEY_EC_P384,
	HSM_KEY_RSA_2048,
	HSM_KEY_RSA_3072,
	HSM_KEY_RSA_4096,
};

/* Signature algorithms as they appear in X.509 (the digest is the caller's). */
enum hsm_sig_alg {
	HSM_SIG_ECDSA_SHA256 = 1,
	HSM_SIG_ECDSA_SHA384,
	HSM_SIG_RSA_PKCS1_SHA256,
	HSM_SIG_RSA_PKCS1_SHA384,
	HSM_SIG_RSA_PSS_SHA256, /* salt length = digest length, MGF1 with same hash */
	HSM_SIG_RSA_PSS_SHA384,
};

enum hsm_state {
	HSM_STATE_OK = 0,
	HSM_STATE_DEGRADED, /* a session was lost and is being reopened */
	HSM_STATE_DOWN,     /* cannot sign; reason says why */
};

#define HSM_OPEN_KEY_OPTIONAL 0x1u /* open even if the key does not exist yet (init) */

struct hsm_config {
	const char *module_path; /* NULL: the build's default (SoftHSM2) */
	const char *uri;         /* pkcs11:token=...;object=...|id=...[?pin-source=file:/path] */
	const char *pin_env;     /* env var holding the PIN if the URI has no pin-source;
	                          * NULL: "CERTSTATION_HSM_PIN" */
	unsigned sessions;       /* pool size; 0: 4 */
	unsigned flags;          /* HSM_OPEN_* */
};

/* Maximum sizes of the outputs below. */
#define HSM_SPKI_MAX 1024 /* DER SubjectPublicKeyInfo, RSA-4096 fits */
#define HSM_SIG_MAX 640   /* DER ECDSA-Sig-Value or raw RSA signature */

struct hsm_key_info {
	enum hsm_key_type type;
	unsigned bits;
	int sensitive;   /* CKA_SENSITIVE */
	int extractable; /* CKA_EXTRACTABLE */
	uint8_t spki[HSM_SPKI_MAX]; /* public key, DER SubjectPublicKeyInfo */
	size_t spki_len;
	char token_label[33];
	char key_label[65];
	char uri[512];   /* the URI without any pin attribute, for display */
};

/* Bounds of the sign latency histogram, seconds: SoftHSM2 signs P-256 in
 * about 50 us and RSA-2048 in about 550 us; network HSMs take milliseconds
 * to hundreds of them. */
#define HSM_LATENCY_BUCKETS 12
#define HSM_LATENCY_BOUNDS_S \
	{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0}

struct hsm_status {
	enum hsm_state state;
	char reason[256];          /* empty when OK */
	uint64_t signatures;       /* successful signatures since open */
	uint64_t failures;         /* failed sign attempts since open */
	uint64_t last_sign_us;     /* latency of the last successful C_Sign */
	uint64_t reopens;          /* sessions reopened after an error since open */
	uint64_t restarts;         /* module restarts (C_Finalize + C_Initialize) */
	unsigned sessions_total;
	unsigned sessions_busy;
	/* C_Sign latency of every signature counted in `signatures`, as a
	 * Prometheus-style cumulative histogram: latency_le[i] = signatures
	 * whose C_Sign took <= latency_bound_s[i]; +Inf = latency_count.
	 * Recorded lock-free; a snapshot taken while others sign may lag a few
	 * signatures behind `signatures`, but is always monotonic with
	 * latency_le[HSM_LATENCY_BUCKETS - 1] <= latency_count. */
	double latency_bound_s[HSM_LATENCY_BUCKETS];
	uint64_t latency_le[HSM_LATENCY_BUCKETS];
	uint64_t latency_count;
	double latency_sum_s;
};

/* Open module, token, key and session pool. NULL on failure with err set
 * (CS_ERR_HSM_MODULE, _TOKEN_NOT_FOUND, _PIN_INCORRECT, _PIN_LOCKED,
 * _PIN_SOURCE, _KEY_NOT_FOUND, _KEY_EXTRACTABLE, _UNSUPPORTED). */
hsm *hsm_open(const struct hsm_config *cfg, struct cs_err *err);

/* Log out, close sessions, finalize and unload the module. NULL is fine. */
void hsm_close(hsm *h);

/* Key facts read at open (or after hsm_key_generate). CS_ERR_HSM_KEY_NOT_FOUND
 * if no key. */
int hsm_key_info_get(hsm *h, struct hsm_key_info *out /* OUT */);

/* Sign a digest that the caller computed over the to-be-signed bytes
 * (SHA-256 or SHA-384 as alg says) and verify the result with the public
 * key. sig receives the value ready for an X.509 signature BIT STRING: a DER
 * ECDSA-Sig-Value for ECDSA (the token's raw r||s converted), the raw
 * signature for RSA. *sig_len is in: capacity, out: length.
 * Errors: CS_ERR_HSM_SIGN, _DOWN, _BAD_SIGNATURE, _UNSUPPORTED. */
int hsm_sign_digest(hsm *h, enum hsm_sig_alg alg, const uint8_t *digest, size_t digest_len,
    uint8_t *sig, size_t *sig_len, struct cs_err *err);

/* The bare C_SignInit + C_Sign of hsm_sign_digest(), no conversion and no
 * verification: for the benchmark's "raw HSM rate" only. */
int hsm_sign_raw(hsm *h, enum hsm_sig_alg alg, const uint8_t *digest, size_t digest_len,
    uint8_t *sig, size_t *sig_len);

/* Verify sig (as hsm_sign_digest returns it) over digest with the key's
 * public key, in software. 0 if valid, CS_ERR_HSM_BAD_SIGNATURE if not. */
int hsm_verify_digest(hsm *h, enum hsm_sig_alg alg, const uint8_t *digest, size_t digest_len,
    const uint8_t *sig, size_t sig_len);

/* Snapshot of the current state; cheap, lock-light. */
void hsm_status_get(hsm *h, struct hsm_status *out /* OUT */);

/* Generate the key pair named by the URI (object= label, id= if given,
 * else a random 8-byte CKA_ID) inside the token: CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE=TRUE, CKA_EXTRACTABLE=FALSE, CKA_SIGN. Refuses if a key with
 * that label exists. After success the key is the one hsm_sign_digest uses. */
int hsm_key_generate(hsm *h, enum hsm_key_type type, struct cs_err *err);

/* Initialise a token with the given label in the first free slot (C_InitToken
 * + C_InitPIN), for the demo and tests. Returns 1 if a token with that label
 * already existed (nothing done), 0 if created, negative on error. */
int hsm_token_init(const char *module_path, const char *label, const char *so_pin,
    const char *user_pin, struct cs_err *err);

/* Names for display and config: "P-256", "P-384", "RSA-2048", ... and back. */
const char *hsm_key_type_name(enum hsm_key_type t);
enum hsm_key_type hsm_key_type_from_name(const char *name); /* HSM_KEY_NONE if unknown */
const char *hsm_state_name(enum hsm_state s); /* "ok", "degraded", "down" */

#endif
