# The line end to end: SoftHSM2 demo PKI + `certstation run` + `certstation
# sim` on pseudo-terminals. In each dialect 8 devices in parallel reach
# VERIFIED; every chain the devices stored verifies with openssl and
# certtool, with CN = device ID; the ledger holds one VERIFIED row per device
# with its slot and timings; the audit trail verifies.
source "$(dirname "$0")/lib.sh"

"$CS" init --demo "$WORK/pki" >/dev/null
cfg=$WORK/pki/certstation.json
root=$WORK/pki/root-ca.pem
db=$WORK/pki/state/ledger.sqlite

# line_config MAP OUT [JSON-EXTRA]: the demo config plus a line section
# reading the simulator's fixture map.
line_config() {
  python3 - "$cfg" "$1" "$2" "${3:-{\}}" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["line"] = {"fixture_map": sys.argv[2], "scan_interval_ms": 200,
             "timeouts": {"csr_ms": 4000, "readback_ms": 4000, "exchange_ms": 10000}}
c["line"].update(json.loads(sys.argv[4]))
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
}

# wait_for FILE: until the simulator has written it (5 s).
wait_for() {
  for _ in $(seq 100); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

for dialect in frame text; do
  d=$WORK/$dialect
  mkdir -p "$d"
  "$CS" sim --count 8 --dialect "$dialect" --baud 921600 --id-prefix "${dialect^^}-" \
    --links "$d/links" --fixture-map "$d/map.json" --store "$d/store" --devices-per-port 2 \
    --seed 7 >"$d/sim.out" 2>"$d/sim.err" &
  sim_pid=$!
  wait_for "$d/map.json" && ok || fail "$dialect: simulator wrote no fixture map"
  # beside the demo config: its relative paths (PIN file, CA) stay valid
  line_config "$d/map.json" "$WORK/pki/line-$dialect.json"

  rc=0
  timeout 120 "$CS" run --no-web --config "$WORK/pki/line-$dialect.json" --devices 16 2>"$d/run.err" || rc=$?
  [ "$rc" -eq 0 ] && ok || fail "$dialect: run exited $rc: $(tail -5 "$d/run.err")"
  [ "$rc" -eq 0 ] || kill -TERM "$sim_pid" 2>/dev/null || true
  rc=0
  timeout 30 tail --pid="$sim_pid" -f /dev/null || true
  wait "$sim_pid" || rc=$?
  [ "$rc" -eq 0 ] && ok || fail "$dialect: simulator exit $rc: $(tail -5 "$d/sim.out")"

  n=$(grep -c " PASS " "$d/sim.out" || true)
  [ "$n" -eq 16 ] && ok || fail "$dialect: $n of 16 devices passed: $(cat "$d/sim.out")"
  grep -q "stopped: 16 device(s) done, 16 verified, 0 failed" "$d/run.err" && ok ||
    fail "$dialect: station summary: $(tail -3 "$d/run.err")"

  # Every stored chain verifies independently; CN = the device ID.
  chains=0
  for f in "$d"/store/*.pem; do
    id=$(basename "$f" .pem)
    chains=$((chains + 1))
    openssl verify -x509_strict -purpose sslclient -CAfile "$root" -untrusted "$f" "$f" \
      >/dev/null 2>&1 && ok || fail "$dialect: openssl rejects the chain of $id"
    certtool --verify --verify-profile medium --load-ca-certificate "$root" --infile "$f" \
      >/dev/null 2>&1 && ok || fail "$dialect: certtool rejects the chain of $id"
    subj=$(openssl x509 -in "$f" -noout -subject -nameopt RFC2253)
    grep -q "CN=$id\$\|CN=$id," <<<"$subj" && ok || fail "$dialect: CN of $id is not its ID: $subj"
  done
  [ "$chains" -eq 16 ] && ok || fail "$dialect: $chains chains stored, expected 16"

  # Ledger: one VERIFIED row per device, on a sim slot, with timings and
  # the read-back hash the device reported.
  rows=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE device_id LIKE '${dialect^^}-%'
    AND state = 'VERIFIED' AND slot LIKE 'sim-%' AND readback_sha256 IS NOT NULL
    AND timings LIKE '%\"readback_ms\":%'")
  [ "$rows" -eq 16 ] && ok || fail "$dialect: $rows VERIFIED ledger rows with slot/timings, expected 16"
  slots=$(sqlite3 "$db" "SELECT count(DISTINCT slot) FROM issuance WHERE device_id LIKE '${dialect^^}-%'")
  [ "$slots" -eq 8 ] && ok || fail "$dialect: devices spread over $slots slots, expected 8"
  # each row names its physical fixture: the rule that found the slot's port
  # (here the simulator's link path), one fixture per slot
  bad=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE device_id LIKE '${dialect^^}-%'
    AND (fixture IS NULL OR fixture NOT LIKE '%/links/' || slot)")
  [ "$bad" -eq 0 ] && ok || fail "$dialect: $bad rows without their fixture: $(sqlite3 "$db" "SELECT slot, fixture FROM issuance LIMIT 2")"
  pairs=$(sqlite3 "$db" "SELECT count(DISTINCT slot || fixture) FROM issuance WHERE device_id LIKE '${dialect^^}-%'")
  [ "$pairs" -eq 8 ] && ok || fail "$dialect: $pairs slot/fixture pairs, expected 8"
done

# The frame dialect sends fewer bytes per device than the text dialect.
fb=$(sqlite3 "$db" "SELECT avg(json_extract(timings,'\$.bytes_in')+json_extract(timings,'\$.bytes_out'))
  FROM issuance WHERE device_id LIKE 'FRAME-%'")
tb=$(sqlite3 "$db" "SELECT avg(json_extract(timings,'\$.bytes_in')+json_extract(timings,'\$.bytes_out'))
  FROM issuance WHERE device_id LIKE 'TEXT-%'")
python3 -c "import sys; sys.exit(0 if float('$fb') < float('$tb') else 1)" && ok ||
  fail "frame dialect moved $fb bytes per device, text $tb: frame should be smaller"

"$CS" ledger verify --config "$cfg" >/dev/null && ok || fail "ledger verify after the line runs"

# SIGTERM mid-shift: the daemon stops cleanly (exit 0) and says so.
d=$WORK/sigterm
mkdir -p "$d"
"$CS" sim --count 2 --baud 115200 --id-prefix STOP- --links "$d/links" --fixture-map "$d/map.json" \
  >"$d/sim.out" 2>"$d/sim.err" &
sim_pid=$!
wait_for "$d/map.json" || true
line_config "$d/map.json" "$WORK/pki/line-sigterm.json"
"$CS" run --no-web --config "$WORK/pki/line-sigterm.json" 2>"$d/run.err" &
run_pid=$!
for _ in $(seq 100); do
  grep -q "VERIFIED" "$d/run.err" 2>/dev/null && break
  sleep 0.1
done
kill -TERM "$run_pid"
rc=0
wait "$run_pid" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "run exited $rc after SIGTERM"
grep -q "stopping" "$d/run.err" && grep -q "stopped:" "$d/run.err" && ok ||
  fail "no clean-shutdown lines: $(tail -3 "$d/run.err")"
kill -TERM "$sim_pid" 2>/dev/null || true
wait "$sim_pid" 2>/dev/null || true
# Nothing is left RESERVED or SIGNED-and-forgotten by the shutdown.
left=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE device_id LIKE 'STOP-%' AND state IN ('RESERVED','SIGNED')")
[ "$left" -eq 0 ] && ok || fail "$left rows left RESERVED/SIGNED after SIGTERM"
"$CS" ledger verify --config "$cfg" >/dev/null && ok || fail "ledger verify after SIGTERM"

finish test_line_e2e
