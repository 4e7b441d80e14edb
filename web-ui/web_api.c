/*
 * web_api.c: the JSON endpoints and actions of web-ui/API.md. By the time
 * a handler runs, web.c has checked Host, Origin, session, CSRF and role
 * for its route and parsed the body; handlers check their own parameters.
 *
 * Every read comes from a snapshot (slot snapshots, stats, HSM status) or
 * the dashboard's own read-only ledger connections: nothing here takes a
 * lock the issuance path holds.
 */
#include "web-ui/web_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "station/csr.h"

#define WEB_PAUSE_WAIT_MS 2000

static struct station *
station_of(struct web_call *c)
{
	return c->w->ctx.station;
}

static enum MHD_Result
bad_param(struct web_call *c, const char *name, const char *why)
{
	return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "bad-request", "parameter '%s': %s", name,
	    why);
}

/* ---- sessions ---- */

enum MHD_Result
web_h_login(struct web_call *c)
{
	web *w = c->w;
	json_t *ju = c->body != NULL ? json_object_get(c->body, "user") : NULL;
	json_t *jp = c->body != NULL ? json_object_get(c->body, "password") : NULL;
	char addr_key[96], user_key[96], cookie[WEB_SESSION_TOKEN_HEX + 1], set[256];
	struct web_session_info info;
	enum user_role role = USER_ROLE_NONE;
	struct MHD_Response *r;
	unsigned retry = 0, retry2 = 0;
	int limited;
	const char *user, *pass;
	struct cs_err err;
	int64_t now = web_now_us();
	json_t *j;
	char *text;

	if (!json_is_string(ju) || !json_is_string(jp))
		return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "bad-request",
		    "login needs {\"user\": \"...\", \"password\": \"...\"}");
	user = json_string_value(ju);
	pass = json_string_value(jp);
	if (json_string_length(ju) == 0 || json_string_length(ju) > USER_NAME_MAX ||
	    strlen(user) != json_string_length(ju))
		return bad_param(c, "user", "must be 1..64 characters");
	if (json_string_length(jp) > USER_PASSWORD_MAX || strlen(pass) != json_string_length(jp))
		return bad_param(c, "password", "must be at most 256 bytes");

	snprintf(addr_key, sizeof(addr_key), "addr:%s", c->remote);
	snprintf(user_key, sizeof(user_key), "user:%s", user);

	/* checked under the same lock that serializes password checks, so
	 * attempts sent all at once cannot pass the check before the first of
	 * them fails */
	pthread_mutex_lock(&w->users_mu);
	limited = web_ratelimit_check(w->rl, addr_key, now, &retry) != 0;
	limited |= web_ratelimit_check(w->rl, user_key, now, &retry2) != 0;
	if (!limited) {
		cs_err_clear(&err);
		if (web_users_refresh(w, 0, &err) != 0)
			fprintf(stderr, "certstation: dashboard: users file not reloaded: %s\n", err.msg);
		if (w->users != NULL)
			role = users_verify(w->users, user, pass);
		if (role == USER_ROLE_NONE) {
			web_ratelimit_fail(w->rl, addr_key, now);
			web_ratelimit_fail(w->rl, user_key, now);
		}
	}
	pthread_mutex_unlock(&w->users_mu);
	if (limited) {
		char ra[16];

		if (retry2 > retry)
			retry = retry2;
		snprintf(ra, sizeof(ra), "%u", retry);
		r = web_error_response("too-many-attempts",
		    "too many failed logins; try again in %u s", retry);
		if (r != NULL)
			MHD_add_response_header(r, "Retry-After", ra);
		return web_reply(c, MHD_HTTP_TOO_MANY_REQUESTS, r);
	}

	if (role == USER_ROLE_NONE) {
		fprintf(stderr, "certstation: dashboard: failed login for '%.64s' from %s\n", user,
		    c->remote);
		return web_reply_error(c, MHD_HTTP_UNAUTHORIZED, "login-failed",
		    "wrong user name or password");
	}
	if (c->have_session)
		web_session_destroy(w->sessions, c->cookie); /* a new login gets a new ID */
	if (web_session_create(w->sessions, user, role, now, cookie, &info) != 0)
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "no random numbers for a session ID");
	fprintf(stderr, "certstation: dashboard: '%s' (%s) logged in from %s\n", info.user,
	    user_role_name(role), c->remote);
	j = web_json_session(&info, (int64_t)w->cfg->session_idle_minutes * 60);
	text = j != NULL ? json_dumps(j, WEB_JSON_FLAGS) : NULL;
	json_decref(j);
	r = text != NULL ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
			 : NULL;
	if (r == NULL) {
		free(text);
		explicit_bzero(cookie, sizeof(cookie));
		return MHD_NO;
	}
	snprintf(set, sizeof(set), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", WEB_COOKIE_NAME,
	    cookie, w->tls ? "; Secure" : "");
	MHD_add_response_header(r, "Set-Cookie", set);
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	explicit_bzero(cookie, sizeof(cookie));
	explicit_bzero(set, sizeof(set));
	return web_reply(c, MHD_HTTP_OK, r);
}

enum MHD_Result
web_h_logout(struct web_call *c)
{
	struct MHD_Response *r;
	char set[128];
	char *text = strdup("{\"ok\":true}");

	web_session_destroy(c->w->sessions, c->cookie);
	web_bus_poke(c->w->bus); /* its streams notice at once */
	fprintf(stderr, "certstation: dashboard: '%s' logged out\n", c->sess.user);
	r = text != NULL ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
			 : NULL;
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	snprintf(set, sizeof(set), "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
	    WEB_COOKIE_NAME, c->w->tls ? "; Secure" : "");
	MHD_add_response_header(r, "Set-Cookie", set);
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	return web_reply(c, MHD_HTTP_OK, r);
}

enum MHD_Result
web_h_session(struct web_call *c)
{
	static const char *const keys[] = {NULL};

	WEB_PARAMS_ONLY(c, keys);
	return web_reply_json(c, MHD_HTTP_OK,
	    web_json_session(&c->sess, (int64_t)c->w->cfg->session_idle_minutes * 60));
}

/* ---- status ---- */

static const char *
sig_alg_name(enum hsm_sig_alg a)
{
	switch (a) {
	case HSM_SIG_ECDSA_SHA256:
		return "ecdsa-with-SHA256";
	case HSM_SIG_ECDSA_SHA384:
		return "ecdsa-with-SHA384";
	case HSM_SIG_RSA_PKCS1_SHA256:
		return "sha256WithRSAEncryption";
	case HSM_SIG_RSA_PKCS1_SHA384:
		return "sha384WithRSAEncryption";
	case HSM_SIG_RSA_PSS_SHA256:
		return "rsassa-pss-sha256";
	case HSM_SIG_RSA_PSS_SHA384:
		return "rsassa-pss-sha384";
	}
	return "unknown";
}

static json_t *
ca_json(const struct station *st, int64_t now_us)
{
	const struct ca *ca = st != NULL ? st->ca : NULL;
	json_t *chain, *o;
	char uri[512];

	if (ca == NULL)
		return json_null();
	chain = json_array();
	for (size_t k = 0; chain != NULL && k < ca->chain_len; k++) {
		const struct ca_cert *cc = &ca->chain[k];
		const char *role = k == 0 ? "issuing"
				   : (k + 1 == ca->chain_len && ca->has_root) ? "root"
									       : "intermediate";
		int64_t left = cc->not_after - now_us / 1000000;

		json_array_append_new(chain, json_pack("{s:s,s:o,s:o,s:o,s:I}", "role", role,
		    "subject", web_json_cert_subject(cc->der, cc->der_len),
		    "not_before", web_json_time(cc->not_before * 1000000),
		    "not_after", web_json_time(cc->not_after * 1000000),
		    "days_left", (json_int_t)(left >= 0 ? left / 86400 : -((-left + 86399) / 86400))));
	}
	/* the key's URI without its query part, where any PIN attribute lives */
	snprintf(uri, sizeof(uri), "%s", st->cfg != NULL && st->cfg->hsm.uri != NULL ? st->cfg->hsm.uri : "");
	uri[strcspn(uri, "?")] = '\0';
	o = json_pack("{s:s,s:s,s:o,s:o}", "key_type", hsm_key_type_name(ca->key_type),
	    "signature_algorithm", sig_alg_name(ca->sig_alg), "key_uri", web_json_text(uri),
	    "chain", chain != NULL ? chain : json_array());
	return o;
}

/* {"count", "mean", "p50", "p99"} in microseconds from a cumulative
 * histogram; a quantile is the upper bound of the bucket it falls in (null
 * beyond the last bound), count 0 gives nulls. */
static json_t *
latency_json(const double *bound_s, const uint64_t *le, uint64_t count, double sum_s)
{
	json_t *q[2];
	const double want[2] = {0.5, 0.99};

	for (int i = 0; i < 2; i++) {
		q[i] = json_null();
		for (size_t k = 0; count > 0 && k < HSM_LATENCY_BUCKETS; k++) {
			if ((double)le[k] >= want[i] * (double)count) {
				json_decref(q[i]);
				q[i] = json_real(bound_s[k] * 1e6);
				break;
			}
		}
	}
	return json_pack("{s:I,s:o,s:o,s:o}", "count", (json_int_t)count, "mean",
	    count > 0 ? json_real(sum_s * 1e6 / (double)count) : json_null(), "p50", q[0], "p99", q[1]);
}

static json_t *
hsm_json(web *w, const struct station *st, struct hsm_status *hs)
{
	uint64_t le[HSM_LATENCY_BUCKETS];
	struct hsm_key_info ki;
	int64_t now = web_now_us(), window_us;
	uint64_t count;
	double sum;
	json_t *o, *recent;

	if (st == NULL || st->hsm == NULL)
		return json_null();
	hsm_status_get(st->hsm, hs);

	/* "recent": since the older of two snapshots taken a minute apart, so
	 * the window covers the last one to two minutes */
	pthread_mutex_lock(&w->mu);
	if (w->hsm_win_new.at_us == 0 || now - w->hsm_win_new.at_us >= INT64_C(60000000) ||
	    now < w->hsm_win_new.at_us) {
		if (w->hsm_win_new.at_us != 0)
			w->hsm_win_old = w->hsm_win_new;
		else
			w->hsm_win_old.at_us = w->started_us;
		w->hsm_win_new.at_us = now;
		memcpy(w->hsm_win_new.le, hs->latency_le, sizeof(w->hsm_win_new.le));
		w->hsm_win_new.count = hs->latency_count;
		w->hsm_win_new.sum_s = hs->latency_sum_s;
	}
	for (size_t k = 0; k < HSM_LATENCY_BUCKETS; k++)
		le[k] = hs->latency_le[k] >= w->hsm_win_old.le[k] ? hs->latency_le[k] - w->hsm_win_old.le[k] : 0;
	count = hs->latency_count >= w->hsm_win_old.count ? hs->latency_count - w->hsm_win_old.count : 0;
	sum = hs->latency_sum_s - w->hsm_win_old.sum_s;
	window_us = now - w->hsm_win_old.at_us;
	pthread_mutex_unlock(&w->mu);

	recent = latency_json(hs->latency_bound_s, le, count, sum > 0 ? sum : 0);
	if (recent != NULL)
		json_object_set_new(recent, "window_s", json_integer(window_us / 1000000));
	if (hsm_key_info_get(st->hsm, &ki) != 0)
		memset(&ki, 0, sizeof(ki));
	o = json_pack("{s:s,s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:I}",
	    "state", hsm_state_name(hs->state),
	    "reason", web_json_text(hs->reason),
	    "token", web_json_text(ki.token_label),
	    "key_label", web_json_text(ki.key_label),
	    "signatures", (json_int_t)hs->signatures,
	    "failures", (json_int_t)hs->failures,
	    "reopens", (json_int_t)hs->reopens,
	    "module_restarts", (json_int_t)hs->restarts,
	    "last_sign_us", (json_int_t)hs->last_sign_us,
	    "sign_latency_us", latency_json(hs->latency_bound_s, hs->latency_le, hs->latency_count,
		hs->latency_sum_s),
	    "recent_sign_latency_us", recent != NULL ? recent : json_null(),
	    "sessions_total", (json_int_t)hs->sessions_total,
	    "sessions_busy", (json_int_t)hs->sessions_busy);
	return o;
}

static json_t *
ledger_json(web *w)
{
	const struct station *st = w->ctx.station;
	struct ledger_query_health h;
	struct ledger_stats ls;
	struct cs_err err;
	json_t *o;
	int ok = 0;

	memset(&h, 0, sizeof(h));
	memset(&ls, 0, sizeof(ls));
	cs_err_clear(&err);
	if (w->lq != NULL)
		ok = ledger_query_health(w->lq, &h, &err) == 0;
	else
		snprintf(err.msg, sizeof(err.msg), "%s", w->lq_error);
	if (st != NULL && st->ledger != NULL)
		ledger_stats_get(st->ledger, &ls);
	o = json_pack("{s:o,s:b,s:o,s:I,s:I,s:o,s:I,s:I,s:I,s:I}",
	    "path", web_json_text(st != NULL && st->cfg != NULL ? st->cfg->ledger_path : ""),
	    "ok", ok,
	    "error", web_json_text(ok ? "" : err.msg),
	    "size_bytes", (json_int_t)h.size_bytes,
	    "wal_bytes", (json_int_t)h.wal_bytes,
	    "last_commit", web_json_time(h.last_commit_us),
	    "commits", (json_int_t)ls.commits,
	    "ops_committed", (json_int_t)ls.ops_committed,
	    "ops_failed", (json_int_t)ls.ops_failed,
	    "commit_failures", (json_int_t)ls.commit_failures);
	return o;
}

static json_t *
profiles_json(const struct cs_config *cfg)
{
	static const enum csr_key_type types[] = {CSR_KEY_EC_P256, CSR_KEY_EC_P384, CSR_KEY_EC_P521,
		CSR_KEY_RSA, CSR_KEY_ED25519};
	json_t *arr = json_array();

	for (size_t k = 0; arr != NULL && cfg != NULL && k < cfg->profile_count; k++) {
		const struct profile *p = &cfg->profiles[k];
		json_t *kt = json_array();
		char buf[32];

		for (size_t t = 0; kt != NULL && t < sizeof(types) / sizeof(types[0]); t++)
			if (p->key_types & (1u << types[t]))
				json_array_append_new(kt, json_string(csr_key_type_name(types[t],
				    types[t] == CSR_KEY_RSA ? p->rsa_min_bits : 0, buf, sizeof(buf))));
		json_array_append_new(arr, json_pack("{s:o,s:b,s:o,s:o,s:b,s:b}",
		    "name", web_json_text(p->name),
		    "default", cfg->default_profile != NULL && strcmp(cfg->default_profile, p->name) == 0,
		    "key_types", kt != NULL ? kt : json_array(),
		    "validity_days", p->not_after_forever ? json_null()
							  : json_integer(p->validity_seconds / 86400),
		    "not_after_forever", p->not_after_forever,
		    "require_allowlist", p->require_allowlist));
	}
	return arr;
}

void
web_stats_of(web *w, struct stats_snapshot *ss)
{
	if (w->ctx.stats != NULL) {
		stats_snapshot_get(w->ctx.stats, ss);
		return;
	}
	memset(ss, 0, sizeof(*ss));
	ss->now_us = web_now_us();
	ss->started_us = ss->shift_started_us = w->started_us;
	ss->minute0_us = ss->now_us - ss->now_us % 60000000;
	ss->shift_number = 1;
	ss->yield_shift = -1;
}

enum MHD_Result
web_h_status(struct web_call *c)
{
	static const char *const keys[] = {NULL};
	web *w = c->w;
	struct station *st = station_of(c);
	struct stats_snapshot ss;
	struct hsm_status hs;
	unsigned streams;
	int64_t now = web_now_us();
	json_t *o;

	WEB_PARAMS_ONLY(c, keys);
	memset(&hs, 0, sizeof(hs));
	web_stats_of(w, &ss);
	pthread_mutex_lock(&w->mu);
	streams = w->streams;
	pthread_mutex_unlock(&w->mu);
	o = json_pack("{s:s,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:{s:I},s:{s:I,s:o},s:{s:I,s:I,s:b}}",
	    "version", CERTSTATION_VERSION,
	    "now", web_json_time(now),
	    "started", web_json_time(ss.started_us),
	    "uptime_s", (json_int_t)((now - ss.started_us) / 1000000),
	    "ca", ca_json(st, now),
	    "hsm", hsm_json(w, st, &hs),
	    "ledger", ledger_json(w),
	    "profiles", profiles_json(st != NULL ? st->cfg : NULL),
	    "line", "slots", (json_int_t)(w->ctx.line != NULL ? line_slot_count(w->ctx.line) : 0),
	    "shift", "number", (json_int_t)ss.shift_number, "started",
	    web_json_time(ss.shift_started_us),
	    "web", "sessions", (json_int_t)web_session_count(w->sessions, now), "streams",
	    (json_int_t)streams, "tls", w->tls);
	if (o != NULL)
		json_object_set_new(o, "issuing",
		    json_boolean(st != NULL && st->hsm != NULL && hs.state != HSM_STATE_DOWN));
	return web_reply_json(c, MHD_HTTP_OK, o);
}

/* ---- fixtures ---- */

enum MHD_Result
web_h_fixtures(struct web_call *c)
{
	static const char *const keys[] = {NULL};

	WEB_PARAMS_ONLY(c, keys);
	return web_reply_json(c, MHD_HTTP_OK, web_json_slots(c->w, 1));
}

/* Index of the slot named in the path; 404 replied when none. */
static int
slot_index(struct web_call *c)
{
	const char *name = web_path_arg(c, 0);
	int k = c->w->ctx.line != NULL ? line_slot_find(c->w->ctx.line, name) : -1;

	if (k < 0)
		web_reply_error(c, MHD_HTTP_NOT_FOUND, "not-found", "no slot named '%.64s'", name);
	return k;
}

static enum MHD_Result
reply_slot(struct web_call *c, int k)
{
	struct slot_snapshot snap;

	if (line_slot_snapshot(c->w->ctx.line, (size_t)k, &snap) != 0)
		return web_reply_error(c, MHD_HTTP_NOT_FOUND, "not-found", "slot %d is gone", k);
	return web_reply_json(c, MHD_HTTP_OK, web_json_slot(&snap, k));
}

enum MHD_Result
web_h_fixture(struct web_call *c)
{
	static const char *const keys[] = {NULL};
	int k;

	WEB_PARAMS_ONLY(c, keys);
	k = slot_index(c);
	if (k < 0)
		return c->res;
	return reply_slot(c, k);
}

/* Wait (bounded) until every slot in [first, last) shows the state a
 * pause/resume asked for, so the answer shows the effect. */
static void
pause_settle(line *ln, size_t first, size_t last, int paused)
{
	struct timespec step = {0, 20 * 1000 * 1000};

	for (int waited = 0; waited < WEB_PAUSE_WAIT_MS; waited += 20) {
		size_t k;

		for (k = first; k < last; k++) {
			struct slot_snapshot snap;

			if (line_slot_snapshot(ln, k, &snap) == 0 &&
			    (snap.state == SLOT_PAUSED) != (paused != 0))
				break;
		}
		if (k == last)
			return;
		nanosleep(&step, NULL);
	}
}

static enum MHD_Result
fixture_pause(struct web_call *c, int paused)
{
	int k = slot_index(c);

	if (k < 0)
		return c->res;
	if (line_slot_pause(c->w->ctx.line, (size_t)k, paused) != 0)
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "the slot did not take the request");
	fprintf(stderr, "certstation: dashboard: slot %s %s by '%s'\n", web_path_arg(c, 0),
	    paused ? "paused" : "resumed", c->sess.user);
	pause_settle(c->w->ctx.line, (size_t)k, (size_t)k + 1, paused);
	return reply_slot(c, k);
}

enum MHD_Result
web_h_fixture_pause(struct web_call *c)
{
	return fixture_pause(c, 1);
}

enum MHD_Result
web_h_fixture_resume(struct web_call *c)
{
	return fixture_pause(c, 0);
}

static enum MHD_Result
line_pause(struct web_call *c, int paused)
{
	line *ln = c->w->ctx.line;
	size_t n = ln != NULL ? line_slot_count(ln) : 0;

	for (size_t k = 0; k < n; k++)
		line_slot_pause(ln, k, paused);
	fprintf(stderr, "certstation: dashboard: all %zu slot(s) %s by '%s'\n", n,
	    paused ? "paused" : "resumed", c->sess.user);
	if (n > 0)
		pause_settle(ln, 0, n, paused);
	return web_reply_json(c, MHD_HTTP_OK, web_json_slots(c->w, 0));
}

enum MHD_Result
web_h_line_pause(struct web_call *c)
{
	return line_pause(c, 1);
}

enum MHD_Result
web_h_line_resume(struct web_call *c)
{
	return line_pause(c, 0);
}

/* ---- issuances ---- */

static int
token_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			strchr(extra, ch) != NULL))
			return 0;
	}
	return 1;
}

/* from/to parameters into [*from, *to); 400 replied on a bad one. */
static int
time_range(struct web_call *c, int64_t *from, int64_t *to)
{
	const char *f = web_target_query(&c->req->target, "from");
	const char *t = web_target_query(&c->req->target, "to");

	if (f != NULL && web_time_parse(f, from) != 0) {
		bad_param(c, "from", "use 2025-03-04T10:15:02Z or Unix milliseconds");
		return -1;
	}
	if (t != NULL && web_time_parse(t, to) != 0) {
		bad_param(c, "to", "use 2025-03-04T10:15:02Z or Unix milliseconds");
		return -1;
	}
	if (*to <= *from) {
		bad_param(c, "to", "must be later than 'from'");
		return -1;
	}
	return 0;
}

static enum MHD_Result
ledger_unavailable(struct web_call *c)
{
	return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
	    "the ledger cannot be read: %s", c->w->lq_error);
}

struct list_ctx {
	json_t *items;
	int64_t last_id;
};

static int
list_row(void *arg, const struct ledger_record *rec)
{
	struct list_ctx *lc = arg;

	lc->last_id = rec->id;
	return json_array_append_new(lc->items, web_json_issuance(rec)) == 0 ? 0 : CS_ERR_NOMEM;
}

enum MHD_Result
web_h_issuances(struct web_call *c)
{
	static const char *const keys[] = {"device", "state", "slot", "reason", "from", "to", "limit",
		"before", "offset", "count", NULL};
	const struct web_target *t = &c->req->target;
	struct ledger_query_filter f;
	struct list_ctx lc = {NULL, 0};
	const char *v;
	uint64_t n;
	int64_t total = -1;
	int more = 0, want_total = 0, rc;
	struct cs_err err;
	json_t *o;

	WEB_PARAMS_ONLY(c, keys);
	memset(&f, 0, sizeof(f));
	f.limit = 50;
	f.to_us = INT64_MAX;
	if ((v = web_target_query(t, "device")) != NULL) {
		if (strlen(v) > LEDGER_DEVICE_ID_MAX)
			return bad_param(c, "device", "longer than 128 bytes");
		f.device_prefix = v;
	}
	if ((v = web_target_query(t, "state")) != NULL) {
		for (int s = LEDGER_RESERVED; s <= LEDGER_FAILED; s++)
			if (strcmp(v, ledger_state_name((enum ledger_state)s)) == 0)
				f.state = (enum ledger_state)s;
		if (f.state == 0)
			return bad_param(c, "state", "use RESERVED, SIGNED, INJECTED, VERIFIED or FAILED");
	}
	if ((v = web_target_query(t, "slot")) != NULL) {
		if (!token_ok(v, LEDGER_NAME_MAX, "._-"))
			return bad_param(c, "slot", "a slot name: letters, digits, '.', '_', '-'");
		f.slot = v;
	}
	if ((v = web_target_query(t, "reason")) != NULL) {
		if (!token_ok(v, 63, "-"))
			return bad_param(c, "reason", "a reason token such as readback-mismatch");
		f.reason = v;
	}
	if (time_range(c, &f.from_us, &f.to_us) != 0)
		return c->res;
	if ((v = web_target_query(t, "limit")) != NULL) {
		if (web_uint_parse(v, LEDGER_QUERY_LIMIT_MAX, &n) != 0 || n == 0)
			return bad_param(c, "limit", "must be 1..500");
		f.limit = (size_t)n;
	}
	if ((v = web_target_query(t, "before")) != NULL) {
		if (web_uint_parse(v, INT64_MAX, &n) != 0 || n == 0)
			return bad_param(c, "before", "must be an issuance id");
		f.before_id = (int64_t)n;
	}
	if ((v = web_target_query(t, "offset")) != NULL) {
		if (web_uint_parse(v, LEDGER_QUERY_OFFSET_MAX, &n) != 0)
			return bad_param(c, "offset", "must be 0..100000");
		f.offset = (size_t)n;
	}
	if ((v = web_target_query(t, "count")) != NULL) {
		if (strcmp(v, "1") != 0 && strcmp(v, "0") != 0)
			return bad_param(c, "count", "must be 0 or 1");
		want_total = v[0] == '1';
	}
	if (c->w->lq == NULL)
		return ledger_unavailable(c);
	lc.items = json_array();
	if (lc.items == NULL)
		return MHD_NO;
	rc = ledger_query_list(c->w->lq, &f, list_row, &lc, &more, want_total ? &total : NULL, &err);
	if (rc != 0) {
		json_decref(lc.items);
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s", err.msg);
	}
	o = json_pack("{s:o,s:o}", "items", lc.items, "next_before",
	    more ? json_integer(lc.last_id) : json_null());
	if (o != NULL && want_total)
		json_object_set_new(o, "total", json_integer(total));
	return web_reply_json(c, MHD_HTTP_OK, o);
}

/* The issuance named in the path, with its certificate; replied on error. */
static int
issuance_get(struct web_call *c, struct ledger_record *rec)
{
	const char *v = web_path_arg(c, 0);
	struct cs_err err;
	uint64_t id;
	int rc;

	if (web_uint_parse(v, INT64_MAX, &id) != 0 || id == 0) {
		web_reply_error(c, MHD_HTTP_NOT_FOUND, "not-found", "'%.32s' is not an issuance id", v);
		return -1;
	}
	if (c->w->lq == NULL) {
		ledger_unavailable(c);
		return -1;
	}
	rc = ledger_query_get(c->w->lq, (int64_t)id, rec, &err);
	if (rc == CS_ERR_NOT_FOUND) {
		web_reply_error(c, MHD_HTTP_NOT_FOUND, "not-found", "%s", err.msg);
		return -1;
	}
	if (rc != 0) {
		web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s", err.msg);
		return -1;
	}
	return 0;
}

enum MHD_Result
web_h_issuance(struct web_call *c)
{
	static const char *const keys[] = {NULL};
	struct ledger_record rec;
	json_t *o;

	WEB_PARAMS_ONLY(c, keys);
	if (issuance_get(c, &rec) != 0)
		return c->res;
	o = web_json_issuance_detail(&rec, station_of(c) != NULL ? station_of(c)->ca : NULL);
	ledger_record_clear(&rec);
	return web_reply_json(c, MHD_HTTP_OK, o);
}

enum MHD_Result
web_h_issuance_pem(struct web_call *c)
{
	static const char *const keys[] = {NULL};
	struct ledger_record rec;
	struct MHD_Response *r;
	json_t *o, *chain;
	char disp[LEDGER_DEVICE_ID_MAX + 96], name[LEDGER_DEVICE_ID_MAX + 1];
	char *text;

	WEB_PARAMS_ONLY(c, keys);
	if (issuance_get(c, &rec) != 0)
		return c->res;
	o = web_json_issuance_detail(&rec, station_of(c) != NULL ? station_of(c)->ca : NULL);
	snprintf(name, sizeof(name), "%s", rec.device_id);
	for (size_t i = 0; name[i] != '\0'; i++)
		if (!token_ok((char[]){name[i], '\0'}, 1, "._-"))
			name[i] = '_';
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%lld.pem\"",
	    name[0] != '\0' ? name : "device", (long long)rec.id);
	ledger_record_clear(&rec);
	chain = o != NULL ? json_object_get(o, "chain_pem") : NULL;
	if (o == NULL)
		return MHD_NO;
	if (!json_is_string(chain)) {
		json_decref(o);
		return web_reply_error(c, MHD_HTTP_NOT_FOUND, "not-found",
		    "issuance %s has no certificate", web_path_arg(c, 0));
	}
	text = strdup(json_string_value(chain));
	json_decref(o);
	r = text != NULL ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
			 : NULL;
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/x-pem-file");
	MHD_add_response_header(r, "Content-Disposition", disp);
	return web_reply(c, MHD_HTTP_OK, r);
}

/* ---- figures ---- */

enum MHD_Result
web_h_throughput(struct web_call *c)
{
	static const char *const keys[] = {NULL};
	struct stats_snapshot ss;

	WEB_PARAMS_ONLY(c, keys);
	web_stats_of(c->w, &ss);
	return web_reply_json(c, MHD_HTTP_OK, web_json_throughput(&ss));
}

enum MHD_Result
web_h_failures(struct web_call *c)
{
	static const char *const keys[] = {"from", "to", NULL};
	struct ledger_reason_count rc[STATS_REASONS_MAX];
	int64_t states[LEDGER_FAILED + 1];
	int64_t now = web_now_us(), from = now - INT64_C(86400000000), to = now + 1;
	struct cs_err err;
	json_t *reasons, *st, *o;
	size_t n = 0;

	WEB_PARAMS_ONLY(c, keys);
	if (time_range(c, &from, &to) != 0)
		return c->res;
	if (c->w->lq == NULL)
		return ledger_unavailable(c);
	if (ledger_query_reasons(c->w->lq, from, to, rc, STATS_REASONS_MAX, &n, states, &err) != 0)
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s", err.msg);
	reasons = json_array();
	st = json_object();
	for (size_t k = 0; reasons != NULL && k < n; k++)
		json_array_append_new(reasons, json_pack("{s:o,s:I}", "reason",
		    web_json_text(rc[k].reason), "count", (json_int_t)rc[k].count));
	for (int s = LEDGER_RESERVED; st != NULL && s <= LEDGER_FAILED; s++)
		json_object_set_new(st, ledger_state_name((enum ledger_state)s),
		    json_integer(states[s]));
	o = json_pack("{s:o,s:o,s:o,s:o}", "from", web_json_time(from), "to", web_json_time(to),
	    "reasons", reasons != NULL ? reasons : json_array(), "states",
	    st != NULL ? st : json_object());
	return web_reply_json(c, MHD_HTTP_OK, o);
}

/* ---- actions ---- */

struct export_job {
	char *path;
	int fd;
	enum ledger_export_format fmt;
	int64_t from, to;
	char user[USER_NAME_MAX + 1];
};

/* Writes the report into the pipe the response reads; owns everything it
 * uses, so it may outlive the request (and the server) by the time a
 * closed pipe takes to notice. */
static void *
export_main(void *arg)
{
	struct export_job *job = arg;
	struct cs_err err;
	sigset_t pipe_set;
	FILE *f;

	/* a browser that goes away closes the pipe: EPIPE, not a signal */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	f = fdopen(job->fd, "w");
	if (f == NULL) {
		close(job->fd);
	} else {
		if (ledger_export(job->path, f, job->fmt, job->from, job->to, &err) != 0)
			fprintf(stderr, "certstation: dashboard: export for '%s' ended early: %s\n",
			    job->user, err.msg);
		fclose(f);
	}
	free(job->path);
	free(job);
	return NULL;
}

static void
compact_time(int64_t us, char *out, size_t cap)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y%m%dT%H%M%SZ", &tm) == 0)
		snprintf(out, cap, "time");
}

static int
body_time(struct web_call *c, const char *key, int64_t *out)
{
	json_t *v = c->body != NULL ? json_object_get(c->body, key) : NULL;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) < INT64_C(253402300800000)) {
		*out = (int64_t)json_integer_value(v) * 1000;
		return 0;
	}
	if (json_is_string(v) && web_time_parse(json_string_value(v), out) == 0)
		return 0;
	bad_param(c, key, "use 2025-03-04T10:15:02Z or Unix milliseconds");
	return -1;
}

enum MHD_Result
web_h_export(struct web_call *c)
{
	static const char *const body_keys[] = {"format", "from", "to", NULL};
	struct station *st = station_of(c);
	struct export_job *job = NULL;
	struct MHD_Response *r;
	const char *fmt = "csv", *key;
	char disp[160], a[32], b[32];
	int64_t from = 0, to = INT64_MAX;
	int p[2] = {-1, -1};
	pthread_attr_t attr;
	pthread_t tid;
	json_t *v;

	if (c->body != NULL) {
		json_object_foreach(c->body, key, v)
		{
			size_t k;

			for (k = 0; body_keys[k] != NULL && strcmp(body_keys[k], key) != 0; k++)
				;
			if (body_keys[k] == NULL)
				return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "bad-request",
				    "unknown field '%.64s'; use format, from, to", key);
		}
		v = json_object_get(c->body, "format");
		if (v != NULL) {
			if (!json_is_string(v) || (strcmp(json_string_value(v), "csv") != 0 &&
						      strcmp(json_string_value(v), "json") != 0))
				return bad_param(c, "format", "must be \"csv\" or \"json\"");
			fmt = json_string_value(v);
		}
	}
	if (body_time(c, "from", &from) != 0 || body_time(c, "to", &to) != 0)
		return c->res;
	if (to <= from)
		return bad_param(c, "to", "must be later than 'from'");
	if (st == NULL || st->cfg == NULL || st->cfg->ledger_path == NULL || c->w->lq == NULL)
		return ledger_unavailable(c);
	job = calloc(1, sizeof(*job));
	if (job == NULL || (job->path = strdup(st->cfg->ledger_path)) == NULL || pipe(p) != 0) {
		if (job != NULL)
			free(job->path);
		free(job);
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "no resources for the export: %s", strerror(errno));
	}
	job->fd = p[1];
	job->fmt = strcmp(fmt, "json") == 0 ? LEDGER_EXPORT_JSON : LEDGER_EXPORT_CSV;
	job->from = from;
	job->to = to;
	snprintf(job->user, sizeof(job->user), "%s", c->sess.user);
	r = MHD_create_response_from_pipe(p[0]);
	if (r == NULL) {
		close(p[0]);
		close(p[1]);
		free(job->path);
		free(job);
		return MHD_NO;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, export_main, job) != 0) {
		pthread_attr_destroy(&attr);
		close(p[1]);
		free(job->path);
		free(job);
		MHD_destroy_response(r); /* closes p[0] */
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "cannot start the export");
	}
	pthread_attr_destroy(&attr);
	if (from > 0)
		compact_time(from, a, sizeof(a));
	else
		snprintf(a, sizeof(a), "begin");
	compact_time(to < INT64_MAX ? to : web_now_us(), b, sizeof(b));
	snprintf(disp, sizeof(disp), "attachment; filename=\"certstation-ledger-%s-%s.%s\"", a, b,
	    fmt);
	/* job belongs to the exporter thread now: only fmt (ours) from here on */
	MHD_add_response_header(r, "Content-Type",
	    strcmp(fmt, "json") == 0 ? "application/json" : "text/csv; charset=utf-8");
	MHD_add_response_header(r, "Content-Disposition", disp);
	/* a JSON report is assembled before its first byte: give a large
	 * ledger more than the idle timeout of ordinary connections */
	MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)600);
	fprintf(stderr, "certstation: dashboard: ledger export (%s) by '%s'\n", fmt, c->sess.user);
	return web_reply(c, MHD_HTTP_OK, r);
}

enum MHD_Result
web_h_shift(struct web_call *c)
{
	struct stats_snapshot ss;
	struct web_event *ev;
	json_t *o;

	if (c->body != NULL && json_object_size(c->body) != 0)
		return web_reply_error(c, MHD_HTTP_BAD_REQUEST, "bad-request",
		    "a new shift takes no fields");
	if (c->w->ctx.stats == NULL)
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "this station keeps no figures");
	stats_new_shift(c->w->ctx.stats);
	stats_snapshot_get(c->w->ctx.stats, &ss);
	ev = calloc(1, sizeof(*ev));
	if (ev != NULL) {
		ev->kind = WEB_EV_SHIFT;
		ev->at_us = web_now_us();
		ev->shift_number = ss.shift_number;
		ev->shift_started_us = ss.shift_started_us;
		snprintf(ev->by, sizeof(ev->by), "%s", c->sess.user);
		web_bus_publish(c->w->bus, ev);
		free(ev);
	}
	fprintf(stderr, "certstation: dashboard: shift %llu started by '%s'\n",
	    (unsigned long long)ss.shift_number, c->sess.user);
	o = json_pack("{s:I,s:o}", "number", (json_int_t)ss.shift_number, "started",
	    web_json_time(ss.shift_started_us));
	return web_reply_json(c, MHD_HTTP_OK, o);
}
