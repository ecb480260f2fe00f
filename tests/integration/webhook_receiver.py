#!/usr/bin/python3
"""A webhook receiver for the tests, on a loopback port of its own.

POST /fail/N answers 500 to the first N requests on that path, then 200.
Every request is appended to LOG as one JSON line: path, headers, body,
the status answered and when. The port goes to PORTFILE once listening.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log_path, port_path = sys.argv[1], sys.argv[2]
seen = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        parts = self.path.strip("/").split("/")
        fail = int(parts[1]) if len(parts) == 2 and parts[0] == "fail" else 0
        with lock:
            n = seen.get(self.path, 0) + 1
            seen[self.path] = n
            status = 500 if n <= fail else 200
            with open(log_path, "a") as f:
                f.write(json.dumps({"path": self.path, "n": n, "status": status,
                                    "at_ms": int(time.time() * 1000),
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": body}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_path + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_path + ".tmp", port_path)
server.serve_forever()
