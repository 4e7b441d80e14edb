/*
 * fuzz_proto_text.c: the text dialect link on arbitrary bytes, as station
 * and as device. Fed one line per call and one byte per call, it must give
 * the same messages, the same errors and the same counters (the reader is
 * a resumable state machine); every delivered message keeps the header's
 * promises and re-encodes, as TLV and as text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/proto.h"
#include "tests/unit/test_proto_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	uint32_t digest; /* messages and errors, in order */
	size_t messages, errors;
	struct proto_link_stats stats;
};

static void
check_msg(const struct proto_msg *m, uint32_t *digest)
{
	static uint8_t buf[PROTO_MSG_MAX], out[PROTO_FRAME_WIRE_MAX(PROTO_FRAME_MAX)];
	static struct tp_end echo;
	size_t len, n;

	if (proto_msg_encode(m, buf, sizeof(buf), &len) != PROTO_OK)
		abort();
	*digest = proto_crc32(*digest * 31u + (uint32_t)m->type, buf, len);
	/* and it can be written as text again */
	if (tp_end_init(&echo, PROTO_DIALECT_TEXT, PROTO_ROLE_DEVICE, 0, TP_BUF) != 0)
		abort();
	if (proto_link_send(&echo.l, m, 0) != 0)
		return; /* a HELLO whose escapes outgrow a line: refused, fine */
	while ((n = proto_link_output(&echo.l, out, sizeof(out), 0)) > 0)
		if (memchr(out, '\n', n) == NULL && n == sizeof(out))
			abort();
}

static void
run(enum proto_role role, const uint8_t *data, size_t size, int by_line, struct outcome *o)
{
	static struct tp_end e;
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	if (tp_end_init(&e, PROTO_DIALECT_TEXT, role, 0, TP_BUF) != 0)
		abort();
	while (off < size) {
		size_t k = 1;
		struct proto_msg m;
		int rc;

		if (by_line) {
			const uint8_t *nl = memchr(data + off, '\n', size - off);

			k = nl != NULL ? (size_t)(nl - (data + off)) + 1 : size - off;
		}
		rc = proto_link_input(&e.l, data + off, k, 0);
		off += k;
		if (rc > 0)
			abort();
		if (rc != 0) {
			o->errors++;
			o->digest = o->digest * 31u + (uint32_t)(-rc);
		}
		while (proto_link_recv(&e.l, &m) == 1) {
			o->messages++;
			check_msg(&m, &o->digest);
		}
	}
	o->stats = e.l.stats;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int role;

	for (role = PROTO_ROLE_STATION; role <= PROTO_ROLE_DEVICE; role++) {
		struct outcome a, b;

		run((enum proto_role)role, data, size, 1, &a);
		run((enum proto_role)role, data, size, 0, &b);
		if (a.digest != b.digest || a.messages != b.messages || a.errors != b.errors ||
		    a.stats.lines_in != b.stats.lines_in ||
		    a.stats.bad_lines != b.stats.bad_lines || a.stats.last_bad != b.stats.last_bad)
			abort();
	}
	return 0;
}
