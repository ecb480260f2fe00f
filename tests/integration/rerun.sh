#!/usr/bin/env bash
# POST /v1/runs/{id}/rerun: a new run of the same type, input, thread and
# metadata, linked to the original, under the rules of any create.
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack
json=(-H 'Content-Type: application/json')

first=$(create_run '{"type":"countdown","input":{"n":2,"interval_ms":0},"thread_id":"report","metadata":{"tenant":"acme"}}')
api GET "/v1/runs/$first/wait?timeout=30" > /dev/null
check_eq "the first run succeeded, and is a rerun of nothing" "succeeded null" "$(jq -r '"\(.status) \(.rerun_of)"' "$T/body")"

curl -sS -X POST -D "$T/h" -o "$T/body" -d '' "$BASE/api/v1/runs/$first/rerun"
again=$(jq -r .id "$T/body")
check "rerun: 202 with Location naming the new run" grep -qi "^location: /api/v1/runs/$again" "$T/h"
check "rerun: a new run" test -n "$again" -a "$again" != "$first"
check_eq "rerun: same type, input, thread and metadata, linked to the first" \
    "countdown {\"n\":2,\"interval_ms\":0} report {\"tenant\":\"acme\"} $first" \
    "$(jq -c -r '"\(.type) \(.input | tojson) \(.thread_id) \(.metadata | tojson) \(.rerun_of)"' "$T/body")"
api GET "/v1/runs/$again/wait?timeout=30" > /dev/null
check_eq "the rerun runs to its end with its own result" 'succeeded {"counted":2}' "$(jq -c -r '"\(.status) \(.result | tojson)"' "$T/body")"
check_eq "its stream is its own: run_queued, run_started, 2 progress, run_finished" \
    "run_queued run_started progress progress run_finished" \
    "$(api GET "/v1/runs/$again/events" -H 'Accept: application/json' | jq -r '[.data[].event] | join(" ")')"
third=$(api POST "/v1/runs/$again/rerun" -d '' | jq -r .id)
check_eq "a rerun of a rerun links to the run it repeats" "$again" "$(api GET "/v1/runs/$third" | jq -r .rerun_of)"
api GET "/v1/runs/$third/wait?timeout=30" > /dev/null

# The thread's rules hold: an active run on it refuses the rerun.
busy=$(create_run '{"type":"sleep","input":{"seconds":60},"thread_id":"busy"}')
api POST "/v1/runs/$busy/rerun" -d '' > /dev/null
check_eq "rerun on a thread with an active run: 409 thread_busy" "409 thread_busy" "$(status) $(jq -r .code "$T/body")"
api POST "/v1/runs/$busy/cancel?wait=1" -d '' > /dev/null

api POST /v1/runs/AAAAAAAAAAAAAAAAAAAAAA/rerun -d '' > /dev/null
check_eq "rerun of an unknown run: 404" "404 run_not_found" "$(status) $(jq -r .code "$T/body")"
api GET /v1/runs/AAAAAAAAAAAAAAAAAAAAAA/rerun > /dev/null
check_eq "rerun wants POST: 405" 405 "$(status)"
finish
