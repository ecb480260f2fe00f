#!/usr/bin/env bash
# Two wire formats, one home each. Every FastCGI byte opstream reads or
# writes itself (outside libfcgi) is in src/fcgi_record.c, which alone
# includes libfcgi's <fastcgi.h> and names its record types; and every
# SSE byte is framed by src/sse.c, the only file to spell an SSE field.
set -u
src=$abs_top_srcdir/src
failed=0
say() { # say HITS WHAT
    if [ -z "$1" ]; then echo "ok - $2"; else echo "$1"; echo "not ok - $2"; failed=1; fi
}
code() { # the C files' lines, comments dropped (lines inside /* */ blocks)
    grep -nHv -E '^\s*(/\*|\*)' "$src"/*.c "$src"/*.h
}

hits=$(grep -nE '#include\s*<fastcgi\.h>' "$src"/*.c "$src"/*.h | grep -v "^$src/fcgi_record.c:")
say "$hits" "only fcgi_record.c includes <fastcgi.h>"
records='FCGI_(Header|BeginRequestBody|EndRequestBody|VERSION_1|BEGIN_REQUEST|ABORT_REQUEST|END_REQUEST|PARAMS|STDIN|STDOUT|STDERR|DATA|GET_VALUES|MAXTYPE|RESPONDER|HEADER_LEN|NULL_REQUEST_ID)\b'
hits=$(code | grep -E "$records" | grep -v "^$src/fcgi_record.c:")
say "$hits" "FastCGI record types and fields are named in fcgi_record.c only"
hits=$(code | grep -E 'MSG_PEEK' | grep -v -e "^$src/fcgi_record.c:" -e "^$src/doorman.c:")
say "$hits" "only the doorman and fcgi_record.c peek at a peer's bytes"

hits=$(code | grep -E '"(id|event|data|retry): |": ?keepalive|"\\n\\n"' | grep -v "^$src/sse.c:")
say "$hits" "SSE fields are spelled in sse.c only"
exit $failed
