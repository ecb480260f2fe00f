#!/usr/bin/env bash
# Bytes that could lose or forge something: a job's stderr with a NUL
# byte and bytes that are not UTF-8 comes out whole, escaped, in the
# run's error, its events and its run_finished; a CR/LF in the URI of a
# CGI request never reaches a header.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
add_type rawbytes "read -r input
printf 'abc\\000def\\n' >&2
printf '\\377\\376 not utf-8\\n' >&2
printf 'out\\000put\\n'
exit 3"
start_stack
run=$(create_run '{"type":"rawbytes"}')
api GET "/v1/runs/$run/wait?timeout=20" > "$T/run.json"
tail=$'abc\\x00def\n\\xff\\xfe not utf-8\n'
check_eq "the run failed with its exit status and a stderr tail, NUL and bad bytes escaped" \
    "failed 3 $(printf '%s' "$tail" | jq -Rsr '@json')" \
    "$(jq -r '"\(.status) \(.error.exit_status) \(.error.stderr_tail | @json)"' "$T/run.json")"
api GET "/v1/runs/$run/events" -H 'Accept: application/json' > "$T/events.json"
check_eq "run_finished carries the same error in the events page" "$(jq -c .error "$T/run.json")" \
    "$(jq -c '.data[] | select(.event == "run_finished") | .data.error' "$T/events.json")"
check_eq "each line is a log event, kept faithfully" \
    "$(jq -nr '["abc\\x00def", "\\xff\\xfe not utf-8", "out\\x00put"] | sort | join("|")')" \
    "$(jq -r '[.data[] | select(.event == "log") | .data.line] | sort | join("|")' "$T/events.json")"
curl -sN "$BASE/api/v1/runs/$run/events" > "$T/stream.sse"
check_eq "and the same in the SSE stream's run_finished" "$(jq -c .error "$T/run.json")" \
    "$(grep -A1 '^event: run_finished' "$T/stream.sse" | sed -n 's/^data: //p' | jq -c .error)"

# CGI: the URI's base goes into Location; a CR/LF in it refuses the request.
cgi() { # cgi URI PATH_INFO: a create, as Apache's CGI would run it
    printf '{"type":"countdown","input":{"n":0}}' | env -i GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST \
        REQUEST_URI="$1" PATH_INFO="$2" SCRIPT_NAME=/cgi/opstream.cgi QUERY_STRING= CONTENT_TYPE=application/json \
        CONTENT_LENGTH=36 OPSTREAM_CONF="$T/opstream.conf" "$BIN/opstream.fcgi"
}
cgi /cgi/opstream.cgi/v1/runs /v1/runs > "$T/cgi.ok"
check "a plain CGI create answers 202 with its Location under the script" \
    sh -c "grep -q '^Status: 202' '$T/cgi.ok' && grep -q '^Location: /cgi/opstream.cgi/v1/runs/' '$T/cgi.ok'"
cgi "$(printf '/cgi\r\nSet-Cookie: evil=1\r\nX: /opstream.cgi/v1/runs')" /v1/runs > "$T/cgi.evil"
check "a CR/LF in REQUEST_URI is refused (404), and no header is forged" \
    sh -c "grep -q '^Status: 404' '$T/cgi.evil' && ! grep -qi '^Set-Cookie' '$T/cgi.evil'"
finish
