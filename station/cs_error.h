/*
 * cs_error.h: the project-wide error codes.
 *
 * Contract: functions return int: 0 (CS_OK) on success, a negative CS_ERR_*
 * on failure. Operations that refuse untrusted input or a request also fill a
 * struct cs_err with a sentence for the person on the floor or the engineer
 * at the log ("CSR key is P-521; profile 'widget-a' allows P-256, P-384").
 * cs_reason_name() gives the short stable token that the ledger stores as the
 * FAILED(reason) of an issuance and that the dashboard groups failures by.
 *
 * Every module in the project may include this header; it depends on nothing.
 */
#ifndef CS_ERROR_H
#define CS_ERROR_H

#include <stddef.h>

enum cs_status {
	CS_OK = 0,

	/* generic */
	CS_ERR_NOMEM = -1,
	CS_ERR_INVALID_ARG = -2,
	CS_ERR_IO = -3,
	CS_ERR_CONFIG = -4,
	CS_ERR_INTERNAL = -5,
	CS_ERR_BUSY = -6,    /* same device already in flight */
	CS_ERR_STOPPED = -7, /* component shutting down */
	CS_ERR_CLOCK = -8,   /* system clock implausible */
	CS_ERR_TOO_LARGE = -9,
	CS_ERR_NOT_FOUND = -10,

	/* the device's request */
	CS_ERR_CSR_TOO_LARGE = -20,
	CS_ERR_CSR_MALFORMED = -21,
	CS_ERR_CSR_SIGNATURE = -22, /* proof of possession failed */
	CS_ERR_CSR_KEY_TYPE = -23,  /* key type not allowed by profile */
	CS_ERR_CSR_UNSUPPORTED = -24,

	/* policy */
	CS_ERR_POLICY_PROFILE = -30,      /* unknown profile */
	CS_ERR_POLICY_DEVICE_ID = -31,    /* device ID fails profile regex */
	CS_ERR_POLICY_NOT_ALLOWED = -32,  /* device ID not on the work-order allowlist */
	CS_ERR_POLICY_QUOTA = -33,        /* lot quota exhausted */
	CS_ERR_POLICY_REISSUE = -34,      /* same device ID, new key, re-issue not allowed */
	CS_ERR_POLICY_CA_REQUEST = -35,   /* CSR asks for CA:TRUE and profile refuses */
	CS_ERR_POLICY_LINT = -36,         /* to-be-signed certificate failed pre-issuance checks */
	CS_ERR_POLICY_DEVICE_FAILED = -37,/* device ID is marked failed/blocked */

	/* HSM */
	CS_ERR_HSM_MODULE = -50,         /* module cannot be loaded or initialised */
	CS_ERR_HSM_TOKEN_NOT_FOUND = -51,
	CS_ERR_HSM_PIN_INCORRECT = -52,
	CS_ERR_HSM_PIN_LOCKED = -53,
	CS_ERR_HSM_KEY_NOT_FOUND = -54,
	CS_ERR_HSM_KEY_EXTRACTABLE = -55,
	CS_ERR_HSM_KEY_MISMATCH = -56,   /* CA certificate does not match HSM key */
	CS_ERR_HSM_DOWN = -57,           /* token gone / sessions cannot be reopened */
	CS_ERR_HSM_SIGN = -58,           /* C_Sign failed */
	CS_ERR_HSM_BAD_SIGNATURE = -59,  /* HSM signature did not verify with CA key */
	CS_ERR_HSM_UNSUPPORTED = -60,    /* key type / mechanism not supported */
	CS_ERR_HSM_PIN_SOURCE = -61,     /* PIN file/env missing or unreadable */

	/* ledger */
	CS_ERR_LEDGER_IO = -70,
	CS_ERR_LEDGER_CORRUPT = -71,
	CS_ERR_LEDGER_CONFLICT = -72,    /* unique constraint (serial) */
	CS_ERR_LEDGER_TAMPERED = -73,    /* audit chain broken */

	/* ports */
	CS_ERR_PORT_NOT_FOUND = -80,     /* no such port / no port matches the slot's rule */
	CS_ERR_PORT_OPEN = -81,          /* port exists but cannot be opened or configured */
	CS_ERR_PORT_GONE = -82,          /* device unplugged / peer closed mid-use */
	CS_ERR_TIMEOUT = -83,            /* a bounded wait expired */

	/* the device exchange (FAILED reasons of the line) */
	CS_ERR_DEVICE_TIMEOUT = -90,     /* device stopped answering (stall) */
	CS_ERR_DEVICE_GONE = -91,        /* device disconnected mid-exchange */
	CS_ERR_DEVICE_PROTOCOL = -92,    /* garbage, malformed or unexpected messages */
	CS_ERR_DEVICE_TOO_LARGE = -93,   /* oversized frame or message */
	CS_ERR_DEVICE_READBACK = -94,    /* device read back something else than delivered */
	CS_ERR_DEVICE_ERROR = -95,       /* device reported a failure of its own */
	CS_ERR_CSR_NONCE = -96,          /* CSR lacks this exchange's nonce (replayed or stale) */
	CS_ERR_ABORTED = -97,            /* slot paused or station stopping mid-exchange */
	CS_ERR_DEVICE_VERSION = -98,     /* device speaks an unsupported protocol version */
};

#define CS_ERR_MSG_MAX 512

/* A refusal or failure with its human sentence. code mirrors the return value. */
struct cs_err {
	int code;
	char msg[CS_ERR_MSG_MAX];
};

/* Static English text for a code; never NULL. */
const char *cs_strerror(int code);

/* Stable lower-case token for a code, e.g. "csr-signature"; never NULL.
 * Stored in the ledger as the FAILED reason; do not rename. */
const char *cs_reason_name(int code);

/* Fill err (may be NULL) with code and a printf-style message; returns code
 * so that callers can write `return cs_err_set(err, CS_ERR_X, "...", ...);`. */
int cs_err_set(struct cs_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Clear err (may be NULL). */
void cs_err_clear(struct cs_err *err);

#endif
