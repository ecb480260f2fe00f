#!/usr/bin/env bash
# A job type's input as one of several shapes, told apart by "kind"
# (oneOf with a discriminator): the kind picks the shape, and a 422 names
# the failing path within it.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
jq -n '{name: "session", description: "a lab or a field session", command: ["steps"],
    input_schema: {type: "object", required: ["kind"], discriminator: {propertyName: "kind"},
      properties: {delay_ms: {type: "integer", minimum: 0, maximum: 1000}},
      oneOf: [
        {properties: {kind: {enum: ["lab"]}, samples: {type: "integer", minimum: 1, maximum: 96},
                      delay_ms: {type: "integer"}},
         required: ["samples"], additionalProperties: false},
        {properties: {kind: {enum: ["field", "survey"]}, site: {type: "string", minLength: 1},
                      delay_ms: {type: "integer"}},
         required: ["site"], additionalProperties: false}]}}' > "$JOBTYPES_DIR/session.json"
start_stack
json=(-H 'Content-Type: application/json')
create() { api POST /v1/runs "${json[@]}" --data "{\"type\":\"session\",\"input\":$1}" > /dev/null; }

create '{"kind":"lab","samples":12,"delay_ms":0}'
check_eq "a lab session: 202" 202 "$(status)"
lab=$(jq -r .id "$T/body")
create '{"kind":"survey","site":"north"}'
check_eq "a survey session (the second shape's other kind): 202" 202 "$(status)"
for case in '{"kind":"sea"}|/input/kind: must be one of lab, field, survey' \
            '{"samples":3}|/input/kind: is required' \
            '{"kind":"lab"}|/input/samples: is required' \
            '{"kind":"lab","samples":97}|/input/samples: must be <= 96' \
            '{"kind":"lab","samples":3,"site":"north"}|/input/site: is not allowed' \
            '{"kind":"field","site":"north","delay_ms":5000}|/input/delay_ms: must be <= 1000'; do
    create "${case%%|*}"
    check_eq "${case%%|*}: 422 naming the path" "422 invalid_input ${case#*|}" \
        "$(status) $(jq -r '"\(.code) \(.detail)"' "$T/body")"
done
api GET "/v1/runs/$lab/wait?timeout=30" > /dev/null
check_eq "the lab session ran" succeeded "$(jq -r .status "$T/body")"
check_eq "GET /v1/types/session shows the shapes" '["lab"] ["field","survey"]' \
    "$(api GET /v1/types/session | jq -c -r '[.input_schema.oneOf[].properties.kind.enum | tojson] | join(" ")')"
finish
