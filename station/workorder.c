/*
 * workorder.c: the work-order CSV push parser (see workorder.h).
 *
 * DESIGN: bytes accumulate into a fixed line buffer until '\n'; a complete
 * line is then split and checked on its own. Quoted fields may therefore not
 * span lines, which is fine: no legal field contains a line break. The lot
 * table is an open-addressing hash with a fixed number of slots, so a
 * hostile file with a million lots costs a bounded amount of memory and time
 * and ends with a clear error.
 */
#include "station/workorder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOT_SLOTS (WORKORDER_LOTS_MAX * 2)
#define NAME_MAX_ 96
#define SHOW_MAX 48

struct lot_slot {
	char lot[WORKORDER_FIELD_MAX + 1];
	int used;
	int64_t quota;
	size_t line;
};

struct workorder_parser {
	char name[NAME_MAX_];
	char line[WORKORDER_LINE_MAX + 1];
	size_t line_len;
	size_t line_no; /* number of the line being accumulated */
	size_t total;
	int seen_first; /* a non-blank line was processed (header detection) */
	int status;
	struct cs_err err;
	size_t rows;
	size_t nlots;
	struct lot_slot *lots; /* LOT_SLOTS, allocated on the first row */
};

/* Decoded fields of one line. */
#define FIELDS_KEPT 3
struct fields {
	char v[FIELDS_KEPT][WORKORDER_LINE_MAX + 1];
	size_t len[FIELDS_KEPT];
	size_t count;
};

struct workorder_parser *
workorder_parser_new(const char *name)
{
	struct workorder_parser *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name != NULL ? name : "work order");
	p->line_no = 1;
	return p;
}

void
workorder_parser_free(struct workorder_parser *p)
{
	if (p == NULL)
		return;
	free(p->lots);
	free(p);
}

size_t
workorder_parser_rows(const struct workorder_parser *p)
{
	return p != NULL ? p->rows : 0;
}

size_t
workorder_parser_lots(const struct workorder_parser *p)
{
	return p != NULL ? p->nlots : 0;
}

/* A hostile value, printable and bounded, for a message. */
static void
show(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 8 >= cap || i >= SHOW_MAX) {
			snprintf(out + o, cap - o, "...");
			return;
		}
		if (c < 0x20 || c > 0x7e || c == '\\' || c == '\'') {
			snprintf(out + o, cap - o, "\\x%02X", c);
			o += 4;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/* Sticky error with the "<name> line N column C: " prefix. */
__attribute__((format(printf, 4, 5))) static int
fail(struct workorder_parser *p, int code, size_t column, const char *fmt, ...)
{
	char text[CS_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (column > 0)
		cs_err_set(&p->err, code, "%s line %zu column %zu: %s", p->name, p->line_no,
		    column, text);
	else
		cs_err_set(&p->err, code, "%s line %zu: %s", p->name, p->line_no, text);
	p->status = code;
	return code;
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static int
fields_split(struct workorder_parser *p, const char *s, size_t n, struct fields *f)
{
	size_t i = 0;

	f->count = 0;
	for (;;) {
		size_t col = f->count + 1, o = 0, keep = f->count < FIELDS_KEPT;
		char *dst = keep ? f->v[f->count] : NULL;

		while (i < n && is_blank(s[i]))
			i++;
		if (i < n && s[i] == '"') {
			size_t open = i + 1;

			i++;
			for (;;) {
				if (i >= n)
					return fail(p, CS_ERR_INVALID_ARG, col,
					    "quote opened at byte %zu is not closed", open);
				if (s[i] == '"') {
					if (i + 1 < n && s[i + 1] == '"') {
						if (keep)
							dst[o++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				if (keep)
					dst[o++] = s[i];
				i++;
			}
			while (i < n && is_blank(s[i]))
				i++;
			if (i < n && s[i] != ',')
				return fail(p, CS_ERR_INVALID_ARG, col,
				    "unexpected character after the closing quote");
		} else {
			while (i < n && s[i] != ',') {
				if (s[i] == '"')
					return fail(p, CS_ERR_INVALID_ARG, col,
					    "quote inside an unquoted field");
				if (keep)
					dst[o++] = s[i];
				i++;
			}
			while (keep && o > 0 && is_blank(dst[o - 1]))
				o--;
		}
		if (keep) {
			dst[o] = '\0';
			f->len[f->count] = o;
		}
		f->count++;
		if (i < n && s[i] == ',') {
			i++;
			continue;
		}
		return 0;
	}
}

static int
check_name(struct workorder_parser *p, size_t col, const char *what, const char *v, size_t n)
{
	char shown[64];
	size_t i;

	if (n == 0)
		return fail(p, CS_ERR_INVALID_ARG, col, "%s is empty", what);
	show(v, n, shown, sizeof(shown));
	if (n > WORKORDER_FIELD_MAX)
		return fail(p, CS_ERR_INVALID_ARG, col, "%s '%s' is %zu bytes long (limit %d)",
		    what, shown, n, WORKORDER_FIELD_MAX);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x21 || c > 0x7e)
			return fail(p, CS_ERR_INVALID_ARG, col,
			    "%s '%s' has byte 0x%02X at position %zu (only printable ASCII "
			    "without spaces is allowed)",
			    what, shown, c, i + 1);
	}
	return 0;
}

static int
parse_quota(struct workorder_parser *p, const char *v, size_t n, int64_t *quota)
{
	char shown[64];
	int64_t q = 0;
	size_t i;

	*quota = -1;
	if (n == 0)
		return 0;
	show(v, n, shown, sizeof(shown));
	if (v[0] == '-' && n > 1 && v[1] >= '0' && v[1] <= '9')
		return fail(p, CS_ERR_INVALID_ARG, 3, "quota '%s' is negative", shown);
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return fail(p, CS_ERR_INVALID_ARG, 3, "quota '%s' is not a number", shown);
		q = q * 10 + (v[i] - '0');
		if (q > WORKORDER_QUOTA_MAX)
			return fail(p, CS_ERR_INVALID_ARG, 3, "quota '%s' exceeds %lld", shown,
			    (long long)WORKORDER_QUOTA_MAX);
	}
	*quota = q;
	return 0;
}

static uint32_t
lot_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static void
quota_show(int64_t q, char *out, size_t cap)
{
	if (q < 0)
		snprintf(out, cap, "none");
	else
		snprintf(out, cap, "%lld", (long long)q);
}

/* Record the lot's quota or check it against the first row of the lot. */
static int
lot_check(struct workorder_parser *p, const char *lot, size_t n, int64_t quota, int *first)
{
	uint32_t h;
	size_t i;

	*first = 0;
	if (p->lots == NULL) {
		p->lots = calloc(LOT_SLOTS, sizeof(*p->lots));
		if (p->lots == NULL)
			return fail(p, CS_ERR_NOMEM, 0, "out of memory for the lot table");
	}
	h = lot_hash(lot, n);
	for (i = 0; i < LOT_SLOTS; i++) {
		struct lot_slot *s = &p->lots[(h + i) % LOT_SLOTS];

		if (!s->used) {
			if (p->nlots >= WORKORDER_LOTS_MAX)
				return fail(p, CS_ERR_TOO_LARGE, 2,
				    "more than %d distinct lots in one work order",
				    WORKORDER_LOTS_MAX);
			memcpy(s->lot, lot, n);
			s->lot[n] = '\0';
			s->used = 1;
			s->quota = quota;
			s->line = p->line_no;
			p->nlots++;
			*first = 1;
			return 0;
		}
		if (strcmp(s->lot, lot) == 0) {
			char a[24], b[24];

			if (s->quota == quota)
				return 0;
			quota_show(quota, a, sizeof(a));
			quota_show(s->quota, b, sizeof(b));
			return fail(p, CS_ERR_INVALID_ARG, 3,
			    "lot '%s' quota %s disagrees with quota %s on line %zu", s->lot, a, b,
			    s->line);
		}
	}
	/* Unreachable: the table has twice as many slots as lots allowed. */
	return fail(p, CS_ERR_INTERNAL, 2, "lot table full");
}

static int
is_header(const struct fields *f)
{
	return f->count >= 1 && strcasecmp(f->v[0], "device_id") == 0;
}

static int
line_process(struct workorder_parser *p, char *s, size_t n, workorder_row_fn fn, void *arg)
{
	struct fields *f = NULL;
	struct workorder_row row;
	size_t i;
	int rc;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	/* A byte-order mark as written by spreadsheet programs. */
	if (p->line_no == 1 && n >= 3 && (unsigned char)s[0] == 0xEF &&
	    (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) {
		s += 3;
		n -= 3;
	}
	for (i = 0; i < n && is_blank(s[i]); i++)
		;
	if (i == n)
		return 0;
	f = malloc(sizeof(*f));
	if (f == NULL)
		return fail(p, CS_ERR_NOMEM, 0, "out of memory");
	rc = fields_split(p, s, n, f);
	if (rc != 0)
		goto out;
	if (!p->seen_first) {
		p->seen_first = 1;
		if (is_header(f)) {
			if (f->count != 3 || strcasecmp(f->v[1], "lot") != 0 ||
			    strcasecmp(f->v[2], "quota") != 0)
				rc = fail(p, CS_ERR_INVALID_ARG, 0,
				    "header must be 'device_id,lot,quota'");
			goto out;
		}
	}
	if (f->count != 3) {
		rc = fail(p, CS_ERR_INVALID_ARG, 0,
		    "expected 3 fields (device_id,lot,quota), found %zu", f->count);
		goto out;
	}
	rc = check_name(p, 1, "device_id", f->v[0], f->len[0]);
	if (rc == 0)
		rc = check_name(p, 2, "lot", f->v[1], f->len[1]);
	if (rc == 0)
		rc = parse_quota(p, f->v[2], f->len[2], &row.quota);
	if (rc == 0)
		rc = lot_check(p, f->v[1], f->len[1], row.quota, &row.lot_first);
	if (rc != 0)
		goto out;
	row.device_id = f->v[0];
	row.lot = f->v[1];
	row.line = p->line_no;
	if (fn != NULL) {
		rc = fn(&row, arg, &p->err);
		if (rc != 0) {
			p->status = rc;
			if (p->err.code == 0)
				cs_err_set(&p->err, rc, "%s line %zu: rejected", p->name,
				    p->line_no);
			goto out;
		}
	}
	p->rows++;
out:
	free(f);
	return rc;
}

static int
sticky(struct workorder_parser *p, struct cs_err *err)
{
	if (err != NULL)
		*err = p->err;
	return p->status;
}

int
workorder_parser_feed(struct workorder_parser *p, const void *data, size_t len,
    workorder_row_fn fn, void *arg, struct cs_err *err)
{
	const char *s = data;
	size_t i;

	if (p == NULL || (data == NULL && len > 0))
		return cs_err_set(err, CS_ERR_INVALID_ARG, "work order parser: NULL argument");
	if (p->status != 0)
		return sticky(p, err);
	if (len > WORKORDER_FILE_MAX - p->total) {
		cs_err_set(&p->err, CS_ERR_TOO_LARGE, "%s is larger than %u bytes (16 MiB)",
		    p->name, WORKORDER_FILE_MAX);
		p->status = CS_ERR_TOO_LARGE;
		return sticky(p, err);
	}
	p->total += len;
	for (i = 0; i < len; i++) {
		if (s[i] == '\n') {
			if (line_process(p, p->line, p->line_len, fn, arg) != 0)
				return sticky(p, err);
			p->line_len = 0;
			p->line_no++;
			continue;
		}
		if (p->line_len >= WORKORDER_LINE_MAX) {
			fail(p, CS_ERR_TOO_LARGE, 0, "line is longer than %d bytes",
			    WORKORDER_LINE_MAX);
			return sticky(p, err);
		}
		p->line[p->line_len++] = s[i];
	}
	cs_err_clear(err);
	return 0;
}

int
workorder_parser_finish(struct workorder_parser *p, workorder_row_fn fn, void *arg,
    struct cs_err *err)
{
	if (p == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "work order parser: NULL argument");
	if (p->status != 0)
		return sticky(p, err);
	if (p->line_len > 0) {
		if (line_process(p, p->line, p->line_len, fn, arg) != 0)
			return sticky(p, err);
		p->line_len = 0;
	}
	if (p->rows == 0) {
		cs_err_set(&p->err, CS_ERR_INVALID_ARG, "%s has no device rows", p->name);
		p->status = CS_ERR_INVALID_ARG;
		return sticky(p, err);
	}
	cs_err_clear(err);
	return 0;
}

int
workorder_parse(const char *name, const void *data, size_t len, workorder_row_fn fn, void *arg,
    size_t *rows, size_t *lots, struct cs_err *err)
{
	struct workorder_parser *p = workorder_parser_new(name);
	int rc;

	if (rows != NULL)
		*rows = 0;
	if (lots != NULL)
		*lots = 0;
	if (p == NULL)
		return cs_err_set(err, CS_ERR_NOMEM, "out of memory for the work order parser");
	rc = workorder_parser_feed(p, data, len, fn, arg, err);
	if (rc == 0)
		rc = workorder_parser_finish(p, fn, arg, err);
	if (rows != NULL)
		*rows = p->rows;
	if (lots != NULL)
		*lots = p->nlots;
	workorder_parser_free(p);
	return rc;
}
