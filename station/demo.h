/*
 * demo.h: a demo PKI in a directory, for `certstation init --demo`, the
 * benchmark and the tests.
 *
 * demo_pki_create() makes, under dir: softhsm2.conf and tokens/ (SoftHSM2
 * token "certstation-demo"), hsm.pin and hsm-so.pin (random, mode 0600), an
 * issuing-CA key generated inside the token (sensitive, not extractable),
 * root-ca.key + root-ca.pem (a SOFTWARE root key: demo only), issuing-ca.pem
 * signed by that root, certstation.json with the profiles "device" and
 * "idevid", and state/. Each step is skipped when its result exists, so
 * re-running is safe and never replaces a key; finally the station is opened
 * once to prove the result works. Sets SOFTHSM2_CONF for this process.
 * module NULL: the build's SoftHSM2. verbose: print each step to stdout.
 * 0 or CS_ERR_* with err set. One thread, before any other HSM use.
 */
#ifndef STATION_DEMO_H
#define STATION_DEMO_H

#include "hsm/hsm.h"
#include "station/cs_error.h"

int demo_pki_create(const char *dir, enum hsm_key_type type, const char *module, int verbose,
    struct cs_err *err);

#endif
