#!/usr/bin/env bash
# One worker runs up to worker_jobs runs at once, each job a child of the
# worker's one process, and no more; the rest wait queued.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
worker_jobs = 3
CONF
start_redis
start_lighttpd
start_worker
ids=()
for i in 1 2 3 4 5; do ids+=("$(create_run '{"type":"sleep","input":{"seconds":60}}')"); done
count() { api GET "/v1/runs?status=$1" | jq '.data | length'; }
three_running() { [ "$(count running)" = 3 ]; }
check "three runs start at once" wait_until "3 running" 20 three_running
check_eq "the other two wait" 2 "$(count queued)"
check_eq "three jobs, children of the one worker process" 3 "$(pgrep -P "$WORKER_PID" | wc -l)"
for id in "${ids[@]}"; do api POST "/v1/runs/$id/cancel" -d '' > /dev/null; done
all_done() { [ "$(count active)" = 0 ]; }
check "all five end once cancelled" wait_until "all cancelled" 30 all_done
check_eq "all five cancelled" 5 "$(count cancelled)"
finish
