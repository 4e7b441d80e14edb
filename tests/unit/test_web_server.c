/*
 * test_web_server.c: the dashboard server over real sockets on 127.0.0.1:
 * every refusal of the request pipeline (Host, Origin, session, CSRF,
 * role, body and header caps, malformed and deep JSON, unknown endpoint,
 * wrong method, URI length), the session cookie's attributes, security
 * headers, login rate limiting per address and per user name, the ledger
 * endpoints on a real ledger, throughput from real stats, a new shift, and
 * the event stream (hello, a published slot event, expiry on logout, the
 * subscriber cap). The station has no HSM and no line here; the
 * integration test test_web_api.sh runs the same API against a real one.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "station/ledger.h"
#include "station/stats.h"
#include "station/users.h"
#include "tests/support/check.h"
#include "web-ui/assets.h"
#include "web-ui/web.h"
#include "web-ui/web_int.h"

static char dir[256];
static unsigned srv_port;
static char host_hdr[64], origin[80];

struct resp {
	int status;
	char head[16384];
	char *body;
	size_t body_len;
	json_t *json;
};

static void
resp_clear(struct resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
dial(const char *src)
{
	struct sockaddr_in a;
	struct timeval tv = {10, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (src != NULL) {
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		inet_pton(AF_INET, src, &a.sin_addr);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			close(fd);
			return -1;
		}
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)srv_port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* De-chunk body in place when the head says chunked. */
static void
dechunk(struct resp *r)
{
	char *in = r->body, *out = r->body, *end = r->body + r->body_len;

	if (strstr(r->head, "chunked") == NULL)
		return;
	while (in < end) {
		char *eol;
		unsigned long n = strtoul(in, &eol, 16);

		eol = strstr(in, "\r\n");
		if (eol == NULL || n == 0)
			break;
		in = eol + 2;
		if (in + n > end)
			n = (unsigned long)(end - in);
		memmove(out, in, n);
		out += n;
		in += n + 2;
	}
	r->body_len = (size_t)(out - r->body);
	r->body[r->body_len] = '\0';
}

/* Send a raw request from src (NULL: any loopback address), read the whole
 * answer (the server closes: requests say Connection: close). */
static int
http_raw(const char *src, const char *req, size_t len, struct resp *r)
{
	size_t cap = 1 << 16, got = 0;
	char *buf = malloc(cap + 1), *sep;
	int fd = dial(src);

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (fd < 0 || buf == NULL) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (send_all(fd, req, len) != 0) {
		/* the server may answer and close before reading everything */
	}
	for (;;) {
		ssize_t k;

		if (got == cap) {
			char *nb = realloc(buf, 2 * cap + 1);

			if (nb == NULL)
				break;
			buf = nb;
			cap *= 2;
		}
		k = recv(fd, buf + got, cap - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	buf[got] = '\0';
	sep = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) != 0 || sep == NULL) {
		free(buf);
		return -1;
	}
	r->status = atoi(buf + 9);
	snprintf(r->head, sizeof(r->head), "%.*s", (int)(sep - buf), buf);
	r->body_len = got - (size_t)(sep + 4 - buf);
	r->body = malloc(r->body_len + 1);
	memcpy(r->body, sep + 4, r->body_len);
	r->body[r->body_len] = '\0';
	free(buf);
	dechunk(r);
	if (strstr(r->head, "application/json") != NULL)
		r->json = json_loads(r->body, 0, NULL);
	return 0;
}

/* A request with Host, optional cookie/CSRF/Origin, JSON body. */
static int
http(const char *method, const char *path, const char *cookie, const char *csrf, int with_origin,
    const char *body, struct resp *r)
{
	char *req;
	size_t cap = 4096 + (body != NULL ? strlen(body) : 0);
	int n, rc;

	req = malloc(cap);
	if (req == NULL)
		return -1;
	n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s%s%s%s%s%s%s",
	    method, path, host_hdr,
	    cookie != NULL ? "Cookie: certstation_session=" : "", cookie != NULL ? cookie : "",
	    cookie != NULL ? "\r\n" : "",
	    csrf != NULL ? "X-CSRF-Token: " : "", csrf != NULL ? csrf : "", csrf != NULL ? "\r\n" : "",
	    with_origin ? "" : "");
	if (with_origin)
		n += snprintf(req + n, cap - (size_t)n, "Origin: %s\r\n", origin);
	if (body != NULL)
		n += snprintf(req + n, cap - (size_t)n,
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
		    body);
	else
		n += snprintf(req + n, cap - (size_t)n, "Content-Length: 0\r\n\r\n");
	rc = http_raw(NULL, req, (size_t)n, r);
	free(req);
	return rc;
}

static const char *
err_code(const struct resp *r)
{
	json_t *e = r->json != NULL ? json_object_get(r->json, "error") : NULL;
	const char *s = json_string_value(json_object_get(e, "code"));

	return s != NULL ? s : "";
}

static int
has_header(const struct resp *r, const char *text)
{
	return strstr(r->head, text) != NULL;
}

#define EXPECT_ERROR(r, st, code)                                                              \
	do {                                                                                   \
		CHECK_INT_EQ((r).status, (st));                                                \
		CHECK(strcmp(err_code(&(r)), (code)) == 0);                                    \
		if (strcmp(err_code(&(r)), (code)) != 0)                                       \
			fprintf(stderr, "  expected %s, got %d %s\n", (code), (r).status,        \
			    (r).body != NULL ? (r).body : "");                                 \
	} while (0)

/* Log in; cookie and csrf out. */
static int
login(const char *user, const char *pw, char cookie[65], char csrf[65])
{
	struct resp r;
	char body[256];
	const char *p;
	int ok = 0;

	snprintf(body, sizeof(body), "{\"user\":\"%s\",\"password\":\"%s\"}", user, pw);
	if (http("POST", "/api/v1/login", NULL, NULL, 1, body, &r) == 0 && r.status == 200) {
		p = strstr(r.head, "certstation_session=");
		if (p != NULL && json_string_value(json_object_get(r.json, "csrf")) != NULL) {
			snprintf(cookie, 65, "%.64s", p + strlen("certstation_session="));
			snprintf(csrf, 65, "%s", json_string_value(json_object_get(r.json, "csrf")));
			ok = 1;
		}
	}
	resp_clear(&r);
	return ok;
}

static const uint8_t fake_cert[] = {0x30, 0x03, 0x02, 0x01, 0x07};

static int
file_put(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	return chmod(path, mode);
}

/* GET /metrics on port with an optional Authorization header value. */
static int
metrics_get(unsigned to_port, const char *auth, struct resp *r)
{
	char req[1024];
	int n = snprintf(req, sizeof(req),
	    "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%s%s%s\r\n", to_port,
	    auth != NULL ? "Authorization: " : "", auth != NULL ? auth : "", auth != NULL ? "\r\n" : "");

	return http_raw(NULL, req, (size_t)n, r);
}

/* web.metrics_token_file: refused when others can read it or it is not one
 * usable line; once set, every scraper (loopback too) shows the token. */
static void
test_metrics_token(const struct web_config *base, const struct web_context *ctx)
{
	static const char tok[] = "0123456789abcdef0123456789abcdef-metrics";
	char path[600], host[64], req[1024], auth[300], cookie[65], csrf[65];
	char saved_host[sizeof(host_hdr)], saved_origin[sizeof(origin)];
	struct web_config wc = *base;
	struct cs_err err;
	char missing[] = "/nonexistent/metrics.token";
	struct resp r;
	unsigned w2_port, saved_port;
	web *w2;
	int n;

	snprintf(path, sizeof(path), "%s/metrics.token", dir);
	wc.port = 0;
	wc.metrics_token_file = path;

	CHECK_INT_EQ(file_put(path, tok, 0644), 0);
	w2 = web_start(&wc, ctx, &err);
	CHECK(w2 == NULL);
	CHECK_MSG_HAS(err, "chmod 600");
	web_stop(w2);
	CHECK_INT_EQ(file_put(path, "short\n", 0600), 0);
	w2 = web_start(&wc, ctx, &err);
	CHECK(w2 == NULL);
	CHECK_MSG_HAS(err, "32 to 256");
	web_stop(w2);
	CHECK_INT_EQ(file_put(path, "0123456789abcdef 0123456789abcdef\n", 0600), 0);
	w2 = web_start(&wc, ctx, &err);
	CHECK(w2 == NULL);
	web_stop(w2);
	wc.metrics_token_file = missing;
	w2 = web_start(&wc, ctx, &err);
	CHECK(w2 == NULL);
	CHECK_MSG_HAS(err, "/nonexistent/metrics.token");
	web_stop(w2);
	wc.metrics_token_file = path;

	CHECK_INT_EQ(file_put(path, "0123456789abcdef0123456789abcdef-metrics\r\n", 0600), 0);
	w2 = web_start(&wc, ctx, &err);
	CHECK(w2 != NULL);
	if (w2 == NULL) {
		fprintf(stderr, "web_start with a token: %s\n", err.msg);
		return;
	}
	w2_port = web_port(w2);
	saved_port = srv_port;
	srv_port = w2_port; /* http_raw dials srv_port */
	snprintf(host, sizeof(host), "127.0.0.1:%u", w2_port);
	wc.allowed_hosts[0] = host;
	wc.allowed_host_count = 1;

	metrics_get(w2_port, NULL, &r); /* loopback alone is not enough now */
	EXPECT_ERROR(r, 401, "metrics-token");
	resp_clear(&r);
	metrics_get(w2_port, "Bearer 0123456789abcdef0123456789abcdef-metricz", &r);
	EXPECT_ERROR(r, 401, "metrics-token");
	CHECK(strstr(r.body, "does not match") != NULL);
	resp_clear(&r);
	metrics_get(w2_port, "Basic MDEyMzQ1Njc4OWFiY2RlZg==", &r);
	EXPECT_ERROR(r, 401, "metrics-token");
	resp_clear(&r);
	snprintf(auth, sizeof(auth), "Bearer %s", tok);
	metrics_get(w2_port, auth, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(strstr(r.body != NULL ? r.body : "", "certstation_devices_total") != NULL);
	resp_clear(&r);
	/* a logged-in user still reads it with the session, no token */
	snprintf(saved_host, sizeof(saved_host), "%s", host_hdr);
	snprintf(saved_origin, sizeof(saved_origin), "%s", origin);
	snprintf(host_hdr, sizeof(host_hdr), "%s", host);
	snprintf(origin, sizeof(origin), "http://%s", host);
	wc.allowed_origins[0] = origin;
	wc.allowed_origin_count = 1;
	CHECK(login("ana", "supervisor-pw-1", cookie, csrf));
	n = snprintf(req, sizeof(req),
	    "GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	    "Cookie: certstation_session=%s\r\n\r\n", host, cookie);
	http_raw(NULL, req, (size_t)n, &r);
	CHECK_INT_EQ(r.status, 200);
	resp_clear(&r);
	web_stop(w2);
	srv_port = saved_port;
	snprintf(host_hdr, sizeof(host_hdr), "%s", saved_host);
	snprintf(origin, sizeof(origin), "%s", saved_origin);
}

static int64_t
ledger_device(ledger *l, const char *id, int fail)
{
	static unsigned n;
	static const uint8_t pk[32] = {7};
	uint8_t serial[LEDGER_SERIAL_LEN] = {0x42};
	struct ledger_op op;

	serial[19] = (uint8_t)++n;
	memset(&op, 0, sizeof(op));
	op.kind = LEDGER_OP_RESERVE;
	op.device_id = id;
	op.profile = "device";
	op.slot = "sim-1";
	op.serial = serial;
	op.pubkey_sha256 = pk;
	op.not_before = 1700000000;
	op.not_after = 1707776000;
	if (ledger_apply(l, &op) != 0)
		return -1;
	{
		struct ledger_op s = {.kind = LEDGER_OP_SIGNED, .id = op.id, .cert_der = fake_cert,
		    .cert_len = sizeof(fake_cert)};
		struct ledger_op e = {.kind = fail ? LEDGER_OP_FAILED : LEDGER_OP_INJECTED, .id = op.id,
		    .reason = CS_ERR_DEVICE_READBACK, .reason_text = "read back other bytes",
		    .timings = "{\"total_ms\":20}"};

		if (ledger_apply(l, &s) != 0 || ledger_apply(l, &e) != 0)
			return -1;
	}
	return op.id;
}

static void
test_refusals(const char *cookie_op, const char *csrf_op)
{
	struct resp r;
	static char req[80000];
	int n;

	/* Host allow list, on GETs and for the page too */
	n = snprintf(req, sizeof(req), "GET /api/v1/status HTTP/1.1\r\nConnection: close\r\n\r\n");
	http_raw(NULL, req, (size_t)n, &r);
	EXPECT_ERROR(r, 421, "host-not-allowed");
	resp_clear(&r);
	n = snprintf(req, sizeof(req), "GET /api/v1/status HTTP/1.0\r\n\r\n");
	http_raw(NULL, req, (size_t)n, &r);
	EXPECT_ERROR(r, 421, "host-not-allowed");
	resp_clear(&r);
	n = snprintf(req, sizeof(req),
	    "GET / HTTP/1.1\r\nHost: rebinding-name:%u\r\nConnection: close\r\n\r\n", srv_port);
	http_raw(NULL, req, (size_t)n, &r);
	EXPECT_ERROR(r, 421, "host-not-allowed");
	resp_clear(&r);

	/* unknown endpoint, wrong method */
	http("GET", "/api/v1/nope", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 404, "not-found");
	resp_clear(&r);
	http("GET", "/api/v2/status", NULL, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 404, "not-found");
	resp_clear(&r);
	http("DELETE", "/api/v1/status", cookie_op, NULL, 1, NULL, &r);
	EXPECT_ERROR(r, 405, "method-not-allowed");
	CHECK(has_header(&r, "Allow: GET"));
	resp_clear(&r);
	http("GET", "/api/v1/login", NULL, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 405, "method-not-allowed");
	CHECK(has_header(&r, "Allow: POST"));
	resp_clear(&r);
	http("POST", "/", NULL, NULL, 1, "{}", &r);
	EXPECT_ERROR(r, 405, "method-not-allowed");
	resp_clear(&r);

	/* no session */
	http("GET", "/api/v1/status", NULL, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 401, "unauthenticated");
	resp_clear(&r);
	http("GET", "/api/v1/status", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	    NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 401, "unauthenticated");
	resp_clear(&r);
	http("GET", "/api/v1/events", NULL, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 401, "unauthenticated");
	resp_clear(&r);
	http("POST", "/api/v1/shift", NULL, NULL, 1, NULL, &r);
	EXPECT_ERROR(r, 401, "unauthenticated");
	resp_clear(&r);

	/* Origin on writes */
	http("POST", "/api/v1/line/pause", cookie_op, csrf_op, 0, NULL, &r);
	EXPECT_ERROR(r, 403, "origin-missing");
	resp_clear(&r);
	n = snprintf(req, sizeof(req),
	    "POST /api/v1/line/pause HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	    "Origin: http://rebinding-name:%u\r\nCookie: certstation_session=%s\r\n"
	    "X-CSRF-Token: %s\r\nContent-Length: 0\r\n\r\n",
	    host_hdr, srv_port, cookie_op, csrf_op);
	http_raw(NULL, req, (size_t)n, &r);
	EXPECT_ERROR(r, 403, "origin-not-allowed");
	resp_clear(&r);
	http("POST", "/api/v1/login", NULL, NULL, 0, "{\"user\":\"ana\",\"password\":\"x\"}", &r);
	EXPECT_ERROR(r, 403, "origin-missing");
	resp_clear(&r);

	/* CSRF token on every POST but login */
	http("POST", "/api/v1/line/pause", cookie_op, NULL, 1, NULL, &r);
	EXPECT_ERROR(r, 403, "csrf-missing");
	resp_clear(&r);
	http("POST", "/api/v1/line/pause", cookie_op,
	    "0000000000000000000000000000000000000000000000000000000000000000", 1, NULL, &r);
	EXPECT_ERROR(r, 403, "csrf-mismatch");
	resp_clear(&r);
	http("POST", "/api/v1/logout", cookie_op, NULL, 1, NULL, &r);
	EXPECT_ERROR(r, 403, "csrf-missing");
	resp_clear(&r);

	/* role */
	http("POST", "/api/v1/shift", cookie_op, csrf_op, 1, NULL, &r);
	EXPECT_ERROR(r, 403, "forbidden-role");
	resp_clear(&r);
	http("POST", "/api/v1/export", cookie_op, csrf_op, 1, "{\"format\":\"csv\"}", &r);
	EXPECT_ERROR(r, 403, "forbidden-role");
	resp_clear(&r);

	/* body caps: declared too large, and sent chunked past the cap */
	n = snprintf(req, sizeof(req),
	    "POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nOrigin: %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n",
	    host_hdr, origin);
	memset(req + n, ' ', 70000);
	http_raw(NULL, req, (size_t)n + 70000, &r);
	EXPECT_ERROR(r, 413, "body-too-large");
	resp_clear(&r);
	{
		size_t o;

		o = (size_t)snprintf(req, sizeof(req),
		    "POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nOrigin: %s\r\n"
		    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
		    host_hdr, origin);
		for (int k = 0; k < 17; k++) {
			o += (size_t)snprintf(req + o, sizeof(req) - o, "1000\r\n");
			memset(req + o, ' ', 4096);
			o += 4096;
			memcpy(req + o, "\r\n", 2);
			o += 2;
		}
		o += (size_t)snprintf(req + o, sizeof(req) - o, "0\r\n\r\n");
		http_raw(NULL, req, o, &r);
		EXPECT_ERROR(r, 413, "body-too-large");
		resp_clear(&r);
	}

	/* header cap: the HTTP layer refuses before any handler runs */
	n = snprintf(req, sizeof(req), "GET /api/v1/status HTTP/1.1\r\nHost: %s\r\nX-Big: ", host_hdr);
	memset(req + n, 'a', 40000);
	n += 40000;
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\nConnection: close\r\n\r\n");
	http_raw(NULL, req, (size_t)n, &r);
	CHECK(r.status == 431 || r.status == 413);
	resp_clear(&r);

	/* URI cap */
	{
		char *p = malloc(3000);

		memset(p, 'a', 2999);
		p[0] = '/';
		p[2999] = '\0';
		http("GET", p, cookie_op, NULL, 0, NULL, &r);
		CHECK(r.status == 414);
		resp_clear(&r);
		free(p);
	}

	/* malformed, deep, wrong type, wrong media type */
	http("POST", "/api/v1/login", NULL, NULL, 1, "{\"user\": \"ana\", ", &r);
	EXPECT_ERROR(r, 400, "json-malformed");
	resp_clear(&r);
	http("POST", "/api/v1/login", NULL, NULL, 1, "{\"user\": \"ana\"} x", &r);
	EXPECT_ERROR(r, 400, "json-malformed");
	resp_clear(&r);
	http("POST", "/api/v1/login", NULL, NULL, 1, "{\"a\":[[[[[[[[[[1]]]]]]]]]]}", &r);
	EXPECT_ERROR(r, 400, "json-too-deep");
	resp_clear(&r);
	http("POST", "/api/v1/login", NULL, NULL, 1, "[1,2]", &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("POST", "/api/v1/login", NULL, NULL, 1, "{\"user\":\"a\",\"user\":\"b\",\"password\":\"c\"}", &r);
	EXPECT_ERROR(r, 400, "json-malformed");
	resp_clear(&r);
	http("POST", "/api/v1/login", NULL, NULL, 1, "{\"user\":1,\"password\":\"x\"}", &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	n = snprintf(req, sizeof(req),
	    "POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nOrigin: %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
	    host_hdr, origin);
	http_raw(NULL, req, (size_t)n, &r);
	EXPECT_ERROR(r, 415, "unsupported-media-type");
	resp_clear(&r);

	/* query strings: unknown, duplicated, malformed, out of range */
	http("GET", "/api/v1/issuances?nope=1", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("GET", "/api/v1/issuances?limit=1&limit=2", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("GET", "/api/v1/issuances?limit=%zz", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("GET", "/api/v1/issuances?limit=501", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("GET", "/api/v1/issuances?state=DONE", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("GET", "/api/v1/issuances?from=yesterday", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("GET", "/api/v1/issuances?from=2025-01-02&to=2025-01-01", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("GET", "/api/v1/issuances/abc", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 404, "not-found");
	resp_clear(&r);
	http("GET", "/api/v1/fixtures/none", cookie_op, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 404, "not-found");
	resp_clear(&r);
}

/* Read from fd until needle appears (or timeout_ms); 1 if found. */
static int
read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle, int timeout_ms)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		long el;
		ssize_t k;

		buf[*len] = '\0';
		if (strstr(buf, needle) != NULL)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms || *len + 1 >= cap)
			return 0;
		if (poll(&p, 1, (int)(timeout_ms - el)) <= 0)
			continue;
		k = recv(fd, buf + *len, cap - 1 - *len, 0);
		if (k <= 0)
			return strstr(buf, needle) != NULL;
		*len += (size_t)k;
	}
}

static int
stream_open(const char *cookie)
{
	char req[512];
	int fd = dial(NULL), n;

	if (fd < 0)
		return -1;
	n = snprintf(req, sizeof(req),
	    "GET /api/v1/events HTTP/1.1\r\nHost: %s\r\nCookie: certstation_session=%s\r\n\r\n",
	    host_hdr, cookie);
	send_all(fd, req, (size_t)n);
	return fd;
}

static void
test_stream(web *w, const char *cookie_sup, const char *csrf_sup)
{
	char *buf = malloc(1 << 18);
	size_t len = 0;
	int fd, fds[WEB_STREAMS_MAX];
	struct line_event ev;
	struct slot_snapshot snap;
	struct resp r;

	if (buf == NULL)
		return;
	fd = stream_open(cookie_sup);
	CHECK(fd >= 0);
	CHECK(read_until(fd, buf, 1 << 18, &len, "event: hello", 5000));
	CHECK(strstr(buf, "text/event-stream") != NULL);
	CHECK(strstr(buf, "\"user\":\"ana\"") != NULL);
	CHECK(read_until(fd, buf, 1 << 18, &len, "event: stats", 3000));

	/* a slot thread's event reaches the page */
	memset(&snap, 0, sizeof(snap));
	snprintf(snap.name, sizeof(snap.name), "sim-7");
	snprintf(snap.device_id, sizeof(snap.device_id), "DEV-77");
	snap.state = SLOT_EXCHANGE;
	snap.step = STEP_CHAIN;
	memset(&ev, 0, sizeof(ev));
	ev.kind = LINE_EV_SLOT_STATE;
	ev.slot = &snap;
	web_publish(w, &ev);
	CHECK(read_until(fd, buf, 1 << 18, &len, "\"step\":\"chain\"", 3000));
	snap.state = SLOT_FAIL;
	snprintf(snap.last_reason, sizeof(snap.last_reason), "readback-mismatch");
	ev.kind = LINE_EV_DEVICE_DONE;
	ev.status = CS_ERR_DEVICE_READBACK;
	ev.ledger_id = 5;
	ev.duration_us = 150000;
	web_publish(w, &ev);
	CHECK(read_until(fd, buf, 1 << 18, &len, "\"reason\":\"readback-mismatch\"", 3000));
	CHECK(strstr(buf, "event: device") != NULL);
	CHECK(strstr(buf, "\"duration_ms\":150") != NULL);

	/* at most WEB_STREAMS_MAX streams */
	for (int k = 0; k < WEB_STREAMS_MAX; k++)
		fds[k] = -1;
	for (int k = 0; k < WEB_STREAMS_MAX - 1; k++) {
		size_t l2 = 0;
		char b2[8192];

		fds[k] = stream_open(cookie_sup);
		CHECK(read_until(fds[k], b2, sizeof(b2), &l2, "event: hello", 5000));
	}
	http("GET", "/api/v1/events", cookie_sup, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 503, "too-many-streams");
	resp_clear(&r);
	for (int k = 0; k < WEB_STREAMS_MAX; k++)
		if (fds[k] >= 0)
			close(fds[k]);

	/* logout ends the session's stream with "expired" */
	http("POST", "/api/v1/logout", cookie_sup, csrf_sup, 1, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(has_header(&r, "Max-Age=0"));
	resp_clear(&r);
	CHECK(read_until(fd, buf, 1 << 18, &len, "event: expired", 3000));
	close(fd);
	http("GET", "/api/v1/session", cookie_sup, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 401, "unauthenticated");
	resp_clear(&r);
	free(buf);
}

static void
login_from(const char *src, const char *user, const char *pw, struct resp *r)
{
	char body[160], req[640];
	int n;

	snprintf(body, sizeof(body), "{\"user\":\"%s\",\"password\":\"%s\"}", user, pw);
	n = snprintf(req, sizeof(req),
	    "POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nOrigin: %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    host_hdr, origin, strlen(body), body);
	CHECK_INT_EQ(http_raw(src, req, (size_t)n, r), 0);
}

struct burst {
	pthread_t th;
	int n;
	int status;
};

static void *
burst_main(void *arg)
{
	struct burst *b = arg;
	struct resp r;
	char user[32];

	snprintf(user, sizeof(user), "burst%d", b->n);
	login_from("127.0.0.40", user, "x", &r);
	b->status = r.status;
	resp_clear(&r);
	return NULL;
}

static void
test_ratelimit(void)
{
	struct resp r;
	char src[32], user[32];

	/* per user name: five failures from five addresses lock "bo" out, even
	 * with the right password from a sixth */
	for (int k = 0; k < 5; k++) {
		snprintf(src, sizeof(src), "127.0.0.%d", 10 + k);
		login_from(src, "bo", "wrong-password", &r);
		EXPECT_ERROR(r, 401, "login-failed");
		resp_clear(&r);
	}
	login_from("127.0.0.20", "bo", "operator-pw-12", &r);
	EXPECT_ERROR(r, 429, "too-many-attempts");
	CHECK(has_header(&r, "Retry-After: "));
	resp_clear(&r);
	/* others are not affected */
	login_from("127.0.0.20", "ana", "supervisor-pw-1", &r);
	CHECK_INT_EQ(r.status, 200);
	resp_clear(&r);

	/* per address: five failures with five names from one address lock
	 * that address out for everyone, including "ana" with her password */
	for (int k = 0; k < 5; k++) {
		snprintf(user, sizeof(user), "nobody%d", k);
		login_from("127.0.0.30", user, "x", &r);
		EXPECT_ERROR(r, 401, "login-failed");
		resp_clear(&r);
	}
	login_from("127.0.0.30", "ana", "supervisor-pw-1", &r);
	EXPECT_ERROR(r, 429, "too-many-attempts");
	{
		const char *ra = strstr(r.head, "Retry-After: ");
		int secs = ra != NULL ? atoi(ra + 13) : 0;

		CHECK(secs >= 1 && secs <= 60);
	}
	resp_clear(&r);
	login_from("127.0.0.31", "ana", "supervisor-pw-1", &r);
	CHECK_INT_EQ(r.status, 200);
	resp_clear(&r);

	/* eight wrong logins sent at once from one address: five are checked,
	 * three refused, however they interleave */
	{
		struct burst b[8];
		int n401 = 0, n429 = 0;

		for (int k = 0; k < 8; k++) {
			b[k].n = k;
			b[k].status = 0;
			pthread_create(&b[k].th, NULL, burst_main, &b[k]);
		}
		for (int k = 0; k < 8; k++) {
			pthread_join(b[k].th, NULL);
			n401 += b[k].status == 401;
			n429 += b[k].status == 429;
		}
		CHECK_INT_EQ(n401, 5);
		CHECK_INT_EQ(n429, 3);
	}
}

int
main(void)
{
	struct cs_config cfg;
	struct web_config wc;
	struct station st;
	struct web_context ctx;
	struct cs_err err;
	char users_path[512], dbpath[512], hosts0[64], origins0[80], host_ip[] = "127.0.0.1";
	char cookie_sup[65], csrf_sup[65], cookie_op[65], csrf_op[65];
	struct resp r;
	ledger *l = NULL;
	stats *sts = NULL;
	web *w = NULL;
	int64_t id_ok, id_fail;

	snprintf(dir, sizeof(dir), "/tmp/test_web_server.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(users_path, sizeof(users_path), "%s/users.json", dir);
	snprintf(dbpath, sizeof(dbpath), "%s/ledger.sqlite", dir);
	CHECK_INT_EQ(users_file_set(users_path, "ana", USER_ROLE_SUPERVISOR, "supervisor-pw-1", &err), 0);
	CHECK_INT_EQ(users_file_set(users_path, "bo", USER_ROLE_OPERATOR, "operator-pw-12", &err), 0);
	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	if (l == NULL)
		goto out;
	id_ok = ledger_device(l, "DEV-0001", 0);
	id_fail = ledger_device(l, "DEV-0002", 1);
	CHECK(id_ok > 0 && id_fail > 0);
	sts = stats_new();

	memset(&cfg, 0, sizeof(cfg));
	cfg.ledger_path = dbpath;
	memset(&wc, 0, sizeof(wc));
	wc.enabled = 1;
	wc.host = host_ip;
	wc.port = 0; /* the kernel's choice; the allow lists follow below */
	wc.users_path = users_path;
	wc.session_idle_minutes = 5;
	wc.max_connections = 64;
	memset(&st, 0, sizeof(st));
	st.cfg = &cfg;
	st.ledger = l;
	ctx.station = &st;
	ctx.line = NULL;
	ctx.stats = sts;
	w = web_start(&wc, &ctx, &err);
	CHECK(w != NULL);
	if (w == NULL) {
		fprintf(stderr, "web_start: %s\n", err.msg);
		goto out;
	}
	srv_port = web_port(w);
	CHECK(srv_port > 0);
	snprintf(host_hdr, sizeof(host_hdr), "127.0.0.1:%u", srv_port);
	snprintf(origin, sizeof(origin), "http://127.0.0.1:%u", srv_port);
	snprintf(hosts0, sizeof(hosts0), "%s", host_hdr);
	snprintf(origins0, sizeof(origins0), "%s", origin);
	wc.allowed_hosts[0] = hosts0;
	wc.allowed_host_count = 1;
	wc.allowed_origins[0] = origins0;
	wc.allowed_origin_count = 1;

	/* the page, with the security headers */
	http("GET", "/", NULL, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(has_header(&r, "Content-Type: text/html"));
	CHECK(has_header(&r, "Content-Security-Policy: default-src 'self'; script-src 'self'"));
	CHECK(has_header(&r, "frame-ancestors 'none'"));
	CHECK(has_header(&r, "X-Content-Type-Options: nosniff"));
	CHECK(has_header(&r, "Referrer-Policy: no-referrer"));
	CHECK(has_header(&r, "X-Frame-Options: DENY"));
	for (size_t k = 0; k < web_asset_count; k++)
		if (strcmp(web_assets[k].path, "/") == 0) {
			CHECK_INT_EQ(r.body_len, web_assets[k].len);
			CHECK(memcmp(r.body, web_assets[k].data, r.body_len) == 0);
		}
	resp_clear(&r);
	http("GET", "/assets/none.js", NULL, NULL, 0, NULL, &r);
	EXPECT_ERROR(r, 404, "not-found");
	resp_clear(&r);

	/* login: wrong password, then right; cookie attributes */
	http("POST", "/api/v1/login", NULL, NULL, 1, "{\"user\":\"ana\",\"password\":\"nope-nope-nope\"}",
	    &r);
	EXPECT_ERROR(r, 401, "login-failed");
	resp_clear(&r);
	http("POST", "/api/v1/login", NULL, NULL, 1, "{\"user\":\"ana\",\"password\":\"supervisor-pw-1\"}",
	    &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(has_header(&r, "; Path=/; HttpOnly; SameSite=Strict"));
	CHECK(!has_header(&r, "Secure"));
	CHECK(has_header(&r, "Cache-Control: no-store"));
	CHECK(strcmp(json_string_value(json_object_get(r.json, "role")), "supervisor") == 0);
	resp_clear(&r);
	CHECK(login("ana", "supervisor-pw-1", cookie_sup, csrf_sup));
	CHECK(login("bo", "operator-pw-12", cookie_op, csrf_op));
	CHECK(strcmp(cookie_sup, cookie_op) != 0);

	/* session after a reload: same CSRF token */
	http("GET", "/api/v1/session", cookie_sup, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(strcmp(json_string_value(json_object_get(r.json, "csrf")), csrf_sup) == 0);
	CHECK(strcmp(json_string_value(json_object_get(r.json, "user")), "ana") == 0);
	resp_clear(&r);
	/* HEAD works where GET does */
	http("HEAD", "/api/v1/session", cookie_sup, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	resp_clear(&r);

	test_refusals(cookie_op, csrf_op);

	/* reading */
	http("GET", "/api/v1/status", cookie_op, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(json_is_true(json_object_get(json_object_get(r.json, "ledger"), "ok")));
	CHECK(json_is_null(json_object_get(r.json, "hsm")));
	CHECK(json_is_false(json_object_get(r.json, "issuing")));
	CHECK(strcmp(json_string_value(json_object_get(r.json, "version")), CERTSTATION_VERSION) == 0);
	resp_clear(&r);
	http("GET", "/api/v1/fixtures", cookie_op, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(json_array_size(json_object_get(r.json, "slots")), 0);
	resp_clear(&r);

	http("GET", "/api/v1/issuances?count=1", cookie_op, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(json_integer_value(json_object_get(r.json, "total")), 2);
	CHECK_INT_EQ(json_array_size(json_object_get(r.json, "items")), 2);
	CHECK(json_is_null(json_object_get(r.json, "next_before")));
	resp_clear(&r);
	http("GET", "/api/v1/issuances?state=FAILED&reason=readback-mismatch&device=DEV-", cookie_op,
	    NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	{
		json_t *items = json_object_get(r.json, "items");
		json_t *it = json_array_get(items, 0);

		CHECK_INT_EQ(json_array_size(items), 1);
		CHECK_INT_EQ(json_integer_value(json_object_get(it, "id")), id_fail);
		CHECK(strcmp(json_string_value(json_object_get(it, "reason")), "readback-mismatch") == 0);
		CHECK(json_is_object(json_object_get(it, "timings")));
	}
	resp_clear(&r);
	http("GET", "/api/v1/issuances?limit=1", cookie_op, NULL, 0, NULL, &r);
	CHECK_INT_EQ(json_integer_value(json_object_get(r.json, "next_before")), id_fail);
	resp_clear(&r);
	{
		char path[64], sha[65];
		uint8_t md[32];
		unsigned int ml = 0;

		EVP_Digest(fake_cert, sizeof(fake_cert), md, &ml, EVP_sha256(), NULL);
		for (unsigned i = 0; i < 32; i++)
			snprintf(sha + 2 * i, 3, "%02X", md[i]);
		snprintf(path, sizeof(path), "/api/v1/issuances/%lld", (long long)id_ok);
		http("GET", path, cookie_op, NULL, 0, NULL, &r);
		CHECK_INT_EQ(r.status, 200);
		CHECK(strcmp(json_string_value(json_object_get(json_object_get(r.json, "certificate"),
				  "sha256")),
			  sha) == 0);
		CHECK(strstr(json_string_value(json_object_get(r.json, "chain_pem")),
			  "-----BEGIN CERTIFICATE-----\nMAMCAQc=\n") != NULL);
		resp_clear(&r);
		snprintf(path, sizeof(path), "/api/v1/issuances/%lld/pem", (long long)id_ok);
		http("GET", path, cookie_op, NULL, 0, NULL, &r);
		CHECK_INT_EQ(r.status, 200);
		CHECK(has_header(&r, "Content-Disposition: attachment; filename=\"DEV-0001-"));
		CHECK(has_header(&r, "application/x-pem-file"));
		CHECK(strncmp(r.body, "-----BEGIN CERTIFICATE-----", 27) == 0);
		resp_clear(&r);
		http("GET", "/api/v1/issuances/999999", cookie_op, NULL, 0, NULL, &r);
		EXPECT_ERROR(r, 404, "not-found");
		resp_clear(&r);
	}
	http("GET", "/api/v1/failures?from=2020-01-01", cookie_op, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(json_object_get(r.json,
								       "reasons"),
							    0),
			 "count")),
	    1);
	CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(r.json, "states"), "INJECTED")),
	    1);
	resp_clear(&r);

	/* throughput from the stats the line feeds */
	{
		struct slot_snapshot snap;
		struct line_event ev;

		memset(&snap, 0, sizeof(snap));
		memset(&ev, 0, sizeof(ev));
		ev.kind = LINE_EV_DEVICE_DONE;
		ev.slot = &snap;
		ev.duration_us = 120000;
		for (int k = 0; k < 3; k++)
			stats_record(sts, &ev);
		ev.status = CS_ERR_DEVICE_TIMEOUT;
		stats_record(sts, &ev);
	}
	http("GET", "/api/v1/throughput", cookie_op, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	{
		json_t *sh = json_object_get(r.json, "shift");

		CHECK_INT_EQ(json_integer_value(json_object_get(sh, "passed")), 3);
		CHECK_INT_EQ(json_integer_value(json_object_get(sh, "failed")), 1);
		CHECK(json_real_value(json_object_get(sh, "yield")) > 0.749 &&
		      json_real_value(json_object_get(sh, "yield")) < 0.751);
		CHECK_INT_EQ(json_array_size(json_object_get(r.json, "minutes")), 60);
		CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(r.json,
										      "failures"),
								   0),
				  "reason")),
			  "device-timeout") == 0);
	}
	resp_clear(&r);

	/* metrics from loopback, no login needed */
	http("GET", "/metrics", NULL, NULL, 0, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(has_header(&r, "text/plain; version=0.0.4"));
	CHECK(strstr(r.body, "certstation_devices_total{result=\"pass\"} 3\n") != NULL);
	CHECK(strstr(r.body, "certstation_device_failures_total{reason=\"device-timeout\"} 1\n") != NULL);
	CHECK(strstr(r.body, "certstation_exchange_duration_seconds_bucket{le=\"+Inf\"} 4\n") != NULL);
	CHECK(strstr(r.body, "certstation_issuances{state=\"FAILED\"} 1\n") != NULL);
	resp_clear(&r);

	/* actions */
	http("POST", "/api/v1/line/pause", cookie_op, csrf_op, 1, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	resp_clear(&r);
	http("POST", "/api/v1/fixtures/none/pause", cookie_op, csrf_op, 1, NULL, &r);
	EXPECT_ERROR(r, 404, "not-found");
	resp_clear(&r);
	http("POST", "/api/v1/shift", cookie_sup, csrf_sup, 1, NULL, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK_INT_EQ(json_integer_value(json_object_get(r.json, "number")), 2);
	resp_clear(&r);
	http("POST", "/api/v1/export", cookie_sup, csrf_sup, 1, "{\"format\":\"xml\"}", &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("POST", "/api/v1/export", cookie_sup, csrf_sup, 1, "{\"format\":\"csv\",\"extra\":1}", &r);
	EXPECT_ERROR(r, 400, "bad-request");
	resp_clear(&r);
	http("POST", "/api/v1/export", cookie_sup, csrf_sup, 1,
	    "{\"format\":\"csv\",\"from\":\"2020-01-01T00:00:00Z\"}", &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(has_header(&r, "Content-Disposition: attachment; filename=\"certstation-ledger-20200101T000000Z-"));
	CHECK(strncmp(r.body, "id,device_id,serial", 19) == 0);
	CHECK(strstr(r.body, "DEV-0002") != NULL);
	resp_clear(&r);
	http("POST", "/api/v1/export", cookie_sup, csrf_sup, 1, "{\"format\":\"json\",\"to\":0}", &r);
	EXPECT_ERROR(r, 400, "bad-request"); /* to before from */
	resp_clear(&r);
	http("POST", "/api/v1/export", cookie_sup, csrf_sup, 1, "{\"format\":\"json\"}", &r);
	CHECK_INT_EQ(r.status, 200);
	{
		json_t *arr = json_loads(r.body, 0, NULL);

		CHECK_INT_EQ(json_array_size(arr), 2);
		json_decref(arr);
	}
	resp_clear(&r);

	test_stream(w, cookie_sup, csrf_sup);
	test_metrics_token(&wc, &ctx);
	test_ratelimit();

out:
	web_stop(w);
	stats_free(sts);
	ledger_close(l);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_finish("test_web_server");
}
