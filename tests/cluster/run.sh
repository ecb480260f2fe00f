#!/usr/bin/env bash
# make check-cluster: three hosts, each a network namespace of its own with
# lighttpd, opstream.fcgi and a worker; one PostgreSQL host; a Redis
# primary (h1) and replica (h2) with three sentinels (h1, h2, h3); nginx as
# the balancer in front, sending every request, stream reconnects
# included, round-robin. All on one bridge in a namespace of its own
# (10.213.7.0/24): nothing of it is reachable from the machine's network,
# and everything is stopped and removed at the end, also on failure.
#
# Checked, with events counted by id on the client side:
#   - a run created through h1 is read, streamed, cancelled and resumed
#     through h2 and h3;
#   - the Redis primary SIGKILLed mid-run under 30 viewers: the sentinels
#     promote the replica, every viewer gets every event once, in order;
#   - a whole host dies mid-run (every process SIGKILLed, its link down):
#     its run is taken over by another host's worker within two leases,
#     and 100 viewers through the balancer get every event once, in order,
#     and one run_finished.
. "$abs_top_srcdir/tests/integration/lib.sh"

P=os$$                      # the namespaces' and links' prefix
NET=10.213.7
declare -A IP=([h1]=$NET.1 [h2]=$NET.2 [h3]=$NET.3 [db]=$NET.10 [lb]=$NET.20 [cl]=$NET.30)
HOSTS=(h1 h2 h3)
LEASE_MS=4000

net_up() {
    ip netns add "${P}sw"
    ip -n "${P}sw" link add br0 type bridge
    ip -n "${P}sw" link set br0 up
    local h
    for h in "${!IP[@]}"; do
        ip netns add "$P$h"
        ip link add "$P${h}a" type veth peer name "$P${h}b"
        ip link set "$P${h}a" netns "${P}sw"
        ip link set "$P${h}b" netns "$P$h"
        ip -n "${P}sw" link set "$P${h}a" master br0 up
        ip -n "$P$h" link set "$P${h}b" name eth0
        ip -n "$P$h" addr add "${IP[$h]}/24" dev eth0
        ip -n "$P$h" link set eth0 up
        ip -n "$P$h" link set lo up
    done
}
net_down() {
    local ns
    for ns in $(ip netns list | awk -v p="$P" 'index($1, p) == 1 {print $1}'); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
}
trap 'rc=$?; set +e; net_down; (exit $rc); cleanup' EXIT
# on HOST COMMAND...: runs COMMAND on HOST (its namespace, and its own
# host name, which a worker records on the runs it claims).
on() {
    local h=$1
    shift
    ip netns exec "$P$h" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$h" "$@"
}
net_up

# ---- PostgreSQL on db ----
PG_DIR=$(mktemp -d /tmp/opstream-pg.XXXXXX)
chown postgres: "$PG_DIR"
as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U opstream --auth=trust -N > "$T/initdb.log" 2>&1
echo "host all all $NET.0/24 trust" >> "$PG_DIR/data/pg_hba.conf"
start_db() {
    on db setpriv --reuid=postgres --regid=postgres --clear-groups -- \
        "$PG_BIN/postgres" -D "$PG_DIR/data" -k "$PG_DIR" -c listen_addresses="${IP[db]}" \
        -c fsync=off -c max_connections=400 >> "$T/postgres.log" 2>&1 &
    DB_PID=$!
    PIDS+=($DB_PID)
    wait_until "postgres" 30 "$PG_BIN/pg_isready" -q -h "$PG_DIR"
}
start_db
psql_ledger -d postgres -c "CREATE DATABASE opstream" > /dev/null

# ---- Redis: primary on h1, replica on h2, sentinels on every host ----
# Off loopback Redis wants a password (its protected mode): one for the
# servers, which the sentinels and opstream are given.
PASS=cluster-$RANDOM$RANDOM
redis_on() { # redis_on HOST [ARGS]
    local h=$1
    shift
    mkdir -p "$T/$h/redis"
    on "$h" redis-server --port 6379 --bind "${IP[$h]}" --dir "$T/$h/redis" --appendonly yes \
        --save '' --logfile "$T/$h/redis.log" --requirepass "$PASS" --masterauth "$PASS" "$@" &
    PIDS+=($!)
}
rcli() { on cl redis-cli --no-auth-warning -a "$PASS" "$@"; }
mkdir -p "$T/h1" "$T/h2" "$T/h3" "$T/lb"
redis_on h1
wait_until "the primary" 10 rcli -h "${IP[h1]}" ping
redis_on h2 --replicaof "${IP[h1]}" 6379
linked() { rcli -h "${IP[h2]}" INFO replication | grep -q 'master_link_status:up'; }
wait_until "the replica's link" 20 linked
for h in "${HOSTS[@]}"; do
    cat > "$T/$h/sentinel.conf" <<CONF
port 26379
bind ${IP[$h]}
protected-mode no
dir $T/$h
logfile $T/$h/sentinel.log
sentinel monitor opstream ${IP[h1]} 6379 2
sentinel auth-pass opstream $PASS
sentinel down-after-milliseconds opstream 1000
sentinel failover-timeout opstream 10000
CONF
    on "$h" redis-server "$T/$h/sentinel.conf" --sentinel &
    PIDS+=($!)
done
sentinels_ready() {
    local h
    for h in "${HOSTS[@]}"; do
        on cl redis-cli -h "${IP[$h]}" -p 26379 SENTINEL replicas opstream | grep -qx "${IP[h2]}" || return 1
        [ "$(on cl redis-cli -h "${IP[$h]}" -p 26379 SENTINEL sentinels opstream | grep -c '^runid$')" -eq 2 ] || return 1
    done
}
wait_until "the sentinels" 30 sentinels_ready
# master: where the sentinels say the master is (the first that answers;
# a dead host's does not).
master() {
    local h m
    for h in h3 h1 h2; do
        m=$(on cl timeout 1 redis-cli -h "${IP[$h]}" -p 26379 SENTINEL get-master-addr-by-name opstream \
            2> /dev/null | head -n 1)
        [ -z "$m" ] || { echo "$m"; return 0; }
    done
}

# ---- opstream on h1, h2, h3 ----
JOBTYPES_DIR=$T/types
mkdir -p "$JOBTYPES_DIR"
cp "$abs_top_srcdir"/src/jobs/*.json "$JOBTYPES_DIR/"
add_retrying_countdown retrying
use_asker
KEEPALIVE_MS=4000 write_config <<CONF
lease_ms = $LEASE_MS
retry_ms = 500
redis_password = $PASS
CONF
sentinels=$(printf '%s:26379,' "${IP[h1]}" "${IP[h2]}" "${IP[h3]}")
sed -i -e "s|^redis = .*|redis = sentinel://${sentinels%,}/opstream|" \
    -e "s|^database = .*|database = postgresql://opstream@${IP[db]}/opstream|" "$T/opstream.conf"
on cl "$BIN/opstream" -c "$T/opstream.conf" init > /dev/null
printf 'include "%s"\nserver.bind := "0.0.0.0"\n' "$abs_top_srcdir/fcgi-conf/lighttpd.conf" > "$T/lighttpd.conf"
# start_host HOST: its responders, web server and worker, as script/server
# runs them: opstream.fcgi under script/supervise (which holds its socket
# and starts a master anew when one dies), the worker started again when
# it dies (until $T/stop), as systemd's Restart=always would.
start_host() {
    local h=$1
    rm -f "$T/$h/fcgi.sock"
    jq -n --arg sock "$T/$h/fcgi.sock" --arg fcgi "$FCGI" --arg conf "$T/opstream.conf" \
        --arg log "$T/$h/fcgi.log" \
        '{socket: {path: $sock, mode: "0600"},
          processes: [{name: "opstream.fcgi", socket: true, argv: [$fcgi, "-c", $conf], log: $log}]}' \
        > "$T/$h/supervise.json"
    on "$h" /usr/bin/python3 "$abs_top_srcdir/script/supervise" "$T/$h/supervise.json" \
        2>> "$T/$h/supervise.log" &
    PIDS+=($!)
    wait_until "$h's responders" 20 test -S "$T/$h/fcgi.sock"
    OPSTREAM_PORT=8080 OPSTREAM_WWW=$abs_top_srcdir/www OPSTREAM_STATE=$T/$h OPSTREAM_SOCKET=$T/$h/fcgi.sock \
        on "$h" lighttpd -D -f "$T/lighttpd.conf" 2>> "$T/$h/lighttpd.log" &
    PIDS+=($!)
    on "$h" sh -c 'while [ ! -e "$1/stop" ]; do "$2" -c "$1/opstream.conf" 2>> "$1/$3/worker.log"; done' \
        sh "$T" "$WORKER" "$h" 2> /dev/null &
    PIDS+=($!)
    wait_until "$h's web server" 30 sh -c "ip netns exec ${P}cl curl -sf -o /dev/null http://${IP[$h]}:8080/api/v1/health"
}
for h in "${HOSTS[@]}"; do start_host "$h"; done

# ---- the balancer ----
cat > "$T/lb/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T/lb/nginx.pid;
error_log $T/lb/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $T/lb/body;
    proxy_temp_path $T/lb/proxy;
    upstream opstream {
        server ${IP[h1]}:8080 fail_timeout=5s;
        server ${IP[h2]}:8080 fail_timeout=5s;
        server ${IP[h3]}:8080 fail_timeout=5s;
    }
    server {
        listen ${IP[lb]}:8080;
        location / {
            proxy_pass http://opstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 3600s;
            proxy_connect_timeout 1s;
        }
    }
}
CONF
on lb nginx -c "$T/lb/nginx.conf" -p "$T/lb" 2> "$T/lb/nginx.log" &
PIDS+=($!)
LB=http://${IP[lb]}:8080/api
wait_until "the balancer" 20 sh -c "ip netns exec ${P}cl curl -sf -o /dev/null $LB/v1/health"

# at HOST METHOD PATH [curl args]: a request to one host's web server (or
# lb), from the client host; body to stdout, status in $T/status
at() {
    local h=$1 method=$2 path=$3
    shift 3
    on cl curl -sS -m 30 -o "$T/body" -w '%{http_code}' -X "$method" "$@" \
        "http://${IP[$h]}:8080/api$path" > "$T/status" || true
    cat "$T/body"
}
create_at() { at "$1" POST /v1/runs -H 'Content-Type: application/json' --data "$2" | jq -r .id; }
status_at() { at "$1" GET "/v1/runs/$2" | jq -r .status; }
# follow_at HOST RUN OUT: the run's stream through HOST, as frames()
follow_at() { on cl bash -c "$(declare -f follow frames); follow http://${IP[$1]}:8080/api/v1/runs/$2/events $3"; }

# ---- one run, four hosts' worth of requests ----
run=$(create_at h1 '{"type":"asker","input":{}}')
waiting() { [ "$(status_at h2 "$run")" = input_required ]; }
check "a run created through h1 is read through h2" wait_until "input_required" 30 waiting
at h3 POST "/v1/runs/$run/resume" -H 'Content-Type: application/json' --data '{"input":{"answer":"yes"}}' > /dev/null
check_eq "and resumed through h3" 202 "$(cat "$T/status")"
follow_at h2 "$run" "$T/asked" > /dev/null
check_eq "its stream through h2 holds every event once, in order, the end last" \
    "run_queued run_started input_required input_received run_finished" \
    "$(cut -f2 "$T/asked" | grep -v '^log$' | tr '\n' ' ' | sed 's/ $//')"
check "event ids strictly increase" ids_increase "$T/asked"
check_eq "it succeeded, as h1 sees it" succeeded "$(status_at h1 "$run")"
long=$(create_at h1 '{"type":"countdown","input":{"n":100,"interval_ms":100}}')
started() { [ "$(status_at h3 "$long")" = running ]; }
wait_until "the long run starts" 30 started
at h3 POST "/v1/runs/$long/cancel?wait=1" -H 'Content-Type: application/json' --data '{}' > /dev/null
check_eq "a run created through h1 is cancelled through h3" 200 "$(cat "$T/status")"
follow_at h2 "$long" "$T/cancelled" > /dev/null
check_eq "and its stream through h2 ends with one run_finished, cancelled" "1 cancelled" \
    "$(grep -c '	run_finished	' "$T/cancelled") $(grep '	run_finished	' "$T/cancelled" | cut -f3 | jq -r .status)"

# the canonical event list of a run, through the balancer's JSON form
canonical() {
    local after=0-0 page
    while :; do
        page=$(on cl curl -sS -m 30 -H 'Accept: application/json' "$LB/v1/runs/$1/events?after=$after&limit=1000")
        jq -r '.data[] | "\(.id) \(.event)"' <<< "$page"
        after=$(jq -r '.next_cursor // empty' <<< "$page")
        [ -n "$after" ] || break
    done
}
# check_viewers FILE RUN: every viewer saw the canonical list, whole
check_viewers() {
    local file=$1 run=$2 n i bad=0
    canonical "$run" > "$T/canonical.$run"
    n=$(jq length "$file")
    for ((i = 0; i < n; i++)); do
        if [ "$(jq -r ".[$i].stopped // \"\"" "$file")" != "" ] ||
           ! diff -q "$T/canonical.$run" <(jq -r ".[$i].events[] | \"\(.[0]) \(.[1])\"" "$file") > /dev/null; then
            bad=$((bad + 1))
            [ "$bad" -gt 1 ] || { echo "# viewer $i:"; jq -c ".[$i] | {stopped, connections, n: (.events | length)}" "$file"; }
        fi
    done
    echo "# $n viewers, $(jq '[.[].connections] | add' "$file") connections, $(wc -l < "$T/canonical.$run") events each"
    check_eq "all $n viewers saw every event once, in order" 0 "$bad"
    check_eq "one run_finished, last" "1 run_finished" \
        "$(grep -c ' run_finished$' "$T/canonical.$run") $(tail -n 1 "$T/canonical.$run" | cut -d' ' -f2)"
    check "ids strictly increase" sh -c "cut -d' ' -f1 '$T/canonical.$run' | sort -t- -k1,1n -k2,2n -c"
}

# ---- the Redis primary SIGKILLed mid-run, viewers attached ----
run=$(create_at lb '{"type":"retrying","input":{"n":60,"interval_ms":100}}')
on cl /usr/bin/python3 "$abs_top_srcdir/tests/cluster/viewers.py" 30 "$LB/v1/runs/$run/events" 120 \
    "$T/viewers.redis.json" &
viewers=$!
PIDS+=($viewers)
progressed() { [ "$(canonical "$run" | grep -c ' progress$')" -ge 15 ]; }
wait_until "15 events" 30 progressed
primary=$(master)
pkill -KILL -f "redis-server ${IP[h1]}:6379\$" # (one PID space: the primary's title names it)
promoted() { [ "$(master)" = "${IP[h2]}" ]; }
check "the primary on $primary is gone; the sentinels promote h2" wait_until "the failover" 30 promoted
check "the viewers follow the run to its end" wait "$viewers"
check_viewers "$T/viewers.redis.json" "$run"
# The old primary comes back, a replica of the new one, so that a host
# may die next without taking the last Redis with it.
redis_on h1
relinked() { rcli -h "${IP[h1]}" INFO replication | grep -q 'master_link_status:up'; }
check "the old primary is back as a replica" wait_until "h1's replica link" 30 relinked

# ---- a whole host dies mid-run ----
run=$(create_at lb '{"type":"retrying","input":{"n":80,"interval_ms":100}}')
on cl /usr/bin/python3 "$abs_top_srcdir/tests/cluster/viewers.py" 100 "$LB/v1/runs/$run/events" 180 \
    "$T/viewers.host.json" &
viewers=$!
PIDS+=($viewers)
wait_until "15 events" 30 progressed
victim=$(psql_ledger -d opstream -c "SELECT worker_host FROM runs WHERE id = '$run'")
echo "# the run is on $victim; it dies"
died=$(date +%s%3N)
# As a power cut: its link first, so that nothing it held is closed
# cleanly (no FIN reaches Redis or PostgreSQL), then its processes.
ip -n "$P$victim" link set eth0 down
ip netns pids "$P$victim" | xargs -r kill -KILL
# Taken over: another host's worker found its lease out and queued it
# again (worker_lost), or has claimed it already.
taken() {
    [ "$(psql_ledger -d opstream -c "SELECT CASE WHEN status = 'queued' OR worker_host <> '$victim'
        THEN 1 ELSE 0 END FROM runs WHERE id = '$run'")" = 1 ]
}
wait_until "another host takes the run" 30 taken
took=$(( $(date +%s%3N) - died ))
echo "# taken over after $took ms (lease $LEASE_MS ms)"
check "taken over within two leases" test "$took" -le $((2 * LEASE_MS))
again() { [ "$(psql_ledger -d opstream -c "SELECT attempt FROM runs WHERE id = '$run'")" -ge 2 ]; }
wait_until "the run's next attempt" 30 again
check "and run on by another host" test "$(psql_ledger -d opstream -c "SELECT worker_host FROM runs WHERE id = '$run'")" != "$victim"
check "the viewers follow the run to its end" wait "$viewers"
check_viewers "$T/viewers.host.json" "$run"
check_eq "the run succeeded" succeeded "$(status_at lb "$run")"

# ---- the chaos soak across the hosts ----
# The dead host comes back: its link, its Redis (a replica of the current
# master), its sentinel, its opstream.
revive() { # revive HOST
    local h=$1
    ip -n "$P$h" link set eth0 up
    if [ "$h" != h3 ]; then
        redis_on "$h" --replicaof "$(master)" 6379
        wait_until "$h's replica link" 30 sh -c "ip netns exec ${P}cl redis-cli --no-auth-warning -a '$PASS' -h ${IP[$h]} INFO replication | grep -q master_link_status:up"
    fi
    on "$h" redis-server "$T/$h/sentinel.conf" --sentinel &
    start_host "$h"
}
revive "$victim"
# What the soak (tests/chaos/soak.py) does to the hosts besides killing
# their processes, one at a time, each returning once all is back:
#   host      a random host dies whole (every process, its link), and
#             comes back once the sentinels have a master elsewhere;
#   redis     the Redis primary is SIGKILLed: a failover, then the old
#             one comes back as a replica;
#   postgres  PostgreSQL stops at once (SIGQUIT, as a crash) and starts
#             again, recovering from its WAL;
#   redis-cli ARGS: asks the current master.
{
    echo '#!/usr/bin/env bash'
    echo 'set -u'
    declare -p P NET IP HOSTS T PASS PG_DIR PG_BIN FCGI WORKER abs_top_srcdir LB
    echo 'PIDS=()'
    declare -f on redis_on master start_host start_db revive wait_until
    cat <<'SH'
away() { ! ip netns exec "${P}cl" redis-cli -h "$1" -p 6379 --no-auth-warning -a "$PASS" ping > /dev/null 2>&1; }
elsewhere() { [ "$(master)" != "$1" ] && [ -n "$(master)" ]; }
# (Its own output and that of what it starts go to a log: the soak reads
# this program's output to its end.)
[ "$1" = redis-cli ] || exec >> "$T/chaos.log" 2>&1
case $1 in
host)
    h=${HOSTS[$((RANDOM % 3))]}
    ip -n "$P$h" link set eth0 down
    ip netns pids "$P$h" | xargs -r kill -KILL
    wait_until "a master off $h" 60 elsewhere "${IP[$h]}" || exit 1
    revive "$h" || exit 1
    echo "host $h" ;;
redis)
    m=$(master)
    for h in h1 h2; do [ "${IP[$h]}" = "$m" ] && break; done
    pkill -KILL -f "redis-server $m:6379\$"
    wait_until "the failover off $h" 60 elsewhere "$m" || exit 1
    redis_on "$h" --replicaof "$(master)" 6379
    wait_until "$h's replica link" 60 sh -c "ip netns exec ${P}cl redis-cli --no-auth-warning -a '$PASS' -h $m INFO replication | grep -q master_link_status:up" || {
        ip netns exec "${P}cl" redis-cli --no-auth-warning -a "$PASS" -h "$m" INFO replication
        echo "master: $(master)"
        exit 1
    }
    echo "redis $h" ;;
postgres)
    pid=$(head -n 1 "$PG_DIR/data/postmaster.pid")
    kill -QUIT "$pid"
    while kill -0 "$pid" 2> /dev/null; do sleep 0.05; done
    start_db || exit 1
    echo postgres ;;
redis-cli)
    shift
    ip netns exec "${P}cl" redis-cli --no-auth-warning -a "$PASS" -h "$(master)" "$@" ;;
*) exit 2 ;;
esac
SH
} > "$T/chaos"
chmod +x "$T/chaos"
SOAK_SECONDS=${CLUSTER_SOAK_SECONDS:-120}
echo "# the chaos soak across the hosts, ${SOAK_SECONDS} s"
rc=0
# Every kind of kill in turn: PostgreSQL, the Redis primary, a whole host.
on cl env SOAK_PG_HOST="${IP[db]}" SOAK_CHAOS="$T/chaos" SOAK_CHAOS_ACTIONS="${CLUSTER_SOAK_ACTIONS:-postgres redis host}" \
    /usr/bin/python3 "$abs_top_srcdir/tests/chaos/soak.py" "$LB" "$T" "$SOAK_SECONDS" \
    > "$T/soak.out" 2> "$T/soak.log" || rc=$?
cat "$T/soak.out"
[ "$rc" -eq 0 ] || { echo "--- violations"; grep violation "$T/soak.log" | head -n 30; }
check_eq "the soak across the hosts: 0 violations" 0 "$rc"
for what in ${CLUSTER_SOAK_ACTIONS:-postgres redis host}; do
    check "it killed at least one $what" grep -Eq "SIGKILLed [^;]*\b$what [1-9]" "$T/soak.out"
done
finish
