#include "station/cs_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct cs_error_entry {
	int code;
	const char *reason; /* stable token, stored in the ledger */
	const char *text;
};

static const struct cs_error_entry cs_errors[] = {
	{CS_OK, "ok", "success"},
	{CS_ERR_NOMEM, "out-of-memory", "out of memory"},
	{CS_ERR_INVALID_ARG, "invalid-argument", "invalid argument"},
	{CS_ERR_IO, "io", "input/output error"},
	{CS_ERR_CONFIG, "config", "configuration error"},
	{CS_ERR_INTERNAL, "internal", "internal error"},
	{CS_ERR_BUSY, "busy", "an issuance for this device is already in progress"},
	{CS_ERR_STOPPED, "stopped", "station is shutting down"},
	{CS_ERR_CLOCK, "clock", "system clock is implausible"},
	{CS_ERR_TOO_LARGE, "too-large", "input exceeds its size limit"},
	{CS_ERR_NOT_FOUND, "not-found", "not found"},
	{CS_ERR_CSR_TOO_LARGE, "csr-too-large", "CSR exceeds the size limit"},
	{CS_ERR_CSR_MALFORMED, "csr-malformed", "CSR is not a well-formed PKCS#10 request"},
	{CS_ERR_CSR_SIGNATURE, "csr-signature", "CSR signature does not verify (no proof of possession)"},
	{CS_ERR_CSR_KEY_TYPE, "csr-key-type", "CSR key type is not allowed by the profile"},
	{CS_ERR_CSR_UNSUPPORTED, "csr-unsupported", "CSR uses an unsupported algorithm"},
	{CS_ERR_POLICY_PROFILE, "profile-unknown", "no such profile"},
	{CS_ERR_POLICY_DEVICE_ID, "device-id-rejected", "device ID does not match the profile's rule"},
	{CS_ERR_POLICY_NOT_ALLOWED, "device-not-allowlisted", "device ID is not on the work-order allowlist"},
	{CS_ERR_POLICY_QUOTA, "lot-quota-exhausted", "the lot's certificate quota is used up"},
	{CS_ERR_POLICY_REISSUE, "reissue-refused", "device ID already has a certificate for another key"},
	{CS_ERR_POLICY_CA_REQUEST, "csr-requests-ca", "CSR asks for a CA certificate"},
	{CS_ERR_POLICY_LINT, "precheck-failed", "to-be-signed certificate failed pre-issuance checks"},
	{CS_ERR_POLICY_DEVICE_FAILED, "device-blocked", "device ID is blocked"},
	{CS_ERR_HSM_MODULE, "hsm-module", "PKCS#11 module cannot be loaded or initialised"},
	{CS_ERR_HSM_TOKEN_NOT_FOUND, "hsm-token-not-found", "HSM token not found"},
	{CS_ERR_HSM_PIN_INCORRECT, "hsm-pin-incorrect", "HSM PIN is incorrect"},
	{CS_ERR_HSM_PIN_LOCKED, "hsm-pin-locked", "HSM PIN is locked"},
	{CS_ERR_HSM_KEY_NOT_FOUND, "hsm-key-not-found", "HSM key not found"},
	{CS_ERR_HSM_KEY_EXTRACTABLE, "hsm-key-extractable", "HSM key is extractable or not sensitive"},
	{CS_ERR_HSM_KEY_MISMATCH, "hsm-key-mismatch", "CA certificate does not match the HSM key"},
	{CS_ERR_HSM_DOWN, "hsm-down", "HSM is not available"},
	{CS_ERR_HSM_SIGN, "hsm-sign", "HSM signing failed"},
	{CS_ERR_HSM_BAD_SIGNATURE, "hsm-bad-signature", "HSM signature does not verify with the CA key"},
	{CS_ERR_HSM_UNSUPPORTED, "hsm-unsupported", "HSM key type or mechanism not supported"},
	{CS_ERR_HSM_PIN_SOURCE, "hsm-pin-source", "HSM PIN source missing or unreadable"},
	{CS_ERR_LEDGER_IO, "ledger-io", "ledger cannot be written"},
	{CS_ERR_LEDGER_CORRUPT, "ledger-corrupt", "ledger is corrupt"},
	{CS_ERR_LEDGER_CONFLICT, "ledger-conflict", "ledger uniqueness conflict"},
	{CS_ERR_LEDGER_TAMPERED, "ledger-tampered", "ledger audit chain is broken"},
	{CS_ERR_PORT_NOT_FOUND, "port-not-found", "port not found"},
	{CS_ERR_PORT_OPEN, "port-open", "port cannot be opened or configured"},
	{CS_ERR_PORT_GONE, "port-gone", "port disappeared"},
	{CS_ERR_TIMEOUT, "timeout", "timed out"},
	{CS_ERR_DEVICE_TIMEOUT, "device-timeout", "device stopped answering"},
	{CS_ERR_DEVICE_GONE, "device-gone", "device disconnected mid-exchange"},
	{CS_ERR_DEVICE_PROTOCOL, "device-protocol", "device broke the protocol"},
	{CS_ERR_DEVICE_TOO_LARGE, "device-too-large", "device sent an oversized frame or message"},
	{CS_ERR_DEVICE_READBACK, "readback-mismatch", "device read back a different chain"},
	{CS_ERR_DEVICE_ERROR, "device-error", "device reported a failure"},
	{CS_ERR_CSR_NONCE, "csr-nonce", "CSR does not carry this exchange's nonce"},
	{CS_ERR_ABORTED, "aborted", "exchange aborted by the station"},
	{CS_ERR_DEVICE_VERSION, "device-version", "device protocol version not supported"},
};

static const struct cs_error_entry *
cs_error_find(int code)
{
	for (size_t i = 0; i < sizeof(cs_errors) / sizeof(cs_errors[0]); i++)
		if (cs_errors[i].code == code)
			return &cs_errors[i];
	return NULL;
}

const char *
cs_strerror(int code)
{
	const struct cs_error_entry *e = cs_error_find(code);
	return e != NULL ? e->text : "unknown error";
}

const char *
cs_reason_name(int code)
{
	const struct cs_error_entry *e = cs_error_find(code);
	return e != NULL ? e->reason : "unknown";
}

int
cs_err_set(struct cs_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
cs_err_clear(struct cs_err *err)
{
	if (err == NULL)
		return;
	err->code = CS_OK;
	err->msg[0] = '\0';
}
