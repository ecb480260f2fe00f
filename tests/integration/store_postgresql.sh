#!/usr/bin/env bash
# The store's unit tests again, with the ledger on PostgreSQL: every rule
# of the store holds on both engines.
. "$(dirname "$0")/lib.sh"

LEDGER=postgresql
start_postgres
for t in check_store check_runs; do
    check "$t passes with the ledger on PostgreSQL" \
        env OPSTREAM_UNIT_LEDGER=postgresql PGHOST="$PG_DIR" PGUSER=opstream CK_VERBOSITY=normal \
        "$abs_top_builddir/tests/unit/$t"
done
# opstream init makes the same schema on both engines: the same version,
# the same tables and columns.
write_config
"$BIN/opstream" -c "$T/opstream.conf" init > /dev/null
sed "s|^database = .*|database = $T/same.db|" "$T/opstream.conf" > "$T/sqlite.conf"
"$BIN/opstream" -c "$T/sqlite.conf" init > /dev/null
check_eq "the same schema version" "$(sqlite3 "$T/same.db" 'PRAGMA user_version')" \
    "$(ledger_sql 'SELECT version FROM ledger_schema')"
check_eq "the same tables and columns" \
    "$(sqlite3 "$T/same.db" "SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
        WHERE m.type = 'table' ORDER BY 1")" \
    "$(ledger_sql "SELECT table_name || '.' || column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name <> 'ledger_schema' ORDER BY 1")"
# Eight processes meet an empty ledger at once (a stack starting): one
# migrates, the others wait for it and find the schema made.
psql_ledger -d postgres -c "CREATE DATABASE race" > /dev/null
sed "s|^database = .*|database = postgresql://opstream@/race?host=$PG_DIR|" "$T/opstream.conf" > "$T/race.conf"
inits=()
for i in $(seq 8); do "$BIN/opstream" -c "$T/race.conf" init > "$T/race.$i" 2>&1 & inits+=($!); done
wait "${inits[@]}"
check_eq "eight inits at once all succeed" 8 "$(cat "$T"/race.* | grep -c '^database ready')"
check_eq "and the schema was made once" "$(ledger_sql 'SELECT version FROM ledger_schema')" \
    "$(psql_ledger -d race -c 'SELECT version FROM ledger_schema')"
finish
