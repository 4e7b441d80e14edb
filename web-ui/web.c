/*
 * web.c: the dashboard's HTTP server: libmicrohttpd daemon, request
 * pipeline and routes (contract in web.h; API in web-ui/API.md).
 *
 * DESIGN: one thread per connection (MHD_USE_THREAD_PER_CONNECTION with an
 * internal poll thread for the listener). An event stream is then just a
 * response whose content callback blocks on the event bus for up to a
 * second at a time; no suspend/resume bookkeeping. A line PC has a few
 * browsers, and max_connections caps the threads.
 *
 * Every request passes the same checks, in this order, on libmicrohttpd's
 * first call (headers known, body not yet read), so a refused request's
 * body is never read or parsed: Host allow list (DNS rebinding), request
 * target caps and syntax, route, method, declared body size, then for
 * POST the Origin allow list and Content-Type, the session, the CSRF token
 * bound to it, and the route's role. The body (at most WEB_BODY_MAX bytes)
 * is collected next and, for JSON, pre-scanned for depth and size before
 * Jansson parses it. Every refusal is a 4xx with a JSON body naming it.
 */
#include "station/clock.h"
#include "web-ui/web_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "station/file_read.h"
#include "web-ui/assets.h"

static const char web_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'";

static enum MHD_Result web_h_static(struct web_call *c);

#define R0(m, acc, fn) {m, {NULL}, 0, acc, fn}
#define R1(m, a, acc, fn) {m, {a}, 1, acc, fn}
#define R3(m, a, b, c3, acc, fn) {m, {a, b, c3}, 3, acc, fn}
#define R4(m, a, b, c3, d, acc, fn) {m, {a, b, c3, d}, 4, acc, fn}
#define R5(m, a, b, c3, d, e, acc, fn) {m, {a, b, c3, d, e}, 5, acc, fn}
#define R6(m, a, b, c3, d, e, f, acc, fn) {m, {a, b, c3, d, e, f}, 6, acc, fn}

static const struct web_route web_routes[] = {
	R3("POST", "api", "v1", "login", WEB_ACCESS_LOGIN, web_h_login),
	R3("POST", "api", "v1", "logout", WEB_ACCESS_READ, web_h_logout),
	R3("GET", "api", "v1", "session", WEB_ACCESS_READ, web_h_session),
	R3("GET", "api", "v1", "status", WEB_ACCESS_READ, web_h_status),
	R3("GET", "api", "v1", "fixtures", WEB_ACCESS_READ, web_h_fixtures),
	R4("GET", "api", "v1", "fixtures", "*", WEB_ACCESS_READ, web_h_fixture),
	R5("POST", "api", "v1", "fixtures", "*", "pause", WEB_ACCESS_OPERATOR, web_h_fixture_pause),
	R5("POST", "api", "v1", "fixtures", "*", "resume", WEB_ACCESS_OPERATOR, web_h_fixture_resume),
	R4("POST", "api", "v1", "line", "pause", WEB_ACCESS_OPERATOR, web_h_line_pause),
	R4("POST", "api", "v1", "line", "resume", WEB_ACCESS_OPERATOR, web_h_line_resume),
	R3("GET", "api", "v1", "issuances", WEB_ACCESS_READ, web_h_issuances),
	R4("GET", "api", "v1", "issuances", "*", WEB_ACCESS_READ, web_h_issuance),
	R5("GET", "api", "v1", "issuances", "*", "pem", WEB_ACCESS_READ, web_h_issuance_pem),
	R3("GET", "api", "v1", "throughput", WEB_ACCESS_READ, web_h_throughput),
	R3("GET", "api", "v1", "failures", WEB_ACCESS_READ, web_h_failures),
	R3("GET", "api", "v1", "events", WEB_ACCESS_READ, web_h_events),
	R3("POST", "api", "v1", "export", WEB_ACCESS_SUPERVISOR, web_h_export),
	R3("POST", "api", "v1", "shift", WEB_ACCESS_SUPERVISOR, web_h_shift),
	R1("GET", "metrics", WEB_ACCESS_METRICS, web_h_metrics),
};
#define WEB_ROUTE_COUNT (sizeof(web_routes) / sizeof(web_routes[0]))

static const struct web_route web_static_route = R0("GET", WEB_ACCESS_PUBLIC, web_h_static);

int64_t
web_now_us(void)
{
	return cs_real_us();
}

/* ---- replies ---- */

enum MHD_Result
web_reply(struct web_call *c, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result res;

	if (r == NULL) {
		c->res = MHD_NO;
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Security-Policy", web_csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
	MHD_add_response_header(r, "Cache-Control", c->is_static ? "no-cache" : "no-store");
	if (c->w->tls)
		MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
	if (c->req != NULL)
		c->req->phase = 2;
	res = MHD_queue_response(c->conn, status, r);
	MHD_destroy_response(r);
	c->res = res;
	return res;
}

enum MHD_Result
web_reply_json(struct web_call *c, unsigned status, json_t *j)
{
	struct MHD_Response *r;
	char *text;

	if (j == NULL)
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "the station ran out of memory building the answer");
	text = json_dumps(j, WEB_JSON_FLAGS);
	json_decref(j);
	if (text == NULL)
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "the station could not encode the answer as JSON");
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	return web_reply(c, status, r);
}

struct MHD_Response *
web_error_response(const char *code, const char *fmt, ...)
{
	char msg[CS_ERR_MSG_MAX + 64];
	struct MHD_Response *r;
	json_t *j;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", web_json_text(msg));
	text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL)
		return NULL;
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return NULL;
	}
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	return r;
}

enum MHD_Result
web_reply_error(struct web_call *c, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[CS_ERR_MSG_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return web_reply(c, status, web_error_response(code, "%s", msg));
}

const char *
web_query_unknown(const struct web_call *c, const char *const *allowed)
{
	const struct web_target *t = &c->req->target;

	for (size_t k = 0; k < t->pair_count; k++) {
		size_t a;

		for (a = 0; allowed[a] != NULL; a++)
			if (strcmp(allowed[a], t->key[k]) == 0)
				break;
		if (allowed[a] == NULL)
			return t->key[k];
	}
	return NULL;
}

const char *
web_path_arg(const struct web_call *c, size_t k)
{
	for (size_t i = 0; c->route != NULL && i < c->route->seg_count; i++)
		if (strcmp(c->route->seg[i], "*") == 0 && k-- == 0)
			return c->req->target.seg[i];
	return "";
}

/* ---- the page ---- */

static enum MHD_Result
web_h_static(struct web_call *c)
{
	const struct web_target *t = &c->req->target;
	char path[WEB_URI_MAX + 1];
	size_t o = 0;

	path[0] = '/';
	path[1] = '\0';
	for (size_t i = 0; i < t->seg_count; i++)
		o += (size_t)snprintf(path + o, sizeof(path) - o, "/%s", t->seg[i]);
	for (size_t k = 0; k < web_asset_count; k++) {
		struct MHD_Response *r;

		if (strcmp(web_assets[k].path, path) != 0)
			continue;
		r = MHD_create_response_from_buffer(web_assets[k].len, (void *)(uintptr_t)web_assets[k].data,
		    MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		MHD_add_response_header(r, "Content-Type", web_assets[k].content_type);
		return web_reply(c, MHD_HTTP_OK, r);
	}
	c->is_static = 0;
	return web_reply_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no page or asset at %s", path);
}

/* ---- request pipeline ---- */

static void
remote_text(struct MHD_Connection *conn, char *out, size_t cap, int *loopback)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	snprintf(out, cap, "?");
	*loopback = 0;
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap);
		*loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		const uint8_t *b = in6->sin6_addr.s6_addr;

		inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)cap);
		*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
			    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127);
	}
}

/* The route for the target and method; 404/405 replied when none. */
static const struct web_route *
route_find(struct web_call *c, const char *method, enum MHD_Result *res)
{
	const struct web_target *t = &c->req->target;
	char allow[32] = "";
	int path_known = 0;
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	if (t->seg_count == 0 || strcmp(t->seg[0], "assets") == 0) {
		if (get) {
			c->is_static = 1;
			return &web_static_route;
		}
		*res = web_reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed",
		    "%s is not allowed here; use GET", method);
		return NULL;
	}
	for (size_t k = 0; k < WEB_ROUTE_COUNT; k++) {
		const struct web_route *r = &web_routes[k];
		size_t i;

		if (r->seg_count != t->seg_count)
			continue;
		for (i = 0; i < r->seg_count; i++)
			if (strcmp(r->seg[i], "*") != 0 && strcmp(r->seg[i], t->seg[i]) != 0)
				break;
		if (i < r->seg_count)
			continue;
		if (strcmp(r->method, method) == 0 || (get && strcmp(r->method, "GET") == 0))
			return r;
		path_known = 1;
		if (strstr(allow, r->method) == NULL)
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
			    allow[0] != '\0' ? ", " : "", r->method);
	}
	if (path_known) {
		struct MHD_Response *r = web_error_response("method-not-allowed",
		    "%s is not allowed here; use %s", method, allow);

		if (r == NULL) {
			*res = MHD_NO;
			return NULL;
		}
		MHD_add_response_header(r, "Allow", allow);
		*res = web_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		return NULL;
	}
	*res = web_reply_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no such endpoint");
	return NULL;
}

static const char *
header(struct web_call *c, const char *name)
{
	return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name);
}

/* Everything decided from the request line and headers. MHD_YES without a
 * reply: go on reading the body. */
static enum MHD_Result
precheck(struct web_call *c, const char *method)
{
	web *w = c->w;
	struct web_req *req = c->req;
	const char *host, *origin, *len_hdr, *cookie_hdr, *ctype;
	enum MHD_Result res = MHD_YES;
	struct cs_err err;
	int loopback, post;

	remote_text(c->conn, c->remote, sizeof(c->remote), &loopback);
	if (req->uri_too_long)
		return web_reply_error(c, MHD_HTTP_URI_TOO_LONG, "uri-too-long",
		    "the request target is longer than %d bytes", WEB_URI_MAX);
	host = header(c, "Host");
	if (host == NULL || !web_allow_match(w->cfg->allowed_hosts, w->cfg->allowed_host_count, host))
		return web_reply_error(c, MHD_HTTP_MISDIRECTED_REQUEST, "host-not-allowed",
		    "Host '%.100s' is not one this station answers to (web.allowed_hosts)",
		    host != NULL ? host : "");
	if (web_target_parse(req->uri, req->uri_len, &req->target, &err) != 0)
		return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "bad-request", "%s", err.msg);
	c->route = route_find(c, method, &res);
	if (c->route == NULL)
		return res;
	c->head = strcmp(method, "HEAD") == 0;
	post = strcmp(c->route->method, "POST") == 0;

	len_hdr = header(c, "Content-Length");
	if (len_hdr != NULL) {
		uint64_t n;

		if (web_uint_parse(len_hdr, UINT64_MAX, &n) != 0)
			return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "bad-request",
			    "Content-Length is not a number");
		if (n > WEB_BODY_MAX)
			return web_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large",
			    "the request body is %llu bytes; the limit is %d", (unsigned long long)n,
			    WEB_BODY_MAX);
	}

	if (post) {
		origin = header(c, "Origin");
		if (origin == NULL)
			return web_reply_error(c, MHD_HTTP_FORBIDDEN, "origin-missing",
			    "POST needs an Origin header");
		if (!web_allow_match(w->cfg->allowed_origins, w->cfg->allowed_origin_count, origin))
			return web_reply_error(c, MHD_HTTP_FORBIDDEN, "origin-not-allowed",
			    "Origin '%.100s' may not make changes here (web.allowed_origins)", origin);
		ctype = header(c, "Content-Type");
		if ((len_hdr == NULL || strcmp(len_hdr, "0") != 0) && ctype != NULL &&
		    strncasecmp(ctype, "application/json", 16) != 0)
			return web_reply_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
			    "unsupported-media-type", "the body must be application/json, not '%.60s'",
			    ctype);
		if (len_hdr != NULL && strcmp(len_hdr, "0") != 0 && ctype == NULL)
			return web_reply_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
			    "unsupported-media-type", "a body needs Content-Type: application/json");
	}

	cookie_hdr = header(c, "Cookie");
	if (cookie_hdr != NULL &&
	    web_cookie_find(cookie_hdr, strlen(cookie_hdr), WEB_COOKIE_NAME, c->cookie,
		sizeof(c->cookie)) == 0 &&
	    web_session_lookup(w->sessions, c->cookie, web_now_us(), 1, &c->sess) == 0)
		c->have_session = 1;

	switch (c->route->access) {
	case WEB_ACCESS_PUBLIC:
	case WEB_ACCESS_LOGIN:
		return MHD_YES;
	case WEB_ACCESS_METRICS:
		if (c->have_session)
			return MHD_YES;
		if (w->metrics_token != NULL) {
			/* a token is configured: every scraper shows it, local
			 * ones too (a shared PC has other local users) */
			const char *auth = header(c, "Authorization");

			if (auth != NULL && web_bearer_match(auth, strlen(auth), w->metrics_token))
				return MHD_YES;
			return web_reply_error(c, MHD_HTTP_UNAUTHORIZED, "metrics-token",
			    "/metrics needs \"Authorization: Bearer\" with the token in "
			    "web.metrics_token_file%s",
			    auth != NULL ? " (the one given does not match)" : "");
		}
		if (loopback)
			return MHD_YES;
		return web_reply_error(c, MHD_HTTP_FORBIDDEN, "metrics-forbidden",
		    "/metrics answers loopback clients and logged-in users only (set "
		    "web.metrics_token_file to let a remote Prometheus in)");
	case WEB_ACCESS_READ:
	case WEB_ACCESS_OPERATOR:
	case WEB_ACCESS_SUPERVISOR:
		break;
	}
	if (!c->have_session)
		return web_reply_error(c, MHD_HTTP_UNAUTHORIZED, "unauthenticated",
		    "log in first (no session, or it timed out)");
	if (post) {
		const char *tok = header(c, "X-CSRF-Token");

		if (tok == NULL || tok[0] == '\0')
			return web_reply_error(c, MHD_HTTP_FORBIDDEN, "csrf-missing",
			    "POST needs the X-CSRF-Token header from /api/v1/login or /api/v1/session");
		if (!web_session_csrf_ok(&c->sess, tok))
			return web_reply_error(c, MHD_HTTP_FORBIDDEN, "csrf-mismatch",
			    "X-CSRF-Token is not this session's token");
	}
	if ((c->route->access == WEB_ACCESS_OPERATOR && c->sess.role < USER_ROLE_OPERATOR) ||
	    (c->route->access == WEB_ACCESS_SUPERVISOR && c->sess.role < USER_ROLE_SUPERVISOR))
		return web_reply_error(c, MHD_HTTP_FORBIDDEN, "forbidden-role",
		    "role '%s' may not do this; it needs '%s'", user_role_name(c->sess.role),
		    c->route->access == WEB_ACCESS_SUPERVISOR ? "supervisor" : "operator");
	return MHD_YES;
}

/* Parse the collected body of a POST into c->body. MHD_YES without a reply
 * when fine. */
static enum MHD_Result
body_parse(struct web_call *c)
{
	struct web_req *req = c->req;
	enum web_json_refusal why;
	json_error_t jerr;
	struct cs_err err;

	if (req->body_len == 0)
		return MHD_YES;
	why = web_json_prescan(req->body, req->body_len, &err);
	if (why == WEB_JSON_TOO_DEEP)
		return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "json-too-deep", "%s", err.msg);
	if (why == WEB_JSON_TOO_LARGE)
		return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "json-too-large", "%s", err.msg);
	if (why != WEB_JSON_OK)
		return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "json-malformed", "%s", err.msg);
	c->body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (c->body == NULL)
		return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "json-malformed",
		    "the body is not valid JSON: line %d, column %d: %s", jerr.line, jerr.column,
		    jerr.text);
	if (!json_is_object(c->body)) {
		json_decref(c->body);
		c->body = NULL;
		return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "bad-request",
		    "the body must be a JSON object");
	}
	return MHD_YES;
}

static enum MHD_Result
web_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	web *w = cls;
	struct web_req *req = *req_cls;
	struct web_call *c;
	enum MHD_Result res;

	(void)url;
	(void)version;
	if (req == NULL)
		return MHD_NO; /* the per-request allocation failed: drop the connection */
	c = &req->call;
	c->w = w;
	c->conn = conn;
	c->req = req;

	if (req->phase == 0) {
		req->phase = 1;
		return precheck(c, method);
	}
	if (req->phase == 2) {
		*upload_data_size = 0; /* answered already: discard */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		req->body_seen += n;
		if (req->body_too_large || req->body_len + n > WEB_BODY_MAX) {
			req->body_too_large = 1;
			free(req->body);
			req->body = NULL;
			req->body_len = 0;
			*upload_data_size = 0;
			/* a chunked body that keeps coming: stop reading it */
			return req->body_seen > 4 * (size_t)WEB_BODY_MAX ? MHD_NO : MHD_YES;
		}
		if (req->body == NULL) {
			req->body = malloc(WEB_BODY_MAX + 1);
			if (req->body == NULL)
				return MHD_NO;
		}
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->body_too_large)
		return web_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large",
		    "the request body is larger than %d bytes", WEB_BODY_MAX);
	if (strcmp(c->route->method, "POST") == 0) {
		res = body_parse(c);
		if (req->phase == 2)
			return res;
	}
	res = c->route->fn(c);
	json_decref(c->body);
	c->body = NULL;
	req->phase = 2;
	return res;
}

static void *
uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct web_req *req = calloc(1, sizeof(*req));

	(void)cls;
	(void)conn;
	if (req == NULL)
		return NULL;
	req->uri_len = strnlen(uri, WEB_URI_MAX + 1);
	if (req->uri_len > WEB_URI_MAX) {
		req->uri_too_long = 1;
		req->uri_len = 0;
	} else {
		memcpy(req->uri, uri, req->uri_len);
	}
	return req;
}

static void
req_done(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct web_req *req = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (req == NULL)
		return;
	json_decref(req->call.body);
	free(req->body);
	explicit_bzero(req, sizeof(*req)); /* the cookie and CSRF token were in it */
	free(req);
	*req_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	fprintf(stderr, "certstation: dashboard: %s\n", msg);
}

/* ---- start and stop ---- */

static int
listen_open(web *w, struct cs_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port_s[16];
	int fd = -1, gai, one = 1, last_errno = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port_s, sizeof(port_s), "%u", w->cfg->port);
	gai = getaddrinfo(w->cfg->host, port_s, &hints, &res);
	if (gai != 0)
		return cs_err_set(err, CS_ERR_CONFIG, "dashboard: web.host '%s': %s", w->cfg->host,
		    gai_strerror(gai));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
			break;
		last_errno = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return cs_err_set(err, CS_ERR_IO, "dashboard: cannot listen on %s:%u: %s",
		    w->cfg->host, w->cfg->port, strerror(last_errno));
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		w->port = w->cfg->port;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET)
				w->port = ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
			else if (ss.ss_family == AF_INET6)
				w->port = ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
		}
	}
	w->listen_fd = fd;
	return 0;
}

/* A file the dashboard needs whole: regular, 1..WEB_TLS_FILE_MAX bytes.
 * label names it in messages ("TLS certificate"); flags as cs_file_read().
 * Codes as before the shared reader: cannot open is CS_ERR_IO, too large or
 * empty CS_ERR_TOO_LARGE. */
static int
web_file_read(const char *path, const char *label, unsigned flags, char **out,
    struct cs_err *err)
{
	struct cs_err rerr;
	char what[64];
	size_t len = 0;
	int rc;

	snprintf(what, sizeof(what), "a %s", label);
	rc = cs_file_read(path, what, WEB_TLS_FILE_MAX, flags, out, &len, &rerr);
	if (rc == 0 && len == 0) {
		free(*out);
		*out = NULL;
		return cs_err_set(err, CS_ERR_TOO_LARGE, "dashboard: %s %s is empty", label, path);
	}
	if (rc == CS_ERR_NOT_FOUND)
		rc = CS_ERR_IO;
	if (rc != 0)
		return cs_err_set(err, rc, "dashboard: %s %s", label, rerr.msg);
	return 0;
}

/* The /metrics bearer token: one line of 32..256 printable bytes, in a
 * regular file nobody else may read (it opens the station's figures). */
static int
metrics_token_load(web *w, const char *path, struct cs_err *err)
{
	char *tok = NULL;
	size_t n;
	int rc;

	rc = web_file_read(path, "metrics token file", CS_FILE_PRIVATE, &tok, err);
	if (rc != 0)
		return rc;
	n = strlen(tok);
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
		tok[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (tok[i] < 0x21 || tok[i] > 0x7e)
			n = 0; /* a space, a second line or a control byte */
	if (n < WEB_METRICS_TOKEN_MIN || n > WEB_METRICS_TOKEN_MAX) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
		return cs_err_set(err, CS_ERR_CONFIG,
		    "dashboard: metrics token file %s must hold one line of %d to %d printable "
		    "characters without spaces (e.g. `openssl rand -hex 32`)",
		    path, WEB_METRICS_TOKEN_MIN, WEB_METRICS_TOKEN_MAX);
	}
	w->metrics_token = tok;
	return 0;
}

int
web_users_refresh(web *w, int at_start, struct cs_err *err)
{
	struct stat sb;
	users *u;

	if (stat(w->cfg->users_path, &sb) != 0) {
		if (errno != ENOENT)
			return cs_err_set(err, CS_ERR_IO, "dashboard: users file %s: %s",
			    w->cfg->users_path, strerror(errno));
		if (at_start || w->users != NULL)
			fprintf(stderr,
			    "certstation: dashboard: warning: no users file %s: nobody can log in "
			    "until `certstation user add` creates one\n",
			    w->cfg->users_path);
		users_free(w->users);
		w->users = NULL;
		w->users_ino = 0;
		return 0;
	}
	if (!at_start && w->users != NULL && (int64_t)sb.st_ino == w->users_ino &&
	    (int64_t)sb.st_size == w->users_size &&
	    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec == w->users_mtime_ns)
		return 0;
	u = users_load(w->cfg->users_path, err);
	if (u == NULL)
		return err != NULL && err->code != 0 ? err->code : CS_ERR_IO;
	users_free(w->users);
	w->users = u;
	w->users_ino = (int64_t)sb.st_ino;
	w->users_size = (int64_t)sb.st_size;
	w->users_mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	if (!at_start)
		fprintf(stderr, "certstation: dashboard: users file reloaded (%zu user(s))\n",
		    users_count(u));
	return 0;
}

static void
web_free(web *w)
{
	if (w == NULL)
		return;
	if (w->d == NULL && w->listen_fd >= 0)
		close(w->listen_fd);
	ledger_query_close(w->lq);
	web_bus_free(w->bus);
	web_ratelimit_free(w->rl);
	web_sessions_free(w->sessions);
	users_free(w->users);
	if (w->tls_key != NULL)
		explicit_bzero(w->tls_key, strlen(w->tls_key));
	free(w->tls_key);
	free(w->tls_cert);
	if (w->metrics_token != NULL)
		explicit_bzero(w->metrics_token, strlen(w->metrics_token));
	free(w->metrics_token);
	pthread_mutex_destroy(&w->users_mu);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

web *
web_start(const struct web_config *cfg, const struct web_context *ctx, struct cs_err *err)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
			 MHD_USE_ERROR_LOG;
	struct cs_err qerr;
	web *w;

	cs_err_clear(err);
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "dashboard: out of memory");
		return NULL;
	}
	w->cfg = cfg;
	w->ctx = *ctx;
	w->listen_fd = -1;
	w->started_us = web_now_us();
	pthread_mutex_init(&w->users_mu, NULL);
	pthread_mutex_init(&w->mu, NULL);
	w->sessions = web_sessions_new((int64_t)cfg->session_idle_minutes * 60 * 1000000, 0);
	w->rl = web_ratelimit_new(WEB_LOGIN_FAILURES, WEB_LOGIN_WINDOW_US, 512);
	w->bus = web_bus_new();
	if (w->sessions == NULL || w->rl == NULL || w->bus == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "dashboard: out of memory");
		goto fail;
	}
	if (cfg->tls_certificate != NULL || cfg->tls_key != NULL) {
		if (cfg->tls_certificate == NULL || cfg->tls_key == NULL) {
			cs_err_set(err, CS_ERR_CONFIG,
			    "dashboard: web.tls needs both \"certificate\" and \"key\"");
			goto fail;
		}
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			cs_err_set(err, CS_ERR_CONFIG,
			    "dashboard: this libmicrohttpd has no TLS support; remove web.tls or "
			    "install one built with GnuTLS");
			goto fail;
		}
		if (web_file_read(cfg->tls_certificate, "TLS certificate", 0, &w->tls_cert,
		        err) != 0 ||
		    web_file_read(cfg->tls_key, "TLS key", 0, &w->tls_key, err) != 0)
			goto fail;
		w->tls = 1;
		flags |= MHD_USE_TLS;
	}
	if (cfg->metrics_token_file != NULL &&
	    metrics_token_load(w, cfg->metrics_token_file, err) != 0)
		goto fail;
	pthread_mutex_lock(&w->users_mu);
	if (web_users_refresh(w, 1, err) != 0) {
		pthread_mutex_unlock(&w->users_mu);
		goto fail;
	}
	pthread_mutex_unlock(&w->users_mu);
	if (ctx->station != NULL && ctx->station->cfg != NULL && ctx->station->cfg->ledger_path != NULL) {
		w->lq = ledger_query_open(ctx->station->cfg->ledger_path, 2, &qerr);
		if (w->lq == NULL) {
			snprintf(w->lq_error, sizeof(w->lq_error), "%s", qerr.msg);
			fprintf(stderr, "certstation: dashboard: warning: %s\n", qerr.msg);
		}
	} else {
		snprintf(w->lq_error, sizeof(w->lq_error), "no ledger configured");
	}
	if (listen_open(w, err) != 0)
		goto fail;

	if (w->tls)
		w->d = MHD_start_daemon(flags, 0, NULL, NULL, web_access, w,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)w,
		    MHD_OPTION_LISTEN_SOCKET, w->listen_fd,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_CONN_MEMORY,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
		    MHD_OPTION_URI_LOG_CALLBACK, uri_log, (void *)w,
		    MHD_OPTION_NOTIFY_COMPLETED, req_done, (void *)w,
		    MHD_OPTION_HTTPS_MEM_CERT, w->tls_cert,
		    MHD_OPTION_HTTPS_MEM_KEY, w->tls_key,
		    MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		    MHD_OPTION_END);
	else
		w->d = MHD_start_daemon(flags, 0, NULL, NULL, web_access, w,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)w,
		    MHD_OPTION_LISTEN_SOCKET, w->listen_fd,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_CONN_MEMORY,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
		    MHD_OPTION_URI_LOG_CALLBACK, uri_log, (void *)w,
		    MHD_OPTION_NOTIFY_COMPLETED, req_done, (void *)w,
		    MHD_OPTION_END);
	if (w->d == NULL) {
		cs_err_set(err, CS_ERR_IO,
		    "dashboard: the HTTP server did not start on %s:%u%s (see the messages above)",
		    cfg->host, w->port, w->tls ? " (check web.tls: certificate and key must match)" : "");
		goto fail;
	}
	return w;
fail:
	web_free(w);
	return NULL;
}

void
web_stop(web *w)
{
	if (w == NULL)
		return;
	web_bus_stop(w->bus); /* streams end at their next wake-up: now */
	if (w->d != NULL)
		MHD_stop_daemon(w->d); /* joins every connection thread; closes the listener */
	web_free(w);
}

unsigned
web_port(const web *w)
{
	return w != NULL ? w->port : 0;
}
