/*
 * config_line.c: the "line" section of the configuration: fixture slots,
 * their match rules and line settings, and the exchange's timeouts.
 *
 * Slots come from "line.slots" and/or a separate fixture-map file
 * ("line.fixture_map", e.g. written by `certstation sim --fixture-map`), so a
 * test engineer can regenerate the map without touching the station's
 * configuration. Errors in the map file name that file, line and column.
 */
#include "station/config_int.h"

#include <stdlib.h>
#include <string.h>

#define LINE_DEFAULT_SCAN_MS 500
#define LINE_DEFAULT_CSR_MS 30000
#define LINE_DEFAULT_READBACK_MS 10000
#define LINE_DEFAULT_EXCHANGE_MS 60000
#define LINE_DEFAULT_ACK_MS 300
#define LINE_DEFAULT_RETRIES 5
#define LINE_DEFAULT_GAP_MS 0

static int
cfg_slot_name_ok(const char *s)
{
	if (s[0] == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			ch == '-' || ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

static int
cfg_slot_match(struct cfg_ctx *c, json_t *slot, struct slot_config *s)
{
	static const char *const keys[] = {"usb_serial", "usb_location", "path", "tcp", NULL};
	static const enum fixture_match_kind kinds[] = {FIXTURE_MATCH_USB_SERIAL,
		FIXTURE_MATCH_USB_LOCATION, FIXTURE_MATCH_PATH, FIXTURE_MATCH_TCP};
	json_t *m;
	char *value = NULL;
	int rc, found = -1;

	rc = cfg_object(c, slot, "match", 1, &m);
	if (rc != 0)
		return rc;
	cfg_push_key(c, "match");
	rc = cfg_check_keys(c, m, keys);
	if (rc == 0 && json_object_size(m) != 1)
		rc = cfg_fail(c, "must hold exactly one rule: usb_serial, usb_location, path or tcp");
	for (int k = 0; rc == 0 && keys[k] != NULL; k++) {
		if (json_object_get(m, keys[k]) == NULL)
			continue;
		rc = cfg_string(c, m, keys[k], 1, sizeof(s->match.value) - 1, &value);
		found = k;
	}
	if (rc == 0 && found == FIXTURE_MATCH_PATH - 1 && value[0] != '/') {
		/* a relative path is relative to the file, like every other path */
		rc = cfg_resolve(c, &value);
		if (rc == 0 && strlen(value) >= sizeof(s->match.value)) {
			cfg_push_key(c, "path");
			rc = cfg_fail(c, "path is too long once resolved (%zu bytes)", strlen(value));
			cfg_pop(c);
		}
	}
	if (rc == 0 && found >= 0) {
		struct cs_err why = {0};

		s->match.kind = kinds[found];
		strcpy(s->match.value, value);
		if (fixture_match_check(&s->match, &why) != 0) {
			cfg_push_key(c, keys[found]);
			rc = cfg_fail(c, "%s", why.msg);
			cfg_pop(c);
		}
	}
	cfg_pop(c);
	free(value);
	return rc;
}

static int
cfg_slot(struct cfg_ctx *c, json_t *obj, const struct cs_config *cfg, struct slot_config *s)
{
	static const char *const keys[] = {"comment", "name", "match", "dialect", "baud",
		"data_bits", "parity", "stop_bits", "flow", "profile", "max_frame", NULL};
	static const char *const dialects[] = {"frame", "text", NULL};
	static const char *const parities[] = {"none", "odd", "even", NULL};
	static const char *const flows[] = {"none", "rtscts", "xonxoff", NULL};
	int64_t v;
	int e, rc;

	port_settings_default(&s->line);
	s->dialect = PROTO_DIALECT_FRAME;
	s->max_frame = PROTO_FRAME_DEFAULT;
	if (!json_is_object(obj))
		return cfg_fail(c, "a slot must be an object");
	rc = cfg_check_keys(c, obj, keys);
	if (rc == 0)
		rc = cfg_comment(c, obj);
	if (rc == 0)
		rc = cfg_string(c, obj, "name", 1, 64, &s->name);
	if (rc == 0 && !cfg_slot_name_ok(s->name)) {
		cfg_push_key(c, "name");
		rc = cfg_fail(c, "'%s': use letters, digits, '-', '_' and '.' only", s->name);
		cfg_pop(c);
	}
	if (rc == 0)
		rc = cfg_slot_match(c, obj, s);
	e = 0;
	if (rc == 0)
		rc = cfg_enum(c, obj, "dialect", dialects, &e);
	s->dialect = e == 0 ? PROTO_DIALECT_FRAME : PROTO_DIALECT_TEXT;
	v = s->line.baud;
	if (rc == 0)
		rc = cfg_integer(c, obj, "baud", 1200, 4000000, "", &v);
	s->line.baud = (unsigned)v;
	v = s->line.data_bits;
	if (rc == 0)
		rc = cfg_integer(c, obj, "data_bits", 5, 8, "", &v);
	s->line.data_bits = (unsigned)v;
	v = s->line.stop_bits;
	if (rc == 0)
		rc = cfg_integer(c, obj, "stop_bits", 1, 2, "", &v);
	s->line.stop_bits = (unsigned)v;
	e = 0;
	if (rc == 0)
		rc = cfg_enum(c, obj, "parity", parities, &e);
	s->line.parity = e == 1 ? PORT_PARITY_ODD : e == 2 ? PORT_PARITY_EVEN : PORT_PARITY_NONE;
	e = 0;
	if (rc == 0)
		rc = cfg_enum(c, obj, "flow", flows, &e);
	s->line.flow = e == 1 ? PORT_FLOW_RTSCTS : e == 2 ? PORT_FLOW_XONXOFF : PORT_FLOW_NONE;
	v = s->max_frame;
	if (rc == 0)
		rc = cfg_integer(c, obj, "max_frame", PROTO_FRAME_MIN, PROTO_FRAME_MAX,
		    " (bytes of one frame before COBS)", &v);
	s->max_frame = (unsigned)v;
	if (rc == 0)
		rc = cfg_string(c, obj, "profile", 0, 64, &s->profile);
	if (rc == 0 && s->profile != NULL && config_profile(cfg, s->profile) == NULL) {
		cfg_push_key(c, "profile");
		rc = cfg_fail(c, "no profile named '%s'", s->profile);
		cfg_pop(c);
	}
	return rc;
}

/* Append the slots of arr (already pushed as the current key). */
static int
cfg_slots(struct cfg_ctx *c, json_t *arr, struct cs_config *cfg)
{
	struct line_config *line = &cfg->line;
	size_t n = json_array_size(arr), k;
	struct slot_config *grown;
	json_t *v;
	int rc = 0;

	if (line->slot_count + n > CONFIG_MAX_SLOTS)
		return cfg_fail(c, "a station drives at most %d slots", CONFIG_MAX_SLOTS);
	grown = realloc(line->slots, (line->slot_count + n) * sizeof(*grown));
	if (grown == NULL)
		return cs_err_set(c->err, CS_ERR_NOMEM, "%s: out of memory", c->file);
	line->slots = grown;
	json_array_foreach(arr, k, v)
	{
		struct slot_config *s = &line->slots[line->slot_count];

		memset(s, 0, sizeof(*s));
		line->slot_count++; /* counted even half-filled so that it is freed */
		cfg_push_index(c, k);
		rc = cfg_slot(c, v, cfg, s);
		for (size_t j = 0; rc == 0 && j + 1 < line->slot_count; j++) {
			if (strcmp(line->slots[j].name, s->name) == 0)
				rc = cfg_fail(c, "slot name '%s' is used twice", s->name);
			else if (line->slots[j].match.kind == s->match.kind &&
			    strcmp(line->slots[j].match.value, s->match.value) == 0)
				rc = cfg_fail(c, "slots '%s' and '%s' have the same match rule",
				    line->slots[j].name, s->name);
		}
		cfg_pop(c);
		if (rc != 0)
			break;
	}
	return rc;
}

/* The fixture-map file: {"slots": [...]} (plus "comment"). */
static int
cfg_fixture_map(struct cfg_ctx *parent, const char *path, struct cs_config *cfg)
{
	static const char *const keys[] = {"comment", "slots", NULL};
	struct cfg_ctx c;
	json_error_t jerr;
	json_t *root = NULL, *arr;
	char *text = NULL, *dir = NULL;
	size_t len = 0;
	int rc;

	rc = cfg_read_file(path, &text, &len, parent->err);
	if (rc != 0) {
		/* point at the key that names the file, with the reason */
		char why[CS_ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", parent->err->msg);
		cfg_push_key(parent, "fixture_map");
		rc = cfg_fail(parent, "%s", why);
		cfg_pop(parent);
		return rc;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = cs_err_set(parent->err, CS_ERR_CONFIG, "%s:%d:%d: %s", path, jerr.line,
		    jerr.column, jerr.text);
		goto out;
	}
	dir = cfg_dir_of(path);
	if (dir == NULL) {
		rc = cs_err_set(parent->err, CS_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.file = path;
	c.text = text;
	c.len = len;
	c.dir = dir;
	c.err = parent->err;
	if (!json_is_object(root)) {
		rc = cfg_fail(&c, "a fixture map must be a JSON object with \"slots\"");
		goto out;
	}
	rc = cfg_check_keys(&c, root, keys);
	if (rc == 0)
		rc = cfg_array(&c, root, "slots", CONFIG_MAX_SLOTS, &arr);
	if (rc == 0 && arr == NULL)
		rc = cfg_fail(&c, "key 'slots' is missing");
	if (rc == 0) {
		rc = cfg_slots(&c, arr, cfg);
		cfg_pop(&c);
	}
out:
	json_decref(root);
	free(text);
	free(dir);
	return rc;
}

static int
cfg_timeouts(struct cfg_ctx *c, json_t *line, struct line_config *l)
{
	static const char *const keys[] = {"comment", "csr_ms", "readback_ms", "exchange_ms",
		"ack_ms", "retries", "gap_ms", NULL};
	json_t *t;
	int64_t v;
	int rc;

	rc = cfg_object(c, line, "timeouts", 0, &t);
	if (rc != 0 || t == NULL)
		return rc;
	cfg_push_key(c, "timeouts");
	rc = cfg_check_keys(c, t, keys);
	if (rc == 0)
		rc = cfg_comment(c, t);
#define CFG_MS(key, field, lo, hi)                                       \
	do {                                                             \
		v = l->field;                                            \
		if (rc == 0)                                             \
			rc = cfg_integer(c, t, key, lo, hi, " (ms)", &v); \
		l->field = (unsigned)v;                                  \
	} while (0)
	CFG_MS("csr_ms", csr_timeout_ms, 100, 600000);
	CFG_MS("readback_ms", readback_timeout_ms, 100, 600000);
	CFG_MS("exchange_ms", exchange_timeout_ms, 1000, 3600000);
	CFG_MS("ack_ms", ack_timeout_ms, 20, 60000);
	CFG_MS("gap_ms", gap_ms, 0, 60000);
#undef CFG_MS
	v = l->retries;
	if (rc == 0)
		rc = cfg_integer(c, t, "retries", 0, 50, "", &v);
	l->retries = (unsigned)v;
	cfg_pop(c);
	return rc;
}

int
cfg_line(struct cfg_ctx *c, json_t *root, struct cs_config *cfg)
{
	static const char *const keys[] = {"comment", "fixture_map", "slots", "scan_interval_ms",
		"timeouts", NULL};
	struct line_config *l = &cfg->line;
	json_t *line, *arr;
	char *map = NULL;
	int64_t v;
	int rc;

	l->scan_interval_ms = LINE_DEFAULT_SCAN_MS;
	l->csr_timeout_ms = LINE_DEFAULT_CSR_MS;
	l->readback_timeout_ms = LINE_DEFAULT_READBACK_MS;
	l->exchange_timeout_ms = LINE_DEFAULT_EXCHANGE_MS;
	l->ack_timeout_ms = LINE_DEFAULT_ACK_MS;
	l->retries = LINE_DEFAULT_RETRIES;
	l->gap_ms = LINE_DEFAULT_GAP_MS;
	rc = cfg_object(c, root, "line", 0, &line);
	if (rc != 0 || line == NULL)
		return rc;
	cfg_push_key(c, "line");
	rc = cfg_check_keys(c, line, keys);
	if (rc == 0)
		rc = cfg_comment(c, line);
	v = l->scan_interval_ms;
	if (rc == 0)
		rc = cfg_integer(c, line, "scan_interval_ms", 50, 2000,
		    " (a port that comes or goes must be noticed within 2 s)", &v);
	l->scan_interval_ms = (unsigned)v;
	if (rc == 0)
		rc = cfg_timeouts(c, line, l);
	if (rc == 0)
		rc = cfg_array(c, line, "slots", CONFIG_MAX_SLOTS, &arr);
	if (rc == 0 && arr != NULL) {
		rc = cfg_slots(c, arr, cfg);
		cfg_pop(c);
	}
	if (rc == 0)
		rc = cfg_string(c, line, "fixture_map", 0, CFG_PATH_MAX, &map);
	if (rc == 0 && map != NULL)
		rc = cfg_resolve(c, &map);
	if (rc == 0 && map != NULL)
		rc = cfg_fixture_map(c, map, cfg);
	free(map);
	cfg_pop(c);
	return rc;
}

void
cfg_line_free(struct cs_config *cfg)
{
	for (size_t k = 0; k < cfg->line.slot_count; k++) {
		free(cfg->line.slots[k].name);
		free(cfg->line.slots[k].profile);
	}
	free(cfg->line.slots);
	cfg->line.slots = NULL;
	cfg->line.slot_count = 0;
}
