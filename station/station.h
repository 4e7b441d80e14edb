/*
 * station.h: one running station's parts wired together from a config file:
 * configuration, HSM, CA chain bound to the HSM key, ledger, issuer.
 *
 * Contract: station_open() sets the module's environment (hsm.module_env),
 * creates the state directory, opens the HSM (refusing an extractable key),
 * loads the CA chain and checks it matches the HSM key, opens the ledger and
 * starts the issuer; it fails closed with the first problem in err. Flags
 * leave parts out for commands that need less (ledger export needs no HSM).
 * station_close() accepts NULL and partially opened stations.
 */
#ifndef STATION_STATION_H
#define STATION_STATION_H

#include "hsm/hsm.h"
#include "station/ca.h"
#include "station/config.h"
#include "station/cs_error.h"
#include "station/issuer.h"
#include "station/ledger.h"

#define STATION_OPEN_NO_HSM 0x1u    /* config + ledger only (no CA, no issuer) */
#define STATION_OPEN_NO_LEDGER 0x2u /* config + HSM + CA only */

struct station {
	struct cs_config *cfg;
	hsm *hsm;
	struct ca *ca;
	ledger *ledger;
	issuer *issuer;
};

struct station *station_open(const char *config_path, unsigned flags, struct cs_err *err);
void station_close(struct station *st);

/* Apply hsm.module_env to this process (before the module is loaded). */
int station_env_apply(const struct cs_config *cfg, struct cs_err *err);

/* mkdir -p with mode 0700 for the last component. */
int station_mkdirs(const char *path, struct cs_err *err);

/* Build the proof-of-possession ("verification") certificate: subject
 * CN=code, a throwaway software key, signed by the issuing-CA key in the HSM,
 * valid 30 days (never past the CA). DER into out. For Azure IoT Hub / DPS and
 * AWS IoT CA registration. */
int station_verification_cert(struct station *st, const char *code, uint8_t *out, size_t cap,
    size_t *out_len /* OUT */, struct cs_err *err);

#endif
