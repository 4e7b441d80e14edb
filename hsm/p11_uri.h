/*
 * p11_uri.h: RFC 7512 PKCS#11 URI parser, a pure function (no I/O, no
 * globals) so that it can be fuzzed and reused.
 *
 * Contract: p11_uri_parse() accepts "pkcs11:" followed by path attributes
 * separated by ';' and an optional '?' query with attributes separated by
 * '&'. Values are percent-decoded and size-capped; a decoded NUL byte, an
 * unknown attribute, a repeated attribute, or a malformed escape is refused
 * with the offending attribute and byte offset in err. pin-value is refused
 * on purpose: PINs never live in configuration in plain text.
 *
 * Understood path attributes: token, manufacturer, serial, model, object,
 * id, type, slot-id (used); library-manufacturer, library-description,
 * library-version, slot-description, slot-manufacturer (accepted, ignored).
 * Query attributes: pin-source, module-path (used); pin-value (refused);
 * module-name (refused: give module-path instead).
 */
#ifndef HSM_P11_URI_H
#define HSM_P11_URI_H

#include <stddef.h>
#include <stdint.h>

#include "station/cs_error.h"

#define P11_URI_MAX 1024 /* whole URI, bytes */
#define P11_URI_ID_MAX 64 /* decoded CKA_ID bytes */
#define P11_URI_PATH_MAX 512 /* pin-source / module-path */

enum p11_uri_type {
	P11_URI_TYPE_ANY = 0,
	P11_URI_TYPE_PRIVATE,
	P11_URI_TYPE_PUBLIC,
	P11_URI_TYPE_CERT,
	P11_URI_TYPE_SECRET_KEY,
	P11_URI_TYPE_DATA,
};

/* A parsed URI. has_* says whether the attribute was present; strings are
 * NUL-terminated and hold the decoded value. */
struct p11_uri {
	int has_token, has_manufacturer, has_serial, has_model, has_object, has_id;
	int has_slot_id, has_pin_source, has_module_path;
	char token[33];        /* CK_TOKEN_INFO.label: 32 bytes */
	char manufacturer[33]; /* CK_TOKEN_INFO.manufacturerID: 32 bytes */
	char serial[17];       /* CK_TOKEN_INFO.serialNumber: 16 bytes */
	char model[17];        /* CK_TOKEN_INFO.model: 16 bytes */
	char object[65];       /* CKA_LABEL, capped at 64 bytes */
	uint8_t id[P11_URI_ID_MAX];
	size_t id_len;
	enum p11_uri_type type;
	unsigned long slot_num; /* not "slot_id": pkcs11.h #defines that name */
	char pin_source[P11_URI_PATH_MAX];  /* as written, without "file:" */
	char module_path[P11_URI_PATH_MAX];
};

/* Parse len bytes of s (need not be NUL-terminated) into *out. 0 on success;
 * CS_ERR_TOO_LARGE if len > P11_URI_MAX; CS_ERR_CONFIG for anything else
 * malformed or refused, with a sentence in err naming attribute and offset. */
int p11_uri_parse(const char *s, size_t len, struct p11_uri *out /* OUT */, struct cs_err *err);

/* Write the URI back without pin-source (for display), percent-encoding
 * every byte outside RFC 7512's unreserved set. 0 on success,
 * CS_ERR_TOO_LARGE if cap is too small (buf then holds a truncated string). */
int p11_uri_format(const struct p11_uri *u, char *buf, size_t cap);

/* The type attribute's name ("private", "cert", ...) or "" for ANY. */
const char *p11_uri_type_name(enum p11_uri_type t);

#endif
