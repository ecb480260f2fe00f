#!/usr/bin/env bash
# A worker SIGKILLed, with its runner, right after the runner's
# run_finished reached Redis and before the ledger heard of it. Another
# worker finds the lease expired and takes the end from the stream: the
# run has the status the stream says, exactly one run_finished, and is not
# queued again although its type allows retries.
# Then a responder SIGKILLed after its cancel of a queued run reached the
# ledger and before the run's run_finished was written: a worker writes
# it from the ledger, once the cancelled run's lease runs out.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
jq '.name = "countdown_retry" | .retries = 2' "$abs_top_srcdir/src/jobs/countdown.json" \
    > "$JOBTYPES_DIR/countdown_retry.json"
write_config <<'CONF'
lease_ms = 1000
CONF
start_faulty_stack

fault_arm '{"command": "XADD", "args": ["run_finished"], "do": "kill_parent"}'
run=$(create_run '{"type":"countdown_retry","input":{"n":3,"interval_ms":10}}')
wait_until "the runner and its worker to be killed after run_finished reached Redis" 20 fault_fired
check_eq "the processes killed were a runner and its worker" "$WORKER_PID" "$(jq -r .ppid "$T/fault.fired")"
check_eq "the ledger has not heard of the end" running "$(run_status "$run")"
start_worker
api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
check_eq "the run ended as the stream says, on its first attempt" "succeeded 1 3" \
    "$(jq -r '"\(.status) \(.attempt) \(.result.counted)"' "$T/body")"
stream_events "$run" > "$T/names"
check_eq "one run_started, one run_finished, and not queued again" "1 1 1" \
    "$(for e in run_queued run_started run_finished; do grep -cx "$e" "$T/names"; done | xargs)"
check_eq "run_finished is the last event" run_finished "$(tail -n 1 "$T/names")"
settled() { [ "$(sqlite3 "$T/opstream.db" "SELECT lease_until IS NULL FROM runs WHERE id = '$run'")" = 1 ]; }
wait_until "the run to be settled" 20 settled
check_eq "the archive holds what the stream holds" "$(stream_ids "$run")" "$(archive_ids "$run")"

busy=$(create_run '{"type":"sleep","input":{"seconds":30},"thread_id":"t"}')
parked=$(create_run '{"type":"countdown","input":{"n":1},"thread_id":"t","multitask_strategy":"enqueue"}')
fault_arm '{"command": "XADD", "args": ["cancel_requested"], "do": "kill"}'
api POST "/v1/runs/$parked/cancel" -H 'Content-Type: application/json' --data '{}' > /dev/null || true
wait_until "the responder to be killed after the cancel reached the ledger" 20 fault_fired
check "the process killed was a responder (its parent is the supervisor)" \
    grep -qx "$(jq -r .ppid "$T/fault.fired")" <(fcgi_pids fcgi-supervisor)
ends_once() { stream_events "$parked" > "$T/names" && [ "$(grep -cx run_finished "$T/names")" = 1 ]; }
wait_until "run_finished to be written for the cancelled run" 20 ends_once
check_eq "cancel_requested, then run_finished, last" "run_queued cancel_requested run_finished" "$(xargs < "$T/names")"
check_eq "with the ledger's status" cancelled \
    "$(api GET "/v1/runs/$parked/events?types=run_finished" -H 'Accept: application/json' | jq -r '.data[0].data.status')"
check_eq "the thread's running run is left be" running "$(run_status "$busy")"
finish
