/*
 * test_web_parse.c: the dashboard's parsers of request bytes, fed valid
 * and hostile input: request targets (path segments, query strings,
 * percent-escapes), Cookie headers, the JSON body pre-scan, time and
 * number parameters, Host/Origin allow lists.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check.h"
#include "web-ui/web_parse.h"

static int
target(const char *uri, struct web_target *t, struct cs_err *err)
{
	return web_target_parse(uri, strlen(uri), t, err);
}

static void
test_target_valid(void)
{
	struct web_target t;
	struct cs_err err;

	CHECK_INT_EQ(target("/", &t, &err), 0);
	CHECK_INT_EQ(t.seg_count, 0);
	CHECK_INT_EQ(t.pair_count, 0);

	CHECK_INT_EQ(target("/api/v1/fixtures/A%2D1/pause", &t, &err), 0);
	CHECK_INT_EQ(t.seg_count, 5);
	CHECK(strcmp(t.seg[0], "api") == 0);
	CHECK(strcmp(t.seg[3], "A-1") == 0);
	CHECK(strcmp(t.seg[4], "pause") == 0);

	/* an encoded slash stays inside its segment */
	CHECK_INT_EQ(target("/a%2Fb/c", &t, &err), 0);
	CHECK_INT_EQ(t.seg_count, 2);
	CHECK(strcmp(t.seg[0], "a/b") == 0);

	/* trailing slash: an empty last segment (routes do not match it) */
	CHECK_INT_EQ(target("/api/", &t, &err), 0);
	CHECK_INT_EQ(t.seg_count, 2);
	CHECK(strcmp(t.seg[1], "") == 0);

	CHECK_INT_EQ(target("/x?device=AB+C%2B&limit=5&&flag&empty=", &t, &err), 0);
	CHECK_INT_EQ(t.pair_count, 4);
	CHECK(strcmp(web_target_query(&t, "device"), "AB C+") == 0);
	CHECK(strcmp(web_target_query(&t, "limit"), "5") == 0);
	CHECK(strcmp(web_target_query(&t, "flag"), "") == 0);
	CHECK(strcmp(web_target_query(&t, "empty"), "") == 0);
	CHECK(web_target_query(&t, "missing") == NULL);
	/* '+' is a space only in the query */
	CHECK_INT_EQ(target("/a+b", &t, &err), 0);
	CHECK(strcmp(t.seg[0], "a+b") == 0);
	/* UTF-8 passes through */
	CHECK_INT_EQ(target("/x?device=%C3%A9t%C3%A9", &t, &err), 0);
	CHECK(strcmp(web_target_query(&t, "device"), "\xc3\xa9t\xc3\xa9") == 0);
}

static void
test_target_hostile(void)
{
	struct web_target t;
	struct cs_err err;
	char *big;

	CHECK_INT_EQ(target("", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("api/v1", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "must start with '/'");
	CHECK_INT_EQ(target("http://h/api", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("/a#frag", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("/a%", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("/a%4", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("/a%zz", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "two hex digits");
	CHECK_INT_EQ(target("/a%00b", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "control character");
	CHECK_INT_EQ(target("/a%0Ab", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("/a\tb", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("/x?a=%7F", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("/x?a=1&a=2", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "given twice");
	CHECK_INT_EQ(target("/x?=1", &t, &err), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(target("/1/2/3/4/5/6/7/8", &t, &err), 0);
	CHECK_INT_EQ(target("/1/2/3/4/5/6/7/8/9", &t, &err), CS_ERR_TOO_LARGE);
	CHECK_INT_EQ(target("/x?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&p=16",
			 &t, &err),
	    0);
	CHECK_INT_EQ(target("/x?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&p=16&q",
			 &t, &err),
	    CS_ERR_TOO_LARGE);

	big = malloc(WEB_URI_MAX + 2);
	CHECK(big != NULL);
	if (big == NULL)
		return;
	/* a segment longer than WEB_SEGMENT_MAX */
	big[0] = '/';
	memset(big + 1, 'a', 300);
	big[301] = '\0';
	CHECK_INT_EQ(target(big, &t, &err), CS_ERR_TOO_LARGE);
	/* the whole target at and beyond the cap */
	memset(big, 'a', WEB_URI_MAX + 1);
	big[0] = '/';
	big[1] = '?';
	big[2] = 'k';
	big[3] = '=';
	big[WEB_URI_MAX] = '\0';
	CHECK_INT_EQ(target(big, &t, &err), 0);
	CHECK_INT_EQ(strlen(web_target_query(&t, "k")), WEB_URI_MAX - 4);
	big[WEB_URI_MAX] = 'a';
	big[WEB_URI_MAX + 1] = '\0';
	CHECK_INT_EQ(target(big, &t, &err), CS_ERR_TOO_LARGE);
	CHECK_MSG_HAS(err, "the limit is 2048");
	/* nothing but slashes: many empty segments */
	memset(big, '/', WEB_URI_MAX);
	big[WEB_URI_MAX] = '\0';
	CHECK_INT_EQ(target(big, &t, &err), CS_ERR_TOO_LARGE);
	free(big);
}

static void
test_cookie(void)
{
	const char *h;
	char out[65];

	h = "theme=dark; certstation_session=abc123; other=1";
	CHECK_INT_EQ(web_cookie_find(h, strlen(h), "certstation_session", out, sizeof(out)), 0);
	CHECK(strcmp(out, "abc123") == 0);
	h = "certstation_session=\"q\"";
	CHECK_INT_EQ(web_cookie_find(h, strlen(h), "certstation_session", out, sizeof(out)), 0);
	CHECK(strcmp(out, "q") == 0);
	h = "  certstation_session  =  v1  ;certstation_session=v2";
	CHECK_INT_EQ(web_cookie_find(h, strlen(h), "certstation_session", out, sizeof(out)), 0);
	CHECK(strcmp(out, "v1") == 0);
	h = "xcertstation_session=1; certstation_sessionx=2";
	CHECK_INT_EQ(web_cookie_find(h, strlen(h), "certstation_session", out, sizeof(out)),
	    CS_ERR_NOT_FOUND);
	h = "novalue; ;;; =x; certstation_session=";
	CHECK_INT_EQ(web_cookie_find(h, strlen(h), "certstation_session", out, sizeof(out)), 0);
	CHECK(strcmp(out, "") == 0);
	h = "certstation_session";
	CHECK_INT_EQ(web_cookie_find(h, strlen(h), "certstation_session", out, sizeof(out)),
	    CS_ERR_NOT_FOUND);
	h = "a=\"";
	CHECK_INT_EQ(web_cookie_find(h, strlen(h), "a", out, sizeof(out)), 0);
	CHECK(strcmp(out, "\"") == 0);
	CHECK_INT_EQ(web_cookie_find(NULL, 0, "a", out, sizeof(out)), CS_ERR_NOT_FOUND);
	/* a value longer than the caller's buffer */
	{
		char big[200];

		memcpy(big, "a=", 2);
		memset(big + 2, 'x', 100);
		big[102] = '\0';
		CHECK_INT_EQ(web_cookie_find(big, strlen(big), "a", out, sizeof(out)), CS_ERR_TOO_LARGE);
	}
	/* a header over the cap is refused before it is looked at */
	{
		char *huge = malloc(WEB_COOKIE_HEADER_MAX + 10);

		CHECK(huge != NULL);
		if (huge != NULL) {
			memset(huge, ';', WEB_COOKIE_HEADER_MAX + 9);
			memcpy(huge, "a=1", 3);
			huge[WEB_COOKIE_HEADER_MAX + 9] = '\0';
			CHECK_INT_EQ(web_cookie_find(huge, strlen(huge), "a", out, sizeof(out)),
			    CS_ERR_TOO_LARGE);
			free(huge);
		}
	}
	/* length-bounded: bytes after len are not read */
	h = "a=12345";
	CHECK_INT_EQ(web_cookie_find(h, 4, "a", out, sizeof(out)), 0);
	CHECK(strcmp(out, "12") == 0);
}

static enum web_json_refusal
prescan(const char *s, struct cs_err *err)
{
	return web_json_prescan(s, strlen(s), err);
}

static void
test_prescan(void)
{
	struct cs_err err;
	char buf[8192];
	size_t i;

	CHECK_INT_EQ(prescan("{\"user\":\"ana\",\"password\":\"x\"}", &err), WEB_JSON_OK);
	CHECK_INT_EQ(prescan("", &err), WEB_JSON_OK);
	CHECK_INT_EQ(prescan("[[[[[[[[1]]]]]]]]", &err), WEB_JSON_OK); /* 8 levels */
	CHECK_INT_EQ(prescan("[[[[[[[[[1]]]]]]]]]", &err), WEB_JSON_TOO_DEEP);
	CHECK_MSG_HAS(err, "deeper than 8");
	CHECK_INT_EQ(prescan("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}", &err),
	    WEB_JSON_TOO_DEEP);
	/* brackets inside strings do not count; escaped quotes do not end them */
	CHECK_INT_EQ(prescan("{\"a\":\"[[[[[[[[[[[[{{{{{{{\\\"]]]]\"}", &err), WEB_JSON_OK);
	CHECK_INT_EQ(prescan("\"\\\\\"", &err), WEB_JSON_OK);
	CHECK_INT_EQ(prescan("\"abc", &err), WEB_JSON_MALFORMED);
	CHECK_INT_EQ(prescan("\"abc\\\"", &err), WEB_JSON_MALFORMED);
	CHECK_INT_EQ(prescan("[1}", &err), WEB_JSON_MALFORMED);
	CHECK_INT_EQ(prescan("]", &err), WEB_JSON_MALFORMED);
	CHECK_INT_EQ(prescan("[[1]", &err), WEB_JSON_MALFORMED);
	CHECK_INT_EQ(web_json_prescan("{\"a\":\0}", 7, &err), WEB_JSON_MALFORMED);
	CHECK_MSG_HAS(err, "NUL");

	/* a deep nest far beyond the cap is refused at the first level over it */
	for (i = 0; i < sizeof(buf) - 1; i++)
		buf[i] = '[';
	buf[i] = '\0';
	CHECK_INT_EQ(prescan(buf, &err), WEB_JSON_TOO_DEEP);
	CHECK_MSG_HAS(err, "offset 8");

	/* string length cap */
	buf[0] = '"';
	memset(buf + 1, 'x', WEB_JSON_STRING_MAX);
	buf[WEB_JSON_STRING_MAX + 1] = '"';
	buf[WEB_JSON_STRING_MAX + 2] = '\0';
	CHECK_INT_EQ(prescan(buf, &err), WEB_JSON_OK);
	buf[WEB_JSON_STRING_MAX + 1] = 'x';
	buf[WEB_JSON_STRING_MAX + 2] = '"';
	buf[WEB_JSON_STRING_MAX + 3] = '\0';
	CHECK_INT_EQ(prescan(buf, &err), WEB_JSON_TOO_LARGE);

	/* value count cap: [0,0,...] */
	{
		size_t o = 0;

		buf[o++] = '[';
		for (i = 0; i < WEB_JSON_VALUES_MAX + 10 && o + 3 < sizeof(buf); i++) {
			buf[o++] = '0';
			buf[o++] = ',';
		}
		buf[o - 1] = ']';
		buf[o] = '\0';
		CHECK_INT_EQ(prescan(buf, &err), WEB_JSON_TOO_LARGE);
		CHECK_MSG_HAS(err, "values");
	}
}

static void
test_time(void)
{
	int64_t us = -1;
	char buf[40];

	CHECK_INT_EQ(web_time_parse("1970-01-01", &us), 0);
	CHECK_INT_EQ(us, 0);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15:02Z", &us), 0);
	CHECK_INT_EQ(us, INT64_C(1741083302) * 1000000);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15Z", &us), 0);
	CHECK_INT_EQ(us, INT64_C(1741083300) * 1000000);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15:02.123Z", &us), 0);
	CHECK_INT_EQ(us, INT64_C(1741083302123000));
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15:02.123456789Z", &us), 0);
	CHECK_INT_EQ(us, INT64_C(1741083302123456));
	CHECK_INT_EQ(web_time_parse("2024-02-29", &us), 0);
	CHECK_INT_EQ(web_time_parse("2000-02-29", &us), 0);
	CHECK_INT_EQ(web_time_parse("9999-12-31T23:59:59Z", &us), 0);
	CHECK_INT_EQ(us, INT64_C(253402300799) * 1000000);
	CHECK_INT_EQ(web_time_parse("1741083302123", &us), 0);
	CHECK_INT_EQ(us, INT64_C(1741083302123000));

	CHECK_INT_EQ(web_time_parse("", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-02-29", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("1900-02-29", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("1969-12-31", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-13-01", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-04-31", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15:02", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-03-04T24:00:00Z", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:60Z", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15:02.Z", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15:02.1234567890Z", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15:02+01:00", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("2025-03-04T10:15:02ZZ", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("-1", &us), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_time_parse("1234567890123456", &us), CS_ERR_INVALID_ARG); /* 16 digits */
	CHECK_INT_EQ(web_time_parse("2025-0a-04", &us), CS_ERR_INVALID_ARG);

	web_time_format(INT64_C(1741083302123456), buf, sizeof(buf));
	CHECK(strcmp(buf, "2025-03-04T10:15:02.123Z") == 0);
	web_time_format(0, buf, sizeof(buf));
	CHECK(strcmp(buf, "1970-01-01T00:00:00.000Z") == 0);
	CHECK_INT_EQ(web_time_parse(buf, &us), 0);
	CHECK_INT_EQ(us, 0);
}

static void
test_numbers_and_allow(void)
{
	uint64_t v = 0;
	char h1[] = "127.0.0.1:8080", h2[] = "localhost:8080";
	char *hosts[] = {h1, h2};

	CHECK_INT_EQ(web_uint_parse("0", 10, &v), 0);
	CHECK_INT_EQ(v, 0);
	CHECK_INT_EQ(web_uint_parse("500", 500, &v), 0);
	CHECK_INT_EQ(v, 500);
	CHECK_INT_EQ(web_uint_parse("501", 500, &v), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_uint_parse("", 500, &v), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_uint_parse("+1", 500, &v), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_uint_parse(" 1", 500, &v), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_uint_parse("1x", 500, &v), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_uint_parse("9223372036854775807", INT64_MAX, &v), 0);
	CHECK_INT_EQ(web_uint_parse("18446744073709551615", UINT64_MAX, &v), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(web_uint_parse("99999999999999999999", UINT64_MAX, &v), CS_ERR_INVALID_ARG);

	CHECK(web_allow_match(hosts, 2, "127.0.0.1:8080"));
	CHECK(web_allow_match(hosts, 2, "LOCALHOST:8080"));
	CHECK(!web_allow_match(hosts, 2, "127.0.0.1:8081"));
	CHECK(!web_allow_match(hosts, 2, "rebinding-name:8080"));
	CHECK(!web_allow_match(hosts, 2, "127.0.0.1:8080.x"));
	CHECK(!web_allow_match(hosts, 2, ""));
	CHECK(!web_allow_match(hosts, 2, NULL));
	CHECK(!web_allow_match(hosts, 0, "127.0.0.1:8080"));
}

static int
bearer(const char *h, const char *token)
{
	return web_bearer_match(h, h != NULL ? strlen(h) : 0, token);
}

static void
test_bearer(void)
{
	static const char tok[] = "3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e";
	char big[WEB_AUTH_HEADER_MAX + 64];

	CHECK_INT_EQ(bearer("Bearer 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e", tok), 1);
	CHECK_INT_EQ(bearer("bearer 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e", tok), 1);
	CHECK_INT_EQ(bearer("BEARER   3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e  ", tok), 1);
	/* one byte off anywhere, shorter, longer, prefix, empty */
	CHECK_INT_EQ(bearer("Bearer 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5f", tok), 0);
	CHECK_INT_EQ(bearer("Bearer 4f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e", tok), 0);
	CHECK_INT_EQ(bearer("Bearer 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5", tok), 0);
	CHECK_INT_EQ(bearer("Bearer 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5ee", tok), 0);
	CHECK_INT_EQ(bearer("Bearer 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e x", tok), 0);
	CHECK_INT_EQ(bearer("Bearer ", tok), 0);
	CHECK_INT_EQ(bearer("Bearer", tok), 0);
	CHECK_INT_EQ(bearer("", tok), 0);
	/* other schemes, no space, tab */
	CHECK_INT_EQ(bearer("Basic 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e", tok), 0);
	CHECK_INT_EQ(bearer("Bearer3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e", tok), 0);
	CHECK_INT_EQ(bearer("Bearer\t3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e", tok), 0);
	CHECK_INT_EQ(bearer("Bearers 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e", tok), 0);
	/* an embedded NUL does not end the header early */
	CHECK_INT_EQ(web_bearer_match("Bearer 3f9a0c1d5e7b2a4c6d8e0f1a2b3c4d5e\0x", 40, tok), 0);
	/* no token configured, NULLs, an over-long header */
	CHECK_INT_EQ(bearer("Bearer ", ""), 0);
	CHECK_INT_EQ(bearer(NULL, tok), 0);
	CHECK_INT_EQ(bearer("Bearer x", NULL), 0);
	memset(big, ' ', sizeof(big));
	memcpy(big, "Bearer ", 7);
	memcpy(big + sizeof(big) - 1 - strlen(tok), tok, strlen(tok));
	big[sizeof(big) - 1] = '\0';
	CHECK_INT_EQ(bearer(big, tok), 0);
}

int
main(void)
{
	test_target_valid();
	test_target_hostile();
	test_cookie();
	test_bearer();
	test_prescan();
	test_time();
	test_numbers_and_allow();
	return check_finish("test_web_parse");
}
