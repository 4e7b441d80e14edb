#!/bin/bash
# make.sh: regenerates the CSR fixtures of this directory: valid requests
# from the openssl CLI, hostile ones assembled byte by byte from a valid
# one. README lists what each file must produce; test_csr checks it. Needs openssl and xxd. Run from anywhere:
#   bash tests/data/csr/make.sh
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- hex helpers: every fixture is built as a hex string ----
hexof() { xxd -p "$1" | tr -d '\n'; }
unhex() { xxd -r -p >"$1"; }
# tlv TAG HEXVALUE -> DER TLV in hex, minimal length
tlv() {
	local tag=$1 val=$2 n=$((${#2} / 2))
	if ((n < 128)); then
		printf '%s%02x%s' "$tag" "$n" "$val"
	elif ((n < 256)); then
		printf '%s81%02x%s' "$tag" "$n" "$val"
	else
		printf '%s82%04x%s' "$tag" "$n" "$val"
	fi
}
# tlv_size HEX POS -> length in hex chars of the TLV starting at POS
tlv_size() {
	local h=$1 p=$2 b n l
	b=$((16#${h:p+2:2}))
	if ((b < 128)); then
		echo $(((2 + b) * 2))
	else
		n=$((b & 127))
		l=$((16#${h:p+4:n*2}))
		echo $(((2 + n + l) * 2))
	fi
}
# hdr_size HEX POS -> header length in hex chars
hdr_size() {
	local b=$((16#${1:$2+2:2}))
	if ((b < 128)); then echo 4; else echo $(((2 + (b & 127)) * 2)); fi
}
ascii() { printf '%s' "$1" | xxd -p | tr -d '\n'; }

# ---- valid requests from the openssl CLI ----
subj="/CN=dev-0001/O=Acme Devices"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/p256.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/p384.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out "$work/k1.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.key" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$work/ed.key" 2>/dev/null

openssl req -new -key "$work/p256.key" -subj "$subj" -sha256 -outform DER -out valid-p256.der
openssl req -new -key "$work/p256.key" -subj "$subj" -sha256 -out valid-p256.pem
sed 's/CERTIFICATE REQUEST/NEW CERTIFICATE REQUEST/' valid-p256.pem >valid-p256-new-label.pem
openssl req -new -key "$work/p384.key" -subj "/CN=dev-0002" -sha384 -outform DER -out valid-p384.der
openssl req -new -key "$work/rsa.key" -subj "/CN=dev-0003" -sha256 -outform DER -out valid-rsa2048.der
openssl req -new -key "$work/rsa.key" -subj "/CN=dev-0004" -sha256 -sigopt rsa_padding_mode:pss \
	-sigopt rsa_pss_saltlen:digest -outform DER -out valid-rsa2048-pss.der
openssl req -new -key "$work/ed.key" -subj "/CN=dev-0005" -outform DER -out valid-ed25519.der
openssl req -new -key "$work/k1.key" -subj "/CN=dev-0006" -sha256 -outform DER -out secp256k1.der
openssl req -new -key "$work/p256.key" -subj "/CN=dev-0007" -sha256 \
	-addext "basicConstraints=critical,CA:TRUE" -outform DER -out ca-request.der
cat >"$work/chal.cnf" <<'CNF'
[req]
prompt = no
distinguished_name = dn
attributes = attrs
[dn]
CN = dev-0008
[attrs]
challengePassword = lot42-secret
CNF
openssl req -new -key "$work/p256.key" -config "$work/chal.cnf" -sha256 -outform DER \
	-out challenge.der

# ---- pieces of the valid P-256 request ----
H=$(hexof valid-p256.der)
oh=$(hdr_size "$H" 0)
O=${H:oh}                         # CertificationRequest contents
isz=$(tlv_size "$O" 0)
INFO=${O:0:isz}                   # certificationRequestInfo TLV
REST=${O:isz}
asz=$(tlv_size "$REST" 0)
SIGALG=${REST:0:asz}
SIG=${REST:asz}
ih=$(hdr_size "$INFO" 0)
IC=${INFO:ih}                     # info contents: version subject spki attributes
SUBJ_AT=6                         # after 020100
ssz=$(tlv_size "$IC" $SUBJ_AT)
SUBJECT=${IC:SUBJ_AT:ssz}
psz=$(tlv_size "$IC" $((SUBJ_AT + ssz)))
SPKI=${IC:SUBJ_AT+ssz:psz}
ATTRS=${IC:SUBJ_AT+ssz+psz}
req() { tlv 30 "$1$2$3"; }        # req INFO SIGALG SIG
info() { tlv 30 "$1$2$3$4"; }     # info VERSION SUBJECT SPKI ATTRS

LL=$(printf '%02x' $(((${#O}) / 2)))
# Outer length: the valid request is longer than 127 bytes, so "30 81 LL".
[ "${H:2:2}" = 81 ] || { echo "unexpected outer header ${H:0:6}" >&2; exit 1; }

printf '%s00' "$H" | unhex trailing-bytes.der
printf '3080%s0000' "$O" | unhex indefinite-length.der
printf '308200%s%s' "$LL" "$O" | unhex nonminimal-length.der
printf '3081%02x%s' $((16#$LL + 1)) "$O" | unhex length-overrun.der
printf '%s' "${H:0:${#H}-20}" | unhex truncated.der
req "$(info 020101 "$SUBJECT" "$SPKI" "$ATTRS")" "$SIGALG" "$SIG" | unhex wrong-version.der
req "$(tlv 30 "$(tlv 02 00 | tr -d '\n')")" "$SIGALG" "$SIG" | unhex info-not-request.der
req "$(info 020100 "$SUBJECT" "$SPKI" "")" "$SIGALG" "$SIG" | unhex missing-attributes.der

rdn=$(tlv 31 "$(tlv 30 "06035504030c0178")")
rdns=""
for _ in $(seq 40); do rdns="$rdns$rdn"; done
req "$(info 020100 "$(tlv 30 "$rdns")" "$SPKI" "$ATTRS")" "$SIGALG" "$SIG" | unhex huge-rdn-count.der

longcn=$(ascii "$(printf 'a%.0s' $(seq 200))")
req "$(info 020100 "$(tlv 30 "$(tlv 31 "$(tlv 30 "0603550403$(tlv 0c "$longcn")")")")" \
	"$SPKI" "$ATTRS")" "$SIGALG" "$SIG" | unhex cn-too-long.der

# SPKI with a 33-byte uncompressed-looking point on P-256
shortpt="04$(printf '11%.0s' $(seq 32))"
badspki=$(tlv 30 "$(tlv 30 06072a8648ce3d020106082a8648ce3d030107)$(tlv 03 "00$shortpt")")
req "$(info 020100 "$SUBJECT" "$badspki" "$ATTRS")" "$SIGALG" "$SIG" | unhex ec-point-short.der

# rsaEncryption without the NULL parameters
rsaspki=$(tlv 30 "$(tlv 30 06092a864886f70d010101)$(tlv 03 "00$(tlv 30 "$(tlv 02 00c1)$(tlv 02 010001)")")")
req "$(info 020100 "$SUBJECT" "$rsaspki" "$ATTRS")" "$SIGALG" "$SIG" | unhex rsa-params-missing.der

# md5WithRSAEncryption
req "$INFO" "$(tlv 30 06092a864886f70d0101040500)" "$SIG" | unhex unknown-sig-alg.der
# ecdsa-with-SHA256 with NULL parameters
req "$INFO" "$(tlv 30 06082a8648ce3d0403020500)" "$SIG" | unhex ecdsa-params-present.der
# sha256WithRSAEncryption over a P-256 key: parses, refused at verification
req "$INFO" "$(tlv 30 06092a864886f70d01010b0500)" "$SIG" | unhex sig-alg-key-mismatch.der
# signature BIT STRING with 1 unused bit
req "$INFO" "$SIGALG" "03${SIG:2:2}01${SIG:6}" | unhex sig-unused-bits.der
# one bit of the signature flipped (the last octet of s)
last=${SIG: -2}
req "$INFO" "$SIGALG" "${SIG:0:${#SIG}-2}$(printf '%02x' $((16#$last ^ 1)))" | unhex sig-bit-flipped.der
# one bit of the signed info flipped: the CN "dev-0001" becomes "dev-0000"
req "${INFO/$(ascii dev-0001)/$(ascii dev-0000)}" "$SIGALG" "$SIG" | unhex info-bit-flipped.der
# a multi-byte (high-number) tag where the subject should be
req "$(tlv 30 "0201001f2200$SPKI$ATTRS")" "$SIGALG" "$SIG" | unhex high-tag.der
# two challengePassword attributes
chal=$(tlv 30 "06092a864886f70d010907$(tlv 31 "$(tlv 13 "$(ascii pw)")")")
req "$(info 020100 "$SUBJECT" "$SPKI" "$(tlv a0 "$chal$chal")")" "$SIGALG" "$SIG" |
	unhex challenge-twice.der

: >empty.der
printf 'hello, this is not a request\n' >garbage.bin
{ printf '\x30\x82\x20\x00'; head -c 8189 /dev/zero; } >oversized.der
sed '2s/^\(.\)/*/' valid-p256.pem >pem-bad-base64.pem
cat valid-p256.pem valid-p256.pem >pem-two-blocks.pem
sed '2s/^\(....\)/\1 /' valid-p256.pem >pem-space-inside.pem
echo "fixtures written to $(pwd)"
