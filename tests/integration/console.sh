#!/usr/bin/env bash
# The console at / and www/opstream.js in a real browser (Chromium, driven
# by playwright-core): every job type's form, steps, cancel, input asked
# mid-run, the runs list, and a 500-event run through SIGKILLed responders
# and a 503 outage (tests/contract/console.mjs). Leaves a picture of the
# page mid-run in tests/console-mid-run.png under the build directory.
. "$abs_top_srcdir/tests/integration/lib.sh"
need_browser
# A type whose input has every kind of field the console builds: a nested
# object, an enum, bounded numbers, a boolean, an array (its job is steps,
# which reads only its own fields).
use_test_types
jq -n '{name: "release", description: "Steps with a richer input form.", command: ["steps"], timeout_s: 600,
    input_schema: {type: "object", required: ["target"], additionalProperties: false, properties: {
      steps: {type: "array", items: {type: "string", minLength: 1, maxLength: 128}},
      delay_ms: {type: "integer", minimum: 0, maximum: 1000},
      target: {type: "object", required: ["env"], additionalProperties: false, properties: {
        env: {type: "string", enum: ["staging", "production"]},
        replicas: {type: "integer", minimum: 1, maximum: 9},
        canary: {type: "boolean"}}},
      ratio: {type: "number", minimum: 0, maximum: 1}}}}' > "$JOBTYPES_DIR/release.json"
# One of two shapes, picked by "kind".
jq -n '{name: "visit", description: "A lab or a field visit.", command: ["steps"],
    input_schema: {type: "object", required: ["kind"], discriminator: {propertyName: "kind"},
      oneOf: [{properties: {kind: {enum: ["lab"]}, samples: {type: "integer", minimum: 1, maximum: 96}}, required: ["samples"]},
              {properties: {kind: {enum: ["field"]}, site: {type: "string", minLength: 1}}, required: ["site"]}]}}' \
    > "$JOBTYPES_DIR/visit.json"
# retry_ms 100: reconnects come quickly, so the kills fit in a short run.
# Tokens on, as a deployment has them: the console is given one.
# Finished runs' streams leave Redis after a second: a replay reads the
# archive, and once gc has deleted that too, a gap says so.
AUTH=token start_stack <<'CONF'
retry_ms = 100
retention_s = 1
CONF
token=$("$BIN/opstream" -c "$T/opstream.conf" token create console-user)
mkdir -p "$abs_top_builddir/tests"
TOKEN=$token OPSTREAM_CLI=$BIN/opstream OPSTREAM_CONF=$T/opstream.conf HOME=$T CHROMIUM=$chromium node "$abs_top_srcdir/tests/contract/console.mjs" "$BASE" "$T/" "$SOCK" \
    "$abs_top_builddir/tests/console-mid-run.png"
