/*
 * line.c: the per-slot sessions and the hot-plug watcher.
 *
 * DESIGN: one thread per slot. A slot spends its life waiting on two file
 * descriptors (its port and a wake pipe) with a deadline; the protocol is a
 * sans-I/O proto_link, so all I/O, time and ledger calls are here and the
 * codec stays pure. The issuance itself is a blocking issuer_issue(): the
 * slot has nothing else to do meanwhile, the device is waiting for its
 * chain, and other slots run on their own threads. Ledger transitions the
 * slot makes (INJECTED, VERIFIED, FAILED) are synchronous too, so the device
 * is never told "pass" before VERIFIED is durable.
 *
 * A watcher thread polls the fixture map every scan_interval_ms and hands
 * each slot the port its rule points at now; a slot whose port moved or
 * went away is woken through its pipe and reopens.
 */
#define _GNU_SOURCE
#include "station/clock.h"
#include "station/line.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "fixtures/port.h"

#define LINE_CHAIN_DER_MAX PROTO_CHAIN_MAX
#define LINE_WRITE_SLACK_MS 2000
/* Bad frames/lines tolerated within one exchange before it is declared
 * garbage: enough for line noise and retransmissions, not for a device that
 * sends nothing valid. */
#define LINE_BAD_FRAMES_MAX 12
/* A partial frame or line followed by this much silence is a device that
 * stopped in the middle of it; less, and it was still sending. */
#define LINE_STALL_SILENCE_MS 1000

struct exchange {
	int active;
	enum slot_step step;
	char device_id[PROTO_DEVICE_ID_MAX + 1];
	char challenge[2 * PROTO_NONCE_LEN + 1];
	uint8_t nonce[PROTO_NONCE_LEN];
	int64_t ledger_id;   /* issuance row, 0 until the issuer answered */
	int row_final;       /* the row already tells the outcome (issuer refusal, VERIFIED) */
	int redelivered;
	int status;          /* outcome: 0 or CS_ERR_* */
	char text[CS_ERR_MSG_MAX];
	uint8_t chain_sha256[32];
	uint64_t deadline_ms;
	uint32_t bad_at_start;
	uint64_t bytes_in_start, bytes_out_start;
	/* timings, monotonic ms */
	uint64_t t_hello, t_csr_req, t_csr, t_issued, t_injected, t_readback, t_end;
	/* the chain being delivered */
	uint8_t chain_der[LINE_CHAIN_DER_MAX];
	size_t chain_len;
};

struct slot {
	line *ln;
	size_t index;
	const struct slot_config *cfg;
	/* the ledger's fixture column: the rule that finds the fixture's port
	 * ("usb-serial=FT1234"), so a row names the physical fixture even after
	 * the map is edited; a long path keeps its distinctive tail */
	char fixture[LEDGER_NAME_MAX + 1];
	pthread_t thread;
	int thread_started;
	int wake[2];

	pthread_mutex_t mu;            /* guards snap, spec, spec_gen, paused */
	struct slot_snapshot snap;
	char spec[PORT_PATH_MAX];      /* from the watcher; "" = absent */
	unsigned spec_gen;
	int paused;

	/* slot thread only */
	uint64_t quiet_until_ms; /* after RESULT: input before this is the old device's */
	uint32_t good_seen;   /* valid frames + lines received so far */
	uint64_t bytes_mark;  /* link bytes_in when the last valid one arrived */
	uint64_t rx_last_ms;  /* when the last byte arrived */
	/* written by the slot thread each time round its loops (at least once a
	 * second when healthy), read by line_stuck() */
	_Atomic uint64_t alive_ms;
	port *port;
	struct proto_link link;
	struct exchange ex;
	uint8_t rx_buf[PROTO_MSG_MAX];
	uint8_t tx_buf[PROTO_MSG_MAX];
	uint8_t frame_buf[PROTO_FRAME_MAX + 64];
	uint8_t io_buf[4096];
};

struct line {
	const struct cs_config *cfg;
	issuer *issuer;
	ledger *ledger;
	line_event_fn on_event;
	void *arg;
	atomic_int stopping;
	struct slot *slots;
	size_t count;
	pthread_t watcher;
	int watcher_started;
	int watch_wake[2];
	struct fixture_match *rules;
};

/* ---- small helpers ---- */

static void line_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line per event on stderr (journald adds the time when run as a unit). */
static void
line_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "certstation: %s\n", buf);
}

static void
wake_signal(int fd)
{
	ssize_t n;

	do {
		n = write(fd, "x", 1);
	} while (n < 0 && errno == EINTR);
}

static void
wake_drain(int fd)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0) {
	}
}

static int
pipe_nonblock(int p[2])
{
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
		p[0] = p[1] = -1;
		return -1;
	}
	return 0;
}

const char *
slot_state_name(enum slot_state s)
{
	switch (s) {
	case SLOT_DISCONNECTED:
		return "disconnected";
	case SLOT_IDLE:
		return "idle";
	case SLOT_EXCHANGE:
		return "exchange";
	case SLOT_PASS:
		return "pass";
	case SLOT_FAIL:
		return "fail";
	case SLOT_PAUSED:
		return "paused";
	}
	return "unknown";
}

const char *
slot_step_name(enum slot_step s)
{
	switch (s) {
	case STEP_NONE:
		return "none";
	case STEP_CSR:
		return "csr";
	case STEP_ISSUE:
		return "issue";
	case STEP_CHAIN:
		return "chain";
	case STEP_READBACK:
		return "readback";
	case STEP_RESULT:
		return "result";
	}
	return "unknown";
}

/* What the device is told for a station-side reason. */
static uint16_t
proto_reason_for(int code)
{
	switch (code) {
	case CS_OK:
		return PROTO_R_OK;
	case CS_ERR_CSR_TOO_LARGE:
	case CS_ERR_CSR_MALFORMED:
	case CS_ERR_CSR_SIGNATURE:
	case CS_ERR_CSR_KEY_TYPE:
	case CS_ERR_CSR_UNSUPPORTED:
		return PROTO_R_CSR_REFUSED;
	case CS_ERR_CSR_NONCE:
		return PROTO_R_NONCE;
	case CS_ERR_POLICY_PROFILE:
	case CS_ERR_POLICY_DEVICE_ID:
	case CS_ERR_POLICY_NOT_ALLOWED:
	case CS_ERR_POLICY_QUOTA:
	case CS_ERR_POLICY_REISSUE:
	case CS_ERR_POLICY_CA_REQUEST:
	case CS_ERR_POLICY_LINT:
	case CS_ERR_POLICY_DEVICE_FAILED:
	case CS_ERR_BUSY:
		return PROTO_R_POLICY;
	case CS_ERR_DEVICE_READBACK:
		return PROTO_R_READBACK;
	case CS_ERR_DEVICE_TIMEOUT:
		return PROTO_R_TIMEOUT;
	case CS_ERR_DEVICE_PROTOCOL:
		return PROTO_R_PROTOCOL;
	case CS_ERR_DEVICE_TOO_LARGE:
		return PROTO_R_TOO_LARGE;
	case CS_ERR_ABORTED:
		return PROTO_R_ABORTED;
	case CS_ERR_DEVICE_VERSION:
		return PROTO_R_VERSION;
	case CS_ERR_DEVICE_ERROR:
		return PROTO_R_DEVICE;
	default:
		return PROTO_R_STATION;
	}
}

static void
bytes_to_str(const struct proto_bytes *b, char *out, size_t cap)
{
	size_t n = b->len < cap - 1 ? b->len : cap - 1;

	if (n > 0)
		memcpy(out, b->p, n);
	out[n] = '\0';
}

/* ---- snapshots and events ---- */

static void
slot_emit(struct slot *s, enum line_event_kind kind, int status, int64_t ledger_id,
    int64_t duration_us)
{
	struct slot_snapshot copy;
	struct line_event ev;

	if (s->ln->on_event == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	copy = s->snap;
	pthread_mutex_unlock(&s->mu);
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.slot = &copy;
	ev.status = status;
	ev.ledger_id = ledger_id;
	ev.duration_us = duration_us;
	s->ln->on_event(s->ln->arg, &ev);
}

static void
slot_set(struct slot *s, enum slot_state state, enum slot_step step, const char *text)
{
	int changed;

	pthread_mutex_lock(&s->mu);
	changed = s->snap.state != state || s->snap.step != step;
	if (changed)
		s->snap.state_since_us = cs_real_us();
	s->snap.state = state;
	s->snap.step = step;
	if (text != NULL)
		snprintf(s->snap.last_text, sizeof(s->snap.last_text), "%s", text);
	pthread_mutex_unlock(&s->mu);
	if (changed)
		slot_emit(s, LINE_EV_SLOT_STATE, 0, 0, 0);
}

/* ---- port I/O ---- */

/* Write everything the link wants on the wire now. */
static int
slot_flush(struct slot *s, struct cs_err *err)
{
	uint64_t now = cs_mono_ms();
	/* Pieces of about a quarter second of wire time: a long text message
	 * at a low baud rate takes many seconds, and the slot must still show
	 * it is alive (line_stuck(), the service watchdog) between pieces. */
	size_t piece = s->cfg->line.baud / 40u, n;

	if (piece < 16)
		piece = 16;
	if (piece > sizeof(s->io_buf))
		piece = sizeof(s->io_buf);
	while ((n = proto_link_output(&s->link, s->io_buf, piece, now)) > 0) {
		/* the line takes 10 bit times per byte; allow that plus slack */
		int timeout = (int)(n * 10000u / s->cfg->line.baud) + LINE_WRITE_SLACK_MS;
		int rc = port_write(s->port, s->io_buf, n, timeout, err);

		if (rc != 0)
			return rc;
		now = cs_mono_ms();
		atomic_store_explicit(&s->alive_ms, now, memory_order_relaxed);
	}
	return 0;
}

static int
slot_send(struct slot *s, const struct proto_msg *m, struct cs_err *err)
{
	int rc = proto_link_send(&s->link, m, cs_mono_ms());

	if (rc != PROTO_OK)
		return cs_err_set(err, CS_ERR_INTERNAL, "slot %s: cannot queue %s: %s", s->cfg->name,
		    proto_type_name(m->type), proto_status_name(rc));
	return slot_flush(s, err);
}

/* ---- the exchange ---- */

static void
timings_json(const struct exchange *ex, const struct proto_link *link, char *out, size_t cap)
{
	uint64_t end = ex->t_end != 0 ? ex->t_end : cs_mono_ms();
	size_t used = 0;
	int w;

#define STEP(key, a, b)                                                                     \
	do {                                                                                \
		if ((a) != 0 && (b) != 0 && used < cap) {                                   \
			w = snprintf(out + used, cap - used, "%s\"" key "\":%llu",            \
			    used > 1 ? "," : "", (unsigned long long)((b) - (a)));            \
			if (w > 0)                                                          \
				used += (size_t)w;                                          \
		}                                                                           \
	} while (0)
	w = snprintf(out, cap, "{");
	used = w > 0 ? (size_t)w : 0;
	STEP("csr_ms", ex->t_csr_req, ex->t_csr);
	STEP("issue_ms", ex->t_csr, ex->t_issued);
	STEP("chain_ms", ex->t_issued, ex->t_injected);
	STEP("readback_ms", ex->t_injected, ex->t_readback);
	STEP("total_ms", ex->t_hello, end);
#undef STEP
	if (used < cap)
		snprintf(out + used, cap - used, "%s\"bytes_in\":%llu,\"bytes_out\":%llu}",
		    used > 1 ? "," : "",
		    (unsigned long long)(link->stats.bytes_in - ex->bytes_in_start),
		    (unsigned long long)(link->stats.bytes_out - ex->bytes_out_start));
}

/* Record the outcome in the ledger (if the row does not already say it). */
static void
slot_record_failure(struct slot *s)
{
	struct exchange *ex = &s->ex;
	char timings[LEDGER_TIMINGS_MAX];
	struct cs_err err = {0};
	struct ledger_op op;
	int rc;

	if (ex->row_final)
		return;
	timings_json(ex, &s->link, timings, sizeof(timings));
	memset(&op, 0, sizeof(op));
	op.reason = ex->status;
	op.reason_text = ex->text;
	op.timings = timings;
	op.duration_us = (int64_t)(cs_mono_ms() - ex->t_hello) * 1000;
	op.err = &err;
	if (ex->ledger_id > 0) {
		op.kind = LEDGER_OP_FAILED;
		op.id = ex->ledger_id;
	} else {
		op.kind = LEDGER_OP_REFUSED;
		op.device_id = ex->device_id;
		op.profile = s->cfg->profile != NULL ? s->cfg->profile
						     : s->ln->cfg->default_profile;
		op.slot = s->cfg->name;
		op.fixture = s->fixture;
	}
	rc = ledger_apply(s->ln->ledger, &op);
	if (rc != 0)
		/* e.g. a re-delivery to a device that was VERIFIED before: the row
		 * keeps VERIFIED, the certificate in it is still good */
		line_log("slot %s: %s: ledger kept its row as it was: %s", s->cfg->name,
		    ex->device_id, err.msg);
	else if (ex->ledger_id <= 0)
		ex->ledger_id = op.id;
	ex->row_final = 1;
}

static void
slot_finish(struct slot *s)
{
	struct exchange *ex = &s->ex;
	int64_t dur_us;

	ex->t_end = cs_mono_ms();
	dur_us = (int64_t)(ex->t_end - ex->t_hello) * 1000;
	if (ex->status != 0)
		slot_record_failure(s);
	pthread_mutex_lock(&s->mu);
	if (ex->status == 0) {
		s->snap.passed++;
		s->snap.last_reason[0] = '\0';
		s->snap.last_text[0] = '\0';
	} else {
		s->snap.failed++;
		snprintf(s->snap.last_reason, sizeof(s->snap.last_reason), "%s",
		    cs_reason_name(ex->status));
		snprintf(s->snap.last_text, sizeof(s->snap.last_text), "%s", ex->text);
	}
	s->snap.last_duration_us = dur_us;
	s->snap.bytes_in = s->link.stats.bytes_in - ex->bytes_in_start;
	s->snap.bytes_out = s->link.stats.bytes_out - ex->bytes_out_start;
	pthread_mutex_unlock(&s->mu);
	if (ex->status == 0)
		line_log("slot %s: %s VERIFIED in %llu ms%s (issuance %lld)", s->cfg->name,
		    ex->device_id, (unsigned long long)(dur_us / 1000),
		    ex->redelivered ? ", certificate re-delivered" : "", (long long)ex->ledger_id);
	else
		line_log("slot %s: %s FAILED %s: %s", s->cfg->name,
		    ex->device_id[0] != '\0' ? ex->device_id : "(no device ID)",
		    cs_reason_name(ex->status), ex->text);
	slot_set(s, ex->status == 0 ? SLOT_PASS : SLOT_FAIL, STEP_NONE, NULL);
	slot_emit(s, LINE_EV_DEVICE_DONE, ex->status, ex->ledger_id, dur_us);
	ex->active = 0;
	ex->step = STEP_NONE;
	proto_link_reset(&s->link);
	s->quiet_until_ms = cs_mono_ms() + s->ln->cfg->line.gap_ms;
}

/*
 * The exchange failed with code. Tell the device when the line still
 * works (tell = 1), then finish once the RESULT is out (or at once).
 */
static void
slot_fail(struct slot *s, int code, int tell, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
slot_fail(struct slot *s, int code, int tell, const char *fmt, ...)
{
	struct exchange *ex = &s->ex;
	struct proto_msg m;
	struct cs_err err = {0};
	va_list ap;

	if (!ex->active)
		return;
	if (ex->step == STEP_RESULT) {
		/* the verdict is recorded already; only telling the device failed */
		slot_finish(s);
		return;
	}
	ex->status = code;
	va_start(ap, fmt);
	vsnprintf(ex->text, sizeof(ex->text), fmt, ap);
	va_end(ap);
	if (!tell) {
		slot_finish(s);
		return;
	}
	/* Record before telling: the device may be pulled the moment it sees red. */
	slot_record_failure(s);
	proto_link_reset(&s->link);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_RESULT;
	m.reason = proto_reason_for(code);
	m.text.p = (const uint8_t *)ex->text;
	m.text.len = strnlen(ex->text, PROTO_TEXT_MAX);
	for (size_t k = 0; k < m.text.len; k++)
		if (ex->text[k] < 0x20 || ex->text[k] > 0x7e)
			m.text.len = k; /* the codec carries printable ASCII only */
	ex->step = STEP_RESULT;
	ex->deadline_ms = cs_mono_ms() + s->ln->cfg->line.readback_timeout_ms;
	slot_set(s, SLOT_EXCHANGE, STEP_RESULT, NULL);
	if (slot_send(s, &m, &err) != 0 || proto_link_send_done(&s->link))
		slot_finish(s);
}

static void
slot_begin(struct slot *s, const struct proto_msg *hello)
{
	struct exchange *ex = &s->ex;
	struct cs_err err = {0};
	struct proto_msg m;
	uint64_t now = cs_mono_ms();

	if (ex->active) {
		if (ex->step == STEP_CSR && ex->device_id[0] != '\0' && hello->device_id.len ==
		    strlen(ex->device_id) && memcmp(hello->device_id.p, ex->device_id,
		    hello->device_id.len) == 0) {
			/* the device repeated HELLO before our CSR_REQUEST reached it:
			 * same exchange, ask again with the same nonce */
			memset(&m, 0, sizeof(m));
			m.type = PROTO_CSR_REQUEST;
			memcpy(m.nonce, ex->nonce, sizeof(m.nonce));
			m.max_frame = (uint16_t)s->cfg->max_frame;
			if (proto_link_send_done(&s->link) && slot_send(s, &m, &err) != 0)
				slot_fail(s, CS_ERR_DEVICE_GONE, 0, "%s", err.msg);
			return;
		}
		slot_fail(s, CS_ERR_DEVICE_PROTOCOL, 0,
		    "device restarted the exchange (HELLO during step %s)", slot_step_name(ex->step));
	}
	memset(ex, 0, offsetof(struct exchange, chain_der));
	ex->active = 1;
	ex->t_hello = now;
	ex->bad_at_start = s->link.stats.bad_frames + s->link.stats.bad_lines;
	ex->bytes_in_start = s->link.stats.bytes_in;
	ex->bytes_out_start = s->link.stats.bytes_out;
	bytes_to_str(&hello->device_id, ex->device_id, sizeof(ex->device_id));
	pthread_mutex_lock(&s->mu);
	snprintf(s->snap.device_id, sizeof(s->snap.device_id), "%s", ex->device_id);
	pthread_mutex_unlock(&s->mu);

	if (hello->version != PROTO_VERSION) {
		slot_fail(s, CS_ERR_DEVICE_VERSION, 1,
		    "device speaks protocol version %u; this station speaks version %d",
		    hello->version, PROTO_VERSION);
		return;
	}
	if ((hello->caps & PROTO_CAP_READBACK) == 0) {
		slot_fail(s, CS_ERR_DEVICE_PROTOCOL, 1,
		    "device cannot read back what it stores (capability missing); a "
		    "certificate is only delivered to devices that can prove they stored it");
		return;
	}
	if (RAND_bytes(ex->nonce, sizeof(ex->nonce)) != 1) {
		slot_fail(s, CS_ERR_INTERNAL, 1, "no random bytes for the nonce");
		return;
	}
	for (size_t k = 0; k < sizeof(ex->nonce); k++)
		snprintf(ex->challenge + 2 * k, 3, "%02x", ex->nonce[k]);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_CSR_REQUEST;
	memcpy(m.nonce, ex->nonce, sizeof(m.nonce));
	m.max_frame = (uint16_t)s->cfg->max_frame;
	ex->step = STEP_CSR;
	ex->t_csr_req = now;
	ex->deadline_ms = now + s->ln->cfg->line.csr_timeout_ms;
	slot_set(s, SLOT_EXCHANGE, STEP_CSR, "");
	if (slot_send(s, &m, &err) != 0)
		slot_fail(s, CS_ERR_DEVICE_GONE, 0, "%s", err.msg);
}

/* PEM chain from the issuer -> DER certificates back to back. */
static int
chain_to_der(const char *pem, uint8_t *out, size_t cap, size_t *len,
    struct proto_bytes *certs, size_t *count)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	size_t used = 0, n = 0;
	int rc = 0;

	if (bio == NULL)
		return CS_ERR_NOMEM;
	for (;;) {
		char *name = NULL, *header = NULL;
		unsigned char *data = NULL;
		long dlen = 0;

		if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1)
			break;
		if (n >= PROTO_CHAIN_CERTS_MAX || dlen <= 0 || (size_t)dlen > PROTO_CERT_MAX ||
		    used + (size_t)dlen > cap)
			rc = CS_ERR_TOO_LARGE;
		else {
			memcpy(out + used, data, (size_t)dlen);
			certs[n].p = out + used;
			certs[n].len = (size_t)dlen;
			used += (size_t)dlen;
			n++;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		if (rc != 0)
			break;
	}
	BIO_free(bio);
	*len = used;
	*count = n;
	return rc != 0 ? rc : n == 0 ? CS_ERR_INTERNAL : 0;
}

static void
slot_on_csr(struct slot *s, const struct proto_msg *csr)
{
	struct exchange *ex = &s->ex;
	struct issuer_request req;
	struct cs_err err = {0};
	struct proto_msg m;
	char *pem;
	int rc;

	ex->t_csr = cs_mono_ms();
	ex->step = STEP_ISSUE;
	slot_set(s, SLOT_EXCHANGE, STEP_ISSUE, NULL);
	/* the device is owed an ACK for the last chunk before we go quiet */
	if (slot_flush(s, &err) != 0) {
		slot_fail(s, CS_ERR_DEVICE_GONE, 0, "%s", err.msg);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.csr = csr->csr.p;
	req.csr_len = csr->csr.len;
	req.device_id = ex->device_id;
	req.profile = s->cfg->profile;
	req.slot = s->cfg->name;
	req.fixture = s->fixture;
	req.challenge = ex->challenge;
	rc = issuer_issue(s->ln->issuer, &req);
	ex->t_issued = cs_mono_ms();
	ex->ledger_id = req.ledger_id;
	if (rc != CS_OK) {
		/* the issuer has recorded the refusal itself */
		ex->row_final = req.ledger_id > 0;
		slot_fail(s, rc, 1, "%s", req.err.msg[0] != '\0' ? req.err.msg : cs_strerror(rc));
		return;
	}
	ex->redelivered = req.redelivered;
	pem = issuer_chain_pem(s->ln->issuer, &req);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_CHAIN;
	rc = pem == NULL ? CS_ERR_NOMEM
			 : chain_to_der(pem, ex->chain_der, sizeof(ex->chain_der), &ex->chain_len,
			       m.certs, &m.cert_count);
	free(pem);
	if (rc != 0) {
		slot_fail(s, CS_ERR_INTERNAL, 1, "the chain for %s cannot be prepared (%s)",
		    ex->device_id, cs_strerror(rc));
		return;
	}
	SHA256(ex->chain_der, ex->chain_len, ex->chain_sha256);
	ex->step = STEP_CHAIN;
	ex->deadline_ms = cs_mono_ms() + s->ln->cfg->line.exchange_timeout_ms;
	slot_set(s, SLOT_EXCHANGE, STEP_CHAIN, NULL);
	if (slot_send(s, &m, &err) != 0)
		slot_fail(s, CS_ERR_DEVICE_GONE, 0, "%s", err.msg);
}

/* The chain is on the device (acknowledged / written): INJECTED, durable. */
static void
slot_on_chain_delivered(struct slot *s)
{
	struct exchange *ex = &s->ex;
	char timings[LEDGER_TIMINGS_MAX];
	struct cs_err err = {0};
	struct ledger_op op;

	ex->t_injected = cs_mono_ms();
	timings_json(ex, &s->link, timings, sizeof(timings));
	memset(&op, 0, sizeof(op));
	op.kind = LEDGER_OP_INJECTED;
	op.id = ex->ledger_id;
	op.slot = s->cfg->name;
	op.fixture = s->fixture;
	op.timings = timings;
	op.duration_us = (int64_t)(ex->t_injected - ex->t_hello) * 1000;
	op.err = &err;
	if (ledger_apply(s->ln->ledger, &op) != 0) {
		slot_fail(s, err.code != 0 ? err.code : CS_ERR_LEDGER_IO, 1,
		    "ledger cannot record the delivery: %s", err.msg);
		return;
	}
	ex->step = STEP_READBACK;
	ex->deadline_ms = ex->t_injected + s->ln->cfg->line.readback_timeout_ms;
	slot_set(s, SLOT_EXCHANGE, STEP_READBACK, NULL);
}

static void
slot_on_readback(struct slot *s, const struct proto_msg *rb)
{
	struct exchange *ex = &s->ex;
	char timings[LEDGER_TIMINGS_MAX];
	struct cs_err err = {0};
	struct ledger_op op;
	struct proto_msg m;

	ex->t_readback = cs_mono_ms();
	if (CRYPTO_memcmp(rb->sha256, ex->chain_sha256, 32) != 0) {
		char got[17], want[17];

		for (int k = 0; k < 8; k++) {
			snprintf(got + 2 * k, 3, "%02x", rb->sha256[k]);
			snprintf(want + 2 * k, 3, "%02x", ex->chain_sha256[k]);
		}
		slot_fail(s, CS_ERR_DEVICE_READBACK, 1,
		    "device read back SHA-256 %s..., delivered %s...: what it stored is not the "
		    "chain it was sent", got, want);
		return;
	}
	ex->t_end = ex->t_readback;
	timings_json(ex, &s->link, timings, sizeof(timings));
	memset(&op, 0, sizeof(op));
	op.kind = LEDGER_OP_VERIFIED;
	op.id = ex->ledger_id;
	op.readback_sha256 = rb->sha256;
	op.timings = timings;
	op.duration_us = (int64_t)(ex->t_readback - ex->t_hello) * 1000;
	op.err = &err;
	if (ledger_apply(s->ln->ledger, &op) != 0) {
		ex->t_end = 0;
		slot_fail(s, err.code != 0 ? err.code : CS_ERR_LEDGER_IO, 1,
		    "ledger cannot record the verification: %s", err.msg);
		return;
	}
	ex->row_final = 1;
	ex->status = 0;
	memset(&m, 0, sizeof(m));
	m.type = PROTO_RESULT;
	m.reason = PROTO_R_OK;
	ex->step = STEP_RESULT;
	ex->deadline_ms = cs_mono_ms() + s->ln->cfg->line.readback_timeout_ms;
	slot_set(s, SLOT_EXCHANGE, STEP_RESULT, NULL);
	if (slot_send(s, &m, &err) != 0 || proto_link_send_done(&s->link))
		slot_finish(s); /* VERIFIED is durable; a lost RESULT costs only the LED */
}

static void
slot_on_message(struct slot *s, const struct proto_msg *m)
{
	struct exchange *ex = &s->ex;
	char text[PROTO_TEXT_MAX + 1];

	if (m->type == PROTO_HELLO) {
		slot_begin(s, m);
		return;
	}
	if (!ex->active)
		return; /* stray message on an idle line: wait for a HELLO */
	switch (m->type) {
	case PROTO_CSR:
		if (ex->step == STEP_CSR)
			slot_on_csr(s, m);
		else
			slot_fail(s, CS_ERR_DEVICE_PROTOCOL, 1, "CSR arrived during step %s",
			    slot_step_name(ex->step));
		break;
	case PROTO_READBACK:
		if (ex->step == STEP_READBACK)
			slot_on_readback(s, m);
		else if (ex->step != STEP_RESULT)
			slot_fail(s, CS_ERR_DEVICE_PROTOCOL, 1, "READBACK arrived during step %s",
			    slot_step_name(ex->step));
		break;
	case PROTO_ERROR:
		bytes_to_str(&m->text, text, sizeof(text));
		slot_fail(s, CS_ERR_DEVICE_ERROR, 0, "device gave up: %s (reason %s)",
		    text[0] != '\0' ? text : "no text", proto_reason_name(m->reason));
		break;
	default:
		slot_fail(s, CS_ERR_DEVICE_PROTOCOL, 1, "device sent %s, which only a station sends",
		    proto_type_name(m->type));
		break;
	}
}

/* After input or time: steps that complete when our sending completes. */
static void
slot_progress(struct slot *s)
{
	struct exchange *ex = &s->ex;

	if (!ex->active || !proto_link_send_done(&s->link))
		return;
	if (ex->step == STEP_CHAIN)
		slot_on_chain_delivered(s);
	else if (ex->step == STEP_RESULT)
		slot_finish(s);
}

/* Garbage detection: too many bad frames or lines within one exchange. */
static void
slot_check_garbage(struct slot *s)
{
	struct exchange *ex = &s->ex;
	uint32_t bad = s->link.stats.bad_frames + s->link.stats.bad_lines;

	if (!ex->active || ex->step == STEP_RESULT || bad - ex->bad_at_start <= LINE_BAD_FRAMES_MAX)
		return;
	if (s->link.stats.last_bad == PROTO_E_TOO_LARGE)
		slot_fail(s, CS_ERR_DEVICE_TOO_LARGE, 1,
		    "device keeps sending frames over the %u bytes the station announced",
		    s->cfg->max_frame);
	else
		slot_fail(s, CS_ERR_DEVICE_PROTOCOL, 1,
		    "device sent %u unreadable frames or lines in this exchange (last: %s)",
		    bad - ex->bad_at_start, proto_status_name(s->link.stats.last_bad));
}

/* A step's deadline passed. A device that sent only unreadable bytes in
 * the meantime is broken, not slow: say which. */
static void
slot_timeout(struct slot *s)
{
	struct exchange *ex = &s->ex;
	uint32_t bad = s->link.stats.bad_frames + s->link.stats.bad_lines - ex->bad_at_start;
	uint64_t junk = s->link.stats.bytes_in - s->bytes_mark;
	uint64_t silent_ms = cs_mono_ms() - s->rx_last_ms;
	uint64_t one_unit = s->cfg->dialect == PROTO_DIALECT_TEXT
	    ? PROTO_LINE_MAX
	    : PROTO_FRAME_WIRE_MAX(s->cfg->max_frame);

	if (ex->step != STEP_RESULT && bad == 0 && junk > 0 && junk <= one_unit &&
	    proto_link_rx_partial_plausible(&s->link)) {
		/* the start of one real frame (line), not nonsense: the device
		 * hung or lost power mid-send, or is too slow for the step */
		const char *unit = s->cfg->dialect == PROTO_DIALECT_TEXT ? "line" : "frame";

		if (silent_ms >= LINE_STALL_SILENCE_MS)
			slot_fail(s, CS_ERR_DEVICE_TIMEOUT, 1,
			    "device stopped in the middle of a %s during step %s: %llu bytes of it, "
			    "then silence for %llu ms",
			    unit, slot_step_name(ex->step), (unsigned long long)junk,
			    (unsigned long long)silent_ms);
		else
			slot_fail(s, CS_ERR_DEVICE_TIMEOUT, 1,
			    "device was still sending a %s when step %s ran out of time (%llu bytes "
			    "of it so far): too slow for the step's timeout",
			    unit, slot_step_name(ex->step), (unsigned long long)junk);
		return;
	}
	if (ex->step != STEP_RESULT && bad == 0 && junk > 0) {
		/* bytes that never formed a frame or a line (no delimiter) */
		slot_fail(s, CS_ERR_DEVICE_PROTOCOL, 1,
		    "device sent %llu bytes that form no %s during step %s, and nothing usable",
		    (unsigned long long)junk,
		    s->cfg->dialect == PROTO_DIALECT_TEXT ? "line" : "frame",
		    slot_step_name(ex->step));
		return;
	}
	if (ex->step != STEP_RESULT && bad > 0 && s->link.stats.last_bad == PROTO_E_TOO_LARGE)
		slot_fail(s, CS_ERR_DEVICE_TOO_LARGE, 1,
		    "device sent frames over the %u bytes the station announced and nothing "
		    "usable during step %s", s->cfg->max_frame, slot_step_name(ex->step));
	else if (ex->step != STEP_RESULT && bad > 0)
		slot_fail(s, CS_ERR_DEVICE_PROTOCOL, 1,
		    "device sent %u unreadable frames or lines (last: %s) and nothing usable during "
		    "step %s", bad, proto_status_name(s->link.stats.last_bad),
		    slot_step_name(ex->step));
	else
		slot_fail(s, CS_ERR_DEVICE_TIMEOUT, ex->step != STEP_RESULT,
		    "device stopped answering during step %s", slot_step_name(ex->step));
}

static int
slot_link_init(struct slot *s)
{
	struct proto_link_config lc;
	unsigned wire_ms;

	memset(&lc, 0, sizeof(lc));
	lc.dialect = s->cfg->dialect;
	lc.role = PROTO_ROLE_STATION;
	lc.max_frame = (uint16_t)s->cfg->max_frame;
	/* an ACK cannot come back before the largest frame has crossed the wire */
	wire_ms = (unsigned)((PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX) + 16) * 10000u /
	    s->cfg->line.baud);
	lc.ack_timeout_ms = s->ln->cfg->line.ack_timeout_ms + wire_ms;
	lc.max_retries = (uint8_t)s->ln->cfg->line.retries;
	lc.rx_buf = s->rx_buf;
	lc.rx_cap = sizeof(s->rx_buf);
	lc.tx_buf = s->tx_buf;
	lc.tx_cap = sizeof(s->tx_buf);
	lc.frame_buf = s->frame_buf;
	lc.frame_cap = s->cfg->max_frame;
	return proto_link_init(&s->link, &lc);
}

/*
 * Feed what was read to the link, one frame or line at a time: the link
 * holds one received message, so each is taken before the next byte goes
 * in (a read may hold the ACK that completes the chain and the READBACK
 * behind it, or two text lines).
 */
static int
slot_input(struct slot *s, size_t got)
{
	const uint8_t delim = s->cfg->dialect == PROTO_DIALECT_TEXT ? '\n' : 0x00;
	const uint8_t *p = s->io_buf, *end = s->io_buf + got;
	struct proto_msg m;
	int rc = PROTO_OK;

	s->rx_last_ms = cs_mono_ms();
	while (p < end && rc == PROTO_OK) {
		const uint8_t *d = memchr(p, delim, (size_t)(end - p));
		size_t n = d != NULL ? (size_t)(d - p) + 1 : (size_t)(end - p);

		rc = proto_link_input(&s->link, p, n, cs_mono_ms());
		p += n;
		/* A frame that completes our sending goes in on its own, so the
		 * step it completes advances before the next message: the ACK of
		 * the chain before the READBACK behind it, the ACK of RESULT (which
		 * ends the exchange and resets the link) before the next device's
		 * HELLO. */
		slot_progress(s);
		if (s->link.stats.frames_in + s->link.stats.lines_in != s->good_seen) {
			s->good_seen = s->link.stats.frames_in + s->link.stats.lines_in;
			s->bytes_mark = s->link.stats.bytes_in;
		}
		while (rc == PROTO_OK && proto_link_recv(&s->link, &m) == 1)
			slot_on_message(s, &m);
	}
	return rc;
}

/* Why the slot stopped serving its port. */
enum serve_end {
	SERVE_STOP = 1,  /* station stopping */
	SERVE_PAUSE,
	SERVE_MOVED,     /* watcher says the port is elsewhere now / gone */
	SERVE_PORT_GONE, /* I/O says the device went away */
};

static enum serve_end
slot_serve(struct slot *s, unsigned gen)
{
	struct exchange *ex = &s->ex;
	struct cs_err err = {0};

	if (slot_link_init(s) != PROTO_OK) {
		line_log("slot %s: protocol link cannot start", s->cfg->name);
		return SERVE_STOP;
	}
	memset(ex, 0, offsetof(struct exchange, chain_der));
	s->good_seen = 0;
	s->bytes_mark = 0;
	for (;;) {
		struct pollfd pfd[2];
		uint64_t now = cs_mono_ms(), next = UINT64_MAX;
		int timeout, rc, paused;
		unsigned cur_gen;

		atomic_store_explicit(&s->alive_ms, now, memory_order_relaxed);
		rc = proto_link_tick(&s->link, now, &next);
		if (rc == PROTO_E_TIMEOUT) {
			if (ex->active)
				slot_fail(s, CS_ERR_DEVICE_TIMEOUT, 0,
				    "device stopped acknowledging frames during step %s (%u resends)",
				    slot_step_name(ex->step), s->ln->cfg->line.retries);
			proto_link_reset(&s->link);
		} else if (slot_flush(s, &err) != 0) {
			if (ex->active)
				slot_fail(s, err.code == CS_ERR_TIMEOUT ? CS_ERR_DEVICE_TIMEOUT
									: CS_ERR_DEVICE_GONE,
				    0, "%s", err.msg);
			if (err.code == CS_ERR_PORT_GONE)
				return SERVE_PORT_GONE;
		}
		slot_progress(s);
		if (ex->active && now >= ex->deadline_ms)
			slot_timeout(s);
		if (ex->active && ex->deadline_ms < next)
			next = ex->deadline_ms;
		timeout = next == UINT64_MAX ? 1000 : next <= now ? 0 : (int)(next - now);
		if (timeout > 1000)
			timeout = 1000;

		pfd[0].fd = port_fd(s->port);
		pfd[0].events = POLLIN;
		pfd[1].fd = s->wake[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			return SERVE_PORT_GONE;
		if (pfd[1].revents != 0)
			wake_drain(s->wake[0]);
		pthread_mutex_lock(&s->mu);
		cur_gen = s->spec_gen;
		paused = s->paused;
		pthread_mutex_unlock(&s->mu);
		if (atomic_load(&s->ln->stopping) || paused) {
			if (ex->active && ex->step != STEP_RESULT) {
				slot_fail(s, CS_ERR_ABORTED, 1, "%s",
				    paused ? "slot paused by the operator" : "station is shutting down");
				(void)slot_flush(s, &err); /* best effort: the LED goes red */
			}
			if (ex->active)
				slot_finish(s);
			return paused ? SERVE_PAUSE : SERVE_STOP;
		}
		if (cur_gen != gen) {
			if (ex->active)
				slot_fail(s, CS_ERR_DEVICE_GONE, 0,
				    "the slot's port went away mid-exchange (step %s)",
				    slot_step_name(ex->step));
			return SERVE_MOVED;
		}
		if (pfd[0].revents == 0)
			continue;
		for (;;) {
			size_t got = 0;

			rc = port_read(s->port, s->io_buf, sizeof(s->io_buf), 0, &got, &err);
			if (rc != 0) {
				if (ex->active)
					slot_fail(s, CS_ERR_DEVICE_GONE, 0,
					    "device disconnected during step %s (%s)",
					    slot_step_name(ex->step), err.msg);
				return SERVE_PORT_GONE;
			}
			if (got == 0)
				break;
			if (!ex->active && cs_mono_ms() < s->quiet_until_ms)
				continue; /* the device just served is being removed */
			rc = slot_input(s, got);
			if (rc != PROTO_OK) {
				if (ex->active)
					slot_fail(s, rc == PROTO_E_TOO_LARGE ? CS_ERR_DEVICE_TOO_LARGE
									     : CS_ERR_DEVICE_PROTOCOL,
					    1, "device broke the %s dialect: %s",
					    s->cfg->dialect == PROTO_DIALECT_TEXT ? "text" : "frame",
					    proto_status_name(rc));
				proto_link_reset(&s->link);
				break;
			}
			slot_check_garbage(s);
			if (got < sizeof(s->io_buf))
				break;
		}
	}
}

static void
slot_fixture_name(struct slot *s)
{
	char full[PORT_PATH_MAX + 32];
	size_t n;

	fixture_match_format(&s->cfg->match, full, sizeof(full));
	n = strlen(full);
	if (n < sizeof(s->fixture))
		memcpy(s->fixture, full, n + 1);
	else /* "...links/sim-3": the end of a path tells fixtures apart */
		snprintf(s->fixture, sizeof(s->fixture), "...%s",
		    full + n - (sizeof(s->fixture) - 4));
}

static void *
slot_main(void *arg)
{
	struct slot *s = arg;
	line *ln = s->ln;
	char tname[16];

	snprintf(tname, sizeof(tname), "cs-slot-%zu", s->index);
	prctl(PR_SET_NAME, tname, 0, 0, 0);
	while (!atomic_load(&ln->stopping)) {
		char spec[PORT_PATH_MAX];
		struct cs_err err = {0};
		struct pollfd pfd;
		unsigned gen;
		int paused, wait_ms = 1000;
		enum serve_end end;

		atomic_store_explicit(&s->alive_ms, cs_mono_ms(), memory_order_relaxed);
		pthread_mutex_lock(&s->mu);
		memcpy(spec, s->spec, sizeof(spec));
		gen = s->spec_gen;
		paused = s->paused;
		pthread_mutex_unlock(&s->mu);
		if (paused) {
			slot_set(s, SLOT_PAUSED, STEP_NONE, NULL);
		} else if (spec[0] == '\0') {
			slot_set(s, SLOT_DISCONNECTED, STEP_NONE, "no port matches the slot's rule");
		} else if (port_open(spec, &s->cfg->line, &s->port, &err) != 0) {
			slot_set(s, SLOT_DISCONNECTED, STEP_NONE, err.msg);
			wait_ms = (int)ln->cfg->line.scan_interval_ms;
		} else {
			pthread_mutex_lock(&s->mu);
			snprintf(s->snap.port, sizeof(s->snap.port), "%s", spec);
			pthread_mutex_unlock(&s->mu);
			line_log("slot %s: serving %s (%s dialect)", s->cfg->name, spec,
			    s->cfg->dialect == PROTO_DIALECT_TEXT ? "text" : "frame");
			slot_set(s, SLOT_IDLE, STEP_NONE, NULL);
			end = slot_serve(s, gen);
			port_close(s->port);
			s->port = NULL;
			pthread_mutex_lock(&s->mu);
			s->snap.port[0] = '\0';
			pthread_mutex_unlock(&s->mu);
			if (end == SERVE_STOP)
				break;
			if (end == SERVE_PORT_GONE) {
				line_log("slot %s: port %s went away", s->cfg->name, spec);
				slot_set(s, SLOT_DISCONNECTED, STEP_NONE, "port went away");
				wait_ms = (int)ln->cfg->line.scan_interval_ms;
			} else {
				continue;
			}
		}
		pfd.fd = s->wake[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, wait_ms) > 0)
			wake_drain(s->wake[0]);
	}
	return NULL;
}

/* ---- hot-plug ---- */

static void
line_apply_event(line *ln, const struct fixture_event *ev)
{
	struct slot *s;

	if (ev->slot >= ln->count)
		return;
	s = &ln->slots[ev->slot];
	pthread_mutex_lock(&s->mu);
	if (ev->kind == FIXTURE_PORT_GONE)
		s->spec[0] = '\0';
	else
		snprintf(s->spec, sizeof(s->spec), "%s", ev->spec);
	s->spec_gen++;
	pthread_mutex_unlock(&s->mu);
	line_log("slot %s: port %s%s", s->cfg->name,
	    ev->kind == FIXTURE_PORT_APPEARED ? "appeared at "
	    : ev->kind == FIXTURE_PORT_MOVED  ? "moved to "
					      : "disappeared",
	    ev->kind == FIXTURE_PORT_GONE ? "" : ev->spec);
	wake_signal(s->wake[1]);
}

static void *
watcher_main(void *arg)
{
	line *ln = arg;
	struct fixture_watch *w = calloc(1, sizeof(*w));
	struct fixture_event ev[32];
	int warned = 0;

	prctl(PR_SET_NAME, "cs-hotplug", 0, 0, 0);
	if (w == NULL || fixture_watch_init(w, ln->rules, ln->count) != 0) {
		line_log("hot-plug watcher cannot start");
		free(w);
		return NULL;
	}
	while (!atomic_load(&ln->stopping)) {
		struct cs_err err = {0};
		struct pollfd pfd;
		size_t n = 0;

		if (fixture_watch_poll(w, ev, sizeof(ev) / sizeof(ev[0]), &n, &err) != 0) {
			if (!warned)
				line_log("port scan failed: %s", err.msg);
			warned = 1;
		} else {
			warned = 0;
		}
		for (size_t k = 0; k < n; k++)
			line_apply_event(ln, &ev[k]);
		pfd.fd = ln->watch_wake[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)ln->cfg->line.scan_interval_ms) > 0)
			wake_drain(ln->watch_wake[0]);
	}
	free(w);
	return NULL;
}

/* ---- public ---- */

line *
line_start(const struct cs_config *cfg, issuer *is, ledger *l, line_event_fn on_event, void *arg,
    struct cs_err *err)
{
	line *ln;

	if (cfg == NULL || is == NULL || l == NULL) {
		cs_err_set(err, CS_ERR_INVALID_ARG, "line_start: missing configuration, issuer or ledger");
		return NULL;
	}
	if (cfg->line.slot_count == 0) {
		cs_err_set(err, CS_ERR_CONFIG,
		    "%s: no fixture slots: add \"line\": {\"slots\": [...]} or \"fixture_map\"",
		    cfg->path);
		return NULL;
	}
	ln = calloc(1, sizeof(*ln));
	if (ln == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	ln->cfg = cfg;
	ln->issuer = is;
	ln->ledger = l;
	ln->on_event = on_event;
	ln->arg = arg;
	ln->watch_wake[0] = ln->watch_wake[1] = -1;
	ln->count = cfg->line.slot_count;
	ln->slots = calloc(ln->count, sizeof(*ln->slots));
	ln->rules = calloc(ln->count, sizeof(*ln->rules));
	if (ln->slots == NULL || ln->rules == NULL || pipe_nonblock(ln->watch_wake) != 0) {
		cs_err_set(err, CS_ERR_NOMEM, "cannot allocate the line's slots");
		free(ln->slots);
		ln->slots = NULL; /* nothing in them is initialised yet */
		line_stop(ln);
		return NULL;
	}
	/* every slot valid for line_stop() before anything can fail */
	for (size_t k = 0; k < ln->count; k++) {
		struct slot *s = &ln->slots[k];

		s->ln = ln;
		s->index = k;
		s->cfg = &cfg->line.slots[k];
		s->wake[0] = s->wake[1] = -1;
		pthread_mutex_init(&s->mu, NULL);
		snprintf(s->snap.name, sizeof(s->snap.name), "%s", s->cfg->name);
		s->snap.state = SLOT_DISCONNECTED;
		s->snap.dialect = s->cfg->dialect;
		s->snap.state_since_us = cs_real_us();
		ln->rules[k] = s->cfg->match;
		slot_fixture_name(s);
		atomic_store(&s->alive_ms, cs_mono_ms());
	}
	for (size_t k = 0; k < ln->count; k++) {
		struct slot *s = &ln->slots[k];

		if (pipe_nonblock(s->wake) != 0) {
			cs_err_set(err, CS_ERR_IO, "cannot create the wake pipe of slot %s", s->cfg->name);
			line_stop(ln);
			return NULL;
		}
	}
	for (size_t k = 0; k < ln->count; k++) {
		struct slot *s = &ln->slots[k];

		if (pthread_create(&s->thread, NULL, slot_main, s) != 0) {
			cs_err_set(err, CS_ERR_INTERNAL, "cannot start the thread of slot %s",
			    s->cfg->name);
			line_stop(ln);
			return NULL;
		}
		s->thread_started = 1;
	}
	if (pthread_create(&ln->watcher, NULL, watcher_main, ln) != 0) {
		cs_err_set(err, CS_ERR_INTERNAL, "cannot start the hot-plug watcher");
		line_stop(ln);
		return NULL;
	}
	ln->watcher_started = 1;
	return ln;
}

void
line_stop(line *ln)
{
	if (ln == NULL)
		return;
	atomic_store(&ln->stopping, 1);
	if (ln->watch_wake[1] >= 0)
		wake_signal(ln->watch_wake[1]);
	for (size_t k = 0; ln->slots != NULL && k < ln->count; k++)
		if (ln->slots[k].wake[1] >= 0)
			wake_signal(ln->slots[k].wake[1]);
	if (ln->watcher_started)
		pthread_join(ln->watcher, NULL);
	for (size_t k = 0; ln->slots != NULL && k < ln->count; k++) {
		struct slot *s = &ln->slots[k];

		if (s->thread_started)
			pthread_join(s->thread, NULL);
		if (s->wake[0] >= 0) {
			close(s->wake[0]);
			close(s->wake[1]);
		}
		pthread_mutex_destroy(&s->mu);
	}
	if (ln->watch_wake[0] >= 0) {
		close(ln->watch_wake[0]);
		close(ln->watch_wake[1]);
	}
	free(ln->slots);
	free(ln->rules);
	free(ln);
}

int
line_stuck(line *ln, uint64_t max_ms, char *why, size_t cap)
{
	uint64_t now = cs_mono_ms();

	if (ln == NULL)
		return 0;
	for (size_t k = 0; k < ln->count; k++) {
		struct slot *s = &ln->slots[k];
		uint64_t alive = atomic_load_explicit(&s->alive_ms, memory_order_relaxed);
		enum slot_step step;

		if (now <= alive || now - alive <= max_ms)
			continue;
		pthread_mutex_lock(&s->mu);
		step = s->snap.step;
		pthread_mutex_unlock(&s->mu);
		if (why != NULL && cap > 0)
			snprintf(why, cap, "slot %s has not come round its loop for %llu s (step %s)",
			    s->cfg->name, (unsigned long long)((now - alive) / 1000),
			    slot_step_name(step));
		return 1;
	}
	return 0;
}

size_t
line_slot_count(const line *ln)
{
	return ln != NULL ? ln->count : 0;
}

int
line_slot_snapshot(line *ln, size_t index, struct slot_snapshot *out)
{
	if (ln == NULL || index >= ln->count || out == NULL)
		return CS_ERR_INVALID_ARG;
	pthread_mutex_lock(&ln->slots[index].mu);
	*out = ln->slots[index].snap;
	pthread_mutex_unlock(&ln->slots[index].mu);
	return 0;
}

int
line_slot_find(const line *ln, const char *name)
{
	for (size_t k = 0; ln != NULL && name != NULL && k < ln->count; k++)
		if (strcmp(ln->slots[k].cfg->name, name) == 0)
			return (int)k;
	return -1;
}

int
line_slot_pause(line *ln, size_t index, int paused)
{
	struct slot *s;

	if (ln == NULL || index >= ln->count)
		return CS_ERR_INVALID_ARG;
	s = &ln->slots[index];
	pthread_mutex_lock(&s->mu);
	s->paused = paused != 0;
	pthread_mutex_unlock(&s->mu);
	line_log("slot %s: %s by the operator", s->cfg->name, paused ? "paused" : "resumed");
	wake_signal(s->wake[1]);
	return 0;
}
