/*
 * policy.h: the decision whether, and what, to issue. Pure: the caller looks
 * up the facts (ledger, allowlist) and passes them in; no I/O, no clock.
 *
 * Order of checks (the first failure is the reason recorded):
 *   1. device ID matches the profile's pattern (and is printable, 1..64 chars)
 *   2. CSR key type allowed by the profile (named curves only; RSA >= 2048)
 *   3. CSR asking for CA:TRUE -> refused or ignored, as the profile says
 *   4. allowlist required -> device ID must be on it
 *   5. a previous certificate for this device ID: same key -> REDELIVER the
 *      stored certificate; new key -> refused unless the profile allows re-issue
 *   6. lot quota (new issuances only)
 */
#ifndef STATION_POLICY_H
#define STATION_POLICY_H

#include <stdint.h>

#include "station/ca.h"
#include "station/cert.h"
#include "station/config.h"
#include "station/cs_error.h"
#include "station/csr.h"

#define POLICY_DEVICE_ID_MAX 64

struct policy_facts {
	const struct csr *csr; /* parsed and signature-verified */
	const char *device_id;
	int allowlisted;     /* device ID is on the work-order allowlist */
	const char *lot;     /* its lot, or NULL */
	int64_t lot_quota;   /* -1: no quota */
	int64_t lot_used;    /* issued so far in the lot (including in flight) */
	int has_prior;       /* a non-FAILED issuance exists for the device ID */
	int prior_same_key;  /* ... and its public-key hash equals this CSR's */
};

enum policy_verdict {
	POLICY_ISSUE = 1,
	POLICY_REDELIVER,
};

/* 0 with *verdict, or a CS_ERR_POLICY_* / CS_ERR_CSR_KEY_TYPE with err saying
 * exactly why (naming the profile and what it allows). */
int policy_evaluate(const struct profile *p, const struct policy_facts *f,
    enum policy_verdict *verdict /* OUT */, struct cs_err *err);

/* Strings the template points into; lives as long as the template. */
struct policy_strings {
	char subject[CERT_MAX_RDN][PROFILE_TEMPLATE_MAX];
	char san[CERT_MAX_SAN][PROFILE_TEMPLATE_MAX];
};

/* Fill everything in t except serial from profile, CA and CSR, with
 * notBefore = now - backdate and notAfter = now + validity (or 9999-12-31),
 * clamped to nothing: a validity outside the CA's is left for the lint to
 * refuse. Returns 0 or CS_ERR_POLICY_LINT (a template expands too long). */
int policy_template_fill(const struct profile *p, const struct ca *ca, const char *device_id,
    const char *lot, const struct csr *csr, int64_t now, struct cert_template *t /* OUT */,
    struct policy_strings *strings /* OUT */, struct cs_err *err);

#endif
