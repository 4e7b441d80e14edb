/*
 * fuzz_port_spec.c: the port and slot text a configuration holds (settings
 * "115200 8N1 rtscts", match rules "usb-serial=...", "tcp:HOST:PORT") on
 * arbitrary bytes. Whatever parses must format and re-parse to the same
 * value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/fixture.h"
#include "fixtures/port.h"
#include "fixtures/port_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TEXT_MAX 1024

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FUZZ_TEXT_MAX + 1], out[PORT_PATH_MAX + 32], spec[FUZZ_TEXT_MAX + 8];
	char host[PORT_TCP_HOST_MAX + 1], svc[PORT_TCP_SERVICE_MAX];
	struct port_settings s, s2;
	struct fixture_match m, m2;
	struct cs_err err;

	if (size > FUZZ_TEXT_MAX)
		size = FUZZ_TEXT_MAX;
	memcpy(text, data, size);
	text[size] = '\0';

	if (port_settings_parse(text, &s, &err) == CS_OK) {
		port_settings_format(&s, out, sizeof(out));
		if (port_settings_parse(out, &s2, &err) != CS_OK || s.baud != s2.baud ||
		    s.data_bits != s2.data_bits || s.parity != s2.parity ||
		    s.stop_bits != s2.stop_bits || s.flow != s2.flow)
			abort();
	}
	if (fixture_match_parse(text, &m, &err) == CS_OK) {
		fixture_match_format(&m, out, sizeof(out));
		if (fixture_match_parse(out, &m2, &err) != CS_OK || m.kind != m2.kind ||
		    strcmp(m.value, m2.value) != 0)
			abort();
	}
	if (port_tcp_spec_parse(text, host, svc, &err) == CS_OK) {
		long portno = strtol(svc, NULL, 10);

		if (host[0] == '\0' || portno < 1 || portno > 65535)
			abort();
	}
	memcpy(spec, "tcp:", 4);
	memcpy(spec + 4, text, size + 1);
	if (port_tcp_spec_parse(spec, host, svc, &err) == CS_OK && host[0] == '\0')
		abort();
	return 0;
}
