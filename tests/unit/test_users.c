/*
 * test_users.c: station/users.c: scrypt hashes (a known answer computed
 * with Python's hashlib.scrypt, hostile hash strings refused before any KDF
 * runs), the users file (round trip, replace, remove, permissions, size cap,
 * positions in errors, duplicates, roles) and equal work for unknown names.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "station/users.h"
#include "tests/support/check.h"

/* python3: hashlib.scrypt(b"correct horse battery", salt=bytes(range(16)),
 * n=2**15, r=8, p=1, dklen=32), salt and key base64 without padding */
static const char kat_hash[] =
    "$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ";
static const char kat_password[] = "correct horse battery";

static char dir[64];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
path_in(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

static int
write_mode(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return chmod(path, mode);
}

/* entries in dir other than . and .. */
static int
dir_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_kat_and_format(void)
{
	char h1[USERS_HASH_MAX + 1], h2[USERS_HASH_MAX + 1], small[40];
	struct cs_err err;

	CHECK_INT_EQ(users_check_hash(kat_hash, kat_password), 1);
	CHECK_INT_EQ(users_check_hash(kat_hash, "correct horse batterY"), 0);
	CHECK_INT_EQ(users_check_hash(kat_hash, ""), 0);
	CHECK(users_check_hash(kat_hash, NULL) < 0);

	CHECK_INT_EQ(users_hash_password("a fine password", h1, sizeof(h1), &err), 0);
	CHECK_INT_EQ(users_hash_password("a fine password", h2, sizeof(h2), &err), 0);
	CHECK(strncmp(h1, "$scrypt$ln=15,r=8,p=1$", 22) == 0);
	/* 22 base64 characters of salt, 43 of key, no padding */
	CHECK_INT_EQ(strlen(h1), 22 + 22 + 1 + 43);
	CHECK(strchr(h1, '=') == NULL || strchr(h1, '=') < h1 + 22);
	CHECK(strcmp(h1, h2) != 0); /* fresh salt each time */
	CHECK_INT_EQ(users_check_hash(h1, "a fine password"), 1);
	CHECK_INT_EQ(users_check_hash(h2, "a fine password"), 1);
	CHECK_INT_EQ(users_check_hash(h1, "a fine passworD"), 0);
	CHECK_INT_EQ(users_hash_password("a fine password", small, sizeof(small), &err),
	    CS_ERR_TOO_LARGE);
	{
		char longpw[USER_PASSWORD_MAX + 2];

		memset(longpw, 'x', sizeof(longpw) - 1);
		longpw[sizeof(longpw) - 1] = '\0';
		CHECK_INT_EQ(users_hash_password(longpw, h1, sizeof(h1), &err), CS_ERR_INVALID_ARG);
		CHECK_INT_EQ(users_check_hash(kat_hash, longpw), 0);
	}
}

/* Hostile hash strings: each refused (<0), all of them together in a small
 * fraction of one real check, i.e. no KDF ran for any of them. */
static void
test_malformed_hashes(void)
{
	static const char *const bad[] = {
		"",
		"$scrypt$",
		"$scrypt$ln=15,r=8,p=1",
		"$scrypt$ln=15,r=8,p=1$",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxup",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ=",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODx$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0O!w$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoL DA0Ow$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgc$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6Jq",
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ$x",
		"$scrypt$ln=40,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=99,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=150,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=015,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=-1,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=4,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=15,r=0,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=15,r=8,p=0$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=15,r=99,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=15,r=8,p=99$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=16,r=16,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ln=16,r=8,p=4$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$r=8,ln=15,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$LN=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$scrypt$ ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"$bcrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		"scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
		/* a 66-byte key */
		"$scrypt$ln=15,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	char longhash[USERS_HASH_MAX + 40];
	double t0, t_bad, t_good;

	memset(longhash, 'A', sizeof(longhash) - 1);
	longhash[sizeof(longhash) - 1] = '\0';
	memcpy(longhash, kat_hash, strlen(kat_hash));

	t0 = now_s();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = users_check_hash(bad[i], kat_password);

		if (rc >= 0)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(rc < 0);
	}
	CHECK(users_check_hash(longhash, kat_password) < 0);
	CHECK(users_check_hash(NULL, kat_password) < 0);
	t_bad = now_s() - t0;
	t0 = now_s();
	CHECK_INT_EQ(users_check_hash(kat_hash, kat_password), 1);
	t_good = now_s() - t0;
	printf("malformed: %zu hashes in %.3f ms; one real check %.1f ms\n",
	    sizeof(bad) / sizeof(bad[0]) + 2, t_bad * 1e3, t_good * 1e3);
	CHECK(t_bad < t_good / 4);

	/* the smallest accepted parameters still run (and are not our hash) */
	CHECK_INT_EQ(users_check_hash("$scrypt$ln=14,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$xy6UCICz8Vv/"
				      "P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ",
			 kat_password),
	    0);
}

static void
test_roles(void)
{
	CHECK_INT_EQ(user_role_parse("operator"), USER_ROLE_OPERATOR);
	CHECK_INT_EQ(user_role_parse("supervisor"), USER_ROLE_SUPERVISOR);
	CHECK_INT_EQ(user_role_parse("Operator"), USER_ROLE_NONE);
	CHECK_INT_EQ(user_role_parse("none"), USER_ROLE_NONE);
	CHECK_INT_EQ(user_role_parse("admin"), USER_ROLE_NONE);
	CHECK_INT_EQ(user_role_parse(""), USER_ROLE_NONE);
	CHECK_INT_EQ(user_role_parse(NULL), USER_ROLE_NONE);
	CHECK(strcmp(user_role_name(USER_ROLE_OPERATOR), "operator") == 0);
	CHECK(strcmp(user_role_name(USER_ROLE_SUPERVISOR), "supervisor") == 0);
	CHECK(strcmp(user_role_name(USER_ROLE_NONE), "none") == 0);
	CHECK(strcmp(user_role_name((enum user_role)42), "none") == 0);

	CHECK(users_name_valid("ana"));
	CHECK(users_name_valid("A.b_c-9"));
	CHECK(!users_name_valid(""));
	CHECK(!users_name_valid(NULL));
	CHECK(!users_name_valid("ana maria"));
	CHECK(!users_name_valid("ana/x"));
	CHECK(!users_name_valid("\xc3\xa4na"));
	{
		char n[USER_NAME_MAX + 2];

		memset(n, 'a', sizeof(n));
		n[USER_NAME_MAX] = '\0';
		CHECK(users_name_valid(n));
		n[USER_NAME_MAX] = 'a';
		n[USER_NAME_MAX + 1] = '\0';
		CHECK(!users_name_valid(n));
	}
}

static void
test_round_trip(void)
{
	char path[128];
	struct cs_err err;
	struct stat st;
	users *u;
	double t0, t_known, t_unknown;

	path_in(path, sizeof(path), "users.json");
	u = users_load(path, &err);
	CHECK(u == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(users_file_remove(path, "ana", &err), CS_ERR_NOT_FOUND);

	CHECK_INT_EQ(users_file_set(path, "ana", USER_ROLE_SUPERVISOR, "ana's password 1", &err), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT_EQ(users_file_set(path, "bob", USER_ROLE_OPERATOR, "bob's password 1", &err), 0);
	CHECK_INT_EQ(dir_entries(), 1); /* no temporary files left behind */

	u = users_load(path, &err);
	CHECK(u != NULL);
	if (u == NULL) {
		fprintf(stderr, "load: %s\n", err.msg);
		return;
	}
	CHECK_INT_EQ(users_count(u), 2);
	CHECK(strcmp(users_name(u, 0), "ana") == 0);
	CHECK_INT_EQ(users_role(u, 0), USER_ROLE_SUPERVISOR);
	CHECK(strcmp(users_name(u, 1), "bob") == 0);
	CHECK_INT_EQ(users_role(u, 1), USER_ROLE_OPERATOR);
	CHECK(users_name(u, 2) == NULL);
	CHECK_INT_EQ(users_role(u, 2), USER_ROLE_NONE);
	CHECK_INT_EQ(users_verify(u, "ana", "ana's password 1"), USER_ROLE_SUPERVISOR);
	CHECK_INT_EQ(users_verify(u, "bob", "bob's password 1"), USER_ROLE_OPERATOR);
	/* wrong password, someone else's password, unknown user */
	CHECK_INT_EQ(users_verify(u, "ana", "ana's password 2"), USER_ROLE_NONE);
	CHECK_INT_EQ(users_verify(u, "ana", "bob's password 1"), USER_ROLE_NONE);
	CHECK_INT_EQ(users_verify(u, "ana", ""), USER_ROLE_NONE);
	CHECK_INT_EQ(users_verify(u, "ana", NULL), USER_ROLE_NONE);
	CHECK_INT_EQ(users_verify(u, "carl", "ana's password 1"), USER_ROLE_NONE);
	CHECK_INT_EQ(users_verify(u, NULL, "ana's password 1"), USER_ROLE_NONE);
	CHECK_INT_EQ(users_verify(NULL, "ana", "ana's password 1"), USER_ROLE_NONE);

	/* an unknown name costs a KDF like a known one */
	t0 = now_s();
	CHECK_INT_EQ(users_verify(u, "ana", "not the password"), USER_ROLE_NONE);
	t_known = now_s() - t0;
	t0 = now_s();
	CHECK_INT_EQ(users_verify(u, "nobody", "not the password"), USER_ROLE_NONE);
	t_unknown = now_s() - t0;
	printf("verify: known name %.1f ms, unknown name %.1f ms\n", t_known * 1e3,
	    t_unknown * 1e3);
	CHECK(t_unknown > t_known / 2);
	users_free(u);

	/* replace: new role and password, still two users, old password dead */
	CHECK_INT_EQ(users_file_set(path, "ana", USER_ROLE_OPERATOR, "ana's new password", &err), 0);
	u = users_load(path, &err);
	CHECK(u != NULL);
	if (u != NULL) {
		CHECK_INT_EQ(users_count(u), 2);
		CHECK_INT_EQ(users_role(u, 0), USER_ROLE_OPERATOR);
		CHECK_INT_EQ(users_verify(u, "ana", "ana's new password"), USER_ROLE_OPERATOR);
		CHECK_INT_EQ(users_verify(u, "ana", "ana's password 1"), USER_ROLE_NONE);
		CHECK_INT_EQ(users_verify(u, "bob", "bob's password 1"), USER_ROLE_OPERATOR);
		users_free(u);
	}

	/* remove */
	CHECK_INT_EQ(users_file_remove(path, "bob", &err), 0);
	CHECK_INT_EQ(users_file_remove(path, "bob", &err), CS_ERR_NOT_FOUND);
	CHECK_MSG_HAS(err, "no user 'bob'");
	u = users_load(path, &err);
	CHECK(u != NULL && users_count(u) == 1 && strcmp(users_name(u, 0), "ana") == 0);
	users_free(u);
	CHECK_INT_EQ(users_file_remove(path, "ana", &err), 0);
	u = users_load(path, &err);
	CHECK(u != NULL && users_count(u) == 0);
	users_free(u);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT_EQ(dir_entries(), 1);

	/* refusals change nothing */
	CHECK_INT_EQ(users_file_set(path, "bad name", USER_ROLE_OPERATOR, "long enough pw", &err),
	    CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "not valid");
	CHECK_INT_EQ(users_file_set(path, "", USER_ROLE_OPERATOR, "long enough pw", &err),
	    CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(users_file_set(path, "carl", USER_ROLE_NONE, "long enough pw", &err),
	    CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "role");
	CHECK_INT_EQ(users_file_set(path, "carl", USER_ROLE_OPERATOR, "123456789", &err),
	    CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "9 bytes");
	{
		char longpw[USER_PASSWORD_MAX + 2];

		memset(longpw, 'x', sizeof(longpw) - 1);
		longpw[sizeof(longpw) - 1] = '\0';
		CHECK_INT_EQ(users_file_set(path, "carl", USER_ROLE_OPERATOR, longpw, &err),
		    CS_ERR_INVALID_ARG);
		longpw[USER_PASSWORD_MAX] = '\0'; /* exactly the maximum is fine */
		CHECK_INT_EQ(users_file_set(path, "carl", USER_ROLE_OPERATOR, longpw, &err), 0);
		u = users_load(path, &err);
		CHECK(u != NULL && users_verify(u, "carl", longpw) == USER_ROLE_OPERATOR);
		users_free(u);
	}
	CHECK_INT_EQ(users_file_set(path, "ten-bytes", USER_ROLE_OPERATOR, "0123456789", &err), 0);
	CHECK_INT_EQ(users_file_set(NULL, "x", USER_ROLE_OPERATOR, "0123456789", NULL),
	    CS_ERR_INVALID_ARG);
	unlink(path);
}

static void
test_permissions(void)
{
	char path[128], text[512], before[512];
	struct cs_err err;
	FILE *f;
	users *u;
	size_t n;

	path_in(path, sizeof(path), "perm.json");
	snprintf(text, sizeof(text),
	    "{\"users\": [{\"name\": \"ana\", \"role\": \"operator\", \"hash\": \"%s\"}]}\n",
	    kat_hash);
	CHECK_INT_EQ(write_mode(path, text, 0600), 0);
	u = users_load(path, &err);
	CHECK(u != NULL && users_verify(u, "ana", kat_password) == USER_ROLE_OPERATOR);
	users_free(u);

	CHECK_INT_EQ(write_mode(path, text, 0644), 0);
	CHECK(users_load(path, &err) == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "mode 0644");
	CHECK_MSG_HAS(err, "chmod 600");
	CHECK_INT_EQ(write_mode(path, text, 0640), 0);
	CHECK(users_load(path, &err) == NULL);
	CHECK_MSG_HAS(err, "mode 0640");
	CHECK_INT_EQ(write_mode(path, text, 0602), 0);
	CHECK(users_load(path, &err) == NULL);
	/* and no write goes through such a file */
	CHECK_INT_EQ(write_mode(path, text, 0604), 0);
	CHECK(users_file_set(path, "bob", USER_ROLE_OPERATOR, "bob's password", &err) ==
	    CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "chmod 600");
	CHECK(users_file_remove(path, "ana", &err) == CS_ERR_CONFIG);
	f = fopen(path, "rb");
	n = f != NULL ? fread(before, 1, sizeof(before) - 1, f) : 0;
	if (f != NULL)
		fclose(f);
	before[n] = '\0';
	CHECK(strcmp(before, text) == 0);
	unlink(path);

	/* a directory is not a users file */
	CHECK(users_load(dir, &err) == NULL);
	CHECK_MSG_HAS(err, "not a regular file");
}

static void
expect_parse_error(const char *text, const char *fragment, const char *fragment2)
{
	struct cs_err err;
	users *u = users_parse(text, strlen(text), "u.json", &err);

	CHECK(u == NULL);
	users_free(u);
	CHECK_INT_EQ(err.code, CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, fragment);
	if (fragment2 != NULL)
		CHECK_MSG_HAS(err, fragment2);
}

static void
test_parse_errors(void)
{
	char text[2048];
	struct cs_err err;
	users *u;

	/* syntax: Jansson's line and column */
	expect_parse_error("{\"users\": [\n  {\"name\": \"a\",,}\n]}", "u.json:2:", NULL);
	expect_parse_error("", "u.json:", NULL);
	expect_parse_error("{\"users\": [], \"users\": []}", "duplicate", NULL);
	/* shape */
	expect_parse_error("[]", "u.json:1:1:", "JSON object");
	expect_parse_error("{}", "exactly one key", NULL);
	expect_parse_error("{\"users\": [], \"admins\": []}", "exactly one key", NULL);
	expect_parse_error("{\"users\": {}}", "key 'users': must be an array", NULL);
	expect_parse_error("{\"users\": [1]}", "key 'users[0]'", "must be an object");

	/* semantic: the position of the offending key */
	snprintf(text, sizeof(text),
	    "{\n  \"users\": [\n    {\"name\": \"ana\", \"role\": \"operator\", \"hash\": \"%s\"},\n"
	    "    {\"name\": \"ana\", \"role\": \"supervisor\", \"hash\": \"%s\"}\n  ]\n}\n",
	    kat_hash, kat_hash);
	expect_parse_error(text, "u.json:4:6: key 'users[1].name'", "listed twice (first at users[0])");

	snprintf(text, sizeof(text),
	    "{\n  \"users\": [\n    {\"name\": \"ana\",\n     \"role\": \"admin\", \"hash\": \"%s\"}\n"
	    "  ]\n}\n", kat_hash);
	expect_parse_error(text, "u.json:4:6: key 'users[0].role'", "\"operator\" or \"supervisor\"");

	snprintf(text, sizeof(text),
	    "{\"users\": [\n{\"name\": \"ana\", \"role\": \"operator\", \"hash\": "
	    "\"$scrypt$ln=40,r=8,p=1$AAECAwQFBgcICQoLDA0ODw$"
	    "xy6UCICz8Vv/P6JqOkkUD4DOmhxN0tXSe6sQAUBxupQ\"}]}");
	expect_parse_error(text, "u.json:2:", "users[0].hash");
	expect_parse_error(text, "ln=40 is outside 14..16", NULL);

	snprintf(text, sizeof(text),
	    "{\"users\": [{\"name\": \"ana\", \"role\": \"operator\", \"hash\": \"%s\", \"pw\": \"x\"}]}",
	    kat_hash);
	expect_parse_error(text, "users[0].pw", "unknown key");
	expect_parse_error("{\"users\": [{\"name\": \"ana\", \"role\": \"operator\"}]}",
	    "required key 'hash' is missing", NULL);
	snprintf(text, sizeof(text),
	    "{\"users\": [{\"name\": \"a b\", \"role\": \"operator\", \"hash\": \"%s\"}]}", kat_hash);
	expect_parse_error(text, "users[0].name", "A-Z a-z 0-9");
	snprintf(text, sizeof(text),
	    "{\"users\": [{\"name\": 7, \"role\": \"operator\", \"hash\": \"%s\"}]}", kat_hash);
	expect_parse_error(text, "users[0].name", "must be a string");

	/* a valid text */
	snprintf(text, sizeof(text),
	    "{\"users\": [{\"hash\": \"%s\", \"role\": \"supervisor\", \"name\": \"ana\"}]}",
	    kat_hash);
	u = users_parse(text, strlen(text), "u.json", &err);
	CHECK(u != NULL && users_count(u) == 1 && users_role(u, 0) == USER_ROLE_SUPERVISOR);
	users_free(u);
	u = users_parse("{\"users\": []}", 13, "u.json", &err);
	CHECK(u != NULL && users_count(u) == 0);
	users_free(u);
	CHECK(users_parse(NULL, 0, "u.json", &err) == NULL);
}

static void
test_size_cap(void)
{
	char path[128];
	struct cs_err err;
	char *big = malloc(USERS_FILE_MAX + 2);
	users *u;

	CHECK(big != NULL);
	if (big == NULL)
		return;
	/* valid JSON, one byte over the cap */
	memset(big, ' ', USERS_FILE_MAX + 1);
	memcpy(big, "{\"users\": []}", 13);
	big[USERS_FILE_MAX + 1] = '\0';
	u = users_parse(big, USERS_FILE_MAX + 1, "big.json", &err);
	CHECK(u == NULL);
	CHECK_MSG_HAS(err, "at most 1048576 bytes");
	u = users_parse(big, USERS_FILE_MAX, "big.json", &err);
	CHECK(u != NULL);
	users_free(u);
	path_in(path, sizeof(path), "big.json");
	CHECK_INT_EQ(write_mode(path, big, 0600), 0);
	CHECK(users_load(path, &err) == NULL);
	CHECK_MSG_HAS(err, "at most 1048576 bytes");
	unlink(path);
	free(big);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_users.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_kat_and_format();
	test_malformed_hashes();
	test_roles();
	test_round_trip();
	test_permissions();
	test_parse_errors();
	test_size_cap();
	rmdir(dir);
	return check_finish("test_users");
}
