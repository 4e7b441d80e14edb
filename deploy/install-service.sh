#!/usr/bin/env bash
# Install certstation as a systemd service on a Debian 12 line PC. Run as
# root from the repository after building (it builds ./build first if the
# binary is missing). Idempotent: re-running installs the new binary and
# unit and changes nothing else.
#
#   1. cmake --install build (binary, unit, udev rules, example config);
#   2. system user and group certstation (no login, home /var/lib/certstation),
#      member of dialout (serial adapters) and softhsm (SoftHSM2 tokens);
#   3. /etc/certstation (0750 root:certstation; an existing configuration is
#      never touched) and /var/lib/certstation (0750 certstation:certstation);
#   4. udev rules and systemd units reloaded, where udevd and systemd run;
#   5. prints what is left to do by hand.
#
# CERTSTATION_BUILD_DIR (default: build) names the build directory.
# CERTSTATION_INSTALL_ROOT=DIR installs below DIR instead of / (DESTDIR; for
# tests and packaging): no root needed, and steps 2 and 4 are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${CERTSTATION_BUILD_DIR:-build}
root=${CERTSTATION_INSTALL_ROOT:-}
root=${root%/}
if [ -n "$root" ]; then
  case $root in
  /*) ;;
  *) root=$PWD/$root ;;
  esac
fi

say() { echo "install-service: $*"; }

if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install-service: run as root (sudo $0), or set CERTSTATION_INSTALL_ROOT to install below a directory" >&2
  exit 1
fi

# ---- 1. build if needed, install
if [ ! -f "$build/CMakeCache.txt" ]; then
  say "configuring $build"
  cmake -S . -B "$build" >/dev/null
fi
if [ ! -x "$build/certstation" ]; then
  say "building $build/certstation"
  cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target certstation
fi
if [ -n "$root" ]; then
  mkdir -p "$root"
  DESTDIR=$root cmake --install "$build"
else
  cmake --install "$build"
fi
# Where things went (paths as on the target, without the install root).
manifest=$build/install_manifest.txt
bin=$(grep -m1 '/certstation$' "$manifest")
unit=$(grep -m1 '/certstation\.service$' "$manifest")
example=$(grep -m1 '/examples/certstation\.json$' "$manifest")
override=$(grep -m1 '/example-override\.conf$' "$manifest")

# ---- 2. system user and group
if [ -n "$root" ]; then
  say "install root $root: not creating the certstation user, not adding it to dialout and softhsm"
else
  if ! getent group certstation >/dev/null; then
    say "creating system group certstation"
    if command -v addgroup >/dev/null 2>&1; then
      addgroup --system certstation >/dev/null
    else
      groupadd --system certstation
    fi
  fi
  if ! getent passwd certstation >/dev/null; then
    say "creating system user certstation"
    # the home must exist for adduser; its owner is set in step 3
    install -d -m 0750 /var/lib/certstation
    if command -v adduser >/dev/null 2>&1; then
      adduser --system --ingroup certstation --home /var/lib/certstation --no-create-home \
        --shell /usr/sbin/nologin certstation >/dev/null
    else
      useradd --system --gid certstation --home-dir /var/lib/certstation --no-create-home \
        --shell /usr/sbin/nologin certstation
    fi
  fi
  for g in dialout softhsm; do
    if ! getent group "$g" >/dev/null; then
      # The unit's SupplementaryGroups= names both: a missing group stops it
      # from starting (status 216/GROUP).
      say "WARNING: group $g does not exist (softhsm comes with Debian's softhsm2);" \
        "install it, or drop the group with a drop-in (see $override)"
    elif ! id -nG certstation | tr ' ' '\n' | grep -qx "$g"; then
      say "adding certstation to group $g"
      usermod -a -G "$g" certstation
    fi
  done
fi

# ---- 3. directories
# install -d sets mode and owner on an existing directory too, and never
# touches the files inside: an existing certstation.json stays as it is.
if [ -n "$root" ]; then
  install -d -m 0750 "$root/etc/certstation"
  install -d -m 0750 "$root/var/lib/certstation"
else
  install -d -m 0750 -o root -g certstation /etc/certstation
  install -d -m 0750 -o certstation -g certstation /var/lib/certstation
fi
if [ -e "$root/etc/certstation/certstation.json" ]; then
  say "keeping the existing /etc/certstation/certstation.json"
fi

# ---- 4. reload udev and systemd, where they run
if [ -n "$root" ]; then
  say "install root $root: not reloading udev rules (udevadm) or systemd units (systemctl)"
else
  # udevd: its control socket exists only while it runs (not in a container).
  if command -v udevadm >/dev/null 2>&1 && [ -S /run/udev/control ]; then
    udevadm control --reload-rules
    # re-run the rules for ports already plugged in
    udevadm trigger --subsystem-match=tty --action=change
    say "udev rules reloaded"
  fi
  # systemd as PID 1 (what sd_booted() checks); not in most containers.
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    say "systemd units reloaded"
    if systemctl is-active --quiet certstation; then
      say "certstation is running the previous binary: systemctl restart certstation (between shifts)"
    fi
  fi
fi

# ---- 5. what is left
cat <<EOF

Installed: $bin
           $unit
Next steps:
  1. Write /etc/certstation/certstation.json (root:certstation, mode 0640).
     Start from $example;
     for the service set "state_dir": "/var/lib/certstation" and
     "web": { "users": "/var/lib/certstation/users.json" } (deploy/README.md).
  2. Dashboard users, as the certstation user (the users file must be its own):
       runuser -u certstation -- $bin user add --config /etc/certstation/certstation.json NAME --role supervisor
  3. Start it now and at every boot, and watch it:
       systemctl enable --now certstation
       journalctl -u certstation -f
  4. Back the ledger up daily (a verified copy; keeps the newest 14 in
     /var/lib/certstation/backups: point it at other storage, deploy/README.md):
       systemctl enable --now certstation-backup.timer
EOF
