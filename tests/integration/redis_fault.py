#!/usr/bin/python3
"""A Redis proxy that makes one fault happen at one exact point.

    redis_fault.py LISTEN_SOCKET REDIS_SOCKET RULE_FILE FIRED_FILE

Every opstream process of a test talks to Redis through this proxy (a unix
socket). It forwards bytes both ways untouched until a command matches the
rule in RULE_FILE (JSON, read again whenever it changes):

    {"command": "EVAL", "args": ["progress"], "nonempty": false, "before": false,
     "do": "drop" | "kill" | "kill_parent" | "hold", "release": PATH, "times": 1}

A command matches when its name is `command` and each string of `args` is
part of one of its arguments (opstream appends events with an EVAL whose
arguments hold the event's name and data). With `before`, the fault comes
before Redis sees the command, which then never reaches it. Otherwise it
comes once Redis has answered (with a non-nil answer when `nonempty` is
set), and before the answer goes on:

    drop         the client's connection is closed: the command took effect,
                 the client never hears so;
    kill         the client process is SIGKILLed (its pid from SO_PEERCRED);
    kill_parent  the client and its parent process are SIGKILLed;
    hold         the answer waits until the file `release` exists.

The rule fires `times` times (once by default); FIRED_FILE then holds
{"pid", "ppid", "command"} of the last time, and "pids", every victim in
turn, as JSON.
Commands are parsed with hiredis' own reader (python3-hiredis).
"""
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

import hiredis

LISTEN, REDIS, RULE_FILE, FIRED_FILE = sys.argv[1:5]

lock = threading.Lock()
state = {"rule": None, "mtime": None, "fired": 0, "pids": []}


def current_rule():
    """The armed rule, or None; re-read when the file changes."""
    try:
        st = os.stat(RULE_FILE)
        mtime = (st.st_ino, st.st_mtime_ns)
    except FileNotFoundError:
        return None
    with lock:
        if mtime != state["mtime"]:
            with open(RULE_FILE) as f:
                text = f.read()
            state["rule"] = json.loads(text) if text.strip() else None
            state["mtime"] = mtime
            state["fired"] = 0
            state["pids"] = []
        rule = state["rule"]
        return None if rule is None or state["fired"] >= rule.get("times", 1) else rule


def matches(rule, cmd):
    if not isinstance(cmd, list) or not cmd or rule is None:
        return False
    name = cmd[0].decode("latin-1").upper()
    if name != rule["command"].upper():
        return False
    args = [a.decode("latin-1") for a in cmd[1:] if isinstance(a, bytes)]
    return all(any(want in a for a in args) for want in rule.get("args", []))


def peer_pid(conn):
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[0]


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def fire(rule, conn, cmd):
    """Takes the rule's action; True when the connection is to be closed."""
    pid = peer_pid(conn)
    with lock:
        state["fired"] += 1
        state["pids"].append(pid)
        pids = list(state["pids"])
    with open(FIRED_FILE + ".tmp", "w") as f:
        json.dump({"pid": pid, "ppid": parent_of(pid), "pids": pids,
                   "command": [c.decode("latin-1") for c in cmd]}, f)
    action = rule["do"]
    if action in ("kill", "kill_parent"):
        victims = [pid] + ([parent_of(pid)] if action == "kill_parent" else [])
        for v in victims:
            os.kill(v, signal.SIGKILL)
    os.rename(FIRED_FILE + ".tmp", FIRED_FILE)  # after a kill, before a hold
    if action == "hold":
        while not os.path.exists(rule["release"]):
            time.sleep(0.01)
    return action != "hold"


def serve(conn):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    up.connect(REDIS)
    pending = []            # per command sent, the rule it matched or None
    cond = threading.Condition()

    def close_both():
        for s in (conn, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def client_to_redis():
        reader = hiredis.Reader()
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                reader.feed(data)
                while (cmd := reader.gets()) is not False:
                    rule = current_rule()
                    if matches(rule, cmd) and rule.get("before"):
                        fire(rule, conn, cmd)
                        close_both()
                        return
                    with cond:
                        pending.append((rule, cmd) if matches(rule, cmd) else (None, cmd))
                up.sendall(data)
        except OSError:
            pass
        close_both()

    def redis_to_client():
        reader = hiredis.Reader()
        held = b""
        try:
            while True:
                data = up.recv(65536)
                if not data:
                    break
                reader.feed(data)
                held += data
                while (reply := reader.gets()) is not False:
                    with cond:
                        rule, cmd = pending.pop(0) if pending else (None, None)
                    if rule is not None and not (rule.get("nonempty") and reply is None):
                        if fire(rule, conn, cmd):
                            close_both()
                            return
                # Unanswered commands of ours are answered in order: what is
                # held goes on once every matched answer in it was seen.
                conn.sendall(held)
                held = b""
        except OSError:
            pass
        close_both()

    threads = [threading.Thread(target=f, daemon=True) for f in (client_to_redis, redis_to_client)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn.close()
    up.close()


def main():
    if os.path.exists(LISTEN):
        os.unlink(LISTEN)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(LISTEN)
    os.chmod(LISTEN, 0o700)
    srv.listen(512)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
