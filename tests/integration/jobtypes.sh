#!/usr/bin/env bash
# What a job type file sets reaches the job: env, cwd, resource limits and
# the OPSTREAM_* variables; an oversized output line is cut and flagged
# without stalling anything; bad fields stop the worker naming the field.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
script='head -c 3000 /dev/zero | tr "\0" x; echo
echo "{\"event\":\"after.long\",\"data\":{}}"
printf "{\"event\":\"result\",\"data\":{\"greeting\":\"%s\",\"cwd\":\"%s\",\"nofile\":\"%s\",\"cpu\":\"%s\",\"run\":\"%s\",\"type\":\"%s\",\"attempt\":\"%s\"}}\n" \
  "$GREETING" "$(pwd)" "$(ulimit -n)" "$(ulimit -t)" "$OPSTREAM_RUN_ID" "$OPSTREAM_RUN_TYPE" "$OPSTREAM_ATTEMPT"'
jq -n --arg s "$script" --arg cwd "$T" '{name: "probe", description: "reports its environment",
    command: ["/bin/sh", "-c", $s], env: {GREETING: "hello there"}, cwd: $cwd,
    limits: {open_files: 32, cpu_s: 7}, retries: 0, max_concurrency: 2}' > "$JOBTYPES_DIR/probe.json"
write_config <<'CONF'
job_line_max_bytes = 1024
CONF
start_redis
start_lighttpd
start_worker

run=$(create_run '{"type":"probe"}')
api GET "/v1/runs/$run/wait?timeout=20" > /dev/null
check_eq "the probe succeeded" succeeded "$(jq -r .status "$T/body")"
check_eq "env from the type file" "hello there" "$(jq -r .result.greeting "$T/body")"
check_eq "cwd from the type file" "$T" "$(jq -r .result.cwd "$T/body")"
check_eq "open files limit" 32 "$(jq -r .result.nofile "$T/body")"
check_eq "CPU seconds limit" 7 "$(jq -r .result.cpu "$T/body")"
check_eq "OPSTREAM_RUN_ID, _TYPE, _ATTEMPT" "$run probe 1" \
    "$(jq -r '"\(.result.run) \(.result.type) \(.result.attempt)"' "$T/body")"
api GET "/v1/runs/$run/events?types=log,after.long" -H 'Accept: application/json' > /dev/null
check_eq "the 3,000-byte line became a log event cut to 1,024 bytes, flagged" "log 1024 true" \
    "$(jq -r '.data[0] | "\(.event) \(.data.line | length) \(.data.truncated)"' "$T/body")"
check_eq "and the next line still became its event" after.long "$(jq -r '.data[1].event' "$T/body")"

for bad in '"env": {"OPSTREAM_RUN_ID": "x"}' '"cwd": "relative"' '"limits": {"open_files": 1}' \
           '"limits": {"stack": 1}' '"retries": -1' '"max_concurrency": 0'; do
    mkdir -p "$T/bad"
    echo "{\"name\":\"b\",\"command\":[\"x\"],$bad}" > "$T/bad/b.json"
    field=$(echo "$bad" | sed 's/^"\([a-z_]*\)".*/\1/')
    out=$(sed "s|^jobtypes_dir = .*|jobtypes_dir = $T/bad|" "$T/opstream.conf" > "$T/bad.conf"
          "$BIN/opstream-worker" -c "$T/bad.conf" 2>&1 || true)
    check "$bad: refused naming the file and field" sh -c "echo '$out' | grep -q 'bad/b.json: $field: '"
done
finish
