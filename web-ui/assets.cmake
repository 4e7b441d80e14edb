# assets.cmake: the dashboard's static files (web-ui/static/) and uPlot
# (node_modules/uplot, from the lockfile) compiled into the binary as the
# table declared in web-ui/assets.h.
#
# The top-level CMakeLists.txt includes this file and compiles
# ${CERTSTATION_WEB_ASSETS_SOURCE} into certstation_core: the generated table,
# or web-ui/assets_fallback.c (never both: each defines web_assets[]).
#
# CERTSTATION_WEB_ASSETS=ON (default): the real page. uPlot must be in
# node_modules: `npm ci` in the repository root puts it there
# (deploy/test.sh and deploy/demo.sh run it); without it the configure
# stops and says so, rather than building a station whose dashboard is
# silently missing.
# CERTSTATION_WEB_ASSETS=OFF: web-ui/assets_fallback.c (a page that says the
# dashboard was not built in) for builds that do not need the page and have
# no npm (fuzzing, a quick compile check).
option(CERTSTATION_WEB_ASSETS "Build the dashboard page (needs `npm ci` for uPlot) into the binary" ON)

set(WEB_ASSETS_STATIC_DIR ${PROJECT_SOURCE_DIR}/web-ui/static)
set(WEB_ASSETS_UPLOT_DIR ${PROJECT_SOURCE_DIR}/node_modules/uplot)

if(CERTSTATION_WEB_ASSETS)
  if(NOT EXISTS ${WEB_ASSETS_UPLOT_DIR}/dist/uPlot.iife.min.js)
    message(FATAL_ERROR
      "The dashboard needs uPlot from npm, and ${WEB_ASSETS_UPLOT_DIR} is missing.\n"
      "Run `npm ci` in ${PROJECT_SOURCE_DIR} (Debian packages nodejs and npm; "
      "deploy/install-deps.sh installs them), then configure again. "
      "To build without the page, configure with -DCERTSTATION_WEB_ASSETS=OFF.")
  endif()
  file(GLOB_RECURSE WEB_ASSETS_INPUTS CONFIGURE_DEPENDS ${WEB_ASSETS_STATIC_DIR}/*)
  set(CERTSTATION_WEB_ASSETS_SOURCE ${CMAKE_BINARY_DIR}/web-ui/web_assets.c)
  add_custom_command(
    OUTPUT ${CERTSTATION_WEB_ASSETS_SOURCE}
    COMMAND ${CMAKE_COMMAND} -DOUT=${CERTSTATION_WEB_ASSETS_SOURCE} -DSTATIC_DIR=${WEB_ASSETS_STATIC_DIR}
            -DUPLOT_DIR=${WEB_ASSETS_UPLOT_DIR} -P ${PROJECT_SOURCE_DIR}/web-ui/assets_gen.cmake
    DEPENDS ${WEB_ASSETS_INPUTS} ${PROJECT_SOURCE_DIR}/web-ui/assets_gen.cmake
            ${WEB_ASSETS_UPLOT_DIR}/dist/uPlot.iife.min.js ${WEB_ASSETS_UPLOT_DIR}/dist/uPlot.min.css
            ${WEB_ASSETS_UPLOT_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/package-lock.json
    COMMENT "Embedding the dashboard page and uPlot"
    VERBATIM)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/web-ui)
else()
  set(CERTSTATION_WEB_ASSETS_SOURCE ${PROJECT_SOURCE_DIR}/web-ui/assets_fallback.c)
endif()

