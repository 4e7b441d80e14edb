/*
 * config.c: load and validate the station's JSON configuration.
 *
 * DESIGN: Jansson parses (duplicate keys refused); then one pass walks the
 * tree with a whitelist of keys per object, so a misspelt key is an error
 * instead of a setting that silently does nothing. The walker keeps the
 * current key path; every semantic error locates that path in the original
 * text (json_locate) to print FILE:LINE:COLUMN, falling back to the nearest
 * enclosing key that exists (for a missing required key).
 */
#include "station/config.h"
#include "station/config_int.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "station/file_read.h"
#include "station/json_locate.h"

#ifndef CERTSTATION_DEFAULT_MODULE
#define CERTSTATION_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define CFG_DEFAULT_STATE_DIR "state"
#define CFG_DEFAULT_PIN_ENV "CERTSTATION_HSM_PIN"
#define CFG_DEFAULT_DEVICE_ID_PATTERN "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#define CFG_IDEVID_NOT_AFTER "99991231235959Z"
/* ---- key path and error reporting ---- */

void
cfg_push_key(struct cfg_ctx *c, const char *key)
{
	if (c->depth < CFG_DEPTH_MAX) {
		c->path[c->depth].key = key;
		c->path[c->depth].key_len = strlen(key);
		c->path[c->depth].index = 0;
	}
	c->depth++;
}

void
cfg_push_index(struct cfg_ctx *c, size_t index)
{
	if (c->depth < CFG_DEPTH_MAX) {
		c->path[c->depth].key = NULL;
		c->path[c->depth].key_len = 0;
		c->path[c->depth].index = index;
	}
	c->depth++;
}

void
cfg_pop(struct cfg_ctx *c)
{
	if (c->depth > 0)
		c->depth--;
}

static void
cfg_path_text(const struct cfg_ctx *c, char *buf, size_t cap)
{
	size_t used = 0, n = c->depth < CFG_DEPTH_MAX ? c->depth : CFG_DEPTH_MAX;

	buf[0] = '\0';
	for (size_t k = 0; k < n && used < cap; k++) {
		int w;

		if (c->path[k].key != NULL)
			w = snprintf(buf + used, cap - used, "%s%s", k > 0 ? "." : "",
			    c->path[k].key);
		else
			w = snprintf(buf + used, cap - used, "[%zu]", c->path[k].index);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}


/* CS_ERR_CONFIG with "FILE:LINE:COLUMN: key 'PATH': <message>". */
int
cfg_fail(struct cfg_ctx *c, const char *fmt, ...)
{
	struct json_locate_pos pos = {1, 1, 0};
	char path[256], msg[CS_ERR_MSG_MAX];
	size_t n = c->depth < CFG_DEPTH_MAX ? c->depth : CFG_DEPTH_MAX;
	va_list ap;

	/* the deepest part of the path that exists in the text */
	for (;;) {
		if (json_locate(c->text, c->len, c->path, n, &pos) == 0 || n == 0)
			break;
		n--;
	}
	cfg_path_text(c, path, sizeof(path));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path[0] == '\0')
		return cs_err_set(c->err, CS_ERR_CONFIG, "%s:%lu:%lu: %s", c->file, pos.line,
		    pos.column, msg);
	return cs_err_set(c->err, CS_ERR_CONFIG, "%s:%lu:%lu: key '%s': %s", c->file, pos.line,
	    pos.column, path, msg);
}

/* ---- generic readers ---- */

int
cfg_check_keys(struct cfg_ctx *c, json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		int ok = 0;
		char list[512];
		size_t used = 0;

		for (size_t k = 0; allowed[k] != NULL; k++)
			if (strcmp(allowed[k], key) == 0)
				ok = 1;
		if (ok)
			continue;
		list[0] = '\0';
		for (size_t k = 0; allowed[k] != NULL && used < sizeof(list); k++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%s", k > 0 ? ", " : "",
			    allowed[k]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		cfg_push_key(c, key);
		return cfg_fail(c, "unknown key (allowed here: %s)", list);
	}
	return 0;
}

int
cfg_strdup(struct cfg_ctx *c, const char *s, char **out)
{
	char *d = strdup(s);

	if (d == NULL)
		return cs_err_set(c->err, CS_ERR_NOMEM, "%s: out of memory", c->file);
	free(*out);
	*out = d;
	return 0;
}

int
cfg_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* A string member. Absent: *out untouched (returns 0) unless required. */
int
cfg_string(struct cfg_ctx *c, json_t *obj, const char *key, int required, size_t max,
    char **out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	cfg_push_key(c, key);
	if (v == NULL) {
		if (required)
			rc = cfg_fail(c, "required key is missing");
		goto out;
	}
	if (!json_is_string(v)) {
		rc = cfg_fail(c, "must be a string");
		goto out;
	}
	if (json_string_length(v) == 0 || json_string_length(v) > max) {
		rc = cfg_fail(c, "must be a string of 1..%zu bytes", max);
		goto out;
	}
	if (cfg_has_control(json_string_value(v))) {
		rc = cfg_fail(c, "must not contain control characters");
		goto out;
	}
	rc = cfg_strdup(c, json_string_value(v), out);
out:
	cfg_pop(c);
	return rc;
}

int
cfg_integer(struct cfg_ctx *c, json_t *obj, const char *key, json_int_t min, json_int_t max,
    const char *why, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	cfg_push_key(c, key);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		rc = cfg_fail(c, "must be an integer %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT
		    "%s", min, max, why);
	else
		*out = (int64_t)json_integer_value(v);
	cfg_pop(c);
	return rc;
}

int
cfg_bool(struct cfg_ctx *c, json_t *obj, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	cfg_push_key(c, key);
	if (!json_is_boolean(v))
		rc = cfg_fail(c, "must be true or false");
	else
		*out = json_is_true(v);
	cfg_pop(c);
	return rc;
}

/* One of names[]; *out gets its index. */
int
cfg_enum(struct cfg_ctx *c, json_t *obj, const char *key, const char *const *names, int *out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	cfg_push_key(c, key);
	if (json_is_string(v)) {
		for (int k = 0; names[k] != NULL; k++) {
			if (strcmp(names[k], json_string_value(v)) == 0) {
				*out = k;
				goto out;
			}
		}
	}
	{
		char list[256];
		size_t used = 0;

		list[0] = '\0';
		for (int k = 0; names[k] != NULL && used < sizeof(list); k++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
			    k == 0 ? "" : names[k + 1] == NULL ? " or " : ", ", names[k]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		rc = cfg_fail(c, "must be %s", list);
	}
out:
	cfg_pop(c);
	return rc;
}

/* An object member (may be absent: *out = NULL). */
int
cfg_object(struct cfg_ctx *c, json_t *obj, const char *key, int required, json_t **out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	*out = NULL;
	cfg_push_key(c, key);
	if (v == NULL) {
		if (required)
			rc = cfg_fail(c, "required key is missing");
	} else if (!json_is_object(v)) {
		rc = cfg_fail(c, "must be an object");
	} else {
		*out = v;
	}
	cfg_pop(c);
	return rc;
}

/* An array member of 1..max entries (absent: *out = NULL). Leaves key pushed on success
 * with an array; the caller pops. */
int
cfg_array(struct cfg_ctx *c, json_t *obj, const char *key, size_t max, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	cfg_push_key(c, key);
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > max) {
		int rc = cfg_fail(c, "must be an array of 1..%zu entries", max);
		cfg_pop(c);
		return rc;
	}
	*out = v;
	return 0;
}

int
cfg_comment(struct cfg_ctx *c, json_t *obj)
{
	json_t *v = json_object_get(obj, "comment");
	int rc = 0;

	if (v == NULL || json_is_string(v))
		return 0;
	cfg_push_key(c, "comment");
	rc = cfg_fail(c, "must be a string");
	cfg_pop(c);
	return rc;
}

/* ---- paths ---- */

int
cfg_join(struct cfg_ctx *c, const char *dir, const char *rel, char **out)
{
	size_t need = strlen(dir) + 1 + strlen(rel) + 1;
	char *p = malloc(need);

	if (p == NULL)
		return cs_err_set(c->err, CS_ERR_NOMEM, "%s: out of memory", c->file);
	snprintf(p, need, "%s/%s", dir, rel);
	free(*out);
	*out = p;
	return 0;
}

/* Make *p absolute against the config's directory if it is relative. */
int
cfg_resolve(struct cfg_ctx *c, char **p)
{
	char *rel = NULL;
	int rc;

	if (*p == NULL || (*p)[0] == '/')
		return 0;
	rel = *p;
	*p = NULL;
	rc = cfg_join(c, c->dir, rel, p);
	free(rel);
	return rc;
}

/* Directory of path as an absolute path. */
char *
cfg_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char cwd[CFG_PATH_MAX];
	size_t dlen;
	char *out;

	if (slash == path)
		return strdup("/");
	dlen = slash != NULL ? (size_t)(slash - path) : 0;
	if (path[0] == '/') {
		out = malloc(dlen + 1);
		if (out == NULL)
			return NULL;
		memcpy(out, path, dlen);
		out[dlen] = '\0';
		return out;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	out = malloc(strlen(cwd) + 1 + dlen + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, cwd, strlen(cwd));
	if (dlen > 0) {
		out[strlen(cwd)] = '/';
		memcpy(out + strlen(cwd) + 1, path, dlen);
		out[strlen(cwd) + 1 + dlen] = '\0';
	} else {
		out[strlen(cwd)] = '\0';
	}
	return out;
}

/* ---- templates ---- */

/* 0 if tmpl uses only {device_id} and {lot}; else the error. */
static int
cfg_template_check(struct cfg_ctx *c, const char *tmpl, int *uses_device_id)
{
	const char *p = tmpl;

	if (uses_device_id != NULL)
		*uses_device_id = 0;
	while ((p = strchr(p, '{')) != NULL) {
		const char *end = strchr(p, '}');
		size_t n;

		if (end == NULL)
			return cfg_fail(c, "'{' without '}' in \"%s\" (placeholders are {device_id} "
			    "and {lot})", tmpl);
		n = (size_t)(end - p + 1);
		if (n == 11 && memcmp(p, "{device_id}", 11) == 0) {
			if (uses_device_id != NULL)
				*uses_device_id = 1;
		} else if (!(n == 5 && memcmp(p, "{lot}", 5) == 0)) {
			return cfg_fail(c, "unknown placeholder '%.*s' (only {device_id} and {lot} are "
			    "expanded)", (int)(n > 64 ? 64 : n), p);
		}
		p = end + 1;
	}
	return 0;
}

int
profile_expand(const char *tmpl, const char *device_id, const char *lot, char *out, size_t cap)
{
	size_t used = 0;
	const char *p = tmpl;

	if (out == NULL || cap == 0)
		return CS_ERR_TOO_LARGE;
	out[0] = '\0';
	if (tmpl == NULL)
		return CS_ERR_INVALID_ARG;
	while (*p != '\0') {
		const char *val = NULL;
		size_t vlen, skip;

		if (strncmp(p, "{device_id}", 11) == 0) {
			val = device_id;
			skip = 11;
		} else if (strncmp(p, "{lot}", 5) == 0) {
			val = lot;
			skip = 5;
		} else {
			val = p;
			skip = 1;
			vlen = 1;
			goto copy;
		}
		if (val == NULL) {
			out[0] = '\0';
			return CS_ERR_INVALID_ARG;
		}
		vlen = strlen(val);
	copy:
		if (vlen >= cap - used) {
			out[0] = '\0';
			return CS_ERR_TOO_LARGE;
		}
		memcpy(out + used, val, vlen);
		used += vlen;
		out[used] = '\0';
		p += skip;
	}
	return 0;
}

/* ---- profile sections ---- */

struct cfg_name {
	const char *name;
	unsigned value;
};

static const struct cfg_name cfg_key_types[] = {
	{"P-256", 1u << CSR_KEY_EC_P256},
	{"P-384", 1u << CSR_KEY_EC_P384},
	{"P-521", 1u << CSR_KEY_EC_P521},
	{"RSA", 1u << CSR_KEY_RSA},
	{NULL, 0},
};

static const struct cfg_name cfg_rdn_names[] = {
	{"CN", CERT_RDN_CN},
	{"O", CERT_RDN_O},
	{"OU", CERT_RDN_OU},
	{"C", CERT_RDN_C},
	{"L", CERT_RDN_L},
	{"ST", CERT_RDN_ST},
	{"serialNumber", CERT_RDN_SERIALNUMBER},
	{NULL, 0},
};

static const struct cfg_name cfg_san_names[] = {
	{"DNS", CERT_SAN_DNS},
	{"URI", CERT_SAN_URI},
	{"email", CERT_SAN_EMAIL},
	{"IP", CERT_SAN_IP},
	{NULL, 0},
};

static const struct cfg_name cfg_ku_names[] = {
	{"digitalSignature", CERT_KU_DIGITAL_SIGNATURE},
	{"nonRepudiation", CERT_KU_NON_REPUDIATION},
	{"keyEncipherment", CERT_KU_KEY_ENCIPHERMENT},
	{"dataEncipherment", CERT_KU_DATA_ENCIPHERMENT},
	{"keyAgreement", CERT_KU_KEY_AGREEMENT},
	{NULL, 0},
};

static const struct cfg_name cfg_eku_names[] = {
	{"clientAuth", CERT_EKU_CLIENT_AUTH},
	{"serverAuth", CERT_EKU_SERVER_AUTH},
	{"codeSigning", CERT_EKU_CODE_SIGNING},
	{"emailProtection", CERT_EKU_EMAIL_PROTECTION},
	{NULL, 0},
};

static const struct cfg_name *
cfg_name_find(const struct cfg_name *names, const char *s)
{
	for (; names->name != NULL; names++)
		if (strcmp(names->name, s) == 0)
			return names;
	return NULL;
}

static void
cfg_name_list(const struct cfg_name *names, char *buf, size_t cap)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t k = 0; names[k].name != NULL && used < cap; k++) {
		int w = snprintf(buf + used, cap - used, "%s%s", k > 0 ? ", " : "", names[k].name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* The array's entries as names from the table, duplicates refused. With
 * values == NULL the entries are OR-ed into *bits; otherwise they are stored
 * in order into values[*count]. refused (may be NULL) lists names that are
 * known but never allowed, with the reason why. Absent: *present = 0. */
static int
cfg_name_array(struct cfg_ctx *c, json_t *obj, const char *key, size_t max,
    const struct cfg_name *names, const char *const *refused, const char *refusal_why,
    unsigned *bits, unsigned *values, size_t *count, int *present)
{
	json_t *arr, *v;
	size_t i;
	int rc;

	*present = 0;
	rc = cfg_array(c, obj, key, max, &arr);
	if (rc != 0 || arr == NULL)
		return rc;
	*present = 1;
	*bits = 0;
	if (count != NULL)
		*count = 0;
	json_array_foreach(arr, i, v)
	{
		const struct cfg_name *n;
		char list[256];
		int dup = 0;

		cfg_push_index(c, i);
		if (!json_is_string(v)) {
			rc = cfg_fail(c, "must be a string");
			goto fail;
		}
		for (size_t k = 0; refused != NULL && refused[k] != NULL; k++) {
			if (strcmp(refused[k], json_string_value(v)) == 0) {
				rc = cfg_fail(c, "'%s' is refused: %s", refused[k], refusal_why);
				goto fail;
			}
		}
		n = cfg_name_find(names, json_string_value(v));
		if (n == NULL) {
			cfg_name_list(names, list, sizeof(list));
			rc = cfg_fail(c, "unknown value '%.64s' (allowed: %s)",
			    json_string_value(v), list);
			goto fail;
		}
		if (values == NULL) {
			dup = (*bits & n->value) != 0;
			*bits |= n->value;
		} else {
			for (size_t k = 0; k < *count; k++)
				if (values[k] == n->value)
					dup = 1;
			if (!dup)
				values[(*count)++] = n->value;
		}
		if (dup) {
			rc = cfg_fail(c, "'%s' is listed twice", n->name);
			goto fail;
		}
		cfg_pop(c);
	}
	cfg_pop(c);
	return 0;
fail:
	cfg_pop(c);
	cfg_pop(c);
	return rc;
}

static int
cfg_urls(struct cfg_ctx *c, json_t *obj, const char *key, char **urls, size_t *count)
{
	json_t *arr, *v;
	size_t i;
	int rc;

	rc = cfg_array(c, obj, key, CERT_MAX_URLS, &arr);
	if (rc != 0 || arr == NULL)
		return rc;
	json_array_foreach(arr, i, v)
	{
		const char *s;
		size_t scheme;

		cfg_push_index(c, i);
		if (!json_is_string(v)) {
			rc = cfg_fail(c, "must be a string");
			goto fail;
		}
		s = json_string_value(v);
		if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) {
			rc = cfg_fail(c, "'%.64s' must be an http:// or https:// URL", s);
			goto fail;
		}
		scheme = s[4] == ':' ? 7 : 8;
		if (json_string_length(v) > CFG_URL_MAX || strlen(s) <= scheme || s[scheme] == '/' ||
		    strchr(s, ' ') != NULL || cfg_has_control(s)) {
			rc = cfg_fail(c, "'%.64s' is not a usable URL (at most %d bytes, no spaces, "
			    "a host after the scheme)", s, CFG_URL_MAX);
			goto fail;
		}
		rc = cfg_strdup(c, s, &urls[i]);
		if (rc != 0)
			goto fail;
		*count = i + 1;
		cfg_pop(c);
	}
	cfg_pop(c);
	return 0;
fail:
	cfg_pop(c);
	cfg_pop(c);
	return rc;
}

static int
cfg_subject(struct cfg_ctx *c, json_t *obj, struct profile *p)
{
	json_t *arr, *v;
	size_t i;
	int rc, have_cn = 0;

	rc = cfg_array(c, obj, "subject", CERT_MAX_RDN, &arr);
	if (rc != 0)
		return rc;
	if (arr == NULL) {
		/* default: CN={device_id}, what Azure DPS expects */
		p->subject[0].type = CERT_RDN_CN;
		p->subject_count = 1;
		return cfg_strdup(c, "{device_id}", &p->subject[0].tmpl);
	}
	json_array_foreach(arr, i, v)
	{
		const struct cfg_name *n;
		const char *key, *s;
		json_t *val;
		char list[128];
		int uses_id;

		cfg_push_index(c, i);
		if (!json_is_object(v) || json_object_size(v) != 1) {
			rc = cfg_fail(c, "must be an object with exactly one attribute, like "
			    "{\"CN\": \"{device_id}\"}");
			goto fail;
		}
		key = json_object_iter_key(json_object_iter(v));
		val = json_object_iter_value(json_object_iter(v));
		n = cfg_name_find(cfg_rdn_names, key);
		cfg_push_key(c, key);
		if (n == NULL) {
			cfg_name_list(cfg_rdn_names, list, sizeof(list));
			rc = cfg_fail(c, "unknown subject attribute (allowed: %s)", list);
			goto fail2;
		}
		if (!json_is_string(val) || json_string_length(val) == 0 ||
		    json_string_length(val) >= PROFILE_TEMPLATE_MAX) {
			rc = cfg_fail(c, "must be a string of 1..%d bytes", PROFILE_TEMPLATE_MAX - 1);
			goto fail2;
		}
		s = json_string_value(val);
		if (cfg_has_control(s)) {
			rc = cfg_fail(c, "must not contain control characters");
			goto fail2;
		}
		rc = cfg_template_check(c, s, &uses_id);
		if (rc != 0)
			goto fail2;
		if (n->value == CERT_RDN_CN) {
			if (have_cn) {
				rc = cfg_fail(c, "CN is given twice; the certificate has one CN, the "
				    "device ID");
				goto fail2;
			}
			if (!uses_id) {
				rc = cfg_fail(c, "CN \"%s\" must contain {device_id}: Azure IoT Hub and "
				    "DPS require the certificate CN to be the registration/device ID", s);
				goto fail2;
			}
			have_cn = 1;
		}
		if (n->value == CERT_RDN_C && strchr(s, '{') == NULL &&
		    (strlen(s) != 2 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) ||
			!((s[1] >= 'A' && s[1] <= 'Z') || (s[1] >= 'a' && s[1] <= 'z')))) {
			rc = cfg_fail(c, "C \"%s\" must be a two-letter country code (ISO 3166)", s);
			goto fail2;
		}
		p->subject[i].type = (enum cert_rdn_type)n->value;
		rc = cfg_strdup(c, s, &p->subject[i].tmpl);
		if (rc != 0)
			goto fail2;
		p->subject_count = i + 1;
		cfg_pop(c);
		cfg_pop(c);
	}
	if (!have_cn) {
		rc = cfg_fail(c, "a CN containing {device_id} is required: Azure IoT Hub and DPS "
		    "require the certificate CN to be the registration/device ID");
		cfg_pop(c);
		return rc;
	}
	cfg_pop(c);
	return 0;
fail2:
	cfg_pop(c);
fail:
	cfg_pop(c);
	cfg_pop(c);
	return rc;
}

static int
cfg_san(struct cfg_ctx *c, json_t *obj, struct profile *p)
{
	json_t *arr, *v;
	size_t i;
	int rc;

	rc = cfg_array(c, obj, "san", CERT_MAX_SAN, &arr);
	if (rc != 0 || arr == NULL)
		return rc;
	json_array_foreach(arr, i, v)
	{
		const struct cfg_name *n = NULL;
		const char *s, *colon, *val;
		char type[16];

		cfg_push_index(c, i);
		if (!json_is_string(v)) {
			rc = cfg_fail(c, "must be a string like \"DNS:{device_id}.example.com\"");
			goto fail;
		}
		s = json_string_value(v);
		colon = strchr(s, ':');
		if (colon != NULL && (size_t)(colon - s) < sizeof(type)) {
			memcpy(type, s, (size_t)(colon - s));
			type[colon - s] = '\0';
			n = cfg_name_find(cfg_san_names, type);
		}
		if (n == NULL) {
			rc = cfg_fail(c, "'%.64s' must start with DNS:, URI:, email: or IP:", s);
			goto fail;
		}
		val = colon + 1;
		if (*val == '\0' || strlen(val) >= PROFILE_TEMPLATE_MAX || cfg_has_control(val) ||
		    strchr(val, ' ') != NULL) {
			rc = cfg_fail(c, "'%.64s': the value must be 1..%d bytes without spaces", s,
			    PROFILE_TEMPLATE_MAX - 1);
			goto fail;
		}
		rc = cfg_template_check(c, val, NULL);
		if (rc != 0)
			goto fail;
		if (n->value == CERT_SAN_IP && strchr(val, '{') == NULL) {
			unsigned char addr[16];
			if (inet_pton(AF_INET, val, addr) != 1 && inet_pton(AF_INET6, val, addr) != 1) {
				rc = cfg_fail(c, "'%.64s' is not an IPv4 or IPv6 address", val);
				goto fail;
			}
		}
		p->san[i].type = (enum cert_san_type)n->value;
		rc = cfg_strdup(c, val, &p->san[i].tmpl);
		if (rc != 0)
			goto fail;
		p->san_count = i + 1;
		cfg_pop(c);
	}
	cfg_pop(c);
	return 0;
fail:
	cfg_pop(c);
	cfg_pop(c);
	return rc;
}

static int
cfg_validity(struct cfg_ctx *c, json_t *obj, struct profile *p)
{
	static const char *const keys[] = {"comment", "days", "seconds", "not_after",
		"backdate_seconds", NULL};
	json_t *v;
	int64_t n = 0;
	int given = 0, rc;

	p->validity_seconds = 365 * 86400;
	p->backdate_seconds = 300;
	rc = cfg_object(c, obj, "validity", 0, &v);
	if (rc != 0 || v == NULL)
		return rc;
	cfg_push_key(c, "validity");
	rc = cfg_check_keys(c, v, keys);
	if (rc == 0)
		rc = cfg_comment(c, v);
	if (rc != 0)
		goto out;
	given = (json_object_get(v, "days") != NULL) + (json_object_get(v, "seconds") != NULL) +
	    (json_object_get(v, "not_after") != NULL);
	if (given != 1) {
		rc = cfg_fail(c, "give exactly one of days, seconds or not_after");
		goto out;
	}
	if (json_object_get(v, "days") != NULL) {
		rc = cfg_integer(c, v, "days", 1, CFG_MAX_DAYS, "", &n);
		p->validity_seconds = n * 86400;
	} else if (json_object_get(v, "seconds") != NULL) {
		rc = cfg_integer(c, v, "seconds", 1, (json_int_t)CFG_MAX_DAYS * 86400, "", &n);
		p->validity_seconds = n;
	} else {
		json_t *na = json_object_get(v, "not_after");

		cfg_push_key(c, "not_after");
		if (!json_is_string(na) || strcmp(json_string_value(na), CFG_IDEVID_NOT_AFTER) != 0)
			rc = cfg_fail(c, "only \"%s\" is accepted (IEEE 802.1AR IDevID: no "
			    "well-defined expiration); otherwise use days or seconds",
			    CFG_IDEVID_NOT_AFTER);
		cfg_pop(c);
		p->validity_seconds = 0;
		p->not_after_forever = 1;
	}
	if (rc != 0)
		goto out;
	rc = cfg_integer(c, v, "backdate_seconds", 0, CFG_MAX_BACKDATE, "", &p->backdate_seconds);
out:
	cfg_pop(c);
	return rc;
}

static int
cfg_chain(struct cfg_ctx *c, json_t *obj, struct profile *p)
{
	static const char *const keys[] = {"comment", "include_root", "trust_bundle", NULL};
	json_t *v;
	int rc;

	rc = cfg_object(c, obj, "chain", 0, &v);
	if (rc != 0 || v == NULL)
		return rc;
	cfg_push_key(c, "chain");
	rc = cfg_check_keys(c, v, keys);
	if (rc == 0)
		rc = cfg_comment(c, v);
	if (rc == 0)
		rc = cfg_bool(c, v, "include_root", &p->chain_include_root);
	if (rc == 0)
		rc = cfg_string(c, v, "trust_bundle", 0, CFG_PATH_MAX, &p->trust_bundle_file);
	if (rc == 0)
		rc = cfg_resolve(c, &p->trust_bundle_file);
	cfg_pop(c);
	return rc;
}

static int
cfg_profile_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (; *s != '\0'; s++) {
		char ch = *s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			ch == '-' || ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

static int
cfg_profile(struct cfg_ctx *c, const char *name, json_t *obj, struct profile *p)
{
	static const char *const keys[] = {"comment", "key_types", "rsa_min_bits",
		"device_id_pattern", "require_allowlist", "subject", "san", "validity", "key_usage",
		"extended_key_usage", "crl_urls", "ocsp_urls", "ca_issuers_urls", "reissue",
		"csr_requests_ca", "chain", "rsa_signature", NULL};
	static const char *const ku_refused[] = {"keyCertSign", "cRLSign", NULL};
	static const char *const reissue_names[] = {"same-key-only", "allow-new-key", NULL};
	static const char *const csr_ca_names[] = {"refuse", "ignore", NULL};
	static const char *const rsa_sig_names[] = {"pkcs1", "pss", NULL};
	unsigned eku[CERT_MAX_EKU], bits = 0;
	char *pattern = NULL;
	int64_t rsa_bits = 2048;
	int present, rc, e;
	const unsigned ec_mask = (1u << CSR_KEY_EC_P256) | (1u << CSR_KEY_EC_P384) |
	    (1u << CSR_KEY_EC_P521);

	cfg_push_key(c, "profiles");
	cfg_push_key(c, name);
	rc = cfg_strdup(c, name, &p->name);
	if (rc != 0)
		goto out;
	if (!json_is_object(obj)) {
		rc = cfg_fail(c, "a profile must be an object");
		goto out;
	}
	if (!cfg_profile_name_ok(name)) {
		rc = cfg_fail(c, "profile names are 1..64 characters of A-Z a-z 0-9 . _ -");
		goto out;
	}
	rc = cfg_check_keys(c, obj, keys);
	if (rc == 0)
		rc = cfg_comment(c, obj);
	if (rc != 0)
		goto out;

	/* key types */
	p->key_types = (1u << CSR_KEY_EC_P256) | (1u << CSR_KEY_EC_P384);
	rc = cfg_name_array(c, obj, "key_types", 4, cfg_key_types, NULL, NULL, &p->key_types, NULL,
	    NULL, &present);
	if (rc != 0)
		goto out;
	rc = cfg_integer(c, obj, "rsa_min_bits", 2048, 16384,
	    " (RSA keys below 2048 bits are never accepted)", &rsa_bits);
	if (rc != 0)
		goto out;
	p->rsa_min_bits = (unsigned)rsa_bits;
	if (json_object_get(obj, "rsa_min_bits") != NULL && !(p->key_types & (1u << CSR_KEY_RSA))) {
		cfg_push_key(c, "rsa_min_bits");
		rc = cfg_fail(c, "is set but key_types does not include \"RSA\"");
		cfg_pop(c);
		goto out;
	}

	/* device ID rule */
	rc = cfg_string(c, obj, "device_id_pattern", 0, CFG_PATTERN_MAX, &pattern);
	if (rc != 0)
		goto out;
	if (pattern == NULL) {
		rc = cfg_strdup(c, CFG_DEFAULT_DEVICE_ID_PATTERN, &pattern);
		if (rc != 0)
			goto out;
	}
	e = regcomp(&p->device_id_re, pattern, REG_EXTENDED | REG_NOSUB);
	if (e != 0) {
		char why[128];

		regerror(e, &p->device_id_re, why, sizeof(why));
		cfg_push_key(c, "device_id_pattern");
		rc = cfg_fail(c, "bad regular expression %s: %s", pattern, why);
		cfg_pop(c);
		goto out;
	}
	/* set only once compiled: config_free() regfree()s when the pattern is set */
	p->device_id_pattern = pattern;
	pattern = NULL;
	rc = cfg_bool(c, obj, "require_allowlist", &p->require_allowlist);
	if (rc != 0)
		goto out;

	rc = cfg_subject(c, obj, p);
	if (rc == 0)
		rc = cfg_san(c, obj, p);
	if (rc == 0)
		rc = cfg_validity(c, obj, p);
	if (rc != 0)
		goto out;

	/* key usage */
	p->key_usage = CERT_KU_DIGITAL_SIGNATURE;
	rc = cfg_name_array(c, obj, "key_usage", 5, cfg_ku_names, ku_refused,
	    "the station never issues CA certificates", &p->key_usage, NULL, NULL, &present);
	if (rc != 0)
		goto out;
	if ((p->key_usage & CERT_KU_KEY_ENCIPHERMENT) && (p->key_types & ec_mask)) {
		cfg_push_key(c, "key_usage");
		rc = cfg_fail(c, "keyEncipherment applies to RSA keys only, but key_types allows EC "
		    "keys");
		cfg_pop(c);
		goto out;
	}
	if ((p->key_usage & CERT_KU_KEY_AGREEMENT) && (p->key_types & (1u << CSR_KEY_RSA))) {
		cfg_push_key(c, "key_usage");
		rc = cfg_fail(c, "keyAgreement applies to EC keys only, but key_types allows RSA");
		cfg_pop(c);
		goto out;
	}

	/* extended key usage, in the order given */
	p->eku[0] = CERT_EKU_CLIENT_AUTH;
	p->eku_count = 1;
	rc = cfg_name_array(c, obj, "extended_key_usage", CERT_MAX_EKU, cfg_eku_names, NULL, NULL,
	    &bits, eku, &p->eku_count, &present);
	if (rc != 0)
		goto out;
	if (present)
		for (size_t k = 0; k < p->eku_count; k++)
			p->eku[k] = (enum cert_eku)eku[k];

	rc = cfg_urls(c, obj, "crl_urls", p->crl_urls, &p->crl_url_count);
	if (rc == 0)
		rc = cfg_urls(c, obj, "ocsp_urls", p->ocsp_urls, &p->ocsp_url_count);
	if (rc == 0)
		rc = cfg_urls(c, obj, "ca_issuers_urls", p->ca_issuers_urls, &p->ca_issuers_url_count);
	if (rc != 0)
		goto out;

	e = (int)p->reissue;
	rc = cfg_enum(c, obj, "reissue", reissue_names, &e);
	p->reissue = (enum profile_reissue)e;
	if (rc != 0)
		goto out;
	e = (int)p->csr_ca;
	rc = cfg_enum(c, obj, "csr_requests_ca", csr_ca_names, &e);
	p->csr_ca = (enum profile_csr_ca)e;
	if (rc != 0)
		goto out;
	rc = cfg_enum(c, obj, "rsa_signature", rsa_sig_names, &p->rsa_pss);
	if (rc != 0)
		goto out;
	rc = cfg_chain(c, obj, p);
out:
	free(pattern);
	cfg_pop(c);
	cfg_pop(c);
	return rc;
}

/* ---- hsm ---- */

static int
cfg_env_name_ok(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return 0;
	for (s++; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
			(*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/*
 * Refuse a PIN in the URI; make a relative pin-source=file: absolute against
 * the config's directory (percent-encoding the directory as RFC 7512 wants).
 */
static int
cfg_hsm_uri(struct cfg_ctx *c, char **uri)
{
	const char *u = *uri, *attr, *val, *end, *path;
	size_t vlen, need, used;
	char *out;
	int has_scheme;

	if (strncmp(u, "pkcs11:", 7) != 0)
		return cfg_fail(c, "must be a PKCS#11 URI (RFC 7512) starting with \"pkcs11:\"");
	attr = u + 7;
	val = NULL;
	while (*attr != '\0') {
		size_t alen = strcspn(attr, ";?&");

		if (alen >= 9 && strncmp(attr, "pin-value", 9) == 0 &&
		    (attr[9] == '=' || alen == 9))
			return cfg_fail(c, "PINs are never stored in the config: use "
			    "pin-source=file:... or the CERTSTATION_HSM_PIN environment variable");
		if (alen >= 11 && strncmp(attr, "pin-source=", 11) == 0)
			val = attr + 11;
		attr += alen;
		if (*attr != '\0')
			attr++;
	}
	if (val == NULL)
		return 0;
	vlen = strcspn(val, ";?&");
	end = val + vlen;
	has_scheme = vlen >= 5 && strncmp(val, "file:", 5) == 0;
	path = has_scheme ? val + 5 : val;
	if (path == end)
		return cfg_fail(c, "pin-source names no file");
	if (path[0] == '/' || (!has_scheme && memchr(val, ':', vlen) != NULL))
		return 0; /* absolute, or a scheme we leave to the HSM layer to judge */
	need = (size_t)(path - u) + strlen(c->dir) * 3 + 1 + strlen(path) + 1;
	out = malloc(need);
	if (out == NULL)
		return cs_err_set(c->err, CS_ERR_NOMEM, "%s: out of memory", c->file);
	used = (size_t)(path - u);
	memcpy(out, u, used);
	for (const char *d = c->dir; *d != '\0'; d++) {
		unsigned char ch = (unsigned char)*d;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '/') {
			out[used++] = (char)ch;
		} else {
			static const char hex[] = "0123456789ABCDEF";
			out[used++] = '%';
			out[used++] = hex[ch >> 4];
			out[used++] = hex[ch & 15];
		}
	}
	out[used++] = '/';
	memcpy(out + used, path, strlen(path) + 1);
	free(*uri);
	*uri = out;
	return 0;
}

static int
cfg_hsm(struct cfg_ctx *c, json_t *root, struct cs_config *cfg)
{
	static const char *const keys[] = {"comment", "module", "uri", "pin_env", "sessions",
		"module_env", NULL};
	json_t *h, *envs, *v;
	const char *name;
	int64_t sessions = 4;
	int rc;

	rc = cfg_object(c, root, "hsm", 1, &h);
	if (rc != 0)
		return rc;
	cfg_push_key(c, "hsm");
	rc = cfg_check_keys(c, h, keys);
	if (rc == 0)
		rc = cfg_comment(c, h);
	if (rc == 0)
		rc = cfg_string(c, h, "module", 0, CFG_PATH_MAX, &cfg->hsm.module);
	if (rc == 0 && cfg->hsm.module == NULL)
		rc = cfg_strdup(c, CERTSTATION_DEFAULT_MODULE, &cfg->hsm.module);
	if (rc == 0)
		rc = cfg_string(c, h, "uri", 1, 1024, &cfg->hsm.uri);
	if (rc != 0)
		goto out;
	cfg_push_key(c, "uri");
	rc = cfg_hsm_uri(c, &cfg->hsm.uri);
	cfg_pop(c);
	if (rc != 0)
		goto out;
	rc = cfg_string(c, h, "pin_env", 0, 128, &cfg->hsm.pin_env);
	if (rc == 0 && cfg->hsm.pin_env == NULL)
		rc = cfg_strdup(c, CFG_DEFAULT_PIN_ENV, &cfg->hsm.pin_env);
	if (rc != 0)
		goto out;
	if (!cfg_env_name_ok(cfg->hsm.pin_env)) {
		cfg_push_key(c, "pin_env");
		rc = cfg_fail(c, "'%s' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
		    cfg->hsm.pin_env);
		cfg_pop(c);
		goto out;
	}
	rc = cfg_integer(c, h, "sessions", 1, 64, "", &sessions);
	if (rc != 0)
		goto out;
	cfg->hsm.sessions = (unsigned)sessions;
	rc = cfg_object(c, h, "module_env", 0, &envs);
	if (rc != 0 || envs == NULL)
		goto out;
	cfg_push_key(c, "module_env");
	if (json_object_size(envs) > CONFIG_MAX_ENV) {
		rc = cfg_fail(c, "at most %d variables", CONFIG_MAX_ENV);
		goto out2;
	}
	json_object_foreach(envs, name, v)
	{
		struct config_env *e = &cfg->hsm.env[cfg->hsm.env_count];

		cfg_push_key(c, name);
		if (!cfg_env_name_ok(name))
			rc = cfg_fail(c, "not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
		else if (!json_is_string(v) || cfg_has_control(json_string_value(v)) ||
		    json_string_length(v) > CFG_PATH_MAX)
			rc = cfg_fail(c, "must be a string of at most %d bytes", CFG_PATH_MAX);
		if (rc == 0)
			rc = cfg_strdup(c, name, &e->name);
		if (rc == 0)
			rc = cfg_strdup(c, json_string_value(v), &e->value);
		cfg_pop(c);
		if (rc != 0)
			goto out2;
		cfg->hsm.env_count++;
	}
out2:
	cfg_pop(c);
out:
	cfg_pop(c);
	return rc;
}

/* ---- top level ---- */

int
cfg_read_file(const char *path, char **buf, size_t *len, struct cs_err *err)
{
	int rc;

	rc = cs_file_read(path, "a configuration", CONFIG_MAX_BYTES, 0, buf, len, err);
	/* a configuration that cannot be opened has always been an I/O error
	 * and one too large a configuration error; callers test for both */
	if (rc == CS_ERR_NOT_FOUND)
		rc = CS_ERR_IO;
	else if (rc == CS_ERR_TOO_LARGE)
		rc = CS_ERR_CONFIG;
	if (rc != 0 && err != NULL)
		err->code = rc;
	return rc;
}

static int
cfg_profiles(struct cfg_ctx *c, json_t *root, struct cs_config *cfg)
{
	json_t *ps, *v;
	const char *name;
	int rc;

	rc = cfg_object(c, root, "profiles", 1, &ps);
	if (rc != 0)
		return rc;
	if (json_object_size(ps) == 0 || json_object_size(ps) > CONFIG_MAX_PROFILES) {
		cfg_push_key(c, "profiles");
		rc = cfg_fail(c, "must hold 1..%d profiles", CONFIG_MAX_PROFILES);
		cfg_pop(c);
		return rc;
	}
	json_object_foreach(ps, name, v)
	{
		rc = cfg_profile(c, name, v, &cfg->profiles[cfg->profile_count]);
		/* count it even half-filled so that config_free() releases it */
		cfg->profile_count++;
		if (rc != 0)
			return rc;
	}
	rc = cfg_string(c, root, "default_profile", cfg->profile_count > 1, 64,
	    &cfg->default_profile);
	if (rc != 0)
		return rc;
	if (cfg->default_profile == NULL)
		return cfg_strdup(c, cfg->profiles[0].name, &cfg->default_profile);
	if (config_profile(cfg, cfg->default_profile) == NULL) {
		cfg_push_key(c, "default_profile");
		rc = cfg_fail(c, "no profile named '%s'", cfg->default_profile);
		cfg_pop(c);
	}
	return rc;
}

struct cs_config *
config_load(const char *path, struct cs_err *err)
{
	static const char *const keys[] = {"comment", "state_dir", "ledger", "hsm", "ca",
		"issue_threads", "default_profile", "profiles", "line", "web", NULL};
	static const char *const ca_keys[] = {"comment", "certificate", "chain", NULL};
	struct cs_config *cfg = NULL;
	struct cfg_ctx c;
	json_error_t jerr;
	json_t *root = NULL, *ca;
	char *text = NULL, *dir = NULL;
	size_t len = 0;
	int64_t threads = 2;
	int rc;

	cs_err_clear(err);
	if (path == NULL) {
		cs_err_set(err, CS_ERR_INVALID_ARG, "no configuration file given");
		return NULL;
	}
	rc = cfg_read_file(path, &text, &len, err);
	if (rc != 0)
		goto out;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = cs_err_set(err, CS_ERR_CONFIG, "%s:%d:%d: %s", path, jerr.line, jerr.column,
		    jerr.text);
		goto out;
	}
	dir = cfg_dir_of(path);
	cfg = calloc(1, sizeof(*cfg));
	if (dir == NULL || cfg == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.file = path;
	c.text = text;
	c.len = len;
	c.dir = dir;
	c.err = err;
	if (!json_is_object(root)) {
		rc = cfg_fail(&c, "the configuration must be a JSON object");
		goto out;
	}
	rc = cfg_strdup(&c, path, &cfg->path);
	if (rc == 0)
		rc = cfg_check_keys(&c, root, keys);
	if (rc == 0)
		rc = cfg_comment(&c, root);
	if (rc == 0)
		rc = cfg_string(&c, root, "state_dir", 0, CFG_PATH_MAX, &cfg->state_dir);
	if (rc == 0 && cfg->state_dir == NULL)
		rc = cfg_strdup(&c, CFG_DEFAULT_STATE_DIR, &cfg->state_dir);
	if (rc == 0)
		rc = cfg_resolve(&c, &cfg->state_dir);
	if (rc == 0)
		rc = cfg_string(&c, root, "ledger", 0, CFG_PATH_MAX, &cfg->ledger_path);
	if (rc == 0 && cfg->ledger_path == NULL)
		rc = cfg_join(&c, cfg->state_dir, "ledger.sqlite", &cfg->ledger_path);
	if (rc == 0)
		rc = cfg_resolve(&c, &cfg->ledger_path);
	if (rc == 0)
		rc = cfg_hsm(&c, root, cfg);
	if (rc == 0)
		rc = cfg_object(&c, root, "ca", 1, &ca);
	if (rc != 0)
		goto out;
	cfg_push_key(&c, "ca");
	rc = cfg_check_keys(&c, ca, ca_keys);
	if (rc == 0)
		rc = cfg_comment(&c, ca);
	if (rc == 0)
		rc = cfg_string(&c, ca, "certificate", 1, CFG_PATH_MAX, &cfg->ca_certificate);
	if (rc == 0)
		rc = cfg_string(&c, ca, "chain", 0, CFG_PATH_MAX, &cfg->ca_chain);
	if (rc == 0)
		rc = cfg_resolve(&c, &cfg->ca_certificate);
	if (rc == 0)
		rc = cfg_resolve(&c, &cfg->ca_chain);
	cfg_pop(&c);
	if (rc != 0)
		goto out;
	rc = cfg_integer(&c, root, "issue_threads", 1, 64, "", &threads);
	if (rc != 0)
		goto out;
	cfg->issue_threads = (unsigned)threads;
	rc = cfg_profiles(&c, root, cfg);
	if (rc == 0)
		rc = cfg_line(&c, root, cfg);
	if (rc == 0)
		rc = cfg_web(&c, root, cfg);
out:
	json_decref(root);
	free(text);
	free(dir);
	if (rc != 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void
profile_release(struct profile *p)
{
	free(p->name);
	if (p->device_id_pattern != NULL)
		regfree(&p->device_id_re);
	free(p->device_id_pattern);
	for (size_t k = 0; k < CERT_MAX_RDN; k++)
		free(p->subject[k].tmpl);
	for (size_t k = 0; k < CERT_MAX_SAN; k++)
		free(p->san[k].tmpl);
	for (size_t k = 0; k < CERT_MAX_URLS; k++) {
		free(p->crl_urls[k]);
		free(p->ocsp_urls[k]);
		free(p->ca_issuers_urls[k]);
	}
	free(p->trust_bundle_file);
}

void
config_free(struct cs_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->ledger_path);
	free(cfg->hsm.module);
	free(cfg->hsm.uri);
	free(cfg->hsm.pin_env);
	for (size_t k = 0; k < CONFIG_MAX_ENV; k++) {
		free(cfg->hsm.env[k].name);
		free(cfg->hsm.env[k].value);
	}
	free(cfg->ca_certificate);
	free(cfg->ca_chain);
	free(cfg->default_profile);
	for (size_t k = 0; k < cfg->profile_count; k++)
		profile_release(&cfg->profiles[k]);
	cfg_line_free(cfg);
	cfg_web_free(cfg);
	free(cfg);
}

const struct profile *
config_profile(const struct cs_config *cfg, const char *name)
{
	if (cfg == NULL)
		return NULL;
	if (name == NULL)
		name = cfg->default_profile;
	if (name == NULL)
		return NULL;
	for (size_t k = 0; k < cfg->profile_count; k++)
		if (cfg->profiles[k].name != NULL && strcmp(cfg->profiles[k].name, name) == 0)
			return &cfg->profiles[k];
	return NULL;
}
