#!/usr/bin/env bash
# JSON nested 10, 1,000, 10,000 and 100,000 deep, in every JSON field of
# every POST route and in a job's result and event data: clients get a
# 4xx, a job's line becomes a flagged, cut log event; no responder or
# worker process dies, and a stream open meanwhile goes on to its end.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
use_asker
# Events and a result nested ever deeper, then one plain event.
add_type deep 'nest() { awk -v n=$1 '"'"'BEGIN { for (i = 0; i < n; i++) printf "["; for (i = 0; i < n; i++) printf "]" }'"'"'; }
read -r input
for d in 10 1000 10000 100000; do echo "{\"event\":\"nest\",\"data\":{\"depth\":$d,\"v\":$(nest $d)}}"; done
echo "{\"event\":\"result\",\"data\":$(nest 10000)}"
echo '"'"'{"event":"done","data":{}}'"'"''
start_stack
json=(-H 'Content-Type: application/json')
responders() { fcgi_pids fcgi-responder | sort | tr '\n' ' '; }
before=$(responders)
nest() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "["; for (i = 0; i < n; i++) printf "]" }'; }

# A stream that stays open through all of it.
watched=$(create_run '{"type":"countdown","input":{"n":200,"interval_ms":15}}')
follow "$BASE/api/v1/runs/$watched/events" "$T/got" > /dev/null 2>&1 &
FOLLOW=$!

asker=$(create_run '{"type":"asker"}')
wait_until "the asker waits for input" 20 run_is "$asker" input_required

post() { # post PATH BODY-FILE: prints the status and the problem code
    curl -sS -o "$T/body" -w '%{http_code}' "${json[@]}" --data-binary @"$2" "$BASE/api$1" > "$T/status"
    echo "$(status) $(jq -r '.code // empty' "$T/body" 2>/dev/null)"
}
for d in 10 1000 10000 100000; do
    n=$(nest "$d")
    printf '{"type":"broken","input":{"v":%s}}' "$n" > "$T/create_input"
    printf '{"type":"broken","metadata":{"v":%s}}' "$n" > "$T/create_metadata"
    printf '{"input":{"answer":"x","v":%s}}' "$n" > "$T/resume_input"
    for field in create_input create_metadata resume_input; do
        case $field in
        create_*) got=$(post /v1/runs "$T/$field") ;;
        resume_*) got=$(post "/v1/runs/$asker/resume" "$T/$field") ;;
        esac
        if [ "$d" = 10 ]; then
            case $field in
            create_*) check_eq "$field nested $d: accepted" "202 " "$got" ;;
            resume_*) check_eq "$field nested $d: checked against the schema" "422 invalid_input" "$got" ;;
            esac
        else
            check_eq "$field nested $d: 400 json_too_deep" "400 json_too_deep" "$got"
        fi
    done
done
check_eq "the asker still waits for its input" input_required "$(run_status "$asker")"

deep=$(create_run '{"type":"deep"}')
api GET "/v1/runs/$deep/wait?timeout=30" > /dev/null
check_eq "a job printing deep JSON still ends as it exits" "succeeded null" \
    "$(jq -r '"\(.status) \(.result)"' "$T/body")"
api GET "/v1/runs/$deep/events?limit=1000" -H 'Accept: application/json' > /dev/null
check_eq "its event nested 10 deep is an event" 10 "$(jq '[.data[] | select(.event == "nest")][0].data.depth' "$T/body")"
check_eq "the lines nested 1,000 and 10,000 deep (and the result) are flagged log events" 3 \
    "$(jq '[.data[] | select(.event == "log" and .data.rejected == "JSON nested deeper than 64 levels")] | length' "$T/body")"
check_eq "they are cut" true \
    "$(jq '[.data[] | select(.data.rejected != null) | .data.line | length <= 1024] | all' "$T/body")"
check_eq "the line over job_line_max_bytes is cut, never parsed" 1 \
    "$(jq '[.data[] | select(.event == "log" and .data.truncated == true and .data.rejected == null)] | length' "$T/body")"
check_eq "the job's next event still arrives" 1 "$(jq '[.data[] | select(.event == "done")] | length' "$T/body")"
api GET /v1/runs > /dev/null
check_eq "the owner's list still answers" 200 "$(status)"

check "the open stream went on to its end (204)" wait "$FOLLOW"
check_stream_complete "$T/got" 200
check_eq "no responder process died" "$before" "$(responders)"
check "the worker is alive" kill -0 "$WORKER_PID"
finish
