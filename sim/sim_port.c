/* ppoll() for nanosecond waits. */
#define _GNU_SOURCE

/*
 * sim_port.c: one virtual fixture port: its pty pair and symlink, and the
 * thread that plays devices on it one after another.
 *
 * DESIGN: one thread per port. A device's key generation is its own
 * compute (RSA-3072 takes up to seconds) and blocks; with one poll loop for
 * all ports, one device generating a key would freeze the wire of every
 * other port and distort what the station sees. Threads keep each port's
 * timing independent, as on a real line where every device has its own
 * CPU; 64 mostly sleeping threads are cheap.
 *
 * The loop of one device: read what the station wrote into the receive
 * queue; release to the device only the bytes the line would have
 * delivered by now; let the device act (proto_device); take its output only
 * when the previous output has left, and write it paced at the baud rate;
 * sleep until the next byte is due, the device's next deadline or new input.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim_int.h"

#define SIM_MODEL "certstation-sim"
#define SIM_FIRMWARE "sim-1.0"
#define SIM_GARBAGE_BYTES 256
#define SIM_NOISE_BYTES 32
#define SIM_DROP_AFTER 64  /* chain bytes received before the cable is pulled */
#define SIM_STALL_MID_MIN 32 /* stall-mid cuts output larger than an ACK frame */
#define SIM_NOISE_AFTER 40 /* bytes of the CSR frame before the noise burst */
#define SIM_POLL_MAX_NS 200000000ull
#define SIM_UNREAD_NS 250000000ull /* a station that listens reads within this */

uint64_t
sim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
sim_port_open(struct sim_port *p, struct cs_err *err)
{
	const struct sim_options *o = p->sim->o;
	struct termios t;
	char tmp[PATH_MAX];
	int m = -1, s = -1;

	/* Raw from the start: a cooked slave would echo our bytes back into
	 * the master and mangle CR/LF before the station configures it. */
	memset(&t, 0, sizeof(t));
	cfmakeraw(&t);
	cfsetispeed(&t, B115200);
	cfsetospeed(&t, B115200);
	if (openpty(&m, &s, p->pts, &t, NULL) != 0)
		return cs_err_set(err, CS_ERR_IO, "%s: openpty failed: %s", p->name,
		                  strerror(errno));
	if (fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK) != 0 ||
	    fcntl(m, F_SETFD, FD_CLOEXEC) != 0 || fcntl(s, F_SETFD, FD_CLOEXEC) != 0) {
		close(m);
		close(s);
		return cs_err_set(err, CS_ERR_IO, "%s: cannot configure the pty: %s", p->name,
		                  strerror(errno));
	}
	/* The simulator keeps the slave open too: without any open slave a
	 * master reports hang-up, and a station that closes and reopens the
	 * port would make the device see its line vanish. */
	p->master = m;
	p->slave = s;
	if (o->links_dir == NULL)
		return CS_OK;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.new", o->links_dir, p->name) >= (int)sizeof(tmp))
		return cs_err_set(err, CS_ERR_IO, "%s: link directory path too long", o->links_dir);
	unlink(tmp);
	/* symlink + rename: the link is replaced atomically, never missing
	 * while a station looks it up. */
	if (symlink(p->pts, tmp) != 0 || rename(tmp, p->link_path) != 0) {
		int e = errno;

		unlink(tmp);
		return cs_err_set(err, CS_ERR_IO, "%s: cannot create the link to %s: %s",
		                  p->link_path, p->pts, strerror(e));
	}
	return CS_OK;
}

void
sim_port_close(struct sim_port *p)
{
	if (p->link_path[0] != '\0')
		unlink(p->link_path);
	if (p->master >= 0)
		close(p->master);
	if (p->slave >= 0)
		close(p->slave);
	p->master = p->slave = -1;
}

/* Per-device bookkeeping of the port loop. */
struct sim_play {
	uint64_t t_start_ns;
	uint64_t bytes_out, bytes_in;
	uint64_t chain_bytes_in; /* bytes received after the CSR went out */
	uint64_t last_write_ns;
	int mute;  /* the device's own output is discarded */
	int fired; /* the fault's action happened */
	int write_blocked;
	int dropped, aborted, port_error;
	char what[128]; /* what the fault did, for the result line */
};

static uint64_t
sim_ms(uint64_t ns)
{
	return ns / 1000000ull;
}

/* Queue bytes for the wire behind what is already queued. */
static void
sim_port_queue(struct sim_port *p, const uint8_t *b, size_t n)
{
	if (p->txq_off > 0 && p->txq_off + p->txq_len + n > sizeof(p->txq)) {
		memmove(p->txq, p->txq + p->txq_off, p->txq_len);
		p->txq_off = 0;
	}
	if (n > sizeof(p->txq) - p->txq_off - p->txq_len)
		n = sizeof(p->txq) - p->txq_off - p->txq_len;
	memcpy(p->txq + p->txq_off + p->txq_len, b, n);
	p->txq_len += n;
}

/* Insert bytes at offset at of the unsent queue: noise on the wire in the
 * middle of whatever is being sent. */
static void
sim_port_insert(struct sim_port *p, size_t at, const uint8_t *b, size_t n)
{
	uint8_t rest[sizeof(p->txq)];
	size_t len = p->txq_len;

	if (at > len)
		at = len;
	memcpy(rest, p->txq + p->txq_off, len);
	p->txq_off = 0;
	p->txq_len = 0;
	sim_port_queue(p, rest, at);
	sim_port_queue(p, b, n);
	sim_port_queue(p, rest + at, len - at);
}

/* garbage: random bytes in place of the CSR. */
static void
sim_port_garbage(struct sim_port *p, struct sim_play *pl)
{
	uint8_t junk[SIM_GARBAGE_BYTES];

	sim_rand_bytes(&p->rng, junk, sizeof(junk));
	sim_port_queue(p, junk, sizeof(junk));
	snprintf(pl->what, sizeof(pl->what), "%zu random bytes instead of the CSR", sizeof(junk));
}

/* oversize: one frame (or line) larger than the station accepts. */
static void
sim_port_oversize(struct sim_port *p, struct sim_play *pl)
{
	uint8_t big[PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX + 256)];
	uint8_t payload[PROTO_FRAME_MAX + 128];
	size_t n = 0;

	if (p->sim->o->dialect == PROTO_DIALECT_TEXT) {
		/* A line longer than any receiver must accept. */
		size_t len = PROTO_LINE_MAX + 64;

		memset(big, 'A', len);
		big[len] = '\n';
		n = len + 1;
		snprintf(pl->what, sizeof(pl->what), "a %zu-byte line (limit %d)", n,
		         PROTO_LINE_MAX);
	} else {
		struct proto_frame f;
		size_t plen = (size_t)p->link.peer_max_frame + 64;

		if (plen > sizeof(payload))
			plen = sizeof(payload);
		sim_rand_bytes(&p->rng, payload, plen);
		memset(&f, 0, sizeof(f));
		f.type = PROTO_CSR;
		f.flags = PROTO_FLAG_FIRST;
		f.seq = 0;
		f.payload = payload;
		f.payload_len = plen;
		if (proto_frame_encode(&f, big, sizeof(big), &n) != PROTO_OK) {
			/* The codec will not build an illegal frame: a run of
			 * non-zero bytes and a delimiter is one to any decoder. */
			for (size_t i = 0; i < plen + PROTO_FRAME_OVERHEAD; i++)
				big[i] = (uint8_t)(payload[i % plen] | 1);
			n = plen + PROTO_FRAME_OVERHEAD;
			big[n++] = 0;
		}
		snprintf(pl->what, sizeof(pl->what), "a %zu-byte frame (station's limit %u)",
		         plen + PROTO_FRAME_OVERHEAD, (unsigned)p->link.peer_max_frame);
	}
	/* The lines are long; write them in pieces the queue can hold. */
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 4096 ? n - off : 4096;

		sim_port_queue(p, big + off, k);
		off += k;
	}
}

/*
 * noise: random bytes in the middle of the CSR transfer. The frame dialect
 * gets them inside the CSR's first frame (its CRC fails, the station NAKs,
 * the frame is sent again). The text dialect has no retransmission, so its
 * noise is a line of junk between two messages, as a boot log or a glitch
 * would leave it; the station skips lines it does not know. Returns 1 when
 * the noise went out.
 */
static int
sim_port_noise(struct sim_port *p, struct sim_play *pl)
{
	uint8_t junk[SIM_NOISE_BYTES + 1];

	sim_rand_bytes(&p->rng, junk, sizeof(junk));
	if (p->sim->o->dialect == PROTO_DIALECT_TEXT) {
		if (p->txq_len != 0 || p->sdev.csr_requests > 0)
			return 0; /* only between lines, before the CSR is made */
		for (size_t i = 0; i < SIM_NOISE_BYTES; i++)
			if (junk[i] == '\n')
				junk[i] = 0xff;
		junk[0] |= 0x80; /* never a keyword */
		junk[SIM_NOISE_BYTES] = '\n';
		sim_port_queue(p, junk, sizeof(junk));
		snprintf(pl->what, sizeof(pl->what), "a line of %d random bytes before the CSR",
		         SIM_NOISE_BYTES);
		return 1;
	}
	if (p->sdev.csr_requests == 0 || p->txq_len <= 2 * SIM_NOISE_AFTER)
		return 0; /* not yet the CSR frame (an ACK, a HELLO) */
	sim_port_insert(p, SIM_NOISE_AFTER, junk, SIM_NOISE_BYTES);
	snprintf(pl->what, sizeof(pl->what), "%d random bytes after %d bytes of the CSR frame",
	         SIM_NOISE_BYTES, SIM_NOISE_AFTER);
	return 1;
}

/* The fault's moment: called after every step of the loop. */
static void
sim_port_fault_step(struct sim_port *p, struct sim_play *pl)
{
	struct sim_dev *d = &p->sdev;

	if (pl->fired)
		return;
	switch (d->fault) {
	case SIM_FAULT_GARBAGE:
		if (proto_device_state(&p->dev) == PROTO_DEVICE_WAIT_CHAIN) {
			pl->fired = pl->mute = 1;
			sim_port_garbage(p, pl);
		}
		break;
	case SIM_FAULT_OVERSIZE:
		if (proto_device_state(&p->dev) == PROTO_DEVICE_WAIT_CHAIN) {
			pl->fired = pl->mute = 1;
			sim_port_oversize(p, pl);
		}
		break;
	case SIM_FAULT_STALL:
		/* the whole HELLO (two frames in the frame dialect: a peer
		 * accepts 64-byte frames until the station announces more) */
		if ((pl->bytes_out > 0 && p->txq_len == 0 && proto_link_send_done(&p->link)) ||
		    proto_device_state(&p->dev) != PROTO_DEVICE_HELLO) {
			pl->fired = pl->mute = 1;
			snprintf(pl->what, sizeof(pl->what),
			         "silent after %" PRIu64 " bytes of HELLO", pl->bytes_out);
		}
		break;
	case SIM_FAULT_STALL_MID:
		/* the CSR's first output, just queued (an ACK alone is a few
		 * bytes and goes out whole): only its first half leaves, ending
		 * inside a frame or line, then the device hangs */
		if (proto_device_state(&p->dev) == PROTO_DEVICE_WAIT_CHAIN &&
		    p->txq_len > SIM_STALL_MID_MIN) {
			const uint8_t delim = p->sim->o->dialect == PROTO_DIALECT_TEXT ? '\n' : 0x00;
			size_t cut = p->txq_len / 2;

			while (cut > 1 && (p->txq[p->txq_off + cut - 1] == delim ||
			                      p->txq[p->txq_off + cut] == delim))
				cut--;
			snprintf(pl->what, sizeof(pl->what), "silent after %zu of %zu bytes of its CSR",
			         cut, p->txq_len);
			p->txq_len = cut;
			pl->fired = pl->mute = 1;
		}
		break;
	case SIM_FAULT_NOISE:
		if (proto_device_state(&p->dev) == PROTO_DEVICE_WAIT_CHAIN && sim_port_noise(p, pl))
			pl->fired = 1;
		break;
	case SIM_FAULT_DROP:
		if (proto_device_state(&p->dev) == PROTO_DEVICE_WAIT_CHAIN &&
		    pl->chain_bytes_in >= SIM_DROP_AFTER) {
			pl->fired = pl->dropped = 1;
			snprintf(pl->what, sizeof(pl->what), "after %" PRIu64 " bytes of the chain",
			         pl->chain_bytes_in);
		}
		break;
	default:
		break;
	}
}

/* Wait for input, the stop, or the deadline (ns, monotonic). */
static void
sim_port_wait(struct sim_port *p, uint64_t now, uint64_t wake, int want_in, int want_out)
{
	struct pollfd fds[2];
	struct timespec ts;
	uint64_t d = wake > now ? wake - now : 0;

	if (d > SIM_POLL_MAX_NS)
		d = SIM_POLL_MAX_NS;
	ts.tv_sec = (time_t)(d / 1000000000ull);
	ts.tv_nsec = (long)(d % 1000000000ull);
	fds[0].fd = p->master;
	fds[0].events = (short)((want_in ? POLLIN : 0) | (want_out ? POLLOUT : 0));
	fds[1].fd = p->sim->stop_fd;
	fds[1].events = POLLIN;
	(void)ppoll(fds, 2, &ts, NULL);
}

/* Read what the station wrote; 0, or -1 when the port broke. */
static int
sim_port_read(struct sim_port *p, struct sim_play *pl, uint64_t now)
{
	uint8_t buf[4096];

	while (sim_rxq_room(&p->rxq) > 0) {
		size_t want =
		    sim_rxq_room(&p->rxq) < sizeof(buf) ? sim_rxq_room(&p->rxq) : sizeof(buf);
		ssize_t n = read(p->master, buf, want);

		if (n > 0) {
			sim_rxq_push(&p->rxq, buf, (size_t)n, now);
			pl->bytes_in += (uint64_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return -1;
	}
	return 0;
}

/* Write the queue as far as the line allows; 0, or -1 when the port broke. */
static int
sim_port_write(struct sim_port *p, struct sim_play *pl, uint64_t now)
{
	pl->write_blocked = 0;
	while (p->txq_len > 0) {
		size_t room = sim_wire_room(&p->tx, now, p->txq_len);
		ssize_t n;

		if (room == 0)
			return 0;
		n = write(p->master, p->txq + p->txq_off, room);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				pl->write_blocked = 1;
				return 0;
			}
			return -1;
		}
		sim_wire_commit(&p->tx, now, (size_t)n);
		pl->last_write_ns = now;
		p->txq_off += (size_t)n;
		p->txq_len -= (size_t)n;
		pl->bytes_out += (uint64_t)n;
	}
	p->txq_off = 0;
	return 0;
}

/*
 * While nobody has the port open, a real line loses what the device sends.
 * A pty keeps it instead, and a station opening the port later would get a
 * pile of stale HELLOs. So before a HELLO is sent again, whatever the
 * station has not read of the previous one (sent one retransmission
 * interval ago: nobody is reading) is dropped.
 */
static void
sim_port_forget_unread(struct sim_port *p)
{
	int queued = 0;

	if (ioctl(p->slave, FIONREAD, &queued) == 0 && queued > 0)
		tcflush(p->slave, TCIFLUSH);
}

static void
sim_port_device_id(struct sim_port *p, uint64_t number, enum sim_fault_kind fault, char *id,
                   size_t cap)
{
	const struct sim_options *o = p->sim->o;
	uint64_t n = o->id_start + number - 1;

	if (fault == SIM_FAULT_DUP_ID && p->last_id[0] != '\0')
		snprintf(id, cap, "%s", p->last_id);
	else if (fault == SIM_FAULT_DUP_ID && number > 1)
		snprintf(id, cap, "%s%06" PRIu64, o->id_prefix, n - 1);
	else if (fault == SIM_FAULT_OFF_LIST)
		snprintf(id, cap, "X-%06" PRIu64, n);
	else
		snprintf(id, cap, "%s%06" PRIu64, o->id_prefix, n);
}

/* Set up link, device and wire for a new device. 0 or -1 (pl->what says why). */
static int
sim_port_insert_device(struct sim_port *p, struct sim_play *pl, uint64_t number,
                       enum sim_fault_kind fault)
{
	const struct sim_options *o = p->sim->o;
	struct proto_link_config lc;
	struct proto_device_info info;
	struct sim_wire w;
	char id[SIM_ID_MAX];
	uint32_t frame_ms;

	if (p->return_key != NULL) {
		/* the operator re-seats the board that was pulled: same device,
		 * same key; the station must hand it the same certificate */
		sim_dev_init(&p->sdev, p->return_id, p->return_number, o->key_type, SIM_FAULT_NONE,
		             o->store_dir);
		p->sdev.key = p->return_key;
		p->return_key = NULL;
	} else {
		sim_port_device_id(p, number, fault, id, sizeof(id));
		sim_dev_init(&p->sdev, id, number, o->key_type, fault, o->store_dir);
	}
	if (fault == SIM_FAULT_REPLAY) {
		if (p->last_csr_len == 0) {
			/* First device on this port: replay a CSR made for
			 * another exchange (a nonce the station never issued). */
			uint8_t old_nonce[PROTO_NONCE_LEN];

			sim_rand_bytes(&p->rng, old_nonce, sizeof(old_nonce));
			if (sim_dev_make_csr(&p->sdev, old_nonce, p->last_csr, sizeof(p->last_csr),
			                     &p->last_csr_len) != 0) {
				snprintf(pl->what, sizeof(pl->what), "%.120s", p->sdev.detail);
				return -1;
			}
		}
		p->sdev.replay_csr = p->last_csr;
		p->sdev.replay_csr_len = p->last_csr_len;
	}

	/* Frame retransmission: an ACK can only come after the whole frame
	 * crossed the line, so the timeout grows with the wire time of the
	 * largest frame anyone may send. */
	sim_wire_init(&w, o->baud);
	frame_ms = (uint32_t)(sim_wire_ns(&w, PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX)) / 1000000ull);
	memset(&lc, 0, sizeof(lc));
	lc.dialect = o->dialect;
	lc.role = PROTO_ROLE_DEVICE;
	lc.max_frame = o->max_frame;
	lc.ack_timeout_ms = 300 + 2 * frame_ms;
	lc.max_retries = 6;
	lc.rx_buf = p->rx_buf;
	lc.rx_cap = sizeof(p->rx_buf);
	lc.tx_buf = p->tx_buf;
	lc.tx_cap = sizeof(p->tx_buf);
	lc.frame_buf = p->frame_buf;
	lc.frame_cap = sizeof(p->frame_buf);
	if (proto_link_init(&p->link, &lc) != PROTO_OK) {
		snprintf(pl->what, sizeof(pl->what), "link setup refused (max frame %u)",
		         (unsigned)o->max_frame);
		return -1;
	}
	memset(&info, 0, sizeof(info));
	info.device_id = p->sdev.id;
	info.model = SIM_MODEL;
	info.firmware = SIM_FIRMWARE;
	info.key_type = (uint8_t)o->key_type;
	info.caps = PROTO_CAP_READBACK | PROTO_CAP_RESULT_LED;
	info.csr_buf = p->csr_buf;
	info.csr_cap = sizeof(p->csr_buf);
	info.progress_timeout_ms = o->timeout_ms;
	info.version = fault == SIM_FAULT_BAD_VERSION ? 99 : 0;
	if (proto_device_init(&p->dev, &p->link, &sim_dev_ops, &p->sdev, &info) != PROTO_OK) {
		snprintf(pl->what, sizeof(pl->what), "device setup refused (ID '%s')", p->sdev.id);
		return -1;
	}
	sim_wire_init(&p->tx, o->baud);
	sim_rxq_init(&p->rxq, o->baud);
	p->txq_off = p->txq_len = 0;
	return 0;
}

/* Play one device from insertion to its end (or the stop, or a drop). */
static void
sim_port_play(struct sim_port *p, struct sim_play *pl, uint64_t number, enum sim_fault_kind fault)
{
	struct sim *s = p->sim;

	memset(pl, 0, sizeof(*pl));
	pl->t_start_ns = sim_now_ns();
	if (sim_port_insert_device(p, pl, number, fault) != 0) {
		pl->port_error = 1;
		return;
	}
	proto_device_start(&p->dev, sim_ms(sim_now_ns()));

	for (;;) {
		uint64_t now = sim_now_ns(), next_ms = UINT64_MAX, wake;
		const uint8_t *in;
		size_t k;
		int more;

		if (atomic_load(&s->stop)) {
			pl->aborted = 1;
			break;
		}
		if (sim_port_read(p, pl, now) != 0) {
			pl->port_error = 1;
			snprintf(pl->what, sizeof(pl->what), "the pty broke: %s", strerror(errno));
			break;
		}
		k = sim_rxq_ready(&p->rxq, now, &in);
		if (k > 0) {
			/* the CSR has left the simulator: what comes now is the chain
			 * (and the CSR's ACK) */
			int sent_csr = proto_device_state(&p->dev) == PROTO_DEVICE_WAIT_CHAIN &&
			               p->txq_len == 0;

			/* drop: the cable goes after exactly SIM_DROP_AFTER chain bytes,
			 * however fast they came */
			if (sent_csr && p->sdev.fault == SIM_FAULT_DROP &&
			    k > SIM_DROP_AFTER - pl->chain_bytes_in)
				k = (size_t)(SIM_DROP_AFTER - pl->chain_bytes_in);
			proto_device_input(&p->dev, in, k, sim_ms(now));
			sim_rxq_pop(&p->rxq, k);
			if (sent_csr)
				pl->chain_bytes_in += k;
		}
		sim_port_fault_step(p, pl);
		if (pl->dropped)
			break;
		proto_device_tick(&p->dev, sim_ms(now), &next_ms);
		more = 1; /* the device may have output once the queue is empty */
		if (p->txq_len == 0) {
			size_t n =
			    proto_device_output(&p->dev, p->txq, sizeof(p->txq), sim_ms(now));

			if (n > 0 && !pl->mute &&
			    proto_device_state(&p->dev) == PROTO_DEVICE_HELLO &&
			    pl->bytes_out > 0 && now - pl->last_write_ns >= SIM_UNREAD_NS)
				sim_port_forget_unread(
				    p); /* a HELLO again: the last one is unread */
			if (!pl->mute)
				p->txq_len = n;
			if (n == 0 && proto_device_done(&p->dev))
				break;
			more = n > 0;
			sim_port_fault_step(p, pl);
		}
		if (sim_port_write(p, pl, now) != 0) {
			pl->port_error = 1;
			snprintf(pl->what, sizeof(pl->what), "the pty broke: %s", strerror(errno));
			break;
		}
		wake = next_ms == UINT64_MAX ? UINT64_MAX : next_ms * 1000000ull;
		if (sim_rxq_next(&p->rxq) < wake)
			wake = sim_rxq_next(&p->rxq);
		if (p->txq_len > 0 && !pl->write_blocked && sim_wire_next(&p->tx, now) < wake)
			wake = sim_wire_next(&p->tx, now);
		if (p->txq_len == 0 && more)
			wake = now;
		if (wake > now)
			sim_port_wait(p, now, wake, sim_rxq_room(&p->rxq) > 0, pl->write_blocked);
	}
}

static void
sim_port_report(struct sim_port *p, const struct sim_play *pl)
{
	struct sim *s = p->sim;
	const struct sim_dev *d = &p->sdev;
	double wall = (double)(sim_now_ns() - pl->t_start_ns) / 1e6;
	int pass =
	    !pl->aborted && !pl->dropped && !pl->port_error && d->ended && d->reason == PROTO_R_OK;
	const char *reason;
	int expect = sim_fault_expect_fail(d->fault), unexpected;
	char line[1024];
	size_t n;

	if (pl->aborted) {
		pthread_mutex_lock(&s->lock);
		s->totals.aborted++;
		fprintf(s->o->out, "%s %s ABORTED %.0f ms (simulator stopping)\n", p->name, d->id,
		        wall);
		fflush(s->o->out);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (pl->dropped)
		reason = "unplugged";
	else if (pl->port_error)
		reason = "simulator";
	else if (!d->ended)
		reason = "unfinished";
	else
		reason = proto_reason_name(d->reason);
	unexpected = (expect == 1 && pass) || (expect == 0 && !pass);
	n = (size_t)snprintf(line, sizeof(line), "%s %s %s", p->name, d->id,
	                     pass ? "PASS" : "FAIL");
	if (!pass && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", reason);
	if (n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		                      " %.0f ms keygen %.1f ms bytes %" PRIu64 "/%" PRIu64, wall,
		                      d->keygen_ms, pl->bytes_out, pl->bytes_in);
	if (d->fault != SIM_FAULT_NONE && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, " fault=%s (%s%s%s)",
		                      sim_fault_name(d->fault), sim_fault_what(d->fault),
		                      pl->what[0] ? ": " : "", pl->what);
	if (d->detail[0] != '\0' && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, " [device: %s]", d->detail);
	if (!pass && d->text[0] != '\0' && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s", d->text);
	else if (!pass && pl->what[0] != '\0' && d->fault == SIM_FAULT_NONE && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s", pl->what);
	if (unexpected && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, " UNEXPECTED");
	(void)n;

	pthread_mutex_lock(&s->lock);
	fprintf(s->o->out, "%s\n", line);
	fflush(s->o->out);
	s->totals.done++;
	if (pass)
		s->totals.passed++;
	else
		s->totals.failed++;
	if (unexpected)
		s->totals.unexpected++;
	s->totals.wall_ms += wall;
	s->totals.keygen_ms += d->keygen_ms;
	s->totals.csr_ms += d->csr_ms;
	s->totals.bytes_out += pl->bytes_out;
	s->totals.bytes_in += pl->bytes_in;
	if (!pass && d->ended && d->reason >= 0 && (size_t)d->reason < 16)
		s->totals.by_reason[d->reason]++;
	pthread_mutex_unlock(&s->lock);
}

/* No device in the fixture: whatever the station sends is lost. */
static void
sim_port_idle(struct sim_port *p, uint32_t ms)
{
	uint64_t end = sim_now_ns() + (uint64_t)ms * 1000000ull;
	uint8_t buf[4096];

	for (;;) {
		uint64_t now = sim_now_ns();

		while (p->master >= 0 && read(p->master, buf, sizeof(buf)) > 0)
			;
		if (now >= end || atomic_load(&p->sim->stop))
			return;
		if (p->master >= 0) {
			sim_port_wait(p, now, end, 1, 0);
		} else {
			struct timespec ts = {
			    0, (long)(end - now < 50000000ull ? end - now : 50000000ull)};

			nanosleep(&ts, NULL);
		}
	}
}

void *
sim_port_main(void *arg)
{
	struct sim_port *p = arg;
	struct sim *s = p->sim;
	const struct sim_options *o = s->o;
	struct sim_play pl;
	uint64_t played = 0;

	while (!atomic_load(&s->stop) &&
	       (o->devices_per_port == 0 || played < o->devices_per_port)) {
		uint64_t number = atomic_fetch_add(&s->next_number, 1) + 1;
		enum sim_fault_kind fault =
		    sim_fault_pick(o->faults, o->fault_count, number, p->index, played + 1);

		if (played > 0)
			sim_port_idle(p, o->gap_ms);
		if (atomic_load(&s->stop))
			break;
		sim_port_play(p, &pl, number, fault);
		played++;
		sim_port_report(p, &pl);
		/* What a replay sends later: a valid CSR of a real exchange. */
		if (!pl.aborted && p->sdev.csr_len > 0 && p->sdev.fault != SIM_FAULT_REPLAY &&
		    p->sdev.fault != SIM_FAULT_BAD_SIG) {
			memcpy(p->last_csr, p->sdev.csr, p->sdev.csr_len);
			p->last_csr_len = p->sdev.csr_len;
		}
		snprintf(p->last_id, sizeof(p->last_id), "%s", p->sdev.id);
		if (pl.dropped && p->sdev.key != NULL) {
			EVP_PKEY_free(p->return_key);
			p->return_key = p->sdev.key;
			p->sdev.key = NULL;
			snprintf(p->return_id, sizeof(p->return_id), "%s", p->sdev.id);
			p->return_number = p->sdev.number;
		}
		sim_dev_clear(&p->sdev);
		if (pl.dropped) {
			struct cs_err err;

			/* Pulled cable: the port vanishes, stays away for the
			 * gap, and comes back as a new pty behind the link. */
			sim_port_close(p);
			sim_port_idle(p, o->gap_ms > 200 ? o->gap_ms : 200);
			if (sim_port_open(p, &err) != CS_OK) {
				pthread_mutex_lock(&s->lock);
				fprintf(stderr, "certstation sim: %s\n", err.msg);
				pthread_mutex_unlock(&s->lock);
				break;
			}
			pthread_mutex_lock(&s->lock);
			fprintf(o->out, "%s %s\n", p->name, p->pts);
			fflush(o->out);
			pthread_mutex_unlock(&s->lock);
		}
	}
	EVP_PKEY_free(p->return_key);
	p->return_key = NULL;
	atomic_fetch_add(&s->finished_ports, 1);
	return NULL;
}
