#!/usr/bin/env bash
# One web server from Debian's packages in front of opstream, on loopback,
# set up by its shipped configuration in fcgi-conf/, and what a user of
# it must get (`make check-servers` runs it for every server):
#   create -> status -> stream -> cancel -> the stream ends;
#   the first events reach the client within 100 ms of the job writing them;
#   a stream idle for three keepalive intervals stays open;
#   with 200 streams open (CGI: 20), 100 creates and 100 status requests
#   each complete in under 1 s;
#   a client that vanishes frees what it held, one that reconnects resumes;
#   behind mod_proxy_fcgi, 24 clients trickling their request bodies get
#   408 in time and hold up no one;
#   a long poll through a killed responder: nginx retries it, elsewhere
#   the client does;
#   Chromium's EventSource follows a 600-event run to its end while
#   opstream's processes, the master included, are SIGKILLed in turn, and
#   again while one of them (the worker and its jobs too) is SIGKILLed
#   at random every second.
# FastCGI servers also show a graceful reload (SIGUSR1) and stop (SIGTERM).
# The whole stack runs as the web server's user (www-data), as it does
# where the web server starts opstream itself.
#   usage: OPSTREAM_SERVER=lighttpd|apache|apache-fcgid|cgi|nginx run.sh
. "$abs_top_srcdir/tests/integration/lib.sh"
SERVER=${OPSTREAM_SERVER:?}
here=$abs_top_srcdir/tests/servers
conf_dir=$abs_top_srcdir/fcgi-conf
case $SERVER in
lighttpd) need=(lighttpd) ;;
apache|apache-fcgid|cgi) need=(apache2) ;;
nginx) need=(nginx) ;;
*) echo "unknown server: $SERVER" >&2; exit 2 ;;
esac
for b in "${need[@]}"; do
    command -v "$b" >/dev/null || { echo "SKIP: $b is not installed (script/bootstrap installs it)"; exit $SKIP; }
done
echo "# $SERVER"
# Debian's python3: one under root's home is not the stack user's to run.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

# Installed as a deployment would be: programs, job types and pages in
# the test's directory, owned by the user the stack runs as.
mkdir -p "$T/bin/jobs" "$T/fcgid" "$T/nginx-tmp"
cp "$BIN/opstream.fcgi" "$BIN/opstream-worker" "$BIN/opstream" "$T/bin/"
for j in ask countdown fail sleep steps; do cp "$BIN/jobs/$j" "$T/bin/jobs/"; done
cp -r "$abs_top_srcdir/www" "$T/www"
BIN=$T/bin
FCGI=$BIN/opstream.fcgi
WORKER=$BIN/opstream-worker
use_test_types
use_mcp_types
add_retrying_countdown recount
# A job that writes the time it writes each event, for the latency check.
add_type stamp 'read -r input
i=0
while [ $i -lt 12 ]; do echo "{\"event\":\"stamp\",\"data\":{\"t\":$(date +%s%3N)}}"; i=$((i + 1)); sleep 0.25; done
echo "{\"event\":\"result\",\"data\":{}}"'
extra="retry_ms = 100
lease_ms = 1000"
[ "$SERVER" != apache-fcgid ] || extra="$extra
responder_processes = 0"
KEEPALIVE_MS=2000 AUTH=token write_config <<<"$extra"
user=www-data
if [ "$(id -u)" = 0 ]; then
    AS=(setpriv --reuid="$user" --regid="$user" --clear-groups)
    chown -R "$user:" "$T"
fi
cli() { "${AS[@]}" "$BIN/opstream" -c "$T/opstream.conf" "$@"; }
start_redis
cli init >/dev/null
TOKEN=$(cli token create tester)
OTHER=$(cli token create other)
SOCK=$T/opstream.fcgi.sock
PORT=$((20000 + RANDOM % 12000))
BASE=http://127.0.0.1:$PORT
API=/api

up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$API/v1/health")" = 200 ]; }

start_apache() { # start_apache SNIPPET
    T=$T PORT=$PORT WWW=$T/www SNIPPET=$1 OPSTREAM_SOCKET=$SOCK OPSTREAM_FCGI=$FCGI \
    OPSTREAM_CONF=$T/opstream.conf \
        "${AS[@]}" apache2 -f "$conf_dir/apache-standalone.conf" -DFOREGROUND 2>>"$T/apache.log" &
    PIDS+=($!)
}

# opstream.fcgi as systemd runs opstream-fcgi.socket and its service: the
# socket held across every death, the master started anew when it dies.
socket_unit() {
    "${AS[@]}" "$PYTHON" "$here/socket_unit.py" "$SOCK" "$FCGI" -c "$T/opstream.conf" \
        >>"$T/socket-unit.log" 2>>"$T/fcgi.log" &
    UNIT_PID=$!
    PIDS+=($UNIT_PID)
    wait_until "opstream.fcgi's socket" 30 test -S "$SOCK"
}

case $SERVER in
lighttpd)
    socket_unit
    FCGI_PID=$UNIT_PID
    start_lighttpd
    ;;
apache)
    socket_unit
    start_apache "$conf_dir/apache-proxy-fcgi.conf"
    ;;
apache-fcgid)
    start_apache "$conf_dir/apache-fcgid.conf"
    ;;
cgi)
    # The server's own configuration at /api, and the shared-hosting form
    # (.htaccess beside a copy of the program) at /opstream/.
    mkdir -p "$T/www/opstream"
    cp "$FCGI" "$T/www/opstream/opstream.cgi"
    sed "s|/home/USER/opstream/opstream.conf|$T/opstream.conf|" "$conf_dir/htaccess" > "$T/www/opstream/.htaccess"
    [ "${#AS[@]}" -eq 0 ] || chown -R "$user:" "$T/www/opstream"
    start_apache "$conf_dir/apache-cgi.conf"
    ;;
nginx)
    socket_unit
    sed -e "s|/run/opstream/fcgi.sock|$SOCK|g" -e "s|/usr/share/opstream/www|$T/www|" \
        -e "s|127.0.0.1:8080|127.0.0.1:$PORT|" "$conf_dir/nginx.conf" > "$T/opstream-nginx.conf"
    cp "$conf_dir/nginx-standalone.conf" "$T/nginx.conf"
    [ "${#AS[@]}" -eq 0 ] || chown -R "$user:" "$T/opstream-nginx.conf" "$T/nginx.conf"
    "${AS[@]}" nginx -p "$T" -c "$T/nginx.conf" -e "$T/nginx-error.log" -g 'daemon off;' 2>>"$T/nginx.log" &
    PIDS+=($!)
    ;;
esac
wait_until "$SERVER on $PORT" 30 up
# The worker as script/server and systemd run it: started anew when it dies.
start_worker_supervised

auth=(-H "Authorization: Bearer $TOKEN")
json=(-H 'Content-Type: application/json')
call() { # call METHOD PATH [curl args...]: body to stdout, status in $T/status
    local method=$1 path=$2
    shift 2
    curl -sS -X "$method" -o "$T/body" -w '%{http_code}' "${auth[@]}" "$@" "$BASE$API$path" > "$T/status"
    cat "$T/body"
}
create() { call POST /v1/runs "${json[@]}" --data "$1" > "$T/created.json"; jq -r .id "$T/created.json"; }
events_link() { jq -r .links.events "$T/created.json"; }
is_status() { [ "$(call GET "/v1/runs/$1" | jq -r .status)" = "$2" ]; }

# --- create -> status -> stream -> cancel -> the stream ends
run=$(create '{"type":"countdown","input":{"n":1000,"interval_ms":50}}')
check_eq "create: 202" 202 "$(status)"
check "the Location names the run under the client's base" \
    grep -q "\"self\": *\"$API/v1/runs/$run\"" <(jq . "$T/created.json")
call GET "/v1/runs/$run" >/dev/null
check_eq "status: 200" 200 "$(status)"
link=$(events_link)
curl -sN --max-time 60 -o "$T/cancelled.sse" "$BASE$link" &
reader=$!
wait_until "progress on the stream" 20 grep -q '^event: progress' "$T/cancelled.sse"
if [ "$SERVER" = lighttpd ]; then
    # lighttpd refuses a POST without a body length itself (documented).
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${auth[@]}" "$BASE$API/v1/runs/$run/cancel")
    check_eq "lighttpd: a bodiless POST without Content-Length gets 411" 411 "$code"
    call POST "/v1/runs/$run/cancel" -H 'Content-Length: 0' >/dev/null
else
    call POST "/v1/runs/$run/cancel" >/dev/null # no body, no Content-Length
fi
check_eq "cancel without a body: 202" 202 "$(status)"
check "the stream ends after the cancel" wait "$reader"
check_eq "it ends with run_finished, cancelled" "run_finished cancelled" \
    "$(frames "$T/cancelled.sse" | tail -n 1 | awk -F'\t' '{print $2}') $(frames "$T/cancelled.sse" | tail -n 1 | cut -f3 | jq -r .status)"

# --- a large body (300 KB, under body_max_bytes) is read whole, at once
python3 -c 'import json; print(json.dumps({"type": "countdown", "input": {"n": 0}, "metadata": {"blob": "x" * 300000}}))' > "$T/large.json"
t0=$(date +%s%3N)
call POST /v1/runs "${json[@]}" --data-binary "@$T/large.json" > /dev/null
took=$(( $(date +%s%3N) - t0 ))
check_eq "a 300 KB create is answered 202" 202 "$(status)"
check "within 1 s (it took $took ms)" test "$took" -lt 1000

# --- shared hosting: the .htaccess form, under a base path of its own
if [ "$SERVER" = cgi ]; then
    API=/opstream/api
    check_eq ".htaccess: health under /opstream/api" 200 \
        "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$API/v1/health")"
    run=$(create '{"type":"countdown","input":{"n":3,"interval_ms":10}}')
    check_eq ".htaccess: create 202" 202 "$(status)"
    check_eq ".htaccess: the links keep the client's base" "$API/v1/runs/$run" "$(jq -r .links.self "$T/created.json")"
    API=/opstream/opstream.cgi
    check_eq ".htaccess: the same run through the program's own URL (PATH_INFO)" "$run" \
        "$(call GET "/v1/runs/$run" | jq -r .id)"
    curl -sN --max-time 20 -o "$T/htaccess.sse" "$BASE$(events_link)"
    check_eq ".htaccess: the stream runs to run_finished" run_finished "$(frames "$T/htaccess.sse" | tail -n 1 | cut -f2)"
    API=/api
fi

# --- the first events arrive within 100 ms of the job writing them
run=$(create '{"type":"stamp"}')
python3 "$here/load.py" first_events 127.0.0.1 "$PORT" "$(events_link)" > "$T/first.json"
echo "# first events: $(cat "$T/first.json")"
check "stamps arrived after connecting" test "$(jq '.delays_ms | length' "$T/first.json")" -ge 3
check "each within 100 ms of being written" test "$(jq '[.delays_ms[] | select(. >= 100)] | length' "$T/first.json")" -eq 0

# --- a stream idle for three keepalive intervals stays open
quiet=$(create '{"type":"countdown","input":{"n":1,"interval_ms":600000}}')
quiet_link=$(events_link)
wait_until "the quiet run starts" 20 is_status "$quiet" running
set +e
curl -sN --max-time 6.5 -o "$T/idle.sse" "$BASE$quiet_link"
rc=$?
set -e
check_eq "after 3 keepalive intervals the stream is still open (curl timed out)" 28 "$rc"
check "keepalives kept it talking" test "$(grep -c '^: keepalive' "$T/idle.sse")" -ge 3

# --- 200 streams open (CGI: 20), 100 creates and 100 status requests
streams=200
[ "$SERVER" != cgi ] || streams=20
clients() { redis-cli -s "$T/redis.sock" INFO clients | awk -F: '$1=="connected_clients"{print $2+0}'; }
clients_at_most() { [ "$(clients)" -le "$1" ]; }
before_burst=$(clients)
# mod_fcgid starts a process per concurrent request, and one that finds
# none idle waits about 1 s for it (mod_fcgid's spawn loop): the burst
# meets a warm pool, as in service (the README says so).
warm=0
[ "$SERVER" != apache-fcgid ] || warm=16
WARM=$warm TOKEN=$TOKEN python3 "$here/load.py" hold_and_burst 127.0.0.1 "$PORT" "$API" "$quiet_link" "$quiet" "$streams" 100 \
    '{"type":"countdown","input":{"n":0}}' > "$T/burst.json" || true
echo "# with $streams streams open: $(cat "$T/burst.json")"
check_eq "$streams streams held open" "$streams" "$(jq -r .streams "$T/burst.json")"
check "every create answered 202 and every status 200" \
    test "$(jq -c '[.create_bad, .status_bad]' "$T/burst.json")" = '[[],[]]'
check "each create under 1 s" test "$(jq .create_max_ms "$T/burst.json")" -lt 1000
check "each status under 1 s" test "$(jq .status_max_ms "$T/burst.json")" -lt 1000

# --- slow request bodies (mod_proxy_fcgi passes a body on as it arrives)
if [ "$SERVER" = apache ]; then
    TOKEN=$TOKEN python3 "$here/load.py" slow_bodies 127.0.0.1 "$PORT" "$API" 24 7 > "$T/slow.json"
    echo "# 24 slow bodies: health slowest $(jq .health_slowest_ms "$T/slow.json") ms of" \
         "$(jq .health_asked "$T/slow.json"); answers $(jq -c '[.clients[] | [.status, .s]] | group_by(.[0]) | map([.[0][0], length, (map(.[1]) | min), (map(.[1]) | max)])' "$T/slow.json")"
    check "with 24 clients trickling their bodies, health answered every time in under 100 ms" \
        jq -e '.health_failed == 0 and .health_asked >= 20 and .health_slowest_ms < 100' "$T/slow.json"
    # The deadline runs from opstream's accept; the client counts from its
    # connect to Apache, which reads the head and connects on first: 1 s.
    check "each slow client was answered 408 within request_timeout_ms (5 s)" \
        jq -e '.clients | length == 24 and all(.status == 408 and .s <= 6)' "$T/slow.json"
fi

# --- a client that vanishes frees what it held
check "the burst's streams were freed" wait_until "freed" 10 clients_at_most "$before_burst"
base_clients=$(clients)
python3 "$here/load.py" vanish 127.0.0.1 "$PORT" "$quiet_link" 20 >/dev/null
check "20 vanished clients freed their streams within 3 keepalive intervals" \
    wait_until "freed" 6 clients_at_most "$base_clients"

# --- one that reconnects resumes without loss
run=$(create '{"type":"countdown","input":{"n":300,"interval_ms":10}}')
link=$(events_link)
curl -sN --max-time 1 -o "$T/part.sse" "$BASE$link" || true
frames "$T/part.sse" > "$T/part"
last=$(tail -n 1 "$T/part" | cut -f1)
check "the first connection read part of the run" test -n "$last"
follow "$BASE$link" "$T/rest" "$last" >/dev/null
cat "$T/part" "$T/rest" > "$T/whole"
check_stream_complete "$T/whole" 300

# --- MCP through this server: the official SDK's client, its calls,
# cuts, tasks, questions, owners and malformed messages
# (tests/contract/mcp.mjs, as tests/integration/mcp.sh runs it)
if command -v node >/dev/null && [ -d "$abs_top_srcdir/tests/contract/node_modules/@modelcontextprotocol/sdk" ]; then
    if node "$abs_top_srcdir/tests/contract/mcp.mjs" main "$BASE${API%/api}" "$TOKEN" "$OTHER" > "$T/mcp.out" 2>&1; then mcp=0; else mcp=1; fi
    grep '^not ok' "$T/mcp.out" || true
    echo "# MCP: $(grep -c '^ok' "$T/mcp.out") checks passed, $(grep -c '^not ok' "$T/mcp.out") failed"
    check "MCP: the SDK's client passes every check behind $SERVER" test "$mcp" = 0
else
    echo "# SKIP MCP: node or the MCP SDK in tests/contract/node_modules missing"
fi

# --- LangGraph's stream and the AI SDK's UI message stream through this
# server: a stream names where it resumes (Location, which Apache must not
# take for a local redirect), and arrives whole.
lg=(-H "x-api-key: $TOKEN" -H 'Content-Type: application/json')
thread=$(curl -s -X POST "${lg[@]}" --data '{}' "$BASE$API/langgraph/threads" | jq -r .thread_id)
curl -sN --max-time 30 -D "$T/lg.head" -X POST "${lg[@]}" \
    --data '{"assistant_id":"countdown","input":{"n":3,"interval_ms":10}}' \
    "$BASE$API/langgraph/threads/$thread/runs/stream" > "$T/lg.sse"
lg_run=$(sed -n 's|^[Cc]ontent-[Ll]ocation: .*/runs/\([^[:space:]]*\).*|\1|p' "$T/lg.head")
check_eq "LangGraph: the stream names where it resumes in Location" "/threads/$thread/runs/$lg_run/stream" \
    "$(sed -n 's|^[Ll]ocation: \([^[:space:]]*\).*|\1|p' "$T/lg.head")"
check_eq "LangGraph: metadata, values and end arrive" "200 metadata values end" \
    "$(head -n 1 "$T/lg.head" | cut -d' ' -f2) $(grep '^event: ' "$T/lg.sse" | cut -c8- | tr -d '\r' | tr '\n' ' ' | sed 's/ $//')"
ui_run=$(create '{"type":"countdown","input":{"n":3,"interval_ms":10}}')
curl -sN --max-time 30 -D "$T/ui.head" -H "Authorization: Bearer $TOKEN" "$BASE$API/v1/runs/$ui_run/events?format=ui" > "$T/ui.sse"
check "the UI message stream: its header, and [DONE] at the end" \
    sh -c "grep -qi '^x-vercel-ai-ui-message-stream: v1' '$T/ui.head' && tail -n 2 '$T/ui.sse' | grep -qx 'data: \[DONE\]'"

# --- a responder killed mid-stream: its client learns at once
# (Apache would keep the connection for KeepAliveTimeout: see
# fcgi-conf/apache-proxy-fcgi.conf), and so reconnects at once.
sockets_of() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
busiest() { # busiest ROLE: its process holding the most sockets
    local pid best= most=-1 n
    for pid in $(fcgi_pids "$1"); do
        n=$(sockets_of "$pid")
        [ "$n" -le "$most" ] || { most=$n; best=$pid; }
    done
    echo "$best"
}
run=$(create '{"type":"countdown","input":{"n":1000,"interval_ms":20}}')
curl -sN --max-time 30 -o "$T/killed.sse" "$BASE$(events_link)" &
reader=$!
wait_until "reading" 20 grep -q '^event: progress' "$T/killed.sse"
case $SERVER in
cgi) victims=$(fcgi_pids opstream.fcgi) ;;
apache-fcgid) victims=$(busiest fcgi-responder) ;;
*) victims=$(fcgi_pids fcgi-responder) ;;
esac
t0=$(date +%s%3N)
kill -KILL $victims
wait "$reader" || true
took=$(( $(date +%s%3N) - t0 ))
echo "# the stream ended $took ms after its responder was killed"
check "a stream whose responder is SIGKILLed ends within 1 s" test "$took" -lt 1000
wait_until "the run can be cancelled" 10 sh -c "curl -sf -o /dev/null -X POST -d '' -H 'Authorization: Bearer $TOKEN' '$BASE$API/v1/runs/$run/cancel'"

# --- a long poll whose responder is SIGKILLed: nginx hands the GET to its
# next upstream (the same socket: a new responder) and the client never
# knows; lighttpd and Apache answer 5xx, and the client asks again, as the
# README says (every opstream request is safe to repeat).
if [ "$SERVER" != cgi ] && [ "$SERVER" != apache-fcgid ]; then
    run=$(create '{"type":"sleep","input":{"seconds":2}}')
    xreads() { redis-cli -s "$T/redis.sock" CLIENT LIST | grep -c 'cmd=xread ' || true; }
    before=$(xreads)
    curl -s -o "$T/waited.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "$BASE$API/v1/runs/$run/wait?timeout=20" > "$T/wait.code" &
    waiter=$!
    more_xreads() { [ "$(xreads)" -gt "$before" ]; }
    wait_until "the long poll to wait in Redis" 20 more_xreads
    kill -KILL $(fcgi_pids fcgi-responder)
    wait "$waiter" || true
    if [ "$SERVER" = nginx ]; then
        check_eq "nginx retried the long poll: 200 with the run ended" "200 succeeded" \
            "$(cat "$T/wait.code") $(jq -r .status "$T/waited.json" 2>/dev/null)"
    else
        echo "# $SERVER answered $(cat "$T/wait.code") to the long poll whose responder was killed"
        again=$(call GET "/v1/runs/$run/wait?timeout=20" | jq -r .status)
        check_eq "asked again, the long poll answers 200 with the run ended" "200 succeeded" \
            "$(cat "$T/status") $again"
    fi
fi

# --- graceful reload and stop (the FastCGI socket's holders)
if [ "$SERVER" = lighttpd ] || [ "$SERVER" = apache ] || [ "$SERVER" = nginx ]; then
    run=$(create '{"type":"countdown","input":{"n":400,"interval_ms":10}}')
    link=$(events_link)
    follow "$BASE$link" "$T/reloaded" > /dev/null &
    follower=$!
    curl -sN --max-time 30 -o "$T/one.sse" "$BASE$link" &
    one=$!
    wait_until "reading" 20 grep -q '^event: progress' "$T/one.sse"
    kill -USR1 "$(fcgi_pids fcgi-master | head -n 1)"
    check "on reload a stream's response ends cleanly (curl exit 0)" wait "$one"
    # SIGTERM as a process manager sends it; the unit starts it again.
    kill -TERM "$(fcgi_pids fcgi-master | head -n 1)"
    wait_until "the service restarted" 20 grep -q restarted "$T/socket-unit.log"
    check "the follower read on" wait "$follower"
    check_stream_complete "$T/reloaded" 400
fi

# --- Chromium's EventSource through SIGKILLs of every opstream process
modules=$abs_top_srcdir/tests/contract/node_modules
chromium=${CHROMIUM:-/usr/bin/chromium}
if command -v node >/dev/null && [ -d "$modules/playwright-core" ] && [ -x "$chromium" ]; then
    # Single deaths: each kill comes after the reconnect the last one
    # caused has been answered (retry_ms is 100), as deaths in the field
    # are apart. Two within the few ms a responder takes to answer a
    # reconnect can still cost a 5xx where the server does not retry
    # (lighttpd, Apache): the README says so.
    pace=(EVENT_EVERY_MS=10 KILL_EVERY_MS=300)
    case $SERVER in
    apache-fcgid) roles=fcgi-responder pace=(EVENT_EVERY_MS=50 KILL_EVERY_MS=1500 KILL_PICK=busiest KILL_MIN_SOCKETS=3) ;;
    # A CGI process killed before its headers gets Apache's 500, which ends
    # an EventSource (the README's CGI limits): the victim is the process
    # that streams.
    # A CGI process streams once it holds its Redis connection: a third
    # socket beside its stdin and stdout (the same one, from mod_cgid).
    cgi) roles=opstream.fcgi pace=(EVENT_EVERY_MS=10 KILL_EVERY_MS=300 KILL_PICK=busiest KILL_MIN_SOCKETS=3) ;;
    *) roles=fcgi-responder,fcgi-master ;;
    esac
    env "${pace[@]}" HOME=$T CHROMIUM=$chromium TOKEN=$TOKEN node "$abs_top_srcdir/tests/contract/eventsource.mjs" \
        "$BASE" "$T/" 600 "$roles" > "$T/browser.out" 2>&1 || true
    cat "$T/browser.out"
    check "Chromium followed the run through the kills" grep -q '^5 passed, 0 failed' "$T/browser.out"
    # The kill sequence of make check's stack_kills.sh, opstream's
    # processes only: one at random every second (the master, a
    # responder, the worker; behind mod_fcgid and CGI, whose processes
    # Apache starts and the pass above kills, the worker alone), health
    # 200 again within 3 s of each. (A job killed fails its run, as it
    # should: not a fault of the stack's.)
    case $SERVER in
    apache-fcgid|cgi) kinds=worker ;;
    *) kinds=master,responder,responder,worker,worker ;;
    esac
    KINDS=$kinds REDIS_EVERY_S=0 KILL_SECONDS=${KILL_SECONDS:-30} EVENT_EVERY_MS=20 HOME=$T \
        CHROMIUM=$chromium TOKEN=$TOKEN node "$abs_top_srcdir/tests/contract/stack_kills.mjs" \
        "$BASE" "$T/" 600 recount > "$T/kills.out" 2>&1 || true
    cat "$T/kills.out"
    check "Chromium followed a run through random kills of opstream's processes" \
        grep -q '^6 passed, 0 failed' "$T/kills.out"
else
    echo "# SKIP the browser check: node, playwright-core or $chromium missing"
fi
finish
