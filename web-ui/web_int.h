/*
 * web_int.h: what the dashboard server's files share (private to web-ui/).
 *
 * Contract: one struct web per running server. web.c owns the
 * libmicrohttpd daemon, the request pipeline (caps, Host/Origin, session,
 * CSRF, role) and the routes; web_api.c answers the JSON endpoints and
 * actions; web_stream.c the event streams; web_metrics.c /metrics;
 * web_json.c turns snapshots into JSON. Handlers get a struct web_call with
 * the request already checked for what its route demands.
 *
 * Threads: one thread per connection (libmicrohttpd's
 * MHD_USE_THREAD_PER_CONNECTION); everything in struct web that changes
 * after start is guarded by its own mutex or is a self-locking module
 * (sessions, rate limiter, bus, ledger_query).
 */
#ifndef WEB_UI_WEB_INT_H
#define WEB_UI_WEB_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "station/ledger_query.h"
#include "station/users.h"
#include "web-ui/web.h"
#include "web-ui/web_events.h"
#include "web-ui/web_parse.h"
#include "web-ui/web_session.h"

#define WEB_BODY_MAX (64 * 1024)
#define WEB_CONN_MEMORY (32 * 1024)
#define WEB_STREAMS_MAX 16
#define WEB_LOGIN_FAILURES 5
#define WEB_LOGIN_WINDOW_US INT64_C(60000000)
#define WEB_COOKIE_NAME "certstation_session"
#define WEB_TLS_FILE_MAX (64 * 1024)
#define WEB_METRICS_TOKEN_MIN 32
#define WEB_METRICS_TOKEN_MAX 256
/* compact, and 3.2 ms stays 3.2 rather than 3.2000000000000002 */
#define WEB_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

struct web {
	const struct web_config *cfg; /* borrowed: the station's config outlives the server */
	struct web_context ctx;
	struct MHD_Daemon *d;
	int listen_fd;
	unsigned port; /* the bound port (cfg->port, or the kernel's choice for 0) */
	int tls;
	char *tls_cert, *tls_key; /* PEM text handed to libmicrohttpd */
	char *metrics_token;      /* NULL: none configured */

	pthread_mutex_t users_mu; /* guards users and its file identity */
	users *users;
	int64_t users_mtime_ns;
	int64_t users_size, users_ino;

	web_sessions *sessions;
	web_ratelimit *rl;
	web_bus *bus;
	ledger_query *lq;       /* NULL if the ledger could not be opened read-only */
	char lq_error[CS_ERR_MSG_MAX];

	pthread_mutex_t mu;     /* guards the fields below */
	unsigned streams;
	int64_t states_at_us;   /* /metrics cache of ledger rows per state */
	int64_t states[LEDGER_FAILED + 1];

	/* the HSM latency histogram as it was at the start of the "recent"
	 * window (rotated every minute by the status endpoint); under mu */
	struct {
		int64_t at_us;
		uint64_t le[HSM_LATENCY_BUCKETS];
		uint64_t count;
		double sum_s;
	} hsm_win_old, hsm_win_new;

	int64_t started_us;
};

enum web_access {
	WEB_ACCESS_PUBLIC = 0, /* the static page */
	WEB_ACCESS_METRICS,    /* loopback, bearer token, or a session */
	WEB_ACCESS_LOGIN,      /* POST without a session (login) */
	WEB_ACCESS_READ,       /* any logged-in user */
	WEB_ACCESS_OPERATOR,   /* role operator or above */
	WEB_ACCESS_SUPERVISOR, /* role supervisor */
};

struct web_call;
typedef enum MHD_Result (*web_handler)(struct web_call *c);

struct web_route {
	const char *method;                       /* "GET" or "POST" */
	const char *seg[WEB_PATH_SEGS_MAX];       /* "*" matches any one segment */
	size_t seg_count;
	enum web_access access;
	web_handler fn;
};

struct web_call {
	web *w;
	struct MHD_Connection *conn;
	struct web_req *req;
	const struct web_route *route;
	int head;                        /* HEAD: headers only */
	int have_session;
	struct web_session_info sess;
	char cookie[WEB_SESSION_TOKEN_HEX + 1];
	json_t *body;                    /* parsed JSON object for POSTs with a body, else NULL */
	char remote[64];                 /* client address as text */
	int is_static;                   /* page asset: revalidated, not no-store */
	enum MHD_Result res;             /* what the last web_reply() returned */
};

/* One request in flight (libmicrohttpd's per-request pointer). */
struct web_req {
	char uri[WEB_URI_MAX + 1];
	size_t uri_len;
	int uri_too_long;
	int phase;           /* 0 first call, 1 receiving the body, 2 answered */
	char *body;
	size_t body_len;
	size_t body_seen;    /* bytes offered, kept or not */
	int body_too_large;
	struct web_target target;
	struct web_call call; /* what the checks of the first call established */
};

/* web.c */
int64_t web_now_us(void);
/* Load (or reload when the file changed) the users file. Caller holds
 * users_mu. A missing file leaves no users: nobody can log in. */
int web_users_refresh(web *w, int at_start, struct cs_err *err);
/* The port the server listens on (tests start it on port 0). */
unsigned web_port(const web *w);
/* Queue r with the security headers (and no-store for the API); r is
 * destroyed here. */
enum MHD_Result web_reply(struct web_call *c, unsigned status, struct MHD_Response *r);
/* JSON body (steals j; NULL j is a 500). */
enum MHD_Result web_reply_json(struct web_call *c, unsigned status, json_t *j);
/* An error response {"error":{"code","message"}} to add headers to. */
struct MHD_Response *web_error_response(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum MHD_Result web_reply_error(struct web_call *c, unsigned status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The first query key not in allowed (NULL-terminated), or NULL. */
const char *web_query_unknown(const struct web_call *c, const char *const *allowed);
/* In a handler: answer 400 for a query key not in keys. */
#define WEB_PARAMS_ONLY(c, keys)                                                         \
	do {                                                                             \
		const char *web_unknown_ = web_query_unknown((c), (keys));              \
		if (web_unknown_ != NULL)                                                \
			return web_reply_error((c), MHD_HTTP_BAD_REQUEST, "bad-request", \
			    "unknown parameter '%.64s'", web_unknown_);                  \
	} while (0)
/* The route's "*" segment number k (0-based among the wildcards). */
const char *web_path_arg(const struct web_call *c, size_t k);

/* web_json.c: snapshots to JSON (new references; NULL only when out of memory) */
json_t *web_json_text(const char *s);  /* JSON string, non-UTF-8 bytes as '?'; "" stays "" */
json_t *web_json_time(int64_t us);     /* ISO string; null for 0 */
/* Subject of a DER certificate, RFC 2253 ("CN=x,O=y"); "" if unparsable. */
json_t *web_json_cert_subject(const uint8_t *der, size_t len);
json_t *web_json_slot(const struct slot_snapshot *s, int index);
json_t *web_json_throughput(const struct stats_snapshot *ss);
json_t *web_json_shift_summary(const struct stats_snapshot *ss);
json_t *web_json_issuance(const struct ledger_record *r);
/* ISSUANCE plus certificate and chain_pem (rec has cert_der) */
json_t *web_json_issuance_detail(const struct ledger_record *r, const struct ca *ca);
/* PEM of one DER certificate; malloc'ed. */
json_t *web_json_session(const struct web_session_info *s, int64_t idle_s);
json_t *web_json_slots(web *w, int counts);  /* {"slots": [...]} (and "counts") */

/* web_api.c: the routes' handlers */
/* The stats snapshot, or zeros (shift 1 since the server started) when the
 * station keeps none. */
void web_stats_of(web *w, struct stats_snapshot *ss /* OUT */);
enum MHD_Result web_h_login(struct web_call *c);
enum MHD_Result web_h_logout(struct web_call *c);
enum MHD_Result web_h_session(struct web_call *c);
enum MHD_Result web_h_status(struct web_call *c);
enum MHD_Result web_h_fixtures(struct web_call *c);
enum MHD_Result web_h_fixture(struct web_call *c);
enum MHD_Result web_h_fixture_pause(struct web_call *c);
enum MHD_Result web_h_fixture_resume(struct web_call *c);
enum MHD_Result web_h_line_pause(struct web_call *c);
enum MHD_Result web_h_line_resume(struct web_call *c);
enum MHD_Result web_h_issuances(struct web_call *c);
enum MHD_Result web_h_issuance(struct web_call *c);
enum MHD_Result web_h_issuance_pem(struct web_call *c);
enum MHD_Result web_h_throughput(struct web_call *c);
enum MHD_Result web_h_failures(struct web_call *c);
enum MHD_Result web_h_export(struct web_call *c);
enum MHD_Result web_h_shift(struct web_call *c);

/* web_stream.c */
enum MHD_Result web_h_events(struct web_call *c);

/* web_metrics.c */
enum MHD_Result web_h_metrics(struct web_call *c);
/* The Prometheus text; malloc'ed, *len set. NULL when out of memory. */
char *web_metrics_text(web *w, size_t *len);

#endif
