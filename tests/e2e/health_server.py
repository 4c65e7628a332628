#!/usr/bin/env python3
"""A machine health endpoint for the health-http tests:

  health_server.py PORT [--ok N]

Answers GET /health/<machine> with 200 to the first N requests (every
request when --ok is not given), then 503: a health endpoint that goes
down in the middle of a rollout. Each request is logged on stdout as
"STATUS PATH". Binds 127.0.0.1 only; prints "listening PORT" when ready."""
import http.server
import signal
import sys
import threading

PORT = int(sys.argv[1])
OK = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--ok" else None
LOCK = threading.Lock()
SEEN = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with LOCK:
            SEEN[0] += 1
            status = 200 if OK is None or SEEN[0] <= OK else 503
            print(f"{status} {self.path}", flush=True)
        if not self.path.startswith("/health/"):
            status = 404
        body = b"ok\n" if status == 200 else b"down\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"listening {PORT}", flush=True)
server.serve_forever()
