/*
 * sim_dev.c: one simulated device's own work, with OpenSSL: its key, its
 * CSR (CN = device ID, the nonce as challengePassword), the check of the
 * chain it receives, its storage and the read-back hash. These are the
 * proto_device callbacks a real device's firmware would implement.
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

static double
sim_dev_ms_since(uint64_t t0_ns)
{
	return (double)(sim_now_ns() - t0_ns) / 1e6;
}

void
sim_dev_init(struct sim_dev *d, const char *id, uint64_t number, int key_type,
             enum sim_fault_kind fault, const char *store_dir)
{
	EVP_PKEY_free(d->key);
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->number = number;
	d->key_type = key_type;
	d->fault = fault;
	d->store_dir = store_dir;
}

void
sim_dev_clear(struct sim_dev *d)
{
	EVP_PKEY_free(d->key);
	d->key = NULL;
}

static EVP_PKEY *
sim_dev_keygen(int key_type)
{
	switch (key_type) {
	case PROTO_KEY_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case PROTO_KEY_P384:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	case PROTO_KEY_RSA2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case PROTO_KEY_RSA3072:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	}
	return NULL;
}

int
sim_dev_make_csr(struct sim_dev *d, const uint8_t nonce[PROTO_NONCE_LEN], uint8_t *out, size_t cap,
                 size_t *len)
{
	char hex[PROTO_DEVICE_NONCE_HEX_LEN + 1];
	X509_REQ *req = NULL;
	uint64_t t0;
	unsigned char *p;
	int n, rc = -1;

	if (d->key == NULL) {
		t0 = sim_now_ns();
		d->key = sim_dev_keygen(d->key_type);
		d->keygen_ms += sim_dev_ms_since(t0);
		if (d->key == NULL) {
			snprintf(d->detail, sizeof(d->detail), "key generation (%s) failed",
			         proto_key_type_name(d->key_type));
			return -1;
		}
	}
	t0 = sim_now_ns();
	proto_device_nonce_hex(nonce, hex);
	req = X509_REQ_new();
	if (req == NULL || X509_REQ_set_version(req, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
	                               (const unsigned char *)d->id, -1, -1, 0) != 1 ||
	    X509_REQ_set_pubkey(req, d->key) != 1 ||
	    X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, V_ASN1_PRINTABLESTRING,
	                              (const unsigned char *)hex,
	                              PROTO_DEVICE_NONCE_HEX_LEN) != 1 ||
	    X509_REQ_sign(req, d->key,
	                  d->key_type == PROTO_KEY_P384 ? EVP_sha384() : EVP_sha256()) <= 0) {
		snprintf(d->detail, sizeof(d->detail), "building the CSR failed");
		goto out;
	}
	n = i2d_X509_REQ(req, NULL);
	if (n <= 0 || (size_t)n > cap) {
		snprintf(d->detail, sizeof(d->detail), "CSR of %d bytes does not fit %zu", n, cap);
		goto out;
	}
	p = out;
	i2d_X509_REQ(req, &p);
	*len = (size_t)n;
	rc = 0;
out:
	d->csr_ms += sim_dev_ms_since(t0);
	X509_REQ_free(req);
	ERR_clear_error();
	return rc;
}

static int
sim_dev_cb_make_csr(void *ctx, const uint8_t nonce[PROTO_NONCE_LEN], uint8_t *out, size_t cap,
                    size_t *len)
{
	struct sim_dev *d = ctx;

	d->csr_requests++;
	if (d->fault == SIM_FAULT_REPLAY && d->replay_csr != NULL && d->replay_csr_len <= cap) {
		/* The key is still generated: a replaying device is a device too. */
		if (d->key == NULL && sim_dev_make_csr(d, nonce, out, cap, len) != 0)
			return -1;
		memcpy(out, d->replay_csr, d->replay_csr_len);
		*len = d->replay_csr_len;
	} else if (sim_dev_make_csr(d, nonce, out, cap, len) != 0) {
		return -1;
	}
	if (d->fault == SIM_FAULT_BAD_SIG)
		out[*len - 1] ^= 0x5a; /* last byte of the signature */
	memcpy(d->csr, out, *len);
	d->csr_len = *len;
	return 0;
}

/* The chain must be ours and hang together: leaf key = our key, each
 * certificate signed by the next, a self-signed last one by itself. */
static int
sim_dev_check_chain(struct sim_dev *d, const struct proto_msg *chain)
{
	X509 *certs[PROTO_CHAIN_CERTS_MAX] = {NULL};
	int rc = -1;

	for (size_t i = 0; i < chain->cert_count; i++) {
		const unsigned char *p = chain->certs[i].p;

		certs[i] = d2i_X509(NULL, &p, (long)chain->certs[i].len);
		if (certs[i] == NULL || p != chain->certs[i].p + chain->certs[i].len) {
			snprintf(d->detail, sizeof(d->detail),
			         "certificate %zu is not one DER certificate", i);
			goto out;
		}
	}
	if (d->key == NULL || EVP_PKEY_eq(X509_get0_pubkey(certs[0]), d->key) != 1) {
		snprintf(d->detail, sizeof(d->detail),
		         "the device certificate's public key is not the device's key");
		goto out;
	}
	for (size_t i = 0; i + 1 < chain->cert_count; i++) {
		if (X509_verify(certs[i], X509_get0_pubkey(certs[i + 1])) != 1) {
			snprintf(d->detail, sizeof(d->detail),
			         "certificate %zu is not signed by certificate %zu of the chain", i,
			         i + 1);
			goto out;
		}
	}
	{
		X509 *last = certs[chain->cert_count - 1];

		if (X509_check_issued(last, last) == X509_V_OK &&
		    X509_verify(last, X509_get0_pubkey(last)) != 1) {
			snprintf(d->detail, sizeof(d->detail),
			         "the self-signed last certificate's signature does not verify");
			goto out;
		}
	}
	rc = 0;
out:
	for (size_t i = 0; i < PROTO_CHAIN_CERTS_MAX; i++)
		X509_free(certs[i]);
	ERR_clear_error();
	return rc;
}

static int
sim_dev_store_path(const struct sim_dev *d, char *path, size_t cap)
{
	int n = snprintf(path, cap, "%s/%s.pem", d->store_dir, d->id);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Write the chain as PEM: what a device keeps in its flash. */
static int
sim_dev_store_file(struct sim_dev *d)
{
	char path[PATH_MAX];
	FILE *f;
	size_t off = 0;
	int rc = 0;

	if (sim_dev_store_path(d, path, sizeof(path)) != 0) {
		snprintf(d->detail, sizeof(d->detail), "store path too long");
		return -1;
	}
	f = fopen(path, "w");
	if (f == NULL) {
		snprintf(d->detail, sizeof(d->detail), "%.200s: cannot create", path);
		return -1;
	}
	for (size_t i = 0; i < d->cert_count && rc == 0; i++) {
		if (PEM_write(f, "CERTIFICATE", "", d->storage + off, (long)d->cert_len[i]) <= 0)
			rc = -1;
		off += d->cert_len[i];
	}
	if (fclose(f) != 0)
		rc = -1;
	if (rc != 0)
		snprintf(d->detail, sizeof(d->detail), "%.200s: write failed", path);
	return rc;
}

static int
sim_dev_cb_store_chain(void *ctx, const struct proto_msg *chain)
{
	struct sim_dev *d = ctx;
	size_t total = 0;

	for (size_t i = 0; i < chain->cert_count; i++)
		total += chain->certs[i].len;
	if (chain->cert_count == 0 || chain->cert_count > PROTO_CHAIN_CERTS_MAX ||
	    total > sizeof(d->storage)) {
		snprintf(d->detail, sizeof(d->detail),
		         "chain of %zu certificates, %zu bytes, too large", chain->cert_count,
		         total);
		return -1;
	}
	if (sim_dev_check_chain(d, chain) != 0)
		return -1;
	total = 0;
	for (size_t i = 0; i < chain->cert_count; i++) {
		memcpy(d->storage + total, chain->certs[i].p, chain->certs[i].len);
		d->cert_len[i] = chain->certs[i].len;
		total += chain->certs[i].len;
	}
	d->cert_count = chain->cert_count;
	if (d->store_dir != NULL)
		return sim_dev_store_file(d);
	return 0;
}

/* Hash the PEM file as read back: each block's decoded DER, in order. */
static int
sim_dev_readback_file(struct sim_dev *d, EVP_MD_CTX *md)
{
	char path[PATH_MAX];
	BIO *bio;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	size_t blocks = 0;
	int rc = 0;

	if (sim_dev_store_path(d, path, sizeof(path)) != 0)
		return -1;
	bio = BIO_new_file(path, "r");
	if (bio == NULL) {
		snprintf(d->detail, sizeof(d->detail), "%.200s: cannot read back", path);
		return -1;
	}
	while (rc == 0 && blocks < PROTO_CHAIN_CERTS_MAX &&
	       PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		if (EVP_DigestUpdate(md, data, (size_t)len) != 1)
			rc = -1;
		blocks++;
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	BIO_free(bio);
	ERR_clear_error(); /* PEM_read_bio's "no start line" at the end */
	if (blocks == 0) {
		snprintf(d->detail, sizeof(d->detail), "%.200s: no certificate read back", path);
		rc = -1;
	}
	return rc;
}

static int
sim_dev_cb_readback(void *ctx, uint8_t sha256[32])
{
	struct sim_dev *d = ctx;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int rc = -1;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	if (d->store_dir != NULL) {
		if (sim_dev_readback_file(d, md) != 0)
			goto out;
	} else {
		size_t total = 0;

		for (size_t i = 0; i < d->cert_count; i++)
			total += d->cert_len[i];
		if (EVP_DigestUpdate(md, d->storage, total) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(md, sha256, &n) != 1 || n != 32)
		goto out;
	if (d->fault == SIM_FAULT_WRONG_READBACK)
		sha256[0] ^= 0xff;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static void
sim_dev_cb_result(void *ctx, int reason, const char *text)
{
	struct sim_dev *d = ctx;

	d->ended = 1;
	d->reason = reason;
	snprintf(d->text, sizeof(d->text), "%s", text);
}

const struct proto_device_ops sim_dev_ops = {
    .make_csr = sim_dev_cb_make_csr,
    .store_chain = sim_dev_cb_store_chain,
    .readback = sim_dev_cb_readback,
    .result = sim_dev_cb_result,
};
