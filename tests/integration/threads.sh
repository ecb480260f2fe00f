#!/usr/bin/env bash
# Three runs on one thread under each multitask strategy, with two workers
# free to overlap them if the rules let them. Order is checked from the
# runs' timestamps and events.
. "$abs_top_srcdir/tests/integration/lib.sh"
start_stack
start_worker  # a second one

create_on() { # create_on THREAD STRATEGY N INTERVAL_MS -> id (empty on refusal)
    api POST /v1/runs -H 'Content-Type: application/json' --data \
        "{\"type\":\"countdown\",\"input\":{\"n\":$3,\"interval_ms\":$4},\"thread_id\":\"$1\",\"multitask_strategy\":\"$2\"}" |
        jq -r '.id // empty'
}
thread_quiet() { [ "$(api GET "/v1/runs?thread_id=$1&status=active" | jq '.data | length')" = 0 ]; }
# no_overlap THREAD: sorted by start, each run starts after the previous ended
no_overlap() {
    api GET "/v1/runs?thread_id=$1" | jq -e '[.data[] | select(.started_at != null)] | sort_by(.started_at)
        | [range(1; length) as $i | .[$i].started_at >= .[$i - 1].finished_at] | all' > /dev/null
}
statuses() { # statuses ID...: their statuses, or "gone" for deleted ones
    for id in "$@"; do
        api GET "/v1/runs/$id" > /dev/null
        if [ "$(status)" = 404 ]; then printf 'gone '; else printf '%s ' "$(jq -r .status "$T/body")"; fi
    done | sed 's/ $//'
}

# reject: the second and third are refused while the first is active.
r1=$(create_on t-reject reject 4 150)
wait_until "first running" 20 run_is "$r1" running
api POST /v1/runs -H 'Content-Type: application/json' \
    --data '{"type":"countdown","input":{"n":1},"thread_id":"t-reject","multitask_strategy":"reject"}' > /dev/null
check_eq "reject: 409 thread_busy while the thread is active" "409 thread_busy" "$(status) $(jq -r .code "$T/body")"
api POST /v1/runs -H 'Content-Type: application/json' \
    --data '{"type":"countdown","input":{"n":1},"thread_id":"t-reject"}' > /dev/null
check_eq "reject is the default" 409 "$(status)"
wait_until "thread t-reject quiet" 30 thread_quiet t-reject
check "reject: a new run is accepted once the thread is idle" test -n "$(create_on t-reject reject 1 0)"

# enqueue: all three run, one after the other, in creation order.
e1=$(create_on t-enq enqueue 4 150); e2=$(create_on t-enq enqueue 4 150); e3=$(create_on t-enq enqueue 4 150)
wait_until "thread t-enq done" 60 thread_quiet t-enq
check_eq "enqueue: all three succeeded" "succeeded succeeded succeeded" "$(statuses "$e1" "$e2" "$e3")"
check "enqueue: no two runs overlapped" no_overlap t-enq
check_eq "enqueue: they started in creation order" "$e1 $e2 $e3" \
    "$(api GET '/v1/runs?thread_id=t-enq' | jq -r '.data | sort_by(.started_at) | map(.id) | join(" ")')"
check "enqueue: the waiting runs said so when queued" sh -c \
    "timeout 10 curl -sN '$BASE/api/v1/runs/$e3/events' | grep -q '\"waiting_for_thread\":true'"

# interrupt: each new run cancels the active one and starts only after it ended.
i1=$(create_on t-int interrupt 100 100)
wait_until "first running" 20 run_is "$i1" running
i2=$(create_on t-int interrupt 100 100)
wait_until "second running" 20 run_is "$i2" running
i3=$(create_on t-int interrupt 3 50)
wait_until "thread t-int done" 60 thread_quiet t-int
check_eq "interrupt: first two cancelled, the last succeeded" "cancelled cancelled succeeded" \
    "$(statuses "$i1" "$i2" "$i3")"
check "interrupt: no two runs overlapped" no_overlap t-int
check "interrupt: each cancelled run has one cancel_requested and one run_finished" sh -c "
    for id in $i1 $i2; do
        ev=\$(timeout 10 curl -sN '$BASE/api/v1/runs/'\$id/events | sed -n 's/^event: //p')
        [ \$(echo \"\$ev\" | grep -c '^cancel_requested\$') = 1 ] && [ \$(echo \"\$ev\" | grep -c '^run_finished\$') = 1 ] || exit 1
    done"

# rollback: as interrupt, and the cancelled runs are deleted with their events.
b1=$(create_on t-rb rollback 100 100)
wait_until "first running" 20 run_is "$b1" running
b2=$(create_on t-rb rollback 100 100)
b3=$(create_on t-rb rollback 3 50)
wait_until "thread t-rb done" 60 thread_quiet t-rb
check_eq "rollback: the first two are gone, the last succeeded" "gone gone succeeded" "$(statuses "$b1" "$b2" "$b3")"
check_eq "rollback: their event streams are gone too" "0 0" \
    "$(redis-cli -s "$T/redis.sock" EXISTS "opstream:{$b1}:events") $(redis-cli -s "$T/redis.sock" EXISTS "opstream:{$b2}:events")"
check_eq "rollback: the thread lists only the survivor" "$b3" "$(api GET '/v1/runs?thread_id=t-rb' | jq -r '[.data[].id] | join(" ")')"

api POST /v1/runs -H 'Content-Type: application/json' \
    --data '{"type":"countdown","thread_id":"x","multitask_strategy":"sometimes"}' > /dev/null
check_eq "an unknown strategy: 422" "422 invalid_field" "$(status) $(jq -r .code "$T/body")"
api POST /v1/runs -H 'Content-Type: application/json' \
    --data '{"type":"countdown","multitask_strategy":"enqueue"}' > /dev/null
check_eq "a strategy without a thread: 422" 422 "$(status)"
finish
