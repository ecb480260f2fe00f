#!/usr/bin/env bash
# Scenario (an agent chat): each message is a run on the conversation's
# thread. The user stops an answer mid-way and keeps what it had written
# (its partial result); a message sent while an answer runs, with
# multitask_strategy interrupt, stops that answer, and the new one starts
# only once the old one has ended.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
# Writes a token every 50 ms; stopped, its answer so far is its result.
add_type agent 'read -r input
said=""
trap '"'"'read -r told; echo "{\"event\":\"result\",\"data\":{\"partial\":true,\"text\":\"$said\",\"told\":$told}}"; exit 143'"'"' TERM
i=0
while [ $i -lt 400 ]; do i=$((i + 1)); said="$said w$i"; echo "{\"event\":\"token\",\"data\":{\"text\":\"w$i\"}}"; sleep 0.05; done
echo "{\"event\":\"result\",\"data\":{\"partial\":false,\"text\":\"$said\"}}"'
start_stack
json=(-H 'Content-Type: application/json')
send() { # send MESSAGE [STRATEGY]: a new run on the conversation's thread
    create_run "{\"type\":\"agent\",\"thread_id\":\"conv-1\",\"input\":{\"message\":\"$1\"}${2:+,\"multitask_strategy\":\"$2\"}}"
}
tokens() { api GET "/v1/runs/$1/events?types=token&limit=1000" -H 'Accept: application/json' | jq '.data | length'; }
has_tokens() { [ "$(tokens "$1")" -ge "$2" ]; }

# The user stops the first answer after a few tokens.
first=$(send "plan my week")
wait_until "the answer streams" 20 has_tokens "$first" 5
api POST "/v1/runs/$first/cancel?wait=1" "${json[@]}" --data '{"reason":"user pressed stop"}' > /dev/null
check_eq "stopped: cancelled, with its partial answer as the result" "cancelled true" \
    "$(jq -r '"\(.status) \(.result.partial)"' "$T/body")"
check_eq "the partial answer is every token it streamed, in order" \
    "$(api GET "/v1/runs/$first/events?types=token&limit=1000" -H 'Accept: application/json' | jq -r '[.data[].data.text] | join(" ")')" \
    "$(api GET "/v1/runs/$first" | jq -r '.result.text | ltrimstr(" ")')"
check_eq "run_finished carries it too" true \
    "$(api GET "/v1/runs/$first/events?types=run_finished" -H 'Accept: application/json' | jq -r '.data[0].data.result.partial')"

# A second message while the next answer runs: interrupt.
second=$(send "and next week?")
wait_until "the second answer streams" 20 has_tokens "$second" 3
third=$(send "actually, only Monday" interrupt)
check_eq "the third waits for the thread: queued behind the second" "queued true" \
    "$(api GET "/v1/runs/$third/events?types=run_queued" -H 'Accept: application/json' | jq -r '"queued \(.data[0].data.waiting_for_thread)"')"
api GET "/v1/runs/$third/wait?timeout=60" > /dev/null
check_eq "the third answered in full" "succeeded false" "$(jq -r '"\(.status) \(.result.partial)"' "$T/body")"
third_started=$(time_ms "$(jq -r .started_at "$T/body")")
api GET "/v1/runs/$second" > /dev/null
check_eq "the second was interrupted, keeping its partial answer" "cancelled true" \
    "$(jq -r '"\(.status) \(.result.partial)"' "$T/body")"
check "the interruption said why" sh -c "echo '$(jq -c .error "$T/body")' | grep -q 'interrupted by a newer run'"
second_ended=$(time_ms "$(jq -r .finished_at "$T/body")")
echo "# the third started $((third_started - second_ended)) ms after the second ended"
check "the third started only after the second had ended" test "$third_started" -ge "$second_ended"
check_eq "the thread's runs, newest first" "$third $second $first" \
    "$(api GET "/v1/runs?thread_id=conv-1" | jq -r '[.data[].id] | join(" ")')"
finish
