#!/usr/bin/env bash
# The README's run command, used as a new user would: script/server brings
# up the stack; a countdown of 20 events is read with curl -N, interrupted,
# resumed with Last-Event-ID (exactly the rest, then the stream closes), a
# further reconnect gets 204; stopping leaves no process behind; starting
# again keeps the runs. Run by script/test from the top, after the build,
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
start
expect "starting again works and keeps the run" \
    test "$(curl -s "$base/api/v1/runs/$run" | jq -r .status)" = succeeded
stop
expect "and stops cleanly again" wait_for 10 left
[ "$fails" -eq 0 ]
