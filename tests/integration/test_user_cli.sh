# `certstation user add|list|remove` on the users file a demo config names
# (web.users): add, list (never hashes), replace, remove, every refusal, the
# file's mode, the hash checked independently with Python's hashlib.scrypt,
# and the password prompt on a real pseudo-terminal (echo off, asked twice).
source "$(dirname "$0")/lib.sh"

"$CS" init --demo "$WORK/pki" >/dev/null 2>&1
cfg=$WORK/pki/certstation.json
users=$WORK/pki/users.json

# scrypt_ok FILE NAME PASSWORD: Python recomputes the stored scrypt key.
scrypt_ok() {
  python3 - "$@" <<'PY'
import base64, hashlib, json, sys
path, name, pw = sys.argv[1:4]
u = [x for x in json.load(open(path))["users"] if x["name"] == name][0]
_, kind, params, salt, key = u["hash"].split("$")
p = dict(kv.split("=") for kv in params.split(","))
dec = lambda s: base64.b64decode(s + "=" * (-len(s) % 4))
k = hashlib.scrypt(pw.encode(), salt=dec(salt), n=2 ** int(p["ln"]), r=int(p["r"]),
                   p=int(p["p"]), maxmem=256 * 1024 * 1024, dklen=len(dec(key)))
sys.exit(0 if kind == "scrypt" and k == dec(key) else 1)
PY
}

# 1. add from standard input (not a terminal: one line)
echo "ana's first password" | "$CS" user add --config "$cfg" ana --role supervisor 2>"$WORK/add.err" && ok || fail "user add ana: $(cat "$WORK/add.err")"
grep -q "user 'ana' (supervisor) added to $users" "$WORK/add.err" && ok || fail "add message: $(cat "$WORK/add.err")"
[ "$(stat -c %a "$users")" = 600 ] && ok || fail "users file mode is $(stat -c %a "$users"), not 600"
scrypt_ok "$users" ana "ana's first password" && ok || fail "stored hash does not verify with hashlib.scrypt"
scrypt_ok "$users" ana "ana's first passworD" && fail "hash verifies a wrong password" || ok
grep -q '"hash": "\$scrypt\$ln=15,r=8,p=1\$' "$users" && ok || fail "hash format: $(cat "$users")"

# 2. add from --password-file (first line; trailing newline not part of it)
printf 'bob password 42\nignored second line\n' >"$WORK/bob.pw"
"$CS" user add --config "$cfg" --password-file "$WORK/bob.pw" bob --role operator 2>/dev/null && ok || fail "user add bob"
scrypt_ok "$users" bob "bob password 42" && ok || fail "bob's hash does not verify"

# 3. list: names and roles, never hashes
out=$("$CS" user list --config "$cfg")
grep -qE '^ana +supervisor$' <<<"$out" && ok || fail "list lacks ana: $out"
grep -qE '^bob +operator$' <<<"$out" && ok || fail "list lacks bob: $out"
grep -q 'scrypt' <<<"$out" && fail "list shows hashes: $out" || ok
[ "$(wc -l <<<"$out")" -eq 3 ] && ok || fail "list is not header + 2 users: $out"

# 4. replace: same name, new role and password; still two users
echo "ana's second password" | "$CS" user add --config "$cfg" ana --role operator 2>"$WORK/replace.err" && ok || fail "replace ana"
grep -q "replaced in" "$WORK/replace.err" && ok || fail "replace message: $(cat "$WORK/replace.err")"
out=$("$CS" user list --config "$cfg")
grep -qE '^ana +operator$' <<<"$out" && ok || fail "ana's role not replaced: $out"
[ "$(wc -l <<<"$out")" -eq 3 ] && ok || fail "replace added a user: $out"
scrypt_ok "$users" ana "ana's second password" && ok || fail "new password does not verify"
scrypt_ok "$users" ana "ana's first password" && fail "old password still verifies" || ok

# 5. remove
"$CS" user remove --config "$cfg" bob 2>/dev/null && ok || fail "remove bob"
"$CS" user list --config "$cfg" | grep -q '^bob' && fail "bob still listed" || ok
expect_fail "no user 'bob'" -- "$CS" user remove --config "$cfg" bob
[ "$(stat -c %a "$users")" = 600 ] && ok || fail "mode after rewrite is $(stat -c %a "$users")"
# atomic rewrite leaves no temporary files beside the users file
[ -z "$(find "$WORK/pki" -maxdepth 1 -name 'users.json.*')" ] && ok || fail "temporary files left: $(ls "$WORK/pki")"

# 6. refusals
sum_before=$(sha256sum "$users")
# (here-strings and files, not pipes: a pipe would run expect_fail in a subshell)
expect_fail "it must be 10..256 bytes" -- "$CS" user add --config "$cfg" carl --role operator <<<"short"
head -c 300 /dev/zero | tr '\0' x >"$WORK/long.pw"
expect_fail "longer than 256 bytes" -- "$CS" user add --config "$cfg" carl --role operator <"$WORK/long.pw"
expect_fail "no password given" -- "$CS" user add --config "$cfg" carl --role operator </dev/null
expect_fail "not valid" -- "$CS" user add --config "$cfg" 'bad name' --role operator </dev/null
expect_fail "not valid" -- "$CS" user add --config "$cfg" 'x/../../etc' --role operator </dev/null
expect_fail "not valid" -- "$CS" user remove --config "$cfg" ''
expect_fail "cannot open" -- "$CS" user add --config "$cfg" carl --role operator --password-file "$WORK/absent.pw"
expect_fail "cannot open" -- "$CS" user list --config "$WORK/absent.json"
expect_fail "cannot open" -- "$CS" user add --config "$WORK/absent.json" carl --role operator <<<"long enough password"
rc=0; "$CS" user add --config "$cfg" carl --role admin </dev/null 2>"$WORK/role.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "unknown role 'admin'" "$WORK/role.err" && ok || fail "bad role: exit $rc, $(cat "$WORK/role.err")"
rc=0; "$CS" user add --config "$cfg" carl </dev/null 2>"$WORK/role.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "needs --role" "$WORK/role.err" && ok || fail "missing role: exit $rc"
rc=0; "$CS" user list --config "$cfg" extra >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] && ok || fail "list with an argument: exit $rc"
rc=0; "$CS" user frobnicate --config "$cfg" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] && ok || fail "unknown subcommand: exit $rc"
[ "$sum_before" = "$(sha256sum "$users")" ] && ok || fail "a refused command changed the users file"

# 7. a users file others can read is refused, with the fix in the message
chmod 644 "$users"
expect_fail "chmod 600" -- "$CS" user list --config "$cfg"
expect_fail "chmod 600" -- "$CS" user add --config "$cfg" carl --role operator <<<"long enough password"
chmod 600 "$users"
"$CS" user list --config "$cfg" >/dev/null 2>&1 && ok || fail "list after chmod 600"

# 8. a hand-edited file with an error is reported with its position
cp "$users" "$WORK/users.good"
python3 - "$users" <<'PY'
import json, sys
u = json.load(open(sys.argv[1]))
u["users"].append(dict(u["users"][0]))
json.dump(u, open(sys.argv[1], "w"), indent=2)
PY
expect_fail "users.json:9:7: key 'users[1].name'" -- "$CS" user list --config "$cfg"
expect_fail "listed twice" -- "$CS" user list --config "$cfg"
cp "$WORK/users.good" "$users"

# 9. web.users in the config picks the file (relative to the config)
python3 - "$cfg" "$WORK/pki/other.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["web"] = {"users": "people.json"}
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
echo "people password" | "$CS" user add --config "$WORK/pki/other.json" dora --role supervisor 2>/dev/null && ok || fail "add with web.users"
[ -f "$WORK/pki/people.json" ] && [ "$(stat -c %a "$WORK/pki/people.json")" = 600 ] && ok || fail "web.users not honoured"
"$CS" user list --config "$cfg" | grep -q dora && fail "dora landed in the default file" || ok
"$CS" user list --config "$WORK/pki/other.json" | grep -qE '^dora +supervisor$' && ok || fail "dora not listed"

# 10. the terminal: asked twice, echo off; a mismatch changes nothing
tty_add() {
  python3 - "$CS" "$cfg" "$@" <<'PY'
import os, pty, select, sys, time
cs, cfg, name, first, second = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    os.execv(cs, [cs, "user", "add", "--config", cfg, name, "--role", "operator"])
out = b""
def until(marker, limit=20):
    global out
    end = time.time() + limit
    while marker not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return marker in out
ok = until(b"Password for " + name.encode() + b": ")
os.write(fd, first.encode() + b"\n")
ok = ok and until(b"Same password again: ")
os.write(fd, second.encode() + b"\n")
until(b"\x00", 15)  # read to the end
_, status = os.waitpid(pid, 0)
rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128
sys.stdout.write(out.decode(errors="replace"))
if not ok:
    sys.exit(90)
if first.encode() in out or second.encode() in out:
    sys.exit(91)  # echoed
sys.exit(rc)
PY
}
rc=0; tty_add erin "erin tty password" "erin tty password" >"$WORK/tty.out" || rc=$?
[ "$rc" -eq 0 ] && ok || fail "tty add: exit $rc (90: no prompt, 91: echoed): $(cat "$WORK/tty.out")"
scrypt_ok "$users" erin "erin tty password" && ok || fail "tty password not stored"
rc=0; tty_add fred "fred tty password" "fred tty passwort" >"$WORK/tty.out" || rc=$?
[ "$rc" -eq 1 ] && grep -q "differ" "$WORK/tty.out" && ok || fail "tty mismatch: exit $rc: $(cat "$WORK/tty.out")"
"$CS" user list --config "$cfg" | grep -q '^fred' && fail "fred added despite mismatch" || ok

finish
