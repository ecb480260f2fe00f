#!/usr/bin/env bash
# Webhooks: a run's end is POSTed, signed, to its webhook; failed attempts
# are retried with a doubling backoff until one is acknowledged (also
# across a worker's SIGKILL) or the attempts run out; every attempt is on
# the run; internal destinations are refused unless webhook_allow lists
# them. The scenario: a receiver that fails twice, then takes it.
. "$abs_top_srcdir/tests/integration/lib.sh"
/usr/bin/python3 "$abs_top_srcdir/tests/integration/webhook_receiver.py" "$T/hooks.jsonl" "$T/hook.port" &
PIDS+=($!)
wait_until "the receiver listens" 20 test -s "$T/hook.port"
port=$(cat "$T/hook.port")
hook=http://127.0.0.1:$port
# A second receiver: a port webhook_allow does not list, and a proxy no
# delivery may use.
mkdir "$T/other"
/usr/bin/python3 "$abs_top_srcdir/tests/integration/webhook_receiver.py" "$T/other/hooks.jsonl" "$T/other/hook.port" &
PIDS+=($!)
wait_until "the second receiver listens" 20 test -s "$T/other/hook.port"
port2=$(cat "$T/other/hook.port")
# An allowed origin with no path, where nothing listens: only what create
# says of URLs that start with it is looked at.
port3=$((port2 < 31999 ? port2 + 1 : port2 - 1))
use_test_types
jq -n --arg h "$hook/fail/0" '{name: "hooked", description: "tells its end", webhook: $h, command: ["/bin/true"]}' \
    > "$JOBTYPES_DIR/hooked.json"
write_config <<CONF
webhook_allow = $hook/fail/, $hook/hooks/ http://127.0.0.1:$port3
webhook_backoff_ms = 200
webhook_max_attempts = 3
CONF
start_redis
start_lighttpd
start_worker
json=(-H 'Content-Type: application/json')
hooks() { [ -s "$T/hooks.jsonl" ] && jq -c "select(.path == \"$1\")" "$T/hooks.jsonl" || true; }
hook_state() { api GET "/v1/runs/$1" | jq -r .webhook.state; }
secret=$("$BIN/opstream" -c "$T/opstream.conf" webhook-secret)

# --- The scenario: fails twice, then acknowledged.
run=$(create_run "{\"type\":\"countdown\",\"input\":{\"n\":2,\"interval_ms\":0},\"webhook\":\"$hook/fail/2\"}")
check_eq "the run shows its webhook, pending" "$hook/fail/2 pending" "$(api GET "/v1/runs/$run" | jq -r '"\(.webhook.url) \(.webhook.state)"')"
wait_until "the webhook is delivered" 30 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$run' | jq -r .webhook.state)\" = delivered ]"
api GET "/v1/runs/$run" > "$T/run.json"
check_eq "three attempts on the run: 500, 500, then 200" "1:500 2:500 3:200" \
    "$(jq -r '[.webhook.attempts[] | "\(.attempt):\(.status)"] | join(" ")' "$T/run.json")"
a1=$(time_ms "$(jq -r '.webhook.attempts[0].at' "$T/run.json")")
a2=$(time_ms "$(jq -r '.webhook.attempts[1].at' "$T/run.json")")
a3=$(time_ms "$(jq -r '.webhook.attempts[2].at' "$T/run.json")")
echo "# attempts $((a2 - a1)) ms and $((a3 - a2)) ms apart (backoff 200 ms, doubling)"
check "the backoff doubles: at least 200 ms, then 400 ms" test $((a2 - a1)) -ge 200 -a $((a3 - a2)) -ge 400
hooks "/fail/2" > "$T/got"
check_eq "the receiver saw three requests, acknowledged the third" "500 500 200" "$(jq -r .status "$T/got" | tr '\n' ' ' | sed 's/ $//')"
check_eq "each says which delivery and attempt it is" "$run:1 $run:2 $run:3" \
    "$(jq -r '"\(.headers["opstream-delivery"]):\(.headers["opstream-attempt"])"' "$T/got" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the body is the run's snapshot at its end" "$run succeeded {\"counted\":2}" \
    "$(tail -n 1 "$T/got" | jq -r '.body | fromjson | "\(.id) \(.status) \(.result | tojson)"')"
verify() { # the signature of the last request in $T/got, checked as a receiver would
    tail -n 1 "$T/got" | SECRET=$secret /usr/bin/python3 -c '
import hashlib, hmac, json, os, sys, time
r = json.loads(sys.stdin.read())
parts = dict(p.split("=", 1) for p in r["headers"]["opstream-signature"].split(","))
want = hmac.new(bytes.fromhex(os.environ["SECRET"]), (parts["t"] + "." + r["body"]).encode(), hashlib.sha256).hexdigest()
fresh = abs(time.time() - int(parts["t"])) < 300
print("valid" if hmac.compare_digest(want, parts["v1"]) and fresh else "invalid")'
}
check_eq "the HMAC-SHA256 signature over timestamp and body verifies with opstream webhook-secret" valid "$(verify)"
sed -i '$s/succeeded/failed/' "$T/got"
check_eq "a body changed in transit does not verify" invalid "$(verify)"

# --- A type's webhook serves its runs; once delivered, nothing more is sent.
typed=$(create_run '{"type":"hooked"}')
wait_until "the type's webhook is delivered" 30 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$typed' | jq -r .webhook.state)\" = delivered ]"
check_eq "the type's webhook was used, once" "1" "$(hooks /fail/0 | jq -s length)"
check_eq "and the scenario's receiver got nothing more meanwhile" 3 "$(hooks /fail/2 | jq -s length)"

# --- Given up after webhook_max_attempts.
gone=$(create_run "{\"type\":\"fail\",\"webhook\":\"$hook/fail/99\"}")
wait_until "the webhook is given up" 30 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$gone' | jq -r .webhook.state)\" = given_up ]"
check_eq "a failed run's end is told too; given up after 3 attempts" "failed 3 3" \
    "$(api GET "/v1/runs/$gone" | jq -r '"\(.status) \(.webhook.attempts | length)"') $(hooks /fail/99 | jq -s length)"

# --- A worker SIGKILLed between attempts: the next worker goes on.
kept=$(create_run "{\"type\":\"countdown\",\"input\":{\"n\":1,\"interval_ms\":0},\"webhook\":\"$hook/fail/1\"}")
wait_until "a first attempt failed" 30 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$kept' | jq '.webhook.attempts | length')\" -ge 1 ]"
kill -KILL "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true
start_worker
wait_until "delivered by the next worker" 30 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$kept' | jq -r .webhook.state)\" = delivered ]"
check_eq "delivered at its second attempt, once" "500 200" "$(hooks /fail/1 | jq -r .status | tr '\n' ' ' | sed 's/ $//')"

# --- Destinations: internal ones only where webhook_allow lists them.
for url in "http://127.0.0.1:9/" "http://localhost:$port/" "http://[::1]:$port/" "http://169.254.169.254/latest" \
    "http://10.0.0.1/" "http://192.168.1.1/" "http://0.0.0.0:$port/" "ftp://example.com/" "file:///etc/passwd" "not a url" \
    "http://127.0.0.1:$port3@127.0.0.1:$port2/bypass" "http://127.0.0.1:$port3@169.254.169.254/latest/meta-data/" \
    "http://user:pw@example.com/" "$hook/hooks/../admin" "$hook/hooks/%2e%2e/admin" "$hook/hooks/%2E%2e%2fadmin" \
    "$hook/hooksX/" "$hook/hook" "http://127.0.0.1:$port2/hooks/" "https://127.0.0.1:$port/hooks/" \
    "http://[64:ff9b::7f00:1]:$port/" "http://[64:ff9b::a9fe:a9fe]/" "http://[2002:7f00:1::1]/" \
    "http://[::127.0.0.1]:$port/" "http://[::ffff:0:a9fe:a9fe]/" "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/" \
    "http://[64:ff9b:1::a]/"; do
    api POST /v1/runs "${json[@]}" --data "{\"type\":\"countdown\",\"webhook\":\"$url\"}" > /dev/null
    check_eq "webhook $url refused" "422 webhook_not_allowed" "$(status) $(jq -r .code "$T/body")"
done
api POST /v1/runs "${json[@]}" --data '{"type":"countdown","webhook":7}' > /dev/null
check_eq "a webhook that is no string: 422" "422 invalid_field" "$(status) $(jq -r .code "$T/body")"
# Where the allow-list means it: below an entry's path, delivered.
below=$(create_run "{\"type\":\"countdown\",\"input\":{\"n\":1,\"interval_ms\":0},\"webhook\":\"$hook/hooks/a/./b/../ok\"}")
wait_until "delivered below an allowed path" 30 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$below' | jq -r .webhook.state)\" = delivered ]"
check_eq "an allowed path's dot segments are resolved before it is delivered: once, to /hooks/a/ok" 1 \
    "$(hooks /hooks/a/ok | jq -s length)"
check_eq "and the unlisted port got nothing" 0 "$( [ -s "$T/other/hooks.jsonl" ] && wc -l < "$T/other/hooks.jsonl" || echo 0)"
# A proxy in the worker's environment is not used: the delivery goes
# straight to its destination, which is checked at connect.
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true
http_proxy=http://127.0.0.1:$port2 HTTP_PROXY=http://127.0.0.1:$port2 ALL_PROXY=http://127.0.0.1:$port2 \
    https_proxy=http://127.0.0.1:$port2 start_worker
direct=$(create_run "{\"type\":\"countdown\",\"input\":{\"n\":1,\"interval_ms\":0},\"webhook\":\"$hook/hooks/direct\"}")
wait_until "delivered with a proxy in the environment" 30 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$direct' | jq -r .webhook.state)\" = delivered ]"
check_eq "with http_proxy set, the destination got it straight, once" 1 "$(hooks /hooks/direct | jq -s length)"
check_eq "and the proxy got nothing" 0 "$( [ -s "$T/other/hooks.jsonl" ] && wc -l < "$T/other/hooks.jsonl" || echo 0)"
# A name not internal by itself, that resolves inside: refused when it connects.
name=$(hostname)
if getent hosts "$name" | awk '{print $1}' | grep -Eq '^(127\.|::1$)'; then
    inside=$(create_run "{\"type\":\"countdown\",\"input\":{\"n\":1,\"interval_ms\":0},\"webhook\":\"http://$name:$port/fail/0/inside\"}")
    wait_until "its webhook is given up" 30 sh -c "[ \"\$(curl -s '$BASE/api/v1/runs/$inside' | jq -r .webhook.state)\" = given_up ]"
    check_eq "a name resolving to loopback: each attempt refused before connecting" \
        "the destination resolved to an internal address" \
        "$(api GET "/v1/runs/$inside" | jq -r '[.webhook.attempts[].error] | unique | join(",")')"
    check_eq "and the receiver got nothing" 0 "$(hooks /fail/0/inside | jq -s length)"
else
    echo "# $name does not resolve to loopback here: the connect-time refusal is not tried"
fi
finish
