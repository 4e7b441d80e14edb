/*
 * config.h: the station's configuration and issuance profiles (JSON).
 *
 * Contract: config_load() reads one JSON file (size-capped), rejects unknown
 * keys and wrong types, and reports every error as
 * "FILE:LINE:COLUMN: key 'profiles.widget-a.validity.days': must be a
 * positive integer" (syntax errors with Jansson's position; semantic errors
 * with the position of the offending key, located in the source text).
 * Relative paths in the file are resolved against the file's directory.
 * The result is read-only after load: any thread.
 *
 * Shape (deploy/examples/README.md documents every key, type and default):
 * {
 *   "state_dir": "state",                       // ledger and runtime files
 *   "ledger": "state/ledger.sqlite",            // optional, default STATE_DIR/ledger.sqlite
 *   "hsm": { "module": "/usr/lib/softhsm/libsofthsm2.so",
 *            "uri": "pkcs11:token=line1;object=issuing-ca?pin-source=file:hsm.pin",
 *            "pin_env": "CERTSTATION_HSM_PIN", "sessions": 4,
 *            "module_env": { "SOFTHSM2_CONF": "softhsm2.conf" } },
 *   "ca": { "certificate": "issuing-ca.pem", "chain": "root-ca.pem" },
 *   "issue_threads": 2,
 *   "default_profile": "device",
 *   "profiles": { "device": { ...struct profile... } },
 *   "line": { "fixture_map": "fixtures.json",    // optional file holding {"slots": [...]}
 *             "slots": [ { "name": "A1", "match": { "usb_serial": "FT4XY" },
 *                          "dialect": "frame", "baud": 115200, "profile": "device" } ],
 *             "timeouts": { "csr_ms": 30000, "readback_ms": 10000, ... } }
 * }
 */
#ifndef STATION_CONFIG_H
#define STATION_CONFIG_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "fixtures/fixture.h"
#include "fixtures/port.h"
#include "protocols/proto.h"
#include "station/cert.h"
#include "station/cs_error.h"
#include "station/csr.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_PROFILES 32
#define CONFIG_MAX_ENV 8
#define PROFILE_TEMPLATE_MAX 256 /* expanded subject/SAN value */

enum profile_reissue {
	PROFILE_REISSUE_SAME_KEY_ONLY = 0, /* default: new key for a known ID is refused */
	PROFILE_REISSUE_ALLOW_NEW_KEY,
};

enum profile_csr_ca {
	PROFILE_CSR_CA_REFUSE = 0, /* default: a CSR asking for CA:TRUE is refused */
	PROFILE_CSR_CA_IGNORE,     /* issue anyway, certificate still CA:FALSE */
};

struct profile_rdn {
	enum cert_rdn_type type;
	char *tmpl; /* may contain {device_id} and {lot} */
};

struct profile_san {
	enum cert_san_type type;
	char *tmpl;
};

struct profile {
	char *name;
	/* key types: bit (1u << enum csr_key_type) set if allowed; RSA also needs
	 * bits >= rsa_min_bits (never below 2048) */
	unsigned key_types;
	unsigned rsa_min_bits;
	char *device_id_pattern; /* POSIX ERE, anchored as given */
	regex_t device_id_re;
	int require_allowlist;
	struct profile_rdn subject[CERT_MAX_RDN];
	size_t subject_count;
	struct profile_san san[CERT_MAX_SAN];
	size_t san_count;
	int64_t validity_seconds;  /* 0 with not_after_forever */
	int64_t backdate_seconds;  /* notBefore = now - backdate */
	int not_after_forever;     /* IEEE 802.1AR IDevID: 99991231235959Z */
	unsigned key_usage;        /* CERT_KU_* */
	enum cert_eku eku[CERT_MAX_EKU];
	size_t eku_count;
	char *crl_urls[CERT_MAX_URLS];
	size_t crl_url_count;
	char *ocsp_urls[CERT_MAX_URLS];
	size_t ocsp_url_count;
	char *ca_issuers_urls[CERT_MAX_URLS];
	size_t ca_issuers_url_count;
	enum profile_reissue reissue;
	enum profile_csr_ca csr_ca;
	int chain_include_root;    /* append the root to the delivered chain */
	char *trust_bundle_file;   /* extra PEM certificates appended after the chain; NULL none */
	int rsa_pss;               /* for an RSA CA key: sign with PSS instead of PKCS#1 v1.5 */
};

struct config_env {
	char *name;
	char *value;
};

#define CONFIG_MAX_SLOTS FIXTURE_WATCH_MAX

/* One fixture slot: where its device is found and how to talk to it. */
struct slot_config {
	char *name;                  /* stays the same whichever /dev node the port is on */
	struct fixture_match match;
	enum proto_dialect dialect;
	struct port_settings line;
	char *profile;               /* NULL: the default profile */
	unsigned max_frame;          /* frame dialect: largest frame the station accepts */
};

/* The line: fixture slots and the exchange's timing rules. */
struct line_config {
	struct slot_config *slots;
	size_t slot_count;
	unsigned scan_interval_ms;   /* hot-plug poll */
	unsigned csr_timeout_ms;     /* CSR_REQUEST -> whole CSR (device key generation) */
	unsigned readback_timeout_ms;/* chain acknowledged -> READBACK */
	unsigned exchange_timeout_ms;/* any step: no progress at all for this long */
	unsigned ack_timeout_ms;     /* frame: resend after this plus the frame's wire time */
	unsigned retries;            /* frame: resends per frame */
	unsigned gap_ms;             /* after RESULT: ignore input this long (device removal) */
};

#define WEB_ALLOW_MAX 16

/* The dashboard server (web-ui/). */
struct web_config {
	int enabled;                 /* default 1 */
	char *host;                  /* "127.0.0.1" */
	unsigned port;               /* 8080 */
	char *users_path;            /* default "users.json" beside the config */
	char *tls_certificate;       /* NULL: plain HTTP */
	char *tls_key;
	char *allowed_hosts[WEB_ALLOW_MAX];   /* Host header values accepted (DNS rebinding) */
	size_t allowed_host_count;            /* default: 127.0.0.1:PORT, localhost:PORT, [::1]:PORT */
	char *allowed_origins[WEB_ALLOW_MAX]; /* Origin values accepted on writes */
	size_t allowed_origin_count;          /* default: http(s)://each allowed host */
	unsigned session_idle_minutes;        /* 480 */
	unsigned max_connections;             /* 64 */
	char *metrics_token_file;             /* NULL: /metrics without a token from loopback */
};

struct cs_config {
	char *path;      /* the file loaded */
	char *state_dir; /* absolute or relative to cwd after resolution */
	char *ledger_path;
	struct {
		char *module;
		char *uri;
		char *pin_env;
		unsigned sessions;
		struct config_env env[CONFIG_MAX_ENV]; /* set in the process before dlopen */
		size_t env_count;
	} hsm;
	char *ca_certificate;
	char *ca_chain; /* NULL: none */
	unsigned issue_threads;
	char *default_profile;
	struct profile profiles[CONFIG_MAX_PROFILES];
	size_t profile_count;
	struct line_config line; /* slot_count 0: no "line" section */
	struct web_config web;
};

/* Load and validate. NULL with err (CS_ERR_CONFIG / CS_ERR_IO) on failure. */
struct cs_config *config_load(const char *path, struct cs_err *err);
void config_free(struct cs_config *cfg);

/* Profile by name; NULL name means the default profile. NULL if none. */
const struct profile *config_profile(const struct cs_config *cfg, const char *name);

/* Expand {device_id} and {lot} in tmpl into out (capacity cap).
 * CS_ERR_TOO_LARGE if it does not fit; unknown placeholders are refused at load. */
int profile_expand(const char *tmpl, const char *device_id, const char *lot,
    char *out, size_t cap);

#endif
