#!/usr/bin/env bash
# Exactly once across a lost reply: Redis takes an event (an append is one
# EVAL: bus_append), and the
# connection of the runner that wrote it drops before the reply arrives
# (the fault proxy closes it). The runner cannot tell whether the event
# landed; its write token tells, after it reconnects, so the event is
# neither lost nor written twice. The same for a run_finished.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config
start_faulty_stack

lost_reply_once() { # lost_reply_once ARGS_JSON N: a countdown of N, one reply lost
    fault_arm "{\"command\": \"EVAL\", \"args\": $1, \"do\": \"drop\"}"
    run=$(create_run "{\"type\":\"countdown\",\"input\":{\"n\":$2,\"interval_ms\":10}}")
    wait_until "the reply to be dropped" 20 fault_fired
    api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
    check_eq "the run succeeded all the same" succeeded "$(jq -r .status "$T/body")"
    stream_events "$run" > "$T/names"
    check_eq "every event once: run_queued, run_started, $2 progress, run_finished" \
        "1 1 $2 1" "$(for e in run_queued run_started progress run_finished; do grep -cx "$e" "$T/names"; done | xargs)"
    check_eq "each progress once, in order" "$(seq 1 "$2" | xargs)" \
        "$(api GET "/v1/runs/$run/events?types=progress&limit=1000" -H 'Accept: application/json' | jq -r '[.data[].data.current] | join(" ")')"
    check_eq "the archive holds what the stream holds" "$(stream_ids "$run")" "$(archive_ids "$run")"
}
lost_reply_once '["progress", "\"current\":2,"]' 4
lost_reply_once '["\"status\":\"succeeded\""]' 3  # the run_finished
finish
