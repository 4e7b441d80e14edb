# certstation run under a notifying service manager (systemd Type=notify with
# WatchdogSec=): a listener plays systemd's side of $NOTIFY_SOCKET. The
# station says READY=1 once the line runs, keeps STATUS= current, pings
# WATCHDOG=1 at half the interval, stops pinging while the HSM hangs in
# C_Sign (the fault-injecting PKCS#11 shim over SoftHSM2 holds one signature
# for 9 s), says why in its log, pings again once the call returns, and
# says STOPPING=1 on the way out.
source "$(dirname "$0")/lib.sh"

shim=$(dirname "$CS")/tests/p11shim/libp11shim.so
[ -f "$shim" ] && ok || { fail "no PKCS#11 shim at $shim"; finish; exit 1; }

"$CS" init --demo "$WORK/pki" >/dev/null
d=$WORK/wd
mkdir -p "$d"
"$CS" sim --count 1 --baud 0 --id-prefix W- --links "$d/links" --fixture-map "$d/map.json" \
  --timeout-ms 30000 --gap-ms 100 >"$d/sim.out" 2>"$d/sim.err" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$d/map.json" ] && break; sleep 0.05; done

python3 - "$WORK/pki/certstation.json" "$d/map.json" "$WORK/pki/wd.json" "$shim" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["hsm"]["module"] = sys.argv[4]
c["line"] = {"fixture_map": sys.argv[2], "scan_interval_ms": 200,
             "timeouts": {"csr_ms": 20000, "readback_ms": 20000, "exchange_ms": 30000}}
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY

# systemd's side: every datagram, with the time it arrived
python3 - "$d/notify.sock" "$d/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
t0 = time.monotonic()
with open(sys.argv[2], "w", buffering=1) as log:
    while True:
        msg = s.recv(4096).decode()
        for line in msg.split("\n"):
            log.write("%.3f %s\n" % (time.monotonic() - t0, line))
PY
listener_pid=$!
for _ in $(seq 100); do [ -S "$d/notify.sock" ] && break; sleep 0.05; done

# 4 s watchdog: pings every 2 s; the 12th signature hangs for 9 s
rc=0
NOTIFY_SOCKET=$d/notify.sock WATCHDOG_USEC=4000000 P11SHIM_FAIL="C_Sign:HANG9000:1:11" \
  timeout 60 "$CS" run --no-web --config "$WORK/pki/wd.json" --seconds 20 2>"$d/run.err" || rc=$?
kill "$listener_pid" "$sim_pid" 2>/dev/null || true
wait "$listener_pid" "$sim_pid" 2>/dev/null || true
[ "$rc" -eq 0 ] && ok || fail "run exited $rc: $(tail -5 "$d/run.err")"

log=$d/notify.log
first=$(head -1 "$log" | cut -d' ' -f2-)
[ "$first" = "READY=1" ] && ok || fail "the first notification is '$first', not READY=1"
grep -q "^[0-9.]* STATUS=provisioning on 1 slot(s)$" "$log" && ok || fail "no STATUS with READY"
grep -q "^[0-9.]* STATUS=[0-9]* device(s): [0-9]* verified, [0-9]* failed$" "$log" && ok ||
  fail "no running STATUS: $(grep STATUS "$log" | head -5)"
last=$(tail -2 "$log" | head -1 | cut -d' ' -f2-)
[ "$last" = "STOPPING=1" ] && ok || fail "the station did not say STOPPING=1 last: $(tail -3 "$log")"

pings=$(grep -c " WATCHDOG=1$" "$log" || true)
[ "$pings" -ge 4 ] && ok || fail "only $pings keep-alives in 20 s"
# the longest silence between keep-alives spans the hang: a real manager
# with WatchdogSec=4 would have restarted the station
gap=$(grep " WATCHDOG=1$" "$log" | awk 'NR > 1 { g = $1 - prev; if (g > max) max = g } { prev = $1 } END { printf "%.1f", max }')
python3 -c "import sys; sys.exit(0 if float('$gap') >= 5.0 else 1)" && ok ||
  fail "keep-alives never paused for the hung C_Sign (longest gap $gap s)"
# and healthy stretches ping at about half the interval
python3 -c "
import sys
t = [float(l.split()[0]) for l in open('$log') if l.rstrip().endswith('WATCHDOG=1')]
gaps = sorted(b - a for a, b in zip(t, t[1:]))
sys.exit(0 if gaps and 1.5 <= gaps[len(gaps) // 2] <= 3.0 else 1)" && ok ||
  fail "keep-alive spacing: $(grep WATCHDOG "$log" | cut -d' ' -f1 | tr '\n' ' ')"
grep -q "STATUS=hung: slot sim-0 has not come round its loop" "$log" && ok ||
  fail "no hung STATUS: $(grep STATUS=hung "$log")"
grep -q "watchdog: withholding the keep-alive: slot sim-0 has not come round its loop for [0-9]* s (step issue)" \
  "$d/run.err" && ok || fail "the log does not say why the keep-alive stopped: $(grep watchdog "$d/run.err")"
grep -q "watchdog: healthy again" "$d/run.err" && ok || fail "the log does not say it recovered"
echo "keep-alives: $pings, longest gap $gap s (the hang), first line: $first"

# without a manager, run says nothing about it and works as before
rc=0
timeout 30 "$CS" run --no-web --config "$WORK/pki/wd.json" --seconds 1 2>"$d/plain.err" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "plain run exited $rc"
grep -q "watchdog\|notify" "$d/plain.err" && fail "plain run talks about a manager: $(cat "$d/plain.err")" || ok

finish test_run_watchdog
