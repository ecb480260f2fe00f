#!/usr/bin/env bash
# log_format = json: every line of the responder and the worker is one
# JSON object (time, level, program, pid, msg), and one run is followed
# by its run_id through the responder's request lines, the worker's and
# the webhook deliverer's, the last two naming the request that made it
# (request_id) and its owner.
. "$abs_top_srcdir/tests/integration/lib.sh"
# A webhook to a port nobody listens on: its attempt fails, and says so.
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
hook=http://127.0.0.1:$closed/hooks/done
AUTH=token write_config <<CONF
log_format = json
log_level = debug
webhook_allow = http://127.0.0.1:$closed/hooks/
webhook_backoff_ms = 60000
CONF
start_redis
start_lighttpd
start_worker
token=$("$BIN/opstream" -c "$T/opstream.conf" token create alice)
auth=(-H "Authorization: Bearer $token")
run=$(curl -s -X POST "${auth[@]}" -H 'Content-Type: application/json' \
    --data "{\"type\":\"countdown\",\"input\":{\"n\":3,\"interval_ms\":10},\"webhook\":\"$hook\"}" \
    "$BASE/api/v1/runs" | jq -r .id)
curl -s "${auth[@]}" "$BASE/api/v1/runs/$run/wait?timeout=30" > /dev/null
of_run() { jq -c --arg r "$run" 'select(.run_id == $r)' "$@" 2> /dev/null; }
wait_until "the deliverer logs its attempt" 30 sh -c "grep -F '\"run_id\":\"$run\"' '$T/worker.log' | grep -q 'webhook attempt'"

for f in fcgi.log worker.log; do
    check "every line of $f is a JSON object with time, level, program, pid and msg" \
        jq -e -s 'length > 0 and all(.[]; (.time | type) == "string" and (.level | IN("error", "warn", "info", "debug"))
                  and (.program | type) == "string" and (.pid | type) == "number" and (.msg | type) == "string")' "$T/$f"
done
check "the responder's lines of the run: its create and its wait, each with the request's id and owner" \
    test "$(of_run "$T/fcgi.log" | jq -s '[.[] | select(.program == "opstream.fcgi" and .owner == "alice"
           and (.request_id | length) > 0 and (.msg | test("^(POST /api/v1/runs|GET /api/v1/runs/[^ ]+/wait)")))] | length')" = 2
check "the two requests have ids of their own" \
    test "$(of_run "$T/fcgi.log" | jq -r .request_id | sort -u | wc -l)" -ge 2
check "the worker's lines of the run: it started, and how it ended" \
    sh -c "[ \"\$(jq -c --arg r '$run' 'select(.run_id == \$r and .program == \"opstream-worker\")' '$T/worker.log' | jq -r .msg | grep -cE '^(started countdown|succeeded)')\" = 2 ]"
made=$(of_run "$T/fcgi.log" | jq -r 'select(.msg | startswith("POST /api/v1/runs")) | .request_id')
check "the create's request has an id" test -n "$made"
check "every worker and deliverer line of the run names the create's request and the owner" \
    test "$(jq -c --arg r "$run" 'select(.run_id == $r)' "$T/worker.log" |
            jq -s --arg q "$made" '[.[] | select(.request_id != $q or .owner != "alice")] | length')" = 0
check "the deliverer's line of the run: its failed attempt" \
    sh -c "jq -c --arg r '$run' 'select(.run_id == \$r)' '$T/worker.log' | jq -r .msg | grep -q '^webhook attempt 1: '"
check "a line that is about no run has no run_id" \
    sh -c "jq -e -s 'any(.[]; (.msg | startswith(\"responder ready\")) and (has(\"run_id\") | not))' '$T/fcgi.log' > /dev/null"
finish
