#!/usr/bin/env bash
# A job's last result line is kept whatever the ending: cancelled (a result
# written after SIGTERM), failed, timed out; in the snapshot and in
# run_finished, beside the error.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
# Counts until SIGTERM, then reports how far it got as its result.
add_type agent 'read -r input
i=0
trap '"'"'echo "{\"event\":\"result\",\"data\":{\"partial\":true,\"steps\":$i}}"; exit 143'"'"' TERM
while :; do i=$((i + 1)); echo "{\"event\":\"progress\",\"data\":{\"current\":$i}}"; sleep 0.05; done'
add_type halfway 'echo "{\"event\":\"result\",\"data\":{\"got\":1}}"; echo "gave up" >&2; exit 3'
jq -n '{name: "slowpoke", description: "a test type", timeout_s: 1,
    command: ["/bin/sh", "-c", "echo \"{\\\"event\\\":\\\"result\\\",\\\"data\\\":{\\\"so_far\\\":1}}\"; exec sleep 30"]}' \
    > "$JOBTYPES_DIR/slowpoke.json"
start_stack

ended() { # ended RUN: "status result-json error-code" of its snapshot once it has ended
    api GET "/v1/runs/$1/wait?timeout=30" > /dev/null
    jq -r '"\(.status) \(.result | tojson) \(.error.code)"' "$T/body"
}
finished_data() { # the data of the run's run_finished event
    curl -sN --max-time 10 "$BASE$(api GET "/v1/runs/$1" | jq -r .links.events)" | frames /dev/stdin |
        awk -F'\t' '$2 == "run_finished" { print $3 }'
}

run=$(create_run '{"type":"agent"}')
wait_until "the agent to make progress" 20 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$run' | jq '.progress.current // 0')\" -ge 3 ]"
api POST "/v1/runs/$run/cancel?wait=1" -d '' > /dev/null
check_eq "cancelled while running: answered when it has ended" 200 "$(status)"
read -r st res code <<< "$(ended "$run")"
check_eq "a cancelled run keeps the result its job wrote after SIGTERM" "cancelled true cancelled" \
    "$st $(jq -r .partial <<< "$res") $code"
check "…with how far it got" test "$(jq -r .steps <<< "$res")" -ge 3
check_eq "run_finished carries the result beside the error" "cancelled true cancelled" \
    "$(finished_data "$run" | jq -r '"\(.status) \(.result.partial) \(.error.code)"')"

run=$(create_run '{"type":"halfway"}')
check_eq "a failed run keeps its last result" 'failed {"got":1} job_failed' "$(ended "$run")"
check_eq "and so does its run_finished" '{"got":1} job_failed' \
    "$(finished_data "$run" | jq -c -r '"\(.result | tojson) \(.error.code)"')"

run=$(create_run '{"type":"slowpoke"}')
check_eq "a timed-out run keeps its last result" 'timed_out {"so_far":1} timeout' "$(ended "$run")"

run=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0}}')
check_eq "a successful run: its result, and no error in run_finished" '{"counted":1} null' \
    "$(finished_data "$run" | jq -c -r '"\(.result | tojson) \(.error)"')"
finish
