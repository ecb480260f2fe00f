#!/usr/bin/env bash
# script/bootstrap waits, saying so, while another process holds the
# package manager's lock, and goes on once it is released (its lock
# functions, on a lock file of the test's own).
set -euo pipefail
: "${abs_top_srcdir:?run through make check}"
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
T=$(mktemp -d /tmp/opstream-lock.XXXXXX)
holder=
trap '{ [ -z "$holder" ] || kill "$holder" 2>/dev/null; } || true; rm -rf "$T"' EXIT
OPSTREAM_APT_LOCKS="$T/lock-frontend $T/other"
: > "$T/lock-frontend"
eval "$(sed -n -e '/^apt_locks=/p' -e '/^lock_holder() {/,/^}/p' -e '/^wait_for_package_lock() {/,/^}/p' \
    "$abs_top_srcdir/script/bootstrap")"
fails=0
check() { if "${@:2}"; then echo "ok - $1"; else echo "not ok - $1"; fails=$((fails + 1)); fi; }

free=yes
! lock_holder >/dev/null || free=no
check "no holder: the lock is free" test "$free" = yes
# The holder takes the lock (as dpkg does, with fcntl), says so, and
# releases it when its stdin closes.
exec 3> >(python3 -c '
import fcntl, sys
f = open(sys.argv[1], "w")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()' "$T/lock-frontend" > "$T/holder.out")
holder=$!
for _ in $(seq 100); do grep -q locked "$T/holder.out" 2>/dev/null && break; sleep 0.05; done
check "a holder is seen, by its pid" test -n "$(lock_holder)"
wait_for_package_lock > "$T/wait.out" 3>&- &
waiter=$!
for _ in $(seq 100); do [ -s "$T/wait.out" ] && break; sleep 0.05; done
check "the wait says what it waits for" grep -q 'waiting for another package manager' "$T/wait.out"
check "and keeps waiting while the lock is held" kill -0 "$waiter"
exec 3>&-   # the holder releases the lock
check "it goes on once the lock is released" wait "$waiter"
[ "$fails" -eq 0 ]
