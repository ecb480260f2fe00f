#!/usr/bin/env bash
# A burst of creates: every run starts exactly once and ends, none is
# left queued. A ticket claimed while the run it picked is not yet claimed
# by its runner must not start that run a second time (and so leave
# another run without a ticket).
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack
seq 120 | xargs -P 24 -I{} curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    --data '{"type":"countdown","input":{"n":1,"interval_ms":0}}' "$BASE/api/v1/runs"
all_ended() { [ "$(ledger_sql "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")" = 120 ]; }
wait_until "all 120 runs ended" 120 all_ended
check_eq "120 runs, each succeeded" "120 succeeded" "$(ledger_sql "SELECT COUNT(*), status FROM runs GROUP BY status" | tr '|' ' ')"
check_eq "each started once" 120 "$(grep -c ': started countdown' "$T/worker.log")"
finish
