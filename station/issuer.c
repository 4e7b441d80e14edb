/*
 * issuer.c: the issuance transaction as a small pipeline.
 *
 * DESIGN: a request becomes a job that visits two worker stages with two
 * durable ledger commits in between:
 *
 *   submit -> [CHECK on a worker] -> ledger RESERVE -> [SIGN on a worker]
 *          -> ledger SIGNED -> done
 *
 * The ledger's writer thread group-commits whatever rows are queued, so with
 * many requests in flight one fsync serves many rows; a worker never waits
 * for the disk. Workers take SIGN jobs before CHECK jobs so that work already
 * reserved finishes first and the number of open reservations stays small.
 *
 * The in-flight list makes two things exact that committed ledger rows alone
 * cannot: one job per device ID at a time (a second one is refused BUSY), and
 * lot quotas counting reservations not yet committed.
 */
#include "station/clock.h"
#include "station/issuer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "station/csr.h"
#include "station/file_read.h"
#include "station/policy.h"

_Static_assert(CERT_SERIAL_LEN == LEDGER_SERIAL_LEN, "ledger stores what the builder makes");

/* Clock plausibility bounds (fail closed): 2025-01-01 .. 2100-01-01. */
#define ISSUER_CLOCK_MIN ((int64_t)1735689600)
#define ISSUER_CLOCK_MAX ((int64_t)4102444800)
#define ISSUER_MAX_THREADS 64
#define ISSUER_BUNDLE_MAX (256 * 1024)

enum issuer_stage {
	ISSUER_STAGE_CHECK = 1,
	ISSUER_STAGE_SIGN,
};

struct issuer_job {
	struct issuer_request *req;
	issuer *is;
	enum issuer_stage stage;
	int64_t t_start_us;
	int in_flight;     /* linked in is->inflight */
	int counts_in_lot; /* a new issuance charged to lot */
	int reserve_seen;  /* its RESERVED row is committed (counted by the ledger) */
	int have_hashes;
	char lot[LEDGER_NAME_MAX + 1];
	char profile_name[LEDGER_NAME_MAX + 1];
	const struct profile *profile;

	uint8_t csr_der[CSR_MAX_DER];
	size_t csr_der_len;
	struct csr csr;
	uint8_t pubkey_sha256[32];
	uint8_t csr_sha256[32];

	struct cert_template tmpl;
	struct policy_strings strings;
	uint8_t tbs[CERT_MAX_DER];
	size_t tbs_len;
	uint8_t digest[64];
	size_t digest_len;

	struct ledger_op op;
	int pending_status;            /* the refusal/failure being recorded */
	struct cs_err pending_err;

	struct issuer_job *next;       /* work queue */
	struct issuer_job *if_prev, *if_next; /* in-flight list */
};

struct issuer_bundle {
	const struct profile *profile;
	char *pem; /* NULL: none */
};

struct issuer {
	const struct cs_config *cfg;
	hsm *hsm;
	ledger *ledger;
	const struct ca *ca;

	pthread_mutex_t lock;
	pthread_cond_t work_cv;
	pthread_cond_t idle_cv;
	struct issuer_job *check_head, *check_tail;
	struct issuer_job *sign_head, *sign_tail;
	struct issuer_job *inflight;
	size_t jobs_open; /* submitted, not yet done */
	int stopping;

	pthread_t threads[ISSUER_MAX_THREADS];
	unsigned thread_count;

	struct issuer_bundle bundles[CONFIG_MAX_PROFILES];
};

static void
issuer_queue_push(struct issuer_job **head, struct issuer_job **tail, struct issuer_job *job)
{
	job->next = NULL;
	if (*tail != NULL)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

static void
issuer_enqueue(issuer *is, struct issuer_job *job)
{
	pthread_mutex_lock(&is->lock);
	/* Only committed reservations go to the SIGN stage: from here on the
	 * ledger counts this job's row (see issuer_inflight_lot_count). */
	if (job->stage == ISSUER_STAGE_SIGN) {
		job->reserve_seen = 1;
		issuer_queue_push(&is->sign_head, &is->sign_tail, job);
	} else {
		issuer_queue_push(&is->check_head, &is->check_tail, job);
	}
	pthread_cond_signal(&is->work_cv);
	pthread_mutex_unlock(&is->lock);
}

/* Caller holds is->lock. */
static void
issuer_inflight_unlink(issuer *is, struct issuer_job *job)
{
	if (!job->in_flight)
		return;
	if (job->if_prev != NULL)
		job->if_prev->if_next = job->if_next;
	else
		is->inflight = job->if_next;
	if (job->if_next != NULL)
		job->if_next->if_prev = job->if_prev;
	job->in_flight = 0;
}

/* The end of every job: publish the result, release the device ID, call back. */
static void
issuer_job_finish(struct issuer_job *job, int status)
{
	issuer *is = job->is;
	struct issuer_request *req = job->req;

	req->status = status;
	if (status == CS_OK)
		cs_err_clear(&req->err);
	req->duration_us = cs_real_us() - job->t_start_us;

	pthread_mutex_lock(&is->lock);
	issuer_inflight_unlink(is, job);
	pthread_mutex_unlock(&is->lock);

	req->job_ = NULL;
	free(job);
	req->done(req);

	pthread_mutex_lock(&is->lock);
	is->jobs_open--;
	if (is->jobs_open == 0)
		pthread_cond_broadcast(&is->idle_cv);
	pthread_mutex_unlock(&is->lock);
}

/* Ledger callback for REFUSED / FAILED rows: the job ends with the recorded
 * failure; if even the ledger failed, the caller hears both. */
static void
issuer_on_failure_recorded(struct ledger_op *op, int status)
{
	struct issuer_job *job = op->arg;
	struct issuer_request *req = job->req;

	req->err = job->pending_err;
	if (status == CS_OK) {
		req->ledger_id = op->id;
	} else {
		size_t n = strlen(req->err.msg);
		snprintf(req->err.msg + n, sizeof(req->err.msg) - n,
		    " (and the ledger could not record this: %s)", cs_strerror(status));
	}
	issuer_job_finish(job, job->pending_status);
}

/* Record a refusal (before any reservation) or a failure (of a reserved row),
 * then finish. err already holds the sentence. */
static void
issuer_job_fail(struct issuer_job *job, int code, const struct cs_err *err)
{
	struct issuer_request *req = job->req;
	struct ledger_op *op = &job->op;
	int64_t reserved_id = op->kind == LEDGER_OP_RESERVE ? op->id : 0;

	job->pending_status = code;
	job->pending_err = *err;
	job->pending_err.code = code;

	memset(op, 0, sizeof(*op));
	if (reserved_id > 0) {
		op->kind = LEDGER_OP_FAILED;
		op->id = reserved_id;
	} else {
		op->kind = LEDGER_OP_REFUSED;
		op->device_id = req->device_id != NULL ? req->device_id : "";
		op->profile = job->profile_name;
		op->lot = job->lot[0] != '\0' ? job->lot : NULL;
		op->fixture = req->fixture;
		op->slot = req->slot;
		op->pubkey_sha256 = job->have_hashes ? job->pubkey_sha256 : NULL;
		op->csr_sha256 = job->have_hashes ? job->csr_sha256 : NULL;
	}
	op->reason = code;
	op->reason_text = job->pending_err.msg;
	op->duration_us = cs_real_us() - job->t_start_us;
	op->done = issuer_on_failure_recorded;
	op->arg = job;
	if (ledger_submit(job->is->ledger, op) != CS_OK) {
		req->err = job->pending_err;
		issuer_job_finish(job, code);
	}
}

static void
issuer_on_signed(struct ledger_op *op, int status)
{
	struct issuer_job *job = op->arg;

	if (status != CS_OK) {
		/* Signed but not stored: the certificate is never handed out. The
		 * row stays RESERVED and becomes FAILED(interrupted) at next open. */
		cs_err_set(&job->req->err, status,
		    "certificate for '%s' was signed but could not be stored in the ledger (%s); "
		    "it is not delivered",
		    job->req->device_id, cs_strerror(status));
		issuer_job_finish(job, status);
		return;
	}
	issuer_job_finish(job, CS_OK);
}

static void
issuer_on_reserved(struct ledger_op *op, int status)
{
	struct issuer_job *job = op->arg;

	if (status != CS_OK) {
		cs_err_set(&job->req->err, status, "ledger refused the reservation for '%s': %s",
		    job->req->device_id, cs_strerror(status));
		issuer_job_finish(job, status);
		return;
	}
	job->req->ledger_id = op->id;
	job->stage = ISSUER_STAGE_SIGN;
	issuer_enqueue(job->is, job);
}

static void
issuer_on_redelivered(struct ledger_op *op, int status)
{
	struct issuer_job *job = op->arg;

	if (status != CS_OK) {
		cs_err_set(&job->req->err, status, "ledger could not record the re-delivery for '%s': %s",
		    job->req->device_id, cs_strerror(status));
		issuer_job_finish(job, status);
		return;
	}
	issuer_job_finish(job, CS_OK);
}

/* Under is->lock: is another job for this device ID in flight? If not, link job. */
static int
issuer_inflight_claim(issuer *is, struct issuer_job *job)
{
	for (struct issuer_job *j = is->inflight; j != NULL; j = j->if_next)
		if (strcmp(j->req->device_id, job->req->device_id) == 0)
			return CS_ERR_BUSY;
	job->if_prev = NULL;
	job->if_next = is->inflight;
	if (is->inflight != NULL)
		is->inflight->if_prev = job;
	is->inflight = job;
	job->in_flight = 1;
	return CS_OK;
}

/* Under is->lock: new issuances of lot in flight whose RESERVED row the
 * ledger does not count yet. The caller adds the ledger's committed count,
 * read under the same lock; a reservation committed in the instant before its
 * callback runs is counted twice, which errs on the side of refusing. */
static int64_t
issuer_inflight_lot_count(issuer *is, const char *lot, const struct issuer_job *self)
{
	int64_t n = 0;

	for (struct issuer_job *j = is->inflight; j != NULL; j = j->if_next)
		if (j != self && j->counts_in_lot && !j->reserve_seen && strcmp(j->lot, lot) == 0)
			n++;
	return n;
}

static void
issuer_stage_check(struct issuer_job *job)
{
	issuer *is = job->is;
	struct issuer_request *req = job->req;
	struct cs_err err;
	struct policy_facts facts;
	struct ledger_record prior;
	enum policy_verdict verdict;
	int64_t now, quota = -1;
	int rc;

	cs_err_clear(&err);
	memset(&prior, 0, sizeof(prior));

	job->profile = config_profile(is->cfg, req->profile);
	snprintf(job->profile_name, sizeof(job->profile_name), "%s",
	    job->profile != NULL ? job->profile->name : (req->profile != NULL ? req->profile : ""));
	if (job->profile == NULL) {
		rc = cs_err_set(&err, CS_ERR_POLICY_PROFILE, "no profile named '%s' in %s",
		    req->profile != NULL ? req->profile : "(default)", is->cfg->path);
		goto refuse;
	}
	req->profile_used = job->profile;
	if (req->device_id == NULL || req->device_id[0] == '\0' ||
	    strlen(req->device_id) > POLICY_DEVICE_ID_MAX) {
		rc = cs_err_set(&err, CS_ERR_POLICY_DEVICE_ID, "device ID must be 1..%d characters",
		    POLICY_DEVICE_ID_MAX);
		goto refuse;
	}

	now = cs_real_us() / 1000000;
	if (now < ISSUER_CLOCK_MIN || now > ISSUER_CLOCK_MAX) {
		rc = cs_err_set(&err, CS_ERR_CLOCK,
		    "system clock reads %lld (Unix time), outside 2025..2100; refusing to issue "
		    "until the clock is set",
		    (long long)now);
		goto refuse;
	}

	rc = csr_decode(req->csr, req->csr_len, job->csr_der, sizeof(job->csr_der),
	    &job->csr_der_len, &err);
	if (rc != CS_OK)
		goto refuse;
	rc = csr_parse(job->csr_der, job->csr_der_len, &job->csr, &err);
	if (rc != CS_OK)
		goto refuse;
	SHA256(job->csr.spki.p, job->csr.spki.len, job->pubkey_sha256);
	SHA256(job->csr_der, job->csr_der_len, job->csr_sha256);
	job->have_hashes = 1;
	rc = csr_verify(&job->csr, &err);
	if (rc != CS_OK)
		goto refuse;
	if (req->challenge != NULL) {
		/* After the signature check: a replayed CSR is genuine, only stale. */
		size_t want = strlen(req->challenge);

		if (job->csr.challenge.p == NULL) {
			rc = cs_err_set(&err, CS_ERR_CSR_NONCE,
			    "CSR has no challengePassword; this exchange's nonce must be in it");
			goto refuse;
		}
		if (job->csr.challenge.len != want ||
		    CRYPTO_memcmp(job->csr.challenge.p, req->challenge, want) != 0) {
			rc = cs_err_set(&err, CS_ERR_CSR_NONCE,
			    "CSR challengePassword is not this exchange's nonce (replayed or stale "
			    "CSR)");
			goto refuse;
		}
	}

	pthread_mutex_lock(&is->lock);
	rc = issuer_inflight_claim(is, job);
	pthread_mutex_unlock(&is->lock);
	if (rc != CS_OK) {
		cs_err_set(&err, rc, "an issuance for device ID '%s' is already in progress",
		    req->device_id);
		goto refuse;
	}

	memset(&facts, 0, sizeof(facts));
	facts.csr = &job->csr;
	facts.device_id = req->device_id;
	facts.lot_quota = -1;
	if (ledger_allowlist_get(is->ledger, req->device_id, job->lot, &quota) == CS_OK) {
		facts.allowlisted = 1;
		facts.lot = job->lot;
		facts.lot_quota = quota;
	} else {
		job->lot[0] = '\0';
	}
	if (ledger_device_latest(is->ledger, req->device_id, &prior) == CS_OK) {
		facts.has_prior = 1;
		facts.prior_same_key = memcmp(prior.pubkey_sha256, job->pubkey_sha256, 32) == 0;
	}

	if (facts.lot != NULL && quota >= 0) {
		/* Count and charge under the lock so two jobs of one lot cannot both
		 * take the last certificate. */
		int64_t committed = 0;

		pthread_mutex_lock(&is->lock);
		rc = ledger_lot_issued(is->ledger, job->lot, &committed);
		facts.lot_used = committed + issuer_inflight_lot_count(is, job->lot, job);
		if (rc == CS_OK)
			rc = policy_evaluate(job->profile, &facts, &verdict, &err);
		else
			cs_err_set(&err, rc, "ledger cannot count lot '%s'", job->lot);
		if (rc == CS_OK && verdict == POLICY_ISSUE)
			job->counts_in_lot = 1;
		pthread_mutex_unlock(&is->lock);
	} else {
		rc = policy_evaluate(job->profile, &facts, &verdict, &err);
	}
	if (rc != CS_OK)
		goto refuse;

	if (verdict == POLICY_REDELIVER) {
		if (prior.cert_der == NULL || prior.cert_len > sizeof(req->cert_der) || !prior.has_serial) {
			rc = cs_err_set(&err, CS_ERR_LEDGER_CORRUPT,
			    "device ID '%s' has ledger row %lld without a stored certificate",
			    req->device_id, (long long)prior.id);
			goto refuse;
		}
		memcpy(req->cert_der, prior.cert_der, prior.cert_len);
		req->cert_len = prior.cert_len;
		memcpy(req->serial, prior.serial, sizeof(req->serial));
		req->ledger_id = prior.id;
		req->redelivered = 1;
		memset(&job->op, 0, sizeof(job->op));
		job->op.kind = LEDGER_OP_REDELIVERED;
		job->op.id = prior.id;
		job->op.fixture = req->fixture;
		job->op.slot = req->slot;
		job->op.duration_us = cs_real_us() - job->t_start_us;
		job->op.done = issuer_on_redelivered;
		job->op.arg = job;
		ledger_record_clear(&prior);
		if (ledger_submit(is->ledger, &job->op) != CS_OK)
			issuer_job_finish(job, cs_err_set(&req->err, CS_ERR_STOPPED, "ledger is closing"));
		return;
	}
	ledger_record_clear(&prior);

	rc = policy_template_fill(job->profile, is->ca, req->device_id,
	    job->lot[0] != '\0' ? job->lot : NULL, &job->csr, now, &job->tmpl, &job->strings, &err);
	if (rc != CS_OK)
		goto refuse;
	rc = cert_serial_generate(job->tmpl.serial, cs_real_us());
	if (rc != CS_OK) {
		cs_err_set(&err, rc, "CSPRNG failed to produce a serial number");
		goto refuse;
	}
	rc = cert_template_check(&job->tmpl, &err);
	if (rc != CS_OK)
		goto refuse;
	rc = cert_tbs_encode(&job->tmpl, job->tbs, sizeof(job->tbs), &job->tbs_len);
	if (rc != CS_OK) {
		cs_err_set(&err, rc, "certificate for '%s' does not fit in %d bytes", req->device_id,
		    CERT_MAX_DER);
		goto refuse;
	}
	job->digest_len = cert_sig_alg_digest_len(job->tmpl.sig_alg);
	if (job->digest_len == 48)
		SHA384(job->tbs, job->tbs_len, job->digest);
	else
		SHA256(job->tbs, job->tbs_len, job->digest);
	memcpy(req->serial, job->tmpl.serial, sizeof(req->serial));

	memset(&job->op, 0, sizeof(job->op));
	job->op.kind = LEDGER_OP_RESERVE;
	job->op.device_id = req->device_id;
	job->op.profile = job->profile->name;
	job->op.lot = job->lot[0] != '\0' ? job->lot : NULL;
	job->op.fixture = req->fixture;
	job->op.slot = req->slot;
	job->op.serial = job->tmpl.serial;
	job->op.pubkey_sha256 = job->pubkey_sha256;
	job->op.csr_sha256 = job->csr_sha256;
	job->op.not_before = job->tmpl.not_before;
	job->op.not_after = job->tmpl.not_after;
	job->op.duration_us = cs_real_us() - job->t_start_us;
	job->op.done = issuer_on_reserved;
	job->op.arg = job;
	if (ledger_submit(is->ledger, &job->op) != CS_OK)
		issuer_job_finish(job, cs_err_set(&req->err, CS_ERR_STOPPED, "ledger is closing"));
	return;

refuse:
	ledger_record_clear(&prior);
	issuer_job_fail(job, rc, &err);
}

static void
issuer_stage_sign(struct issuer_job *job)
{
	issuer *is = job->is;
	struct issuer_request *req = job->req;
	struct cs_err err;
	uint8_t sig[HSM_SIG_MAX];
	size_t sig_len = sizeof(sig);
	int rc;

	cs_err_clear(&err);
	rc = hsm_sign_digest(is->hsm, job->tmpl.sig_alg, job->digest, job->digest_len, sig, &sig_len,
	    &err);
	if (rc != CS_OK)
		goto fail;
	rc = cert_assemble(job->tbs, job->tbs_len, job->tmpl.sig_alg, sig, sig_len, req->cert_der,
	    sizeof(req->cert_der), &req->cert_len);
	if (rc != CS_OK) {
		cs_err_set(&err, rc, "signed certificate for '%s' does not fit in %d bytes",
		    req->device_id, CERT_MAX_DER);
		goto fail;
	}

	memset(&job->op, 0, sizeof(job->op));
	job->op.kind = LEDGER_OP_SIGNED;
	job->op.id = req->ledger_id;
	job->op.cert_der = req->cert_der;
	job->op.cert_len = req->cert_len;
	job->op.duration_us = cs_real_us() - job->t_start_us;
	job->op.done = issuer_on_signed;
	job->op.arg = job;
	if (ledger_submit(is->ledger, &job->op) != CS_OK)
		issuer_job_finish(job, cs_err_set(&req->err, CS_ERR_STOPPED, "ledger is closing"));
	return;

fail:
	req->cert_len = 0;
	/* job->op still describes the RESERVE: issuer_job_fail turns it into FAILED. */
	job->op.kind = LEDGER_OP_RESERVE;
	job->op.id = req->ledger_id;
	issuer_job_fail(job, rc, &err);
}

static void *
issuer_worker(void *arg)
{
	issuer *is = arg;
	struct issuer_job *job;

	prctl(PR_SET_NAME, "cs-issue"); /* visible in top -H, ps -L, perf */

	for (;;) {
		pthread_mutex_lock(&is->lock);
		while (is->sign_head == NULL && is->check_head == NULL && !is->stopping)
			pthread_cond_wait(&is->work_cv, &is->lock);
		if (is->sign_head != NULL) {
			job = is->sign_head;
			is->sign_head = job->next;
			if (is->sign_head == NULL)
				is->sign_tail = NULL;
		} else if (is->check_head != NULL) {
			job = is->check_head;
			is->check_head = job->next;
			if (is->check_head == NULL)
				is->check_tail = NULL;
		} else {
			pthread_mutex_unlock(&is->lock);
			break;
		}
		pthread_mutex_unlock(&is->lock);

		if (job->stage == ISSUER_STAGE_SIGN)
			issuer_stage_sign(job);
		else
			issuer_stage_check(job);
	}
	return NULL;
}

/* A profile's trust bundle: at most max bytes, at least one PEM certificate.
 * Returns it malloc'ed, or NULL with err (cannot open is CS_ERR_IO). */
static char *
issuer_bundle_read(const char *path, size_t max, struct cs_err *err)
{
	struct cs_err rerr;
	char *buf = NULL;
	int rc;

	rc = cs_file_read(path, "a trust bundle", max, 0, &buf, NULL, &rerr);
	if (rc != 0) {
		cs_err_set(err, rc == CS_ERR_NOT_FOUND ? CS_ERR_IO : rc, "trust bundle %s",
		    rerr.msg);
		return NULL;
	}
	if (strstr(buf, "-----BEGIN CERTIFICATE-----") == NULL) {
		cs_err_set(err, CS_ERR_CONFIG, "%s: trust bundle holds no PEM certificate", path);
		free(buf);
		return NULL;
	}
	return buf;
}

issuer *
issuer_new(const struct cs_config *cfg, hsm *h, ledger *l, const struct ca *ca, unsigned threads,
    struct cs_err *err)
{
	issuer *is;

	if (threads == 0)
		threads = 1;
	if (threads > ISSUER_MAX_THREADS)
		threads = ISSUER_MAX_THREADS;
	is = calloc(1, sizeof(*is));
	if (is == NULL) {
		cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	is->cfg = cfg;
	is->hsm = h;
	is->ledger = l;
	is->ca = ca;
	pthread_mutex_init(&is->lock, NULL);
	pthread_cond_init(&is->work_cv, NULL);
	pthread_cond_init(&is->idle_cv, NULL);

	for (size_t i = 0; i < cfg->profile_count; i++) {
		is->bundles[i].profile = &cfg->profiles[i];
		if (cfg->profiles[i].trust_bundle_file == NULL)
			continue;
		is->bundles[i].pem =
		    issuer_bundle_read(cfg->profiles[i].trust_bundle_file, ISSUER_BUNDLE_MAX, err);
		if (is->bundles[i].pem == NULL) {
			issuer_free(is);
			return NULL;
		}
	}
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&is->threads[i], NULL, issuer_worker, is) != 0) {
			cs_err_set(err, CS_ERR_INTERNAL, "cannot start issuance worker thread");
			issuer_free(is);
			return NULL;
		}
		is->thread_count++;
	}
	return is;
}

void
issuer_free(issuer *is)
{
	if (is == NULL)
		return;
	pthread_mutex_lock(&is->lock);
	while (is->jobs_open > 0)
		pthread_cond_wait(&is->idle_cv, &is->lock);
	is->stopping = 1;
	pthread_cond_broadcast(&is->work_cv);
	pthread_mutex_unlock(&is->lock);
	for (unsigned i = 0; i < is->thread_count; i++)
		pthread_join(is->threads[i], NULL);
	for (size_t i = 0; i < CONFIG_MAX_PROFILES; i++)
		free(is->bundles[i].pem);
	pthread_cond_destroy(&is->idle_cv);
	pthread_cond_destroy(&is->work_cv);
	pthread_mutex_destroy(&is->lock);
	free(is);
}

int
issuer_submit(issuer *is, struct issuer_request *req)
{
	struct issuer_job *job;

	req->status = CS_OK;
	cs_err_clear(&req->err);
	req->redelivered = 0;
	req->ledger_id = 0;
	req->cert_len = 0;
	req->profile_used = NULL;
	job = malloc(sizeof(*job));
	if (job == NULL)
		return CS_ERR_NOMEM;
	memset(job, 0, offsetof(struct issuer_job, csr_der));
	memset(&job->op, 0, sizeof(job->op));
	job->req = req;
	job->is = is;
	job->stage = ISSUER_STAGE_CHECK;
	job->t_start_us = cs_real_us();
	req->job_ = job;

	pthread_mutex_lock(&is->lock);
	if (is->stopping) {
		pthread_mutex_unlock(&is->lock);
		free(job);
		req->job_ = NULL;
		return CS_ERR_STOPPED;
	}
	is->jobs_open++;
	issuer_queue_push(&is->check_head, &is->check_tail, job);
	pthread_cond_signal(&is->work_cv);
	pthread_mutex_unlock(&is->lock);
	return CS_OK;
}

struct issuer_waiter {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int done;
};

static void
issuer_sync_done(struct issuer_request *req)
{
	struct issuer_waiter *w = req->arg;

	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
}

int
issuer_issue(issuer *is, struct issuer_request *req)
{
	struct issuer_waiter w = {.done = 0};
	int rc;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cv, NULL);
	req->done = issuer_sync_done;
	req->arg = &w;
	rc = issuer_submit(is, req);
	if (rc == CS_OK) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.lock);
		pthread_mutex_unlock(&w.lock);
		rc = req->status;
	} else {
		req->status = rc;
		cs_err_set(&req->err, rc, "%s", cs_strerror(rc));
	}
	req->done = NULL;
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

char *
issuer_cert_pem(const uint8_t *der, size_t len)
{
	return len == 0 ? NULL : cert_pem_encode(der, len);
}

char *
issuer_chain_pem(issuer *is, const struct issuer_request *req)
{
	const struct profile *prof = req->profile_used;
	const char *bundle = NULL;
	char *leaf, *out;
	size_t len, upto;

	if (req->status != CS_OK || req->cert_len == 0)
		return NULL;
	leaf = issuer_cert_pem(req->cert_der, req->cert_len);
	if (leaf == NULL)
		return NULL;

	/* The device presents everything up to the CA registered in the cloud;
	 * the root goes along only when the profile asks (DPS wants the chain,
	 * not necessarily the root). */
	upto = is->ca->chain_len;
	if (is->ca->has_root && (prof == NULL || !prof->chain_include_root))
		upto--;
	for (size_t i = 0; i < CONFIG_MAX_PROFILES; i++)
		if (prof != NULL && is->bundles[i].profile == prof)
			bundle = is->bundles[i].pem;

	len = strlen(leaf) + 1;
	for (size_t i = 0; i < upto; i++)
		len += strlen(is->ca->chain[i].pem);
	if (bundle != NULL)
		len += strlen(bundle) + 1;
	out = malloc(len);
	if (out != NULL) {
		size_t off = 0, n;

		n = strlen(leaf);
		memcpy(out, leaf, n);
		off += n;
		for (size_t i = 0; i < upto; i++) {
			n = strlen(is->ca->chain[i].pem);
			memcpy(out + off, is->ca->chain[i].pem, n);
			off += n;
		}
		if (bundle != NULL) {
			n = strlen(bundle);
			memcpy(out + off, bundle, n);
			off += n;
			if (n > 0 && bundle[n - 1] != '\n')
				out[off++] = '\n';
		}
		out[off] = '\0';
	}
	free(leaf);
	return out;
}
