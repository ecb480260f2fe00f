#!/usr/bin/env bash
# make install honours --prefix, --sysconfdir, --localstatedir and DESTDIR:
# files land under DESTDIR at the configured places, and the programs'
# built-in defaults name those places. Run by script/test from the top.
set -euo pipefail
top=$PWD
tree=$(mktemp -d /tmp/opstream-install.XXXXXX)
trap 'rm -rf "$tree"' EXIT
dest=$tree/dest
fails=0
expect() { # expect DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fails=$((fails + 1)); fi
}

(cd "$tree" && "$top/configure" -q --prefix=/opt/ops --sysconfdir=/etc/ops \
    --localstatedir=/var/ops && make -s -j"$(nproc)" >/dev/null && make -s install DESTDIR="$dest" >/dev/null)

for f in bin/opstream.fcgi bin/opstream-worker bin/opstream libexec/opstream/countdown \
         share/opstream/jobtypes/countdown.json share/opstream/www/index.html \
         share/opstream/fcgi-conf/lighttpd.conf share/man/man1/opstream.1 share/man/man5/opstream.conf.5 \
         share/man/man8/opstream-worker.8 share/man/man8/opstream.fcgi.8; do
    expect "installs /opt/ops/$f" test -e "$dest/opt/ops/$f"
done
conf=$dest/etc/ops/opstream/opstream.conf
expect "installs the config under --sysconfdir" test -f "$conf"
expect "the config's state paths use --localstatedir" grep -qx 'database = /var/ops/lib/opstream/opstream.db' "$conf"
expect "the config's job paths use --prefix" grep -qx 'job_path = /opt/ops/libexec/opstream' "$conf"
expect "the programs look for the config under --sysconfdir" \
    sh -c "OPSTREAM_CONF= '$dest/opt/ops/bin/opstream' --help | grep -q '/etc/ops/opstream/opstream.conf'"
expect "nothing is installed outside DESTDIR" test ! -e /opt/ops
[ "$fails" -eq 0 ]
