/*
 * assets.h: the dashboard page's files, built into the binary (line PCs are
 * offline: no CDN, nothing fetched at run time).
 *
 * Contract: web_assets[] lists web_asset_count files; path is the URL path
 * the server answers ("/", "/assets/app.js"), content_type its
 * Content-Type, data/len its bytes. The build generates the table from the
 * page's sources (web-ui/README.md); web-ui/assets_fallback.c provides a
 * one-page table when no generated table exists. The server serves "/" and
 * "/assets/..." from this table only: no file system access.
 *
 * Threads: constant data, any thread.
 */
#ifndef WEB_UI_ASSETS_H
#define WEB_UI_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char *path;
	const char *content_type;
	const unsigned char *data;
	size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_asset_count;

#endif
