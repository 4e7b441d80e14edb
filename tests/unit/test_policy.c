/*
 * test_policy.c: every refusal of policy_evaluate() with its code and
 * message, the re-delivery and re-issue paths, the quota boundary, and the
 * certificate template built from profile + CA + CSR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "station/config.h"
#include "station/policy.h"
#include "tests/support/check.h"

static const char config_text[] =
    "{\n"
    "  \"hsm\": { \"uri\": \"pkcs11:token=t;object=ca\" },\n"
    "  \"ca\": { \"certificate\": \"ca.pem\" },\n"
    "  \"default_profile\": \"widget-a\",\n"
    "  \"profiles\": {\n"
    "    \"widget-a\": {\n"
    "      \"key_types\": [\"P-256\", \"P-384\"],\n"
    "      \"device_id_pattern\": \"^[A-Z0-9-]{8}$\",\n"
    "      \"require_allowlist\": true,\n"
    "      \"subject\": [ { \"O\": \"Example\" }, { \"OU\": \"lot {lot}\" }, { \"CN\": \"{device_id}\" } ],\n"
    "      \"san\": [ \"DNS:{device_id}.devices.example.com\", \"URI:urn:dev:{device_id}\" ],\n"
    "      \"validity\": { \"days\": 90, \"backdate_seconds\": 600 },\n"
    "      \"key_usage\": [\"digitalSignature\", \"keyAgreement\"],\n"
    "      \"extended_key_usage\": [\"clientAuth\", \"serverAuth\"],\n"
    "      \"crl_urls\": [\"http://pki.example.com/ca.crl\"],\n"
    "      \"ocsp_urls\": [\"http://ocsp.example.com\"],\n"
    "      \"ca_issuers_urls\": [\"http://pki.example.com/ca.cer\", \"https://pki.example.com/ca.cer\"]\n"
    "    },\n"
    "    \"lenient\": {\n"
    "      \"key_types\": [\"RSA\", \"P-256\"],\n"
    "      \"rsa_min_bits\": 3072,\n"
    "      \"reissue\": \"allow-new-key\",\n"
    "      \"csr_requests_ca\": \"ignore\"\n"
    "    },\n"
    "    \"idevid\": {\n"
    "      \"subject\": [ { \"serialNumber\": \"{device_id}\" }, { \"CN\": \"{device_id}\" } ],\n"
    "      \"validity\": { \"not_after\": \"99991231235959Z\" }\n"
    "    },\n"
    "    \"long\": {\n"
    "      \"subject\": [ { \"CN\": \"{device_id}{device_id}{device_id}{device_id}{device_id}\" } ]\n"
    "    }\n"
    "  }\n"
    "}\n";

static struct cs_config *
load_config(void)
{
	char dir[] = "/tmp/test_policy.XXXXXX";
	char path[128];
	struct cs_err err;
	struct cs_config *cfg = NULL;
	FILE *f;

	if (mkdtemp(dir) == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/certstation.json", dir);
	f = fopen(path, "wb");
	if (f != NULL) {
		fputs(config_text, f);
		fclose(f);
		cfg = config_load(path, &err);
		if (cfg == NULL)
			fprintf(stderr, "config: %s\n", err.msg);
		unlink(path);
	}
	rmdir(dir);
	return cfg;
}

static const uint8_t fake_spki[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48};

static void
csr_init(struct csr *c, enum csr_key_type t, unsigned bits)
{
	memset(c, 0, sizeof(*c));
	c->key_type = t;
	c->key_bits = bits;
	c->spki.p = fake_spki;
	c->spki.len = sizeof(fake_spki);
}

static void
facts_init(struct policy_facts *f, const struct csr *c, const char *id)
{
	memset(f, 0, sizeof(*f));
	f->csr = c;
	f->device_id = id;
	f->allowlisted = 1;
	f->lot = "L42";
	f->lot_quota = -1;
}

/* Evaluate and check the code and, for a refusal, the message. */
static void
expect(const struct profile *p, const struct policy_facts *f, int code,
    enum policy_verdict want, const char *msg)
{
	enum policy_verdict v = 0;
	struct cs_err err;
	int rc = policy_evaluate(p, f, &v, &err);

	CHECK_INT_EQ(rc, code);
	CHECK_INT_EQ(err.code, code);
	if (code == 0)
		CHECK_INT_EQ(v, want);
	if (msg != NULL)
		CHECK_MSG_HAS(err, msg);
}

static void
test_evaluate(const struct cs_config *cfg)
{
	const struct profile *w = config_profile(cfg, "widget-a");
	const struct profile *len = config_profile(cfg, "lenient");
	struct csr c, rsa;
	struct policy_facts f;
	char long_id[80];

	CHECK(w != NULL && len != NULL);
	if (w == NULL || len == NULL)
		return;
	csr_init(&c, CSR_KEY_EC_P256, 256);

	/* the happy path */
	facts_init(&f, &c, "AB12-CD3");
	expect(w, &f, 0, POLICY_ISSUE, NULL);

	/* 1. device ID */
	facts_init(&f, &c, "ab cd");
	expect(w, &f, CS_ERR_POLICY_DEVICE_ID, 0,
	    "device ID 'ab cd' does not match profile 'widget-a' pattern ^[A-Z0-9-]{8}$");
	facts_init(&f, &c, "");
	expect(w, &f, CS_ERR_POLICY_DEVICE_ID, 0, "device ID is empty");
	facts_init(&f, &c, NULL);
	expect(w, &f, CS_ERR_POLICY_DEVICE_ID, 0, "device ID is empty");
	facts_init(&f, &c, "AB12\nCD3");
	expect(w, &f, CS_ERR_POLICY_DEVICE_ID, 0, "non-printable byte 0x0a at offset 4");
	facts_init(&f, &c, "AB12\xc3\xa9");
	expect(len, &f, CS_ERR_POLICY_DEVICE_ID, 0, "non-printable byte 0xc3 at offset 4");
	memset(long_id, 'A', 65);
	long_id[65] = '\0';
	facts_init(&f, &c, long_id);
	expect(len, &f, CS_ERR_POLICY_DEVICE_ID, 0, "longer than 64 characters");
	long_id[64] = '\0';
	expect(len, &f, 0, POLICY_ISSUE, NULL);
	/* the device ID is checked before the key */
	csr_init(&rsa, CSR_KEY_RSA, 1024);
	facts_init(&f, &rsa, "bad id");
	expect(w, &f, CS_ERR_POLICY_DEVICE_ID, 0, "does not match");

	/* 2. key type */
	csr_init(&c, CSR_KEY_EC_P521, 521);
	facts_init(&f, &c, "AB12-CD3");
	expect(w, &f, CS_ERR_CSR_KEY_TYPE, 0,
	    "CSR key is P-521; profile 'widget-a' allows P-256, P-384");
	csr_init(&rsa, CSR_KEY_RSA, 2048);
	facts_init(&f, &rsa, "AB12-CD3");
	expect(w, &f, CS_ERR_CSR_KEY_TYPE, 0,
	    "CSR key is RSA-2048; profile 'widget-a' allows P-256, P-384");
	csr_init(&rsa, CSR_KEY_RSA, 1024);
	facts_init(&f, &rsa, "dev-1");
	expect(len, &f, CS_ERR_CSR_KEY_TYPE, 0,
	    "CSR key is RSA-1024; profile 'lenient' requires RSA >= 3072");
	csr_init(&rsa, CSR_KEY_RSA, 3071);
	expect(len, &f, CS_ERR_CSR_KEY_TYPE, 0, "CSR key is RSA-3071");
	csr_init(&rsa, CSR_KEY_RSA, 3072);
	expect(len, &f, 0, POLICY_ISSUE, NULL);
	csr_init(&c, CSR_KEY_EC_OTHER, 256);
	facts_init(&f, &c, "dev-1");
	expect(len, &f, CS_ERR_CSR_KEY_TYPE, 0, "unsupported curve");
	expect(len, &f, CS_ERR_CSR_KEY_TYPE, 0, "profile 'lenient' allows P-256, RSA >= 3072");
	csr_init(&c, CSR_KEY_ED25519, 256);
	expect(len, &f, CS_ERR_CSR_KEY_TYPE, 0, "CSR key is Ed25519");
	csr_init(&c, CSR_KEY_UNKNOWN, 0);
	expect(len, &f, CS_ERR_CSR_KEY_TYPE, 0, "CSR key is of an unknown type");

	/* 3. CA request: refused or ignored as the profile says */
	csr_init(&c, CSR_KEY_EC_P256, 256);
	c.requests_ca = 1;
	facts_init(&f, &c, "AB12-CD3");
	expect(w, &f, CS_ERR_POLICY_CA_REQUEST, 0,
	    "CSR asks for a CA certificate (basicConstraints cA=TRUE); profile 'widget-a' "
	    "refuses such requests");
	facts_init(&f, &c, "dev-1");
	expect(len, &f, 0, POLICY_ISSUE, NULL);
	/* and the CA check comes before the allowlist */
	facts_init(&f, &c, "AB12-CD3");
	f.allowlisted = 0;
	expect(w, &f, CS_ERR_POLICY_CA_REQUEST, 0, NULL);
	c.requests_ca = 0;

	/* 4. allowlist */
	facts_init(&f, &c, "AB12-CD3");
	f.allowlisted = 0;
	expect(w, &f, CS_ERR_POLICY_NOT_ALLOWED, 0,
	    "device ID 'AB12-CD3' is not on the work-order allowlist (profile 'widget-a' "
	    "requires it)");
	facts_init(&f, &c, "dev-1");
	f.allowlisted = 0;
	expect(len, &f, 0, POLICY_ISSUE, NULL);

	/* 5. prior issuance: same key -> REDELIVER, even with the quota used up */
	facts_init(&f, &c, "AB12-CD3");
	f.has_prior = 1;
	f.prior_same_key = 1;
	f.lot_quota = 500;
	f.lot_used = 500;
	expect(w, &f, 0, POLICY_REDELIVER, NULL);
	/* ... but not past the allowlist */
	f.allowlisted = 0;
	expect(w, &f, CS_ERR_POLICY_NOT_ALLOWED, 0, NULL);
	/* new key: refused by same-key-only */
	facts_init(&f, &c, "AB12-CD3");
	f.has_prior = 1;
	f.prior_same_key = 0;
	expect(w, &f, CS_ERR_POLICY_REISSUE, 0,
	    "device ID 'AB12-CD3' already has a certificate for a different key; profile "
	    "'widget-a' allows re-issue only for the same key");
	/* new key: allowed by allow-new-key, a new issuance that counts against the quota */
	facts_init(&f, &c, "dev-1");
	f.has_prior = 1;
	f.prior_same_key = 0;
	expect(len, &f, 0, POLICY_ISSUE, NULL);
	f.lot_quota = 10;
	f.lot_used = 10;
	expect(len, &f, CS_ERR_POLICY_QUOTA, 0, "lot 'L42' quota exhausted: 10 of 10");

	/* 6. quota boundary */
	facts_init(&f, &c, "AB12-CD3");
	f.lot_quota = 500;
	f.lot_used = 499;
	expect(w, &f, 0, POLICY_ISSUE, NULL);
	f.lot_used = 500;
	expect(w, &f, CS_ERR_POLICY_QUOTA, 0,
	    "lot 'L42' quota exhausted: 500 of 500 certificates issued");
	f.lot_quota = 0;
	f.lot_used = 0;
	expect(w, &f, CS_ERR_POLICY_QUOTA, 0, "0 of 0");
	f.lot_quota = -1;
	f.lot_used = 1000000;
	expect(w, &f, 0, POLICY_ISSUE, NULL);

	/* missing arguments */
	{
		enum policy_verdict v;
		struct cs_err err;

		facts_init(&f, NULL, "AB12-CD3");
		CHECK_INT_EQ(policy_evaluate(w, &f, &v, &err), CS_ERR_INVALID_ARG);
		CHECK_INT_EQ(policy_evaluate(NULL, &f, &v, &err), CS_ERR_INVALID_ARG);
	}
}

static void
ca_init(struct ca *ca)
{
	static uint8_t name[] = {0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03,
		0x0c, 0x04, 'l', 'i', 'n', 'e'};

	memset(ca, 0, sizeof(*ca));
	ca->chain_len = 1;
	ca->chain[0].not_before = 1700000000;
	ca->chain[0].not_after = 2000000000;
	ca->issuer_name = name;
	ca->issuer_name_len = sizeof(name);
	memset(ca->ski, 0xAB, 20);
	ca->ski_len = 20;
	ca->key_type = HSM_KEY_EC_P384;
	ca->sig_alg = HSM_SIG_ECDSA_SHA384;
}

static void
test_template(const struct cs_config *cfg)
{
	const struct profile *w = config_profile(cfg, "widget-a");
	const struct profile *id = config_profile(cfg, "idevid");
	const struct profile *lg = config_profile(cfg, "long");
	struct ca ca;
	struct csr c;
	struct cert_template t;
	struct policy_strings *s = malloc(sizeof(*s));
	struct cs_err err;
	const int64_t now = 1750000000;

	CHECK(w != NULL && id != NULL && lg != NULL && s != NULL);
	if (w == NULL || id == NULL || lg == NULL || s == NULL)
		goto out;
	ca_init(&ca);
	csr_init(&c, CSR_KEY_EC_P256, 256);

	/* a regular profile; the serial the caller put in is kept */
	memset(&t, 0x5A, sizeof(t));
	CHECK_INT_EQ(policy_template_fill(w, &ca, "AB12-CD3", "L42", &c, now, &t, s, &err), 0);
	CHECK_INT_EQ(t.serial[0], 0x5A);
	CHECK_INT_EQ(t.serial[CERT_SERIAL_LEN - 1], 0x5A);
	CHECK_INT_EQ(t.sig_alg, HSM_SIG_ECDSA_SHA384);
	CHECK(t.issuer_name == ca.issuer_name && t.issuer_name_len == ca.issuer_name_len);
	CHECK(t.issuer_ski == ca.ski && t.issuer_ski_len == 20);
	CHECK_INT_EQ(t.ca_not_before, 1700000000);
	CHECK_INT_EQ(t.ca_not_after, 2000000000);
	CHECK_INT_EQ(t.not_before, now - 600);
	CHECK_INT_EQ(t.not_after, now + 90 * 86400);
	CHECK_INT_EQ(t.subject_count, 3);
	CHECK_INT_EQ(t.subject[0].type, CERT_RDN_O);
	CHECK(strcmp(t.subject[0].value, "Example") == 0);
	CHECK_INT_EQ(t.subject[1].type, CERT_RDN_OU);
	CHECK(strcmp(t.subject[1].value, "lot L42") == 0);
	CHECK_INT_EQ(t.subject[2].type, CERT_RDN_CN);
	CHECK(strcmp(t.subject[2].value, "AB12-CD3") == 0);
	CHECK(t.subject[2].value == s->subject[2]);
	CHECK_INT_EQ(t.san_count, 2);
	CHECK_INT_EQ(t.san[0].type, CERT_SAN_DNS);
	CHECK(strcmp(t.san[0].value, "AB12-CD3.devices.example.com") == 0);
	CHECK_INT_EQ(t.san[1].type, CERT_SAN_URI);
	CHECK(strcmp(t.san[1].value, "urn:dev:AB12-CD3") == 0);
	CHECK(t.spki == fake_spki && t.spki_len == sizeof(fake_spki));
	CHECK_INT_EQ(t.key_class, CERT_KEY_CLASS_EC);
	CHECK_INT_EQ(t.key_usage, CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_AGREEMENT);
	CHECK_INT_EQ(t.eku_count, 2);
	CHECK_INT_EQ(t.eku[0], CERT_EKU_CLIENT_AUTH);
	CHECK_INT_EQ(t.eku[1], CERT_EKU_SERVER_AUTH);
	CHECK_INT_EQ(t.crl_url_count, 1);
	CHECK(strcmp(t.crl_urls[0], "http://pki.example.com/ca.crl") == 0);
	CHECK_INT_EQ(t.ocsp_url_count, 1);
	CHECK(strcmp(t.ocsp_urls[0], "http://ocsp.example.com") == 0);
	CHECK_INT_EQ(t.ca_issuers_url_count, 2);
	CHECK(strcmp(t.ca_issuers_urls[1], "https://pki.example.com/ca.cer") == 0);

	/* {lot} without a lot is a lint failure naming the attribute */
	CHECK_INT_EQ(policy_template_fill(w, &ca, "AB12-CD3", NULL, &c, now, &t, s, &err),
	    CS_ERR_POLICY_LINT);
	CHECK_MSG_HAS(err, "profile 'widget-a' OU #2 \"lot {lot}\" uses {lot} but the device has "
	    "no lot");

	/* IDevID: notAfter 99991231235959Z, default backdate, no SKI -> no AKI */
	ca.ski_len = 0;
	csr_init(&c, CSR_KEY_RSA, 2048);
	memset(&t, 0, sizeof(t));
	CHECK_INT_EQ(policy_template_fill(id, &ca, "0123456789AB", NULL, &c, now, &t, s, &err), 0);
	CHECK_INT_EQ(t.not_after, CERT_NOT_AFTER_FOREVER);
	CHECK_INT_EQ(t.not_before, now - 300);
	CHECK(t.issuer_ski == NULL && t.issuer_ski_len == 0);
	CHECK_INT_EQ(t.key_class, CERT_KEY_CLASS_RSA);
	CHECK_INT_EQ(t.subject_count, 2);
	CHECK_INT_EQ(t.subject[0].type, CERT_RDN_SERIALNUMBER);
	CHECK(strcmp(t.subject[0].value, "0123456789AB") == 0);
	CHECK_INT_EQ(t.san_count, 0);
	CHECK_INT_EQ(t.key_usage, CERT_KU_DIGITAL_SIGNATURE);
	CHECK_INT_EQ(t.eku_count, 1);
	CHECK_INT_EQ(t.eku[0], CERT_EKU_CLIENT_AUTH);
	CHECK_INT_EQ(t.crl_url_count + t.ocsp_url_count + t.ca_issuers_url_count, 0);

	/* a template that expands past PROFILE_TEMPLATE_MAX */
	{
		char big[65];

		memset(big, 'D', 64);
		big[64] = '\0';
		CHECK_INT_EQ(policy_template_fill(lg, &ca, big, NULL, &c, now, &t, s, &err),
		    CS_ERR_POLICY_LINT);
		CHECK_MSG_HAS(err, "profile 'long' CN #1");
		CHECK_MSG_HAS(err, "expands to more than 255 bytes");
		big[51] = '\0'; /* 5 * 51 = 255: fits exactly */
		CHECK_INT_EQ(policy_template_fill(lg, &ca, big, NULL, &c, now, &t, s, &err), 0);
		CHECK_INT_EQ(strlen(t.subject[0].value), 255);
	}

	/* a key type that cannot be certified, and a CA without a chain */
	csr_init(&c, CSR_KEY_ED25519, 256);
	CHECK_INT_EQ(policy_template_fill(id, &ca, "X", NULL, &c, now, &t, s, &err),
	    CS_ERR_CSR_KEY_TYPE);
	csr_init(&c, CSR_KEY_EC_P256, 256);
	ca.chain_len = 0;
	CHECK_INT_EQ(policy_template_fill(id, &ca, "X", NULL, &c, now, &t, s, &err),
	    CS_ERR_INVALID_ARG);
out:
	free(s);
}

int
main(void)
{
	struct cs_config *cfg = load_config();

	CHECK(cfg != NULL);
	if (cfg != NULL) {
		test_evaluate(cfg);
		test_template(cfg);
	}
	config_free(cfg);
	return check_finish("test_policy");
}
