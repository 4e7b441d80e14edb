/*
 * users.h: the dashboard's users, their roles and password hashes.
 *
 * Contract: a users file is JSON {"users": [{"name": "ana", "role":
 * "supervisor", "hash": "$scrypt$..."}]}, mode 0600, referenced from the
 * config ("web": {"users": "users.json"}). Passwords are stored only as
 * scrypt hashes (OpenSSL EVP_KDF, N=2^15, r=8, p=1, 16-byte random salt,
 * 32-byte key: about 30 MiB and 100 ms per check, which also slows guessing;
 * the server rate-limits logins on top). users_verify() compares in
 * constant time and spends the same work for an unknown name, so timing
 * does not reveal which names exist.
 *
 * Roles: operator (read everything, pause/resume slots), supervisor
 * (also exports, new shift, and every other action).
 *
 * Threads: a loaded users set is read-only: any thread.
 */
#ifndef STATION_USERS_H
#define STATION_USERS_H

#include <stddef.h>

#include "station/cs_error.h"

#define USER_NAME_MAX 64
#define USER_PASSWORD_MIN 10
#define USER_PASSWORD_MAX 256

enum user_role {
	USER_ROLE_NONE = 0,
	USER_ROLE_OPERATOR = 1,
	USER_ROLE_SUPERVISOR = 2,
};

typedef struct users users;

/* Load a users file (size-capped; errors name file, line, column).
 * A missing file is CS_ERR_NOT_FOUND. */
users *users_load(const char *path, struct cs_err *err);
void users_free(users *u); /* NULL is fine */
size_t users_count(const users *u);

/* The role of name if password is right, else USER_ROLE_NONE. */
enum user_role users_verify(const users *u, const char *name, const char *password);

/* Add or replace a user in the file at path (created 0600 if missing),
 * hashing password. Name: 1..64 of [A-Za-z0-9._-]; password: 10..256 bytes. */
int users_file_set(const char *path, const char *name, enum user_role role, const char *password,
    struct cs_err *err);

/* Remove a user; CS_ERR_NOT_FOUND if absent. */
int users_file_remove(const char *path, const char *name, struct cs_err *err);

const char *user_role_name(enum user_role r);    /* "operator", "supervisor", "none" */
enum user_role user_role_parse(const char *s);   /* USER_ROLE_NONE if unknown */

/* The hash string for password with a fresh salt (for tests and the CLI). */
int users_hash_password(const char *password, char *out, size_t cap, struct cs_err *err);
int users_check_hash(const char *hash, const char *password); /* 1 match, 0 not, <0 malformed */

#endif
