/*
 * web_metrics.c: GET /metrics in the Prometheus text format (0.0.4); the
 * metric names are listed in web-ui/API.md.
 *
 * Built from the same snapshots as the JSON API. The one query that scans
 * the ledger (rows per state) is cached for METRICS_STATES_TTL_US so a
 * scraper cannot make the dashboard's read connection busy.
 */
#include "web-ui/web_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX (1024 * 1024)
#define METRICS_STATES_TTL_US INT64_C(5000000)

struct mbuf {
	char *p;
	size_t len, cap;
	int failed;
};

static void mb_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mb_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		if (b->cap * 2 > METRICS_MAX) {
			b->failed = 1; /* the ceiling: never grow past it */
			return;
		}
		{
			char *np = realloc(b->p, b->cap * 2);

			if (np == NULL) {
				b->failed = 1;
				return;
			}
			b->p = np;
			b->cap *= 2;
		}
	}
}

/* A label value with \, " and newline escaped, into out. */
static const char *
label(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

static void
head(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
ledger_states(web *w, int64_t states[LEDGER_FAILED + 1], int *ok)
{
	int64_t now = web_now_us();
	struct ledger_reason_count none[1];
	struct cs_err err;
	size_t n;

	*ok = 0;
	if (w->lq == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	if (w->states_at_us != 0 && now - w->states_at_us < METRICS_STATES_TTL_US &&
	    now >= w->states_at_us) {
		memcpy(states, w->states, sizeof(w->states));
		*ok = 1;
	}
	pthread_mutex_unlock(&w->mu);
	if (*ok)
		return;
	if (ledger_query_reasons(w->lq, 0, INT64_MAX, none, 0, &n, states, &err) != 0)
		return;
	*ok = 1;
	pthread_mutex_lock(&w->mu);
	memcpy(w->states, states, sizeof(w->states));
	w->states_at_us = now;
	pthread_mutex_unlock(&w->mu);
}

char *
web_metrics_text(web *w, size_t *len)
{
	static const enum slot_state slot_states[] = {SLOT_DISCONNECTED, SLOT_IDLE, SLOT_EXCHANGE,
		SLOT_PASS, SLOT_FAIL, SLOT_PAUSED};
	struct mbuf b = {NULL, 0, 16384, 0};
	struct station *st = w->ctx.station;
	struct stats_snapshot *ss = malloc(sizeof(*ss));
	int64_t states[LEDGER_FAILED + 1];
	size_t nslots = w->ctx.line != NULL ? line_slot_count(w->ctx.line) : 0;
	char l1[160];
	int ok;

	b.p = malloc(b.cap);
	if (b.p == NULL || ss == NULL) {
		free(b.p);
		free(ss);
		return NULL;
	}
	web_stats_of(w, ss);

	head(&b, "certstation_build_info", "gauge", "Version of the running station.");
	mb_printf(&b, "certstation_build_info{version=\"%s\"} 1\n", CERTSTATION_VERSION);
	head(&b, "certstation_start_time_seconds", "gauge", "Unix time the station started.");
	mb_printf(&b, "certstation_start_time_seconds %.3f\n", (double)ss->started_us / 1e6);

	head(&b, "certstation_devices_total", "counter", "Device exchanges ended since start.");
	mb_printf(&b, "certstation_devices_total{result=\"pass\"} %llu\n",
	    (unsigned long long)ss->passed_total);
	mb_printf(&b, "certstation_devices_total{result=\"fail\"} %llu\n",
	    (unsigned long long)ss->failed_total);
	head(&b, "certstation_device_failures_total", "counter", "Failed exchanges by reason since start.");
	for (size_t k = 0; k < ss->reason_count && k < STATS_REASONS_MAX; k++)
		mb_printf(&b, "certstation_device_failures_total{reason=\"%s\"} %llu\n",
		    label(ss->reasons[k].reason, l1, sizeof(l1)),
		    (unsigned long long)ss->reasons[k].total);
	head(&b, "certstation_shift_number", "gauge", "Current shift (1 at start).");
	mb_printf(&b, "certstation_shift_number %llu\n", (unsigned long long)ss->shift_number);
	head(&b, "certstation_shift_devices", "gauge", "Devices finished this shift.");
	mb_printf(&b, "certstation_shift_devices{result=\"pass\"} %llu\n",
	    (unsigned long long)ss->passed_shift);
	mb_printf(&b, "certstation_shift_devices{result=\"fail\"} %llu\n",
	    (unsigned long long)ss->failed_shift);

	ledger_states(w, states, &ok);
	if (ok) {
		head(&b, "certstation_issuances", "gauge", "Ledger issuance rows by current state.");
		for (int s = LEDGER_RESERVED; s <= LEDGER_FAILED; s++)
			mb_printf(&b, "certstation_issuances{state=\"%s\"} %lld\n",
			    ledger_state_name((enum ledger_state)s), (long long)states[s]);
	}

	head(&b, "certstation_exchange_duration_seconds", "histogram",
	    "Device exchange duration, HELLO to RESULT.");
	for (size_t k = 0; k < STATS_DURATION_BUCKETS; k++)
		mb_printf(&b, "certstation_exchange_duration_seconds_bucket{le=\"%g\"} %llu\n",
		    ss->duration_bound_s[k], (unsigned long long)ss->duration_le[k]);
	mb_printf(&b, "certstation_exchange_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)ss->duration_count);
	mb_printf(&b, "certstation_exchange_duration_seconds_sum %.6f\n", ss->duration_sum_s);
	mb_printf(&b, "certstation_exchange_duration_seconds_count %llu\n",
	    (unsigned long long)ss->duration_count);

	if (st != NULL && st->hsm != NULL) {
		struct hsm_status hs;

		hsm_status_get(st->hsm, &hs);
		head(&b, "certstation_hsm_up", "gauge", "1 when the HSM can sign (ok or degraded).");
		mb_printf(&b, "certstation_hsm_up %d\n", hs.state != HSM_STATE_DOWN);
		head(&b, "certstation_hsm_state", "gauge", "1 for the HSM's current state.");
		for (int s = HSM_STATE_OK; s <= HSM_STATE_DOWN; s++)
			mb_printf(&b, "certstation_hsm_state{state=\"%s\"} %d\n",
			    hsm_state_name((enum hsm_state)s), hs.state == (enum hsm_state)s);
		head(&b, "certstation_hsm_signatures_total", "counter", "Good HSM signatures.");
		mb_printf(&b, "certstation_hsm_signatures_total %llu\n",
		    (unsigned long long)hs.signatures);
		head(&b, "certstation_hsm_sign_failures_total", "counter", "Failed HSM sign attempts.");
		mb_printf(&b, "certstation_hsm_sign_failures_total %llu\n",
		    (unsigned long long)hs.failures);
		head(&b, "certstation_hsm_session_reopens_total", "counter",
		    "HSM sessions reopened after errors.");
		mb_printf(&b, "certstation_hsm_session_reopens_total %llu\n",
		    (unsigned long long)hs.reopens);
		head(&b, "certstation_hsm_module_restarts_total", "counter",
		    "PKCS#11 module restarts (C_Finalize + C_Initialize) to get a lost token back.");
		mb_printf(&b, "certstation_hsm_module_restarts_total %llu\n",
		    (unsigned long long)hs.restarts);
		head(&b, "certstation_hsm_last_sign_seconds", "gauge", "Latency of the last C_Sign.");
		mb_printf(&b, "certstation_hsm_last_sign_seconds %.6f\n", (double)hs.last_sign_us / 1e6);
		head(&b, "certstation_hsm_sign_duration_seconds", "histogram", "C_Sign latency.");
		for (size_t k = 0; k < HSM_LATENCY_BUCKETS; k++)
			mb_printf(&b, "certstation_hsm_sign_duration_seconds_bucket{le=\"%g\"} %llu\n",
			    hs.latency_bound_s[k], (unsigned long long)hs.latency_le[k]);
		mb_printf(&b, "certstation_hsm_sign_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		    (unsigned long long)hs.latency_count);
		mb_printf(&b, "certstation_hsm_sign_duration_seconds_sum %.9f\n", hs.latency_sum_s);
		mb_printf(&b, "certstation_hsm_sign_duration_seconds_count %llu\n",
		    (unsigned long long)hs.latency_count);
	}

	head(&b, "certstation_fixture_state", "gauge", "1 for each slot's current state.");
	for (size_t k = 0; k < nslots; k++) {
		struct slot_snapshot snap;

		if (line_slot_snapshot(w->ctx.line, k, &snap) != 0)
			continue;
		label(snap.name, l1, sizeof(l1));
		for (size_t i = 0; i < sizeof(slot_states) / sizeof(slot_states[0]); i++)
			mb_printf(&b, "certstation_fixture_state{slot=\"%s\",state=\"%s\"} %d\n", l1,
			    slot_state_name(slot_states[i]), snap.state == slot_states[i]);
	}
	head(&b, "certstation_fixture_devices_total", "counter", "Devices per slot since start.");
	for (size_t k = 0; k < nslots; k++) {
		struct slot_snapshot snap;

		if (line_slot_snapshot(w->ctx.line, k, &snap) != 0)
			continue;
		label(snap.name, l1, sizeof(l1));
		mb_printf(&b, "certstation_fixture_devices_total{slot=\"%s\",result=\"pass\"} %llu\n",
		    l1, (unsigned long long)snap.passed);
		mb_printf(&b, "certstation_fixture_devices_total{slot=\"%s\",result=\"fail\"} %llu\n",
		    l1, (unsigned long long)snap.failed);
	}

	if (st != NULL && st->ledger != NULL) {
		struct ledger_stats ls;

		ledger_stats_get(st->ledger, &ls);
		head(&b, "certstation_ledger_commits_total", "counter", "Ledger group commits.");
		mb_printf(&b, "certstation_ledger_commits_total %llu\n", (unsigned long long)ls.commits);
		head(&b, "certstation_ledger_ops_committed_total", "counter", "Ledger ops made durable.");
		mb_printf(&b, "certstation_ledger_ops_committed_total %llu\n",
		    (unsigned long long)ls.ops_committed);
		head(&b, "certstation_ledger_commit_failures_total", "counter", "Failed ledger commits.");
		mb_printf(&b, "certstation_ledger_commit_failures_total %llu\n",
		    (unsigned long long)ls.commit_failures);
	}
	if (w->lq != NULL) {
		struct ledger_query_health h;
		struct cs_err err;

		if (ledger_query_health(w->lq, &h, &err) == 0) {
			head(&b, "certstation_ledger_size_bytes", "gauge", "Ledger file sizes.");
			mb_printf(&b, "certstation_ledger_size_bytes{file=\"db\"} %lld\n",
			    (long long)h.size_bytes);
			mb_printf(&b, "certstation_ledger_size_bytes{file=\"wal\"} %lld\n",
			    (long long)h.wal_bytes);
		}
	}
	head(&b, "certstation_web_sessions", "gauge", "Logged-in dashboard sessions.");
	mb_printf(&b, "certstation_web_sessions %zu\n", web_session_count(w->sessions, web_now_us()));
	pthread_mutex_lock(&w->mu);
	ok = (int)w->streams;
	pthread_mutex_unlock(&w->mu);
	head(&b, "certstation_web_streams", "gauge", "Open dashboard event streams.");
	mb_printf(&b, "certstation_web_streams %d\n", ok);

	free(ss);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

enum MHD_Result
web_h_metrics(struct web_call *c)
{
	static const char *const keys[] = {NULL};
	struct MHD_Response *r;
	size_t len = 0;
	char *text;

	WEB_PARAMS_ONLY(c, keys);
	text = web_metrics_text(c->w, &len);
	if (text == NULL)
		return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
		    "the metrics did not fit their buffer");
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	return web_reply(c, MHD_HTTP_OK, r);
}
