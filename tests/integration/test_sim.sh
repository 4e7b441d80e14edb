# The simulator from the command line: `certstation sim` creates its ports
# and stable links, writes the fixture map, speaks first (HELLO, text
# dialect) to whoever opens a port, and stops cleanly on SIGTERM: links
# removed, summary printed, exit status 0. Plus its usage errors.
source "$(dirname "$0")/lib.sh"

links=$WORK/links
map=$WORK/fixtures.json
out=$WORK/sim.out

"$CS" sim --count 2 --links "$links" --fixture-map "$map" --dialect text --once --seed 1 \
  >"$out" 2>"$WORK/sim.err" &
sim_pid=$!

# Both ports appear as links to pseudo-terminals, and are printed.
for _ in $(seq 100); do
  [ -L "$links/sim-1" ] && [ "$(grep -c '^sim-' "$out" 2>/dev/null)" -ge 2 ] && break
  sleep 0.05
done
for p in 0 1; do
  [ -L "$links/sim-$p" ] && ok || fail "link $links/sim-$p missing"
  target=$(readlink "$links/sim-$p" || true)
  [[ $target == /dev/pts/* ]] && ok || fail "sim-$p points to '$target', not a pty"
  grep -qx "sim-$p $target" "$out" && ok || fail "port line 'sim-$p $target' not printed: $(cat "$out")"
done

# The fixture map is the fragment the station config includes.
python3 - "$map" "$links" <<'PY' && ok || fail "fixture map: $(cat "$map")"
import json, sys
m = json.load(open(sys.argv[1]))
slots = m["slots"]
assert [s["name"] for s in slots] == ["sim-0", "sim-1"], slots
for i, s in enumerate(slots):
    assert s["match"] == {"path": "%s/sim-%d" % (sys.argv[2], i)}, s
    assert s["dialect"] == "text" and s["baud"] == 115200, s
PY

# A station opening sim-0 hears the device's HELLO line.
hello=$(python3 - "$links/sim-0" <<'PY'
import os, select, sys, time, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
buf = b""
end = time.time() + 5
while time.time() < end and b"\n" not in buf.lstrip(b"\n"):
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        buf += os.read(fd, 256)
os.close(fd)
print(buf.lstrip(b"\n").split(b"\n")[0].decode("ascii", "replace"))
PY
)
[[ $hello == "HELLO v=1 id=SN-000001 "* || $hello == "HELLO v=1 id=SN-000002 "* ]] && ok || fail "no HELLO line on sim-0: '$hello'"
grep -q "key=p256" <<<"$hello" && ok || fail "HELLO does not announce the P-256 key: '$hello'"

# SIGTERM: a clean stop.
kill -TERM "$sim_pid"
rc=0
wait "$sim_pid" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "sim exited $rc after SIGTERM: $(cat "$WORK/sim.err")"
[ ! -e "$links/sim-0" ] && [ ! -e "$links/sim-1" ] && ok || fail "links left behind: $(ls "$links")"
grep -q "^summary: devices 0 passed 0 failed 0 aborted 2 unexpected 0$" "$out" && ok || fail "no summary: $(cat "$out")"
grep -q "^sim-0 SN-00000[12] ABORTED" "$out" && ok || fail "the aborted device is not reported: $(cat "$out")"

# Usage errors: exit 2 with the reason.
rc=0
"$CS" sim --links "$links" >/dev/null 2>"$WORK/usage.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--count N is required" "$WORK/usage.err" && ok || fail "missing --count: exit $rc"
rc=0
"$CS" sim --count 1 --fault nosuch >/dev/null 2>"$WORK/usage.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "unknown kind" "$WORK/usage.err" && ok || fail "bad --fault: exit $rc"
rc=0
"$CS" sim --count 65 >/dev/null 2>"$WORK/usage.err" || rc=$?
[ "$rc" -eq 2 ] && ok || fail "--count 65: exit $rc"
"$CS" sim --help | grep -q "wrong-readback" && ok || fail "--help lacks the fault list"

finish
