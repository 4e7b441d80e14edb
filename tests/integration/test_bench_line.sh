# `certstation bench line`, small: 1 and 2 simulated fixtures at 921600 baud
# in both dialects, 1 s each. Checks that it runs to the end, prints one
# table row per combination with numbers that parse, and prints its verdict
# lines; a failing device makes it exit 1. Performance targets are not
# checked here: a timing test must not fail on a slow or busy CI machine.
# Usage errors exit 2.
source "$(dirname "$0")/lib.sh"

out=$WORK/bench.out
rc=0
timeout 300 "$CS" bench line --fixtures 1,2 --bauds 921600 --dialects frame,text --seconds 1 \
  --dir "$WORK/bench" >"$out" 2>"$WORK/bench.err" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "bench line exited $rc: $(tail -5 "$WORK/bench.err") $(tail -12 "$out")"

grep -q "^ *fixtures  *baud  *dialect  *devices/h" "$out" && ok || fail "no table header: $(cat "$out")"

# One row per combination: fixtures baud dialect, then 10 numeric columns
# (devices/h, wall, floor, compute, ratio, p95, slow, devices, bytes,
# scaling) and the CPU split "S+T".
num='[0-9]+(\.[0-9]+)?'
for n in 1 2; do
  for d in frame text; do
    row=$(grep -E "^ +$n +921600 +$d " "$out" || true)
    [ -n "$row" ] && ok || { fail "no row for $n fixtures, $d: $(cat "$out")"; continue; }
    read -r -a f <<<"$row"
    [ "${#f[@]}" -eq 14 ] && ok || fail "row for $n/$d has ${#f[@]} fields: $row"
    for i in 3 4 5 6 7 8 9 10 11 12; do
      [[ ${f[$i]} =~ ^$num$ ]] && ok || fail "row $n/$d column $((i + 1)) is not a number: '${f[$i]}' in: $row"
    done
    [[ ${f[13]} =~ ^$num\+$num$ ]] && ok || fail "row $n/$d cpu column: '${f[13]}'"
    # plausibility, not performance: some devices, a rate, a ratio >= ~1
    # (a device cannot beat its own wire time by more than the simulator's
    # 1 ms write head start), bytes in the range of one P-256 exchange
    python3 - "${f[3]}" "${f[7]}" "${f[10]}" "${f[11]}" <<'PY' && ok || fail "implausible row $n/$d: $row"
import sys
per_h, ratio, devices, nbytes = map(float, sys.argv[1:])
sys.exit(0 if per_h > 0 and ratio > 0.8 and devices >= 1 and 500 < nbytes < 10000 else 1)
PY
  done
done

# Scaling is relative to 1 fixture: exactly 1.00 on the 1-fixture rows.
grep -E "^ +1 +921600 +(frame|text) " "$out" | awk '{ if ($13 != "1.00") exit 1 }' && ok ||
  fail "1-fixture rows must have scaling 1.00: $(grep -E '^ +1 ' "$out")"

grep -qE "^per-device time within 1\.15x of wire floor \+ device compute: (yes|no) \(worst $num" "$out" && ok ||
  fail "no per-device verdict: $(cat "$out")"
v=$(grep -oE "frame sends fewer bytes than text: yes \($num times fewer" "$out" || true)
[ -n "$v" ] && ok || fail "no (or negative) bytes verdict: $(grep 'frame sends' "$out")"
for d in frame text; do
  grep -qE "^throughput scales linearly up to [0-9]+ fixtures? at 921600 baud, $d" "$out" && ok ||
    fail "no scaling verdict for $d: $(grep throughput "$out")"
done
grep -qE "^issuance core alone: $num devices/h" "$out" && ok || fail "no issuance core line"
grep -qE "^all devices passed: yes \([0-9]+ measured devices\)" "$out" && ok ||
  fail "not every device passed: $(grep -A3 'all devices' "$out")"
grep -qE "^machine: [0-9]+ cores \(nproc\)" "$out" && ok || fail "no machine line"

# A device that fails is counted, named and makes the exit status 1 (the
# second device on port 0 sends a CSR with a broken signature).
rc=0
timeout 300 "$CS" bench line --fixtures 1 --bauds 921600 --dialects text --seconds 0.5 \
  --fault bad-sig:port=0.2 --dir "$WORK/bench" >"$WORK/fail.out" 2>"$WORK/fail.err" || rc=$?
[ "$rc" -eq 1 ] && ok || fail "bench line with a failing device exited $rc, expected 1"
grep -qE "^ +1 +921600 +text .* FAILED: 1 device" "$WORK/fail.out" && ok ||
  fail "the row does not show the failed device: $(cat "$WORK/fail.out")"
grep -q "^all devices passed: no (1 failed)" "$WORK/fail.out" && ok ||
  fail "no failure verdict: $(grep -A2 'all devices' "$WORK/fail.out")"
grep -q "csr-signature" "$WORK/fail.out" && ok || fail "the failure's reason is not printed"

# --help explains the columns; bad arguments are usage errors.
"$CS" bench line --help | grep -q "w/(f+c)" && ok || fail "--help does not explain the columns"
for bad in "--fixtures 0" "--fixtures 1,1" "--fixtures 65" "--bauds 300" "--dialects frame,xml" \
  "--seconds 0.1" "--seconds 90000" "--gap-ms -1" "--fault nonsense" "extra"; do
  rc=0
  # shellcheck disable=SC2086
  "$CS" bench line $bad >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] && ok || fail "bench line $bad: exit $rc, expected 2"
done
rc=0
"$CS" bench nothing >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] && ok || fail "bench nothing: exit $rc, expected 2"

finish test_bench_line
