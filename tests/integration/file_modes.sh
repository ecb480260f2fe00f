#!/usr/bin/env bash
# Everything the stack creates is closed to other users, and the programs
# refuse a config or database others could read.
. "$abs_top_srcdir/tests/integration/lib.sh"
LEDGER=$T/opstream.db  # the files of a SQLite ledger, whichever engine the suite runs on
write_config   # the operator's file, closed (lib.sh's umask)
umask 022      # the programs start under a careless umask: what they create is theirs to close
start_redis
start_lighttpd
start_worker
run=$(create_run '{"type":"countdown","input":{"n":3,"interval_ms":1}}')
api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
others() { stat -c '%a' "$1" | grep -q '[0-7][0-7]0$'; }
for f in opstream.db opstream.db-wal opstream.db-shm; do
    check "$f is closed to other users ($(stat -c %a "$T/$f"))" others "$T/$f"
done
chmod 644 "$T/opstream.conf"
check_eq "the programs refuse a world-readable config" \
    "opstream: $T/opstream.conf: the config is open to other users (mode 644); chmod o-rwx it" \
    "$("$BIN/opstream" -c "$T/opstream.conf" runs 2>&1 >/dev/null || true)"
chmod 640 "$T/opstream.conf"
check "a config the group may read is accepted" "$BIN/opstream" -c "$T/opstream.conf" runs
chmod 644 "$T/opstream.db"
check_eq "and a world-readable database" \
    "opstream-worker: $T/opstream.db: the database is open to other users (mode 644); chmod o-rwx it" \
    "$("$WORKER" -c "$T/opstream.conf" 2>&1 >/dev/null || true)"
chmod 600 "$T/opstream.db"
api GET "/v1/runs/$run" > /dev/null
check_eq "the stack goes on" 200 "$(status)"
finish
