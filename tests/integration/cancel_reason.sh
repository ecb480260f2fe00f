#!/usr/bin/env bash
# POST /cancel {reason?, discard?}: in cancel_requested, in the run's error,
# and told to a running job on its stdin before SIGTERM.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
add_lab lab
write_config
start_redis
start_lighttpd
json=(-H 'Content-Type: application/json')
requested() { # the data of the run's cancel_requested event
    api GET "/v1/runs/$1/events" -H 'Accept: application/json' | jq -c '.data[] | select(.event == "cancel_requested") | .data'
}

# No worker yet: the run stays queued and a cancel ends it at once.
queued=$(create_run '{"type":"countdown","input":{"n":5}}')
api POST "/v1/runs/$queued/cancel" "${json[@]}" --data '{"reason":"wrong input","discard":true}' > /dev/null
check_eq "cancel a queued run with a reason: 202" 202 "$(status)"
check_eq "its error keeps the reason and discard" 'cancelled cancelled "wrong input" true' \
    "$(api GET "/v1/runs/$queued" | jq -r '"\(.status) \(.error.code) \(.error.reason | tojson) \(.error.discard)"')"
check_eq "cancel_requested carries them" '{"reason":"wrong input","discard":true}' "$(requested "$queued")"

start_worker
run=$(create_run '{"type":"lab"}')
wait_until "the lab job runs" 20 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$run' | jq -r '.progress.current // 0')\" = 1 ]"
api POST "/v1/runs/$run/cancel?wait=1" "${json[@]}" --data '{"reason":"operator stopped it","discard":false}' > /dev/null
check_eq "cancel a running run with a reason: 200 once ended" "200 cancelled" "$(status) $(jq -r .status "$T/body")"
check_eq "the job read it on stdin before SIGTERM, and reported it" \
    '{"cancel":{"reason":"operator stopped it","discard":false}}' "$(jq -c .result.told "$T/body")"
check_eq "the run's error keeps it" '"operator stopped it" false' "$(jq -r '"\(.error.reason | tojson) \(.error.discard)"' "$T/body")"
check_eq "cancel_requested carries it" '{"reason":"operator stopped it","discard":false}' "$(requested "$run")"

run=$(create_run '{"type":"lab"}')
wait_until "the lab job runs" 20 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$run' | jq -r '.progress.current // 0')\" = 1 ]"
api POST "/v1/runs/$run/cancel?wait=1" -d '' > /dev/null
check_eq "without a body the job is told the reason 'requested'" '{"cancel":{"reason":"requested"}}' \
    "$(jq -c .result.told "$T/body")"

# What a cancel body may not be.
other=$(create_run '{"type":"sleep","input":{"seconds":60}}')
long=$(head -c 1001 /dev/zero | tr '\0' r)
for bad in '{"reason":5}' '{"reason":""}' "{\"reason\":\"$long\"}" '{"discard":"yes"}' '[]'; do
    api POST "/v1/runs/$other/cancel" "${json[@]}" --data "$bad" > /dev/null
    check_eq "cancel body ${bad:0:30}: 422 invalid_field" "422 invalid_field" "$(status) $(jq -r .code "$T/body")"
done
api POST "/v1/runs/$other/cancel" "${json[@]}" --data '{"why":"x"}' > /dev/null
check_eq "an unknown field: 422 unknown_field" "422 unknown_field" "$(status) $(jq -r .code "$T/body")"
api POST "/v1/runs/$other/cancel" "${json[@]}" --data '{"reason":' > /dev/null
check_eq "malformed JSON: 400 invalid_json" "400 invalid_json" "$(status) $(jq -r .code "$T/body")"
check_eq "none of them cancelled it" running "$(run_status "$other")"
api POST "/v1/runs/$other/cancel?wait=1" "${json[@]}" --data '{"reason":"done testing"}' > /dev/null
check_eq "a good body does" "200 cancelled" "$(status) $(jq -r .status "$T/body")"
finish
