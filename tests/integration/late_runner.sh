#!/usr/bin/env bash
# A worker that only seemed dead: its Redis reply is held (the fault
# proxy) past its run's lease, so another worker's recovery ends the run
# failed (worker_lost) and kills its job. When the reply comes, the first
# worker finds the stream ended: nothing it still had to write lands after
# run_finished, it writes no end of its own, and it stops the job's
# supervision.
. "$abs_top_srcdir/tests/integration/lib.sh"
write_config <<'CONF'
lease_ms = 1000
CONF
start_faulty_stack

fault_arm "{\"command\": \"EVAL\", \"args\": [\"progress\", \"\\\"current\\\":3,\"], \"do\": \"hold\", \"release\": \"$T/release\"}"
run=$(create_run '{"type":"countdown","input":{"n":40,"interval_ms":5}}')
wait_until "the worker's third progress to be held" 20 fault_fired
held=$WORKER_PID
start_worker
ended() { run_is "$run" failed; }
wait_until "recovery to end the run (worker_lost)" 20 ended
check_eq "ended as lost" worker_lost "$(api GET "/v1/runs/$run" | jq -r .error.code)"
touch "$T/release"
stopped() { grep -q "opstream-worker\[$held\] info: run $run: ended elsewhere" "$T/worker.log"; }
check "the held worker learns its run ended elsewhere and lets it go" wait_until "the held worker to let go" 20 stopped
stream_events "$run" > "$T/names"
check_eq "exactly one run_finished" 1 "$(grep -cx run_finished "$T/names")"
check_eq "and nothing after it" run_finished "$(tail -n 1 "$T/names")"
wait_until "the run to be settled" 20 run_settled "$run"
check_eq "the archive holds what the stream holds" "$(stream_ids "$run")" "$(archive_ids "$run")"
check_eq "the ledger's last event is run_finished's" "$(stream_ids "$run" | tail -n 1)" \
    "$(api GET "/v1/runs/$run" | jq -r .last_event_id)"
finish
