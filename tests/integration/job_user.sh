#!/usr/bin/env bash
# A root worker runs jobs as job_user. Such a job, trying every
# descriptor it holds and everything it can reach by path — the database,
# the config, the Redis socket — reads nothing and cannot write into
# another owner's run.
. "$abs_top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: the worker must run as root to switch users"; exit $SKIP; }
use_test_types
use_asker
script="$FORGE_INTO_DESCRIPTORS"'
db=no; conf=no; redis=no
head -c 16 "$STATE/opstream.db" > /dev/null 2>&1 && db=yes
head -c 16 "$STATE/opstream.conf" > /dev/null 2>&1 && conf=yes
redis-cli -s "$STATE/redis.sock" XADD "opstream:{$victim}:events" "*" type run_finished data "{}" > /dev/null 2>&1 && redis=yes
printf "{\"event\":\"result\",\"data\":{\"uid\":%s,\"home\":\"%s\",\"db\":\"%s\",\"conf\":\"%s\",\"redis\":\"%s\"}}\n" "$(id -u)" "$HOME" "$db" "$conf" "$redis"'
jq -n --arg s "$script" --arg t "$T" '{name: "intruder", description: "tries what it can reach",
    command: ["/bin/sh", "-c", $s], env: {STATE: $t}}' > "$JOBTYPES_DIR/intruder.json"
start_stack <<'CONF'
job_user = nobody
job_uid_range =
CONF
victim=$(create_run '{"type":"asker"}')
wait_until "the other run waits for input" 20 run_is "$victim" input_required
run=$(create_run "{\"type\":\"intruder\",\"input\":{\"victim\":\"$victim\"}}")
api GET "/v1/runs/$run/wait?timeout=30" > /dev/null
check_eq "the job ran as job_user, with its HOME" "succeeded $(id -u nobody) $(getent passwd nobody | cut -d: -f6)" \
    "$(jq -r '"\(.status) \(.result.uid) \(.result.home)"' "$T/body")"
check_eq "it could read neither the database nor the config, nor write to Redis" "no no no" \
    "$(jq -r '"\(.result.db) \(.result.conf) \(.result.redis)"' "$T/body")"
api GET "/v1/runs/$victim/events" -H 'Accept: application/json' > /dev/null
check_eq "the other run's stream holds no forged end" 0 \
    "$(jq '[.data[] | select(.event == "run_finished")] | length' "$T/body")"
check_eq "the other run still waits" input_required "$(run_status "$victim")"
finish
