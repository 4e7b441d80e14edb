/*
 * der.h: a small bounded DER reader and writer for csr.c and cert.c.
 *
 * Contract (reader): der_reader walks (ptr, len) one TLV at a time. Only
 * single-byte tags (low tag numbers), definite lengths in minimal form
 * (no 0x80 indefinite form, no 0x81 for lengths < 128, no leading zero
 * length octets) and lengths that fit inside the enclosing element are
 * accepted. Nesting is capped at DER_MAX_DEPTH. Offsets reported in
 * struct der_tlv are from the start of the buffer the outermost reader was
 * created over, so every error can name its byte.
 *
 * Contract (writer): der_writer writes into a caller buffer with a hard
 * ceiling; running past it sets a sticky overflow flag (nothing is
 * reallocated) and der_writer_finish() reports it. Constructed elements are
 * opened with der_begin() and closed with der_end(), which fixes the length.
 *
 * Pure functions, no globals, any thread.
 */
#ifndef STATION_DER_H
#define STATION_DER_H

#include <stddef.h>
#include <stdint.h>

#define DER_MAX_DEPTH 16

/* Universal tags we use. */
#define DER_BOOLEAN 0x01
#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_OCTET_STRING 0x04
#define DER_NULL 0x05
#define DER_OID 0x06
#define DER_UTF8_STRING 0x0c
#define DER_PRINTABLE_STRING 0x13
#define DER_T61_STRING 0x14
#define DER_IA5_STRING 0x16
#define DER_UTC_TIME 0x17
#define DER_GENERALIZED_TIME 0x18
#define DER_UNIVERSAL_STRING 0x1c
#define DER_BMP_STRING 0x1e
#define DER_SEQUENCE 0x30
#define DER_SET 0x31
#define DER_CTX(n) (0x80 | (n))      /* [n] IMPLICIT, primitive */
#define DER_CTX_CONS(n) (0xa0 | (n)) /* [n], constructed */

enum der_status {
	DER_OK = 0,
	DER_ERR_END = -1,         /* no more elements (not an error by itself) */
	DER_ERR_TRUNCATED = -2,   /* header or contents run past the enclosing element */
	DER_ERR_HIGH_TAG = -3,    /* multi-byte tag number */
	DER_ERR_INDEFINITE = -4,  /* indefinite length (BER, not DER) */
	DER_ERR_LENGTH_FORM = -5, /* length not in minimal form */
	DER_ERR_LENGTH_HUGE = -6, /* length field longer than 4 octets */
	DER_ERR_DEPTH = -7,       /* nesting deeper than DER_MAX_DEPTH */
	DER_ERR_NOT_CONSTRUCTED = -8,
};

struct der_reader {
	const uint8_t *base; /* start of the outermost buffer, for offsets */
	size_t pos;          /* next element, offset from base */
	size_t end;          /* end of this reader's region, offset from base */
	unsigned depth;
};

struct der_tlv {
	uint8_t tag;
	size_t off;         /* offset of the tag octet from base */
	size_t hdr_len;     /* tag + length octets */
	const uint8_t *val; /* contents */
	size_t len;         /* contents length */
	const uint8_t *tlv; /* the whole element */
	size_t tlv_len;
};

/* A reader over buf[0..len). */
void der_reader_init(struct der_reader *r, const uint8_t *buf, size_t len);

/* Read the next element. DER_OK and *out, DER_ERR_END at the end of the
 * region, or another negative der_status; on error *err_off (may be NULL)
 * holds the offset of the offending octet. The reader does not advance on
 * error. */
int der_read(struct der_reader *r, struct der_tlv *out /* OUT */, size_t *err_off /* OUT */);

/* 1 if the reader has no more elements. */
int der_reader_done(const struct der_reader *r);

/* A child reader over the contents of constructed element t, one level
 * deeper. DER_ERR_DEPTH past DER_MAX_DEPTH, DER_ERR_NOT_CONSTRUCTED if t's
 * tag is primitive. */
int der_enter(const struct der_reader *parent, const struct der_tlv *t,
              struct der_reader *child /* OUT */);

/* Static English text for a der_status. */
const char *der_strerror(int status);

/* 1 if t is an INTEGER in minimal two's-complement form, 0 if not. */
int der_integer_is_minimal(const struct der_tlv *t);

/* 1 if t is an OID whose encoded contents equal oid[0..oid_len). */
int der_oid_eq(const struct der_tlv *t, const uint8_t *oid, size_t oid_len);

/* Dotted text of an encoded OID for messages ("1.3.132.0.10"); "?" parts if
 * malformed. Always NUL-terminates buf (cap >= 1). */
void der_oid_text(const uint8_t *oid, size_t oid_len, char *buf, size_t cap);

struct der_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int overflow;
};

void der_writer_init(struct der_writer *w, uint8_t *buf, size_t cap);

/* Open a constructed element; returns a mark for der_end(). */
size_t der_begin(struct der_writer *w, uint8_t tag);

/* Close the element opened at mark, writing its final length. */
void der_end(struct der_writer *w, size_t mark);

/* Append a complete element tag || length || val. */
void der_put_tlv(struct der_writer *w, uint8_t tag, const uint8_t *val, size_t len);

/* Append bytes that are already DER (a copied Name or SPKI). */
void der_put_raw(struct der_writer *w, const uint8_t *p, size_t len);

/* Append an INTEGER holding the unsigned big-endian number be[0..len),
 * minimal: leading zero octets dropped, one 0x00 added if the top bit is set. */
void der_put_uint_be(struct der_writer *w, const uint8_t *be, size_t len);

/* Append an INTEGER for a small non-negative value. */
void der_put_small_uint(struct der_writer *w, uint32_t v);

/* Append a BIT STRING with zero unused bits around bytes. */
void der_put_bit_string(struct der_writer *w, const uint8_t *bytes, size_t len);

/* 0 and *len (may be NULL) if everything fitted; -1 on overflow. */
int der_writer_finish(const struct der_writer *w, size_t *len /* OUT */);

/* Number of code points if p[0..n) is well-formed UTF-8 (shortest form, no
 * surrogates, <= U+10FFFF) without C0 controls or DEL; (size_t)-1 otherwise.
 * Shared by the CSR parser (names from devices) and the certificate lint. */
size_t der_utf8_chars(const uint8_t *p, size_t n);

#endif
