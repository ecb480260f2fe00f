#!/usr/bin/env bash
# The three programs' command lines and config errors.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config

for p in opstream opstream.fcgi opstream-worker; do
    check "$p --help" sh -c "'$BIN/$p' --help | grep -q '^usage: $p'"
    check "$p --version" sh -c "'$BIN/$p' --version | grep -Eqx '$p [0-9]+\.[0-9]+\.[0-9]+'"
    check "$p rejects an unknown flag with status 2" sh -c "'$BIN/$p' --bogus 2>/dev/null; [ \$? -eq 2 ]"
done

printf 'redis = unix:/x\nkeepalive_ms = 5\n' > "$T/bad.conf"
out=$("$BIN/opstream" -c "$T/bad.conf" init 2>&1 || true)
check_eq "a config error names file, line and key" "opstream: $T/bad.conf:2: keepalive_ms: out of range" "$out"
printf 'colour = red\n' > "$T/bad.conf"
out=$("$BIN/opstream-worker" -c "$T/bad.conf" 2>&1 || true)
check_eq "an unknown key is an error" "opstream-worker: $T/bad.conf:1: colour: unknown key" "$out"
out=$("$BIN/opstream.fcgi" -c "$T/missing.conf" 2>&1 || true)
check "a missing config file is named" sh -c "echo '$out' | grep -q 'missing.conf: cannot open'"
out=$("$BIN/opstream.fcgi" -c "$T/opstream.conf" 2>&1 </dev/null || true)
check "the responder refuses to run outside FastCGI without -s" sh -c "echo '$out' | grep -q 'use -s'"

mkdir -p "$T/badtypes"
echo '{"name":"bad","command":["x"],"input_schema":{"type":"object","properties":{"n":{"type":"int"}}}}' \
    > "$T/badtypes/bad.json"
printf 'jobtypes_dir = %s\n' "$T/badtypes" | cat "$T/opstream.conf" - > "$T/badtypes.conf"
out=$("$BIN/opstream-worker" -c "$T/badtypes.conf" 2>&1 || true)
check "a bad input schema stops the worker, naming file and field" \
    sh -c "echo '$out' | grep -q 'badtypes/bad.json: input_schema: /properties/n/type: unknown type int'"
echo '{"name":"other","command":["x"]}' > "$T/badtypes/bad.json"
out=$("$BIN/opstream-worker" -c "$T/badtypes.conf" 2>&1 || true)
check "a name that is not the file's is refused" sh -c "echo '$out' | grep -q 'bad.json: name: must equal the file name'"

# A PostgreSQL connection string may hold a password: init does not print it.
ready="database ready: $T/opstream.db"
[ "$LEDGER" != postgresql ] || ready="database ready: the postgresql ledger"
check_eq "init creates the database" "$ready" "$("$BIN/opstream" -c "$T/opstream.conf" init)"
check_eq "init again is harmless" "$ready" "$("$BIN/opstream" -c "$T/opstream.conf" init)"
schema_version() {
    if [ "$LEDGER" = postgresql ]; then ledger_sql 'SELECT version FROM ledger_schema'
    else ledger_sql 'PRAGMA user_version'; fi
}
check "the schema is migrated" test "$(schema_version)" -ge 1
tok=$("$BIN/opstream" -c "$T/opstream.conf" token create carol)
check "token create prints a token" sh -c "echo '$tok' | grep -q '^ops_'"
check "runs lists with a header" sh -c "'$BIN/opstream' -c '$T/opstream.conf' runs | head -n 1 | grep -q '^ID'"
OPSTREAM_CONF=$T/opstream.conf check "OPSTREAM_CONF names the config" sh -c "'$BIN/opstream' init | grep -q ready"

finish
