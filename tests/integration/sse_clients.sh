#!/usr/bin/env bash
# SSE clients from npm, unchanged, through three connections cut in the
# middle of an event (tests/contract/sse_clients.mjs): every event once,
# in order. An event's id is its last field, so a client that takes an id
# as soon as it reads it (fetch-event-source) never skips an event it did
# not get whole.
. "$abs_top_srcdir/tests/integration/lib.sh"
need_node_module @microsoft/fetch-event-source
need_node_module eventsource
AUTH=token start_stack <<'CONF'
retry_ms = 100
CONF
token=$("$BIN/opstream" -c "$T/opstream.conf" token create reader)
if node "$abs_top_srcdir/tests/contract/sse_clients.mjs" "$BASE" "$token" > "$T/clients.out" 2>&1; then rc=0; else rc=1; fi
cat "$T/clients.out"
check "fetch-event-source and eventsource: every check passed" test "$rc" = 0

# The stream honours types= as the JSON page does: only those events, and
# always the end.
run=$(curl -s -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data '{"type":"steps","input":{"steps":["a","b","c"]}}' "$BASE/api/v1/runs" | jq -r .id)
curl -sN --max-time 30 -H "Authorization: Bearer $token" "$BASE/api/v1/runs/$run/events?types=step_started" > "$T/filtered.sse"
check_eq "types=step_started: the three steps' starts, then the end" \
    "step_started step_started step_started run_finished" "$(frames "$T/filtered.sse" | cut -f2 | tr '\n' ' ' | sed 's/ $//')"
check_eq "types= that is too long: 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$BASE/api/v1/runs/$run/events?types=$(head -c 600 /dev/zero | tr '\0' a)")"
# Every event's id is its last field.
check "every frame ends with its id" awk '/^$/{ if (prev !~ /^id: / && prev !~ /^retry: / && prev !~ /^: /) bad=1 } {prev=$0} END{exit bad}' "$T/filtered.sse"
finish
