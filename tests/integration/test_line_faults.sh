# The line under fire: every fault the simulator can play, each on its own
# slot, as the second of three devices on that slot. The faulty device ends
# FAILED with its own reason in the ledger and a specific message; the
# devices before and after it on the same slot, and every device on the
# healthy slots, reach VERIFIED. A device pulled mid-chain is re-seated with
# the same key and gets the same certificate again.
source "$(dirname "$0")/lib.sh"

"$CS" init --demo "$WORK/pki" >/dev/null
cfg=$WORK/pki/certstation.json
root=$WORK/pki/root-ca.pem
db=$WORK/pki/state/ledger.sqlite

# The allowlist holds every simulated ID (F-000001..F-000099) but none of the
# "X-" IDs the off-list fault uses.
{
  echo "device_id,lot,quota"
  for i in $(seq 1 99); do printf 'F-%06d,LOT-A,1000\n' "$i"; done
} >"$WORK/workorder.csv"
"$CS" workorder import --config "$cfg" "$WORK/workorder.csv" >/dev/null && ok || fail "work-order import"

faults=(garbage noise drop stall stall-mid bad-sig replay wrong-readback dup-id off-list oversize bad-version)
declare -A reason=(
  [garbage]=device-protocol [drop]=device-gone [stall]=device-timeout [stall-mid]=device-timeout
  [bad-sig]=csr-signature
  [replay]=csr-nonce [wrong-readback]=readback-mismatch [dup-id]=reissue-refused
  [off-list]=device-not-allowlisted [oversize]=device-too-large [bad-version]=device-version)
healthy=2
ports=$((${#faults[@]} + healthy))

args=()
for i in "${!faults[@]}"; do args+=(--fault "${faults[$i]}:port=$i.2"); done
d=$WORK/faults
mkdir -p "$d"
"$CS" sim --count "$ports" --baud 115200 --id-prefix F- --links "$d/links" --fixture-map "$d/map.json" \
  --store "$d/store" --devices-per-port 3 --timeout-ms 5000 --gap-ms 100 --seed 3 "${args[@]}" \
  >"$d/sim.out" 2>"$d/sim.err" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$d/map.json" ] && break; sleep 0.05; done

python3 - "$cfg" "$d/map.json" "$WORK/pki/line-faults.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["profiles"]["listed"] = dict(c["profiles"]["device"], require_allowlist=True)
c["default_profile"] = "listed"
c["line"] = {"fixture_map": sys.argv[2], "scan_interval_ms": 200,
             "timeouts": {"csr_ms": 2500, "readback_ms": 2500, "exchange_ms": 8000}}
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY

rc=0
timeout 150 "$CS" run --no-web --config "$WORK/pki/line-faults.json" --devices $((ports * 3)) \
  2>"$d/run.err" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "run exited $rc: $(tail -5 "$d/run.err")"
[ "$rc" -eq 0 ] || kill -TERM "$sim_pid" 2>/dev/null || true
rc=0
wait "$sim_pid" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "simulator saw an unexpected outcome (exit $rc): $(grep -i unexpected "$d/sim.out")"

# row_of SLOT N: state|reason|reason_text of the N-th device served on SLOT.
row_of() {
  sqlite3 "$db" "SELECT state || '|' || coalesce(reason,'') || '|' || coalesce(reason_text,'')
    FROM issuance WHERE slot = '$1' ORDER BY id LIMIT 1 OFFSET $(($2 - 1))"
}

for i in "${!faults[@]}"; do
  f=${faults[$i]}
  slot=sim-$i
  first=$(row_of "$slot" 1)
  [[ $first == VERIFIED* ]] && ok || fail "$f: the device before the fault on $slot: $first"
  mid=$(row_of "$slot" 2)
  if [ "$f" = drop ]; then
    # the pulled board is re-seated: same ID, same key, so the same row and
    # the same certificate come back (FAILED -> re-delivered -> VERIFIED)
    [[ $mid == VERIFIED* ]] && ok || fail "drop: the re-seated device did not pass: $mid"
    id=$(sqlite3 "$db" "SELECT id FROM issuance WHERE slot = '$slot' ORDER BY id LIMIT 1 OFFSET 1")
    events=$(sqlite3 "$db" "SELECT group_concat(event, ',') FROM (SELECT event FROM audit WHERE issuance_id = $id ORDER BY seq)")
    [[ $events == *FAILED*REDELIVERED*INJECTED*VERIFIED* ]] && ok || fail "drop: audit trail of the re-seated device: $events"
    grep -q "$slot: .* FAILED device-gone: " "$d/run.err" && ok || fail "drop: the station log lacks the failure"
    grep -q "$slot: .* VERIFIED .*certificate re-delivered" "$d/run.err" && ok || fail "drop: no re-delivery logged"
    n=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE slot = '$slot'")
    [ "$n" -eq 2 ] && ok || fail "drop: $n rows on $slot; the re-seated device must not get a second certificate"
    continue
  elif [ "$f" = noise ]; then
    # noise is survivable: resynchronisation and retransmission carry on
    [[ $mid == VERIFIED* ]] && ok || fail "noise: the noisy device did not pass: $mid"
  else
    want=${reason[$f]}
    [[ $mid == "FAILED|$want|"* ]] && ok || fail "$f: expected FAILED($want), ledger says: $mid"
    text=${mid#FAILED|$want|}
    [ "${#text}" -gt 20 ] && ok || fail "$f: no specific message: '$text'"
    # a device that hangs half-way through a frame is said to, not called a talker of junk
    if [ "$f" = stall-mid ]; then
      [[ $text == *"stopped in the middle of a frame"* ]] && ok || fail "stall-mid: message '$text'"
    fi
    grep -q "$slot: .* FAILED $want: " "$d/run.err" && ok || fail "$f: the station log lacks the failure"
  fi
  last=$(row_of "$slot" 3)
  [[ $last == VERIFIED* ]] && ok || fail "$f: the slot did not serve the next device: $last"
done
for h in $(seq 0 $((healthy - 1))); do
  slot=sim-$((${#faults[@]} + h))
  n=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE slot = '$slot' AND state = 'VERIFIED'")
  [ "$n" -eq 3 ] && ok || fail "healthy $slot: $n of 3 devices VERIFIED"
done
# the station's own summary agrees: two failures per faulty slot would be a leak
want_failed=$((${#faults[@]} - 1)) # noise passes
grep -q "stopped: $((ports * 3)) device(s) done, $((ports * 3 - want_failed)) verified, $want_failed failed" \
  "$d/run.err" && ok || fail "station summary: $(tail -1 "$d/run.err")"

# Every stored chain verifies.
verify_stored "$d/store" "$root"
"$CS" ledger verify --config "$cfg" >/dev/null && ok || fail "ledger verify after the faults"

finish test_line_faults
