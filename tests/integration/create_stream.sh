#!/usr/bin/env bash
# Create-and-stream: POST /v1/runs with Accept: text/event-stream creates
# the run and streams it in the same response (Content-Location names it),
# the stream resumes on the run's events route, and on_disconnect: cancel
# cancels a run whose client went away before its end (the scenario of a
# chat-style agent run whose tab is closed).
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
# An agent-like job: progress every 50 ms until it is stopped; then a
# partial result with what it was told on stdin before SIGTERM.
add_type agent 'read -r input
i=0
trap '"'"'read -r told; echo "{\"event\":\"result\",\"data\":{\"partial\":$i,\"told\":$told}}"; exit 143'"'"' TERM
while :; do i=$((i + 1)); echo "{\"event\":\"progress\",\"data\":{\"current\":$i}}"; sleep 0.05; done'
KEEPALIVE_MS=1000 start_stack
stream_create() { # stream_create JSON OUT [curl args]: the whole response, headers too, in OUT
    local body=$1 out=$2
    shift 2
    curl -sS -N -i -X POST -H 'Accept: text/event-stream' -H 'Content-Type: application/json' \
        --data "$body" "$@" "$BASE/api/v1/runs" > "$out"
}
header() { grep -i "^$1:" "$2" | head -n 1 | cut -d' ' -f2- | tr -d '\r'; }
body_of() { sed '1,/^\r$/d' "$1"; }

stream_create '{"type":"countdown","input":{"n":5,"interval_ms":20}}' "$T/one" --max-time 30
run=$(header Content-Location "$T/one" | sed 's|.*/runs/||')
check_eq "200 text/event-stream" "200 text/event-stream; charset=utf-8" \
    "$(head -n 1 "$T/one" | cut -d' ' -f2) $(header Content-Type "$T/one")"
check "Content-Location names the new run" sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$run' | jq -r .id)\" = '$run' ]"
check "the stream opens with retry" sh -c "sed '1,/^\r\$/d' '$T/one' | head -n 1 | grep -Eqx 'retry: [0-9]+'"
body_of "$T/one" > "$T/one.sse"
frames "$T/one.sse" > "$T/one.frames"
check_eq "the whole run in the answer, from run_queued to run_finished" \
    "run_queued run_started progress progress progress progress progress run_finished" \
    "$(cut -f2 "$T/one.frames" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the same events as its events route" "$(cut -f1 "$T/one.frames")" \
    "$(api GET "/v1/runs/$run/events" -H 'Accept: application/json' | jq -r '.data[].id')"

# The client drops mid-run (on_disconnect defaults to continue): the run
# goes on, and its events route resumes from the last id received.
stream_create '{"type":"countdown","input":{"n":60,"interval_ms":50}}' "$T/two" --max-time 1.5 || true
run=$(header Content-Location "$T/two" | sed 's|.*/runs/||')
body_of "$T/two" > "$T/two.sse"
frames "$T/two.sse" > "$T/two.frames"
last=$(tail -n 1 "$T/two.frames" | cut -f1)
check "the first connection read part of the run" test "$(grep -c progress "$T/two.frames")" -ge 1
follow "$BASE/api/v1/runs/$run/events" "$T/two.rest" "$last" > /dev/null
cat "$T/two.frames" "$T/two.rest" > "$T/two.all"
check_eq "resumed on the events route: progress 1..60 exactly once, in order" "$(seq 60 | tr '\n' ' ')" \
    "$(grep -P '\tprogress\t' "$T/two.all" | cut -f3 | jq -r .current | tr '\n' ' ')"
check "ids strictly increase across the two" ids_increase "$T/two.all"
check_eq "the run went on to succeed" succeeded "$(run_status "$run")"

# on_disconnect: cancel, and the tab is closed (the client killed).
curl -sS -N -i -X POST -H 'Accept: text/event-stream' -H 'Content-Type: application/json' \
    --data '{"type":"agent","on_disconnect":"cancel"}' "$BASE/api/v1/runs" > "$T/three" &
client=$!
wait_until "the agent streams" 20 sh -c "grep -c '^event: progress' '$T/three' | grep -qv '^[0-2]$'"
kill -9 "$client"
wait "$client" 2>/dev/null || true
run=$(header Content-Location "$T/three" | sed 's|.*/runs/||')
gone_at=$SECONDS
wait_until "the run is cancelled" 20 run_is "$run" cancelled
echo "# cancelled within $((SECONDS - gone_at)) s of the client leaving (keepalive 1 s)"
api GET "/v1/runs/$run" > /dev/null
check_eq "the run's error says why: client_disconnected" "cancelled client_disconnected" \
    "$(jq -r '"\(.error.code) \(.error.reason)"' "$T/body")"
check_eq "the job was told the reason on stdin, and its partial result is kept" \
    '{"cancel":{"reason":"client_disconnected"}}' "$(jq -c .result.told "$T/body")"
check "the partial result counts the work done" test "$(jq .result.partial "$T/body")" -ge 3
check_eq "its stream holds cancel_requested, then one run_finished" "cancel_requested run_finished" \
    "$(api GET "/v1/runs/$run/events?types=cancel_requested,run_finished" -H 'Accept: application/json' | jq -r '[.data[].event] | join(" ")')"

# on_disconnect: cancel with a client that stays: nothing is cancelled.
stream_create '{"type":"countdown","input":{"n":3,"interval_ms":20},"on_disconnect":"cancel"}' "$T/four" --max-time 30
run=$(header Content-Location "$T/four" | sed 's|.*/runs/||')
check_eq "a client that reads to the end: the run succeeds" succeeded "$(run_status "$run")"

# An idempotent create-and-stream streams the run it created before.
stream_create '{"type":"countdown","input":{"n":2,"interval_ms":0}}' "$T/five" -H 'Idempotency-Key: cs-1' --max-time 30
stream_create '{"type":"countdown","input":{"n":2,"interval_ms":0}}' "$T/six" -H 'Idempotency-Key: cs-1' --max-time 30
check_eq "a replay streams the same run" "$(header Content-Location "$T/five")" "$(header Content-Location "$T/six")"
check_eq "and says it is a replay" true "$(header Idempotent-Replayed "$T/six")"

# Refusals come before any stream, as problem+json.
refused() {
    curl -sS -o "$T/body" -w '%{http_code} %{content_type}' -X POST -H 'Accept: text/event-stream' \
        -H 'Content-Type: application/json' --data "$1" "$BASE/api/v1/runs"
}
check_eq "an unknown type: 422 problem+json, no stream" "422 application/problem+json unknown_type" \
    "$(refused '{"type":"nope"}') $(jq -r .code "$T/body")"
check_eq "on_disconnect neither continue nor cancel: 422" "422 application/problem+json invalid_field" \
    "$(refused '{"type":"countdown","on_disconnect":"later"}') $(jq -r .code "$T/body")"
check_eq "producer_token with a stream: 422" "422 application/problem+json invalid_field" \
    "$(refused '{"type":"countdown","producer_token":true}') $(jq -r .code "$T/body")"
api POST /v1/runs -H 'Content-Type: application/json' --data '{"type":"countdown","on_disconnect":"cancel"}' > /dev/null
check_eq "on_disconnect without Accept: text/event-stream: 422" "422 invalid_field" "$(status) $(jq -r .code "$T/body")"
finish
