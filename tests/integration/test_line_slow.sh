# A slow link (2400 baud, paced by the simulator) against the step timeouts:
# with a CSR step shorter than the CSR's wire time the device fails
# device-timeout, "still sending a frame", not device-protocol (its bytes are
# the start of a real frame, not noise); with a step long enough the same
# device passes, so it was the timeout and nothing else.
source "$(dirname "$0")/lib.sh"

"$CS" init --demo "$WORK/pki" >/dev/null
db=$WORK/pki/state/ledger.sqlite

serve() { # NAME CSR_MS: one device on one 2400-baud port
  local name=$1 csr_ms=$2 d=$WORK/$1 rc=0
  mkdir -p "$d"
  "$CS" sim --count 1 --baud 2400 --id-prefix "$name-" --links "$d/links" --fixture-map "$d/map.json" \
    --once --timeout-ms 30000 >"$d/sim.out" 2>&1 &
  local sim_pid=$!
  for _ in $(seq 100); do [ -s "$d/map.json" ] && break; sleep 0.05; done
  # beside the demo config: its relative paths (PIN file, CA) stay valid
  python3 - "$WORK/pki/certstation.json" "$d/map.json" "$WORK/pki/$name.json" "$csr_ms" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["line"] = {"fixture_map": sys.argv[2],
             "timeouts": {"csr_ms": int(sys.argv[4]), "readback_ms": 30000, "exchange_ms": 60000}}
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
  timeout 90 "$CS" run --no-web --config "$WORK/pki/$name.json" --devices 1 2>"$d/run.err" || rc=$?
  [ "$rc" -eq 0 ] && ok || fail "$name: run exited $rc: $(tail -3 "$d/run.err")"
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
}

serve short 500
row=$(sqlite3 "$db" "SELECT state || '|' || coalesce(reason,'') || '|' || coalesce(reason_text,'')
  FROM issuance WHERE device_id LIKE 'short-%'")
[[ $row == "FAILED|device-timeout|device was still sending a frame when step csr ran out of time"* ]] && ok ||
  fail "a CSR still on the wire at the deadline: $row"
echo "2400 baud, csr_ms 500: ${row#FAILED|}"

serve long 10000
row=$(sqlite3 "$db" "SELECT state FROM issuance WHERE device_id LIKE 'long-%'")
[ "$row" = VERIFIED ] && ok || fail "the same device with a long enough CSR step: $row"

finish test_line_slow
