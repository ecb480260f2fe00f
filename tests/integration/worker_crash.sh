#!/usr/bin/env bash
# A worker SIGKILLed mid-run: another worker finds the expired lease within
# two lease periods, kills the orphaned job processes, and ends the run
# failed (worker_lost), or queues it again when its type allows retries.
# Either way, exactly one run_finished.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
jq '.name = "sleep_retry" | .retries = 1' "$abs_top_srcdir/src/jobs/sleep.json" > "$JOBTYPES_DIR/sleep_retry.json"
write_config <<'CONF'
lease_ms = 1000
CONF
start_redis
start_lighttpd
start_worker
now_ms() { date +%s%3N; }
job_group() { # the job's process group: the worker's child
    pgrep -P "$WORKER_PID" | head -n 1
}
finished_once() {
    timeout 20 curl -sN "$BASE/api/v1/runs/$1/events" | sed -n 's/^event: //p' > "$T/ev"
    [ "$(grep -c '^run_finished$' "$T/ev")" = 1 ] && [ "$(tail -n 1 "$T/ev")" = run_finished ]
}

# Without retries: failed, worker_lost.
run=$(create_run '{"type":"sleep","input":{"seconds":60}}')
wait_until "the run is running" 20 run_is "$run" running
wait_until "its job runs" 20 job_group
pgid=$(job_group)
kill -KILL "$WORKER_PID"; killed=$(now_ms)
check "the job outlives its worker for now (orphaned)" pgrep -g "$pgid"
start_worker
failed() { run_is "$run" failed; }
wait_until "recovery" 10 failed
# When recovery ended it, by the ledger (the same clock), not when this
# test's polling saw it.
took=$(( $(date -d "$(api GET "/v1/runs/$run" | jq -r .finished_at)" +%s%3N) - killed ))
echo "# recovery ended the run $took ms after the kill (lease 1000 ms)"
check "recovered within two lease periods" test "$took" -le 2000
check_eq "failed with worker_lost" worker_lost "$(api GET "/v1/runs/$run" | jq -r .error.code)"
check "the orphaned job processes are gone" wait_until "orphans gone" 5 sh -c "! pgrep -g $pgid"
check "exactly one run_finished" finished_once "$run"

# With retries: queued again, and the next attempt runs to the end.
run=$(create_run '{"type":"sleep_retry","input":{"seconds":3}}')
wait_until "the run is running" 20 run_is "$run" running
wait_until "its job runs" 20 job_group
kill -KILL "$WORKER_PID"
start_worker
api GET "/v1/runs/$run/wait?timeout=30" > /dev/null
check_eq "with retries: succeeded on attempt 2" "succeeded 2" "$(jq -r '"\(.status) \(.attempt)"' "$T/body")"
check "exactly one run_finished" finished_once "$run"
check_eq "two run_started, and a run_queued saying why" "2 worker_lost" \
    "$(grep -c '^run_started$' "$T/ev") $(api GET "/v1/runs/$run/events?types=run_queued" -H 'Accept: application/json' | jq -r '.data[1].data.reason')"
finish
