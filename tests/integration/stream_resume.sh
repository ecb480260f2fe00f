#!/usr/bin/env bash
# The first end-to-end path: a countdown run streamed as SSE, interrupted,
# resumed from Last-Event-ID, closed after run_finished, 204 afterwards.
. "$abs_top_srcdir/tests/integration/lib.sh"
KEEPALIVE_MS=400 start_stack

run=$(create_run '{"type":"countdown","input":{"n":20,"interval_ms":100}}')
check_eq "create answers 202" 202 "$(status)"
events=/api/v1/runs/$run/events

# First connection: read until 5 progress events have arrived, then drop it.
curl -sN -D "$T/h1" "$BASE$events" > "$T/s1" &
CURL=$!
wait_until "5 progress events" 20 sh -c "[ \$(grep -c '^event: progress' '$T/s1') -ge 5 ]"
kill "$CURL"; wait "$CURL" 2>/dev/null || true

check "content type is text/event-stream" grep -qi '^content-type: text/event-stream; charset=utf-8' "$T/h1"
check "cache-control no-cache" grep -qi '^cache-control: no-cache' "$T/h1"
check "X-Accel-Buffering: no" grep -qi '^x-accel-buffering: no' "$T/h1"
check_eq "the first bytes are a retry field" "retry: 2000" "$(head -n 1 "$T/s1")"

frames "$T/s1" > "$T/f1"
last=$(tail -n 1 "$T/f1" | cut -f1)
seen=$(wc -l < "$T/f1")
check "first connection saw run_queued first" sh -c "head -n 1 '$T/f1' | cut -f2 | grep -qx run_queued"

# Second connection resumes with Last-Event-ID and runs to the end.
code=$(timeout 60 curl -sN -o "$T/s2" -w '%{http_code}' -H "Last-Event-ID: $last" "$BASE$events")
check_eq "resumed stream answers 200" 200 "$code"
frames "$T/s2" > "$T/f2"
check "resumed stream starts strictly after the last id seen" \
    sh -c "[ \"\$(head -n 1 '$T/f2' | cut -f1)\" != '$last' ]"
check_eq "resumed stream ends with run_finished" run_finished "$(tail -n 1 "$T/f2" | cut -f2)"
check_eq "run_finished says succeeded" succeeded "$(tail -n 1 "$T/f2" | cut -f3 | jq -r .status)"
check_eq "run_finished carries the result" 20 "$(tail -n 1 "$T/f2" | cut -f3 | jq -r .result.counted)"

# Together: every event exactly once, in order.
cat "$T/f1" "$T/f2" > "$T/all"
check_eq "progress 1..20 exactly once, in order" "$(seq 1 20 | tr '\n' ' ')" \
    "$(awk -F'\t' '$2=="progress"' "$T/all" | cut -f3 | jq -r .current | tr '\n' ' ')"
check "event ids strictly increase across the reconnect" ids_increase "$T/all"
check_eq "events: queued, started, 20 progress, finished" "run_queued run_started $(printf 'progress %.0s' $(seq 20))run_finished" \
    "$(cut -f2 "$T/all" | tr '\n' ' ' | sed 's/ $//')"

# The ledger agrees with the stream.
api GET "/v1/runs/$run" > "$T/run.json"
check_eq "snapshot status" succeeded "$(jq -r .status "$T/run.json")"
check_eq "snapshot progress" "20/20" "$(jq -r '"\(.progress.current)/\(.progress.total)"' "$T/run.json")"
check_eq "snapshot last_event_id is the terminal event" "$(tail -n 1 "$T/all" | cut -f1)" \
    "$(jq -r .last_event_id "$T/run.json")"

# Reconnecting at the terminal event: 204, which stops EventSource.
final=$(tail -n 1 "$T/all" | cut -f1)
check_eq "reconnect after run_finished gets 204" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Last-Event-ID: $final" "$BASE$events")"
check_eq "lastEventId query works like the header" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$events?lastEventId=$final")"
check_eq "the header wins over the query" 200 \
    "$(timeout 20 curl -s -o /dev/null -w '%{http_code}' -H "Last-Event-ID: $last" "$BASE$events?lastEventId=$final")"
check_eq "a full replay of a finished run has every event" "$(wc -l < "$T/all")" \
    "$(timeout 20 curl -sN "$BASE$events" > "$T/s3"; frames "$T/s3" | wc -l)"

# A malformed cursor is a 400 problem, not a stream.
code=$(curl -s -o "$T/p" -w '%{http_code}' -H 'Last-Event-ID: 12x-3' "$BASE$events")
check_eq "malformed Last-Event-ID answers 400" 400 "$code"
check_eq "with code invalid_cursor" invalid_cursor "$(jq -r .code "$T/p")"
code=$(curl -s -o "$T/p" -w '%{http_code}' "$BASE/api/v1/runs/AAAAAAAAAAAAAAAAAAAAAA/events")
check_eq "unknown run's stream answers 404" 404 "$code"

# Keepalive comments flow while the run is quiet.
slow=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":1500}}')
timeout 20 curl -sN "$BASE/api/v1/runs/$slow/events" > "$T/s4"
check "a quiet stream carries keepalive comments" grep -qx ': keepalive' "$T/s4"
check_eq "and still ends with run_finished" run_finished "$(frames "$T/s4" | tail -n 1 | cut -f2)"
finish
