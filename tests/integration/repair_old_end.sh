#!/usr/bin/env bash
# A stream ahead of its ledger, as an older version (which wrote a run's
# end to the stream before the ledger) could leave it: the run's
# run_finished is in Redis, its ledger row still running, and its worker
# dead. Recovery takes the end from the stream (runs_repair): the run
# ends with the status and result the stream says, not as worker_lost,
# and its stream keeps one run_finished.
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack <<'CONF'
lease_ms = 1000
CONF
run=$(create_run '{"type":"sleep","input":{"seconds":60}}')
wait_until "the run to run" 20 run_is "$run" running
# The worker and its runner die (the job goes with its runner) ...
pkill -KILL -f "opstream-worker -c $T/" || true
wait "$WORKER_PID" 2>/dev/null || true
# ... after their end reached the stream only.
rcli XADD "opstream:{$run}:events" '*' type run_finished \
    data '{"status":"succeeded","result":{"from":"the stream"}}' > /dev/null
check_eq "the ledger still says running" running "$(run_status "$run")"
start_worker
ended() { ! run_is "$run" running; }
wait_until "recovery to end the run" 30 ended
api GET "/v1/runs/$run" > "$T/run.json"
check_eq "the run ended as its stream says" "succeeded" "$(jq -r .status "$T/run.json")"
check_eq "with the stream's result" '{"from":"the stream"}' "$(jq -c .result "$T/run.json")"
check_eq "and one run_finished in its stream" 1 "$(stream_events "$run" | grep -cx run_finished)"
wait_until "the run to settle" 20 run_settled "$run"
finish
