#!/usr/bin/env bash
# POST /v1/runs/{id}/events: an external producer publishes into one run
# with a credential scoped to it (at create with producer_token, or
# opstream token create --run), under the rules of a job's output lines.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
add_type hold 'read -r input; exec sleep 60'
AUTH=token write_config <<'CONF'
job_max_events = 8
job_line_max_bytes = 256
CONF
start_redis
start_lighttpd
start_worker
cli() { "$BIN/opstream" -c "$T/opstream.conf" "$@"; }
alice=$(cli token create alice)
bob=$(cli token create bob)
json=(-H 'Content-Type: application/json')
as() { local who=$1; shift; api "$@" -H "Authorization: Bearer $who" "${json[@]}"; }

as "$alice" POST /v1/runs --data '{"type":"hold","producer_token":true}' > /dev/null
run=$(jq -r .id "$T/body")
producer=$(jq -r .producer_token "$T/body")
check "create with producer_token: true answers the run's credential" \
    sh -c "echo '$producer' | grep -Eqx 'opp\\.$run\\.[A-Za-z0-9_-]{43}'"
check_eq "opstream token create --run makes the same credential" "$producer" "$(cli token create --run "$run")"
as "$alice" POST /v1/runs --data '{"type":"hold"}' > /dev/null
other=$(jq -r .id "$T/body")
check_eq "without producer_token, no credential is shown" null "$(jq -r .producer_token "$T/body")"
wait_until "the run is running" 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $alice' '$BASE/api/v1/runs/$run' | jq -r .status)\" = running ]"

pub() { as "$1" POST "/v1/runs/$2/events" --data "$3"; }
pub "$producer" "$run" '{"event":"progress","data":{"current":1,"total":3}}' > /dev/null
check_eq "publish: 202" 202 "$(status)"
first_id=$(jq -r .id "$T/body")
check "it answers the event's id" sh -c "echo '$first_id' | grep -Eqx '[0-9]+-[0-9]+'"
pub "$producer" "$run" '{"event":"step_started","data":{"name":"fetch"}}' > /dev/null
pub "$producer" "$run" '{"event":"step_finished","data":{"name":"fetch","message":"3 files"}}' > /dev/null
pub "$producer" "$run" '{"event":"scan.found","data":{"host":"a"}}' > /dev/null
as "$alice" GET "/v1/runs/$run" > /dev/null
check_eq "progress and step_* keep the snapshot up to date" '{"current":1,"total":3} [["fetch","succeeded","3 files"]]' \
    "$(jq -c -r '"\(.progress | tojson) \([.steps[] | [.name, .status, .message]] | tojson)"' "$T/body")"
check_eq "the snapshot's last event is the last one published" "$(pub "$producer" "$run" '{"event":"note"}' | jq -r .id)" \
    "$(as "$alice" GET "/v1/runs/$run" | jq -r .last_event_id)"
as "$alice" GET "/v1/runs/$run/events?after=$first_id" -H 'Accept: application/json' > /dev/null
check_eq "the published events are in the run's stream, in order, with their data" \
    'step_started {"name":"fetch"}|step_finished {"name":"fetch","message":"3 files"}|scan.found {"host":"a"}|note {}' \
    "$(jq -r '[.data[] | "\(.event) \(.data | tojson)"] | join("|")' "$T/body")"

# The credential publishes to its run and does nothing else.
as "$producer" GET "/v1/runs/$run" > /dev/null
check_eq "the producer credential cannot read the run: 401" "401 invalid_token" "$(status) $(jq -r .code "$T/body")"
as "$producer" POST "/v1/runs/$run/cancel" --data '' > /dev/null
check_eq "nor cancel it: 401" 401 "$(status)"
pub "$producer" "$other" '{"event":"note"}' > /dev/null
check_eq "nor publish to another run of the same owner: 401" "401 invalid_token" "$(status) $(jq -r .code "$T/body")"
pub "opp.$run.${producer##*.}x" "$run" '{"event":"note"}' > /dev/null
check_eq "a tampered credential: 401" 401 "$(status)"
pub "$bob" "$run" '{"event":"note"}' > /dev/null
check_eq "another owner's token: 404, as for an unknown run" "404 run_not_found" "$(status) $(jq -r .code "$T/body")"
pub "$alice" "$run" '{"event":"note","data":{"by":"owner"}}' > /dev/null
check_eq "the owner's own token may publish" 202 "$(status)"
api POST "/v1/runs/$run/events" "${json[@]}" --data '{"event":"note"}' > /dev/null
check_eq "no credential: 401" 401 "$(status)"

# The names and sizes of a job's output lines.
for name in run_finished run_queued cancel_requested input_received gap result input_required Bad x:y ''; do
    pub "$producer" "$run" "{\"event\":\"$name\",\"data\":{}}" > /dev/null
    check_eq "event '$name' is refused: 422" "422 invalid_event_name" "$(status) $(jq -r .code "$T/body")"
done
pub "$producer" "$run" '{"data":{}}' > /dev/null
check_eq "no event name: 422" "422 invalid_field" "$(status) $(jq -r .code "$T/body")"
pub "$producer" "$run" '{"event":"note","data":[1]}' > /dev/null
check_eq "data not an object: 422" "422 invalid_field" "$(status) $(jq -r .code "$T/body")"
pub "$producer" "$run" '{"event":"note","id":"1-1"}' > /dev/null
check_eq "an unknown field (no choosing the id): 422" "422 unknown_field" "$(status) $(jq -r .code "$T/body")"
pub "$producer" "$run" '{"event":"note",' > /dev/null
check_eq "malformed JSON: 400" 400 "$(status)"
big=$(head -c 300 /dev/zero | tr '\0' a)
pub "$producer" "$run" "{\"event\":\"note\",\"data\":{\"text\":\"$big\"}}" > /dev/null
check_eq "data over job_line_max_bytes: 413" "413 event_too_large" "$(status) $(jq -r .code "$T/body")"
deep=$(printf '{"a":%.0s' $(seq 80))1$(printf '}%.0s' $(seq 80))
pub "$producer" "$run" "{\"event\":\"note\",\"data\":$deep}" > /dev/null
check_eq "data nested past json_max_depth: 400" "400" "$(status)"

# job_max_events published events at most per run: 6 are in, 2 more fit.
codes=$(for i in 1 2 3; do pub "$producer" "$run" '{"event":"note"}' > /dev/null; echo "$(status)"; done | tr '\n' ' ')
check_eq "past job_max_events published events: 409 publish_limit" "202 202 409 publish_limit" \
    "$codes$(jq -r .code "$T/body")"
check_eq "the refused one is not in the stream" 8 \
    "$(as "$alice" GET "/v1/runs/$run/events?after=$first_id&types=note,scan.found,step_started,step_finished" -H 'Accept: application/json' | jq '.data | length + 1')"

as "$alice" POST "/v1/runs/$run/cancel?wait=1" --data '' > /dev/null
pub "$producer" "$run" '{"event":"note"}' > /dev/null
check_eq "an ended run: 409 run_terminal" "409 run_terminal" "$(status) $(jq -r .code "$T/body")"

# Revoking a credential of the owner ends its producer credentials too.
producer2=$(cli token create --run "$other")
pub "$producer2" "$other" '{"event":"note"}' > /dev/null
check_eq "the other run's credential publishes" 202 "$(status)"
cli token revoke "$(cli token list | awk '$2 == "alice" {print $1}')" > /dev/null
pub "$producer2" "$other" '{"event":"note"}' > /dev/null
check_eq "after a revoke of alice's token: 401" "401 invalid_token" "$(status) $(jq -r .code "$T/body")"
cli_token=$(cli token create alice again)
as "$cli_token" POST "/v1/runs/$other/cancel?wait=1" --data '' > /dev/null
finish
