#!/usr/bin/env bash
# Cursors in what Redis no longer holds: trimmed by the live length cap,
# or expired after retention. The SQLite archive serves them; where the
# archive is gone too, an explicit gap event says so, never silence.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
stream_maxlen = 10
retention_s = 1
CONF
start_redis
start_lighttpd
start_worker
rcli() { redis-cli -s "$T/redis.sock" "$@"; }
events() { echo "/api/v1/runs/$1/events"; }
stream() { timeout 30 curl -sN "$@" > "$T/s"; frames "$T/s"; }  # stream [curl args] URL

# A chatty run: 1,000 events against a live cap of about 10.
run=$(create_run '{"type":"countdown","input":{"n":1000,"interval_ms":0}}')
api GET "/v1/runs/$run/wait?timeout=60" > /dev/null
check_eq "the chatty run succeeded" succeeded "$(jq -r .status "$T/body")"
check "Redis trimmed its stream" test "$(rcli XLEN "opstream:{$run}:events")" -lt 1000
check_eq "the archive kept every event" 1003 "$(ledger_sql "SELECT COUNT(*) FROM events WHERE run_id = '$run'")"

# The trimmed stream expires a second after the run ended; read it before.
stream "$BASE$(events "$run")" > "$T/all"
check_eq "a full replay has all 1,003 events" 1003 "$(wc -l < "$T/all")"
check_eq "progress 1..1000 exactly once, in order" "$(seq 1 1000 | md5sum)" \
    "$(awk -F'\t' '$2=="progress"' "$T/all" | cut -f3 | jq -r .current | md5sum)"
check "ids strictly increase" ids_increase "$T/all"
tenth=$(awk -F'\t' '$2=="progress"' "$T/all" | sed -n 10p | cut -f1)
stream -H "Last-Event-ID: $tenth" "$BASE$(events "$run")" > "$T/rest"
check_eq "a cursor in the trimmed part: exactly the events after it" \
    "$(awk -v id="$tenth" 'found {print} $1==id {found=1}' "$T/all" | md5sum)" "$(md5sum < "$T/rest")"
api GET "/v1/runs/$run/events?after=$tenth&limit=5&types=progress" -H 'Accept: application/json' > /dev/null
check_eq "the JSON form reads the archive too (with a types filter)" "11 12 13 14 15" \
    "$(jq -r '[.data[].data.current] | join(" ")' "$T/body")"

# After retention the Redis stream is gone; the archive serves everything.
wait_until "the stream to expire" 20 sh -c "[ \$(redis-cli -s '$T/redis.sock' EXISTS 'opstream:{$run}:events') = 0 ]"
fifth=$(awk -F'\t' '$2=="progress"' "$T/all" | sed -n 5p | cut -f1)
stream -H "Last-Event-ID: $fifth" "$BASE$(events "$run")" > "$T/expired"
check_eq "a cursor in the archived part of an expired stream: the events after it, then the end" \
    "$(awk -v id="$fifth" 'found {print} $1==id {found=1}' "$T/all" | md5sum)" "$(md5sum < "$T/expired")"
final=$(tail -n 1 "$T/all" | cut -f1)
check_eq "and a reconnect after run_finished gets 204" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Last-Event-ID: $final" "$BASE$(events "$run")")"

# Archive deleted, stream expired: a gap event with the terminal id, then 204.
check_eq "opstream gc deletes the archive" "deleted the archived events of 1 runs" \
    "$("$BIN/opstream" -c "$T/opstream.conf" gc --archives-older-than 0)"
stream -H "Last-Event-ID: $fifth" "$BASE$(events "$run")" > "$T/lost"
check_eq "nothing anywhere: one gap event, carrying the terminal id" "$final gap expired" \
    "$(awk -F'\t' '{print $1, $2}' "$T/lost") $(cut -f3 "$T/lost" | jq -r .reason)"
check_eq "after which EventSource stops (204)" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Last-Event-ID: $final" "$BASE$(events "$run")")"

# Archive deleted, stream trimmed but alive: a gap event, then Redis's part.
sed -i 's/^retention_s = 1$/retention_s = 600/' "$T/opstream.conf"
kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
start_worker
run2=$(create_run '{"type":"countdown","input":{"n":1000,"interval_ms":0}}')
api GET "/v1/runs/$run2/wait?timeout=60" > /dev/null
"$BIN/opstream" -c "$T/opstream.conf" gc --archives-older-than 0 > /dev/null
check_eq "run2's archive is gone" 0 "$(ledger_sql "SELECT COUNT(*) FROM events WHERE run_id = '$run2'")"
first=$(rcli XRANGE "opstream:{$run2}:events" - + COUNT 1 | head -n 1)
stream "$BASE$(events "$run2")" > "$T/trimmed"
check_eq "a trimmed stream without archive starts with a gap event" gap "$(head -n 1 "$T/trimmed" | cut -f2)"
check_eq "naming the first event still available" "$first" "$(head -n 1 "$T/trimmed" | cut -f3 | jq -r .first_available)"
check_eq "then continues from it, to the end" "$first run_finished" \
    "$(sed -n 2p "$T/trimmed" | cut -f1) $(tail -n 1 "$T/trimmed" | cut -f2)"
check "ids strictly increase across the gap" ids_increase "$T/trimmed"
finish
