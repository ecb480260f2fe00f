#!/usr/bin/env bash
# Redis restarts in the middle of a run: the worker and the responder
# reconnect by themselves, and a reconnecting client still gets every
# event exactly once, in order. No web server restart.
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack

run=$(create_run '{"type":"countdown","input":{"n":60,"interval_ms":50}}')
follow "$BASE/api/v1/runs/$run/events" "$T/got" &
FOLLOW=$!
wait_until "10 progress events" 30 sh -c "[ \$(grep -c '	progress	' '$T/got' 2>/dev/null || echo 0) -ge 10 ]"

kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
check "redis is down mid-run" sh -c "! redis-cli -s '$T/redis.sock' ping 2>/dev/null"
start_redis

check "the client reached the end" wait "$FOLLOW"
check_eq "progress 1..60 exactly once, in order" "$(seq 1 60 | tr '\n' ' ')" \
    "$(awk -F'\t' '$2=="progress"' "$T/got" | cut -f3 | jq -r .current | tr '\n' ' ')"
check_eq "exactly one run_finished, last" "1 run_finished" \
    "$(grep -c '	run_finished	' "$T/got") $(tail -n 1 "$T/got" | cut -f2)"
check "event ids strictly increase" ids_increase "$T/got"
check_eq "no event id twice" 0 "$(cut -f1 "$T/got" | sort | uniq -d | wc -l)"
check_eq "the run succeeded" succeeded "$(run_status "$run")"
check_eq "the stream in Redis has no duplicate either" 60 \
    "$(redis-cli -s "$T/redis.sock" XRANGE "opstream:{$run}:events" - + | grep -c '"current"' || true)"
grep -c "retrying" "$T/worker.log" > "$T/retries" || true
echo "# worker reconnect attempts: $(cat "$T/retries")"
finish
