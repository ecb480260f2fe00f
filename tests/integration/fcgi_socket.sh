#!/usr/bin/env bash
# The responder's own socket (-s): a unix socket for the web server's group
# only (0660, fcgi_socket_group); ":PORT" listens on loopback, not on every
# interface; libfcgi's FCGI_WEB_SERVER_ADDRS decides who may connect over
# TCP, and trust_remote_user over TCP is refused without it.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
fcgi_socket_group = nogroup
CONF
start_redis

"$FCGI" -c "$T/opstream.conf" -s "unix:$T/fcgi.sock" 2>>"$T/fcgi-unix.log" &
PIDS+=($!)
unix_up() { fcgi "$T/fcgi.sock" GET /api/v1/health | grep -q '^Status: 200'; }
check "-s unix:PATH serves FastCGI" wait_until "unix responder" 10 unix_up
check_eq "the unix socket is 0660, group fcgi_socket_group" "660 nogroup" "$(stat -c '%a %G' "$T/fcgi.sock")"

FPORT=$((20000 + RANDOM % 12000))
"$FCGI" -c "$T/opstream.conf" -s ":$FPORT" 2>>"$T/fcgi-tcp.log" &
PIDS+=($!)
tcp_up() { fcgi "127.0.0.1:$FPORT" GET /api/v1/health | grep -q '^Status: 200'; }
check "-s :PORT serves FastCGI on loopback" wait_until "tcp responder" 10 tcp_up
hexport=$(printf '%04X' "$FPORT")
check_eq "and listens on 127.0.0.1 only" "0100007F:$hexport" \
    "$(awk -v p=":$hexport" '$4 == "0A" && $2 ~ p"$" { print $2 }' /proc/net/tcp | sort -u | tr '\n' ' ' | sed 's/ $//')"

APORT=$((FPORT + 1))
FCGI_WEB_SERVER_ADDRS=127.0.0.9 "$FCGI" -c "$T/opstream.conf" -s "127.0.0.1:$APORT" 2>>"$T/fcgi-addrs.log" &
PIDS+=($!)
wait_until "the restricted responder listens" 10 sh -c "awk '\$4 == \"0A\"' /proc/net/tcp | grep -q ':$(printf '%04X' "$APORT") '"
check_eq "a peer FCGI_WEB_SERVER_ADDRS does not name gets no answer" "" \
    "$(fcgi "127.0.0.1:$APORT" GET /api/v1/health 2>/dev/null | head -n 1)"
BPORT=$((FPORT + 3))
FCGI_WEB_SERVER_ADDRS=127.0.0.9,127.0.0.1 "$FCGI" -c "$T/opstream.conf" -s "127.0.0.1:$BPORT" 2>>"$T/fcgi-addrs.log" &
PIDS+=($!)
named_up() { fcgi "127.0.0.1:$BPORT" GET /api/v1/health | grep -q '^Status: 200'; }
check "a peer it names is answered" wait_until "the named peer is answered" 10 named_up

printf 'trust_remote_user = yes\n' | cat "$T/opstream.conf" - > "$T/trust.conf"
out=$("$FCGI" -c "$T/trust.conf" -s "0.0.0.0:$((FPORT + 2))" 2>&1 || true)
check "trust_remote_user over TCP without FCGI_WEB_SERVER_ADDRS is refused" \
    sh -c "echo '$out' | grep -q 'needs FCGI_WEB_SERVER_ADDRS'"
finish
