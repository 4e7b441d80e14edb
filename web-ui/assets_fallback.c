/*
 * assets_fallback.c: the page table used when the build has no generated
 * dashboard (web-ui/README.md says how the generated table replaces this
 * file). One static page that says where the API is; no script, so it also
 * satisfies the server's Content-Security-Policy.
 */
#include "web-ui/assets.h"

static const unsigned char fallback_index[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head><meta charset=\"utf-8\"><title>certstation</title></head>\n"
    "<body>\n"
    "<h1>certstation</h1>\n"
    "<p>The dashboard page is not built into this binary. The station is running;\n"
    "its JSON API is under <code>/api/v1/</code> (see web-ui/API.md) and its\n"
    "metrics are at <a href=\"/metrics\">/metrics</a>.</p>\n"
    "</body>\n"
    "</html>\n";

const struct web_asset web_assets[] = {
	{"/", "text/html; charset=utf-8", fallback_index, sizeof(fallback_index) - 1},
};

const size_t web_asset_count = sizeof(web_assets) / sizeof(web_assets[0]);
