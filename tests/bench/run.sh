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
ONLY=${ONLY:-fan hot burst requests kill announce}
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

victim() { # a process serving streams, to SIGKILL
    case $1 in
    opstream) set -- $(fcgi_pids fcgi-responder); echo "$1" ;;
    nchan) set -- $(pgrep -P "$NGINX_PID"); echo "$1" ;;
    fastapi) set -- $(pgrep -P "$FAPI_PID"); echo "${!#}" ;;
    esac
}
for sys in "${SYSTEMS[@]}"; do
    doing kill || continue
    echo "==> $sys: a serving process SIGKILLed under 20 streams" >&2
    runs "$sys" 1 "$T/kill.$sys"
    spread "$T/kill.$sys.urls" 20 > "$T/kill.$sys.streams"
    R[kill.$sys]=$("$LOADGEN" streams "$T/kill.$sys.streams" 30 \
        --publish "$(kind "$sys")" "$T/kill.$sys.targets" 100 8 --kill "$(victim "$sys")")
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
row "create, 50 conns: req/s" "—" "$(j create.fastapi .rps)" "$(j create.opstream .rps)"
row "create: p50 / p99 ms" "—" "$(j create.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j create.opstream '"\(.p50_ms) / \(.p99_ms)"')"
row "status, 50 conns: req/s" "—" "$(j status.fastapi .rps)" "$(j status.opstream .rps)"
row "status: p50 / p99 ms" "—" "$(j status.fastapi '"\(.p50_ms) / \(.p99_ms)"')" "$(j status.opstream '"\(.p50_ms) / \(.p99_ms)"')"
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
