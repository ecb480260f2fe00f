#!/usr/bin/env bash
# The README's run command, used as a new user would: script/server brings
# up the stack; a countdown of 20 events is read with curl -N, interrupted,
# resumed with Last-Event-ID (exactly the rest, then the stream closes), a
# further reconnect gets 204; stopping leaves no process behind; starting
# again keeps the runs and the user's edit of opstream.conf; Ctrl-C during
# a run hands it back (worker_stopped) with every event of the grace period. Run by script/test from the top, after the build,
# once per web server (OPSTREAM_SERVER, as script/server takes it).
set -euo pipefail
echo "# behind ${OPSTREAM_SERVER:-lighttpd}"
top=$PWD
state=$(mktemp -d /tmp/opstream-server.XXXXXX)
port=$((20000 + RANDOM % 12000))
base=http://127.0.0.1:$port
server=
fails=0
cleanup() {
    [ -z "$server" ] || { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
    pkill -KILL -f "$state/" 2>/dev/null || true
    [ -z "${KEEP_OUT:-}" ] || cp "$state.out" "$KEEP_OUT"; rm -rf "$state" "$state.out"
}
trap cleanup EXIT
expect() { # expect DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fails=$((fails + 1)); fi
}
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/health")" = 200 ]; }
wait_for() { # wait_for SECONDS COMMAND...: poll a real condition, with a deadline
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do [ "$SECONDS" -lt "$deadline" ] || return 1; sleep 0.1; done
}
start() {
    OPSTREAM_STATE=$state OPSTREAM_PORT=$port script/server > "$state.out" 2>&1 &
    server=$!
    wait_for 300 healthy || { cat "$state.out"; return 1; }
}
stop() { # as Ctrl-C would, by signal to the script
    kill -TERM "$server"
    wait "$server" 2>/dev/null || true
    server=
}
left() { ! pgrep -f "$state/" >/dev/null; }

start
expect "script/server prints the URL" wait_for 10 grep -q "http://127.0.0.1:$port/" "$state.out"
expect "and says loudly that authentication is off" wait_for 10 grep -q 'AUTHENTICATION IS OFF' "$state.out"
expect "the demo page is served" sh -c "curl -sf '$base/' | grep -q '<title>opstream'"
expect "the state directory is closed to other users" test "$(stat -c %a "$state")" = 700
# (but the programs, and Apache's pid file, which Apache makes 0644)
expect "nothing in it (config, database, sockets, logs) is open to other users" \
    sh -c "[ -z \"\$(find '$state' \( -path '$state/prefix' -o -path '$state/app' -o -name httpd.pid \) -prune -o -perm /o=rwx -print)\" ]"

run=$(curl -s -X POST -H 'Content-Type: application/json' \
    --data '{"type":"countdown","input":{"n":20,"interval_ms":100}}' "$base/api/v1/runs" | jq -r .id)
curl -sN "$base/api/v1/runs/$run/events" > "$state/first" &
reader=$!
wait_for 30 sh -c "[ \$(grep -c '^event: progress' '$state/first') -ge 5 ]"
kill "$reader"; wait "$reader" 2>/dev/null || true
last=$(awk '/^id: /{id=$2} /^$/{if (id) done=id} END{print done}' "$state/first")
timeout 60 curl -sN -H "Last-Event-ID: $last" "$base/api/v1/runs/$run/events" > "$state/second"
# progress FILE...: "current" of every complete progress frame, as
# EventSource sees them (a frame counts once its blank line has arrived)
progress() {
    awk '/^event: /{ev=$2} /^data: /{d=substr($0,7)} /^$/{if (ev == "progress") print d; ev=""; d=""}' "$@" |
        jq -r .current | tr '\n' ' '
}
expect "interrupted and resumed: progress 1..20 exactly once" \
    test "$(progress "$state/first" "$state/second")" = "$(seq 1 20 | tr '\n' ' ')"
expect "the resumed stream closes after run_finished" \
    test "$(grep '^event:' "$state/second" | tail -n 1)" = "event: run_finished"
final=$(grep '^id:' "$state/second" | tail -n 1 | cut -d' ' -f2)
expect "a further reconnect gets 204" test "$(curl -s -o /dev/null -w '%{http_code}' \
    -H "Last-Event-ID: $final" "$base/api/v1/runs/$run/events")" = 204

stop
expect "stopping leaves no process behind" wait_for 10 left
# The config is the user's once it is written: an edit survives a restart.
conf=$state/opstream.conf
[ "${OPSTREAM_SERVER:-lighttpd}" != apache-fcgid ] || conf=$state/opstream-fcgid.conf
echo "retry_ms = 1234" >> "$conf"
start
expect "starting again works and keeps the run" \
    test "$(curl -s "$base/api/v1/runs/$run" | jq -r .status)" = succeeded
expect "an edited opstream.conf is kept across a restart" grep -qx "retry_ms = 1234" "$conf"
expect "and it is what the stack reads (the stream's retry: line)" \
    sh -c "curl -s -m 10 -H 'Last-Event-ID: $last' '$base/api/v1/runs/$run/events' | grep -qx 'retry: 1234'"

# Ctrl-C during a run: the worker gets shutdown_grace_ms (2 s) with Redis
# still there, then hands the run back; every line the job wrote in the
# grace period is in the stream.
run=$(curl -s -X POST -H 'Content-Type: application/json' \
    --data '{"type":"countdown","input":{"n":300,"interval_ms":100}}' "$base/api/v1/runs" | jq -r .id)
events() { curl -s -H 'Accept: application/json' "$base/api/v1/runs/$run/events?limit=1000"; }
wait_for 30 sh -c "[ \$(curl -s -H 'Accept: application/json' '$base/api/v1/runs/$run/events?limit=1000' | jq '[.data[] | select(.event == \"progress\")] | length') -ge 5 ]"
interrupted_at=$(date +%s%3N)
kill -INT "$server"
wait "$server" 2>/dev/null || true
server=
expect "Ctrl-C stops everything" wait_for 10 left
expect "the worker handed the run back" grep -q "run $run: handed back to the queue" "$state/log/worker.log"
expect "and wrote every event (none 'could not be written')" \
    sh -c "! grep -q 'could not be written' '$state/log/worker.log'"
start
events > "$state/handed"
# The first attempt's events: progress 1..k without a hole, then the hand-back.
first=$(jq -c '[.data[] | {ms: (.id | split("-")[0] | tonumber), event, data}] |
    (map(.event == "run_queued" and .data.reason == "worker_stopped") | index(true)) as $at |
    {end: $at, progress: [.[:$at][] | select(.event == "progress") | {ms, current: .data.current}]}' "$state/handed")
expect "the run went back to the queue with reason worker_stopped" \
    test "$(jq '.end != null' <<<"$first")" = true
expect "its progress before that has no hole" \
    test "$(jq '[.progress[].current] == [range(1; (.progress | length) + 1)]' <<<"$first")" = true
expect "and holds what the job wrote in the grace period (>= 10 events after Ctrl-C)" \
    test "$(jq --argjson t "$interrupted_at" '[.progress[] | select(.ms > $t)] | length' <<<"$first")" -ge 10
stop
expect "and stops cleanly again" wait_for 10 left
[ "$fails" -eq 0 ]
