#!/usr/bin/env bash
# The short requests of the first path, and their failure answers.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
start_stack

json=(-H 'Content-Type: application/json')
problem_code() { jq -r .code "$T/body"; }

# Create, then watch the run finish through its snapshot.
curl -sS -D "$T/h" -o "$T/body" "${json[@]}" --data '{"type":"countdown","input":{"n":3,"interval_ms":10},"metadata":{"who":"test"}}' \
    "$BASE/api/v1/runs"
run=$(jq -r .id "$T/body")
check "the id is 22 URL-safe characters (128 random bits)" sh -c "echo '$run' | grep -Eqx '[A-Za-z0-9_-]{22}'"
check "Location names the run" grep -qi "^location: /api/v1/runs/$run" "$T/h"
check_eq "a new run is queued" queued "$(jq -r .status "$T/body")"
check_eq "the run has every field of the contract" \
    "concurrency_key created_at error expires_at finished_at id input last_event_id links metadata next_action owner pending_input priority progress rerun_of result start_at started_at status steps thread_id type updated_at webhook" \
    "$(jq -r 'del(.attempt) | keys | join(" ")' "$T/body")"
check_eq "a queued run's next_action is wait" wait "$(jq -r .next_action "$T/body")"
check "times are RFC 3339 UTC with milliseconds" \
    sh -c "jq -r .created_at '$T/body' | grep -Eqx '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'"
check_eq "links.self" "/api/v1/runs/$run" "$(jq -r .links.self "$T/body")"
check "links.events is signed" sh -c "jq -r .links.events '$T/body' | grep -Eq '^/api/v1/runs/$run/events\?exp=[0-9]+&sig=[A-Za-z0-9_-]+$'"
check_eq "metadata is kept" test "$(jq -r .metadata.who "$T/body")"

wait_until "run to succeed" 20 run_is "$run" succeeded
api GET "/v1/runs/$run" > /dev/null
check_eq "GET run answers 200" 200 "$(status)"
check_eq "result recorded" 3 "$(jq -r .result.counted "$T/body")"
check "started_at and finished_at set" sh -c "jq -e '.started_at and .finished_at' '$T/body' >/dev/null"

api GET /v1/runs > /dev/null
check_eq "list answers 200" 200 "$(status)"
check_eq "list holds the run" "$run" "$(jq -r '.data[0].id' "$T/body")"

# A failing job: exit status and stderr tail in the error.
check_eq "a job that exits 3 fails the run" failed "$(
    r=$(create_run '{"type":"broken"}'); wait_until failed 20 run_is "$r" failed; run_status "$r")"
check "the error holds exit status and stderr tail" \
    sh -c "jq -e '.error.code == \"job_failed\" and .error.exit_status == 3 and (.error.stderr_tail | test(\"it went wrong\"))' '$T/body' >/dev/null"

# Input is checked against the type's schema, and the detail names the path.
api POST /v1/runs "${json[@]}" --data '{"type":"countdown","input":{"n":-1}}' > /dev/null
check_eq "input outside the schema: 422" 422 "$(status)"
check_eq "input outside the schema: code" invalid_input "$(problem_code)"
check_eq "the detail names the failing path" "/input/n: must be >= 0" "$(jq -r .detail "$T/body")"
api POST /v1/runs "${json[@]}" --data '{"type":"countdown","input":{"n":1,"speed":9}}' > /dev/null
check_eq "a property the schema does not allow" "/input/speed: is not allowed" "$(jq -r .detail "$T/body")"

# Failure answers: problem+json with a stable code.
api GET /v1/runs/AAAAAAAAAAAAAAAAAAAAAA > /dev/null
check_eq "unknown run: 404" 404 "$(status)"
check_eq "unknown run: code" run_not_found "$(problem_code)"
api GET /v1/runs/not-an-id > /dev/null
check_eq "malformed id: 404 like any unknown id" 404 "$(status)"
api GET /v1/nothing > /dev/null
check_eq "unknown route: 404" 404 "$(status)"
check_eq "unknown route: code" route_not_found "$(problem_code)"
curl -sS -D "$T/h" -o "$T/body" -X DELETE "$BASE/api/v1/runs"
check "wrong method: 405" grep -q '^HTTP/1.1 405' "$T/h"
check "405 carries Allow" grep -qi '^allow: POST, GET' "$T/h"
check "errors are application/problem+json" grep -qi '^content-type: application/problem+json' "$T/h"
check "problem has type, title, status, detail, code" \
    sh -c "jq -e 'has(\"type\") and has(\"title\") and .status == 405 and has(\"detail\") and .code == \"method_not_allowed\"' '$T/body' >/dev/null"

api POST /v1/runs "${json[@]}" --data '{"type": "countdown",' > /dev/null
check_eq "malformed JSON: 400" 400 "$(status)"
check_eq "malformed JSON: code" invalid_json "$(problem_code)"
api POST /v1/runs "${json[@]}" --data '{"type":"nope"}' > /dev/null
check_eq "unknown type: 422" 422 "$(status)"
check_eq "unknown type: code" unknown_type "$(problem_code)"
api POST /v1/runs "${json[@]}" --data '{"type":"countdown","colour":"red"}' > /dev/null
check_eq "unknown field: 422" 422 "$(status)"
check_eq "unknown field: code" unknown_field "$(problem_code)"
check "unknown field: detail names it" sh -c "jq -r .detail '$T/body' | grep -q '/colour'"
head -c 1100000 /dev/zero | tr '\0' ' ' > "$T/big"
api POST /v1/runs "${json[@]}" --data-binary "@$T/big" > /dev/null
check_eq "body over 1 MiB: 413" 413 "$(status)"
check_eq "body over 1 MiB: code" body_too_large "$(problem_code)"
nest=$(printf '%0.s[' $(seq 1 5000))
api POST /v1/runs "${json[@]}" --data "$nest" > /dev/null
check_eq "deeply nested JSON is refused, not a crash" 400 "$(status)"
check "no error leaks a path or SQL" sh -c "! grep -Eqi '/tmp/|sqlite|select |insert ' '$T/body'"

api GET /v1/types > /dev/null
check_eq "types: 200" 200 "$(status)"
check_eq "types lists every type file, by name" "$(cd "$JOBTYPES_DIR" && ls *.json | sed 's/\.json$//' | sort | tr '\n' ' ' | sed 's/ $//')" \
    "$(jq -r '[.data[].name] | join(" ")' "$T/body")"
api GET /v1/types/countdown > /dev/null
check_eq "one type: input schema" integer "$(jq -r .input_schema.properties.n.type "$T/body")"
api GET /v1/types/nope > /dev/null
check_eq "unknown type: 404" 404 "$(status)"

api GET /v1/health > /dev/null
check_eq "health: 200 with both stores up" ok "$(jq -r .status "$T/body")"
kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
api GET /v1/health > /dev/null
check_eq "health: 503 with Redis down" 503 "$(status)"
check_eq "health names Redis" unreachable "$(jq -r .redis "$T/body")"
api POST /v1/runs "${json[@]}" --data '{"type":"countdown"}' > /dev/null
check_eq "create with Redis down: 503, nothing half-written" 503 "$(status)"
code=$(curl -sN -o "$T/s" -w '%{http_code}' "$BASE/api/v1/runs/$run/events")
check_eq "a stream with Redis down: 200, so EventSource will come back" 200 "$code"
check_eq "holding only retry and a comment, then the end" "retry: 2000|: event bus unavailable; reconnect later" \
    "$(grep -v '^$' "$T/s" | tr '\n' '|' | sed 's/|$//')"
api GET "/v1/runs/$run/events" -H 'Accept: application/json' > /dev/null
check_eq "the JSON form with Redis down: 503" 503 "$(status)"
api GET /v1/runs > /dev/null
check_eq "the refused run left no row behind" 2 "$(jq '.data | length' "$T/body")"
finish
