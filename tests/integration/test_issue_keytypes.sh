# Issuing-CA key types other than the default: P-384 (Azure Device Registry
# uses P-384/SHA-384), RSA-2048 with PKCS#1 v1.5, RSA-3072 with PSS. Each
# chain is checked by openssl and certtool; the signature algorithm is the one
# the CA key implies.
source "$(dirname "$0")/lib.sh"

issue_and_check() {
  local dir=$1 devcurve=$2 id=$3 expect_alg=$4
  make_csr "$id" "$devcurve"
  if "$CS" issue --config "$dir/certstation.json" --csr "$WORK/$id.csr" --device-id "$id" \
       --out "$WORK/$id.pem" 2>"$WORK/$id.err"; then
    ok
    verify_chain "$WORK/$id.pem" "$dir/root-ca.pem"
    openssl x509 -in "$WORK/$id.pem" -noout -text | grep -m1 "Signature Algorithm" | grep -q "$expect_alg" \
      && ok || fail "$id: signature algorithm is not $expect_alg"
  else
    fail "$id: issue failed: $(cat "$WORK/$id.err")"
  fi
}

"$CS" init --demo "$WORK/p384" --key-type P-384 >/dev/null
"$CS" ca show --config "$WORK/p384/certstation.json" | grep -q "type:        P-384" && ok || fail "P-384 key type not shown"
issue_and_check "$WORK/p384" P-384 p384-dev-1 ecdsa-with-SHA384
issue_and_check "$WORK/p384" P-256 p384-dev-2 ecdsa-with-SHA384

"$CS" init --demo "$WORK/rsa" --key-type RSA-2048 >/dev/null
issue_and_check "$WORK/rsa" P-256 rsa-dev-1 sha256WithRSAEncryption

"$CS" init --demo "$WORK/pss" --key-type RSA-3072 >/dev/null
python3 - "$WORK/pss/certstation.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
for prof in c["profiles"].values():
    prof["rsa_signature"] = "pss"
json.dump(c, open(p, "w"), indent=2)
PY
issue_and_check "$WORK/pss" P-256 pss-dev-1 rsassaPss

# The IDevID profile: notAfter 99991231235959Z, chain includes the root.
make_csr idev P-256
"$CS" issue --config "$WORK/p384/certstation.json" --profile idevid --csr "$WORK/idev.csr" \
  --device-id idev-0001 --out "$WORK/idev.pem" 2>/dev/null && ok || fail "idevid issue"
openssl x509 -in "$WORK/idev.pem" -noout -enddate | grep -q "Dec 31 23:59:59 9999 GMT" && ok || fail "IDevID notAfter is not 99991231235959Z"
[ "$(grep -c 'BEGIN CERTIFICATE' "$WORK/idev.pem")" -eq 3 ] && ok || fail "IDevID chain does not include the root"
verify_chain "$WORK/idev.pem" "$WORK/p384/root-ca.pem"

finish
