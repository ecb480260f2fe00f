#!/usr/bin/env bash
# Per-run bounds on a job's output: past job_max_events lines or
# job_max_output_bytes bytes the job is stopped, with its whole process
# group, and the run ends failed with output_limit. A job within them is
# untouched.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
# Each announces its process group, then writes without end: events, or
# bytes without a line break.
announce='echo "{\"event\":\"output\",\"data\":{\"pgid\":$$}}"; sleep 60 &'
add_type chatty "$announce yes '{\"event\":\"tick\",\"data\":{}}'"
add_type bulky "$announce head -c 100000000 /dev/zero; wait"
start_stack <<'CONF'
job_max_events = 50
job_max_output_bytes = 200000
job_line_max_bytes = 1024
CONF
for type in chatty bulky; do
    run=$(create_run "{\"type\":\"$type\"}")
    api GET "/v1/runs/$run/wait?timeout=30" > /dev/null
    check_eq "$type: failed with output_limit" "failed output_limit" "$(jq -r '"\(.status) \(.error.code)"' "$T/body")"
    api GET "/v1/runs/$run/events?limit=1000" -H 'Accept: application/json' > /dev/null
    check "$type: at most job_max_events of its lines became events" \
        test "$(jq '[.data[] | select(.event != "run_queued" and .event != "run_started" and .event != "run_finished")] | length' "$T/body")" -le 50
    pgid=$(job_pgid "$run")
    check "$type: its whole process group is gone" sh -c "[ -n '$pgid' ] && ! kill -0 -- -'$pgid' 2>/dev/null"
done
run=$(create_run '{"type":"countdown","input":{"n":40,"interval_ms":1}}')
api GET "/v1/runs/$run/wait?timeout=30" > /dev/null
check_eq "a job within the bounds succeeds" succeeded "$(jq -r .status "$T/body")"
check "the worker is alive" kill -0 "$WORKER_PID"
finish
