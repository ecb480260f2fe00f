#!/usr/bin/env bash
# Redis over TCP with a password and a database number: the config keys
# redis = host:port, redis_password and redis_db all take effect.
. "$abs_top_srcdir/tests/integration/lib.sh"
PASS=pw-$RANDOM$RANDOM
for _ in 1 2 3 4 5; do
    RPORT=$((20000 + RANDOM % 12000))
    redis-server --bind 127.0.0.1 --port "$RPORT" --requirepass "$PASS" --dir "$T" \
        --save '' --daemonize no --logfile "$T/redis.log" &
    REDIS_PID=$!
    if wait_until "redis on $RPORT" 10 redis-cli -p "$RPORT" -a "$PASS" --no-auth-warning ping; then
        PIDS+=($REDIS_PID)
        break
    fi
    kill "$REDIS_PID" 2>/dev/null || true
done
write_config <<CONF
redis = 127.0.0.1:$RPORT
redis_password = $PASS
redis_db = 3
CONF
start_lighttpd
start_worker

run=$(create_run '{"type":"countdown","input":{"n":3,"interval_ms":10}}')
check_eq "create works over TCP with a password" 202 "$(status)"
wait_until "run to succeed" 20 run_is "$run" succeeded
check_eq "the run succeeded" succeeded "$(run_status "$run")"
rcli() { redis-cli -p "$RPORT" -a "$PASS" --no-auth-warning "$@"; }
check_eq "its events live in db 3" 1 "$(rcli -n 3 EXISTS "opstream:{$run}:events")"
check_eq "and not in db 0" 0 "$(rcli -n 0 EXISTS "opstream:{$run}:events")"

sed "s/^redis_password = .*/redis_password = wrong/" "$T/opstream.conf" > "$T/wrong.conf"
"$FCGI" -c "$T/wrong.conf" -s "unix:$T/wrong.sock" 2>>"$T/fcgi-wrong.log" &
PIDS+=($!)
wait_until "responder with the wrong password" 10 test -S "$T/wrong.sock"
fcgi "$T/wrong.sock" GET /api/v1/health > "$T/wrong.out"
check "a wrong password: health answers 503" grep -q '^Status: 503' "$T/wrong.out"
check_eq "and names Redis as unreachable" unreachable "$(sed -n '/^{/p' "$T/wrong.out" | jq -r .redis)"
finish
