#!/usr/bin/env bash
# A run of 2,000 events read by a client with EventSource's reconnect
# rules while every responder process is SIGKILLed every 300 ms: every
# event arrives exactly once, in order, and the client stops on 204.
#
# A kill that lands in the ~0.6 ms between a responder taking a request
# and sending its headers makes lighttpd answer 500 (which would stop
# EventSource); reconnects come retry_ms after a cut, well clear of the
# next kill, as they do for a browser. The kills come every 300 ms: a
# responder just started (its stream hub and request threads connecting)
# takes up to ~150 ms to serve its first request in an instrumented build,
# and a kill is to cut streams, not to land on a reconnect by design.
. "$abs_top_srcdir/tests/integration/lib.sh"
# The reconnection time EventSource is told to use: short, so the run is
# read through many reconnects.
start_stack <<'CONF'
retry_ms = 100
CONF
master=$(fcgi_pids fcgi-master)

run=$(create_run '{"type":"countdown","input":{"n":2000,"interval_ms":4}}')
follow "$BASE/api/v1/runs/$run/events" "$T/got" > "$T/follow.out" 2>&1 &
FOLLOW=$!

wait_until "the client is reading" 20 sh -c "grep -q '^event: progress' '$T/got.seg'"
kills=0
deadline=$((SECONDS + 120))
while kill -0 "$FOLLOW" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    for pid in $(fcgi_pids fcgi-responder); do
        kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
    done
    sleep 0.3  # the interval under test, not a wait for anything
done
check "the client reached the end (204)" wait "$FOLLOW"
cat "$T/follow.out"
echo "# responder processes killed: $kills"
check "responders were killed many times over" test "$kills" -ge 20
check_stream_complete "$T/got" 2000
check "the master outlived every kill" kill -0 "$master"
finish
