# `certstation ports` and `certstation ports loopback` end to end: the port
# listing (text and JSON), slot rules given with --slot, and the loopback
# self-test on pseudo-terminals made by socat (one whose other end echoes,
# one that stays silent, one that corrupts) and on a TCP echo server on
# 127.0.0.1; plus the failures: no such port, refused, usage errors.
source "$(dirname "$0")/lib.sh"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

usage_exit() {
  local rc=0
  "$@" >/dev/null 2>"$WORK/usage.err" || rc=$?
  checks=$((checks + 1))
  [ "$rc" -eq 2 ] && [ -s "$WORK/usage.err" ] || fail "expected exit 2 with a message from: $* (got $rc)"
}

json_ok() {
  if command -v jq >/dev/null; then jq -e . "$1" >/dev/null; else python3 -m json.tool "$1" >/dev/null; fi
}

# wait_link PATH: socat creates the link once its pty exists.
wait_link() {
  for _ in $(seq 100); do
    [ -e "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

# 1. The listing.
"$CS" ports >"$WORK/ports.txt" 2>"$WORK/ports.err" && ok || fail "ports exited non-zero: $(cat "$WORK/ports.err")"
grep -qE '^PATH |^No serial ports found' "$WORK/ports.txt" && ok || fail "ports printed neither a table nor 'none': $(cat "$WORK/ports.txt")"
"$CS" ports --json >"$WORK/ports.json" && ok || fail "ports --json exited non-zero"
json_ok "$WORK/ports.json" && ok || fail "ports --json is not valid JSON: $(head -c 300 "$WORK/ports.json")"
python3 - "$WORK/ports.json" "$WORK/ports.txt" <<'PY' && ok || fail "ports --json does not match the text listing"
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d["ports"], list)
text = open(sys.argv[2]).read()
for p in d["ports"]:
    assert p["path"].startswith("/dev/"), p
    assert p["transport"] in ("native", "usb", "bluetooth", "other"), p
    for k in ("usb_vid", "usb_pid", "serial", "location", "manufacturer", "product", "slot"):
        assert k in p, k
    assert p["path"] in text, p["path"]
    if p["transport"] != "usb":
        assert p["usb_vid"] is None and p["location"] is None, p
assert "slots" not in d
PY
"$CS" ports --help | grep -q "loopback" && ok || fail "ports --help lacks loopback"
"$CS" --help | grep -q "ports loopback" && ok || fail "certstation --help lacks ports"

# 2. Loopback through a pty whose other end echoes (socat + cat).
command -v socat >/dev/null && ok || { fail "socat is not installed (deploy/install-deps.sh installs it)"; finish; exit 1; }
socat pty,raw,echo=0,link="$WORK/loop" EXEC:cat 2>"$WORK/socat-echo.log" &
pids+=($!)
wait_link "$WORK/loop" && ok || fail "socat made no pty: $(cat "$WORK/socat-echo.log")"
rc=0
"$CS" ports loopback "$WORK/loop" --bytes 8192 >"$WORK/loop.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] && ok || fail "loopback on an echoing pty exited $rc: $(cat "$WORK/loop.out")"
[ "$(grep -c ' OK ' "$WORK/loop.out")" -eq 5 ] && ok || fail "expected 5 OK rates: $(cat "$WORK/loop.out")"
for b in 9600 115200 230400 460800 921600; do
  grep -qE "^  $b 8N1 +OK +8192 bytes" "$WORK/loop.out" && ok || fail "no OK line for $b: $(cat "$WORK/loop.out")"
done
grep -q "5 of 5 rates passed" "$WORK/loop.out" && ok || fail "no summary: $(cat "$WORK/loop.out")"
"$CS" ports loopback "$WORK/loop" --baud 57600,4000000 --bytes 100000 --flow xonxoff >"$WORK/loop2.out" 2>&1 && ok || fail "loopback with xonxoff: $(cat "$WORK/loop2.out")"
grep -q "2 of 2 rates passed" "$WORK/loop2.out" && ok || fail "custom rates: $(cat "$WORK/loop2.out")"

# The slot view: a path rule through the socat link resolves to its pty.
target=$(readlink -f "$WORK/loop")
"$CS" ports --slot left="path=$WORK/loop" --slot right="path=$WORK/nothing" --slot net=tcp=127.0.0.1:4001 >"$WORK/slots.txt" && ok || fail "ports --slot exited non-zero"
grep -qE "^  left +path=$WORK/loop +$target\$" "$WORK/slots.txt" && ok || fail "left slot not on $target: $(cat "$WORK/slots.txt")"
grep -qE "^  right .*ABSENT" "$WORK/slots.txt" && ok || fail "right slot not absent: $(cat "$WORK/slots.txt")"
grep -q "Slots: 3, 2 with a port, 1 without" "$WORK/slots.txt" && ok || fail "slot summary: $(cat "$WORK/slots.txt")"
"$CS" ports --json --slot left="path=$WORK/loop" --slot right="path=$WORK/nothing" >"$WORK/slots.json" && ok || fail "ports --json --slot"
python3 - "$WORK/slots.json" "$target" <<'PY' && ok || fail "slots in JSON: $(cat "$WORK/slots.json")"
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["name"]: x for x in d["slots"]}
assert s["left"]["status"] == "present" and s["left"]["port"] == sys.argv[2], s["left"]
assert s["right"]["status"] == "absent" and s["right"]["port"] is None and "nothing" in s["right"]["reason"], s["right"]
PY

# The same from a configuration's "line" section (the example config plus slots).
python3 - "$SRC/deploy/examples/certstation.json" "$WORK/cs.json" "$WORK/loop" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["line"] = {"slots": [
    {"name": "A1", "match": {"path": sys.argv[3]}},
    {"name": "A2", "match": {"usb_serial": "CERTSTATION-NO-SUCH-ADAPTER"}},
    {"name": "B1", "match": {"tcp": "127.0.0.1:4001"}}]}
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
"$CS" ports --config "$WORK/cs.json" --slot extra="path=$WORK/nothing" >"$WORK/cfgslots.txt" 2>&1 && ok || fail "ports --config: $(cat "$WORK/cfgslots.txt")"
grep -qE "^  A1 +path=$WORK/loop +$target\$" "$WORK/cfgslots.txt" && ok || fail "A1 not on $target: $(cat "$WORK/cfgslots.txt")"
grep -qE "^  A2 +usb-serial=CERTSTATION-NO-SUCH-ADAPTER +ABSENT: no USB serial port" "$WORK/cfgslots.txt" && ok || fail "A2 not absent: $(cat "$WORK/cfgslots.txt")"
grep -qE "^  B1 +tcp=127.0.0.1:4001 +tcp:127.0.0.1:4001\$" "$WORK/cfgslots.txt" && ok || fail "B1: $(cat "$WORK/cfgslots.txt")"
grep -q "Slots: 4, 2 with a port, 2 without" "$WORK/cfgslots.txt" && ok || fail "config slot summary: $(cat "$WORK/cfgslots.txt")"
"$CS" ports --config "$WORK/cs.json" --json >"$WORK/cfgslots.json" && ok || fail "ports --config --json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["name"] for s in d["slots"]] == ["A1","A2","B1"], d["slots"]' "$WORK/cfgslots.json" && ok || fail "config slots in JSON: $(cat "$WORK/cfgslots.json")"
expect_fail "no-such.json" -- "$CS" ports --config "$WORK/no-such.json"

# 3. A pty nobody answers on: TIMEOUT, exit 1.
socat pty,raw,echo=0,link="$WORK/silent" pty,raw,echo=0 2>/dev/null &
pids+=($!)
wait_link "$WORK/silent" || fail "socat made no silent pty"
rc=0
"$CS" ports loopback "$WORK/silent" --baud 115200 --bytes 64 >"$WORK/silent.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && ok || fail "loopback on a silent pty exited $rc"
grep -q "TIMEOUT   0 of 64 bytes" "$WORK/silent.out" && ok || fail "no TIMEOUT line: $(cat "$WORK/silent.out")"

# 4. A pty whose other end flips a bit of every byte: MISMATCH at byte 0.
cat >"$WORK/flip.py" <<'PY'
import os
while True:
    d = os.read(0, 4096)
    if not d:
        break
    os.write(1, bytes(b ^ 0x01 for b in d))
PY
socat pty,raw,echo=0,link="$WORK/flip" SYSTEM:"python3 -u $WORK/flip.py" 2>/dev/null &
pids+=($!)
wait_link "$WORK/flip" || fail "socat made no flip pty"
rc=0
"$CS" ports loopback "$WORK/flip" --baud 9600 >"$WORK/flip.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && ok || fail "loopback on a corrupting pty exited $rc"
grep -q "MISMATCH  at byte 0 of 4096" "$WORK/flip.out" && ok || fail "no MISMATCH line: $(cat "$WORK/flip.out")"

# 5. Loopback over TCP to an echo server on 127.0.0.1.
cat >"$WORK/echo.py" <<'PY'
import socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 -u "$WORK/echo.py" >"$WORK/echo.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$WORK/echo.port" ] && break; sleep 0.05; done
eport=$(head -1 "$WORK/echo.port")
"$CS" ports loopback "tcp:127.0.0.1:$eport" --bytes 16384 >"$WORK/tcp.out" 2>&1 && ok || fail "loopback over tcp: $(cat "$WORK/tcp.out")"
grep -q "5 of 5 rates passed" "$WORK/tcp.out" && ok || fail "tcp summary: $(cat "$WORK/tcp.out")"

# 6. Failures: no such port, refused connection, usage errors.
rc=0
"$CS" ports loopback /dev/ttyUSB-certstation-none >"$WORK/none.out" 2>"$WORK/none.err" || rc=$?
[ "$rc" -eq 1 ] && ok || fail "loopback on a missing port exited $rc"
grep -q "/dev/ttyUSB-certstation-none: no such serial port" "$WORK/none.err" && ok || fail "missing port message: $(cat "$WORK/none.err")"
[ ! -s "$WORK/none.out" ] && ok || fail "missing port printed results: $(cat "$WORK/none.out")"
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_fail "connection refused" -- "$CS" ports loopback "tcp:127.0.0.1:$closed" --baud 9600
expect_fail "out of range" -- "$CS" ports loopback "tcp:127.0.0.1:99999"
usage_exit "$CS" ports loopback
usage_exit "$CS" ports loopback "$WORK/loop" extra
usage_exit "$CS" ports loopback "$WORK/loop" --baud 100
usage_exit "$CS" ports loopback "$WORK/loop" --baud 9600,
usage_exit "$CS" ports loopback "$WORK/loop" --bytes 0
usage_exit "$CS" ports loopback "$WORK/loop" --bytes 99999999
usage_exit "$CS" ports loopback "$WORK/loop" --flow hardware
usage_exit "$CS" ports --slot nonsense
usage_exit "$CS" ports --slot left=serial=FT1
usage_exit "$CS" ports --bogus
usage_exit "$CS" ports stray-argument

finish
