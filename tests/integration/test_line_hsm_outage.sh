# The HSM goes away mid-shift and comes back: the SoftHSM2 token directory
# is moved away while two fixtures are being served, then moved back. While
# it is gone, devices end FAILED(hsm-down) with a clear message and nothing is
# signed; the dashboard's /metrics says the HSM is down; once it is back the
# station signs again by itself (module restart), without being restarted,
# and every certificate it issued verifies.
source "$(dirname "$0")/lib.sh"

"$CS" init --demo "$WORK/pki" >/dev/null
cfg=$WORK/pki/certstation.json
root=$WORK/pki/root-ca.pem
db=$WORK/pki/state/ledger.sqlite
tokens=$WORK/pki/tokens

d=$WORK/outage
mkdir -p "$d"
"$CS" sim --count 2 --baud 0 --id-prefix H- --links "$d/links" --fixture-map "$d/map.json" \
  --store "$d/store" --timeout-ms 5000 --gap-ms 40 --seed 5 >"$d/sim.out" 2>"$d/sim.err" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$d/map.json" ] && break; sleep 0.05; done

port=$((20000 + RANDOM % 20000))
python3 - "$cfg" "$d/map.json" "$WORK/pki/line-outage.json" "$port" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["line"] = {"fixture_map": sys.argv[2], "scan_interval_ms": 200,
             "timeouts": {"csr_ms": 2500, "readback_ms": 2500, "exchange_ms": 8000}}
c["web"] = {"enabled": True, "host": "127.0.0.1", "port": int(sys.argv[4])}
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY

"$CS" run --config "$WORK/pki/line-outage.json" --seconds 20 2>"$d/run.err" &
run_pid=$!
metrics() { curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null || true; }
verified() { sqlite3 "$db" "SELECT count(*) FROM issuance WHERE state = 'VERIFIED'" 2>/dev/null || echo 0; }

for _ in $(seq 200); do [ "$(verified)" -ge 6 ] && break; sleep 0.1; done
[ "$(verified)" -ge 6 ] && ok || fail "the line did not get going: $(tail -3 "$d/run.err")"
metrics | grep -q '^certstation_hsm_up 1$' && ok || fail "HSM not reported up before the outage"

mv "$tokens" "$tokens.away"
t_gone=$(date +%s.%N)
down=0
for _ in $(seq 60); do
  if metrics | grep -q '^certstation_hsm_up 0$'; then down=1; break; fi
  sleep 0.1
done
[ "$down" -eq 1 ] && ok || fail "/metrics never said the HSM was down"
sleep 2
failed_during=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE reason = 'hsm-down'")
[ "$failed_during" -ge 1 ] && ok || fail "no device failed hsm-down while the token was away"
last_failed=$(sqlite3 "$db" "SELECT max(id) FROM issuance WHERE reason = 'hsm-down'")
msg=$(sqlite3 "$db" "SELECT reason_text FROM issuance WHERE id = ${last_failed:-0}")
[ "${#msg}" -gt 20 ] && ok || fail "hsm-down without a specific message: '$msg'"
echo "while away: $msg"
# nothing signed while the key was unreachable
signed_during=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE id > ${last_failed:-0} AND cert_der IS NOT NULL")

mv "$tokens.away" "$tokens"
t_back=$(date +%s.%N)
before=$(verified)
back=0
for _ in $(seq 100); do
  if [ "$(verified)" -ge $((before + 4)) ]; then back=1; break; fi
  sleep 0.1
done
[ "$back" -eq 1 ] && ok || fail "no device verified after the token came back: $(tail -3 "$d/run.err")"
echo "token away for $(python3 -c "print(round($t_back - $t_gone, 1))") s; $failed_during device(s) failed hsm-down; signing resumed without a restart"
m=$(metrics)
grep -q '^certstation_hsm_up 1$' <<<"$m" && ok || fail "HSM not reported up after the outage"
restarts=$(awk '/^certstation_hsm_module_restarts_total /{print $2}' <<<"$m")
[ "${restarts:-0}" -ge 1 ] && ok || fail "no module restart counted: '$restarts'"
[ "$signed_during" -le 2 ] && ok || fail "$signed_during certificates signed after the last hsm-down failure but before the token came back"

rc=0
wait "$run_pid" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "run exited $rc: $(tail -5 "$d/run.err")"
kill -TERM "$sim_pid" 2>/dev/null || true
wait "$sim_pid" 2>/dev/null || true

grep -q "FAILED hsm-down: " "$d/run.err" && ok || fail "the station log lacks the hsm-down failures"
# rows after the outage are verified, on both slots
for s in sim-0 sim-1; do
  n=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE slot = '$s' AND state = 'VERIFIED' AND id > $last_failed")
  [ "$n" -ge 1 ] && ok || fail "$s served no verified device after the outage"
done
verify_stored "$d/store" "$root"
"$CS" ledger verify --config "$cfg" >/dev/null && ok || fail "ledger verify after the outage"

finish test_line_hsm_outage
