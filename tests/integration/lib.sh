# Shared by the integration tests: a private stack per test.
#
# Each test gets its own directory under /tmp (unix socket paths must stay
# short), its own redis-server on a unix socket, opstream.fcgi on a unix
# socket, lighttpd on a free loopback port in front of it, and an
# opstream-worker. Everything
# started is stopped again on exit, whether the test passed or not.
set -euo pipefail

: "${abs_top_srcdir:?run through make check}" "${abs_top_builddir:?run through make check}"

SKIP=77
for bin in redis-server redis-cli lighttpd cgi-fcgi curl jq sqlite3 python3; do
    command -v "$bin" >/dev/null || { echo "SKIP: $bin is not installed"; exit $SKIP; }
done

# What the tests write is closed to other users, as an operator's files
# must be: the programs refuse a config or database others can read.
umask 077
T=$(mktemp -d /tmp/opstream-test.XXXXXX)
BIN=$abs_top_builddir/src
FCGI=$BIN/opstream.fcgi
WORKER=$BIN/opstream-worker

# OPSTREAM_VALGRIND=1 runs the responder and the worker under valgrind;
# any error it reports fails the test (see cleanup).
if [ -n "${OPSTREAM_VALGRIND:-}" ]; then
    for prog in opstream.fcgi opstream-worker; do
        cat > "$T/$prog" <<WRAP
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
    --log-file=$T/valgrind-$prog.%p.log $BIN/$prog "\$@"
WRAP
        chmod +x "$T/$prog"
    done
    FCGI=$T/opstream.fcgi
    WORKER=$T/opstream-worker
fi
PIDS=()
# A command prefix that runs the stack as another user (tests/servers).
AS=()
FAILS=0
CHECKS=0

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # A process that does not stop within 20 s (a bug under test) is
    # killed, so that a failing test fails instead of hanging.
    (sleep 20; for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done) &
    local dog=$!
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    kill "$dog" 2>/dev/null || true
    # Whatever is left of the stack: processes a kill replaced, and any
    # job left behind. Until none is left.
    local round
    for round in $(seq 50); do
        pkill -KILL -f "$T/" 2>/dev/null || break
        sleep 0.1
    done
    # A sanitizer or valgrind report from any process of the stack fails the test.
    if grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$T"/*.log 2>/dev/null; then
        echo "not ok - a sanitizer reported an error"
        [ "$rc" -ne 0 ] || rc=1
    fi
    # (This valgrind does not know pidfd_open, syscall 434, and says so:
    # the worker then finds its jobs' exits at each tick instead. That
    # note is valgrind's, not an error of ours.)
    local noise='^--[0-9]+-- (WARNING: unhandled amd64-linux syscall: 434|You may be able to write your own handler\.|Read the file README_MISSING_SYSCALL_OR_IOCTL\.|Nevertheless we consider this a bug\.  Please report|it at http://valgrind\.org/support/bug_reports\.html\.)$'
    for f in "$T"/valgrind-*.log; do
        [ -f "$f" ] || continue
        grep -Ev "$noise" "$f" > "$f.errors" || true
        if [ -s "$f.errors" ]; then
            echo "not ok - valgrind reported errors in $f:"; head -n 40 "$f.errors"
            [ "$rc" -ne 0 ] || rc=1
        fi
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ]; then
        for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
    fi
    [ -n "${KEEP_T:-}" ] && cp -r "$T" "$KEEP_T" 2>/dev/null; rm -rf "$T"
    if [ -n "${PG_DIR:-}" ]; then
        pkill -KILL -f "$PG_DIR/" 2>/dev/null || true
        rm -rf "$PG_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until DESCRIPTION SECONDS COMMAND...: polls a real condition with a deadline.
wait_until() {
    local what=$1 secs=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out after ${secs}s waiting for: $what" >&2
            return 1
        fi
        sleep 0.05
    done
}

check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    CHECKS=$((CHECKS + 1))
    if "$@"; then echo "ok - $what"; else echo "not ok - $what"; FAILS=$((FAILS + 1)); fi
}

check_eq() { # check_eq DESCRIPTION EXPECTED ACTUAL
    CHECKS=$((CHECKS + 1))
    if [ "$2" == "$3" ]; then
        echo "ok - $1"
    else
        echo "not ok - $1: expected [$2], got [$3]"
        FAILS=$((FAILS + 1))
    fi
}

finish() {
    echo "$((CHECKS - FAILS)) of $CHECKS checks passed"
    [ "$FAILS" -eq 0 ]
}

# The ledger: a SQLite file, or with OPSTREAM_TEST_LEDGER=postgresql a
# PostgreSQL server of the test's own (start_postgres).
LEDGER=$T/opstream.db
[ "${OPSTREAM_TEST_LEDGER:-}" != postgresql ] || LEDGER=postgresql

write_config() { # extra "key = value" lines on stdin are appended
    [ "$LEDGER" != postgresql ] || [ -n "${PG_PID:-}" ] || start_postgres
    cat > "$T/opstream.conf" <<CONF
redis = unix:$T/redis.sock
database = $(ledger_url)
jobtypes_dir = ${JOBTYPES_DIR:-$abs_top_srcdir/src/jobs}
job_path = $BIN/jobs
base_path = /api
keepalive_ms = ${KEEPALIVE_MS:-15000}
auth = ${AUTH:-none}
worker_poll_ms = 200
kill_grace_ms = 2000
shutdown_grace_ms = 500
job_user =
job_uid_range =
CONF
    [ -t 0 ] || cat >> "$T/opstream.conf"
}

start_redis() { # also restarts it on the same socket and AOF
    "${AS[@]}" redis-server --port 0 --unixsocket "$T/redis.sock" --unixsocketperm 700 \
        --dir "$T" --appendonly yes --save '' --daemonize no \
        --logfile "$T/redis.log" &
    PIDS+=($!)
    REDIS_PID=$!
    wait_until "redis-server" 10 redis-cli -s "$T/redis.sock" ping
}

# PostgreSQL refuses to run as root: it runs as its own user, with its
# data and its unix socket in a directory of its own, PG_DIR (the test's
# is closed to other users). Called again, it restarts on the same data.
PG_BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
start_postgres() {
    if [ -z "${PG_DIR:-}" ]; then
        PG_DIR=$(mktemp -d /tmp/opstream-pg.XXXXXX)
        chown postgres: "$PG_DIR"
        as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U opstream --auth=trust -N \
            > "$T/initdb.log" 2>&1
    fi
    # setpriv execs: PG_PID is the server's own.
    setpriv --reuid=postgres --regid=postgres --clear-groups -- \
        "$PG_BIN/postgres" -D "$PG_DIR/data" -k "$PG_DIR" -c listen_addresses= \
        -c fsync=off -c max_connections=300 >> "$T/postgres.log" 2>&1 &
    PG_PID=$!
    PIDS+=($PG_PID)
    wait_until "postgres" 30 "$PG_BIN/pg_isready" -q -h "$PG_DIR"
    psql_ledger -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'opstream'" | grep -q 1 ||
        psql_ledger -d postgres -c "CREATE DATABASE opstream" > /dev/null
}
as_postgres() { setpriv --reuid=postgres --regid=postgres --clear-groups -- "$@"; }
psql_ledger() { psql -X -q -A -t -h "$PG_DIR" -U opstream "$@"; }
# The database setting: a file's path or a connection string.
ledger_url() {
    if [ "$LEDGER" = postgresql ]; then echo "postgresql://opstream@/opstream?host=$PG_DIR"; else echo "$LEDGER"; fi
}
# ledger_sql SQL: runs SQL against the test's ledger, whichever engine.
ledger_sql() {
    if [ "$LEDGER" = postgresql ]; then psql_ledger -d opstream -c "$1"; else sqlite3 "$LEDGER" "$1"; fi
}

# opstream.fcgi on its own unix socket, as spawn-fcgi or -s run it: the
# master is FCGI_PID.
start_fcgi() {
    SOCK=$T/opstream.fcgi.sock
    "${AS[@]}" "$FCGI" -c "$T/opstream.conf" -s "unix:$SOCK" 2>>"$T/fcgi.log" &
    FCGI_PID=$!
    PIDS+=($FCGI_PID)
    wait_until "opstream.fcgi's socket" 30 test -S "$SOCK"
}

# start_fcgi_supervised: opstream.fcgi as script/server runs it, under
# script/supervise, which holds its socket (as systemd's socket unit does)
# and starts a master anew when one dies. FCGI_PID is the supervisor.
start_fcgi_supervised() {
    SOCK=$T/opstream.fcgi.sock
    jq -n --arg sock "$SOCK" --arg fcgi "$FCGI" --arg conf "$T/opstream.conf" --arg log "$T/fcgi.log" \
        '{socket: {path: $sock, mode: "0600"},
          processes: [{name: "opstream.fcgi", socket: true, argv: [$fcgi, "-c", $conf], log: $log}]}' \
        > "$T/supervise.json"
    "${AS[@]}" /usr/bin/python3 "$abs_top_srcdir/script/supervise" "$T/supervise.json" 2>>"$T/supervise.log" &
    FCGI_PID=$!
    PIDS+=($FCGI_PID)
    wait_until "opstream.fcgi's socket" 30 test -S "$SOCK"
}

# start_socket_responders: opstream.fcgi with no web server, on a TCP
# port of its own ($FPORT, on 127.0.0.1) and on $T/fcgi.sock, as
# spawn-fcgi, nginx or Apache mod_proxy_fcgi use it.
start_socket_responders() {
    FPORT=$((20000 + RANDOM % 12000))
    "$FCGI" -c "$T/opstream.conf" -s "127.0.0.1:$FPORT" 2>>"$T/fcgi-tcp.log" &
    PIDS+=($!)
    "$FCGI" -c "$T/opstream.conf" -s "unix:$T/fcgi.sock" 2>>"$T/fcgi-unix.log" &
    PIDS+=($!)
}

# fcgi_pids ROLE: the pids of this test's opstream.fcgi processes in ROLE
# (fcgi-master, fcgi-responder; see src/proctree.c).
fcgi_pids() {
    local pid
    for pid in $(pgrep -x "$1"); do
        # (No pipe: under pipefail, grep -q leaving early could fail it.)
        grep -qaF -- "$T/" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
    done
    return 0
}

# Test ports are 20000-31999: below Linux's ephemeral range (32768 up),
# so that no client connection of a test running beside holds one.
start_lighttpd() {
    local tries=0
    [ -n "${FCGI_PID:-}" ] || start_fcgi
    while :; do
        PORT=$((20000 + RANDOM % 12000))
        OPSTREAM_PORT=$PORT OPSTREAM_WWW=$abs_top_srcdir/www OPSTREAM_STATE=$T \
        OPSTREAM_SOCKET=$SOCK \
            "${AS[@]}" lighttpd -D -f "$abs_top_srcdir/fcgi-conf/lighttpd.conf" 2>>"$T/lighttpd.log" &
        LIGHTTPD_PID=$!
        BASE=http://127.0.0.1:$PORT
        if wait_until "lighttpd on $PORT" 30 lighttpd_up; then
            PIDS+=($LIGHTTPD_PID)
            return 0
        fi
        kill "$LIGHTTPD_PID" 2>/dev/null || true
        wait "$LIGHTTPD_PID" 2>/dev/null || true
        tries=$((tries + 1))
        [ "$tries" -lt 5 ] || { echo "lighttpd did not start" >&2; return 1; }
    done
}

lighttpd_up() {
    kill -0 "$LIGHTTPD_PID" 2>/dev/null || return 2
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/health")" = 200 ]
}

start_worker() {
    "${AS[@]}" "$WORKER" -c "$T/opstream.conf" 2>>"$T/worker.log" &
    PIDS+=($!)
    WORKER_PID=$!
}

# start_worker_supervised: the worker under script/supervise, started anew
# when it dies, as script/server and systemd run it. WORKER_PID is the
# supervisor.
start_worker_supervised() {
    # (The supervisor as whoever runs the test, as systemd runs as root;
    # the worker as the stack's user.)
    python3 -c 'import json, sys; print(json.dumps({"processes": [{"name": "worker",
        "argv": sys.argv[2:], "log": sys.argv[1], "stop_s": 30}]}))' \
        "$T/worker.log" "${AS[@]}" "$WORKER" -c "$T/opstream.conf" > "$T/supervise-worker.json"
    /usr/bin/python3 "$abs_top_srcdir/script/supervise" "$T/supervise-worker.json" 2>>"$T/supervise.log" &
    WORKER_PID=$!
    PIDS+=($WORKER_PID)
}

# add_retrying_countdown NAME: the shipped countdown as a type tried again
# (up to 100 times) when its worker or runner dies.
add_retrying_countdown() {
    jq --arg n "$1" '. + {name: $n, retries: 100}' "$abs_top_srcdir/src/jobs/countdown.json" \
        > "$JOBTYPES_DIR/$1.json"
}

start_stack() {
    write_config
    start_redis
    start_lighttpd
    start_worker
}

# api METHOD PATH [curl args...]: body to stdout, status in $T/status
api() {
    local method=$1 path=$2
    shift 2
    curl -sS -X "$method" -o "$T/body" -w '%{http_code}' "$@" "$BASE/api$path" > "$T/status"
    cat "$T/body"
}
status() { cat "$T/status"; }

create_run() { # create_run JSON -> prints the run id
    api POST /v1/runs -H 'Content-Type: application/json' --data "$1" | jq -r .id
}

time_ms() { date -d "$1" +%s%3N; }  # an RFC 3339 time as ms since the epoch

run_status() {
    api GET "/v1/runs/$1" | jq -r .status
}

run_is() { [ "$(run_status "$1")" = "$2" ]; }

# frames FILE: one "id<TAB>event<TAB>data" line per complete SSE frame
frames() {
    awk '/^id: /{id=substr($0,5)} /^event: /{ev=substr($0,8)} /^data: /{d=substr($0,7)}
         /^$/{ if (id != "") print id "\t" ev "\t" d; id=""; ev=""; d="" }' "$1"
}

# follow URL OUT [LAST_ID]: reads a stream the way EventSource does: when a stream
# ends for any reason it waits the reconnection time the server sent in
# "retry:" and reconnects with Last-Event-ID, until the server answers 204;
# any answer but 200 or 204 is fatal, as it is for EventSource. Complete
# frames go to OUT, one per line as frames() prints them; LAST_ID resumes
# a stream read before. Bounded.
follow() {
    local url=$1 out=$2 last=${3:-} code tries=0 retry_ms=3000
    : > "$out"
    while [ "$tries" -lt 400 ]; do
        tries=$((tries + 1))
        code=$(curl -sN --max-time 60 -o "$out.seg" -w '%{http_code}' \
            ${last:+-H "Last-Event-ID: $last"} "$url") || true
        if [ "$code" = 204 ]; then
            echo "# follow: $tries connections, the last answered 204"
            return 0
        fi
        case $code in
        200|000) ;;
        *) echo "follow: HTTP $code, which would stop EventSource" >&2; return 1 ;;
        esac
        frames "$out.seg" >> "$out"
        [ -s "$out" ] && last=$(tail -n 1 "$out" | cut -f1)
        local r
        r=$(sed -n 's/^retry: \([0-9]*\)$/\1/p' "$out.seg" | tail -n 1)
        [ -z "$r" ] || retry_ms=$r
        sleep "$(awk -v ms="$retry_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"  # EventSource's reconnection time
    done
    echo "follow: gave up after $tries connections" >&2
    return 1
}

# ids_increase FILE: the ids of frames() output strictly increase
ids_increase() {
    awk -F'\t' '{ split($1, p, "-"); if (NR > 1 && (p[1] < pm || (p[1] == pm && p[2] <= ps))) bad = 1;
                   pm = p[1] + 0; ps = p[2] + 0 } END { exit bad }' "$1"
}

# fcgi ADDRESS METHOD URI: one request straight to a responder's socket
# with a real FastCGI client; the raw CGI response on stdout.
fcgi() {
    env -i REQUEST_METHOD="$2" REQUEST_URI="$3" QUERY_STRING= SCRIPT_NAME=/api \
        timeout 20 cgi-fcgi -bind -connect "$1"
}

# use_test_types: the shipped job types plus the tests' own, in $T/types:
# broken (fails at once, exit 3); sleeper (a shell that forks two sleeps
# of 60 s, announces its pid on stdout and waits).
# need_browser: skips the test unless node, playwright-core and Chromium
# are there; sets $chromium.
need_browser() {
    chromium=${CHROMIUM:-/usr/bin/chromium}
    if ! command -v node >/dev/null || [ ! -d "$abs_top_srcdir/tests/contract/node_modules/playwright-core" ] ||
       [ ! -x "$chromium" ]; then
        echo "SKIP: node, playwright-core or $chromium missing (script/bootstrap installs them)"
        exit $SKIP
    fi
}

# need_node_module PACKAGE: skips the test unless node and PACKAGE (in
# tests/contract/node_modules, which script/bootstrap installs) are here.
need_node_module() {
    if ! command -v node >/dev/null || [ ! -d "$abs_top_srcdir/tests/contract/node_modules/$1" ]; then
        echo "SKIP: node or $1 in tests/contract/node_modules missing (script/bootstrap installs them)"
        exit $SKIP
    fi
}

use_test_types() {
    JOBTYPES_DIR=$T/types
    mkdir -p "$JOBTYPES_DIR"
    cp "$abs_top_srcdir"/src/jobs/*.json "$JOBTYPES_DIR/"
    cat > "$JOBTYPES_DIR/broken.json" <<'TYPE'
{"name": "broken", "description": "exits 3 after a line on stderr",
 "command": ["/bin/sh", "-c", "echo 'it went wrong' >&2; exit 3"]}
TYPE
    cat > "$JOBTYPES_DIR/sleeper.json" <<'TYPE'
{"name": "sleeper", "description": "sleeps in two child processes",
 "command": ["/bin/sh", "-c", "sleep 60 & sleep 60 & echo \"{\\\"event\\\":\\\"output\\\",\\\"data\\\":{\\\"pgid\\\":$$}}\"; wait"]}
TYPE
}

# The start of a hostile test job's script: it reads its input, takes the
# run named in it ({"victim": ID}) as $victim, and writes a forged
# run_finished for that run into every descriptor past stderr it holds.
FORGE_INTO_DESCRIPTORS='read -r input
victim=$(echo "$input" | sed -n "s/.*\"victim\":\"\([^\"]*\)\".*/\1/p")
for f in /proc/$$/fd/*; do
  fd=${f##*/}
  [ "$fd" -gt 2 ] && printf "XADD opstream:{%s}:events * type run_finished data {}\r\n" "$victim" >&"$fd" 2>/dev/null
done
'

# add_type NAME SCRIPT: a test job type that runs SCRIPT with /bin/sh
add_type() {
    jq -n --arg n "$1" --arg s "$2" '{name: $n, description: "a test type", command: ["/bin/sh", "-c", $s]}' \
        > "$JOBTYPES_DIR/$1.json"
}

# add_lab NAME: a test type that shows progress 1, then waits; from its
# TERM handler it reports, as its result {"told": LINE}, the line it was
# told on stdin (a cancel's reason).
add_lab() {
    add_type "$1" 'read -r input
trap '"'"'read -r told; echo "{\"event\":\"result\",\"data\":{\"told\":$told}}"; exit 143'"'"' TERM
echo "{\"event\":\"progress\",\"data\":{\"current\":1}}"
while :; do sleep 0.05; done'
}

# use_mcp_types: what tests/contract/mcp.mjs calls besides the shipped
# types: asker, lab, and nested_asker, whose question no MCP client can be
# asked (a nested object), which it asks once and then waits.
use_mcp_types() {
    use_asker
    add_lab lab
    add_type nested_asker 'read -r input
echo '"'"'{"event":"input_required","data":{"prompt":"where?","schema":{"type":"object","properties":{"at":{"type":"object","properties":{"x":{"type":"number"}}}}}}}'"'"'
read -r reply'
}

# use_asker: adds a test type "asker" that asks for {"answer": string}
# once, then returns what it was told as its result.
use_asker() {
    local script='read -r input
echo '"'"'{"event":"input_required","data":{"prompt":"your answer?","schema":{"type":"object","properties":{"answer":{"type":"string","minLength":1}},"required":["answer"],"additionalProperties":false}}}'"'"'
read -r reply
echo "{\"event\":\"result\",\"data\":{\"reply\":$reply}}"'
    jq -n --arg s "$script" '{name: "asker", description: "asks once", command: ["/bin/sh", "-c", $s]}' \
        > "$JOBTYPES_DIR/asker.json"
}

# job_pgid RUN: the process group of a sleeper run, from its output event
job_pgid() {
    redis-cli -s "$T/redis.sock" XRANGE "opstream:{$1}:events" - + | grep -o '"pgid":[0-9]*' | cut -d: -f2
}

# check_stream_complete FILE N: frames() output of a followed run holds
# progress 1..N exactly once, in order, one run_finished, last, and no id
# twice or out of order.
check_stream_complete() {
    local f=$1 n=$2
    check_eq "progress 1..$n exactly once, in order" "$(seq 1 "$n" | md5sum)" \
        "$(awk -F'\t' '$2=="progress"' "$f" | cut -f3 | jq -r .current | md5sum)"
    check_eq "one run_finished, last" "1 run_finished" \
        "$(grep -c '	run_finished	' "$f") $(tail -n 1 "$f" | cut -f2)"
    check "event ids strictly increase" ids_increase "$f"
    check_eq "no event id twice" 0 "$(cut -f1 "$f" | sort | uniq -d | wc -l)"
}

# busy_and_waiting: (after write_config with worker_jobs = 1 and a short
# lease, and a stack) a sleep run keeps the one slot busy ($busy) while a
# countdown run waits behind it ($run) until its lease put it on the
# queue a second time (two entries, its lease cleared).
queue_entries() { rcli XRANGE opstream:queue - + | grep -cx "$1" || true; }
busy_and_waiting() {
    busy=$(create_run '{"type":"sleep","input":{"seconds":30}}')
    wait_until "the worker to be busy" 20 run_is "$busy" running
    run=$(create_run '{"type":"countdown","input":{"n":2,"interval_ms":10}}')
    twice() { [ "$(queue_entries "$run")" = 2 ]; }
    wait_until "the waiting run to be queued again after its lease" 20 twice
}
# start_fault_proxy: the stack reaches Redis through redis_fault.py, so that
# a test can make one fault happen at one exact point (fault_arm). Call it
# after start_redis and before starting the rest.
start_fault_proxy() {
    # Debian's python, which python3-hiredis is installed for.
    /usr/bin/python3 "$abs_top_srcdir/tests/integration/redis_fault.py" "$T/proxy.sock" "$T/redis.sock" \
        "$T/fault.json" "$T/fault.fired" 2>>"$T/proxy.log" &
    PIDS+=($!)
    wait_until "the fault proxy" 10 test -S "$T/proxy.sock"
    sed -i "s|^redis = .*|redis = unix:$T/proxy.sock|" "$T/opstream.conf"
}
# start_faulty_stack: start_stack (after write_config) with Redis behind
# the fault proxy.
start_faulty_stack() {
    start_redis
    start_fault_proxy
    start_lighttpd
    start_worker
}
# fault_arm JSON: the next command matching the rule meets its fault (see
# redis_fault.py); fault_fired tells when it has, fault_pid whom it hit.
fault_arm() {
    rm -f "$T/fault.fired"
    printf '%s' "$1" > "$T/fault.json.new" && mv "$T/fault.json.new" "$T/fault.json"
}
fault_fired() { test -s "$T/fault.fired"; }
fault_pid() { jq -r .pid "$T/fault.fired"; }
# Redis itself, not through the proxy.
rcli() { redis-cli -s "$T/redis.sock" "$@"; }
# stream_ids RUN / archive_ids RUN: the event ids Redis and the archive hold.
stream_ids() { rcli XRANGE "opstream:{$1}:events" - + | grep -E '^[0-9]+-[0-9]+$' || true; }
archive_ids() { ledger_sql "SELECT ms || '-' || seq FROM events WHERE run_id = '$1' ORDER BY ms, seq"; }
stream_events() { rcli XRANGE "opstream:{$1}:events" - + | grep -A1 -x type | grep -v -e -- -e '^type$' || true; }
# run_settled RUN: its end is settled (runs_settle cleared its lease).
run_settled() { [ "$(ledger_sql "SELECT CASE WHEN lease_until IS NULL THEN 1 ELSE 0 END FROM runs WHERE id = '$1'")" = 1 ]; }
