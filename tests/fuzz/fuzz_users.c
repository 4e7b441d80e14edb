/*
 * fuzz_users.c: the users-file parser and the password-hash parser on
 * arbitrary bytes. An input starting with '$' is a hash string (checked
 * against a fixed password: a hash that parses runs the real KDF, capped);
 * anything else is a users file. Besides "no crash", it checks what the
 * header promises: a loaded set holds only valid names and roles, no
 * duplicates, at most USERS_MAX users; a refusal always has a sentence
 * that starts with the file name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "station/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_hash(const uint8_t *data, size_t size)
{
	char hash[USERS_HASH_MAX + 64];
	size_t n = size < sizeof(hash) - 1 ? size : sizeof(hash) - 1;
	int rc;

	memcpy(hash, data, n);
	hash[n] = '\0';
	rc = users_check_hash(hash, "fuzzing password");
	if (rc != 0 && rc != 1 && rc >= 0)
		abort();
	/* whatever parses must also be refused past the length cap */
	if (strlen(hash) > USERS_HASH_MAX && rc >= 0)
		abort();
}

static void
fuzz_file(const uint8_t *data, size_t size)
{
	struct cs_err err = {0};
	users *u = users_parse((const char *)data, size, "fuzz.json", &err);

	if (u == NULL) {
		if (err.code >= 0 || strncmp(err.msg, "fuzz.json", 9) != 0)
			abort();
		return;
	}
	if (users_count(u) > USERS_MAX)
		abort();
	for (size_t i = 0; i < users_count(u); i++) {
		if (!users_name_valid(users_name(u, i)) || users_role(u, i) == USER_ROLE_NONE)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(users_name(u, i), users_name(u, j)) == 0)
				abort();
	}
	if (users_name(u, users_count(u)) != NULL)
		abort();
	users_free(u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == '$')
		fuzz_hash(data, size);
	else
		fuzz_file(data, size);
	return 0;
}
