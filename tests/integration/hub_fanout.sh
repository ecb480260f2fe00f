#!/usr/bin/env bash
# Many viewers of few runs, held by the responders' stream hubs: 100
# EventSource-like clients on each of two runs get every event once, in
# order, and their end; Redis reads each run's events once per responder
# process, not once per viewer, and holds no connection per viewer. A
# responder hears the announcements of the runs it holds and no others.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
# burst: waits for a go, then writes 50 progress events at once.
add_type burst 'read -r input
echo "{\"event\":\"input_required\",\"data\":{\"schema\":{\"type\":\"object\"}}}"
read -r go
i=0
while [ $i -lt 50 ]; do i=$((i + 1)); echo "{\"event\":\"progress\",\"data\":{\"current\":$i,\"total\":50}}"; done'
start_stack
VIEWERS=100

responders() { fcgi_pids fcgi-responder; }
fds() { for p in $(responders); do ls "/proc/$p/fd" | wc -l; done | awk '{s+=$1} END{print s+0}'; }
clients() { rcli INFO clients | awk -F: '$1=="connected_clients"{print $2+0}'; }
reads() { rcli INFO commandstats | awk -F'[:=,]' '$1=="cmdstat_xrange" || $1=="cmdstat_xread" {s+=$3} END{print s+0}'; }

r1=$(create_run '{"type":"burst","input":{}}')
r2=$(create_run '{"type":"burst","input":{}}')
both_wait() { run_is "$r1" input_required && run_is "$r2" input_required; }
wait_until "both runs wait for input" 20 both_wait
base_fds=$(fds); base_clients=$(clients)

mkdir -p "$T/v"
pids=()
for run in "$r1" "$r2"; do
    for i in $(seq "$VIEWERS"); do
        curl -sN --max-time 60 "$BASE/api/v1/runs/$run/events" > "$T/v/$run.$i" &
        pids+=($!)
    done
done
replayed() { [ "$(grep -l '^event: input_required' "$T"/v/* 2>/dev/null | wc -l)" -ge $((2 * VIEWERS)) ]; }
wait_until "every viewer has its replay" 60 replayed
in_hub() { [ "$(fds)" -ge $((base_fds + 2 * VIEWERS)) ]; }
check "the $((2 * VIEWERS)) streams are held open by the responders" wait_until "streams in the hubs" 20 in_hub
check "they hold no Redis connection of their own ($(clients) clients, $base_clients before)" \
    test "$(clients)" -le $((base_clients + 4))

# Each run's channel is followed by the hubs that hold it (one or both
# responders), another run's by none.
following() { rcli PUBSUB SHARDNUMSUB "opstream:{$1}:appended" | tail -n 1; }
r3=$(create_run '{"type":"burst","input":{}}')
check "a run with viewers is followed by the hubs that hold them ($(following "$r1"))" \
    test "$(following "$r1")" -ge 1
check_eq "a run without viewers is followed by none" 0 "$(following "$r3")"
check_eq "nobody listens to one channel of every append" "" "$(rcli PUBSUB CHANNELS)"

before=$(reads)
for run in "$r1" "$r2"; do
    api POST "/v1/runs/$run/resume" -H 'Content-Type: application/json' --data '{"input":{}}' > /dev/null
done
ended=0
for p in "${pids[@]}"; do wait "$p" 2>/dev/null && ended=$((ended + 1)); done
read_calls=$(( $(reads) - before ))
check_eq "every viewer's response ended by itself" $((2 * VIEWERS)) "$ended"
unfollowed() { [ "$(following "$r1")" = 0 ] && [ "$(following "$r2")" = 0 ]; }
check "once their viewers are gone, the runs are followed no more" \
    wait_until "channels left" 20 unfollowed

complete=0
for f in "$T"/v/*; do
    frames "$f" > "$f.frames"
    if [ "$(awk -F'\t' '$2=="progress"' "$f.frames" | cut -f3 | jq -r .current | tr '\n' ' ')" = "$(seq -s ' ' 1 50) " ] &&
       [ "$(tail -n 1 "$f.frames" | cut -f2)" = run_finished ] &&
       [ "$(grep -c '	run_finished	' "$f.frames")" = 1 ] &&
       [ "$(cut -f1 "$f.frames" | sort | uniq -d | wc -l)" = 0 ] && ids_increase "$f.frames"; then
        complete=$((complete + 1))
    fi
done
check_eq "every viewer got progress 1..50 once, in order, and one run_finished, last" \
    $((2 * VIEWERS)) "$complete"
# One read per run per responder per batch of news, not one per viewer
# (which would be over $((2 * VIEWERS * 50))).
echo "# stream reads in Redis while 2 runs wrote 52 events each to $((2 * VIEWERS)) viewers: $read_calls"
check "Redis read each run's events once per responder, not per viewer ($read_calls reads)" \
    test "$read_calls" -le 500
finish
