#!/usr/bin/env bash
# Benchmark: the cost of open SSE streams. Opens N streams (default 200)
# on one quiet run through lighttpd, then reports the responder's memory
# and threads and Redis' clients and memory, per stream; then drops every
# client and measures how long the responder takes to free them.
# Loopback only, bounded in count and time; stops everything it started.
#   usage: tests/bench/open_streams.sh [N]     (after script/test or make)
set -euo pipefail
N=${1:-200}
[ "$N" -ge 1 ] && [ "$N" -le 2000 ] || { echo "N must be 1..2000" >&2; exit 2; }
abs_top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
abs_top_builddir=$abs_top_srcdir/build
export abs_top_srcdir abs_top_builddir
KEEPALIVE_MS=1000
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack

# The responders' figures are summed.
responders() { fcgi_pids fcgi-responder; }
sum_status() { for p in $(responders); do awk -v k="$1" '$1==k":"{print $2}' "/proc/$p/status"; done | awk '{s+=$1} END{print s+0}'; }
rss_kib() { sum_status VmRSS; }
threads() { sum_status Threads; }
redis_info() { redis-cli -s "$T/redis.sock" INFO "$1" | awk -F: -v k="$2" '$1==k{print $2+0}'; }

run=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":120000}}')
wait_until "run to start" 20 run_is "$run" running
base_rss=$(rss_kib); base_threads=$(threads)
base_clients=$(redis_info clients connected_clients); base_mem=$(redis_info memory used_memory)

mkdir -p "$T/streams"
CURLS=()
for i in $(seq "$N"); do
    curl -sN --max-time 120 "$BASE/api/v1/runs/$run/events" > "$T/streams/$i" &
    CURLS+=($!)
done
all_open() { [ "$(grep -l '^event: run_started' "$T"/streams/* 2>/dev/null | wc -l)" -ge "$N" ]; }
wait_until "$N streams open" 120 all_open
rss=$(rss_kib); thr=$(threads)
clients=$(redis_info clients connected_clients); mem=$(redis_info memory used_memory)

start_ms=$(date +%s%3N)
kill "${CURLS[@]}" 2>/dev/null || true
wait "${CURLS[@]}" 2>/dev/null || true
freed() { [ "$(threads)" -le "$base_threads" ] && [ "$(redis_info clients connected_clients)" -le "$base_clients" ]; }
wait_until "streams freed" 60 freed
freed_ms=$(( $(date +%s%3N) - start_ms ))

awk -v n="$N" -v r0="$base_rss" -v r1="$rss" -v t0="$base_threads" -v t1="$thr" \
    -v c0="$base_clients" -v c1="$clients" -v m0="$base_mem" -v m1="$mem" -v f="$freed_ms" 'BEGIN {
    printf "open streams:              %d\n", n
    printf "responder RSS:             %d KiB -> %d KiB (%.1f KiB per stream)\n", r0, r1, (r1 - r0) / n
    printf "responder threads:         %d -> %d\n", t0, t1
    printf "redis clients:             %d -> %d\n", c0, c1
    printf "redis used_memory:         %d KiB -> %d KiB (%.1f KiB per stream)\n", m0 / 1024, m1 / 1024, (m1 - m0) / 1024 / n
    printf "all freed after drop:      %d ms (keepalive 1000 ms)\n", f
}'
