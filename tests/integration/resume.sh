#!/usr/bin/env bash
# input_required and resume: the run waits with the job's schema, resume
# input is checked against it, reaches the job as its next stdin line, and
# only one resume wins.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
use_asker
start_stack
json=(-H 'Content-Type: application/json')

run=$(create_run '{"type":"asker"}')
wait_until "the run waits for input" 20 run_is "$run" input_required
api GET "/v1/runs/$run" > /dev/null
check_eq "pending_input holds the job's schema" '["answer"]' "$(jq -c .pending_input.schema.required "$T/body")"
check_eq "and its prompt" "your answer?" "$(jq -r .pending_input.prompt "$T/body")"

api POST "/v1/runs/$run/resume" "${json[@]}" --data '{"input":{}}' > /dev/null
check_eq "input not valid for the job's schema: 422" "422 invalid_input" "$(status) $(jq -r .code "$T/body")"
check_eq "the detail names the path" "/input/answer: is required" "$(jq -r .detail "$T/body")"
api POST "/v1/runs/$run/resume" "${json[@]}" --data '{"input":{"answer":"x"},"also":1}' > /dev/null
check_eq "an unknown field: 422" "422 unknown_field" "$(status) $(jq -r .code "$T/body")"
api POST "/v1/runs/$run/resume" "${json[@]}" --data '{"answer":"x"}' > /dev/null
check_eq "no input at all: 422" 422 "$(status)"
api POST "/v1/runs/$run/resume" "${json[@]}" --data '{"input":' > /dev/null
check_eq "malformed JSON: 400" 400 "$(status)"
check "bad resumes leave the run waiting" run_is "$run" input_required

# Two resumes at once: exactly one wins.
racers=()
for i in 1 2; do
    curl -sS -o "$T/r$i" -w '%{http_code}\n' "${json[@]}" --data "{\"input\":{\"answer\":\"forty-two-$i\"}}" \
        "$BASE/api/v1/runs/$run/resume" > "$T/code$i" &
    racers+=($!)
done
wait "${racers[@]}"
check_eq "two concurrent resumes: one 202 and one 409" "202 409" "$(cat "$T/code1" "$T/code2" | sort | tr '\n' ' ' | sed 's/ $//')"
winner=$(for i in 1 2; do if [ "$(cat "$T/code$i")" = 202 ]; then echo "forty-two-$i"; fi; done)

api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
check_eq "the run succeeded" succeeded "$(jq -r .status "$T/body")"
check_eq "the job got the winner's input on its stdin" "$winner" "$(jq -r .result.reply.answer "$T/body")"
check_eq "pending_input is cleared" null "$(jq -r .pending_input "$T/body")"
timeout 10 curl -sN "$BASE/api/v1/runs/$run/events" | sed -n 's/^event: //p' > "$T/events"
check_eq "events: input_required, one input_received, run_finished" "input_required input_received run_finished" \
    "$(grep -E '^(input_required|input_received|run_finished)$' "$T/events" | tr '\n' ' ' | sed 's/ $//')"

api POST "/v1/runs/$run/resume" "${json[@]}" --data '{"input":{"answer":"late"}}' > /dev/null
check_eq "resume a finished run: 409" "409 not_waiting_for_input" "$(status) $(jq -r .code "$T/body")"
busy=$(create_run '{"type":"countdown","input":{"n":20,"interval_ms":100}}')
wait_until "countdown running" 20 run_is "$busy" running
api POST "/v1/runs/$busy/resume" "${json[@]}" --data '{"input":{}}' > /dev/null
check_eq "resume a run that did not ask: 409" 409 "$(status)"

# A run waiting for input can be cancelled.
asked=$(create_run '{"type":"asker"}')
wait_until "second asker waits" 20 run_is "$asked" input_required
api POST "/v1/runs/$asked/cancel?wait=1" -d '' > /dev/null
check_eq "cancel while waiting for input: cancelled" "200 cancelled" "$(status) $(jq -r .status "$T/body")"
finish
