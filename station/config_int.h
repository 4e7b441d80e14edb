/*
 * config_int.h: the JSON readers config.c is built from, shared with the
 * other config_*.c files (private to station/config*).
 *
 * Every reader reports through cfg_fail(): "FILE:LINE:COLUMN: key 'PATH':
 * message", with PATH the keys pushed so far.
 */
#ifndef STATION_CONFIG_INT_H
#define STATION_CONFIG_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "station/config.h"
#include "station/json_locate.h"

#define CFG_PATH_MAX 4096
#define CFG_URL_MAX 1024
#define CFG_PATTERN_MAX 512
#define CFG_MAX_DAYS 36500
#define CFG_MAX_BACKDATE 86400
#define CFG_DEPTH_MAX 16

struct cfg_ctx {
	const char *file;
	const char *text;
	size_t len;
	const char *dir; /* absolute directory of the file */
	struct cs_err *err;
	struct json_locate_step path[CFG_DEPTH_MAX];
	size_t depth;
};


void cfg_push_key(struct cfg_ctx *c, const char *key);
void cfg_push_index(struct cfg_ctx *c, size_t index);
void cfg_pop(struct cfg_ctx *c);
int cfg_fail(struct cfg_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cfg_check_keys(struct cfg_ctx *c, json_t *obj, const char *const *allowed);
int cfg_strdup(struct cfg_ctx *c, const char *s, char **out);
int cfg_has_control(const char *s); /* a byte < 0x20 or 0x7f */
/* A string member; absent: *out untouched (0) unless required. */
int cfg_string(struct cfg_ctx *c, json_t *obj, const char *key, int required, size_t max,
    char **out);
/* absent: *out untouched */
int cfg_integer(struct cfg_ctx *c, json_t *obj, const char *key, json_int_t min, json_int_t max,
    const char *why, int64_t *out);
int cfg_bool(struct cfg_ctx *c, json_t *obj, const char *key, int *out);
/* One of names[] (NULL-terminated); *out gets its index; absent: untouched. */
int cfg_enum(struct cfg_ctx *c, json_t *obj, const char *key, const char *const *names, int *out);
int cfg_object(struct cfg_ctx *c, json_t *obj, const char *key, int required, json_t **out);
/* 1..max entries; on success with an array the key stays pushed: the caller pops. */
int cfg_array(struct cfg_ctx *c, json_t *obj, const char *key, size_t max, json_t **out);
int cfg_comment(struct cfg_ctx *c, json_t *obj);
int cfg_join(struct cfg_ctx *c, const char *dir, const char *rel, char **out);
/* Make *p absolute against the file's directory. */
int cfg_resolve(struct cfg_ctx *c, char **p);
/* A configuration file (at most CONFIG_MAX_BYTES) via cs_file_read(): 0 and
 * a malloc'ed *buf, or CS_ERR_IO (cannot open or read), CS_ERR_CONFIG (not
 * a regular file, too large), CS_ERR_NOMEM with err and *buf NULL. */
int cfg_read_file(const char *path, char **buf, size_t *len, struct cs_err *err);
char *cfg_dir_of(const char *path);

/* config_line.c: the "line" section (fixture slots, timeouts). */
int cfg_line(struct cfg_ctx *c, json_t *root, struct cs_config *cfg);
void cfg_line_free(struct cs_config *cfg);

/* config_web.c: the "web" section (dashboard server). */
int cfg_web(struct cfg_ctx *c, json_t *root, struct cs_config *cfg);
void cfg_web_free(struct cs_config *cfg);

#endif
