/*
 * softhsm_fixture.h: a private SoftHSM2 token for one test.
 *
 * softhsm_fixture_setup() makes a temporary directory, writes a
 * softhsm2.conf whose tokendir lies inside it, points SOFTHSM2_CONF at it,
 * initialises a token (hsm_token_init) and writes the user PIN to a file of
 * mode 0600. softhsm_fixture_cleanup() removes the directory.
 *
 * SoftHSM2 reads SOFTHSM2_CONF in C_Initialize, i.e. when the first
 * hsm_open()/hsm_token_init() of the process loads the module. Set the
 * fixture up before opening any hsm, and keep one fixture per process at a
 * time (add more tokens to it with softhsm_fixture_token_add()).
 */
#ifndef TESTS_SOFTHSM_FIXTURE_H
#define TESTS_SOFTHSM_FIXTURE_H

#include <stddef.h>

#include "hsm/hsm.h"
#include "station/cs_error.h"

#define SOFTHSM_FIXTURE_SO_PIN "so-pin-8642"
#define SOFTHSM_FIXTURE_USER_PIN "user-pin-1357"

struct softhsm_fixture {
	char dir[256];       /* the temporary directory */
	char conf_path[320]; /* softhsm2.conf */
	char token_dir[320]; /* SoftHSM token directory */
	char pin_path[320];  /* file holding user_pin, mode 0600 */
	char label[33];      /* label of the first token */
	char so_pin[64];
	char user_pin[64];
};

/* Set up as described above. module_path NULL = the build's SoftHSM2;
 * label NULL = "cs-test"; PINs NULL = the SOFTHSM_FIXTURE_* defaults.
 * 0 on success, negative CS_ERR_* with err set otherwise (the directory is
 * removed again). */
int softhsm_fixture_setup(struct softhsm_fixture *fx /* OUT */, const char *module_path,
    const char *label, const char *so_pin, const char *user_pin, struct cs_err *err);

/* Initialise one more token (same PINs) in the fixture's token directory. */
int softhsm_fixture_token_add(struct softhsm_fixture *fx, const char *module_path,
    const char *label, struct cs_err *err);

/* Write "pkcs11:token=LABEL;object=OBJECT?pin-source=file:PIN_PATH" into buf
 * (object NULL: no object attribute). 0, or CS_ERR_TOO_LARGE. */
int softhsm_fixture_uri(const struct softhsm_fixture *fx, const char *object, char *buf,
    size_t cap);

/* One ECDSA P-256 signature over a fixed digest with h's key:
 * hsm_sign_digest()'s result (err cleared first). */
int softhsm_fixture_sign(hsm *h, struct cs_err *err);

/* Remove the directory and everything in it; unset SOFTHSM2_CONF if it
 * still points there. NULL and a never-set-up fixture are fine. */
void softhsm_fixture_cleanup(struct softhsm_fixture *fx);

#endif
