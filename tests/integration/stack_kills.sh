#!/usr/bin/env bash
# The stack exactly as script/server runs it (its process manager, its
# config, lighttpd), with the programs of this build: for KILL_SECONDS
# (120), one process is SIGKILLed at random every second (the FastCGI
# master, a responder, the worker, lighttpd) and Redis is
# stopped now and then (SIGTERM and SIGKILL in turn), while Chromium's
# EventSource follows a 600-event run (tests/contract/stack_kills.mjs).
# Then Ctrl-C: nothing of the stack is left running.
. "$abs_top_srcdir/tests/integration/lib.sh"
need_browser
# The programs, installed as make install puts them, under $T.
make -s -C "$abs_top_builddir" install DESTDIR="$T/dest" > "$T/install.log" 2>&1
prefix=$T/dest$(sed -n 's/^prefix = //p' "$abs_top_builddir/Makefile")
state=$T/state
PORT=$((20000 + RANDOM % 12000))
BASE=http://127.0.0.1:$PORT
healthy() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$BASE/api/v1/health")" = 200 ]; }
server() {
    OPSTREAM_PREFIX=$prefix OPSTREAM_STATE=$state OPSTREAM_PORT=$PORT \
        "$abs_top_srcdir/script/server" >> "$T/server.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=($SERVER_PID)
    wait_until "script/server on $PORT" 60 healthy
}
ctrl_c() { kill -INT "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; }
left() { ! pgrep -f "$T/" > /dev/null; }

# The first start writes the config; the test's settings go into it as a
# user's edits would: a countdown that is tried again when its worker
# dies, and leases short enough for a test.
server
ctrl_c
JOBTYPES_DIR=$T/types
mkdir -p "$JOBTYPES_DIR"
add_retrying_countdown recount
cat >> "$state/opstream.conf" <<CONF
jobtypes_dir = $T/types
lease_ms = 1000
retry_ms = 300
CONF
server

HOME=$T CHROMIUM=$chromium KILL_SECONDS=${KILL_SECONDS:-120} \
    node "$abs_top_srcdir/tests/contract/stack_kills.mjs" "$BASE" "$T/" 600 recount lighttpd \
    > "$T/browser.out" 2>&1 || true
cat "$T/browser.out"
check "Chromium followed the run through the kills" grep -q '^6 passed, 0 failed' "$T/browser.out"
grep -E "supervise: .* (killed|exited)" "$T/server.log" | sed 's/^supervise: //; s/ (pid [0-9]*)//; s/ after.*//' |
    sort | uniq -c | sed 's/^ */# /' || true
ctrl_c
check "Ctrl-C leaves nothing of the stack running" wait_until "the stack to stop" 60 left
finish
