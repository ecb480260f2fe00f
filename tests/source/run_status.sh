#!/usr/bin/env bash
# The run lifecycle has one home. Run status names and webhook states are
# spelled in their tables (src/run.c) only, so code compares enum values and SQL binds
# the names (MCP's task statuses, src/mcp.c's MCP_TASK_*, and LangGraph's,
# src/langgraph.c's LG_STATUS_*, are other vocabularies;
# but for the one literal a partial index needs, LEDGER_ACTIVE_SQL in
# src/ledger.h, which check_store holds to the table); and a run's status is written only by the store functions that
# take a status change, which only runs.c calls. The job programs of
# src/jobs speak the job protocol from outside and are not part of this.
set -u
src=$abs_top_srcdir/src
failed=0
say() { # say HITS ok|bad WHAT
    [ -n "$1" ] && echo "$1"
    if [ "$2" = ok ]; then echo "ok - $3"; else echo "not ok - $3"; failed=1; fi
}

names='queued|running|input_required|succeeded|failed|cancelled|timed_out|expired'
hits=$(grep -nE "[\"'](${names})[\"']" "$src"/*.c "$src"/*.h | grep -v "^$src/run.c:" |
       grep -v "^$src/event.h:.*EVENT_INPUT_REQUIRED" | grep -v "^$src/mcp.c:[0-9]*:#define MCP_TASK_" | grep -v "^$src/langgraph.c:[0-9]*:#define LG_STATUS_" | grep -v "^$src/ledger.h:.*#define LEDGER_ACTIVE_SQL ")
[ -z "$hits" ] && r=ok || r=bad
say "$hits" $r "status names appear in the status table only"

hits=$(grep -nE "status *(=|!=|<>) *'|status +IN *\( *'" "$src"/*.c)
[ -z "$hits" ] && r=ok || r=bad
say "$hits" $r "the store writes and filters statuses through bound names only"

# Webhook states likewise (bus.c's "pending" is a field of Redis's own
# XINFO answer, not a state).
hits=$(grep -nE "[\"'](pending|delivered|given_up)[\"']" "$src"/*.c "$src"/*.h | grep -v "^$src/run.c:" |
       grep -v "^$src/langgraph.c:[0-9]*:#define LG_STATUS_" |
       grep -v "info_int(c, \"pending\")")
[ -z "$hits" ] && r=ok || r=bad
say "$hits" $r "webhook state names appear in their table only"

writers='store_run_(claim|await_input|resume|requeue|cancel_queued|expire|finish)\('
hits=$(grep -nE "$writers" "$src"/*.c | grep -v "^$src/runs.c:" | grep -v "^$src/store.c:[0-9]*:int store_run_")
[ -z "$hits" ] && r=ok || r=bad
say "$hits" $r "status changes are reached only through runs.c"

hits=$(grep -nE "status_change [a-z_]+ = \{" "$src"/*.c | grep -v "^$src/runs.c:")
[ -z "$hits" ] && r=ok || r=bad
say "$hits" $r "only runs.c makes a status change"
exit $failed
