# End to end through the CLI with a demo PKI in a fresh SoftHSM2 token:
# issuance, every refusal with its own reason, re-delivery, proof of
# possession, ledger verification and export, checked with openssl/certtool.
source "$(dirname "$0")/lib.sh"

"$CS" init --demo "$WORK/pki" >/dev/null
cfg=$WORK/pki/certstation.json
root=$WORK/pki/root-ca.pem

# Re-running init is safe and changes nothing.
sum_before=$(sha256sum "$WORK/pki/issuing-ca.pem" "$WORK/pki/root-ca.pem" "$cfg")
"$CS" init --demo "$WORK/pki" >/dev/null
[ "$sum_before" = "$(sha256sum "$WORK/pki/issuing-ca.pem" "$WORK/pki/root-ca.pem" "$cfg")" ] && ok || fail "init re-run changed files"

# A test config next to the demo one with extra profiles.
python3 - "$cfg" "$WORK/pki/test.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
base = c["profiles"]["device"]
c["profiles"]["allowlisted"] = dict(base, require_allowlist=True, subject=[{"CN": "{device_id}"}, {"OU": "{lot}"}])
c["profiles"]["ca-ignore"] = dict(base, csr_requests_ca="ignore")
c["profiles"]["rework"] = dict(base, reissue="allow-new-key")
c["profiles"]["strict-id"] = dict(base, device_id_pattern="^SN-[0-9]{6}$")
c["profiles"]["p256-only"] = dict(base, key_types=["P-256"])
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
tcfg=$WORK/pki/test.json

# 1. A plain issuance; the chain verifies independently; CN = device ID; CA:FALSE.
make_csr dev1 P-256
"$CS" issue --config "$cfg" --csr "$WORK/dev1.csr" --device-id dev-0001 --out "$WORK/dev1.chain.pem" 2>/dev/null && ok || fail "issue dev-0001"
verify_chain "$WORK/dev1.chain.pem" "$root"
subj=$(openssl x509 -in "$WORK/dev1.chain.pem" -noout -subject -nameopt RFC2253)
grep -q "CN=dev-0001" <<<"$subj" && ok || fail "CN is not the device ID: $subj"
text=$(openssl x509 -in "$WORK/dev1.chain.pem" -noout -text)
grep -A1 "Basic Constraints: critical" <<<"$text" | grep -q "CA:FALSE" && ok || fail "not CA:FALSE critical"
grep -q "TLS Web Client Authentication" <<<"$text" && ok || fail "no clientAuth EKU"
[ "$(grep -c 'BEGIN CERTIFICATE' "$WORK/dev1.chain.pem")" -eq 2 ] && ok || fail "chain is not device + issuing CA"
# The device's public key is the CSR's.
[ "$(openssl x509 -in "$WORK/dev1.chain.pem" -noout -pubkey)" = "$(openssl req -in "$WORK/dev1.csr" -noout -pubkey)" ] && ok || fail "public key differs from the CSR's"
serial=$(openssl x509 -in "$WORK/dev1.chain.pem" -noout -serial | cut -d= -f2)
[ "${#serial}" -eq 40 ] && ok || fail "serial is not 20 octets (prefix + 128 random bits): $serial"

# 2. Re-delivery: same device ID, same key -> byte-identical certificate, same serial.
"$CS" issue --config "$cfg" --csr "$WORK/dev1.csr" --device-id dev-0001 --out "$WORK/dev1.again.pem" 2>"$WORK/again.err" && ok || fail "re-delivery refused"
cmp -s "$WORK/dev1.chain.pem" "$WORK/dev1.again.pem" && ok || fail "re-delivered chain differs"
grep -q "re-delivered" "$WORK/again.err" && ok || fail "re-delivery not reported"
# A new CSR from the same key (fresh signature) is still the same key -> same certificate.
openssl req -new -key "$WORK/dev1.key" -subj "/CN=other" -out "$WORK/dev1b.csr"
"$CS" issue --config "$cfg" --csr "$WORK/dev1b.csr" --device-id dev-0001 --out "$WORK/dev1.third.pem" 2>/dev/null && ok || fail "re-delivery with a fresh CSR refused"
cmp -s "$WORK/dev1.chain.pem" "$WORK/dev1.third.pem" && ok || fail "fresh CSR of the same key got a different certificate"
# the CSR from a pipe (process substitution) and from standard input
"$CS" issue --config "$cfg" --csr <(cat "$WORK/dev1b.csr") --device-id dev-0001 --out "$WORK/dev1.pipe.pem" 2>/dev/null &&
  cmp -s "$WORK/dev1.chain.pem" "$WORK/dev1.pipe.pem" && ok || fail "--csr <(command) did not work"
"$CS" issue --config "$cfg" --csr - --device-id dev-0001 --out "$WORK/dev1.stdin.pem" <"$WORK/dev1b.csr" 2>/dev/null &&
  cmp -s "$WORK/dev1.chain.pem" "$WORK/dev1.stdin.pem" && ok || fail "--csr - did not work"

# 3. Refusals, each with its own reason and message.
make_csr dev2 P-256
expect_refusal reissue-refused "already has a certificate for a different key" -- \
  "$CS" issue --config "$cfg" --csr "$WORK/dev2.csr" --device-id dev-0001
"$CS" issue --config "$tcfg" --profile rework --csr "$WORK/dev2.csr" --device-id dev-0001 --out "$WORK/rework.pem" 2>/dev/null && ok || fail "profile allowing re-issue refused a new key"
verify_chain "$WORK/rework.pem" "$root"

# bad CSR signature: flip one bit in the last byte of the DER (inside the signature)
openssl req -in "$WORK/dev2.csr" -outform DER -out "$WORK/dev2.der"
python3 - "$WORK/dev2.der" "$WORK/badsig.der" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-3] ^= 0x01
open(sys.argv[2], "wb").write(b)
PY
expect_refusal csr-signature "signature" -- "$CS" issue --config "$cfg" --csr "$WORK/badsig.der" --device-id dev-0002
head -c 100 "$WORK/dev2.der" >"$WORK/trunc.der"
expect_refusal csr-malformed "CSR" -- "$CS" issue --config "$cfg" --csr "$WORK/trunc.der" --device-id dev-0002
head -c 3000 /dev/urandom >"$WORK/garbage.bin"
expect_refusal csr-malformed "CSR" -- "$CS" issue --config "$cfg" --csr "$WORK/garbage.bin" --device-id dev-0002
head -c 40000 /dev/zero | tr '\0' 'A' >"$WORK/huge.csr"
expect_refusal csr-too-large "CSR" -- "$CS" issue --config "$cfg" --csr "$WORK/huge.csr" --device-id dev-0002
make_csr p521 P-521
expect_refusal csr-key-type "P-521" -- "$CS" issue --config "$cfg" --csr "$WORK/p521.csr" --device-id dev-0003
make_csr p384 P-384
expect_refusal csr-key-type "P-384" -- "$CS" issue --config "$tcfg" --profile p256-only --csr "$WORK/p384.csr" --device-id dev-0004
expect_refusal device-id-rejected "does not match" -- "$CS" issue --config "$cfg" --csr "$WORK/dev2.csr" --device-id 'bad id!'
expect_refusal device-id-rejected "SN-" -- "$CS" issue --config "$tcfg" --profile strict-id --csr "$WORK/dev2.csr" --device-id SN-12
expect_refusal profile-unknown "nope" -- "$CS" issue --config "$cfg" --profile nope --csr "$WORK/dev2.csr" --device-id dev-0005

# CSR asking for CA:TRUE: refused by default; with csr_requests_ca=ignore the
# certificate is still CA:FALSE.
make_csr wantca P-256 -addext "basicConstraints=critical,CA:TRUE"
expect_refusal csr-requests-ca "CA" -- "$CS" issue --config "$cfg" --csr "$WORK/wantca.csr" --device-id dev-0006
"$CS" issue --config "$tcfg" --profile ca-ignore --csr "$WORK/wantca.csr" --device-id dev-0006 --out "$WORK/wantca.pem" 2>/dev/null && ok || fail "ca-ignore profile refused"
openssl x509 -in "$WORK/wantca.pem" -noout -text | grep -A1 "Basic Constraints" | grep -q "CA:FALSE" && ok || fail "CA request leaked into the certificate"

# Allowlist and lot quota from a work order.
printf 'device_id,lot,quota\nwo-0001,LOT-A,2\nwo-0002,LOT-A,2\nwo-0003,LOT-A,2\n' >"$WORK/wo.csv"
"$CS" workorder import --config "$tcfg" "$WORK/wo.csv" >/dev/null && ok || fail "work order import"
make_csr wo1 P-256; make_csr wo2 P-256; make_csr wo3 P-256; make_csr stray P-256
expect_refusal device-not-allowlisted "allowlist" -- "$CS" issue --config "$tcfg" --profile allowlisted --csr "$WORK/stray.csr" --device-id stray-01
"$CS" issue --config "$tcfg" --profile allowlisted --csr "$WORK/wo1.csr" --device-id wo-0001 --out "$WORK/wo1.pem" 2>/dev/null && ok || fail "allowlisted wo-0001 refused"
openssl x509 -in "$WORK/wo1.pem" -noout -subject -nameopt RFC2253 | grep -q "OU=LOT-A" && ok || fail "lot not in subject"
"$CS" issue --config "$tcfg" --profile allowlisted --csr "$WORK/wo2.csr" --device-id wo-0002 >/dev/null 2>&1 && ok || fail "allowlisted wo-0002 refused"
expect_refusal lot-quota-exhausted "2 of 2" -- "$CS" issue --config "$tcfg" --profile allowlisted --csr "$WORK/wo3.csr" --device-id wo-0003
# Re-delivery does not consume quota.
"$CS" issue --config "$tcfg" --profile allowlisted --csr "$WORK/wo1.csr" --device-id wo-0001 >/dev/null 2>&1 && ok || fail "re-delivery in an exhausted lot refused"

# 4. HSM faults: wrong PIN, key missing.
cp "$cfg" "$WORK/pki/wrongpin.json"
echo "00000000" >"$WORK/pki/wrong.pin"
sed -i 's|pin-source=file:hsm.pin|pin-source=file:wrong.pin|' "$WORK/pki/wrongpin.json"
expect_fail "PIN" -- "$CS" issue --config "$WORK/pki/wrongpin.json" --csr "$WORK/dev2.csr" --device-id dev-0007
cp "$cfg" "$WORK/pki/nokey.json"
sed -i 's|object=issuing-ca|object=no-such-key|' "$WORK/pki/nokey.json"
expect_fail "no-such-key" -- "$CS" issue --config "$WORK/pki/nokey.json" --csr "$WORK/dev2.csr" --device-id dev-0007
# The right PIN still works (the wrong one was tried once, not until lockout).
"$CS" issue --config "$cfg" --csr "$WORK/dev2.csr" --device-id dev-0007 >/dev/null 2>&1 && ok || fail "token unusable after one wrong PIN"

# 5. Proof of possession for CA registration.
"$CS" ca verification-cert --config "$cfg" --out "$WORK/pop.pem" ABCDEF0123456789 2>/dev/null && ok || fail "verification-cert"
openssl x509 -in "$WORK/pop.pem" -noout -subject -nameopt RFC2253 | grep -qx "subject=CN=ABCDEF0123456789" && ok || fail "verification cert CN"
openssl verify -partial_chain -CAfile "$WORK/pki/issuing-ca.pem" "$WORK/pop.pem" >/dev/null 2>&1 && ok || fail "verification cert not signed by the issuing CA"
"$CS" ca show --config "$cfg" | grep -q "HSM state:   ok" && ok || fail "ca show"

# 6. Ledger: intact, exported, then tampered.
"$CS" ledger verify --config "$cfg" >/dev/null && ok || fail "ledger verify on an intact ledger"
"$CS" ledger export --config "$cfg" --format csv --out "$WORK/export.csv" && ok || fail "export csv"
sha1=$(openssl x509 -in "$WORK/dev1.chain.pem" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d :)
sha256=$(openssl x509 -in "$WORK/dev1.chain.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
grep -q "$sha1" "$WORK/export.csv" && ok || fail "SHA-1 thumbprint missing from the export"
grep -q "$sha256" "$WORK/export.csv" && ok || fail "SHA-256 thumbprint missing from the export"
"$CS" ledger export --config "$cfg" --format json --out "$WORK/export.json" && ok || fail "export json"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert any(r.get('device_id')=='dev-0001' for r in d)" "$WORK/export.json" && ok || fail "json export lacks dev-0001"

# 7. Usage errors exit 2 with a message, before touching anything.
usage_exit() {
  local rc=0
  "$@" >/dev/null 2>"$WORK/usage.err" || rc=$?
  checks=$((checks + 1))
  [ "$rc" -eq 2 ] && [ -s "$WORK/usage.err" ] || fail "expected exit 2 with a message from: $*"
}
usage_exit "$CS" frobnicate
usage_exit "$CS" issue --config "$cfg" --csr "$WORK/dev2.csr"
usage_exit "$CS" ledger export --config "$cfg" --format xml
usage_exit "$CS" ledger export --config "$cfg" --format csv --from yesterday
usage_exit "$CS" init --demo "$WORK/x" --key-type P-999
usage_exit "$CS" bench issue --threads 0
expect_fail "cannot open" -- "$CS" issue --config "$cfg" --csr "$WORK/no-such.csr" --device-id dev-0009
expect_fail "certstation.json" -- "$CS" issue --config "$WORK/no-such-dir/certstation.json" --csr "$WORK/dev2.csr" --device-id dev-0009
# An export window that excludes everything still gives a header-only CSV.
"$CS" ledger export --config "$cfg" --format csv --from 2000-01-01 --to 2000-01-02 --out "$WORK/empty.csv" && ok || fail "empty window export"
[ "$(wc -l <"$WORK/empty.csv")" -eq 1 ] && ok || fail "empty window export has rows"

db=$WORK/pki/state/ledger.sqlite
cp "$db" "$WORK/pristine.sqlite"
sqlite3 "$db" "UPDATE issuance SET device_id='evil' WHERE device_id='dev-0001';"
expect_fail "last audit row" -- "$CS" ledger verify --config "$cfg"
cp "$WORK/pristine.sqlite" "$db"
sqlite3 "$db" "DELETE FROM audit WHERE seq = 3;"
expect_fail "3" -- "$CS" ledger verify --config "$cfg"
cp "$WORK/pristine.sqlite" "$db"
"$CS" ledger verify --config "$cfg" >/dev/null && ok || fail "restored ledger does not verify"

# every command and command group answers --help on stdout with exit 0,
# without needing a configuration
for cmd in init issue ca ledger workorder run sim ports user bench; do
  out=$(CERTSTATION_CONFIG=/nonexistent/x.json "$CS" $cmd --help 2>/dev/null) && ok ||
    fail "certstation $cmd --help exits non-zero"
  grep -q "usage: certstation $cmd" <<<"$out" && ok || fail "certstation $cmd --help: no usage on stdout"
done

finish
