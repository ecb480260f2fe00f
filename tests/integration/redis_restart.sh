#!/usr/bin/env bash
# Redis restarts in the middle of a run: the worker and the responder
# reconnect by themselves, and a reconnecting client still gets every
# event exactly once, in order. No web server restart.
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack <<'CONF'
retry_ms = 100
CONF

run=$(create_run '{"type":"countdown","input":{"n":60,"interval_ms":50}}')
follow "$BASE/api/v1/runs/$run/events" "$T/got" &
FOLLOW=$!
wait_until "10 progress events" 30 sh -c "[ \$(grep -c '	progress	' '$T/got' 2>/dev/null || echo 0) -ge 10 ]"

kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
check "redis is down mid-run" sh -c "! redis-cli -s '$T/redis.sock' ping 2>/dev/null"
start_redis

check "the client reached the end" wait "$FOLLOW"
check_stream_complete "$T/got" 60
check_eq "the run succeeded" succeeded "$(run_status "$run")"
check_eq "the stream in Redis has no duplicate either" 60 \
    "$(redis-cli -s "$T/redis.sock" XRANGE "opstream:{$run}:events" - + | grep -c '"current"' || true)"
# Redis stays away longer than a responder waits for it (about 3 s): open
# streams are closed, reconnects get an empty 200 stream (never an error
# EventSource would give up on), and all resumes once Redis is back.
run2=$(create_run '{"type":"countdown","input":{"n":80,"interval_ms":50}}')
follow "$BASE/api/v1/runs/$run2/events" "$T/got2" > "$T/follow2.out" 2>&1 &
FOLLOW=$!
wait_until "10 progress events" 30 sh -c "[ \$(grep -c '^event: progress' '$T/got2.seg' 2>/dev/null || echo 0) -ge 10 ]"
kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
sleep 5  # the outage under test, not a wait for anything
start_redis
check "after a 5 s outage the client reached the end" wait "$FOLLOW"
cat "$T/follow2.out"
check "its stream was closed and reopened" test "$(sed -n 's/^# follow: \([0-9]*\) .*/\1/p' "$T/follow2.out")" -gt 2
check_stream_complete "$T/got2" 80
finish
