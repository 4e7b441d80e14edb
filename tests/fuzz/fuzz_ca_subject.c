/*
 * fuzz_ca_subject.c: the `ca csr --subject` parser on arbitrary bytes. A
 * refusal must carry a code and a sentence; an accepted subject must keep
 * every cap, and format and re-parse to the same attributes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "station/ca_setup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ca_subject s1, s2;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[2 * CA_SUBJECT_MAX_LEN + 2 * CA_SUBJECT_MAX_ATTRS * 16];
	struct cs_err err;
	int have_cn = 0;

	if (ca_subject_parse((const char *)data, size, &s1, &err) != CS_OK) {
		if (err.code >= 0 || err.msg[0] == '\0')
			abort();
		return 0;
	}
	if (size > CA_SUBJECT_MAX_LEN || s1.count == 0 || s1.count > CA_SUBJECT_MAX_ATTRS)
		abort();
	for (size_t i = 0; i < s1.count; i++) {
		const struct ca_subject_attr *a = &s1.attr[i];

		if (a->len == 0 || a->len > CA_SUBJECT_VALUE_MAX || strlen(a->value) != a->len ||
		    a->value[0] == ' ' || a->value[a->len - 1] == ' ')
			abort();
		if (strcmp(ca_subject_attr_name(a->type), "?") == 0)
			abort();
		for (size_t k = 0; k < a->len; k++)
			if ((unsigned char)a->value[k] < 0x20 || a->value[k] == 0x7f)
				abort();
		if (a->type == CERT_RDN_CN)
			have_cn++;
	}
	if (have_cn != 1)
		abort();
	/* Escaping only adds bytes, so the formatted text may pass the input
	 * cap; re-parse it with the cap's own check out of the way. */
	if (ca_subject_format(&s1, buf, sizeof(buf)) != CS_OK)
		abort();
	if (strlen(buf) > CA_SUBJECT_MAX_LEN)
		return 0;
	if (ca_subject_parse(buf, strlen(buf), &s2, &err) != CS_OK || s2.count != s1.count)
		abort();
	for (size_t i = 0; i < s1.count; i++)
		if (s1.attr[i].type != s2.attr[i].type || s1.attr[i].len != s2.attr[i].len ||
		    memcmp(s1.attr[i].value, s2.attr[i].value, s1.attr[i].len) != 0)
			abort();
	return 0;
}
