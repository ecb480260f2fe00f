#!/usr/bin/env bash
# Redis under Sentinel: a primary, a replica and three sentinels on
# loopback, and redis = sentinel://...: every connection asks the
# sentinels for the master. The primary is SIGKILLed mid-run while a
# viewer follows: the sentinels promote the replica, the stack finds it,
# the viewer resumes, and the run ends once; its old primary, back, is a
# replica that nothing writes to.
. "$(dirname "$0")/lib.sh"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
P1=$(free_port) P2=$(free_port)
S=("$(free_port)" "$(free_port)" "$(free_port)")
server() { # server PORT DIR [ARGS]: a Redis on loopback, its AOF in DIR
    local port=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save '' \
        --logfile "$dir/redis.log" "$@" &
    PIDS+=($!)
}
server "$P1" "$T/r1"
PRIMARY=$!
wait_until "the primary" 10 redis-cli -p "$P1" ping
server "$P2" "$T/r2" --replicaof 127.0.0.1 "$P1"
linked() { redis-cli -p "$P2" INFO replication | grep -q 'master_link_status:up'; }
wait_until "the replica's link" 20 linked
for i in 0 1 2; do
    cat > "$T/sentinel$i.conf" <<CONF
port ${S[$i]}
bind 127.0.0.1
dir $T
logfile $T/sentinel$i.log
sentinel monitor m 127.0.0.1 $P1 2
sentinel down-after-milliseconds m 1000
sentinel failover-timeout m 10000
CONF
    redis-server "$T/sentinel$i.conf" --sentinel &
    PIDS+=($!)
done
# Each sentinel sees the replica and the others before anything fails.
ready() {
    local i
    for i in 0 1 2; do
        redis-cli -p "${S[$i]}" SENTINEL replicas m | grep -qx "$P2" || return 1
        [ "$(redis-cli -p "${S[$i]}" SENTINEL sentinels m | grep -c '^runid$')" -eq 2 ] || return 1
    done
}
wait_until "the sentinels" 30 ready
master_port() { redis-cli -p "${S[0]}" SENTINEL get-master-addr-by-name m | tail -n 1; }

write_config <<CONF
lease_ms = 2000
CONF
sed -i "s|^redis = .*|redis = sentinel://127.0.0.1:${S[0]},127.0.0.1:${S[1]},127.0.0.1:${S[2]}/m|" "$T/opstream.conf"
start_lighttpd
start_worker
check_eq "health: Redis found through the sentinels" ok "$(api GET /v1/health | jq -r .redis)"

run=$(create_run '{"type":"countdown","input":{"n":40,"interval_ms":100}}')
follow "$BASE/api/v1/runs/$run/events" "$T/viewer" > "$T/follow.log" 2>&1 &
viewer=$!
PIDS+=($viewer)
progressed() { [ "$(awk -F'\t' '$2 == "progress"' "$T/viewer" 2>/dev/null | wc -l)" -ge 10 ]; }
wait_until "10 events seen" 30 progressed
kill -KILL "$PRIMARY"
check "the sentinels promote the replica" wait_until "the failover" 30 sh -c "[ \"\$(redis-cli -p ${S[0]} SENTINEL get-master-addr-by-name m | tail -n 1)\" = $P2 ]"
check "the viewer follows the run to its end" wait "$viewer"
check_stream_complete "$T/viewer" 40
check_eq "the run succeeded" succeeded "$(run_status "$run")"
check_eq "one run_finished in the archive" 1 \
    "$(ledger_sql "SELECT COUNT(*) FROM events WHERE run_id = '$run' AND type = 'run_finished'")"

# The old primary comes back: the sentinels make it a replica of the new
# one, and the stack goes on writing to the master alone.
server "$P1" "$T/r1"
demoted() { redis-cli -p "$P1" ROLE | head -n 1 | grep -qx slave; }
check "the old primary is a replica now" wait_until "the old primary's demotion" 30 demoted
run2=$(create_run '{"type":"countdown","input":{"n":3,"interval_ms":10}}')
follow "$BASE/api/v1/runs/$run2/events" "$T/viewer2" > /dev/null 2>&1
check_stream_complete "$T/viewer2" 3
check_eq "a run after the failover succeeds" succeeded "$(run_status "$run2")"
finish
