#!/usr/bin/env bash
# The responder on its own socket (-s), as spawn-fcgi, nginx or Apache
# mod_proxy_fcgi use it, driven by a real FastCGI client (cgi-fcgi). Peers
# that connect and send nothing must not keep anyone else waiting.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
request_timeout_ms = 1000
CONF
start_redis

start_socket_responders

tcp_up() { fcgi "127.0.0.1:$FPORT" GET /api/v1/health | grep -q '^Status: 200'; }
unix_up() { fcgi "$T/fcgi.sock" GET /api/v1/health | grep -q '^Status: 200'; }
check "-s HOST:PORT serves FastCGI" wait_until "tcp responder" 10 tcp_up
check "-s unix:PATH serves FastCGI" wait_until "unix responder" 10 unix_up

# More silent peers than there are acceptor threads, held open.
for i in $(seq 12); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$FPORT"
    SILENT+=($fd)
done
start=$SECONDS
check "a request after 12 silent TCP peers is still answered" tcp_up
check "within a few request timeouts" test $((SECONDS - start)) -le 6
for fd in "${SILENT[@]}"; do exec {fd}>&-; done

out=$(fcgi "127.0.0.1:$FPORT" GET /api/v1/nothing)
check "errors travel over FastCGI as problem+json" sh -c "echo '$out' | grep -q '^Content-Type: application/problem+json'"
check "SIGTERM stops the responder" sh -c "kill -TERM ${PIDS[1]}; wait_pid() { for _ in \$(seq 100); do kill -0 ${PIDS[1]} 2>/dev/null || return 0; sleep 0.1; done; return 1; }; wait_pid"
finish
