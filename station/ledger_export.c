/*
 * ledger_export.c: the issuance report (CSV or JSON) for the shift, the PKI
 * owner and cloud registration: per issuance the device ID, serial, the
 * certificate's SHA-1 and SHA-256 thumbprints in the form Azure IoT Hub
 * shows them (upper-case hex, no separators), validity in ISO 8601 UTC,
 * state, reason, and the certificate as PEM.
 *
 * It opens its own read-only connection, so it can run from the CLI while
 * the station is issuing; WAL gives it one consistent snapshot.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "station/clock.h"
#include "station/cert.h"
#include "station/ledger_int.h"

struct export_row {
	struct ledger_record rec;
	char serial[2 * LEDGER_SERIAL_LEN + 1];
	char sha1[41];
	char sha256[65];
	char not_before[32], not_after[32], created_at[64];
	char *pem; /* malloc'ed, "" if unsigned */
};

static void
iso_micros(int64_t us, char *out, size_t cap)
{
	time_t tt = (time_t)(us / 1000000);
	struct tm tm;
	char base[32];

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, cap, "%lld", (long long)us);
		return;
	}
	snprintf(out, cap, "%.20s.%06dZ", base, (int)(us % 1000000));
}

static int
row_prepare(sqlite3_stmt *st, struct export_row *r)
{
	unsigned int n = 0;
	uint8_t md[EVP_MAX_MD_SIZE];
	int rc;

	memset(r, 0, sizeof(*r));
	rc = ledger_row_read(st, &r->rec);
	if (rc != 0)
		return rc;
	if (r->rec.has_serial)
		ledger_hex(r->rec.serial, LEDGER_SERIAL_LEN, r->serial, 1);
	if (r->rec.cert_der != NULL) {
		if (EVP_Digest(r->rec.cert_der, r->rec.cert_len, md, &n, EVP_sha1(), NULL) != 1)
			return CS_ERR_INTERNAL;
		ledger_hex(md, n, r->sha1, 1);
		if (EVP_Digest(r->rec.cert_der, r->rec.cert_len, md, &n, EVP_sha256(), NULL) != 1)
			return CS_ERR_INTERNAL;
		ledger_hex(md, n, r->sha256, 1);
	}
	if (sqlite3_column_type(st, LEDGER_COL_NOT_BEFORE) != SQLITE_NULL)
		cs_time_text(r->rec.not_before, r->not_before, sizeof(r->not_before));
	if (sqlite3_column_type(st, LEDGER_COL_NOT_AFTER) != SQLITE_NULL)
		cs_time_text(r->rec.not_after, r->not_after, sizeof(r->not_after));
	iso_micros(r->rec.created_at, r->created_at, sizeof(r->created_at));
	r->pem = cert_pem_encode(r->rec.cert_der, r->rec.cert_len);
	return r->pem != NULL ? 0 : CS_ERR_NOMEM;
}

static void
row_clear(struct export_row *r)
{
	ledger_record_clear(&r->rec);
	free(r->pem);
	r->pem = NULL;
}

/* RFC 4180: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
static void
csv_field(FILE *out, const char *s, int last)
{
	if (strpbrk(s, ",\"\r\n") != NULL) {
		fputc('"', out);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', out);
			fputc(*s, out);
		}
		fputc('"', out);
	} else {
		fputs(s, out);
	}
	fputs(last ? "\r\n" : ",", out);
}

/*
 * A text cell that came from a device or an operator. A spreadsheet runs a
 * cell that begins with = + - @ (or a tab or CR before one) as a formula,
 * and the export is opened in one on a supervisor's PC: such a cell gets a
 * leading apostrophe, which spreadsheets show as text (OWASP's CSV
 * injection advice). The JSON export carries values unchanged.
 */
static void
csv_text(FILE *out, const char *s, int last)
{
	char buf[LEDGER_REASON_TEXT_MAX + 2];

	if (s[0] != '=' && s[0] != '+' && s[0] != '-' && s[0] != '@' && s[0] != '\t' &&
	    s[0] != '\r') {
		csv_field(out, s, last);
		return;
	}
	snprintf(buf, sizeof(buf), "'%s", s);
	csv_field(out, buf, last);
}

static const char *const export_columns[] = {
	"id", "device_id", "serial", "sha1_thumbprint", "sha256_thumbprint", "not_before",
	"not_after", "state", "reason", "reason_text", "profile", "lot", "fixture", "slot",
	"created_at", "duration_us", "cert_pem",
};
#define EXPORT_NCOL (sizeof(export_columns) / sizeof(export_columns[0]))

static void
csv_row(FILE *out, const struct export_row *r)
{
	char id[24], dur[24];

	snprintf(id, sizeof(id), "%lld", (long long)r->rec.id);
	snprintf(dur, sizeof(dur), "%lld", (long long)r->rec.duration_us);
	csv_field(out, id, 0);
	csv_text(out, r->rec.device_id, 0);
	csv_field(out, r->serial, 0);
	csv_field(out, r->sha1, 0);
	csv_field(out, r->sha256, 0);
	csv_field(out, r->not_before, 0);
	csv_field(out, r->not_after, 0);
	csv_field(out, ledger_state_name(r->rec.state), 0);
	csv_field(out, r->rec.reason, 0);
	csv_text(out, r->rec.reason_text, 0);
	csv_text(out, r->rec.profile, 0);
	csv_text(out, r->rec.lot, 0);
	csv_text(out, r->rec.fixture, 0);
	csv_text(out, r->rec.slot, 0);
	csv_field(out, r->created_at, 0);
	csv_field(out, dur, 0);
	csv_field(out, r->pem, 1);
}

/* Jansson refuses invalid UTF-8; a refused request's device ID may be
 * anything, so bytes outside ASCII become '?' rather than losing the row. */
static json_t *
json_text(const char *s)
{
	json_t *j;
	char *copy;
	size_t i;

	if (s == NULL || s[0] == '\0')
		return json_null();
	j = json_string(s);
	if (j != NULL)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] > 0x7e)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *
json_row(const struct export_row *r)
{
	json_t *o = json_object();
	int bad = 0;

	if (o == NULL)
		return NULL;
	bad |= json_object_set_new(o, "id", json_integer(r->rec.id));
	bad |= json_object_set_new(o, "device_id", json_text(r->rec.device_id));
	bad |= json_object_set_new(o, "serial", json_text(r->serial));
	bad |= json_object_set_new(o, "sha1_thumbprint", json_text(r->sha1));
	bad |= json_object_set_new(o, "sha256_thumbprint", json_text(r->sha256));
	bad |= json_object_set_new(o, "not_before", json_text(r->not_before));
	bad |= json_object_set_new(o, "not_after", json_text(r->not_after));
	bad |= json_object_set_new(o, "state", json_string(ledger_state_name(r->rec.state)));
	bad |= json_object_set_new(o, "reason", json_text(r->rec.reason));
	bad |= json_object_set_new(o, "reason_text", json_text(r->rec.reason_text));
	bad |= json_object_set_new(o, "profile", json_text(r->rec.profile));
	bad |= json_object_set_new(o, "lot", json_text(r->rec.lot));
	bad |= json_object_set_new(o, "fixture", json_text(r->rec.fixture));
	bad |= json_object_set_new(o, "slot", json_text(r->rec.slot));
	bad |= json_object_set_new(o, "created_at", json_text(r->created_at));
	bad |= json_object_set_new(o, "duration_us", json_integer(r->rec.duration_us));
	bad |= json_object_set_new(o, "cert_pem", json_text(r->pem));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
ledger_export(const char *path, FILE *out, enum ledger_export_format fmt, int64_t from_us,
    int64_t to_us, struct cs_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	json_t *arr = NULL;
	struct export_row r;
	int rc = 0, step;
	size_t i;

	cs_err_clear(err);
	memset(&r, 0, sizeof(r));
	if (out == NULL || (fmt != LEDGER_EXPORT_CSV && fmt != LEDGER_EXPORT_JSON))
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		    "ledger export: no output stream or unknown format %d", (int)fmt);
	db = ledger_db_open_ro(path, err);
	if (db == NULL)
		return err != NULL ? err->code : CS_ERR_LEDGER_IO;
	if (sqlite3_prepare_v2(db,
		"SELECT " LEDGER_ROW_COLUMNS " FROM issuance "
		"WHERE created_at >= ?1 AND created_at < ?2 ORDER BY id",
		-1, &st, NULL) != SQLITE_OK) {
		rc = cs_err_set(err, CS_ERR_LEDGER_IO, "ledger export: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int64(st, 1, from_us);
	sqlite3_bind_int64(st, 2, to_us);
	if (fmt == LEDGER_EXPORT_JSON) {
		arr = json_array();
		if (arr == NULL) {
			rc = cs_err_set(err, CS_ERR_NOMEM, "ledger export: out of memory");
			goto out;
		}
	} else {
		for (i = 0; i < EXPORT_NCOL; i++)
			csv_field(out, export_columns[i], i + 1 == EXPORT_NCOL);
	}
	for (;;) {
		step = sqlite3_step(st);
		if (step != SQLITE_ROW)
			break;
		rc = row_prepare(st, &r);
		if (rc != 0) {
			cs_err_set(err, rc, "ledger export: issuance %lld cannot be read",
			    (long long)r.rec.id);
			goto out;
		}
		if (arr != NULL) {
			if (json_array_append_new(arr, json_row(&r)) != 0) {
				rc = cs_err_set(err, CS_ERR_NOMEM,
				    "ledger export: out of memory at issuance %lld",
				    (long long)r.rec.id);
				goto out;
			}
		} else {
			csv_row(out, &r);
		}
		row_clear(&r);
	}
	if (step != SQLITE_DONE) {
		rc = cs_err_set(err, CS_ERR_LEDGER_IO, "ledger export: %s", sqlite3_errmsg(db));
		goto out;
	}
	if (arr != NULL && (json_dumpf(arr, out, JSON_INDENT(2)) != 0 || fputc('\n', out) == EOF)) {
		rc = cs_err_set(err, CS_ERR_IO, "ledger export: writing the JSON failed");
		goto out;
	}
	if (fflush(out) != 0 || ferror(out))
		rc = cs_err_set(err, CS_ERR_IO, "ledger export: writing the report failed");
out:
	row_clear(&r);
	json_decref(arr);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}
