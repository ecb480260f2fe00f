#!/usr/bin/env python3
"""Clients for the server tests, on loopback, bounded in count and time.

  load.py hold_and_burst HOST PORT PATH_PREFIX STREAM_PATH RUN N_STREAMS N_REQUESTS TYPE_JSON
      opens N_STREAMS event streams at STREAM_PATH (RUN's), waits until every one has its
      200 headers, then makes N_REQUESTS creates and N_REQUESTS status
      requests (8 at a time) while they stay open; prints one JSON line
      with the slowest of each and any failure.
  load.py first_events HOST PORT PATH
      reads the stream at PATH until run_finished; for each "stamp" event
      written after the client was connected, how long after the job wrote
      it ({"t": ms since the epoch}) it arrived; prints a JSON line.
  load.py vanish HOST PORT PATH N
      opens N streams, waits for their headers, and drops them unread.
"""
import concurrent.futures
import http.client
import json
import os
import selectors
import socket
import sys
import threading
import time

DEADLINE_S = 60


def stream_socket(host, port, path, last_id=None):
    s = socket.create_connection((host, port), timeout=DEADLINE_S)
    extra = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
               f"{extra}Connection: close\r\n\r\n").encode())
    return s


def open_streams(host, port, path, n):
    """n streams, returned once each has sent its status line and headers."""
    socks, heads = [], {}
    sel = selectors.DefaultSelector()
    for _ in range(n):
        s = stream_socket(host, port, path)
        s.setblocking(False)
        socks.append(s)
        heads[s] = b""
        sel.register(s, selectors.EVENT_READ)
    pending = set(socks)
    until = time.monotonic() + DEADLINE_S
    while pending and time.monotonic() < until:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                raise SystemExit(f"a stream closed before its headers: {heads[s][:200]!r}")
            if s in pending:
                heads[s] += data
                if b"\r\n\r\n" in heads[s]:
                    status = heads[s].split(b"\r\n", 1)[0]
                    if b" 200" not in status:
                        raise SystemExit(f"a stream answered {status!r}")
                    pending.discard(s)
    if pending:
        raise SystemExit(f"{len(pending)} of {n} streams got no headers within {DEADLINE_S}s")
    return socks, sel


def timed(host, port, method, path, body=None):
    start = time.monotonic()
    c = http.client.HTTPConnection(host, port, timeout=DEADLINE_S)
    headers = {"Content-Type": "application/json"} if body else {}
    if os.environ.get("TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["TOKEN"]
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, (time.monotonic() - start) * 1000


def hold_and_burst(host, port, prefix, stream_path, run, n_streams, n_req, type_json):
    socks, sel = open_streams(host, port, stream_path, n_streams)
    draining = True

    def drain():
        while draining:
            for key, _ in sel.select(timeout=0.2):
                try:
                    key.fileobj.recv(65536)
                except (BlockingIOError, ConnectionError):
                    pass
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=9)
    drainer = pool.submit(drain)
    # WARM=N: N requests at once first, so that a server that starts one
    # process per request (mod_fcgid) has idle ones, as it has in service.
    warm = int(os.environ.get("WARM", "0"))
    if warm:
        with concurrent.futures.ThreadPoolExecutor(max_workers=warm) as warmers:
            list(warmers.map(lambda _: timed(host, port, "GET", f"{prefix}/v1/health"), range(warm)))
    jobs = [("POST", f"{prefix}/v1/runs", type_json)] * n_req + [("GET", f"{prefix}/v1/runs/{run}", None)] * n_req
    futures = [pool.submit(timed, host, port, m, p, b) for m, p, b in jobs]
    results = [f.result() for f in futures]
    draining = False
    drainer.result()
    pool.shutdown()
    creates, statuses = results[:n_req], results[n_req:]
    out = {
        "streams": n_streams,
        "create_max_ms": round(max(ms for _, ms in creates)),
        "status_max_ms": round(max(ms for _, ms in statuses)),
        "create_bad": [st for st, _ in creates if st != 202],
        "status_bad": [st for st, _ in statuses if st != 200],
    }
    for s in socks:
        s.close()
    print(json.dumps(out))


def first_events(host, port, path):
    s = stream_socket(host, port, path)
    f = s.makefile("rb")
    status = f.readline()
    while f.readline() not in (b"\r\n", b""):
        pass
    connected = time.time() * 1000
    delays, event, data = [], None, None
    for raw in f:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "":
            arrived = time.time() * 1000
            if event == "stamp":
                t = json.loads(data)["t"]
                if t >= connected:
                    delays.append(round(arrived - t, 1))
            if event == "run_finished":
                break
            event = data = None
    print(json.dumps({"status": status.decode().strip(), "delays_ms": delays}))


def vanish(host, port, path, n):
    socks, _ = open_streams(host, port, path, n)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    print(json.dumps({"dropped": n}))


def slow_bodies(host, port, prefix, n, hold_s):
    """n clients POST a body of 500 declared bytes: 10 at once, then one
    every 300 ms, half to an unknown route and half to create; health is
    asked every 50 ms meanwhile. Each client's answer status and the
    seconds until it came (None: no answer before the client gave up at
    hold_s, or the connection closed unanswered)."""
    ready = threading.Barrier(n + 1)
    results = []
    lock = threading.Lock()

    def client(i):
        path = f"{prefix}/v1/nope" if i % 2 else f"{prefix}/v1/runs"
        start = time.monotonic()
        got, status, took = b"", None, None
        try:
            try:
                s = socket.create_connection((host, port))
                auth = f"Authorization: Bearer {os.environ['TOKEN']}\r\n" if os.environ.get("TOKEN") else ""
                s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}"
                          "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
                          '{"type": "x'.encode())
            finally:
                ready.wait()
            s.settimeout(0.3)
            while time.monotonic() - start < hold_s and b"\r\n" not in got:
                try:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                except socket.timeout:
                    s.send(b" ")
            if b"\r\n" in got:
                status, took = int(got.split(b" ", 2)[1]), time.monotonic() - start
            s.close()
        except OSError:
            pass
        with lock:
            results.append({"status": status, "s": took})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    ready.wait()
    slowest, asked, failed = 0.0, 0, 0
    start = time.monotonic()
    while time.monotonic() - start < hold_s:
        st, ms = timed(host, port, "GET", f"{prefix}/v1/health")
        asked += 1
        failed += st != 200
        slowest = max(slowest, ms)
        time.sleep(0.05)  # paces the health requests
    for t in threads:
        t.join()
    print(json.dumps({"clients": results, "health_slowest_ms": round(slowest, 1),
                      "health_asked": asked, "health_failed": failed}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "hold_and_burst":
        hold_and_burst(args[0], int(args[1]), args[2], args[3], args[4], int(args[5]), int(args[6]), args[7])
    elif cmd == "first_events":
        first_events(args[0], int(args[1]), args[2])
    elif cmd == "slow_bodies":
        slow_bodies(args[0], int(args[1]), args[2], int(args[3]), float(args[4]))
    elif cmd == "vanish":
        vanish(args[0], int(args[1]), args[2], int(args[3]))
    else:
        raise SystemExit(__doc__)
