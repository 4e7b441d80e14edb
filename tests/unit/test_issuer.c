/*
 * test_issuer.c: the issuance transaction through the C API, against a demo
 * PKI in a fresh SoftHSM2 token and a real ledger: results checked with
 * OpenSSL, ledger rows read back, and the concurrency rules the CLI cannot
 * exercise (one job per device ID at a time, exact lot quotas under load).
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "station/demo.h"
#include "station/station.h"
#include "tests/support/check.h"

#define CONCURRENT 10

static char workdir[128];

static uint8_t *
csr_new(EVP_PKEY *key, size_t *len)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char *der = NULL;
	int l;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"ignored", -1, -1,
	    0);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, key);
	X509_REQ_sign(r, key, EVP_sha256());
	l = i2d_X509_REQ(r, &der);
	*len = l > 0 ? (size_t)l : 0;
	X509_NAME_free(n);
	X509_REQ_free(r);
	return der;
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int left;
};

static void
on_done(struct issuer_request *req)
{
	struct waiter *w = req->arg;

	pthread_mutex_lock(&w->mu);
	w->left--;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Submit n requests at once and wait for all of them. */
static void
submit_all(issuer *is, struct issuer_request *reqs, int n)
{
	struct waiter w = {.left = n};

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	for (int i = 0; i < n; i++) {
		reqs[i].done = on_done;
		reqs[i].arg = &w;
		if (issuer_submit(is, &reqs[i]) != CS_OK) {
			CHECK(0);
			w.left--;
		}
	}
	pthread_mutex_lock(&w.mu);
	while (w.left > 0)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
}

static void
test_issue_and_redeliver(struct station *st)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct issuer_request *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct ledger_record rec;
	size_t csr_len = 0;
	uint8_t *csr = csr_new(key, &csr_len);
	const unsigned char *p;
	X509 *x, *ca;
	char cn[80] = "";

	a->csr = csr;
	a->csr_len = csr_len;
	a->device_id = "unit-0001";
	CHECK_INT_EQ(issuer_issue(st->issuer, a), CS_OK);
	CHECK(a->ledger_id > 0 && !a->redelivered);

	/* Independent check: OpenSSL parses it and the issuing CA's key verifies it. */
	p = a->cert_der;
	x = d2i_X509(NULL, &p, (long)a->cert_len);
	p = st->ca->chain[0].der;
	ca = d2i_X509(NULL, &p, (long)st->ca->chain[0].der_len);
	CHECK(x != NULL && ca != NULL);
	if (x != NULL && ca != NULL) {
		const ASN1_INTEGER *sn = X509_get0_serialNumber(x);

		CHECK_INT_EQ(X509_verify(x, X509_get0_pubkey(ca)), 1);
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
		CHECK(strcmp(cn, "unit-0001") == 0);
		CHECK_INT_EQ(X509_check_ca(x), 0);
		CHECK_INT_EQ(ASN1_STRING_length(sn), CERT_SERIAL_LEN);
		CHECK(memcmp(ASN1_STRING_get0_data(sn), a->serial, CERT_SERIAL_LEN) == 0);
	}
	X509_free(x);
	X509_free(ca);

	/* The ledger holds exactly what was handed out. */
	CHECK_INT_EQ(ledger_record_get(st->ledger, a->ledger_id, &rec), CS_OK);
	CHECK_INT_EQ(rec.state, LEDGER_SIGNED);
	CHECK(rec.cert_len == a->cert_len && memcmp(rec.cert_der, a->cert_der, a->cert_len) == 0);
	ledger_record_clear(&rec);

	/* Same ID, same key, a fresh CSR: the stored certificate again. */
	free(csr);
	csr = csr_new(key, &csr_len);
	b->csr = csr;
	b->csr_len = csr_len;
	b->device_id = "unit-0001";
	CHECK_INT_EQ(issuer_issue(st->issuer, b), CS_OK);
	CHECK(b->redelivered);
	CHECK_INT_EQ(b->ledger_id, a->ledger_id);
	CHECK(b->cert_len == a->cert_len && memcmp(b->cert_der, a->cert_der, a->cert_len) == 0);

	OPENSSL_free(csr);
	EVP_PKEY_free(key);
	free(a);
	free(b);
}

static void
test_refusal_recorded(struct station *st)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct issuer_request *r = calloc(1, sizeof(*r));
	struct ledger_record rec;
	size_t csr_len = 0;
	uint8_t *csr = csr_new(key, &csr_len);

	r->csr = csr;
	r->csr_len = csr_len;
	r->device_id = "no spaces allowed";
	CHECK_INT_EQ(issuer_issue(st->issuer, r), CS_ERR_POLICY_DEVICE_ID);
	CHECK_MSG_HAS(r->err, "does not match");
	CHECK(r->ledger_id > 0);
	CHECK_INT_EQ(ledger_record_get(st->ledger, r->ledger_id, &rec), CS_OK);
	CHECK_INT_EQ(rec.state, LEDGER_FAILED);
	CHECK(strcmp(rec.reason, "device-id-rejected") == 0);
	CHECK(!rec.has_serial);
	ledger_record_clear(&rec);
	OPENSSL_free(csr);
	EVP_PKEY_free(key);
	free(r);
}

/* Ten requests for one new device at once: one issuance, no second serial. */
static void
test_same_device_concurrently(struct station *st)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct issuer_request *reqs = calloc(CONCURRENT, sizeof(*reqs));
	uint8_t *csrs[CONCURRENT];
	int issued = 0, busy = 0, again = 0, first = -1;

	for (int i = 0; i < CONCURRENT; i++) {
		csrs[i] = csr_new(key, &reqs[i].csr_len);
		reqs[i].csr = csrs[i];
		reqs[i].device_id = "unit-race";
	}
	submit_all(st->issuer, reqs, CONCURRENT);
	for (int i = 0; i < CONCURRENT; i++) {
		if (reqs[i].status == CS_ERR_BUSY) {
			busy++;
			CHECK_MSG_HAS(reqs[i].err, "already in progress");
		} else if (reqs[i].status == CS_OK && reqs[i].redelivered) {
			again++;
		} else if (reqs[i].status == CS_OK) {
			issued++;
			first = i;
		}
	}
	CHECK_INT_EQ(issued, 1);
	CHECK_INT_EQ(issued + busy + again, CONCURRENT);
	for (int i = 0; i < CONCURRENT && first >= 0; i++)
		if (reqs[i].status == CS_OK)
			CHECK(reqs[i].cert_len == reqs[first].cert_len &&
			      memcmp(reqs[i].cert_der, reqs[first].cert_der, reqs[i].cert_len) == 0);
	for (int i = 0; i < CONCURRENT; i++)
		OPENSSL_free(csrs[i]);
	EVP_PKEY_free(key);
	free(reqs);
}

/* Ten allowlisted devices of a lot with quota 4, all at once: exactly 4. */
static void
test_quota_concurrently(void)
{
	char src[256], dst[256], csv[256];
	struct issuer_request *reqs = calloc(CONCURRENT, sizeof(*reqs));
	uint8_t *csrs[CONCURRENT];
	char ids[CONCURRENT][32];
	struct ledger_import_stats stats;
	struct station *st;
	struct cs_err err;
	json_t *cfg, *profiles, *allow;
	FILE *f;
	int ok = 0, quota = 0;

	snprintf(src, sizeof(src), "%s/certstation.json", workdir);
	snprintf(dst, sizeof(dst), "%s/quota.json", workdir);
	snprintf(csv, sizeof(csv), "%s/lot.csv", workdir);
	cfg = json_load_file(src, 0, NULL);
	profiles = json_object_get(cfg, "profiles");
	allow = json_deep_copy(json_object_get(profiles, "device"));
	json_object_set_new(allow, "require_allowlist", json_true());
	json_object_set_new(profiles, "allow", allow);
	CHECK_INT_EQ(json_dump_file(cfg, dst, JSON_INDENT(2)), 0);
	json_decref(cfg);

	f = fopen(csv, "w");
	for (int i = 0; i < CONCURRENT; i++) {
		snprintf(ids[i], sizeof(ids[i]), "lot-dev-%02d", i);
		fprintf(f, "%s,LOT-Q,4\n", ids[i]);
	}
	fclose(f);

	st = station_open(dst, 0, &err);
	CHECK(st != NULL);
	if (st == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		free(reqs);
		return;
	}
	CHECK_INT_EQ(ledger_workorder_import(st->ledger, csv, &stats, &err), CS_OK);
	for (int i = 0; i < CONCURRENT; i++) {
		EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

		csrs[i] = csr_new(key, &reqs[i].csr_len);
		reqs[i].csr = csrs[i];
		reqs[i].device_id = ids[i];
		reqs[i].profile = "allow";
		EVP_PKEY_free(key);
	}
	submit_all(st->issuer, reqs, CONCURRENT);
	for (int i = 0; i < CONCURRENT; i++) {
		if (reqs[i].status == CS_OK)
			ok++;
		else if (reqs[i].status == CS_ERR_POLICY_QUOTA)
			quota++;
		OPENSSL_free(csrs[i]);
	}
	CHECK_INT_EQ(ok, 4);
	CHECK_INT_EQ(quota, CONCURRENT - 4);
	station_close(st);
	free(reqs);
}

int
main(void)
{
	struct station *st;
	struct cs_err err;
	char cfg[256], cmd[300];

	snprintf(workdir, sizeof(workdir), "/tmp/cs-test-issuer-XXXXXX");
	if (mkdtemp(workdir) == NULL)
		return 1;
	CHECK_INT_EQ(demo_pki_create(workdir, HSM_KEY_EC_P256, NULL, 0, &err), CS_OK);
	snprintf(cfg, sizeof(cfg), "%s/certstation.json", workdir);
	st = station_open(cfg, 0, &err);
	CHECK(st != NULL);
	if (st != NULL) {
		test_issue_and_redeliver(st);
		test_refusal_recorded(st);
		test_same_device_concurrently(st);
		station_close(st);
	} else {
		fprintf(stderr, "station_open: %s\n", err.msg);
	}
	test_quota_concurrently();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", workdir);
	return check_finish("test_issuer");
}
