#!/usr/bin/env bash
# The Debian package, as an administrator meets it: built from a clean
# tree of the checkout (git archive HEAD) with dpkg-buildpackage, held to
# lintian (no error, no warning), installed with apt-get; then the units
# it enabled are started (systemctl where systemd runs, else the very
# commands the installed units name, as their users), a token is made
# with the installed opstream, and a run is followed through Apache with
# the installed example configuration; last, the package is purged and
# nothing of it may be left. Run by script/test from the top, as root.
set -euo pipefail
top=$PWD
[ "$(id -u)" = 0 ] || { echo "not ok - the package test installs a package: run it as root"; exit 1; }
if dpkg-query -W -f='${Status}' opstream 2>/dev/null | grep -q 'ok installed'; then
    echo "not ok - opstream is installed on this machine already; this test installs and purges its own"
    exit 1
fi
T=$(mktemp -d /tmp/opstream-package.XXXXXX)
chmod 755 "$T"
fails=0
expect() { # expect DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fails=$((fails + 1)); fi
}
pids=()
installed=
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -z "$installed" ] || apt-get purge -y -qq opstream > /dev/null 2>&1 || true
    rm -rf /run/opstream "$T"
}
trap cleanup EXIT
wait_for() { # wait_for DESCRIPTION SECONDS COMMAND...
    local what=$1 until=$((SECONDS + $2))
    shift 2
    until "$@" 2>/dev/null; do
        [ "$SECONDS" -lt "$until" ] || { echo "timed out waiting for: $what"; return 1; }
        sleep 0.1
    done
}

# Build, in a tree that holds what the checkout commits and nothing else.
mkdir -p "$T/src/opstream"
git -C "$top" archive --format=tar HEAD | tar -x -C "$T/src/opstream"
# The unit tests ran in the build trees already: not again here.
(cd "$T/src/opstream" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b > "$T/build.log" 2>&1) ||
    { tail -n 40 "$T/build.log"; echo "not ok - dpkg-buildpackage -us -uc -b"; exit 1; }
deb=$(ls "$T"/src/opstream_*.deb)
expect "dpkg-buildpackage -us -uc -b builds $(basename "$deb")" test -f "$deb"
lintian --fail-on error,warning --tag-display-limit 0 "$T"/src/opstream_*.changes > "$T/lintian.log" 2>&1 ||
    { cat "$T/lintian.log"; false; } || fails=$((fails + 1))
sed 's/^/# lintian: /' "$T/lintian.log"
expect "lintian reports no error or warning" sh -c "! grep -q '^[EW]: ' '$T/lintian.log'"

installed=1
(cd "$T/src" && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$(basename "$deb")" > "$T/apt.log" 2>&1) ||
    { cat "$T/apt.log"; echo "not ok - apt-get install ./$(basename "$deb")"; exit 1; }
expect "the package installs the programs, job types, console and man pages" \
    test -x /usr/bin/opstream.fcgi -a -x /usr/bin/opstream-worker -a -x /usr/bin/opstream \
         -a -x /usr/libexec/opstream/countdown -a -f /usr/share/opstream/jobtypes/countdown.json \
         -a -f /usr/share/opstream/www/index.html -a -f /usr/share/man/man5/opstream.conf.5.gz
expect "man finds opstream(1)" sh -c "man -w opstream | grep -q opstream.1"
expect "the web server configurations are examples" \
    test -f /usr/share/doc/opstream/examples/apache-proxy-fcgi.conf -a -f /usr/share/doc/opstream/examples/lighttpd.conf \
         -a -f /usr/share/doc/opstream/examples/nginx.conf
expect "postinst made the opstream user and group" sh -c "getent passwd opstream > /dev/null && getent group opstream > /dev/null"
expect "and /var/lib/opstream, mode 750, the user's" \
    test "$(stat -c '%a %U %G' /var/lib/opstream)" = "750 opstream opstream"
expect "and the ledger (opstream init)" test -f /var/lib/opstream/opstream.db
expect "the config is the group's to read, nobody else's" \
    test "$(stat -c '%a %U %G' /etc/opstream/opstream.conf)" = "640 root opstream"
for u in opstream-fcgi.socket opstream-fcgi.service opstream-worker.service; do
    expect "$u is installed and enabled" sh -c "test -f /lib/systemd/system/$u &&
        ls /etc/systemd/system/*.wants/$u > /dev/null 2>&1"
done
# none_running: no process of the package's programs runs
none_running() { ! { for p in /proc/[0-9]*; do readlink "$p/exe"; done 2>/dev/null | grep -q '^/usr/bin/opstream'; }; }
expect "nothing was started" none_running

# Redis, as an administrator provides it: at the config's socket.
mkdir -p "$T/redis" && chown opstream:opstream "$T/redis"
setpriv --reuid=opstream --regid=opstream --clear-groups -- redis-server --port 0 \
    --unixsocket /var/lib/opstream/redis.sock --unixsocketperm 770 --dir "$T/redis" --save '' \
    --appendonly no --daemonize no --logfile "$T/redis/redis.log" &
pids+=($!)
wait_for "redis" 10 redis-cli -s /var/lib/opstream/redis.sock ping > /dev/null
# unit_key UNIT KEY: a key of an installed unit
unit_key() { sed -n "s/^$2=//p" "/lib/systemd/system/$1" | head -n 1; }
if [ -d /run/systemd/system ]; then
    systemctl start opstream-fcgi.socket opstream-worker.service
    started=systemctl
else
    # What systemd would do: the socket unit's socket, its group and
    # mode, handed to the service's command as LISTEN_FDS, run as the
    # service's user; the worker's command as its user and group.
    sock=$(unit_key opstream-fcgi.socket ListenStream)
    mkdir -p "$(dirname "$sock")"
    read -ra fcgi_cmd <<< "$(unit_key opstream-fcgi.service ExecStart)"
    read -ra worker_cmd <<< "$(unit_key opstream-worker.service ExecStart)"
    python3 "$top/tests/servers/socket_unit.py" "$sock" "$(command -v setpriv)" \
        --reuid="$(unit_key opstream-fcgi.service User)" --regid="$(unit_key opstream-fcgi.service Group)" \
        --clear-groups -- "${fcgi_cmd[@]}" 2> "$T/fcgi.log" &
    pids+=($!)
    wait_for "the socket" 10 test -S "$sock"
    chgrp "$(unit_key opstream-fcgi.socket SocketGroup)" "$sock"
    chmod "$(unit_key opstream-fcgi.socket SocketMode)" "$sock"
    setpriv --regid="$(unit_key opstream-worker.service Group)" --clear-groups -- \
        "${worker_cmd[@]}" 2> "$T/worker.log" &
    pids+=($!)
    started="the units' own commands"
fi
echo "# started with $started"
token=$(setpriv --reuid=opstream --regid=opstream --clear-groups -- opstream token create alice)
expect "the installed opstream makes a token" test -n "$token"

# Apache with the installed examples: the standalone server around the
# mod_proxy_fcgi snippet, as the web server's user.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ex=/usr/share/doc/opstream/examples
mkdir -p "$T/apache" && chown www-data:www-data "$T/apache"
T=$T/apache PORT=$port WWW=/usr/share/opstream/www SNIPPET=$ex/apache-proxy-fcgi.conf \
OPSTREAM_SOCKET=/run/opstream/fcgi.sock \
    setpriv --reuid=www-data --regid=www-data --clear-groups -- \
    apache2 -f "$ex/apache-standalone.conf" -DFOREGROUND 2> "$T/apache.log" &
pids+=($!)
base=http://127.0.0.1:$port
health() { [ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$base/api/v1/health")" = 200 ]; }
wait_for "Apache and opstream answer" 30 health ||
    { tail -n 20 "$T/apache.log" "$T/apache/apache-error.log" "$T/fcgi.log" "$T/worker.log"; }
auth=(-H "Authorization: Bearer $token")
run=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' \
    --data '{"type":"countdown","input":{"n":3,"interval_ms":50}}' "$base/api/v1/runs" | jq -r .id)
expect "a run is created through Apache" test -n "$run" -a "$run" != null
curl -sN --max-time 30 "${auth[@]}" "$base/api/v1/runs/$run/events" > "$T/stream" || true
expect "its stream runs from run_queued to run_finished" \
    sh -c "grep '^event: ' '$T/stream' | head -n 1 | grep -qx 'event: run_queued' &&
           grep '^event: ' '$T/stream' | tail -n 1 | grep -qx 'event: run_finished'"
expect "with the job's three ticks" test "$(grep -c '^event: progress' "$T/stream")" -ge 3
expect "and the run succeeded" \
    test "$(curl -s "${auth[@]}" "$base/api/v1/runs/$run" | jq -r .status)" = succeeded
expect "the metrics answer on loopback" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/metrics")" = 200

# Everything stopped, then purged: nothing of it is left.
[ "$started" != systemctl ] || systemctl stop opstream-fcgi.socket opstream-fcgi.service opstream-worker.service
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
rm -rf /run/opstream
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq opstream > "$T/purge.log" 2>&1 || cat "$T/purge.log"
installed=
expect "the package is gone" sh -c "! dpkg-query -W -f='\${Status}' opstream 2>/dev/null | grep -q installed"
left=$(find /etc /usr /lib /var /run -name '*opstream*' 2>/dev/null | grep -v "^$T" || true)
expect "no file of it is left${left:+: $left}" test -z "$left"
expect "nor its user or group" sh -c "! getent passwd opstream > /dev/null && ! getent group opstream > /dev/null"
[ "$fails" -eq 0 ]
