#!/usr/bin/env bash
# LangGraph's runs API: @langchain/langgraph-sdk's Client, unchanged
# (tests/contract/langgraph.mjs), behind lighttpd; a run made there is an
# ordinary run on opstream's own routes.
. "$abs_top_srcdir/tests/integration/lib.sh"
need_node_module @langchain/langgraph-sdk
use_test_types
# A job: progress 1..n, one step, and as its result the values a graph
# would end with.
add_type agent 'read -r input
n=$(echo "$input" | sed -n "s/.*\"n\":\([0-9]*\).*/\1/p"); n=${n:-1}
i=1
while [ $i -le $n ]; do
  echo "{\"event\":\"progress\",\"data\":{\"current\":$i,\"total\":$n}}"
  i=$((i + 1)); sleep 0.005
done
echo "{\"event\":\"step_started\",\"data\":{\"name\":\"answer\"}}"
echo "{\"event\":\"step_finished\",\"data\":{\"name\":\"answer\",\"message\":\"done\"}}"
echo "{\"event\":\"result\",\"data\":{\"messages\":[{\"type\":\"ai\",\"content\":\"counted to $n\"}],\"n\":$n}}"'
AUTH=token write_config <<'CONF'
retry_ms = 100
CONF
start_redis
start_lighttpd
start_worker
token=$("$BIN/opstream" -c "$T/opstream.conf" token create graph)
if node "$abs_top_srcdir/tests/contract/langgraph.mjs" "$BASE" "$token" > "$T/lg.out" 2>&1; then rc=0; else rc=1; fi
cat "$T/lg.out"
check "@langchain/langgraph-sdk: every check passed" test "$rc" = 0

# The same run from both sides.
key=(-H "x-api-key: $token")
thread=$(curl -s -X POST "${key[@]}" -H 'Content-Type: application/json' --data '{}' "$BASE/api/langgraph/threads" | jq -r .thread_id)
run=$(curl -s -X POST "${key[@]}" -H 'Content-Type: application/json' --data '{"assistant_id":"agent","input":{"n":2}}' \
    "$BASE/api/langgraph/threads/$thread/runs" | jq -r .run_id)
curl -s "${key[@]}" "$BASE/api/v1/runs/$run/wait?timeout=30" > "$T/native.json"
check_eq "a LangGraph run is an ordinary run: its type, thread and result on /v1/runs" "agent $thread 2" \
    "$(jq -r '"\(.type) \(.thread_id) \(.result.n)"' "$T/native.json")"
check_eq "x-api-key is a bearer token; a wrong one is 401" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H 'x-api-key: nope' "$BASE/api/langgraph/threads/$thread")"
check_eq "a thread of another owner is 404" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: $("$BIN/opstream" -c "$T/opstream.conf" token create other)" "$BASE/api/langgraph/threads/$thread")"
curl -s -X DELETE "${key[@]}" -o /dev/null -w '%{http_code}' "$BASE/api/langgraph/threads/$thread" > "$T/del.status"
check_eq "threads.delete: 204, and its runs go with it" "204 0 0" \
    "$(cat "$T/del.status") $(ledger_sql "SELECT count(*) FROM runs WHERE thread_id = '$thread'") $(rcli --scan --pattern "*$run*" | wc -l)"
finish
