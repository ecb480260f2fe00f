#!/usr/bin/env bash
# A runner SIGKILLed before its claim reached the ledger (here as it sent
# its first Redis command), for a run that had already been put on the
# queue again once (its lease, the ledger's watch over a queued run, is
# then cleared). Both of the run's entries die that way. Their worker
# lives: it must not count the entries as spent, or the run would wait
# queued for ever; they stay pending and are taken again after a lease
# and a half, and the run runs once.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
lease_ms = 1000
worker_jobs = 1
CONF
start_faulty_stack
busy_and_waiting
fault_arm '{"command": "XGROUP", "do": "kill", "times": 2}'
api POST "/v1/runs/$busy/cancel" -H "Content-Type: application/json" --data "{}" > /dev/null
check_eq "the busy run is asked to stop" 202 "$(status)"
killed_twice() { fault_fired && [ "$(jq '.pids | length' "$T/fault.fired")" = 2 ]; }
wait_until "two runners to be killed as they connected" 20 killed_twice
check "the processes killed were two runners of the worker" \
    test "$(jq -r '.pids | unique | length' "$T/fault.fired")" = 2 -a "$(jq -r .ppid "$T/fault.fired")" = "$WORKER_PID"
fault_arm ''
check_eq "the worker lives on" 0 "$(kill -0 "$WORKER_PID"; echo $?)"
api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
check_eq "an entry was taken again and the run ran" succeeded "$(jq -r .status "$T/body")"
check "the worker said why" grep -q "its runner ended before saying it was claimed" "$T/worker.log"
stream_events "$run" > "$T/names"
check_eq "exactly one run_started and one run_finished" "1 1" \
    "$(for e in run_started run_finished; do grep -cx "$e" "$T/names"; done | xargs)"
no_pending() { [ "$(rcli XPENDING opstream:queue workers | head -n 1)" = 0 ]; }
check "no entry is left pending" wait_until "no entry pending" 20 no_pending
finish
