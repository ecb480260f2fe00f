#!/usr/bin/env bash
# Steps published from a shell with opstream publish keep steps[] in the
# snapshot up to date, exactly as the same events from a job's stdout do.
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack

run=$(create_run '{"type":"sleep","input":{"seconds":30}}')
wait_until "sleep runs" 20 run_is "$run" running
pub() { "$BIN/opstream" -c "$T/opstream.conf" publish "$@" > /dev/null; }
steps() { api GET "/v1/runs/$run" | jq -c "[.steps[] | $1]"; }

pub "$run" step_started '{"name":"fetch"}'
check_eq "a published step_started adds a running step" '[["fetch","running"]]' \
    "$(steps '[.name, .status]')"
check "the step has its start time" sh -c "[ \"\$(echo '$(steps .started_at)' | jq -r '.[0]')\" != null ]"
pub "$run" step_started '{"name":"build"}'
pub "$run" step_finished '{"name":"fetch","message":"3 files"}'
check_eq "a published step_finished closes that step, the other runs on" \
    '[["fetch","succeeded","3 files"],["build","running",null]]' "$(steps '[.name, .status, .message]')"
check "the finished step has its end time" \
    sh -c "[ \"\$(echo '$(steps .finished_at)' | jq -r '.[0]')\" != null ]"
pub "$run" step_finished '{"name":"build","status":"failed"}'
pub "$run" step_finished '{"name":"deploy"}'
check_eq "a step's own status is kept; a step never started is recorded finished" \
    '[["fetch","succeeded"],["build","failed"],["deploy","succeeded"]]' "$(steps '[.name, .status]')"
pub "$run" step_started '{"message":"no name"}'
check_eq "a step event without a name streams but leaves steps[] be" 3 "$(steps .name | jq length)"
api GET "/v1/runs/$run/events?types=step_started,step_finished" -H 'Accept: application/json' > /dev/null
check_eq "every published step event is in the stream" 6 "$(jq '.data | length' "$T/body")"
pub "$run" input_required '{"schema":{"type":"object"}}' 2>/dev/null && code=0 || code=$?
check_eq "publish refuses input_required: only the job may ask for input" "2 running" \
    "$code $(run_status "$run")"
api POST "/v1/runs/$run/cancel?wait=1" -d '' > /dev/null
check_eq "the steps outlive the run's end" '["fetch","build","deploy"]' "$(steps .name)"
finish
