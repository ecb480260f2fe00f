#!/usr/bin/env bash
# Slow and half-sent FastCGI peers on a responder's unix socket and on its
# TCP socket: 24 that stop half-way through their head, 24 that trickle it
# a byte every 300 ms, 24 that send a whole head and then trickle their
# body, and one that declares a 64 MiB parameter after a lone
# BEGIN_REQUEST. Health, asked every 50 ms meanwhile over the same socket,
# answers in under 100 ms every time; the first two kinds are closed
# unanswered and the body tricklers answered 408, all within
# request_timeout_ms (plus 300 ms for the doorman's round and the
# client's own); the 64 MiB parameter is refused at once and costs the
# responder no memory of its size.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
request_timeout_ms = 2000
CONF
start_redis
start_socket_responders
healthy() { fcgi "$1" GET /api/v1/health | grep -q '^Status: 200'; }
wait_until "tcp responder" 20 healthy "127.0.0.1:$FPORT"
wait_until "unix responder" 20 healthy "$T/fcgi.sock"

responders() { fcgi_pids fcgi-responder | sort | tr '\n' ' '; }
rss_kib() { local pid sum=0; for pid in $(fcgi_pids fcgi-responder); do
    sum=$((sum + $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"))); done; echo "$sum"; }
before=$(responders)
limit=2.3
for addr in "$T/fcgi.sock" "127.0.0.1:$FPORT"; do
    kind=unix; [ "$addr" = "$T/fcgi.sock" ] || kind=tcp
    rss0=$(rss_kib)
    python3 "$abs_top_srcdir/tests/integration/slow_peers.py" "$addr" 2000 24 > "$T/$kind.json"
    rss1=$(rss_kib)
    r=$T/$kind.json
    echo "# $kind: health slowest $(jq .health_slowest_ms "$r") ms of $(jq .health_asked "$r");" \
         "closed after (s): half $(jq -c '[.results.half[].closed_s] | [min, max]' "$r")," \
         "trickle $(jq -c '[.results.trickle[].closed_s] | [min, max]' "$r")," \
         "body $(jq -c '[.results.body[].closed_s] | [min, max]' "$r")," \
         "huge $(jq -c '.results.huge[0]' "$r"); responders' RSS $rss0 -> $rss1 KiB"
    check "$kind: health answered every time in under 100 ms among 73 hostile peers" \
        jq -e '.health_failed == 0 and .health_asked >= 20 and .health_slowest_ms < 100' "$r"
    check "$kind: 24 peers that stopped half-way through their head were closed unanswered in time" \
        jq -e --argjson l "$limit" '.results.half | length == 24 and all(.closed_s != null and .closed_s <= $l and .status == null)' "$r"
    check "$kind: 24 peers trickling their head were closed unanswered in time" \
        jq -e --argjson l "$limit" '.results.trickle | length == 24 and all(.closed_s != null and .closed_s <= $l and .status == null)' "$r"
    check "$kind: 24 peers trickling their body were answered 408 in time" \
        jq -e --argjson l "$limit" '.results.body | length == 24 and all(.closed_s != null and .closed_s <= $l and .status == 408)' "$r"
    check "$kind: a 64 MiB parameter after a lone BEGIN_REQUEST was refused within a second" \
        jq -e '.results.huge[0].closed_s != null and .results.huge[0].closed_s < 1' "$r"
    check "$kind: and the responders grew by less than 16 MiB" test $((rss1 - rss0)) -lt 16384
done
check_eq "no responder process died" "$before" "$(responders)"
finish
