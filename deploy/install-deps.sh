#!/usr/bin/env bash
# Install the Debian 12 packages certstation needs to build, run its demo and
# run its tests. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libssl-dev openssl
  libjansson-dev libsqlite3-dev sqlite3
  libp11-kit-dev softhsm2 opensc
  libmicrohttpd-dev libserialport-dev
  gnutls-bin golang-cfssl socat curl wrk
  nodejs chromium fonts-dejavu-core
  systemd   # systemd-analyze: tests/integration/test_deploy_service.sh checks the unit with it
)
# npm comes with NodeSource's nodejs (which conflicts with Debian's npm package)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
