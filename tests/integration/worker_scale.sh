#!/usr/bin/env bash
# One worker supervises 1,000 running runs from its one process: each job
# is a child of the worker (no process of its own in between), and what
# the worker holds for them, read from /proc, stays within bounds: its
# proportional set size grows by at most 64 KiB per running run, and its
# descriptors by at most five per run (three pipes, a pidfd, a uid).
# Then every run is cancelled and ends cancelled, once.
. "$abs_top_srcdir/tests/integration/lib.sh"
RUNS=${WORKER_SCALE_RUNS:-1000}
write_config <<CONF
worker_jobs = $RUNS
max_active_runs_per_owner = 0
CONF
start_redis
start_lighttpd
start_worker
ready() { grep -q "ready as" "$T/worker.log"; }
wait_until "the worker to be ready" 20 ready
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
fds() { ls "/proc/$1/fd" | wc -l; }
# Its libraries and connections warmed by one run first.
api GET "/v1/runs/$(create_run '{"type":"sleep","input":{"seconds":0}}')/wait?timeout=20" > /dev/null
check_eq "a first run succeeds" succeeded "$(jq -r .status "$T/body")"
idle_pss=$(pss_kib "$WORKER_PID")
idle_fds=$(fds "$WORKER_PID")

# burst DATA: POSTs DATA to each URL on stdin, 32 at once; one status
# code per line on stdout.
burst() {
    local url first=1
    while read -r url; do
        [ -n "$first" ] || echo next
        first=
        printf 'url = "%s"\nrequest = POST\nheader = "Content-Type: application/json"\n' "$url"
        printf 'data = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "${1//\"/\\\"}"
    done > "$T/burst.curl"
    curl -sS -Z --parallel-max 32 -K "$T/burst.curl"
}

# The runs, created in bursts.
for i in $(seq "$RUNS"); do echo "$BASE/api/v1/runs"; done |
    burst '{"type":"sleep","input":{"seconds":600}}' > "$T/creates.codes"
check_eq "every create answered 202" "$RUNS" "$(grep -cx 202 "$T/creates.codes")"
running() { [ "$(ledger_sql "SELECT COUNT(*) FROM runs WHERE status = 'running'")" = "$RUNS" ]; }
check "all $RUNS runs run at once" wait_until "$RUNS running" 120 running
jobs_up() { [ "$(pgrep -P "$WORKER_PID" -x sleep | wc -l)" = "$RUNS" ]; }
check "each job a child of the worker's one process" wait_until "$RUNS jobs" 30 jobs_up
check_eq "and no other worker process" 1 "$(pgrep -f "$WORKER -c $T/opstream.conf" | wc -l)"
pss=$(pss_kib "$WORKER_PID")
per_run=$(( (pss - idle_pss) * 1024 / RUNS ))
echo "# worker PSS: $idle_pss KiB idle, $pss KiB with $RUNS running runs: $per_run bytes per run"
# (Under AddressSanitizer or valgrind the allocator keeps freed memory
# aside by design: the bound holds for the build users run.)
# (ldd read whole: grep -q would close the pipe early, and pipefail
# would count the interrupted ldd as a failure.)
case "$(ldd "$WORKER" 2>/dev/null)${OPSTREAM_VALGRIND:+valgrind}" in
*libasan*|*valgrind*) sanitized=1 ;;
*) sanitized= ;;
esac
if [ -n "$sanitized" ]; then
    echo "# the memory bound is not checked under a sanitizer or valgrind"
else
    check "at most 64 KiB of the worker's memory per running run" test "$per_run" -le $((64 * 1024))
fi
more_fds=$(( $(fds "$WORKER_PID") - idle_fds ))
echo "# worker descriptors: $idle_fds idle, $more_fds more with $RUNS running runs"
check "at most five descriptors per running run" test "$more_fds" -le $((5 * RUNS))

# Every one cancelled, again in bursts.
ledger_sql "SELECT id FROM runs WHERE status = 'running'" | sed "s|.*|$BASE/api/v1/runs/&/cancel|" |
    burst '{}' > "$T/cancels.codes"
check_eq "every cancel answered 202" "$RUNS" "$(grep -cx 202 "$T/cancels.codes")"
all_cancelled() { [ "$(ledger_sql "SELECT COUNT(*) FROM runs WHERE status = 'cancelled'")" = "$RUNS" ]; }
check "all $RUNS end cancelled" wait_until "$RUNS cancelled" 120 all_cancelled
no_jobs() { ! pgrep -P "$WORKER_PID" -x sleep > /dev/null; }
check "and their jobs are gone" wait_until "no jobs left" 30 no_jobs
check_eq "the worker is still up" 0 "$(kill -0 "$WORKER_PID"; echo $?)"
finish
