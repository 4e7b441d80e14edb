/*
 * web_stream.c: live events for the page (Server-Sent Events at
 * /api/v1/events) and web_publish(), the slot threads' way in.
 *
 * DESIGN: each stream is a libmicrohttpd response whose content callback
 * runs on the connection's own thread and blocks on the event bus for at
 * most the time left until its next 1 s "stats" tick. It formats events
 * itself, outside any lock; slot threads only copy an event into the bus.
 * A stream ends when the server stops, the session ends (logout, idle
 * timeout: an "expired" event first), or the client goes away (the next
 * write fails and libmicrohttpd frees the stream).
 */
#include "station/clock.h"
#include "web-ui/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM_TICK_MS 1000
#define STREAM_OUT_MAX (1024 * 1024) /* one formatted event never comes near this */

struct stream {
	web *w;
	uint64_t cursor;
	uint64_t next_id;
	uint8_t sess_hash[32];
	char user[USER_NAME_MAX + 1];
	enum user_role role;
	char *out;
	size_t out_len, out_off, out_cap;
	int hello_sent, ended;
	int64_t next_tick_ms; /* CLOCK_MONOTONIC */
};

static int
out_put(struct stream *s, const char *p, size_t n)
{
	if (s->out_len + n > s->out_cap) {
		size_t cap = s->out_cap != 0 ? s->out_cap : 4096;
		char *np;

		while (cap < s->out_len + n)
			cap *= 2;
		if (cap > STREAM_OUT_MAX)
			return -1;
		np = realloc(s->out, cap);
		if (np == NULL)
			return -1;
		s->out = np;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
	return 0;
}

/* "event: NAME\nid: N\ndata: JSON\n\n"; steals data. */
static int
emit(struct stream *s, const char *name, json_t *data)
{
	char head[96];
	char *text = data != NULL ? json_dumps(data, WEB_JSON_FLAGS) : NULL;
	int rc;

	json_decref(data);
	if (text == NULL)
		return -1;
	snprintf(head, sizeof(head), "event: %s\nid: %llu\ndata: ", name,
	    (unsigned long long)s->next_id++);
	rc = out_put(s, head, strlen(head));
	if (rc == 0)
		rc = out_put(s, text, strlen(text));
	if (rc == 0)
		rc = out_put(s, "\n\n", 2);
	free(text);
	return rc;
}

static json_t *
stats_tick_json(web *w)
{
	struct stats_snapshot ss;
	struct hsm_status hs;
	json_t *hsm_j = json_null();
	int issuing = 0;
	struct station *st = w->ctx.station;

	web_stats_of(w, &ss);
	if (st != NULL && st->hsm != NULL) {
		hsm_status_get(st->hsm, &hs);
		hsm_j = json_pack("{s:s,s:I}", "state", hsm_state_name(hs.state), "last_sign_us",
		    (json_int_t)hs.last_sign_us);
		issuing = hs.state != HSM_STATE_DOWN;
	}
	return json_pack("{s:o,s:o,s:f,s:f,s:{s:o,s:I,s:I},s:o,s:b}",
	    "now", web_json_time(ss.now_us),
	    "shift", web_json_shift_summary(&ss),
	    "devices_per_hour", ss.devices_per_hour,
	    "devices_per_minute", ss.devices_per_hour / 60.0,
	    "minute",
	        "start", web_json_time(ss.minute0_us),
	        "passed", (json_int_t)ss.passed_per_minute[0],
	        "failed", (json_int_t)ss.failed_per_minute[0],
	    "hsm", hsm_j != NULL ? hsm_j : json_null(),
	    "issuing", issuing);
}

static int
emit_hello(struct stream *s)
{
	struct stats_snapshot ss;
	json_t *slots = web_json_slots(s->w, 0), *o;

	web_stats_of(s->w, &ss);
	o = json_pack("{s:s,s:o,s:s,s:o,s:o,s:o}",
	    "version", CERTSTATION_VERSION,
	    "user", web_json_text(s->user),
	    "role", user_role_name(s->role),
	    "now", web_json_time(web_now_us()),
	    "slots", slots != NULL && json_object_get(slots, "slots") != NULL
			 ? json_incref(json_object_get(slots, "slots"))
			 : json_array(),
	    "throughput", web_json_throughput(&ss));
	json_decref(slots);
	if (out_put(s, "retry: 2000\n\n", 13) != 0)
		return -1;
	return emit(s, "hello", o);
}

static int
emit_event(struct stream *s, const struct web_event *ev)
{
	line *ln = s->w->ctx.line;
	int index = ln != NULL ? line_slot_find(ln, ev->slot.name) : -1;

	switch (ev->kind) {
	case WEB_EV_SLOT:
		return emit(s, "slot", web_json_slot(&ev->slot, index));
	case WEB_EV_DEVICE:
		return emit(s, "device", json_pack("{s:o,s:o,s:s,s:o,s:o,s:o,s:f,s:o}",
		    "slot", web_json_text(ev->slot.name),
		    "device_id", web_json_text(ev->slot.device_id),
		    "result", ev->status == 0 ? "pass" : "fail",
		    "reason", json_string(ev->status == 0 ? "" : cs_reason_name(ev->status)),
		    "reason_text", web_json_text(ev->status == 0 ? "" : ev->slot.last_text),
		    "ledger_id", ev->ledger_id > 0 ? json_integer(ev->ledger_id) : json_null(),
		    "duration_ms", (double)ev->duration_us / 1000.0,
		    "at", web_json_time(ev->at_us)));
	case WEB_EV_SHIFT:
		return emit(s, "shift", json_pack("{s:I,s:o,s:o}", "number",
		    (json_int_t)ev->shift_number, "started", web_json_time(ev->shift_started_us),
		    "by", web_json_text(ev->by)));
	}
	return 0;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	struct web_event *ev = NULL;
	ssize_t ret = 0;

	(void)pos;
	for (;;) {
		int64_t now;
		enum web_bus_result r;
		int rc = 0;

		if (s->out_off < s->out_len) {
			size_t n = s->out_len - s->out_off < max ? s->out_len - s->out_off : max;

			memcpy(buf, s->out + s->out_off, n);
			s->out_off += n;
			ret = (ssize_t)n;
			break;
		}
		s->out_len = s->out_off = 0;
		if (s->ended) {
			ret = MHD_CONTENT_READER_END_OF_STREAM;
			break;
		}
		if (!s->hello_sent) {
			s->hello_sent = 1;
			s->next_tick_ms = (int64_t)cs_mono_ms() + STREAM_TICK_MS;
			if (emit_hello(s) != 0)
				s->ended = 1;
			continue;
		}
		now = (int64_t)cs_mono_ms();
		if (now >= s->next_tick_ms) {
			s->next_tick_ms = now + STREAM_TICK_MS;
			if (!web_session_alive(s->w->sessions, s->sess_hash, web_now_us())) {
				rc = emit(s, "expired", json_object());
				s->ended = 1;
			} else {
				rc = emit(s, "stats", stats_tick_json(s->w));
			}
			if (rc != 0)
				s->ended = 1;
			continue;
		}
		if (ev == NULL && (ev = malloc(sizeof(*ev))) == NULL) {
			ret = MHD_CONTENT_READER_END_WITH_ERROR;
			break;
		}
		r = web_bus_read(s->w->bus, &s->cursor, ev, (unsigned)(s->next_tick_ms - now));
		if (r == WEB_BUS_EVENT)
			rc = emit_event(s, ev);
		else if (r == WEB_BUS_OVERFLOW)
			rc = emit(s, "resync", json_pack("{s:s}", "reason", "overflow"));
		else if (r == WEB_BUS_STOPPED)
			s->ended = 1;
		else if (!web_session_alive(s->w->sessions, s->sess_hash, web_now_us()))
			s->next_tick_ms = now; /* woken by a logout: say so now */
		if (rc != 0)
			s->ended = 1;
	}
	free(ev);
	return ret;
}

static void
stream_free(void *cls)
{
	struct stream *s = cls;

	pthread_mutex_lock(&s->w->mu);
	s->w->streams--;
	pthread_mutex_unlock(&s->w->mu);
	free(s->out);
	free(s);
}

enum MHD_Result
web_h_events(struct web_call *c)
{
	static const char *const keys[] = {NULL};
	web *w = c->w;
	struct MHD_Response *r;
	struct stream *s;
	int full;

	WEB_PARAMS_ONLY(c, keys);
	pthread_mutex_lock(&w->mu);
	full = w->streams >= WEB_STREAMS_MAX;
	if (!full)
		w->streams++;
	pthread_mutex_unlock(&w->mu);
	if (full)
		return web_reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too-many-streams",
		    "%d event streams are open already; close a dashboard tab", WEB_STREAMS_MAX);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto fail;
	s->w = w;
	s->cursor = web_bus_cursor(w->bus);
	s->next_id = 1;
	memcpy(s->sess_hash, c->sess.id_hash, sizeof(s->sess_hash));
	snprintf(s->user, sizeof(s->user), "%s", c->sess.user);
	s->role = c->sess.role;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
	if (r == NULL) {
		free(s);
		goto fail;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	return web_reply(c, MHD_HTTP_OK, r);
fail:
	pthread_mutex_lock(&w->mu);
	w->streams--;
	pthread_mutex_unlock(&w->mu);
	return web_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
}

void
web_publish(web *w, const struct line_event *ev)
{
	struct web_event we;

	if (w == NULL || ev == NULL || ev->slot == NULL)
		return;
	if (ev->kind != LINE_EV_SLOT_STATE && ev->kind != LINE_EV_DEVICE_DONE)
		return;
	memset(&we, 0, sizeof(we));
	we.kind = ev->kind == LINE_EV_DEVICE_DONE ? WEB_EV_DEVICE : WEB_EV_SLOT;
	we.at_us = web_now_us();
	we.slot = *ev->slot;
	we.status = ev->status;
	we.ledger_id = ev->ledger_id;
	we.duration_us = ev->duration_us;
	web_bus_publish(w->bus, &we);
}
