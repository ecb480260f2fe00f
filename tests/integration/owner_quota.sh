#!/usr/bin/env bash
# max_active_runs_per_owner: past it, create answers 429 owner_quota with
# Retry-After, and creates nothing; other owners and idempotent replays
# are not held back; once a run ends, the owner may create again.
. "$abs_top_srcdir/tests/integration/lib.sh"
AUTH=token start_stack <<'CONF'
max_active_runs_per_owner = 3
CONF
alice=$("$BIN/opstream" -c "$T/opstream.conf" token create alice)
bob=$("$BIN/opstream" -c "$T/opstream.conf" token create bob)
make() { # make TOKEN [KEY]: creates a sleep run, prints its id
    curl -sS -D "$T/headers" -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
        ${2:+-H "Idempotency-Key: $2"} -H 'Content-Type: application/json' \
        --data '{"type":"sleep","input":{"seconds":60}}' "$BASE/api/v1/runs" > "$T/status"
    jq -r '.id // empty' "$T/body"
}
first=$(make "$alice" key-1)
make "$alice" > /dev/null
make "$alice" > /dev/null
check_eq "three active runs are allowed" 202 "$(status)"
make "$alice" > /dev/null
check_eq "a fourth gets 429 owner_quota" "429 owner_quota" "$(status) $(jq -r .code "$T/body")"
check "with Retry-After" grep -qi '^Retry-After: [1-9][0-9]*' "$T/headers"
check_eq "and creates nothing" 3 "$(ledger_sql "SELECT COUNT(*) FROM runs WHERE owner = 'alice'")"
check_eq "a replay of an earlier create still answers 202 with its run" "202 $first" \
    "$(make "$alice" key-1 > /dev/null; echo "$(status) $(jq -r .id "$T/body")")"
make "$bob" > /dev/null
check_eq "another owner is not held back" 202 "$(status)"
curl -s -o /dev/null -X POST -H "Authorization: Bearer $alice" -d '' "$BASE/api/v1/runs/$first/cancel?wait=1"
make "$alice" > /dev/null
check_eq "once one has ended, the owner creates again" 202 "$(status)"
finish
