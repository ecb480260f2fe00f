#!/usr/bin/env bash
# The chaos soak (tests/chaos/soak.py) against a stack of its own: Redis
# on a unix socket (restarted by the soak), opstream.fcgi behind lighttpd
# on loopback, two workers kept alive as a process manager would. It runs
# SOAK_SECONDS (120 in make check; SOAK_SECONDS=1800 for a long soak) and
# prints one summary line.
. "$abs_top_srcdir/tests/integration/lib.sh"
SOAK_SECONDS=${SOAK_SECONDS:-120}
KEEPALIVE_MS=4000 write_config <<'CONF'
lease_ms = 1000
retry_ms = 300
retention_s = 3600
worker_jobs = 8
kill_grace_ms = 500
CONF
# Redis, restartable by the soak: SHUTDOWN writes the AOF out, and the new
# server reads it back on the same socket.
cat > "$T/restart-redis" <<SH
#!/bin/sh
redis-cli -s "$T/redis.sock" SHUTDOWN > /dev/null 2>&1
while [ -f "$T/redis.pid" ] && kill -0 "\$(cat "$T/redis.pid")" 2>/dev/null; do sleep 0.02; done
redis-server --port 0 --unixsocket "$T/redis.sock" --unixsocketperm 700 --dir "$T" \\
    --appendonly yes --save '' --daemonize yes --pidfile "$T/redis.pid" --logfile "$T/redis.log"
until redis-cli -s "$T/redis.sock" ping > /dev/null 2>&1; do sleep 0.02; done
SH
chmod +x "$T/restart-redis"
"$T/restart-redis"
stop_redis() { kill "$(cat "$T/redis.pid")" 2>/dev/null || true; }
trap 'rc=$?; set +e; touch "$T/stop"; stop_redis; (exit $rc); cleanup' EXIT
# opstream.fcgi as script/server runs it: its socket held and its master
# started anew by script/supervise.
start_fcgi_supervised
start_lighttpd
# Workers kept alive as systemd's Restart=always would, until the end.
keep_worker() {
    while [ ! -e "$T/stop" ]; do "$WORKER" -c "$T/opstream.conf" 2>>"$T/worker.log" || true; done
}
# (Its stderr: bash's own notes on each killed worker.)
keep_worker 2>/dev/null & PIDS+=($!)
keep_worker 2>/dev/null & PIDS+=($!)
rc=0
[ "$LEDGER" != postgresql ] || export SOAK_PG_HOST=$PG_DIR
/usr/bin/python3 "$abs_top_srcdir/tests/chaos/soak.py" "$BASE/api" "$T" "$SOAK_SECONDS" 2>"$T/soak.log" || rc=$?
touch "$T/stop"
pkill -TERM -f "opstream-worker -c $T/" 2>/dev/null || true
[ "$rc" -eq 0 ] || { echo "--- violations"; head -n 50 "$T/soak.log"; }
exit "$rc"
