/*
 * hsm_der.c: the few DER structures hsm/ writes itself: ECDSA-Sig-Value
 * from a token's raw r||s, and SubjectPublicKeyInfo from the public-key
 * object's attributes. Written by hand because they are small, fixed shapes
 * and this keeps the signing hot path free of OpenSSL allocations.
 */
#include <string.h>

#include "hsm/hsm_int.h"

/* id-ecPublicKey 1.2.840.10045.2.1 */
static const uint8_t oid_ec_public_key[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
/* prime256v1 1.2.840.10045.3.1.7 */
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
/* secp384r1 1.3.132.0.34 */
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
/* rsaEncryption 1.2.840.113549.1.1.1 + NULL parameters */
static const uint8_t alg_rsa[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
    0x01, 0x01, 0x01, 0x05, 0x00};

static const uint8_t digest_info_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
    0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t digest_info_sha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
    0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};

const uint8_t *
hsm_digest_info_prefix(size_t digest_len, size_t *prefix_len)
{
	if (digest_len == 32) {
		*prefix_len = sizeof(digest_info_sha256);
		return digest_info_sha256;
	}
	if (digest_len == 48) {
		*prefix_len = sizeof(digest_info_sha384);
		return digest_info_sha384;
	}
	*prefix_len = 0;
	return NULL;
}

/* A bounded output buffer; writing past cap sets overflow. */
struct der_buf {
	uint8_t *p;
	size_t cap, n;
	int overflow;
};

static void
der_put(struct der_buf *b, const uint8_t *data, size_t len)
{
	if (b->overflow || len > b->cap - b->n) {
		b->overflow = 1;
		return;
	}
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

static void
der_put_byte(struct der_buf *b, uint8_t v)
{
	der_put(b, &v, 1);
}

static size_t
der_len_size(size_t len)
{
	if (len < 0x80)
		return 1;
	if (len < 0x100)
		return 2;
	return 3; /* everything here is < 64 KiB */
}

static void
der_put_header(struct der_buf *b, uint8_t tag, size_t len)
{
	der_put_byte(b, tag);
	if (len < 0x80) {
		der_put_byte(b, (uint8_t)len);
	} else if (len < 0x100) {
		der_put_byte(b, 0x81);
		der_put_byte(b, (uint8_t)len);
	} else {
		der_put_byte(b, 0x82);
		der_put_byte(b, (uint8_t)(len >> 8));
		der_put_byte(b, (uint8_t)len);
	}
}

/* Length of the INTEGER contents for unsigned big-endian v: leading zeros
 * stripped (keep one), plus a 0x00 if the top bit would make it negative. */
static size_t
der_uint_strip(const uint8_t **v, size_t len)
{
	while (len > 1 && (*v)[0] == 0) {
		(*v)++;
		len--;
	}
	return len + (((*v)[0] & 0x80) != 0);
}

static void
der_put_uint(struct der_buf *b, const uint8_t *v, size_t len)
{
	int pad;

	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	pad = (v[0] & 0x80) != 0;
	der_put_header(b, 0x02, len + (size_t)pad);
	if (pad)
		der_put_byte(b, 0x00);
	der_put(b, v, len);
}

static size_t
der_uint_total(const uint8_t *v, size_t len)
{
	size_t clen = der_uint_strip(&v, len);

	return 1 + der_len_size(clen) + clen;
}

int
hsm_ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len, uint8_t *out, size_t *out_len)
{
	struct der_buf b = {out, *out_len, 0, 0};
	size_t half = raw_len / 2;
	size_t content;

	if (raw_len == 0 || raw_len % 2 != 0 || raw_len > 2 * 66)
		return CS_ERR_INVALID_ARG;
	content = der_uint_total(raw, half) + der_uint_total(raw + half, half);
	der_put_header(&b, 0x30, content);
	der_put_uint(&b, raw, half);
	der_put_uint(&b, raw + half, half);
	if (b.overflow)
		return CS_ERR_TOO_LARGE;
	*out_len = b.n;
	return CS_OK;
}

/* SoftHSM (per PKCS#11 2.40) returns CKA_EC_POINT as a DER OCTET STRING
 * around the point; some modules return the bare point. Accept both, but
 * only an uncompressed point of exactly the curve's size. */
static int
ec_point_unwrap(const uint8_t *pt, size_t len, size_t want, const uint8_t **raw)
{
	if (len == want && pt[0] == 0x04) {
		*raw = pt;
		return 0;
	}
	if (len == want + 2 && pt[0] == 0x04 && pt[1] == want && pt[2] == 0x04) {
		*raw = pt + 2;
		return 0;
	}
	if (len == want + 3 && pt[0] == 0x04 && pt[1] == 0x81 && pt[2] == want && pt[3] == 0x04) {
		*raw = pt + 3;
		return 0;
	}
	return -1;
}

int
hsm_spki_from_ec(const uint8_t *params, size_t params_len, const uint8_t *point,
    size_t point_len, uint8_t *out, size_t *out_len, enum hsm_key_type *type, struct cs_err *err)
{
	struct der_buf b = {out, *out_len, 0, 0};
	const uint8_t *curve, *raw = NULL;
	size_t curve_len, want, alg_len, bits_len;

	if (params_len == sizeof(oid_p256) && memcmp(params, oid_p256, params_len) == 0) {
		*type = HSM_KEY_EC_P256;
		curve = oid_p256;
		curve_len = sizeof(oid_p256);
		want = 65;
	} else if (params_len == sizeof(oid_p384) && memcmp(params, oid_p384, params_len) == 0) {
		*type = HSM_KEY_EC_P384;
		curve = oid_p384;
		curve_len = sizeof(oid_p384);
		want = 97;
	} else {
		return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
		    "EC key's CKA_EC_PARAMS (%zu bytes) name a curve other than P-256 or P-384",
		    params_len);
	}
	if (point_len == 0 || ec_point_unwrap(point, point_len, want, &raw) != 0)
		return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
		    "EC public key's CKA_EC_POINT (%zu bytes) is not an uncompressed %zu-byte point",
		    point_len, want);
	alg_len = sizeof(oid_ec_public_key) + curve_len;
	bits_len = want + 1;
	der_put_header(&b, 0x30,
	    1 + der_len_size(alg_len) + alg_len + 1 + der_len_size(bits_len) + bits_len);
	der_put_header(&b, 0x30, alg_len);
	der_put(&b, oid_ec_public_key, sizeof(oid_ec_public_key));
	der_put(&b, curve, curve_len);
	der_put_header(&b, 0x03, bits_len);
	der_put_byte(&b, 0x00);
	der_put(&b, raw, want);
	if (b.overflow)
		return cs_err_set(err, CS_ERR_TOO_LARGE, "EC SubjectPublicKeyInfo exceeds %zu bytes",
		    *out_len);
	*out_len = b.n;
	return CS_OK;
}

int
hsm_spki_from_rsa(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len, uint8_t *out,
    size_t *out_len, enum hsm_key_type *type, unsigned *bits, struct cs_err *err)
{
	struct der_buf b = {out, *out_len, 0, 0};
	const uint8_t *nn = n;
	size_t nl = n_len, rsa_len, bits_len;
	unsigned nbits;

	while (nl > 0 && nn[0] == 0) {
		nn++;
		nl--;
	}
	if (nl == 0 || e_len == 0 || e_len > 8)
		return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
		    "RSA public key has an empty modulus or a %zu-byte exponent", e_len);
	nbits = (unsigned)nl * 8;
	for (uint8_t top = nn[0]; (top & 0x80) == 0; top = (uint8_t)(top << 1))
		nbits--;
	if (nbits == 2048)
		*type = HSM_KEY_RSA_2048;
	else if (nbits == 3072)
		*type = HSM_KEY_RSA_3072;
	else if (nbits == 4096)
		*type = HSM_KEY_RSA_4096;
	else
		return cs_err_set(err, CS_ERR_HSM_UNSUPPORTED,
		    "RSA key has %u bits; supported are 2048, 3072 and 4096", nbits);
	*bits = nbits;
	rsa_len = der_uint_total(nn, nl) + der_uint_total(e, e_len);
	bits_len = 1 + 1 + der_len_size(rsa_len) + rsa_len;
	der_put_header(&b, 0x30, sizeof(alg_rsa) + 1 + der_len_size(bits_len) + bits_len);
	der_put(&b, alg_rsa, sizeof(alg_rsa));
	der_put_header(&b, 0x03, bits_len);
	der_put_byte(&b, 0x00);
	der_put_header(&b, 0x30, rsa_len);
	der_put_uint(&b, nn, nl);
	der_put_uint(&b, e, e_len);
	if (b.overflow)
		return cs_err_set(err, CS_ERR_TOO_LARGE,
		    "RSA SubjectPublicKeyInfo exceeds %zu bytes", *out_len);
	*out_len = b.n;
	return CS_OK;
}
