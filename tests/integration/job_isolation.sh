#!/usr/bin/env bash
# Jobs of different runs cannot reach each other. Bob's job, a probe,
# makes the moves of a hostile job against Alice's job, which waits for
# input: it looks for her run in every /proc/*/environ, sends her job
# SIGKILL, reads her job's memory through /proc/PID/mem, and attaches to
# it with ptrace. First with every job as the one job_user (the old way,
# job_uid_range empty): the probe's moves reach her job, which shows they
# are real. Then with job_uid_range: every move is refused, her run goes
# on and ends as it would have, with no event but its own.
. "$abs_top_srcdir/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: the worker must run as root to switch users"; exit $SKIP; }
command -v /usr/bin/python3 >/dev/null || { echo "SKIP: /usr/bin/python3 is missing"; exit $SKIP; }
use_test_types
use_asker
probe='
import ctypes, json, os, signal, sys
victim = json.loads(sys.stdin.readline())
run, pid = victim["run"], victim["pid"]
found = False
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                found |= f"OPSTREAM_RUN_ID={run}".encode() in f.read().split(b"\0")
        except OSError:
            pass
mem = False
try:
    with open(f"/proc/{pid}/maps") as f:
        start = int(f.readline().split("-")[0], 16)
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(start)
        mem = len(f.read(16)) == 16
except OSError:
    pass
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
traced = libc.ptrace(16, pid, None, None) == 0  # PTRACE_ATTACH
if traced:
    os.waitpid(pid, 0)
    libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
killed = True
try:
    os.kill(pid, signal.SIGKILL)
except OSError:
    killed = False
print(json.dumps({"event": "result", "data": {"uid": os.getuid(), "environ": found, "mem": mem,
                                              "ptrace": traced, "kill": killed}}))
'
jq -n --arg s "$probe" '{name: "probe", description: "reaches for another run", command: ["/usr/bin/python3", "-c", $s]}' \
    > "$JOBTYPES_DIR/probe.json"
AUTH=token start_stack <<'CONF'
job_user = nobody
job_uid_range =
CONF
cli() { "$BIN/opstream" -c "$T/opstream.conf" "$@"; }
alice=$(cli token create alice)
bob=$(cli token create bob)
as() { local who=$1 method=$2 path=$3; shift 3
    curl -sS -X "$method" -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $who" "$@" "$BASE/api$path" > "$T/status"
    cat "$T/body"; }
# job_of RUN: the pid of the job whose environment names RUN (read as root)
job_of() { grep -lzx "OPSTREAM_RUN_ID=$1" /proc/[0-9]*/environ 2>/dev/null | head -n 1 | cut -d/ -f3 || true; }
job_uid() { awk '/^Uid:/ { print $2 }' "/proc/$1/status"; }

# round NAME: Alice's asker, waiting; Bob's probe against it. Leaves
# $victim, $vpid and the probe's result in $T/NAME.json.
round() {
    victim=$(as "$alice" POST /v1/runs -H 'Content-Type: application/json' -d '{"type":"asker"}' | jq -r .id)
    wait_until "Alice's run waits for input" 20 sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $alice' $BASE/api/v1/runs/$victim | jq -r .status)\" = input_required ]"
    vpid=$(job_of "$victim")
    probe_run=$(as "$bob" POST /v1/runs -H 'Content-Type: application/json' \
        -d "{\"type\":\"probe\",\"input\":{\"run\":\"$victim\",\"pid\":$vpid}}" | jq -r .id)
    as "$bob" GET "/v1/runs/$probe_run/wait?timeout=30" > "$T/$1.json"
    echo "# $1: Alice's job $vpid (uid $(job_uid "$vpid" 2>/dev/null || echo gone)); the probe found $(jq -c .result "$T/$1.json")"
}

round shared
check_eq "shared job_user: the probe ran to its end" succeeded "$(jq -r .status "$T/shared.json")"
check_eq "shared job_user: it found Alice's run in /proc/*/environ, read her job's memory, traced and killed it" \
    "true true true true" "$(jq -r '.result | "\(.environ) \(.mem) \(.ptrace) \(.kill)"' "$T/shared.json")"
check "shared job_user: so Alice's run failed" wait_until "Alice's run ends" 20 sh -c \
    "[ \"\$(curl -s -H 'Authorization: Bearer $alice' $BASE/api/v1/runs/$victim | jq -r .status)\" = failed ]"

# The same with a uid of its own for each job.
kill -TERM "$WORKER_PID"; wait "$WORKER_PID" || true
sed -i 's/^job_uid_range =$/job_uid_range = 1879048192-1879048199/' "$T/opstream.conf"
start_worker
round isolated
check_eq "own uids: the probe ran to its end" succeeded "$(jq -r .status "$T/isolated.json")"
check_eq "own uids: it found nothing in /proc/*/environ, read no memory, could neither trace nor kill" \
    "false false false false" "$(jq -r '.result | "\(.environ) \(.mem) \(.ptrace) \(.kill)"' "$T/isolated.json")"
check "own uids: the two jobs had different uids, both from the range" \
    jq -e --argjson a "$(job_uid "$vpid")" '.result.uid != $a and .result.uid >= 1879048192 and .result.uid <= 1879048199 and $a >= 1879048192 and $a <= 1879048199' "$T/isolated.json"
check_eq "own uids: Alice's run still waits" input_required \
    "$(as "$alice" GET "/v1/runs/$victim" | jq -r .status)"
as "$alice" POST "/v1/runs/$victim/resume" -H 'Content-Type: application/json' -d '{"input":{"answer":"mine"}}' > /dev/null
check_eq "own uids: resumed, it succeeded with its own answer" 'succeeded {"answer":"mine"}' \
    "$(as "$alice" GET "/v1/runs/$victim/wait?timeout=20" | jq -c -r '"\(.status) \(.result.reply | tojson)"')"
check_eq "own uids: her stream holds only her own run's events" \
    "run_queued run_started input_required input_received run_finished" \
    "$(as "$alice" GET "/v1/runs/$victim/events" -H 'Accept: application/json' | jq -r '[.data[].event] | join(" ")')"
finish
