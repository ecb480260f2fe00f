#!/usr/bin/env bash
# Idempotency-Key: retries are safe, a reused key with another body is
# refused, keys are per owner and expire after 24 h, and concurrent
# retries create exactly one run per key.
. "$abs_top_srcdir/tests/integration/lib.sh"
AUTH=token start_stack
alice=$("$BIN/opstream" -c "$T/opstream.conf" token create alice)
bob=$("$BIN/opstream" -c "$T/opstream.conf" token create bob)

post() { # post TOKEN KEY BODY -> headers in $T/h, body in $T/body
    curl -sS -D "$T/h" -o "$T/body" -H "Authorization: Bearer $1" -H "Idempotency-Key: $2" \
        -H 'Content-Type: application/json' --data "$3" "$BASE/api/v1/runs"
}
code() { awk 'NR==1{print $2}' "$T/h"; }

post "$alice" k1 '{"type":"countdown","input":{"n":1,"interval_ms":0}}'
first=$(jq -r .id "$T/body")
check_eq "first create: 202" 202 "$(code)"
check "first create is not a replay" sh -c "! grep -qi '^idempotent-replayed' '$T/h'"
post "$alice" k1 '{ "input": {"interval_ms":0, "n":1}, "type": "countdown" }'
check_eq "retry (same content, other order and spacing): 202" 202 "$(code)"
check_eq "retry returns the original run" "$first" "$(jq -r .id "$T/body")"
check "retry says Idempotent-Replayed: true" grep -qi '^idempotent-replayed: true' "$T/h"
post "$alice" k1 '{"type":"countdown","input":{"n":2}}'
check_eq "same key, other body: 422" 422 "$(code)"
check_eq "same key, other body: code" idempotency_key_reused "$(jq -r .code "$T/body")"
post "$bob" k1 '{"type":"countdown","input":{"n":1,"interval_ms":0}}'
check "keys are per owner: bob's k1 is a new run" test "$(jq -r .id "$T/body")" != "$first"
post "$alice" "$(head -c 300 /dev/zero | tr '\0' k)" '{"type":"countdown"}'
check_eq "a key over 255 characters: 400" 400 "$(code)"

# After 24 hours the key is forgotten (its row is aged by a day and a minute).
ledger_sql "UPDATE idempotency SET created_at = created_at - 86460000 WHERE key = 'k1'"
post "$alice" k1 '{"type":"countdown","input":{"n":2,"interval_ms":0}}'
check_eq "an expired key creates a new run" 202 "$(code)"
check "with a new id" test "$(jq -r .id "$T/body")" != "$first"

# 200 concurrent creates over 50 keys: exactly 50 runs.
before=$(ledger_sql 'SELECT COUNT(*) FROM runs')
seq 0 199 | xargs -P 50 -I{} sh -c '
    k=c$(({} % 50))
    curl -sS -o "'"$T"'/c{}.json" -w "%{http_code}\n" -H "Authorization: Bearer '"$alice"'" \
        -H "Idempotency-Key: $k" -H "Content-Type: application/json" \
        --data "{\"type\":\"countdown\",\"input\":{\"n\":0},\"metadata\":{\"key\":\"$k\"}}" \
        "'"$BASE"'/api/v1/runs"' > "$T/codes"
check_eq "all 200 concurrent creates answered 202" 200 "$(grep -c '^202$' "$T/codes")"
check_eq "they name exactly 50 distinct runs" 50 "$(cat "$T"/c*.json | jq -r .id | sort -u | wc -l)"
check_eq "the ledger holds exactly 50 new runs" 50 \
    "$(( $(ledger_sql 'SELECT COUNT(*) FROM runs') - before ))"
check_eq "each key maps to one run" 50 \
    "$(cat "$T"/c*.json | jq -r '"\(.metadata.key) \(.id)"' | sort -u | wc -l)"
all_done() { [ "$(ledger_sql "SELECT COUNT(*) FROM runs WHERE status != 'succeeded'")" = 0 ]; }
check "and each of them ran once to success" wait_until "all runs done" 60 all_done
check_eq "one run_started per run" 1 \
    "$(redis-cli -s "$T/redis.sock" XRANGE "opstream:{$(jq -r .id "$T/c0.json")}:events" - + | grep -c '^run_started$')"
finish
