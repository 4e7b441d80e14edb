/*
 * test_hsm_token_return.c: a token that disappears and comes back, with the
 * real SoftHSM2 module (no shim): the token directory is moved away in the
 * middle of signing and moved back. The station must go DOWN with a reason,
 * fail fast while the token is gone, and sign again by itself once it is
 * back, without a restart; other signer threads must never crash or hang.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsm/hsm.h"
#include "tests/support/check.h"
#include "tests/support/softhsm_fixture.h"

static struct softhsm_fixture fx;

static hsm *
open_token(unsigned sessions, unsigned flags, struct cs_err *err)
{
	char uri[700];
	struct hsm_config cfg = {0};

	if (softhsm_fixture_uri(&fx, "ca", uri, sizeof(uri)) != CS_OK)
		return NULL;
	cfg.uri = uri;
	cfg.sessions = sessions;
	cfg.flags = flags;
	return hsm_open(&cfg, err);
}

/* Signers that run through the whole outage: every call must return (ok or
 * a clean error), none may crash, and they must sign again at the end. */
struct signer {
	pthread_t th;
	hsm *h;
	atomic_int *stop;
	unsigned long ok, failed, other;
	int last_rc;
};

static void *
signer_main(void *arg)
{
	struct signer *s = arg;
	struct cs_err err;

	while (!atomic_load(s->stop)) {
		int rc = softhsm_fixture_sign(s->h, &err);

		s->last_rc = rc;
		if (rc == CS_OK)
			s->ok++;
		else if (rc == CS_ERR_HSM_DOWN || rc == CS_ERR_HSM_SIGN ||
		    rc == CS_ERR_HSM_KEY_NOT_FOUND)
			s->failed++;
		else
			s->other++;
		usleep(2000);
	}
	return NULL;
}

static int
wait_for_ok(hsm *h, double budget_ms, double *took_ms)
{
	struct cs_err err;
	double t0 = check_now_ms();

	while (check_now_ms() - t0 < budget_ms) {
		if (softhsm_fixture_sign(h, &err) == CS_OK) {
			*took_ms = check_now_ms() - t0;
			return 1;
		}
		usleep(20000);
	}
	fprintf(stderr, "still failing after %.0f ms: %s\n", budget_ms, err.msg);
	return 0;
}

static void
test_token_moved_away_and_back(unsigned sessions, unsigned nthreads)
{
	char away[400];
	struct cs_err err;
	struct hsm_status st;
	struct signer sg[4];
	atomic_int stop = 0;
	double took = 0;
	hsm *h;
	unsigned i;
	int rc;

	h = open_token(sessions, 0, &err);
	CHECK(h != NULL);
	if (h == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return;
	}
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);
	memset(sg, 0, sizeof(sg));
	for (i = 0; i < nthreads; i++) {
		sg[i].h = h;
		sg[i].stop = &stop;
		CHECK(pthread_create(&sg[i].th, NULL, signer_main, &sg[i]) == 0);
	}
	usleep(100000);

	/* The token goes away: DOWN, with a reason, in bounded time. */
	snprintf(away, sizeof(away), "%s.away", fx.token_dir);
	CHECK(rename(fx.token_dir, away) == 0);
	for (i = 0; i < 50; i++) {
		rc = softhsm_fixture_sign(h, &err);
		if (rc != CS_OK)
			break;
		usleep(20000);
	}
	CHECK(rc != CS_OK);
	hsm_status_get(h, &st);
	CHECK(st.state != HSM_STATE_OK);
	CHECK(st.reason[0] != '\0');
	printf("token away (%u sessions, %u threads): rc=%d state=%s reason=%s\n", sessions,
	    nthreads, rc, hsm_state_name(st.state), st.reason);

	/* Still away after a module restart: still DOWN, and the reason now
	 * says the token is missing; nothing signs. */
	usleep(1200000);
	CHECK(softhsm_fixture_sign(h, &err) != CS_OK);
	usleep(50000);
	CHECK(softhsm_fixture_sign(h, &err) != CS_OK);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_DOWN);
	/* SoftHSM2 will not even initialise without its token directory */
	CHECK(strstr(st.reason, "module restart failed") != NULL);
	CHECK(strstr(st.reason, "C_Initialize") != NULL);
	printf("  still away: %s\n", st.reason);

	/* Back: signing resumes by itself, without reopening the hsm. */
	CHECK(rename(away, fx.token_dir) == 0);
	CHECK(wait_for_ok(h, 10000, &took));
	printf("token back: signing again after %.0f ms\n", took);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_OK);
	CHECK(st.restarts >= 1);
	CHECK_INT_EQ(st.reason[0], '\0');

	usleep(200000);
	atomic_store(&stop, 1);
	for (i = 0; i < nthreads; i++) {
		pthread_join(sg[i].th, NULL);
		CHECK_INT_EQ(sg[i].other, 0);
		CHECK(sg[i].ok > 0);
		CHECK_INT_EQ(sg[i].last_rc, CS_OK);
		printf("  signer %u: %lu ok, %lu failed cleanly\n", i, sg[i].ok, sg[i].failed);
	}
	hsm_close(h);
}

int
main(void)
{
	struct cs_err err;
	hsm *h;

	if (softhsm_fixture_setup(&fx, NULL, NULL, NULL, NULL, &err) != CS_OK) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		return 1;
	}
	h = open_token(1, HSM_OPEN_KEY_OPTIONAL, &err);
	CHECK(h != NULL);
	if (h != NULL)
		CHECK_INT_EQ(hsm_key_generate(h, HSM_KEY_EC_P256, &err), CS_OK);
	hsm_close(h);

	test_token_moved_away_and_back(1, 0);
	test_token_moved_away_and_back(4, 3);
	softhsm_fixture_cleanup(&fx);
	return check_finish("test_hsm_token_return");
}
