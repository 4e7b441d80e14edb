/*
 * config_web.c: the "web" section of the configuration: where the
 * dashboard listens, who may use it, and what it accepts.
 */
#include "station/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEB_DEFAULT_HOST "127.0.0.1"
#define WEB_DEFAULT_PORT 8080
#define WEB_DEFAULT_USERS "users.json"
#define WEB_DEFAULT_IDLE_MIN 480
#define WEB_DEFAULT_MAX_CONN 64

static int
cfg_web_defaults(struct cfg_ctx *c, struct web_config *w)
{
	int rc = 0;

	w->enabled = 1;
	w->port = WEB_DEFAULT_PORT;
	w->session_idle_minutes = WEB_DEFAULT_IDLE_MIN;
	w->max_connections = WEB_DEFAULT_MAX_CONN;
	if (w->host == NULL)
		rc = cfg_strdup(c, WEB_DEFAULT_HOST, &w->host);
	if (rc == 0 && w->users_path == NULL)
		rc = cfg_strdup(c, WEB_DEFAULT_USERS, &w->users_path);
	return rc;
}

/* Host and Origin allow lists that match the listen address when not given. */
static int
cfg_web_allow_defaults(struct cfg_ctx *c, struct web_config *w)
{
	char buf[300];
	const char *hosts[3];
	size_t n = 0;
	int rc = 0;

	if (w->allowed_host_count == 0) {
		if (strcmp(w->host, "127.0.0.1") == 0 || strcmp(w->host, "::1") == 0 ||
		    strcmp(w->host, "localhost") == 0) {
			hosts[n++] = "127.0.0.1";
			hosts[n++] = "localhost";
			hosts[n++] = "[::1]";
		} else {
			hosts[n++] = w->host;
		}
		for (size_t k = 0; k < n && rc == 0; k++) {
			snprintf(buf, sizeof(buf), "%s:%u", hosts[k], w->port);
			rc = cfg_strdup(c, buf, &w->allowed_hosts[w->allowed_host_count]);
			if (rc == 0)
				w->allowed_host_count++;
		}
	}
	if (rc == 0 && w->allowed_origin_count == 0) {
		const char *scheme = w->tls_certificate != NULL ? "https" : "http";

		for (size_t k = 0; k < w->allowed_host_count && rc == 0; k++) {
			snprintf(buf, sizeof(buf), "%s://%s", scheme, w->allowed_hosts[k]);
			rc = cfg_strdup(c, buf, &w->allowed_origins[w->allowed_origin_count]);
			if (rc == 0)
				w->allowed_origin_count++;
		}
	}
	return rc;
}

/* A Host value ("name[:port]") or, with origin set, an Origin value
 * ("http(s)://name[:port]"): exactly what browsers send, so a path, a
 * trailing slash or credentials (which would never match) are refused. */
static int
cfg_web_allow_ok(const char *v, int origin)
{
	if (origin) {
		if (strncmp(v, "http://", 7) == 0)
			v += 7;
		else if (strncmp(v, "https://", 8) == 0)
			v += 8;
		else
			return 0;
	} else if (strstr(v, "://") != NULL) {
		return 0;
	}
	return v[0] != '\0' && strpbrk(v, "/?#@ \t\\") == NULL;
}

static int
cfg_web_list(struct cfg_ctx *c, json_t *obj, const char *key, int origin, char **out,
    size_t *count)
{
	json_t *arr, *v;
	size_t k;
	int rc;

	rc = cfg_array(c, obj, key, WEB_ALLOW_MAX, &arr);
	if (rc != 0 || arr == NULL)
		return rc;
	json_array_foreach(arr, k, v)
	{
		cfg_push_index(c, k);
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 255 ||
		    cfg_has_control(json_string_value(v)))
			rc = cfg_fail(c, "must be a non-empty string of at most 255 printable characters");
		else if (!cfg_web_allow_ok(json_string_value(v), origin))
			rc = cfg_fail(c, origin
			    ? "'%s' is not an origin: write it as browsers send it, "
			      "\"http://NAME:PORT\" or \"https://NAME:PORT\", without a path"
			    : "'%s' is not a Host value: write it as browsers send it, "
			      "\"NAME:PORT\", without scheme or path",
			    json_string_value(v));
		else
			rc = cfg_strdup(c, json_string_value(v), &out[*count]);
		if (rc == 0)
			(*count)++;
		cfg_pop(c);
		if (rc != 0)
			break;
	}
	cfg_pop(c);
	return rc;
}

int
cfg_web(struct cfg_ctx *c, json_t *root, struct cs_config *cfg)
{
	static const char *const keys[] = {"comment", "enabled", "host", "port", "users", "tls",
		"allowed_hosts", "allowed_origins", "session_idle_minutes", "max_connections",
		"metrics_token_file", NULL};
	static const char *const tls_keys[] = {"comment", "certificate", "key", NULL};
	struct web_config *w = &cfg->web;
	json_t *web, *tls;
	int64_t v;
	int rc;

	rc = cfg_web_defaults(c, w);
	if (rc != 0)
		return rc;
	rc = cfg_object(c, root, "web", 0, &web);
	if (rc == 0 && web != NULL) {
		cfg_push_key(c, "web");
		rc = cfg_check_keys(c, web, keys);
		if (rc == 0)
			rc = cfg_comment(c, web);
		if (rc == 0)
			rc = cfg_bool(c, web, "enabled", &w->enabled);
		if (rc == 0)
			rc = cfg_string(c, web, "host", 0, 255, &w->host);
		v = w->port;
		if (rc == 0)
			rc = cfg_integer(c, web, "port", 1, 65535, "", &v);
		w->port = (unsigned)v;
		if (rc == 0)
			rc = cfg_string(c, web, "users", 0, CFG_PATH_MAX, &w->users_path);
		v = w->session_idle_minutes;
		if (rc == 0)
			rc = cfg_integer(c, web, "session_idle_minutes", 1, 7 * 24 * 60, "", &v);
		w->session_idle_minutes = (unsigned)v;
		v = w->max_connections;
		if (rc == 0)
			rc = cfg_integer(c, web, "max_connections", 4, 1024, "", &v);
		w->max_connections = (unsigned)v;
		if (rc == 0)
			rc = cfg_string(c, web, "metrics_token_file", 0, CFG_PATH_MAX,
			    &w->metrics_token_file);
		if (rc == 0 && w->metrics_token_file != NULL)
			rc = cfg_resolve(c, &w->metrics_token_file);
		if (rc == 0)
			rc = cfg_object(c, web, "tls", 0, &tls);
		if (rc == 0 && tls != NULL) {
			cfg_push_key(c, "tls");
			rc = cfg_check_keys(c, tls, tls_keys);
			if (rc == 0)
				rc = cfg_string(c, tls, "certificate", 1, CFG_PATH_MAX, &w->tls_certificate);
			if (rc == 0)
				rc = cfg_string(c, tls, "key", 1, CFG_PATH_MAX, &w->tls_key);
			if (rc == 0)
				rc = cfg_resolve(c, &w->tls_certificate);
			if (rc == 0)
				rc = cfg_resolve(c, &w->tls_key);
			cfg_pop(c);
		}
		if (rc == 0)
			rc = cfg_web_list(c, web, "allowed_hosts", 0, w->allowed_hosts,
			    &w->allowed_host_count);
		if (rc == 0)
			rc = cfg_web_list(c, web, "allowed_origins", 1, w->allowed_origins,
			    &w->allowed_origin_count);
		/* on a wildcard address the default list would name no host a
		 * browser uses: every request would be refused */
		if (rc == 0 && w->allowed_host_count == 0 &&
		    (strcmp(w->host, "0.0.0.0") == 0 || strcmp(w->host, "::") == 0 ||
			w->host[0] == '\0')) {
			cfg_push_key(c, "host");
			rc = cfg_fail(c, "listening on '%s' needs \"allowed_hosts\": the names and "
			    "addresses browsers use to reach this PC, as \"NAME:PORT\"", w->host);
			cfg_pop(c);
		}
		cfg_pop(c);
	}
	if (rc == 0)
		rc = cfg_resolve(c, &w->users_path);
	if (rc == 0)
		rc = cfg_web_allow_defaults(c, w);
	return rc;
}

void
cfg_web_free(struct cs_config *cfg)
{
	struct web_config *w = &cfg->web;

	free(w->host);
	free(w->users_path);
	free(w->tls_certificate);
	free(w->tls_key);
	free(w->metrics_token_file);
	for (size_t k = 0; k < w->allowed_host_count; k++)
		free(w->allowed_hosts[k]);
	for (size_t k = 0; k < w->allowed_origin_count; k++)
		free(w->allowed_origins[k]);
	memset(w, 0, sizeof(*w));
}
