/*
 * ledger_audit.c: the audit trail's canonical payload, its hash chain, and
 * ledger_verify().
 *
 * DESIGN: every op appends one audit row whose payload is the canonical text
 * of the issuance row as stored after the op; hash = SHA-256(prev_hash ||
 * seq || payload), and audit_head (updated in the same transaction) holds
 * the last seq and hash. ledger_verify() walks the chain and then rebuilds
 * each issuance row's payload and compares it with its latest audit row.
 *
 * This is tamper-evidence against edits made with ordinary database tools
 * that do not recompute the chain: an edited, deleted, reordered or
 * truncated audit row, or an issuance row (or its certificate) changed
 * behind the ledger's back. Someone with write access who recomputes every
 * hash and the head is out of scope here; anchoring the head outside the
 * file (an HSM-signed head, or a head exported off the station) is the next
 * step.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "station/ledger_int.h"

static const char *const state_names[] = {
	[LEDGER_RESERVED] = "RESERVED",
	[LEDGER_SIGNED] = "SIGNED",
	[LEDGER_INJECTED] = "INJECTED",
	[LEDGER_VERIFIED] = "VERIFIED",
	[LEDGER_FAILED] = "FAILED",
};

const char *
ledger_state_name(enum ledger_state s)
{
	if ((int)s < LEDGER_RESERVED || (int)s > LEDGER_FAILED)
		return "UNKNOWN";
	return state_names[s];
}

enum ledger_state
ledger_state_parse(const char *name)
{
	int s;

	if (name == NULL)
		return 0;
	for (s = LEDGER_RESERVED; s <= LEDGER_FAILED; s++)
		if (strcmp(name, state_names[s]) == 0)
			return (enum ledger_state)s;
	return 0;
}

void
ledger_hex(const uint8_t *p, size_t n, char *out, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
copy_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n;

	dst[0] = '\0';
	if (t == NULL)
		return;
	n = (size_t)sqlite3_column_bytes(st, col);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, t, n);
	dst[n] = '\0';
}

static int
copy_blob(sqlite3_stmt *st, int col, uint8_t *dst, size_t len)
{
	const void *b = sqlite3_column_blob(st, col);

	memset(dst, 0, len);
	if (b == NULL || (size_t)sqlite3_column_bytes(st, col) != len)
		return 0;
	memcpy(dst, b, len);
	return 1;
}

int
ledger_row_read(sqlite3_stmt *st, struct ledger_record *rec)
{
	const void *cert;
	int n;

	memset(rec, 0, sizeof(*rec));
	rec->id = sqlite3_column_int64(st, LEDGER_COL_ID);
	rec->state = ledger_state_parse((const char *)sqlite3_column_text(st, LEDGER_COL_STATE));
	if (rec->state == 0)
		return CS_ERR_LEDGER_CORRUPT;
	copy_text(st, LEDGER_COL_DEVICE_ID, rec->device_id, sizeof(rec->device_id));
	copy_text(st, LEDGER_COL_PROFILE, rec->profile, sizeof(rec->profile));
	copy_text(st, LEDGER_COL_LOT, rec->lot, sizeof(rec->lot));
	copy_text(st, LEDGER_COL_FIXTURE, rec->fixture, sizeof(rec->fixture));
	copy_text(st, LEDGER_COL_SLOT, rec->slot, sizeof(rec->slot));
	rec->has_serial = copy_blob(st, LEDGER_COL_SERIAL, rec->serial, sizeof(rec->serial));
	copy_blob(st, LEDGER_COL_PUBKEY, rec->pubkey_sha256, sizeof(rec->pubkey_sha256));
	copy_blob(st, LEDGER_COL_CSR, rec->csr_sha256, sizeof(rec->csr_sha256));
	rec->not_before = sqlite3_column_int64(st, LEDGER_COL_NOT_BEFORE);
	rec->not_after = sqlite3_column_int64(st, LEDGER_COL_NOT_AFTER);
	rec->created_at = sqlite3_column_int64(st, LEDGER_COL_CREATED);
	rec->updated_at = sqlite3_column_int64(st, LEDGER_COL_UPDATED);
	rec->duration_us = sqlite3_column_int64(st, LEDGER_COL_DURATION);
	copy_text(st, LEDGER_COL_REASON, rec->reason, sizeof(rec->reason));
	copy_text(st, LEDGER_COL_REASON_TEXT, rec->reason_text, sizeof(rec->reason_text));
	copy_text(st, LEDGER_COL_TIMINGS, rec->timings, sizeof(rec->timings));
	cert = sqlite3_column_blob(st, LEDGER_COL_CERT);
	n = sqlite3_column_bytes(st, LEDGER_COL_CERT);
	if (cert != NULL && n > 0) {
		rec->cert_der = malloc((size_t)n);
		if (rec->cert_der == NULL)
			return CS_ERR_NOMEM;
		memcpy(rec->cert_der, cert, (size_t)n);
		rec->cert_len = (size_t)n;
	}
	return 0;
}

void
ledger_record_clear(struct ledger_record *rec)
{
	if (rec == NULL)
		return;
	free(rec->cert_der);
	rec->cert_der = NULL;
	rec->cert_len = 0;
}

/* A growable text buffer for the payload; rows are small, so no ceiling
 * beyond what SQLite already bounds a value to. The builders below run on
 * the writer thread twice per issuance, so they copy runs of bytes rather
 * than formatting one character at a time. */
struct pbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
pbuf_put(struct pbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 512;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
pbuf_key(struct pbuf *b, const char *key)
{
	char k[32];
	size_t n = strlen(key);

	/* every key is a short literal; one copy for "key=" */
	if (n < sizeof(k)) {
		memcpy(k, key, n);
		k[n] = '=';
		pbuf_put(b, k, n + 1);
		return;
	}
	pbuf_put(b, key, n);
	pbuf_put(b, "=", 1);
}

static int
byte_plain(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '%';
}

/* Escaped so that a value can never forge a line or a key. */
static void
pbuf_escaped(struct pbuf *b, const unsigned char *s, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t i = 0, run;

	while (i < n) {
		for (run = i; run < n && byte_plain(s[run]); run++)
			;
		if (run > i)
			pbuf_put(b, (const char *)&s[i], run - i);
		if (run < n) {
			char e[3] = {'%', digits[s[run] >> 4], digits[s[run] & 15]};

			pbuf_put(b, e, 3);
			run++;
		}
		i = run;
	}
}

/* "%lld\n" of v, without the printf machinery. */
static void
pbuf_int(struct pbuf *b, const char *key, int64_t v)
{
	char num[24];
	size_t o = sizeof(num);
	/* magnitude as unsigned: -INT64_MIN does not fit an int64_t */
	uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	pbuf_key(b, key);
	num[--o] = '\n';
	do {
		num[--o] = (char)('0' + m % 10);
		m /= 10;
	} while (m != 0);
	if (v < 0)
		num[--o] = '-';
	pbuf_put(b, num + o, sizeof(num) - o);
}

static void
payload_text(struct pbuf *b, sqlite3_stmt *st, int col, const char *key)
{
	const unsigned char *t;

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	t = sqlite3_column_text(st, col);
	pbuf_key(b, key);
	pbuf_escaped(b, t, (size_t)sqlite3_column_bytes(st, col));
	pbuf_put(b, "\n", 1);
}

static void
payload_int(struct pbuf *b, sqlite3_stmt *st, int col, const char *key)
{
	int type = sqlite3_column_type(st, col);

	if (type == SQLITE_NULL)
		return;
	if (type != SQLITE_INTEGER) {
		/* Not what the ledger writes: keep it visible and different. */
		pbuf_key(b, key);
		pbuf_put(b, "?", 1);
		pbuf_escaped(b, sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
		pbuf_put(b, "\n", 1);
		return;
	}
	pbuf_int(b, key, sqlite3_column_int64(st, col));
}

static void
payload_hex(struct pbuf *b, sqlite3_stmt *st, int col, const char *key)
{
	const uint8_t *p;
	size_t i, n;

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	p = sqlite3_column_blob(st, col);
	n = (size_t)sqlite3_column_bytes(st, col);
	pbuf_key(b, key);
	for (i = 0; i < n;) {
		char h[2 * 64 + 1];
		size_t chunk = n - i < 64 ? n - i : 64;

		ledger_hex(&p[i], chunk, h, 0);
		pbuf_put(b, h, 2 * chunk);
		i += chunk;
	}
	pbuf_put(b, "\n", 1);
}

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the
 * implementation up again on every digest, a lock and a hash-table probe
 * per call on the writer's hot path. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
sha256_get(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md != NULL ? sha256_md : EVP_sha256();
}

static int
sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, sha256_get(), NULL) != 1 || len != 32)
		return CS_ERR_INTERNAL;
	return 0;
}

int
ledger_payload_build(sqlite3_stmt *st, const char *event, int64_t at, char **out,
    size_t *out_len)
{
	struct pbuf b = {0};

	*out = NULL;
	*out_len = 0;
	/* one allocation for a typical row (about 600 bytes with a certificate) */
	b.p = malloc(1024);
	if (b.p == NULL)
		return CS_ERR_NOMEM;
	b.cap = 1024;
	pbuf_int(&b, "v", 1);
	pbuf_key(&b, "event");
	pbuf_escaped(&b, (const unsigned char *)event, strlen(event));
	pbuf_put(&b, "\n", 1);
	pbuf_int(&b, "issuance", sqlite3_column_int64(st, LEDGER_COL_ID));
	pbuf_int(&b, "at", at);
	payload_text(&b, st, LEDGER_COL_STATE, "state");
	payload_text(&b, st, LEDGER_COL_DEVICE_ID, "device_id");
	payload_text(&b, st, LEDGER_COL_PROFILE, "profile");
	payload_text(&b, st, LEDGER_COL_LOT, "lot");
	payload_text(&b, st, LEDGER_COL_FIXTURE, "fixture");
	payload_text(&b, st, LEDGER_COL_SLOT, "slot");
	payload_hex(&b, st, LEDGER_COL_SERIAL, "serial");
	payload_hex(&b, st, LEDGER_COL_PUBKEY, "pubkey_sha256");
	payload_hex(&b, st, LEDGER_COL_CSR, "csr_sha256");
	payload_int(&b, st, LEDGER_COL_NOT_BEFORE, "not_before");
	payload_int(&b, st, LEDGER_COL_NOT_AFTER, "not_after");
	if (sqlite3_column_type(st, LEDGER_COL_CERT) != SQLITE_NULL) {
		uint8_t h[32];
		char hex[65];
		const void *c = sqlite3_column_blob(st, LEDGER_COL_CERT);
		size_t n = (size_t)sqlite3_column_bytes(st, LEDGER_COL_CERT);

		if (sha256(c != NULL ? c : "", n, h) != 0) {
			free(b.p);
			return CS_ERR_INTERNAL;
		}
		ledger_hex(h, 32, hex, 0);
		pbuf_key(&b, "cert_sha256");
		pbuf_put(&b, hex, 64);
		pbuf_put(&b, "\n", 1);
	}
	payload_int(&b, st, LEDGER_COL_CREATED, "created_at");
	payload_int(&b, st, LEDGER_COL_UPDATED, "updated_at");
	payload_int(&b, st, LEDGER_COL_DURATION, "duration_us");
	payload_text(&b, st, LEDGER_COL_REASON, "reason");
	payload_text(&b, st, LEDGER_COL_REASON_TEXT, "reason_text");
	payload_hex(&b, st, LEDGER_COL_READBACK, "readback_sha256");
	payload_text(&b, st, LEDGER_COL_TIMINGS, "timings");
	if (b.oom) {
		free(b.p);
		return CS_ERR_NOMEM;
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}

int
ledger_chain_hash(const uint8_t prev[LEDGER_HASH_LEN], int64_t seq, const char *payload,
    size_t payload_len, uint8_t out[LEDGER_HASH_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t be[8];
	unsigned int len = 0;
	int i, rc = CS_ERR_INTERNAL;

	if (ctx == NULL)
		return CS_ERR_NOMEM;
	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)((uint64_t)seq >> (56 - 8 * i));
	if (EVP_DigestInit_ex(ctx, sha256_get(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, prev, LEDGER_HASH_LEN) == 1 &&
	    EVP_DigestUpdate(ctx, be, sizeof(be)) == 1 &&
	    EVP_DigestUpdate(ctx, payload, payload_len) == 1 &&
	    EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == LEDGER_HASH_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

sqlite3 *
ledger_db_open_ro(const char *path, struct cs_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, version = -1;

	if (path == NULL) {
		cs_err_set(err, CS_ERR_INVALID_ARG, "ledger path is NULL");
		return NULL;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		cs_err_set(err, CS_ERR_LEDGER_IO, "ledger %s cannot be opened: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db, LEDGER_BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		cs_err_set(err, CS_ERR_LEDGER_IO, "ledger %s cannot be read: %s", path,
		    sqlite3_errmsg(db));
		goto fail;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version != LEDGER_SCHEMA_VERSION) {
		cs_err_set(err, CS_ERR_LEDGER_CORRUPT,
		    "ledger %s has schema version %d; this station reads version %d", path,
		    version, LEDGER_SCHEMA_VERSION);
		goto fail;
	}
	return db;
fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

/* Printable, bounded rendering of a payload value for an error message. */
static void
value_show(const char *v, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	if (v == NULL) {
		snprintf(out, cap, "(absent)");
		return;
	}
	for (i = 0; i < n && o + 4 < cap; i++)
		out[o++] = v[i];
	if (i < n && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Value of key in a payload ("key=value\n" lines), or NULL. */
static const char *
payload_find(const char *payload, const char *key, size_t *n)
{
	size_t klen = strlen(key);
	const char *p = payload;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t llen = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (llen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			*n = llen - klen - 1;
			return p + klen + 1;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	*n = 0;
	return NULL;
}

static const char *const payload_keys[] = {
	"v", "event", "issuance", "at", "state", "device_id", "profile", "lot", "fixture",
	"slot", "serial", "pubkey_sha256", "csr_sha256", "not_before", "not_after",
	"cert_sha256", "created_at", "updated_at", "duration_us", "reason", "reason_text",
	"readback_sha256",
};

/* First key whose value differs between two payloads; "payload" if the
 * difference is outside the known keys. */
static const char *
payload_diff(const char *a, const char *b, const char **va, size_t *na, const char **vb,
    size_t *nb)
{
	size_t i;

	for (i = 0; i < sizeof(payload_keys) / sizeof(payload_keys[0]); i++) {
		*va = payload_find(a, payload_keys[i], na);
		*vb = payload_find(b, payload_keys[i], nb);
		if ((*va == NULL) != (*vb == NULL))
			return payload_keys[i];
		if (*va != NULL && (*na != *nb || memcmp(*va, *vb, *na) != 0))
			return payload_keys[i];
	}
	*va = *vb = NULL;
	*na = *nb = 0;
	return "payload";
}

static int
db_fail(struct cs_err *err, sqlite3 *db, const char *what)
{
	return cs_err_set(err, CS_ERR_LEDGER_IO, "ledger verify: %s: %s", what, sqlite3_errmsg(db));
}

/* Walk audit rows in seq order; leaves the last seq and hash in *seq/hash. */
static int
verify_chain(sqlite3 *db, int64_t *rows, int64_t *last_seq, uint8_t hash[32], struct cs_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t expect = 1;
	int rc = 0, step;

	memset(hash, 0, 32);
	*rows = 0;
	*last_seq = 0;
	if (sqlite3_prepare_v2(db,
		"SELECT seq, at, issuance_id, event, payload, prev_hash, hash FROM audit "
		"ORDER BY seq",
		-1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(err, db, "reading the audit trail");
		goto out;
	}
	for (;;) {
		int64_t seq;
		const char *payload, *event;
		const void *prev, *stored;
		size_t plen;
		int prev_len, stored_len;
		const char *v;
		size_t vn;
		uint8_t h[32];
		char num[32];

		step = sqlite3_step(st);
		if (step != SQLITE_ROW)
			break;
		seq = sqlite3_column_int64(st, 0);
		event = (const char *)sqlite3_column_text(st, 3);
		payload = (const char *)sqlite3_column_text(st, 4);
		plen = (size_t)sqlite3_column_bytes(st, 4);
		prev = sqlite3_column_blob(st, 5);
		prev_len = sqlite3_column_bytes(st, 5);
		stored = sqlite3_column_blob(st, 6);
		stored_len = sqlite3_column_bytes(st, 6);
		if (seq != expect) {
			rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
			    "audit seq %lld is missing (the row after seq %lld is seq %lld): rows "
			    "were deleted",
			    (long long)expect, (long long)(expect - 1), (long long)seq);
			goto out;
		}
		if (payload == NULL || prev == NULL || prev_len != 32 ||
		    memcmp(prev, hash, 32) != 0) {
			rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
			    "audit seq %lld: prev_hash does not match the hash of seq %lld",
			    (long long)seq, (long long)(seq - 1));
			goto out;
		}
		rc = ledger_chain_hash(hash, seq, payload, plen, h);
		if (rc != 0) {
			cs_err_set(err, rc, "ledger verify: SHA-256 failed");
			goto out;
		}
		if (stored == NULL || stored_len != 32 || memcmp(stored, h, 32) != 0) {
			rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
			    "audit seq %lld: stored hash does not match the row's contents (row "
			    "edited)",
			    (long long)seq);
			goto out;
		}
		/* The columns beside the payload are for queries; they must agree. */
		v = payload_find(payload, "event", &vn);
		if (event == NULL || v == NULL || strlen(event) != vn || memcmp(v, event, vn) != 0) {
			rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
			    "audit seq %lld: event column '%s' disagrees with its payload",
			    (long long)seq, event != NULL ? event : "(null)");
			goto out;
		}
		snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, 2));
		v = payload_find(payload, "issuance", &vn);
		if (v == NULL || strlen(num) != vn || memcmp(v, num, vn) != 0) {
			rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
			    "audit seq %lld: issuance_id column %s disagrees with its payload",
			    (long long)seq, num);
			goto out;
		}
		snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, 1));
		v = payload_find(payload, "at", &vn);
		if (v == NULL || strlen(num) != vn || memcmp(v, num, vn) != 0) {
			rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
			    "audit seq %lld: at column %s disagrees with its payload",
			    (long long)seq, num);
			goto out;
		}
		memcpy(hash, h, 32);
		*last_seq = seq;
		(*rows)++;
		expect++;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(err, db, "reading the audit trail");
out:
	sqlite3_finalize(st);
	return rc;
}

static int
verify_head(sqlite3 *db, int64_t last_seq, const uint8_t hash[32], int64_t *head_seq,
    struct cs_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step;
	const void *h;

	if (sqlite3_prepare_v2(db, "SELECT seq, hash FROM audit_head", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = db_fail(err, db, "reading audit_head");
		goto out;
	}
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
		    "audit_head row is missing (the audit trail has %lld rows)",
		    (long long)last_seq);
		goto out;
	}
	if (step != SQLITE_ROW) {
		rc = db_fail(err, db, "reading audit_head");
		goto out;
	}
	*head_seq = sqlite3_column_int64(st, 0);
	h = sqlite3_column_blob(st, 1);
	if (*head_seq != last_seq) {
		rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
		    "audit trail ends at seq %lld but audit_head records seq %lld (%s)",
		    (long long)last_seq, (long long)*head_seq,
		    last_seq < *head_seq ? "rows at the tail were deleted" : "audit_head edited");
		goto out;
	}
	if (h == NULL || sqlite3_column_bytes(st, 1) != 32 || memcmp(h, hash, 32) != 0) {
		rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
		    "audit seq %lld: hash differs from the one recorded in audit_head",
		    (long long)last_seq);
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED, "audit_head has more than one row");
		goto out;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* Every audit row must point at an existing issuance row. */
static int
verify_orphans(sqlite3 *db, struct cs_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	if (sqlite3_prepare_v2(db,
		"SELECT a.seq, a.issuance_id FROM audit a LEFT JOIN issuance i "
		"ON i.id = a.issuance_id WHERE i.id IS NULL ORDER BY a.seq LIMIT 1",
		-1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(err, db, "cross-checking issuances");
		goto out;
	}
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
		    "issuance %lld (audit seq %lld) is missing from the issuance table: row deleted",
		    (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 0));
	else if (step != SQLITE_DONE)
		rc = db_fail(err, db, "cross-checking issuances");
out:
	sqlite3_finalize(st);
	return rc;
}

static int
verify_issuances(sqlite3 *db, int64_t *count, struct cs_err *err)
{
	sqlite3_stmt *rows = NULL, *last = NULL;
	char *rebuilt = NULL;
	int rc = 0, step;

	*count = 0;
	if (sqlite3_prepare_v2(db, "SELECT " LEDGER_ROW_COLUMNS " FROM issuance ORDER BY id", -1,
		&rows, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
		"SELECT seq, at, event, payload FROM audit WHERE issuance_id = ? "
		"ORDER BY seq DESC LIMIT 1",
		-1, &last, NULL) != SQLITE_OK) {
		rc = db_fail(err, db, "cross-checking issuances");
		goto out;
	}
	for (;;) {
		const char *payload, *key, *va, *vb;
		size_t rlen, na, nb;
		char sa[80], sb[80];
		int64_t id;

		step = sqlite3_step(rows);
		if (step != SQLITE_ROW)
			break;
		id = sqlite3_column_int64(rows, LEDGER_COL_ID);

		sqlite3_reset(last);
		sqlite3_bind_int64(last, 1, id);
		step = sqlite3_step(last);
		if (step == SQLITE_DONE) {
			rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
			    "issuance %lld has no audit row (row inserted behind the ledger)",
			    (long long)id);
			goto out;
		}
		if (step != SQLITE_ROW) {
			rc = db_fail(err, db, "cross-checking issuances");
			goto out;
		}
		rc = ledger_payload_build(rows, (const char *)sqlite3_column_text(last, 2),
		    sqlite3_column_int64(last, 1), &rebuilt, &rlen);
		if (rc != 0) {
			cs_err_set(err, rc, "ledger verify: cannot rebuild issuance %lld",
			    (long long)id);
			goto out;
		}
		payload = (const char *)sqlite3_column_text(last, 3);
		if (payload == NULL || strcmp(payload, rebuilt) != 0) {
			key = payload_diff(rebuilt, payload != NULL ? payload : "", &va, &na, &vb,
			    &nb);
			value_show(va, na, sa, sizeof(sa));
			value_show(vb, nb, sb, sizeof(sb));
			rc = cs_err_set(err, CS_ERR_LEDGER_TAMPERED,
			    "issuance %lld: %s is '%s' in the issuance table but '%s' in its last "
			    "audit row (seq %lld)",
			    (long long)id, key, sa, sb, (long long)sqlite3_column_int64(last, 0));
			goto out;
		}
		free(rebuilt);
		rebuilt = NULL;
		(*count)++;
	}
	if (step != SQLITE_DONE)
		rc = db_fail(err, db, "cross-checking issuances");
out:
	free(rebuilt);
	sqlite3_finalize(rows);
	sqlite3_finalize(last);
	return rc;
}

int
ledger_verify(const char *path, struct ledger_verify_report *out, struct cs_err *err)
{
	struct ledger_verify_report rep = {0};
	sqlite3 *db;
	uint8_t hash[32];
	int64_t last_seq = 0;
	int rc;

	cs_err_clear(err);
	db = ledger_db_open_ro(path, err);
	if (db == NULL)
		return err != NULL ? err->code : CS_ERR_LEDGER_IO;
	/* One read transaction: a consistent snapshot while the station runs. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(err, db, "BEGIN");
		goto out;
	}
	rc = verify_chain(db, &rep.audit_rows, &last_seq, hash, err);
	if (rc == 0)
		rc = verify_head(db, last_seq, hash, &rep.head_seq, err);
	if (rc == 0)
		rc = verify_orphans(db, err);
	if (rc == 0)
		rc = verify_issuances(db, &rep.issuances, err);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
	sqlite3_close(db);
	if (out != NULL)
		*out = rep;
	return rc;
}
