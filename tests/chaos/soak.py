#!/usr/bin/python3
"""The chaos soak: runs of every shipped type, followed by EventSource-rule
readers, while every kind of opstream process is SIGKILLed at random and
Redis restarts; then the promises are checked. Started by soak.sh, which
starts the stack; one summary line at the end; exit 1 on any violation.

    soak.py BASE_URL STATE_DIR SECONDS

STATE_DIR holds the stack's files: opstream.db, redis.sock, and
restart-redis (a script soak.sh wrote). With SOAK_PG_HOST set, the ledger
is the PostgreSQL database opstream on the server whose socket directory
(or address) that is. With SOAK_CHAOS set (more than one host), Redis is
not restarted from here: every CHAOS_EVERY_S that program is run with the
next of its actions (SOAK_CHAOS_ACTIONS, e.g. "host redis postgres"),
and `SOAK_CHAOS redis-cli ARGS` asks the current Redis master. Everything
is bounded: creates stop at SECONDS, the drain after that is bounded,
every HTTP call has a timeout.
"""
import collections
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

BASE, STATE, SECONDS = sys.argv[1], sys.argv[2], float(sys.argv[3])
URL = urllib.parse.urlsplit(BASE)
DEADLINE = time.monotonic() + SECONDS
DRAIN_S = 90
MAX_READERS = 48
KILL_EVERY_S = 0.35        # a kill this often, on average
REDIS_EVERY_S = 20         # and a Redis restart this often
CHAOS = os.environ.get("SOAK_CHAOS")
CHAOS_ACTIONS = os.environ.get("SOAK_CHAOS_ACTIONS", "").split()
CHAOS_EVERY_S = 15         # with more than one host: a host, Redis or PostgreSQL kill this often

lock = threading.Lock()
stats = collections.Counter()       # what happened, for the summary line
violations = []                     # what broke a promise
runs = {}                           # run id -> {"type", "expect"}
reads = collections.defaultdict(list)   # run id -> [ids seen by each reader]
reader_slots = threading.BoundedSemaphore(MAX_READERS)
stop_killing = threading.Event()
effects = []                        # seconds from a resume's or cancel's 202 to its effect
EFFECT_S = 15  # a 202's effect, through Redis restarts and kills of the run's processes

def violation(text):
    with lock:
        violations.append(text)
    print("violation:", text, file=sys.stderr, flush=True)


def count(key, n=1):
    with lock:
        stats[key] += n


def request(method, path, body=None, headers=None, timeout=30):
    """(status, headers, body) or (None, None, error) when the connection
    failed; statuses are counted for the summary."""
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=timeout)
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    try:
        conn.request(method, URL.path + path, body=data, headers=h)
        r = conn.getresponse()
        out = r.read()
        count(f"answer {r.status}")
        problem_500(method, path, r, out)
        return r.status, r, out
    except (OSError, http.client.HTTPException) as e:
        count("answer none (connection cut)")
        return None, None, str(e)
    finally:
        conn.close()


def problem_500(method, path, r, body):
    """opstream's own 500 is a bug; its 503s name what is away (Redis while
    it restarts) and are retryable, as is the web server's own 5xx."""
    if r.status == 500 and "problem+json" in (r.getheader("Content-Type") or ""):
        violation(f"{method} {path}: 500 from opstream: {body[:200]!r}")
    if (r.status == 503 and "problem+json" in (r.getheader("Content-Type") or "")
            and not r.getheader("Retry-After")):
        violation(f"{method} {path}: 503 from opstream without Retry-After: {body[:200]!r}")


# A 5xx with the body of the web server, not opstream's problem+json, is
# the documented pre-header window of a killed process (README): retried.
RETRYABLE = {None, 500, 502, 503, 504}


def call(method, path, body=None, headers=None, ok=(200, 201, 202), tries=60):
    """A short request retried as a client should (same Idempotency-Key)."""
    for _ in range(tries):
        status, _, out = request(method, path, body, headers)
        if status in ok:
            return status, json.loads(out) if out else None
        if status not in RETRYABLE:
            return status, out
        time.sleep(0.1)
    return None, None


def follow(run_id):
    """An EventSource: reconnects after retry: with Last-Event-ID until 204;
    a 5xx is retried too (opstream.js does, EventSource would stop)."""
    seen, last, retry_ms = [], None, 2000
    give_up = time.monotonic() + SECONDS + DRAIN_S
    try:
        while time.monotonic() < give_up:
            conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
            h = {"Accept": "text/event-stream"}
            if last:
                h["Last-Event-ID"] = last
            try:
                conn.request("GET", f"{URL.path}/v1/runs/{run_id}/events", headers=h)
                r = conn.getresponse()
                count(f"stream answer {r.status}")
                if r.status >= 500:
                    problem_500("GET", f"/v1/runs/{run_id}/events", r, r.read())
                if r.status == 204:
                    break
                if r.status != 200:
                    count("stream 5xx retried" if r.status in RETRYABLE else "stream fatal")
                    if r.status not in RETRYABLE:
                        violation(f"{run_id}: events answered {r.status}")
                        break
                    time.sleep(0.2)
                    continue
                frame = {}
                for raw in r:
                    line = raw.decode().rstrip("\n")
                    if line == "":
                        if "id" in frame and "event" in frame:
                            seen.append((frame["id"], frame["event"]))
                            last = frame["id"]
                        frame = {}
                    elif line.startswith("retry: "):
                        retry_ms = int(line[7:])
                    elif not line.startswith(":") and ": " in line:
                        k, v = line.split(": ", 1)
                        frame[k] = v
            except (OSError, http.client.HTTPException, ValueError):
                count("stream cut")
            finally:
                conn.close()
            count("stream reconnects")
            time.sleep(retry_ms / 1000)
        else:
            violation(f"{run_id}: a reader never got its 204")
    finally:
        with lock:
            reads[run_id].append(seen)
        reader_slots.release()


def start_reader(run_id):
    if reader_slots.acquire(timeout=5):
        threading.Thread(target=follow, args=(run_id,), daemon=True).start()


def create(body, thread=None, strategy=None):
    key = uuid.uuid4().hex
    if thread:
        body = dict(body, thread_id=thread, multitask_strategy=strategy)
    status, run = call("POST", "/v1/runs", body, {"Idempotency-Key": key})
    if status not in (201, 202):
        if time.monotonic() < DEADLINE:
            violation(f"create {body['type']} answered {status}: {run}")
        return None
    # The same key again (a client retrying after a lost answer): the same run.
    status2, again = call("POST", "/v1/runs", body, {"Idempotency-Key": key})
    if status2 in (200, 201, 202) and again["id"] != run["id"]:
        violation(f"idempotent retry made a second run {again['id']} for {run['id']}")
    count(f"runs {body['type']}")
    with lock:
        runs[run["id"]] = {"type": body["type"]}
    for _ in range(random.choice((1, 1, 2))):
        start_reader(run["id"])
    return run["id"]


def wait_status(run_id, statuses, seconds=30):
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        status, run = call("GET", f"/v1/runs/{run_id}")
        if status == 200 and run["status"] in statuses:
            return run
        time.sleep(0.1)
    return None


def scenario():
    kind = random.choice(("countdown", "countdown", "steps", "ask", "fail", "cancel", "thread"))
    if kind == "countdown":
        create({"type": "countdown", "input": {"n": random.randint(5, 80),
                                              "interval_ms": random.randint(2, 30)}})
    elif kind == "steps":
        create({"type": "steps", "input": {"steps": ["fetch", "build", "test", "ship"],
                                          "delay_ms": random.randint(10, 200)}})
    elif kind == "fail":
        create({"type": "fail", "input": {"exit_status": 3, "message": "on purpose"}})
    elif kind == "ask":
        run_id = create({"type": "ask", "input": {"prompt": "go on?"}})
        if run_id and wait_status(run_id, ("input_required",) + ENDED):
            status, _ = call("POST", f"/v1/runs/{run_id}/resume", {"input": {"answer": "yes"}},
                             ok=(200, 202, 409))
            count(f"resume {status}")
            if status == 202:
                took_effect(run_id, "resume", lambda: has_event(run_id, "input_received"))
    elif kind == "cancel":
        run_id = create({"type": "sleep", "input": {"seconds": 30}})
        if run_id:
            time.sleep(random.uniform(0, 1.5))
            status, _ = call("POST", f"/v1/runs/{run_id}/cancel", {}, ok=(200, 202, 409))
            count(f"cancel {status}")
            if status == 202:
                took_effect(run_id, "cancel", lambda: ended(run_id))
    else:
        thread = "t-" + uuid.uuid4().hex[:8]
        for strategy in ("enqueue", "interrupt", "enqueue"):
            create({"type": "countdown", "input": {"n": random.randint(3, 20), "interval_ms": 20}},
                   thread, strategy)


ENDED = ("succeeded", "failed", "cancelled", "timed_out")


def has_event(run_id, name):
    events = event_page(run_id)
    return events is not None and any(e == name or e == "run_finished" for _, e in events)


def ended(run_id):
    status, run = call("GET", f"/v1/runs/{run_id}")
    return status == 200 and run["status"] in ENDED


def took_effect(run_id, what, effect):
    """A 202's promise: its message reaches the job (a resume's input is
    read, a cancel ends the run) within EFFECT_S, Redis restarts and kills
    included; the time is recorded for the summary."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < EFFECT_S:
        if effect():
            with lock:
                effects.append(time.monotonic() - t0)
            return
        time.sleep(0.1)
    violation(f"{run_id}: a {what} answered 202 had no effect within {EFFECT_S} s")


def creator():
    while time.monotonic() < DEADLINE:
        try:
            scenario()
        except Exception as e:  # a broken promise shows as a violation, never a hang
            violation(f"scenario raised {e!r}")


def processes():
    """(pid, comm, ppid) of every process of this stack (its config path is
    on their command line) and of every process whose parent is one."""
    procs = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{p}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        procs.append((int(p), head.split("(", 1)[1], int(tail.split()[1]), STATE in cmd))
    return procs


def kinds():
    procs = processes()
    ours = [(pid, comm, ppid) for pid, comm, ppid, mine in procs if mine]
    workers = {pid for pid, comm, _ in ours if comm == "opstream-worker"}
    # (A worker's webhook deliverers are workers forked from it.)
    deliverers = {pid for pid, comm, ppid in ours if pid in workers and ppid in workers}
    by = lambda name: [pid for pid, comm, _ in ours if comm == name]
    return {"master": by("fcgi-master"), "responder": by("fcgi-responder"),
            "worker": sorted(workers - deliverers),
            "job": [pid for pid, comm, ppid, _ in procs if ppid in workers and comm != "opstream-worker"]}


def chaos(action):
    """One of the hosts' faults, done by SOAK_CHAOS, which returns once
    the thing is back (the soak's load goes on meanwhile)."""
    r = subprocess.run([CHAOS, action], capture_output=True, text=True, timeout=120)
    count(f"killed {action}" if r.returncode == 0 else f"chaos {action} failed")
    if r.returncode != 0:
        violation(f"chaos {action} failed: {r.stderr.strip()[-300:]}")


def killer():
    weights = {"master": 2, "responder": 4, "worker": 4, "job": 2}
    next_redis = time.monotonic() + REDIS_EVERY_S
    next_chaos, actions = time.monotonic() + CHAOS_EVERY_S / 2, list(CHAOS_ACTIONS)
    while not stop_killing.is_set() and time.monotonic() < DEADLINE:
        time.sleep(random.expovariate(1 / KILL_EVERY_S))
        if CHAOS and actions and time.monotonic() >= next_chaos:
            action = actions.pop(0)
            actions.append(action)
            chaos(action)
            next_chaos = time.monotonic() + CHAOS_EVERY_S
            continue
        if not CHAOS and time.monotonic() >= next_redis:
            subprocess.run([os.path.join(STATE, "restart-redis")], check=False)
            count("killed redis (restarted)")
            next_redis = time.monotonic() + REDIS_EVERY_S
            continue
        kind = random.choices(list(weights), weights=list(weights.values()))[0]
        now = kinds()
        victims = now[kind]
        if victims:
            try:
                os.kill(random.choice(victims), signal.SIGKILL)
                count(f"killed {kind}")
            except ProcessLookupError:
                pass


def event_page(run_id):
    """All the run's events through the JSON form (Redis, else the archive)."""
    events, after = [], "0-0"
    while True:
        status, page = call("GET", f"/v1/runs/{run_id}/events?after={after}&limit=1000",
                            headers={"Accept": "application/json"})
        if status != 200:
            return None
        events += [(e["id"], e["event"]) for e in page["data"]]
        if not page["data"] or page["next_cursor"] is None or events[-1][1] == "run_finished":
            return events
        after = page["next_cursor"]


class Ledger:
    """The stack's ledger, read-only: its SQLite file, or PostgreSQL through psql."""

    def __init__(self):
        self.pg = os.environ.get("SOAK_PG_HOST")
        self.db = None if self.pg else sqlite3.connect(os.path.join(STATE, "opstream.db"), timeout=30)

    def rows(self, sql, *args):
        if self.db is not None:
            return self.db.execute(sql, args).fetchall()
        for a in args:  # run ids: letters, digits, - and _ only
            sql = sql.replace("?", "'" + str(a).replace("'", "''") + "'", 1)
        for _ in range(60):  # (PostgreSQL may be restarting: SOAK_CHAOS postgres)
            r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-h", self.pg, "-U", "opstream",
                                "-d", "opstream", "-c", sql], capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.5)
        r.check_returncode()
        out = r.stdout
        return [tuple(int(v) if v.lstrip("-").isdigit() else (None if v == "" else v)
                      for v in line.split("|")) for line in out.splitlines()]

    def row(self, sql, *args):
        rows = self.rows(sql, *args)
        return rows[0] if rows else None

    def close(self):
        if self.db is not None:
            self.db.close()


def check_all():
    db = Ledger()
    until = time.monotonic() + DRAIN_S
    pending = set(runs)
    while pending and time.monotonic() < until:
        # One query for all (a psql per run would take minutes on PostgreSQL).
        settled = {r[0] for r in db.rows("SELECT id FROM runs WHERE lease_until IS NULL AND status IN "
                                         "('succeeded', 'failed', 'cancelled', 'timed_out')")}
        pending -= settled
        if pending:
            time.sleep(0.5)
    state = {r[0]: r[1:] for r in db.rows("SELECT id, status, lease_until, last_event_id FROM runs")}
    archives = collections.defaultdict(list)
    for run_id, ms, seq, t in db.rows("SELECT run_id, ms, seq, type FROM events ORDER BY run_id, ms, seq"):
        archives[run_id].append((f"{ms}-{seq}", t))
    for run_id in pending:
        violation(f"{run_id}: not ended and settled after the drain: {state.get(run_id, [None])[:2]}")
    for run_id in runs:
        if run_id in pending:
            continue
        stream = event_page(run_id)
        archive = archives.get(run_id, [])
        ledger = state[run_id][2]
        count("events in the archive", len(archive))
        names = [e for _, e in archive]
        if names.count("run_finished") != 1 or names[-1] != "run_finished":
            violation(f"{run_id}: {names.count('run_finished')} run_finished, last {names[-1:]}")
        if stream != archive:
            violation(f"{run_id}: stream and archive differ ({len(stream or [])} / {len(archive)})")
        if archive and ledger != archive[-1][0]:
            violation(f"{run_id}: ledger's last event {ledger}, archive's {archive[-1][0]}")
        # What each reader saw against what the stream holds.
        held = stream if stream is not None else archive
        for seen in reads.get(run_id, []):
            count("events read", len(seen))
            if seen != held:
                ids = [i for i, _ in seen]
                what = "a duplicate" if len(set(ids)) != len(ids) else (
                    "out of order" if ids != sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
                    else f"{len(set(held) - set(seen))} missing, {len(set(seen) - set(held))} extra")
                violation(f"{run_id}: a reader saw {len(seen)} of {len(held)} events: {what}")
    left = sum(1 for st in state.values() if st[1] is not None)
    if left:
        violation(f"{left} runs still hold a lease")
        count("leaks")
    db.close()


def leaks():
    for _ in range(100):
        if not kinds()["job"]:
            break
        time.sleep(0.1)
    else:
        violation(f"job processes left: {kinds()['job']}")
        count("leaks")
    cli = [CHAOS, "redis-cli"] if CHAOS else ["redis-cli", "-s", os.path.join(STATE, "redis.sock")]
    pend = subprocess.run(cli + ["XPENDING", "opstream:queue", "workers"],
                          capture_output=True, text=True).stdout.split("\n")[0]
    if pend.strip() != "0":
        violation(f"queue entries still pending: {pend}")
        count("leaks")


def main():
    creators = [threading.Thread(target=creator, daemon=True) for _ in range(3)]
    kill = threading.Thread(target=killer, daemon=True)
    for t in creators + [kill]:
        t.start()
    for t in creators:
        t.join()
    stop_killing.set()
    kill.join()
    # Every reader ends with its run (204), bounded by follow() itself.
    for _ in range(MAX_READERS):
        reader_slots.acquire(timeout=DRAIN_S)
    check_all()
    leaks()
    kills = ", ".join(f"{k[7:]} {v}" for k, v in sorted(stats.items()) if k.startswith("killed "))
    answers = ", ".join(f"{k[7:]}: {v}" for k, v in sorted(stats.items()) if k.startswith("answer "))
    streams = ", ".join(f"{k[14:]}: {v}" for k, v in sorted(stats.items())
                        if k.startswith("stream answer "))
    slowest = f"{max(effects):.1f} s" if effects else "none"
    types = ", ".join(f"{k[5:]} {v}" for k, v in sorted(stats.items()) if k.startswith("runs "))
    print(f"soak: {SECONDS:.0f} s, {len(runs)} runs ({types}); {stats['events read']} events read by "
          f"{sum(len(v) for v in reads.values())} readers ({stats['stream reconnects']} reconnects; "
          f"streams {streams}); requests {answers}; SIGKILLed {kills}; "
          f"{len(effects)} resumes and cancels took effect (slowest {slowest} from its 202); "
          f"{'no' if not stats['leaks'] else stats['leaks']} leaks (jobs, leases, pending queue "
          f"entries); {len(violations)} violations", flush=True)
    return 1 if violations else 0


sys.exit(main())
