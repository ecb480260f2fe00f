#!/usr/bin/env bash
# A web server that gives up on a request says so with FCGI_ABORT_REQUEST
# on a connection it keeps open: the open stream ends within keepalive_ms,
# with its END_REQUEST, instead of running on for nobody.
. "$abs_top_srcdir/tests/integration/lib.sh"
KEEPALIVE_MS=2000 start_stack
run=$(create_run '{"type":"sleep","input":{"seconds":60}}')
wait_until "the run runs" 20 run_is "$run" running
sock=$(ls "$T"/opstream.fcgi.sock* | head -n 1)
python3 - "$sock" "$run" > "$T/abort.out" 2>&1 <<'PY'
import socket, struct, sys, time
def record(kind, content):
    return struct.pack('>BBHHBB', 1, kind, 1, len(content), 0, 0) + content
def pair(n, v):
    return bytes([len(n), len(v)]) + n + v
params = b''.join(pair(n, v) for n, v in [
    (b'REQUEST_METHOD', b'GET'), (b'REQUEST_URI', ('/api/v1/runs/%s/events' % sys.argv[2]).encode()),
    (b'QUERY_STRING', b''), (b'HTTP_ACCEPT', b'text/event-stream')])
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(record(1, struct.pack('>HB5x', 1, 1)) + record(4, params) + record(4, b'') + record(5, b''))
s.settimeout(10)
got = b''
while b'retry:' not in got:
    chunk = s.recv(4096)
    if not chunk:
        print('closed before the stream began'); sys.exit(1)
    got += chunk
start = time.monotonic()
s.sendall(record(2, b''))
buf = b''
while True:
    try:
        chunk = s.recv(4096)
    except socket.timeout:
        print('no end within 10 s'); sys.exit(1)
    if not chunk:
        break
    buf += chunk
    # Walk the records for END_REQUEST (type 3).
    off, ended = 0, False
    while off + 8 <= len(buf):
        v, t, rid, clen, plen, _ = struct.unpack('>BBHHBB', buf[off:off + 8])
        if t == 3:
            ended = True
        off += 8 + clen + plen
    if ended:
        break
print('ended %d ms after the abort' % int((time.monotonic() - start) * 1000))
PY
cat "$T/abort.out"
ms=$(sed -n 's/^ended \([0-9]*\) ms.*/\1/p' "$T/abort.out")
check "the stream ended after FCGI_ABORT_REQUEST" test -n "$ms"
check "within keepalive_ms" test "${ms:-99999}" -le 2000
api GET "/v1/runs/$run" > /dev/null
check_eq "the run itself goes on" running "$(jq -r .status "$T/body")"
finish
