#!/usr/bin/env bash
# A worker SIGTERMed mid-run, with a second worker running: it claims
# nothing more, lets a run finish within the grace period, and hands the
# other back, which the second worker then runs to the end. One
# run_finished each.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
shutdown_grace_ms = 4000
CONF
start_redis
start_lighttpd
start_worker
first=$WORKER_PID
short=$(create_run '{"type":"sleep","input":{"seconds":3}}')
long=$(create_run '{"type":"sleep","input":{"seconds":7}}')
both_running() { run_is "$short" running && run_is "$long" running; }
wait_until "both run on the first worker" 20 both_running
start_worker  # the second
kill -TERM "$first"
check "the first worker exits after its grace period" wait_until "worker exit" 10 sh -c "! kill -0 $first"
api GET "/v1/runs/$short/wait?timeout=20" > /dev/null
check_eq "the short run finished on the first worker" "succeeded 1" "$(jq -r '"\(.status) \(.attempt)"' "$T/body")"
api GET "/v1/runs/$long/wait?timeout=30" > /dev/null
check_eq "the long run was handed back and finished on the second" "succeeded 2" \
    "$(jq -r '"\(.status) \(.attempt)"' "$T/body")"
api GET "/v1/runs/$long/events?types=run_queued,run_started,run_finished" -H 'Accept: application/json' > /dev/null
check_eq "its events: queued, started, queued (worker_stopped), started, finished" \
    "run_queued run_started run_queued:worker_stopped run_started run_finished" \
    "$(jq -r '[.data[] | .event + (if .data.reason then ":" + .data.reason else "" end)] | join(" ")' "$T/body")"
finish
