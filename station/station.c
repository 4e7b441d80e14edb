#include "station/station.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define STATION_POP_VALIDITY (30 * 86400)

int
station_mkdirs(const char *path, struct cs_err *err)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return cs_err_set(err, CS_ERR_INVALID_ARG, "directory path '%s' is empty or too long",
		    path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return cs_err_set(err, CS_ERR_IO, "cannot create directory %s: %s", buf,
			    strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return cs_err_set(err, CS_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
	return CS_OK;
}

int
station_env_apply(const struct cs_config *cfg, struct cs_err *err)
{
	for (size_t i = 0; i < cfg->hsm.env_count; i++)
		if (setenv(cfg->hsm.env[i].name, cfg->hsm.env[i].value, 1) != 0)
			return cs_err_set(err, CS_ERR_CONFIG, "cannot set %s for the PKCS#11 module",
			    cfg->hsm.env[i].name);
	return CS_OK;
}

struct station *
station_open(const char *config_path, unsigned flags, struct cs_err *err)
{
	struct station *st = calloc(1, sizeof(*st));
	struct hsm_config hc;
	struct hsm_key_info *ki = NULL;
	int rsa_pss = 0;

	if (st == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	st->cfg = config_load(config_path, err);
	if (st->cfg == NULL)
		goto fail;
	if (station_mkdirs(st->cfg->state_dir, err) != CS_OK)
		goto fail;

	if (!(flags & STATION_OPEN_NO_HSM)) {
		if (station_env_apply(st->cfg, err) != CS_OK)
			goto fail;
		memset(&hc, 0, sizeof(hc));
		hc.module_path = st->cfg->hsm.module;
		hc.uri = st->cfg->hsm.uri;
		hc.pin_env = st->cfg->hsm.pin_env;
		hc.sessions = st->cfg->hsm.sessions;
		st->hsm = hsm_open(&hc, err);
		if (st->hsm == NULL)
			goto fail;
		ki = malloc(sizeof(*ki));
		if (ki == NULL || hsm_key_info_get(st->hsm, ki) != CS_OK) {
			cs_err_set(err, CS_ERR_HSM_KEY_NOT_FOUND, "HSM key information unavailable");
			goto fail;
		}
		/* RSA-PSS is chosen per CA (the CA signs every certificate the same
		 * way): the default profile's choice decides. */
		{
			const struct profile *p = config_profile(st->cfg, NULL);
			rsa_pss = p != NULL && p->rsa_pss;
		}
		st->ca = ca_load(st->cfg->ca_certificate, st->cfg->ca_chain, ki, rsa_pss, err);
		if (st->ca == NULL)
			goto fail;
	}
	if (!(flags & STATION_OPEN_NO_LEDGER)) {
		st->ledger = ledger_open(st->cfg->ledger_path, err);
		if (st->ledger == NULL)
			goto fail;
	}
	if (st->hsm != NULL && st->ledger != NULL) {
		st->issuer = issuer_new(st->cfg, st->hsm, st->ledger, st->ca, st->cfg->issue_threads, err);
		if (st->issuer == NULL)
			goto fail;
	}
	free(ki);
	return st;
fail:
	free(ki);
	station_close(st);
	return NULL;
}

void
station_close(struct station *st)
{
	if (st == NULL)
		return;
	issuer_free(st->issuer);
	ledger_close(st->ledger);
	ca_free(st->ca);
	hsm_close(st->hsm);
	config_free(st->cfg);
	free(st);
}

int
station_verification_cert(struct station *st, const char *code, uint8_t *out, size_t cap,
    size_t *out_len, struct cs_err *err)
{
	struct cert_template t;
	EVP_PKEY *key = NULL;
	unsigned char *spki = NULL;
	uint8_t tbs[CERT_MAX_DER], digest[64], sig[HSM_SIG_MAX];
	size_t tbs_len, sig_len = sizeof(sig), dlen;
	int n, rc;
	int64_t now = (int64_t)time(NULL);

	if (st->hsm == NULL || st->ca == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "station opened without its HSM");
	if (code == NULL || code[0] == '\0' || strlen(code) > 64)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "verification code must be 1..64 characters (it becomes the CN)");

	/* The verification certificate proves possession of the CA key by its
	 * signature; its own key is irrelevant and thrown away. */
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (key == NULL) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot generate the throwaway key");
		goto out;
	}
	n = i2d_PUBKEY(key, &spki);
	if (n <= 0) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot encode the throwaway key");
		goto out;
	}

	memset(&t, 0, sizeof(t));
	if (cert_serial_generate(t.serial, now * 1000000) != CS_OK) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "CSPRNG failed");
		goto out;
	}
	t.sig_alg = st->ca->sig_alg;
	t.issuer_name = st->ca->issuer_name;
	t.issuer_name_len = st->ca->issuer_name_len;
	t.issuer_ski = st->ca->ski_len > 0 ? st->ca->ski : NULL;
	t.issuer_ski_len = st->ca->ski_len;
	t.ca_not_before = st->ca->chain[0].not_before;
	t.ca_not_after = st->ca->chain[0].not_after;
	t.not_before = now - 300;
	if (t.not_before < t.ca_not_before)
		t.not_before = t.ca_not_before;
	t.not_after = now + STATION_POP_VALIDITY;
	if (t.not_after > t.ca_not_after)
		t.not_after = t.ca_not_after;
	t.subject[0].type = CERT_RDN_CN;
	t.subject[0].value = code;
	t.subject_count = 1;
	t.spki = spki;
	t.spki_len = (size_t)n;
	t.key_class = CERT_KEY_CLASS_EC;
	t.key_usage = CERT_KU_DIGITAL_SIGNATURE;
	t.eku[0] = CERT_EKU_CLIENT_AUTH;
	t.eku_count = 1;

	rc = cert_template_check(&t, err);
	if (rc != CS_OK)
		goto out;
	rc = cert_tbs_encode(&t, tbs, sizeof(tbs), &tbs_len);
	if (rc != CS_OK) {
		cs_err_set(err, rc, "verification certificate does not fit");
		goto out;
	}
	dlen = cert_sig_alg_digest_len(t.sig_alg);
	if (dlen == 48)
		SHA384(tbs, tbs_len, digest);
	else
		SHA256(tbs, tbs_len, digest);
	rc = hsm_sign_digest(st->hsm, t.sig_alg, digest, dlen, sig, &sig_len, err);
	if (rc != CS_OK)
		goto out;
	rc = cert_assemble(tbs, tbs_len, t.sig_alg, sig, sig_len, out, cap, out_len);
	if (rc != CS_OK)
		cs_err_set(err, rc, "verification certificate does not fit");
out:
	OPENSSL_free(spki);
	EVP_PKEY_free(key);
	return rc;
}
