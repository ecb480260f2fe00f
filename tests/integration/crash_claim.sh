#!/usr/bin/env bash
# A worker SIGKILLed at the moment it read a run's queue entry, before its
# claim reached the ledger: the entry is pending under a consumer that is
# gone. Here the run waited in the queue past its lease first (so it has a
# second entry), and both of its entries die that way, with two workers.
# A third worker takes the entry over after a lease (XAUTOCLAIM) and runs
# it; the dead workers' consumers are removed and the queue is trimmed.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
lease_ms = 1000
worker_jobs = 1
CONF
start_faulty_stack
busy_and_waiting
fault_arm '{"command": "XREADGROUP", "nonempty": true, "do": "kill"}'
api POST "/v1/runs/$busy/cancel" -H "Content-Type: application/json" --data "{}" > /dev/null
check_eq "the busy run is asked to stop" 202 "$(status)"
wait_until "the worker to be killed as it read the next entry" 20 fault_fired
check_eq "the process killed was the worker" "$WORKER_PID" "$(fault_pid)"
fault_arm '{"command": "XREADGROUP", "nonempty": true, "do": "kill"}'
start_worker
wait_until "the second worker to be killed as it read the other entry" 20 fault_fired
check_eq "the process killed was the second worker" "$WORKER_PID" "$(fault_pid)"
check_eq "the run is still queued" queued "$(run_status "$run")"
check_eq "both its entries are pending under dead consumers" 2 \
    "$(rcli XPENDING opstream:queue workers | head -n 1)"
fault_arm ''
start_worker
api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
check_eq "a third worker took an entry over and ran the run" succeeded "$(jq -r .status "$T/body")"
check "it says so" grep -q "taken over" "$T/worker.log"
stream_events "$run" > "$T/names"
check_eq "exactly one run_started and one run_finished" "1 1" \
    "$(for e in run_started run_finished; do grep -cx "$e" "$T/names"; done | xargs)"
no_pending() { [ "$(rcli XPENDING opstream:queue workers | head -n 1)" = 0 ]; }
wait_until "no entry pending" 20 no_pending
one_consumer() { [ "$(rcli XINFO CONSUMERS opstream:queue workers | grep -cx name)" = 1 ]; }
check "the dead workers' consumers are removed (ten leases)" wait_until "one consumer" 30 one_consumer
trimmed() { [ "$(rcli XLEN opstream:queue)" -le 1 ]; }
check "the acknowledged entries are trimmed from the queue" wait_until "a trimmed queue" 10 trimmed
finish
