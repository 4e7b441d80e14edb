/*
 * fuzz_proto_msg.c: the TLV payload decoder on arbitrary bytes. The first
 * byte is the message type, the rest the payload. What decodes must keep
 * the header's promises (sizes, printable strings) and survive a round
 * trip: encode gives bytes that decode to the same message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/proto.h"
#include "tests/unit/test_proto_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_string(const struct proto_bytes *b, size_t max, uint8_t lo)
{
	size_t i;

	if (b->len > max || (b->len > 0 && b->p == NULL))
		abort();
	for (i = 0; i < b->len; i++)
		if (b->p[i] < lo || b->p[i] > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[PROTO_MSG_MAX];
	struct proto_msg m, m2;
	size_t len, i, total = 0;
	int rc;

	if (size == 0)
		return 0;
	rc = proto_msg_decode(data[0], data + 1, size - 1, &m);
	if (rc > 0)
		abort();
	if (rc != 0)
		return 0;
	check_string(&m.device_id, PROTO_DEVICE_ID_MAX, 0x21);
	check_string(&m.model, PROTO_NAME_MAX, 0x21);
	check_string(&m.firmware, PROTO_FIRMWARE_MAX, 0x21);
	check_string(&m.text, PROTO_TEXT_MAX, 0x20);
	if (m.type == PROTO_HELLO && m.device_id.len == 0)
		abort();
	if (m.max_frame != 0 && (m.max_frame < PROTO_FRAME_MIN || m.max_frame > PROTO_FRAME_MAX))
		abort();
	if (m.cert_count > PROTO_CHAIN_CERTS_MAX || m.csr.len > PROTO_CSR_MAX)
		abort();
	for (i = 0; i < m.cert_count; i++) {
		if (m.certs[i].len == 0 || m.certs[i].len > PROTO_CERT_MAX)
			abort();
		total += m.certs[i].len;
	}
	if (total > PROTO_CHAIN_MAX || (m.type == PROTO_CHAIN && m.cert_count == 0))
		abort();
	if (proto_msg_encode(&m, buf, sizeof(buf), &len) != PROTO_OK)
		abort();
	if (proto_msg_decode((uint8_t)m.type, buf, len, &m2) != PROTO_OK || !tp_msg_eq(&m, &m2) ||
	    m.max_frame != m2.max_frame)
		abort();
	return 0;
}
