/*
 * cert.c: the TBSCertificate and Certificate encoder and the pre-issuance
 * lint (see cert.h for why the station does not use OpenSSL's X509 object).
 *
 * Everything is written with station/der.c into the caller's buffer; the
 * SPKI and issuer Name are copied byte for byte, so the certificate carries
 * exactly the key the device proved possession of.
 */
#include "station/cert.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "station/der.h"

#define CERT_UB_CN 64 /* RFC 5280 appendix A upper bounds, in characters */
#define CERT_UB_O 64
#define CERT_UB_OU 64
#define CERT_UB_L 128
#define CERT_UB_ST 128
#define CERT_UB_SERIALNUMBER 64
#define CERT_UB_EMAIL 255
#define CERT_MAX_DNS 253    /* RFC 1035 */
#define CERT_MAX_URI 1024   /* station's own ceiling */
#define CERT_KU_KNOWN 0x7fu /* bits 0..6: what cert.h defines */

/* 0000-01-01T00:00:00Z: GeneralizedTime cannot express earlier years. */
#define CERT_TIME_MIN ((int64_t)-62167219200)

static const uint8_t oid_ecdsa_sha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t oid_ecdsa_sha384[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t oid_rsa_sha256[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};
static const uint8_t oid_rsa_sha384[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c};
static const uint8_t oid_rsa_pss[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a};
static const uint8_t oid_mgf1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
static const uint8_t oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const uint8_t oid_sha384[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};

static const uint8_t oid_at_cn[] = {0x55, 0x04, 0x03};
static const uint8_t oid_at_serial[] = {0x55, 0x04, 0x05};
static const uint8_t oid_at_c[] = {0x55, 0x04, 0x06};
static const uint8_t oid_at_l[] = {0x55, 0x04, 0x07};
static const uint8_t oid_at_st[] = {0x55, 0x04, 0x08};
static const uint8_t oid_at_o[] = {0x55, 0x04, 0x0a};
static const uint8_t oid_at_ou[] = {0x55, 0x04, 0x0b};

static const uint8_t oid_ext_ski[] = {0x55, 0x1d, 0x0e};
static const uint8_t oid_ext_ku[] = {0x55, 0x1d, 0x0f};
static const uint8_t oid_ext_san[] = {0x55, 0x1d, 0x11};
static const uint8_t oid_ext_bc[] = {0x55, 0x1d, 0x13};
static const uint8_t oid_ext_crldp[] = {0x55, 0x1d, 0x1f};
static const uint8_t oid_ext_aki[] = {0x55, 0x1d, 0x23};
static const uint8_t oid_ext_eku[] = {0x55, 0x1d, 0x25};
static const uint8_t oid_ext_aia[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01};
static const uint8_t oid_ad_ocsp[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01};
static const uint8_t oid_ad_ca_issuers[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02};
static const uint8_t oid_kp_server[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
static const uint8_t oid_kp_client[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
static const uint8_t oid_kp_code[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03};
static const uint8_t oid_kp_email[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04};

/* ---- small text helpers ---------------------------------------------------- */

/* Number of code points of a UTF-8 C string, (size_t)-1 if not allowed. */
static size_t
cert_utf8_chars(const char *s)
{
	return der_utf8_chars((const uint8_t *)s, strlen(s));
}

/* X.680 PrintableString: A-Z a-z 0-9 space ' ( ) + , - . / : = ? */
static int
cert_printable_char(char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr(" '()+,-./:=?", c) != NULL;
}

/* Index of the first character not allowed in a PrintableString, -1 if none. */
static long
cert_printable_bad(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++)
		if (!cert_printable_char(s[i]))
			return (long)i;
	return -1;
}

/* IA5String as used for names and URIs: printable ASCII, no spaces. */
static int
cert_ia5_visible(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int
cert_uri_has_scheme(const char *s)
{
	size_t i = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while (s[i] != '\0' && s[i] != ':') {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '-' || c == '.'))
			return 0;
		i++;
	}
	return s[i] == ':' && s[i + 1] != '\0';
}

static int
cert_dns_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > CERT_MAX_DNS)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (c == '*' && !(i == 0 && len > 2 && s[1] == '.'))
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '*'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label != 0;
}

static int
cert_ip_parse(const char *s, uint8_t out[16], size_t *len)
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*len = 16;
		return 0;
	}
	return -1;
}

/* ---- time -------------------------------------------------------------------- */

struct cert_tm {
	int64_t year;
	unsigned mon, day, hour, min, sec;
};

/* Unix seconds to the proleptic Gregorian calendar (H. Hinnant's
 * civil_from_days), independent of time_t and the C library's range. */
static void
cert_time_split(int64_t t, struct cert_tm *tm)
{
	int64_t days = t / 86400, rem = t % 86400, era, y;
	unsigned doe, yoe, doy, mp;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	tm->hour = (unsigned)(rem / 3600);
	tm->min = (unsigned)(rem / 60 % 60);
	tm->sec = (unsigned)(rem % 60);
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = (unsigned)(days - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	tm->day = doy - (153 * mp + 2) / 5 + 1;
	tm->mon = mp < 10 ? mp + 3 : mp - 9;
	tm->year = y + (tm->mon <= 2);
}

/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (and
 * before 1950). */
static int
cert_put_time(struct der_writer *w, int64_t t)
{
	struct cert_tm tm;
	char text[20];
	int n;

	if (t < CERT_TIME_MIN || t > CERT_NOT_AFTER_FOREVER)
		return CS_ERR_INVALID_ARG;
	cert_time_split(t, &tm);
	if (tm.year >= 1950 && tm.year <= 2049) {
		n = snprintf(text, sizeof(text), "%02u%02u%02u%02u%02u%02uZ",
		             (unsigned)(tm.year % 100), tm.mon, tm.day, tm.hour, tm.min, tm.sec);
		der_put_tlv(w, DER_UTC_TIME, (const uint8_t *)text, (size_t)n);
	} else {
		n = snprintf(text, sizeof(text), "%04u%02u%02u%02u%02u%02uZ", (unsigned)tm.year,
		             tm.mon, tm.day, tm.hour, tm.min, tm.sec);
		der_put_tlv(w, DER_GENERALIZED_TIME, (const uint8_t *)text, (size_t)n);
	}
	return 0;
}

/* ---- algorithm identifiers ----------------------------------------------------- */

static void
cert_put_hash_alg(struct der_writer *w, const uint8_t *oid, size_t oid_len)
{
	size_t m = der_begin(w, DER_SEQUENCE);

	der_put_tlv(w, DER_OID, oid, oid_len);
	der_put_tlv(w, DER_NULL, NULL, 0);
	der_end(w, m);
}

static int
cert_put_sig_alg(struct der_writer *w, enum hsm_sig_alg alg)
{
	size_t m = der_begin(w, DER_SEQUENCE), p, f, g;
	const uint8_t *h;
	size_t hlen;
	uint32_t salt;

	switch (alg) {
	case HSM_SIG_ECDSA_SHA256:
		der_put_tlv(w, DER_OID, oid_ecdsa_sha256, sizeof(oid_ecdsa_sha256));
		break;
	case HSM_SIG_ECDSA_SHA384:
		der_put_tlv(w, DER_OID, oid_ecdsa_sha384, sizeof(oid_ecdsa_sha384));
		break;
	case HSM_SIG_RSA_PKCS1_SHA256:
		der_put_tlv(w, DER_OID, oid_rsa_sha256, sizeof(oid_rsa_sha256));
		der_put_tlv(w, DER_NULL, NULL, 0);
		break;
	case HSM_SIG_RSA_PKCS1_SHA384:
		der_put_tlv(w, DER_OID, oid_rsa_sha384, sizeof(oid_rsa_sha384));
		der_put_tlv(w, DER_NULL, NULL, 0);
		break;
	case HSM_SIG_RSA_PSS_SHA256:
	case HSM_SIG_RSA_PSS_SHA384:
		if (alg == HSM_SIG_RSA_PSS_SHA256) {
			h = oid_sha256;
			hlen = sizeof(oid_sha256);
			salt = 32;
		} else {
			h = oid_sha384;
			hlen = sizeof(oid_sha384);
			salt = 48;
		}
		/* RFC 4055 3.1 with every field explicit: the SHA-1 defaults do
		 * not apply. trailerField keeps its default (1) and is omitted. */
		der_put_tlv(w, DER_OID, oid_rsa_pss, sizeof(oid_rsa_pss));
		p = der_begin(w, DER_SEQUENCE);
		f = der_begin(w, DER_CTX_CONS(0));
		cert_put_hash_alg(w, h, hlen);
		der_end(w, f);
		f = der_begin(w, DER_CTX_CONS(1));
		g = der_begin(w, DER_SEQUENCE);
		der_put_tlv(w, DER_OID, oid_mgf1, sizeof(oid_mgf1));
		cert_put_hash_alg(w, h, hlen);
		der_end(w, g);
		der_end(w, f);
		f = der_begin(w, DER_CTX_CONS(2));
		der_put_small_uint(w, salt);
		der_end(w, f);
		der_end(w, p);
		break;
	default:
		return CS_ERR_INVALID_ARG;
	}
	der_end(w, m);
	return 0;
}

size_t
cert_sig_alg_digest_len(enum hsm_sig_alg alg)
{
	switch (alg) {
	case HSM_SIG_ECDSA_SHA256:
	case HSM_SIG_RSA_PKCS1_SHA256:
	case HSM_SIG_RSA_PSS_SHA256:
		return SHA256_DIGEST_LENGTH;
	case HSM_SIG_ECDSA_SHA384:
	case HSM_SIG_RSA_PKCS1_SHA384:
	case HSM_SIG_RSA_PSS_SHA384:
		return SHA384_DIGEST_LENGTH;
	default:
		return 0;
	}
}

/* ---- structure checks on borrowed DER ---------------------------------------------- */

/* 0 if p[0..len) is exactly one SEQUENCE. */
static int
cert_one_sequence(const uint8_t *p, size_t len, struct der_tlv *t)
{
	struct der_reader r;

	if (p == NULL || len == 0)
		return -1;
	der_reader_init(&r, p, len);
	if (der_read(&r, t, NULL) != DER_OK || t->tag != DER_SEQUENCE || !der_reader_done(&r))
		return -1;
	return 0;
}

int
cert_ski_from_spki(const uint8_t *spki, size_t spki_len, uint8_t out[20])
{
	struct der_reader r, sr;
	struct der_tlv seq, alg, bits;

	if (out == NULL || cert_one_sequence(spki, spki_len, &seq) != 0)
		return CS_ERR_INVALID_ARG;
	der_reader_init(&r, spki, spki_len);
	if (der_read(&r, &seq, NULL) != DER_OK || der_enter(&r, &seq, &sr) != DER_OK ||
	    der_read(&sr, &alg, NULL) != DER_OK || alg.tag != DER_SEQUENCE ||
	    der_read(&sr, &bits, NULL) != DER_OK || bits.tag != DER_BIT_STRING ||
	    !der_reader_done(&sr) || bits.len < 1 || bits.val[0] != 0)
		return CS_ERR_INVALID_ARG;
	SHA1(bits.val + 1, bits.len - 1, out);
	return 0;
}

/* ---- subject, SAN and extensions -------------------------------------------------------- */

static int
cert_rdn_oid(enum cert_rdn_type type, const uint8_t **oid, size_t *len, int *printable)
{
	*printable = 0;
	switch (type) {
	case CERT_RDN_CN:
		*oid = oid_at_cn;
		break;
	case CERT_RDN_O:
		*oid = oid_at_o;
		break;
	case CERT_RDN_OU:
		*oid = oid_at_ou;
		break;
	case CERT_RDN_C:
		*oid = oid_at_c;
		*printable = 1;
		break;
	case CERT_RDN_L:
		*oid = oid_at_l;
		break;
	case CERT_RDN_ST:
		*oid = oid_at_st;
		break;
	case CERT_RDN_SERIALNUMBER:
		*oid = oid_at_serial;
		*printable = 1;
		break;
	default:
		return -1;
	}
	*len = 3;
	return 0;
}

static int
cert_put_subject(struct der_writer *w, const struct cert_template *t)
{
	size_t name = der_begin(w, DER_SEQUENCE);

	for (size_t i = 0; i < t->subject_count; i++) {
		const struct cert_rdn *r = &t->subject[i];
		const uint8_t *oid;
		size_t oid_len, set, atv;
		int printable;

		if (cert_rdn_oid(r->type, &oid, &oid_len, &printable) != 0 || r->value == NULL)
			return CS_ERR_INVALID_ARG;
		if (printable && cert_printable_bad(r->value) >= 0)
			return CS_ERR_INVALID_ARG;
		if (!printable && cert_utf8_chars(r->value) == (size_t)-1)
			return CS_ERR_INVALID_ARG;
		set = der_begin(w, DER_SET);
		atv = der_begin(w, DER_SEQUENCE);
		der_put_tlv(w, DER_OID, oid, oid_len);
		der_put_tlv(w, printable ? DER_PRINTABLE_STRING : DER_UTF8_STRING,
		            (const uint8_t *)r->value, strlen(r->value));
		der_end(w, atv);
		der_end(w, set);
	}
	der_end(w, name);
	return 0;
}

struct cert_ext_marks {
	size_t seq, oct;
};

static struct cert_ext_marks
cert_ext_begin(struct der_writer *w, const uint8_t *oid, size_t oid_len, int critical)
{
	static const uint8_t true_octet = 0xff;
	struct cert_ext_marks m;

	m.seq = der_begin(w, DER_SEQUENCE);
	der_put_tlv(w, DER_OID, oid, oid_len);
	if (critical)
		der_put_tlv(w, DER_BOOLEAN, &true_octet, 1);
	m.oct = der_begin(w, DER_OCTET_STRING);
	return m;
}

static void
cert_ext_end(struct der_writer *w, struct cert_ext_marks m)
{
	der_end(w, m.oct);
	der_end(w, m.seq);
}

static void
cert_put_key_usage(struct der_writer *w, unsigned ku)
{
	uint8_t v[3] = {0, 0, 0};
	unsigned high = 0;
	size_t nbytes;

	for (unsigned bit = 0; bit < 9; bit++) {
		if (ku & (1u << bit)) {
			v[1 + bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
			high = bit;
		}
	}
	/* X.690 11.2.2: a named bit list drops trailing zero bits. */
	nbytes = high / 8 + 1;
	v[0] = (uint8_t)(7 - high % 8);
	der_put_tlv(w, DER_BIT_STRING, v, 1 + nbytes);
}

static int
cert_eku_oid(enum cert_eku e, const uint8_t **oid)
{
	switch (e) {
	case CERT_EKU_SERVER_AUTH:
		*oid = oid_kp_server;
		return 0;
	case CERT_EKU_CLIENT_AUTH:
		*oid = oid_kp_client;
		return 0;
	case CERT_EKU_CODE_SIGNING:
		*oid = oid_kp_code;
		return 0;
	case CERT_EKU_EMAIL_PROTECTION:
		*oid = oid_kp_email;
		return 0;
	default:
		return -1;
	}
}

static int
cert_put_san(struct der_writer *w, const struct cert_template *t)
{
	struct cert_ext_marks m = cert_ext_begin(w, oid_ext_san, sizeof(oid_ext_san), 0);
	size_t seq = der_begin(w, DER_SEQUENCE);

	for (size_t i = 0; i < t->san_count; i++) {
		const struct cert_san *s = &t->san[i];
		uint8_t ip[16];
		size_t ip_len;

		if (s->value == NULL)
			return CS_ERR_INVALID_ARG;
		switch (s->type) {
		case CERT_SAN_DNS:
			der_put_tlv(w, DER_CTX(2), (const uint8_t *)s->value, strlen(s->value));
			break;
		case CERT_SAN_URI:
			der_put_tlv(w, DER_CTX(6), (const uint8_t *)s->value, strlen(s->value));
			break;
		case CERT_SAN_EMAIL:
			der_put_tlv(w, DER_CTX(1), (const uint8_t *)s->value, strlen(s->value));
			break;
		case CERT_SAN_IP:
			if (cert_ip_parse(s->value, ip, &ip_len) != 0)
				return CS_ERR_INVALID_ARG;
			der_put_tlv(w, DER_CTX(7), ip, ip_len);
			break;
		default:
			return CS_ERR_INVALID_ARG;
		}
	}
	der_end(w, seq);
	cert_ext_end(w, m);
	return 0;
}

static int
cert_put_extensions(struct der_writer *w, const struct cert_template *t)
{
	static const uint8_t empty_seq[] = {0x30, 0x00};
	struct cert_ext_marks m;
	uint8_t ski[20];
	size_t outer, exts, seq, dp, f;
	int rc;

	outer = der_begin(w, DER_CTX_CONS(3));
	exts = der_begin(w, DER_SEQUENCE);

	/* basicConstraints: cA FALSE is the DEFAULT, so DER writes an empty
	 * SEQUENCE. */
	m = cert_ext_begin(w, oid_ext_bc, sizeof(oid_ext_bc), 1);
	der_put_raw(w, empty_seq, sizeof(empty_seq));
	cert_ext_end(w, m);

	if (t->key_usage != 0) {
		if (t->key_usage & ~0x1ffu)
			return CS_ERR_INVALID_ARG;
		m = cert_ext_begin(w, oid_ext_ku, sizeof(oid_ext_ku), 1);
		cert_put_key_usage(w, t->key_usage);
		cert_ext_end(w, m);
	}

	if (t->eku_count > 0) {
		m = cert_ext_begin(w, oid_ext_eku, sizeof(oid_ext_eku), 0);
		seq = der_begin(w, DER_SEQUENCE);
		for (size_t i = 0; i < t->eku_count; i++) {
			const uint8_t *oid;

			if (cert_eku_oid(t->eku[i], &oid) != 0)
				return CS_ERR_INVALID_ARG;
			der_put_tlv(w, DER_OID, oid, sizeof(oid_kp_server));
		}
		der_end(w, seq);
		cert_ext_end(w, m);
	}

	rc = cert_ski_from_spki(t->spki, t->spki_len, ski);
	if (rc != 0)
		return rc;
	m = cert_ext_begin(w, oid_ext_ski, sizeof(oid_ext_ski), 0);
	der_put_tlv(w, DER_OCTET_STRING, ski, sizeof(ski));
	cert_ext_end(w, m);

	if (t->issuer_ski != NULL && t->issuer_ski_len > 0) {
		m = cert_ext_begin(w, oid_ext_aki, sizeof(oid_ext_aki), 0);
		seq = der_begin(w, DER_SEQUENCE);
		der_put_tlv(w, DER_CTX(0), t->issuer_ski, t->issuer_ski_len);
		der_end(w, seq);
		cert_ext_end(w, m);
	}

	if (t->san_count > 0) {
		rc = cert_put_san(w, t);
		if (rc != 0)
			return rc;
	}

	if (t->crl_url_count > 0) {
		/* One DistributionPoint whose fullName lists every URL: the same
		 * CRL reachable at several places (RFC 5280 4.2.1.13). */
		m = cert_ext_begin(w, oid_ext_crldp, sizeof(oid_ext_crldp), 0);
		seq = der_begin(w, DER_SEQUENCE);
		dp = der_begin(w, DER_SEQUENCE);
		f = der_begin(w, DER_CTX_CONS(0));
		{
			size_t full = der_begin(w, DER_CTX_CONS(0));

			for (size_t i = 0; i < t->crl_url_count; i++) {
				if (t->crl_urls[i] == NULL)
					return CS_ERR_INVALID_ARG;
				der_put_tlv(w, DER_CTX(6), (const uint8_t *)t->crl_urls[i],
				            strlen(t->crl_urls[i]));
			}
			der_end(w, full);
		}
		der_end(w, f);
		der_end(w, dp);
		der_end(w, seq);
		cert_ext_end(w, m);
	}

	if (t->ocsp_url_count > 0 || t->ca_issuers_url_count > 0) {
		m = cert_ext_begin(w, oid_ext_aia, sizeof(oid_ext_aia), 0);
		seq = der_begin(w, DER_SEQUENCE);
		for (size_t k = 0; k < 2; k++) {
			const char *const *urls = k == 0 ? t->ocsp_urls : t->ca_issuers_urls;
			size_t count = k == 0 ? t->ocsp_url_count : t->ca_issuers_url_count;
			const uint8_t *method = k == 0 ? oid_ad_ocsp : oid_ad_ca_issuers;

			for (size_t i = 0; i < count; i++) {
				size_t ad = der_begin(w, DER_SEQUENCE);

				if (urls[i] == NULL)
					return CS_ERR_INVALID_ARG;
				der_put_tlv(w, DER_OID, method, sizeof(oid_ad_ocsp));
				der_put_tlv(w, DER_CTX(6), (const uint8_t *)urls[i],
				            strlen(urls[i]));
				der_end(w, ad);
			}
		}
		der_end(w, seq);
		cert_ext_end(w, m);
	}

	der_end(w, exts);
	der_end(w, outer);
	return 0;
}

static int
cert_serial_state(const uint8_t serial[CERT_SERIAL_LEN])
{
	int nonzero = 0;

	if (serial[0] & 0x80)
		return -1;
	for (size_t i = 0; i < CERT_SERIAL_LEN; i++)
		nonzero |= serial[i];
	return nonzero ? 0 : -2;
}

int
cert_tbs_encode(const struct cert_template *t, uint8_t *out, size_t cap, size_t *out_len)
{
	static const uint8_t version_v3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
	struct der_writer w;
	struct der_tlv tmp;
	size_t tbs, validity;
	int rc;

	if (t == NULL || out == NULL || out_len == NULL)
		return CS_ERR_INVALID_ARG;
	/* Structural preconditions only; policy rules are cert_template_check's. */
	if (cert_serial_state(t->serial) != 0 || t->subject_count > CERT_MAX_RDN ||
	    t->san_count > CERT_MAX_SAN || t->eku_count > CERT_MAX_EKU ||
	    t->crl_url_count > CERT_MAX_URLS || t->ocsp_url_count > CERT_MAX_URLS ||
	    t->ca_issuers_url_count > CERT_MAX_URLS ||
	    cert_one_sequence(t->issuer_name, t->issuer_name_len, &tmp) != 0 ||
	    cert_one_sequence(t->spki, t->spki_len, &tmp) != 0)
		return CS_ERR_INVALID_ARG;

	der_writer_init(&w, out, cap);
	tbs = der_begin(&w, DER_SEQUENCE);
	der_put_raw(&w, version_v3, sizeof(version_v3));
	der_put_uint_be(&w, t->serial, CERT_SERIAL_LEN);
	rc = cert_put_sig_alg(&w, t->sig_alg);
	if (rc != 0)
		return rc;
	der_put_raw(&w, t->issuer_name, t->issuer_name_len);
	validity = der_begin(&w, DER_SEQUENCE);
	rc = cert_put_time(&w, t->not_before);
	if (rc == 0)
		rc = cert_put_time(&w, t->not_after);
	if (rc != 0)
		return rc;
	der_end(&w, validity);
	rc = cert_put_subject(&w, t);
	if (rc != 0)
		return rc;
	der_put_raw(&w, t->spki, t->spki_len);
	rc = cert_put_extensions(&w, t);
	if (rc != 0)
		return rc;
	der_end(&w, tbs);
	if (der_writer_finish(&w, out_len) != 0)
		return CS_ERR_TOO_LARGE;
	return 0;
}

int
cert_assemble(const uint8_t *tbs, size_t tbs_len, enum hsm_sig_alg alg, const uint8_t *sig,
              size_t sig_len, uint8_t *out, size_t cap, size_t *out_len)
{
	struct der_writer w;
	struct der_tlv tmp;
	size_t cert;
	int rc;

	if (tbs == NULL || sig == NULL || sig_len == 0 || out == NULL || out_len == NULL ||
	    cert_one_sequence(tbs, tbs_len, &tmp) != 0)
		return CS_ERR_INVALID_ARG;
	der_writer_init(&w, out, cap);
	cert = der_begin(&w, DER_SEQUENCE);
	der_put_raw(&w, tbs, tbs_len);
	rc = cert_put_sig_alg(&w, alg);
	if (rc != 0)
		return rc;
	der_put_bit_string(&w, sig, sig_len);
	der_end(&w, cert);
	if (der_writer_finish(&w, out_len) != 0)
		return CS_ERR_TOO_LARGE;
	return 0;
}

/* ---- pre-issuance lint ------------------------------------------------------------------- */

static int cert_lint(struct cs_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
cert_lint(struct cs_err *err, const char *fmt, ...)
{
	char text[CS_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return cs_err_set(err, CS_ERR_POLICY_LINT, "certificate pre-issuance check: %s", text);
}

static const char *
cert_rdn_name(enum cert_rdn_type type)
{
	switch (type) {
	case CERT_RDN_CN:
		return "CN";
	case CERT_RDN_O:
		return "O";
	case CERT_RDN_OU:
		return "OU";
	case CERT_RDN_C:
		return "C";
	case CERT_RDN_L:
		return "L";
	case CERT_RDN_ST:
		return "ST";
	case CERT_RDN_SERIALNUMBER:
		return "serialNumber";
	default:
		return "?";
	}
}

static size_t
cert_rdn_bound(enum cert_rdn_type type)
{
	switch (type) {
	case CERT_RDN_CN:
		return CERT_UB_CN;
	case CERT_RDN_O:
		return CERT_UB_O;
	case CERT_RDN_OU:
		return CERT_UB_OU;
	case CERT_RDN_C:
		return 2;
	case CERT_RDN_L:
		return CERT_UB_L;
	case CERT_RDN_ST:
		return CERT_UB_ST;
	case CERT_RDN_SERIALNUMBER:
		return CERT_UB_SERIALNUMBER;
	default:
		return 0;
	}
}

static int
cert_check_subject(const struct cert_template *t, struct cs_err *err)
{
	size_t cn = 0;

	if (t->subject_count > CERT_MAX_RDN)
		return cert_lint(err, "subject has %zu attributes; at most %d", t->subject_count,
		                 CERT_MAX_RDN);
	for (size_t i = 0; i < t->subject_count; i++) {
		const struct cert_rdn *r = &t->subject[i];
		const char *name = cert_rdn_name(r->type);
		size_t chars, bound = cert_rdn_bound(r->type);
		long bad;

		if (bound == 0)
			return cert_lint(err, "subject attribute %zu has unknown type %d", i,
			                 (int)r->type);
		if (r->value == NULL || r->value[0] == '\0')
			return cert_lint(err, "subject %s is empty", name);
		chars = cert_utf8_chars(r->value);
		if (chars == (size_t)-1)
			return cert_lint(err,
			                 "subject %s is not valid UTF-8 text (or has a control "
			                 "character)",
			                 name);
		if (r->type == CERT_RDN_CN) {
			cn++;
			if (chars > CERT_UB_CN)
				return cert_lint(err,
				                 "subject CN is %zu characters; RFC 5280 "
				                 "ub-common-name is 64",
				                 chars);
			continue;
		}
		if (r->type == CERT_RDN_C) {
			const char *v = r->value;

			if (strlen(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z')
				return cert_lint(err,
				                 "subject C \"%s\" is not 2 capital letters "
				                 "(ISO 3166)",
				                 v);
			continue;
		}
		if (r->type == CERT_RDN_SERIALNUMBER) {
			bad = cert_printable_bad(r->value);
			if (bad >= 0)
				return cert_lint(err,
				                 "subject serialNumber has character 0x%02x at "
				                 "position %ld, not allowed in PrintableString",
				                 (unsigned char)r->value[bad], bad);
		}
		if (chars > bound)
			return cert_lint(err,
			                 "subject %s is %zu characters; RFC 5280 upper bound "
			                 "is %zu",
			                 name, chars, bound);
	}
	if (cn == 0)
		return cert_lint(err, "subject has no CN (the device ID)");
	if (cn > 1)
		return cert_lint(err, "subject has %zu CNs; exactly one is written", cn);
	return 0;
}

static int
cert_check_san(const struct cert_template *t, struct cs_err *err)
{
	uint8_t ip[16];
	size_t ip_len;

	if (t->san_count > CERT_MAX_SAN)
		return cert_lint(err, "%zu subjectAltNames; at most %d", t->san_count,
		                 CERT_MAX_SAN);
	for (size_t i = 0; i < t->san_count; i++) {
		const struct cert_san *s = &t->san[i];
		const char *v = s->value;

		if (v == NULL || v[0] == '\0')
			return cert_lint(err, "subjectAltName %zu is empty", i);
		switch (s->type) {
		case CERT_SAN_DNS:
			if (!cert_dns_ok(v))
				return cert_lint(err,
				                 "subjectAltName dNSName \"%s\" is not a valid "
				                 "host name (letters, digits, '-', labels of "
				                 "1..63, at most 253)",
				                 v);
			break;
		case CERT_SAN_URI:
			if (!cert_ia5_visible(v) || !cert_uri_has_scheme(v) ||
			    strlen(v) > CERT_MAX_URI)
				return cert_lint(err,
				                 "subjectAltName URI \"%s\" is not an absolute "
				                 "ASCII URI of at most %d bytes",
				                 v, CERT_MAX_URI);
			break;
		case CERT_SAN_EMAIL: {
			const char *at = strchr(v, '@');

			if (!cert_ia5_visible(v) || at == NULL || at == v || at[1] == '\0' ||
			    strchr(at + 1, '@') != NULL || strlen(v) > CERT_UB_EMAIL)
				return cert_lint(err,
				                 "subjectAltName rfc822Name \"%s\" is not an "
				                 "ASCII mailbox of at most %d bytes",
				                 v, CERT_UB_EMAIL);
			break;
		}
		case CERT_SAN_IP:
			if (cert_ip_parse(v, ip, &ip_len) != 0)
				return cert_lint(err,
				                 "subjectAltName iPAddress \"%s\" is neither "
				                 "IPv4 nor IPv6",
				                 v);
			break;
		default:
			return cert_lint(err, "subjectAltName %zu has unknown type %d", i,
			                 (int)s->type);
		}
	}
	return 0;
}

static int
cert_check_urls(const char *const *urls, size_t count, const char *what, struct cs_err *err)
{
	if (count > CERT_MAX_URLS)
		return cert_lint(err, "%zu %s URLs; at most %d", count, what, CERT_MAX_URLS);
	for (size_t i = 0; i < count; i++) {
		const char *v = urls[i];

		if (v == NULL || !cert_ia5_visible(v) || !cert_uri_has_scheme(v) ||
		    strlen(v) > CERT_MAX_URI)
			return cert_lint(err,
			                 "%s URL \"%s\" is not an absolute ASCII URI of at "
			                 "most %d bytes",
			                 what, v != NULL ? v : "(null)", CERT_MAX_URI);
	}
	return 0;
}

int
cert_template_check(const struct cert_template *t, struct cs_err *err)
{
	struct der_tlv tmp;
	int rc;

	if (t == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "cert_template_check: NULL template");
	switch (cert_serial_state(t->serial)) {
	case -1:
		return cert_lint(err, "serial number has its top bit set: it would be negative "
		                      "(RFC 5280 4.1.2.2)");
	case -2:
		return cert_lint(err, "serial number is zero (RFC 5280 4.1.2.2: positive)");
	default:
		break;
	}
	if (cert_sig_alg_digest_len(t->sig_alg) == 0)
		return cert_lint(err, "signature algorithm %d is unknown", (int)t->sig_alg);
	if (cert_one_sequence(t->issuer_name, t->issuer_name_len, &tmp) != 0)
		return cert_lint(err, "issuer Name is missing or not one DER SEQUENCE");
	if (cert_one_sequence(t->spki, t->spki_len, &tmp) != 0)
		return cert_lint(err, "subjectPublicKeyInfo is missing or not one DER SEQUENCE");
	if (t->key_class != CERT_KEY_CLASS_EC && t->key_class != CERT_KEY_CLASS_RSA)
		return cert_lint(err, "key class %d is unknown", (int)t->key_class);

	if (t->not_before >= t->not_after)
		return cert_lint(err, "notBefore (%lld) is not before notAfter (%lld)",
		                 (long long)t->not_before, (long long)t->not_after);
	if (t->not_before < CERT_TIME_MIN || t->not_after > CERT_NOT_AFTER_FOREVER)
		return cert_lint(err, "validity outside years 0000..9999");
	if (t->not_before < t->ca_not_before)
		return cert_lint(err,
		                 "notBefore (%lld) is before the CA certificate's notBefore "
		                 "(%lld): validity must nest in the CA's",
		                 (long long)t->not_before, (long long)t->ca_not_before);
	/* IEEE 802.1AR: 99991231235959Z means "no well-defined expiration",
	 * not a date, so an IDevID may carry it under a CA that expires. */
	if (t->not_after > t->ca_not_after && t->not_after != CERT_NOT_AFTER_FOREVER)
		return cert_lint(err,
		                 "notAfter (%lld) is after the CA certificate's notAfter "
		                 "(%lld): validity must nest in the CA's",
		                 (long long)t->not_after, (long long)t->ca_not_after);

	rc = cert_check_subject(t, err);
	if (rc == 0)
		rc = cert_check_san(t, err);
	if (rc != 0)
		return rc;

	if (t->key_usage & ~CERT_KU_KNOWN)
		return cert_lint(err, "keyUsage 0x%x has bits this station does not define",
		                 t->key_usage);
	if (t->key_usage & (CERT_KU_KEY_CERT_SIGN | CERT_KU_CRL_SIGN))
		return cert_lint(err, "keyUsage keyCertSign/cRLSign on an end-entity certificate");
	if ((t->key_usage & CERT_KU_KEY_ENCIPHERMENT) && t->key_class != CERT_KEY_CLASS_RSA)
		return cert_lint(err, "keyUsage keyEncipherment needs an RSA key (RFC 8813: not "
		                      "for EC)");
	if ((t->key_usage & CERT_KU_KEY_AGREEMENT) && t->key_class != CERT_KEY_CLASS_EC)
		return cert_lint(err, "keyUsage keyAgreement needs an EC key");

	if (t->eku_count > CERT_MAX_EKU)
		return cert_lint(err, "%zu extendedKeyUsage entries; at most %d", t->eku_count,
		                 CERT_MAX_EKU);
	for (size_t i = 0; i < t->eku_count; i++) {
		const uint8_t *oid;

		if (cert_eku_oid(t->eku[i], &oid) != 0)
			return cert_lint(err, "extendedKeyUsage %zu has unknown value %d", i,
			                 (int)t->eku[i]);
		for (size_t j = 0; j < i; j++)
			if (t->eku[j] == t->eku[i])
				return cert_lint(err, "extendedKeyUsage lists value %d twice",
				                 (int)t->eku[i]);
	}

	rc = cert_check_urls(t->crl_urls, t->crl_url_count, "CRL distribution point", err);
	if (rc == 0)
		rc = cert_check_urls(t->ocsp_urls, t->ocsp_url_count, "OCSP", err);
	if (rc == 0)
		rc = cert_check_urls(t->ca_issuers_urls, t->ca_issuers_url_count, "caIssuers", err);
	if (rc != 0)
		return rc;
	cs_err_clear(err);
	return 0;
}

int
cert_serial_generate(uint8_t out[CERT_SERIAL_LEN], int64_t now_us)
{
	uint32_t ms = (uint32_t)((uint64_t)(now_us / 1000) & 0x3fffffffu);

	if (RAND_bytes(out + CERT_SERIAL_LEN - CERT_SERIAL_RANDOM_LEN, CERT_SERIAL_RANDOM_LEN) != 1)
		return CS_ERR_INTERNAL;
	out[0] = (uint8_t)(0x40 | (ms >> 24));
	out[1] = (uint8_t)(ms >> 16);
	out[2] = (uint8_t)(ms >> 8);
	out[3] = (uint8_t)ms;
	return CS_OK;
}

char *
cert_pem_encode(const uint8_t *der, size_t len)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	size_t b64len = 4 * ((len + 2) / 3), o;
	unsigned char *b64;
	char *pem;

	if (der == NULL || len == 0)
		return strdup("");
	if (len > INT32_MAX)
		return NULL;
	b64 = malloc(b64len + 1);
	pem = malloc(sizeof(head) + b64len + (b64len + 63) / 64 + sizeof(tail));
	if (b64 == NULL || pem == NULL) {
		free(b64);
		free(pem);
		return NULL;
	}
	EVP_EncodeBlock(b64, der, (int)len);
	memcpy(pem, head, sizeof(head) - 1);
	o = sizeof(head) - 1;
	for (size_t i = 0; i < b64len; i += 64) {
		size_t n = b64len - i < 64 ? b64len - i : 64;

		memcpy(pem + o, b64 + i, n);
		o += n;
		pem[o++] = '\n';
	}
	memcpy(pem + o, tail, sizeof(tail));
	free(b64);
	return pem;
}
