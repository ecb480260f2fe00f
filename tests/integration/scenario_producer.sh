#!/usr/bin/env bash
# Scenario (a test-scenario runner): the job starts a scenario on an
# outside system and waits for it; that system reports each step's state
# through publish with the run's producer credential while a viewer
# follows the stream; the job then writes the result. The viewer sees the
# steps in the order published, and the snapshot holds every step's state.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
mkfifo "$T/scenario.done"
# The job: waits for the outside system's "done" line, then reports.
add_type scenario "read -r input; read -r summary < '$T/scenario.done'; echo \"{\\\"event\\\":\\\"result\\\",\\\"data\\\":\$summary}\""
AUTH=token start_stack
token=$("$BIN/opstream" -c "$T/opstream.conf" token create qa)
auth=(-H "Authorization: Bearer $token")

api POST /v1/runs "${auth[@]}" -H 'Content-Type: application/json' \
    --data '{"type":"scenario","input":{"suite":"checkout"},"producer_token":true}' > /dev/null
run=$(jq -r .id "$T/body")
producer=$(jq -r .producer_token "$T/body")
link=$(jq -r .links.events "$T/body")
follow "$BASE$link" "$T/viewer" > "$T/follow.log" 2>&1 &
viewer=$!
wait_until "the scenario runs" 20 sh -c "curl -s -H 'Authorization: Bearer $token' '$BASE/api/v1/runs/$run' | jq -e '.status == \"running\"' > /dev/null"

# The outside system: three steps, the second fails, with progress.
publish() {
    curl -sS -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $producer" \
        -H 'Content-Type: application/json' --data "$1" "$BASE/api/v1/runs/$run/events"
}
{
    publish '{"event":"step_started","data":{"name":"login"}}'
    publish '{"event":"step_finished","data":{"name":"login","status":"passed"}}'
    publish '{"event":"progress","data":{"current":1,"total":3}}'
    publish '{"event":"step_started","data":{"name":"add to cart"}}'
    publish '{"event":"step_finished","data":{"name":"add to cart","status":"failed","message":"button missing"}}'
    publish '{"event":"progress","data":{"current":2,"total":3}}'
    publish '{"event":"step_started","data":{"name":"pay"}}'
} > "$T/codes"
check_eq "every publish was taken (202)" "7 202" "$(sort "$T/codes" | uniq -c | awk '{print $1, $2}')"
api GET "/v1/runs/$run" "${auth[@]}" > /dev/null
check_eq "mid-scenario, the snapshot shows each step's state and the progress" \
    '[["login","passed"],["add to cart","failed"],["pay","running"]] {"current":2,"total":3}' \
    "$(jq -c -r '"\([.steps[] | [.name, .status]] | tojson) \(.progress | tojson)"' "$T/body")"
publish '{"event":"step_finished","data":{"name":"pay","status":"skipped"}}' > /dev/null
publish '{"event":"progress","data":{"current":3,"total":3}}' > /dev/null
echo '{"passed":1,"failed":1,"skipped":1}' > "$T/scenario.done"

api GET "/v1/runs/$run/wait?timeout=30" "${auth[@]}" > /dev/null
check_eq "the job ends the run with its result" 'succeeded {"passed":1,"failed":1,"skipped":1}' \
    "$(jq -c -r '"\(.status) \(.result | tojson)"' "$T/body")"
check_eq "the snapshot keeps the last step states" '[["login","passed",null],["add to cart","failed","button missing"],["pay","skipped",null]]' \
    "$(jq -c '[.steps[] | [.name, .status, .message]]' "$T/body")"
wait "$viewer"
check_eq "the viewer saw the published steps in order, between the run's start and end" \
    "run_queued run_started step_started step_finished progress step_started step_finished progress step_started step_finished progress run_finished" \
    "$(cut -f2 "$T/viewer" | tr '\n' ' ' | sed 's/ $//')"
check "the viewer's event ids strictly increase" ids_increase "$T/viewer"
publish '{"event":"step_started","data":{"name":"late"}}' > "$T/late"
check_eq "after the end the producer is refused: 409" 409 "$(cat "$T/late")"
finish
