/*
 * users.c: the dashboard's users file and scrypt password hashes (contract
 * and hash format in users.h).
 *
 * DESIGN: a hash string is parsed and its parameters capped before the KDF
 * ever runs: the parameters come from a file, and scrypt's cost is
 * exponential in ln, so "ln=40" must be a parse error, not a 1 TiB
 * allocation. The file parser checks every hash the same way at load, so a
 * broken entry is reported with its position when the station starts, not
 * at the first login. users_verify() looks at every entry (no early exit)
 * and runs the KDF against a fixed dummy hash for an unknown name, so the
 * time taken does not tell which names exist; keys are compared with
 * CRYPTO_memcmp.
 */
#include "station/users.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "station/file_read.h"
#include "station/json_locate.h"

/* What users_hash_password() writes (users.h). */
#define USERS_LN 15
#define USERS_R 8
#define USERS_P 1
#define USERS_SALT_LEN 16
#define USERS_KEY_LEN 32

/* What a stored hash may ask for (users.h). */
#define USERS_LN_MIN 14
#define USERS_LN_MAX 16
#define USERS_R_MAX 16
#define USERS_P_MAX 4
#define USERS_MEM_MAX (UINT64_C(64) * 1024 * 1024)
#define USERS_WORK_MAX (UINT64_C(4) << (USERS_LN + 3)) /* 4 * N * r * p of the default */
#define USERS_BYTES_MIN 16
#define USERS_BYTES_MAX 64

#define USERS_PREFIX "$scrypt$"

/* The hash an unknown name is checked against: same parameters as a real
 * one, for a password nobody has, so the work is the same. */
static const char users_dummy_hash[] =
    "$scrypt$ln=15,r=8,p=1$Y2VydHN0YXRpb24tZHVtbQ$pznCh4J7AYi/Uiy276iuBeLBP3L7GGEhSttlkoJg6Yo";

struct user_entry {
	char name[USER_NAME_MAX + 1];
	enum user_role role;
	char hash[USERS_HASH_MAX + 1];
};

struct users {
	struct user_entry *v;
	size_t n;
};

struct users_hash {
	unsigned ln, r, p;
	uint8_t salt[USERS_BYTES_MAX];
	size_t salt_len;
	uint8_t key[USERS_BYTES_MAX];
	size_t key_len;
};

/* ---- names and roles ---- */

const char *
user_role_name(enum user_role r)
{
	switch (r) {
	case USER_ROLE_OPERATOR:
		return "operator";
	case USER_ROLE_SUPERVISOR:
		return "supervisor";
	default:
		return "none";
	}
}

enum user_role
user_role_parse(const char *s)
{
	if (s == NULL)
		return USER_ROLE_NONE;
	if (strcmp(s, "operator") == 0)
		return USER_ROLE_OPERATOR;
	if (strcmp(s, "supervisor") == 0)
		return USER_ROLE_SUPERVISOR;
	return USER_ROLE_NONE;
}

int
users_name_valid(const char *name)
{
	size_t n = 0;

	if (name == NULL)
		return 0;
	for (; name[n] != '\0'; n++) {
		char c = name[n];

		if (n >= USER_NAME_MAX)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

/* A name fit for a message: at most 64 bytes, non-printable bytes as '?'. */
static void
users_printable(const char *s, char *out, size_t cap)
{
	size_t k = 0;

	for (; s != NULL && *s != '\0' && k + 1 < cap && k < 64; s++)
		out[k++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[k] = '\0';
}

/* ---- base64 without padding (RFC 4648 section 4 alphabet) ---- */

static const char users_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
users_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = users_b64[v >> 18];
		out[o++] = users_b64[(v >> 12) & 63];
		out[o++] = users_b64[(v >> 6) & 63];
		out[o++] = users_b64[v & 63];
	}
	if (n - i == 1) {
		out[o++] = users_b64[in[i] >> 2];
		out[o++] = users_b64[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = users_b64[v >> 10];
		out[o++] = users_b64[(v >> 4) & 63];
		out[o++] = users_b64[(v & 15) << 2];
	}
	out[o] = '\0';
}

static int
users_b64_value(char c)
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

/* Strict decode of n characters into out (capacity cap): alphabet only, no
 * padding, unused trailing bits zero (one encoding per byte string).
 * 0 and *out_len, or -1. */
static int
users_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = users_b64_value(in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	*out_len = o;
	return 0;
}

/* ---- hash strings ---- */

/* "NAME=" and a decimal of 1..2 digits without a leading zero at *p;
 * advances *p past them. */
static int
users_hash_field(const char **p, const char *name, unsigned *out)
{
	size_t nlen = strlen(name), n = 0;
	const char *s = *p;
	unsigned v = 0;

	if (strncmp(s, name, nlen) != 0)
		return -1;
	s += nlen;
	while (s[n] >= '0' && s[n] <= '9') {
		if (n == 2)
			return -1;
		v = v * 10 + (unsigned)(s[n] - '0');
		n++;
	}
	if (n == 0 || (n > 1 && s[0] == '0'))
		return -1;
	*p = s + n;
	*out = v;
	return 0;
}

/* Parse and cap a hash string; every refusal says what is wrong. */
static int
users_hash_parse(const char *hash, struct users_hash *h, struct cs_err *err)
{
	const char *p = hash, *salt, *key, *end;
	uint64_t n, mem;

	if (hash == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "no password hash");
	end = memchr(hash, '\0', USERS_HASH_MAX + 1);
	if (end == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "password hash is longer than %d bytes",
		    USERS_HASH_MAX);
	if (strncmp(p, USERS_PREFIX, strlen(USERS_PREFIX)) != 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "password hash must start with \"" USERS_PREFIX "\" (scrypt)");
	p += strlen(USERS_PREFIX);
	if (users_hash_field(&p, "ln=", &h->ln) != 0 || users_hash_field(&p, ",r=", &h->r) != 0 ||
	    users_hash_field(&p, ",p=", &h->p) != 0 || *p != '$')
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "password hash parameters must read \"ln=N,r=N,p=N\" (decimal, no leading zeros)");
	if (h->ln < USERS_LN_MIN || h->ln > USERS_LN_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "scrypt ln=%u is outside %d..%d", h->ln, USERS_LN_MIN, USERS_LN_MAX);
	if (h->r < 1 || h->r > USERS_R_MAX || h->p < 1 || h->p > USERS_P_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "scrypt r=%u, p=%u: r must be 1..%d and p 1..%d", h->r, h->p, USERS_R_MAX,
		    USERS_P_MAX);
	n = UINT64_C(1) << h->ln;
	mem = 128 * (uint64_t)h->r * n;
	if (mem > USERS_MEM_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "scrypt ln=%u,r=%u needs %llu MiB; at most %llu MiB are allowed", h->ln, h->r,
		    (unsigned long long)(mem >> 20), (unsigned long long)(USERS_MEM_MAX >> 20));
	if (n * h->r * h->p > USERS_WORK_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "scrypt ln=%u,r=%u,p=%u is more than 4 times the work of ln=%d,r=%d,p=%d", h->ln,
		    h->r, h->p, USERS_LN, USERS_R, USERS_P);
	salt = p + 1;
	p = strchr(salt, '$');
	if (p == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "password hash has no key after the salt");
	key = p + 1;
	if (strchr(key, '$') != NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "password hash has too many '$' fields");
	if (users_b64_decode(salt, (size_t)(p - salt), h->salt, sizeof(h->salt), &h->salt_len) != 0 ||
	    h->salt_len < USERS_BYTES_MIN)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "password hash salt must be %d..%d bytes of unpadded base64", USERS_BYTES_MIN,
		    USERS_BYTES_MAX);
	if (users_b64_decode(key, (size_t)(end - key), h->key, sizeof(h->key), &h->key_len) != 0 ||
	    h->key_len < USERS_BYTES_MIN)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "password hash key must be %d..%d bytes of unpadded base64", USERS_BYTES_MIN,
		    USERS_BYTES_MAX);
	return 0;
}

/* scrypt(password, salt) into out[out_len] with capped parameters. */
static int
users_kdf(const char *password, size_t pw_len, const uint8_t *salt, size_t salt_len,
    unsigned ln, unsigned r, unsigned p, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = UINT64_C(1) << ln, maxmem = USERS_MEM_MAX + USERS_MEM_MAX / 4;
	uint32_t r32 = r, p32 = p;
	static const char empty[1] = "";
	OSSL_PARAM params[7];
	int rc = CS_ERR_INTERNAL;

	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    (void *)(uintptr_t)(pw_len > 0 ? password : empty), pw_len);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)(uintptr_t)salt, salt_len);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r32);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p32);
	/* the caps above already hold; this is OpenSSL's own backstop */
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	params[6] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) == 1)
		rc = 0;
out:
	if (rc != 0)
		ERR_clear_error();
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

int
users_check_hash(const char *hash, const char *password)
{
	struct users_hash h;
	uint8_t key[USERS_BYTES_MAX];
	size_t pw_len;
	int rc;

	if (password == NULL)
		return CS_ERR_INVALID_ARG;
	rc = users_hash_parse(hash, &h, NULL);
	if (rc != 0)
		return rc;
	pw_len = strnlen(password, USER_PASSWORD_MAX + 1);
	if (pw_len > USER_PASSWORD_MAX)
		return 0; /* no stored password is that long */
	rc = users_kdf(password, pw_len, h.salt, h.salt_len, h.ln, h.r, h.p, key, h.key_len);
	if (rc == 0)
		rc = CRYPTO_memcmp(key, h.key, h.key_len) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int
users_hash_password(const char *password, char *out, size_t cap, struct cs_err *err)
{
	uint8_t salt[USERS_SALT_LEN], key[USERS_KEY_LEN];
	char salt64[USERS_SALT_LEN * 2], key64[USERS_KEY_LEN * 2];
	size_t pw_len;
	int rc, w;

	if (password == NULL || out == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "users_hash_password: NULL argument");
	pw_len = strnlen(password, USER_PASSWORD_MAX + 1);
	if (pw_len > USER_PASSWORD_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "password is longer than %d bytes",
		    USER_PASSWORD_MAX);
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		ERR_clear_error();
		return cs_err_set(err, CS_ERR_INTERNAL, "no random bytes for the salt");
	}
	rc = users_kdf(password, pw_len, salt, sizeof(salt), USERS_LN, USERS_R, USERS_P, key,
	    sizeof(key));
	if (rc != 0)
		return cs_err_set(err, rc, "scrypt failed (OpenSSL EVP_KDF \"SCRYPT\"; out of memory?)");
	users_b64_encode(salt, sizeof(salt), salt64);
	users_b64_encode(key, sizeof(key), key64);
	OPENSSL_cleanse(key, sizeof(key));
	w = snprintf(out, cap, USERS_PREFIX "ln=%d,r=%d,p=%d$%s$%s", USERS_LN, USERS_R, USERS_P,
	    salt64, key64);
	if (w < 0 || (size_t)w >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return cs_err_set(err, CS_ERR_TOO_LARGE, "password hash needs %d bytes; buffer holds %zu",
		    w + 1, cap);
	}
	return 0;
}

/* ---- the file ---- */

/* Position-carrying refusal: "FILE:LINE:COLUMN: key 'users[I].KEY': msg",
 * at the deepest part of the path present in the text. index < 0: the
 * "users" key itself (or the root if key is NULL too). */
static int
users_fail(struct cs_err *err, const char *file, const char *text, size_t len, long index,
    const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int
users_fail(struct cs_err *err, const char *file, const char *text, size_t len, long index,
    const char *key, const char *fmt, ...)
{
	struct json_locate_step steps[3];
	struct json_locate_pos pos = {1, 1, 0};
	char msg[CS_ERR_MSG_MAX], path[96];
	size_t n = 0;
	va_list ap;

	steps[n++] = (struct json_locate_step){"users", 5, 0};
	if (index >= 0) {
		steps[n++] = (struct json_locate_step){NULL, 0, (size_t)index};
		if (key != NULL)
			steps[n++] = (struct json_locate_step){key, strlen(key), 0};
	} else if (key == NULL) {
		n = 0;
	}
	for (size_t k = n;; k--) {
		if (json_locate(text, len, steps, k, &pos) == 0 || k == 0)
			break;
	}
	if (index >= 0 && key != NULL)
		snprintf(path, sizeof(path), "users[%ld].%s", index, key);
	else if (index >= 0)
		snprintf(path, sizeof(path), "users[%ld]", index);
	else
		snprintf(path, sizeof(path), "%s", key == NULL ? "" : "users");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path[0] == '\0')
		return cs_err_set(err, CS_ERR_CONFIG, "%s:%lu:%lu: %s", file, pos.line, pos.column,
		    msg);
	return cs_err_set(err, CS_ERR_CONFIG, "%s:%lu:%lu: key '%s': %s", file, pos.line,
	    pos.column, path, msg);
}

/* One entry of the "users" array into e. */
static int
users_parse_entry(json_t *o, long i, struct user_entry *e, const char *file, const char *text,
    size_t len, struct cs_err *err)
{
	static const char *const keys[] = {"name", "role", "hash", NULL};
	struct cs_err herr;
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return users_fail(err, file, text, len, i, NULL,
		    "must be an object {\"name\", \"role\", \"hash\"}");
	json_object_foreach(o, k, v)
	{
		int known = 0;

		for (size_t j = 0; keys[j] != NULL; j++)
			known |= strcmp(keys[j], k) == 0;
		if (!known) {
			char shown[80];

			users_printable(k, shown, sizeof(shown));
			return users_fail(err, file, text, len, i, k,
			    "unknown key '%s' (allowed here: name, role, hash)", shown);
		}
	}
	for (size_t j = 0; keys[j] != NULL; j++) {
		v = json_object_get(o, keys[j]);
		if (v == NULL)
			return users_fail(err, file, text, len, i, NULL, "required key '%s' is missing",
			    keys[j]);
		if (!json_is_string(v))
			return users_fail(err, file, text, len, i, keys[j], "must be a string");
	}
	v = json_object_get(o, "name");
	if (!users_name_valid(json_string_value(v)) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return users_fail(err, file, text, len, i, "name",
		    "must be 1..%d characters of A-Z a-z 0-9 . _ -", USER_NAME_MAX);
	memcpy(e->name, json_string_value(v), json_string_length(v) + 1);
	v = json_object_get(o, "role");
	e->role = user_role_parse(json_string_value(v));
	if (e->role == USER_ROLE_NONE)
		return users_fail(err, file, text, len, i, "role",
		    "must be \"operator\" or \"supervisor\"");
	v = json_object_get(o, "hash");
	if (users_hash_parse(json_string_value(v), &(struct users_hash){0}, &herr) != 0)
		return users_fail(err, file, text, len, i, "hash", "%s", herr.msg);
	memcpy(e->hash, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

users *
users_parse(const char *text, size_t len, const char *file, struct cs_err *err)
{
	json_error_t jerr;
	json_t *root = NULL, *arr, *o;
	users *u = NULL;
	size_t i;
	int rc = 0;

	cs_err_clear(err);
	if (file == NULL)
		file = "users";
	if (text == NULL) {
		cs_err_set(err, CS_ERR_INVALID_ARG, "%s: no text", file);
		return NULL;
	}
	if (len > USERS_FILE_MAX) {
		cs_err_set(err, CS_ERR_CONFIG, "%s: %zu bytes; a users file is at most %d bytes",
		    file, len, USERS_FILE_MAX);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = cs_err_set(err, CS_ERR_CONFIG, "%s:%d:%d: %s", file, jerr.line, jerr.column,
		    jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = users_fail(err, file, text, len, -1, NULL,
		    "a users file is a JSON object {\"users\": [...]}");
		goto out;
	}
	arr = json_object_get(root, "users");
	if (json_object_size(root) != 1 || arr == NULL) {
		rc = users_fail(err, file, text, len, -1, NULL,
		    "a users file holds exactly one key, \"users\"");
		goto out;
	}
	if (!json_is_array(arr) || json_array_size(arr) > USERS_MAX) {
		rc = users_fail(err, file, text, len, -1, "users",
		    "must be an array of at most %d users", USERS_MAX);
		goto out;
	}
	u = calloc(1, sizeof(*u));
	if (u != NULL && json_array_size(arr) > 0)
		u->v = calloc(json_array_size(arr), sizeof(*u->v));
	if (u == NULL || (json_array_size(arr) > 0 && u->v == NULL)) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "%s: out of memory", file);
		goto out;
	}
	json_array_foreach(arr, i, o)
	{
		rc = users_parse_entry(o, (long)i, &u->v[i], file, text, len, err);
		if (rc != 0)
			goto out;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(u->v[j].name, u->v[i].name) == 0) {
				rc = users_fail(err, file, text, len, (long)i, "name",
				    "user '%s' is listed twice (first at users[%zu])", u->v[i].name, j);
				goto out;
			}
		}
		u->n++;
	}
out:
	json_decref(root);
	if (rc != 0) {
		users_free(u);
		return NULL;
	}
	return u;
}

/* Read the users file: regular, private to its owner (it holds password
 * hashes), at most USERS_FILE_MAX bytes. A missing file stays
 * CS_ERR_NOT_FOUND (users_load_for_update() starts an empty set from it);
 * too large is a configuration error, as every other refusal of the file. */
static int
users_read(const char *path, char **buf, size_t *len, struct cs_err *err)
{
	int rc;

	rc = cs_file_read(path, "a file of password hashes", USERS_FILE_MAX, CS_FILE_PRIVATE, buf,
	    len, err);
	if (rc == CS_ERR_NOT_FOUND)
		return cs_err_set(err, CS_ERR_NOT_FOUND, "%s: no users file", path);
	if (rc == CS_ERR_TOO_LARGE) {
		rc = CS_ERR_CONFIG;
		if (err != NULL)
			err->code = rc;
	}
	return rc;
}

users *
users_load(const char *path, struct cs_err *err)
{
	char *text = NULL;
	size_t len = 0;
	users *u;

	cs_err_clear(err);
	if (path == NULL) {
		cs_err_set(err, CS_ERR_INVALID_ARG, "no users file given");
		return NULL;
	}
	if (users_read(path, &text, &len, err) != 0)
		return NULL;
	u = users_parse(text, len, path, err);
	free(text);
	return u;
}

void
users_free(users *u)
{
	if (u == NULL)
		return;
	if (u->v != NULL)
		OPENSSL_cleanse(u->v, u->n * sizeof(*u->v));
	free(u->v);
	free(u);
}

size_t
users_count(const users *u)
{
	return u != NULL ? u->n : 0;
}

const char *
users_name(const users *u, size_t i)
{
	return u != NULL && i < u->n ? u->v[i].name : NULL;
}

enum user_role
users_role(const users *u, size_t i)
{
	return u != NULL && i < u->n ? u->v[i].role : USER_ROLE_NONE;
}

enum user_role
users_verify(const users *u, const char *name, const char *password)
{
	const struct user_entry *hit = NULL;
	int ok;

	/* every entry is compared: no early exit on the name */
	for (size_t k = 0; u != NULL && name != NULL && k < u->n; k++)
		if (strcmp(u->v[k].name, name) == 0)
			hit = &u->v[k];
	ok = users_check_hash(hit != NULL ? hit->hash : users_dummy_hash,
	    password != NULL ? password : "");
	return hit != NULL && ok == 1 ? hit->role : USER_ROLE_NONE;
}

/* ---- atomic rewrite ---- */

/* Write u to path: temporary file beside it (mode 0600), fsync, rename,
 * fsync of the directory (dfd). */
static int
users_store(const char *path, int dfd, const users *u, struct cs_err *err)
{
	json_t *root = json_object(), *arr = json_array();
	char *text = NULL, *tmp = NULL;
	int fd = -1, rc = 0;

	if (root == NULL || arr == NULL || json_object_set(root, "users", arr) != 0) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < u->n; k++) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "name", u->v[k].name, "role",
		    user_role_name(u->v[k].role), "hash", u->v[k].hash);

		if (o == NULL || json_array_append_new(arr, o) != 0) {
			rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	text = json_dumps(root, JSON_INDENT(2));
	tmp = malloc(strlen(path) + 8);
	if (text == NULL || tmp == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(tmp, strlen(path) + 8, "%s.XXXXXX", path);
	fd = mkstemp(tmp); /* O_EXCL, mode 0600 */
	if (fd < 0) {
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot create a temporary file beside it: %s",
		    path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || cs_write_all(fd, text, strlen(text)) != 0 ||
	    cs_write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot replace: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL; /* renamed: nothing to remove */
	if (fsync(dfd) != 0)
		rc = cs_err_set(err, CS_ERR_IO, "%s: directory fsync: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	json_decref(arr);
	json_decref(root);
	return rc;
}

/* Open and lock path's directory so that two writers do not lose each
 * other's change between load and rename. The lock goes with the fd. */
static int
users_dir_lock(const char *path, int *dfd, struct cs_err *err)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return cs_err_set(err, CS_ERR_INVALID_ARG, "users file path is too long");
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0)
		return cs_err_set(err, CS_ERR_IO, "%s: cannot open the directory: %s", dir,
		    strerror(errno));
	while (flock(*dfd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			int e = errno;

			close(*dfd);
			*dfd = -1;
			return cs_err_set(err, CS_ERR_IO, "%s: cannot lock the directory: %s", dir,
			    strerror(e));
		}
	}
	return 0;
}

/* Load path for a rewrite; a missing file is an empty set. */
static users *
users_load_for_update(const char *path, struct cs_err *err)
{
	users *u = users_load(path, err);

	if (u == NULL && err->code == CS_ERR_NOT_FOUND) {
		cs_err_clear(err);
		u = calloc(1, sizeof(*u));
		if (u == NULL)
			cs_err_set(err, CS_ERR_NOMEM, "out of memory");
	}
	return u;
}

int
users_file_set(const char *path, const char *name, enum user_role role, const char *password,
    struct cs_err *err)
{
	struct cs_err local;
	struct user_entry e;
	users *u = NULL;
	size_t pw_len, k;
	int dfd = -1, rc;
	char shown[80];

	if (err == NULL)
		err = &local;
	cs_err_clear(err);
	if (path == NULL || name == NULL || password == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "users_file_set: NULL argument");
	if (!users_name_valid(name)) {
		users_printable(name, shown, sizeof(shown));
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "user name '%s' is not valid: 1..%d characters of A-Z a-z 0-9 . _ -", shown,
		    USER_NAME_MAX);
	}
	if (role != USER_ROLE_OPERATOR && role != USER_ROLE_SUPERVISOR)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "role must be operator or supervisor");
	pw_len = strnlen(password, USER_PASSWORD_MAX + 1);
	if (pw_len < USER_PASSWORD_MIN || pw_len > USER_PASSWORD_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "password is %s%zu bytes; it must be %d..%d bytes", pw_len > USER_PASSWORD_MAX ?
		    "over " : "", pw_len > USER_PASSWORD_MAX ? (size_t)USER_PASSWORD_MAX : pw_len,
		    USER_PASSWORD_MIN, USER_PASSWORD_MAX);
	memset(&e, 0, sizeof(e));
	memcpy(e.name, name, strlen(name) + 1);
	e.role = role;
	/* hash before taking the lock: it is the slow part */
	rc = users_hash_password(password, e.hash, sizeof(e.hash), err);
	if (rc != 0)
		return rc;
	rc = users_dir_lock(path, &dfd, err);
	if (rc != 0)
		return rc;
	u = users_load_for_update(path, err);
	if (u == NULL) {
		rc = err->code;
		goto out;
	}
	for (k = 0; k < u->n; k++)
		if (strcmp(u->v[k].name, name) == 0)
			break;
	if (k == u->n) {
		struct user_entry *nv;

		if (u->n >= USERS_MAX) {
			rc = cs_err_set(err, CS_ERR_TOO_LARGE, "%s: already holds %d users", path,
			    USERS_MAX);
			goto out;
		}
		nv = realloc(u->v, (u->n + 1) * sizeof(*nv));
		if (nv == NULL) {
			rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
			goto out;
		}
		u->v = nv;
		u->n++;
	}
	u->v[k] = e;
	rc = users_store(path, dfd, u, err);
out:
	OPENSSL_cleanse(&e, sizeof(e));
	users_free(u);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

int
users_file_remove(const char *path, const char *name, struct cs_err *err)
{
	struct cs_err local;
	users *u = NULL;
	size_t k;
	int dfd = -1, rc;
	char shown[80];

	if (err == NULL)
		err = &local;
	cs_err_clear(err);
	if (path == NULL || name == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "users_file_remove: NULL argument");
	rc = users_dir_lock(path, &dfd, err);
	if (rc != 0)
		return rc;
	u = users_load(path, err);
	if (u == NULL) {
		rc = err->code;
		goto out;
	}
	for (k = 0; k < u->n; k++)
		if (strcmp(u->v[k].name, name) == 0)
			break;
	if (k == u->n) {
		users_printable(name, shown, sizeof(shown));
		rc = cs_err_set(err, CS_ERR_NOT_FOUND, "%s: no user '%s'", path, shown);
		goto out;
	}
	memmove(&u->v[k], &u->v[k + 1], (u->n - k - 1) * sizeof(u->v[0]));
	u->n--;
	rc = users_store(path, dfd, u, err);
out:
	users_free(u);
	if (dfd >= 0)
		close(dfd);
	return rc;
}
