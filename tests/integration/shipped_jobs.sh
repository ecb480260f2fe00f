#!/usr/bin/env bash
# The shipped job types: steps (and the run's steps[]), ask, fail, sleep
# (cancelled, and timed out), each ending with exactly one run_finished.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
jq '.name = "sleep_short" | .timeout_s = 1' "$abs_top_srcdir/src/jobs/sleep.json" > "$JOBTYPES_DIR/sleep_short.json"
KEEPALIVE_MS=2000 start_stack
json=(-H 'Content-Type: application/json')
finished_once() { # finished_once RUN: its stream ends with its only run_finished
    timeout 20 curl -sN "$BASE/api/v1/runs/$1/events" | sed -n 's/^event: //p' > "$T/ev"
    [ "$(grep -c '^run_finished$' "$T/ev")" = 1 ] && [ "$(tail -n 1 "$T/ev")" = run_finished ]
}

run=$(create_run '{"type":"steps","input":{"steps":["fetch","transform","load"],"delay_ms":400}}')
running_step() { api GET "/v1/runs/$run" | jq -e '.steps | map(select(.status == "running")) | length == 1' > /dev/null; }
check "mid-run, the snapshot shows the running step" wait_until "a running step" 20 running_step
api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
check_eq "steps: succeeded" succeeded "$(jq -r .status "$T/body")"
check_eq "steps[] names every step, in order, succeeded" "fetch:succeeded transform:succeeded load:succeeded" \
    "$(jq -r '[.steps[] | "\(.name):\(.status)"] | join(" ")' "$T/body")"
check "each step has started_at <= finished_at" \
    sh -c "jq -e '[.steps[] | .started_at != null and .finished_at != null and .started_at <= .finished_at] | all' '$T/body' > /dev/null"
check_eq "progress 3/3" "3/3" "$(jq -r '"\(.progress.current)/\(.progress.total)"' "$T/body")"
check "steps: one run_finished" finished_once "$run"

run=$(create_run '{"type":"ask","input":{"prompt":"Proceed?"}}')
wait_until "ask waits" 20 run_is "$run" input_required
check_eq "ask: its prompt in pending_input, and next_action provide_input" "Proceed? provide_input" \
    "$(api GET "/v1/runs/$run" | jq -r '"\(.pending_input.prompt) \(.next_action)"')"
api POST "/v1/runs/$run/resume" "${json[@]}" --data '{"input":{"answer":"yes"}}' > /dev/null
api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
check_eq "ask: the answer is the result, and next_action none" "succeeded yes none" \
    "$(jq -r '"\(.status) \(.result.answer) \(.next_action)"' "$T/body")"
check "ask: one run_finished" finished_once "$run"

run=$(create_run '{"type":"fail","input":{"exit_status":4,"message":"boom"}}')
api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
check_eq "fail: failed with its exit status" "failed 4" "$(jq -r '"\(.status) \(.error.exit_status)"' "$T/body")"
check_eq "and stderr's tail" "boom" "$(jq -r '.error.stderr_tail | rtrimstr("\n")' "$T/body")"
check "fail: one run_finished" finished_once "$run"

run=$(create_run '{"type":"sleep","input":{"seconds":30}}')
wait_until "sleep runs" 20 run_is "$run" running
api POST "/v1/runs/$run/cancel?wait=1" -d '' > /dev/null
check_eq "sleep: cancelled" "200 cancelled" "$(status) $(jq -r .status "$T/body")"
check "sleep (cancelled): one run_finished" finished_once "$run"

# opstream publish: a shell job's way to add events to its run.
run=$(create_run '{"type":"sleep","input":{"seconds":30}}')
wait_until "sleep runs" 20 run_is "$run" running
pub() { "$BIN/opstream" -c "$T/opstream.conf" publish "$@"; }
eid=$(pub "$run" progress '{"current":7,"total":9}')
check "publish prints the new event's id" sh -c "echo '$eid' | grep -Eqx '[0-9]+-[0-9]+'"
check_eq "a published progress updates the snapshot" "7/9" \
    "$(api GET "/v1/runs/$run" | jq -r '"\(.progress.current)/\(.progress.total)"')"
pub "$run" deploy.note '{"text":"hello"}' > /dev/null
api GET "/v1/runs/$run/events?types=deploy.note" -H 'Accept: application/json' > /dev/null
check_eq "a published event is in the stream" hello "$(jq -r '.data[0].data.text' "$T/body")"
for bad in "run_finished {}" "Bad.Name {}" "note [1]" "note {oops"; do
    set -- $bad
    pub "$run" "$1" "$2" > /dev/null 2>&1 && code=0 || code=$?
    check_eq "publish refuses $1 $2" 2 "$code"
done
api POST "/v1/runs/$run/cancel?wait=1" -d '' > /dev/null
pub "$run" note '{}' > /dev/null 2>"$T/err" && code=0 || code=$?
check_eq "publish to an ended run fails" "1 yes" "$(echo "$code") $(grep -q 'has ended' "$T/err" && echo yes)"

run=$(create_run '{"type":"sleep_short","input":{"seconds":30}}')
api GET "/v1/runs/$run/wait?timeout=30" > /dev/null
check_eq "a job past its type's timeout_s: timed_out" "timed_out timeout" "$(jq -r '"\(.status) \(.error.code)"' "$T/body")"
check "timed_out: one run_finished" finished_once "$run"
finish
