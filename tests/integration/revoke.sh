#!/usr/bin/env bash
# opstream token list and revoke: a revoked token gets 401 on its next
# request, its open stream ends within keepalive_ms, and every signed link
# made for its owner before stops working; other tokens carry on.
. "$abs_top_srcdir/tests/integration/lib.sh"
KEEPALIVE_MS=1000 AUTH=token start_stack
cli() { "$BIN/opstream" -c "$T/opstream.conf" "$@"; }
old=$(cli token create alice laptop)
new=$(cli token create alice phone)
cli token create bob desk > /dev/null
cli token list > "$T/list"
check_eq "list shows every token with owner and name, never the token" "alice laptop alice phone bob desk" \
    "$(awk 'NR > 1 { printf "%s%s %s", (NR > 2 ? " " : ""), $2, $3 }' "$T/list")"
check "list holds no token itself" sh -c "! grep -q -e '$old' -e '$new' '$T/list'"

api POST /v1/runs -H "Authorization: Bearer $old" -H 'Content-Type: application/json' \
    --data '{"type":"sleep","input":{"seconds":60}}' > /dev/null
run=$(jq -r .id "$T/body")
link=$(jq -r .links.events "$T/body")
curl -sN -H "Authorization: Bearer $old" "$BASE/api/v1/runs/$run/events" > "$T/stream" 2>/dev/null &
STREAM=$!
curl -sN "$BASE$link" > "$T/linked" 2>/dev/null &
LINKED=$!
wait_until "both streams are open" 20 sh -c "grep -q run_started '$T/stream' && grep -q run_started '$T/linked'"

id=$(grep " laptop " "$T/list" | cut -d' ' -f1)
check "revoke names the token's owner" sh -c "'$BIN/opstream' -c '$T/opstream.conf' token revoke $id | grep -qx 'revoked $id of alice'"
revoked_at=$SECONDS
api GET "/v1/runs/$run" -H "Authorization: Bearer $old" > /dev/null
check_eq "the revoked token's next request: 401" "401 invalid_token" "$(status) $(jq -r .code "$T/body")"
check "its open stream ends within keepalive_ms" wait_until "the stream ends" 3 sh -c "! kill -0 $STREAM"
check "the link's open stream ends too" wait_until "the linked stream ends" 3 sh -c "! kill -0 $LINKED"
echo "# streams ended $((SECONDS - revoked_at)) s after the revoke (keepalive 1 s)"
check_eq "a link made before the revoke: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$link")"
api GET "/v1/runs/$run" -H "Authorization: Bearer $new" > /dev/null
check_eq "alice's other token still works" 200 "$(status)"
link=$(jq -r .links.events "$T/body")
check_eq "and links made now work" 200 "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$BASE$link" || true)"
check_eq "revoking an unknown id fails" 1 "$(cli token revoke 000000000000 > /dev/null 2>&1; echo $?)"
check_eq "the list has two tokens left" 2 "$(cli token list | tail -n +2 | wc -l)"
api POST "/v1/runs/$run/cancel?wait=1" -H "Authorization: Bearer $new" -d '' > /dev/null
finish
