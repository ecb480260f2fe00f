#!/usr/bin/env bash
# max_concurrency holds across workers: 500 runs of a type limited to 4,
# on 3 workers that could run 24 at once, never have more than 4 running,
# and all 500 finish.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
jq '.name = "limited" | .max_concurrency = 4' "$abs_top_srcdir/src/jobs/countdown.json" > "$JOBTYPES_DIR/limited.json"
write_config <<'CONF'
worker_jobs = 8
lease_ms = 2000
CONF
start_redis
start_lighttpd
start_worker; start_worker; start_worker

seq 500 | xargs -P 25 -I{} curl -sS -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
    --data '{"type":"limited","input":{"n":1,"interval_ms":20}}' "$BASE/api/v1/runs" > "$T/codes"
check_eq "500 runs created" 500 "$(grep -c '^202$' "$T/codes")"
q() { ledger_sql "$1"; }
all_done() { [ "$(q "SELECT COUNT(*) FROM runs WHERE type = 'limited' AND status = 'succeeded'")" = 500 ]; }
start=$SECONDS
check "all 500 finish" wait_until "500 runs" 240 all_done
echo "# 500 runs took $((SECONDS - start)) s"
# The most runs ever running at once, from the ledger's start and end times
# (an end sorts before a start at the same millisecond).
peak=$(q "SELECT started_at, 1 FROM runs WHERE type = 'limited' UNION ALL
          SELECT finished_at, -1 FROM runs WHERE type = 'limited' ORDER BY 1, 2" |
       awk -F'|' '{ n += $2; if (n > max) max = n } END { print max }')
echo "# most running at once: $peak"
check "never more than 4 running at once" test "$peak" -le 4
check "the limit was reached, so it is what bound them" test "$peak" -eq 4
check_eq "every run has exactly one run_finished" 500 \
    "$(q "SELECT COUNT(*) FROM (SELECT run_id FROM events WHERE type = 'run_finished' GROUP BY run_id HAVING COUNT(*) = 1) AS once")"
finish
