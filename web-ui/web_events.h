/*
 * web_events.h: the hand-over of line events from slot threads to the
 * dashboard's event streams.
 *
 * Contract: one bounded ring of WEB_BUS_RING events, written by
 * web_bus_publish() and read by every stream through its own cursor (the
 * sequence number of the next event it wants). The publisher copies the
 * event into the ring under a mutex held for that copy only and wakes the
 * readers; it never waits for a reader, allocates or does I/O. A reader
 * whose cursor has fallen more than WEB_BUS_RING events behind has lost
 * events: web_bus_read() says so once (WEB_BUS_OVERFLOW) and moves the
 * cursor to the next event to be published (the stream tells its page to
 * reload its snapshot), so each stream's backlog is bounded by the ring
 * whatever its client does.
 *
 * DESIGN: one shared ring with per-reader cursors rather than a ring per
 * reader: the slot thread pays one copy per event however many browsers
 * watch, and a slow browser costs nobody else anything.
 *
 * Threads: publish from any thread (slot threads); read from the stream
 * threads; stop from the thread that stops the server.
 */
#ifndef WEB_UI_WEB_EVENTS_H
#define WEB_UI_WEB_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "station/line.h"
#include "station/users.h"

#define WEB_BUS_RING 256

enum web_event_kind {
	WEB_EV_SLOT = 1, /* slot state/step changed */
	WEB_EV_DEVICE,   /* a device's exchange ended */
	WEB_EV_SHIFT,    /* a new shift started */
};

struct web_event {
	uint64_t seq; /* set by publish */
	enum web_event_kind kind;
	int64_t at_us; /* CLOCK_REALTIME */
	struct slot_snapshot slot;  /* SLOT, DEVICE */
	int status;                 /* DEVICE: 0 or CS_ERR_* reason */
	int64_t ledger_id;          /* DEVICE: 0 if none */
	int64_t duration_us;        /* DEVICE */
	uint64_t shift_number;      /* SHIFT */
	int64_t shift_started_us;   /* SHIFT */
	char by[USER_NAME_MAX + 1]; /* SHIFT: who started it */
};

typedef struct web_bus web_bus;

web_bus *web_bus_new(void);
void web_bus_free(web_bus *b); /* after every reader is gone; NULL is fine */

/* Copy ev into the ring (ev->seq is assigned). Never blocks on readers. */
void web_bus_publish(web_bus *b, const struct web_event *ev);

/* The cursor a new reader starts from: the next event to be published. */
uint64_t web_bus_cursor(web_bus *b);

enum web_bus_result {
	WEB_BUS_EVENT = 1,    /* *out holds the next event; cursor advanced */
	WEB_BUS_TIMEOUT = 0,  /* nothing new within timeout_ms */
	WEB_BUS_OVERFLOW = -1,/* events were lost; cursor moved to now */
	WEB_BUS_STOPPED = -2, /* the bus is stopping */
};

/* Wait up to timeout_ms for the event at *cursor. */
enum web_bus_result web_bus_read(web_bus *b, uint64_t *cursor, struct web_event *out /* OUT */,
    unsigned timeout_ms);

/* Wake every reader now without an event (they re-check their stream:
 * session ended, stats due). */
void web_bus_poke(web_bus *b);

/* Make every read return WEB_BUS_STOPPED from now on. */
void web_bus_stop(web_bus *b);

#endif
