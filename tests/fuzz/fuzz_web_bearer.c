/*
 * fuzz_web_bearer.c: arbitrary Authorization headers against a token. The
 * token is the input up to the first newline (capped at 256 bytes), the
 * header the rest. Invariants: a match means the header is "Bearer", spaces,
 * exactly the token, optional trailing spaces; no read outside the header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "web-ui/web_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size < 257 ? size : 257);
	char token[257];
	const char *header;
	size_t hlen, tlen, i = 6, end;

	if (nl == NULL)
		return 0;
	tlen = (size_t)(nl - in);
	memcpy(token, in, tlen);
	token[tlen] = '\0';
	header = nl + 1;
	hlen = size - tlen - 1;
	if (web_bearer_match(header, hlen, token) != 1)
		return 0;
	/* a match: check it independently */
	if (hlen > WEB_AUTH_HEADER_MAX || strlen(token) == 0 || hlen < 7 ||
	    strncasecmp(header, "Bearer ", 7) != 0)
		abort();
	while (i < hlen && header[i] == ' ')
		i++;
	end = hlen;
	while (end > i && header[end - 1] == ' ')
		end--;
	if (end - i != strlen(token) || memcmp(header + i, token, end - i) != 0)
		abort();
	return 0;
}
