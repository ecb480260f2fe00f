#!/usr/bin/env bash
# Benchmark: what a scrape of GET /api/v1/metrics costs, with an empty
# ledger and with N finished runs in it (default 10000; copies of one
# real run), and with a few hundred series in Redis. Prints, for each,
# the responder's own time per scrape (its request histogram's sum over
# count for the route) and the client's median through lighttpd.
# Loopback only, bounded; stops everything it started.
#   usage: tests/bench/metrics_scrape.sh [N]     (after script/test or make)
set -euo pipefail
N=${1:-10000}
[ "$N" -ge 1 ] && [ "$N" -le 1000000 ] || { echo "N must be 1..1000000" >&2; exit 2; }
SCRAPES=200
abs_top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
abs_top_builddir=$abs_top_srcdir/build
export abs_top_srcdir abs_top_builddir
. "$abs_top_srcdir/tests/integration/lib.sh"
[ "$LEDGER" != postgresql ] || { echo "SQLite ledger only" >&2; exit 2; }
write_config <<< "responder_processes = 1"
start_redis
start_lighttpd
start_worker

route='route="GET /v1/metrics"'
# measure LABEL: SCRAPES scrapes; the server's mean and the client's median, in ms
measure() {
    local before after
    curl -s "$BASE/api/v1/metrics" > "$T/m0"
    for _ in $(seq "$SCRAPES"); do
        curl -s -o /dev/null -w '%{time_total}\n' "$BASE/api/v1/metrics"
    done | sort -n | awk -v n="$SCRAPES" 'NR == int(n / 2) { print $1 * 1000 }' > "$T/client"
    curl -s "$BASE/api/v1/metrics" > "$T/m1"
    get() { awk -v k="$2 " 'index($0, k) == 1 { print substr($0, length(k) + 1); f = 1 } END { if (!f) print 0 }' "$1"; }
    python3 - "$1" "$(get "$T/m0" "opstream_request_duration_seconds_sum{$route}")" \
        "$(get "$T/m0" "opstream_request_duration_seconds_count{$route}")" \
        "$(get "$T/m1" "opstream_request_duration_seconds_sum{$route}")" \
        "$(get "$T/m1" "opstream_request_duration_seconds_count{$route}")" "$(cat "$T/client")" \
        "$(grep -vc '^#' "$T/m1")" <<'PY'
import sys
label, s0, c0, s1, c1, client, lines = sys.argv[1:]
server = (float(s1) - float(s0)) / (float(c1) - float(c0)) * 1000
print(f"| {label} | {int(lines)} | {server:.3f} | {float(client):.3f} |")
PY
}

# A real run to copy, and some traffic so that the families have series.
run=$(create_run '{"type":"countdown","input":{"n":3,"interval_ms":1}}')
api GET "/v1/runs/$run/wait?timeout=30" > /dev/null
for t in countdown steps fail; do create_run "{\"type\":\"$t\",\"input\":{}}" > /dev/null; done
echo "| runs in the ledger | series served | responder ms per scrape (mean) | client ms (median, through lighttpd) |"
echo "|---|---|---|---|"
measure "$(ledger_sql 'SELECT COUNT(*) FROM runs')"
python3 - "$T/opstream.db" "$run" "$N" <<'PY'
import sqlite3, sys, secrets, base64
db, run, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect(db, timeout=30)
cols = [r[1] for r in c.execute("PRAGMA table_info(runs)")]
row = dict(zip(cols, c.execute("SELECT * FROM runs WHERE id = ?", (run,)).fetchone()))
top = c.execute("SELECT MAX(seq) FROM runs").fetchone()[0]
rows = []
for i in range(n):
    r = dict(row)
    r["id"] = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
    r["seq"] = top + 1 + i
    rows.append(tuple(r[k] for k in cols))
c.executemany(f"INSERT INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", rows)
c.commit()
PY
measure "$(ledger_sql 'SELECT COUNT(*) FROM runs')"
finish > /dev/null
