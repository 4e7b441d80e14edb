/*
 * test_hsm_uri.c: RFC 7512 PKCS#11 URI parser, valid and hostile inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "hsm/p11_uri.h"
#include "tests/support/check.h"

static int
parse(const char *s, struct p11_uri *u, struct cs_err *err)
{
	cs_err_clear(err);
	return p11_uri_parse(s, strlen(s), u, err);
}

static void
test_valid(void)
{
	struct p11_uri u;
	struct cs_err err;
	char buf[600];

	CHECK_INT_EQ(parse("pkcs11:token=Line%201%20CA;object=issuing-ca;id=%01%02%ff;type=private;"
			   "slot-id=42?pin-source=file:/etc/certstation/hsm.pin&module-path=/usr/lib/"
			   "softhsm/libsofthsm2.so",
			 &u, &err),
	    CS_OK);
	CHECK(u.has_token && strcmp(u.token, "Line 1 CA") == 0);
	CHECK(u.has_object && strcmp(u.object, "issuing-ca") == 0);
	CHECK_INT_EQ(u.id_len, 3);
	CHECK(u.id[0] == 1 && u.id[1] == 2 && u.id[2] == 0xff);
	CHECK_INT_EQ(u.type, P11_URI_TYPE_PRIVATE);
	CHECK(u.has_slot_id && u.slot_num == 42);
	CHECK(u.has_pin_source && strcmp(u.pin_source, "/etc/certstation/hsm.pin") == 0);
	CHECK(u.has_module_path && strcmp(u.module_path, "/usr/lib/softhsm/libsofthsm2.so") == 0);

	/* Formatting drops the PIN source and round-trips the rest. */
	CHECK_INT_EQ(p11_uri_format(&u, buf, sizeof(buf)), CS_OK);
	CHECK(strstr(buf, "pin") == NULL);
	CHECK(strstr(buf, "token=Line%201%20CA;object=issuing-ca;id=%01%02%FF;type=private;slot-id=42") != NULL);
	{
		struct p11_uri u2;

		CHECK_INT_EQ(parse(buf, &u2, &err), CS_OK);
		CHECK(strcmp(u2.token, u.token) == 0 && u2.id_len == 3 && u2.slot_num == 42);
		CHECK(!u2.has_pin_source);
	}
	CHECK_INT_EQ(p11_uri_format(&u, buf, 20), CS_ERR_TOO_LARGE);

	CHECK_INT_EQ(parse("pkcs11:", &u, &err), CS_OK);
	CHECK(!u.has_token && !u.has_object);
	CHECK_INT_EQ(parse("pkcs11:?pin-source=rel/pin.txt", &u, &err), CS_OK);
	CHECK(strcmp(u.pin_source, "rel/pin.txt") == 0);
	CHECK_INT_EQ(parse("pkcs11:object=a?pin-source=file:///abs/pin", &u, &err), CS_OK);
	CHECK(strcmp(u.pin_source, "/abs/pin") == 0);
	CHECK_INT_EQ(parse("pkcs11:object=a;library-manufacturer=SoftHSM;slot-description=x", &u, &err),
	    CS_OK);
	CHECK_INT_EQ(parse("pkcs11:object=%e2%82%ac", &u, &err), CS_OK);
	CHECK(strcmp(u.object, "\xe2\x82\xac") == 0);
}

static void
test_refusals(void)
{
	struct p11_uri u;
	struct cs_err err;
	char big[P11_URI_MAX + 64];

	CHECK_INT_EQ(parse("pkcs11:token=a?pin-value=1234", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "pin-value");
	CHECK_MSG_HAS(err, "refused");
	CHECK(strstr(err.msg, "1234") == NULL);

	CHECK_INT_EQ(parse("http:token=a", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "pkcs11:");
	CHECK_INT_EQ(parse("pkcs11:token=a;token=b", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "appears twice");
	CHECK_INT_EQ(parse("pkcs11:tokn=a", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "unknown path attribute 'tokn'");
	CHECK_INT_EQ(parse("pkcs11:token=a?foo=b", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "unknown query attribute 'foo'");
	CHECK_INT_EQ(parse("pkcs11:object=a%2", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "truncated percent escape at offset 15");
	CHECK_INT_EQ(parse("pkcs11:object=a%zz", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "malformed percent escape");
	CHECK_INT_EQ(parse("pkcs11:object=a%00b", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "NUL");
	CHECK_INT_EQ(parse("pkcs11:object=a b", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "0x20 at offset 15");
	CHECK_INT_EQ(parse("pkcs11:token=a;", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "trailing ';'");
	CHECK_INT_EQ(parse("pkcs11:token=a;;object=b", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "empty attribute");
	CHECK_INT_EQ(parse("pkcs11:token", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "not name=value");
	CHECK_INT_EQ(parse("pkcs11:=x", &u, &err), CS_ERR_CONFIG);
	CHECK_INT_EQ(parse("pkcs11:token=a?", &u, &err), CS_ERR_CONFIG);
	CHECK_INT_EQ(parse("pkcs11:slot-id=12x", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "non-digit");
	CHECK_INT_EQ(parse("pkcs11:slot-id=99999999999999999999", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "does not fit");
	CHECK_INT_EQ(parse("pkcs11:slot-id=", &u, &err), CS_ERR_CONFIG);
	CHECK_INT_EQ(parse("pkcs11:type=secret", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "type 'secret'");
	CHECK_INT_EQ(parse("pkcs11:token=0123456789012345678901234567890123", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "longer than 32 bytes");
	CHECK_INT_EQ(parse("pkcs11:object=", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "empty");
	CHECK_INT_EQ(parse("pkcs11:id=", &u, &err), CS_ERR_CONFIG);
	CHECK_INT_EQ(parse("pkcs11:?pin-source=|/bin/cat%20x", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "command");
	CHECK_INT_EQ(parse("pkcs11:?pin-source=file://host/pin", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "remote host");
	CHECK_INT_EQ(parse("pkcs11:?pin-source=file:", &u, &err), CS_ERR_CONFIG);
	CHECK_INT_EQ(parse("pkcs11:?module-name=softhsm2", &u, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "module-path");
	CHECK_INT_EQ(parse("pkcs11:?pin-source=a&pin-source=b", &u, &err), CS_ERR_CONFIG);
	CHECK_INT_EQ(parse("pkcs11:object=\xc3\xa9", &u, &err), CS_ERR_CONFIG);

	/* id is capped at P11_URI_ID_MAX decoded bytes. */
	{
		char id[16 + 3 * (P11_URI_ID_MAX + 1)];
		size_t i, n;

		memcpy(id, "pkcs11:id=", 10);
		n = 10;
		for (i = 0; i <= P11_URI_ID_MAX; i++) {
			memcpy(id + n, "%41", 3);
			n += 3;
		}
		id[n] = '\0';
		CHECK_INT_EQ(parse(id, &u, &err), CS_ERR_CONFIG);
		CHECK_MSG_HAS(err, "longer than 64 bytes");
	}

	memset(big, 'a', sizeof(big));
	memcpy(big, "pkcs11:object=", 14);
	CHECK_INT_EQ(p11_uri_parse(big, sizeof(big), &u, &err), CS_ERR_TOO_LARGE);
	CHECK_MSG_HAS(err, "limit is 1024");
	CHECK_INT_EQ(p11_uri_parse(NULL, 0, &u, &err), CS_ERR_CONFIG);
	/* Not NUL-terminated: only len bytes are read. */
	CHECK_INT_EQ(p11_uri_parse("pkcs11:token=abcXXXX", 16, &u, &err), CS_OK);
	CHECK(strcmp(u.token, "abc") == 0);
}

int
main(void)
{
	test_valid();
	test_refusals();
	return check_finish("test_hsm_uri");
}
