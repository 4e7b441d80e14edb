/*
 * test_web_config.c: the "web" section of the configuration: defaults
 * (loopback, allow lists that match the port, https origins with TLS),
 * explicit lists, and the refusals that name the key: an origin with a
 * path, a Host value with a scheme, a wildcard address without allow
 * lists, out-of-range numbers, unknown keys.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "station/config.h"
#include "tests/support/check.h"

static char dir[256];
static char path[512];

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* The smallest valid config plus a web section (NULL: none). */
static struct cs_config *
load(const char *web, struct cs_err *err)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return NULL;
	fprintf(f,
	    "{\n  \"hsm\": { \"uri\": \"pkcs11:token=line1;object=issuing-ca\" },\n"
	    "  \"ca\": { \"certificate\": \"issuing-ca.pem\" },\n"
	    "  \"profiles\": { \"device\": {} }%s%s\n}\n",
	    web != NULL ? ",\n  \"web\": " : "", web != NULL ? web : "");
	fclose(f);
	return config_load(path, err);
}

static void
expect_refused(const char *web, const char *fragment)
{
	struct cs_err err;
	struct cs_config *cfg = load(web, &err);

	CHECK(cfg == NULL);
	if (cfg != NULL) {
		config_free(cfg);
		return;
	}
	CHECK_INT_EQ(err.code, CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, fragment);
}

int
main(void)
{
	struct cs_config *cfg;
	struct cs_err err;

	snprintf(dir, sizeof(dir), "/tmp/test_web_config.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/certstation.json", dir);

	/* defaults */
	cfg = load(NULL, &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		struct web_config *w = &cfg->web;

		CHECK(w->enabled);
		CHECK(strcmp(w->host, "127.0.0.1") == 0);
		CHECK_INT_EQ(w->port, 8080);
		CHECK(strstr(w->users_path, "/users.json") != NULL && w->users_path[0] == '/');
		CHECK(w->tls_certificate == NULL);
		CHECK_INT_EQ(w->allowed_host_count, 3);
		CHECK(strcmp(w->allowed_hosts[0], "127.0.0.1:8080") == 0);
		CHECK(strcmp(w->allowed_hosts[1], "localhost:8080") == 0);
		CHECK(strcmp(w->allowed_hosts[2], "[::1]:8080") == 0);
		CHECK_INT_EQ(w->allowed_origin_count, 3);
		CHECK(strcmp(w->allowed_origins[0], "http://127.0.0.1:8080") == 0);
		CHECK_INT_EQ(w->session_idle_minutes, 480);
		CHECK_INT_EQ(w->max_connections, 64);
		CHECK(w->metrics_token_file == NULL);
		config_free(cfg);
	}

	/* the /metrics token file is found beside the config */
	cfg = load("{ \"metrics_token_file\": \"state/metrics.token\" }", &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK(cfg->web.metrics_token_file != NULL && cfg->web.metrics_token_file[0] == '/');
		CHECK(strstr(cfg->web.metrics_token_file, "/state/metrics.token") != NULL);
		config_free(cfg);
	}

	/* TLS: origins become https; a port of its own */
	cfg = load("{ \"port\": 8443, \"tls\": { \"certificate\": \"web.pem\", \"key\": \"web.key\" } }",
	    &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK(strcmp(cfg->web.allowed_origins[1], "https://localhost:8443") == 0);
		CHECK(cfg->web.tls_certificate != NULL && cfg->web.tls_certificate[0] == '/');
		config_free(cfg);
	}

	/* a LAN address with explicit lists */
	cfg = load("{ \"host\": \"0.0.0.0\", \"allowed_hosts\": [\"linepc-1:8080\", \"10.0.0.5:8080\"],"
		   " \"allowed_origins\": [\"http://linepc-1:8080\"], \"session_idle_minutes\": 60 }",
	    &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_INT_EQ(cfg->web.allowed_host_count, 2);
		CHECK_INT_EQ(cfg->web.allowed_origin_count, 1);
		CHECK_INT_EQ(cfg->web.session_idle_minutes, 60);
		config_free(cfg);
	} else {
		fprintf(stderr, "  %s\n", err.msg);
	}
	/* hosts given, origins derived from them */
	cfg = load("{ \"host\": \"0.0.0.0\", \"allowed_hosts\": [\"linepc-1:8080\"] }", &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK(strcmp(cfg->web.allowed_origins[0], "http://linepc-1:8080") == 0);
		config_free(cfg);
	}

	expect_refused("{ \"host\": \"0.0.0.0\" }", "key 'web.host': listening on '0.0.0.0' needs");
	expect_refused("{ \"host\": \"::\" }", "needs \"allowed_hosts\"");
	expect_refused("{ \"allowed_origins\": [\"http://linepc-1:8080/\"] }",
	    "key 'web.allowed_origins[0]': 'http://linepc-1:8080/' is not an origin");
	expect_refused("{ \"allowed_origins\": [\"linepc-1:8080\"] }", "is not an origin");
	expect_refused("{ \"allowed_origins\": [\"http://user@linepc-1:8080\"] }", "is not an origin");
	expect_refused("{ \"allowed_hosts\": [\"http://linepc-1:8080\"] }",
	    "key 'web.allowed_hosts[0]': 'http://linepc-1:8080' is not a Host value");
	expect_refused("{ \"allowed_hosts\": [\"linepc-1:8080/x\"] }", "is not a Host value");
	expect_refused("{ \"allowed_hosts\": [\"\"] }", "non-empty string");
	expect_refused("{ \"port\": 0 }", "key 'web.port'");
	expect_refused("{ \"port\": 65536 }", "key 'web.port'");
	expect_refused("{ \"session_idle_minutes\": 0 }", "key 'web.session_idle_minutes'");
	expect_refused("{ \"max_connections\": 2 }", "key 'web.max_connections'");
	expect_refused("{ \"tls\": { \"certificate\": \"web.pem\" } }", "key 'web.tls.key'");
	expect_refused("{ \"listen\": 1 }", "listen");
	expect_refused("{ \"metrics_token_file\": 7 }", "key 'web.metrics_token_file'");

	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_finish("test_web_config");
}
