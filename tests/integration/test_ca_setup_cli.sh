# The issuing CA set up for production without the demo, for P-256, P-384
# and RSA-2048: a fresh SoftHSM2 token and a config written here, `ca keygen`
# (checked with p11tool), `ca csr` (checked with openssl and certtool), a
# root CA made with the openssl CLI signs the request, `ca install` refuses
# every bad certificate with its own message, installs the good one, then
# `ca show`, an issuance, and the issued chain checked by openssl and
# certtool against the test's root. Then --replace (with an intermediate CA
# in between) and a renewal under the installed chain.
source "$(dirname "$0")/lib.sh"

PIN=$(openssl rand -hex 12)
SO_PIN=$(openssl rand -hex 12)
MODULE=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
  /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -e "$m" ] && MODULE=$m && break
done
[ -n "$MODULE" ] || { echo "libsofthsm2.so not found" >&2; exit 1; }

# Extension sections the test's root signs with.
cat >"$WORK/ext.cnf" <<'EOF'
[v3_issuing]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_intermediate]
basicConstraints = critical,CA:TRUE,pathlen:1
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_not_ca]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_no_certsign]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,digitalSignature,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

# sign CSR CA_NAME SECTION OUT (in directory $d): openssl x509 -req, 5 years.
sign() {
  openssl x509 -req -in "$1" -CA "$d/$2.pem" -CAkey "$d/$2.key" -extfile "$WORK/ext.cnf" \
    -extensions "$3" -days 1825 -set_serial "0x$(openssl rand -hex 12)" -out "$4" 2>/dev/null
}

# sign_dated CSR START END OUT: `openssl ca` with explicit dates, signed by root.
sign_dated() {
  openssl ca -batch -config "$d/ca.cnf" -cert "$d/root.pem" -keyfile "$d/root.key" -in "$1" \
    -startdate "$2" -enddate "$3" -extfile "$WORK/ext.cnf" -extensions v3_issuing -notext \
    -out "$4" >/dev/null 2>&1
}

# make_ca NAME KEYALG: a self-signed CA key and certificate in $d.
make_ca() {
  openssl req -x509 -newkey $2 -nodes -keyout "$d/$1.key" -subj "/CN=Contoso $1/O=Contoso" \
    -days 7300 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$d/$1.pem" 2>/dev/null
}

der_sha() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
spki_sha_req() { openssl req -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }

# expect_fail_nothing_installed FRAGMENT -- command: refused, and no CA file
# (nor a temporary one) left behind.
expect_refused_clean() {
  expect_fail "$@"
  checks=$((checks + 1))
  if [ -e "$d/pki/issuing-ca.pem" ] || [ -e "$d/pki/root-ca.pem" ] || compgen -G "$d/pki/*.tmp*" >/dev/null; then
    fail "$kt: a refused install left files: $(ls "$d/pki")"
  fi
}

run_keytype() {
  kt=$1
  local rootalg=$2 sigalg=$3
  d=$WORK/$kt
  local cfg=$d/pki/certstation.json
  mkdir -p "$d/tokens" "$d/pki" "$d/rootdb"

  # 1. A fresh token and a config for it (no demo).
  cat >"$d/softhsm2.conf" <<EOF
directories.tokendir = $d/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
  SOFTHSM2_CONF=$d/softhsm2.conf softhsm2-util --init-token --free --label line1 \
    --so-pin "$SO_PIN" --pin "$PIN" >/dev/null
  (umask 077 && printf '%s\n' "$PIN" >"$d/pki/hsm.pin")
  cat >"$cfg" <<EOF
{
  "state_dir": "state",
  "hsm": {
    "module": "$MODULE",
    "uri": "pkcs11:token=line1;object=issuing-ca;type=private?pin-source=file:hsm.pin",
    "sessions": 2,
    "module_env": { "SOFTHSM2_CONF": "$d/softhsm2.conf" }
  },
  "ca": { "certificate": "issuing-ca.pem", "chain": "root-ca.pem" },
  "default_profile": "device",
  "profiles": {
    "device": {
      "key_types": ["P-256", "P-384"],
      "subject": [ { "CN": "{device_id}" }, { "O": "Contoso" } ],
      "validity": { "days": 90, "backdate_seconds": 0 },
      "key_usage": [ "digitalSignature" ],
      "extended_key_usage": [ "clientAuth" ]
    },
    "backdated": {
      "key_types": ["P-256"],
      "subject": [ { "CN": "{device_id}" } ],
      "validity": { "days": 90, "backdate_seconds": 3600 },
      "key_usage": [ "digitalSignature" ],
      "extended_key_usage": [ "clientAuth" ]
    }
  }
}
EOF
  cat >"$d/ca.cnf" <<EOF
[ca]
default_ca = root
[root]
database = $d/rootdb/index.txt
new_certs_dir = $d/rootdb
rand_serial = yes
default_md = default
policy = policy_any
preserve = yes
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
EOF
  : >"$d/rootdb/index.txt"

  # Before keygen: `ca show` says there is no key, and fails.
  expect_fail "holds no issuing-CA key yet" -- "$CS" ca show --config "$cfg"

  # 2. ca keygen, checked with p11tool (GnuTLS) in the token itself.
  if "$CS" ca keygen --config "$cfg" --key-type "$kt" >"$d/keygen.out" 2>"$d/keygen.err"; then ok; else
    fail "$kt: ca keygen: $(cat "$d/keygen.err")"; return; fi
  local spki ckaid
  spki=$(sed -n 's/^  SPKI SHA-256: *//p' "$d/keygen.out")
  ckaid=$(sed -n 's/^  CKA_ID: *//p' "$d/keygen.out")
  grep -q "^  type: *$kt\$" "$d/keygen.out" && ok || fail "$kt: keygen does not report type $kt"
  grep -q "^  label: *issuing-ca\$" "$d/keygen.out" && ok || fail "$kt: keygen does not report the label"
  [[ $spki =~ ^[0-9a-f]{64}$ ]] && ok || fail "$kt: keygen SPKI SHA-256 missing: $spki"
  [[ $ckaid =~ ^[0-9a-f]{2,}$ ]] && ok || fail "$kt: keygen CKA_ID missing: $ckaid"
  SOFTHSM2_CONF=$d/softhsm2.conf GNUTLS_PIN=$PIN p11tool --provider "$MODULE" --login \
    --list-privkeys "pkcs11:token=line1" >"$d/p11tool.out" 2>&1 || true
  grep -q "ID: $(sed 's/../&:/g; s/:$//' <<<"$ckaid")\$" "$d/p11tool.out" && ok ||
    fail "$kt: p11tool does not list a private key with CKA_ID $ckaid: $(cat "$d/p11tool.out")"
  grep "Flags:" "$d/p11tool.out" | grep -q "CKA_SENSITIVE" && ok || fail "$kt: private key not CKA_SENSITIVE"
  grep "Flags:" "$d/p11tool.out" | grep -q "CKA_EXTRACTABLE" && fail "$kt: private key is extractable" || ok
  SOFTHSM2_CONF=$d/softhsm2.conf p11tool --provider "$MODULE" \
    --export "pkcs11:token=line1;object=issuing-ca;type=public" >"$d/pub.pem" 2>/dev/null || true
  [ "$(openssl pkey -pubin -in "$d/pub.pem" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$spki" ] && ok ||
    fail "$kt: SPKI SHA-256 reported by keygen is not the token's public key"

  # Again: refused, pointing at `ca show`; the key is unchanged.
  expect_fail "already holds the key 'issuing-ca'" -- "$CS" ca keygen --config "$cfg" --key-type "$kt"
  expect_fail "certstation ca show" -- "$CS" ca keygen --config "$cfg" --key-type "$kt"
  "$CS" ca show --config "$cfg" >"$d/show0.out" 2>"$d/show0.err" && fail "$kt: ca show succeeded without a certificate" || ok
  grep -q "SPKI SHA-256: $spki" "$d/show0.out" && ok || fail "$kt: ca show (no certificate yet) does not show the key"
  grep -q "no issuing CA certificate installed yet" "$d/show0.err" && ok || fail "$kt: ca show does not say the certificate is missing"

  # 3. ca csr, checked with openssl and certtool.
  if "$CS" ca csr --config "$cfg" --subject "/CN=Line 1 Issuing CA/O=Contoso/C=DE" \
       --out "$d/issuing.csr" 2>"$d/csr.err"; then ok; else fail "$kt: ca csr: $(cat "$d/csr.err")"; return; fi
  openssl req -in "$d/issuing.csr" -verify -noout -text >"$d/csr.txt" 2>"$d/csr.verify" &&
    grep -q "verify OK" "$d/csr.verify" && ok || fail "$kt: openssl req -verify: $(cat "$d/csr.verify")"
  [ "$(openssl req -in "$d/issuing.csr" -noout -subject -nameopt RFC2253)" = "subject=C=DE,O=Contoso,CN=Line 1 Issuing CA" ] && ok ||
    fail "$kt: CSR subject: $(openssl req -in "$d/issuing.csr" -noout -subject -nameopt RFC2253)"
  grep -A1 "X509v3 Basic Constraints: critical" "$d/csr.txt" | grep -q "CA:TRUE, pathlen:0" && ok || fail "$kt: CSR lacks critical CA:TRUE, pathlen:0"
  grep -A1 "X509v3 Key Usage: critical" "$d/csr.txt" | grep -q "^ *Certificate Sign, CRL Sign\$" && ok || fail "$kt: CSR keyUsage is not keyCertSign, cRLSign"
  grep -q "X509v3 Subject Key Identifier" "$d/csr.txt" && ok || fail "$kt: CSR lacks subjectKeyIdentifier"
  grep -q "Signature Algorithm: $sigalg" "$d/csr.txt" && ok || fail "$kt: CSR not signed with $sigalg"
  [ "$(spki_sha_req "$d/issuing.csr")" = "$spki" ] && ok || fail "$kt: CSR public key is not the one keygen reported"
  certtool --crq-info --infile "$d/issuing.csr" >"$d/crq.txt" 2>&1
  grep -q "Self signature: verified" "$d/crq.txt" && ok || fail "$kt: certtool does not verify the CSR: $(tail -3 "$d/crq.txt")"
  # --out never overwrites; without --out the PEM goes to stdout; --pathlen.
  expect_fail "already exists" -- "$CS" ca csr --config "$cfg" --subject "/CN=x" --out "$d/issuing.csr"
  "$CS" ca csr --config "$cfg" --subject '/CN=Line 1 Issuing CA\/2/O=Contoso' --pathlen 2 >"$d/p2.csr" 2>/dev/null && ok || fail "$kt: ca csr to stdout"
  openssl req -in "$d/p2.csr" -verify -noout -text 2>/dev/null | grep -q "CA:TRUE, pathlen:2" && ok || fail "$kt: --pathlen 2 not in the request"
  [ "$(openssl req -in "$d/p2.csr" -noout -subject -nameopt RFC2253)" = 'subject=O=Contoso,CN=Line 1 Issuing CA/2' ] && ok ||
    fail "$kt: escaped '/' in the subject: $(openssl req -in "$d/p2.csr" -noout -subject -nameopt RFC2253)"

  # 4. The test's root (openssl CLI) and the certificates to install.
  make_ca root "$rootalg"
  make_ca other-root "$rootalg"
  sign "$d/issuing.csr" root v3_issuing "$d/issued.pem"
  openssl verify -x509_strict -CAfile "$d/root.pem" "$d/issued.pem" >/dev/null && ok || fail "$kt: the test's own signing is broken"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/soft.key" \
    -subj "/CN=Line 1 Issuing CA/O=Contoso/C=DE" -out "$d/soft.csr" 2>/dev/null
  sign "$d/soft.csr" root v3_issuing "$d/other-key.pem"
  sign "$d/issuing.csr" root v3_not_ca "$d/not-ca.pem"
  sign "$d/issuing.csr" root v3_no_certsign "$d/no-certsign.pem"
  sign_dated "$d/issuing.csr" 20200101000000Z 20210101000000Z "$d/expired.pem"
  sign_dated "$d/issuing.csr" 20990101000000Z 21000101000000Z "$d/future.pem"
  openssl x509 -in "$d/expired.pem" -noout -enddate | grep -q "2021 GMT" && ok || fail "$kt: could not make an expired certificate"
  openssl req -new -newkey $rootalg -nodes -keyout "$d/int.key" -subj "/CN=Contoso Intermediate/O=Contoso" \
    -out "$d/int.csr" 2>/dev/null
  sign "$d/int.csr" root v3_intermediate "$d/int.pem"
  sign "$d/issuing.csr" int v3_issuing "$d/via-int.pem"
  cat "$d/issued.pem" "$d/root.pem" >"$d/two.pem"
  head -c 700 /dev/urandom >"$d/garbage.der"

  # 5. Refusals, each with its own message; nothing installed by any of them.
  expect_refused_clean "is a certificate for another key" -- "$CS" ca install --config "$cfg" --cert "$d/other-key.pem" --chain "$d/root.pem"
  expect_refused_clean "basicConstraints CA:FALSE" -- "$CS" ca install --config "$cfg" --cert "$d/not-ca.pem" --chain "$d/root.pem"
  expect_refused_clean "keyUsage lacks keyCertSign (it allows digitalSignature, cRLSign)" -- "$CS" ca install --config "$cfg" --cert "$d/no-certsign.pem" --chain "$d/root.pem"
  expect_refused_clean "has expired: notAfter 2021-01-01T00:00:00Z" -- "$CS" ca install --config "$cfg" --cert "$d/expired.pem" --chain "$d/root.pem"
  expect_refused_clean "is not valid yet: notBefore 2099-01-01T00:00:00Z" -- "$CS" ca install --config "$cfg" --cert "$d/future.pem" --chain "$d/root.pem"
  expect_refused_clean "no self-signed root certificate among its 1 certificate" -- "$CS" ca install --config "$cfg" --cert "$d/via-int.pem" --chain "$d/int.pem"
  expect_refused_clean "lacks the certificate that issued it" -- "$CS" ca install --config "$cfg" --cert "$d/via-int.pem" --chain "$d/root.pem"
  expect_refused_clean "does not verify up to a self-signed root" -- "$CS" ca install --config "$cfg" --cert "$d/issued.pem" --chain "$d/other-root.pem"
  expect_refused_clean "no --chain given" -- "$CS" ca install --config "$cfg" --cert "$d/issued.pem"
  expect_refused_clean "holds more than 1 certificate" -- "$CS" ca install --config "$cfg" --cert "$d/two.pem" --chain "$d/root.pem"
  expect_refused_clean "neither PEM nor one DER certificate" -- "$CS" ca install --config "$cfg" --cert "$d/garbage.der" --chain "$d/root.pem"

  # 6. Install: the files are the root's certificate and the root.
  if "$CS" ca install --config "$cfg" --cert "$d/issued.pem" --chain "$d/root.pem" >"$d/install.out" 2>"$d/install.err"; then ok; else
    fail "$kt: ca install: $(cat "$d/install.err")"; return; fi
  [ "$(der_sha "$d/pki/issuing-ca.pem")" = "$(der_sha "$d/issued.pem")" ] && ok || fail "$kt: installed certificate differs"
  [ "$(der_sha "$d/pki/root-ca.pem")" = "$(der_sha "$d/root.pem")" ] && ok || fail "$kt: installed chain is not the root"
  compgen -G "$d/pki/*.tmp*" >/dev/null && fail "$kt: temporary files left: $(ls "$d/pki")" || ok
  # The root signed just now: a profile that backdates by an hour would
  # start device certificates before the CA's notBefore for that hour.
  grep -q "profile 'backdated' backdates" "$d/install.out" && ok || fail "$kt: no note about the backdating profile: $(cat "$d/install.out")"
  grep -q "profile 'device'" "$d/install.out" && fail "$kt: note about a profile that does not backdate" || ok

  # 7. ca show, an issuance, the chain checked independently.
  "$CS" ca show --config "$cfg" >"$d/show.out" 2>"$d/show.err" && ok || fail "$kt: ca show: $(cat "$d/show.err")"
  grep -q "^  type:        $kt\$" "$d/show.out" && ok || fail "$kt: ca show type"
  grep -q "SPKI SHA-256: $spki" "$d/show.out" && ok || fail "$kt: ca show SPKI SHA-256"
  grep -q "Chain (2 certificates, ends at a self-signed root)" "$d/show.out" && ok || fail "$kt: ca show chain: $(cat "$d/show.out")"
  make_csr "dev-$kt-1" P-256
  if "$CS" issue --config "$cfg" --csr "$WORK/dev-$kt-1.csr" --device-id "dev-$kt-0001" --out "$d/dev1.pem" 2>"$d/issue1.err"; then
    ok
    verify_chain "$d/dev1.pem" "$d/root.pem"
    openssl x509 -in "$d/dev1.pem" -noout -text | grep -m1 "Signature Algorithm" | grep -q "$sigalg" && ok ||
      fail "$kt: device certificate not signed with $sigalg"
  else
    fail "$kt: issue after install: $(cat "$d/issue1.err")"
  fi

  # 8. Not over an installed CA without --replace; nothing changes.
  local before
  before=$(sha256sum "$d/pki/issuing-ca.pem" "$d/pki/root-ca.pem")
  cat "$d/int.pem" "$d/root.pem" >"$d/int-root.pem"
  expect_fail "already exists" -- "$CS" ca install --config "$cfg" --cert "$d/via-int.pem" --chain "$d/int-root.pem"
  expect_fail "add --replace" -- "$CS" ca install --config "$cfg" --cert "$d/issued.pem" --chain "$d/root.pem"
  [ "$before" = "$(sha256sum "$d/pki/issuing-ca.pem" "$d/pki/root-ca.pem")" ] && ok || fail "$kt: a refused install changed files"

  # 9. --replace with an intermediate in between (given root first: the
  # installed chain is the verified path, issuer first); old files kept.
  cat "$d/root.pem" "$d/other-root.pem" "$d/int.pem" >"$d/bundle.pem"
  if "$CS" ca install --config "$cfg" --cert "$d/via-int.pem" --chain "$d/bundle.pem" --replace >"$d/replace.out" 2>"$d/replace.err"; then ok; else
    fail "$kt: ca install --replace: $(cat "$d/replace.err")"; return; fi
  [ "$(der_sha "$d/pki/issuing-ca.pem.previous")" = "$(der_sha "$d/issued.pem")" ] && ok || fail "$kt: old certificate not kept as .previous"
  [ "$(der_sha "$d/pki/root-ca.pem.previous")" = "$(der_sha "$d/root.pem")" ] && ok || fail "$kt: old chain not kept as .previous"
  [ "$(der_sha "$d/pki/issuing-ca.pem")" = "$(der_sha "$d/via-int.pem")" ] && ok || fail "$kt: replaced certificate differs"
  [ "$(openssl crl2pkcs7 -nocrl -certfile "$d/pki/root-ca.pem" | openssl pkcs7 -print_certs -noout | grep -c '^subject=')" -eq 2 ] &&
    [ "$(der_sha "$d/pki/root-ca.pem")" = "$(der_sha "$d/int.pem")" ] && ok || fail "$kt: installed chain is not intermediate, root"
  grep -q "left out: *1 certificate" "$d/replace.out" && ok || fail "$kt: the unrelated root in --chain is not reported as left out"
  "$CS" ca show --config "$cfg" 2>/dev/null | grep -q "Chain (3 certificates, ends at a self-signed root)" && ok || fail "$kt: ca show after --replace"
  make_csr "dev-$kt-2" P-384
  if "$CS" issue --config "$cfg" --csr "$WORK/dev-$kt-2.csr" --device-id "dev-$kt-0002" --out "$d/dev2.pem" 2>"$d/issue2.err"; then
    ok
    [ "$(grep -c 'BEGIN CERTIFICATE' "$d/dev2.pem")" -eq 3 ] && ok || fail "$kt: chain is not device, issuing, intermediate"
    verify_chain "$d/dev2.pem" "$d/root.pem"
  else
    fail "$kt: issue after --replace: $(cat "$d/issue2.err")"
  fi

  # 10. Renewal under the installed chain: no --chain needed.
  sign "$d/issuing.csr" int v3_issuing "$d/renewed.pem"
  "$CS" ca install --config "$cfg" --cert "$d/renewed.pem" --replace >/dev/null 2>"$d/renew.err" && ok ||
    fail "$kt: renewal without --chain: $(cat "$d/renew.err")"
  [ "$(der_sha "$d/pki/issuing-ca.pem")" = "$(der_sha "$d/renewed.pem")" ] &&
    [ "$(der_sha "$d/pki/issuing-ca.pem.previous")" = "$(der_sha "$d/via-int.pem")" ] && ok || fail "$kt: renewal files"
  make_csr "dev-$kt-3" P-256
  "$CS" issue --config "$cfg" --csr "$WORK/dev-$kt-3.csr" --device-id "dev-$kt-0003" --out "$d/dev3.pem" 2>/dev/null && ok || fail "$kt: issue after renewal"
  verify_chain "$d/dev3.pem" "$d/root.pem"
}

run_keytype P-256 "ec -pkeyopt ec_paramgen_curve:P-256" ecdsa-with-SHA256
run_keytype P-384 "ec -pkeyopt ec_paramgen_curve:P-384" ecdsa-with-SHA384
run_keytype RSA-2048 "rsa:2048" sha256WithRSAEncryption

# RSA with the PSS setting of the default profile: the request is PSS-signed too.
d=$WORK/RSA-2048
python3 - "$d/pki/certstation.json" "$d/pki/pss.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for p in c["profiles"].values():
    p["rsa_signature"] = "pss"
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
"$CS" ca csr --config "$d/pki/pss.json" --subject "/CN=Line 1 Issuing CA" --out "$d/pss.csr" 2>/dev/null && ok || fail "PSS: ca csr"
openssl req -in "$d/pss.csr" -verify -noout -text >"$d/pss.txt" 2>&1 && grep -q "verify OK" "$d/pss.txt" &&
  grep -q "Signature Algorithm: rsassaPss" "$d/pss.txt" && ok || fail "PSS: request not a verifying rsassaPss: $(head -3 "$d/pss.txt")"

# The subject parser's refusals, through the command line.
d=$WORK/P-256
cfg=$d/pki/certstation.json
expect_fail "unknown attribute 'XX'" -- "$CS" ca csr --config "$cfg" --subject "/CN=a/XX=b"
expect_fail "O has an empty value" -- "$CS" ca csr --config "$cfg" --subject "/CN=a/O="
expect_fail "at most 1024 are accepted" -- "$CS" ca csr --config "$cfg" --subject "/CN=$(head -c 1100 /dev/zero | tr '\0' a)"
expect_fail "RFC 5280 allows at most 64" -- "$CS" ca csr --config "$cfg" --subject "/CN=$(head -c 65 /dev/zero | tr '\0' a)"
expect_fail "must start with '/'" -- "$CS" ca csr --config "$cfg" --subject "CN=a"
expect_fail "subject has no CN" -- "$CS" ca csr --config "$cfg" --subject "/O=Contoso"
expect_fail "two-letter ISO 3166" -- "$CS" ca csr --config "$cfg" --subject "/CN=a/C=Germany"
expect_fail "escapes nothing" -- "$CS" ca csr --config "$cfg" --subject '/CN=a\'
expect_fail "--pathlen" -- "$CS" ca csr --config "$cfg" --subject "/CN=a" --pathlen -1
expect_fail "does not take --subject" -- "$CS" ca show --config "$cfg" --subject /CN=a
expect_fail "needs --key-type" -- "$CS" ca keygen --config "$cfg"
"$CS" ca --help | grep -q "certstation ca install \[--config F\] --cert FILE \[--chain FILE\] \[--replace\]" && ok || fail "ca --help lacks install"

# The PIN never appears in anything the commands printed or wrote.
checks=$((checks + 1))
leaks=$(grep -rlF "$PIN" "$WORK" --exclude=hsm.pin --exclude-dir=tokens || true)
[ -z "$leaks" ] || fail "the PIN appears in: $leaks"

finish
