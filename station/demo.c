/*
 * demo.c: a complete demo PKI in one step (`certstation init --demo DIR`,
 * the benchmark, the tests).
 *
 * DIR/softhsm2.conf, DIR/tokens/      SoftHSM2 token "certstation-demo"
 * DIR/hsm.pin, DIR/hsm-so.pin         random PINs, mode 0600
 * DIR/root-ca.key, DIR/root-ca.pem    offline root: a SOFTWARE key, demo only
 * DIR/issuing-ca.pem                  issuing CA, key generated in the token
 * DIR/certstation.json                config with a default profile
 * DIR/state/                          ledger
 *
 * Every step is skipped when its result already exists and is consistent, so
 * re-running is safe and never replaces a key.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsm/hsm.h"
#include "station/demo.h"
#include "station/station.h"

#define INIT_TOKEN_LABEL "certstation-demo"
#define INIT_KEY_LABEL "issuing-ca"
#define INIT_ROOT_DAYS (20 * 365)
#define INIT_ISSUING_DAYS (5 * 365)

static int
init_path(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int
init_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static int
init_write_private(const char *path, const char *text, struct cs_err *err)
{
	FILE *f;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return cs_err_set(err, CS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return cs_err_set(err, CS_ERR_IO, "%s: cannot open", path);
	}
	fputs(text, f);
	if (fclose(f) != 0)
		return cs_err_set(err, CS_ERR_IO, "%s: write failed", path);
	return CS_OK;
}

/* A PIN file holding a random PIN, unless it exists. out gets the PIN. */
static int
init_pin_file(const char *path, char *out, size_t cap, struct cs_err *err)
{
	uint8_t rnd[12];
	FILE *f;
	size_t n;

	if (init_exists(path)) {
		f = fopen(path, "r");
		if (f == NULL)
			return cs_err_set(err, CS_ERR_IO, "%s: cannot read", path);
		n = fread(out, 1, cap - 1, f);
		fclose(f);
		while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
			n--;
		out[n] = '\0';
		return n > 0 ? CS_OK : cs_err_set(err, CS_ERR_IO, "%s: empty PIN file", path);
	}
	if (cap < 2 * sizeof(rnd) + 2 || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return cs_err_set(err, CS_ERR_INTERNAL, "cannot make a PIN");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	explicit_bzero(rnd, sizeof(rnd));
	{
		char line[64];
		snprintf(line, sizeof(line), "%s\n", out);
		n = (size_t)init_write_private(path, line, err);
		explicit_bzero(line, sizeof(line));
	}
	return (int)n;
}

static int
init_softhsm_conf(const char *dir, const char *conf, struct cs_err *err)
{
	char tokens[PATH_MAX], text[PATH_MAX + 256];
	FILE *f;

	if (init_exists(conf))
		return CS_OK;
	if (init_path(tokens, sizeof(tokens), dir, "tokens") != 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "directory name too long");
	if (station_mkdirs(tokens, err) != CS_OK)
		return err->code;
	snprintf(text, sizeof(text),
	    "# SoftHSM2 configuration for the certstation demo token\n"
	    "directories.tokendir = %s\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n"
	    "slots.removable = false\n",
	    tokens);
	f = fopen(conf, "w");
	if (f == NULL)
		return cs_err_set(err, CS_ERR_IO, "%s: cannot create", conf);
	fputs(text, f);
	if (fclose(f) != 0)
		return cs_err_set(err, CS_ERR_IO, "%s: write failed", conf);
	return CS_OK;
}

static EVP_PKEY *
init_key_new(enum hsm_key_type type)
{
	switch (type) {
	case HSM_KEY_EC_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case HSM_KEY_EC_P384:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	case HSM_KEY_RSA_2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case HSM_KEY_RSA_3072:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	default:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	}
}

static const EVP_MD *
init_md_for(enum hsm_key_type type)
{
	return type == HSM_KEY_EC_P384 ? EVP_sha384() : EVP_sha256();
}

static int
init_add_ext(X509 *cert, X509 *signer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, signer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A CA certificate: subject CN, key pub, signed by issuer_key (issuer NULL: self-signed). */
static X509 *
init_ca_cert(const char *cn, EVP_PKEY *pub, X509 *parent, EVP_PKEY *parent_key,
    enum hsm_key_type parent_type, int days, const char *basic_constraints)
{
	X509 *x = X509_new();
	X509_NAME *name = NULL;
	BIGNUM *bn = BN_new();
	uint8_t serial[16];
	int ok = 0;

	if (x == NULL || bn == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);
	if (BN_bin2bn(serial, sizeof(serial), bn) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	X509_set_version(x, X509_VERSION_3);
	name = X509_NAME_new();
	if (name == NULL ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
		(const unsigned char *)"certstation demo", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
		0) != 1)
		goto out;
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, parent != NULL ? X509_get_subject_name(parent) : name);
	/* Backdated a day so a line PC whose clock lags still accepts it. */
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL);
	if (X509_set_pubkey(x, pub) != 1)
		goto out;
	if (init_add_ext(x, parent != NULL ? parent : x, NID_basic_constraints, basic_constraints) ||
	    init_add_ext(x, parent != NULL ? parent : x, NID_key_usage,
		"critical,keyCertSign,cRLSign,digitalSignature") ||
	    init_add_ext(x, parent != NULL ? parent : x, NID_subject_key_identifier, "hash") ||
	    init_add_ext(x, parent != NULL ? parent : x, NID_authority_key_identifier, "keyid:always"))
		goto out;
	if (X509_sign(x, parent_key, init_md_for(parent_type)) <= 0)
		goto out;
	ok = 1;
out:
	X509_NAME_free(name);
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int
init_root(const char *dir, enum hsm_key_type type, struct cs_err *err)
{
	char key_path[PATH_MAX], cert_path[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	FILE *f = NULL;
	int fd, rc = CS_OK;

	if (init_path(key_path, sizeof(key_path), dir, "root-ca.key") != 0 ||
	    init_path(cert_path, sizeof(cert_path), dir, "root-ca.pem") != 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "directory name too long");
	if (init_exists(key_path) && init_exists(cert_path))
		return CS_OK;
	if (init_exists(key_path) != init_exists(cert_path))
		return cs_err_set(err, CS_ERR_CONFIG,
		    "%s: only one of root-ca.key and root-ca.pem exists; remove it or restore the other",
		    dir);
	key = init_key_new(type);
	cert = key != NULL ? init_ca_cert("certstation demo root CA", key, NULL, key, type,
				 INIT_ROOT_DAYS, "critical,CA:TRUE")
			   : NULL;
	if (cert == NULL) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot create the demo root CA");
		goto out;
	}
	fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL || PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot write", key_path);
		goto out;
	}
	fclose(f);
	f = fopen(cert_path, "w");
	if (f == NULL || PEM_write_X509(f, cert) != 1) {
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot write", cert_path);
		goto out;
	}
out:
	if (f != NULL)
		fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Issuing CA certificate for the HSM key, signed by the demo root. */
static int
init_issuing_cert(const char *dir, const struct hsm_key_info *ki, struct cs_err *err)
{
	char key_path[PATH_MAX], root_path[PATH_MAX], cert_path[PATH_MAX];
	EVP_PKEY *root_key = NULL, *pub = NULL;
	X509 *root = NULL, *cert = NULL;
	const unsigned char *p = ki->spki;
	FILE *f = NULL;
	int rc = CS_OK;

	if (init_path(key_path, sizeof(key_path), dir, "root-ca.key") != 0 ||
	    init_path(root_path, sizeof(root_path), dir, "root-ca.pem") != 0 ||
	    init_path(cert_path, sizeof(cert_path), dir, "issuing-ca.pem") != 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "directory name too long");
	if (init_exists(cert_path))
		return CS_OK; /* station_open() checks it matches the key */

	f = fopen(key_path, "r");
	root_key = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	f = fopen(root_path, "r");
	root = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	f = NULL;
	pub = d2i_PUBKEY(NULL, &p, (long)ki->spki_len);
	if (root_key == NULL || root == NULL || pub == NULL) {
		rc = cs_err_set(err, CS_ERR_IO, "cannot read the demo root CA or the HSM public key");
		goto out;
	}
	{
		enum hsm_key_type root_type = EVP_PKEY_is_a(root_key, "EC") &&
			EVP_PKEY_get_bits(root_key) == 384 ? HSM_KEY_EC_P384 : HSM_KEY_EC_P256;
		cert = init_ca_cert("certstation demo issuing CA", pub, root, root_key, root_type,
		    INIT_ISSUING_DAYS, "critical,CA:TRUE,pathlen:0");
	}
	if (cert == NULL) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot create the issuing CA certificate");
		goto out;
	}
	f = fopen(cert_path, "w");
	if (f == NULL || PEM_write_X509(f, cert) != 1)
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot write", cert_path);
out:
	if (f != NULL)
		fclose(f);
	X509_free(cert);
	X509_free(root);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(root_key);
	return rc;
}

static int
init_config(const char *dir, const char *module, enum hsm_key_type type, struct cs_err *err)
{
	char path[PATH_MAX];
	char text[3 * PATH_MAX];
	const char *key_types = "\"P-256\", \"P-384\"";
	int n;

	(void)type; /* the demo profiles accept both curves whatever the CA key */

	if (init_path(path, sizeof(path), dir, "certstation.json") != 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "directory name too long");
	if (init_exists(path))
		return CS_OK;
	n = snprintf(text, sizeof(text),
	    "{\n"
	    "  \"state_dir\": \"state\",\n"
	    "  \"hsm\": {\n"
	    "    \"module\": \"%s\",\n"
	    "    \"uri\": \"pkcs11:token=" INIT_TOKEN_LABEL ";object=" INIT_KEY_LABEL
	    ";type=private?pin-source=file:hsm.pin\",\n"
	    "    \"sessions\": 4,\n"
	    "    \"module_env\": { \"SOFTHSM2_CONF\": \"%s/softhsm2.conf\" }\n"
	    "  },\n"
	    "  \"ca\": { \"certificate\": \"issuing-ca.pem\", \"chain\": \"root-ca.pem\" },\n"
	    "  \"issue_threads\": 2,\n"
	    "  \"default_profile\": \"device\",\n"
	    "  \"profiles\": {\n"
	    "    \"device\": {\n"
	    "      \"key_types\": [%s, \"RSA\"],\n"
	    "      \"device_id_pattern\": \"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$\",\n"
	    "      \"subject\": [ { \"CN\": \"{device_id}\" }, { \"O\": \"certstation demo\" } ],\n"
	    "      \"san\": [ \"URI:urn:dev:{device_id}\" ],\n"
	    "      \"validity\": { \"days\": 90, \"backdate_seconds\": 300 },\n"
	    "      \"key_usage\": [ \"digitalSignature\" ],\n"
	    "      \"extended_key_usage\": [ \"clientAuth\" ],\n"
	    "      \"reissue\": \"same-key-only\",\n"
	    "      \"csr_requests_ca\": \"refuse\",\n"
	    "      \"chain\": { \"include_root\": false }\n"
	    "    },\n"
	    "    \"idevid\": {\n"
	    "      \"key_types\": [%s],\n"
	    "      \"subject\": [ { \"CN\": \"{device_id}\" }, { \"O\": \"certstation demo\" },\n"
	    "                   { \"serialNumber\": \"{device_id}\" } ],\n"
	    "      \"validity\": { \"not_after\": \"99991231235959Z\" },\n"
	    "      \"key_usage\": [ \"digitalSignature\" ],\n"
	    "      \"extended_key_usage\": [ \"clientAuth\" ],\n"
	    "      \"chain\": { \"include_root\": true }\n"
	    "    }\n"
	    "  }\n"
	    "}\n",
	    module, dir, key_types, key_types);
	if (n < 0 || (size_t)n >= sizeof(text))
		return cs_err_set(err, CS_ERR_INVALID_ARG, "paths too long for the demo config");
	return init_write_private(path, text, err);
}

int
demo_pki_create(const char *demo, enum hsm_key_type type, const char *module, int verbose,
    struct cs_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX], user_pin[64] = "", so_pin[64] = "";
	char uri[PATH_MAX + 128];
	struct hsm_config hc;
	struct hsm_key_info ki;
	struct station *st = NULL;
	hsm *h = NULL;
	int rc;

	if (module == NULL)
		module = CERTSTATION_DEFAULT_MODULE;
	if (station_mkdirs(demo, err) != CS_OK)
		return err->code;
	if (realpath(demo, dir) == NULL)
		return cs_err_set(err, CS_ERR_IO, "%s: %s", demo, strerror(errno));

	/* 1. SoftHSM2 token */
	if (init_path(path, sizeof(path), dir, "softhsm2.conf") != 0 ||
	    init_softhsm_conf(dir, path, err) != CS_OK)
		goto fail;
	setenv("SOFTHSM2_CONF", path, 1);
	if (init_path(path, sizeof(path), dir, "hsm.pin") != 0 ||
	    init_pin_file(path, user_pin, sizeof(user_pin), err) != CS_OK)
		goto fail;
	if (init_path(path, sizeof(path), dir, "hsm-so.pin") != 0 ||
	    init_pin_file(path, so_pin, sizeof(so_pin), err) != CS_OK)
		goto fail;
	rc = hsm_token_init(module, INIT_TOKEN_LABEL, so_pin, user_pin, err);
	explicit_bzero(user_pin, sizeof(user_pin));
	explicit_bzero(so_pin, sizeof(so_pin));
	if (rc < 0)
		goto fail;
	if (verbose)
		printf("token     %s %s\n", INIT_TOKEN_LABEL, rc == 1 ? "(exists)" : "(created)");

	/* 2. issuing-CA key inside the token */
	snprintf(uri, sizeof(uri),
	    "pkcs11:token=" INIT_TOKEN_LABEL ";object=" INIT_KEY_LABEL
	    ";type=private?pin-source=file:%s/hsm.pin",
	    dir);
	memset(&hc, 0, sizeof(hc));
	hc.module_path = module;
	hc.uri = uri;
	hc.sessions = 1;
	hc.flags = HSM_OPEN_KEY_OPTIONAL;
	h = hsm_open(&hc, err);
	if (h == NULL)
		goto fail;
	if (hsm_key_info_get(h, &ki) == CS_OK) {
		if (verbose)
			printf("key       %s %s in the token (exists)\n", INIT_KEY_LABEL,
			    hsm_key_type_name(ki.type));
	} else {
		if (hsm_key_generate(h, type, err) != CS_OK || hsm_key_info_get(h, &ki) != CS_OK)
			goto fail;
		if (verbose)
			printf("key       %s %s generated in the token (sensitive, not extractable)\n",
			    INIT_KEY_LABEL, hsm_key_type_name(ki.type));
	}

	/* 3. offline root (software, demo only) and 4. issuing CA certificate */
	if (init_root(dir, ki.type == HSM_KEY_EC_P384 ? HSM_KEY_EC_P384 : HSM_KEY_EC_P256, err) !=
	    CS_OK)
		goto fail;
	if (verbose)
		printf("root CA   %s/root-ca.pem (software key %s/root-ca.key: demo only)\n", dir,
		    dir);
	if (init_issuing_cert(dir, &ki, err) != CS_OK)
		goto fail;
	if (verbose)
		printf("issuing   %s/issuing-ca.pem\n", dir);
	hsm_close(h);
	h = NULL;

	/* 5. config, then prove the whole thing opens */
	if (init_config(dir, module, ki.type, err) != CS_OK)
		goto fail;
	if (init_path(path, sizeof(path), dir, "certstation.json") != 0)
		goto fail;
	st = station_open(path, 0, err);
	if (st == NULL)
		goto fail;
	station_close(st);
	if (verbose) {
		printf("config    %s\n", path);
		printf("\nNext: certstation issue --config %s --csr DEVICE.csr --device-id ID\n", path);
	}
	return CS_OK;
fail:
	explicit_bzero(user_pin, sizeof(user_pin));
	explicit_bzero(so_pin, sizeof(so_pin));
	hsm_close(h);
	return err->code != CS_OK ? err->code : CS_ERR_INTERNAL;
}

