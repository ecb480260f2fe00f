#!/usr/bin/env bash
# A JSON events page filtered by types reads the stream in batches, not
# one entry per Redis round trip, and still stops where the page is full.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
# 3,000 ticks, then one needle.
add_type haystack "yes '{\"event\":\"tick\",\"data\":{}}' | head -n 3000; echo '{\"event\":\"needle\",\"data\":{\"n\":1}}'"
start_stack
run=$(create_run '{"type":"haystack"}')
api GET "/v1/runs/$run/wait?timeout=30" > /dev/null
check_eq "the haystack ran" succeeded "$(jq -r .status "$T/body")"
# Its end settles (archiving what Redis holds, in reads of its own) before
# the reads are counted.
wait_until "the run to be settled" 20 run_settled "$run"
xreads() { redis-cli -s "$T/redis.sock" INFO commandstats | sed -n 's/^cmdstat_xread:calls=\([0-9]*\),.*/\1/p'; }
before=$(xreads)
api GET "/v1/runs/$run/events?types=needle&limit=1" -H 'Accept: application/json' > /dev/null
after=$(xreads)
check_eq "the needle is found" 1 "$(jq '.data[0].data.n' "$T/body")"
echo "# XREAD calls for a filtered page over 3,003 entries: $((after - before))"
check "in a handful of round trips" test $((after - before)) -le 5
api GET "/v1/runs/$run/events?types=tick&limit=10" -H 'Accept: application/json' > /dev/null
check_eq "a page stops where it is full" 10 "$(jq '.data | length' "$T/body")"
cursor=$(jq -r .next_cursor "$T/body")
api GET "/v1/runs/$run/events?types=tick&limit=10&after=$cursor" -H 'Accept: application/json' > /dev/null
check_eq "and the next page goes on right after it" \
    "$(redis-cli -s "$T/redis.sock" XRANGE "opstream:{$run}:events" "($cursor" + COUNT 10 | grep -E '^[0-9]+-[0-9]+$' | tr '\n' ' ')" \
    "$(jq -r '.data[].id' "$T/body" | tr '\n' ' ')"
# A finished run read page by page: the page with its end has no
# next_cursor, so the client stops there.
pages=0 total=0 cursor=0-0
while [ -n "$cursor" ] && [ "$pages" -lt 10 ]; do
    api GET "/v1/runs/$run/events?limit=1000&after=$cursor" -H 'Accept: application/json' > /dev/null
    pages=$((pages + 1)) total=$((total + $(jq '.data | length' "$T/body")))
    cursor=$(jq -r '.next_cursor // empty' "$T/body")
done
check_eq "every event in 4 pages, the last without next_cursor and ending with run_finished" \
    "4 $(redis-cli -s "$T/redis.sock" XLEN "opstream:{$run}:events") run_finished" "$pages $total $(jq -r '.data[-1].event' "$T/body")"
api GET "/v1/runs/$run/events?types=needle&limit=10&after=$(redis-cli -s "$T/redis.sock" XRANGE "opstream:{$run}:events" - + COUNT 2000 | grep -E '^[0-9]+-[0-9]+$' | tail -n 1)" \
    -H 'Accept: application/json' > /dev/null
check_eq "a filtered page that reached the end: its events, next_cursor null" "1 null" \
    "$(jq -r '"\(.data | length) \(.next_cursor)"' "$T/body")"
api GET "/v1/runs/$run/events?types=tick&limit=5000" -H 'Accept: application/json' > /dev/null
check_eq "limit=5000 is capped at 1000, not refused" "200 1000" "$(status) $(jq '.data | length' "$T/body")"
finish
