#!/usr/bin/env bash
# A job that ignores SIGTERM, in a process group of three, is still ended
# whole, by SIGKILL after kill_grace_ms (2 s here): on cancel, on its
# type's timeout, and when its worker stops. Each ending comes no sooner
# than the grace (SIGTERM alone did nothing) and soon after it.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
stubborn='trap "" TERM
sleep 600 & sleep 600 &
echo "{\"event\":\"output\",\"data\":{\"pgid\":$$}}"
wait; wait; wait'
add_type stubborn "$stubborn"
jq -n --arg s "$stubborn" '{name: "stubborn_timeout", description: "ignores SIGTERM, 1 s allowed",
    command: ["/bin/sh", "-c", $s], timeout_s: 1}' > "$JOBTYPES_DIR/stubborn_timeout.json"
start_stack
now_ms() { date +%s%3N; }
group_gone() { ! pgrep -g "$1" >/dev/null; }

started() { # started TYPE: creates a run and waits for its job's group; sets run, pgid
    run=$(create_run "{\"type\":\"$1\"}")
    wait_until "$1 running" 20 run_is "$run" running
    wait_until "$1 announced its group" 20 job_pgid "$run"
    pgid=$(job_pgid "$run")
    check "$1: its process group (3 processes) is alive" test "$(pgrep -g "$pgid" | wc -l)" -ge 3
}
ended_by_kill() { # ended_by_kill WHAT SINCE_MS
    wait_until "$1: the group is gone" 15 group_gone "$pgid" || true
    local took=$(( $(now_ms) - $2 ))
    echo "# $1: the group went $took ms after the stop began"
    check "$1: every process of the job is gone" group_gone "$pgid"
    check "$1: not before kill_grace_ms (SIGTERM was ignored)" test "$took" -ge 1900
}

# Cancel.
started stubborn
t0=$(now_ms)
api POST "/v1/runs/$run/cancel" -d "" > /dev/null
check_eq "cancel: 202" 202 "$(status)"
ended_by_kill "cancel" "$t0"
wait_until "the run ends" 10 run_is "$run" cancelled || true
check_eq "cancel: the run is cancelled" cancelled "$(run_status "$run")"

# Its type's timeout (1 s): SIGTERM at 1 s, SIGKILL 2 s later.
started stubborn_timeout
t0=$(now_ms)
wait_until "the run times out" 20 run_is "$run" timed_out || true
ended_by_kill "timeout" "$t0"
check_eq "timeout: the run is timed_out" timed_out "$(run_status "$run")"

# The worker stops (SIGTERM): after shutdown_grace_ms (0.5 s) it stops the
# job, and the run goes back to the queue for another worker.
started stubborn
t0=$(now_ms)
kill -TERM "$WORKER_PID"
ended_by_kill "worker stop" "$t0"
check "the worker exited" wait_until "worker exit" 15 sh -c "! kill -0 $WORKER_PID"
check_eq "the run was handed back to the queue" queued "$(run_status "$run")"
finish
