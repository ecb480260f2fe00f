#!/usr/bin/env bash
# Scenario (a lab-automation session): created through a "kind"
# discriminator, the session asks the operator for more inputs mid-run,
# takes the answer, writes partial files, and is cancelled with discard,
# which it acts on (its files go); without discard they stay.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
out=$T/lab-out
mkdir -p "$out"
script='read -r input
kind=$(printf "%s" "$input" | jq -r .kind)
dir='"$out"'/$OPSTREAM_RUN_ID
mkdir -p "$dir" && echo partial > "$dir/plate-1.csv"
echo "{\"event\":\"input_required\",\"data\":{\"prompt\":\"confirm the plate\",\"schema\":{\"type\":\"object\",\"required\":[\"confirm\",\"temperature_c\"],\"additionalProperties\":false,\"properties\":{\"confirm\":{\"type\":\"boolean\"},\"temperature_c\":{\"type\":\"number\",\"minimum\":4,\"maximum\":40},\"operator\":{\"type\":\"string\",\"minLength\":1}}}}}"
read -r answer
echo "{\"event\":\"output\",\"data\":{\"kind\":\"$kind\",\"answer\":$answer}}"
echo partial > "$dir/plate-2.csv"
trap '"'"'read -r told
if [ "$(printf "%s" "$told" | jq -r .cancel.discard)" = true ]; then rm -rf "$dir"; kept=false; else kept=true; fi
echo "{\"event\":\"result\",\"data\":{\"kept_files\":$kept,\"told\":$told}}"
exit 143'"'"' TERM
echo "{\"event\":\"progress\",\"data\":{\"current\":2,\"total\":10}}"
while :; do sleep 0.05; done'
jq -n --arg s "$script" '{name: "lab", description: "a plate session", command: ["/bin/sh", "-c", $s],
    input_schema: {type: "object", required: ["kind"], discriminator: {propertyName: "kind"},
      oneOf: [
        {properties: {kind: {enum: ["titration"]}, sample_ml: {type: "number", minimum: 1, maximum: 50}},
         required: ["sample_ml"], additionalProperties: false},
        {properties: {kind: {enum: ["spectro"]}, wavelength_nm: {type: "integer", minimum: 190, maximum: 1100}},
         required: ["wavelength_nm"], additionalProperties: false}]}}' > "$JOBTYPES_DIR/lab.json"
start_stack
json=(-H 'Content-Type: application/json')
session() { # session INPUT: a new lab run, its id printed once it waits for the operator
    local id
    id=$(create_run "{\"type\":\"lab\",\"input\":$1}")
    wait_until "the session asks" 20 run_is "$id" input_required
    echo "$id"
}
resume() { api POST "/v1/runs/$1/resume" "${json[@]}" --data "{\"input\":$2}" > /dev/null; echo "$(status) $(jq -r .code "$T/body")"; }

api POST /v1/runs "${json[@]}" --data '{"type":"lab","input":{"kind":"spectro","sample_ml":25}}' > /dev/null
check_eq "the kind picks the shape: spectro has no sample_ml" "422 /input/wavelength_nm: is required" \
    "$(status) $(jq -r .detail "$T/body")"
run=$(session '{"kind":"titration","sample_ml":25}')
api GET "/v1/runs/$run" > /dev/null
check_eq "it waits for the operator, with the schema of what it asks" \
    'provide_input confirm the plate ["confirm","temperature_c"]' \
    "$(jq -r '"\(.next_action) \(.pending_input.prompt) \(.pending_input.schema.required | tojson)"' "$T/body")"
check_eq "an answer missing a required input: 422" "422 invalid_input" "$(resume "$run" '{"confirm":true}')"
check_eq "an answer out of range: 422" "422 invalid_input" "$(resume "$run" '{"confirm":true,"temperature_c":90}')"
check_eq "an input it did not ask for: 422" "422 invalid_input" "$(resume "$run" '{"confirm":true,"temperature_c":21.5,"ph":7}')"
check_eq "the extra inputs it asked for: 202" "202 null" "$(resume "$run" '{"confirm":true,"temperature_c":21.5,"operator":"ana"}')"
wait_until "the session goes on" 20 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$run' | jq -r '.progress.current // 0')\" = 2 ]"
check_eq "the job got the answer, and knows its kind" '{"kind":"titration","answer":{"confirm":true,"temperature_c":21.5,"operator":"ana"}}' \
    "$(api GET "/v1/runs/$run/events?types=output" -H 'Accept: application/json' | jq -c '.data[0].data')"
check "its partial files are there" test -f "$out/$run/plate-1.csv" -a -f "$out/$run/plate-2.csv"

api POST "/v1/runs/$run/cancel?wait=1" "${json[@]}" --data '{"reason":"contaminated","discard":true}' > /dev/null
check_eq "cancel with discard: the run ends cancelled" "200 cancelled" "$(status) $(jq -r .status "$T/body")"
check_eq "the job acted on discard: its files are gone" no "$(test -e "$out/$run" && echo yes || echo no)"
check_eq "its result says so, with what it was told" '{"kept_files":false,"told":{"cancel":{"reason":"contaminated","discard":true}}}' \
    "$(jq -c .result "$T/body")"
check_eq "the run's error keeps the reason and discard" "contaminated true" "$(jq -r '"\(.error.reason) \(.error.discard)"' "$T/body")"

kept=$(session '{"kind":"spectro","wavelength_nm":450}')
resume "$kept" '{"confirm":true,"temperature_c":20}' > /dev/null
wait_until "the second session goes on" 20 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$kept' | jq -r '.progress.current // 0')\" = 2 ]"
api POST "/v1/runs/$kept/cancel?wait=1" "${json[@]}" --data '{"reason":"end of shift"}' > /dev/null
check_eq "cancel without discard: the files stay" "cancelled true yes" \
    "$(jq -r '"\(.status) \(.result.kept_files)"' "$T/body") $(test -f "$out/$kept/plate-2.csv" && echo yes || echo no)"
finish
