#!/usr/bin/env bash
# The MCP endpoint behind lighttpd, driven by the official TypeScript SDK
# (tests/contract/mcp.mjs): tools, progress, three cut connections, tasks,
# questions, two owners, malformed JSON-RPC; then a task that outlives a
# restart of every process of the stack.
. "$abs_top_srcdir/tests/integration/lib.sh"
need_node_module @modelcontextprotocol/sdk
use_test_types
use_mcp_types
add_retrying_countdown durable_countdown
AUTH=token start_stack <<'CONF'
retry_ms = 200
CONF
a=$("$BIN/opstream" -c "$T/opstream.conf" token create alice)
b=$("$BIN/opstream" -c "$T/opstream.conf" token create bob)
mcp() { node "$abs_top_srcdir/tests/contract/mcp.mjs" "$@"; }

if mcp main "$BASE" "$a" "$b" > "$T/main.out" 2>&1; then main=0; else main=1; fi
cat "$T/main.out"
check "the SDK's client: every check passed" test "$main" = 0

# A task started, then every process of the stack killed (Redis too, and
# PostgreSQL where it is the ledger) and started again: a new session finds it by id and gets its result.
task=$(mcp task-start "$BASE" "$a")
check "a task started" test -n "$task"
for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
pkill -KILL -f "$T/" 2>/dev/null || true
PIDS=()
FCGI_PID=
[ "$LEDGER" != postgresql ] || start_postgres
start_redis
start_lighttpd
start_worker
if mcp task-finish "$BASE" "$a" "$task" > "$T/finish.out" 2>&1; then fin=0; else fin=1; fi
cat "$T/finish.out"
check "after a restart of every process: the task and its result" test "$fin" = 0
finish
