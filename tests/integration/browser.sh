#!/usr/bin/env bash
# The resume test with a real browser: Chromium's EventSource reads a run
# while opstream.fcgi's processes, its master included, are SIGKILLed in
# turn every 300 ms (tests/contract/eventsource.mjs), each death apart from
# the last one's reconnect (retry_ms 100). The master runs as script/server
# runs it: under script/supervise, which holds the socket and restarts it.
. "$abs_top_srcdir/tests/integration/lib.sh"
need_browser
write_config <<'CONF'
retry_ms = 100
CONF
start_redis
start_fcgi_supervised
start_lighttpd
start_worker
KILL_EVERY_MS=300 HOME=$T CHROMIUM=$chromium node "$abs_top_srcdir/tests/contract/eventsource.mjs" "$BASE" "$T/" 600 \
    fcgi-responder,fcgi-master
