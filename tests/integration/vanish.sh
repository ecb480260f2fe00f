#!/usr/bin/env bash
# 100 clients open a stream and vanish without reading a byte: within one
# keepalive interval nothing of theirs is left in the responders. Open,
# they cost a descriptor each in the stream hub, and neither a thread nor
# a Redis connection.
. "$abs_top_srcdir/tests/integration/lib.sh"
KEEPALIVE_MS=2000 start_stack

responders() { fcgi_pids fcgi-responder; }
threads() { for p in $(responders); do awk '$1=="Threads:"{print $2}' "/proc/$p/status"; done | awk '{s+=$1} END{print s+0}'; }
# Sockets only: a stream is one, and the ledger's files (a SQLite
# connection opened anew holds three) are not the streams' to count.
fds() { for p in $(responders); do find "/proc/$p/fd" -lname 'socket:*' | wc -l; done | awk '{s+=$1} END{print s+0}'; }
clients() { redis-cli -s "$T/redis.sock" INFO clients | awk -F: '$1=="connected_clients"{print $2+0}'; }
now_ms() { date +%s%3N; }

# A responder says "ready" once its request threads hold their
# connections: the baseline is taken after that.
warm() { [ "$(grep -c 'responder ready' "$T/fcgi.log")" -ge 2 ] && [ "$(responders | wc -l)" -eq 2 ]; }
wait_until "responders ready" 30 warm
run=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":60000}}')
wait_until "a quiet run" 20 run_is "$run" running
base_threads=$(threads)
base_clients=$(clients)
base_fds=$(fds)

fds=()
for i in $(seq 100); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'GET /api/v1/runs/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n' "$run" >&"$fd"
    fds+=("$fd")
done
open_all() { [ "$(fds)" -ge $((base_fds + 100)) ] && [ "$(threads)" -le $((base_threads + 2)) ]; }
check "100 streams are open, in the hub (a descriptor each)" wait_until "100 streams" 30 open_all
check "they hold no thread: $(threads) threads, $base_threads before" test "$(threads)" -le $((base_threads + 2))
check "they hold no Redis connection: $(clients) clients, $base_clients before" test "$(clients)" -le $((base_clients + 2))

for fd in "${fds[@]}"; do exec {fd}>&-; done
gone_at=$(now_ms)
# The 100 streams' descriptors must be gone. A responder's own ledger and
# Redis connections may be closed and opened again between two counts,
# so 4 either way pass.
freed() { [ "$(fds)" -le $((base_fds + 4)) ] && [ "$(threads)" -le "$base_threads" ] && [ "$(clients)" -le "$base_clients" ]; }
while ! freed && [ $(( $(now_ms) - gone_at )) -le 2000 ]; do sleep 0.05; done
took=$(( $(now_ms) - gone_at ))
echo "# freed after $took ms (keepalive 2000 ms): $(fds) descriptors ($base_fds before), $(threads) threads ($base_threads), $(clients) Redis clients ($base_clients)"
check "no descriptor, thread or Redis connection is left after one keepalive interval" freed
check_eq "the run itself is untouched" running "$(run_status "$run")"
finish
