#!/usr/bin/env bash
# opstream migrate-ledger moves a SQLite ledger into PostgreSQL: every run,
# event, token and key, row for row, at once or not at all.
. "$(dirname "$0")/lib.sh"

LEDGER=$T/opstream.db
start_stack
run=$(create_run '{"type":"countdown","input":{"n":3,"interval_ms":10}}')
wait_until "the run ends" 30 run_is "$run" succeeded
"$BIN/opstream" -c "$T/opstream.conf" token create alice laptop > /dev/null
"$BIN/opstream" -c "$T/opstream.conf" webhook-secret > /dev/null
# The SQLite ledger, table by table.
dump() {
    ledger_sql "SELECT id, owner, status, seq, created_at, finished_at, last_event_id, input, result FROM runs ORDER BY seq"
    ledger_sql "SELECT run_id, ms, seq, type, data FROM events ORDER BY run_id, ms, seq"
    ledger_sql "SELECT hash, owner, name, created_at FROM tokens ORDER BY hash"
    ledger_sql "SELECT key, value FROM settings ORDER BY key"
}
dump > "$T/sqlite.dump"
sqlite=$T/opstream.db

LEDGER=postgresql
write_config
check_eq "migrate-ledger copies the ledger" "ledger copied from $sqlite" \
    "$("$BIN/opstream" -c "$T/opstream.conf" migrate-ledger "$sqlite" 2>&1)"
dump > "$T/postgresql.dump"
check "every run, event, token and key is there, the same" diff "$T/sqlite.dump" "$T/postgresql.dump"
check "the run's events are all there" test "$(grep -c "^$run|" "$T/postgresql.dump")" -ge 5
check "the ledger reads them: opstream runs lists the run" \
    sh -c "'$BIN/opstream' -c '$T/opstream.conf' runs | grep -q '$run'"
out=$("$BIN/opstream" -c "$T/opstream.conf" migrate-ledger "$sqlite" 2>&1 || true)
check_eq "a second copy is refused" \
    "opstream: nothing copied: the ledger copied into already holds runs or tokens" "$out"
dump > "$T/again.dump"
check "and changes nothing" diff "$T/sqlite.dump" "$T/again.dump"
out=$("$BIN/opstream" -c "$T/opstream.conf" migrate-ledger "$T/missing.db" 2>&1 || true)
check_eq "a missing file is named" "opstream: $T/missing.db: No such file or directory" "$out"
finish
