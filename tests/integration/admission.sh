#!/usr/bin/env bash
# Admission: a burst of short requests far larger than the request pool
# waits its turn and is answered in full; only a full house (max_requests
# held at once) is answered 503 problem+json with Retry-After, never a
# dropped connection, and the next request after it is served again.
. "$abs_top_srcdir/tests/integration/lib.sh"
# One responder process, so that its bounds are the stack's.
write_config <<'CONF'
responder_processes = 1
request_threads = 2
max_requests = 50
CONF
start_redis
start_lighttpd
start_worker
run=$(create_run '{"type":"countdown","input":{"n":1,"interval_ms":60000}}')
wait_until "a long run" 20 run_is "$run" running

# A burst of 50 status requests for 2 pool threads: they wait in line,
# and each is answered.
seq 50 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code}\n' "$BASE/api/v1/runs/$run" > "$T/burst"
check_eq "a burst of 50 status requests on 2 threads: every one answered 200" "50 200" \
    "$(sort "$T/burst" | uniq -c | awk '{print $1, $2}')"

# 60 long polls held at once where 50 requests fit: the rest find a full
# house. Each is held 15 s, far longer than starting 60 curls takes on a
# loaded machine, so that all 60 arrive while the first are still held.
polls=()
for i in $(seq 60); do
    curl -s -D "$T/h$i" -o "$T/b$i" -w '%{http_code}' "$BASE/api/v1/runs/$run/wait?timeout=15" > "$T/c$i" &
    polls+=($!)
done
wait "${polls[@]}"
codes=$(for i in $(seq 60); do cat "$T/c$i"; echo; done | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
echo "# 60 long polls at once: $codes"
full=$(grep -l '^503$' "$T"/c* | wc -l)
check_eq "exactly 10 found a full house ($codes)" 10 "$full"
check_eq "the others were served (202 at their timeout)" 60 "$(( full + $(grep -l '^202$' "$T"/c* | wc -l) ))"
ok_503=0
for f in $(grep -l '^503$' "$T"/c*); do
    i=${f##*/c}
    grep -qi '^retry-after: 1' "$T/h$i" && grep -qi '^content-type: application/problem+json' "$T/h$i" &&
        [ "$(jq -r .code "$T/b$i")" = overloaded ] && ok_503=$((ok_503 + 1))
done
check_eq "every 503 is problem+json 'overloaded' with Retry-After" "$full" "$ok_503"
api GET "/v1/runs/$run" > /dev/null
check_eq "once they are done, a request is served again" 200 "$(status)"
finish
