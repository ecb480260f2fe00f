#!/usr/bin/env bash
# GET /v1/runs: newest first, filters, limits, and an opaque cursor that
# stays correct while runs are being created.
. "$abs_top_srcdir/tests/integration/lib.sh"
use_test_types
start_stack

ended() { case "$(run_status "$1")" in succeeded|failed|cancelled|timed_out) return 0 ;; esac; return 1; }
ids=()
for i in 1 2 3 4 5 6 7; do
    case $i in
    3|6) body='{"type":"broken","thread_id":"t1"}' ;;
    *) body="{\"type\":\"countdown\",\"input\":{\"n\":0},\"thread_id\":\"t$((i % 2))\"}" ;;
    esac
    ids+=("$(create_run "$body")")
    # Thread t1 refuses a run while its last one is active (reject): each
    # run ends before the next is created, however loaded the machine.
    wait_until "run $i ends" 30 ended "${ids[-1]}"
done
finished() { [ "$(api GET '/v1/runs?status=active' | jq '.data | length')" = 0 ]; }
wait_until "all runs finished" 30 finished
newest_first=$(printf '%s\n' "${ids[@]}" | tac | tr '\n' ' ')

api GET '/v1/runs' > /dev/null
check_eq "list is newest first" "$newest_first" "$(jq -r '.data[].id' "$T/body" | tr '\n' ' ')"
check_eq "a full list has no next_cursor" null "$(jq -r .next_cursor "$T/body")"

# Page by 3 while new runs keep arriving between pages.
pages=""
cursor=""
for page in 1 2 3 4; do
    api GET "/v1/runs?limit=3${cursor:+&cursor=$cursor}" > /dev/null
    pages+=$(jq -r '.data[].id' "$T/body" | tr '\n' ' ')
    cursor=$(jq -r '.next_cursor // empty' "$T/body")
    create_run '{"type":"countdown","input":{"n":0}}' > /dev/null
    [ -n "$cursor" ] || break
done
check_eq "pages of 3 hold every run once, in order, despite new runs" "$newest_first" "$pages"
check_eq "the last page has no cursor" "" "$cursor"

count() { api GET "/v1/runs?$1" | jq '.data | length'; }
check_eq "status=failed" 2 "$(count status=failed)"
check_eq "type=broken" 2 "$(count type=broken)"
check_eq "thread_id=t1 (with type)" 2 "$(count 'thread_id=t1&type=broken')"
check_eq "thread_id=t0 (runs 2 and 4)" 2 "$(count thread_id=t0)"
check_eq "status=active is empty when all are done" 0 "$(count status=active)"
check_eq "limit=1" 1 "$(count limit=1)"

# Filter by a metadata key and value: strings, and numbers and booleans
# as JSON writes them.
acme=$(create_run '{"type":"countdown","input":{"n":0},"metadata":{"tenant":"acme","seats":5,"vip":true,"note":"a:b=c"}}')
globex=$(create_run '{"type":"countdown","input":{"n":0},"metadata":{"tenant":"globex","seats":50}}')
by_meta() { api GET "/v1/runs?metadata_key=$1&metadata_value=$2" | jq -r '[.data[].id] | join(" ")'; }
check_eq "metadata tenant=acme" "$acme" "$(by_meta tenant acme)"
check_eq "metadata tenant=globex" "$globex" "$(by_meta tenant globex)"
check_eq "metadata seats=5 (a number)" "$acme" "$(by_meta seats 5)"
check_eq "metadata vip=true (a boolean)" "$acme" "$(by_meta vip true)"
check_eq "metadata with reserved characters, encoded" "$acme" "$(by_meta note 'a%3Ab%3Dc')"
check_eq "metadata tenant=nobody: none" "" "$(by_meta tenant nobody)"
check_eq "metadata with other filters" "$globex" \
    "$(api GET "/v1/runs?metadata_key=tenant&metadata_value=globex&type=countdown&limit=1" | jq -r '.data[].id')"
for bad in 'metadata_key=tenant' 'metadata_value=acme' "metadata_key=$(head -c 300 /dev/zero | tr '\0' k)&metadata_value=x"; do
    api GET "/v1/runs?$bad" > /dev/null
    check_eq "${bad:0:40}: 400" "400 invalid_parameter" "$(status) $(jq -r .code "$T/body")"
done

check_eq "limit=201 is capped at 200, not refused" 200 "$(api GET '/v1/runs?limit=201' > /dev/null; status)"
for bad in 'limit=0' 'limit=-3' 'limit=x' 'status=done' 'status=%zz'; do
    api GET "/v1/runs?$bad" > /dev/null
    check_eq "$bad: 400" "400 invalid_parameter" "$(status) $(jq -r .code "$T/body")"
done
for bad in 'cursor=abc' 'cursor=c2VxOi0x' 'cursor=c2VxOjA'; do
    api GET "/v1/runs?$bad" > /dev/null
    check_eq "$bad: 400 invalid_cursor" "400 invalid_cursor" "$(status) $(jq -r .code "$T/body")"
done
finish
