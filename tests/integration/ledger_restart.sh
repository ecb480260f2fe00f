#!/usr/bin/env bash
# The ledger on PostgreSQL, restarted as a crashed server is (an immediate
# shutdown, recovery at the next start) while clients create runs and read
# them: meanwhile every request is answered, 503 with Retry-After where the
# ledger is needed (never a 500), and afterwards every run a create
# acknowledged is there, ends once, with its every event archived.
. "$(dirname "$0")/lib.sh"

LEDGER=postgresql
start_stack

# load NAME: creates (and reads back) runs until $T/stop, one line per
# answer: "create|read CODE RETRY_AFTER RUN".
load() {
    local code run h
    while [ ! -e "$T/stop" ]; do
        h=$T/$1.head
        code=$(curl -sS -m 10 -o "$T/$1.body" -D "$h" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data '{"type":"countdown","input":{"n":3,"interval_ms":20}}' "$BASE/api/v1/runs") || code=000
        run=$(jq -r '.id // empty' "$T/$1.body" 2>/dev/null || true)
        echo "create $code $(grep -ci '^retry-after: [0-9]' "$h") ${run:--}"
        [ -n "$run" ] || continue
        code=$(curl -sS -m 10 -o /dev/null -D "$h" -w '%{http_code}' "$BASE/api/v1/runs/$run") || code=000
        echo "read $code $(grep -ci '^retry-after: [0-9]' "$h") $run"
    done > "$T/$1.log"
}
load a & loads=($!)
load b & loads+=($!)
PIDS+=("${loads[@]}")
some() { [ "$(cat "$T/a.log" "$T/b.log" 2>/dev/null | grep -c '^create 202')" -ge 20 ]; }
wait_until "runs created before the restart" 60 some

# The crash: an immediate shutdown, the server down for a moment, then
# started again on the same data (it recovers from its WAL).
kill -QUIT "$PG_PID"
wait "$PG_PID" 2>/dev/null || true
unavailable() { cat "$T/a.log" "$T/b.log" | grep -q ' 503 1 '; }
check "while the ledger is down, requests are answered 503 with Retry-After" \
    wait_until "a 503" 30 unavailable
start_postgres
before=$(cat "$T/a.log" "$T/b.log" | grep -c '^create 202')
more() { [ "$(cat "$T/a.log" "$T/b.log" | grep -c '^create 202')" -ge $((before + 20)) ]; }
check "after the restart, creates succeed again" wait_until "creates after the restart" 60 more
touch "$T/stop"
wait "${loads[@]}"
cat "$T/a.log" "$T/b.log" > "$T/answers"
echo "# answers: $(cut -d' ' -f1,2 "$T/answers" | sort | uniq -c | tr '\n' ';')"
check_eq "no answer but 202, 200 and 503" "" \
    "$(awk '!($1 == "create" && ($2 == 202 || $2 == 503)) && !($1 == "read" && ($2 == 200 || $2 == 503))' "$T/answers")"
check_eq "every 503 carries Retry-After" "" "$(awk '$2 == 503 && $3 != 1' "$T/answers")"

# Every acknowledged run is in the ledger and ends, once, with its events.
awk '$1 == "create" && $2 == 202 {print $4}' "$T/answers" | sort -u > "$T/acked"
n=$(wc -l < "$T/acked")
in_list() { tr '\n' ',' < "$T/acked" | sed "s/,$//; s/[^,]*/'&'/g"; }
ended() { [ "$(ledger_sql "SELECT COUNT(*) FROM runs WHERE id IN ($(in_list)) AND status = 'succeeded' AND lease_until IS NULL")" = "$n" ]; }
check "all $n acknowledged runs succeed and are settled" wait_until "the runs end" 120 ended
check_eq "each has one run_finished in the archive" "$n" \
    "$(ledger_sql "SELECT COUNT(*) FROM (SELECT run_id FROM events WHERE type = 'run_finished' AND run_id IN ($(in_list)) GROUP BY run_id HAVING COUNT(*) = 1) AS once")"
check_eq "and every progress event (3 each)" "$((3 * n))" \
    "$(ledger_sql "SELECT COUNT(*) FROM events WHERE type = 'progress' AND run_id IN ($(in_list))")"
check_eq "and the ledger's last event is the run_finished" "$n" \
    "$(ledger_sql "SELECT COUNT(*) FROM runs r JOIN events e ON e.run_id = r.id AND e.type = 'run_finished'
        AND r.last_event_id = e.ms || '-' || e.seq WHERE r.id IN ($(in_list))")"
finish
