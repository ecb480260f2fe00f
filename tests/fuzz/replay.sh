#!/usr/bin/env bash
# Every fuzz harness over its seed corpus and the inputs kept from past
# findings, in the ordinary build (and under ASan and UBSan in theirs).
set -u
failed=0
for dir in "$abs_top_srcdir"/tests/fuzz/corpus/*/; do
    h=$(basename "$dir")
    inputs=("$dir"*)
    [ -d "$abs_top_srcdir/tests/fuzz/regressions/$h" ] &&
        inputs+=("$abs_top_srcdir/tests/fuzz/regressions/$h/"*)
    if out=$("$abs_top_builddir/tests/fuzz/replay_$h" "${inputs[@]}" 2>&1); then
        echo "ok - fuzz_$h: $out"
    else
        echo "not ok - fuzz_$h:"; echo "$out"; failed=1
    fi
done
exit $failed
