# certstation ledger backup while the line provisions devices: every copy is
# one self-contained SQLite file that passes SQLite's integrity check and the
# audit-chain verification, holds a consistent snapshot (never more than the
# live ledger, never a torn row), never overwrites an older backup, and can
# be restored in place of a lost ledger. A copy edited afterwards fails
# `ledger verify`, like the live ledger would.
source "$(dirname "$0")/lib.sh"

"$CS" init --demo "$WORK/pki" >/dev/null
cfg=$WORK/pki/certstation.json
db=$WORK/pki/state/ledger.sqlite
d=$WORK/bk
mkdir -p "$d/out"

"$CS" sim --count 4 --baud 0 --id-prefix B- --links "$d/links" --fixture-map "$d/map.json" \
  --timeout-ms 5000 --gap-ms 0 >"$d/sim.out" 2>"$d/sim.err" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$d/map.json" ] && break; sleep 0.05; done
python3 - "$cfg" "$d/map.json" "$WORK/pki/bk.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["line"] = {"fixture_map": sys.argv[2], "scan_interval_ms": 200}
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
"$CS" run --no-web --config "$WORK/pki/bk.json" --seconds 12 2>"$d/run.err" &
run_pid=$!
rows() { sqlite3 "$1" "SELECT count(*) FROM issuance" 2>/dev/null || echo 0; }
for _ in $(seq 200); do [ "$(rows "$db")" -ge 20 ] && break; sleep 0.05; done

# backups under load, as fast as they come
n=0
for i in 1 2 3 4 5; do
  out=$("$CS" ledger backup --config "$cfg" --out "$d/out/live-$i.sqlite" 2>&1) && ok ||
    fail "backup $i under load: $out"
  b=$d/out/live-$i.sqlite
  [ -f "$b" ] && [ ! -e "$b-wal" ] && ok || fail "backup $i is not one self-contained file"
  [ "$(sqlite3 "$b" 'PRAGMA integrity_check')" = ok ] && ok || fail "backup $i fails integrity_check"
  [ "$(sqlite3 "$b" 'PRAGMA journal_mode')" = delete ] && ok || fail "backup $i is still in WAL mode"
  got=$(rows "$b")
  live=$(rows "$db")
  [ "$got" -gt "$n" ] && [ "$got" -le "$live" ] && ok ||
    fail "backup $i holds $got rows after $n, live has $live"
  grep -q "verified: $got issuances" <<<"$out" && ok || fail "backup $i report: $out"
  n=$got
  sleep 0.5
done
echo "five backups under load, the last with $n issuances"

# a dated name inside a directory; never over an existing file
out=$("$CS" ledger backup --config "$cfg" --out "$d/out" 2>&1) && ok || fail "backup into a directory: $out"
grep -q "backup $d/out/ledger-[0-9]\{8\}T[0-9]\{6\}Z.sqlite: verified" <<<"$out" && ok || fail "dated name: $out"
before=$(sha256sum "$d/out/live-1.sqlite")
expect_fail "already exists; backups are never overwritten" -- "$CS" ledger backup --config "$cfg" --out "$d/out/live-1.sqlite"
[ "$(sha256sum "$d/out/live-1.sqlite")" = "$before" ] && ok || fail "an existing backup was changed"
expect_fail "no-such-dir/x.sqlite: No such file or directory" -- "$CS" ledger backup --config "$cfg" --out "$d/no-such-dir/x.sqlite"
expect_fail "usage" -- "$CS" ledger backup --config "$cfg"

# --keep N prunes older dated backups in the directory, and nothing else
k=$d/keep
mkdir -p "$k"
for t in 20240101T000000Z 20250101T000000Z 20260101T000000Z; do
  cp "$d/out/live-1.sqlite" "$k/ledger-$t.sqlite"
done
touch "$k/ledger-notes.txt" "$k/ledger-2024.sqlite" "$k/other.sqlite"
out=$("$CS" ledger backup --config "$cfg" --out "$k" --keep 2 2>&1) && ok || fail "backup --keep: $out"
left=$(cd "$k" && ls | tr '\n' ' ')
[ ! -e "$k/ledger-20240101T000000Z.sqlite" ] && [ ! -e "$k/ledger-20250101T000000Z.sqlite" ] && ok ||
  fail "--keep 2 left old backups: $left"
[ -e "$k/ledger-20260101T000000Z.sqlite" ] && [ "$(ls "$k"/ledger-2*Z.sqlite | wc -l)" -eq 2 ] && ok ||
  fail "--keep 2 did not keep the newest two: $left"
[ -e "$k/ledger-notes.txt" ] && [ -e "$k/ledger-2024.sqlite" ] && [ -e "$k/other.sqlite" ] && ok ||
  fail "--keep removed files that are not dated backups: $left"
grep -q "removed old backup $k/ledger-20240101T000000Z.sqlite" <<<"$out" && ok || fail "--keep report: $out"
# a clock that was once ahead left "future" backups: the one just written
# still counts as the newest and is never the one removed
f=$d/future
mkdir -p "$f"
cp "$d/out/live-1.sqlite" "$f/ledger-20990101T000000Z.sqlite"
cp "$d/out/live-1.sqlite" "$f/ledger-20990102T000000Z.sqlite"
out=$("$CS" ledger backup --config "$cfg" --out "$f" --keep 2 2>&1) && ok || fail "backup --keep with future names: $out"
fresh=$(sed -n 's|^backup \(.*\): verified.*|\1|p' <<<"$out")
[ -n "$fresh" ] && [ -f "$fresh" ] && ok || fail "--keep removed the backup it had just written: $out"
[ "$(ls "$f" | wc -l)" -eq 2 ] && ok || fail "--keep 2 left $(ls "$f" | tr '\n' ' ')"
# no half-written copies are ever left under any name
ls "$d/out" "$k" "$f" | grep -q '\.tmp-' && fail "temporary copies left behind" || ok
expect_fail "--keep needs --out to name a directory" -- "$CS" ledger backup --config "$cfg" --out "$k/one.sqlite" --keep 2
expect_fail "--keep needs a number" -- "$CS" ledger backup --config "$cfg" --out "$k" --keep 0

rc=0
wait "$run_pid" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "run exited $rc: $(tail -3 "$d/run.err")"
kill "$sim_pid" 2>/dev/null || true
wait "$sim_pid" 2>/dev/null || true

# after the stop: the backup is the ledger, row for row
"$CS" ledger backup --config "$cfg" --out "$d/final.sqlite" >/dev/null && ok || fail "final backup"
q="SELECT id, state, serial, hex(cert_der) FROM issuance ORDER BY id"
[ "$(sqlite3 "$db" "$q" | sha256sum)" = "$(sqlite3 "$d/final.sqlite" "$q" | sha256sum)" ] && ok ||
  fail "the final backup differs from the ledger"
q="SELECT seq, hex(hash) FROM audit ORDER BY seq"
[ "$(sqlite3 "$db" "$q" | sha256sum)" = "$(sqlite3 "$d/final.sqlite" "$q" | sha256sum)" ] && ok ||
  fail "the final backup's audit trail differs"

# restore: the ledger is lost, the backup takes its place, verify passes
rm -f "$db" "$db-wal" "$db-shm"
cp "$d/final.sqlite" "$db"
"$CS" ledger verify --config "$cfg" >/dev/null && ok || fail "the restored ledger does not verify"

# an edited copy is caught like an edited ledger
cp "$d/final.sqlite" "$d/edited.sqlite"
sqlite3 "$d/edited.sqlite" "UPDATE issuance SET device_id = 'X-EVIL' WHERE id = 3"
python3 - "$cfg" "$d/edited.sqlite" "$WORK/pki/edited.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["ledger"] = sys.argv[2]
json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
expect_fail "issuance" -- "$CS" ledger verify --config "$WORK/pki/edited.json"
# and a backup of a tampered ledger is refused, leaving no file behind
expect_fail "issuance" -- "$CS" ledger backup --config "$WORK/pki/edited.json" --out "$d/of-edited.sqlite"
[ ! -e "$d/of-edited.sqlite" ] && ok || fail "a backup that failed verification was left behind"

finish test_ledger_backup
