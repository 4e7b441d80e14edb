/*
 * ca_setup.c: the issuing CA put into service: key generation in the token,
 * the CA's own certificate request, and installing the certificate the
 * offline root returns (contract in ca_setup.h).
 *
 * DESIGN: the request is built with OpenSSL's X509_REQ (subject, the HSM's
 * SubjectPublicKeyInfo, the extension request), and its
 * CertificationRequestInfo is encoded with i2d_re_X509_REQ_tbs(). The token
 * signs its digest, and cert_assemble() wraps info, algorithm and
 * signature: a CertificationRequest (RFC 2986) has the same outer shape as
 * a Certificate (SEQUENCE { info, AlgorithmIdentifier, BIT STRING }), so
 * the request carries exactly the AlgorithmIdentifier the station's
 * certificates carry, RSASSA-PSS parameters included. The result is parsed
 * back and verified by OpenSSL before anyone sees it.
 *
 * Runs once per command, from the command line: OpenSSL objects are fine.
 */
#include "station/clock.h"
#include "station/ca_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "station/ca.h"
#include "station/file_read.h"

#define CA_CHAIN_MAX_TEXT "8" /* CA_CHAIN_MAX as text, for messages */
_Static_assert(CA_CHAIN_MAX == 8, "CA_CHAIN_MAX_TEXT is out of date");

/* ---- subject parser --------------------------------------------------------------------- */

enum ca_attr_kind {
	CA_ATTR_UTF8 = 1, /* UTF8String */
	CA_ATTR_PRINTABLE, /* PrintableString */
	CA_ATTR_COUNTRY,   /* PrintableString, two capital letters (ISO 3166) */
};

struct ca_attr_def {
	enum cert_rdn_type type;
	const char *name;      /* as OpenSSL prints it */
	const char *long_name;
	int nid;
	size_t max_chars;      /* RFC 5280 appendix A upper bound */
	enum ca_attr_kind kind;
	int once;              /* may appear at most once */
};

static const struct ca_attr_def ca_attr_defs[] = {
	{CERT_RDN_CN, "CN", "commonName", NID_commonName, 64, CA_ATTR_UTF8, 1},
	{CERT_RDN_O, "O", "organizationName", NID_organizationName, 64, CA_ATTR_UTF8, 0},
	{CERT_RDN_OU, "OU", "organizationalUnitName", NID_organizationalUnitName, 64, CA_ATTR_UTF8,
	    0},
	{CERT_RDN_C, "C", "countryName", NID_countryName, 2, CA_ATTR_COUNTRY, 1},
	{CERT_RDN_ST, "ST", "stateOrProvinceName", NID_stateOrProvinceName, 128, CA_ATTR_UTF8, 0},
	{CERT_RDN_L, "L", "localityName", NID_localityName, 128, CA_ATTR_UTF8, 0},
	{CERT_RDN_SERIALNUMBER, "serialNumber", "serialNumber", NID_serialNumber, 64,
	    CA_ATTR_PRINTABLE, 1},
};
#define CA_ATTR_DEFS (sizeof(ca_attr_defs) / sizeof(ca_attr_defs[0]))
#define CA_ATTR_KNOWN "CN, O, OU, C, ST, L, serialNumber"

static const struct ca_attr_def *
ca_attr_def_find(enum cert_rdn_type t)
{
	for (size_t i = 0; i < CA_ATTR_DEFS; i++)
		if (ca_attr_defs[i].type == t)
			return &ca_attr_defs[i];
	return NULL;
}

static const struct ca_attr_def *
ca_attr_def_lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < CA_ATTR_DEFS; i++) {
		const struct ca_attr_def *d = &ca_attr_defs[i];

		if ((strlen(d->name) == len && strncasecmp(d->name, name, len) == 0) ||
		    (strlen(d->long_name) == len && strncasecmp(d->long_name, name, len) == 0))
			return d;
	}
	return NULL;
}

const char *
ca_subject_attr_name(enum cert_rdn_type t)
{
	const struct ca_attr_def *d = ca_attr_def_find(t);

	return d != NULL ? d->name : "?";
}

/* A name from hostile input, shown safely: printable ASCII as is, anything
 * else as \xNN, at most 32 input bytes. */
static void
ca_show_bytes(char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && i < 32 && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\'')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
	}
	if (len > 32 && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < cap ? o : cap - 1] = '\0';
}

/* One strict UTF-8 sequence (no overlong forms, no surrogates, at most
 * U+10FFFF): its length and *cp, or 0 if invalid. */
static size_t
ca_utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3fu);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* PrintableString (X.680 41.4): A-Z a-z 0-9 space ' ( ) + , - . / : = ? */
static int
ca_printable(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	    strchr(" '()+,-./:=?", ch) != NULL;
}

/* Check one decoded value; src[i] is the 1-based input byte of value byte i. */
static int
ca_value_check(const struct ca_attr_def *d, const struct ca_subject_attr *a,
    const size_t *src, size_t name_pos, struct cs_err *err)
{
	const unsigned char *v = (const unsigned char *)a->value;
	size_t chars = 0, i, n;
	uint32_t cp;

	if (a->len == 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "subject byte %zu: %s has an empty value; give %s=VALUE or leave the attribute out",
		    name_pos, d->name, d->name);
	for (i = 0; i < a->len; i += n) {
		if (v[i] == '\0')
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: %s contains a NUL byte", src[i], d->name);
		n = ca_utf8_next(v + i, a->len - i, &cp);
		if (n == 0)
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: %s is not valid UTF-8 (byte 0x%02x)", src[i], d->name,
			    v[i]);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: %s contains the control character U+%04X", src[i],
			    d->name, (unsigned)cp);
		if (d->kind != CA_ATTR_UTF8 && !(cp < 0x80 && ca_printable((unsigned char)cp)))
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: %s may hold only A-Z a-z 0-9 space and ' ( ) + , - . / : = ? "
			    "(PrintableString)",
			    src[i], d->name);
		chars++;
	}
	if (v[0] == ' ' || v[a->len - 1] == ' ')
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "subject byte %zu: %s begins or ends with a blank; remove it", name_pos, d->name);
	if (d->kind == CA_ATTR_COUNTRY) {
		if (a->len != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z')
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: C must be a two-letter ISO 3166 country code in capitals "
			    "(e.g. C=DE), got '%s'",
			    name_pos, a->len <= 8 ? a->value : "(longer)");
		return CS_OK;
	}
	if (chars > d->max_chars)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "subject byte %zu: %s is %zu characters; RFC 5280 allows at most %zu", name_pos,
		    d->name, chars, d->max_chars);
	return CS_OK;
}

int
ca_subject_parse(const char *text, size_t len, struct ca_subject *out, struct cs_err *err)
{
	size_t src[CA_SUBJECT_VALUE_MAX];
	size_t pos, name_start, seen[CA_ATTR_DEFS] = {0};
	const struct ca_attr_def *d;
	struct ca_subject_attr *a;
	char shown[200];
	int rc, have_cn = 0;

	cs_err_clear(err);
	if (out == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "ca_subject_parse: no output");
	memset(out, 0, sizeof(*out));
	if (text == NULL || len == 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "subject is empty; give it as \"/CN=Line 1 Issuing CA/O=Company/C=DE\"");
	if (len > CA_SUBJECT_MAX_LEN)
		return cs_err_set(err, CS_ERR_TOO_LARGE, "subject is %zu bytes; at most %d are accepted",
		    len, CA_SUBJECT_MAX_LEN);
	if (text[0] != '/')
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "subject byte 1: must start with '/' (OpenSSL form: /CN=.../O=.../C=..)");
	pos = 1;
	for (;;) {
		name_start = pos;
		if (pos == len || text[pos] == '/')
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: empty component (a '/' %s); every component is NAME=VALUE",
			    pos, pos == len ? "at the end" : "followed by '/'");
		while (pos < len && text[pos] != '=' && text[pos] != '/')
			pos++;
		if (pos == len || text[pos] == '/') {
			ca_show_bytes(shown, sizeof(shown), text + name_start, pos - name_start);
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: component '%s' has no '='; every component is NAME=VALUE",
			    name_start + 1, shown);
		}
		if (pos == name_start)
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: attribute name missing before '='", name_start + 1);
		d = ca_attr_def_lookup(text + name_start, pos - name_start);
		if (d == NULL) {
			ca_show_bytes(shown, sizeof(shown), text + name_start, pos - name_start);
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: unknown attribute '%s' (known: " CA_ATTR_KNOWN ")",
			    name_start + 1, shown);
		}
		if (out->count == CA_SUBJECT_MAX_ATTRS)
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: more than %d attributes", name_start + 1,
			    CA_SUBJECT_MAX_ATTRS);
		if (d->once && seen[d - ca_attr_defs] > 0)
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			    "subject byte %zu: %s appears twice (first at byte %zu); it may appear once",
			    name_start + 1, d->name, seen[d - ca_attr_defs]);
		seen[d - ca_attr_defs] = name_start + 1;
		a = &out->attr[out->count];
		a->type = d->type;
		pos++; /* '=' */
		while (pos < len && text[pos] != '/') {
			size_t at = pos;

			if (text[pos] == '\\') {
				if (pos + 1 == len)
					return cs_err_set(err, CS_ERR_INVALID_ARG,
					    "subject byte %zu: a '\\' at the end escapes nothing", pos + 1);
				pos++;
			}
			if (a->len == CA_SUBJECT_VALUE_MAX)
				return cs_err_set(err, CS_ERR_INVALID_ARG,
				    "subject byte %zu: %s is longer than %d bytes", name_start + 1, d->name,
				    CA_SUBJECT_VALUE_MAX);
			src[a->len] = at + 1;
			a->value[a->len++] = text[pos++];
		}
		a->value[a->len] = '\0';
		rc = ca_value_check(d, a, src, name_start + 1, err);
		if (rc != CS_OK)
			return rc;
		if (d->type == CERT_RDN_CN)
			have_cn = 1;
		out->count++;
		if (pos == len)
			break;
		pos++; /* '/' */
	}
	if (!have_cn)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "subject has no CN; the issuing CA needs a name (e.g. /CN=Line 1 Issuing CA/O=...)");
	return CS_OK;
}

int
ca_subject_format(const struct ca_subject *s, char *buf, size_t cap)
{
	size_t o = 0;

	if (buf == NULL || cap == 0)
		return CS_ERR_TOO_LARGE;
	buf[0] = '\0';
	for (size_t i = 0; i < s->count; i++) {
		const char *name = ca_subject_attr_name(s->attr[i].type);
		size_t nl = strlen(name);

		if (o + nl + 2 >= cap)
			return CS_ERR_TOO_LARGE;
		buf[o++] = '/';
		memcpy(buf + o, name, nl);
		o += nl;
		buf[o++] = '=';
		for (size_t k = 0; k < s->attr[i].len; k++) {
			char ch = s->attr[i].value[k];

			if (o + 3 >= cap)
				return CS_ERR_TOO_LARGE;
			if (ch == '/' || ch == '\\')
				buf[o++] = '\\';
			buf[o++] = ch;
		}
	}
	buf[o] = '\0';
	return CS_OK;
}

/* The X509_NAME for s, each value with the string type its attribute needs. */
static X509_NAME *
ca_subject_name(const struct ca_subject *s)
{
	X509_NAME *name = X509_NAME_new();

	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < s->count; i++) {
		const struct ca_attr_def *d = ca_attr_def_find(s->attr[i].type);
		int type = d != NULL && d->kind == CA_ATTR_UTF8 ? V_ASN1_UTF8STRING
								: V_ASN1_PRINTABLESTRING;

		if (d == NULL ||
		    X509_NAME_add_entry_by_NID(name, d->nid, type,
			(const unsigned char *)s->attr[i].value, (int)s->attr[i].len, -1, 0) != 1) {
			X509_NAME_free(name);
			return NULL;
		}
	}
	return name;
}

/* ---- small helpers ---------------------------------------------------------------------- */

void
ca_hex(char *out, size_t cap, const uint8_t *v, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 3 <= cap; i++) {
		out[o++] = hex[v[i] >> 4];
		out[o++] = hex[v[i] & 15];
	}
	out[o < cap ? o : cap - 1] = '\0';
}

static int
ca_asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

static char *
ca_pem_of(X509 *x)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long len;

	if (mem != NULL && PEM_write_bio_X509(mem, x) == 1) {
		len = BIO_get_mem_data(mem, &data);
		out = len > 0 ? malloc((size_t)len + 1) : NULL;
		if (out != NULL) {
			memcpy(out, data, (size_t)len);
			out[len] = '\0';
		}
	}
	BIO_free(mem);
	return out;
}

/* ---- key generation --------------------------------------------------------------------- */

/* uri with ";id=%.." added to its path part (before any '?'). */
static int
ca_uri_add_id(const char *uri, const uint8_t *id, size_t id_len, char *out, size_t cap)
{
	const char *q = strchr(uri, '?');
	size_t path_len = q != NULL ? (size_t)(q - uri) : strlen(uri);
	size_t o;

	if (path_len + 4 + 3 * id_len + (q != NULL ? strlen(q) : 0) + 1 > cap)
		return CS_ERR_TOO_LARGE;
	memcpy(out, uri, path_len);
	o = path_len;
	memcpy(out + o, ";id=", 4);
	o += 4;
	for (size_t i = 0; i < id_len; i++)
		o += (size_t)snprintf(out + o, cap - o, "%%%02x", id[i]);
	snprintf(out + o, cap - o, "%s", q != NULL ? q : "");
	return CS_OK;
}

int
ca_key_generate(const struct hsm_config *cfg, enum hsm_key_type type,
    struct ca_keygen_result *out, struct cs_err *err)
{
	struct hsm_config hc;
	struct hsm_key_info ki;
	struct p11_uri u;
	char uri[P11_URI_MAX + 1];
	hsm *h = NULL;
	int rc;

	cs_err_clear(err);
	if (cfg == NULL || cfg->uri == NULL || out == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "ca_key_generate: missing argument");
	memset(out, 0, sizeof(*out));
	rc = p11_uri_parse(cfg->uri, strnlen(cfg->uri, P11_URI_MAX + 1), &u, err);
	if (rc != CS_OK)
		return rc;
	if (!u.has_object)
		return cs_err_set(err, CS_ERR_CONFIG,
		    "hsm.uri has no object= attribute: the new key needs a label (e.g. "
		    "pkcs11:token=line1;object=issuing-ca)");

	/* Is the key there already? Opened with the configured URI, as the
	 * station will open it. */
	hc = *cfg;
	hc.sessions = 1;
	hc.flags |= HSM_OPEN_KEY_OPTIONAL;
	h = hsm_open(&hc, err);
	if (h == NULL)
		return err->code;
	if (hsm_key_info_get(h, &ki) == CS_OK) {
		rc = cs_err_set(err, CS_ERR_CONFIG,
		    "token '%s' already holds the key '%s' (%s); refusing to generate another. "
		    "Look at it with `certstation ca show`",
		    ki.token_label, ki.key_label, hsm_key_type_name(ki.type));
		goto out;
	}

	/* A CKA_ID chosen here (unless the URI gives one) so that it can be
	 * reported: the handle is opened again with it in the URI, and the
	 * key is still found by its label later. */
	if (u.has_id) {
		memcpy(out->id, u.id, u.id_len);
		out->id_len = u.id_len;
		snprintf(uri, sizeof(uri), "%s", cfg->uri);
	} else {
		out->id_len = 8;
		if (RAND_bytes(out->id, (int)out->id_len) != 1) {
			rc = cs_err_set(err, CS_ERR_INTERNAL, "the CSPRNG failed making a CKA_ID");
			goto out;
		}
		if (ca_uri_add_id(cfg->uri, out->id, out->id_len, uri, sizeof(uri)) != CS_OK) {
			rc = cs_err_set(err, CS_ERR_CONFIG, "hsm.uri is too long to add an id= to it");
			goto out;
		}
		hsm_close(h);
		hc.uri = uri;
		h = hsm_open(&hc, err);
		if (h == NULL)
			return err->code;
	}
	rc = hsm_key_generate(h, type, err);
	if (rc != CS_OK)
		goto out;
	rc = hsm_key_info_get(h, &out->key);
	if (rc != CS_OK) {
		cs_err_set(err, rc, "the new key cannot be read back from the token");
		goto out;
	}
	if (out->key.sensitive == 0 || out->key.extractable != 0) {
		rc = cs_err_set(err, CS_ERR_HSM_KEY_EXTRACTABLE,
		    "the token made key '%s' with CKA_SENSITIVE=%s, CKA_EXTRACTABLE=%s",
		    out->key.key_label, out->key.sensitive ? "TRUE" : "FALSE",
		    out->key.extractable ? "TRUE" : "FALSE");
		goto out;
	}
	SHA256(out->key.spki, out->key.spki_len, out->spki_sha256);
	/* For display: the configured URI (pin-source left out), not the one
	 * with the id added here. */
	if (!u.has_id)
		p11_uri_format(&u, out->key.uri, sizeof(out->key.uri));
	rc = CS_OK;
out:
	hsm_close(h);
	return rc;
}

/* ---- the CA's certificate request ------------------------------------------------------- */

static int
ca_req_extensions(X509_REQ *req, const struct hsm_key_info *ki, unsigned pathlen)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	uint8_t id[20];
	int ok = 0;

	if (bc == NULL || ku == NULL || ski == NULL)
		goto out;
	bc->ca = 0xff;
	bc->pathlen = ASN1_INTEGER_new();
	if (bc->pathlen == NULL || ASN1_INTEGER_set(bc->pathlen, (long)pathlen) != 1)
		goto out;
	/* bit 5 keyCertSign, bit 6 cRLSign (RFC 5280 4.2.1.3) */
	if (ASN1_BIT_STRING_set_bit(ku, 5, 1) != 1 || ASN1_BIT_STRING_set_bit(ku, 6, 1) != 1)
		goto out;
	if (cert_ski_from_spki(ki->spki, ki->spki_len, id) != 0 ||
	    ASN1_OCTET_STRING_set(ski, id, (int)sizeof(id)) != 1)
		goto out;
	if (X509V3_add1_i2d(&exts, NID_basic_constraints, bc, 1, X509V3_ADD_APPEND) != 1 ||
	    X509V3_add1_i2d(&exts, NID_key_usage, ku, 1, X509V3_ADD_APPEND) != 1 ||
	    X509V3_add1_i2d(&exts, NID_subject_key_identifier, ski, 0, X509V3_ADD_APPEND) != 1)
		goto out;
	ok = X509_REQ_add_extensions(req, exts) == 1;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	ASN1_OCTET_STRING_free(ski);
	return ok ? 0 : -1;
}

int
ca_csr_create(hsm *h, const struct ca_subject *subj, unsigned pathlen, int rsa_pss, char **pem,
    struct cs_err *err)
{
	struct hsm_key_info ki;
	X509_REQ *req = NULL, *done = NULL;
	X509_NAME *name = NULL;
	EVP_PKEY *pub = NULL;
	BIO *mem = NULL;
	unsigned char *tbs = NULL, *spki = NULL;
	const unsigned char *p;
	uint8_t digest[64], sig[HSM_SIG_MAX], der[CERT_MAX_DER];
	size_t sig_len = sizeof(sig), der_len = 0, dlen;
	enum hsm_sig_alg alg;
	char *data;
	long plen;
	int n, rc;

	cs_err_clear(err);
	if (pem == NULL || subj == NULL || subj->count == 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "ca_csr_create: missing argument");
	*pem = NULL;
	if (pathlen > CA_PATHLEN_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "pathlen %u is above %d; an issuing CA on the line signs devices only (pathlen 0)",
		    pathlen, CA_PATHLEN_MAX);
	rc = hsm_key_info_get(h, &ki);
	if (rc != CS_OK)
		return cs_err_set(err, CS_ERR_HSM_KEY_NOT_FOUND,
		    "the token has no CA key yet; create it with `certstation ca keygen`");
	alg = ca_sig_alg_for(ki.type, rsa_pss);
	dlen = cert_sig_alg_digest_len(alg);

	p = ki.spki;
	pub = d2i_PUBKEY(NULL, &p, (long)ki.spki_len);
	req = X509_REQ_new();
	name = ca_subject_name(subj);
	if (pub == NULL || req == NULL || name == NULL || X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pub) != 1) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot build the request around the HSM key");
		goto out;
	}
	/* The request must carry the token's public key byte for byte. */
	n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki);
	if (n <= 0 || (size_t)n != ki.spki_len || memcmp(spki, ki.spki, ki.spki_len) != 0) {
		rc = cs_err_set(err, CS_ERR_INTERNAL,
		    "OpenSSL re-encodes the HSM public key differently; refusing to build the request");
		goto out;
	}
	if (ca_req_extensions(req, &ki, pathlen) != 0) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot add the request's extensions");
		goto out;
	}
	n = i2d_re_X509_REQ_tbs(req, &tbs);
	if (n <= 0) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot encode the request");
		goto out;
	}
	if (dlen == SHA384_DIGEST_LENGTH)
		SHA384(tbs, (size_t)n, digest);
	else
		SHA256(tbs, (size_t)n, digest);
	rc = hsm_sign_digest(h, alg, digest, dlen, sig, &sig_len, err);
	if (rc != CS_OK)
		goto out;
	rc = cert_assemble(tbs, (size_t)n, alg, sig, sig_len, der, sizeof(der), &der_len);
	if (rc != CS_OK) {
		cs_err_set(err, rc, "the signed request does not fit in %d bytes", CERT_MAX_DER);
		goto out;
	}

	/* What leaves here is what OpenSSL reads back and verifies. */
	p = der;
	done = d2i_X509_REQ(NULL, &p, (long)der_len);
	if (done == NULL || p != der + der_len) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "OpenSSL cannot read the signed request back");
		goto out;
	}
	if (X509_REQ_verify(done, pub) != 1) {
		rc = cs_err_set(err, CS_ERR_HSM_BAD_SIGNATURE,
		    "the request's signature does not verify with the HSM public key");
		goto out;
	}
	if (X509_NAME_cmp(X509_REQ_get_subject_name(done), name) != 0) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "the signed request's subject differs");
		goto out;
	}
	mem = BIO_new(BIO_s_mem());
	if (mem == NULL || PEM_write_bio_X509_REQ(mem, done) != 1) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "cannot write the request as PEM");
		goto out;
	}
	plen = BIO_get_mem_data(mem, &data);
	*pem = plen > 0 ? malloc((size_t)plen + 1) : NULL;
	if (*pem == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*pem, data, (size_t)plen);
	(*pem)[plen] = '\0';
	rc = CS_OK;
out:
	BIO_free(mem);
	OPENSSL_free(tbs);
	OPENSSL_free(spki);
	X509_REQ_free(done);
	X509_REQ_free(req);
	X509_NAME_free(name);
	EVP_PKEY_free(pub);
	ERR_clear_error();
	return rc;
}

/* ---- installing the returned certificate ------------------------------------------------ */

/* Every certificate in buf: PEM (one or more), or one DER certificate that
 * fills the buffer. 0 and the count, or CS_ERR_INVALID_ARG with err. */
static int
ca_has_pem(const char *buf, size_t len)
{
	static const char marker[] = "-----BEGIN";

	for (size_t i = 0; i + sizeof(marker) - 1 <= len; i++)
		if (memcmp(buf + i, marker, sizeof(marker) - 1) == 0)
			return 1;
	return 0;
}

/* too_many: the sentence that follows "holds more than N certificate(s)". */
static int
ca_certs_read(const char *path, const char *what, const char *buf, size_t len, X509 **xs,
    size_t cap, const char *too_many, size_t *count, struct cs_err *err)
{
	BIO *mem = NULL;
	X509 *x;
	int rc = CS_OK;

	*count = 0;
	ERR_clear_error();
	if (len > 0 && !ca_has_pem(buf, len)) {
		const unsigned char *p = (const unsigned char *)buf;

		x = d2i_X509(NULL, &p, (long)len);
		if (x == NULL || p != (const unsigned char *)buf + len) {
			X509_free(x);
			rc = cs_err_set(err, CS_ERR_INVALID_ARG,
			    "%s: %s is neither PEM nor one DER certificate", path, what);
			goto out;
		}
		xs[(*count)++] = x;
		goto out;
	}
	mem = BIO_new_mem_buf(buf, (int)len);
	if (mem == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((x = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL) {
		if (*count == cap) {
			X509_free(x);
			rc = cs_err_set(err, CS_ERR_INVALID_ARG, "%s: %s holds more than %zu certificate%s; %s",
			    path, what, cap, cap == 1 ? "" : "s", too_many);
			goto out;
		}
		xs[(*count)++] = x;
	}
	/* EOF ends with "no start line"; anything else is a broken block */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: certificate %zu of %s cannot be read (broken PEM or DER)", path, *count + 1,
		    what);
		goto out;
	}
	if (*count == 0)
		rc = cs_err_set(err, CS_ERR_INVALID_ARG, "%s: no PEM certificate in %s", path, what);
out:
	ERR_clear_error();
	BIO_free(mem);
	return rc;
}

static const char *
ca_ku_names(uint32_t ku, char *buf, size_t cap)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{KU_DIGITAL_SIGNATURE, "digitalSignature"}, {KU_NON_REPUDIATION, "nonRepudiation"},
		{KU_KEY_ENCIPHERMENT, "keyEncipherment"}, {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
		{KU_KEY_AGREEMENT, "keyAgreement"}, {KU_KEY_CERT_SIGN, "keyCertSign"},
		{KU_CRL_SIGN, "cRLSign"}, {KU_ENCIPHER_ONLY, "encipherOnly"},
		{KU_DECIPHER_ONLY, "decipherOnly"},
	};
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((ku & names[i].bit) != 0 && o + strlen(names[i].name) + 3 < cap)
			o += (size_t)snprintf(buf + o, cap - o, "%s%s", o > 0 ? ", " : "", names[i].name);
	if (o == 0)
		snprintf(buf, cap, "nothing");
	return buf;
}

/* The certificate's own rules: key, CA:TRUE, keyCertSign, validity. */
static int
ca_cert_rules(const char *cert_file, X509 *x, const char *subject, const struct hsm_key_info *key,
    int64_t now, struct cs_err *err)
{
	unsigned char *spki = NULL;
	uint8_t h1[32], h2[32];
	char x1[65], x2[65], t1[32], t2[32], kus[160];
	BASIC_CONSTRAINTS *bc = NULL;
	int64_t nb, na;
	int n, crit = 0, rc = CS_OK;
	uint32_t flags;

	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	if (n <= 0 || (size_t)n != key->spki_len || memcmp(spki, key->spki, key->spki_len) != 0) {
		SHA256(key->spki, key->spki_len, h2);
		ca_hex(x2, sizeof(x2), h2, sizeof(h2));
		if (n > 0) {
			SHA256(spki, (size_t)n, h1);
			ca_hex(x1, sizeof(x1), h1, sizeof(h1));
		} else {
			snprintf(x1, sizeof(x1), "unreadable");
		}
		rc = cs_err_set(err, CS_ERR_HSM_KEY_MISMATCH,
		    "%s: '%s' is a certificate for another key: its public key (SPKI SHA-256 %s) is "
		    "not the HSM key '%s' (%s, SPKI SHA-256 %s); have the request from "
		    "`certstation ca csr` signed",
		    cert_file, subject, x1, key->key_label, hsm_key_type_name(key->type), x2);
		goto out;
	}
	flags = X509_get_extension_flags(x);
	if ((flags & EXFLAG_INVALID) != 0) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: '%s' has an extension that cannot be decoded (or one that appears twice)",
		    cert_file, subject);
		goto out;
	}
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	if (bc == NULL) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: '%s' has no basicConstraints extension, so it is not a CA certificate; the "
		    "root must sign it with basicConstraints critical, CA:TRUE",
		    cert_file, subject);
		goto out;
	}
	if (!bc->ca) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: '%s' has basicConstraints CA:FALSE: it is not a CA certificate and could not "
		    "sign device certificates; the root must sign it with CA:TRUE (as the request asks)",
		    cert_file, subject);
		goto out;
	}
	if ((flags & EXFLAG_KUSAGE) == 0) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: '%s' has no keyUsage extension; an issuing CA certificate needs keyUsage "
		    "keyCertSign (and cRLSign)",
		    cert_file, subject);
		goto out;
	}
	if ((X509_get_key_usage(x) & KU_KEY_CERT_SIGN) == 0) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: '%s' keyUsage lacks keyCertSign (it allows %s): the key could not sign "
		    "device certificates",
		    cert_file, subject, ca_ku_names(X509_get_key_usage(x), kus, sizeof(kus)));
		goto out;
	}
	if (ca_asn1_time_unix(X509_get0_notBefore(x), &nb) != 0 ||
	    ca_asn1_time_unix(X509_get0_notAfter(x), &na) != 0) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG, "%s: '%s' has an unreadable validity",
		    cert_file, subject);
		goto out;
	}
	cs_time_text(nb, t1, sizeof(t1));
	cs_time_text(na, t2, sizeof(t2));
	if (now < nb) {
		char tn[32];

		cs_time_text(now, tn, sizeof(tn));
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: '%s' is not valid yet: notBefore %s is after now (%s); check this PC's "
		    "clock and the dates the root signed with",
		    cert_file, subject, t1, tn);
		goto out;
	}
	if (now > na) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: '%s' has expired: notAfter %s (valid from %s)", cert_file, subject, t2, t1);
		goto out;
	}
out:
	BASIC_CONSTRAINTS_free(bc);
	OPENSSL_free(spki);
	return rc;
}

static const char *
ca_verify_hint(int e)
{
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		return "; the chain file lacks the certificate that issued it, or holds another "
		       "root";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "; the signature does not verify with the issuer's key";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "; a self-signed certificate cannot be the issuing CA here";
	default:
		return "";
	}
}

int
ca_install_check(const char *cert_file, const char *chain_file, const struct hsm_key_info *key,
    int64_t now, struct ca_install_plan *out, struct cs_err *err)
{
	X509 *certs[1] = {NULL}, *chain[CA_CHAIN_MAX] = {NULL};
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL, *path = NULL;
	char *buf = NULL, subject[256], csubj[256];
	size_t len, ncert = 0, nchain = 0, roots = 0;
	int rc, e, depth;

	cs_err_clear(err);
	if (out == NULL || key == NULL || cert_file == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "ca_install_check: missing argument");
	memset(out, 0, sizeof(*out));

	/* the certificate */
	rc = cs_file_read(cert_file, "a CA certificate file", CA_CERT_FILE_MAX, 0, &buf, &len, err);
	if (rc != CS_OK)
		goto out;
	rc = ca_certs_read(cert_file, "the --cert file", buf, len, certs, 1,
	    "give the issuing CA certificate alone with --cert and the certificates above it "
	    "with --chain",
	    &ncert, err);
	free(buf);
	buf = NULL;
	if (rc != CS_OK)
		goto out;
	X509_NAME_oneline(X509_get_subject_name(certs[0]), subject, sizeof(subject));
	rc = ca_cert_rules(cert_file, certs[0], subject, key, now, err);
	if (rc != CS_OK)
		goto out;

	/* the chain above it */
	if (chain_file == NULL) {
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "no --chain given: the certificate must verify up to the company's self-signed "
		    "root; give --chain FILE with the root (and any intermediate CA)");
		goto out;
	}
	rc = cs_file_read(chain_file, "a CA chain file", CA_CHAIN_FILE_MAX, 0, &buf, &len, err);
	if (rc != CS_OK)
		goto out;
	rc = ca_certs_read(chain_file, "the --chain file", buf, len, chain, CA_CHAIN_MAX - 1,
	    "the station's CA chain is at most " CA_CHAIN_MAX_TEXT " certificates long", &nchain,
	    err);
	if (rc != CS_OK)
		goto out;
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || untrusted == NULL || ctx == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nchain; i++) {
		if (X509_self_signed(chain[i], 1) == 1) {
			if (X509_STORE_add_cert(store, chain[i]) != 1) {
				rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot use a root certificate");
				goto out;
			}
			roots++;
		} else if (sk_X509_push(untrusted, chain[i]) <= 0) {
			rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (roots == 0) {
		X509_NAME_oneline(X509_get_subject_name(chain[0]), csubj, sizeof(csubj));
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "%s: no self-signed root certificate among its %zu certificate%s (the first is "
		    "'%s'); the chain must end at the company's root: add the root certificate",
		    chain_file, nchain, nchain == 1 ? "" : "s", csubj);
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, certs[0], untrusted) != 1) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot set up the chain verification");
		goto out;
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	if (X509_verify_cert(ctx) != 1) {
		X509 *bad = X509_STORE_CTX_get_current_cert(ctx);

		e = X509_STORE_CTX_get_error(ctx);
		depth = X509_STORE_CTX_get_error_depth(ctx);
		if (bad != NULL)
			X509_NAME_oneline(X509_get_subject_name(bad), csubj, sizeof(csubj));
		else
			snprintf(csubj, sizeof(csubj), "?");
		rc = cs_err_set(err, CS_ERR_INVALID_ARG,
		    "'%s' does not verify up to a self-signed root in %s: at depth %d ('%s'): %s "
		    "(X509_V_ERR %d)%s",
		    subject, chain_file, depth, csubj, X509_verify_cert_error_string(e), e,
		    ca_verify_hint(e));
		goto out;
	}
	path = X509_STORE_CTX_get1_chain(ctx);
	if (path == NULL || sk_X509_num(path) < 2) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "the verified chain is empty");
		goto out;
	}

	/* the plan: the certificate, and the verified path above it in order */
	out->cert_pem = ca_pem_of(certs[0]);
	if (out->cert_pem == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 1; i < sk_X509_num(path); i++) {
		char *pem = ca_pem_of(sk_X509_value(path, i));
		size_t have = out->chain_pem != NULL ? strlen(out->chain_pem) : 0;
		char *grown = pem != NULL ? realloc(out->chain_pem, have + strlen(pem) + 1) : NULL;

		if (grown == NULL) {
			free(pem);
			rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
			goto out;
		}
		memcpy(grown + have, pem, strlen(pem) + 1);
		out->chain_pem = grown;
		free(pem);
	}
	out->chain_count = (size_t)sk_X509_num(path) - 1;
	out->unused_count = nchain - out->chain_count;
	memcpy(out->subject, subject, sizeof(out->subject));
	X509_NAME_oneline(X509_get_subject_name(sk_X509_value(path, sk_X509_num(path) - 1)),
	    out->root_subject, sizeof(out->root_subject));
	ca_asn1_time_unix(X509_get0_notBefore(certs[0]), &out->not_before);
	ca_asn1_time_unix(X509_get0_notAfter(certs[0]), &out->not_after);
	rc = CS_OK;
out:
	if (rc != CS_OK)
		ca_install_plan_clear(out);
	free(buf);
	sk_X509_pop_free(path, X509_free);
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(certs[0]);
	for (size_t i = 0; i < CA_CHAIN_MAX; i++)
		X509_free(chain[i]);
	ERR_clear_error();
	return rc;
}

void
ca_install_plan_clear(struct ca_install_plan *p)
{
	if (p == NULL)
		return;
	free(p->cert_pem);
	free(p->chain_pem);
	memset(p, 0, sizeof(*p));
}

/* ---- atomic file installation ----------------------------------------------------------- */

#define CA_PATH_MAX 4096

/* text into a new temporary file beside path (path.tmpXXXXXX), fsync'ed,
 * mode `mode`, owner and group uid/gid where permitted (-1: leave). */
static int
ca_temp_write(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid,
    char *tmp, size_t cap, struct cs_err *err)
{
	int fd, n;

	n = snprintf(tmp, cap, "%s.tmpXXXXXX", path);
	if (n < 0 || (size_t)n >= cap)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "%s: path too long", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		tmp[0] = '\0';
		return cs_err_set(err, CS_ERR_IO, "%s: cannot create a temporary file beside it: %s",
		    path, strerror(errno));
	}
	/* The old file's owner and group where permitted (root); otherwise
	 * (EPERM) ours, and the mode still follows the old file. */
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) != 0 && errno != EPERM) {
		int e = errno;

		close(fd);
		unlink(tmp);
		tmp[0] = '\0';
		return cs_err_set(err, CS_ERR_IO, "%s: cannot set the owner of a temporary file: %s",
		    path, strerror(e));
	}
	if (fchmod(fd, mode) != 0 || cs_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		tmp[0] = '\0';
		return cs_err_set(err, CS_ERR_IO, "%s: cannot write a temporary file beside it: %s",
		    path, strerror(e));
	}
	if (close(fd) != 0) {
		int e = errno;

		unlink(tmp);
		tmp[0] = '\0';
		return cs_err_set(err, CS_ERR_IO, "%s: cannot write a temporary file beside it: %s",
		    path, strerror(e));
	}
	return CS_OK;
}

/* Copy the current path to path.previous (through a temporary file and a
 * rename, so that an older .previous is replaced whole). */
static int
ca_keep_previous(const char *path, const struct stat *st, struct cs_err *err)
{
	char prev[CA_PATH_MAX], tmp[CA_PATH_MAX];
	char *old = NULL;
	size_t len;
	int rc;

	if (snprintf(prev, sizeof(prev), "%s.previous", path) >= (int)sizeof(prev))
		return cs_err_set(err, CS_ERR_INVALID_ARG, "%s: path too long", path);
	rc = cs_file_read(path, "an installed CA file", CA_CHAIN_FILE_MAX, 0, &old, &len, err);
	if (rc != CS_OK)
		return rc;
	if (strlen(old) != len) {
		free(old);
		return cs_err_set(err, CS_ERR_IO, "%s: holds NUL bytes; move it away by hand", path);
	}
	rc = ca_temp_write(prev, old, st->st_mode & 07777, st->st_uid, st->st_gid, tmp,
	    sizeof(tmp), err);
	free(old);
	if (rc != CS_OK)
		return rc;
	if (rename(tmp, prev) != 0) {
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot keep the old file: %s", prev,
		    strerror(errno));
		unlink(tmp);
	}
	return rc;
}

/* Move tmp to path: without replace only if path does not exist (link()
 * fails with EEXIST rather than overwrite), with it by rename(). */
static int
ca_commit(const char *tmp, const char *path, int replace, struct cs_err *err)
{
	if (replace) {
		if (rename(tmp, path) != 0)
			return cs_err_set(err, CS_ERR_IO, "%s: cannot replace: %s", path,
			    strerror(errno));
		return CS_OK;
	}
	if (link(tmp, path) != 0) {
		if (errno == EEXIST)
			return cs_err_set(err, CS_ERR_CONFIG,
			    "%s appeared while installing; nothing replaced", path);
		return cs_err_set(err, CS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
	}
	unlink(tmp);
	return CS_OK;
}

int
ca_install_write(const struct ca_install_plan *p, const char *cert_path, const char *chain_path,
    unsigned flags, const struct hsm_key_info *key, int rsa_pss, int *replaced,
    struct cs_err *err)
{
	const char *paths[2] = {cert_path, chain_path};
	const char *texts[2];
	char tmps[2][CA_PATH_MAX] = {"", ""};
	struct stat st[2];
	int exists[2] = {0, 0}, committed[2] = {0, 0};
	int replace = (flags & CA_INSTALL_REPLACE) != 0;
	struct ca *check = NULL;
	int rc = CS_OK;

	cs_err_clear(err);
	if (replaced != NULL)
		*replaced = 0;
	if (p == NULL || p->cert_pem == NULL || p->chain_pem == NULL || cert_path == NULL ||
	    chain_path == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "ca_install_write: missing argument");
	if (strcmp(cert_path, chain_path) == 0)
		return cs_err_set(err, CS_ERR_CONFIG,
		    "ca.certificate and ca.chain are the same file (%s); give the chain its own file",
		    cert_path);
	texts[0] = p->cert_pem;
	texts[1] = p->chain_pem;
	memset(st, 0, sizeof(st));

	for (int i = 0; i < 2; i++) {
		exists[i] = stat(paths[i], &st[i]) == 0;
		if (!exists[i] && errno != ENOENT)
			return cs_err_set(err, CS_ERR_IO, "%s: %s", paths[i], strerror(errno));
		if (exists[i] && !S_ISREG(st[i].st_mode))
			return cs_err_set(err, CS_ERR_CONFIG, "%s exists and is not a regular file",
			    paths[i]);
	}
	if (!replace && (exists[0] || exists[1]))
		return cs_err_set(err, CS_ERR_CONFIG,
		    "%s already exists%s; nothing written. To replace the installed CA, add "
		    "--replace (the old files are kept as FILE.previous)",
		    exists[0] ? cert_path : chain_path,
		    exists[0] && exists[1] ? " (and so does the chain file)" : "");

	/* 1. both new files written and fsync'ed beside their targets */
	for (int i = 0; i < 2; i++) {
		rc = ca_temp_write(paths[i], texts[i], exists[i] ? (st[i].st_mode & 07777) : 0644,
		    exists[i] ? st[i].st_uid : (uid_t)-1, exists[i] ? st[i].st_gid : (gid_t)-1,
		    tmps[i], sizeof(tmps[i]), err);
		if (rc != CS_OK)
			goto out;
	}
	/* 2. the station must accept them as they are */
	check = ca_load(tmps[0], tmps[1], key, rsa_pss, err);
	if (check == NULL) {
		rc = err->code != CS_OK ? err->code : CS_ERR_INTERNAL;
		goto out;
	}
	/* 3. the old files kept, then the new ones moved into place */
	for (int i = 0; i < 2; i++) {
		if (exists[i]) {
			rc = ca_keep_previous(paths[i], &st[i], err);
			if (rc != CS_OK)
				goto out;
		}
	}
	/* The chain first: if the machine stops between the two, the old
	 * certificate with the new chain fails ca_load() loudly at start
	 * ("out of order") instead of issuing under a half-installed CA. */
	for (int i = 1; i >= 0; i--) {
		rc = ca_commit(tmps[i], paths[i], replace, err);
		if (rc != CS_OK)
			goto out;
		committed[i] = 1;
		tmps[i][0] = '\0';
	}
	for (int i = 0; i < 2; i++) {
		rc = cs_dir_sync(paths[i], err);
		if (rc != CS_OK)
			goto out;
	}
	if (replaced != NULL)
		*replaced = (exists[0] ? CA_INSTALL_REPLACED_CERT : 0) |
		    (exists[1] ? CA_INSTALL_REPLACED_CHAIN : 0);
out:
	/* A new file that went in without its partner comes out again: removed
	 * when nothing was there before, its predecessor put back (from the
	 * .previous copy) when it replaced one, so the pair stays matched. */
	if (rc != CS_OK)
		for (int i = 0; i < 2; i++) {
			char prev[CA_PATH_MAX];

			if (!committed[i] || committed[1 - i])
				continue;
			if (!exists[i]) {
				unlink(paths[i]);
			} else if (snprintf(prev, sizeof(prev), "%s.previous", paths[i]) <
				       (int)sizeof(prev) &&
			    rename(prev, paths[i]) != 0) {
				fprintf(stderr, "certstation: %s could not be put back from %s: %s\n",
				    paths[i], prev, strerror(errno));
			}
		}
	for (int i = 0; i < 2; i++)
		if (tmps[i][0] != '\0')
			unlink(tmps[i]);
	ca_free(check);
	return rc;
}
