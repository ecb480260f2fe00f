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
[ "$fails" -eq 0 ]
