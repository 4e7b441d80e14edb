#!/usr/bin/env bash
# Does serving the dashboard slow the line? Runs a station on simulated
# devices at full speed (8 fixtures, 921600 baud, no gap between devices) and
# measures its issuance throughput in alternating phases: without API load,
# then with wrk driving the JSON API and /metrics at a steady RATE requests/s
# (a logged-in session, the endpoints the page polls). Prints API p50/p99
# latency and throughput with/without load as a ratio (medians over ROUNDS).
#
#   bench/bench_web.sh [BUILD_DIR] [RATE] [SECONDS] [ROUNDS]
#   defaults:           build      200    10        3
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rate=${2:-200}
secs=${3:-10}
rounds=${4:-3}
cs=$(realpath "$build/certstation")
command -v wrk >/dev/null || { echo "bench_web: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench_web: curl is not installed" >&2; exit 2; }

work=$(mktemp -d /tmp/certstation-bench-web.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
"$cs" init --demo "$work/pki" >/dev/null
printf 'bench-password-%s\n' "$RANDOM$RANDOM" >"$work/pw"
chmod 600 "$work/pw"
"$cs" user add --config "$work/pki/certstation.json" bench --role supervisor \
  --password-file "$work/pw" >/dev/null
"$cs" sim --count 8 --baud 921600 --gap-ms 0 --id-prefix W- --links "$work/links" \
  --fixture-map "$work/map.json" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/map.json" ] && break; sleep 0.05; done
python3 - "$work/pki/certstation.json" "$work/map.json" "$work/pki/line.json" "$port" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["line"] = {"fixture_map": sys.argv[2]}
c["web"] = {"port": int(sys.argv[4])}
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
"$cs" run --config "$work/pki/line.json" 2>"$work/run.log" &
pids+=($!)
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -s -o /dev/null "$base/api/v1/session" && break; sleep 0.1; done

# log in; the cookie is what a browser holds
pw=$(cat "$work/pw")
curl -s -c "$work/cookies" -H "Origin: $base" -H 'Content-Type: application/json' \
  -d "{\"user\":\"bench\",\"password\":\"$pw\"}" "$base/api/v1/login" >/dev/null
cookie=$(awk '$6 == "certstation_session" { print $6 "=" $7 }' "$work/cookies")
[ -n "$cookie" ] || { echo "bench_web: login failed" >&2; exit 1; }

# wrk paces each connection with delay(): CONN connections x (1000*CONN/RATE) ms
conns=8
cat >"$work/pace.lua" <<LUA
local paths = { "/api/v1/status", "/api/v1/fixtures", "/api/v1/throughput",
                "/api/v1/issuances?limit=50", "/metrics" }
local i = 0
wrk.headers["Cookie"] = "$cookie"
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
delay = function() return $((1000 * conns / rate)) end
LUA

db=$work/pki/state/ledger.sqlite
verified() { sqlite3 "file:$db?mode=ro" "SELECT count(*) FROM issuance WHERE state = 'VERIFIED'" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
# phase SECONDS [wrk]: devices VERIFIED per second over the phase
phase() {
  local n0 t0 n1 t1
  n0=$(verified); t0=$(now)
  if [ "${2:-}" = wrk ]; then
    wrk -t2 -c"$conns" -d"${1}s" --latency -s "$work/pace.lua" "$base" >"$work/wrk.out" 2>&1
  else
    sleep "$1"
  fi
  n1=$(verified); t1=$(now)
  python3 -c "print('%.1f' % (($n1 - $n0) / ($t1 - $t0)))"
}

sleep 3 # warm-up: every slot past its first device
echo "certstation dashboard load benchmark: 8 simulated fixtures at 921600 baud (frame, no gap), API at $rate req/s over $conns connections, ${secs} s phases, $rounds rounds"
idle=() loaded=() p50=() p99=() rps=()
for r in $(seq "$rounds"); do
  idle+=("$(phase "$secs")")
  loaded+=("$(phase "$secs" wrk)")
  p50+=("$(awk '$1 == "50%" { print $2 }' "$work/wrk.out")")
  p99+=("$(awk '$1 == "99%" { print $2 }' "$work/wrk.out")")
  rps+=("$(awk '/^Requests\/sec/ { print $2 }' "$work/wrk.out")")
  errs=$(grep -E 'Non-2xx|Socket errors' "$work/wrk.out" || true)
  [ -z "$errs" ] || echo "round $r: $errs"
  echo "round $r: devices/s without API load ${idle[-1]}, with ${loaded[-1]}; API ${rps[-1]} req/s, p50 ${p50[-1]}, p99 ${p99[-1]}"
done
python3 - "${idle[*]}" "${loaded[*]}" "${rps[*]}" "${p50[*]}" "${p99[*]}" <<'PY'
import statistics, sys
idle = [float(x) for x in sys.argv[1].split()]
loaded = [float(x) for x in sys.argv[2].split()]
rps = [float(x) for x in sys.argv[3].split()]
def ms(s):
    s = s.strip()
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * f
    return float("nan")
p50 = [ms(x) for x in sys.argv[4].split()]
p99 = [ms(x) for x in sys.argv[5].split()]
mi, ml = statistics.median(idle), statistics.median(loaded)
drop = (1 - ml / mi) * 100 if mi > 0 else float("nan")
print("median: devices/s without API load %.1f, with %.1f: ratio %.3f (drop %.1f %%, target < 5 %%)" % (mi, ml, ml / mi, drop))
print("median API: %.0f req/s, p50 %.2f ms, p99 %.2f ms" % (statistics.median(rps), statistics.median(p50), statistics.median(p99)))
print("target met: %s" % ("yes" if drop < 5 else "no"))
PY
