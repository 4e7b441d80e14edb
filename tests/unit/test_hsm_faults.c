/*
 * test_hsm_faults.c: login rules and recovery, through the fault-injecting
 * PKCS#11 shim (tests/p11shim) wrapped around a real SoftHSM2 token.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsm/hsm.h"
#include "tests/support/check.h"
#include "tests/support/softhsm_fixture.h"

static struct softhsm_fixture fx;
static int (*shim_rules)(const char *spec);
static unsigned long (*shim_calls)(const char *fn);
static void (*shim_reset)(void);

static void
pin_file_write(const char *path, const char *pin)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, pin, strlen(pin)) == (ssize_t)strlen(pin));
		close(fd);
	}
}

static hsm *
open_with(const char *pin_path, unsigned sessions, unsigned flags, struct cs_err *err)
{
	char uri[700];
	struct hsm_config cfg = {0};

	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=ca?pin-source=file:%s", fx.label,
	    pin_path);
	cfg.module_path = P11SHIM_PATH;
	cfg.uri = uri;
	cfg.sessions = sessions;
	cfg.flags = flags;
	return hsm_open(&cfg, err);
}

static void
test_pin_rules(void)
{
	char bad[400];
	struct cs_err err;
	hsm *h;

	snprintf(bad, sizeof(bad), "%s/wrong.pin", fx.dir);
	pin_file_write(bad, "not-the-pin");
	shim_reset();
	h = open_with(bad, 2, 0, &err);
	CHECK(h == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_PIN_INCORRECT);
	CHECK_MSG_HAS(err, "wrong.pin");
	CHECK(strstr(err.msg, "not-the-pin") == NULL);
	/* Asked exactly once: no automatic retry with the same bad PIN. */
	CHECK_INT_EQ(shim_calls("C_Login"), 1);
	hsm_close(h);

	CHECK_INT_EQ(shim_rules("C_Login:CKR_PIN_LOCKED:1"), 0);
	h = open_with(fx.pin_path, 2, 0, &err);
	CHECK(h == NULL);
	CHECK_INT_EQ(err.code, CS_ERR_HSM_PIN_LOCKED);
	CHECK_MSG_HAS(err, "locked");
	shim_rules("");
}

static void
test_recovery(void)
{
	struct cs_err err;
	struct hsm_status st;
	double t0, t1, t_down;
	unsigned long logins;
	hsm *h;

	/* One session: losing it also loses the login, so recovery must log
	 * in again with the PIN re-read from its file. */
	h = open_with(fx.pin_path, 1, 0, &err);
	CHECK(h != NULL);
	if (h == NULL) {
		fprintf(stderr, "open: %s\n", err.msg);
		return;
	}
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);

	/* DEGRADED is visible when the retry fails for another reason ... */
	CHECK_INT_EQ(shim_rules("C_Sign:CKR_DEVICE_REMOVED:1,C_SignInit:CKR_GENERAL_ERROR:1:1"), 0);
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_SIGN);
	CHECK_MSG_HAS(err, "C_SignInit failed: CKR_GENERAL_ERROR");
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_DEGRADED);
	CHECK(strstr(st.reason, "CKR_DEVICE_REMOVED") != NULL);
	/* ... and clears by itself on the next good signature. */
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_OK);
	CHECK_INT_EQ(st.reason[0], '\0');

	/* Lost sessions are reopened within the call. */
	shim_reset();
	shim_rules("C_Sign:CKR_SESSION_HANDLE_INVALID:3");
	hsm_status_get(h, &st);
	logins = (unsigned long)st.reopens;
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_OK);
	CHECK_INT_EQ(st.reopens - logins, 3);
	CHECK_INT_EQ(shim_calls("C_Login"), 3);
	shim_rules("C_Sign:CKR_DEVICE_REMOVED:2");
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);

	/* CKR_USER_NOT_LOGGED_IN: exactly one re-login, then the retry. */
	shim_reset();
	shim_rules("C_Sign:CKR_USER_NOT_LOGGED_IN:1");
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);
	CHECK_INT_EQ(shim_calls("C_Login"), 1);
	shim_reset();
	shim_rules("C_Sign:CKR_USER_NOT_LOGGED_IN:*");
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_SIGN);
	CHECK_MSG_HAS(err, "CKR_USER_NOT_LOGGED_IN");
	CHECK_INT_EQ(shim_calls("C_Login"), 1);
	shim_rules("");
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);

	/* Token gone for good: DOWN with a reason, in bounded time. */
	shim_rules("C_Sign:CKR_TOKEN_NOT_PRESENT:*,C_OpenSession:CKR_TOKEN_NOT_PRESENT:*");
	t_down = check_now_ms();
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_DOWN);
	t1 = check_now_ms();
	CHECK(t1 - t_down < 1000);
	CHECK_MSG_HAS(err, "CKR_TOKEN_NOT_PRESENT");
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_DOWN);
	CHECK(strstr(st.reason, "CKR_TOKEN_NOT_PRESENT") != NULL);
	/* While DOWN, callers fail fast instead of each sleeping. */
	t0 = check_now_ms();
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_DOWN);
	CHECK(check_now_ms() - t0 < 100);
	printf("persistent CKR_TOKEN_NOT_PRESENT: DOWN after %.0f ms, then fail-fast in %.1f ms\n",
	    t1 - t_down, check_now_ms() - t0);
	/* Token back: the next call recovers on its own. */
	shim_rules("");
	shim_reset();
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_OK);
	CHECK_INT_EQ(shim_calls("C_Login"), 1);

	/* A signature that does not verify is never handed out. */
	shim_rules("C_Sign:CORRUPT:1");
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_BAD_SIGNATURE);
	CHECK_MSG_HAS(err, "does not verify");
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);

	/* A PIN refused during recovery is not presented again. */
	pin_file_write(fx.pin_path, "wrong-now");
	shim_reset();
	shim_rules("C_Sign:CKR_SESSION_HANDLE_INVALID:1");
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_PIN_INCORRECT);
	CHECK_INT_EQ(shim_calls("C_Login"), 1);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_DOWN);
	CHECK(strstr(st.reason, "re-login") != NULL);
	pin_file_write(fx.pin_path, fx.user_pin);
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_PIN_INCORRECT);
	CHECK_INT_EQ(shim_calls("C_Login"), 1);
	hsm_close(h);

	/* A fresh open with the right PIN works again. */
	h = open_with(fx.pin_path, 1, 0, &err);
	CHECK(h != NULL);
	if (h != NULL)
		CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);
	hsm_close(h);
}

static void
test_recovery_many_sessions(void)
{
	struct cs_err err;
	struct hsm_status st;
	hsm *h = open_with(fx.pin_path, 4, 0, &err);
	int i, ok = 0;

	CHECK(h != NULL);
	if (h == NULL)
		return;
	shim_reset();
	/* Other sessions keep the login: reopening needs no PIN. */
	shim_rules("C_Sign:CKR_SESSION_CLOSED:2,C_SignInit:CKR_OBJECT_HANDLE_INVALID:1");
	for (i = 0; i < 10; i++)
		ok += softhsm_fixture_sign(h, &err) == CS_OK;
	CHECK_INT_EQ(ok, 10);
	CHECK_INT_EQ(shim_calls("C_Login"), 0);
	hsm_status_get(h, &st);
	CHECK_INT_EQ(st.state, HSM_STATE_OK);
	CHECK_INT_EQ(st.reopens, 3);
	shim_rules("");
	hsm_close(h);
}

/* A module restart that is slow (C_Initialize of an absent device can take
 * a second) while the token stays away: a call restarts at most once and
 * returns; the reason stays the token's, never another thread's restart. */
static void
test_restart_bounded(void)
{
	struct cs_err err;
	struct hsm_status st;
	uint64_t before;
	double t0, took;
	hsm *h = open_with(fx.pin_path, 1, 0, &err);

	CHECK(h != NULL);
	if (h == NULL)
		return;
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);
	shim_reset();
	CHECK_INT_EQ(shim_rules("C_Sign:CKR_DEVICE_REMOVED:*,C_OpenSession:CKR_TOKEN_NOT_PRESENT:*,"
			       "C_Initialize:HANG1100:*"),
	    0);
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_DOWN);
	for (int i = 0; i < 3; i++) {
		usleep(1100 * 1000); /* past the restart interval */
		hsm_status_get(h, &st);
		before = st.restarts;
		t0 = check_now_ms();
		CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_ERR_HSM_DOWN);
		took = check_now_ms() - t0;
		hsm_status_get(h, &st);
		CHECK(took < 3000);
		CHECK(st.restarts - before <= 1);
		CHECK(strstr(st.reason, "another thread") == NULL);
		CHECK(strstr(err.msg, "CKR_TOKEN_NOT_PRESENT") != NULL);
		printf("slow restart while the token is away: call returned in %.0f ms, %llu "
		       "restart(s)\n",
		    took, (unsigned long long)(st.restarts - before));
	}
	shim_rules("");
	usleep(1100 * 1000);
	CHECK_INT_EQ(softhsm_fixture_sign(h, &err), CS_OK);
	hsm_close(h);
}

int
main(void)
{
	struct cs_err err;
	void *dl;
	void *sym;
	hsm *h;

	if (softhsm_fixture_setup(&fx, P11SHIM_PATH, NULL, NULL, NULL, &err) != CS_OK) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		return 1;
	}
	/* Same path as hsm_open uses, so the same loaded instance. */
	dl = dlopen(P11SHIM_PATH, RTLD_NOW);
	if (dl == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		softhsm_fixture_cleanup(&fx);
		return 1;
	}
	sym = dlsym(dl, "p11shim_rules_set");
	memcpy(&shim_rules, &sym, sizeof(sym));
	sym = dlsym(dl, "p11shim_calls");
	memcpy(&shim_calls, &sym, sizeof(sym));
	sym = dlsym(dl, "p11shim_counts_reset");
	memcpy(&shim_reset, &sym, sizeof(sym));
	CHECK(shim_rules != NULL && shim_calls != NULL && shim_reset != NULL);
	CHECK_INT_EQ(shim_rules("C_Bogus:CKR_OK:1"), -1);

	h = open_with(fx.pin_path, 1, HSM_OPEN_KEY_OPTIONAL, &err);
	CHECK(h != NULL);
	if (h != NULL)
		CHECK_INT_EQ(hsm_key_generate(h, HSM_KEY_EC_P256, &err), CS_OK);
	hsm_close(h);

	test_pin_rules();
	test_recovery();
	test_recovery_many_sessions();
	test_restart_bounded();
	dlclose(dl);
	softhsm_fixture_cleanup(&fx);
	return check_finish("test_hsm_faults");
}
