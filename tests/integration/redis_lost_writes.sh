#!/usr/bin/env bash
# Redis loses its last second of writes: it is SIGKILLed mid-run with
# viewers attached and restarted from its AOF cut back to the size it had
# a second before (what a machine crash under appendfsync everysec
# leaves). The events the ledger holds are put back with their own ids,
# every viewer gets every event once, in order, with ids that never go
# backwards and one run_finished; a run whose queue entry was lost still
# runs; and a client holding an event that is on record nowhere is
# told so by a gap.
. "$abs_top_srcdir/tests/integration/lib.sh"
# One job at a time: a run created while the first one runs waits on the
# queue, whose entries live only in Redis.
start_stack <<'CONF'
retry_ms = 100
worker_jobs = 1
CONF
# No rewrite: the AOF's tail is the last writes, in order.
rcli CONFIG SET auto-aof-rewrite-percentage 0 > /dev/null
aof() { ls "$T"/appendonlydir/*.incr.aof | tail -n 1; }
# What viewer 1 has read so far on its first connection (follow adds a
# connection's frames to its file when the connection ends).
seen() { grep -c '^event: progress' "$T/v1.seg" 2>/dev/null || true; }

run=$(create_run '{"type":"countdown","input":{"n":80,"interval_ms":50}}')
VIEWERS=()
for v in 1 2 3; do
    follow "$BASE/api/v1/runs/$run/events" "$T/v$v" > "$T/v$v.log" 2>&1 &
    VIEWERS+=($!)
done
wait_until "20 progress events" 30 sh -c "[ \"\$(grep -c '^event: progress' '$T/v1.seg')\" -ge 20 ]"

# The second the crash takes: ten more events, and a run queued behind
# the first.
cut=$(stat -c %s "$(aof)")
at_cut=$(seen)
late=$(create_run '{"type":"countdown","input":{"n":3,"interval_ms":0}}')
wait_until "ten events after the cut" 30 sh -c "[ \"\$(grep -c '^event: progress' '$T/v1.seg')\" -ge $((at_cut + 10)) ]"
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
check "the AOF had grown past the cut" test "$(stat -c %s "$(aof)")" -gt "$cut"
truncate -s "$cut" "$(aof)"
start_redis

for i in "${!VIEWERS[@]}"; do
    check "viewer $((i + 1)) reached the end" wait "${VIEWERS[$i]}"
    check_stream_complete "$T/v$((i + 1))" 80
done
check "the lost events were put back from the ledger" \
    grep -q "redis had lost its last [0-9]* events; put back from the ledger" "$T"/*.log
check_eq "the run succeeded" succeeded "$(run_status "$run")"
check_eq "it ended once, in the archive" 1 \
    "$(ledger_sql "SELECT COUNT(*) FROM events WHERE run_id = '$run' AND type = 'run_finished'")"
wait_until "the run settled" 30 run_settled "$run"
check_eq "Redis and the archive hold the same ids" "$(archive_ids "$run")" "$(stream_ids "$run")"
follow "$BASE/api/v1/runs/$run/events" "$T/after" > /dev/null
check_stream_complete "$T/after" 80

check "the worker saw another Redis and queued every queued run again" \
    grep -q "redis is another process now: [1-9][0-9]* queued runs put on the queue again" "$T/worker.log"
wait_until "the run whose queue entry was lost ran" 30 run_is "$late" succeeded
follow "$BASE/api/v1/runs/$late/events" "$T/late" > /dev/null
check_stream_complete "$T/late" 3

# A client holding an event on record nowhere (Redis lost it with its
# writer): a gap names the newest event on record, the stream goes on
# after the client's id, and nothing it gets goes backwards.
slow=$(create_run '{"type":"countdown","input":{"n":4,"interval_ms":300}}')
wait_until "the slow run's first progress" 30 sh -c \
    "redis-cli -s '$T/redis.sock' XRANGE 'opstream:{$slow}:events' - + | grep -q progress"
top=$(stream_ids "$slow" | tail -n 1)
ahead="${top%-*}-$((${top#*-} + 5))"
curl -sN --max-time 2 -H "Last-Event-ID: $ahead" "$BASE/api/v1/runs/$slow/events" > "$T/ahead.raw" || true
frames "$T/ahead.raw" > "$T/ahead"
check_eq "a gap first, at the client's id" "$ahead	gap" "$(head -n 1 "$T/ahead" | cut -f1,2)"
check_eq "it names the newest event on record" "lost $top" \
    "$(head -n 1 "$T/ahead" | cut -f3 | jq -r '"\(.reason) \(.last_recorded)"')"
check "then the run's next events" grep -q '	progress	' "$T/ahead"
check "ids never go backwards" ids_increase "$T/ahead"
finish
