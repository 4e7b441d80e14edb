/*
 * test_cert.c: certificates built by cert_tbs_encode + cert_assemble, signed
 * with a software CA key the way the HSM would (digest signed, ECDSA as a
 * DER ECDSA-Sig-Value, RSA raw), then read back by OpenSSL: signature,
 * chain verification, every field and extension, and `openssl x509 -text`.
 * Then every lint rule of cert_template_check with its own message.
 */
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "station/cert.h"
#include "tests/support/check.h"

struct ca {
	EVP_PKEY *key;
	X509 *cert;
	uint8_t name[512];
	size_t name_len;
	uint8_t ski[20];
	int64_t not_before, not_after;
};

static int
ca_init(struct ca *ca, EVP_PKEY *key, int64_t not_before, int64_t not_after)
{
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *ski;
	uint8_t *p;
	int n;

	memset(ca, 0, sizeof(*ca));
	ca->key = key;
	ca->not_before = not_before;
	ca->not_after = not_after;
	ca->cert = X509_new();
	X509_set_version(ca->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 7);
	X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"DE", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Acme", -1, -1,
	                           0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                           (const unsigned char *)"Acme Line 3 Issuing CA", -1, -1, 0);
	X509_set_subject_name(ca->cert, name);
	X509_set_issuer_name(ca->cert, name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(ca->cert), (time_t)not_before);
	ASN1_TIME_set(X509_getm_notAfter(ca->cert), (time_t)not_after);
	X509_set_pubkey(ca->cert, key);
	X509V3_set_ctx(&ctx, ca->cert, ca->cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf(NULL, &ctx, "basicConstraints", "critical,CA:TRUE");
	X509_add_ext(ca->cert, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_nconf(NULL, &ctx, "keyUsage", "critical,keyCertSign,cRLSign");
	X509_add_ext(ca->cert, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_nconf(NULL, &ctx, "subjectKeyIdentifier", "hash");
	X509_add_ext(ca->cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (X509_sign(ca->cert, key,
	              EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) <= 0)
		return -1;
	p = ca->name;
	n = i2d_X509_NAME(X509_get_subject_name(ca->cert), &p);
	if (n <= 0)
		return -1;
	ca->name_len = (size_t)n;
	ski = X509_get0_subject_key_id(ca->cert);
	if (ski == NULL || ASN1_STRING_length(ski) != 20)
		return -1;
	memcpy(ca->ski, ASN1_STRING_get0_data(ski), 20);
	return 0;
}

static void
ca_free(struct ca *ca)
{
	X509_free(ca->cert);
}

/* What hsm_sign_digest() returns: DER ECDSA-Sig-Value or the raw RSA signature. */
static int
soft_sign(EVP_PKEY *key, enum hsm_sig_alg alg, const uint8_t *tbs, size_t tbs_len, uint8_t *sig,
          size_t *sig_len)
{
	uint8_t dgst[SHA384_DIGEST_LENGTH];
	size_t dlen = cert_sig_alg_digest_len(alg);
	const EVP_MD *md = dlen == 32 ? EVP_sha256() : EVP_sha384();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	int ok;

	if (dlen == 32)
		SHA256(tbs, tbs_len, dgst);
	else
		SHA384(tbs, tbs_len, dgst);
	ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
	if (ok && (alg == HSM_SIG_RSA_PKCS1_SHA256 || alg == HSM_SIG_RSA_PKCS1_SHA384))
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
	if (ok && (alg == HSM_SIG_RSA_PSS_SHA256 || alg == HSM_SIG_RSA_PSS_SHA384))
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
		     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1;
	if (ok)
		ok = EVP_PKEY_sign(ctx, sig, sig_len, dgst, dlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

static uint8_t dev_spki[1024];
static size_t dev_spki_len;

static void
base_template(struct cert_template *t, const struct ca *ca, enum hsm_sig_alg alg)
{
	memset(t, 0, sizeof(*t));
	RAND_bytes(t->serial, CERT_SERIAL_LEN);
	t->serial[0] &= 0x7f;
	t->serial[0] |= 0x40; /* never zero, top bit clear */
	t->sig_alg = alg;
	t->issuer_name = ca->name;
	t->issuer_name_len = ca->name_len;
	t->issuer_ski = ca->ski;
	t->issuer_ski_len = 20;
	t->ca_not_before = ca->not_before;
	t->ca_not_after = ca->not_after;
	t->not_before = ca->not_before + 3600;
	t->not_after = t->not_before + 90 * 86400;
	t->subject[0] = (struct cert_rdn){CERT_RDN_C, "DE"};
	t->subject[1] = (struct cert_rdn){CERT_RDN_O, "Acme Gerät GmbH"};
	t->subject[2] = (struct cert_rdn){CERT_RDN_SERIALNUMBER, "SN-0042/7"};
	t->subject[3] = (struct cert_rdn){CERT_RDN_CN, "dev-0001"};
	t->subject_count = 4;
	t->san[0] = (struct cert_san){CERT_SAN_DNS, "dev-0001.devices.example.com"};
	t->san[1] = (struct cert_san){CERT_SAN_URI, "urn:dev:mac:0024befffe804ff1"};
	t->san[2] = (struct cert_san){CERT_SAN_EMAIL, "ops@example.com"};
	t->san[3] = (struct cert_san){CERT_SAN_IP, "192.0.2.17"};
	t->san[4] = (struct cert_san){CERT_SAN_IP, "2001:db8::17"};
	t->san_count = 5;
	t->spki = dev_spki;
	t->spki_len = dev_spki_len;
	t->key_class = CERT_KEY_CLASS_EC;
	t->key_usage = CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_AGREEMENT;
	t->eku[0] = CERT_EKU_CLIENT_AUTH;
	t->eku[1] = CERT_EKU_SERVER_AUTH;
	t->eku_count = 2;
	t->crl_urls[0] = "http://pki.example.com/line3.crl";
	t->crl_urls[1] = "http://pki-backup.example.com/line3.crl";
	t->crl_url_count = 2;
	t->ocsp_urls[0] = "http://ocsp.example.com";
	t->ocsp_url_count = 1;
	t->ca_issuers_urls[0] = "http://pki.example.com/line3.cer";
	t->ca_issuers_url_count = 1;
}

/* Encode, sign, assemble, parse with OpenSSL; NULL on any failure. */
static X509 *
issue(const struct cert_template *t, const struct ca *ca, uint8_t *der, size_t *der_len)
{
	uint8_t tbs[CERT_MAX_DER], sig[1024];
	size_t tbs_len, sig_len = sizeof(sig);
	const uint8_t *p;
	X509 *x;

	CHECK_INT_EQ(cert_tbs_encode(t, tbs, sizeof(tbs), &tbs_len), 0);
	if (cert_tbs_encode(t, tbs, sizeof(tbs), &tbs_len) != 0)
		return NULL;
	CHECK_INT_EQ(soft_sign(ca->key, t->sig_alg, tbs, tbs_len, sig, &sig_len), 0);
	CHECK_INT_EQ(
	    cert_assemble(tbs, tbs_len, t->sig_alg, sig, sig_len, der, CERT_MAX_DER, der_len), 0);
	p = der;
	x = d2i_X509(NULL, &p, (long)*der_len);
	CHECK(x != NULL);
	CHECK(x == NULL || p == der + *der_len);
	return x;
}

static int
openssl_text_ok(const uint8_t *der, size_t len)
{
	char path[] = "/tmp/test_cert_XXXXXX";
	char cmd[256];
	int fd = mkstemp(path), rc;
	FILE *f;

	if (fd < 0)
		return 0;
	f = fdopen(fd, "wb");
	fwrite(der, 1, len, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "openssl x509 -inform DER -noout -text -in %s >/dev/null 2>&1",
	         path);
	rc = system(cmd);
	unlink(path);
	return rc == 0;
}

static int
chain_ok(X509 *leaf, X509 *root)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	X509_STORE_add_cert(store, root);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	/* The CA's validity is set by the test, the leaf's may be in the future. */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		fprintf(stderr, "# chain: %s\n",
		        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok == 1;
}

static int
name_text(X509_NAME *n, int nid, char *buf, int len, int *type)
{
	int i = X509_NAME_get_index_by_NID(n, nid, -1);
	ASN1_STRING *s;

	if (i < 0)
		return -1;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
	*type = ASN1_STRING_type(s);
	snprintf(buf, (size_t)len, "%.*s", ASN1_STRING_length(s),
	         (const char *)ASN1_STRING_get0_data(s));
	return 0;
}

static const uint8_t *
find_bytes(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t n)
{
	for (size_t i = 0; i + n <= hay_len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

static void
check_full_cert(const struct ca *ca, EVP_PKEY *dev, enum hsm_sig_alg alg)
{
	struct cert_template t;
	uint8_t der[CERT_MAX_DER], ski[20];
	size_t len = 0;
	X509 *x;
	char buf[256];
	int type, crit = -1;
	BIGNUM *want, *got;
	BASIC_CONSTRAINTS *bc;
	GENERAL_NAMES *san;
	STACK_OF(DIST_POINT) * dps;
	AUTHORITY_INFO_ACCESS *aia;
	struct cs_err err;

	base_template(&t, ca, alg);
	CHECK_INT_EQ(cert_template_check(&t, &err), 0);
	x = issue(&t, ca, der, &len);
	if (x == NULL)
		return;
	fprintf(stderr, "# alg %d: certificate %zu bytes\n", (int)alg, len);

	CHECK_INT_EQ(X509_verify(x, ca->key), 1);
	CHECK(chain_ok(x, ca->cert));
	CHECK(openssl_text_ok(der, len));
	CHECK_INT_EQ(X509_get_version(x), 2);
	CHECK_INT_EQ(X509_check_ca(x), 0);
	CHECK_INT_EQ(EVP_PKEY_eq(X509_get0_pubkey(x), dev), 1);

	want = BN_bin2bn(t.serial, CERT_SERIAL_LEN, NULL);
	got = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	CHECK(BN_cmp(want, got) == 0 && !BN_is_negative(got));
	BN_free(want);
	BN_free(got);

	CHECK_INT_EQ(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca->cert)), 0);
	CHECK_INT_EQ(name_text(X509_get_subject_name(x), NID_commonName, buf, sizeof(buf), &type),
	             0);
	CHECK(strcmp(buf, "dev-0001") == 0 && type == V_ASN1_UTF8STRING);
	CHECK_INT_EQ(name_text(X509_get_subject_name(x), NID_countryName, buf, sizeof(buf), &type),
	             0);
	CHECK(strcmp(buf, "DE") == 0 && type == V_ASN1_PRINTABLESTRING);
	CHECK_INT_EQ(name_text(X509_get_subject_name(x), NID_serialNumber, buf, sizeof(buf), &type),
	             0);
	CHECK(strcmp(buf, "SN-0042/7") == 0 && type == V_ASN1_PRINTABLESTRING);
	CHECK_INT_EQ(
	    name_text(X509_get_subject_name(x), NID_organizationName, buf, sizeof(buf), &type), 0);
	CHECK(strcmp(buf, "Acme Gerät GmbH") == 0 && type == V_ASN1_UTF8STRING);
	CHECK_INT_EQ(X509_NAME_entry_count(X509_get_subject_name(x)), 4);

	CHECK_INT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)t.not_before), 0);
	CHECK_INT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)t.not_after), 0);

	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	CHECK(bc != NULL && bc->ca == 0 && bc->pathlen == NULL);
	CHECK_INT_EQ(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	CHECK(find_bytes(der, len,
	                 (const uint8_t *)"\x06\x03\x55\x1d\x13\x01\x01\xff\x04\x02\x30\x00",
	                 12) != NULL);

	CHECK_INT_EQ(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
	ASN1_BIT_STRING_free(X509_get_ext_d2i(x, NID_key_usage, &crit, NULL));
	CHECK_INT_EQ(crit, 1);
	/* digitalSignature + keyAgreement = bits 0 and 4: 3 unused bits, 0x88 */
	CHECK(find_bytes(der, len, (const uint8_t *)"\x04\x04\x03\x02\x03\x88", 6) != NULL);
	CHECK_INT_EQ(X509_get_extended_key_usage(x), XKU_SSL_CLIENT | XKU_SSL_SERVER);

	san = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	CHECK(san != NULL && sk_GENERAL_NAME_num(san) == 5);
	CHECK_INT_EQ(crit, 0);
	if (san != NULL && sk_GENERAL_NAME_num(san) == 5) {
		GENERAL_NAME *g;
		int gt;
		ASN1_STRING *s;

		g = sk_GENERAL_NAME_value(san, 0);
		s = GENERAL_NAME_get0_value(g, &gt);
		CHECK(gt == GEN_DNS && strcmp((const char *)ASN1_STRING_get0_data(s),
		                              "dev-0001.devices.example.com") == 0);
		g = sk_GENERAL_NAME_value(san, 1);
		s = GENERAL_NAME_get0_value(g, &gt);
		CHECK(gt == GEN_URI && strcmp((const char *)ASN1_STRING_get0_data(s),
		                              "urn:dev:mac:0024befffe804ff1") == 0);
		g = sk_GENERAL_NAME_value(san, 2);
		s = GENERAL_NAME_get0_value(g, &gt);
		CHECK(gt == GEN_EMAIL &&
		      strcmp((const char *)ASN1_STRING_get0_data(s), "ops@example.com") == 0);
		g = sk_GENERAL_NAME_value(san, 3);
		s = GENERAL_NAME_get0_value(g, &gt);
		CHECK(gt == GEN_IPADD && ASN1_STRING_length(s) == 4 &&
		      memcmp(ASN1_STRING_get0_data(s), "\xc0\x00\x02\x11", 4) == 0);
		g = sk_GENERAL_NAME_value(san, 4);
		s = GENERAL_NAME_get0_value(g, &gt);
		CHECK(gt == GEN_IPADD && ASN1_STRING_length(s) == 16 &&
		      memcmp(ASN1_STRING_get0_data(s),
		             "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17",
		             16) == 0);
	}
	GENERAL_NAMES_free(san);

	CHECK_INT_EQ(cert_ski_from_spki(t.spki, t.spki_len, ski), 0);
	CHECK(X509_get0_subject_key_id(x) != NULL &&
	      ASN1_STRING_length(X509_get0_subject_key_id(x)) == 20 &&
	      memcmp(ASN1_STRING_get0_data(X509_get0_subject_key_id(x)), ski, 20) == 0);
	{
		uint8_t md[20];
		unsigned mdlen = 0;

		/* OpenSSL's own "hash" method gives the same identifier. */
		X509_pubkey_digest(x, EVP_sha1(), md, &mdlen);
		CHECK(mdlen == 20 && memcmp(md, ski, 20) == 0);
	}
	CHECK(X509_get0_authority_key_id(x) != NULL &&
	      memcmp(ASN1_STRING_get0_data(X509_get0_authority_key_id(x)), ca->ski, 20) == 0);

	dps = X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, NULL);
	CHECK(dps != NULL && sk_DIST_POINT_num(dps) == 1);
	if (dps != NULL && sk_DIST_POINT_num(dps) == 1) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, 0);
		GENERAL_NAMES *full = dp->distpoint != NULL && dp->distpoint->type == 0
		                          ? dp->distpoint->name.fullname
		                          : NULL;

		CHECK(full != NULL && sk_GENERAL_NAME_num(full) == 2);
		if (full != NULL && sk_GENERAL_NAME_num(full) == 2) {
			int gt;
			ASN1_STRING *s =
			    GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(full, 1), &gt);

			CHECK(gt == GEN_URI &&
			      strcmp((const char *)ASN1_STRING_get0_data(s),
			             "http://pki-backup.example.com/line3.crl") == 0);
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);

	aia = X509_get_ext_d2i(x, NID_info_access, &crit, NULL);
	CHECK(aia != NULL && sk_ACCESS_DESCRIPTION_num(aia) == 2);
	if (aia != NULL && sk_ACCESS_DESCRIPTION_num(aia) == 2) {
		ACCESS_DESCRIPTION *a0 = sk_ACCESS_DESCRIPTION_value(aia, 0);
		ACCESS_DESCRIPTION *a1 = sk_ACCESS_DESCRIPTION_value(aia, 1);

		CHECK_INT_EQ(OBJ_obj2nid(a0->method), NID_ad_OCSP);
		CHECK_INT_EQ(OBJ_obj2nid(a1->method), NID_ad_ca_issuers);
		CHECK(a0->location->type == GEN_URI &&
		      strcmp((const char *)ASN1_STRING_get0_data(
		                 a0->location->d.uniformResourceIdentifier),
		             "http://ocsp.example.com") == 0);
	}
	AUTHORITY_INFO_ACCESS_free(aia);

	/* Signature algorithm as OpenSSL reads it. */
	{
		int want_nid = alg == HSM_SIG_ECDSA_SHA256       ? NID_ecdsa_with_SHA256
		               : alg == HSM_SIG_ECDSA_SHA384     ? NID_ecdsa_with_SHA384
		               : alg == HSM_SIG_RSA_PKCS1_SHA256 ? NID_sha256WithRSAEncryption
		               : alg == HSM_SIG_RSA_PKCS1_SHA384 ? NID_sha384WithRSAEncryption
		                                                 : NID_rsassaPss;

		CHECK_INT_EQ(X509_get_signature_nid(x), want_nid);
	}
	X509_free(x);
}

static void
test_issue(void)
{
	time_t now = time(NULL);
	EVP_PKEY *ca_ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ca_ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *ca_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct ca ca;
	uint8_t *p = dev_spki;
	int n;

	n = i2d_PUBKEY(dev, &p);
	CHECK(n > 0);
	dev_spki_len = (size_t)n;

	CHECK_INT_EQ(ca_init(&ca, ca_ec, (int64_t)now - 86400, (int64_t)now + 20 * 365 * 86400), 0);
	check_full_cert(&ca, dev, HSM_SIG_ECDSA_SHA256);
	ca_free(&ca);
	CHECK_INT_EQ(ca_init(&ca, ca_ec384, (int64_t)now - 86400, (int64_t)now + 20 * 365 * 86400),
	             0);
	check_full_cert(&ca, dev, HSM_SIG_ECDSA_SHA384);
	ca_free(&ca);
	CHECK_INT_EQ(ca_init(&ca, ca_rsa, (int64_t)now - 86400, (int64_t)now + 20 * 365 * 86400),
	             0);
	check_full_cert(&ca, dev, HSM_SIG_RSA_PKCS1_SHA256);
	check_full_cert(&ca, dev, HSM_SIG_RSA_PKCS1_SHA384);
	check_full_cert(&ca, dev, HSM_SIG_RSA_PSS_SHA256);
	check_full_cert(&ca, dev, HSM_SIG_RSA_PSS_SHA384);
	ca_free(&ca);

	EVP_PKEY_free(ca_ec);
	EVP_PKEY_free(ca_ec384);
	EVP_PKEY_free(ca_rsa);
	EVP_PKEY_free(dev);
}

static void
test_times_and_minimal(void)
{
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct cert_template t;
	struct ca ca;
	uint8_t der[CERT_MAX_DER], tbs[CERT_MAX_DER];
	size_t len = 0, tbs_len, small_len;
	X509 *x;
	const ASN1_TIME *tm;
	struct cs_err err;
	int fails = 0;

	/* 1970..2038 for the OpenSSL CA itself; the leaf spans 2049/2050 and FOREVER. */
	CHECK_INT_EQ(ca_init(&ca, ca_key, 0, (int64_t)2145916800), 0);
	base_template(&t, &ca, HSM_SIG_ECDSA_SHA256);
	t.ca_not_after = CERT_NOT_AFTER_FOREVER;
	t.not_before = (int64_t)2524607999; /* 2049-12-31T23:59:59Z: last UTCTime */
	t.not_after = CERT_NOT_AFTER_FOREVER;
	t.key_usage = CERT_KU_DIGITAL_SIGNATURE;
	CHECK_INT_EQ(cert_template_check(&t, &err), 0);
	x = issue(&t, &ca, der, &len);
	if (x != NULL) {
		tm = X509_get0_notBefore(x);
		CHECK(ASN1_STRING_type(tm) == V_ASN1_UTCTIME &&
		      strcmp((const char *)ASN1_STRING_get0_data(tm), "491231235959Z") == 0);
		tm = X509_get0_notAfter(x);
		CHECK(ASN1_STRING_type(tm) == V_ASN1_GENERALIZEDTIME &&
		      strcmp((const char *)ASN1_STRING_get0_data(tm), "99991231235959Z") == 0);
		CHECK_INT_EQ(X509_verify(x, ca_key), 1);
		CHECK(openssl_text_ok(der, len));
		/* digitalSignature alone: 7 unused bits, one octet 0x80 */
		CHECK(find_bytes(der, len, (const uint8_t *)"\x04\x04\x03\x02\x07\x80", 6) != NULL);
		X509_free(x);
	}
	t.not_before = (int64_t)2524608000; /* 2050-01-01: GeneralizedTime */
	t.key_usage = CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_AGREEMENT;
	x = issue(&t, &ca, der, &len);
	if (x != NULL) {
		tm = X509_get0_notBefore(x);
		CHECK(ASN1_STRING_type(tm) == V_ASN1_GENERALIZEDTIME &&
		      strcmp((const char *)ASN1_STRING_get0_data(tm), "20500101000000Z") == 0);
		X509_free(x);
	}
	t.not_before = (int64_t)-631152001; /* 1949-12-31T23:59:59Z */
	t.ca_not_before = t.not_before;
	x = issue(&t, &ca, der, &len);
	if (x != NULL) {
		tm = X509_get0_notBefore(x);
		CHECK(ASN1_STRING_type(tm) == V_ASN1_GENERALIZEDTIME &&
		      strcmp((const char *)ASN1_STRING_get0_data(tm), "19491231235959Z") == 0);
		X509_free(x);
	}
	t.not_before = 951782400; /* 2000-02-29T00:00:00Z */
	x = issue(&t, &ca, der, &len);
	if (x != NULL) {
		CHECK(strcmp((const char *)ASN1_STRING_get0_data(X509_get0_notBefore(x)),
		             "000229000000Z") == 0);
		X509_free(x);
	}

	/* A serial with leading zero octets is written minimal. */
	memset(t.serial, 0, sizeof(t.serial));
	t.serial[CERT_SERIAL_LEN - 2] = 0x01;
	t.serial[CERT_SERIAL_LEN - 1] = 0x02;
	CHECK_INT_EQ(cert_tbs_encode(&t, tbs, sizeof(tbs), &tbs_len), 0);
	CHECK(memcmp(tbs + 4, "\xa0\x03\x02\x01\x02\x02\x02\x01\x02", 9) == 0 ||
	      memcmp(tbs + 3, "\xa0\x03\x02\x01\x02\x02\x02\x01\x02", 9) == 0);
	/* Top bit set: the encoder refuses rather than write a negative serial. */
	t.serial[0] = 0x80;
	CHECK_INT_EQ(cert_tbs_encode(&t, tbs, sizeof(tbs), &tbs_len), CS_ERR_INVALID_ARG);
	memset(t.serial, 0, sizeof(t.serial));
	CHECK_INT_EQ(cert_tbs_encode(&t, tbs, sizeof(tbs), &tbs_len), CS_ERR_INVALID_ARG);
	t.serial[0] = 0x12;

	/* Hard ceiling: every smaller buffer is CS_ERR_TOO_LARGE, never a
	 * partial certificate. */
	CHECK_INT_EQ(cert_tbs_encode(&t, tbs, sizeof(tbs), &tbs_len), 0);
	for (size_t cap = 0; cap < tbs_len; cap++)
		if (cert_tbs_encode(&t, tbs, cap, &small_len) != CS_ERR_TOO_LARGE)
			fails++;
	CHECK_INT_EQ(fails, 0);
	CHECK_INT_EQ(cert_tbs_encode(&t, tbs, tbs_len, &small_len), 0);
	CHECK_INT_EQ(small_len, tbs_len);
	CHECK_INT_EQ(cert_assemble(tbs, tbs_len, HSM_SIG_ECDSA_SHA256, (const uint8_t *)"\x30\x00",
	                           2, der, tbs_len + 10, &len),
	             CS_ERR_TOO_LARGE);
	CHECK_INT_EQ(cert_assemble(tbs, tbs_len - 1, HSM_SIG_ECDSA_SHA256,
	                           (const uint8_t *)"\x30\x00", 2, der, sizeof(der), &len),
	             CS_ERR_INVALID_ARG);

	/* PrintableString refuses what it cannot carry. */
	t.subject[2].value = "SN_42";
	CHECK_INT_EQ(cert_tbs_encode(&t, tbs, sizeof(tbs), &tbs_len), CS_ERR_INVALID_ARG);
	t.subject[2].value = "SN-42";
	t.san[3].value = "300.1.1.1";
	CHECK_INT_EQ(cert_tbs_encode(&t, tbs, sizeof(tbs), &tbs_len), CS_ERR_INVALID_ARG);
	t.san[3].value = "10.0.0.1";

	/* No optional extension at all still makes a valid certificate. */
	t.san_count = 0;
	t.eku_count = 0;
	t.key_usage = 0;
	t.crl_url_count = t.ocsp_url_count = t.ca_issuers_url_count = 0;
	t.issuer_ski = NULL;
	x = issue(&t, &ca, der, &len);
	if (x != NULL) {
		CHECK_INT_EQ(X509_get_ext_count(x), 2); /* basicConstraints + SKI */
		CHECK_INT_EQ(X509_verify(x, ca_key), 1);
		X509_free(x);
	}

	CHECK_INT_EQ(cert_sig_alg_digest_len(HSM_SIG_ECDSA_SHA256), 32);
	CHECK_INT_EQ(cert_sig_alg_digest_len(HSM_SIG_RSA_PSS_SHA384), 48);
	CHECK_INT_EQ(cert_sig_alg_digest_len(HSM_SIG_RSA_PKCS1_SHA384), 48);
	CHECK_INT_EQ(cert_sig_alg_digest_len((enum hsm_sig_alg)99), 0);
	ca_free(&ca);
	EVP_PKEY_free(ca_key);
}

/* ---- lint ------------------------------------------------------------------ */

enum lint_case {
	L_SERIAL_TOP,
	L_SERIAL_ZERO,
	L_SIG_ALG,
	L_ISSUER,
	L_SPKI,
	L_KEY_CLASS,
	L_ORDER,
	L_BEFORE_CA,
	L_AFTER_CA,
	L_NO_CN,
	L_TWO_CN,
	L_CN_LONG,
	L_O_LONG,
	L_C_LOWER,
	L_C_LEN,
	L_SERIALNUMBER_CHAR,
	L_EMPTY,
	L_BAD_UTF8,
	L_RDN_TYPE,
	L_DNS,
	L_IP,
	L_URI,
	L_EMAIL,
	L_SAN_COUNT,
	L_SAN_TYPE,
	L_KU_CERTSIGN,
	L_KU_ENC_EC,
	L_KU_AGREE_RSA,
	L_KU_UNKNOWN,
	L_EKU_DUP,
	L_EKU_UNKNOWN,
	L_CRL_URL,
	L_OCSP_URL,
	L_CAISSUERS_URL,
	L_COUNT
};

static const char *
lint_apply(struct cert_template *t, enum lint_case c)
{
	static char long_cn[80], long_o[80];

	memset(long_cn, 'a', 65);
	long_cn[65] = '\0';
	memset(long_o, 'o', 65);
	long_o[65] = '\0';
	switch (c) {
	case L_SERIAL_TOP:
		t->serial[0] = 0x80;
		return "top bit set";
	case L_SERIAL_ZERO:
		memset(t->serial, 0, CERT_SERIAL_LEN);
		return "serial number is zero";
	case L_SIG_ALG:
		t->sig_alg = (enum hsm_sig_alg)42;
		return "signature algorithm 42 is unknown";
	case L_ISSUER:
		t->issuer_name_len = 3;
		return "issuer Name is missing or not one DER SEQUENCE";
	case L_SPKI:
		t->spki = NULL;
		return "subjectPublicKeyInfo is missing";
	case L_KEY_CLASS:
		t->key_class = (enum cert_key_class)0;
		return "key class 0 is unknown";
	case L_ORDER:
		t->not_after = t->not_before;
		return "is not before notAfter";
	case L_BEFORE_CA:
		t->not_before = t->ca_not_before - 1;
		return "before the CA certificate's notBefore";
	case L_AFTER_CA:
		t->not_after = t->ca_not_after + 1;
		return "after the CA certificate's notAfter";
	case L_NO_CN:
		t->subject[3].type = CERT_RDN_OU;
		return "subject has no CN";
	case L_TWO_CN:
		t->subject[4] = (struct cert_rdn){CERT_RDN_CN, "dev-0002"};
		t->subject_count = 5;
		return "subject has 2 CNs";
	case L_CN_LONG:
		t->subject[3].value = long_cn;
		return "CN is 65 characters";
	case L_O_LONG:
		t->subject[1].value = long_o;
		return "subject O is 65 characters";
	case L_C_LOWER:
		t->subject[0].value = "de";
		return "C \"de\" is not 2 capital letters";
	case L_C_LEN:
		t->subject[0].value = "DEU";
		return "C \"DEU\" is not 2 capital letters";
	case L_SERIALNUMBER_CHAR:
		t->subject[2].value = "SN_42";
		return "serialNumber has character 0x5f at position 2";
	case L_EMPTY:
		t->subject[1].value = "";
		return "subject O is empty";
	case L_BAD_UTF8:
		t->subject[1].value = "Acme \xc3\x28";
		return "subject O is not valid UTF-8";
	case L_RDN_TYPE:
		t->subject[1].type = (enum cert_rdn_type)77;
		return "subject attribute 1 has unknown type 77";
	case L_DNS:
		t->san[0].value = "bad_name.example.com";
		return "dNSName \"bad_name.example.com\"";
	case L_IP:
		t->san[3].value = "192.0.2.300";
		return "iPAddress \"192.0.2.300\" is neither";
	case L_URI:
		t->san[1].value = "no scheme here";
		return "subjectAltName URI";
	case L_EMAIL:
		t->san[2].value = "ops.example.com";
		return "rfc822Name \"ops.example.com\"";
	case L_SAN_COUNT:
		t->san_count = CERT_MAX_SAN + 1;
		return "9 subjectAltNames; at most 8";
	case L_SAN_TYPE:
		t->san[0].type = (enum cert_san_type)9;
		return "subjectAltName 0 has unknown type 9";
	case L_KU_CERTSIGN:
		t->key_usage |= CERT_KU_KEY_CERT_SIGN;
		return "keyCertSign/cRLSign on an end-entity";
	case L_KU_ENC_EC:
		t->key_usage |= CERT_KU_KEY_ENCIPHERMENT;
		return "keyEncipherment needs an RSA key";
	case L_KU_AGREE_RSA:
		t->key_class = CERT_KEY_CLASS_RSA;
		return "keyAgreement needs an EC key";
	case L_KU_UNKNOWN:
		t->key_usage |= 1u << 8;
		return "has bits this station does not define";
	case L_EKU_DUP:
		t->eku[2] = CERT_EKU_CLIENT_AUTH;
		t->eku_count = 3;
		return "extendedKeyUsage lists value 2 twice";
	case L_EKU_UNKNOWN:
		t->eku[0] = (enum cert_eku)55;
		return "extendedKeyUsage 0 has unknown value 55";
	case L_CRL_URL:
		t->crl_urls[1] = "pki.example.com/line3.crl";
		return "CRL distribution point URL \"pki.example.com/line3.crl\"";
	case L_OCSP_URL:
		t->ocsp_urls[0] = "http://ocsp example";
		return "OCSP URL";
	case L_CAISSUERS_URL:
		t->ca_issuers_urls[0] = NULL;
		return "caIssuers URL \"(null)\"";
	default:
		return NULL;
	}
}

static void
test_lint(void)
{
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct ca ca;
	struct cert_template t;
	struct cs_err err;
	char seen[L_COUNT][CS_ERR_MSG_MAX];

	CHECK_INT_EQ(ca_init(&ca, ca_key, 1000000000, 2000000000), 0);
	base_template(&t, &ca, HSM_SIG_ECDSA_SHA256);
	CHECK_INT_EQ(cert_template_check(&t, &err), 0);
	CHECK_INT_EQ(cert_template_check(NULL, &err), CS_ERR_INVALID_ARG);

	for (int c = 0; c < L_COUNT; c++) {
		const char *frag;

		base_template(&t, &ca, HSM_SIG_ECDSA_SHA256);
		frag = lint_apply(&t, (enum lint_case)c);
		cs_err_clear(&err);
		CHECK_INT_EQ(cert_template_check(&t, &err), CS_ERR_POLICY_LINT);
		CHECK_INT_EQ(err.code, CS_ERR_POLICY_LINT);
		CHECK_MSG_HAS(err, frag);
		snprintf(seen[c], sizeof(seen[c]), "%s", err.msg);
		/* each rule has its own sentence */
		for (int k = 0; k < c; k++)
			if (strcmp(seen[k], seen[c]) == 0) {
				fprintf(stderr, "# lint cases %d and %d share \"%s\"\n", k, c,
				        seen[c]);
				CHECK(0);
			}
	}

	/* Upper bounds count characters, not bytes: 64 two-byte characters pass. */
	{
		static char cn[200];

		for (int i = 0; i < 64; i++)
			memcpy(cn + 2 * i, "\xc3\xa9", 2);
		cn[128] = '\0';
		base_template(&t, &ca, HSM_SIG_ECDSA_SHA256);
		t.subject[3].value = cn;
		CHECK_INT_EQ(cert_template_check(&t, &err), 0);
	}
	/* keyEncipherment is fine with an RSA key. */
	base_template(&t, &ca, HSM_SIG_ECDSA_SHA256);
	t.key_class = CERT_KEY_CLASS_RSA;
	t.key_usage = CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_ENCIPHERMENT;
	CHECK_INT_EQ(cert_template_check(&t, &err), 0);
	ca_free(&ca);
	EVP_PKEY_free(ca_key);
}

/* Serials: 20 octets, positive, time-ordered prefix, 128 random bits. */
static void
test_serial_generate(void)
{
	uint8_t a[CERT_SERIAL_LEN], b[CERT_SERIAL_LEN], c[CERT_SERIAL_LEN];
	const int64_t t0 = (int64_t)1795000000 * 1000000;

	CHECK_INT_EQ(cert_serial_generate(a, t0), 0);
	CHECK_INT_EQ(cert_serial_generate(b, t0), 0);
	CHECK_INT_EQ(cert_serial_generate(c, t0 + 1000), 0); /* one millisecond later */
	CHECK((a[0] & 0xc0) == 0x40); /* positive and never a leading zero octet */
	CHECK((c[0] & 0xc0) == 0x40);
	CHECK(memcmp(a, b, 4) == 0);  /* same millisecond, same prefix */
	CHECK(memcmp(a + 4, b + 4, CERT_SERIAL_RANDOM_LEN) != 0);
	CHECK(memcmp(a, c, 4) < 0);   /* later serials sort after earlier ones */
	/* The prefix wraps after 2^30 ms and stays positive. */
	CHECK_INT_EQ(cert_serial_generate(c, t0 + (int64_t)(1u << 30) * 1000), 0);
	CHECK(memcmp(a, c, 4) == 0);
}

int
main(void)
{
	test_serial_generate();
	test_issue();
	test_times_and_minimal();
	test_lint();
	return check_finish("test_cert");
}
