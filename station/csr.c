/*
 * csr.c: PKCS#10 (RFC 2986) requests from devices.
 *
 * DESIGN: the parser is our own bounded DER walker (station/der.c), because
 * OpenSSL 3.0's decoder framework costs more per request than the signature
 * check itself (d2i_X509_REQ + key decode measured at ~90 us for a P-256
 * request, the ECDSA verify at ~51 us). The verifier builds the device key
 * straight from the point with the low-level EC_KEY API on a per-curve
 * EC_GROUP created once (pthread_once) and calls ECDSA_do_verify() on a
 * digest from the one-shot SHA256()/SHA384()/SHA512(). Those EC_KEY/RSA
 * calls are deprecated in OpenSSL 3.0 in favour of EVP_PKEY, whose
 * construction goes through the provider machinery we are avoiding, so this
 * file silences the deprecation warnings. Measured with bench/bench_csr on
 * the 2-core line PC class machine (best of 7 interleaved rounds, P-256):
 * csr_verify 69.7 us against 67.4 us for a bare ECDSA_do_verify with a
 * prebuilt key (+3%), EVP_PKEY_fromdata + EVP_PKEY_verify 94 us (+40%),
 * d2i_X509_REQ + X509_REQ_verify 228 us; csr_parse itself 0.2 us.
 *
 * Key types: P-256, P-384, P-521 (uncompressed or compressed points), RSA
 * (PKCS#1 v1.5 and RSASSA-PSS with SHA-256/384/512) and Ed25519 are parsed
 * and verified. Other named curves and explicit curve parameters parse as
 * CSR_KEY_EC_OTHER, other algorithms as CSR_KEY_OTHER; csr_verify() refuses
 * both with CS_ERR_CSR_UNSUPPORTED, so the policy can name the key first.
 * An unknown signature algorithm makes csr_parse() itself return
 * CS_ERR_CSR_UNSUPPORTED.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "station/csr.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "station/der.h"

#define CSR_MAX_NAME_ATTRS 32 /* attributes over all RDNs of the subject */
#define CSR_MAX_ATTRIBUTES 16 /* PKCS#10 attributes */
#define CSR_MAX_EXTENSIONS 32 /* in one extensionRequest */
#define CSR_RSA_MIN_BITS 512
#define CSR_RSA_MAX_BITS 8192
#define CSR_RSA_MAX_BYTES (CSR_RSA_MAX_BITS / 8)

static const uint8_t oid_ec_public_key[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t oid_p256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t oid_rsa_encryption[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t oid_rsa_pss[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a};
static const uint8_t oid_rsa_sha256[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};
static const uint8_t oid_rsa_sha384[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c};
static const uint8_t oid_rsa_sha512[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d};
static const uint8_t oid_mgf1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
static const uint8_t oid_ed25519[] = {0x2b, 0x65, 0x70};
static const uint8_t oid_ecdsa_sha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t oid_ecdsa_sha384[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t oid_ecdsa_sha512[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04};
static const uint8_t oid_sha1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
static const uint8_t oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const uint8_t oid_sha384[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};
static const uint8_t oid_sha512[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03};
static const uint8_t oid_common_name[] = {0x55, 0x04, 0x03};
static const uint8_t oid_challenge_password[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                 0x0d, 0x01, 0x09, 0x07};
static const uint8_t oid_extension_request[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                0x0d, 0x01, 0x09, 0x0e};
static const uint8_t oid_basic_constraints[] = {0x55, 0x1d, 0x13};

#define OID_EQ(t, oid) der_oid_eq((t), (oid), sizeof(oid))

/* ---- error helpers ---------------------------------------------------- */

static int csr_fail(struct cs_err *err, int code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
csr_fail(struct cs_err *err, int code, size_t off, const char *fmt, ...)
{
	char text[CS_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return cs_err_set(err, code, "CSR: byte %zu: %s", off, text);
}

static const char *
csr_tag_name(uint8_t tag)
{
	switch (tag) {
	case DER_BOOLEAN:
		return "BOOLEAN";
	case DER_INTEGER:
		return "INTEGER";
	case DER_BIT_STRING:
		return "BIT STRING";
	case DER_OCTET_STRING:
		return "OCTET STRING";
	case DER_NULL:
		return "NULL";
	case DER_OID:
		return "OBJECT IDENTIFIER";
	case DER_SEQUENCE:
		return "SEQUENCE";
	case DER_SET:
		return "SET";
	case DER_CTX_CONS(0):
		return "[0]";
	default:
		return "element";
	}
}

/* Read the next element of r, which must have tag `tag` (0: any). */
static int
csr_next(struct der_reader *r, uint8_t tag, struct der_tlv *t, const char *what, struct cs_err *err)
{
	size_t off = r->pos;
	int rc = der_read(r, t, &off);

	if (rc == DER_ERR_END)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, r->end,
		                "%s: missing (its enclosing element ends here)", what);
	if (rc != DER_OK)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, off, "%s: %s", what, der_strerror(rc));
	if (tag != 0 && t->tag != tag)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, t->off,
		                "%s: expected %s (tag 0x%02x), found tag 0x%02x", what,
		                csr_tag_name(tag), tag, t->tag);
	return 0;
}

static int
csr_enter(const struct der_reader *r, const struct der_tlv *t, struct der_reader *child,
          const char *what, struct cs_err *err)
{
	int rc = der_enter(r, t, child);

	if (rc != DER_OK)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, t->off, "%s: %s", what,
		                der_strerror(rc));
	return 0;
}

static int
csr_done(const struct der_reader *r, const char *what, struct cs_err *err)
{
	if (!der_reader_done(r))
		return csr_fail(err, CS_ERR_CSR_MALFORMED, r->pos,
		                "%s: unexpected extra element (tag 0x%02x)", what, r->base[r->pos]);
	return 0;
}

/* A reader over the bytes [p, p+len) that lie inside base's buffer, so that
 * offsets stay relative to the whole request. */
static void
csr_reader_over(struct der_reader *r, const uint8_t *base, const uint8_t *p, size_t len,
                unsigned depth)
{
	r->base = base;
	r->pos = (size_t)(p - base);
	r->end = r->pos + len;
	r->depth = depth;
}

/* ---- names ------------------------------------------------------------- */

const char *
csr_key_type_name(enum csr_key_type t, unsigned bits, char *buf, size_t buflen)
{
	const char *name;

	switch (t) {
	case CSR_KEY_EC_P256:
		name = "P-256";
		break;
	case CSR_KEY_EC_P384:
		name = "P-384";
		break;
	case CSR_KEY_EC_P521:
		name = "P-521";
		break;
	case CSR_KEY_EC_OTHER:
		name = "EC (unsupported curve)";
		break;
	case CSR_KEY_RSA:
		snprintf(buf, buflen, "RSA-%u", bits);
		return buf;
	case CSR_KEY_ED25519:
		name = "Ed25519";
		break;
	case CSR_KEY_OTHER:
		name = "unsupported key algorithm";
		break;
	default:
		name = "unknown";
		break;
	}
	snprintf(buf, buflen, "%s", name);
	return buf;
}

static const char *
csr_sig_alg_name(enum csr_sig_alg a)
{
	switch (a) {
	case CSR_SIG_ECDSA_SHA256:
		return "ecdsa-with-SHA256";
	case CSR_SIG_ECDSA_SHA384:
		return "ecdsa-with-SHA384";
	case CSR_SIG_ECDSA_SHA512:
		return "ecdsa-with-SHA512";
	case CSR_SIG_RSA_PKCS1_SHA256:
		return "sha256WithRSAEncryption";
	case CSR_SIG_RSA_PKCS1_SHA384:
		return "sha384WithRSAEncryption";
	case CSR_SIG_RSA_PKCS1_SHA512:
		return "sha512WithRSAEncryption";
	case CSR_SIG_RSA_PSS:
		return "RSASSA-PSS";
	case CSR_SIG_ED25519:
		return "Ed25519";
	default:
		return "unknown";
	}
}

/* ---- PEM / DER decoding -------------------------------------------------- */

static int
csr_b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
csr_is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *
csr_find(const uint8_t *p, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (memcmp(p + i, needle, n) == 0)
			return (const char *)(p + i);
	return NULL;
}

/* Strict base64 between the armour lines: alphabet, CR/LF line breaks,
 * '=' padding only at the very end, unused bits zero. */
static int
csr_b64_decode(const uint8_t *in, size_t in_len, size_t base_off, uint8_t *out, size_t cap,
               size_t *out_len, struct cs_err *err)
{
	uint32_t acc = 0;
	size_t n = 0, o = 0, pad = 0, pad_at = 0;

	for (size_t i = 0; i < in_len; i++) {
		uint8_t c = in[i];
		int v;

		if (c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			if (pad == 0)
				pad_at = i;
			pad++;
			if (pad > 2)
				return cs_err_set(
				    err, CS_ERR_CSR_MALFORMED,
				    "CSR PEM: byte %zu: more than two '=' padding characters",
				    base_off + i);
			n++;
			continue;
		}
		v = csr_b64_value(c);
		if (v < 0)
			return cs_err_set(
			    err, CS_ERR_CSR_MALFORMED,
			    "CSR PEM: byte %zu: character 0x%02x is not base64 (RFC 7468 strict)",
			    base_off + i, c);
		if (pad != 0)
			return cs_err_set(err, CS_ERR_CSR_MALFORMED,
			                  "CSR PEM: byte %zu: base64 data after '=' padding",
			                  base_off + i);
		acc = (acc << 6) | (uint32_t)v;
		n++;
		if (n % 4 == 0) {
			if (cap - o < 3)
				return cs_err_set(err, CS_ERR_CSR_TOO_LARGE,
				                  "CSR PEM: decoded request exceeds %d bytes",
				                  CSR_MAX_DER);
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (n % 4 != 0)
		return cs_err_set(err, CS_ERR_CSR_MALFORMED,
		                  "CSR PEM: base64 length %zu is not a multiple of 4", n);
	if (pad == 1) {
		/* acc holds 3 sextets = 18 bits: 16 data + 2 zero bits */
		if (acc & 0x3)
			return cs_err_set(err, CS_ERR_CSR_MALFORMED,
			                  "CSR PEM: byte %zu: non-zero bits before '=' padding",
			                  base_off + pad_at);
		if (cap - o < 2)
			return cs_err_set(err, CS_ERR_CSR_TOO_LARGE,
			                  "CSR PEM: decoded request exceeds %d bytes", CSR_MAX_DER);
		out[o++] = (uint8_t)(acc >> 10);
		out[o++] = (uint8_t)(acc >> 2);
	} else if (pad == 2) {
		if (acc & 0xf)
			return cs_err_set(err, CS_ERR_CSR_MALFORMED,
			                  "CSR PEM: byte %zu: non-zero bits before '=' padding",
			                  base_off + pad_at);
		if (cap - o < 1)
			return cs_err_set(err, CS_ERR_CSR_TOO_LARGE,
			                  "CSR PEM: decoded request exceeds %d bytes", CSR_MAX_DER);
		out[o++] = (uint8_t)(acc >> 4);
	}
	*out_len = o;
	return 0;
}

int
csr_decode(const uint8_t *in, size_t in_len, uint8_t *der, size_t der_cap, size_t *der_len,
           struct cs_err *err)
{
	static const char *const labels[] = {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"};
	char begin[64], end[64];
	const char *b = NULL, *e;
	size_t i = 0, body, body_len, cap, label = 0;

	if (in == NULL || der == NULL || der_len == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "csr_decode: NULL argument");
	if (in_len > CSR_MAX_PEM)
		return cs_err_set(
		    err, CS_ERR_CSR_TOO_LARGE,
		    "CSR: %zu bytes received; the limit is %d bytes (PEM) or %d (DER)", in_len,
		    CSR_MAX_PEM, CSR_MAX_DER);
	if (in_len == 0)
		return cs_err_set(err, CS_ERR_CSR_MALFORMED, "CSR: empty request");
	cap = der_cap < CSR_MAX_DER ? der_cap : CSR_MAX_DER;
	if (in[0] == DER_SEQUENCE) {
		if (in_len > CSR_MAX_DER)
			return cs_err_set(err, CS_ERR_CSR_TOO_LARGE,
			                  "CSR: %zu bytes of DER; the limit is %d bytes", in_len,
			                  CSR_MAX_DER);
		if (in_len > cap)
			return cs_err_set(
			    err, CS_ERR_INVALID_ARG,
			    "csr_decode: output buffer holds %zu bytes, request is %zu", der_cap,
			    in_len);
		memcpy(der, in, in_len);
		*der_len = in_len;
		return 0;
	}
	while (i < in_len && csr_is_space(in[i]))
		i++;
	for (label = 0; label < 2; label++) {
		snprintf(begin, sizeof(begin), "-----BEGIN %s-----", labels[label]);
		if (in_len - i >= strlen(begin) && memcmp(in + i, begin, strlen(begin)) == 0) {
			b = (const char *)(in + i);
			break;
		}
	}
	if (b == NULL)
		return cs_err_set(err, CS_ERR_CSR_MALFORMED,
		                  "CSR: byte %zu: neither DER (starts with 0x30) nor a PEM "
		                  "\"-----BEGIN CERTIFICATE REQUEST-----\" block (found 0x%02x)",
		                  i, i < in_len ? in[i] : 0);
	snprintf(end, sizeof(end), "-----END %s-----", labels[label]);
	body = i + strlen(begin);
	e = csr_find(in + body, in_len - body, end);
	if (e == NULL)
		return cs_err_set(err, CS_ERR_CSR_MALFORMED, "CSR PEM: no \"%s\" line", end);
	body_len = (size_t)((const uint8_t *)e - (in + body));
	for (size_t j = (size_t)((const uint8_t *)e - in) + strlen(end); j < in_len; j++)
		if (!csr_is_space(in[j]))
			return cs_err_set(
			    err, CS_ERR_CSR_MALFORMED,
			    "CSR PEM: byte %zu: data after the END line (one block only)", j);
	return csr_b64_decode(in + body, body_len, body, der, cap, der_len, err);
}

/* ---- subject Name ------------------------------------------------------- */

static int
csr_cn_copy(struct csr *out, const struct der_tlv *v, struct cs_err *err)
{
	size_t o = 0;

	switch (v->tag) {
	case DER_UTF8_STRING:
	case DER_PRINTABLE_STRING:
	case DER_IA5_STRING:
		if (v->len >= sizeof(out->subject_cn))
			return csr_fail(err, CS_ERR_CSR_MALFORMED, v->off,
			                "subject commonName: %zu bytes; the limit is %zu", v->len,
			                sizeof(out->subject_cn) - 1);
		if (der_utf8_chars(v->val, v->len) == (size_t)-1 ||
		    (v->tag != DER_UTF8_STRING && memchr(v->val, 0, v->len) != NULL))
			return csr_fail(
			    err, CS_ERR_CSR_MALFORMED, v->off,
			    "subject commonName: not valid text (control character or bad UTF-8)");
		for (size_t i = 0; i < v->len; i++)
			if (v->tag != DER_UTF8_STRING && v->val[i] >= 0x80)
				return csr_fail(err, CS_ERR_CSR_MALFORMED, v->off + v->hdr_len + i,
				                "subject commonName: byte 0x%02x is not allowed in "
				                "this string type",
				                v->val[i]);
		memcpy(out->subject_cn, v->val, v->len);
		out->subject_cn[v->len] = '\0';
		return 0;
	case DER_BMP_STRING:
		if (v->len % 2 != 0)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, v->off,
			                "subject commonName: BMPString of odd length %zu", v->len);
		for (size_t i = 0; i < v->len; i += 2) {
			unsigned cp = ((unsigned)v->val[i] << 8) | v->val[i + 1];
			uint8_t enc[3];
			size_t n;

			if (cp < 0x20 || cp == 0x7f || (cp >= 0xd800 && cp <= 0xdfff))
				return csr_fail(
				    err, CS_ERR_CSR_MALFORMED, v->off + v->hdr_len + i,
				    "subject commonName: character U+%04X is not allowed", cp);
			if (cp < 0x80) {
				enc[0] = (uint8_t)cp;
				n = 1;
			} else if (cp < 0x800) {
				enc[0] = (uint8_t)(0xc0 | (cp >> 6));
				enc[1] = (uint8_t)(0x80 | (cp & 0x3f));
				n = 2;
			} else {
				enc[0] = (uint8_t)(0xe0 | (cp >> 12));
				enc[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
				enc[2] = (uint8_t)(0x80 | (cp & 0x3f));
				n = 3;
			}
			if (o + n >= sizeof(out->subject_cn))
				return csr_fail(
				    err, CS_ERR_CSR_MALFORMED, v->off,
				    "subject commonName: longer than %zu bytes as UTF-8",
				    sizeof(out->subject_cn) - 1);
			memcpy(out->subject_cn + o, enc, n);
			o += n;
		}
		out->subject_cn[o] = '\0';
		return 0;
	default:
		return csr_fail(err, CS_ERR_CSR_MALFORMED, v->off,
		                "subject commonName: string type tag 0x%02x not accepted "
		                "(UTF8String, PrintableString, IA5String or BMPString)",
		                v->tag);
	}
}

static int
csr_parse_name(const struct der_reader *info, const struct der_tlv *name, struct csr *out,
               struct cs_err *err)
{
	struct der_reader rn, rdn, atv;
	struct der_tlv set, seq, type, value;
	size_t attrs = 0;
	int have_cn = 0, rc;

	rc = csr_enter(info, name, &rn, "subject", err);
	while (rc == 0 && !der_reader_done(&rn)) {
		rc = csr_next(&rn, DER_SET, &set, "subject RelativeDistinguishedName", err);
		if (rc == 0)
			rc = csr_enter(&rn, &set, &rdn, "subject RelativeDistinguishedName", err);
		if (rc == 0 && der_reader_done(&rdn))
			rc = csr_fail(
			    err, CS_ERR_CSR_MALFORMED, set.off,
			    "subject: empty RelativeDistinguishedName (X.501: SET SIZE (1..MAX))");
		while (rc == 0 && !der_reader_done(&rdn)) {
			if (++attrs > CSR_MAX_NAME_ATTRS) {
				rc = csr_fail(err, CS_ERR_CSR_MALFORMED, rdn.pos,
				              "subject: more than %d attributes",
				              CSR_MAX_NAME_ATTRS);
				break;
			}
			rc = csr_next(&rdn, DER_SEQUENCE, &seq, "subject AttributeTypeAndValue",
			              err);
			if (rc == 0)
				rc = csr_enter(&rdn, &seq, &atv, "subject AttributeTypeAndValue",
				               err);
			if (rc == 0)
				rc = csr_next(&atv, DER_OID, &type, "subject attribute type", err);
			if (rc == 0)
				rc = csr_next(&atv, 0, &value, "subject attribute value", err);
			if (rc == 0)
				rc = csr_done(&atv, "subject AttributeTypeAndValue", err);
			if (rc == 0 && !have_cn && OID_EQ(&type, oid_common_name)) {
				rc = csr_cn_copy(out, &value, err);
				have_cn = 1;
			}
		}
	}
	return rc;
}

/* ---- SubjectPublicKeyInfo ----------------------------------------------- */

static int
csr_parse_rsa_key(const struct der_reader *spki_r, struct csr *out, struct cs_err *err)
{
	struct der_reader kr, seq_r;
	struct der_tlv seq, n, e;
	size_t mlen;
	const uint8_t *m;
	int rc;

	csr_reader_over(&kr, spki_r->base, out->key.p, out->key.len, spki_r->depth + 1);
	rc = csr_next(&kr, DER_SEQUENCE, &seq, "RSAPublicKey", err);
	if (rc == 0)
		rc = csr_done(&kr, "RSAPublicKey", err);
	if (rc == 0)
		rc = csr_enter(&kr, &seq, &seq_r, "RSAPublicKey", err);
	if (rc == 0)
		rc = csr_next(&seq_r, DER_INTEGER, &n, "RSAPublicKey modulus", err);
	if (rc == 0)
		rc = csr_next(&seq_r, DER_INTEGER, &e, "RSAPublicKey publicExponent", err);
	if (rc == 0)
		rc = csr_done(&seq_r, "RSAPublicKey", err);
	if (rc != 0)
		return rc;
	if (!der_integer_is_minimal(&n) || (n.val[0] & 0x80))
		return csr_fail(err, CS_ERR_CSR_MALFORMED, n.off,
		                "RSAPublicKey modulus: not a minimal positive INTEGER");
	if (!der_integer_is_minimal(&e) || (e.val[0] & 0x80))
		return csr_fail(err, CS_ERR_CSR_MALFORMED, e.off,
		                "RSAPublicKey publicExponent: not a minimal positive INTEGER");
	m = n.val;
	mlen = n.len;
	if (m[0] == 0) {
		m++;
		mlen--;
	}
	if (mlen > CSR_RSA_MAX_BYTES)
		return csr_fail(err, CS_ERR_CSR_UNSUPPORTED, n.off,
		                "RSA modulus is %zu bytes; the station verifies up to %d bits",
		                mlen, CSR_RSA_MAX_BITS);
	out->key_bits = (unsigned)(mlen * 8);
	for (uint8_t top = m[0]; (top & 0x80) == 0; top = (uint8_t)(top << 1))
		out->key_bits--;
	if (out->key_bits < CSR_RSA_MIN_BITS)
		return csr_fail(err, CS_ERR_CSR_UNSUPPORTED, n.off,
		                "RSA modulus is %u bits; below the %d-bit floor", out->key_bits,
		                CSR_RSA_MIN_BITS);
	if ((m[mlen - 1] & 1) == 0)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, n.off, "RSA modulus is even");
	if (e.len > 8 || (e.val[e.len - 1] & 1) == 0 || (e.len == 1 && e.val[0] < 3))
		return csr_fail(err, CS_ERR_CSR_MALFORMED, e.off,
		                "RSA publicExponent must be odd, at least 3 and at most 64 bits");
	out->key_type = CSR_KEY_RSA;
	return 0;
}

static int
csr_parse_ec_key(const struct der_tlv *params, struct csr *out, size_t key_off, struct cs_err *err)
{
	size_t field;
	const char *curve;

	if (params->tag != DER_OID) {
		/* explicit parameters (SEQUENCE) or implicitCA (NULL): RFC 5480 forbids both */
		out->key_type = CSR_KEY_EC_OTHER;
		out->key_bits = 0;
		return 0;
	}
	if (OID_EQ(params, oid_p256)) {
		out->key_type = CSR_KEY_EC_P256;
		out->key_bits = 256;
		field = 32;
		curve = "P-256";
	} else if (OID_EQ(params, oid_p384)) {
		out->key_type = CSR_KEY_EC_P384;
		out->key_bits = 384;
		field = 48;
		curve = "P-384";
	} else if (OID_EQ(params, oid_p521)) {
		out->key_type = CSR_KEY_EC_P521;
		out->key_bits = 521;
		field = 66;
		curve = "P-521";
	} else {
		out->key_type = CSR_KEY_EC_OTHER;
		out->key_bits = 0;
		return 0;
	}
	if (out->key.len == 0)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, key_off,
		                "subjectPublicKeyInfo: EC point is empty");
	if (out->key.p[0] == 0x04) {
		if (out->key.len != 1 + 2 * field)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, key_off,
			                "subjectPublicKeyInfo: EC point is %zu bytes; %s needs %zu "
			                "(uncompressed)",
			                out->key.len, curve, 1 + 2 * field);
	} else if (out->key.p[0] == 0x02 || out->key.p[0] == 0x03) {
		if (out->key.len != 1 + field)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, key_off,
			                "subjectPublicKeyInfo: EC point is %zu bytes; %s needs %zu "
			                "(compressed)",
			                out->key.len, curve, 1 + field);
	} else {
		return csr_fail(
		    err, CS_ERR_CSR_MALFORMED, key_off,
		    "subjectPublicKeyInfo: EC point form 0x%02x; only 0x04 (uncompressed) and "
		    "0x02/0x03 (compressed) are accepted (RFC 5480 2.2)",
		    out->key.p[0]);
	}
	return 0;
}

static int
csr_parse_spki(const struct der_reader *info, const struct der_tlv *spki, struct csr *out,
               struct cs_err *err)
{
	struct der_reader sr, ar;
	struct der_tlv alg, oid, params, bits;
	int have_params = 0, rc;

	rc = csr_enter(info, spki, &sr, "subjectPublicKeyInfo", err);
	if (rc == 0)
		rc = csr_next(&sr, DER_SEQUENCE, &alg, "subjectPublicKeyInfo algorithm", err);
	if (rc == 0)
		rc = csr_next(&sr, DER_BIT_STRING, &bits, "subjectPublicKeyInfo subjectPublicKey",
		              err);
	if (rc == 0)
		rc = csr_done(&sr, "subjectPublicKeyInfo", err);
	if (rc == 0)
		rc = csr_enter(&sr, &alg, &ar, "subjectPublicKeyInfo algorithm", err);
	if (rc == 0)
		rc = csr_next(&ar, DER_OID, &oid, "subjectPublicKeyInfo algorithm OID", err);
	if (rc == 0 && !der_reader_done(&ar)) {
		rc = csr_next(&ar, 0, &params, "subjectPublicKeyInfo algorithm parameters", err);
		have_params = 1;
	}
	if (rc == 0)
		rc = csr_done(&ar, "subjectPublicKeyInfo algorithm", err);
	if (rc != 0)
		return rc;
	if (bits.len < 1 || bits.val[0] != 0)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, bits.off,
		                "subjectPublicKey: BIT STRING must have zero unused bits");
	out->spki.p = spki->tlv;
	out->spki.len = spki->tlv_len;
	out->key.p = bits.val + 1;
	out->key.len = bits.len - 1;

	if (OID_EQ(&oid, oid_ec_public_key)) {
		if (!have_params)
			return csr_fail(
			    err, CS_ERR_CSR_MALFORMED, oid.off,
			    "subjectPublicKeyInfo: id-ecPublicKey without curve parameters "
			    "(RFC 5480 2.1.1)");
		return csr_parse_ec_key(&params, out, bits.off, err);
	}
	if (OID_EQ(&oid, oid_rsa_encryption)) {
		if (!have_params || params.tag != DER_NULL || params.len != 0)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, oid.off,
			                "subjectPublicKeyInfo: rsaEncryption parameters must be "
			                "NULL (RFC 3279 2.3.1)");
		return csr_parse_rsa_key(&sr, out, err);
	}
	if (OID_EQ(&oid, oid_ed25519)) {
		if (have_params)
			return csr_fail(
			    err, CS_ERR_CSR_MALFORMED, params.off,
			    "subjectPublicKeyInfo: Ed25519 parameters must be absent (RFC 8410 3)");
		if (out->key.len != 32)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, bits.off,
			                "subjectPublicKeyInfo: Ed25519 key is %zu bytes; needs 32",
			                out->key.len);
		out->key_type = CSR_KEY_ED25519;
		out->key_bits = 256;
		return 0;
	}
	out->key_type = CSR_KEY_OTHER;
	out->key_bits = 0;
	return 0;
}

/* ---- attributes ----------------------------------------------------------- */

static int
csr_parse_basic_constraints(const struct der_reader *ext_r, const struct der_tlv *value,
                            struct csr *out, struct cs_err *err)
{
	struct der_reader vr, bc;
	struct der_tlv seq, t;
	int rc;

	csr_reader_over(&vr, ext_r->base, value->val, value->len, ext_r->depth + 1);
	rc = csr_next(&vr, DER_SEQUENCE, &seq, "extensionRequest basicConstraints", err);
	if (rc == 0)
		rc = csr_done(&vr, "extensionRequest basicConstraints", err);
	if (rc == 0)
		rc = csr_enter(&vr, &seq, &bc, "extensionRequest basicConstraints", err);
	if (rc != 0 || der_reader_done(&bc))
		return rc;
	rc = csr_next(&bc, 0, &t, "extensionRequest basicConstraints cA", err);
	if (rc != 0)
		return rc;
	if (t.tag == DER_BOOLEAN) {
		if (t.len != 1)
			return csr_fail(
			    err, CS_ERR_CSR_MALFORMED, t.off,
			    "extensionRequest basicConstraints: cA BOOLEAN of length %zu", t.len);
		/* Any non-zero octet is read as TRUE: the safe side for a CA
		 * that must refuse CA requests. */
		if (t.val[0] != 0)
			out->requests_ca = 1;
	}
	return 0;
}

static int
csr_parse_ext_request(const struct der_reader *attr_r, const struct der_tlv *values,
                      struct csr *out, struct cs_err *err)
{
	struct der_reader vr, er, xr;
	struct der_tlv exts, ext, oid, t, value;
	size_t count = 0;
	int rc;

	if (out->has_ext_request)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, values->off,
		                "attributes: extensionRequest appears twice");
	out->has_ext_request = 1;
	rc = csr_enter(attr_r, values, &vr, "extensionRequest values", err);
	if (rc == 0)
		rc = csr_next(&vr, DER_SEQUENCE, &exts, "extensionRequest Extensions", err);
	if (rc == 0)
		rc = csr_done(&vr, "extensionRequest values (exactly one value)", err);
	if (rc == 0)
		rc = csr_enter(&vr, &exts, &er, "extensionRequest Extensions", err);
	while (rc == 0 && !der_reader_done(&er)) {
		if (++count > CSR_MAX_EXTENSIONS)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, er.pos,
			                "extensionRequest: more than %d extensions",
			                CSR_MAX_EXTENSIONS);
		rc = csr_next(&er, DER_SEQUENCE, &ext, "extensionRequest Extension", err);
		if (rc == 0)
			rc = csr_enter(&er, &ext, &xr, "extensionRequest Extension", err);
		if (rc == 0)
			rc = csr_next(&xr, DER_OID, &oid, "extensionRequest extnID", err);
		if (rc == 0)
			rc = csr_next(&xr, 0, &t, "extensionRequest extnValue", err);
		if (rc == 0 && t.tag == DER_BOOLEAN) {
			if (t.len != 1)
				return csr_fail(err, CS_ERR_CSR_MALFORMED, t.off,
				                "extensionRequest critical: BOOLEAN of length %zu",
				                t.len);
			rc = csr_next(&xr, DER_OCTET_STRING, &value, "extensionRequest extnValue",
			              err);
		} else if (rc == 0) {
			if (t.tag != DER_OCTET_STRING)
				return csr_fail(err, CS_ERR_CSR_MALFORMED, t.off,
				                "extensionRequest extnValue: expected OCTET "
				                "STRING, found tag 0x%02x",
				                t.tag);
			value = t;
		}
		if (rc == 0)
			rc = csr_done(&xr, "extensionRequest Extension", err);
		if (rc == 0 && OID_EQ(&oid, oid_basic_constraints))
			rc = csr_parse_basic_constraints(&xr, &value, out, err);
	}
	return rc;
}

static int
csr_parse_challenge(const struct der_reader *attr_r, const struct der_tlv *values, struct csr *out,
                    struct cs_err *err)
{
	struct der_reader vr;
	struct der_tlv v;
	int rc;

	if (out->challenge.p != NULL)
		return csr_fail(err, CS_ERR_CSR_MALFORMED, values->off,
		                "attributes: challengePassword appears twice");
	rc = csr_enter(attr_r, values, &vr, "challengePassword values", err);
	if (rc == 0)
		rc = csr_next(&vr, 0, &v, "challengePassword value", err);
	if (rc == 0)
		rc = csr_done(&vr, "challengePassword values (exactly one value)", err);
	if (rc != 0)
		return rc;
	switch (v.tag) {
	case DER_UTF8_STRING:
	case DER_PRINTABLE_STRING:
	case DER_T61_STRING:
	case DER_IA5_STRING:
	case DER_UNIVERSAL_STRING:
	case DER_BMP_STRING:
		break;
	default:
		return csr_fail(
		    err, CS_ERR_CSR_MALFORMED, v.off,
		    "challengePassword: tag 0x%02x is not a DirectoryString (RFC 2985 5.4.1)",
		    v.tag);
	}
	out->challenge.p = v.val;
	out->challenge.len = v.len;
	return 0;
}

static int
csr_parse_attributes(const struct der_reader *info, const struct der_tlv *attrs, struct csr *out,
                     struct cs_err *err)
{
	struct der_reader ar, a;
	struct der_tlv attr, type, values;
	size_t count = 0;
	int rc;

	rc = csr_enter(info, attrs, &ar, "attributes", err);
	while (rc == 0 && !der_reader_done(&ar)) {
		if (++count > CSR_MAX_ATTRIBUTES)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, ar.pos,
			                "attributes: more than %d", CSR_MAX_ATTRIBUTES);
		rc = csr_next(&ar, DER_SEQUENCE, &attr, "Attribute", err);
		if (rc == 0)
			rc = csr_enter(&ar, &attr, &a, "Attribute", err);
		if (rc == 0)
			rc = csr_next(&a, DER_OID, &type, "Attribute type", err);
		if (rc == 0)
			rc = csr_next(&a, DER_SET, &values, "Attribute values", err);
		if (rc == 0)
			rc = csr_done(&a, "Attribute", err);
		if (rc == 0 && OID_EQ(&type, oid_challenge_password))
			rc = csr_parse_challenge(&a, &values, out, err);
		else if (rc == 0 && OID_EQ(&type, oid_extension_request))
			rc = csr_parse_ext_request(&a, &values, out, err);
	}
	return rc;
}

/* ---- signature algorithm -------------------------------------------------- */

struct csr_pss {
	int md_nid;
	int mgf1_nid;
	size_t salt_len;
};

/* A hash AlgorithmIdentifier as used inside RSASSA-PSS-params: SHA-256/384/512
 * with NULL or absent parameters (RFC 4055 2.1 allows both). */
static int
csr_parse_hash_alg(const struct der_reader *r, const struct der_tlv *alg, int *nid,
                   const char *what, struct cs_err *err)
{
	struct der_reader ar;
	struct der_tlv oid, params;
	char dotted[64];
	int rc;

	rc = csr_enter(r, alg, &ar, what, err);
	if (rc == 0)
		rc = csr_next(&ar, DER_OID, &oid, what, err);
	if (rc == 0 && !der_reader_done(&ar)) {
		rc = csr_next(&ar, DER_NULL, &params, what, err);
		if (rc == 0 && params.len != 0)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, params.off,
			                "%s: NULL with contents", what);
	}
	if (rc == 0)
		rc = csr_done(&ar, what, err);
	if (rc != 0)
		return rc;
	if (OID_EQ(&oid, oid_sha256))
		*nid = NID_sha256;
	else if (OID_EQ(&oid, oid_sha384))
		*nid = NID_sha384;
	else if (OID_EQ(&oid, oid_sha512))
		*nid = NID_sha512;
	else if (OID_EQ(&oid, oid_sha1))
		return csr_fail(err, CS_ERR_CSR_UNSUPPORTED, oid.off,
		                "%s: SHA-1 is not accepted; use SHA-256, SHA-384 or SHA-512", what);
	else {
		der_oid_text(oid.val, oid.len, dotted, sizeof(dotted));
		return csr_fail(err, CS_ERR_CSR_UNSUPPORTED, oid.off,
		                "%s: hash %s is not supported", what, dotted);
	}
	return 0;
}

/* RSASSA-PSS-params (RFC 4055 3.1). The SHA-1 defaults are refused. */
static int
csr_parse_pss_params(const uint8_t *base, const struct csr_slice *params, unsigned depth,
                     struct csr_pss *pss, struct cs_err *err)
{
	struct der_reader top, pr, er, mr;
	struct der_tlv seq, t, inner, oid, mgf_hash;
	int have_hash = 0, have_mgf = 0, rc;
	uint8_t last = 0;

	pss->salt_len = 20;
	csr_reader_over(&top, base, params->p, params->len, depth);
	rc = csr_next(&top, DER_SEQUENCE, &seq, "RSASSA-PSS-params", err);
	if (rc == 0)
		rc = csr_enter(&top, &seq, &pr, "RSASSA-PSS-params", err);
	while (rc == 0 && !der_reader_done(&pr)) {
		rc = csr_next(&pr, 0, &t, "RSASSA-PSS-params field", err);
		if (rc != 0)
			break;
		if (t.tag < DER_CTX_CONS(0) || t.tag > DER_CTX_CONS(3) || t.tag <= last)
			return csr_fail(
			    err, CS_ERR_CSR_MALFORMED, t.off,
			    "RSASSA-PSS-params: unexpected or out-of-order field tag 0x%02x",
			    t.tag);
		last = t.tag;
		rc = csr_enter(&pr, &t, &er, "RSASSA-PSS-params field", err);
		if (rc == 0)
			rc = csr_next(&er, 0, &inner, "RSASSA-PSS-params field", err);
		if (rc == 0)
			rc = csr_done(&er, "RSASSA-PSS-params field", err);
		if (rc != 0)
			break;
		if (t.tag == DER_CTX_CONS(0)) {
			if (inner.tag != DER_SEQUENCE)
				return csr_fail(
				    err, CS_ERR_CSR_MALFORMED, inner.off,
				    "RSASSA-PSS-params hashAlgorithm: expected SEQUENCE");
			rc = csr_parse_hash_alg(&er, &inner, &pss->md_nid,
			                        "RSASSA-PSS-params hashAlgorithm", err);
			have_hash = 1;
		} else if (t.tag == DER_CTX_CONS(1)) {
			if (inner.tag != DER_SEQUENCE)
				return csr_fail(
				    err, CS_ERR_CSR_MALFORMED, inner.off,
				    "RSASSA-PSS-params maskGenAlgorithm: expected SEQUENCE");
			rc = csr_enter(&er, &inner, &mr, "RSASSA-PSS-params maskGenAlgorithm", err);
			if (rc == 0)
				rc = csr_next(&mr, DER_OID, &oid,
				              "RSASSA-PSS-params maskGenAlgorithm", err);
			if (rc == 0 && !OID_EQ(&oid, oid_mgf1))
				return csr_fail(
				    err, CS_ERR_CSR_UNSUPPORTED, oid.off,
				    "RSASSA-PSS-params: mask generation function is not MGF1");
			if (rc == 0)
				rc = csr_next(&mr, DER_SEQUENCE, &mgf_hash,
				              "RSASSA-PSS-params MGF1 hash", err);
			if (rc == 0)
				rc = csr_done(&mr, "RSASSA-PSS-params maskGenAlgorithm", err);
			if (rc == 0)
				rc = csr_parse_hash_alg(&mr, &mgf_hash, &pss->mgf1_nid,
				                        "RSASSA-PSS-params MGF1 hash", err);
			have_mgf = 1;
		} else {
			uint32_t v = 0;

			if (!der_integer_is_minimal(&inner) || (inner.val[0] & 0x80) ||
			    inner.len > 3)
				return csr_fail(
				    err, CS_ERR_CSR_MALFORMED, inner.off,
				    "RSASSA-PSS-params: %s is not a small non-negative INTEGER",
				    t.tag == DER_CTX_CONS(2) ? "saltLength" : "trailerField");
			for (size_t i = 0; i < inner.len; i++)
				v = (v << 8) | inner.val[i];
			if (t.tag == DER_CTX_CONS(2))
				pss->salt_len = v;
			else if (v != 1)
				return csr_fail(
				    err, CS_ERR_CSR_MALFORMED, inner.off,
				    "RSASSA-PSS-params: trailerField must be 1 (RFC 4055 3.1)");
		}
	}
	if (rc == 0)
		rc = csr_done(&top, "RSASSA-PSS-params", err);
	if (rc != 0)
		return rc;
	if (!have_hash || !have_mgf)
		return csr_fail(err, CS_ERR_CSR_UNSUPPORTED, seq.off,
		                "RSASSA-PSS-params: default SHA-1 %s is not accepted",
		                have_hash ? "mask generation" : "hash");
	return 0;
}

static int
csr_parse_sig_alg(const struct der_reader *outer, const struct der_tlv *alg, struct csr *out,
                  struct cs_err *err)
{
	struct der_reader ar;
	struct der_tlv oid, params;
	char dotted[64];
	int have_params = 0, rc;

	rc = csr_enter(outer, alg, &ar, "signatureAlgorithm", err);
	if (rc == 0)
		rc = csr_next(&ar, DER_OID, &oid, "signatureAlgorithm OID", err);
	if (rc == 0 && !der_reader_done(&ar)) {
		rc = csr_next(&ar, 0, &params, "signatureAlgorithm parameters", err);
		have_params = 1;
	}
	if (rc == 0)
		rc = csr_done(&ar, "signatureAlgorithm", err);
	if (rc != 0)
		return rc;

	if (OID_EQ(&oid, oid_ecdsa_sha256))
		out->sig_alg = CSR_SIG_ECDSA_SHA256;
	else if (OID_EQ(&oid, oid_ecdsa_sha384))
		out->sig_alg = CSR_SIG_ECDSA_SHA384;
	else if (OID_EQ(&oid, oid_ecdsa_sha512))
		out->sig_alg = CSR_SIG_ECDSA_SHA512;
	else if (OID_EQ(&oid, oid_rsa_sha256))
		out->sig_alg = CSR_SIG_RSA_PKCS1_SHA256;
	else if (OID_EQ(&oid, oid_rsa_sha384))
		out->sig_alg = CSR_SIG_RSA_PKCS1_SHA384;
	else if (OID_EQ(&oid, oid_rsa_sha512))
		out->sig_alg = CSR_SIG_RSA_PKCS1_SHA512;
	else if (OID_EQ(&oid, oid_rsa_pss))
		out->sig_alg = CSR_SIG_RSA_PSS;
	else if (OID_EQ(&oid, oid_ed25519))
		out->sig_alg = CSR_SIG_ED25519;
	else {
		der_oid_text(oid.val, oid.len, dotted, sizeof(dotted));
		return csr_fail(
		    err, CS_ERR_CSR_UNSUPPORTED, oid.off,
		    "signatureAlgorithm %s is not supported (ECDSA, RSA PKCS#1 v1.5, RSASSA-PSS "
		    "with SHA-2, Ed25519)",
		    dotted);
	}

	switch (out->sig_alg) {
	case CSR_SIG_ECDSA_SHA256:
	case CSR_SIG_ECDSA_SHA384:
	case CSR_SIG_ECDSA_SHA512:
	case CSR_SIG_ED25519:
		if (have_params)
			return csr_fail(err, CS_ERR_CSR_MALFORMED, params.off,
			                "signatureAlgorithm %s: parameters must be absent (RFC "
			                "5758 3.2, RFC 8410 3)",
			                csr_sig_alg_name(out->sig_alg));
		break;
	case CSR_SIG_RSA_PSS: {
		struct csr_pss pss;

		if (!have_params || params.tag != DER_SEQUENCE)
			return csr_fail(
			    err, CS_ERR_CSR_MALFORMED, oid.off,
			    "signatureAlgorithm RSASSA-PSS: parameters SEQUENCE required");
		out->sig_alg_params.p = params.tlv;
		out->sig_alg_params.len = params.tlv_len;
		return csr_parse_pss_params(outer->base, &out->sig_alg_params, ar.depth, &pss, err);
	}
	default:
		/* RFC 3279 says NULL; some encoders omit it, which is harmless. */
		if (have_params && (params.tag != DER_NULL || params.len != 0))
			return csr_fail(err, CS_ERR_CSR_MALFORMED, params.off,
			                "signatureAlgorithm %s: parameters must be NULL",
			                csr_sig_alg_name(out->sig_alg));
		break;
	}
	return 0;
}

/* ---- csr_parse -------------------------------------------------------------- */

int
csr_parse(const uint8_t *der, size_t der_len, struct csr *out, struct cs_err *err)
{
	struct der_reader top, outer, info_r;
	struct der_tlv req, info, alg, sig, version, subject, spki, attrs;
	int rc;

	if (der == NULL || out == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "csr_parse: NULL argument");
	memset(out, 0, sizeof(*out));
	if (der_len > CSR_MAX_DER)
		return cs_err_set(err, CS_ERR_CSR_TOO_LARGE,
		                  "CSR: %zu bytes of DER; the limit is %d bytes", der_len,
		                  CSR_MAX_DER);
	der_reader_init(&top, der, der_len);
	rc = csr_next(&top, DER_SEQUENCE, &req, "CertificationRequest", err);
	if (rc != 0)
		goto out;
	if (!der_reader_done(&top)) {
		rc = csr_fail(err, CS_ERR_CSR_MALFORMED, top.pos,
		              "%zu trailing bytes after the CertificationRequest SEQUENCE",
		              der_len - top.pos);
		goto out;
	}
	out->der.p = der;
	out->der.len = der_len;

	rc = csr_enter(&top, &req, &outer, "CertificationRequest", err);
	if (rc == 0)
		rc = csr_next(&outer, DER_SEQUENCE, &info, "certificationRequestInfo", err);
	if (rc == 0)
		rc = csr_next(&outer, DER_SEQUENCE, &alg, "signatureAlgorithm", err);
	if (rc == 0)
		rc = csr_next(&outer, DER_BIT_STRING, &sig, "signature", err);
	if (rc == 0)
		rc = csr_done(&outer, "CertificationRequest", err);
	if (rc != 0)
		goto out;
	out->info.p = info.tlv;
	out->info.len = info.tlv_len;

	rc = csr_enter(&outer, &info, &info_r, "certificationRequestInfo", err);
	if (rc == 0)
		rc = csr_next(&info_r, DER_INTEGER, &version, "certificationRequestInfo version",
		              err);
	if (rc == 0 && (version.len != 1 || version.val[0] != 0))
		rc = csr_fail(err, CS_ERR_CSR_MALFORMED, version.off,
		              "certificationRequestInfo version must be 0 (v1, RFC 2986 4.1)");
	if (rc == 0)
		rc = csr_next(&info_r, DER_SEQUENCE, &subject, "subject", err);
	if (rc == 0)
		rc = csr_next(&info_r, DER_SEQUENCE, &spki, "subjectPublicKeyInfo", err);
	if (rc == 0)
		rc = csr_next(&info_r, DER_CTX_CONS(0), &attrs,
		              "attributes [0] (required by RFC 2986)", err);
	if (rc == 0)
		rc = csr_done(&info_r, "certificationRequestInfo", err);
	if (rc != 0)
		goto out;
	out->subject.p = subject.tlv;
	out->subject.len = subject.tlv_len;

	rc = csr_parse_name(&info_r, &subject, out, err);
	if (rc == 0)
		rc = csr_parse_spki(&info_r, &spki, out, err);
	if (rc == 0)
		rc = csr_parse_attributes(&info_r, &attrs, out, err);
	if (rc == 0)
		rc = csr_parse_sig_alg(&outer, &alg, out, err);
	if (rc != 0)
		goto out;

	if (sig.len < 2 || sig.val[0] != 0) {
		rc = csr_fail(err, CS_ERR_CSR_MALFORMED, sig.off,
		              "signature: BIT STRING must be non-empty with zero unused bits");
		goto out;
	}
	out->signature.p = sig.val + 1;
	out->signature.len = sig.len - 1;
	rc = 0;
out:
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	cs_err_clear(err);
	return 0;
}

/* ---- verification ------------------------------------------------------------ */

/* Curve groups are created once per process and then only read: EC_GROUP is
 * safe to share read-only, and EC_KEY_set_group() copies it. */
static EC_GROUP *csr_groups[3];
static pthread_once_t csr_groups_once = PTHREAD_ONCE_INIT;

static void
csr_groups_init(void)
{
	csr_groups[0] = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	csr_groups[1] = EC_GROUP_new_by_curve_name(NID_secp384r1);
	csr_groups[2] = EC_GROUP_new_by_curve_name(NID_secp521r1);
}

static const EC_GROUP *
csr_group(enum csr_key_type t)
{
	if (pthread_once(&csr_groups_once, csr_groups_init) != 0)
		return NULL;
	switch (t) {
	case CSR_KEY_EC_P256:
		return csr_groups[0];
	case CSR_KEY_EC_P384:
		return csr_groups[1];
	case CSR_KEY_EC_P521:
		return csr_groups[2];
	default:
		return NULL;
	}
}

/* Digest of the info bytes for md_nid; returns its length, 0 if unknown. */
static size_t
csr_digest(int md_nid, const struct csr *csr, uint8_t out[SHA512_DIGEST_LENGTH])
{
	switch (md_nid) {
	case NID_sha256:
		SHA256(csr->info.p, csr->info.len, out);
		return SHA256_DIGEST_LENGTH;
	case NID_sha384:
		SHA384(csr->info.p, csr->info.len, out);
		return SHA384_DIGEST_LENGTH;
	case NID_sha512:
		SHA512(csr->info.p, csr->info.len, out);
		return SHA512_DIGEST_LENGTH;
	default:
		return 0;
	}
}

static int
csr_sig_md_nid(enum csr_sig_alg a)
{
	switch (a) {
	case CSR_SIG_ECDSA_SHA256:
	case CSR_SIG_RSA_PKCS1_SHA256:
		return NID_sha256;
	case CSR_SIG_ECDSA_SHA384:
	case CSR_SIG_RSA_PKCS1_SHA384:
		return NID_sha384;
	case CSR_SIG_ECDSA_SHA512:
	case CSR_SIG_RSA_PKCS1_SHA512:
		return NID_sha512;
	default:
		return NID_undef;
	}
}

/* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }, strict DER. */
static ECDSA_SIG *
csr_ecdsa_sig_decode(const struct csr *csr, struct cs_err *err)
{
	struct der_reader top, sr;
	struct der_tlv seq, r, s;
	BIGNUM *br = NULL, *bs = NULL;
	ECDSA_SIG *sig = NULL;
	int rc;

	csr_reader_over(&top, csr->der.p, csr->signature.p, csr->signature.len, 1);
	rc = csr_next(&top, DER_SEQUENCE, &seq, "signature ECDSA-Sig-Value", err);
	if (rc == 0)
		rc = csr_done(&top, "signature ECDSA-Sig-Value", err);
	if (rc == 0)
		rc = csr_enter(&top, &seq, &sr, "signature ECDSA-Sig-Value", err);
	if (rc == 0)
		rc = csr_next(&sr, DER_INTEGER, &r, "signature r", err);
	if (rc == 0)
		rc = csr_next(&sr, DER_INTEGER, &s, "signature s", err);
	if (rc == 0)
		rc = csr_done(&sr, "signature ECDSA-Sig-Value", err);
	if (rc != 0)
		goto out;
	if (!der_integer_is_minimal(&r) || (r.val[0] & 0x80) || !der_integer_is_minimal(&s) ||
	    (s.val[0] & 0x80) || r.len > 67 || s.len > 67) {
		csr_fail(err, CS_ERR_CSR_SIGNATURE, r.off,
		         "signature: r or s is not a minimal positive INTEGER of curve size");
		goto out;
	}
	br = BN_bin2bn(r.val, (int)r.len, NULL);
	bs = BN_bin2bn(s.val, (int)s.len, NULL);
	sig = ECDSA_SIG_new();
	if (br == NULL || bs == NULL || sig == NULL || ECDSA_SIG_set0(sig, br, bs) != 1) {
		ECDSA_SIG_free(sig);
		sig = NULL;
		cs_err_set(err, CS_ERR_NOMEM, "CSR: out of memory decoding the signature");
		goto out;
	}
	br = NULL;
	bs = NULL;
out:
	BN_free(br);
	BN_free(bs);
	if (sig == NULL && err != NULL && err->code == CS_ERR_CSR_MALFORMED)
		err->code = CS_ERR_CSR_SIGNATURE;
	return sig;
}

static int
csr_verify_ec(const struct csr *csr, struct cs_err *err)
{
	char kname[32];
	uint8_t dgst[SHA512_DIGEST_LENGTH];
	const EC_GROUP *group = csr_group(csr->key_type);
	EC_KEY *key = NULL;
	ECDSA_SIG *sig = NULL;
	size_t dlen;
	int rc;

	csr_key_type_name(csr->key_type, csr->key_bits, kname, sizeof(kname));
	if (group == NULL) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "CSR: cannot create the %s group", kname);
		goto out;
	}
	sig = csr_ecdsa_sig_decode(csr, err);
	if (sig == NULL) {
		rc = err != NULL ? err->code : CS_ERR_CSR_SIGNATURE;
		if (rc == 0)
			rc = CS_ERR_CSR_SIGNATURE;
		goto out;
	}
	key = EC_KEY_new();
	if (key == NULL || EC_KEY_set_group(key, group) != 1) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "CSR: out of memory building the %s key", kname);
		goto out;
	}
	/* oct2key decodes compressed points too and checks the point is on
	 * the curve. */
	if (EC_KEY_oct2key(key, csr->key.p, csr->key.len, NULL) != 1) {
		rc = cs_err_set(err, CS_ERR_CSR_MALFORMED,
		                "CSR: byte %zu: subjectPublicKeyInfo: the EC point is not on %s",
		                (size_t)(csr->key.p - csr->der.p), kname);
		goto out;
	}
	dlen = csr_digest(csr_sig_md_nid(csr->sig_alg), csr, dgst);
	if (ECDSA_do_verify(dgst, (int)dlen, sig, key) != 1) {
		rc = cs_err_set(err, CS_ERR_CSR_SIGNATURE,
		                "CSR: %s signature does not verify with the request's %s key "
		                "(no proof of possession)",
		                csr_sig_alg_name(csr->sig_alg), kname);
		goto out;
	}
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	EC_KEY_free(key);
	return rc;
}

static RSA *
csr_rsa_key(const struct csr *csr)
{
	struct der_reader top, kr;
	struct der_tlv seq, n, e;
	BIGNUM *bn = NULL, *be = NULL;
	RSA *rsa = NULL;

	/* The key was fully checked by csr_parse(); this only re-walks it. */
	csr_reader_over(&top, csr->der.p, csr->key.p, csr->key.len, 1);
	if (der_read(&top, &seq, NULL) != DER_OK || der_enter(&top, &seq, &kr) != DER_OK ||
	    der_read(&kr, &n, NULL) != DER_OK || der_read(&kr, &e, NULL) != DER_OK)
		return NULL;
	bn = BN_bin2bn(n.val, (int)n.len, NULL);
	be = BN_bin2bn(e.val, (int)e.len, NULL);
	rsa = RSA_new();
	if (bn == NULL || be == NULL || rsa == NULL || RSA_set0_key(rsa, bn, be, NULL) != 1) {
		BN_free(bn);
		BN_free(be);
		RSA_free(rsa);
		return NULL;
	}
	return rsa;
}

static const EVP_MD *
csr_md(int nid)
{
	switch (nid) {
	case NID_sha256:
		return EVP_sha256();
	case NID_sha384:
		return EVP_sha384();
	case NID_sha512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

static int
csr_verify_rsa(const struct csr *csr, struct cs_err *err)
{
	uint8_t dgst[SHA512_DIGEST_LENGTH];
	uint8_t em[CSR_RSA_MAX_BYTES];
	char kname[32];
	struct csr_pss pss;
	RSA *rsa = NULL;
	size_t dlen;
	int rc, ok, n;

	csr_key_type_name(csr->key_type, csr->key_bits, kname, sizeof(kname));
	rsa = csr_rsa_key(csr);
	if (rsa == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "CSR: cannot build the %s key", kname);
		goto out;
	}
	if (csr->signature.len != (size_t)RSA_size(rsa)) {
		rc = cs_err_set(err, CS_ERR_CSR_SIGNATURE,
		                "CSR: %s signature is %zu bytes; the %s key needs %d",
		                csr_sig_alg_name(csr->sig_alg), csr->signature.len, kname,
		                RSA_size(rsa));
		goto out;
	}
	if (csr->sig_alg == CSR_SIG_RSA_PSS) {
		rc = csr_parse_pss_params(csr->der.p, &csr->sig_alg_params, 1, &pss, err);
		if (rc != 0)
			goto out;
		dlen = csr_digest(pss.md_nid, csr, dgst);
		n = RSA_public_decrypt((int)csr->signature.len, csr->signature.p, em, rsa,
		                       RSA_NO_PADDING);
		ok = n == (int)csr->signature.len &&
		     RSA_verify_PKCS1_PSS_mgf1(rsa, dgst, csr_md(pss.md_nid), csr_md(pss.mgf1_nid),
		                               em, (int)pss.salt_len) == 1;
		(void)dlen;
	} else {
		int nid = csr_sig_md_nid(csr->sig_alg);

		dlen = csr_digest(nid, csr, dgst);
		ok = RSA_verify(nid, dgst, (unsigned)dlen, csr->signature.p,
		                (unsigned)csr->signature.len, rsa) == 1;
	}
	if (!ok) {
		rc = cs_err_set(err, CS_ERR_CSR_SIGNATURE,
		                "CSR: %s signature does not verify with the request's %s key "
		                "(no proof of possession)",
		                csr_sig_alg_name(csr->sig_alg), kname);
		goto out;
	}
	rc = 0;
out:
	RSA_free(rsa);
	return rc;
}

static int
csr_verify_ed25519(const struct csr *csr, struct cs_err *err)
{
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	int rc;

	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, csr->key.p, csr->key.len);
	ctx = EVP_MD_CTX_new();
	if (pkey == NULL || ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1) {
		rc = cs_err_set(err, CS_ERR_CSR_MALFORMED,
		                "CSR: byte %zu: subjectPublicKeyInfo: not a usable Ed25519 key",
		                (size_t)(csr->key.p - csr->der.p));
		goto out;
	}
	if (EVP_DigestVerify(ctx, csr->signature.p, csr->signature.len, csr->info.p,
	                     csr->info.len) != 1) {
		rc = cs_err_set(err, CS_ERR_CSR_SIGNATURE,
		                "CSR: Ed25519 signature does not verify with the request's key "
		                "(no proof of possession)");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

/* "algorithm OID, parameters OID" of the SPKI, for refusal messages. */
static void
csr_spki_describe(const struct csr *csr, char *buf, size_t cap)
{
	struct der_reader top, sr, ar;
	struct der_tlv spki, alg, oid, params;
	char a[64], p[64];

	snprintf(buf, cap, "unreadable algorithm");
	csr_reader_over(&top, csr->der.p, csr->spki.p, csr->spki.len, 1);
	if (der_read(&top, &spki, NULL) != DER_OK || der_enter(&top, &spki, &sr) != DER_OK ||
	    der_read(&sr, &alg, NULL) != DER_OK || der_enter(&sr, &alg, &ar) != DER_OK ||
	    der_read(&ar, &oid, NULL) != DER_OK || oid.tag != DER_OID)
		return;
	der_oid_text(oid.val, oid.len, a, sizeof(a));
	if (der_read(&ar, &params, NULL) != DER_OK)
		snprintf(buf, cap, "algorithm %s", a);
	else if (params.tag == DER_OID) {
		der_oid_text(params.val, params.len, p, sizeof(p));
		snprintf(buf, cap, "algorithm %s, curve %s", a, p);
	} else if (params.tag == DER_SEQUENCE)
		snprintf(buf, cap, "algorithm %s with explicit curve parameters", a);
	else
		snprintf(buf, cap, "algorithm %s", a);
}

static int
csr_sig_matches_key(enum csr_sig_alg a, enum csr_key_type t)
{
	switch (a) {
	case CSR_SIG_ECDSA_SHA256:
	case CSR_SIG_ECDSA_SHA384:
	case CSR_SIG_ECDSA_SHA512:
		return t == CSR_KEY_EC_P256 || t == CSR_KEY_EC_P384 || t == CSR_KEY_EC_P521;
	case CSR_SIG_RSA_PKCS1_SHA256:
	case CSR_SIG_RSA_PKCS1_SHA384:
	case CSR_SIG_RSA_PKCS1_SHA512:
	case CSR_SIG_RSA_PSS:
		return t == CSR_KEY_RSA;
	case CSR_SIG_ED25519:
		return t == CSR_KEY_ED25519;
	default:
		return 0;
	}
}

int
csr_verify(const struct csr *csr, struct cs_err *err)
{
	char kname[32];
	int rc;

	if (csr == NULL || csr->der.p == NULL || csr->info.p == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "csr_verify: request was not parsed");
	csr_key_type_name(csr->key_type, csr->key_bits, kname, sizeof(kname));
	if (csr->key_type == CSR_KEY_EC_OTHER || csr->key_type == CSR_KEY_OTHER ||
	    csr->key_type == CSR_KEY_UNKNOWN) {
		char what[192];

		csr_spki_describe(csr, what, sizeof(what));
		return cs_err_set(
		    err, CS_ERR_CSR_UNSUPPORTED,
		    "CSR: key is %s (%s); the station verifies P-256, P-384, P-521, RSA and "
		    "Ed25519",
		    kname, what);
	}
	if (!csr_sig_matches_key(csr->sig_alg, csr->key_type))
		return cs_err_set(err, CS_ERR_CSR_SIGNATURE,
		                  "CSR: signature algorithm %s does not match the request's %s key",
		                  csr_sig_alg_name(csr->sig_alg), kname);
	switch (csr->key_type) {
	case CSR_KEY_RSA:
		rc = csr_verify_rsa(csr, err);
		break;
	case CSR_KEY_ED25519:
		rc = csr_verify_ed25519(csr, err);
		break;
	default:
		rc = csr_verify_ec(csr, err);
		break;
	}
	if (rc != 0) {
		/* Leave no stale entries in this thread's OpenSSL error queue. */
		ERR_clear_error();
		return rc;
	}
	cs_err_clear(err);
	return 0;
}
