/*
 * issuer.h: the issuance transaction.
 *
 *   CSR bytes -> decode, parse, verify proof of possession
 *             -> policy (profile, device-ID rules, allowlist, quota, rework)
 *             -> template -> pre-issuance checks -> TBS encoded, hashed
 *             -> ledger RESERVED (durable)          [nothing signed before this]
 *             -> HSM sign, signature verified with the CA key
 *             -> ledger SIGNED with the certificate (durable)
 *             -> result handed to the caller         [nothing injected before this]
 *
 * A device that asks again with the same ID and key gets its stored
 * certificate back (same bytes, same serial, no new row). A refusal is
 * recorded as a FAILED row with its reason before the caller hears of it.
 *
 * DESIGN: issuer_submit() is asynchronous, libuv style: a small pool of
 * worker threads does the CPU work (parse/verify/build, then sign), and the
 * ledger's writer thread group-commits the rows of every request in flight,
 * so many requests share one fsync without weakening durability. The caller's
 * done callback runs on an internal thread (a worker or the ledger writer):
 * it must be short. issuer_issue() is the blocking wrapper.
 *
 * Threads: issuer_submit()/issuer_issue() from any thread; new/free from one.
 */
#ifndef STATION_ISSUER_H
#define STATION_ISSUER_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "station/ca.h"
#include "station/cert.h"
#include "station/config.h"
#include "station/cs_error.h"
#include "station/ledger.h"

typedef struct issuer issuer;
struct issuer_job;

struct issuer_request {
	/* IN: borrowed, valid until done runs */
	const uint8_t *csr; /* DER or PEM */
	size_t csr_len;
	const char *device_id;
	const char *profile; /* NULL: the default profile */
	const char *fixture; /* NULL: none (CLI) */
	const char *slot;
	/* NULL: not checked (CLI). Else the CSR's challengePassword must be
	 * exactly this string: the exchange's fresh nonce, so a replayed CSR is
	 * refused (CS_ERR_CSR_NONCE). */
	const char *challenge;
	void (*done)(struct issuer_request *req);
	void *arg;

	/* OUT: valid when done runs */
	int status;            /* 0 or CS_ERR_* */
	struct cs_err err;     /* the specific sentence when status != 0 */
	int redelivered;       /* the stored certificate was handed out again */
	int64_t ledger_id;     /* the ledger row (also for refusals) */
	uint8_t serial[CERT_SERIAL_LEN];
	uint8_t cert_der[CERT_MAX_DER];
	size_t cert_len;
	const struct profile *profile_used;
	int64_t duration_us;   /* submit to done */

	struct issuer_job *job_; /* private */
};

/* Workers start at once. hsm, ledger, ca and cfg are borrowed and must
 * outlive the issuer. NULL on failure with err. */
issuer *issuer_new(const struct cs_config *cfg, hsm *h, ledger *l, const struct ca *ca,
    unsigned threads, struct cs_err *err);

/* Finish everything in flight, stop the workers. NULL is fine. */
void issuer_free(issuer *is);

/* Queue req; req->done is called exactly once later (also for refusals).
 * Returns 0, or CS_ERR_STOPPED (done is not called). */
int issuer_submit(issuer *is, struct issuer_request *req);

/* Submit and wait. req->done must be NULL. Returns req->status. */
int issuer_issue(issuer *is, struct issuer_request *req);

/* The chain to deliver for an issued request: device certificate, the CA
 * certificates above it (the root only if the profile says so), then the
 * profile's trust bundle, as PEM. Returns a malloc'ed string or NULL. */
char *issuer_chain_pem(issuer *is, const struct issuer_request *req);

/* Certificate DER -> PEM (malloc'ed), NULL on failure. */
char *issuer_cert_pem(const uint8_t *der, size_t len);

#endif
