/*
 * test_hsm_sign.c: hsm/ against a real SoftHSM2 token in a temp dir: key
 * generation, signing with every supported key type and algorithm (each
 * signature verified independently with OpenSSL EVP from the SPKI hsm/
 * returns), refusals at open, concurrency, the sign latency histogram, and
 * a per-call cost figure.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>

#include "hsm/hsm.h"
#include "tests/support/check.h"
#include "tests/support/softhsm_fixture.h"

static struct softhsm_fixture fx;

static void
digest_of(const char *msg, int sha384, uint8_t *out, size_t *out_len)
{
	unsigned int n = 0;

	EVP_Digest(msg, strlen(msg), out, &n, sha384 ? EVP_sha384() : EVP_sha256(), NULL);
	*out_len = n;
}

/* Independent check: OpenSSL EVP from the DER SPKI, nothing from hsm/. */
static int
evp_verify(const struct hsm_key_info *ki, enum hsm_sig_alg alg, const uint8_t *dg, size_t dl,
    const uint8_t *sig, size_t sl)
{
	const unsigned char *p = ki->spki;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)ki->spki_len);
	EVP_PKEY_CTX *c = k != NULL ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	const EVP_MD *md = dl == 48 ? EVP_sha384() : EVP_sha256();
	int ok = 0;

	if (c == NULL || EVP_PKEY_verify_init(c) != 1)
		goto out;
	if (alg == HSM_SIG_RSA_PKCS1_SHA256 || alg == HSM_SIG_RSA_PKCS1_SHA384) {
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING);
		EVP_PKEY_CTX_set_signature_md(c, md);
	} else if (alg == HSM_SIG_RSA_PSS_SHA256 || alg == HSM_SIG_RSA_PSS_SHA384) {
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_signature_md(c, md);
		EVP_PKEY_CTX_set_rsa_mgf1_md(c, md);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(c, (int)dl);
	}
	ok = EVP_PKEY_verify(c, sig, sl, dg, dl) == 1;
out:
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
	return ok;
}

static hsm *
open_uri(const char *object, unsigned flags, unsigned sessions, struct cs_err *err)
{
	char uri[600];
	struct hsm_config cfg = {0};

	softhsm_fixture_uri(&fx, object, uri, sizeof(uri));
	cfg.uri = uri;
	cfg.flags = flags;
	cfg.sessions = sessions;
	return hsm_open(&cfg, err);
}

static hsm *
open_generated(const char *object, enum hsm_key_type t)
{
	struct cs_err err;
	hsm *h = open_uri(object, HSM_OPEN_KEY_OPTIONAL, 2, &err);

	CHECK(h != NULL);
	if (h == NULL) {
		fprintf(stderr, "open %s: %s\n", object, err.msg);
		return NULL;
	}
	CHECK_INT_EQ(hsm_key_generate(h, t, &err), CS_OK);
	if (err.code != 0)
		fprintf(stderr, "keygen %s: %s\n", object, err.msg);
	return h;
}

static void
sign_and_check(hsm *h, enum hsm_sig_alg alg, int sha384)
{
	struct hsm_key_info ki;
	struct cs_err err;
	uint8_t dg[64], sig[HSM_SIG_MAX];
	size_t dl, sl = sizeof(sig);

	digest_of("to-be-signed certificate bytes", sha384, dg, &dl);
	CHECK_INT_EQ(hsm_key_info_get(h, &ki), CS_OK);
	CHECK_INT_EQ(hsm_sign_digest(h, alg, dg, dl, sig, &sl, &err), CS_OK);
	CHECK(evp_verify(&ki, alg, dg, dl, sig, sl));
	CHECK_INT_EQ(hsm_verify_digest(h, alg, dg, dl, sig, sl), CS_OK);
	if (ki.type == HSM_KEY_EC_P256 || ki.type == HSM_KEY_EC_P384)
		CHECK(sig[0] == 0x30 && sl <= (ki.type == HSM_KEY_EC_P256 ? 72u : 104u));
	else
		CHECK_INT_EQ(sl, ki.bits / 8);
	sig[sl / 2] ^= 0x40;
	CHECK_INT_EQ(hsm_verify_digest(h, alg, dg, dl, sig, sl), CS_ERR_HSM_BAD_SIGNATURE);
	CHECK(!evp_verify(&ki, alg, dg, dl, sig, sl));
}

static void
test_p256_lifecycle(void)
{
	struct cs_err err;
	struct hsm_key_info ki, ki2;
	struct hsm_status st;
	uint8_t dg[32] = {1}, sig[HSM_SIG_MAX];
	size_t sl = sizeof(sig);
	hsm *h = open_uri("ca-p256", HSM_OPEN_KEY_OPTIONAL, 0, &err);

	CHECK(h != NULL);
	if (h == NULL)
		return;
	CHECK_INT_EQ(hsm_key_info_get(h, &ki), CS_ERR_HSM_KEY_NOT_FOUND);
	CHECK(strcmp(ki.token_label, fx.label) == 0);
	CHECK_INT_EQ(hsm_sign_digest(h, HSM_SIG_ECDSA_SHA256, dg, 32, sig, &sl, &err),
	    CS_ERR_HSM_KEY_NOT_FOUND);
	CHECK_INT_EQ(hsm_key_generate(h, HSM_KEY_EC_P256, &err), CS_OK);
	CHECK_INT_EQ(hsm_key_info_get(h, &ki), CS_OK);
	CHECK_INT_EQ(ki.type, HSM_KEY_EC_P256);
	CHECK_INT_EQ(ki.bits, 256);
	CHECK(ki.sensitive && !ki.extractable);
	CHECK(strcmp(ki.key_label, "ca-p256") == 0);
	CHECK(strstr(ki.uri, "object=ca-p256") != NULL && strstr(ki.uri, "pin") == NULL);
	sign_and_check(h, HSM_SIG_ECDSA_SHA256, 0);
	sign_and_check(h, HSM_SIG_ECDSA_SHA384, 1);

	/* Misuse is refused with specific codes. */
	sl = sizeof(sig);
	CHECK_INT_EQ(hsm_sign_digest(h, HSM_SIG_RSA_PKCS1_SHA256, dg, 32, sig, &sl, &err),
	    CS_ERR_HSM_UNSUPPORTED);
	CHECK_MSG_HAS(err, "P-256");
	CHECK_INT_EQ(hsm_sign_digest(h, HSM_SIG_ECDSA_SHA256, dg, 20, sig, &sl, &err),
	    CS_ERR_INVALID_ARG);
	sl = 10;
	CHECK_INT_EQ(hsm_sign_digest(h, HSM_SIG_ECDSA_SHA256, dg, 32, sig, &sl, &err),
	    CS_ERR_TOO_LARGE);

	/* Duplicate label refused, existing key untouched. */
	CHECK_INT_EQ(hsm_key_generate(h, HSM_KEY_EC_P384, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "already has");
	CHECK_MSG_HAS(err, "ca-p256");
	CHECK_INT_EQ(hsm_key_info_get(h, &ki2), CS_OK);
	CHECK_INT_EQ(ki2.type, HSM_KEY_EC_P256);

	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_OK);
	CHECK_INT_EQ(st.signatures, 2);
	CHECK_INT_EQ(st.sessions_total, 4);
	CHECK_INT_EQ(st.sessions_busy, 0);
	CHECK(st.last_sign_us > 0);
	hsm_close(h);

	/* The key persists in the token: a plain open finds the same key. */
	h = open_uri("ca-p256", 0, 1, &err);
	CHECK(h != NULL);
	if (h != NULL) {
		CHECK_INT_EQ(hsm_key_info_get(h, &ki2), CS_OK);
		CHECK(ki2.spki_len == ki.spki_len && memcmp(ki2.spki, ki.spki, ki.spki_len) == 0);
		sign_and_check(h, HSM_SIG_ECDSA_SHA256, 0);
		hsm_close(h);
	}
}

static void
test_key_types(void)
{
	hsm *h;

	h = open_generated("ca-p384", HSM_KEY_EC_P384);
	if (h != NULL) {
		sign_and_check(h, HSM_SIG_ECDSA_SHA384, 1);
		sign_and_check(h, HSM_SIG_ECDSA_SHA256, 0);
		hsm_close(h);
	}
	h = open_generated("ca-rsa2048", HSM_KEY_RSA_2048);
	if (h != NULL) {
		sign_and_check(h, HSM_SIG_RSA_PKCS1_SHA256, 0);
		sign_and_check(h, HSM_SIG_RSA_PKCS1_SHA384, 1);
		sign_and_check(h, HSM_SIG_RSA_PSS_SHA256, 0);
		sign_and_check(h, HSM_SIG_RSA_PSS_SHA384, 1);
		hsm_close(h);
	}
	h = open_generated("ca-rsa3072", HSM_KEY_RSA_3072);
	if (h != NULL) {
		struct hsm_key_info ki;

		CHECK_INT_EQ(hsm_key_info_get(h, &ki), CS_OK);
		CHECK_INT_EQ(ki.bits, 3072);
		sign_and_check(h, HSM_SIG_RSA_PKCS1_SHA256, 0);
		sign_and_check(h, HSM_SIG_RSA_PSS_SHA384, 1);
		hsm_close(h);
	}
}

static void
test_open_refusals(void)
{
	struct cs_err err;
	struct hsm_config cfg = {0};
	char uri[700];
	hsm *h;

	CHECK(open_uri("no-such-key", 0, 1, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_KEY_NOT_FOUND);
	CHECK_MSG_HAS(err, "no private key object='no-such-key'");

	cfg.uri = "pkcs11:token=no-such-token;object=ca-p256";
	CHECK(hsm_open(&cfg, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_TOKEN_NOT_FOUND);
	CHECK_MSG_HAS(err, "token='no-such-token'");
	CHECK_MSG_HAS(err, "'cs-test'");

	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=ca-p256?pin-source=file:%s/absent.pin",
	    fx.label, fx.dir);
	cfg.uri = uri;
	CHECK(hsm_open(&cfg, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_PIN_SOURCE);
	CHECK_MSG_HAS(err, "absent.pin");

	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=ca-p256?pin-value=%s", fx.label,
	    fx.user_pin);
	CHECK(hsm_open(&cfg, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "pin-value");
	CHECK(strstr(err.msg, fx.user_pin) == NULL);

	/* A PIN file others can read is refused before the token sees it. */
	chmod(fx.pin_path, 0644);
	CHECK(open_uri("ca-p256", 0, 1, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_PIN_SOURCE);
	CHECK_MSG_HAS(err, "mode 0644");
	chmod(fx.pin_path, 0600);

	/* PIN from the environment variable named in config. */
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=ca-p256", fx.label);
	cfg.pin_env = "CS_TEST_HSM_PIN";
	unsetenv("CS_TEST_HSM_PIN");
	CHECK(hsm_open(&cfg, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_PIN_SOURCE);
	CHECK_MSG_HAS(err, "CS_TEST_HSM_PIN is not set");
	setenv("CS_TEST_HSM_PIN", fx.user_pin, 1);
	h = hsm_open(&cfg, &err);
	CHECK(h != NULL);
	hsm_close(h);
	unsetenv("CS_TEST_HSM_PIN");

	cfg.pin_env = NULL;
	cfg.module_path = "/nonexistent/libpkcs11.so";
	CHECK(hsm_open(&cfg, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_MODULE);
	CHECK_MSG_HAS(err, "/nonexistent/libpkcs11.so");

	/* Idempotent token init. */
	CHECK_INT_EQ(hsm_token_init(NULL, fx.label, fx.so_pin, fx.user_pin, &err), 1);
}

/* Keys made with raw PKCS#11, bypassing hsm_key_generate's safe template. */
static void
test_unsafe_keys(void)
{
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	struct cs_err err;
	hsm *keeper, *h;
	void *dl;
	void *sym;
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;
	CK_SESSION_HANDLE s = 0;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub, priv;
	CK_TOKEN_INFO ti;

	/* Keeps the module initialised and the token logged in. */
	keeper = open_uri("ca-p256", 0, 1, &err);
	CHECK(keeper != NULL);
	dl = dlopen(CERTSTATION_DEFAULT_MODULE, RTLD_NOW);
	CHECK(dl != NULL);
	if (keeper == NULL || dl == NULL)
		return;
	sym = dlsym(dl, "C_GetFunctionList");
	memcpy(&get, &sym, sizeof(get));
	CHECK_INT_EQ(get(&f), CKR_OK);
	CHECK_INT_EQ(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, fx.label, strlen(fx.label)) == 0 &&
		    f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
			&s) == CKR_OK)
			break;
	}
	CHECK(s != 0);
	{
		char label[] = "leaky";
		uint8_t id[] = {0xaa, 0x01};
		CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, 1}, {CKA_EC_PARAMS, (void *)(uintptr_t)p256, sizeof(p256)},
		    {CKA_LABEL, label, 5}, {CKA_ID, id, 2}, {CKA_VERIFY, &yes, 1}};
		CK_ATTRIBUTE qt[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1},
		    {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}, {CKA_SIGN, &yes, 1},
		    {CKA_LABEL, label, 5}, {CKA_ID, id, 2}};

		CHECK_INT_EQ(f->C_GenerateKeyPair(s, &mech, pt, 5, qt, 7, &pub, &priv), CKR_OK);
	}
	h = open_uri("leaky", 0, 1, &err);
	CHECK(h == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_KEY_EXTRACTABLE);
	CHECK_MSG_HAS(err, "CKA_SENSITIVE=FALSE and CKA_EXTRACTABLE=TRUE");
	hsm_close(h);
	{
		char label[] = "nopub";
		uint8_t id[] = {0xbb, 0x02};
		CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, 1}, {CKA_EC_PARAMS, (void *)(uintptr_t)p256, sizeof(p256)},
		    {CKA_LABEL, label, 5}, {CKA_ID, id, 2}, {CKA_VERIFY, &yes, 1}};
		CK_ATTRIBUTE qt[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1},
		    {CKA_SENSITIVE, &yes, 1}, {CKA_EXTRACTABLE, &no, 1}, {CKA_SIGN, &yes, 1},
		    {CKA_LABEL, label, 5}, {CKA_ID, id, 2}};

		CHECK_INT_EQ(f->C_GenerateKeyPair(s, &mech, pt, 5, qt, 7, &pub, &priv), CKR_OK);
		CHECK_INT_EQ(f->C_DestroyObject(s, pub), CKR_OK);
	}
	h = open_uri("nopub", 0, 1, &err);
	CHECK(h == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_KEY_NOT_FOUND);
	CHECK_MSG_HAS(err, "no public-key object with CKA_ID bb02");
	f->C_CloseSession(s);
	hsm_close(keeper);
	dlclose(dl);
}

#define THREADS 4
#define PER_THREAD 500

struct worker {
	hsm *h;
	struct hsm_key_info *ki;
	int id, ok;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		char msg[64];
		uint8_t dg[32], sig[HSM_SIG_MAX];
		size_t dl, sl = sizeof(sig);
		struct cs_err err;

		snprintf(msg, sizeof(msg), "thread %d cert %d", w->id, i);
		digest_of(msg, 0, dg, &dl);
		if (hsm_sign_digest(w->h, HSM_SIG_ECDSA_SHA256, dg, dl, sig, &sl, &err) == CS_OK &&
		    evp_verify(w->ki, HSM_SIG_ECDSA_SHA256, dg, dl, sig, sl))
			w->ok++;
	}
	return NULL;
}

static void
test_threads(void)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct hsm_key_info ki;
	struct hsm_status st;
	struct cs_err err;
	hsm *h = open_uri("ca-p256", 0, 4, &err);
	int i, total = 0;

	CHECK(h != NULL);
	if (h == NULL)
		return;
	hsm_key_info_get(h, &ki);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){h, &ki, i, 0};
		pthread_create(&t[i], NULL, worker_run, &w[i]);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += w[i].ok;
	}
	CHECK_INT_EQ(total, THREADS * PER_THREAD);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.signatures, THREADS * PER_THREAD);
	CHECK_INT_EQ(st.failures, 0);
	CHECK_INT_EQ(st.sessions_busy, 0);
	/* every signature from every thread is in the latency histogram */
	CHECK_INT_EQ(st.latency_count, THREADS * PER_THREAD);
	CHECK(st.latency_le[HSM_LATENCY_BUCKETS - 1] <= st.latency_count);
	hsm_close(h);
}

/* The C_Sign latency histogram: one entry per counted signature (not the
 * key-pair probe at open, not failures), cumulative and monotonic, bounds
 * 0.1 ms .. 1 s, sum consistent with the buckets. */
static void
test_latency_histogram(void)
{
	static const double want_bounds[HSM_LATENCY_BUCKETS] = HSM_LATENCY_BOUNDS_S;
	struct hsm_status st;
	struct cs_err err;
	uint8_t dg[32] = {7}, sig[HSM_SIG_MAX];
	size_t sl;
	hsm *h = open_uri("ca-p256", 0, 2, &err);
	int i, n = 0;

	hsm_status_get(NULL, &st);
	CHECK_INT_EQ(st.latency_count, 0);
	CHECK(st.latency_bound_s[0] == 0.0001 && st.latency_bound_s[HSM_LATENCY_BUCKETS - 1] == 1.0);
	CHECK(h != NULL);
	if (h == NULL)
		return;
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.signatures, 0); /* the probe at open is not counted ... */
	CHECK_INT_EQ(st.latency_count, 0); /* ... in either */
	CHECK(st.latency_sum_s == 0);
	for (i = 0; i < HSM_LATENCY_BUCKETS; i++) {
		CHECK(st.latency_bound_s[i] == want_bounds[i]);
		CHECK_INT_EQ(st.latency_le[i], 0);
	}
	for (i = 0; i < 150; i++) {
		sl = sizeof(sig);
		dg[1] = (uint8_t)i;
		n += hsm_sign_digest(h, HSM_SIG_ECDSA_SHA256, dg, 32, sig, &sl, &err) == CS_OK;
	}
	for (i = 0; i < 50; i++) {
		sl = sizeof(sig);
		n += hsm_sign_raw(h, HSM_SIG_ECDSA_SHA256, dg, 32, sig, &sl) == CS_OK;
	}
	/* refused before C_Sign: not a signature, not a latency */
	sl = sizeof(sig);
	CHECK_INT_EQ(hsm_sign_digest(h, HSM_SIG_RSA_PKCS1_SHA256, dg, 32, sig, &sl, &err),
	    CS_ERR_HSM_UNSUPPORTED);
	CHECK_INT_EQ(n, 200);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.signatures, 200);
	CHECK_INT_EQ(st.latency_count, 200);
	for (i = 1; i < HSM_LATENCY_BUCKETS; i++) {
		CHECK(st.latency_bound_s[i] > st.latency_bound_s[i - 1]);
		CHECK(st.latency_le[i] >= st.latency_le[i - 1]);
	}
	CHECK(st.latency_le[HSM_LATENCY_BUCKETS - 1] <= st.latency_count);
	/* SoftHSM2 signs P-256 in well under a second: all below the top bound */
	CHECK_INT_EQ(st.latency_le[HSM_LATENCY_BUCKETS - 1], 200);
	/* the sum lies between what the buckets allow */
	{
		double lo = 0, hi = 0;
		uint64_t prev = 0;

		for (i = 0; i < HSM_LATENCY_BUCKETS; i++) {
			uint64_t in = st.latency_le[i] - prev;

			lo += (double)in * (i > 0 ? st.latency_bound_s[i - 1] : 0);
			hi += (double)in * st.latency_bound_s[i];
			prev = st.latency_le[i];
		}
		CHECK(st.latency_sum_s >= lo && st.latency_sum_s <= hi + 1e-9);
		CHECK(st.latency_sum_s > 0);
	}
	printf("latency: %llu signatures, mean %.1f us, <=100us %llu, <=250us %llu, <=1ms %llu\n",
	    (unsigned long long)st.latency_count, st.latency_sum_s / 200 * 1e6,
	    (unsigned long long)st.latency_le[0], (unsigned long long)st.latency_le[1],
	    (unsigned long long)st.latency_le[3]);
	hsm_close(h);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a pass/fail check: prints the per-call figures for hsm/README.md. */
static void
measure(const char *object, enum hsm_sig_alg alg, int n)
{
	struct cs_err err;
	hsm *h = open_uri(object, 0, 1, &err);
	uint8_t dg[48], sig[HSM_SIG_MAX];
	size_t dl, sl;
	double t0, raw, full;
	int i, ok = 0;

	if (h == NULL)
		return;
	digest_of("measure", alg == HSM_SIG_ECDSA_SHA384, dg, &dl);
	for (i = 0; i < 20; i++) {
		sl = sizeof(sig);
		hsm_sign_digest(h, alg, dg, dl, sig, &sl, NULL);
	}
	t0 = now_s();
	for (i = 0; i < n; i++) {
		sl = sizeof(sig);
		ok += hsm_sign_raw(h, alg, dg, dl, sig, &sl) == CS_OK;
	}
	raw = (now_s() - t0) / n * 1e6;
	t0 = now_s();
	for (i = 0; i < n; i++) {
		sl = sizeof(sig);
		ok += hsm_sign_digest(h, alg, dg, dl, sig, &sl, NULL) == CS_OK;
	}
	full = (now_s() - t0) / n * 1e6;
	CHECK_INT_EQ(ok, 2 * n);
	printf("measure %s: hsm_sign_raw (C_SignInit+C_Sign) %.1f us/call, hsm_sign_digest "
	       "(sign+DER+verify) %.1f us/call, overhead %.1f us\n",
	    object, raw, full, full - raw);
	hsm_close(h);
}

int
main(void)
{
	struct cs_err err;

	if (softhsm_fixture_setup(&fx, NULL, NULL, NULL, NULL, &err) != CS_OK) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		return 1;
	}
	test_p256_lifecycle();
	test_key_types();
	test_open_refusals();
	test_unsafe_keys();
	test_threads();
	test_latency_histogram();
	measure("ca-p256", HSM_SIG_ECDSA_SHA256, 2000);
	measure("ca-p384", HSM_SIG_ECDSA_SHA384, 300);
	softhsm_fixture_cleanup(&fx);
	return check_finish("test_hsm_sign");
}
