#!/usr/bin/env bash
# The README's "run it" command: build certstation, create a demo PKI whose
# issuing-CA key lives in a SoftHSM2 token (./demo), issue certificates for a
# few freshly generated device keys from the command line and check every
# chain with OpenSSL and GnuTLS; then run the station on a line of simulated
# devices (pseudo-terminal fixtures) until Ctrl-C. Idempotent: re-running
# reuses the demo PKI and re-delivers the same certificates to the same
# devices.
#
# CERTSTATION_DEMO_SECONDS=N stops the line after N seconds (default: run
# until Ctrl-C). CERTSTATION_DEMO_FIXTURES (default 4) and
# CERTSTATION_DEMO_BAUD (default 115200) shape the simulated line.
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

cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target certstation

cs=build/certstation
demo=${CERTSTATION_DEMO_DIR:-$PWD/demo}
mkdir -p "$demo/devices"

echo "== demo PKI in $demo (issuing-CA key inside SoftHSM2)"
"$cs" init --demo "$demo"
cfg="$demo/certstation.json"

echo
echo "== CA"
"$cs" ca show --config "$cfg" | sed -n '1,12p'

echo
echo "== provisioning 5 devices (each generates its own key and CSR)"
for i in 1 2 3 4 5; do
  id=$(printf 'demo-device-%04d' "$i")
  key="$demo/devices/$id.key"
  [ -f "$key" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
  openssl req -new -key "$key" -subj "/CN=$id" -out "$demo/devices/$id.csr"
  "$cs" issue --config "$cfg" --csr "$demo/devices/$id.csr" --device-id "$id" \
     --out "$demo/devices/$id.chain.pem"
  openssl verify -x509_strict -CAfile "$demo/root-ca.pem" -untrusted "$demo/devices/$id.chain.pem" \
     "$demo/devices/$id.chain.pem" >/dev/null
  certtool --verify --verify-profile medium --load-ca-certificate "$demo/root-ca.pem" \
     --infile "$demo/devices/$id.chain.pem" >/dev/null 2>&1
  echo "   $id: chain verified by openssl and certtool"
done

echo
echo "== a refusal: a device ID the profile does not accept"
"$cs" issue --config "$cfg" --csr "$demo/devices/demo-device-0001.csr" --device-id 'bad id!' \
   >/dev/null || true

echo
echo "== proof of possession for CA registration (Azure IoT Hub / DPS)"
"$cs" ca verification-cert --config "$cfg" --out "$demo/verification.pem" DEMO-VERIFICATION-CODE
openssl x509 -in "$demo/verification.pem" -noout -subject -issuer

echo
echo "== ledger"
"$cs" ledger verify --config "$cfg"
"$cs" ledger export --config "$cfg" --format csv --out "$demo/ledger.csv"
echo "   exported the ledger to $demo/ledger.csv"

# The line: simulated devices in pseudo-terminal fixtures, the station
# serving them. Every 17th device reads back a wrong hash and every 29th
# stalls, so the log shows failures with their reasons too.
fixtures=${CERTSTATION_DEMO_FIXTURES:-4}
baud=${CERTSTATION_DEMO_BAUD:-115200}
seconds=${CERTSTATION_DEMO_SECONDS:-0}
sim="$demo/sim"
mkdir -p "$sim"
rm -f "$sim/fixtures.json"
echo
echo "== the line: $fixtures simulated fixtures at $baud baud (frame dialect)"
"$cs" sim --count "$fixtures" --baud "$baud" --id-prefix "LINE-$(date +%H%M%S)-" \
   --links "$sim/ports" --fixture-map "$sim/fixtures.json" --store "$sim/chains" \
   --fault wrong-readback:every=17 --fault stall:every=29 --timeout-ms 8000 \
   >"$sim/devices.log" 2>&1 &
sim_pid=$!
trap 'kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$sim/fixtures.json" ] && break; sleep 0.05; done
python3 - "$cfg" "$sim/fixtures.json" "$demo/line.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["line"] = {"comment": "written by deploy/demo.sh: the simulator's fixtures",
             "fixture_map": sys.argv[2], "timeouts": {"csr_ms": 5000, "readback_ms": 5000}}
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
# A dashboard user; the password is made once and kept in the demo folder.
pwfile="$demo/dashboard-password"
if [ ! -s "$pwfile" ]; then
  (umask 077; openssl rand -base64 15 >"$pwfile")
fi
if ! "$cs" user list --config "$demo/line.json" 2>/dev/null | grep -q '^demo\b'; then
  "$cs" user add --config "$demo/line.json" demo --role supervisor --password-file "$pwfile" >/dev/null
fi
echo "   devices: $sim/devices.log; their chains: $sim/chains"
echo "   station: $cs run --config $demo/line.json   (Ctrl-C stops it)"
echo
echo "   dashboard: http://127.0.0.1:8080/   user: demo   password: $(cat "$pwfile")"
echo
run_args=(--config "$demo/line.json")
[ "$seconds" -gt 0 ] && run_args+=(--seconds "$seconds")
"$cs" run "${run_args[@]}" || true
echo
echo "== ledger after the shift"
sqlite3 "$demo/state/ledger.sqlite" \
  "SELECT state, coalesce(reason, ''), count(*) FROM issuance WHERE slot LIKE 'sim-%'
   GROUP BY 1, 2 ORDER BY 3 DESC" | sed 's/^/   /'
"$cs" ledger verify --config "$cfg"
