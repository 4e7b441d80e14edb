/*
 * test_port_settings.c: port settings defaults, the "115200 8N1 rtscts" text
 * form both ways (every combination round-trips), and the refusals.
 */
#include <stdio.h>
#include <string.h>

#include "fixtures/port.h"
#include "tests/support/check.h"

static int
same(const struct port_settings *a, const struct port_settings *b)
{
	return a->baud == b->baud && a->data_bits == b->data_bits && a->parity == b->parity &&
	    a->stop_bits == b->stop_bits && a->flow == b->flow;
}

int
main(void)
{
	static const unsigned bauds[] = {1200, 9600, 115200, 250000, 921600, 4000000};
	static const char *const bad[][2] = {
	    {"", "expected"},
	    {"115200", "expected"},
	    {"115200 8N1 rtscts extra", "more than"},
	    {"fast 8N1", "not a number"},
	    {"-9600 8N1", "not a number"},
	    {"115200x 8N1", "not a number"},
	    {"99999999999999999999 8N1", "not a number"},
	    {"300 8N1", "outside 1200..4000000"},
	    {"5000000 8N1", "outside"},
	    {"115200 9N1", "framing"},
	    {"115200 4N1", "framing"},
	    {"115200 8X1", "parity 'X'"},
	    {"115200 8N3", "framing"},
	    {"115200 8N", "framing"},
	    {"115200 8N11", "framing"},
	    {"115200 8N1 dtrdsr", "flow control 'dtrdsr'"},
	};
	struct port_settings s, t;
	struct cs_err err;
	char text[64], longtext[200];
	enum port_parity par;
	enum port_flow flow;
	size_t combos = 0;

	port_settings_default(&s);
	CHECK_INT_EQ(s.baud, 115200);
	CHECK_INT_EQ(s.data_bits, 8);
	CHECK_INT_EQ(s.parity, PORT_PARITY_NONE);
	CHECK_INT_EQ(s.stop_bits, 1);
	CHECK_INT_EQ(s.flow, PORT_FLOW_NONE);
	port_settings_format(&s, text, sizeof(text));
	CHECK(strcmp(text, "115200 8N1") == 0);
	s.data_bits = 7;
	s.parity = PORT_PARITY_EVEN;
	s.stop_bits = 2;
	s.flow = PORT_FLOW_RTSCTS;
	port_settings_format(&s, text, sizeof(text));
	CHECK(strcmp(text, "115200 7E2 rtscts") == 0);
	s.parity = PORT_PARITY_ODD;
	s.flow = PORT_FLOW_XONXOFF;
	port_settings_format(&s, text, sizeof(text));
	CHECK(strcmp(text, "115200 7O2 xonxoff") == 0);
	/* A small buffer truncates, never overflows. */
	port_settings_format(&s, text, 5);
	CHECK(strcmp(text, "1152") == 0);

	/* Every combination: format, parse, same settings. */
	for (size_t b = 0; b < sizeof(bauds) / sizeof(bauds[0]); b++)
		for (unsigned d = 5; d <= 8; d++)
			for (int p = 0; p < 3; p++)
				for (unsigned st = 1; st <= 2; st++)
					for (int f = 0; f < 3; f++) {
						s.baud = bauds[b];
						s.data_bits = d;
						s.parity = (enum port_parity)p;
						s.stop_bits = st;
						s.flow = (enum port_flow)f;
						port_settings_format(&s, text, sizeof(text));
						memset(&t, 0, sizeof(t));
						CHECK_INT_EQ(port_settings_parse(text, &t, &err), CS_OK);
						CHECK(same(&s, &t));
						combos++;
					}
	CHECK_INT_EQ(combos, 6 * 4 * 3 * 2 * 3);

	/* Spelled differently on input: tabs, lower case, explicit none. */
	CHECK_INT_EQ(port_settings_parse("  9600\t8e1  none ", &t, &err), CS_OK);
	CHECK_INT_EQ(t.baud, 9600);
	CHECK_INT_EQ(t.parity, PORT_PARITY_EVEN);
	CHECK_INT_EQ(t.flow, PORT_FLOW_NONE);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		port_settings_default(&t);
		t.baud = 4242;
		cs_err_clear(&err);
		CHECK_INT_EQ(port_settings_parse(bad[i][0], &t, &err), CS_ERR_INVALID_ARG);
		CHECK_MSG_HAS(err, bad[i][1]);
		CHECK_INT_EQ(t.baud, 4242); /* untouched on error */
	}
	CHECK_INT_EQ(port_settings_parse(NULL, &t, &err), CS_ERR_INVALID_ARG);
	memset(longtext, '1', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	CHECK_INT_EQ(port_settings_parse(longtext, &t, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "longer than");

	CHECK_INT_EQ(port_parity_parse("none", &par), CS_OK);
	CHECK_INT_EQ(par, PORT_PARITY_NONE);
	CHECK_INT_EQ(port_parity_parse("odd", &par), CS_OK);
	CHECK_INT_EQ(par, PORT_PARITY_ODD);
	CHECK_INT_EQ(port_parity_parse("even", &par), CS_OK);
	CHECK_INT_EQ(par, PORT_PARITY_EVEN);
	CHECK_INT_EQ(port_parity_parse("mark", &par), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(port_parity_parse("", &par), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(port_parity_parse(NULL, &par), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(port_flow_parse("none", &flow), CS_OK);
	CHECK_INT_EQ(flow, PORT_FLOW_NONE);
	CHECK_INT_EQ(port_flow_parse("rtscts", &flow), CS_OK);
	CHECK_INT_EQ(flow, PORT_FLOW_RTSCTS);
	CHECK_INT_EQ(port_flow_parse("xonxoff", &flow), CS_OK);
	CHECK_INT_EQ(flow, PORT_FLOW_XONXOFF);
	CHECK_INT_EQ(port_flow_parse("RTSCTS", &flow), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(port_flow_parse("hardware", &flow), CS_ERR_INVALID_ARG);
	return check_finish("test_port_settings");
}
