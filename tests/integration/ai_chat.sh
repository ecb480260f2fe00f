#!/usr/bin/env bash
# The AI SDK's UI message stream: the chat routes its DefaultChatTransport
# uses, with ai's own Chat (tests/contract/ai_chat.mjs), and the same
# form of the events route (format=ui), read raw.
. "$abs_top_srcdir/tests/integration/lib.sh"
need_node_module ai
use_test_types
N=300
# A job that answers a chat: its input back as a data part, then N text
# deltas, a little apart.
add_type talker 'read -r input
printf "{\"event\":\"chat.input\",\"data\":%s}\n" "$input"
echo "{\"event\":\"text-start\",\"data\":{\"id\":\"t1\"}}"
i=1
while [ $i -le '"$N"' ]; do
  echo "{\"event\":\"text-delta\",\"data\":{\"id\":\"t1\",\"delta\":\"w$i \"}}"
  i=$((i + 1)); sleep 0.01
done
echo "{\"event\":\"text-end\",\"data\":{\"id\":\"t1\"}}"'
AUTH=token write_config < /dev/null
start_redis
start_lighttpd
start_worker
token=$("$BIN/opstream" -c "$T/opstream.conf" token create chatter)
if node "$abs_top_srcdir/tests/contract/ai_chat.mjs" "$BASE" "$token" "$N" > "$T/chat.out" 2>&1; then rc=0; else rc=1; fi
cat "$T/chat.out"
check "ai's Chat and DefaultChatTransport: every check passed" test "$rc" = 0

auth=(-H "Authorization: Bearer $token")
run=$(curl -s -X POST "${auth[@]}" -H 'Content-Type: application/json' \
    --data '{"type":"steps","input":{"steps":["a"],"delay_ms":0}}' "$BASE/api/v1/runs" | jq -r .id)
curl -sN --max-time 30 -D "$T/ui.head" "${auth[@]}" "$BASE/api/v1/runs/$run/events?format=ui" > "$T/ui.sse"
check "format=ui names the protocol in its header" grep -qi '^x-vercel-ai-ui-message-stream: v1' "$T/ui.head"
grep '^data: ' "$T/ui.sse" | cut -c7- > "$T/ui.chunks"
check_eq "the chunks: start (the run id), a data part per event, the end's, finish, [DONE]" \
    "start:$run data-run_started data-step_started data-progress data-step_finished data-run_finished finish [DONE]" \
    "$(sed '$d' "$T/ui.chunks" | jq -r 'if .type == "start" then "start:\(.messageId)" else .type end' | tr '\n' ' ')$(tail -n 1 "$T/ui.chunks")"
check "every chunk but [DONE] has its event's id" awk '/^data: \[DONE\]/{skip=1} /^id: /{ids++} /^data: /{data++} END{exit !(ids == data - 1)}' "$T/ui.sse"
last=$(grep '^id: ' "$T/ui.sse" | tail -n 1 | cut -c5-)
check_eq "resumed after the end: 204, as the events route" 204 \
    "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -H "Last-Event-ID: $last" "$BASE/api/v1/runs/$run/events?format=ui")"
check_eq "an unknown format: 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$BASE/api/v1/runs/$run/events?format=xml")"
failed=$(curl -s -X POST "${auth[@]}" -H 'Content-Type: application/json' --data '{"type":"broken"}' \
    "$BASE/api/v1/runs?format=ui" | grep '^data: ' | cut -c7- | tail -n 2 | head -n 1 | jq -c '{type, t: (.errorText | type)}')
check_eq "create-and-stream in the UI form; a failed run ends with error" '{"type":"error","t":"string"}' "$failed"
finish
