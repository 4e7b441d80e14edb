/*
 * fuzz_web_cookie.c: arbitrary Cookie headers. The cookie name to look for
 * is the input up to the first newline (capped at 64 bytes), the header the
 * rest. Invariants: a found value fits the buffer, is NUL-terminated, and
 * is a substring of the header (no bytes from outside it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web-ui/web_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size < 65 ? size : 65);
	char name[65], out[65];
	const char *header;
	size_t hlen;
	int rc;

	if (nl == NULL)
		return 0;
	memcpy(name, in, (size_t)(nl - in));
	name[nl - in] = '\0';
	header = nl + 1;
	hlen = size - (size_t)(nl - in) - 1;
	rc = web_cookie_find(header, hlen, name, out, sizeof(out));
	if (rc == 0) {
		size_t n = strnlen(out, sizeof(out));

		if (n >= sizeof(out))
			abort();
		if (n > hlen)
			abort();
		if (n > 0) {
			size_t i;

			for (i = 0; i + n <= hlen; i++)
				if (memcmp(header + i, out, n) == 0)
					break;
			if (i + n > hlen)
				abort();
		}
	} else if (rc != CS_ERR_NOT_FOUND && rc != CS_ERR_TOO_LARGE) {
		abort();
	}
	return 0;
}
