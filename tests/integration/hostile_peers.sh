#!/usr/bin/env bash
# Raw FastCGI peers on the responders' own socket: one declaring a
# 0x7fffffff-byte parameter name, 500 that connect and say nothing. Health
# through the web server keeps answering in under 100 ms throughout, and
# no responder process dies.
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack <<'CONF'
request_timeout_ms = 10000
CONF
responders() { fcgi_pids fcgi-responder | sort | tr '\n' ' '; }
before=$(responders)
sock=$SOCK

# The hostile peers, held open for 8 s; "ready" once all are connected.
python3 - "$sock" > "$T/peers.out" 2>&1 <<'PY' &
import socket, struct, sys, time
def record(kind, content):
    return struct.pack('>BBHHBB', 1, kind, 1, len(content), 0, 0) + content
evil = socket.socket(socket.AF_UNIX)
evil.connect(sys.argv[1])
evil.sendall(record(1, struct.pack('>HB5x', 1, 0)) +
             record(4, struct.pack('>I', 0x7fffffff | 0x80000000) + b'\x05' + b'A' * 200))
silent = []
for _ in range(500):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    silent.append(s)
print("ready", flush=True)
evil.settimeout(3)
try:
    print("evil answered:", len(evil.recv(100)), "bytes", flush=True)
except OSError as e:
    print("evil:", e, flush=True)
time.sleep(8)
PY
PEERS=$!
wait_until "the hostile peers are connected" 20 grep -q ready "$T/peers.out"
slowest=0
for i in $(seq 40); do
    ms=$(curl -s -o /dev/null -w '%{time_total}' "$BASE/api/v1/health" | awk '{ printf "%d", $1 * 1000 }')
    [ "$ms" -gt "$slowest" ] && slowest=$ms
    sleep 0.1  # spreads the 40 requests over the peers' lifetime; not a wait for anything
done
echo "# slowest of 40 health requests among 501 hostile peers: $slowest ms"
check "health answered every time in under 100 ms" test "$slowest" -lt 100
check "the peer declaring 0x7fffffff bytes was closed (or reset), unanswered" \
    grep -Eq '^evil( answered: 0 bytes|: .*reset by peer)' "$T/peers.out"
wait "$PEERS" || true
check_eq "no responder process died" "$before" "$(responders)"
finish
