# The dashboard API against a real station: SoftHSM2 demo PKI, `certstation
# sim` playing two fixtures (every 4th device reads back the wrong bytes),
# `certstation run` serving the line and the dashboard on a free port, users
# made with `certstation user add`. Every endpoint is called with curl as a
# browser would (cookie jar, Origin, X-CSRF-Token), the chain the API hands
# out is verified with openssl, and every kind of refusal is checked. Then
# the same station over HTTPS with a certificate it issued itself, and
# --no-web.
source "$(dirname "$0")/lib.sh"

# the system interpreter: a version manager's shim costs ~0.2 s per call,
# and this test parses JSON a few dozen times
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

"$CS" init --demo "$WORK/pki" >/dev/null
cfg=$WORK/pki/certstation.json
root=$WORK/pki/root-ca.pem
db=$WORK/pki/state/ledger.sqlite

printf 'supervisor-pw-1\n' >"$WORK/sup.pw"
printf 'operator-pw-12\n' >"$WORK/op.pw"
"$CS" user add --config "$cfg" ana --role supervisor --password-file "$WORK/sup.pw" >/dev/null 2>&1 && ok ||
  fail "user add ana"
"$CS" user add --config "$cfg" bo --role operator --password-file "$WORK/op.pw" >/dev/null 2>&1 && ok ||
  fail "user add bo"

port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
B=http://127.0.0.1:$port

# web_config OUT [TLS-CERT TLS-KEY]: the demo config plus the simulator's
# line and the dashboard on $port.
web_config() {
  "$PY" - "$cfg" "$WORK/map.json" "$1" "$port" "${2:-}" "${3:-}" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["line"] = {"fixture_map": sys.argv[2], "scan_interval_ms": 200,
             "timeouts": {"csr_ms": 4000, "readback_ms": 4000, "exchange_ms": 10000}}
c["web"] = {"port": int(sys.argv[4])}
if sys.argv[5]:
    c["web"]["tls"] = {"certificate": sys.argv[5], "key": sys.argv[6]}
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
}

"$CS" sim --count 2 --baud 921600 --links "$WORK/links" --fixture-map "$WORK/map.json" \
  --fault wrong-readback:every=4 >"$WORK/sim.out" 2>"$WORK/sim.err" &
sim_pid=$!
cleanup() {
  [ -n "${run_pid:-}" ] && kill -TERM "$run_pid" 2>/dev/null || true
  kill -TERM "$sim_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$WORK/map.json" ] && break; sleep 0.05; done
web_config "$WORK/pki/web.json"

"$CS" run --config "$WORK/pki/web.json" --seconds 120 2>"$WORK/run.err" &
run_pid=$!
for _ in $(seq 100); do grep -q "dashboard at" "$WORK/run.err" && break; sleep 0.05; done
grep -q "dashboard at http://127.0.0.1:$port/" "$WORK/run.err" && ok ||
  fail "no dashboard URL in the log: $(tail -5 "$WORK/run.err")"

# c ARGS...: curl printing the body, then the status on a last line
c() { curl -s -w '\n%{http_code}' "$@"; }
status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }
# jq-like: jget JSON PYTHON-EXPR (d is the parsed body)
jget() { "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
# expect STATUS CODE -- curl args: an error answer with that code
expect() {
  local st=$1 code=$2 out
  shift 3
  out=$(c "$@")
  checks=$((checks + 1))
  if [ "$(status_of "$out")" != "$st" ] || ! grep -qF "\"code\":\"$code\"" <<<"$(body_of "$out")"; then
    fail "expected $st $code from curl $*: got $(status_of "$out") $(body_of "$out" | head -c 300)"
  fi
}

# login USER PW JAR: prints the CSRF token
login() {
  local out
  out=$(c -c "$3" -H "Origin: $B" -H 'Content-Type: application/json' \
    -d "{\"user\":\"$1\",\"password\":\"$2\"}" "$B/api/v1/login")
  [ "$(status_of "$out")" = 200 ] || { echo "login $1: $out" >&2; return 1; }
  jget "$(body_of "$out")" 'd["csrf"]'
}

# the page itself, no login
out=$(curl -s -D "$WORK/page.h" -o "$WORK/page.html" -w '%{http_code}' "$B/")
[ "$out" = 200 ] && grep -qi "content-type: text/html" "$WORK/page.h" && ok || fail "GET / -> $out"
grep -qi "content-security-policy: default-src 'self'" "$WORK/page.h" && ok || fail "no CSP on /"

sup_csrf=$(login ana supervisor-pw-1 "$WORK/sup.jar") && ok || fail "supervisor login"
op_csrf=$(login bo operator-pw-12 "$WORK/op.jar") && ok || fail "operator login"
grep -q "#HttpOnly_127.0.0.1.*certstation_session" "$WORK/sup.jar" && ok || fail "session cookie not HttpOnly"
S=(-b "$WORK/sup.jar" -H "Origin: $B" -H "X-CSRF-Token: $sup_csrf")
O=(-b "$WORK/op.jar" -H "Origin: $B" -H "X-CSRF-Token: $op_csrf")

out=$(c -b "$WORK/sup.jar" "$B/api/v1/session")
[ "$(jget "$(body_of "$out")" 'd["csrf"]')" = "$sup_csrf" ] && ok || fail "session after reload: $out"

# wait for devices, including a failed one
for _ in $(seq 100); do
  n=$(sqlite3 "$db" "SELECT count(*) FROM issuance WHERE state = 'FAILED'" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 1 ] && break
  sleep 0.1
done

out=$(c -b "$WORK/op.jar" "$B/api/v1/status"); st=$(body_of "$out")
[ "$(status_of "$out")" = 200 ] && ok || fail "status: $out"
[ "$(jget "$st" 'd["hsm"]["state"]')" = ok ] && ok || fail "hsm state: $st"
[ "$(jget "$st" 'len(d["ca"]["chain"])')" = 2 ] && ok || fail "ca chain: $st"
[ "$(jget "$st" 'd["hsm"]["token"] + "/" + d["hsm"]["key_label"]')" = certstation-demo/issuing-ca ] && ok ||
  fail "hsm token/key label: $st"
[ "$(jget "$st" 'd["ca"]["chain"][1]["role"]')" = root ] && ok || fail "root role: $st"
[ "$(jget "$st" 'd["hsm"]["sign_latency_us"]["count"] > 0 and d["hsm"]["sign_latency_us"]["p99"] > 0')" = True ] &&
  ok || fail "HSM sign latency: $st"
[ "$(jget "$st" 'd["hsm"]["reopens"] == 0 and d["hsm"]["module_restarts"] == 0 and d["hsm"]["sessions_total"] == 4')" = True ] &&
  ok || fail "HSM counters: $st"
[ "$(jget "$st" 'd["ledger"]["ok"] and d["ledger"]["size_bytes"] > 0')" = True ] && ok || fail "ledger: $st"
[ "$(jget "$st" 'd["issuing"] and d["line"]["slots"] == 2')" = True ] && ok || fail "issuing/slots: $st"
[ "$(jget "$st" 'sorted(p["name"] for p in d["profiles"])')" = "['device', 'idevid']" ] && ok ||
  fail "profiles: $st"
grep -q "pin" <<<"$(jget "$st" 'd["ca"]["key_uri"]')" && fail "key_uri shows a PIN attribute" || ok

out=$(c -b "$WORK/op.jar" "$B/api/v1/fixtures"); fx=$(body_of "$out")
[ "$(jget "$fx" '[s["name"] for s in d["slots"]]')" = "['sim-0', 'sim-1']" ] && ok || fail "fixtures: $fx"
[ "$(jget "$fx" 'sum(d["counts"].values())')" = 2 ] && ok || fail "fixture counts: $fx"
out=$(c -b "$WORK/op.jar" "$B/api/v1/fixtures/sim-1")
[ "$(jget "$(body_of "$out")" 'd["name"]')" = sim-1 ] && ok || fail "one fixture: $out"

out=$(c -b "$WORK/op.jar" "$B/api/v1/issuances?state=VERIFIED&limit=1&count=1"); li=$(body_of "$out")
[ "$(jget "$li" 'len(d["items"]) == 1 and d["total"] >= 1')" = True ] && ok || fail "issuances: $li"
id=$(jget "$li" 'd["items"][0]["id"]')
dev=$(jget "$li" 'd["items"][0]["device_id"]')
out=$(c -b "$WORK/op.jar" "$B/api/v1/issuances?device=${dev:0:4}&slot=sim-0&limit=500")
[ "$(status_of "$out")" = 200 ] && ok || fail "issuance filters: $out"
out=$(c -b "$WORK/op.jar" "$B/api/v1/issuances?state=FAILED&reason=readback-mismatch")
[ "$(jget "$(body_of "$out")" 'len(d["items"]) >= 1 and d["items"][0]["reason_text"] != ""')" = True ] &&
  ok || fail "failed issuances by reason: $out"
out=$(c -b "$WORK/op.jar" "$B/api/v1/issuances/$id"); one=$(body_of "$out")
"$PY" -c 'import json,sys; sys.stdout.write(json.loads(sys.argv[1])["chain_pem"])' "$one" >"$WORK/chain.pem"
openssl verify -CAfile "$root" -untrusted "$WORK/chain.pem" "$WORK/chain.pem" >/dev/null 2>&1 && ok ||
  fail "the API's chain does not verify: $(head -c 300 <<<"$one")"
fp=$(openssl x509 -in "$WORK/chain.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
[ "$(jget "$one" 'd["certificate"]["sha256"]')" = "$fp" ] && ok || fail "sha256 thumbprint differs"
curl -s -b "$WORK/op.jar" -D "$WORK/pem.h" -o "$WORK/dl.pem" "$B/api/v1/issuances/$id/pem"
grep -qi "content-disposition: attachment; filename=\"$dev-$id.pem\"" "$WORK/pem.h" && ok ||
  fail "PEM download headers: $(cat "$WORK/pem.h")"
cmp -s "$WORK/dl.pem" "$WORK/chain.pem" && ok || fail "downloaded PEM differs from chain_pem"

out=$(c -b "$WORK/op.jar" "$B/api/v1/throughput"); tp=$(body_of "$out")
[ "$(jget "$tp" 'd["shift"]["passed"] > 0 and d["shift"]["failed"] > 0 and len(d["minutes"]) == 60')" = True ] &&
  ok || fail "throughput: $(head -c 300 <<<"$tp")"
[ "$(jget "$tp" 'd["failures"][0]["reason"]')" = readback-mismatch ] && ok || fail "failures by reason: $tp"
out=$(c -b "$WORK/op.jar" "$B/api/v1/failures?from=2020-01-01")
[ "$(jget "$(body_of "$out")" '[r["reason"] for r in d["reasons"]][0]')" = readback-mismatch ] && ok ||
  fail "ledger failures: $out"

# live events: hello, stats every second, slot changes, devices done
timeout 2.5 curl -s -N -b "$WORK/op.jar" "$B/api/v1/events" >"$WORK/events.txt" || true
for ev in hello stats slot device; do
  grep -q "^event: $ev\$" "$WORK/events.txt" && ok || fail "no '$ev' event: $(head -c 500 "$WORK/events.txt")"
done

curl -s "$B/metrics" >"$WORK/metrics.txt"
for m in 'certstation_devices_total{result="pass"}' 'certstation_fixture_state{slot="sim-0",state="' \
  'certstation_exchange_duration_seconds_bucket{le="+Inf"}' 'certstation_hsm_up 1' \
  'certstation_device_failures_total{reason="readback-mismatch"}' 'certstation_issuances{state="VERIFIED"}' \
  'certstation_hsm_sign_duration_seconds_bucket{le="+Inf"}' 'certstation_hsm_module_restarts_total 0'; do
  grep -qF "$m" "$WORK/metrics.txt" && ok || fail "metrics lack $m"
done

# pause: the slot stops taking devices; resume: it takes them again
out=$(c "${O[@]}" -X POST "$B/api/v1/fixtures/sim-0/pause")
[ "$(jget "$(body_of "$out")" 'd["state"]')" = paused ] && ok || fail "pause: $out"
p1=$(jget "$(body_of "$(c -b "$WORK/op.jar" "$B/api/v1/fixtures/sim-0")")" 'd["passed"] + d["failed"]')
sleep 0.6
p2=$(jget "$(body_of "$(c -b "$WORK/op.jar" "$B/api/v1/fixtures/sim-0")")" 'd["passed"] + d["failed"]')
[ "$p1" = "$p2" ] && ok || fail "paused slot still served devices ($p1 -> $p2)"
out=$(c "${O[@]}" -X POST "$B/api/v1/fixtures/sim-0/resume")
[ "$(jget "$(body_of "$out")" 'd["state"] != "paused"')" = True ] && ok || fail "resume: $out"
out=$(c "${O[@]}" -X POST "$B/api/v1/line/pause")
[ "$(jget "$(body_of "$out")" 'all(s["state"] == "paused" for s in d["slots"])')" = True ] && ok ||
  fail "line pause: $out"
out=$(c "${O[@]}" -X POST "$B/api/v1/line/resume")
[ "$(jget "$(body_of "$out")" 'any(s["state"] == "paused" for s in d["slots"])')" = False ] && ok ||
  fail "line resume: $out"

# export: the file itself, as the CLI writes it
curl -s "${S[@]}" -H 'Content-Type: application/json' -d '{"format":"csv","from":"2020-01-01T00:00:00Z"}' \
  -D "$WORK/exp.h" -o "$WORK/export.csv" "$B/api/v1/export"
grep -qi 'content-disposition: attachment; filename="certstation-ledger-20200101T000000Z-' "$WORK/exp.h" &&
  ok || fail "export headers: $(cat "$WORK/exp.h")"
head -1 "$WORK/export.csv" | grep -q '^id,device_id,serial,sha1_thumbprint' && ok || fail "export header row"
grep -q ",$dev," "$WORK/export.csv" && ok || fail "export lacks $dev"
curl -s "${S[@]}" -H 'Content-Type: application/json' -d '{"format":"json"}' -o "$WORK/export.json" \
  "$B/api/v1/export"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if len(d) >= 2 and "sha256_thumbprint" in d[0] else 1)' \
  "$WORK/export.json" && ok || fail "JSON export: $(head -c 300 "$WORK/export.json")"

out=$(c "${S[@]}" -X POST "$B/api/v1/shift")
[ "$(jget "$(body_of "$out")" 'd["number"]')" = 2 ] && ok || fail "new shift: $out"

# refusals
expect 401 unauthenticated -- "$B/api/v1/status"
expect 401 unauthenticated -- -H "Origin: $B" -X POST "$B/api/v1/line/pause"
expect 403 forbidden-role -- "${O[@]}" -X POST "$B/api/v1/shift"
expect 403 forbidden-role -- "${O[@]}" -H 'Content-Type: application/json' -d '{}' "$B/api/v1/export"
expect 403 csrf-missing -- -b "$WORK/op.jar" -H "Origin: $B" -X POST "$B/api/v1/line/pause"
expect 403 csrf-mismatch -- -b "$WORK/op.jar" -H "Origin: $B" -H "X-CSRF-Token: $sup_csrf" -X POST "$B/api/v1/line/pause"
expect 403 origin-missing -- -b "$WORK/op.jar" -H "X-CSRF-Token: $op_csrf" -X POST "$B/api/v1/line/pause"
expect 403 origin-not-allowed -- -b "$WORK/op.jar" -H "Origin: http://rebinding-name:$port" \
  -H "X-CSRF-Token: $op_csrf" -X POST "$B/api/v1/line/pause"
expect 421 host-not-allowed -- -b "$WORK/op.jar" -H "Host: rebinding-name:$port" "$B/api/v1/status"
head -c 70000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
expect 413 body-too-large -- -H "Origin: $B" -H 'Content-Type: application/json' --data-binary "@$WORK/big.json" "$B/api/v1/login"
expect 400 json-malformed -- -H "Origin: $B" -H 'Content-Type: application/json' -d '{"user":' "$B/api/v1/login"
expect 400 json-too-deep -- -H "Origin: $B" -H 'Content-Type: application/json' -d '[[[[[[[[[[[[1]]]]]]]]]]]]' "$B/api/v1/login"
expect 404 not-found -- -b "$WORK/op.jar" "$B/api/v1/nothing"
expect 404 not-found -- -b "$WORK/op.jar" "$B/api/v1/fixtures/no-such-slot"
expect 405 method-not-allowed -- -b "$WORK/op.jar" -X PUT "$B/api/v1/status"
expect 401 login-failed -- -H "Origin: $B" -H 'Content-Type: application/json' -d '{"user":"bo","password":"wrong-password"}' "$B/api/v1/login"

out=$(c "${O[@]}" -X POST "$B/api/v1/logout")
[ "$(status_of "$out")" = 200 ] && ok || fail "logout: $out"
expect 401 unauthenticated -- -b "$WORK/op.jar" "$B/api/v1/session"

kill -TERM "$run_pid"
rc=0
wait "$run_pid" || rc=$?
run_pid=
[ "$rc" -eq 0 ] && ok || fail "run exited $rc after SIGTERM: $(tail -3 "$WORK/run.err")"
grep -q "stopped:" "$WORK/run.err" && ok || fail "no clean stop: $(tail -3 "$WORK/run.err")"

# HTTPS with a certificate the station issues itself (the default
# web-ui/README.md recommends): a serverAuth profile, a key made here, the
# chain from `certstation issue`; curl trusts only the station's root.
"$PY" - "$cfg" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["profiles"]["dashboard-tls"] = {
    "key_types": ["P-256"], "device_id_pattern": "^[a-z0-9][a-z0-9.-]{0,62}$",
    "subject": [{"CN": "{device_id}"}], "san": ["DNS:{device_id}", "IP:127.0.0.1"],
    "validity": {"days": 30}, "key_usage": ["digitalSignature"],
    "extended_key_usage": ["serverAuth"]}
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/web.key" 2>/dev/null
openssl req -new -key "$WORK/web.key" -subj /CN=linepc -out "$WORK/web.csr"
"$CS" issue --config "$cfg" --profile dashboard-tls --device-id localhost --csr "$WORK/web.csr" \
  --out "$WORK/web.crt" 2>/dev/null && ok || fail "the station did not issue the dashboard's certificate"
web_config "$WORK/pki/web-tls.json" "$WORK/web.crt" "$WORK/web.key"
"$CS" run --config "$WORK/pki/web-tls.json" --seconds 60 2>"$WORK/run-tls.err" &
run_pid=$!
for _ in $(seq 100); do grep -q "dashboard at" "$WORK/run-tls.err" && break; sleep 0.05; done
grep -q "dashboard at https://127.0.0.1:$port/" "$WORK/run-tls.err" && ok ||
  fail "no https URL: $(tail -5 "$WORK/run-tls.err")"
T=https://127.0.0.1:$port
out=$(curl -s -w '\n%{http_code}' --cacert "$root" -c "$WORK/tls.jar" -D "$WORK/tls.h" -H "Origin: $T" \
  -H 'Content-Type: application/json' -d '{"user":"ana","password":"supervisor-pw-1"}' "$T/api/v1/login")
[ "$(status_of "$out")" = 200 ] && ok || fail "HTTPS login: $out"
grep -qi "set-cookie: certstation_session=.*; Secure" "$WORK/tls.h" && ok || fail "cookie not Secure over HTTPS"
grep -qi "strict-transport-security" "$WORK/tls.h" && ok || fail "no HSTS over HTTPS"
out=$(curl -s -w '\n%{http_code}' --cacert "$root" -b "$WORK/tls.jar" "$T/api/v1/session")
[ "$(jget "$(body_of "$out")" 'd["user"]')" = ana ] && ok || fail "HTTPS session: $out"
out=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/session" || true)
[ "$out" != 200 ] && ok || fail "plain HTTP answered on the HTTPS port"
kill -TERM "$run_pid"
wait "$run_pid" || true
run_pid=

# --no-web: the line runs, nothing listens
"$CS" run --config "$WORK/pki/web.json" --no-web --seconds 1 2>"$WORK/run-noweb.err" || true
grep -q "dashboard" "$WORK/run-noweb.err" && fail "--no-web still started the dashboard" || ok
grep -q "station running" "$WORK/run-noweb.err" && ok || fail "--no-web: $(tail -3 "$WORK/run-noweb.err")"

finish test_web_api
