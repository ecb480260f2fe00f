#!/usr/bin/env bash
# A quiet job hears its run's cancel and resume after Redis restarts. A
# run waits for input while Redis is stopped (SIGTERM, then SIGKILL) and
# started again; the resume (then, on a second run, the cancel) sent once
# Redis answers takes effect within worker_poll_ms and one of the
# runner's 100 ms rounds of its 202 (it cannot before it is sent; the
# 202 itself may wait for the responder's own reconnect): the runner's
# control read finds its broken connection and connects anew instead of
# hearing nothing.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
use_asker
start_stack
json=(-H 'Content-Type: application/json')
poll_ms=200  # worker_poll_ms in lib.sh's config
limit=$((poll_ms + 100))
waiting() { run_is "$1" input_required; }
event_ms() { # event_ms RUN TYPE: the time of the run's first TYPE event (its id)
    api GET "/v1/runs/$1/events" -H 'Accept: application/json' |
        jq -r --arg t "$2" '[.data[] | select(.event == $t)][0].id | split("-")[0]'
}

# --- resume, across a Redis SIGTERM
run=$(create_run '{"type":"asker"}')
wait_until "the run waits for input" 20 waiting "$run"
kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
start_redis
up=$(date +%s%3N)
api POST "/v1/runs/$run/resume" "${json[@]}" -d '{"input":{"answer":"after the restart"}}' > /dev/null
sent=$(date +%s%3N)
check_eq "the resume was taken (202)" 202 "$(status)"
api GET "/v1/runs/$run/wait?timeout=20" > "$T/run.json"
check_eq "the job got it and the run succeeded with it" 'succeeded "after the restart"' \
    "$(jq -c -r '"\(.status) \(.result.reply.answer | tojson)"' "$T/run.json")"
at=$(event_ms "$run" input_received)
echo "# resume: input_received $((at - up)) ms after Redis answered again, $((at - sent)) ms after the 202"
check "the job had it within worker_poll_ms and a round ($limit ms) of the 202" test "$((at - sent))" -le "$limit"

# --- cancel, across a Redis SIGKILL
run=$(create_run '{"type":"asker"}')
wait_until "the run waits for input" 20 waiting "$run"
kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
start_redis
up=$(date +%s%3N)
api POST "/v1/runs/$run/cancel" -d "" > /dev/null
sent=$(date +%s%3N)
check_eq "the cancel was taken (202)" 202 "$(status)"
api GET "/v1/runs/$run/wait?timeout=20" > "$T/run.json"
check_eq "the run was cancelled" cancelled "$(jq -r .status "$T/run.json")"
at=$(event_ms "$run" run_finished)
echo "# cancel: run_finished $((at - up)) ms after Redis answered again, $((at - sent)) ms after the 202"
check "the run ended within worker_poll_ms and a round ($limit ms) of the 202" test "$((at - sent))" -le "$limit"
finish
