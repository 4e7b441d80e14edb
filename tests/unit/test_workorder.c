/*
 * test_workorder.c: the work-order parser on every file of
 * tests/data/workorder (NAME.csv with NAME.expect: "ok ROWS LOTS", "error
 * CODE text" or "error-import CODE text" for rules only the ledger import
 * can check), whole and split into 1-byte and 7-byte chunks, and through
 * ledger_workorder_import into a real ledger; plus the size caps.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "station/ledger.h"
#include "station/workorder.h"
#include "tests/support/check.h"

#define DATA TEST_DATA_DIR "/workorder"

static char dir[256];

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
	if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL) {
			*len = fread(buf, 1, (size_t)n, f);
			buf[*len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

struct collect {
	size_t rows;
	char first_device[WORKORDER_FIELD_MAX + 1];
	int64_t first_quota;
	size_t lot_firsts;
};

static int
collect_row(const struct workorder_row *row, void *arg, struct cs_err *err)
{
	struct collect *c = arg;

	(void)err;
	if (c->rows == 0) {
		snprintf(c->first_device, sizeof(c->first_device), "%s", row->device_id);
		c->first_quota = row->quota;
	}
	c->rows++;
	c->lot_firsts += (size_t)row->lot_first;
	return 0;
}

/* Parse in chunks of step bytes (0: whole). */
static int
parse_split(const char *name, const char *data, size_t len, size_t step, struct collect *c,
    size_t *lots, struct cs_err *err)
{
	struct workorder_parser *p = workorder_parser_new(name);
	size_t off = 0;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (step == 0)
		step = len > 0 ? len : 1;
	while (rc == 0 && off < len) {
		size_t n = len - off < step ? len - off : step;

		rc = workorder_parser_feed(p, data + off, n, collect_row, c, err);
		off += n;
	}
	if (rc == 0)
		rc = workorder_parser_finish(p, collect_row, c, err);
	*lots = workorder_parser_lots(p);
	workorder_parser_free(p);
	return rc;
}

static void
case_run(ledger *l, const char *base)
{
	char path[1024], expect_path[1024], name[300];
	static const size_t steps[] = {0, 1, 7};
	size_t len = 0, elen = 0, i;
	char *data, *expect, *text = NULL;
	long rows = -1, lots = -1;
	int code = 0, import_only = 0, ok = 0;

	snprintf(name, sizeof(name), "%s.csv", base);
	snprintf(path, sizeof(path), "%s/%s.csv", DATA, base);
	snprintf(expect_path, sizeof(expect_path), "%s/%s.expect", DATA, base);
	data = slurp(path, &len);
	expect = slurp(expect_path, &elen);
	CHECK(data != NULL && expect != NULL);
	if (data == NULL || expect == NULL)
		goto out;
	if (elen > 0 && expect[elen - 1] == '\n')
		expect[--elen] = '\0';
	if (strncmp(expect, "ok ", 3) == 0) {
		ok = 1;
		rows = strtol(expect + 3, &text, 10);
		lots = strtol(text, NULL, 10);
	} else {
		import_only = strncmp(expect, "error-import ", 13) == 0;
		code = (int)strtol(expect + (import_only ? 13 : 6), &text, 10);
		text++;
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct cs_err err = {0};
		struct collect c;
		size_t nlots = 0;
		int rc = parse_split(name, data, len, steps[i], &c, &nlots, &err);

		if (ok || import_only) {
			if (rc != 0)
				fprintf(stderr, "%s (step %zu): unexpected error: %s\n", base, steps[i],
				    err.msg);
			CHECK_INT_EQ(rc, 0);
			if (ok) {
				CHECK_INT_EQ(c.rows, rows);
				CHECK_INT_EQ(nlots, lots);
				CHECK_INT_EQ(c.lot_firsts, lots);
			}
		} else {
			CHECK_INT_EQ(rc, code);
			CHECK_INT_EQ(err.code, code);
			CHECK_MSG_HAS(err, text);
			CHECK(strncmp(err.msg, name, strlen(name)) == 0);
		}
	}
	{
		struct ledger_import_stats st;
		struct cs_err err = {0};
		int rc = ledger_workorder_import(l, path, &st, &err);

		if (ok) {
			CHECK_INT_EQ(rc, 0);
			CHECK_INT_EQ(st.devices, rows);
			CHECK_INT_EQ(st.lots, lots);
		} else {
			CHECK_INT_EQ(rc, code);
			CHECK_MSG_HAS(err, text);
		}
	}
out:
	free(data);
	free(expect);
}

static void
test_data_dir(ledger *l)
{
	DIR *d = opendir(DATA);
	struct dirent *de;
	int cases = 0;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	for (;;) {
		char base[256];
		size_t n;

		de = readdir(d);
		if (de == NULL)
			break;
		n = strlen(de->d_name);

		if (n < 5 || strcmp(de->d_name + n - 4, ".csv") != 0 || n - 4 >= sizeof(base))
			continue;
		memcpy(base, de->d_name, n - 4);
		base[n - 4] = '\0';
		case_run(l, base);
		cases++;
	}
	closedir(d);
	CHECK(cases >= 25);
}

static void
test_specifics(ledger *l)
{
	struct cs_err err = {0};
	struct collect c;
	size_t lots = 0, i;
	char path[600];
	char *big;
	FILE *f;
	int rc;

	/* Values as delivered. */
	rc = parse_split("x.csv", "\"dev\"\"q\" , L , 0012 \n", 21, 0, &c, &lots, &err);
	CHECK_INT_EQ(rc, 0);
	CHECK(strcmp(c.first_device, "dev\"q") == 0);
	CHECK_INT_EQ(c.first_quota, 12);
	rc = parse_split("x.csv", "a,b,\n", 5, 0, &c, &lots, &err);
	CHECK_INT_EQ(rc, 0);
	CHECK_INT_EQ(c.first_quota, -1);

	/* Errors are sticky. */
	{
		struct workorder_parser *p = workorder_parser_new("s.csv");

		CHECK_INT_EQ(workorder_parser_feed(p, "a,b\n", 4, NULL, NULL, &err),
		    CS_ERR_INVALID_ARG);
		CHECK_INT_EQ(workorder_parser_feed(p, "c,d,1\n", 6, NULL, NULL, &err),
		    CS_ERR_INVALID_ARG);
		CHECK_MSG_HAS(err, "s.csv line 1");
		CHECK_INT_EQ(workorder_parser_finish(p, NULL, NULL, &err), CS_ERR_INVALID_ARG);
		CHECK_INT_EQ(workorder_parser_rows(p), 0);
		workorder_parser_free(p);
		workorder_parser_free(NULL);
	}

	/* More lots than the table holds. */
	big = malloc(64 * 1024);
	CHECK(big != NULL);
	if (big == NULL)
		return;
	{
		size_t o = 0;

		for (i = 0; i <= WORKORDER_LOTS_MAX; i++)
			o += (size_t)snprintf(big + o, 64 * 1024 - o, "d%zu,L%zu,1\n", i, i);
		rc = workorder_parse("lots.csv", big, o, NULL, NULL, NULL, NULL, &err);
		CHECK_INT_EQ(rc, CS_ERR_TOO_LARGE);
		CHECK_MSG_HAS(err, "lots.csv line 1025 column 2: more than 1024 distinct lots");
	}
	free(big);

	/* A file over 16 MiB is refused before it is read. */
	snprintf(path, sizeof(path), "%s/huge.csv", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	for (i = 0; i < (WORKORDER_FILE_MAX / 16) + 1; i++)
		fputs("dev-0000000,L,1\n", f);
	fclose(f);
	{
		struct ledger_import_stats st;

		CHECK_INT_EQ(ledger_workorder_import(l, path, &st, &err), CS_ERR_TOO_LARGE);
		CHECK_MSG_HAS(err, "huge.csv is 16777232 bytes; the limit is 16777216 bytes");
	}
	/* The same cap holds when fed in pieces. */
	{
		struct workorder_parser *p = workorder_parser_new("pieces.csv");
		static char chunk[1024 * 1024];

		memset(chunk, '\n', sizeof(chunk));
		rc = 0;
		for (i = 0; i < 17 && rc == 0; i++)
			rc = workorder_parser_feed(p, chunk, sizeof(chunk), NULL, NULL, &err);
		CHECK_INT_EQ(rc, CS_ERR_TOO_LARGE);
		CHECK_INT_EQ(i, 17);
		CHECK_MSG_HAS(err, "pieces.csv is larger than 16777216 bytes");
		workorder_parser_free(p);
	}
}

int
main(void)
{
	struct cs_err err = {0};
	char dbpath[512];
	ledger *l;

	snprintf(dir, sizeof(dir), "/tmp/test_workorder.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/ledger.db", dir);
	l = ledger_open(dbpath, &err);
	CHECK(l != NULL);
	if (l != NULL) {
		test_data_dir(l);
		test_specifics(l);
		ledger_close(l);
	}
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return check_finish("test_workorder");
}
