/*
 * test_web_assets.c: the page table the build generates from web-ui/static/
 * and uPlot (web-ui/assets_gen.cmake) is complete and safe to serve under
 * the server's Content-Security-Policy (default-src 'self', no inline
 * script or style):
 *
 * - "/" and every file the page needs are there, each with the content
 *   type its name implies, its exact length and the generator's trailing NUL;
 * - every /assets/ URL the HTML references and every module a script
 *   imports is in the table (a missing one is a blank dashboard on the line);
 * - the HTML has no inline script, no inline event handler, no style
 *   attribute; our own files load nothing from another host (line PCs are
 *   offline).
 *
 * Runs without a browser: the browser test (dashboard.test.mjs) covers
 * what the page does.
 */
#include <stdio.h>
#include <string.h>

#include "tests/support/check.h"
#include "web-ui/assets.h"

static const struct web_asset *
asset_find(const char *path)
{
	for (size_t i = 0; i < web_asset_count; i++) {
		if (strcmp(web_assets[i].path, path) == 0)
			return &web_assets[i];
	}
	return NULL;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
is_text(const struct web_asset *a)
{
	return strncmp(a->content_type, "text/", 5) == 0 || strcmp(a->content_type, "image/svg+xml") == 0;
}

/* Our own files (not uPlot's). */
static int
is_ours(const struct web_asset *a)
{
	return strstr(a->path, "uplot") == NULL;
}

static void
check_table_shape(void)
{
	CHECK(web_asset_count >= 6);
	for (size_t i = 0; i < web_asset_count; i++) {
		const struct web_asset *a = &web_assets[i];

		CHECK(a->path[0] == '/');
		CHECK(strcmp(a->path, "/") == 0 || strncmp(a->path, "/assets/", 8) == 0);
		CHECK(a->len > 0);
		/* the generator ends every array with a NUL it does not count */
		CHECK(a->data[a->len] == 0);
		for (size_t j = i + 1; j < web_asset_count; j++)
			CHECK(strcmp(a->path, web_assets[j].path) != 0);
		if (is_text(a)) {
			/* text has no NUL inside, so the string checks below see it whole */
			CHECK(strlen((const char *)a->data) == a->len);
			CHECK(strstr(a->content_type, "charset=utf-8") != NULL || ends_with(a->path, ".svg"));
		}
		if (ends_with(a->path, ".js"))
			CHECK(strcmp(a->content_type, "text/javascript; charset=utf-8") == 0);
		if (ends_with(a->path, ".css"))
			CHECK(strcmp(a->content_type, "text/css; charset=utf-8") == 0);
		if (ends_with(a->path, ".svg"))
			CHECK(strcmp(a->content_type, "image/svg+xml") == 0);
	}
}

static void
check_required(void)
{
	static const char *const required[] = {
		"/", "/assets/app.js", "/assets/app.css", "/assets/api.js", "/assets/charts.js",
		"/assets/format.js", "/assets/uplot.min.js", "/assets/uplot.min.css",
		"/assets/uplot.LICENSE.txt",
	};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const struct web_asset *a = asset_find(required[i]);

		CHECK(a != NULL);
		if (a == NULL)
			fprintf(stderr, "  missing asset %s\n", required[i]);
	}
	const struct web_asset *index = asset_find("/");
	if (index != NULL)
		CHECK(strcmp(index->content_type, "text/html; charset=utf-8") == 0);
	const struct web_asset *up = asset_find("/assets/uplot.min.js");
	if (up != NULL)
		CHECK(strstr((const char *)up->data, "uPlot") != NULL);
	const struct web_asset *lic = asset_find("/assets/uplot.LICENSE.txt");
	if (lic != NULL)
		CHECK(strstr((const char *)lic->data, "MIT") != NULL ||
		      strstr((const char *)lic->data, "Permission is hereby granted") != NULL);
}

/* Every src="/assets/..." or href="/assets/..." in the HTML is in the table. */
static void
check_html_references(const struct web_asset *index)
{
	const char *html = (const char *)index->data;
	int refs = 0;

	for (const char *p = html; (p = strstr(p, "=\"/assets/")) != NULL; p++) {
		char path[256];
		const char *start = p + 2, *end = strchr(start, '"');

		CHECK(end != NULL && (size_t)(end - start) < sizeof(path));
		if (end == NULL || (size_t)(end - start) >= sizeof(path))
			break;
		memcpy(path, start, (size_t)(end - start));
		path[end - start] = '\0';
		refs++;
		CHECK(asset_find(path) != NULL);
		if (asset_find(path) == NULL)
			fprintf(stderr, "  index.html references %s, which is not built in\n", path);
	}
	CHECK(refs >= 4); /* uPlot's script and style, our script and style */
}

/* Every <script> has a src; no on*= handlers, no style attributes, no <style>. */
static void
check_html_csp(const struct web_asset *index)
{
	const char *html = (const char *)index->data;

	for (const char *p = html; (p = strstr(p, "<script")) != NULL; p++) {
		const char *gt = strchr(p, '>');

		CHECK(gt != NULL);
		if (gt == NULL)
			break;
		const char *src = strstr(p, " src=\"/assets/");
		CHECK(src != NULL && src < gt);
		/* nothing between <script ...> and </script> */
		CHECK(strncmp(gt + 1, "</script>", 9) == 0);
	}
	CHECK(strstr(html, "<style") == NULL);
	CHECK(strstr(html, " style=") == NULL);
	static const char *const handlers[] = {" onclick=", " onload=", " onsubmit=", " onchange=",
		" oninput=", " onerror=", "javascript:"};
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		CHECK(strstr(html, handlers[i]) == NULL);
	CHECK(strstr(html, "<script type=\"module\" src=\"/assets/app.js\"></script>") != NULL);
}

/* `from './x.js'` in our modules: ./x.js must be /assets/x.js. */
static void
check_module_imports(void)
{
	int imports = 0;

	for (size_t i = 0; i < web_asset_count; i++) {
		const struct web_asset *a = &web_assets[i];

		if (!ends_with(a->path, ".js") || !is_ours(a))
			continue;
		for (const char *p = (const char *)a->data; (p = strstr(p, "from './")) != NULL; p++) {
			char path[256];
			const char *start = p + 8, *end = strchr(start, '\'');

			CHECK(end != NULL && (size_t)(end - start) + 9 < sizeof(path));
			if (end == NULL || (size_t)(end - start) + 9 >= sizeof(path))
				break;
			snprintf(path, sizeof(path), "/assets/%.*s", (int)(end - start), start);
			imports++;
			CHECK(asset_find(path) != NULL);
			if (asset_find(path) == NULL)
				fprintf(stderr, "  %s imports %s, which is not built in\n", a->path, path);
		}
	}
	CHECK(imports >= 3);
}

/* Our page loads nothing from another host: no http(s) URLs in our HTML,
 * scripts or styles (the SVG's XML namespace is a name, not a fetch). */
static void
check_offline(void)
{
	for (size_t i = 0; i < web_asset_count; i++) {
		const struct web_asset *a = &web_assets[i];

		if (!is_ours(a) || !is_text(a) || ends_with(a->path, ".svg"))
			continue;
		CHECK(strstr((const char *)a->data, "http://") == NULL);
		CHECK(strstr((const char *)a->data, "https://") == NULL);
		CHECK(strstr((const char *)a->data, "//cdn") == NULL);
	}
}

int
main(void)
{
	check_table_shape();
	check_required();
	const struct web_asset *index = asset_find("/");
	if (index != NULL) {
		check_html_references(index);
		check_html_csp(index);
	}
	check_module_imports();
	check_offline();
	return check_finish("test_web_assets");
}
