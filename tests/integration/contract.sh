#!/usr/bin/env bash
# The OpenAPI document is valid (a real validator from npm) and the live
# service answers as it says (tests/contract/contract.mjs).
. "$abs_top_srcdir/tests/integration/lib.sh"
need_node_module ajv
use_test_types
use_asker
# A webhook to a closed port: its attempts fail, and show in the run.
AUTH=token start_stack <<'CONF'
webhook_allow = http://127.0.0.1:9/
webhook_backoff_ms = 100
webhook_max_attempts = 2
CONF
token=$("$BIN/opstream" -c "$T/opstream.conf" token create contract)
node "$abs_top_srcdir/tests/contract/contract.mjs" "$BASE" "$token"
