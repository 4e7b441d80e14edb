/*
 * fuzz_p11_uri.c: the PKCS#11 URI parser on arbitrary bytes. A successful
 * parse must format and re-parse to the same key attributes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/p11_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct p11_uri u, u2;
	struct cs_err err;
	char buf[4 * P11_URI_MAX];

	if (p11_uri_parse((const char *)data, size, &u, &err) != CS_OK)
		return 0;
	if (p11_uri_format(&u, buf, sizeof(buf)) != CS_OK)
		abort();
	if (p11_uri_parse(buf, strlen(buf), &u2, &err) != CS_OK) {
		/* Formatting can only grow past the cap through escapes. */
		if (err.code != CS_ERR_TOO_LARGE)
			abort();
		return 0;
	}
	if (strcmp(u.token, u2.token) != 0 || strcmp(u.object, u2.object) != 0 ||
	    u.id_len != u2.id_len || memcmp(u.id, u2.id, u.id_len) != 0 ||
	    u.slot_num != u2.slot_num || u.type != u2.type ||
	    strcmp(u.module_path, u2.module_path) != 0)
		abort();
	return 0;
}
