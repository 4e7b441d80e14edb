/*
 * test_ledger_export.c: the CSV and JSON reports carry the thumbprints
 * OpenSSL computes for a real certificate, validity in ISO 8601, and a PEM
 * that parses back to the stored DER; CSV quoting survives hostile text.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "station/ledger.h"
#include "tests/support/check.h"

static char dir[256];
static char dbpath[512];

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* A self-signed P-256 certificate, DER in *der. */
static int
cert_make(uint8_t **der, int *len)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	int rc = -1;

	*der = NULL;
	if (key == NULL || x == NULL)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x4242);
	ASN1_TIME_set(X509_getm_notBefore(x), 1700000000);
	ASN1_TIME_set(X509_getm_notAfter(x), 1707776000);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"dev-0001", -1,
	    -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	*len = i2d_X509(x, der);
	rc = *len > 0 ? 0 : -1;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static void
thumb(const uint8_t *der, int len, const EVP_MD *md, char *out)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, len);
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	out[0] = '\0';
	if (x == NULL || X509_digest(x, md, h, &n) != 1)
		return;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", h[i]);
	X509_free(x);
}

/* Does the PEM text parse back to exactly der? */
static int
pem_matches(const char *pem, const uint8_t *der, int len)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char *back = NULL;
	int n = x != NULL ? i2d_X509(x, &back) : -1;
	int ok = n == len && memcmp(back, der, (size_t)len) == 0;

	OPENSSL_free(back);
	X509_free(x);
	BIO_free(b);
	return ok;
}

/* Minimal RFC 4180 reader: the field at (row, col), rows from 0 (header). */
static char *
csv_get(const char *s, int row, int col)
{
	int r = 0, c = 0;
	char *out = malloc(strlen(s) + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	while (*s != '\0') {
		int quoted = *s == '"';

		o = 0;
		if (quoted) {
			s++;
			for (; *s != '\0'; s++) {
				if (*s == '"' && s[1] == '"') {
					out[o++] = '"';
					s++;
				} else if (*s == '"') {
					s++;
					break;
				} else {
					out[o++] = *s;
				}
			}
		} else {
			while (*s != '\0' && *s != ',' && *s != '\r' && *s != '\n')
				out[o++] = *s++;
		}
		out[o] = '\0';
		if (r == row && c == col)
			return out;
		if (*s == ',') {
			c++;
			s++;
		} else {
			if (*s == '\r')
				s++;
			if (*s == '\n')
				s++;
			r++;
			c = 0;
		}
	}
	free(out);
	return NULL;
}

static char *
export_text(enum ledger_export_format fmt, int64_t from, int64_t to, int *rc)
{
	struct cs_err err = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*rc = ledger_export(dbpath, f, fmt, from, to, &err);
	if (*rc != 0)
		fprintf(stderr, "export: %s\n", err.msg);
	fclose(f);
	return buf;
}

int
main(void)
{
	struct cs_err err = {0};
	uint8_t *der = NULL;
	int der_len = 0, rc;
	char sha1[41], sha256[65];
	uint8_t serial[LEDGER_SERIAL_LEN] = {0x7A, 0x01};
	ledger *l;
	struct ledger_op op = {0};
	char *text, *field;
	int64_t id;

	snprintf(dir, sizeof(dir), "/tmp/test_ledger_export.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/ledger.db", dir);
	CHECK_INT_EQ(cert_make(&der, &der_len), 0);
	thumb(der, der_len, EVP_sha1(), sha1);
	thumb(der, der_len, EVP_sha256(), sha256);
	CHECK_INT_EQ(strlen(sha1), 40);

	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	if (l == NULL)
		return check_finish("test_ledger_export");
	op.kind = LEDGER_OP_RESERVE;
	op.device_id = "dev-0001";
	op.profile = "widget-a";
	op.lot = "L1";
	op.slot = "7";
	op.serial = serial;
	op.not_before = 1700000000;
	op.not_after = 253402300799; /* 9999-12-31T23:59:59Z, IDevID style */
	CHECK_INT_EQ(ledger_apply(l, &op), 0);
	id = op.id;
	memset(&op, 0, sizeof(op));
	op.kind = LEDGER_OP_SIGNED;
	op.id = id;
	op.cert_der = der;
	op.cert_len = (size_t)der_len;
	CHECK_INT_EQ(ledger_apply(l, &op), 0);
	memset(&op, 0, sizeof(op));
	op.kind = LEDGER_OP_REFUSED;
	op.device_id = "evil,\"dev\"\nnext";
	op.profile = "widget-a";
	op.reason = CS_ERR_POLICY_NOT_ALLOWED;
	op.reason_text = "device ID 'evil' is not on the work order, \"L1\"";
	CHECK_INT_EQ(ledger_apply(l, &op), 0);
	/* a device ID and a sentence a spreadsheet would run as formulas */
	memset(&op, 0, sizeof(op));
	op.kind = LEDGER_OP_REFUSED;
	op.device_id = "=HYPERLINK(\"http://x/\",\"y\")";
	op.profile = "widget-a";
	op.reason = CS_ERR_POLICY_DEVICE_ID;
	op.reason_text = "@SUM(1+1)";
	CHECK_INT_EQ(ledger_apply(l, &op), 0);
	ledger_close(l);

	/* CSV */
	text = export_text(LEDGER_EXPORT_CSV, 0, INT64_MAX, &rc);
	CHECK_INT_EQ(rc, 0);
	CHECK(text != NULL && strncmp(text, "id,device_id,serial,sha1_thumbprint,", 36) == 0);
	field = csv_get(text, 1, 1);
	CHECK(field != NULL && strcmp(field, "dev-0001") == 0);
	free(field);
	field = csv_get(text, 1, 2);
	CHECK(field != NULL && strcmp(field, "7A01000000000000000000000000000000000000") == 0);
	free(field);
	field = csv_get(text, 1, 3);
	CHECK(field != NULL && strcmp(field, sha1) == 0);
	free(field);
	field = csv_get(text, 1, 4);
	CHECK(field != NULL && strcmp(field, sha256) == 0);
	free(field);
	field = csv_get(text, 1, 5);
	CHECK(field != NULL && strcmp(field, "2023-11-14T22:13:20Z") == 0);
	free(field);
	field = csv_get(text, 1, 6);
	CHECK(field != NULL && strcmp(field, "9999-12-31T23:59:59Z") == 0);
	free(field);
	field = csv_get(text, 1, 7);
	CHECK(field != NULL && strcmp(field, "SIGNED") == 0);
	free(field);
	field = csv_get(text, 1, 16);
	CHECK(field != NULL && pem_matches(field, der, der_len));
	free(field);
	/* the hostile refusal round-trips through the quoting */
	field = csv_get(text, 2, 1);
	CHECK(field != NULL && strcmp(field, "evil,\"dev\"\nnext") == 0);
	free(field);
	field = csv_get(text, 2, 8);
	CHECK(field != NULL && strcmp(field, "device-not-allowlisted") == 0);
	free(field);
	field = csv_get(text, 2, 2);
	CHECK(field != NULL && field[0] == '\0'); /* no serial */
	free(field);
	CHECK(strstr(text, "\"evil,\"\"dev\"\"\nnext\"") != NULL);
	/* formula-like cells are kept as text with a leading apostrophe */
	field = csv_get(text, 3, 1);
	CHECK(field != NULL && strcmp(field, "'=HYPERLINK(\"http://x/\",\"y\")") == 0);
	free(field);
	field = csv_get(text, 3, 9);
	CHECK(field != NULL && strcmp(field, "'@SUM(1+1)") == 0);
	free(field);
	free(text);

	/* JSON */
	text = export_text(LEDGER_EXPORT_JSON, 0, INT64_MAX, &rc);
	CHECK_INT_EQ(rc, 0);
	{
		json_error_t jerr;
		json_t *arr = json_loads(text != NULL ? text : "", 0, &jerr);
		json_t *o = json_array_get(arr, 0);

		CHECK(json_is_array(arr));
		CHECK_INT_EQ(json_array_size(arr), 3);
		CHECK(strcmp(json_string_value(json_object_get(o, "sha1_thumbprint")) != NULL
			      ? json_string_value(json_object_get(o, "sha1_thumbprint"))
			      : "",
			  sha1) == 0);
		CHECK(json_string_value(json_object_get(o, "sha256_thumbprint")) != NULL &&
		    strcmp(json_string_value(json_object_get(o, "sha256_thumbprint")), sha256) == 0);
		CHECK(json_string_value(json_object_get(o, "cert_pem")) != NULL &&
		    pem_matches(json_string_value(json_object_get(o, "cert_pem")), der, der_len));
		CHECK_INT_EQ(json_integer_value(json_object_get(o, "id")), id);
		o = json_array_get(arr, 1);
		CHECK(json_is_null(json_object_get(o, "serial")));
		CHECK(json_is_null(json_object_get(o, "cert_pem")));
		CHECK(json_string_value(json_object_get(o, "state")) != NULL &&
		    strcmp(json_string_value(json_object_get(o, "state")), "FAILED") == 0);
		json_decref(arr);
	}
	free(text);

	/* Window: nothing was created before 2000. */
	text = export_text(LEDGER_EXPORT_JSON, 0, 946684800LL * 1000000, &rc);
	CHECK_INT_EQ(rc, 0);
	CHECK(text != NULL && strncmp(text, "[]", 2) == 0);
	free(text);
	text = export_text(LEDGER_EXPORT_CSV, 0, 946684800LL * 1000000, &rc);
	CHECK(text != NULL && csv_get(text, 1, 0) == NULL);
	free(text);

	CHECK_INT_EQ(ledger_export(dbpath, NULL, LEDGER_EXPORT_CSV, 0, INT64_MAX, &err),
	    CS_ERR_INVALID_ARG);
	{
		char missing[600];

		snprintf(missing, sizeof(missing), "%s/none.db", dir);
		CHECK(ledger_export(missing, stdout, LEDGER_EXPORT_CSV, 0, INT64_MAX, &err) != 0);
		CHECK_MSG_HAS(err, "none.db");
	}
	OPENSSL_free(der);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_finish("test_ledger_export");
}
