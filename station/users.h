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
 * Hash format (one string, modular-crypt style, PHC-like):
 *
 *   $scrypt$ln=15,r=8,p=1$<salt>$<key>
 *
 * ln is log2(N); salt and key are base64 (RFC 4648 standard alphabet,
 * without '=' padding): 16 salt bytes = 22 characters, 32 key bytes = 43.
 * The key is scrypt(password, salt, N, r, p) truncated to its length.
 * Python's hashlib.scrypt(pw, salt=s, n=2**ln, r=r, p=p, dklen=32) gives
 * the same key. On reading, parameters are capped before any KDF runs
 * (ln 14..16, r 1..16, p 1..4, at most 64 MiB of memory and four times the
 * default work; salt 16..64 bytes; key 16..64 bytes; the whole string at
 * most USERS_HASH_MAX bytes), so a hostile file cannot make a login take
 * gigabytes or minutes.
 *
 * Files: users_load() refuses a file that group or others may read
 * (chmod 600) and more than USERS_FILE_MAX bytes or USERS_MAX users.
 * Writes replace the file atomically (temporary file in the same directory,
 * fsync, rename, fsync of the directory) with mode 0600; concurrent writers
 * are serialised by a lock on the directory.
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
#define USERS_FILE_MAX (1024 * 1024)
#define USERS_MAX 1000
#define USERS_HASH_MAX 256

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

/* Parse users-file text (len bytes, not NUL-terminated; file names it in
 * errors). Everything users_load() checks except the file itself. */
users *users_parse(const char *text, size_t len, const char *file, struct cs_err *err);

/* The i-th user's name and role (file order); NULL / USER_ROLE_NONE if i is
 * out of range. The name is borrowed from u. */
const char *users_name(const users *u, size_t i);
enum user_role users_role(const users *u, size_t i);

/* 1 if name is a valid user name (1..64 of [A-Za-z0-9._-]), else 0. */
int users_name_valid(const char *name);

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
