/*
 * line.h: the production line: every fixture slot's session, run at once.
 *
 * Contract: line_start() starts one thread per configured slot and one
 * hot-plug watcher. Each slot finds its port through its match rule, opens
 * it, and runs exchanges one device after another:
 *
 *   IDLE --HELLO--> CSR_REQUEST sent (fresh nonce) --CSR--> issue (policy,
 *   HSM, ledger SIGNED) --> CHAIN sent --acknowledged--> ledger INJECTED
 *   --READBACK matches--> ledger VERIFIED --> RESULT pass --> IDLE
 *
 * Every step has a timeout; the frame dialect retransmits on its own. Any
 * failure (device pulled, garbage, stall, refused CSR, wrong read-back) ends
 * that device's exchange in FAILED(reason) in the ledger, tells the device
 * with RESULT fail when the line still works, and leaves the slot ready for
 * the next device at once. Slots share nothing but the issuer and the
 * ledger (both thread-safe), so one slot's trouble never reaches another.
 * A device that returns after an interrupted exchange with the same ID and
 * key gets the same certificate again (the issuer's re-delivery rule).
 *
 * Readers (CLI, dashboard) take snapshots: a copy made under the slot's own
 * small lock, never a lock the issuance path holds.
 *
 * Threads: line_start()/line_stop() from one thread; snapshots, pause and
 * the event hook from any thread until line_stop() begins (not during or
 * after it). The event callback runs on slot threads: keep it short.
 */
#ifndef STATION_LINE_H
#define STATION_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "fixtures/fixture.h"
#include "protocols/proto.h"
#include "station/config.h"
#include "station/cs_error.h"
#include "station/issuer.h"
#include "station/ledger.h"

typedef struct line line;

enum slot_state {
	SLOT_DISCONNECTED = 1, /* no port matches the slot's rule (or it cannot be opened) */
	SLOT_IDLE,             /* port open, waiting for a device's HELLO */
	SLOT_EXCHANGE,         /* a device is being provisioned; see step */
	SLOT_PASS,             /* last device VERIFIED; waiting for the next */
	SLOT_FAIL,             /* last device FAILED; waiting for the next */
	SLOT_PAUSED,           /* operator paused the slot: devices are not served */
};

enum slot_step {
	STEP_NONE = 0,
	STEP_CSR,      /* CSR_REQUEST sent, receiving the CSR */
	STEP_ISSUE,    /* policy, HSM signature, ledger */
	STEP_CHAIN,    /* sending the chain */
	STEP_READBACK, /* waiting for the device's read-back */
	STEP_RESULT,   /* telling the device the verdict */
};

#define SLOT_NAME_MAX 64

struct slot_snapshot {
	char name[SLOT_NAME_MAX + 1];
	enum slot_state state;
	enum slot_step step;
	enum proto_dialect dialect;
	char port[PORT_PATH_MAX];          /* where the slot's port is now; "" if absent */
	char device_id[PROTO_DEVICE_ID_MAX + 1]; /* device in the exchange, else the last one */
	char last_reason[64];              /* cs_reason_name() of the last failure, "" after a pass */
	char last_text[CS_ERR_MSG_MAX];    /* its sentence (or why the port is unusable) */
	uint64_t passed, failed;           /* devices since start */
	int64_t state_since_us;            /* CLOCK_REALTIME, Unix microseconds */
	int64_t last_duration_us;          /* last exchange, HELLO to RESULT */
	uint64_t bytes_in, bytes_out;      /* last exchange, on the wire */
};

/* What just happened on a slot (for logs, metrics, the dashboard). */
enum line_event_kind {
	LINE_EV_SLOT_STATE = 1, /* state/step changed (snapshot in ev) */
	LINE_EV_DEVICE_DONE,    /* an exchange ended: status 0 = VERIFIED */
};

struct line_event {
	enum line_event_kind kind;
	const struct slot_snapshot *slot;
	int status;            /* DEVICE_DONE: 0 or the CS_ERR_* reason */
	int64_t ledger_id;     /* DEVICE_DONE: the issuance row, 0 if none */
	int64_t duration_us;   /* DEVICE_DONE */
};

typedef void (*line_event_fn)(void *arg, const struct line_event *ev);

/* Start every slot of cfg->line. issuer and ledger are borrowed and must
 * outlive the line. on_event may be NULL. */
line *line_start(const struct cs_config *cfg, issuer *is, ledger *l, line_event_fn on_event,
    void *arg, struct cs_err *err);

/* Stop all slots: an exchange in flight is abandoned safely (ledger row
 * FAILED("aborted") unless already VERIFIED; the device hears RESULT fail
 * "aborted" if the line works) and ports are closed. NULL is fine. */
void line_stop(line *ln);

/* 1 when a slot thread has not come round its loop for over max_ms (a
 * PKCS#11 call or a write that never returns), with why filled; else 0.
 * A healthy slot comes round at least once a second. Any thread. */
int line_stuck(line *ln, uint64_t max_ms, char *why, size_t cap);

size_t line_slot_count(const line *ln);
int line_slot_snapshot(line *ln, size_t index, struct slot_snapshot *out);
/* Index of the slot named name, or -1. */
int line_slot_find(const line *ln, const char *name);

/* Pause (1) or resume (0) a slot. A paused slot finishes nothing new: an
 * exchange in flight is aborted like at shutdown. */
int line_slot_pause(line *ln, size_t index, int paused);

const char *slot_state_name(enum slot_state s); /* "idle", "exchange", ... */
const char *slot_step_name(enum slot_step s);   /* "csr", "issue", ... */

#endif
