/*
 * proto_names.c: names of statuses, message types, reason codes and key
 * types (see proto.h). The reason and key-type tokens are stable: they
 * appear in logs, in the ledger's sentences and on the text dialect's wire.
 */
#include "protocols/proto.h"

#include <string.h>

const char *
proto_status_name(int status)
{
	switch (status) {
	case PROTO_OK:
		return "ok";
	case PROTO_E_ARG:
		return "arg";
	case PROTO_E_SPACE:
		return "space";
	case PROTO_E_MALFORMED:
		return "malformed";
	case PROTO_E_TOO_LARGE:
		return "too-large";
	case PROTO_E_CRC:
		return "crc";
	case PROTO_E_TIMEOUT:
		return "timeout";
	case PROTO_E_BUSY:
		return "busy";
	case PROTO_E_UNEXPECTED:
		return "unexpected";
	default:
		return "?";
	}
}

const char *
proto_type_name(int type)
{
	switch (type) {
	case PROTO_HELLO:
		return "HELLO";
	case PROTO_CSR_REQUEST:
		return "CSR_REQUEST";
	case PROTO_CSR:
		return "CSR";
	case PROTO_CHAIN:
		return "CHAIN";
	case PROTO_READBACK:
		return "READBACK";
	case PROTO_RESULT:
		return "RESULT";
	case PROTO_ERROR:
		return "ERROR";
	case PROTO_ACK:
		return "ACK";
	case PROTO_NAK:
		return "NAK";
	default:
		return "?";
	}
}

const char *
proto_reason_name(int reason)
{
	switch (reason) {
	case PROTO_R_OK:
		return "ok";
	case PROTO_R_PROTOCOL:
		return "protocol";
	case PROTO_R_TIMEOUT:
		return "timeout";
	case PROTO_R_TOO_LARGE:
		return "too-large";
	case PROTO_R_CSR_REFUSED:
		return "csr-refused";
	case PROTO_R_NONCE:
		return "nonce";
	case PROTO_R_POLICY:
		return "policy";
	case PROTO_R_READBACK:
		return "readback";
	case PROTO_R_STATION:
		return "station";
	case PROTO_R_DEVICE:
		return "device";
	case PROTO_R_ABORTED:
		return "aborted";
	case PROTO_R_VERSION:
		return "version";
	default:
		return "unknown";
	}
}

static const char *const key_type_names[] = {
    [PROTO_KEY_UNKNOWN] = "unknown", [PROTO_KEY_P256] = "p256",
    [PROTO_KEY_P384] = "p384",       [PROTO_KEY_RSA2048] = "rsa2048",
    [PROTO_KEY_RSA3072] = "rsa3072", [PROTO_KEY_RSA4096] = "rsa4096",
};

#define KEY_TYPE_COUNT (sizeof(key_type_names) / sizeof(key_type_names[0]))

const char *
proto_key_type_name(int kt)
{
	if (kt < 0 || (size_t)kt >= KEY_TYPE_COUNT)
		return "unknown";
	return key_type_names[kt];
}

/* ASCII only, so it behaves the same in firmware without a locale. */
static int
lower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int
proto_key_type_parse(const char *s)
{
	size_t i, j;

	if (s == NULL)
		return PROTO_KEY_UNKNOWN;
	for (i = 1; i < KEY_TYPE_COUNT; i++) {
		const char *name = key_type_names[i];

		for (j = 0; name[j] != '\0' && lower_ascii((unsigned char)s[j]) == name[j]; j++)
			;
		if (name[j] == '\0' && s[j] == '\0')
			return (int)i;
	}
	return PROTO_KEY_UNKNOWN;
}
