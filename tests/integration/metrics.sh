#!/usr/bin/env bash
# GET /api/v1/metrics: scraped before and after a scripted mix (runs that
# succeed, one that fails, a queued one cancelled, a running one
# cancelled under two open streams, a webhook that fails twice and is
# given up, a 404), each counter moves by exactly what the mix did, the
# gauges show the open streams, the slot in use and the running run while
# they are, and promtool (Prometheus' own checker) accepts the output.
# Only loopback clients may read it (metrics_access = loopback).
. "$abs_top_srcdir/tests/integration/lib.sh"
command -v promtool > /dev/null || { echo "promtool (Debian's prometheus) is missing"; exit 77; }
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_config <<CONF
responder_processes = 1
webhook_allow = http://127.0.0.1:$closed/hooks/
webhook_backoff_ms = 10
webhook_max_attempts = 2
CONF
start_redis
start_lighttpd
start_worker

scrape() { curl -sS -o "$1" -w '%{http_code}' "$BASE/api/v1/metrics"; }
# m FILE SERIES: the series' value (0 when absent)
m() { awk -v k="$2 " 'index($0, k) == 1 { print substr($0, length(k) + 1); f = 1 } END { if (!f) print 0 }' "$1"; }
# delta SERIES: after minus before, as a whole number
delta() { python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1])))' "$(m "$T/before" "$1")" "$(m "$T/after" "$1")"; }
# sum_of FILE NAME: the sum of every series of a family (over processes)
sum_of() { awk -v n="$2" '$1 ~ "^" n "[{ ]" || index($0, n "{") == 1 { s += $NF } END { print s + 0 }' "$1"; }

check_eq "metrics answer a loopback client" 200 "$(scrape "$T/before")"
check "promtool check metrics accepts them" sh -c "promtool check metrics < '$T/before'"
cp "$T/before" "$T/first"

# The mix.
ids=()
for i in 1 2; do
    ids+=("$(create_run '{"type":"countdown","input":{"n":2,"interval_ms":10}}')")
done
hooked=$(create_run "{\"type\":\"countdown\",\"input\":{\"n\":2,\"interval_ms\":10},\"webhook\":\"http://127.0.0.1:$closed/hooks/x\"}")
ids+=("$hooked")
failing=$(create_run '{"type":"fail","input":{"message":"on purpose"}}')
ids+=("$failing")
later=$(create_run '{"type":"countdown","input":{"n":2},"start_after_s":3600}')
ids+=("$later")
json=(-H 'Content-Type: application/json')
api POST "/v1/runs/$later/cancel" "${json[@]}" --data '{}' > /dev/null
check_eq "the queued run is cancelled" 202 "$(status)"
sleeper=$(create_run '{"type":"sleep","input":{"seconds":600}}')
ids+=("$sleeper")
api GET /v1/runs/0123456789abcdef0123456789abcdef > /dev/null
check_eq "an unknown run is a 404" 404 "$(status)"
for id in "${ids[@]:0:4}"; do
    api GET "/v1/runs/$id/wait?timeout=30" > /dev/null
done
wait_until "the sleeper runs" 30 run_is "$sleeper" running
# Two streams of the running run, held open.
readers=()
for i in 1 2; do
    curl -sN "$BASE/api/v1/runs/$sleeper/events" > "$T/stream$i" &
    readers+=($!)
done
streams_open() {
    scrape "$T/during" > /dev/null
    [ "$(sum_of "$T/during" opstream_open_streams)" = "$(( $(sum_of "$T/first" opstream_open_streams) + 2 ))" ] &&
        [ "$(sum_of "$T/during" opstream_worker_slots_in_use)" = 1 ]
}
wait_until "the two streams are counted open, and the worker's slot in use" 30 streams_open
check "the worker's slots are reported" test "$(sum_of "$T/during" opstream_worker_slots)" -ge 1
check_eq "the ledger has the sleeper running" 1 "$(m "$T/during" 'opstream_runs_active{type="sleep",status="running"}')"
check_eq "no countdown run queued" 0 "$(m "$T/during" 'opstream_runs_active{type="countdown",status="queued"}')"
check "promtool accepts them with streams open" sh -c "promtool check metrics < '$T/during'"
api POST "/v1/runs/$sleeper/cancel" "${json[@]}" --data '{}' > /dev/null
check_eq "the running run is cancelled" 202 "$(status)"
api GET "/v1/runs/$sleeper/wait?timeout=30" > /dev/null
wait "${readers[@]}"
check "both streams ended with the run's end" sh -c "grep -c '^event: run_finished' '$T/stream1' '$T/stream2' | grep -c ':1\$' | grep -qx 2"
webhook_done() { [ "$(api GET "/v1/runs/$hooked" | jq -r .webhook.state)" = given_up ]; }
wait_until "the webhook is given up" 30 webhook_done

# Every event the mix appended, from the streams themselves.
events=0
for id in "${ids[@]}"; do
    events=$((events + $(rcli XLEN "opstream:{$id}:events")))
done
streams_closed() {
    scrape "$T/after" > /dev/null
    [ "$(sum_of "$T/after" opstream_open_streams)" = "$(sum_of "$T/first" opstream_open_streams)" ] &&
        [ "$(delta opstream_events_appended_total)" = "$events" ] &&
        [ "$(delta 'opstream_webhook_deliveries_total{state="given_up"}')" = 1 ] &&
        [ "$(sum_of "$T/after" opstream_worker_slots_in_use)" = 0 ]
}
wait_until "the worker's counts are in and the streams closed" 30 streams_closed
check_eq "events appended: every entry of the mix's streams" "$events" "$(delta opstream_events_appended_total)"
check_eq "countdown runs created" 4 "$(delta 'opstream_runs_created_total{type="countdown"}')"
check_eq "fail runs created" 1 "$(delta 'opstream_runs_created_total{type="fail"}')"
check_eq "sleep runs created" 1 "$(delta 'opstream_runs_created_total{type="sleep"}')"
check_eq "countdown runs started (not the cancelled one)" 3 "$(delta 'opstream_runs_started_total{type="countdown"}')"
check_eq "sleep runs started" 1 "$(delta 'opstream_runs_started_total{type="sleep"}')"
check_eq "countdown runs succeeded" 3 "$(delta 'opstream_runs_ended_total{type="countdown",status="succeeded"}')"
check_eq "countdown runs cancelled (queued)" 1 "$(delta 'opstream_runs_ended_total{type="countdown",status="cancelled"}')"
check_eq "fail runs failed" 1 "$(delta 'opstream_runs_ended_total{type="fail",status="failed"}')"
check_eq "sleep runs cancelled (running)" 1 "$(delta 'opstream_runs_ended_total{type="sleep",status="cancelled"}')"
check_eq "webhook attempts failed, then tried again" 1 "$(delta 'opstream_webhook_deliveries_total{state="failed"}')"
check_eq "webhooks given up" 1 "$(delta 'opstream_webhook_deliveries_total{state="given_up"}')"
check_eq "no webhook delivered" 0 "$(delta 'opstream_webhook_deliveries_total{state="delivered"}')"
check_eq "no webhook pending" 0 "$(m "$T/after" opstream_webhooks_pending)"
check_eq "creates answered 202" 6 "$(delta 'opstream_requests_total{route="POST /v1/runs",status="202"}')"
check_eq "creates in the latency histogram" 6 "$(delta 'opstream_request_duration_seconds_count{route="POST /v1/runs"}')"
check_eq "and in its +Inf bucket" 6 "$(delta 'opstream_request_duration_seconds_bucket{route="POST /v1/runs",le="+Inf"}')"
check_eq "the 404" 1 "$(delta 'opstream_requests_total{route="GET /v1/runs/{id}",status="404"}')"
check_eq "the two streams" 2 "$(delta 'opstream_requests_total{route="GET /v1/runs/{id}/events",status="200"}')"
check_eq "waits" 5 "$(delta 'opstream_requests_total{route="GET /v1/runs/{id}/wait",status="200"}')"
check_eq "cancels" 2 "$(delta 'opstream_requests_total{route="POST /v1/runs/{id}/cancel",status="202"}')"
check_eq "nothing active left" 0 "$(awk '/^opstream_runs_active\{/ { s += $NF } END { print s + 0 }' "$T/after")"
check_eq "no Redis error" 0 "$(( $(sum_of "$T/after" opstream_redis_errors_total) - $(sum_of "$T/before" opstream_redis_errors_total) ))"
check_eq "no ledger error" 0 "$(( $(sum_of "$T/after" opstream_ledger_errors_total) - $(sum_of "$T/before" opstream_ledger_errors_total) ))"
check "promtool check metrics accepts them after the mix" sh -c "promtool check metrics < '$T/after'"
check "each family has its HELP and TYPE" sh -c "[ \$(grep -c '^# TYPE opstream_' '$T/after') -ge 16 ]"

# Only loopback: a client elsewhere (as the web server tells it) is refused.
env -i REQUEST_METHOD=GET REQUEST_URI=/api/v1/metrics QUERY_STRING= SCRIPT_NAME=/api REMOTE_ADDR=192.0.2.7 \
    timeout 20 cgi-fcgi -bind -connect "$SOCK" > "$T/remote"
check "a client elsewhere gets 403 forbidden" sh -c "grep -q '^Status: 403' '$T/remote' && grep -q '\"code\":\"forbidden\"' '$T/remote'"
finish
