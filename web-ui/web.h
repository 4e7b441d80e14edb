/*
 * web.h: the dashboard server inside `certstation run`.
 *
 * Contract: web_start() starts libmicrohttpd on the configured address
 * (127.0.0.1:8080 by default; HTTPS when a certificate and key are
 * configured) serving the static page built into the binary, the versioned
 * JSON API under /api/v1/ (web-ui/API.md), live events (Server-Sent Events),
 * and Prometheus /metrics. Reading needs a logged-in user; actions need a
 * role that allows them. Everything it shows comes from snapshots (slot
 * snapshots, stats, HSM status) or its own read-only ledger connection, so
 * serving the page never holds a lock the issuance path needs.
 *
 * Threads: web_start()/web_stop() from one thread; web_publish() from any
 * thread (the line's slot threads), never blocks.
 */
#ifndef WEB_UI_WEB_H
#define WEB_UI_WEB_H

#include "station/config.h"
#include "station/cs_error.h"
#include "station/line.h"
#include "station/station.h"
#include "station/stats.h"

typedef struct web web;

struct web_context {
	struct station *station; /* config, HSM status, CA chain, ledger path */
	line *line;              /* slot snapshots, pause/resume */
	stats *stats;            /* throughput, yield, failures, durations */
};

/* NULL with err if the address cannot be bound, the TLS files do not load,
 * or the users file is unreadable (a missing users file is allowed: nobody
 * can log in until `certstation user add` creates one; a warning says so). */
web *web_start(const struct web_config *cfg, const struct web_context *ctx, struct cs_err *err);

/* Close the listener and every connection (event streams end). NULL is fine. */
void web_stop(web *w);

/* Hand a line event to live subscribers. Never blocks: a subscriber that
 * cannot keep up loses events and is told to reload its snapshot. */
void web_publish(web *w, const struct line_event *ev);

#endif
