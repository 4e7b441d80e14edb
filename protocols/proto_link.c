/*
 * proto_link.c: one endpoint of a connection (PROTOCOL.md sections 3 and 4).
 *
 * DESIGN: sans-I/O. Input bytes go through the frame decoder (or the text
 * line reader); output is two queues drained by proto_link_output(): ctl_
 * (ACK/NAK frames, small, urgent) and out_ (the data frame or text line
 * being written). They are interleaved only at frame boundaries, never in
 * the middle of a frame. The data frame of the current chunk is built from
 * tx_buf when out_ is empty, so a retransmission is the same bytes again
 * and a frame half written when its ACK arrives is still finished (cutting
 * it would corrupt the next frame on the wire too). The ACK deadline starts
 * when the frame's last byte leaves proto_link_output().
 *
 * Stop-and-wait per direction: the two directions share nothing but the
 * output queues, so both ends may send at the same time.
 */
#include "protocols/proto_int.h"

#include <string.h>

/* One ACK/NAK on the wire: 8 bytes, COBS adds at most 2 with the delimiter. */
#define CTL_WIRE 10

static void
bad_frame(struct proto_link *l, int why)
{
	l->stats.bad_frames++;
	l->stats.last_bad = why;
}

static int
note_error(struct proto_link *l, int rc)
{
	if (rc != 0 && l->error_ == 0)
		l->error_ = rc;
	return rc;
}

int
proto_link_init(struct proto_link *l, const struct proto_link_config *cfg)
{
	if (l == NULL || cfg == NULL)
		return PROTO_E_ARG;
	memset(l, 0, sizeof(*l));
	if ((cfg->dialect != PROTO_DIALECT_FRAME && cfg->dialect != PROTO_DIALECT_TEXT) ||
	    (cfg->role != PROTO_ROLE_STATION && cfg->role != PROTO_ROLE_DEVICE) ||
	    cfg->rx_buf == NULL || cfg->rx_cap == 0 || cfg->tx_buf == NULL || cfg->tx_cap == 0)
		return PROTO_E_ARG;
	if (cfg->dialect == PROTO_DIALECT_FRAME &&
	    (cfg->max_frame < PROTO_FRAME_MIN || cfg->max_frame > PROTO_FRAME_MAX ||
	     cfg->frame_buf == NULL || cfg->frame_cap < cfg->max_frame || cfg->ack_timeout_ms == 0))
		return PROTO_E_ARG;
	l->cfg = *cfg;
	l->peer_max_frame = PROTO_FRAME_MIN;
	if (cfg->dialect == PROTO_DIALECT_FRAME) {
		/* frames larger than we announce are refused even if frame_cap would hold them */
		proto_frame_decoder_init(&l->fdec_, cfg->frame_buf, cfg->max_frame);
		l->sync_ = 1; /* ends whatever noise the peer collected before we spoke */
	}
	return PROTO_OK;
}

static int
mid_out(const struct proto_link *l)
{
	return l->out_off_ > 0 && l->out_off_ < l->out_len_;
}

void
proto_link_reset(struct proto_link *l)
{
	if (l == NULL)
		return;
	/* receive side */
	l->rx_len_ = 0;
	l->rx_ready_ = 0;
	l->rx_in_msg_ = 0;
	proto_text_rx_reset(l);
	/* send side: the seq of a chunk that may have reached the peer is not
	 * reused, so the next message's first frame cannot pass for its duplicate */
	if (l->tx_active_ && (l->tx_sent_ || l->out_off_ > 0))
		l->tx_seq_++;
	l->tx_active_ = 0;
	l->tx_need_send_ = 0;
	l->tx_sent_ = 0;
	l->tx_waiting_ack_ = 0;
	l->tx_retries_ = 0;
	l->tx_chunk_ = 0;
	l->tx_len_ = 0;
	l->tx_off_ = 0;
	l->failed_ = 0;
	l->out_is_chunk_ = 0;
	l->txt_phase_ = 0;
	if (mid_out(l))
		l->sync_ = 1; /* terminate the cut frame or line on the wire */
	l->out_off_ = 0;
	l->out_len_ = 0;
}

/* ---- frame dialect: receiving ---- */

static void
queue_ctl(struct proto_link *l, uint8_t type, uint16_t seq)
{
	struct proto_frame f = {type, 0, seq, NULL, 0};
	size_t n;

	if (sizeof(l->ctl_) - l->ctl_len_ < CTL_WIRE)
		return; /* already three queued: the peer's timer covers a dropped one */
	if (proto_frame_encode(&f, l->ctl_ + l->ctl_len_, sizeof(l->ctl_) - l->ctl_len_, &n) != 0)
		return;
	l->ctl_len_ += n;
	l->stats.frames_out++;
	if (type == PROTO_NAK)
		l->stats.naks_sent++;
}

static size_t
rx_limit(const struct proto_link *l)
{
	return l->cfg.rx_cap < PROTO_MSG_MAX ? l->cfg.rx_cap : PROTO_MSG_MAX;
}

static uint32_t
frame_crc(const struct proto_frame *f)
{
	const uint8_t *c = f->payload + f->payload_len; /* the decoder keeps the CRC there */

	return (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
}

static void
rx_message_done(struct proto_link *l)
{
	int rc;

	l->rx_in_msg_ = 0;
	rc = proto_msg_decode(l->rx_type_, l->cfg.rx_buf, l->rx_len_, &l->rx_msg_);
	if (rc != 0) {
		note_error(l, rc);
		return;
	}
	l->rx_ready_ = 1;
	if (l->rx_msg_.max_frame != 0 &&
	    ((l->cfg.role == PROTO_ROLE_STATION && l->rx_msg_.type == PROTO_HELLO) ||
	     (l->cfg.role == PROTO_ROLE_DEVICE && l->rx_msg_.type == PROTO_CSR_REQUEST)))
		l->peer_max_frame = l->rx_msg_.max_frame;
	else if (l->cfg.role == PROTO_ROLE_STATION && l->rx_msg_.type == PROTO_HELLO)
		l->peer_max_frame = PROTO_FRAME_MIN; /* a HELLO that announces nothing */
}

static void
rx_data(struct proto_link *l, const struct proto_frame *f)
{
	uint32_t crc = frame_crc(f);

	if (l->rx_have_last_ && f->seq == l->rx_last_seq_ && crc == l->rx_last_crc_) {
		queue_ctl(l, PROTO_ACK, f->seq); /* our ACK was lost: the same frame again */
		return;
	}
	if (f->flags & PROTO_FLAG_FIRST) {
		if (l->rx_ready_)
			return; /* the caller has not taken the last message: no ACK, peer resends
			         */
		/* any seq: a peer that restarted begins a new count */
		l->rx_in_msg_ = 1;
		l->rx_type_ = f->type;
		l->rx_len_ = 0;
	} else if (!l->rx_in_msg_ || f->seq != l->rx_seq_expected_) {
		bad_frame(l, PROTO_E_UNEXPECTED); /* a continuation of nothing we are receiving */
		return;
	} else if (f->type != l->rx_type_) {
		l->rx_in_msg_ = 0;
		bad_frame(l, PROTO_E_MALFORMED);
		note_error(l, PROTO_E_MALFORMED);
		return;
	}
	if (f->payload_len > rx_limit(l) - l->rx_len_) {
		/* not acknowledged: the sender gives up; the session says why */
		l->rx_in_msg_ = 0;
		note_error(l, PROTO_E_TOO_LARGE);
		return;
	}
	if (f->payload_len > 0)
		memcpy(l->cfg.rx_buf + l->rx_len_, f->payload, f->payload_len);
	l->rx_len_ += f->payload_len;
	l->rx_have_last_ = 1;
	l->rx_last_seq_ = f->seq;
	l->rx_last_crc_ = crc;
	l->rx_seq_expected_ = (uint16_t)(f->seq + 1);
	queue_ctl(l, PROTO_ACK, f->seq);
	if (!(f->flags & PROTO_FLAG_MORE))
		rx_message_done(l);
}

static void
tx_chunk_acked(struct proto_link *l)
{
	l->tx_off_ += l->tx_chunk_;
	l->tx_seq_++;
	l->tx_chunk_ = 0;
	l->tx_sent_ = 0;
	l->tx_waiting_ack_ = 0;
	l->tx_retries_ = 0;
	l->out_is_chunk_ = 0;
	if (l->out_off_ == 0)
		l->out_len_ = 0; /* a resend not yet started is no longer needed */
	if (l->tx_off_ >= l->tx_len_) {
		l->tx_active_ = 0;
		l->tx_need_send_ = 0;
	} else {
		l->tx_need_send_ = 1;
	}
}

static void
rx_frame(struct proto_link *l, const struct proto_frame *f)
{
	l->stats.frames_in++;
	if (f->type == PROTO_ACK || f->type == PROTO_NAK) {
		if (f->payload_len != 0) {
			bad_frame(l, PROTO_E_MALFORMED);
			return;
		}
		if (f->type == PROTO_NAK)
			l->stats.naks_received++;
		if (!l->tx_active_ || !l->tx_sent_ || f->seq != l->tx_seq_)
			return; /* stale, or about a frame we are not waiting on */
		if (f->type == PROTO_ACK) {
			tx_chunk_acked(l);
		} else if (l->tx_waiting_ack_ && l->tx_retries_ < l->cfg.max_retries) {
			l->tx_retries_++;
			l->stats.retransmits++;
			l->tx_waiting_ack_ = 0;
			l->tx_need_send_ = 1;
		}
		return;
	}
	rx_data(l, f);
}

static int
frame_input(struct proto_link *l, const uint8_t *in, size_t n)
{
	while (n > 0) {
		struct proto_frame f;
		size_t used;
		int rc = proto_frame_decode(&l->fdec_, in, n, &used, &f);

		in += used;
		n -= used;
		if (rc == 0)
			break;
		if (rc < 0) {
			bad_frame(l, rc);
			/* NAK unless the damaged frame was most likely the ACK we wait
			 * for: then our own timer recovers, and the peer has nothing to resend */
			if (l->rx_in_msg_ || !l->tx_active_)
				queue_ctl(l, PROTO_NAK, l->rx_seq_expected_);
			continue;
		}
		rx_frame(l, &f);
	}
	return l->error_;
}

int
proto_link_input(struct proto_link *l, const uint8_t *in, size_t n, uint64_t now_ms)
{
	(void)now_ms; /* deadlines start when output is written, not when input arrives */
	if (l == NULL || (in == NULL && n > 0))
		return PROTO_E_ARG;
	l->error_ = 0;
	l->stats.bytes_in += n;
	if (l->cfg.dialect == PROTO_DIALECT_TEXT)
		return proto_text_input(l, in, n);
	return frame_input(l, in, n);
}

int
proto_link_recv(struct proto_link *l, struct proto_msg *m)
{
	if (l == NULL || m == NULL || !l->rx_ready_)
		return 0;
	*m = l->rx_msg_;
	l->rx_ready_ = 0;
	return 1;
}

/* ---- sending ---- */

int
proto_link_send(struct proto_link *l, const struct proto_msg *m, uint64_t now_ms)
{
	struct proto_msg tmp;
	size_t len;
	int rc;

	(void)now_ms;
	if (l == NULL || m == NULL)
		return PROTO_E_ARG;
	if (l->tx_active_)
		return PROTO_E_BUSY;
	if (m->type < PROTO_HELLO || m->type > PROTO_ERROR)
		return PROTO_E_ARG;
	tmp = *m;
	if (l->cfg.dialect == PROTO_DIALECT_FRAME &&
	    ((l->cfg.role == PROTO_ROLE_DEVICE && m->type == PROTO_HELLO) ||
	     (l->cfg.role == PROTO_ROLE_STATION && m->type == PROTO_CSR_REQUEST)))
		tmp.max_frame = l->cfg.max_frame; /* the link announces what it accepts */
	else if (l->cfg.dialect == PROTO_DIALECT_TEXT)
		tmp.max_frame = 0; /* no frames in text */
	rc = proto_msg_encode(&tmp, l->cfg.tx_buf, l->cfg.tx_cap, &len);
	if (rc != 0)
		return rc;
	if (l->cfg.dialect == PROTO_DIALECT_TEXT) {
		/* decode our own TLV: the lines are made from slices of tx_buf */
		rc = proto_msg_decode((uint8_t)tmp.type, l->cfg.tx_buf, len, &l->tx_msg_);
		if (rc == 0)
			rc = proto_text_send_start(l);
		if (rc != 0)
			return rc;
	} else {
		l->tx_need_send_ = 1;
	}
	l->tx_type_ = (uint8_t)tmp.type;
	l->tx_len_ = len;
	l->tx_off_ = 0;
	l->tx_chunk_ = 0;
	l->tx_sent_ = 0;
	l->tx_waiting_ack_ = 0;
	l->tx_retries_ = 0;
	l->tx_active_ = 1;
	l->failed_ = 0;
	return PROTO_OK;
}

int
proto_link_rx_partial_plausible(const struct proto_link *l)
{
	const struct proto_frame_decoder *d;
	uint8_t type;

	if (l == NULL)
		return 0;
	if (l->cfg.dialect == PROTO_DIALECT_TEXT) {
		if (l->text_skip_ || l->line_len_ == 0)
			return 0;
		for (size_t i = 0; i < l->line_len_; i++)
			if ((l->line_[i] < 0x20 || l->line_[i] > 0x7e) && l->line_[i] != '\r')
				return 0;
		return 1;
	}
	d = &l->fdec_;
	if (d->overflow || d->len < 2)
		return 0;
	type = d->buf[0];
	if (!((type >= PROTO_HELLO && type <= PROTO_ERROR) || type == PROTO_ACK || type == PROTO_NAK))
		return 0;
	return (d->buf[1] & ~(PROTO_FLAG_MORE | PROTO_FLAG_FIRST)) == 0;
}

int
proto_link_send_done(const struct proto_link *l)
{
	return l != NULL && !l->tx_active_ && !l->failed_;
}

/* The current chunk's frame into out_ (first send or resend: same bytes). */
static void
build_chunk(struct proto_link *l)
{
	struct proto_frame f;
	size_t n;

	if (l->tx_chunk_ == 0) {
		size_t room = (size_t)l->peer_max_frame - PROTO_FRAME_OVERHEAD;

		l->tx_chunk_ = l->tx_len_ - l->tx_off_;
		if (l->tx_chunk_ > room)
			l->tx_chunk_ = room;
	}
	f.type = l->tx_type_;
	f.flags = (uint8_t)((l->tx_off_ == 0 ? PROTO_FLAG_FIRST : 0) |
	                    (l->tx_off_ + l->tx_chunk_ < l->tx_len_ ? PROTO_FLAG_MORE : 0));
	f.seq = l->tx_seq_;
	f.payload = l->cfg.tx_buf + l->tx_off_;
	f.payload_len = l->tx_chunk_;
	/* cannot fail: chunk <= PROTO_FRAME_MAX - 8 and out_ holds its wire size */
	if (proto_frame_encode(&f, l->out_, sizeof(l->out_), &n) != 0)
		n = 0;
	l->out_off_ = 0;
	l->out_len_ = n;
	l->out_is_chunk_ = 1;
	l->tx_need_send_ = 0;
}

/* The last byte of out_ has been handed to the caller. */
static void
out_written(struct proto_link *l, uint64_t now_ms)
{
	l->out_off_ = 0;
	l->out_len_ = 0;
	if (l->cfg.dialect == PROTO_DIALECT_TEXT) {
		l->stats.lines_out++;
		if (!proto_text_next_line(l) && l->tx_active_)
			l->tx_active_ = 0; /* the whole message is written */
		return;
	}
	l->stats.frames_out++;
	if (l->out_is_chunk_) {
		l->out_is_chunk_ = 0;
		l->tx_sent_ = 1;
		l->tx_waiting_ack_ = 1;
		l->tx_deadline_ms_ = now_ms + l->cfg.ack_timeout_ms;
	}
}

size_t
proto_link_output(struct proto_link *l, uint8_t *out, size_t cap, uint64_t now_ms)
{
	size_t n = 0;

	if (l == NULL || out == NULL)
		return 0;
	while (n < cap) {
		size_t k;

		if (l->sync_) {
			/* only right before something is written: a lone delimiter
			 * would tell the peer nothing */
			if (l->ctl_len_ == 0 && l->out_len_ == 0 && !l->tx_need_send_)
				break;
			out[n++] = l->cfg.dialect == PROTO_DIALECT_TEXT ? '\n' : 0x00;
			l->sync_ = 0;
		} else if (l->ctl_off_ < l->ctl_len_ && !mid_out(l)) {
			k = l->ctl_len_ - l->ctl_off_;
			if (k > cap - n)
				k = cap - n;
			memcpy(out + n, l->ctl_ + l->ctl_off_, k);
			n += k;
			l->ctl_off_ += k;
			if (l->ctl_off_ == l->ctl_len_) {
				l->ctl_off_ = 0;
				l->ctl_len_ = 0;
			}
		} else if (l->out_off_ < l->out_len_) {
			k = l->out_len_ - l->out_off_;
			if (k > cap - n)
				k = cap - n;
			memcpy(out + n, l->out_ + l->out_off_, k);
			n += k;
			l->out_off_ += k;
			if (l->out_off_ == l->out_len_)
				out_written(l, now_ms);
		} else if (l->cfg.dialect == PROTO_DIALECT_FRAME && l->tx_active_ &&
		           l->tx_need_send_) {
			build_chunk(l);
			if (l->out_len_ == 0)
				break;
		} else {
			break;
		}
	}
	l->stats.bytes_out += n;
	return n;
}

int
proto_link_tick(struct proto_link *l, uint64_t now_ms, uint64_t *next_ms)
{
	if (next_ms != NULL)
		*next_ms = UINT64_MAX;
	if (l == NULL)
		return PROTO_E_ARG;
	if (l->cfg.dialect != PROTO_DIALECT_FRAME || !l->tx_active_ || !l->tx_waiting_ack_) {
		return PROTO_OK;
	}
	if (now_ms < l->tx_deadline_ms_) {
		if (next_ms != NULL)
			*next_ms = l->tx_deadline_ms_;
		return PROTO_OK;
	}
	if (l->tx_retries_ >= l->cfg.max_retries) {
		/* give the message up; its chunk may have arrived, so skip its seq */
		l->tx_active_ = 0;
		l->tx_need_send_ = 0;
		l->tx_waiting_ack_ = 0;
		l->tx_sent_ = 0;
		l->tx_chunk_ = 0;
		l->tx_seq_++;
		l->failed_ = 1;
		return PROTO_E_TIMEOUT;
	}
	l->tx_retries_++;
	l->stats.retransmits++;
	l->tx_waiting_ack_ = 0;
	l->tx_need_send_ = 1;
	return PROTO_OK;
}
