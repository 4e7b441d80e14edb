/*
 * fuzz_csr.c: untrusted request bytes through csr_decode, csr_parse and
 * csr_verify, as the station runs them; a parsed key's SPKI also goes
 * through cert_ski_from_spki, which reads it again when a certificate is
 * built.
 */
#include <stddef.h>
#include <stdint.h>

#include "station/cert.h"
#include "station/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t der[CSR_MAX_DER];
	struct csr csr;
	struct cs_err err;
	uint8_t ski[20];
	size_t len;

	if (csr_decode(data, size, der, sizeof(der), &len, &err) != 0)
		return 0;
	if (csr_parse(der, len, &csr, &err) != 0)
		return 0;
	(void)csr_verify(&csr, &err);
	(void)cert_ski_from_spki(csr.spki.p, csr.spki.len, ski);
	return 0;
}
