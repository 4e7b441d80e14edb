/*
 * policy.c: whether to issue, and the certificate template if so.
 *
 * Pure: every fact (allowlist, prior issuance, lot usage) comes from the
 * caller, so each rule is testable on its own and the ledger stays the only
 * place that knows history. The first failing rule is the reason recorded.
 */
#include "station/policy.h"

#include <stdio.h>
#include <string.h>

/* Key type names as profiles spell them; kept here rather than calling the
 * CSR module so that policy messages and config names always agree. */
static const char *
policy_key_name(enum csr_key_type t, unsigned bits, char *buf, size_t cap)
{
	switch (t) {
	case CSR_KEY_EC_P256:
		return "P-256";
	case CSR_KEY_EC_P384:
		return "P-384";
	case CSR_KEY_EC_P521:
		return "P-521";
	case CSR_KEY_RSA:
		snprintf(buf, cap, "RSA-%u", bits);
		return buf;
	case CSR_KEY_EC_OTHER:
		return "an EC key on an unsupported curve (only named curves P-256, P-384, P-521)";
	case CSR_KEY_ED25519:
		return "Ed25519";
	case CSR_KEY_UNKNOWN:
	case CSR_KEY_OTHER:
	default:
		return "of an unknown type";
	}
}

static void
policy_allowed_list(const struct profile *p, char *buf, size_t cap)
{
	static const struct {
		enum csr_key_type t;
		const char *name;
	} order[] = {
		{CSR_KEY_EC_P256, "P-256"},
		{CSR_KEY_EC_P384, "P-384"},
		{CSR_KEY_EC_P521, "P-521"},
		{CSR_KEY_RSA, "RSA"},
	};
	size_t used = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]) && used < cap; k++) {
		int w;

		if (!(p->key_types & (1u << order[k].t)))
			continue;
		if (order[k].t == CSR_KEY_RSA)
			w = snprintf(buf + used, cap - used, "%sRSA >= %u", used > 0 ? ", " : "",
			    p->rsa_min_bits);
		else
			w = snprintf(buf + used, cap - used, "%s%s", used > 0 ? ", " : "",
			    order[k].name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used == 0)
		snprintf(buf, cap, "no key type");
}

static int
policy_device_id_check(const struct profile *p, const char *id, struct cs_err *err)
{
	size_t n;

	if (id == NULL || id[0] == '\0')
		return cs_err_set(err, CS_ERR_POLICY_DEVICE_ID, "device ID is empty");
	n = strnlen(id, POLICY_DEVICE_ID_MAX + 1);
	if (n > POLICY_DEVICE_ID_MAX)
		return cs_err_set(err, CS_ERR_POLICY_DEVICE_ID,
		    "device ID is longer than %d characters", POLICY_DEVICE_ID_MAX);
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)id[k];
		/* the ID lands in a certificate and in logs: printable ASCII only */
		if (c < 0x20 || c > 0x7e)
			return cs_err_set(err, CS_ERR_POLICY_DEVICE_ID,
			    "device ID has a non-printable byte 0x%02x at offset %zu "
			    "(printable ASCII only)", c, k);
	}
	if (p->device_id_pattern != NULL && regexec(&p->device_id_re, id, 0, NULL, 0) != 0)
		return cs_err_set(err, CS_ERR_POLICY_DEVICE_ID,
		    "device ID '%s' does not match profile '%s' pattern %s", id, p->name,
		    p->device_id_pattern);
	return 0;
}

static int
policy_key_check(const struct profile *p, const struct csr *csr, struct cs_err *err)
{
	char name[48], allowed[96];
	const char *kn = policy_key_name(csr->key_type, csr->key_bits, name, sizeof(name));
	int known = csr->key_type == CSR_KEY_EC_P256 || csr->key_type == CSR_KEY_EC_P384 ||
	    csr->key_type == CSR_KEY_EC_P521 || csr->key_type == CSR_KEY_RSA;

	if (known && (p->key_types & (1u << csr->key_type))) {
		if (csr->key_type != CSR_KEY_RSA || csr->key_bits >= p->rsa_min_bits)
			return 0;
		return cs_err_set(err, CS_ERR_CSR_KEY_TYPE,
		    "CSR key is %s; profile '%s' requires RSA >= %u", kn, p->name, p->rsa_min_bits);
	}
	policy_allowed_list(p, allowed, sizeof(allowed));
	return cs_err_set(err, CS_ERR_CSR_KEY_TYPE, "CSR key is %s; profile '%s' allows %s", kn,
	    p->name, allowed);
}

int
policy_evaluate(const struct profile *p, const struct policy_facts *f,
    enum policy_verdict *verdict, struct cs_err *err)
{
	int rc;

	if (p == NULL || f == NULL || f->csr == NULL || verdict == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "policy_evaluate: missing argument");
	cs_err_clear(err);

	rc = policy_device_id_check(p, f->device_id, err);
	if (rc != 0)
		return rc;
	rc = policy_key_check(p, f->csr, err);
	if (rc != 0)
		return rc;
	if (f->csr->requests_ca && p->csr_ca == PROFILE_CSR_CA_REFUSE)
		return cs_err_set(err, CS_ERR_POLICY_CA_REQUEST,
		    "CSR asks for a CA certificate (basicConstraints cA=TRUE); profile '%s' "
		    "refuses such requests", p->name);
	if (p->require_allowlist && !f->allowlisted)
		return cs_err_set(err, CS_ERR_POLICY_NOT_ALLOWED,
		    "device ID '%s' is not on the work-order allowlist (profile '%s' requires it)",
		    f->device_id, p->name);
	if (f->has_prior) {
		if (f->prior_same_key) {
			/* same device, same key: hand back what it already has */
			*verdict = POLICY_REDELIVER;
			return 0;
		}
		if (p->reissue != PROFILE_REISSUE_ALLOW_NEW_KEY)
			return cs_err_set(err, CS_ERR_POLICY_REISSUE,
			    "device ID '%s' already has a certificate for a different key; "
			    "profile '%s' allows re-issue only for the same key", f->device_id,
			    p->name);
	}
	if (f->lot_quota >= 0 && f->lot_used >= f->lot_quota)
		return cs_err_set(err, CS_ERR_POLICY_QUOTA,
		    "lot '%s' quota exhausted: %lld of %lld certificates issued",
		    f->lot != NULL ? f->lot : "(none)", (long long)f->lot_used,
		    (long long)f->lot_quota);
	*verdict = POLICY_ISSUE;
	return 0;
}

static const char *
policy_rdn_name(enum cert_rdn_type t)
{
	switch (t) {
	case CERT_RDN_CN: return "CN";
	case CERT_RDN_O: return "O";
	case CERT_RDN_OU: return "OU";
	case CERT_RDN_C: return "C";
	case CERT_RDN_L: return "L";
	case CERT_RDN_ST: return "ST";
	case CERT_RDN_SERIALNUMBER: return "serialNumber";
	default: return "?";
	}
}

static int
policy_expand_one(const struct profile *p, const char *what, size_t index, const char *tmpl,
    const char *device_id, const char *lot, char *out, struct cs_err *err)
{
	int rc = profile_expand(tmpl, device_id, lot, out, PROFILE_TEMPLATE_MAX);

	if (rc == CS_ERR_TOO_LARGE)
		return cs_err_set(err, CS_ERR_POLICY_LINT,
		    "profile '%s' %s #%zu \"%s\" expands to more than %d bytes", p->name, what,
		    index + 1, tmpl, PROFILE_TEMPLATE_MAX - 1);
	if (rc != 0)
		return cs_err_set(err, CS_ERR_POLICY_LINT,
		    "profile '%s' %s #%zu \"%s\" uses {lot} but the device has no lot", p->name,
		    what, index + 1, tmpl);
	return 0;
}

int
policy_template_fill(const struct profile *p, const struct ca *ca, const char *device_id,
    const char *lot, const struct csr *csr, int64_t now, struct cert_template *t,
    struct policy_strings *strings, struct cs_err *err)
{
	uint8_t serial[CERT_SERIAL_LEN];
	int rc;

	if (p == NULL || ca == NULL || device_id == NULL || csr == NULL || t == NULL ||
	    strings == NULL || ca->chain_len == 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "policy_template_fill: missing argument");
	/* the serial is the caller's: keep whatever it already put there */
	memcpy(serial, t->serial, sizeof(serial));
	memset(t, 0, sizeof(*t));
	memcpy(t->serial, serial, sizeof(serial));
	memset(strings, 0, sizeof(*strings));

	t->sig_alg = ca->sig_alg;
	t->issuer_name = ca->issuer_name;
	t->issuer_name_len = ca->issuer_name_len;
	t->issuer_ski = ca->ski_len > 0 ? ca->ski : NULL;
	t->issuer_ski_len = ca->ski_len;
	t->ca_not_before = ca->chain[0].not_before;
	t->ca_not_after = ca->chain[0].not_after;

	t->not_before = now - p->backdate_seconds;
	t->not_after = p->not_after_forever ? CERT_NOT_AFTER_FOREVER : now + p->validity_seconds;

	for (size_t k = 0; k < p->subject_count && k < CERT_MAX_RDN; k++) {
		rc = policy_expand_one(p, policy_rdn_name(p->subject[k].type), k, p->subject[k].tmpl,
		    device_id, lot, strings->subject[k], err);
		if (rc != 0)
			return rc;
		t->subject[k].type = p->subject[k].type;
		t->subject[k].value = strings->subject[k];
		t->subject_count = k + 1;
	}
	for (size_t k = 0; k < p->san_count && k < CERT_MAX_SAN; k++) {
		rc = policy_expand_one(p, "SAN", k, p->san[k].tmpl, device_id, lot, strings->san[k],
		    err);
		if (rc != 0)
			return rc;
		t->san[k].type = p->san[k].type;
		t->san[k].value = strings->san[k];
		t->san_count = k + 1;
	}

	t->spki = csr->spki.p;
	t->spki_len = csr->spki.len;
	switch (csr->key_type) {
	case CSR_KEY_EC_P256:
	case CSR_KEY_EC_P384:
	case CSR_KEY_EC_P521:
		t->key_class = CERT_KEY_CLASS_EC;
		break;
	case CSR_KEY_RSA:
		t->key_class = CERT_KEY_CLASS_RSA;
		break;
	default:
		return cs_err_set(err, CS_ERR_CSR_KEY_TYPE,
		    "CSR key type cannot be put in a certificate by profile '%s'", p->name);
	}

	t->key_usage = p->key_usage;
	for (size_t k = 0; k < p->eku_count && k < CERT_MAX_EKU; k++)
		t->eku[k] = p->eku[k];
	t->eku_count = p->eku_count;
	for (size_t k = 0; k < p->crl_url_count && k < CERT_MAX_URLS; k++)
		t->crl_urls[k] = p->crl_urls[k];
	t->crl_url_count = p->crl_url_count;
	for (size_t k = 0; k < p->ocsp_url_count && k < CERT_MAX_URLS; k++)
		t->ocsp_urls[k] = p->ocsp_urls[k];
	t->ocsp_url_count = p->ocsp_url_count;
	for (size_t k = 0; k < p->ca_issuers_url_count && k < CERT_MAX_URLS; k++)
		t->ca_issuers_urls[k] = p->ca_issuers_urls[k];
	t->ca_issuers_url_count = p->ca_issuers_url_count;
	return 0;
}
