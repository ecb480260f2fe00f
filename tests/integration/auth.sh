#!/usr/bin/env bash
# Bearer tokens, ownership, and signed events links.
. "$abs_top_srcdir/tests/integration/lib.sh"
# Links live 10 s here, so that one is seen to expire.
AUTH=token start_stack <<'CONF'
link_ttl_s = 10
CONF
cli() { "$BIN/opstream" -c "$T/opstream.conf" "$@"; }

alice=$(cli token create alice laptop)
bob=$(cli token create bob)
check "tokens are long and prefixed" sh -c "echo '$alice' | grep -Eqx 'ops_[A-Za-z0-9_-]{43}'"
no_clear_token() { ! ledger_sql 'SELECT hash FROM tokens' | grep -q "$alice"; }
check "the database keeps no token in clear" no_clear_token

api GET /v1/runs > /dev/null
check_eq "no token: 401" 401 "$(status)"
check_eq "no token: code" unauthorized "$(jq -r .code "$T/body")"
api GET /v1/runs -H "Authorization: Bearer ops_wrong" > /dev/null
check_eq "wrong token: 401" 401 "$(status)"
check_eq "health needs no token" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/health")"

api POST /v1/runs -H "Authorization: Bearer $alice" -H 'Content-Type: application/json' \
    --data '{"type":"countdown","input":{"n":2,"interval_ms":10}}' > /dev/null
check_eq "alice creates: 202" 202 "$(status)"
run=$(jq -r .id "$T/body")
link=$(jq -r .links.events "$T/body")
check_eq "owner is alice" alice "$(jq -r .owner "$T/body")"

api GET "/v1/runs/$run" -H "Authorization: Bearer $bob" > /dev/null
check_eq "bob cannot see alice's run: 404" 404 "$(status)"
check_eq "bob's 404 is the unknown-id 404" run_not_found "$(jq -r .code "$T/body")"
api GET /v1/runs -H "Authorization: Bearer $bob" > /dev/null
check_eq "bob's list is empty" 0 "$(jq '.data | length' "$T/body")"

# The signed link lets an EventSource (no headers) read this one stream.
timeout 20 curl -sN "$BASE$link" > "$T/s"
check "the signed link streams without a token" grep -qx 'event: run_finished' "$T/s"
bad=${link%?}A
[ "$bad" != "$link" ] || bad=${link%?}B
check_eq "a tampered signature is refused" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$bad")"
check_eq "the link does not open the snapshot" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/runs/$run?${link#*\?}")"
check_eq "expired links are refused" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/runs/$run/events?exp=1000&sig=${link##*sig=}")"
# A link signed with the real key (read from the database) but expiring
# further ahead than link_ttl_s, as a stolen key would make it.
sign() { # sign RUN EXP: the signature the stack would give alice's run
    python3 -c 'import base64,hashlib,hmac,sys
owner_key = hmac.new(bytes.fromhex(sys.argv[1]), b"alice.0", hashlib.sha256).digest()
mac = hmac.new(owner_key, (sys.argv[2] + "." + sys.argv[3]).encode(), hashlib.sha256).digest()
print(base64.urlsafe_b64encode(mac).decode().rstrip("="))' \
        "$(ledger_sql "SELECT value FROM settings WHERE key = 'link_secret'")" "$1" "$2"
}
exp=$(( $(date +%s) + 8 ))
check_eq "a link signed with the key within link_ttl_s opens the stream" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/runs/$run/events?exp=$exp&sig=$(sign "$run" "$exp")")"
exp=$(( $(date +%s) - 1 ))
check_eq "one signed with the key but a second past its expiry is refused" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/runs/$run/events?exp=$exp&sig=$(sign "$run" "$exp")")"
# The stack's own link, opened until its expiry passes, then refused.
link=$(api GET "/v1/runs/$run" -H "Authorization: Bearer $alice" | jq -r .links.events)
exp=$(echo "$link" | sed -n 's/.*[?&]exp=\([0-9]*\).*/\1/p')
check_eq "the link the stack gives opens the stream" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$link")"
past() { [ "$(date +%s)" -gt "$exp" ]; }
wait_until "the link's expiry passes" 15 past
check_eq "once its expiry has passed, the same link is refused" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$link")"
exp=$(( $(date +%s) + 30 * 86400 ))
check_eq "one expiring 30 days ahead, past link_ttl_s, is refused" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/runs/$run/events?exp=$exp&sig=$(sign "$run" "$exp")")"
# A stream a link opened ends when the link expires, not at the run's end.
long=$(api POST /v1/runs -H "Authorization: Bearer $alice" -H 'Content-Type: application/json' \
    -d '{"type":"countdown","input":{"n":600,"interval_ms":100}}' | jq -r .id)
exp=$(( $(date +%s) + 2 ))
curl -sN --max-time 20 "$BASE/api/v1/runs/$long/events?exp=$exp&sig=$(sign "$long" "$exp")" > "$T/expiring.sse" || true
ended=$(date +%s%3N)
echo "# a stream whose link expired at ${exp}000 ms ended at $ended ms"
check "a stream opened by a link ends once the link has expired (within 2 s of it)" \
    test "$ended" -gt "$((exp * 1000))" -a "$ended" -le "$((exp * 1000 + 2000))"
check "it had read events of the run, which goes on" \
    sh -c "grep -q '^event: progress' '$T/expiring.sse' && ! grep -q '^event: run_finished' '$T/expiring.sse'"
check_eq "the run itself goes on" running "$(api GET "/v1/runs/$long" -H "Authorization: Bearer $alice" | jq -r .status)"
api POST "/v1/runs/$long/cancel" -H "Authorization: Bearer $alice" > /dev/null
finish
