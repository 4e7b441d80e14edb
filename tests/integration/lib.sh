# Shared helpers for the shell integration tests. Each test gets the
# certstation binary as $1 and the source tree as $2, and works in its own
# temporary directory (its own SoftHSM2 token, its own ledger).
set -euo pipefail

CS=$1
SRC=$2
WORK=$(mktemp -d /tmp/certstation-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failures=0
checks=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

ok() {
  checks=$((checks + 1))
}

# expect_refusal REASON FRAGMENT -- command...: the command must exit 1 and
# print "refused [REASON]" with FRAGMENT in its message.
expect_refusal() {
  local reason=$1 fragment=$2
  shift 3
  local out rc=0
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  checks=$((checks + 1))
  if [ "$rc" -ne 1 ]; then
    fail "expected refusal [$reason], got exit $rc: $out"
  elif ! grep -qF "[$reason]" <<<"$out"; then
    fail "expected reason [$reason], got: $out"
  elif ! grep -qF -- "$fragment" <<<"$out"; then
    fail "expected message with '$fragment', got: $out"
  fi
}

# expect_fail FRAGMENT -- command...: exit 1 with FRAGMENT on stderr.
expect_fail() {
  local fragment=$1
  shift 2
  local out rc=0
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  checks=$((checks + 1))
  if [ "$rc" -eq 0 ]; then
    fail "expected failure with '$fragment', command succeeded"
  elif ! grep -qF -- "$fragment" <<<"$out"; then
    fail "expected message with '$fragment', got: $out"
  fi
}

# make_csr NAME CURVE|rsa:BITS [extra openssl req args...]: key + CSR in $WORK.
make_csr() {
  local name=$1 alg=$2
  shift 2
  if [[ $alg == rsa:* ]]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"${alg#rsa:}" -out "$WORK/$name.key" 2>/dev/null
  else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$alg" -out "$WORK/$name.key" 2>/dev/null
  fi
  openssl req -new -key "$WORK/$name.key" -subj "/CN=$name" "$@" -out "$WORK/$name.csr"
}

# verify_chain CHAIN_PEM ROOT_PEM: independent checks with OpenSSL and GnuTLS
# (certtool --verify walks the chain in the file up to the loaded root).
verify_chain() {
  local chain=$1 root=$2
  checks=$((checks + 1))
  if ! openssl verify -x509_strict -purpose sslclient -CAfile "$root" -untrusted "$chain" "$chain" >/dev/null 2>"$WORK/verify.err"; then
    fail "openssl verify rejected $chain: $(cat "$WORK/verify.err")"
  fi
  checks=$((checks + 1))
  if ! certtool --verify --verify-profile medium --load-ca-certificate "$root" --infile "$chain" >"$WORK/certtool.out" 2>&1; then
    fail "certtool --verify rejected $chain: $(tail -5 "$WORK/certtool.out")"
  fi
}

# verify_stored DIR ROOT_PEM: every chain a simulator stored in DIR verifies
# with OpenSSL up to the root.
verify_stored() {
  local f
  for f in "$1"/*.pem; do
    openssl verify -x509_strict -CAfile "$2" -untrusted "$f" "$f" >/dev/null 2>&1 && ok ||
      fail "openssl rejects $(basename "$f")"
  done
}

finish() {
  echo "$(basename "$0"): $checks checks, $failures failed"
  [ "$checks" -gt 0 ] && [ "$failures" -eq 0 ]
}
