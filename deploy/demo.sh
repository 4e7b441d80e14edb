#!/usr/bin/env bash
# The README's "run it" command: build certstation, create a demo PKI whose
# issuing-CA key lives in a SoftHSM2 token (./demo), issue certificates for a
# few freshly generated device keys, and check every chain with OpenSSL and
# GnuTLS. Idempotent: re-running reuses the demo PKI and re-delivers the
# same certificates to the same devices.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target certstation

cs=build/certstation
demo=${CERTSTATION_DEMO_DIR:-$PWD/demo}
mkdir -p "$demo/devices"

echo "== demo PKI in $demo (issuing-CA key inside SoftHSM2)"
"$cs" init --demo "$demo"
cfg="$demo/certstation.json"

echo
echo "== CA"
"$cs" ca show --config "$cfg" | sed -n '1,12p'

echo
echo "== provisioning 5 devices (each generates its own key and CSR)"
for i in 1 2 3 4 5; do
  id=$(printf 'demo-device-%04d' "$i")
  key="$demo/devices/$id.key"
  [ -f "$key" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
  openssl req -new -key "$key" -subj "/CN=$id" -out "$demo/devices/$id.csr"
  "$cs" issue --config "$cfg" --csr "$demo/devices/$id.csr" --device-id "$id" \
     --out "$demo/devices/$id.chain.pem"
  openssl verify -x509_strict -CAfile "$demo/root-ca.pem" -untrusted "$demo/devices/$id.chain.pem" \
     "$demo/devices/$id.chain.pem" >/dev/null
  certtool --verify --verify-profile medium --load-ca-certificate "$demo/root-ca.pem" \
     --infile "$demo/devices/$id.chain.pem" >/dev/null 2>&1
  echo "   $id: chain verified by openssl and certtool"
done

echo
echo "== a refusal: a device ID the profile does not accept"
"$cs" issue --config "$cfg" --csr "$demo/devices/demo-device-0001.csr" --device-id 'bad id!' \
   >/dev/null || true

echo
echo "== proof of possession for CA registration (Azure IoT Hub / DPS)"
"$cs" ca verification-cert --config "$cfg" --out "$demo/verification.pem" DEMO-VERIFICATION-CODE
openssl x509 -in "$demo/verification.pem" -noout -subject -issuer

echo
echo "== ledger"
"$cs" ledger verify --config "$cfg"
"$cs" ledger export --config "$cfg" --format csv --out "$demo/ledger.csv"
echo "   exported the ledger to $demo/ledger.csv"
