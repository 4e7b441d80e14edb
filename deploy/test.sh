#!/usr/bin/env bash
# Build certstation twice (warnings as errors; then with ASan+UBSan) and run
# every test in both builds. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh

# JavaScript from the lockfile: uPlot (built into the dashboard) and
# playwright-core (the browser test). Skipped while node_modules matches it.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.certstation-lock 2>/dev/null)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_sum" >node_modules/.certstation-lock
fi

jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCERTSTATION_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${CERTSTATION_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "== build (ASan+UBSan)"
  cmake -S . -B build-asan -DCERTSTATION_WERROR=ON -DCERTSTATION_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-asan -j"$jobs"
  echo "== tests under ASan+UBSan"
  # SoftHSM2 and OpenSSL keep process-lifetime allocations; leaks are checked
  # in the unit tests that own their memory, not across the PKCS#11 module.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j"$jobs")
fi
