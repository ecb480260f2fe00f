#!/usr/bin/env bash
# The man pages: opstream.conf(5) names every key of the config key table
# (src/config.c) and no other, and every page renders without a warning.
set -u
: "${abs_top_srcdir:?run through make check}"
man_dir=$abs_top_srcdir/src/man
failed=0
say() { if [ "$1" = ok ]; then echo "ok - $2"; else echo "not ok - $2"; failed=1; fi; }

keys=$(sed -n '/^static const struct key keys\[\] = {/,/^};/p' "$abs_top_srcdir/src/config.c" |
       grep -o '{"[a-z_]*"' | tr -d '{"' | sort)
# A key's entry: a line that starts with it in bold, "*key*", or "*a*, *b*".
documented=$(sed -n '/^# KEYS/,/^# FILES/p' "$man_dir/opstream.conf.5.scd" | grep '^\*' |
             sed 's/ (default:.*//' | grep -o '\*[a-z_]*\*' | tr -d '*' | sort)
missing=$(comm -23 <(echo "$keys") <(echo "$documented"))
extra=$(comm -13 <(echo "$keys") <(echo "$documented"))
[ -z "$missing" ] || echo "# not in opstream.conf(5): $missing"
[ -z "$extra" ] || echo "# in opstream.conf(5) but no key: $extra"
[ -n "$keys" ] && [ -z "$missing" ] && [ -z "$extra" ] && r=ok || r=bad
say $r "opstream.conf(5) documents exactly the keys of the config key table ($(echo "$keys" | wc -l))"

if ! command -v scdoc >/dev/null || ! command -v man >/dev/null; then
    echo "# SKIP rendering: scdoc or man is not installed (script/bootstrap installs them)"
    exit $failed
fi
T=$(mktemp -d /tmp/opstream-man.XXXXXX)
trap 'rm -rf "$T"' EXIT
for src in "$man_dir"/*.scd; do
    page=$T/$(basename "$src" .scd)
    if ! scdoc < "$src" > "$page" 2> "$T/err"; then
        cat "$T/err"
        say bad "$(basename "$src"): scdoc renders it"
        continue
    fi
    warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    [ -z "$warnings" ] || echo "$warnings"
    [ -z "$warnings" ] && [ -s "$page" ] && r=ok || r=bad
    say $r "$(basename "$page"): man renders it without a warning"
done
exit $failed
