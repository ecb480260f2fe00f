#!/usr/bin/env bash
# Scheduling: a delayed start (start_after_s, start_at) that a cancel
# stops and a worker restart does not lose; an expiry in the queue;
# priorities among the queued runs of a type; a per-key concurrency limit.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
add_type hold 'read -r input; exec sleep 60'
# One run at a time per concurrency key, each a second long.
jq -n '{name: "tenant_job", description: "a second of work", max_concurrency_per_key: 1,
        command: ["/bin/sh", "-c", "read -r input; sleep 1"]}' > "$JOBTYPES_DIR/tenant_job.json"
write_config <<'CONF'
worker_jobs = 1
lease_ms = 2000
CONF
start_redis
start_lighttpd
start_worker
json=(-H 'Content-Type: application/json')
field() { api GET "/v1/runs/$1" | jq -r "$2"; }
events() { api GET "/v1/runs/$1/events" -H 'Accept: application/json' | jq -r '[.data[].event] | join(" ")'; }
wait_end() { api GET "/v1/runs/$1/wait?timeout=60" > /dev/null; }

# --- Delayed start.
a=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0},"start_after_s":2}')
api GET "/v1/runs/$a" > /dev/null
check_eq "a delayed run is queued, its start_at 2 s after its creation" "queued 2000" \
    "$(jq -r '.status' "$T/body") $(( $(time_ms "$(jq -r .start_at "$T/body")") - $(time_ms "$(jq -r .created_at "$T/body")") ))"
check "its run_queued event says when it starts" sh -c \
    "curl -s -H 'Accept: application/json' '$BASE/api/v1/runs/$a/events' | jq -e '.data[0].data.start_at != null' > /dev/null"
b=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0},"start_after_s":2}')
api POST "/v1/runs/$b/cancel" -d '' > /dev/null
check_eq "a delayed run cancelled before its start: cancelled at once" "202 cancelled" "$(status) $(field "$b" .status)"
wait_end "$a"
api GET "/v1/runs/$a" > /dev/null
start_at=$(time_ms "$(jq -r .start_at "$T/body")")
started=$(time_ms "$(jq -r .started_at "$T/body")")
echo "# the delayed run started $((started - start_at)) ms after its start_at"
check "it started no earlier than its start_at" test "$started" -ge "$start_at"
check_eq "and ran to its end" succeeded "$(jq -r .status "$T/body")"
check_eq "the cancelled one never started, though its time has come" "run_queued cancel_requested run_finished" "$(events "$b")"

later=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%S.%3N+00:00 | sed 's/+00:00$/+01:00/')
c=$(create_run "{\"type\":\"countdown\",\"input\":{\"n\":1,\"interval_ms\":0},\"start_at\":\"$later\"}")
check_eq "start_at with an offset is kept in UTC" "$(( $(time_ms "$later") ))" "$(time_ms "$(field "$c" .start_at)")"
check "a start_at an hour ago (this offset): the run starts at once" sh -c \
    "curl -s '$BASE/api/v1/runs/$c/wait?timeout=20' | jq -e '.status == \"succeeded\"' > /dev/null"

# --- A delayed run survives its worker's SIGKILL: the next worker starts it on time.
d=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0},"start_after_s":3}')
kill -KILL "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true
start_worker
wait_end "$d"
api GET "/v1/runs/$d" > /dev/null
late=$(( $(time_ms "$(jq -r .started_at "$T/body")") - $(time_ms "$(jq -r .start_at "$T/body")") ))
echo "# after a worker restart, the delayed run started $late ms after its start_at"
check "after a worker restart it started on time (0 to 1500 ms after start_at)" test "$late" -ge 0 -a "$late" -le 1500
check_eq "exactly once" "run_queued run_started progress run_finished" "$(events "$d")"

# --- Expiry in the queue: the only slot is taken, the run waits too long.
hold=$(create_run '{"type":"hold"}')
wait_until "the slot is taken" 20 run_is "$hold" running
e=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0},"expires_after_s":1}')
wait_until "the waiting run expires" 20 run_is "$e" expired
api GET "/v1/runs/$e" > /dev/null
check_eq "expired with its error and no start" "expired null" "$(jq -r '"\(.error.code) \(.started_at)"' "$T/body")"
check "it ended no earlier than its expires_at" test "$(time_ms "$(jq -r .finished_at "$T/body")")" -ge "$(time_ms "$(jq -r .expires_at "$T/body")")"
check_eq "its stream: run_queued, run_expired, run_finished" "run_queued run_expired run_finished" "$(events "$e")"
check_eq "run_finished says expired, next_action none" "expired none" \
    "$(api GET "/v1/runs/$e/events?types=run_finished" -H 'Accept: application/json' | jq -r .data[0].data.status) $(field "$e" .next_action)"
api POST "/v1/runs/$e/cancel" -d '' > /dev/null
check_eq "an expired run has ended: cancel is 409" 409 "$(status)"

# --- Priorities: while the slot is taken, four runs queue; the highest
# starts first, then the older among equals.
p0a=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0}}')
p0b=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0},"priority":0}')
p10=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0},"priority":10}')
pm5=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":0},"priority":-5}')
check_eq "priority is in the snapshot" "10 -5 0" "$(field "$p10" .priority) $(field "$pm5" .priority) $(field "$p0a" .priority)"
api POST "/v1/runs/$hold/cancel?wait=1" -d '' > /dev/null
for r in "$p0a" "$p0b" "$p10" "$pm5"; do wait_end "$r"; done
order=$(for r in "$p0a" "$p0b" "$p10" "$pm5"; do echo "$(time_ms "$(field "$r" .started_at)") $r"; done | sort -n | cut -d' ' -f2 | tr '\n' ' ')
check_eq "they started by priority, then by age" "$p10 $p0a $p0b $pm5 " "$order"

# --- A per-key limit: one run per tenant at once, tenants side by side.
sed -i 's/^worker_jobs = 1$/worker_jobs = 4/' "$T/opstream.conf"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true
start_worker
k1=$(create_run '{"type":"tenant_job","concurrency_key":"acme"}')
k2=$(create_run '{"type":"tenant_job","concurrency_key":"acme"}')
k3=$(create_run '{"type":"tenant_job","concurrency_key":"globex"}')
check_eq "concurrency_key is in the snapshot" acme "$(field "$k1" .concurrency_key)"
for r in "$k1" "$k2" "$k3"; do wait_end "$r"; done
check_eq "all three succeeded" "succeeded succeeded succeeded" "$(field "$k1" .status) $(field "$k2" .status) $(field "$k3" .status)"
k1_end=$(time_ms "$(field "$k1" .finished_at)")
k2_start=$(time_ms "$(field "$k2" .started_at)")
k3_start=$(time_ms "$(field "$k3" .started_at)")
check "the second acme run started only after the first ended" test "$k2_start" -ge "$k1_end"
check "the globex run did not wait for acme's" test "$k3_start" -lt "$k1_end"

# --- Bounds.
bad() { api POST /v1/runs "${json[@]}" --data "$1" > /dev/null; echo "$(status) $(jq -r .code "$T/body")"; }
for body in '{"type":"countdown","start_after_s":-1}' '{"type":"countdown","start_after_s":31536001}' \
    '{"type":"countdown","start_after_s":1.5}' '{"type":"countdown","start_at":"tomorrow"}' \
    '{"type":"countdown","start_at":"2026-02-30T10:00:00Z"}' '{"type":"countdown","start_at":"2999-01-01T00:00:00Z"}' \
    '{"type":"countdown","start_after_s":5,"start_at":"2026-01-01T00:00:00Z"}' \
    '{"type":"countdown","expires_after_s":0}' '{"type":"countdown","priority":101}' \
    '{"type":"countdown","priority":"high"}' '{"type":"countdown","concurrency_key":""}'; do
    check_eq "refused: $body" "422 invalid_field" "$(bad "$body")"
done
finish
