#!/usr/bin/env bash
# The interrupt race: a create's ledger write of its run_queued lands after
# a second create on the same thread (multitask_strategy interrupt) has
# cancelled that run. The fault proxy holds the first create's append reply
# until the cancel is done. The ledger keeps the run's last event (its
# run_finished), a reconnect from it gets 204 only then, and the history
# after expiry ends with run_finished, without a trailing gap.
. "$abs_top_srcdir/tests/integration/lib.sh"
start_redis
write_config
start_fault_proxy
start_lighttpd
# No worker: both runs stay queued, so the first is cancelled while queued.

fault_arm "{\"command\": \"EVAL\", \"args\": [\"run_queued\"], \"do\": \"hold\", \"release\": \"$T/release\"}"
curl -sS -o "$T/first.json" -H 'Content-Type: application/json' \
    --data '{"type":"countdown","input":{"n":1},"thread_id":"t","multitask_strategy":"interrupt"}' \
    "$BASE/api/v1/runs" &
first_pid=$!
wait_until "the first create's run_queued to be held" 20 fault_fired
run=$(ledger_sql "SELECT id FROM runs")
second=$(create_run '{"type":"countdown","input":{"n":1},"thread_id":"t","multitask_strategy":"interrupt"}')
check_eq "the second create was accepted" 202 "$(status)"
ended() { run_is "$run" cancelled; }
wait_until "the first run to be cancelled" 20 ended
touch "$T/release"
wait "$first_pid"
check_eq "the first create answered with its run" "$run" "$(jq -r .id "$T/first.json")"

last=$(stream_ids "$run" | tail -n 1)
stream_events "$run" > "$T/names"
check_eq "the stream: run_queued, cancel_requested, run_finished" "run_queued cancel_requested run_finished" \
    "$(xargs < "$T/names")"
check_eq "the ledger's last event is the run's run_finished" "$last" "$(api GET "/v1/runs/$run" | jq -r .last_event_id)"
first_id=$(stream_ids "$run" | head -n 1)
curl -s -o /dev/null -w '%{http_code}' -H "Last-Event-ID: $first_id" "$BASE/api/v1/runs/$run/events" > "$T/code"
check_eq "a reconnect from run_queued is not told the run is over" 200 "$(cat "$T/code")"
rcli DEL "opstream:{$run}:events" > /dev/null
api GET "/v1/runs/$run/events" -H 'Accept: application/json' > "$T/page.json"
check_eq "after expiry, the history ends with run_finished, no gap" "run_queued cancel_requested run_finished" \
    "$(jq -r '[.data[].event] | join(" ")' "$T/page.json")"
curl -s -o "$T/rest" -w '%{http_code}' -H "Last-Event-ID: $first_id" "$BASE/api/v1/runs/$run/events" > "$T/code"
check_eq "after expiry, a reconnect from run_queued gets the rest" "200 cancel_requested run_finished" \
    "$(cat "$T/code") $(frames "$T/rest" | cut -f2 | xargs)"
finish
