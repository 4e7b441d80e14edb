/*
 * hsm.c: the issuing-CA key in a PKCS#11 token (contract in hsm.h).
 *
 * DESIGN: hsm_open() does every lookup once: module, slot, key handle,
 * public key, verifier. The signing hot path is then: pop a session from a
 * LIFO pool (one mutex), C_SignInit + C_Sign, push it back (same mutex),
 * convert r||s to DER on the stack, verify with the prebuilt key. No
 * allocation other than the verifier's ECDSA_SIG, no C_FindObjects.
 *
 * Recovery happens inside the failing call, bounded by HSM_RECOVERY_BUDGET_MS
 * from the call's start: the broken session is closed and reopened (logging
 * in again if the token forgot us, re-finding the key) with exponential
 * backoff; if the budget runs out the state becomes DOWN with the reason, the
 * call fails, and the next call tries once more without sleeping, so a
 * signer thread never hangs on a missing token. A PIN the token refuses is
 * never presented again automatically (that is how tokens get locked).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "hsm/hsm_int.h"
#include "hsm/p11_uri.h"

#ifndef CERTSTATION_DEFAULT_MODULE
#define CERTSTATION_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define HSM_PIN_ENV_DEFAULT "CERTSTATION_HSM_PIN"
#define HSM_SESSIONS_DEFAULT 4u
#define HSM_SESSIONS_MAX 64u
#define HSM_PIN_MAX 256
#define HSM_RECOVERY_BUDGET_MS 300
#define HSM_BACKOFF_FIRST_MS 5
/* While DOWN and a fresh session cannot be had, restart the module at most
 * this often (it closes every session, so not on every failed call). */
#define HSM_RESTART_INTERVAL_MS 1000
/* How long a restart waits for the other signers to hand their sessions
 * back before it gives up (one of them is stuck inside the module). */
#define HSM_DRAIN_MAX_MS 2000
#define HSM_SLOTS_MAX 256

struct hsm {
	struct hsm_module *mod;
	CK_FUNCTION_LIST_PTR f;
	struct p11_uri uri;
	char pin_env[128];
	unsigned flags;
	CK_SLOT_ID slot; /* written only under rec_mu (or before signers start) */

	/* the key; fixed after open/keygen except key_handle (recovery) */
	int have_key;
	struct hsm_key_info info;
	uint8_t key_id[P11_URI_ID_MAX];
	size_t key_id_len;
	_Atomic unsigned long key_handle;
	struct hsm_verifier *verifier;
	size_t sig_raw_len; /* EC: 2 * field size; RSA: modulus bytes */

	/* session pool: free_idx is a LIFO stack of indices into sessions */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	CK_SESSION_HANDLE *sessions; /* CK_INVALID_HANDLE = needs reopening */
	unsigned *free_idx;
	unsigned n_sessions, n_free, waiters;
	/* a module restart is waiting for every session to come back: takers
	 * wait on pool_cv, the restarting thread on drain_cv */
	int draining;
	pthread_cond_t drain_cv;
	_Atomic uint64_t restart_last_us;

	/* login and key re-finding during recovery */
	pthread_mutex_t rec_mu;
	int pin_refused; /* sticky: the token refused the PIN on a re-login */

	/* status */
	_Atomic int state;
	_Atomic uint64_t signatures, failures, last_sign_us, reopens, restarts;
	/* C_Sign latency per bucket (not cumulative; the last is +Inf) and
	 * the sum: plain atomic counters, so signers never wait on a reader */
	_Atomic uint64_t latency_bucket[HSM_LATENCY_BUCKETS + 1], latency_sum_us;
	pthread_mutex_t status_mu;
	char reason[256];
	char restart_failure[CS_ERR_MSG_MAX]; /* why the last module restart failed, or "" */
};

/* ---- small helpers ---- */

/* HSM_LATENCY_BOUNDS_S in microseconds, the unit hsm_now_us() measures in. */
static const uint64_t hsm_latency_bound_us[HSM_LATENCY_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};

/* How the shared signing body counts a call. */
#define HSM_SIGN_VERIFY 0x1u    /* verify with the public key (hsm_sign_digest) */
#define HSM_SIGN_UNCOUNTED 0x2u /* the key-pair probe: not in signatures or latency */

static uint64_t
hsm_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
hsm_sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Copy a blank-padded PKCS#11 string field into a C string. */
static void
hsm_field_copy(char *dst, size_t cap, const unsigned char *src, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, src, n);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	dst[n] = '\0';
}

static void
hsm_hex(char *dst, size_t cap, const uint8_t *v, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n && o + 3 <= cap; i++) {
		dst[o++] = hex[v[i] >> 4];
		dst[o++] = hex[v[i] & 15];
	}
	dst[o < cap ? o : cap - 1] = '\0';
}

static void
hsm_state_set(hsm *h, enum hsm_state s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
hsm_state_set(hsm *h, enum hsm_state s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&h->status_mu);
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
		va_end(ap);
	} else {
		h->reason[0] = '\0';
	}
	atomic_store_explicit(&h->state, (int)s, memory_order_release);
	pthread_mutex_unlock(&h->status_mu);
}

static int
hsm_rv_is_recoverable(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_DEVICE_ERROR:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
	/* A sign operation left active by an interrupted C_Sign: only closing
	 * the session clears it in PKCS#11 2.40. */
	case CKR_OPERATION_ACTIVE:
		return 1;
	default:
		return 0;
	}
}

/* ---- PIN ---- */

static void
hsm_pin_source_describe(const hsm *h, char *buf, size_t cap)
{
	if (h->uri.has_pin_source)
		snprintf(buf, cap, "PIN file %s", h->uri.pin_source);
	else
		snprintf(buf, cap, "environment variable %s", h->pin_env);
}

/* Read the PIN into pin (capacity HSM_PIN_MAX + 1). The caller wipes it. */
static int
hsm_pin_read(const hsm *h, char *pin, size_t *pin_len, struct cs_err *err)
{
	struct stat st;
	ssize_t n;
	size_t len;
	int fd = -1;
	int rc = CS_OK;

	*pin_len = 0;
	if (!h->uri.has_pin_source) {
		const char *v = getenv(h->pin_env);

		if (v == NULL || v[0] == '\0')
			return cs_err_set(err, CS_ERR_HSM_PIN_SOURCE,
			    "no PIN: the PKCS#11 URI has no pin-source and environment variable "
			    "%s is %s",
			    h->pin_env, v == NULL ? "not set" : "empty");
		len = strlen(v);
		if (len > HSM_PIN_MAX)
			return cs_err_set(err, CS_ERR_HSM_PIN_SOURCE,
			    "PIN in environment variable %s is longer than %d bytes", h->pin_env,
			    HSM_PIN_MAX);
		memcpy(pin, v, len);
		pin[len] = '\0';
		*pin_len = len;
		return CS_OK;
	}
	fd = open(h->uri.pin_source, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = cs_err_set(err, CS_ERR_HSM_PIN_SOURCE, "cannot open PIN file %s: %s",
		    h->uri.pin_source, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = cs_err_set(err, CS_ERR_HSM_PIN_SOURCE, "PIN file %s is not a regular file",
		    h->uri.pin_source);
		goto out;
	}
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		rc = cs_err_set(err, CS_ERR_HSM_PIN_SOURCE,
		    "PIN file %s is accessible to other users (mode %04o); chmod 600 it",
		    h->uri.pin_source, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > HSM_PIN_MAX + 2) {
		rc = cs_err_set(err, CS_ERR_HSM_PIN_SOURCE,
		    "PIN file %s is %lld bytes; a PIN is at most %d", h->uri.pin_source,
		    (long long)st.st_size, HSM_PIN_MAX);
		goto out;
	}
	len = 0;
	for (;;) {
		n = read(fd, pin + len, HSM_PIN_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cs_err_set(err, CS_ERR_HSM_PIN_SOURCE, "cannot read PIN file %s: %s",
			    h->uri.pin_source, strerror(errno));
			goto out;
		}
		if (n == 0 || len + (size_t)n > HSM_PIN_MAX)
			break;
		len += (size_t)n;
	}
	/* One trailing newline is how editors and `echo` write files. */
	if (len > 0 && pin[len - 1] == '\n')
		len--;
	if (len > 0 && pin[len - 1] == '\r')
		len--;
	if (len == 0) {
		rc = cs_err_set(err, CS_ERR_HSM_PIN_SOURCE, "PIN file %s is empty",
		    h->uri.pin_source);
		goto out;
	}
	pin[len] = '\0';
	*pin_len = len;
out:
	if (fd >= 0)
		close(fd);
	if (rc != CS_OK)
		explicit_bzero(pin, HSM_PIN_MAX + 1);
	return rc;
}

/* C_Login as the user with a freshly read PIN, wiped right after. */
static int
hsm_login(hsm *h, CK_SESSION_HANDLE s, struct cs_err *err)
{
	char pin[HSM_PIN_MAX + 1];
	char src[600];
	size_t len = 0;
	CK_RV rv;
	int rc;

	rc = hsm_pin_read(h, pin, &len, err);
	if (rc != CS_OK)
		return rc;
	rv = h->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)len);
	explicit_bzero(pin, sizeof(pin));
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return CS_OK;
	hsm_pin_source_describe(h, src, sizeof(src));
	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		return cs_err_set(err, CS_ERR_HSM_PIN_INCORRECT,
		    "token '%s' refused the PIN from %s (%s); not retried, since repeated wrong "
		    "PINs lock the token",
		    h->info.token_label, src, hsm_ckr_name(rv));
	case CKR_PIN_LOCKED:
		return cs_err_set(err, CS_ERR_HSM_PIN_LOCKED,
		    "token '%s' user PIN is locked (CKR_PIN_LOCKED); the security officer must "
		    "reset it",
		    h->info.token_label);
	case CKR_USER_PIN_NOT_INITIALIZED:
		return cs_err_set(err, CS_ERR_HSM_PIN_INCORRECT,
		    "token '%s' has no user PIN set (CKR_USER_PIN_NOT_INITIALIZED)",
		    h->info.token_label);
	default:
		return cs_err_set(err, CS_ERR_HSM_MODULE, "token '%s': C_Login failed: %s",
		    h->info.token_label, hsm_ckr_name(rv));
	}
}

/* ---- token and key lookup ---- */

static int
hsm_token_matches(const struct p11_uri *u, CK_SLOT_ID slot, const CK_TOKEN_INFO *ti)
{
	char buf[33];

	if ((ti->flags & CKF_TOKEN_INITIALIZED) == 0)
		return 0;
	if (u->has_slot_id && u->slot_num != slot)
		return 0;
	hsm_field_copy(buf, sizeof(buf), ti->label, sizeof(ti->label));
	if (u->has_token && strcmp(buf, u->token) != 0)
		return 0;
	hsm_field_copy(buf, sizeof(buf), ti->manufacturerID, sizeof(ti->manufacturerID));
	if (u->has_manufacturer && strcmp(buf, u->manufacturer) != 0)
		return 0;
	hsm_field_copy(buf, sizeof(buf), ti->serialNumber, sizeof(ti->serialNumber));
	if (u->has_serial && strcmp(buf, u->serial) != 0)
		return 0;
	hsm_field_copy(buf, sizeof(buf), ti->model, sizeof(ti->model));
	if (u->has_model && strcmp(buf, u->model) != 0)
		return 0;
	return 1;
}

/* Find the one initialised token the URI names; fills *slot and ti. */
static int
hsm_token_find(CK_FUNCTION_LIST_PTR f, const struct p11_uri *u, CK_SLOT_ID *slot,
    CK_TOKEN_INFO *ti_out, struct cs_err *err)
{
	CK_SLOT_ID list[HSM_SLOTS_MAX];
	CK_ULONG n = HSM_SLOTS_MAX, i;
	CK_TOKEN_INFO ti;
	char seen[200] = "";
	size_t seen_len = 0;
	unsigned matches = 0;
	CK_RV rv;

	rv = f->C_GetSlotList(CK_TRUE, list, &n);
	if (rv != CKR_OK)
		return cs_err_set(err, CS_ERR_HSM_TOKEN_NOT_FOUND, "C_GetSlotList failed: %s",
		    hsm_ckr_name(rv));
	for (i = 0; i < n; i++) {
		char label[33];

		if (f->C_GetTokenInfo(list[i], &ti) != CKR_OK)
			continue;
		if ((ti.flags & CKF_TOKEN_INITIALIZED) != 0 && seen_len + 40 < sizeof(seen)) {
			hsm_field_copy(label, sizeof(label), ti.label, sizeof(ti.label));
			seen_len += (size_t)snprintf(seen + seen_len, sizeof(seen) - seen_len,
			    "%s'%s'", seen_len > 0 ? ", " : "", label);
		}
		if (!hsm_token_matches(u, list[i], &ti))
			continue;
		if (matches++ == 0) {
			*slot = list[i];
			*ti_out = ti;
		}
	}
	if (matches == 0)
		return cs_err_set(err, CS_ERR_HSM_TOKEN_NOT_FOUND,
		    "no initialised token matches token='%s'%s%s (tokens present: %s)",
		    u->has_token ? u->token : "*", u->has_serial ? " serial=" : "",
		    u->has_serial ? u->serial : "", seen_len > 0 ? seen : "none");
	if (matches > 1)
		return cs_err_set(err, CS_ERR_CONFIG,
		    "%u tokens match the PKCS#11 URI (tokens present: %s); add token=, serial= "
		    "or slot-id= to pick one",
		    matches, seen);
	return CS_OK;
}

/* Up to 2 objects of class cls with the given label and/or id. */
static CK_RV
hsm_objects_find(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
    const char *label, const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE *out,
    CK_ULONG *found)
{
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG n = 0;
	CK_OBJECT_HANDLE objs[2];
	CK_RV rv, rv2;

	tmpl[n].type = CKA_CLASS;
	tmpl[n].pValue = &cls;
	tmpl[n++].ulValueLen = sizeof(cls);
	if (label != NULL) {
		tmpl[n].type = CKA_LABEL;
		tmpl[n].pValue = (void *)(uintptr_t)label;
		tmpl[n++].ulValueLen = strlen(label);
	}
	if (id != NULL && id_len > 0) {
		tmpl[n].type = CKA_ID;
		tmpl[n].pValue = (void *)(uintptr_t)id;
		tmpl[n++].ulValueLen = id_len;
	}
	*found = 0;
	rv = f->C_FindObjectsInit(s, tmpl, n);
	if (rv != CKR_OK)
		return rv;
	rv = f->C_FindObjects(s, objs, 2, found);
	rv2 = f->C_FindObjectsFinal(s);
	if (rv == CKR_OK)
		rv = rv2;
	if (rv == CKR_OK && *found > 0)
		*out = objs[0];
	return rv;
}

static const char *
hsm_key_desc(const hsm *h, char *buf, size_t cap)
{
	char id[2 * P11_URI_ID_MAX + 1];

	hsm_hex(id, sizeof(id), h->uri.id, h->uri.id_len);
	snprintf(buf, cap, "%s%s%s%s%s", h->uri.has_object ? "object='" : "",
	    h->uri.has_object ? h->uri.object : "", h->uri.has_object ? "'" : "",
	    h->uri.has_id ? " id=" : "", h->uri.has_id ? id : "");
	return buf;
}

/* Read an attribute of at most cap bytes (two-call form). */
static CK_RV
hsm_attr_read(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE t, uint8_t *buf, size_t cap, size_t *len)
{
	CK_ATTRIBUTE a = {t, NULL, 0};
	CK_RV rv;

	rv = f->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen > cap)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	a.pValue = buf;
	rv = f->C_GetAttributeValue(s, o, &a, 1);
	if (rv == CKR_OK)
		*len = a.ulValueLen;
	return rv;
}

/* Sign a fixed digest with the key found and verify it with the public key
 * read next to it: proves the two objects are one key pair before any
 * certificate depends on it. */
static int hsm_sign_internal(hsm *h, enum hsm_sig_alg alg, const uint8_t *digest,
    size_t digest_len, uint8_t *sig, size_t *sig_len, unsigned how, struct cs_err *err);

/* Find the private key the URI names, check its attributes, read the public
 * key next to it and build the verifier. s is a logged-in session. */
static int
hsm_key_load(hsm *h, CK_SESSION_HANDLE s, struct cs_err *err)
{
	CK_FUNCTION_LIST_PTR f = h->f;
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
	CK_ULONG found = 0;
	CK_KEY_TYPE kt = 0;
	CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
	CK_ATTRIBUTE attrs[3];
	uint8_t a1[600], a2[600];
	size_t l1 = 0, l2 = 0;
	char desc[320], idhex[2 * P11_URI_ID_MAX + 1];
	struct hsm_verifier *v = NULL;
	struct hsm_key_info ki;
	CK_RV rv;
	int rc;

	memset(&ki, 0, sizeof(ki));
	hsm_key_desc(h, desc, sizeof(desc));
	rv = hsm_objects_find(f, s, CKO_PRIVATE_KEY, h->uri.has_object ? h->uri.object : NULL,
	    h->uri.has_id ? h->uri.id : NULL, h->uri.id_len, &priv, &found);
	if (rv != CKR_OK)
		return cs_err_set(err, CS_ERR_HSM_KEY_NOT_FOUND,
		    "searching token '%s' for private key %s failed: %s", h->info.token_label, desc,
		    hsm_ckr_name(rv));
	if (found == 0)
		return cs_err_set(err, CS_ERR_HSM_KEY_NOT_FOUND,
		    "token '%s' has no private key %s", h->info.token_label, desc);
	if (found > 1)
		return cs_err_set(err, CS_ERR_CONFIG,
		    "token '%s' has more than one private key %s; add id= to the URI",
		    h->info.token_label, desc);

	attrs[0] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &kt, sizeof(kt)};
	attrs[1] = (CK_ATTRIBUTE){CKA_SENSITIVE, &sensitive, sizeof(sensitive)};
	attrs[2] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &extractable, sizeof(extractable)};
	rv = f->C_GetAttributeValue(s, priv, attrs, 3);
	if (rv != CKR_OK)
		return cs_err_set(err, CS_ERR_HSM_KEY_NOT_FOUND,
		    "cannot read private key %s attributes: %s", desc, hsm_ckr_name(rv));
	ki.sensitive = sensitive == CK_TRUE;
	ki.extractable = extractable == CK_TRUE;
	if (!ki.sensitive || ki.extractable)
		return cs_err_set(err, CS_ERR_HSM_KEY_EXTRACTABLE,
		    "private key %s on token '%s' has CKA_SENSITIVE=%s and CKA_EXTRACTABLE=%s; "
		    "the CA key must be sensitive and not extractable",
		    desc, h->info.token_label, ki.sensitive ? "TRUE" : "FALSE",
		    ki.extractable ? "TRUE" : "FALSE");

	rv = hsm_attr_read(f, s, priv, CKA_ID, h->key_id, sizeof(h->key_id), &h->key_id_len);
	if (rv != CKR_OK)
		h->key_id_len = 0;
	rv = hsm_attr_read(f, s, priv, CKA_LABEL, a1, sizeof(ki.key_label) - 1, &l1);
	if (rv == CKR_OK) {
		memcpy(ki.key_label, a1, l1);
		ki.key_label[l1] = '\0';
	}
	hsm_hex(idhex, sizeof(idhex), h->key_id, h->key_id_len);

	/* The public half lives in its own object with the same CKA_ID. */
	if (h->key_id_len > 0)
		rv = hsm_objects_find(f, s, CKO_PUBLIC_KEY, NULL, h->key_id, h->key_id_len, &pub,
		    &found);
	else
		rv = hsm_objects_find(f, s, CKO_PUBLIC_KEY, ki.key_label, NULL, 0, &pub, &found);
	if (rv != CKR_OK || found == 0)
		return cs_err_set(err, CS_ERR_HSM_KEY_NOT_FOUND,
		    "token '%s' has no public-key object with CKA_ID %s next to private key %s; "
		    "it is needed to verify every signature",
		    h->info.token_label, h->key_id_len > 0 ? idhex : "(empty)", desc);

	if (kt == CKK_EC) {
		rv = hsm_attr_read(f, s, pub, CKA_EC_PARAMS, a1, sizeof(a1), &l1);
		if (rv == CKR_OK)
			rv = hsm_attr_read(f, s, pub, CKA_EC_POINT, a2, sizeof(a2), &l2);
		if (rv != CKR_OK)
			return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
			    "cannot read EC public key %s: %s", idhex, hsm_ckr_name(rv));
		ki.spki_len = sizeof(ki.spki);
		rc = hsm_spki_from_ec(a1, l1, a2, l2, ki.spki, &ki.spki_len, &ki.type, err);
		if (rc != CS_OK)
			return rc;
		ki.bits = ki.type == HSM_KEY_EC_P256 ? 256 : 384;
		h->sig_raw_len = ki.type == HSM_KEY_EC_P256 ? 64 : 96;
	} else if (kt == CKK_RSA) {
		rv = hsm_attr_read(f, s, pub, CKA_MODULUS, a1, sizeof(a1), &l1);
		if (rv == CKR_OK)
			rv = hsm_attr_read(f, s, pub, CKA_PUBLIC_EXPONENT, a2, sizeof(a2), &l2);
		if (rv != CKR_OK)
			return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
			    "cannot read RSA public key %s: %s", idhex, hsm_ckr_name(rv));
		ki.spki_len = sizeof(ki.spki);
		rc = hsm_spki_from_rsa(a1, l1, a2, l2, ki.spki, &ki.spki_len, &ki.type, &ki.bits,
		    err);
		if (rc != CS_OK)
			return rc;
		h->sig_raw_len = ki.bits / 8;
	} else {
		return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
		    "private key %s has CKA_KEY_TYPE 0x%lx; supported are EC and RSA", desc,
		    (unsigned long)kt);
	}
	v = hsm_verifier_new(ki.spki, ki.spki_len, err);
	if (v == NULL)
		return err != NULL ? err->code : CS_ERR_HSM_UNSUPPORTED;

	memcpy(ki.token_label, h->info.token_label, sizeof(ki.token_label));
	memcpy(ki.uri, h->info.uri, sizeof(ki.uri));
	hsm_verifier_free(h->verifier);
	h->verifier = v;
	h->info = ki;
	atomic_store(&h->key_handle, priv);
	h->have_key = 1;

	{
		static const uint8_t probe[48] = {0x63, 0x65, 0x72, 0x74, 0x73, 0x74, 0x61, 0x74,
		    0x69, 0x6f, 0x6e, 0x20, 0x6b, 0x65, 0x79, 0x20, 0x70, 0x72, 0x6f, 0x62, 0x65};
		uint8_t sig[HSM_SIG_MAX];
		size_t sig_len = sizeof(sig);
		enum hsm_sig_alg alg = kt == CKK_EC ? HSM_SIG_ECDSA_SHA256 : HSM_SIG_RSA_PKCS1_SHA256;

		/* The probe is not a certificate signature: it is not counted. */
		rc = hsm_sign_internal(h, alg, probe, 32, sig, &sig_len,
		    HSM_SIGN_VERIFY | HSM_SIGN_UNCOUNTED, err);
		if (rc == CS_ERR_HSM_BAD_SIGNATURE)
			rc = cs_err_set(err, CS_ERR_HSM_KEY_MISMATCH,
			    "public-key object with CKA_ID %s does not match private key %s: a test "
			    "signature did not verify",
			    idhex, desc);
		if (rc != CS_OK) {
			h->have_key = 0;
			return rc;
		}
	}
	return CS_OK;
}

/* ---- sessions and recovery ---- */

/* Open a fresh session into *sp (which holds CK_INVALID_HANDLE), logging in
 * again and re-finding the key if the token forgot us. Serialised by rec_mu
 * so that concurrent recoveries do not present the PIN twice at once. */
static int
hsm_session_reopen(hsm *h, CK_SESSION_HANDLE *sp, CK_RV *rv_out, const char **what,
    struct cs_err *err)
{
	CK_FUNCTION_LIST_PTR f = h->f;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	CK_ULONG found = 0;
	CK_RV rv;
	int rc = CS_ERR_HSM_DOWN;

	pthread_mutex_lock(&h->rec_mu);
	*what = "C_OpenSession";
	rv = f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv == CKR_SLOT_ID_INVALID || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED) {
		CK_SLOT_ID slot;

		/* A re-inserted token may come back in another slot. */
		if (hsm_token_find(f, &h->uri, &slot, &ti, NULL) == CS_OK) {
			h->slot = slot;
			rv = f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
		}
	}
	if (rv != CKR_OK)
		goto out;
	*what = "C_GetSessionInfo";
	rv = f->C_GetSessionInfo(s, &si);
	if (rv != CKR_OK)
		goto out;
	if (si.state == CKS_RO_PUBLIC_SESSION || si.state == CKS_RW_PUBLIC_SESSION) {
		*what = "C_Login";
		if (h->pin_refused) {
			rc = cs_err_set(err, CS_ERR_HSM_PIN_INCORRECT,
			    "token '%s' needs a login but refused the PIN earlier; reopen the HSM "
			    "after fixing the PIN",
			    h->info.token_label);
			goto out;
		}
		rc = hsm_login(h, s, err);
		if (rc == CS_ERR_HSM_PIN_INCORRECT || rc == CS_ERR_HSM_PIN_LOCKED)
			h->pin_refused = 1;
		if (rc != CS_OK)
			goto out;
		rc = CS_ERR_HSM_DOWN;
	}
	*what = "C_FindObjects";
	rv = hsm_objects_find(f, s, CKO_PRIVATE_KEY, h->info.key_label[0] ? h->info.key_label : NULL,
	    h->key_id, h->key_id_len, &key, &found);
	if (rv == CKR_OK && found != 1)
		rv = CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK)
		goto out;
	atomic_store(&h->key_handle, key);
	*sp = s;
	s = CK_INVALID_HANDLE;
	rc = CS_OK;
out:
	if (s != CK_INVALID_HANDLE)
		f->C_CloseSession(s);
	pthread_mutex_unlock(&h->rec_mu);
	*rv_out = rv;
	return rc;
}

static unsigned
hsm_pool_take(hsm *h)
{
	unsigned idx;

	pthread_mutex_lock(&h->pool_mu);
	while (h->n_free == 0 || h->draining) {
		h->waiters++;
		pthread_cond_wait(&h->pool_cv, &h->pool_mu);
		h->waiters--;
	}
	idx = h->free_idx[--h->n_free];
	pthread_mutex_unlock(&h->pool_mu);
	return idx;
}

static void
hsm_pool_give(hsm *h, unsigned idx)
{
	pthread_mutex_lock(&h->pool_mu);
	h->free_idx[h->n_free++] = idx;
	if (h->draining)
		pthread_cond_signal(&h->drain_cv);
	else if (h->waiters > 0)
		pthread_cond_signal(&h->pool_cv);
	pthread_mutex_unlock(&h->pool_mu);
}

/* Restart the module (hsm_module_restart) for a token it has given up on.
 * The caller holds one pooled session; this waits until every other
 * session is back in the pool, with new takers held off, so that no thread
 * is inside the module while it is finalised. The wait is bounded: a
 * signer stuck inside a dead module must not hold every other one off (they
 * fail fast as DOWN instead, and the service watchdog deals with the stuck
 * one). Only one restart runs at a time; a second caller gets 1 at once
 * (err untouched) and hands its session back, which is what lets the first
 * one finish draining. Else 0 or CS_ERR_* with err set. pool_mu is not held across the restart
 * itself, so status readers never wait for C_Initialize. */
static int
hsm_module_restart_drained(hsm *h, struct cs_err *err)
{
	struct cs_err local;
	struct timespec until;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO ti;
	unsigned i;
	int rc = 0;

	if (err == NULL)
		err = &local; /* the reason is kept for the DOWN state either way */
	/* the rate limit starts now, whatever the outcome, so that callers
	 * arriving meanwhile do not queue up behind this restart */
	atomic_store(&h->restart_last_us, hsm_now_us());
	if (!hsm_module_restartable(h->mod)) {
		rc = cs_err_set(err, CS_ERR_HSM_DOWN,
		    "%s is shared with another user in this process; not restarting it",
		    h->info.token_label);
		goto record;
	}
	pthread_mutex_lock(&h->pool_mu);
	if (h->draining) {
		pthread_mutex_unlock(&h->pool_mu);
		return 1;
	}
	h->draining = 1;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HSM_DRAIN_MAX_MS / 1000;
	while (h->n_free + 1 < h->n_sessions && rc == 0)
		rc = pthread_cond_timedwait(&h->drain_cv, &h->pool_mu, &until) == ETIMEDOUT;
	if (rc != 0) {
		h->draining = 0;
		pthread_cond_broadcast(&h->pool_cv);
		pthread_mutex_unlock(&h->pool_mu);
		rc = cs_err_set(err, CS_ERR_HSM_DOWN,
		    "not restarting the module: a signer has been inside it for over %d s",
		    HSM_DRAIN_MAX_MS / 1000);
		goto record;
	}
	pthread_mutex_unlock(&h->pool_mu);

	/* Every other session is in the pool and draining keeps takers out:
	 * nobody is inside the module. C_Finalize closes every session. */
	for (i = 0; i < h->n_sessions; i++)
		h->sessions[i] = CK_INVALID_HANDLE;
	rc = hsm_module_restart(h->mod, err);
	if (rc == CS_OK) {
		atomic_fetch_add_explicit(&h->restarts, 1, memory_order_relaxed);
		/* the token may come back in another slot; no match leaves the old
		 * one, and the reopen then says the token is missing */
		pthread_mutex_lock(&h->rec_mu);
		if (hsm_token_find(h->f, &h->uri, &slot, &ti, NULL) == CS_OK)
			h->slot = slot;
		pthread_mutex_unlock(&h->rec_mu);
	}
	atomic_store(&h->restart_last_us, hsm_now_us());
	pthread_mutex_lock(&h->pool_mu);
	h->draining = 0;
	pthread_cond_broadcast(&h->pool_cv);
	pthread_mutex_unlock(&h->pool_mu);
record:
	pthread_mutex_lock(&h->status_mu);
	snprintf(h->restart_failure, sizeof(h->restart_failure), "%s", rc == CS_OK ? "" : err->msg);
	pthread_mutex_unlock(&h->status_mu);
	return rc;
}

static int
hsm_alg_check(const hsm *h, enum hsm_sig_alg alg, size_t digest_len, struct cs_err *err)
{
	int ec = h->info.type == HSM_KEY_EC_P256 || h->info.type == HSM_KEY_EC_P384;
	size_t want;

	switch (alg) {
	case HSM_SIG_ECDSA_SHA256:
	case HSM_SIG_ECDSA_SHA384:
		if (!ec)
			goto mismatch;
		break;
	case HSM_SIG_RSA_PKCS1_SHA256:
	case HSM_SIG_RSA_PKCS1_SHA384:
	case HSM_SIG_RSA_PSS_SHA256:
	case HSM_SIG_RSA_PSS_SHA384:
		if (ec)
			goto mismatch;
		break;
	default:
		return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED, "unknown signature algorithm %d",
		    (int)alg);
	}
	want = alg == HSM_SIG_ECDSA_SHA384 || alg == HSM_SIG_RSA_PKCS1_SHA384 ||
		alg == HSM_SIG_RSA_PSS_SHA384
	    ? 48
	    : 32;
	if (digest_len != want)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "digest is %zu bytes; the signature algorithm needs %zu", digest_len, want);
	return CS_OK;
mismatch:
	return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
	    "signature algorithm %d does not fit the %s CA key", (int)alg,
	    hsm_key_type_name(h->info.type));
}

/* A fresh session could not be had. A reopen that failed past its PKCS#11
 * calls (a login the token declined, *rv still CKR_OK) gives its own words
 * to why. Down for a while and still no session: the module may have given
 * up on the token for good, so restart it, at most once per call (DOWN
 * calls fail fast); a failed restart's words go to why too, while another
 * thread's restart says nothing about the token. 1: restarted, try again;
 * 0: back off. */
static int
hsm_reopen_failed(hsm *h, CK_RV *rv, int *restarted, char *why, size_t cap, struct cs_err *err)
{
	int rc;

	if (*rv == CKR_OK && err != NULL)
		snprintf(why, cap, "%s", err->msg);
	if (*restarted || atomic_load(&h->state) != HSM_STATE_DOWN ||
	    hsm_now_us() - atomic_load(&h->restart_last_us) < HSM_RESTART_INTERVAL_MS * 1000u)
		return 0;
	*restarted = 1;
	rc = hsm_module_restart_drained(h, err);
	if (rc == CS_OK)
		return 1;
	if (rc != 1 && err != NULL) {
		snprintf(why, cap, "%s", err->msg);
		*rv = CKR_OK;
	}
	return 0;
}

/* One C_SignInit + C_Sign; *lat_us gets C_Sign's latency when it succeeds. */
static CK_RV
hsm_sign_once(hsm *h, CK_SESSION_HANDLE s, enum hsm_sig_alg alg, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t *out_len, const char **what, uint64_t *lat_us)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_ULONG olen = (CK_ULONG)*out_len;
	uint64_t t0;
	CK_RV rv;

	switch (alg) {
	case HSM_SIG_RSA_PKCS1_SHA256:
	case HSM_SIG_RSA_PKCS1_SHA384:
		mech.mechanism = CKM_RSA_PKCS;
		break;
	case HSM_SIG_RSA_PSS_SHA256:
	case HSM_SIG_RSA_PSS_SHA384:
		pss.hashAlg = alg == HSM_SIG_RSA_PSS_SHA256 ? CKM_SHA256 : CKM_SHA384;
		pss.mgf = alg == HSM_SIG_RSA_PSS_SHA256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA384;
		pss.sLen = alg == HSM_SIG_RSA_PSS_SHA256 ? 32 : 48;
		mech.mechanism = CKM_RSA_PKCS_PSS;
		mech.pParameter = &pss;
		mech.ulParameterLen = sizeof(pss);
		break;
	default:
		break;
	}
	*what = "C_SignInit";
	rv = h->f->C_SignInit(s, &mech, atomic_load_explicit(&h->key_handle, memory_order_relaxed));
	if (rv != CKR_OK)
		return rv;
	*what = "C_Sign";
	t0 = hsm_now_us();
	rv = h->f->C_Sign(s, (CK_BYTE_PTR)(uintptr_t)in, (CK_ULONG)in_len, out, &olen);
	if (rv == CKR_OK) {
		*lat_us = hsm_now_us() - t0;
		atomic_store_explicit(&h->last_sign_us, *lat_us, memory_order_relaxed);
		*out_len = olen;
	}
	return rv;
}

/* Count one signature's C_Sign latency: two relaxed atomic additions, no
 * lock (the signing path is hot and runs on many threads). */
static void
hsm_latency_record(hsm *h, uint64_t us)
{
	unsigned b = 0;

	while (b < HSM_LATENCY_BUCKETS && us > hsm_latency_bound_us[b])
		b++;
	atomic_fetch_add_explicit(&h->latency_bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->latency_sum_us, us, memory_order_relaxed);
}

/* The shared body of hsm_sign_digest (how = HSM_SIGN_VERIFY), hsm_sign_raw
 * (0) and the key-pair probe (HSM_SIGN_VERIFY | HSM_SIGN_UNCOUNTED). */
static int
hsm_sign_internal(hsm *h, enum hsm_sig_alg alg, const uint8_t *digest, size_t digest_len,
    uint8_t *sig, size_t *sig_len, unsigned how, struct cs_err *err)
{
	int verify = (how & HSM_SIGN_VERIFY) != 0;
	uint64_t lat_us = 0;
	uint8_t in[19 + 48];
	uint8_t raw[HSM_SIG_MAX];
	const uint8_t *msg = digest;
	size_t msg_len = digest_len, raw_len;
	uint8_t *out;
	uint64_t start, deadline, delay_us = HSM_BACKOFF_FIRST_MS * 1000;
	const char *what = "C_Sign";
	char why[sizeof(err->msg)]; /* filled only on the failure paths */
	CK_RV rv = CKR_OK;
	unsigned idx, reopens = 0;
	int relogged = 0, restarted = 0, rc;

	if (h == NULL || digest == NULL || sig == NULL || sig_len == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "hsm_sign: NULL argument");
	if (!h->have_key)
		return cs_err_set(err, CS_ERR_HSM_KEY_NOT_FOUND,
		    "no CA key is loaded (generate one first)");
	rc = hsm_alg_check(h, alg, digest_len, err);
	if (rc != CS_OK)
		return rc;
	if (*sig_len < h->sig_raw_len + (h->sig_raw_len < 200 ? 9 : 0))
		return cs_err_set(err, CS_ERR_TOO_LARGE,
		    "signature buffer holds %zu bytes; this key needs up to %zu", *sig_len,
		    h->sig_raw_len + (h->sig_raw_len < 200 ? 9 : 0));
	if (alg == HSM_SIG_RSA_PKCS1_SHA256 || alg == HSM_SIG_RSA_PKCS1_SHA384) {
		size_t plen;
		const uint8_t *prefix = hsm_digest_info_prefix(digest_len, &plen);

		memcpy(in, prefix, plen);
		memcpy(in + plen, digest, digest_len);
		msg = in;
		msg_len = plen + digest_len;
	}
	/* RSA signs straight into the caller's buffer; EC needs converting. */
	out = h->sig_raw_len >= 200 ? sig : raw;

	why[0] = '\0';
	start = hsm_now_us();
	/* Already DOWN: try once, without sleeping, so callers fail fast. */
	deadline = start + (atomic_load_explicit(&h->state, memory_order_acquire) == HSM_STATE_DOWN
		? 0
		: HSM_RECOVERY_BUDGET_MS * 1000u);
	idx = hsm_pool_take(h);
	for (;;) {
		if (h->sessions[idx] == CK_INVALID_HANDLE) {
			rc = hsm_session_reopen(h, &h->sessions[idx], &rv, &what, err);
			if (rc == CS_ERR_HSM_PIN_INCORRECT || rc == CS_ERR_HSM_PIN_LOCKED ||
			    rc == CS_ERR_HSM_PIN_SOURCE) {
				hsm_state_set(h, HSM_STATE_DOWN, "re-login failed: %s",
				    err != NULL ? err->msg : cs_strerror(rc));
				goto fail;
			}
			if (rc != CS_OK) {
				if (hsm_reopen_failed(h, &rv, &restarted, why, sizeof(why), err))
					continue;
				goto backoff;
			}
			reopens++;
			atomic_fetch_add_explicit(&h->reopens, 1, memory_order_relaxed);
		}
		raw_len = h->sig_raw_len;
		rv = hsm_sign_once(h, h->sessions[idx], alg, msg, msg_len, out, &raw_len, &what,
		    &lat_us);
		if (rv == CKR_OK)
			break;
		if (rv == CKR_USER_NOT_LOGGED_IN && !relogged) {
			relogged = 1;
			pthread_mutex_lock(&h->rec_mu);
			rc = h->pin_refused ? CS_ERR_HSM_PIN_INCORRECT
					    : hsm_login(h, h->sessions[idx], err);
			if (rc == CS_ERR_HSM_PIN_INCORRECT || rc == CS_ERR_HSM_PIN_LOCKED)
				h->pin_refused = 1;
			pthread_mutex_unlock(&h->rec_mu);
			if (rc != CS_OK) {
				hsm_state_set(h, HSM_STATE_DOWN, "re-login after %s failed: %s",
				    hsm_ckr_name(rv), err != NULL ? err->msg : cs_strerror(rc));
				goto fail;
			}
			continue;
		}
		if (!hsm_rv_is_recoverable(rv)) {
			rc = cs_err_set(err, CS_ERR_HSM_SIGN, "%s failed: %s", what,
			    hsm_ckr_name(rv));
			goto fail;
		}
		if (atomic_load_explicit(&h->state, memory_order_relaxed) == HSM_STATE_OK)
			hsm_state_set(h, HSM_STATE_DEGRADED, "%s: %s; reopening the session", what,
			    hsm_ckr_name(rv));
		h->f->C_CloseSession(h->sessions[idx]);
		h->sessions[idx] = CK_INVALID_HANDLE;
		if (reopens == 0)
			continue; /* the first reopen is immediate */
backoff:
		if (why[0] == '\0' || rv != CKR_OK)
			snprintf(why, sizeof(why), "%s: %s", what, hsm_ckr_name(rv));
		if (rv == CKR_CRYPTOKI_NOT_INITIALIZED) {
			/* a restart left the module down: say why it did */
			pthread_mutex_lock(&h->status_mu);
			if (h->restart_failure[0] != '\0')
				snprintf(why, sizeof(why), "module restart failed: %.400s",
				    h->restart_failure);
			pthread_mutex_unlock(&h->status_mu);
		}
		if (hsm_now_us() + delay_us > deadline) {
			hsm_state_set(h, HSM_STATE_DOWN,
			    "%s; still failing after %u session reopen(s) in %llu ms", why, reopens,
			    (unsigned long long)((hsm_now_us() - start) / 1000));
			rc = cs_err_set(err, CS_ERR_HSM_DOWN, "HSM is down: %s", why);
			goto fail;
		}
		hsm_sleep_us(delay_us);
		delay_us *= 2;
	}
	hsm_pool_give(h, idx);

	if (out == raw) {
		if (verify) {
			rc = hsm_ecdsa_raw_to_der(raw, raw_len, sig, sig_len);
			if (rc != CS_OK) {
				atomic_fetch_add_explicit(&h->failures, 1, memory_order_relaxed);
				return cs_err_set(err, CS_ERR_HSM_SIGN,
				    "token returned a %zu-byte ECDSA signature; expected %zu", raw_len,
				    h->sig_raw_len);
			}
		} else {
			memcpy(sig, raw, raw_len);
			*sig_len = raw_len;
		}
	} else {
		*sig_len = raw_len;
	}
	if (verify && hsm_verifier_check(h->verifier, alg, digest, digest_len, sig, *sig_len) != CS_OK) {
		ERR_clear_error();
		atomic_fetch_add_explicit(&h->failures, 1, memory_order_relaxed);
		return cs_err_set(err, CS_ERR_HSM_BAD_SIGNATURE,
		    "signature from token '%s' does not verify with the CA public key; discarded",
		    h->info.token_label);
	}
	if ((how & HSM_SIGN_UNCOUNTED) == 0) {
		atomic_fetch_add_explicit(&h->signatures, 1, memory_order_relaxed);
		hsm_latency_record(h, lat_us);
	}
	if (atomic_load_explicit(&h->state, memory_order_relaxed) != HSM_STATE_OK)
		hsm_state_set(h, HSM_STATE_OK, NULL);
	return CS_OK;
fail:
	hsm_pool_give(h, idx);
	atomic_fetch_add_explicit(&h->failures, 1, memory_order_relaxed);
	return rc;
}

/* ---- public API ---- */

static const char *
hsm_module_path_pick(const struct hsm_config *cfg, const struct p11_uri *u, struct cs_err *err)
{
	if (cfg->module_path != NULL && u->has_module_path &&
	    strcmp(cfg->module_path, u->module_path) != 0) {
		cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 module given twice: config says %s, URI module-path says %s",
		    cfg->module_path, u->module_path);
		return NULL;
	}
	if (cfg->module_path != NULL)
		return cfg->module_path;
	if (u->has_module_path)
		return u->module_path;
	return CERTSTATION_DEFAULT_MODULE;
}

hsm *
hsm_open(const struct hsm_config *cfg, struct cs_err *err)
{
	hsm *h = NULL;
	const char *path, *env;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	unsigned i;
	size_t ulen;
	int rc;

	cs_err_clear(err);
	if (cfg == NULL || cfg->uri == NULL) {
		cs_err_set(err, CS_ERR_CONFIG, "HSM configuration has no PKCS#11 URI");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory opening the HSM");
		return NULL;
	}
	pthread_mutex_init(&h->pool_mu, NULL);
	pthread_cond_init(&h->pool_cv, NULL);
	pthread_cond_init(&h->drain_cv, NULL);
	pthread_mutex_init(&h->rec_mu, NULL);
	pthread_mutex_init(&h->status_mu, NULL);
	h->flags = cfg->flags;

	ulen = strnlen(cfg->uri, P11_URI_MAX + 1);
	if (p11_uri_parse(cfg->uri, ulen, &h->uri, err) != CS_OK)
		goto fail;
	if (h->uri.type != P11_URI_TYPE_ANY && h->uri.type != P11_URI_TYPE_PRIVATE) {
		cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI has type=%s; it must name the CA's private key (type=private)",
		    p11_uri_type_name(h->uri.type));
		goto fail;
	}
	if (!h->uri.has_object && !h->uri.has_id) {
		cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI names no key: add object=LABEL and/or id=%%XX..");
		goto fail;
	}
	env = cfg->pin_env != NULL ? cfg->pin_env : HSM_PIN_ENV_DEFAULT;
	if (env[0] == '\0' || strlen(env) >= sizeof(h->pin_env)) {
		cs_err_set(err, CS_ERR_CONFIG, "PIN environment variable name is empty or too long");
		goto fail;
	}
	memcpy(h->pin_env, env, strlen(env) + 1);
	p11_uri_format(&h->uri, h->info.uri, sizeof(h->info.uri));

	path = hsm_module_path_pick(cfg, &h->uri, err);
	if (path == NULL)
		goto fail;
	if (hsm_module_acquire(path, &h->mod, err) != CS_OK)
		goto fail;
	h->f = h->mod->f;
	if (hsm_token_find(h->f, &h->uri, &h->slot, &ti, err) != CS_OK)
		goto fail;
	hsm_field_copy(h->info.token_label, sizeof(h->info.token_label), ti.label,
	    sizeof(ti.label));
	if ((ti.flags & CKF_USER_PIN_LOCKED) != 0) {
		/* Presenting a PIN to a locked token only adds to the audit trail. */
		cs_err_set(err, CS_ERR_HSM_PIN_LOCKED,
		    "token '%s' user PIN is locked (CKF_USER_PIN_LOCKED); the security officer "
		    "must reset it",
		    h->info.token_label);
		goto fail;
	}

	h->n_sessions = cfg->sessions != 0 ? cfg->sessions : HSM_SESSIONS_DEFAULT;
	if (h->n_sessions > HSM_SESSIONS_MAX) {
		cs_err_set(err, CS_ERR_CONFIG, "HSM session pool of %u is above the limit of %u",
		    h->n_sessions, HSM_SESSIONS_MAX);
		goto fail;
	}
	h->sessions = calloc(h->n_sessions, sizeof(*h->sessions));
	h->free_idx = calloc(h->n_sessions, sizeof(*h->free_idx));
	if (h->sessions == NULL || h->free_idx == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory for the HSM session pool");
		goto fail;
	}
	for (i = 0; i < h->n_sessions; i++) {
		rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION, NULL, NULL, &h->sessions[i]);
		if (rv != CKR_OK) {
			h->sessions[i] = CK_INVALID_HANDLE;
			cs_err_set(err, CS_ERR_HSM_MODULE,
			    "token '%s': C_OpenSession %u of %u failed: %s", h->info.token_label,
			    i + 1, h->n_sessions, hsm_ckr_name(rv));
			goto fail;
		}
		h->free_idx[h->n_free++] = h->n_sessions - 1 - i;
	}
	/* One login serves every session of the application. */
	if (hsm_login(h, h->sessions[0], err) != CS_OK)
		goto fail;
	rc = hsm_key_load(h, h->sessions[0], err);
	if (rc == CS_ERR_HSM_KEY_NOT_FOUND && (cfg->flags & HSM_OPEN_KEY_OPTIONAL) != 0) {
		cs_err_clear(err);
	} else if (rc != CS_OK) {
		goto fail;
	}
	hsm_state_set(h, HSM_STATE_OK, NULL);
	return h;
fail:
	hsm_close(h);
	return NULL;
}

void
hsm_close(hsm *h)
{
	unsigned i;

	if (h == NULL)
		return;
	/* Closing our sessions ends our login if nobody else in the process
	 * holds one; an explicit C_Logout would log out other users too. */
	if (h->f != NULL && h->sessions != NULL) {
		for (i = 0; i < h->n_sessions; i++)
			if (h->sessions[i] != CK_INVALID_HANDLE)
				h->f->C_CloseSession(h->sessions[i]);
	}
	hsm_module_release(h->mod);
	hsm_verifier_free(h->verifier);
	free(h->sessions);
	free(h->free_idx);
	pthread_mutex_destroy(&h->pool_mu);
	pthread_cond_destroy(&h->pool_cv);
	pthread_cond_destroy(&h->drain_cv);
	pthread_mutex_destroy(&h->rec_mu);
	pthread_mutex_destroy(&h->status_mu);
	explicit_bzero(h, sizeof(*h));
	free(h);
}

int
hsm_key_info_get(hsm *h, struct hsm_key_info *out)
{
	if (h == NULL || out == NULL)
		return CS_ERR_INVALID_ARG;
	if (!h->have_key) {
		memset(out, 0, sizeof(*out));
		memcpy(out->token_label, h->info.token_label, sizeof(out->token_label));
		memcpy(out->uri, h->info.uri, sizeof(out->uri));
		return CS_ERR_HSM_KEY_NOT_FOUND;
	}
	*out = h->info;
	return CS_OK;
}

int
hsm_sign_digest(hsm *h, enum hsm_sig_alg alg, const uint8_t *digest, size_t digest_len,
    uint8_t *sig, size_t *sig_len, struct cs_err *err)
{
	return hsm_sign_internal(h, alg, digest, digest_len, sig, sig_len, HSM_SIGN_VERIFY, err);
}

int
hsm_sign_raw(hsm *h, enum hsm_sig_alg alg, const uint8_t *digest, size_t digest_len,
    uint8_t *sig, size_t *sig_len)
{
	return hsm_sign_internal(h, alg, digest, digest_len, sig, sig_len, 0, NULL);
}

int
hsm_verify_digest(hsm *h, enum hsm_sig_alg alg, const uint8_t *digest, size_t digest_len,
    const uint8_t *sig, size_t sig_len)
{
	int rc;

	if (h == NULL || !h->have_key)
		return CS_ERR_HSM_KEY_NOT_FOUND;
	if (hsm_alg_check(h, alg, digest_len, NULL) != CS_OK)
		return CS_ERR_HSM_BAD_SIGNATURE;
	rc = hsm_verifier_check(h->verifier, alg, digest, digest_len, sig, sig_len);
	if (rc != CS_OK)
		ERR_clear_error();
	return rc;
}

void
hsm_status_get(hsm *h, struct hsm_status *out)
{
	static const double bounds[HSM_LATENCY_BUCKETS] = HSM_LATENCY_BOUNDS_S;

	memset(out, 0, sizeof(*out));
	memcpy(out->latency_bound_s, bounds, sizeof(bounds));
	if (h == NULL) {
		out->state = HSM_STATE_DOWN;
		snprintf(out->reason, sizeof(out->reason), "HSM not open");
		return;
	}
	pthread_mutex_lock(&h->status_mu);
	out->state = (enum hsm_state)atomic_load(&h->state);
	memcpy(out->reason, h->reason, sizeof(out->reason));
	pthread_mutex_unlock(&h->status_mu);
	out->signatures = atomic_load_explicit(&h->signatures, memory_order_relaxed);
	out->failures = atomic_load_explicit(&h->failures, memory_order_relaxed);
	out->last_sign_us = atomic_load_explicit(&h->last_sign_us, memory_order_relaxed);
	out->reopens = atomic_load_explicit(&h->reopens, memory_order_relaxed);
	out->restarts = atomic_load_explicit(&h->restarts, memory_order_relaxed);
	{
		uint64_t cum = 0;

		/* the count is the sum of the buckets read, so the cumulative
		 * series is monotonic and ends at most at the count even while
		 * signers add to it */
		for (unsigned b = 0; b <= HSM_LATENCY_BUCKETS; b++) {
			cum += atomic_load_explicit(&h->latency_bucket[b], memory_order_relaxed);
			if (b < HSM_LATENCY_BUCKETS)
				out->latency_le[b] = cum;
		}
		out->latency_count = cum;
		out->latency_sum_s =
		    (double)atomic_load_explicit(&h->latency_sum_us, memory_order_relaxed) / 1e6;
	}
	pthread_mutex_lock(&h->pool_mu);
	out->sessions_total = h->n_sessions;
	out->sessions_busy = h->n_sessions - h->n_free;
	pthread_mutex_unlock(&h->pool_mu);
}

static int
hsm_keygen_templates(hsm *h, CK_SESSION_HANDLE s, enum hsm_key_type type, const uint8_t *id,
    size_t id_len, struct cs_err *err)
{
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
	static const uint8_t f4[] = {0x01, 0x00, 0x01};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 0;
	CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub, priv;
	CK_ATTRIBUTE pubt[7], privt[8];
	CK_ULONG np = 0, nq = 0;
	void *label = h->uri.object;
	CK_ULONG label_len = strlen(h->uri.object);
	CK_RV rv;

	pubt[np++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	pubt[np++] = (CK_ATTRIBUTE){CKA_PRIVATE, &no, sizeof(no)};
	pubt[np++] = (CK_ATTRIBUTE){CKA_VERIFY, &yes, sizeof(yes)};
	pubt[np++] = (CK_ATTRIBUTE){CKA_LABEL, label, label_len};
	pubt[np++] = (CK_ATTRIBUTE){CKA_ID, (void *)(uintptr_t)id, id_len};
	switch (type) {
	case HSM_KEY_EC_P256:
		pubt[np++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)(uintptr_t)p256, sizeof(p256)};
		break;
	case HSM_KEY_EC_P384:
		pubt[np++] = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)(uintptr_t)p384, sizeof(p384)};
		break;
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
	case HSM_KEY_RSA_4096:
		bits = type == HSM_KEY_RSA_2048 ? 2048 : type == HSM_KEY_RSA_3072 ? 3072 : 4096;
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pubt[np++] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
		pubt[np++] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, (void *)(uintptr_t)f4, sizeof(f4)};
		break;
	default:
		return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED, "cannot generate key type %d",
		    (int)type);
	}
	privt[nq++] = (CK_ATTRIBUTE){CKA_TOKEN, &yes, sizeof(yes)};
	privt[nq++] = (CK_ATTRIBUTE){CKA_PRIVATE, &yes, sizeof(yes)};
	privt[nq++] = (CK_ATTRIBUTE){CKA_SENSITIVE, &yes, sizeof(yes)};
	privt[nq++] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &no, sizeof(no)};
	privt[nq++] = (CK_ATTRIBUTE){CKA_SIGN, &yes, sizeof(yes)};
	privt[nq++] = (CK_ATTRIBUTE){CKA_LABEL, label, label_len};
	privt[nq++] = (CK_ATTRIBUTE){CKA_ID, (void *)(uintptr_t)id, id_len};
	rv = h->f->C_GenerateKeyPair(s, &mech, pubt, np, privt, nq, &pub, &priv);
	if (rv != CKR_OK)
		return cs_err_set(err, rv == CKR_MECHANISM_INVALID ? CS_ERR_HSM_UNSUPPORTED
								   : CS_ERR_HSM_MODULE,
		    "token '%s': C_GenerateKeyPair for %s failed: %s", h->info.token_label,
		    hsm_key_type_name(type), hsm_ckr_name(rv));
	return CS_OK;
}

int
hsm_key_generate(hsm *h, enum hsm_key_type type, struct cs_err *err)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE o;
	CK_ULONG found = 0;
	uint8_t id[P11_URI_ID_MAX];
	size_t id_len;
	CK_RV rv;
	int rc;

	cs_err_clear(err);
	if (h == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "hsm_key_generate: no HSM");
	if (hsm_key_type_name(type)[0] == '?')
		return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED, "cannot generate key type %d",
		    (int)type);
	if (!h->uri.has_object)
		return cs_err_set(err, CS_ERR_CONFIG,
		    "PKCS#11 URI has no object= label for the new key");
	rv = h->f->C_OpenSession(h->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return cs_err_set(err, CS_ERR_HSM_MODULE,
		    "token '%s': C_OpenSession (read/write) failed: %s", h->info.token_label,
		    hsm_ckr_name(rv));
	for (CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY; cls <= CKO_PRIVATE_KEY; cls++) {
		rv = hsm_objects_find(h->f, s, cls, h->uri.object, NULL, 0, &o, &found);
		if (rv == CKR_OK && found == 0 && h->uri.has_id)
			rv = hsm_objects_find(h->f, s, cls, NULL, h->uri.id, h->uri.id_len, &o,
			    &found);
		if (rv != CKR_OK) {
			rc = cs_err_set(err, CS_ERR_HSM_MODULE, "token '%s': C_FindObjects failed: %s",
			    h->info.token_label, hsm_ckr_name(rv));
			goto out;
		}
		if (found > 0) {
			rc = cs_err_set(err, CS_ERR_CONFIG,
			    "token '%s' already has a %s key labelled '%s' (or with the same id); "
			    "refusing to create a second one",
			    h->info.token_label, cls == CKO_PUBLIC_KEY ? "public" : "private",
			    h->uri.object);
			goto out;
		}
	}
	if (h->uri.has_id) {
		memcpy(id, h->uri.id, h->uri.id_len);
		id_len = h->uri.id_len;
	} else {
		id_len = 8;
		if (RAND_bytes(id, (int)id_len) != 1) {
			rc = cs_err_set(err, CS_ERR_INTERNAL, "RAND_bytes failed making a CKA_ID");
			goto out;
		}
	}
	rc = hsm_keygen_templates(h, s, type, id, id_len, err);
	if (rc != CS_OK)
		goto out;
	rc = hsm_key_load(h, h->sessions[0], err);
out:
	h->f->C_CloseSession(s);
	return rc;
}

int
hsm_token_init(const char *module_path, const char *label, const char *so_pin,
    const char *user_pin, struct cs_err *err)
{
	struct hsm_module *m = NULL;
	CK_SLOT_ID list[HSM_SLOTS_MAX], target = 0;
	CK_ULONG n = HSM_SLOTS_MAX, i;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	unsigned char padded[32];
	struct p11_uri u;
	int have_target = 0;
	CK_RV rv;
	int rc;

	cs_err_clear(err);
	if (label == NULL || label[0] == '\0' || strlen(label) > 32)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "token label must be 1 to 32 bytes, got %zu", label != NULL ? strlen(label) : 0);
	if (so_pin == NULL || user_pin == NULL || so_pin[0] == '\0' || user_pin[0] == '\0')
		return cs_err_set(err, CS_ERR_INVALID_ARG, "token init needs an SO PIN and a user PIN");
	rc = hsm_module_acquire(module_path != NULL ? module_path : CERTSTATION_DEFAULT_MODULE, &m,
	    err);
	if (rc != CS_OK)
		return rc;
	rv = m->f->C_GetSlotList(CK_TRUE, list, &n);
	if (rv != CKR_OK) {
		rc = cs_err_set(err, CS_ERR_HSM_MODULE, "C_GetSlotList failed: %s", hsm_ckr_name(rv));
		goto out;
	}
	memset(&u, 0, sizeof(u));
	u.has_token = 1;
	memcpy(u.token, label, strlen(label) + 1);
	for (i = 0; i < n; i++) {
		if (m->f->C_GetTokenInfo(list[i], &ti) != CKR_OK)
			continue;
		if (hsm_token_matches(&u, list[i], &ti)) {
			rc = 1;
			goto out;
		}
		if (!have_target && (ti.flags & CKF_TOKEN_INITIALIZED) == 0) {
			target = list[i];
			have_target = 1;
		}
	}
	if (!have_target) {
		rc = cs_err_set(err, CS_ERR_HSM_TOKEN_NOT_FOUND,
		    "no free slot with an uninitialised token to create token '%s'", label);
		goto out;
	}
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label));
	rv = m->f->C_InitToken(target, (CK_UTF8CHAR_PTR)(uintptr_t)so_pin, strlen(so_pin), padded);
	if (rv != CKR_OK) {
		rc = cs_err_set(err, CS_ERR_HSM_MODULE, "C_InitToken '%s' failed: %s", label,
		    hsm_ckr_name(rv));
		goto out;
	}
	/* SoftHSM renumbers the slot once the token has a serial: look again. */
	rc = hsm_token_find(m->f, &u, &target, &ti, err);
	if (rc != CS_OK)
		goto out;
	rv = m->f->C_OpenSession(target, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv == CKR_OK)
		rv = m->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)(uintptr_t)so_pin, strlen(so_pin));
	if (rv == CKR_OK)
		rv = m->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)(uintptr_t)user_pin, strlen(user_pin));
	if (rv != CKR_OK) {
		rc = cs_err_set(err, CS_ERR_HSM_MODULE, "setting the user PIN of token '%s' failed: %s",
		    label, hsm_ckr_name(rv));
		goto out;
	}
	m->f->C_Logout(s);
	rc = 0;
out:
	if (s != CK_INVALID_HANDLE)
		m->f->C_CloseSession(s);
	hsm_module_release(m);
	return rc;
}

const char *
hsm_key_type_name(enum hsm_key_type t)
{
	switch (t) {
	case HSM_KEY_EC_P256:
		return "P-256";
	case HSM_KEY_EC_P384:
		return "P-384";
	case HSM_KEY_RSA_2048:
		return "RSA-2048";
	case HSM_KEY_RSA_3072:
		return "RSA-3072";
	case HSM_KEY_RSA_4096:
		return "RSA-4096";
	case HSM_KEY_NONE:
		break;
	}
	return "?";
}

enum hsm_key_type
hsm_key_type_from_name(const char *name)
{
	enum hsm_key_type t;

	if (name == NULL)
		return HSM_KEY_NONE;
	for (t = HSM_KEY_EC_P256; t <= HSM_KEY_RSA_4096; t++)
		if (strcmp(name, hsm_key_type_name(t)) == 0)
			return t;
	return HSM_KEY_NONE;
}

const char *
hsm_state_name(enum hsm_state s)
{
	switch (s) {
	case HSM_STATE_OK:
		return "ok";
	case HSM_STATE_DEGRADED:
		return "degraded";
	case HSM_STATE_DOWN:
		return "down";
	}
	return "down";
}
