#!/usr/bin/env bash
# The benchmark, side by side: opstream (lighttpd + opstream.fcgi + Redis),
# Nchan (nginx + the Nchan module + Redis) and the FastAPI peer (uvicorn,
# 2 workers + Redis), each on private loopback ports with a Redis of its
# own, driven by tests/bench/loadgen (one epoll process) in the same run.
# Prints one table, with ratios. Not part of make check.
#
#   usage: tests/bench/run.sh           (as root on Debian 12; after script/test or script/bootstrap)
#   SCALE=0.25 tests/bench/run.sh       (every count scaled down, for a quick look)
#   ONLY="fan hot" SYSTEMS="opstream" tests/bench/run.sh   (some workloads of some systems:
#        fan hot burst requests kill; OPSTREAM_CONF="key = value" lines added to opstream's config)
#   ONLY=announce SYSTEMS=opstream tests/bench/run.sh   (what a responder pays to hear
#        every append of an installation: ANNOUNCE_RATE=6000 announcements/s of runs
#        it does not hold, 3 hosts x 2,000 events/s, while its hub holds 200 streams)
#   LEDGER=postgresql tests/bench/run.sh   (create and status also with opstream's ledger on
#        a PostgreSQL server of the bench's own, beside SQLite's, in the same table)
#   PREFILL=1000000 tests/bench/run.sh   (create and status again once opstream's ledger
#        holds that many more ended runs of the same owner, three archived events each)
#   REPLICA=1 tests/bench/run.sh   (create again with a Redis replica attached, which
#        every append then waits for, beside the create without one)
#
# Peers: ../shared/peers/ (PEERS=DIR to name another place).
set -euo pipefail
abs_top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
abs_top_builddir=$abs_top_srcdir/build
export abs_top_srcdir abs_top_builddir
PEERS=${PEERS:-$abs_top_srcdir/../shared/peers}
SCALE=${SCALE:-1}
[ -f "$PEERS/nchan/nginx.conf" ] && [ -f "$PEERS/fastapi/app.py" ] ||
    { echo "run.sh: the peers are not in $PEERS (set PEERS)" >&2; exit 2; }

need=()
for p in libnginx-mod-nchan nginx python3-fastapi python3-uvicorn python3-redis libcurl4-openssl-dev redis-server lighttpd jq; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null
fi
[ -x "$abs_top_builddir/src/opstream.fcgi" ] || { echo "run.sh: build first (script/bootstrap && make -C build)" >&2; exit 2; }
LOADGEN=$abs_top_builddir/loadgen
cc -std=gnu11 -O2 -Wall -Wextra -I"$abs_top_srcdir/src" -I"$abs_top_builddir/src" -o "$LOADGEN" \
    "$abs_top_srcdir/tests/bench/loadgen.c" "$abs_top_builddir/src/libopstream.a" \
    -lcurl -lhiredis -ljansson -lsqlite3 -lpq -lsodium -lpthread
NULL_FCGI=$abs_top_builddir/null_fcgi
cc -std=gnu11 -O2 -Wall -Wextra -o "$NULL_FCGI" "$abs_top_srcdir/tests/bench/null_fcgi.c" -lfcgi -lpthread
ulimit -n "$(ulimit -Hn)"

n() { awk -v x="$1" -v s="$SCALE" 'BEGIN { v = int(x * s + 0.5); print (v < 1 ? 1 : v) }'; }
FAN_RUNS=$(n 1000); FAN_STREAMS=$(n 2000); FAN_RATE=$(n 2000)
HOT_RUNS=4; HOT_VIEWERS=$(n 100); HOT_RATE=$(n 1000)
BURST_STREAMS=$(n 8000); BURST_RUNS=$(n 1000)
SECS=${SECS:-15}
ANNOUNCE_RATE=${ANNOUNCE_RATE:-6000}

# ---- opstream ----
BENCH_LEDGER=${LEDGER:-sqlite}
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<CONF
max_active_runs_per_owner = 0
retry_ms = 1000
${OPSTREAM_CONF:-}
CONF
start_redis
start_lighttpd          # no worker: runs stay queued, events come from the publisher
OPS=$BASE
ops_pids() { echo "$LIGHTTPD_PID" $(pgrep -f "opstream.fcgi -c $T/"; pgrep -f "redis-server.*$T/redis.sock"); }

# ---- peers ----
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NREDIS=$(free_port); NCHAN=$(free_port); FREDIS=$(free_port); FAPI=$(free_port)
mkdir -p "$T/nchan/logs"
sed -e "s/16379/$NREDIS/; s/18090/$NCHAN/" "$PEERS/nchan/nginx.conf" > "$T/nchan/nginx.conf"
# Every Redis alike: the append-only file, fsync every second, as opstream's.
mkdir -p "$T/nredis" "$T/fredis"
redis-server --port "$NREDIS" --bind 127.0.0.1 --dir "$T/nredis" --save '' --appendonly yes --daemonize no > "$T/nredis.log" 2>&1 &
NREDIS_PID=$!
redis-server --port "$FREDIS" --bind 127.0.0.1 --dir "$T/fredis" --save '' --appendonly yes --daemonize no > "$T/fredis.log" 2>&1 &
FREDIS_PID=$!
wait_until "peer redis" 20 sh -c "redis-cli -p $NREDIS ping >/dev/null 2>&1 && redis-cli -p $FREDIS ping >/dev/null 2>&1"
nginx -p "$T/nchan" -c "$T/nchan/nginx.conf" > "$T/nchan.log" 2>&1 &
NGINX_PID=$!
(cd "$PEERS" && REDIS_URL=redis://127.0.0.1:$FREDIS exec /usr/bin/python3 -m uvicorn app:app --app-dir fastapi \
    --host 127.0.0.1 --port "$FAPI" --workers 2 --log-level warning > "$T/fastapi.log" 2>&1) &
FAPI_PID=$!
stop_peers() { kill "$NGINX_PID" "$FAPI_PID" 2>/dev/null; pkill -P "$FAPI_PID" 2>/dev/null; kill "$NREDIS_PID" "$FREDIS_PID" 2>/dev/null; }
trap 'stop_peers; cleanup' EXIT
wait_until "nchan" 20 sh -c "curl -s -o /dev/null http://127.0.0.1:$NCHAN/"
wait_until "fastapi" 30 sh -c "curl -s -o /dev/null http://127.0.0.1:$FAPI/api/v1/runs/x"
NCH=http://127.0.0.1:$NCHAN; FA=http://127.0.0.1:$FAPI
nchan_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID") "$NREDIS_PID"; }
fapi_pids() { local c; c=$(pgrep -P "$FAPI_PID" | tr '\n' ' '); echo "$FAPI_PID" $c $(for p in $c; do pgrep -P "$p"; done) "$FREDIS_PID"; }

# runs SYSTEM COUNT PREFIX: COUNT runs (channels for Nchan); writes
# PREFIX.urls (one per run, the events URL) and PREFIX.targets (what the
# publisher writes to)
runs() {
    local sys=$1 count=$2 out=$3 i id
    : > "$out.urls"; : > "$out.targets"
    for i in $(seq "$count"); do
        case $sys in
        opstream)
            id=$(curl -s -X POST -H 'Content-Type: application/json' \
                --data '{"type":"sleep","input":{"seconds":1}}' "$OPS/api/v1/runs" | jq -r .id)
            echo "$OPS/api/v1/runs/$id/events" >> "$out.urls"; echo "$id" >> "$out.targets" ;;
        nchan)
            id="b$RANDOM$RANDOM$i"
            echo "$NCH/sub/$id" >> "$out.urls"; echo "$NCH/pub/$id" >> "$out.targets" ;;
        fastapi)
            id=$(curl -s -X POST -H 'Content-Type: application/json' --data '{"type":"bench","input":{}}' \
                "$FA/api/v1/runs" | jq -r .id)
            echo "$FA/api/v1/runs/$id/events" >> "$out.urls"; echo "peer:run:$id" >> "$out.targets" ;;
        esac
    done
}
# spread URLS N: N stream URLs over the runs, round-robin
spread() { awk -v n="$2" '{ u[NR] = $0 } END { for (i = 0; i < n; i++) print u[i % NR + 1] }' "$1"; }
# Each publishes its own way: opstream as its jobs do (the append script,
# straight to Redis), Nchan over its publisher HTTP endpoint, the FastAPI
# peer as its own background tasks do (XADD straight to Redis).
kind() { case $1 in opstream) echo bus ;; fastapi) echo xadd ;; *) echo "$1" ;; esac; }
pids_of() { case $1 in opstream) ops_pids ;; nchan) nchan_pids ;; fastapi) fapi_pids ;; esac; }
export REDIS="unix:$T/redis.sock" REDIS_HOST=127.0.0.1 REDIS_PORT=$FREDIS
read -r -a SYSTEMS <<< "${SYSTEMS:-nchan fastapi opstream}"
ONLY=${ONLY:-worker fan hot burst requests kill announce}
doing() { [[ " $ONLY " == *" $1 "* ]]; }
has() { [[ " ${SYSTEMS[*]} " == *" $1 "* ]]; }
declare -A R

# streaming KEY SYS RUNS STREAMS RATE SECS_MORE [loadgen options]: STREAMS
# streams over RUNS new runs of SYS, RATE events/s for SECS; the result
# goes to R[KEY.SYS]
# quiet: until the machine is idle again (under 10% of its CPU busy over
# a second; at most 60 s), so that no workload pays for the one before
# it, another system's teardown included
quiet() {
    local i a b
    for i in $(seq 60); do
        a=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
        sleep 1
        b=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
        awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
            exit !((y[1] - x[1]) < 0.10 * (y[2] - x[2])) }' && return 0
    done
    echo "run.sh: the machine did not settle within 60 s" >&2
}
streaming() {
    local key=$1 sys=$2 nruns=$3 nstreams=$4 rate=$5 more=$6
    shift 6
    runs "$sys" "$nruns" "$T/$key.$sys"
    spread "$T/$key.$sys.urls" "$nstreams" > "$T/$key.$sys.streams"
    quiet
    R[$key.$sys]=$("$LOADGEN" streams "$T/$key.$sys.streams" $((SECS + more)) \
        --publish "$(kind "$sys")" "$T/$key.$sys.targets" "$rate" "$SECS" "$@")
    echo "${R[$key.$sys]}" >&2
}
# The worker workload: runs created and executed end to end, opstream's
# worker (its defaults) beside the peer's in-process tasks; one-event
# countdowns from 50 connections for 10 s, then the time until the last
# has ended. Then for each N of WORKER_MEMORY_RUNS, opstream's worker with
# N sleep runs at once: how much its PSS grew per run over its own idle
# PSS (the jobs' own processes not counted). First, so that no run
# another workload leaves queued is executed meanwhile.
WORKER_MEMORY_RUNS=${WORKER_MEMORY_RUNS:-1000 10000}
CHATTY_RUNS=${CHATTY_RUNS:-16}
CHATTY_EVENTS=${CHATTY_EVENTS:-2000}
PEER_ACTIVE='local n = 0 for _, k in ipairs(redis.call("KEYS", "peer:meta:*")) do
  if redis.call("HGET", k, "status") ~= "succeeded" then n = n + 1 end end return n'
# drained T0_MS SYS: seconds from T0_MS until SYS's last run had ended
# (null after 600 s)
drained() {
    local t0=$1 sys=$2 left=
    for _ in $(seq 6000); do
        if [ "$sys" = opstream ]; then
            left=$(ledger_sql "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running', 'input_required')")
        else
            left=$(redis-cli -p "$FREDIS" EVAL "$PEER_ACTIVE" 0)
        fi
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    [ "$left" = 0 ] || { echo null; return; }
    if [ "$sys" = opstream ]; then
        ledger_sql "SELECT (MAX(finished_at) - $t0) / 1000.0 FROM runs"
    else
        awk -v a="$t0" -v b="$(date +%s%3N)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'
    fi
}
if doing worker; then
    for sys in fastapi opstream; do
        has "$sys" || continue
        base=$([ "$sys" = opstream ] && echo "$OPS" || echo "$FA")
        [ "$sys" = opstream ] && start_worker
        echo "==> $sys: one-event runs created and executed, 50 connections, 10 s" >&2
        quiet
        t0=$(date +%s%3N)
        R[exec.$sys]=$("$LOADGEN" http POST "$base/api/v1/runs" '{"type":"countdown","input":{"n":1,"interval_ms":0}}' 50 10)
        secs=$(drained "$t0" "$sys")
        R[exec.$sys]=$(jq -c --argjson s "${secs:-null}" \
            '. + {drained_s: $s, executed_rps: (if $s == null or $s == 0 then null else (.ok / $s * 10 | round / 10) end)}' \
            <<< "${R[exec.$sys]}")
        echo "${R[exec.$sys]}" >&2
    done
    # Many chatty jobs at once: CHATTY_RUNS countdowns of CHATTY_EVENTS
    # events each at full speed, every event kept (opstream: archived in
    # the ledger); events/s from the first create to the last end.
    for sys in fastapi opstream; do
        has "$sys" || continue
        base=$([ "$sys" = opstream ] && echo "$OPS" || echo "$FA")
        echo "==> $sys: $CHATTY_RUNS runs of $CHATTY_EVENTS events each at full speed, at once" >&2
        quiet
        t0=$(date +%s%3N)
        for _ in $(seq "$CHATTY_RUNS"); do
            curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' \
                -d "{\"type\":\"countdown\",\"input\":{\"n\":$CHATTY_EVENTS,\"interval_ms\":0}}" \
                "$base/api/v1/runs"
        done
        secs=$(drained "$t0" "$sys")
        R[chatty.$sys]=$(jq -nc --argjson s "${secs:-null}" --argjson n $((CHATTY_RUNS * CHATTY_EVENTS)) \
            '{events: $n, drained_s: $s, events_per_s: (if $s == null or $s == 0 then null else ($n / $s | round) end)}')
        echo "${R[chatty.$sys]}" >&2
    done
    for runs in $WORKER_MEMORY_RUNS; do
        has opstream || break
        runs=$(n "$runs")
        kill -TERM "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true
        { grep -Ev '^(worker_jobs|shutdown_grace_ms|max_active_runs_per_owner)' "$T/opstream.conf"
          echo "worker_jobs = $runs"; echo "shutdown_grace_ms = 0"
          echo "max_active_runs_per_owner = 0"; } > "$T/memory.conf"
        chmod 600 "$T/memory.conf"
        "$WORKER" -c "$T/memory.conf" 2>> "$T/worker.log" &
        WORKER_PID=$!; PIDS+=($WORKER_PID)
        pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$WORKER_PID/smaps_rollup"; }
        ready() { [ "$(grep -c "opstream-worker\[$WORKER_PID\] info: ready" "$T/worker.log")" = 1 ]; }
        wait_until "the worker to be ready" 20 ready
        idle=$(pss_kib)
        echo "==> opstream: $runs sleep runs at once on one worker" >&2
        for _ in $(seq "$runs"); do
            printf 'url = "%s"\nrequest = POST\nheader = "Content-Type: application/json"\n' "$OPS/api/v1/runs"
            printf 'data = "{\\"type\\":\\"sleep\\",\\"input\\":{\\"seconds\\":900}}"\noutput = "/dev/null"\nnext\n'
        done | sed '$d' > "$T/sleeps.curl"
        curl -sS -Z --parallel-max 32 -K "$T/sleeps.curl" > /dev/null 2>&1
        all_running() { [ "$(ledger_sql "SELECT COUNT(*) FROM runs WHERE status = 'running'")" = "$runs" ]; }
        wait_until "$runs running sleep runs" 300 all_running
        pss=$(pss_kib)
        R[memory.worker.$runs]=$(jq -nc --argjson i "$idle" --argjson p "$pss" --argjson n "$runs" \
            '{idle_pss_kib: $i, pss_kib: $p, runs: $n, per_run_kib: (($p - $i) / $n * 10 | round / 10)}')
        echo "${R[memory.worker.$runs]}" >&2
        kill -TERM "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
        ledger_sql "UPDATE runs SET status = 'cancelled' WHERE status IN ('queued', 'running', 'input_required')" > /dev/null
    done
fi

for sys in "${SYSTEMS[@]}"; do
    if doing fan; then
        echo "==> $sys: fan-out ($FAN_STREAMS streams over $FAN_RUNS runs, $FAN_RATE events/s, ${SECS}s)" >&2
        streaming fan "$sys" "$FAN_RUNS" "$FAN_STREAMS" "$FAN_RATE" 60
    fi
    if doing hot; then
        echo "==> $sys: hot runs ($HOT_RUNS runs x $HOT_VIEWERS viewers, $HOT_RATE events/s)" >&2
        streaming hot "$sys" "$HOT_RUNS" $((HOT_RUNS * HOT_VIEWERS)) "$HOT_RATE" 60
    fi
    if doing burst; then
        echo "==> $sys: burst of $BURST_STREAMS streams, then all cut and reconnected at once" >&2
        streaming burst "$sys" "$BURST_RUNS" "$BURST_STREAMS" 500 120 \
            --cut $((SECS * 500)) --pids "$(pids_of "$sys")"
    fi
done

# The limit: a FastCGI responder that answers 200 {} at once, shaped as
# opstream's (2 processes of 4 threads), behind a lighttpd of the same
# configuration.
if has opstream && doing requests; then
    "$NULL_FCGI" "$T/null.sock" 2 4 2>> "$T/null.log" &
    PIDS+=($!)
    wait_until "the null responder's socket" 10 test -S "$T/null.sock"
    mkdir -p "$T/null"
    NULL_PORT=$(free_port)
    OPSTREAM_PORT=$NULL_PORT OPSTREAM_WWW=$abs_top_srcdir/www OPSTREAM_STATE=$T/null OPSTREAM_SOCKET=$T/null.sock \
        lighttpd -D -f "$abs_top_srcdir/fcgi-conf/lighttpd.conf" 2>> "$T/null.log" &
    PIDS+=($!)
    NULL_BASE=http://127.0.0.1:$NULL_PORT
    wait_until "lighttpd before the null responder" 30 curl -sf -o /dev/null "$NULL_BASE/api/v1/health"
    echo "==> the null responder: POST and GET, 50 connections, 10 s each" >&2
    quiet
    R[create.null]=$("$LOADGEN" http POST "$NULL_BASE/api/v1/runs" '{"type":"sleep","input":{"seconds":1}}' 50 10)
    echo "${R[create.null]}" >&2
    R[status.null]=$("$LOADGEN" http GET "$NULL_BASE/api/v1/runs/x" "" 50 10)
    echo "${R[status.null]}" >&2
fi

for sys in fastapi opstream; do
    has "$sys" && doing requests || continue
    base=$([ "$sys" = opstream ] && echo "$OPS" || echo "$FA")
    body=$([ "$sys" = opstream ] && echo '{"type":"sleep","input":{"seconds":1}}' || echo '{"type":"bench","input":{}}')
    echo "==> $sys: create and status, 50 connections, 10 s each" >&2
    quiet
    R[create.$sys]=$("$LOADGEN" http POST "$base/api/v1/runs" "$body" 50 10)
    echo "${R[create.$sys]}" >&2
    runs "$sys" 1 "$T/one.$sys"
    url=$(sed 's|/events$||' "$T/one.$sys.urls")
    R[status.$sys]=$("$LOADGEN" http GET "$url" "" 50 10)
    echo "${R[status.$sys]}" >&2
done

# The same create and status over a ledger that holds PREFILL more ended
# runs of the same owner (and their events): what a year of history does.
if [ -n "${PREFILL:-}" ] && has opstream && doing requests; then
    echo "==> opstream: $PREFILL ended runs into the ledger" >&2
    base=$(ledger_sql "SELECT MAX(seq) FROM runs")
    owner=$(ledger_sql "SELECT owner FROM runs LIMIT 1")
    ledger_sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $PREFILL)
        INSERT INTO runs (id, owner, type, status, input, created_at, updated_at, finished_at, seq,
                          last_event_id)
        SELECT 'fill' || i, '$owner', 'sleep', 'succeeded', '{}', i, i, i, $base + i, i || '-2' FROM n"
    ledger_sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $PREFILL),
        k(j, t) AS (VALUES (0, 'run_queued'), (1, 'run_started'), (2, 'run_finished'))
        INSERT INTO events (run_id, ms, seq, type, data) SELECT 'fill' || i, i, j, t, '{}' FROM n, k"
    echo "==> opstream over $PREFILL more runs: create and status, 50 connections, 10 s each" >&2
    quiet
    R[create.filled]=$("$LOADGEN" http POST "$OPS/api/v1/runs" '{"type":"sleep","input":{"seconds":1}}' 50 10)
    echo "${R[create.filled]}" >&2
    R[status.filled]=$("$LOADGEN" http GET "$(sed 's|/events$||' "$T/one.opstream.urls")" "" 50 10)
    echo "${R[status.filled]}" >&2
    if doing worker; then
        # The worker workload again over it: the creates above cancelled
        # and off the queue first, so that only the new runs are executed.
        ledger_sql "UPDATE runs SET status = 'cancelled' WHERE status IN ('queued', 'running', 'input_required')" > /dev/null
        redis-cli -s "$T/redis.sock" DEL opstream:queue "opstream:type:{sleep}:waiting" > /dev/null
        start_worker
        echo "==> opstream over $PREFILL more runs: one-event runs created and executed" >&2
        quiet
        t0=$(date +%s%3N)
        R[exec.filled]=$("$LOADGEN" http POST "$OPS/api/v1/runs" '{"type":"countdown","input":{"n":1,"interval_ms":0}}' 50 10)
        secs=$(drained "$t0" opstream)
        R[exec.filled]=$(jq -c --argjson s "${secs:-null}" \
            '. + {drained_s: $s, executed_rps: (if $s == null or $s == 0 then null else (.ok / $s * 10 | round / 10) end)}' \
            <<< "${R[exec.filled]}")
        echo "${R[exec.filled]}" >&2
        kill -TERM "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true
    fi
fi

# The same create with a replica attached to opstream's Redis: every
# append waits until the replica has it (WAIT), as under Sentinel.
if [ "${REPLICA:-}" = 1 ] && has opstream && doing requests; then
    rport=$(free_port)
    redis-cli -s "$T/redis.sock" CONFIG SET bind 127.0.0.1 > /dev/null
    redis-cli -s "$T/redis.sock" CONFIG SET port "$rport" > /dev/null
    redis-server --port 0 --unixsocket "$T/replica.sock" --dir "$T" --dbfilename replica.rdb --save '' \
        --appendonly no --replicaof 127.0.0.1 "$rport" > "$T/replica.log" 2>&1 &
    REPLICA_PID=$!
    synced() { redis-cli -s "$T/replica.sock" INFO replication | grep -q '^master_link_status:up'; }
    wait_until "the replica to sync" 30 synced
    echo "==> opstream, a replica attached: create, 50 connections, 10 s" >&2
    quiet
    R[create.replica]=$("$LOADGEN" http POST "$OPS/api/v1/runs" '{"type":"sleep","input":{"seconds":1}}' 50 10)
    echo "${R[create.replica]}" >&2
    kill "$REPLICA_PID"
    wait "$REPLICA_PID" 2>/dev/null || true
    # Again without it: what the ledger's growth alone costs meanwhile.
    echo "==> opstream, the replica gone: create, 50 connections, 10 s" >&2
    quiet
    R[create.unreplicated]=$("$LOADGEN" http POST "$OPS/api/v1/runs" '{"type":"sleep","input":{"seconds":1}}' 50 10)
    echo "${R[create.unreplicated]}" >&2
fi

# The same create and status with the ledger on PostgreSQL: the
# responders start again on a config that names it.
if [ "$BENCH_LEDGER" = postgresql ] && has opstream && doing requests; then
    kill -TERM "$FCGI_PID"
    wait "$FCGI_PID" 2>/dev/null || true
    LEDGER=postgresql
    start_postgres
    sed -i "s|^database = .*|database = $(ledger_url)|" "$T/opstream.conf"
    rm -f "$SOCK"
    start_fcgi
    wait_until "opstream on PostgreSQL" 30 sh -c "curl -sf '$OPS/api/v1/health' | grep -q '\"ledger_engine\":\"postgresql\"'"
    echo "==> opstream, ledger on PostgreSQL: create and status, 50 connections, 10 s each" >&2
    quiet
    R[create.pg]=$("$LOADGEN" http POST "$OPS/api/v1/runs" '{"type":"sleep","input":{"seconds":1}}' 50 10)
    echo "${R[create.pg]}" >&2
    runs opstream 1 "$T/one.pg"
    R[status.pg]=$("$LOADGEN" http GET "$(sed 's|/events$||' "$T/one.pg.urls")" "" 50 10)
    echo "${R[status.pg]}" >&2
fi

# Every append is announced to every responder of the installation: the
# announcements of runs a responder does not hold are what it pays for
# the others. Its hub holds 200 streams (so it listens), and hears
# ANNOUNCE_RATE announcements/s of 1,000 runs nobody follows here.
if has opstream && doing announce; then
    echo "==> opstream: $ANNOUNCE_RATE announcements/s of runs not held, 200 streams held, ${SECS}s" >&2
    runs opstream 10 "$T/ann"
    spread "$T/ann.urls" 200 > "$T/ann.streams"
    for i in $(seq 1000); do printf 'elsewhere%013d\n' "$i"; done > "$T/ann.targets"
    quiet
    R[announce.opstream]=$("$LOADGEN" streams "$T/ann.streams" $((SECS + 5)) \
        --publish announce "$T/ann.targets" "$ANNOUNCE_RATE" "$SECS" --cpu "$(fcgi_pids fcgi-responder | tr '\n' ' ')")
    echo "${R[announce.opstream]}" >&2
fi

victims() { # the processes serving streams: the one serving the most is SIGKILLed
    case $1 in
    opstream) fcgi_pids fcgi-responder | tr '\n' ' ' ;;
    nchan) pgrep -P "$NGINX_PID" | tr '\n' ' ' ;;
    fastapi) pgrep -P "$FAPI_PID" | tr '\n' ' ' ;;
    esac
}
for sys in "${SYSTEMS[@]}"; do
    doing kill || continue
    echo "==> $sys: a serving process SIGKILLed under 20 streams" >&2
    runs "$sys" 1 "$T/kill.$sys"
    spread "$T/kill.$sys.urls" 20 > "$T/kill.$sys.streams"
    R[kill.$sys]=$("$LOADGEN" streams "$T/kill.$sys.streams" 30 \
        --publish "$(kind "$sys")" "$T/kill.$sys.targets" 100 8 --kill "$(victims "$sys")")
    echo "${R[kill.$sys]}" >&2
    if [ "$sys" = opstream ]; then wait_until "responders replaced" 20 sh -c "[ \$(pgrep -c -f 'opstream.fcgi -c $T/') -ge 4 ]"; fi
done

# ---- the table ----
j() { jq -r "$2" <<< "${R[$1]:-{\}}" 2>/dev/null || echo '?'; }
# ratio A B: A / B for two measured figures; "—" for anything else (a
# pair like "p50 / p99", -1 for "none was cut", a missing figure)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { num = "^[0-9]+([.][0-9]+)?$"; if (a !~ num || b !~ num || b + 0 == 0) print "—"; else printf "%.2f", a / b }'; }
mem() { j "$1" '((.rss1_kib - .rss0_kib) / .streams * 100 | round / 100)'; }
row() { # row LABEL NCHAN FASTAPI OPSTREAM [lower|higher]
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$(ratio "$4" "$2")" "$(ratio "$4" "$3")"
}
echo
echo "opstream bench, $(date -u +%Y-%m-%d), $(nproc) cores; SCALE=$SCALE, ${SECS}s per streaming workload"
echo
echo "| workload | Nchan | FastAPI peer | opstream | opstream / Nchan | opstream / FastAPI |"
echo "|---|---|---|---|---|---|"
for k in fan hot; do
    label=$([ $k = fan ] && echo "fan-out $FAN_STREAMS streams / $FAN_RUNS runs / $FAN_RATE ev/s" || echo "hot runs $HOT_RUNS x $HOT_VIEWERS, $HOT_RATE ev/s")
    row "$label: p50 ms" "$(j $k.nchan .p50_ms)" "$(j $k.fastapi .p50_ms)" "$(j $k.opstream .p50_ms)"
    row "$label: p99 ms" "$(j $k.nchan .p99_ms)" "$(j $k.fastapi .p99_ms)" "$(j $k.opstream .p99_ms)"
    row "$label: publisher ev/s reached" "$(j $k.nchan .publish_rate)" "$(j $k.fastapi .publish_rate)" "$(j $k.opstream .publish_rate)"
    row "$label: events lost / repeated" "$(j $k.nchan '"\(.gaps)/\(.repeats)"')" "$(j $k.fastapi '"\(.gaps)/\(.repeats)"')" "$(j $k.opstream '"\(.gaps)/\(.repeats)"')"
done
row "burst of $BURST_STREAMS: answered 200" "$(j burst.nchan .answered_200)" "$(j burst.fastapi .answered_200)" "$(j burst.opstream .answered_200)"
row "burst: ms until all open" "$(j burst.nchan .open_ms)" "$(j burst.fastapi .open_ms)" "$(j burst.opstream .open_ms)"
row "reconnect storm: ms until all open again" "$(j burst.nchan .storm_ms)" "$(j burst.fastapi .storm_ms)" "$(j burst.opstream .storm_ms)"
row "reconnect storm: ended / lost / repeated" "$(j burst.nchan '"\(.ended)/\(.gaps)/\(.repeats)"')" "$(j burst.fastapi '"\(.ended)/\(.gaps)/\(.repeats)"')" "$(j burst.opstream '"\(.ended)/\(.gaps)/\(.repeats)"')"
row "memory per open stream, all-in KiB" "$(mem burst.nchan)" "$(mem burst.fastapi)" "$(mem burst.opstream)"
if [ -n "${R[exec.opstream]:-}${R[exec.fastapi]:-}" ]; then
    row "one-event runs, created with a worker executing them, 50 conns: created/s" "—" "$(j exec.fastapi .rps)" "$(j exec.opstream .rps)"
    row "the same runs executed end to end, first create to last end: runs/s" "—" "$(j exec.fastapi .executed_rps)" "$(j exec.opstream .executed_rps)"
fi
if [ -n "${R[chatty.opstream]:-}${R[chatty.fastapi]:-}" ]; then
    row "$CHATTY_RUNS runs of $CHATTY_EVENTS events at full speed at once, first create to last end: events/s" "—" "$(j chatty.fastapi .events_per_s)" "$(j chatty.opstream .events_per_s)"
fi
for runs in $WORKER_MEMORY_RUNS; do
    if [ -n "${R[memory.worker.$runs]:-}" ]; then
        row "worker memory per running sleep run, $runs at once: PSS KiB over its idle PSS" "—" "—" "$(j "memory.worker.$runs" .per_run_kib)"
    fi
done
row "create, 50 conns: req/s" "—" "$(j create.fastapi .rps)" "$(j create.opstream .rps)"
row "create: p50 / p99 ms" "—" "$(j create.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j create.opstream '"\(.p50_ms) / \(.p99_ms)"')"
row "status, 50 conns: req/s" "—" "$(j status.fastapi .rps)" "$(j status.opstream .rps)"
row "status: p50 / p99 ms" "—" "$(j status.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j status.opstream '"\(.p50_ms) / \(.p99_ms)"')"
if [ -n "${R[create.null]:-}" ]; then
    row "the limit: a null FastCGI responder, POST, 50 conns: req/s" "—" "—" "$(j create.null .rps)"
    row "create as a share of the null responder's POST" "—" "—" "$(ratio "$(j create.opstream .rps)" "$(j create.null .rps)")"
    row "the limit: a null FastCGI responder, GET, 50 conns: req/s" "—" "—" "$(j status.null .rps)"
    row "status as a share of the null responder's GET" "—" "—" "$(ratio "$(j status.opstream .rps)" "$(j status.null .rps)")"
fi
if [ -n "${R[create.filled]:-}" ]; then
    row "create, $PREFILL more runs in the ledger: req/s" "—" "$(j create.fastapi .rps)" "$(j create.filled .rps)"
    row "create, $PREFILL more: p50 / p99 ms" "—" "$(j create.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j create.filled '"\(.p50_ms) / \(.p99_ms)"')"
    row "status, $PREFILL more runs in the ledger: req/s" "—" "$(j status.fastapi .rps)" "$(j status.filled .rps)"
    row "status, $PREFILL more: p50 / p99 ms" "—" "$(j status.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j status.filled '"\(.p50_ms) / \(.p99_ms)"')"
    if [ -n "${R[exec.filled]:-}" ]; then
        row "one-event runs created with the worker executing them, $PREFILL more runs: created/s" "—" "$(j exec.fastapi .rps)" "$(j exec.filled .rps)"
        row "the same executed end to end, $PREFILL more runs: runs/s" "—" "$(j exec.fastapi .executed_rps)" "$(j exec.filled .executed_rps)"
    fi
fi
if [ -n "${R[create.replica]:-}" ]; then
    row "create, a Redis replica attached, 50 conns: req/s" "—" "$(j create.fastapi .rps)" "$(j create.replica .rps)"
    row "create, replica: p50 / p99 ms" "—" "$(j create.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j create.replica '"\(.p50_ms) / \(.p99_ms)"')"
    row "create, the replica gone again, 50 conns: req/s" "—" "$(j create.fastapi .rps)" "$(j create.unreplicated .rps)"
    row "create, replica gone: p50 / p99 ms" "—" "$(j create.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j create.unreplicated '"\(.p50_ms) / \(.p99_ms)"')"
fi
if [ -n "${R[create.pg]:-}" ]; then
    row "create, ledger on PostgreSQL, 50 conns: req/s" "—" "$(j create.fastapi .rps)" "$(j create.pg .rps)"
    row "create, PostgreSQL: p50 / p99 ms" "—" "$(j create.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j create.pg '"\(.p50_ms) / \(.p99_ms)"')"
    row "status, ledger on PostgreSQL, 50 conns: req/s" "—" "$(j status.fastapi .rps)" "$(j status.pg .rps)"
    row "status, PostgreSQL: p50 / p99 ms" "—" "$(j status.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j status.pg '"\(.p50_ms) / \(.p99_ms)"')"
fi
if [ -n "${R[announce.opstream]:-}" ]; then
    row "hearing $(j announce.opstream .publish_rate) announcements/s of runs held elsewhere: CPU per responder, % of a core (mean / max)" "—" "—" "$(j announce.opstream '"\(.cpu_mean_pct) / \(.cpu_max_pct)"')"
fi
row "SIGKILL of a serving process: ms to a cut stream's next event" "$(j kill.nchan .resumed_ms)" "$(j kill.fastapi .resumed_ms)" "$(j kill.opstream .resumed_ms)"
row "  (streams cut / lost / repeated)" "$(j kill.nchan '"\(.kill_victims)/\(.gaps)/\(.repeats)"')" "$(j kill.fastapi '"\(.kill_victims)/\(.gaps)/\(.repeats)"')" "$(j kill.opstream '"\(.kill_victims)/\(.gaps)/\(.repeats)"')"
