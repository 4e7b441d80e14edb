# Installing certstation as a service: deploy/install-service.sh into a temp
# root (CERTSTATION_INSTALL_ROOT), from the build directory that holds the
# binary under test. Checks that the files land where deploy/README.md says,
# that the installed unit starts the installed binary (also after
# `cmake --install --prefix`), that systemd-analyze verify finds nothing to
# say about the unit or the example drop-in and rates its hardening, and that
# the udev rules are well formed. Every check is also run on a deliberately
# broken copy, which must fail it.
source "$(dirname "$0")/lib.sh"

BUILD=$(cd "$(dirname "$CS")" && pwd)
ROOT=$WORK/root
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  fail "$CS is not in a CMake build directory (no $BUILD/CMakeCache.txt)"
  finish
  exit
fi

# The installs below rewrite the build's install_manifest.txt, which lists
# what a real install put on this machine (deploy/README.md uninstalls with
# it): keep it as it was.
manifest=$BUILD/install_manifest.txt
if [ -f "$manifest" ]; then
  cp -p "$manifest" "$WORK/manifest.saved"
fi
restore_manifest() {
  if [ -f "$WORK/manifest.saved" ]; then
    cp -p "$WORK/manifest.saved" "$manifest"
  else
    rm -f "$manifest"
  fi
}
trap 'restore_manifest; rm -rf "$WORK"' EXIT

# Paths as configured (defaults: prefix /usr/local, lib/systemd/system, ...)
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
below_prefix() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
bin=$(below_prefix "$(cache CMAKE_INSTALL_BINDIR)")/certstation
unit=$(below_prefix "$(cache CERTSTATION_SYSTEMD_UNIT_DIR)")/certstation.service
rules=$(below_prefix "$(cache CERTSTATION_UDEV_RULES_DIR)")/60-certstation-fixtures.rules
# GNUInstallDirs leaves DOCDIR empty in the cache unless it was set
docdir=$(cache CMAKE_INSTALL_DOCDIR)
[ -n "$docdir" ] || docdir=$(cache CMAKE_INSTALL_DATAROOTDIR)/doc/certstation
docdir=$(below_prefix "$docdir")

# ---- install into the temp root
out=$WORK/install.out
if CERTSTATION_INSTALL_ROOT=$ROOT CERTSTATION_BUILD_DIR=$BUILD \
   bash "$SRC/deploy/install-service.sh" >"$out" 2>&1; then
  ok
else
  fail "install-service.sh exited $?: $(tail -20 "$out")"
fi
for msg in "not creating the certstation user" "not reloading udev rules" "Next steps:" \
           "systemctl enable --now certstation" "user add"; do
  grep -qF "$msg" "$out" && ok || fail "install-service.sh output lacks '$msg'"
done

for f in "$bin" "$unit" "$rules" "$docdir/examples/certstation.json" \
         "$docdir/examples/README.md" "$docdir/systemd/example-override.conf"; do
  [ -f "$ROOT$f" ] && ok || fail "not installed: $f"
done
cmp -s "$CS" "$ROOT$bin" && ok || fail "$bin differs from $CS"
cmp -s "$SRC/deploy/udev/60-certstation-fixtures.rules" "$ROOT$rules" && ok ||
  fail "$rules differs from the source"
cmp -s "$SRC/deploy/examples/certstation.json" "$ROOT$docdir/examples/certstation.json" && ok ||
  fail "the example configuration differs from the source"
for d in /etc/certstation /var/lib/certstation; do
  [ "$(stat -c %a "$ROOT$d" 2>/dev/null)" = 750 ] && ok || fail "$d missing or not mode 0750"
done
if [ "$prefix" = /usr/local ]; then # the layout deploy/README.md documents
  [ "$unit" = /usr/local/lib/systemd/system/certstation.service ] && ok || fail "unit at $unit"
  [ "$rules" = /usr/local/lib/udev/rules.d/60-certstation-fixtures.rules ] && ok ||
    fail "rules at $rules"
fi

# ---- the unit names the installed binary, and that binary runs
u=$ROOT$unit
exec_bin=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$u")
[ "$exec_bin" = "$bin" ] && ok || fail "ExecStart names '$exec_bin', installed: $bin"
grep -qxF "ExecStart=$bin run --config /etc/certstation/certstation.json" "$u" && ok ||
  fail "ExecStart is not '$bin run --config /etc/certstation/certstation.json'"
grep -q '@[A-Z_]*@' "$u" && fail "unreplaced placeholder in the unit: $(grep '@[A-Z_]*@' "$u")" || ok
"$ROOT$exec_bin" --help >/dev/null 2>&1 && ok || fail "$ROOT$exec_bin --help failed"
"$ROOT$exec_bin" --version 2>&1 | grep -q '^certstation [0-9]' && ok ||
  fail "$ROOT$exec_bin --version: $("$ROOT$exec_bin" --version 2>&1)"
for line in Type=notify NotifyAccess=main WatchdogSec=30 User=certstation Group=certstation \
            "SupplementaryGroups=dialout softhsm" Restart=on-failure TimeoutStopSec=30s \
            StateDirectory=certstation ConfigurationDirectory=certstation UMask=0077 \
            NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" DevicePolicy=closed \
            "DeviceAllow=char-ttyUSB rw" "DeviceAllow=char-ttyACM rw" "DeviceAllow=char-ttyS rw" \
            CapabilityBoundingSet= "WantedBy=multi-user.target"; do
  grep -qxF "$line" "$u" && ok || fail "unit lacks the line '$line'"
done
grep -qE '^ReadWritePaths=.*/var/lib/softhsm( |$)' "$u" && ok ||
  fail "unit does not make /var/lib/softhsm writable"

# DeviceAllow=char-NAME is resolved against /proc/devices when the unit
# starts: NAME must be a device group there, or one that a module the unit
# loads first (modprobe@) registers.
module_of() { case $1 in ttyUSB) echo usbserial ;; ttyACM) echo cdc_acm ;; esac; }
for name in $(sed -n 's/^DeviceAllow=char-\([^ ]*\) .*/\1/p' "$u"); do
  m=$(module_of "$name")
  if [ -n "$m" ]; then
    grep -qE "^Wants=.*modprobe@$m\.service" "$u" && grep -qE "^After=.*modprobe@$m\.service" "$u" &&
      ok || fail "DeviceAllow=char-$name without Wants=/After=modprobe@$m.service"
  elif [ -r /proc/devices ]; then
    awk -v n="$name" '$2 == n { found = 1 } END { exit !found }' /proc/devices && ok ||
      fail "DeviceAllow=char-$name: no such device group in /proc/devices"
  fi
done

# ---- the daily ledger backup: service and timer beside the unit, the
# service names the same installed binary and a real `ledger backup` line
bu=$ROOT$(dirname "$unit")/certstation-backup.service
bt=$ROOT$(dirname "$unit")/certstation-backup.timer
[ -f "$bu" ] && [ -f "$bt" ] && ok || fail "backup service/timer not installed next to the unit"
grep -qE "^ExecStart=$bin ledger backup --config /etc/certstation/certstation.json --out \\\$\{BACKUP_DIR\} --keep \\\$\{BACKUP_KEEP\}$" "$bu" &&
  ok || fail "backup ExecStart: $(grep ExecStart "$bu")"
"$ROOT$bin" ledger --help 2>&1 | grep -q "ledger backup .*--keep N" && ok ||
  fail "the installed binary does not offer ledger backup --keep"
grep -q '^OnCalendar=' "$bt" && grep -q '^Persistent=true$' "$bt" && ok || fail "timer: $(cat "$bt")"

# ---- re-running keeps an existing configuration
echo '{"marker": "site config"}' >"$ROOT/etc/certstation/certstation.json"
if CERTSTATION_INSTALL_ROOT=$ROOT CERTSTATION_BUILD_DIR=$BUILD \
   bash "$SRC/deploy/install-service.sh" >"$out" 2>&1; then
  ok
else
  fail "second install-service.sh run exited $?: $(tail -20 "$out")"
fi
grep -qF '"marker": "site config"' "$ROOT/etc/certstation/certstation.json" && ok ||
  fail "the second run changed /etc/certstation/certstation.json"
grep -qF "keeping the existing /etc/certstation/certstation.json" "$out" && ok ||
  fail "the second run did not say it kept the configuration"

# ---- another prefix at install time: the unit follows it
OPT=$WORK/opt
if DESTDIR=$OPT cmake --install "$BUILD" --prefix /opt/certstation >"$WORK/opt.out" 2>&1; then
  ok
else
  fail "cmake --install --prefix /opt/certstation failed: $(tail -20 "$WORK/opt.out")"
fi
ou=$(find "$OPT" -name certstation.service -print -quit)
[ -n "$ou" ] && grep -q '^ExecStart=/opt/certstation/bin/certstation run ' "$ou" && ok ||
  fail "with --prefix /opt/certstation, ExecStart is: $(grep '^ExecStart=' "$ou" 2>/dev/null)"
[ -x "$OPT/opt/certstation/bin/certstation" ] && ok || fail "no /opt/certstation/bin/certstation"
# (CMake wraps warnings: join the lines first)
grep -q 'where systemd does not look' <<<"$(tr -s '\n ' '  ' <"$WORK/opt.out")" && ok ||
  fail "no warning that /opt/certstation/lib/systemd/system is not read by systemd"

# ---- systemd-analyze: verify and security
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze missing: installing it with deploy/install-deps.sh"
  "$SRC/deploy/install-deps.sh" >/dev/null || true
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  fail "systemd-analyze is not available (package systemd; deploy/install-deps.sh)"
  finish
  exit
fi
# A root with the installed files plus this machine's units (sysinit.target,
# modprobe@.service ...): --root resolves ExecStart and every unit the
# certstation unit pulls in inside it, so a wrong binary path fails.
VROOT=$WORK/vroot
mkdir -p "$VROOT/usr/lib/systemd/system" "$VROOT/etc/systemd/system"
cp -a "$ROOT/." "$VROOT/"
hostunits=/usr/lib/systemd/system
[ -f "$hostunits/sysinit.target" ] || hostunits=/lib/systemd/system
cp -an "$hostunits/." "$VROOT/usr/lib/systemd/system/"
vunit=$VROOT$unit

# verify_clean NAME: systemd-analyze verify exits 0 *and* prints nothing;
# it exits 0 on most errors ("Unknown key ..., ignoring"), so its output
# counts. The output is left in $WORK/verify.out.
verify_clean() {
  local rc=0
  (cd "$WORK" && systemd-analyze verify --root="$VROOT" "$1") >"$WORK/verify.out" 2>&1 || rc=$?
  [ "$rc" -eq 0 ] && [ ! -s "$WORK/verify.out" ]
}
for u2 in certstation-backup.service certstation-backup.timer; do
  verify_clean "$u2" && ok || fail "systemd-analyze verify $u2: $(cat "$WORK/verify.out")"
done
if verify_clean certstation.service; then
  ok
  echo "systemd-analyze verify certstation.service: clean"
else
  fail "systemd-analyze verify certstation.service: $(cat "$WORK/verify.out")"
fi

# broken copies must not pass
broken=$VROOT/etc/systemd/system/certstation-broken.service
check_broken() {
  local what=$1 expr=$2
  sed "$expr" "$vunit" >"$broken"
  if cmp -s "$vunit" "$broken"; then
    fail "broken copy ($what): the edit '$expr' changed nothing"
  elif verify_clean certstation-broken.service; then
    fail "systemd-analyze verify passed a unit with $what"
  else
    ok
  fi
}
check_broken "a misspelt key" 's/^WatchdogSec=30$/WatchdogSecs=30/'
check_broken "a bad device access mode" 's/^DeviceAllow=char-ttyS rw$/DeviceAllow=char-ttyS rwx/'
check_broken "a bad address family" 's/^RestrictAddressFamilies=.*/& AF_INTE/'
check_broken "a binary that is not installed" "s|^ExecStart=$bin |ExecStart=$bin-missing |"
rm -f "$broken"
echo "systemd-analyze verify: each broken copy refused"

# The example drop-in with every setting uncommented must verify too (its
# ExecStart names the binary of this install).
dropin=$VROOT/etc/systemd/system/certstation.service.d/override.conf
mkdir -p "$(dirname "$dropin")"
sed -e 's/^#\([A-Z][A-Za-z]*=\)/\1/' -e "s|^ExecStart=/usr/local/bin/certstation |ExecStart=$bin |" \
  "$SRC/deploy/systemd/certstation.service.d/example-override.conf" >"$dropin"
n=$(grep -c '^[A-Z][A-Za-z]*=' "$dropin" || true)
[ "$n" -ge 10 ] && ok || fail "example-override.conf: only $n settings after uncommenting"
if verify_clean certstation.service; then
  ok
else
  fail "systemd-analyze verify with example-override.conf uncommented: $(cat "$WORK/verify.out")"
fi
echo 'NoSuchSetting=1' >>"$dropin"
verify_clean certstation.service && fail "verify passed a drop-in with an unknown key" || ok
rm -rf "$(dirname "$dropin")"

# Hardening: systemd's exposure score (0-10, lower is better) stays at or
# below 2.5; a copy without the main sandboxing lines must score worse.
sec() { (cd "$WORK" && systemd-analyze security --offline=yes --threshold=25 --root="$VROOT" "$1") 2>&1; }
if sout=$(sec certstation.service); then
  ok
else
  fail "systemd-analyze security: exposure above 2.5: $(tail -1 <<<"$sout")"
fi
echo "systemd-analyze security: $(tail -1 <<<"$sout")"
grep -vE '^(ProtectSystem|CapabilityBoundingSet|SystemCallFilter|RestrictAddressFamilies|PrivateTmp|ProtectHome)=' \
  "$vunit" >"$broken"
sec certstation-broken.service >/dev/null && fail "security passed a unit without sandboxing" || ok
rm -f "$broken"

# ---- udev rules: only known keys, right operators, balanced quotes, labels
# that exist, vendor IDs of 4 lower-case hex digits (sysfs spells them so,
# and ATTRS{} compares case-sensitively: "10C4" would never match).
# Commented-out rules (the CDC-ACM opt-in) are checked as if uncommented.
lint_rules() {
  local file=$1 errs=0 n=0 line text rest key attr op val
  local re_pair='^([A-Z_]+)(\{([^}]*)\})?(==|!=|\+=|-=|:=|=)"([^"]*)"[[:space:]]*(,[[:space:]]*|$)'
  local re_commented='^#([A-Z_]+)(\{[^}]*\})?(==|!=|\+=|:=|=)"'
  local -A labels=() gotos=()
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    text=${line#"${line%%[![:space:]]*}"}
    [ -z "$text" ] && continue
    if [[ $text == \#* ]]; then
      [[ $text =~ $re_commented ]] || continue
      text=${text#\#}
    fi
    if [ $(($(tr -cd '"' <<<"$text" | wc -c) % 2)) -ne 0 ]; then
      echo "$file:$n: unbalanced quotes"
      errs=$((errs + 1))
      continue
    fi
    rest=$text
    while [ -n "$rest" ]; do
      if ! [[ $rest =~ $re_pair ]]; then
        echo "$file:$n: cannot parse '$rest'"
        errs=$((errs + 1))
        break
      fi
      key=${BASH_REMATCH[1]} attr=${BASH_REMATCH[3]} op=${BASH_REMATCH[4]} val=${BASH_REMATCH[5]}
      rest=${rest:${#BASH_REMATCH[0]}}
      case $key in
      ACTION | SUBSYSTEM | SUBSYSTEMS | KERNEL | KERNELS | DRIVER | DRIVERS | ATTR | ATTRS)
        [[ $op == "==" || $op == "!=" ]] || {
          echo "$file:$n: $key is a match key, '$op' assigns"
          errs=$((errs + 1))
        } ;;
      GROUP | MODE | OWNER | GOTO | LABEL | SYMLINK | TAG)
        [[ $op == "=" || $op == "+=" || $op == ":=" ]] || {
          echo "$file:$n: $key is assigned, '$op' compares"
          errs=$((errs + 1))
        } ;;
      ENV) ;;
      *)
        echo "$file:$n: unknown key $key"
        errs=$((errs + 1)) ;;
      esac
      case $key in
      ATTR | ATTRS | ENV)
        [ -n "$attr" ] || {
          echo "$file:$n: $key needs {name}"
          errs=$((errs + 1))
        } ;;
      *)
        [ -z "$attr" ] || {
          echo "$file:$n: $key takes no {name}"
          errs=$((errs + 1))
        } ;;
      esac
      if [[ $attr == idVendor || $attr == idProduct ]] && ! [[ $val =~ ^[0-9a-f]{4}$ ]]; then
        echo "$file:$n: $attr '$val' is not 4 lower-case hex digits"
        errs=$((errs + 1))
      fi
      if [ "$key" = MODE ] && ! [[ $val =~ ^0[0-7]{3}$ ]]; then
        echo "$file:$n: MODE '$val' is not an octal mode"
        errs=$((errs + 1))
      fi
      [ "$key" = LABEL ] && labels[$val]=1
      [ "$key" = GOTO ] && gotos[$val]=$n
    done
  done <"$file"
  for g in "${!gotos[@]}"; do
    [ -n "${labels[$g]:-}" ] || {
      echo "$file:${gotos[$g]}: GOTO \"$g\" has no LABEL"
      errs=$((errs + 1))
    }
  done
  [ "$errs" -eq 0 ]
}
rf=$SRC/deploy/udev/60-certstation-fixtures.rules
if lint_rules "$rf" >"$WORK/lint.out"; then ok; else fail "udev rules: $(cat "$WORK/lint.out")"; fi
for vid in 0403 10c4 1a86 067b; do
  grep -qE "^ATTRS\{idVendor\}==\"$vid\".*ENV\{CERTSTATION_FIXTURE\}=\"1\"" "$rf" && ok ||
    fail "udev rules: vendor $vid is not marked as a fixture adapter"
done
grep -qxF 'ENV{CERTSTATION_FIXTURE}=="1", ENV{ID_MM_DEVICE_IGNORE}="1", GROUP="dialout", MODE="0660"' "$rf" &&
  ok || fail "udev rules: fixture ports are not hidden from ModemManager with group dialout, 0660"
grep -qE '^#KERNEL=="ttyACM\[0-9\]\*"' "$rf" && ok || fail "udev rules: no commented CDC-ACM opt-in"
grep -qE '^KERNEL=="ttyACM' "$rf" && fail "udev rules: CDC-ACM must be opt-in (commented)" || ok

# the linter must catch what it is for
lint_broken() {
  local what=$1 expr=$2
  sed "$expr" "$rf" >"$WORK/broken.rules"
  if cmp -s "$rf" "$WORK/broken.rules"; then
    fail "broken rules ($what): the edit '$expr' changed nothing"
  elif lint_rules "$WORK/broken.rules" >/dev/null; then
    fail "udev rules check passed rules with $what"
  else
    ok
  fi
}
lint_broken "an unknown key" 's/^ATTRS{idVendor}=="0403", /ATTRS{idVendor}=="0403", SUBSYTEM=="tty", /'
lint_broken "an unbalanced quote" 's/^ATTRS{idVendor}=="10c4"/ATTRS{idVendor}=="10c4/'
lint_broken "a 3-digit vendor ID" 's/"1a86"/"a86"/'
lint_broken "an upper-case vendor ID" 's/"10c4"/"10C4"/'
lint_broken "a bad commented vendor ID" 's/"1234"/"12345"/'
lint_broken "a GOTO without its LABEL" 's/^LABEL="certstation_fixtures_end"/LABEL="elsewhere"/'
lint_broken "a match key assigned" 's/^SUBSYSTEM!="tty"/SUBSYSTEM="tty"/'
lint_broken "an assignment compared" 's/GROUP="dialout"/GROUP=="dialout"/'

finish
