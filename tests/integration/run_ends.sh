#!/usr/bin/env bash
# How runs end and go: a producer finishes its run (POST .../finish); a
# step still running when its run ends is closed with the run's outcome;
# DELETE and cancel action=rollback remove a run from the ledger, the
# archive and Redis; a query parameter a route does not take is refused;
# a type's title and metadata are served.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
add_type hold 'read -r input; echo "{\"event\":\"output\",\"data\":{\"pid\":$$}}"; exec sleep 60'
jq '. + {title: "Named steps", metadata: {graph: {nodes: ["prepare", "work"]}}}' \
    "$JOBTYPES_DIR/steps.json" > "$T/steps.json" && mv "$T/steps.json" "$JOBTYPES_DIR/steps.json"
AUTH=token write_config < /dev/null
start_redis
start_lighttpd
start_worker
cli() { "$BIN/opstream" -c "$T/opstream.conf" "$@"; }
alice=$(cli token create alice)
json=(-H 'Content-Type: application/json')
as() { local who=$1; shift; api "$@" -H "Authorization: Bearer $who" "${json[@]}"; }
is_running() { [ "$(as "$alice" GET "/v1/runs/$1" | jq -r .status)" = running ]; }
traces() { # the rows and keys a run leaves: "runs events keys"
    local zsets=0 z
    for z in opstream:webhooks opstream:expiring; do
        [ -n "$(rcli ZSCORE "$z" "$1")" ] && zsets=$((zsets + 1))
    done
    echo "$(ledger_sql "SELECT count(*) FROM runs WHERE id = '$1'")" \
         "$(ledger_sql "SELECT count(*) FROM events WHERE run_id = '$1'")" \
         "$(( $(rcli --scan --pattern "*$1*" | wc -l) + zsets ))"
}

# --- A producer finishes its run.
as "$alice" POST /v1/runs --data '{"type":"hold","producer_token":true}' > /dev/null
run=$(jq -r .id "$T/body")
producer=$(jq -r .producer_token "$T/body")
as "$alice" POST /v1/runs --data '{"type":"hold","producer_token":true}' > /dev/null
other=$(jq -r .id "$T/body")
wait_until "both holder jobs run" 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $alice' '$BASE/api/v1/runs/$run' | jq -r .status)\" = running ] &&
    [ \"\$(curl -s -H 'Authorization: Bearer $alice' '$BASE/api/v1/runs/$other' | jq -r .status)\" = running ]"
wait_until "the holder told its pid" 20 sh -c "[ -n \"\$(curl -s -H 'Authorization: Bearer $alice' -H 'Accept: application/json' '$BASE/api/v1/runs/$run/events?types=output' | jq -r '.data[0].data.pid // empty')\" ]"
holder=$(as "$alice" GET "/v1/runs/$run/events?types=output" -H 'Accept: application/json' | jq -r '.data[0].data.pid')
as "$producer" POST "/v1/runs/$other/finish" --data '{"status":"succeeded"}' > /dev/null
check_eq "a producer cannot finish another run: 401" 401 "$(status)"
as "$producer" POST "/v1/runs/$run/finish" --data '{"status":"done"}' > /dev/null
check_eq "finish: status must be succeeded or failed: 422" "422 invalid_field" "$(status) $(jq -r .code "$T/body")"
as "$producer" POST "/v1/runs/$run/finish" --data '{"status":"succeeded","error":{"message":"x"}}' > /dev/null
check_eq "an error only with failed: 422" "422 invalid_field" "$(status) $(jq -r .code "$T/body")"
as "$producer" POST "/v1/runs/$run/finish" --data '{"status":"succeeded","why":1}' > /dev/null
check_eq "finish: an unknown field: 422" "422 unknown_field" "$(status) $(jq -r .code "$T/body")"
as "$producer" POST "/v1/runs/$run/finish" --data '{"status":"succeeded","result":{"passed":12}}' > /dev/null
check_eq "the producer finishes its run: 200, succeeded, with its result" '200 succeeded {"passed":12}' \
    "$(status) $(jq -c -r '"\(.status) \(.result | tojson)"' "$T/body")"
as "$producer" POST "/v1/runs/$run/finish" --data '{"status":"failed"}' > /dev/null
check_eq "nor one already ended: 409" "409 run_terminal" "$(status) $(jq -r .code "$T/body")"
wait_until "the holder job is stopped" 20 sh -c "! kill -0 $holder 2> /dev/null"
wait_until "the run is settled" 20 run_settled "$run"
check_eq "exactly one run_finished, succeeded, in the stream and the archive" \
    '1 succeeded 1' \
    "$(stream_events "$run" | grep -c '^run_finished$') $(as "$alice" GET "/v1/runs/$run/events?types=run_finished" -H 'Accept: application/json' | jq -r '.data[0].data.status') $(ledger_sql "SELECT count(*) FROM events WHERE run_id = '$run' AND type = 'run_finished'")"
check_eq "the run stays succeeded after its job was stopped" succeeded "$(as "$alice" GET "/v1/runs/$run" | jq -r .status)"
as "$alice" POST "/v1/runs/$other/finish" --data '{"status":"failed"}' > /dev/null
check_eq "the owner may finish too; failed without an error gets producer_failed" "200 failed producer_failed" \
    "$(status) $(jq -r '"\(.status) \(.error.code)"' "$T/body")"
as "$alice" POST /v1/runs --data '{"type":"hold","start_after_s":3600}' > /dev/null
later=$(jq -r .id "$T/body")
as "$alice" POST "/v1/runs/$later/finish" --data '{"status":"succeeded"}' > /dev/null
check_eq "a run that has not started cannot be finished: 409" "409 run_not_started" "$(status) $(jq -r .code "$T/body")"

# --- A step still running at the run's end ends with it.
steps=$(as "$alice" POST /v1/runs --data '{"type":"steps","input":{"steps":["a","b"],"delay_ms":60000}}' | jq -r .id)
wait_until "step a runs" 20 sh -c "curl -s -H 'Authorization: Bearer $alice' '$BASE/api/v1/runs/$steps' | jq -e '.steps[0].status == \"running\"' > /dev/null"
as "$alice" POST "/v1/runs/$steps/cancel?wait=1" --data '' > /dev/null
check_eq "a cancelled steps run shows its step cancelled, none running" 'cancelled [["a","cancelled",true]]' \
    "$(as "$alice" GET "/v1/runs/$steps" | jq -c -r '"\(.status) \([.steps[] | [.name, .status, (.finished_at != null)]] | tojson)"')"

# --- Delete.
check_eq "an ended run leaves rows and keys" yes "$(traces "$run" | awk '$1 == 1 && $2 > 0 && $3 > 0 {print "yes"}')"
as "$alice" DELETE "/v1/runs/$later" > /dev/null
check_eq "an active run cannot be deleted: 409" "409 run_active" "$(status) $(jq -r .code "$T/body")"
as "$alice" DELETE "/v1/runs/$run" > /dev/null
check_eq "delete an ended run: 204" 204 "$(status)"
check_eq "no trace of it in the ledger, the archive or Redis" "0 0 0" "$(traces "$run")"
as "$alice" GET "/v1/runs/$run/events" -H 'Accept: text/event-stream' > /dev/null
check_eq "a later reconnect gets 404" 404 "$(status)"
as "$alice" DELETE "/v1/runs/$run" > /dev/null
check_eq "a second delete: 404" 404 "$(status)"

# --- cancel action=rollback: cancel, then delete.
as "$alice" POST /v1/runs --data '{"type":"hold"}' > /dev/null
rb=$(jq -r .id "$T/body")
wait_until "the run to roll back runs" 20 is_running "$rb"
as "$alice" POST "/v1/runs/$rb/cancel?action=undo" --data '' > /dev/null
check_eq "an unknown action: 400" "400 invalid_parameter" "$(status) $(jq -r .code "$T/body")"
as "$alice" POST "/v1/runs/$rb/cancel?action=rollback&wait=1" --data '' > /dev/null
check_eq "rollback waited for: 204 once the run is gone" 204 "$(status)"
check_eq "no trace of the rolled-back run" "0 0 0" "$(traces "$rb")"
as "$alice" POST "/v1/runs/$later/cancel?action=rollback" --data '' > /dev/null
check_eq "rollback of a queued run: 204, gone at once" "204 0 0 0" "$(status) $(traces "$later")"
as "$alice" POST "/v1/runs/$other/cancel?action=rollback" --data '' > /dev/null
check_eq "rollback of an ended run deletes it" "204 0 0 0" "$(status) $(traces "$other")"

# --- Unknown query parameters.
as "$alice" GET "/v1/runs/$steps?verbose=1" > /dev/null
check_eq "an unknown query parameter: 400 unknown_parameter" "400 unknown_parameter" "$(status) $(jq -r .code "$T/body")"
as "$alice" POST "/v1/runs/$steps/cancel?force=1" --data '' > /dev/null
check_eq "also on cancel" "400 unknown_parameter" "$(status) $(jq -r .code "$T/body")"
as "$alice" GET "/v1/runs?limit=2&status=cancelled" > /dev/null
check_eq "the parameters a route takes still work" 200 "$(status)"
api GET "/v1/runs/$steps?verbose=1" > /dev/null
check_eq "without credentials it is 401 first" 401 "$(status)"

# --- A type's title and metadata.
as "$alice" GET /v1/types/steps > /dev/null
check_eq "a type's title and metadata are served" '"Named steps" {"graph":{"nodes":["prepare","work"]}}' \
    "$(jq -c -r '"\(.title | tojson) \(.metadata | tojson)"' "$T/body")"
check_eq "a type without them: its name, {}" 'countdown {}' \
    "$(as "$alice" GET /v1/types/countdown | jq -c -r '"\(.title) \(.metadata | tojson)"')"
finish
