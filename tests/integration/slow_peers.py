#!/usr/bin/env python3
"""Hostile FastCGI peers on one responder address, with health asked
meanwhile by a FastCGI client of its own on the same address.

usage: slow_peers.py ADDRESS TIMEOUT_MS COUNT
ADDRESS is a unix socket path or HOST:PORT. COUNT peers of each kind:
  half     BEGIN_REQUEST and a PARAMS header announcing 100 bytes, 10 sent
  trickle  BEGIN_REQUEST, then a PARAMS record one byte every 300 ms
  body     a whole head of a POST with Content-Length 500, then its STDIN
           10 bytes at once and a byte every 300 ms
and one 'huge' peer: a lone BEGIN_REQUEST, then a PARAMS pair declaring a
64 MiB value, sent for as long as the responder reads it.
Prints one JSON object: for each kind the seconds until each peer was
closed and what it was answered; the slowest health answer; how many
health requests were made and how many failed.
"""
import json
import socket
import struct
import sys
import threading
import time

ADDRESS, TIMEOUT_MS, COUNT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
TIMEOUT = TIMEOUT_MS / 1000
HOLD = TIMEOUT + 3  # peers give up by themselves after this
BEGIN, PARAMS, STDIN, STDOUT, END = 1, 4, 5, 6, 3


def connect():
    if ':' in ADDRESS and not ADDRESS.startswith('/'):
        host, port = ADDRESS.rsplit(':', 1)
        s = socket.create_connection((host, int(port)))
    else:
        s = socket.socket(socket.AF_UNIX)
        s.connect(ADDRESS)
    return s


def record(kind, content, rid=1):
    return struct.pack('>BBHHBB', 1, kind, rid, len(content), 0, 0) + content


def pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack('>I', n | 0x80000000)
    return length(len(name)) + length(len(value)) + name + value


def head(method, uri, extra=()):
    params = b''.join(pair(k.encode(), v.encode()) for k, v in
                      [('REQUEST_METHOD', method), ('REQUEST_URI', uri), ('SCRIPT_NAME', '/api'),
                       ('QUERY_STRING', '')] + list(extra))
    return (record(BEGIN, struct.pack('>HB5x', 1, 0)) + record(PARAMS, params) +
            record(PARAMS, b''))


def stdout_of(data):
    """The STDOUT content of the records in data, and whether END_REQUEST came."""
    out, off, ended = b'', 0, False
    while off + 8 <= len(data):
        _, kind, _, clen, plen, _ = struct.unpack('>BBHHBB', data[off:off + 8])
        if off + 8 + clen + plen > len(data):
            break
        if kind == STDOUT:
            out += data[off + 8:off + 8 + clen]
        if kind == END:
            ended = True
        off += 8 + clen + plen
    return out, ended


def status_of(data):
    out, _ = stdout_of(data)
    for line in out.split(b'\r\n'):
        if line.startswith(b'Status: '):
            return int(line[8:11])
    return 200 if out else None


results = {'half': [], 'trickle': [], 'body': [], 'huge': []}
lock = threading.Lock()
# Health is timed once every hostile peer has connected and sent its first bytes.
ready = threading.Barrier(3 * COUNT + 2)


def hold(kind, first, trickle):
    """Sends first, then a byte of trickle every 300 ms, until the responder
    answers and closes, or closes, or HOLD passes."""
    got, t0 = b'', time.monotonic()
    try:
        try:
            s = connect()
            s.sendall(first)
        finally:
            ready.wait()
        s.settimeout(0.3)
        i = 0
        while time.monotonic() - t0 < HOLD:
            try:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
                continue
            except socket.timeout:
                pass
            if trickle and i < len(trickle):
                s.send(trickle[i:i + 1])
                i += 1
        else:
            raise TimeoutError
        closed = time.monotonic() - t0
    except TimeoutError:
        closed = None
    except OSError:  # reset, or a send after the close
        closed = time.monotonic() - t0
    with lock:
        results[kind].append({'closed_s': closed, 'status': status_of(got)})


def huge():
    """A lone BEGIN_REQUEST, then a pair declaring a 64 MiB value, sent in
    full records for as long as the responder takes them."""
    t0 = time.monotonic()
    sent = 0
    try:
        try:
            s = connect()
            s.sendall(record(BEGIN, struct.pack('>HB5x', 1, 0)))
        finally:
            ready.wait()
        s.settimeout(TIMEOUT + 1)
        body = struct.pack('>B', 1) + struct.pack('>I', (64 << 20) | 0x80000000) + b'X'
        s.sendall(record(PARAMS, body + b'v' * 65000))
        sent = 65000
        while sent < 64 << 20 and time.monotonic() - t0 < HOLD:
            s.sendall(record(PARAMS, b'v' * 65528))
            sent += 65528
        closed = None
    except OSError:
        closed = time.monotonic() - t0
    with lock:
        results['huge'].append({'closed_s': closed, 'sent': sent})


def health():
    """The time health took and its status (None: no answer within 5 s)."""
    t0 = time.monotonic()
    got = b''
    try:
        s = connect()
        s.settimeout(5)
        s.sendall(head('GET', '/api/v1/health') + record(STDIN, b''))
        while not stdout_of(got)[1]:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
    except OSError:
        got = b''
    return time.monotonic() - t0, status_of(got)


threads = []
for _ in range(COUNT):
    threads.append(threading.Thread(target=hold, args=(
        'half', record(BEGIN, struct.pack('>HB5x', 1, 0)) +
        struct.pack('>BBHHBB', 1, PARAMS, 1, 100, 0, 0) + b'x' * 10, b'')))
    threads.append(threading.Thread(target=hold, args=(
        'trickle', record(BEGIN, struct.pack('>HB5x', 1, 0)) +
        struct.pack('>BBHHBB', 1, PARAMS, 1, 200, 0, 0), b'y' * 200)))
    threads.append(threading.Thread(target=hold, args=(
        'body', head('POST', '/api/v1/runs', [('CONTENT_LENGTH', '500'),
                                              ('CONTENT_TYPE', 'application/json')]) +
        struct.pack('>BBHHBB', 1, STDIN, 1, 500, 0, 0) + b'{"type": "x', b' ' * 490)))
threads.append(threading.Thread(target=huge))
for t in threads:
    t.start()
# Health is asked every 50 ms for as long as the peers are held.
ready.wait()
slowest, asked, failed = 0.0, 0, 0
t0 = time.monotonic()
while time.monotonic() - t0 < TIMEOUT + 1:
    took, st = health()
    asked += 1
    failed += st != 200
    slowest = max(slowest, took)
    time.sleep(0.05)
for t in threads:
    t.join()
print(json.dumps({'results': results, 'health_slowest_ms': round(slowest * 1000, 1),
                  'health_asked': asked, 'health_failed': failed}))
