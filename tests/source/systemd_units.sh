#!/usr/bin/env bash
# The shipped systemd units, as `make` fills them in, pass systemd's own
# check (systemd-analyze verify: no error, no warning), and the service
# takes its socket from the socket unit rather than opening one.
set -euo pipefail
: "${abs_top_srcdir:?run through make check}" "${abs_top_builddir:?run through make check}"
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
T=$(mktemp -d /tmp/opstream-units.XXXXXX)
trap 'rm -rf "$T"' EXIT
for u in opstream-fcgi.service opstream-worker.service; do
    # As installed, but with the programs of this build.
    sed -e "s|@bindir[@]|$abs_top_builddir/src|g" -e "s|@sysconfdir[@]|/etc|g" \
        "$abs_top_srcdir/fcgi-conf/$u.in" > "$T/$u"
done
cp "$abs_top_srcdir/fcgi-conf/opstream-fcgi.socket" "$T/"
fails=0
if (cd "$T" && timeout 60 systemd-analyze verify ./opstream-fcgi.socket ./opstream-fcgi.service \
        ./opstream-worker.service) > "$T/verify.out" 2>&1 && [ ! -s "$T/verify.out" ]; then
    echo "ok - systemd-analyze verify: no error or warning"
else
    echo "not ok - systemd-analyze verify:"; cat "$T/verify.out"; fails=1
fi
if grep -q '^ExecStart=.*opstream.fcgi -c [^ ]*$' "$T/opstream-fcgi.service"; then
    echo "ok - the service takes the socket unit's socket (no -s)"
else
    echo "not ok - the service opens a socket of its own"; fails=1
fi
# systemd stops units in the reverse of their start order: the web
# server first, then the worker (whose runs go back while Redis answers),
# then opstream-fcgi, Redis last, as script/server does.
order() { # order UNIT KEY UNIT...: every UNIT is named on a KEY= line of the first
    local unit=$1 key=$2; shift 2
    local line; line=$(grep "^$key=" "$T/$unit" | tr '\n' ' ')
    for u in "$@"; do case " ${line#*=} " in *" $u "*) ;; *) return 1 ;; esac; done
}
if order opstream-worker.service After redis-server.service opstream-fcgi.service &&
   order opstream-fcgi.service After redis-server.service &&
   order opstream-worker.service Before lighttpd.service apache2.service nginx.service &&
   order opstream-fcgi.service Before lighttpd.service apache2.service nginx.service; then
    echo "ok - stop order: web server, worker, opstream-fcgi, Redis"
else
    echo "not ok - the units do not stop in script/server's order"; fails=1
fi
[ "$fails" -eq 0 ]
