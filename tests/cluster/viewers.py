#!/usr/bin/python3
"""Viewers of one run's event stream, each following EventSource's rules:
Last-Event-ID on every reconnection, the server's retry: delay after a
stream ends or breaks, stop at 204, and any other status but 200 is the
end for good (a browser's EventSource treats a 5xx so).

    viewers.py COUNT URL SECONDS OUT

Writes OUT (JSON): per viewer, the events it saw as [id, event] pairs, its
connections, and why it stopped early, if it did. Bounded: every viewer
gives up at SECONDS.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

COUNT, URL, SECONDS, OUT = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
U = urllib.parse.urlsplit(URL)
DEADLINE = time.monotonic() + SECONDS


def follow(me):
    seen, last, retry_ms, conns = [], None, 3000, 0
    while time.monotonic() < DEADLINE:
        conns += 1
        headers = {"Accept": "text/event-stream"}
        if last is not None:
            headers["Last-Event-ID"] = last
        c = http.client.HTTPConnection(U.hostname, U.port, timeout=30)
        try:
            c.request("GET", U.path + ("?" + U.query if U.query else ""), headers=headers)
            r = c.getresponse()
            if r.status == 204:
                return {"events": seen, "connections": conns, "stopped": None}
            if r.status != 200:
                return {"events": seen, "connections": conns, "stopped": f"HTTP {r.status}"}
            ev = {}
            for raw in r:
                if time.monotonic() >= DEADLINE:  # (a stream of keepalives alone is bounded too)
                    return {"events": seen, "connections": conns, "stopped": "deadline"}
                line = raw.decode().rstrip("\n").rstrip("\r")
                if line == "":
                    if "data" in ev:
                        if "id" in ev:
                            last = ev["id"]
                        seen.append([ev.get("id"), ev.get("event", "message")])
                    ev = {}
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "retry" and value.isdigit():
                    retry_ms = int(value)
                elif field in ("id", "event", "data"):
                    ev[field] = value
        except (OSError, http.client.HTTPException):
            pass  # a broken stream: EventSource reconnects
        finally:
            c.close()
        time.sleep(retry_ms / 1000)
    return {"events": seen, "connections": conns, "stopped": "deadline"}


results = [None] * COUNT


def run(i):
    results[i] = follow(i)


threads = [threading.Thread(target=run, args=(i,)) for i in range(COUNT)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(OUT, "w") as f:
    json.dump(results, f)
