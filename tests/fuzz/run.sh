#!/usr/bin/env bash
# make fuzz: builds every harness with clang's libFuzzer, ASan and UBSan,
# and runs each for FUZZ_SECONDS (default 30) from a copy of its seed
# corpus. A crash leaves its input in fuzz-build/; keep it under
# tests/fuzz/regressions/NAME/ once fixed, and make check replays it.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_BUILD:-$PWD/fuzz-build}
secs=${FUZZ_SECONDS:-30}
mkdir -p "$out"
cflags=(-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DPACKAGE_VERSION='"fuzz"' -I"$src/src"
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
files=()
# (The views' rules use runs.c's time format, which brings the ledger and
# Redis modules along.)
for m in request out event protocol json_depth config schema doorman fcgi_record log clock webhook mcp run crypto \
         langgraph ui_stream runs store bus ledger ledger_sqlite ledger_pg metrics jobtypes; do
    files+=("$src/src/$m.c")
done
failed=0
for h in ${FUZZ_ONLY:-query event_id body job_line config json_depth fcgi_params webhook_url mcp views}; do
    bin=$out/fuzz_$h
    rm -f "$bin"
    clang "${cflags[@]}" "$src/tests/fuzz/fuzz_$h.c" "${files[@]}" -o "$bin" \
        $(pkg-config --cflags --libs jansson libcurl libsodium hiredis sqlite3 libpq) -lpthread || true
    [ -x "$bin" ] || { echo "not ok - fuzz_$h does not build"; failed=1; continue; }
    work=$out/corpus-$h
    rm -rf "$work" && mkdir -p "$work"
    cp "$src/tests/fuzz/corpus/$h/"* "$work/"
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
           -artifact_prefix="$out/$h-" "$work" > "$out/$h.log" 2>&1; then
        echo "ok - fuzz_$h: $(grep -E '^stat::number_of_executed_units' "$out/$h.log" | awk '{print $2}') runs in ${secs} s, corpus $(ls "$work" | wc -l)"
    else
        echo "not ok - fuzz_$h found a crash:"; tail -n 30 "$out/$h.log"; failed=1
    fi
done
exit $failed
