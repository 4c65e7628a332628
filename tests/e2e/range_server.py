#!/usr/bin/env python3
"""A static HTTP server for the mirror tests: GET and HEAD of files under
ROOT with single Range requests (206, 416), like a Juju mirror behind a
plain web server, and two faults a real network has:

  range_server.py ROOT PORT [--cut PATH:BYTES] [--stall PATH]

--cut: the first GET of PATH sends BYTES bytes of its body, then closes
the connection (a download cut short); later GETs are served whole.
--stall: every GET of PATH sends its headers and then nothing, ever.
Each request is logged on stdout as "STATUS RANGE PATH" (RANGE "-" when
none), so a test can see the Range a client resumed with. Binds 127.0.0.1
only."""
import http.server
import os
import re
import signal
import sys
import threading
import time

ROOT, PORT = sys.argv[1], int(sys.argv[2])
CUT = {}
STALL = set()
args = sys.argv[3:]
while args:
    flag, value = args[0], args[1]
    args = args[2:]
    if flag == "--cut":
        path, n = value.rsplit(":", 1)
        CUT[path] = int(n)
    elif flag == "--stall":
        STALL.add(value)
LOCK = threading.Lock()


def log(status, rng, path):
    with LOCK:
        print(f"{status} {rng or '-'} {path}", flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def serve(self, body):
        path = self.path.split("?", 1)[0]
        full = os.path.realpath(os.path.join(ROOT, path.lstrip("/")))
        if not full.startswith(os.path.realpath(ROOT) + "/") or not os.path.isfile(full):
            log(404, None, path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(full)
        rng = self.headers.get("Range")
        start, end, status = 0, size - 1, 200
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            if not m or int(m.group(1)) >= size:
                log(416, rng, path)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(m.group(1))
            end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            status = 206
        log(status, rng, path)
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return
        if path in STALL:
            time.sleep(3600)
            return
        with open(full, "rb") as f:
            f.seek(start)
            left = end - start + 1
            cut = None
            with LOCK:
                if path in CUT:
                    cut = CUT.pop(path)
            while left > 0:
                n = min(left, 65536)
                if cut is not None and n > cut:
                    n = cut
                data = f.read(n)
                self.wfile.write(data)
                left -= len(data)
                if cut is not None:
                    cut -= len(data)
                    if cut <= 0:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return

    def do_GET(self):
        self.serve(True)

    def do_HEAD(self):
        self.serve(False)


# SIGTERM is how tests stop it: exit 0.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print(f"listening {PORT}", flush=True)
server.serve_forever()
