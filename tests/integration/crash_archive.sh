#!/usr/bin/env bash
# A worker SIGKILLed right after Redis took one of its run's events and
# before the archive did (the fault proxy kills it as the reply comes
# back); another worker takes the run over when its lease runs out. Once
# the run has ended and settled, the archive holds every event the stream
# holds; after the stream expires, the history served from the archive
# alone is the same events, with no gap.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
lease_ms = 1000
CONF
start_faulty_stack

fault_arm '{"command": "EVAL", "args": ["progress", "\"current\":3,"], "do": "kill"}'
run=$(create_run '{"type":"countdown","input":{"n":5,"interval_ms":20}}')
wait_until "the worker to be killed after the third progress event reached Redis" 20 fault_fired
check_eq "the process killed was the worker" "$WORKER_PID" "$(jq -r .pid "$T/fault.fired")"
start_worker
check "Redis holds the third progress event" grep -qF '"current":3,' <(rcli XRANGE "opstream:{$run}:events" - +)
ended() { run_is "$run" failed; }
wait_until "the run to end (worker_lost)" 20 ended
wait_until "the run to be settled" 20 run_settled "$run"
stream_ids "$run" > "$T/stream.ids"
archive_ids "$run" > "$T/archive.ids"
check "the stream holds the run's events" test "$(wc -l < "$T/stream.ids")" -ge 6
check_eq "the archive holds every event the stream holds" "$(cat "$T/stream.ids")" "$(cat "$T/archive.ids")"
check_eq "the third progress event is archived" 1 \
    "$(ledger_sql "SELECT COUNT(*) FROM events WHERE run_id = '$run' AND data LIKE '%\"current\":3,%'")"
check_eq "the ledger's last event is the stream's last" "$(tail -n 1 "$T/stream.ids")" \
    "$(api GET "/v1/runs/$run" | jq -r .last_event_id)"

# The stream expires: what is left is the archive.
rcli DEL "opstream:{$run}:events" > /dev/null
api GET "/v1/runs/$run/events?limit=1000" -H 'Accept: application/json' > "$T/page.json"
check_eq "after expiry, the JSON history is the same events" "$(cat "$T/stream.ids")" "$(jq -r '.data[].id' "$T/page.json")"
page_clean() { jq -e '[.data[].event] | (index("gap") == null) and (.[-1] == "run_finished")' "$T/page.json" > /dev/null; }
check "and neither a gap nor anything after run_finished" page_clean
follow "$BASE/api/v1/runs/$run/events" "$T/sse"
check_eq "after expiry, EventSource gets the same events" "$(cat "$T/stream.ids")" "$(cut -f1 "$T/sse")"
finish
