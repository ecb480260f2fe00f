#!/usr/bin/env bash
# A job holds its three pipes and nothing else, and sees only the
# allowlisted environment: the worker's Redis and SQLite connections, the
# other runners' pipes and the worker's variables stay out of its reach.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
use_asker
# The prober writes a forged run_finished (a Redis command) for the run
# named in its input into every descriptor past stderr it holds, reports
# its variables and its pid, and waits on stdin, so its descriptors can be
# read from outside.
script="$FORGE_INTO_DESCRIPTORS"'
names=$(env | cut -d= -f1 | sort | tr "\n" " ")
printf "{\"event\":\"probe\",\"data\":{\"pid\":%s,\"env\":\"%s\"}}\n" $$ "$names"
read -r never'
jq -n --arg s "$script" '{name: "prober", description: "reports what it holds",
    command: ["/bin/sh", "-c", $s], env: {GREETING: "hello"}}' > "$JOBTYPES_DIR/prober.json"
# The worker's own environment holds more than a job may see.
export WORKER_ONLY_SECRET=sesame
start_stack <<'CONF'
worker_jobs = 4
CONF
check "the worker has variables of its own" wait_until "the worker runs" 10 \
    sh -c "tr '\0' '\n' < /proc/$WORKER_PID/environ | grep -qx 'WORKER_ONLY_SECRET=sesame'"

victim=$(create_run '{"type":"asker"}')
wait_until "the other run waits for input" 20 run_is "$victim" input_required
run=$(create_run "{\"type\":\"prober\",\"input\":{\"victim\":\"$victim\"}}")
probe() { api GET "/v1/runs/$run/events?types=probe" -H 'Accept: application/json' | jq -r ".data[0].data.$1 // empty"; }
wait_until "the prober reports" 20 sh -c "[ -n \"\$(curl -s -H 'Accept: application/json' '$BASE/api/v1/runs/$run/events?types=probe' | jq -r '.data[0].data.pid // empty')\" ]"
pid=$(probe pid)
check_eq "a job holds stdin, stdout and stderr only" "0 1 2" "$(ls /proc/"$pid"/fd | sort -n | tr '\n' ' ' | sed 's/ $//')"
check_eq "a job sees PATH, HOME, LANG, TZ (when set), its type's env and its run's OPSTREAM_*" \
    "$(printf '%s\n' HOME PATH GREETING OPSTREAM_ATTEMPT OPSTREAM_RUN_ID OPSTREAM_RUN_TYPE PWD ${LANG:+LANG} ${TZ:+TZ} | sort | tr '\n' ' ')" \
    "$(probe env)"
api POST "/v1/runs/$run/cancel?wait=1" -d '' > /dev/null
api GET "/v1/runs/$victim/events" -H 'Accept: application/json' > /dev/null
check_eq "the other run's stream holds no forged end" 0 \
    "$(jq '[.data[] | select(.event == "run_finished")] | length' "$T/body")"
check_eq "the other run still waits for its input" input_required "$(run_status "$victim")"
finish
