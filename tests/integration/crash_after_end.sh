#!/usr/bin/env bash
# A run's end is the ledger's first, then its run_finished. A worker
# SIGKILLed right after the run_finished reached Redis: exactly one
# run_finished, the status the worker wrote, and not queued
# again although its type allows retries. Killed between the two (the
# ledger has the end, Redis never sees the run_finished): a worker writes
# run_finished from the ledger once the lease runs out, once.
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

killed_at_end() { # killed_at_end BEFORE(true|false) WHAT
    fault_arm "{\"command\": \"EVAL\", \"args\": [\"\\\"status\\\":\\\"succeeded\\\"\"], \"before\": $1, \"do\": \"kill\"}"
    run=$(create_run '{"type":"countdown_retry","input":{"n":3,"interval_ms":10}}')
    wait_until "the worker to be killed $2" 20 fault_fired
    check_eq "$2: the process killed was the worker" "$WORKER_PID" "$(jq -r .pid "$T/fault.fired")"
    check_eq "$2: the ledger has the end" succeeded "$(run_status "$run")"
    start_worker
    wait_until "the run to be settled" 20 run_settled "$run"
    api GET "/v1/runs/$run" > /dev/null
    check_eq "$2: the run ended as its worker said, on its first attempt" "succeeded 1 3" \
        "$(jq -r '"\(.status) \(.attempt) \(.result.counted)"' "$T/body")"
    stream_events "$run" > "$T/names"
    check_eq "$2: one run_started, one run_finished, not queued again" "1 1 1" \
        "$(for e in run_queued run_started run_finished; do grep -cx "$e" "$T/names"; done | xargs)"
    check_eq "$2: run_finished is the last event" run_finished "$(tail -n 1 "$T/names")"
    check_eq "$2: with the result" 3 "$(api GET "/v1/runs/$run/events?types=run_finished" \
        -H 'Accept: application/json' | jq -r '.data[0].data.result.counted')"
    check_eq "$2: the archive holds what the stream holds" "$(stream_ids "$run")" "$(archive_ids "$run")"
}
killed_at_end false "after run_finished reached Redis"
killed_at_end true "before run_finished reached Redis"

busy=$(create_run '{"type":"sleep","input":{"seconds":30},"thread_id":"t"}')
parked=$(create_run '{"type":"countdown","input":{"n":1},"thread_id":"t","multitask_strategy":"enqueue"}')
fault_arm '{"command": "EVAL", "args": ["cancel_requested"], "do": "kill"}'
api POST "/v1/runs/$parked/cancel" -H 'Content-Type: application/json' --data '{}' > /dev/null || true
wait_until "the responder to be killed after the cancel reached the ledger" 20 fault_fired
check "the process killed was a responder (its parent is the master)" \
    grep -qx "$(jq -r .ppid "$T/fault.fired")" <(fcgi_pids fcgi-master)
ends_once() { stream_events "$parked" > "$T/names" && [ "$(grep -cx run_finished "$T/names")" = 1 ]; }
wait_until "run_finished to be written for the cancelled run" 20 ends_once
check_eq "cancel_requested, then run_finished, last" "run_queued cancel_requested run_finished" "$(xargs < "$T/names")"
check_eq "with the ledger's status" cancelled \
    "$(api GET "/v1/runs/$parked/events?types=run_finished" -H 'Accept: application/json' | jq -r '.data[0].data.status')"
check_eq "the thread's running run is left be" running "$(run_status "$busy")"
finish
