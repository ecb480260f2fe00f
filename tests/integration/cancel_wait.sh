#!/usr/bin/env bash
# Cancel (queued, running, ?wait=1, terminal) and wait (long-poll).
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
write_config
start_redis
start_lighttpd

# A run created while no worker runs waits queued; cancelling it ends it at once.
queued=$(create_run '{"type":"countdown","input":{"n":1}}')
api POST "/v1/runs/$queued/cancel" -d "" > /dev/null
check_eq "cancel a queued run: 202" 202 "$(status)"
check_eq "it is cancelled at once" cancelled "$(jq -r .status "$T/body")"
check_eq "its stream: queued, cancel_requested, run_finished" "run_queued cancel_requested run_finished" \
    "$(timeout 10 curl -sN "$BASE/api/v1/runs/$queued/events" | sed -n 's/^event: //p' | tr '\n' ' ' | sed 's/ $//')"
api POST "/v1/runs/$queued/cancel" -d "" > /dev/null
check_eq "cancel again: 409" "409 run_terminal" "$(status) $(jq -r .code "$T/body")"

start_worker
sleeper=$(create_run '{"type":"sleeper"}')
wait_until "sleeper running" 20 run_is "$sleeper" running
wait_until "sleeper announced its pid" 20 job_pgid "$sleeper"
pgid=$(job_pgid "$sleeper")
check "the job's process group is alive" pgrep -g "$pgid"
check_eq "the queued run was never started" 0 \
    "$(redis-cli -s "$T/redis.sock" XRANGE "opstream:{$queued}:events" - + | grep -c '^run_started$' || true)"

# wait: 202 with the current snapshot when the timeout passes first, and
# no busy loop meanwhile (Redis counts the reads).
xreads() { redis-cli -s "$T/redis.sock" INFO commandstats | sed -n 's/^cmdstat_xread:calls=\([0-9]*\).*/\1/p'; }
before=$(xreads)
# timed_wait S: "CODE SECONDS" of a wait with timeout S; the body in $T/body
timed_wait() { curl -s -o "$T/body" -w '%{http_code} %{time_total}\n' "$BASE/api/v1/runs/$sleeper/wait?timeout=$1"; }
read -r code took < <(timed_wait 2)
check_eq "wait past its timeout: 202" "202 running" "$code $(jq -r .status "$T/body")"
# It answers when the timeout passes, not later (it once added the 2 s it
# gives the ledger to catch up with a run_finished it never saw).
check "it answered at its timeout (2 s): $took s" awk -v t="$took" 'BEGIN { exit !(t >= 2 && t < 2.5) }'
read -r code took < <(timed_wait 0)
check "timeout=0 answers 202 at once: $code in $took s" awk -v t="$took" -v c="$code" 'BEGIN { exit !(t < 0.5 && c == 202) }'
check "with at most 2 reads of Redis for 2 s of waiting" test $(( $(xreads) - ${before:-0} )) -le 2

# Cancel the running job: the whole process group goes.
api POST "/v1/runs/$sleeper/cancel" -d "" > /dev/null
check_eq "cancel a running run: 202" 202 "$(status)"
api GET "/v1/runs/$sleeper/wait?timeout=20" > /dev/null
check_eq "wait returns 200 once it ended" "200 cancelled" "$(status) $(jq -r .status "$T/body")"
check_eq "error code cancelled" cancelled "$(jq -r .error.code "$T/body")"
check "every process of the job is gone" wait_until "group gone" 10 sh -c "! pgrep -g $pgid"
timeout 10 curl -sN "$BASE/api/v1/runs/$sleeper/events" > "$T/s"
check_eq "one cancel_requested, one run_finished, in that order" "cancel_requested run_finished" \
    "$(sed -n 's/^event: //p' "$T/s" | grep -E 'cancel_requested|run_finished' | tr '\n' ' ' | sed 's/ $//')"

# ?wait=1 answers when the run has ended.
s2=$(create_run '{"type":"sleeper"}')
wait_until "second sleeper running" 20 run_is "$s2" running
api POST "/v1/runs/$s2/cancel?wait=1" -d "" > /dev/null
check_eq "cancel?wait=1: 200 with the terminal run" "200 cancelled" "$(status) $(jq -r .status "$T/body")"

# wait on a run that succeeds.
quick=$(create_run '{"type":"countdown","input":{"n":3,"interval_ms":100}}')
api GET "/v1/runs/$quick/wait?timeout=20" > /dev/null
check_eq "wait: 200 when the run ends" "200 succeeded" "$(status) $(jq -r .status "$T/body")"
check_eq "with its result" 3 "$(jq -r .result.counted "$T/body")"
api GET "/v1/runs/$quick/wait" > /dev/null
check_eq "wait on a finished run answers at once" 200 "$(status)"

api GET "/v1/runs/$quick/wait?timeout=301" > /dev/null
check_eq "timeout over 300: 400" "400 invalid_parameter" "$(status) $(jq -r .code "$T/body")"
api POST "/v1/runs/$quick/cancel?wait=2" -d "" > /dev/null
check_eq "wait=2: 400" 400 "$(status)"
api POST /v1/runs/AAAAAAAAAAAAAAAAAAAAAA/cancel -d "" > /dev/null
check_eq "cancel unknown: 404" 404 "$(status)"
api GET /v1/runs/AAAAAAAAAAAAAAAAAAAAAA/wait > /dev/null
check_eq "wait unknown: 404" 404 "$(status)"
finish
