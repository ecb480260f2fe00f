#!/usr/bin/env bash
# The resume test with a real browser: Chromium's EventSource reads a run
# while opstream.fcgi's processes, the socket's keeper included, are
# SIGKILLed in turn every 300 ms (tests/contract/eventsource.mjs), each
# death apart from the last one's reconnect (retry_ms 100).
. "$abs_top_srcdir/tests/integration/lib.sh"
need_browser
start_stack <<'CONF'
retry_ms = 100
CONF
KILL_EVERY_MS=300 HOME=$T CHROMIUM=$chromium node "$abs_top_srcdir/tests/contract/eventsource.mjs" "$BASE" "$T/" 600 \
    fcgi-responder,fcgi-keeper,fcgi-responder,fcgi-supervisor
