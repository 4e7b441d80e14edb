/*
 * test_config.c: configuration loading and validation, profile templates and
 * the JSON key locator. Each directory under tests/data/config/ is one case:
 * input.json and error (the expected message fragment; empty: must load).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "station/config.h"
#include "station/json_locate.h"
#include "tests/support/check.h"

#define CASES_DIR TEST_DATA_DIR "/config"
#define EXAMPLE_CONFIG TEST_DATA_DIR "/../../deploy/examples/certstation.json"

static int
read_small(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	buf[0] = '\0';
	if (f == NULL)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void
test_cases(void)
{
	DIR *d = opendir(CASES_DIR);
	struct dirent *de;
	int cases = 0, valid = 0;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char input[1024], errpath[1024], expect[1024];
		struct cs_err err;
		struct cs_config *cfg;

		if (de->d_name[0] == '.')
			continue;
		snprintf(input, sizeof(input), "%s/%s/input.json", CASES_DIR, de->d_name);
		snprintf(errpath, sizeof(errpath), "%s/%s/error", CASES_DIR, de->d_name);
		read_small(errpath, expect, sizeof(expect));
		cases++;
		cfg = config_load(input, &err);
		if (expect[0] == '\0') {
			valid++;
			CHECK(cfg != NULL);
			if (cfg == NULL)
				fprintf(stderr, "  case %s: %s\n", de->d_name, err.msg);
		} else {
			CHECK(cfg == NULL);
			CHECK_INT_EQ(err.code, CS_ERR_CONFIG);
			CHECK_MSG_HAS(err, expect);
			if (cfg != NULL || strstr(err.msg, expect) == NULL)
				fprintf(stderr, "  case %s\n", de->d_name);
			/* every message names the file (the config or a file it
			 * includes from the case's folder) and a position */
			snprintf(input, sizeof(input), "%s/%s/", CASES_DIR, de->d_name);
			CHECK(strncmp(err.msg, input, strlen(input)) == 0);
		}
		config_free(cfg);
	}
	closedir(d);
	CHECK(cases >= 40);
	CHECK(valid >= 2);
}

static const char *
dir_file(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
	return buf;
}

static void
test_full_roundtrip(void)
{
	const char *dir = CASES_DIR "/valid-full";
	struct cs_err err;
	struct cs_config *cfg = config_load(CASES_DIR "/valid-full/input.json", &err);
	const struct profile *p, *id, *sec;
	char buf[1024];

	CHECK(cfg != NULL);
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK(strcmp(cfg->path, CASES_DIR "/valid-full/input.json") == 0);
	CHECK(strcmp(cfg->state_dir, dir_file(buf, sizeof(buf), dir, "var/state")) == 0);
	CHECK(strcmp(cfg->ledger_path, dir_file(buf, sizeof(buf), dir, "db/ledger.sqlite")) == 0);
	CHECK(strcmp(cfg->hsm.module, "/opt/hsm/libvendor-pkcs11.so") == 0);
	snprintf(buf, sizeof(buf),
	    "pkcs11:token=line1;object=issuing-ca;type=private?pin-source=file:%s/secrets/hsm.pin",
	    dir);
	CHECK(strcmp(cfg->hsm.uri, buf) == 0);
	CHECK(strcmp(cfg->hsm.pin_env, "LINE1_HSM_PIN") == 0);
	CHECK_INT_EQ(cfg->hsm.sessions, 8);
	CHECK_INT_EQ(cfg->hsm.env_count, 2);
	CHECK(strcmp(cfg->hsm.env[0].name, "SOFTHSM2_CONF") == 0);
	CHECK(strcmp(cfg->hsm.env[0].value, "/etc/softhsm/line1.conf") == 0);
	CHECK(strcmp(cfg->hsm.env[1].name, "VENDOR_LOG") == 0);
	CHECK(strcmp(cfg->hsm.env[1].value, "0") == 0);
	CHECK(strcmp(cfg->ca_certificate, dir_file(buf, sizeof(buf), dir, "pki/issuing-ca.pem")) ==
	    0);
	CHECK(strcmp(cfg->ca_chain, "/etc/pki/root-ca.pem") == 0);
	CHECK_INT_EQ(cfg->issue_threads, 3);
	CHECK(strcmp(cfg->default_profile, "widget-a") == 0);
	CHECK_INT_EQ(cfg->profile_count, 3);

	p = config_profile(cfg, NULL);
	CHECK(p != NULL && p == config_profile(cfg, "widget-a"));
	CHECK(config_profile(cfg, "nope") == NULL);
	if (p == NULL)
		goto out;
	CHECK_INT_EQ(p->key_types, (1u << CSR_KEY_EC_P384) | (1u << CSR_KEY_RSA));
	CHECK_INT_EQ(p->rsa_min_bits, 3072);
	CHECK(strcmp(p->device_id_pattern, "^[A-Z0-9-]{8}$") == 0);
	CHECK(regexec(&p->device_id_re, "AB12-CD3", 0, NULL, 0) == 0);
	CHECK(regexec(&p->device_id_re, "ab12-cd3", 0, NULL, 0) != 0);
	CHECK_INT_EQ(p->require_allowlist, 1);
	CHECK_INT_EQ(p->subject_count, 7);
	CHECK_INT_EQ(p->subject[0].type, CERT_RDN_C);
	CHECK(strcmp(p->subject[0].tmpl, "DE") == 0);
	CHECK_INT_EQ(p->subject[1].type, CERT_RDN_ST);
	CHECK_INT_EQ(p->subject[2].type, CERT_RDN_L);
	CHECK_INT_EQ(p->subject[3].type, CERT_RDN_O);
	CHECK(strcmp(p->subject[3].tmpl, "Example GmbH") == 0);
	CHECK_INT_EQ(p->subject[4].type, CERT_RDN_OU);
	CHECK(strcmp(p->subject[4].tmpl, "lot {lot}") == 0);
	CHECK_INT_EQ(p->subject[5].type, CERT_RDN_CN);
	CHECK(strcmp(p->subject[5].tmpl, "{device_id}") == 0);
	CHECK_INT_EQ(p->subject[6].type, CERT_RDN_SERIALNUMBER);
	CHECK_INT_EQ(p->san_count, 4);
	CHECK_INT_EQ(p->san[0].type, CERT_SAN_DNS);
	CHECK(strcmp(p->san[0].tmpl, "{device_id}.devices.example.com") == 0);
	CHECK_INT_EQ(p->san[1].type, CERT_SAN_URI);
	CHECK(strcmp(p->san[1].tmpl, "urn:dev:{device_id}") == 0);
	CHECK_INT_EQ(p->san[2].type, CERT_SAN_EMAIL);
	CHECK(strcmp(p->san[2].tmpl, "ops@example.com") == 0);
	CHECK_INT_EQ(p->san[3].type, CERT_SAN_IP);
	CHECK(strcmp(p->san[3].tmpl, "192.0.2.7") == 0);
	CHECK_INT_EQ(p->validity_seconds, 90 * 86400);
	CHECK_INT_EQ(p->backdate_seconds, 600);
	CHECK_INT_EQ(p->not_after_forever, 0);
	CHECK_INT_EQ(p->key_usage,
	    CERT_KU_DIGITAL_SIGNATURE | CERT_KU_NON_REPUDIATION | CERT_KU_DATA_ENCIPHERMENT);
	CHECK_INT_EQ(p->eku_count, 4);
	CHECK_INT_EQ(p->eku[0], CERT_EKU_SERVER_AUTH);
	CHECK_INT_EQ(p->eku[1], CERT_EKU_CLIENT_AUTH);
	CHECK_INT_EQ(p->eku[2], CERT_EKU_CODE_SIGNING);
	CHECK_INT_EQ(p->eku[3], CERT_EKU_EMAIL_PROTECTION);
	CHECK_INT_EQ(p->crl_url_count, 2);
	CHECK(strcmp(p->crl_urls[1], "https://pki2.example.com/line1.crl") == 0);
	CHECK_INT_EQ(p->ocsp_url_count, 1);
	CHECK(strcmp(p->ocsp_urls[0], "http://ocsp.example.com") == 0);
	CHECK_INT_EQ(p->ca_issuers_url_count, 1);
	CHECK(strcmp(p->ca_issuers_urls[0], "http://pki.example.com/line1.cer") == 0);
	CHECK_INT_EQ(p->reissue, PROFILE_REISSUE_ALLOW_NEW_KEY);
	CHECK_INT_EQ(p->csr_ca, PROFILE_CSR_CA_IGNORE);
	CHECK_INT_EQ(p->chain_include_root, 1);
	CHECK(p->trust_bundle_file != NULL &&
	    strcmp(p->trust_bundle_file, dir_file(buf, sizeof(buf), dir, "bundle/extra.pem")) == 0);
	CHECK_INT_EQ(p->rsa_pss, 1);

	id = config_profile(cfg, "idevid");
	CHECK(id != NULL);
	if (id != NULL) {
		CHECK_INT_EQ(id->not_after_forever, 1);
		CHECK_INT_EQ(id->validity_seconds, 0);
		CHECK_INT_EQ(id->backdate_seconds, 0);
		CHECK_INT_EQ(id->key_types, 1u << CSR_KEY_EC_P256);
		CHECK_INT_EQ(id->key_usage, CERT_KU_DIGITAL_SIGNATURE | CERT_KU_KEY_AGREEMENT);
	}
	sec = config_profile(cfg, "seconds");
	CHECK(sec != NULL && sec->validity_seconds == 3600 && sec->backdate_seconds == 300);
out:
	config_free(cfg);
}

static void
test_minimal_defaults(void)
{
	const char *dir = CASES_DIR "/valid-minimal";
	struct cs_err err;
	struct cs_config *cfg = config_load(CASES_DIR "/valid-minimal/input.json", &err);
	const struct profile *p;
	char buf[1024];

	CHECK(cfg != NULL);
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK(strcmp(cfg->state_dir, dir_file(buf, sizeof(buf), dir, "state")) == 0);
	CHECK(strcmp(cfg->ledger_path, dir_file(buf, sizeof(buf), dir, "state/ledger.sqlite")) == 0);
	CHECK(strcmp(cfg->hsm.module, CERTSTATION_DEFAULT_MODULE) == 0);
	CHECK(strcmp(cfg->hsm.uri, "pkcs11:token=line1;object=issuing-ca") == 0);
	CHECK(strcmp(cfg->hsm.pin_env, "CERTSTATION_HSM_PIN") == 0);
	CHECK_INT_EQ(cfg->hsm.sessions, 4);
	CHECK_INT_EQ(cfg->hsm.env_count, 0);
	CHECK(cfg->ca_chain == NULL);
	CHECK_INT_EQ(cfg->issue_threads, 2);
	CHECK(strcmp(cfg->default_profile, "device") == 0);
	p = config_profile(cfg, NULL);
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK(strcmp(p->name, "device") == 0);
		CHECK_INT_EQ(p->key_types, (1u << CSR_KEY_EC_P256) | (1u << CSR_KEY_EC_P384));
		CHECK_INT_EQ(p->rsa_min_bits, 2048);
		CHECK(strcmp(p->device_id_pattern, "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$") == 0);
		CHECK(regexec(&p->device_id_re, "dev-0001.a_b", 0, NULL, 0) == 0);
		CHECK(regexec(&p->device_id_re, "-dev", 0, NULL, 0) != 0);
		CHECK_INT_EQ(p->require_allowlist, 0);
		CHECK_INT_EQ(p->subject_count, 1);
		CHECK_INT_EQ(p->subject[0].type, CERT_RDN_CN);
		CHECK(strcmp(p->subject[0].tmpl, "{device_id}") == 0);
		CHECK_INT_EQ(p->san_count, 0);
		CHECK_INT_EQ(p->validity_seconds, 365 * 86400);
		CHECK_INT_EQ(p->backdate_seconds, 300);
		CHECK_INT_EQ(p->key_usage, CERT_KU_DIGITAL_SIGNATURE);
		CHECK_INT_EQ(p->eku_count, 1);
		CHECK_INT_EQ(p->eku[0], CERT_EKU_CLIENT_AUTH);
		CHECK_INT_EQ(p->reissue, PROFILE_REISSUE_SAME_KEY_ONLY);
		CHECK_INT_EQ(p->csr_ca, PROFILE_CSR_CA_REFUSE);
		CHECK_INT_EQ(p->chain_include_root, 0);
		CHECK(p->trust_bundle_file == NULL);
		CHECK_INT_EQ(p->rsa_pss, 0);
	}
	config_free(cfg);
}

/* A config given by a relative path resolves against cwd + its directory. */
static void
test_relative_config_path(void)
{
	char cwd[1024], expect[1200];
	struct cs_err err;
	struct cs_config *cfg;

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(CASES_DIR) == 0);
	cfg = config_load("valid-full/input.json", &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		snprintf(expect, sizeof(expect), "%s/valid-full/pki/issuing-ca.pem", CASES_DIR);
		CHECK(strcmp(cfg->ca_certificate, expect) == 0);
		CHECK(cfg->state_dir[0] == '/');
	}
	config_free(cfg);
	cfg = config_load("valid-full/nonexistent.json", &err);
	CHECK(cfg == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_IO);
	CHECK_MSG_HAS(err, "valid-full/nonexistent.json: cannot open");
	CHECK(chdir(cwd) == 0);
}

/* The line section: slots from the config and from the fixture-map file,
 * with their defaults and a path rule resolved against the map's folder. */
static void
test_line(void)
{
	char path[1024], expect[1200];
	struct cs_err err;
	struct cs_config *cfg;

	snprintf(path, sizeof(path), "%s/line-valid/input.json", CASES_DIR);
	cfg = config_load(path, &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		const struct slot_config *a = &cfg->line.slots[0], *b = &cfg->line.slots[1];

		CHECK_INT_EQ(cfg->line.slot_count, 2);
		CHECK(strcmp(a->name, "A1") == 0);
		CHECK_INT_EQ(a->match.kind, FIXTURE_MATCH_USB_SERIAL);
		CHECK(strcmp(a->match.value, "FT1") == 0);
		CHECK_INT_EQ(a->dialect, PROTO_DIALECT_FRAME);
		CHECK_INT_EQ(a->line.baud, 115200);
		CHECK_INT_EQ(a->line.data_bits, 8);
		CHECK_INT_EQ(a->line.parity, PORT_PARITY_NONE);
		CHECK_INT_EQ(a->line.stop_bits, 1);
		CHECK_INT_EQ(a->line.flow, PORT_FLOW_NONE);
		CHECK(a->profile == NULL);
		CHECK_INT_EQ(a->max_frame, PROTO_FRAME_DEFAULT);
		CHECK_INT_EQ(b->match.kind, FIXTURE_MATCH_TCP);
		CHECK_INT_EQ(b->dialect, PROTO_DIALECT_TEXT);
		CHECK_INT_EQ(b->line.baud, 921600);
		CHECK_INT_EQ(b->line.parity, PORT_PARITY_EVEN);
		CHECK_INT_EQ(b->line.flow, PORT_FLOW_RTSCTS);
		CHECK(b->profile != NULL && strcmp(b->profile, "a") == 0);
		CHECK_INT_EQ(cfg->line.csr_timeout_ms, 5000);
		CHECK_INT_EQ(cfg->line.readback_timeout_ms, 10000);
		CHECK_INT_EQ(cfg->line.scan_interval_ms, 500);
	}
	config_free(cfg);

	snprintf(path, sizeof(path), "%s/line-fixture-map-valid/input.json", CASES_DIR);
	cfg = config_load(path, &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		CHECK_INT_EQ(cfg->line.slot_count, 2);
		CHECK_INT_EQ(cfg->line.slots[0].match.kind, FIXTURE_MATCH_USB_LOCATION);
		CHECK(strcmp(cfg->line.slots[1].name, "sim-0") == 0);
		CHECK_INT_EQ(cfg->line.slots[1].match.kind, FIXTURE_MATCH_PATH);
		snprintf(expect, sizeof(expect), "%s/line-fixture-map-valid/links/sim-0", CASES_DIR);
		CHECK(strcmp(cfg->line.slots[1].match.value, expect) == 0);
		CHECK_INT_EQ(cfg->line.slots[1].dialect, PROTO_DIALECT_TEXT);
	}
	config_free(cfg);

	/* no line section: no slots, defaults still set for commands that ask */
	snprintf(path, sizeof(path), "%s/valid-minimal/input.json", CASES_DIR);
	cfg = config_load(path, &err);
	CHECK(cfg != NULL);
	if (cfg != NULL)
		CHECK_INT_EQ(cfg->line.slot_count, 0);
	config_free(cfg);
}

static void
test_tempdir_cases(void)
{
	char tmpl[] = "/tmp/test_config.XXXXXX";
	char *dir = mkdtemp(tmpl);
	char sub[256], path[512], expect[768];
	struct cs_err err;
	struct cs_config *cfg;
	FILE *f;

	CHECK(dir != NULL);
	if (dir == NULL)
		return;

	/* oversized: refused before parsing */
	snprintf(path, sizeof(path), "%s/big.json", dir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("{\"comment\": \"", f);
		for (int k = 0; k < CONFIG_MAX_BYTES; k++)
			fputc('x', f);
		fputs("\"}", f);
		fclose(f);
	}
	cfg = config_load(path, &err);
	CHECK(cfg == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "a configuration is at most 1048576 bytes");
	unlink(path);

	/* exactly at the cap is read (and then judged on content) */
	f = fopen(path, "wb");
	if (f != NULL) {
		fputs("[", f);
		for (int k = 0; k < CONFIG_MAX_BYTES - 2; k++)
			fputc(' ', f);
		fputs("]", f);
		fclose(f);
	}
	cfg = config_load(path, &err);
	CHECK(cfg == NULL);
	CHECK_MSG_HAS(err, "the configuration must be a JSON object");
	unlink(path);

	/* a directory with characters that need percent-encoding in a URI */
	snprintf(sub, sizeof(sub), "%s/line 1;a%%", dir);
	CHECK(mkdir(sub, 0700) == 0);
	snprintf(path, sizeof(path), "%s/certstation.json", sub);
	CHECK(write_file(path, "{\"hsm\": {\"uri\": \"pkcs11:token=t?pin-source=file:pin.txt\"},"
	                       "\"ca\": {\"certificate\": \"/abs/ca.pem\"},"
	                       "\"state_dir\": \"/var/lib/certstation\","
	                       "\"profiles\": {\"p\": {\"chain\": {\"trust_bundle\": \"b.pem\"}}}}") == 0);
	cfg = config_load(path, &err);
	CHECK(cfg != NULL);
	if (cfg != NULL) {
		snprintf(expect, sizeof(expect), "pkcs11:token=t?pin-source=file:%s/line%%201%%3Ba%%25/pin.txt",
		    dir);
		CHECK(strcmp(cfg->hsm.uri, expect) == 0);
		if (strcmp(cfg->hsm.uri, expect) != 0)
			fprintf(stderr, "  uri %s\n  expected %s\n", cfg->hsm.uri, expect);
		CHECK(strcmp(cfg->ca_certificate, "/abs/ca.pem") == 0);
		CHECK(strcmp(cfg->state_dir, "/var/lib/certstation") == 0);
		CHECK(strcmp(cfg->ledger_path, "/var/lib/certstation/ledger.sqlite") == 0);
		snprintf(expect, sizeof(expect), "%s/b.pem", sub);
		CHECK(strcmp(cfg->profiles[0].trust_bundle_file, expect) == 0);
	}
	config_free(cfg);

	/* an absolute pin-source and one without file: are left alone */
	CHECK(write_file(path, "{\"hsm\": {\"uri\": \"pkcs11:token=t?pin-source=file:/etc/pin\"},"
	                       "\"ca\": {\"certificate\": \"ca.pem\"}, \"profiles\": {\"p\": {}}}") == 0);
	cfg = config_load(path, &err);
	CHECK(cfg != NULL && strcmp(cfg->hsm.uri, "pkcs11:token=t?pin-source=file:/etc/pin") == 0);
	config_free(cfg);

	/* pin-value hidden after another query attribute is still found */
	CHECK(write_file(path, "{\"hsm\": {\"uri\": \"pkcs11:token=t?module-name=x&pin-value=1\"},"
	                       "\"ca\": {\"certificate\": \"ca.pem\"}, \"profiles\": {\"p\": {}}}") == 0);
	cfg = config_load(path, &err);
	CHECK(cfg == NULL);
	CHECK_MSG_HAS(err, ":1:10: key 'hsm.uri': PINs are never stored in the config");
	unlink(path);
	rmdir(sub);

	/* a directory is not a configuration */
	cfg = config_load(dir, &err);
	CHECK(cfg == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "not a regular file");
	rmdir(dir);
}

static void
test_example_config(void)
{
	struct cs_err err;
	struct cs_config *cfg = config_load(EXAMPLE_CONFIG, &err);

	CHECK(cfg != NULL);
	if (cfg == NULL)
		fprintf(stderr, "example: %s\n", err.msg);
	config_free(cfg);
}

static void
test_expand(void)
{
	char out[64];

	CHECK_INT_EQ(profile_expand("{device_id}.dev.example.com", "AB12", "L1", out, sizeof(out)), 0);
	CHECK(strcmp(out, "AB12.dev.example.com") == 0);
	CHECK_INT_EQ(profile_expand("lot {lot}/{device_id}/{lot}", "D", "L42", out, sizeof(out)), 0);
	CHECK(strcmp(out, "lot L42/D/L42") == 0);
	CHECK_INT_EQ(profile_expand("plain } text", "D", NULL, out, sizeof(out)), 0);
	CHECK(strcmp(out, "plain } text") == 0);
	/* exactly fills: 7 chars + NUL in 8 */
	CHECK_INT_EQ(profile_expand("x{device_id}", "123456", NULL, out, 8), 0);
	CHECK(strcmp(out, "x123456") == 0);
	CHECK_INT_EQ(profile_expand("x{device_id}", "1234567", NULL, out, 8), CS_ERR_TOO_LARGE);
	CHECK(out[0] == '\0');
	CHECK_INT_EQ(profile_expand("", "D", NULL, out, 0), CS_ERR_TOO_LARGE);
	CHECK_INT_EQ(profile_expand("{lot}", "D", NULL, out, sizeof(out)), CS_ERR_INVALID_ARG);
}

static const char locate_doc[] =
    "{\n"
    "  \"a\": {\"x\": [1, {\"y\": \"}\"}, [2, 3]], \"z\": null},\n"
    "  \"s\\u0074r\": \"v\\\"\",\n"
    "  \"\xc3\xa9t\xc3\xa9\": { \"deep\": [ [ \"q\" ] ] },\n"
    "  \"profiles\": {\n"
    "    \"widget-a\": {\n"
    "      \"validity\": {\n"
    "        \"days\": 0\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "}\n";

static void
test_locate(void)
{
	struct json_locate_pos pos;
	size_t len = strlen(locate_doc);
	struct json_locate_step steps[2] = {{"\xc3\xa9t\xc3\xa9", 5, 0}, {"deep", 4, 0}};

	CHECK_INT_EQ(json_locate_path(locate_doc, len, "profiles.widget-a.validity.days", &pos), 0);
	CHECK_INT_EQ(pos.line, 8);
	CHECK_INT_EQ(pos.column, 9);
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "a.x[1].y", &pos), 0);
	CHECK_INT_EQ(pos.line, 2);
	CHECK_INT_EQ(pos.column, 19);
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "a.x[2][1]", &pos), 0);
	CHECK_INT_EQ(pos.line, 2);
	CHECK_INT_EQ(pos.column, 34);
	CHECK_INT_EQ(locate_doc[pos.offset], '3');
	/* the "}" inside a string must not end the object early */
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "a.z", &pos), 0);
	CHECK_INT_EQ(pos.column, 39);
	/* escaped key */
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "str", &pos), 0);
	CHECK_INT_EQ(pos.line, 3);
	CHECK_INT_EQ(pos.column, 3);
	/* UTF-8 key; the column counts characters */
	CHECK_INT_EQ(json_locate(locate_doc, len, steps, 2, &pos), 0);
	CHECK_INT_EQ(pos.line, 4);
	CHECK_INT_EQ(pos.column, 12);
	CHECK_INT_EQ(pos.offset, (size_t)(strstr(locate_doc, "\"deep\"") - locate_doc));
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "", &pos), 0);
	CHECK_INT_EQ(pos.line, 1);
	CHECK_INT_EQ(pos.column, 1);

	CHECK_INT_EQ(json_locate_path(locate_doc, len, "a.x[3]", &pos), CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "a.nope", &pos), CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "a[0]", &pos), CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "s", &pos), CS_ERR_NOT_FOUND);
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "a.", &pos), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(json_locate_path(locate_doc, len, "a[x]", &pos), CS_ERR_INVALID_ARG);
	/* truncated and malformed text: an answer, never a crash */
	for (size_t cut = 0; cut < len; cut++) {
		int rc = json_locate_path(locate_doc, cut, "profiles.widget-a.validity.days", &pos);
		CHECK(rc == CS_ERR_NOT_FOUND || rc == CS_ERR_INVALID_ARG || (rc == 0 && cut > 150));
	}
	CHECK_INT_EQ(json_locate_path("{\"a\" 1}", 7, "a", &pos), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(json_locate_path("{\"a\\u12\": 1}", 12, "a", &pos), CS_ERR_INVALID_ARG);
	CHECK_INT_EQ(json_locate_path("   ", 3, "", &pos), CS_ERR_INVALID_ARG);
}

int
main(void)
{
	test_cases();
	test_full_roundtrip();
	test_minimal_defaults();
	test_relative_config_path();
	test_line();
	test_tempdir_cases();
	test_example_config();
	test_expand();
	test_locate();
	return check_finish("test_config");
}
