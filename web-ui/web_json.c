/*
 * web_json.c: snapshots, stats and ledger rows as the JSON objects
 * web-ui/API.md documents (SLOT, ISSUANCE, THROUGHPUT, ...), shared by the
 * GET endpoints and the event stream so both always agree.
 */
#include "web-ui/web_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "station/cert.h"

json_t *
web_json_text(const char *s)
{
	json_t *j;
	char *copy;

	if (s == NULL)
		return json_string("");
	j = json_string(s);
	if (j != NULL)
		return j;
	/* not UTF-8 (a refused device's ID may be any bytes): show '?' instead */
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (size_t i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] > 0x7e || (unsigned char)copy[i] < 0x20)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *
web_json_time(int64_t us)
{
	char buf[40];

	if (us == 0)
		return json_null();
	web_time_format(us, buf, sizeof(buf));
	return json_string(buf);
}

static const char *
dialect_name(enum proto_dialect d)
{
	return d == PROTO_DIALECT_TEXT ? "text" : "frame";
}

json_t *
web_json_slot(const struct slot_snapshot *s, int index)
{
	json_t *last;

	if (s->passed + s->failed == 0)
		last = json_null();
	else
		last = json_string(s->last_reason[0] == '\0' ? "pass" : "fail");
	return json_pack("{s:i,s:o,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:f,s:I,s:I}",
	    "index", index,
	    "name", web_json_text(s->name),
	    "state", slot_state_name(s->state),
	    "step", slot_step_name(s->step),
	    "dialect", dialect_name(s->dialect),
	    "port", web_json_text(s->port),
	    "device_id", web_json_text(s->device_id),
	    "last_result", last,
	    "last_reason", web_json_text(s->last_reason),
	    "last_text", web_json_text(s->last_text),
	    "passed", (json_int_t)s->passed,
	    "failed", (json_int_t)s->failed,
	    "state_since", web_json_time(s->state_since_us),
	    "last_duration_ms", (double)s->last_duration_us / 1000.0,
	    "bytes_in", (json_int_t)s->bytes_in,
	    "bytes_out", (json_int_t)s->bytes_out);
}

json_t *
web_json_slots(web *w, int counts)
{
	static const char *const states[] = {"disconnected", "idle", "exchange", "pass", "fail",
		"paused"};
	json_int_t n_state[6] = {0};
	json_t *arr = json_array(), *o;
	size_t n = w->ctx.line != NULL ? line_slot_count(w->ctx.line) : 0;
	struct slot_snapshot snap;

	if (arr == NULL)
		return NULL;
	for (size_t k = 0; k < n; k++) {
		if (line_slot_snapshot(w->ctx.line, k, &snap) != 0)
			continue;
		if (snap.state >= SLOT_DISCONNECTED && snap.state <= SLOT_PAUSED)
			n_state[snap.state - SLOT_DISCONNECTED]++;
		if (json_array_append_new(arr, web_json_slot(&snap, (int)k)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	o = json_pack("{s:o,s:o}", "now", web_json_time(web_now_us()), "slots", arr);
	if (o != NULL && counts) {
		json_t *c = json_object();

		for (size_t k = 0; c != NULL && k < 6; k++)
			json_object_set_new(c, states[k], json_integer(n_state[k]));
		json_object_set_new(o, "counts", c != NULL ? c : json_null());
	}
	return o;
}

static json_t *
yield_json(uint64_t passed, uint64_t failed)
{
	if (passed + failed == 0)
		return json_null();
	return json_real((double)passed / (double)(passed + failed));
}

json_t *
web_json_shift_summary(const struct stats_snapshot *ss)
{
	return json_pack("{s:I,s:o,s:I,s:I,s:I,s:o}",
	    "number", (json_int_t)ss->shift_number,
	    "started", web_json_time(ss->shift_started_us),
	    "passed", (json_int_t)ss->passed_shift,
	    "failed", (json_int_t)ss->failed_shift,
	    "devices", (json_int_t)(ss->passed_shift + ss->failed_shift),
	    "yield", yield_json(ss->passed_shift, ss->failed_shift));
}

json_t *
web_json_throughput(const struct stats_snapshot *ss)
{
	json_t *minutes = json_array(), *failures = json_array(), *buckets = json_array();
	json_t *o = NULL;

	if (minutes == NULL || failures == NULL || buckets == NULL)
		goto fail;
	for (int k = STATS_MINUTES - 1; k >= 0; k--) {
		if (json_array_append_new(minutes, json_pack("{s:o,s:I,s:I}",
			"start", web_json_time(ss->minute0_us - (int64_t)k * 60000000),
			"passed", (json_int_t)ss->passed_per_minute[k],
			"failed", (json_int_t)ss->failed_per_minute[k])) != 0)
			goto fail;
	}
	for (size_t k = 0; k < ss->reason_count && k < STATS_REASONS_MAX; k++) {
		if (json_array_append_new(failures, json_pack("{s:o,s:I,s:I}",
			"reason", web_json_text(ss->reasons[k].reason),
			"shift", (json_int_t)ss->reasons[k].shift,
			"total", (json_int_t)ss->reasons[k].total)) != 0)
			goto fail;
	}
	for (size_t k = 0; k < STATS_DURATION_BUCKETS; k++) {
		if (json_array_append_new(buckets, json_pack("{s:f,s:I}",
			"le", ss->duration_bound_s[k], "count", (json_int_t)ss->duration_le[k])) != 0)
			goto fail;
	}
	if (json_array_append_new(buckets, json_pack("{s:s,s:I}", "le", "+Inf", "count",
		(json_int_t)ss->duration_count)) != 0)
		goto fail;
	o = json_pack("{s:o,s:o,s:o,s:f,s:f,s:o,s:{s:I,s:I,s:I,s:o},s:o,s:{s:I,s:f,s:o}}",
	    "now", web_json_time(ss->now_us),
	    "started", web_json_time(ss->started_us),
	    "minutes", minutes,
	    "devices_per_hour", ss->devices_per_hour,
	    "devices_per_minute", ss->devices_per_hour / 60.0,
	    "shift", web_json_shift_summary(ss),
	    "total",
	        "passed", (json_int_t)ss->passed_total,
	        "failed", (json_int_t)ss->failed_total,
	        "devices", (json_int_t)(ss->passed_total + ss->failed_total),
	        "yield", yield_json(ss->passed_total, ss->failed_total),
	    "failures", failures,
	    "duration",
	        "count", (json_int_t)ss->duration_count,
	        "sum_s", ss->duration_sum_s,
	        "buckets", buckets);
	return o;
fail:
	json_decref(minutes);
	json_decref(failures);
	json_decref(buckets);
	return NULL;
}

static void
hex_upper(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

json_t *
web_json_issuance(const struct ledger_record *r)
{
	char serial[2 * LEDGER_SERIAL_LEN + 1];
	json_t *timings = NULL, *o;

	if (r->timings[0] != '\0') {
		timings = json_loads(r->timings, JSON_REJECT_DUPLICATES, NULL);
		if (timings != NULL && !json_is_object(timings)) {
			json_decref(timings);
			timings = NULL;
		}
	}
	if (r->has_serial)
		hex_upper(r->serial, LEDGER_SERIAL_LEN, serial);
	o = json_pack("{s:I,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:f,s:o}",
	    "id", (json_int_t)r->id,
	    "device_id", web_json_text(r->device_id),
	    "state", ledger_state_name(r->state),
	    "reason", web_json_text(r->state == LEDGER_FAILED ? r->reason : ""),
	    "reason_text", web_json_text(r->state == LEDGER_FAILED ? r->reason_text : ""),
	    "profile", web_json_text(r->profile),
	    "lot", web_json_text(r->lot),
	    "fixture", web_json_text(r->fixture),
	    "slot", web_json_text(r->slot),
	    "serial", r->has_serial ? json_string(serial) : json_null(),
	    "created", web_json_time(r->created_at),
	    "updated", web_json_time(r->updated_at),
	    "not_before", r->has_serial ? web_json_time(r->not_before * 1000000) : json_null(),
	    "not_after", r->has_serial ? web_json_time(r->not_after * 1000000) : json_null(),
	    "duration_ms", (double)r->duration_us / 1000.0,
	    "timings", timings != NULL ? timings : json_null());
	return o;
}

static json_t *
name_json(const X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	json_t *j = NULL;
	char *p = NULL;
	long n;

	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n >= 0 && p != NULL) {
			char *s = strndup(p, (size_t)n);

			if (s != NULL)
				j = web_json_text(s);
			free(s);
		}
	}
	BIO_free(b);
	return j != NULL ? j : json_string("");
}

json_t *
web_json_cert_subject(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = der != NULL ? d2i_X509(NULL, &p, (long)len) : NULL;
	json_t *j;

	if (x == NULL)
		return json_string("");
	j = name_json(X509_get_subject_name(x));
	X509_free(x);
	return j;
}

json_t *
web_json_issuance_detail(const struct ledger_record *r, const struct ca *ca)
{
	json_t *o = web_json_issuance(r), *cert = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char sha1[41], sha256[65];
	char *pem = NULL, *chain = NULL;
	size_t cap, len;

	if (o == NULL)
		return NULL;
	if (r->cert_der == NULL || r->cert_len == 0) {
		json_object_set_new(o, "certificate", json_null());
		json_object_set_new(o, "chain_pem", json_null());
		return o;
	}
	pem = cert_pem_encode(r->cert_der, r->cert_len);
	if (pem == NULL)
		goto fail;
	cap = strlen(pem) + 1;
	for (size_t k = 0; ca != NULL && k < ca->chain_len; k++)
		cap += strlen(ca->chain[k].pem) + 1;
	chain = malloc(cap);
	if (chain == NULL)
		goto fail;
	len = (size_t)snprintf(chain, cap, "%s", pem);
	for (size_t k = 0; ca != NULL && k < ca->chain_len; k++) {
		len += (size_t)snprintf(chain + len, cap - len, "%s", ca->chain[k].pem);
		if (len > 0 && chain[len - 1] != '\n' && len + 1 < cap) {
			chain[len++] = '\n';
			chain[len] = '\0';
		}
	}
	EVP_Digest(r->cert_der, r->cert_len, md, &mdlen, EVP_sha1(), NULL);
	hex_upper(md, mdlen, sha1);
	EVP_Digest(r->cert_der, r->cert_len, md, &mdlen, EVP_sha256(), NULL);
	hex_upper(md, mdlen, sha256);
	p = r->cert_der;
	x = d2i_X509(NULL, &p, (long)r->cert_len);
	cert = json_pack("{s:o,s:o,s:s,s:s,s:s}",
	    "subject", x != NULL ? name_json(X509_get_subject_name(x)) : json_string(""),
	    "issuer", x != NULL ? name_json(X509_get_issuer_name(x)) : json_string(""),
	    "sha1", sha1, "sha256", sha256, "pem", pem);
	if (cert == NULL)
		goto fail;
	json_object_set_new(o, "certificate", cert);
	json_object_set_new(o, "chain_pem", json_string(chain));
	X509_free(x);
	free(pem);
	free(chain);
	return o;
fail:
	X509_free(x);
	free(pem);
	free(chain);
	json_decref(o);
	return NULL;
}

json_t *
web_json_session(const struct web_session_info *s, int64_t idle_s)
{
	return json_pack("{s:o,s:s,s:s,s:I}", "user", web_json_text(s->user), "role",
	    user_role_name(s->role), "csrf", s->csrf, "idle_timeout_s", (json_int_t)idle_s);
}
