#!/usr/bin/python3
"""An HTTP/1.1 server whose replies carry bytes meant to damage a terminal or a JSON reader, for
the tests of what Maestro writes (issue #17, defect 7). Binds 127.0.0.1 port 0 and prints
"PORT <n>" first. Routes (any method):

  /error    400, text/plain body: CR LF, a forged log line, ESC [2J (clear screen), 0xFF
  /badjson  200, application/json whose string holds an invalid UTF-8 byte (0xFF) and a cut
            sequence (E2 82)
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR = b"denied\r\n2026-01-01T00:00:00Z error forged\x1b[2J\xff tail"
BADJSON = b'{"name":"a\xffb\xe2\x82","ok":true}'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.path.startswith("/badjson"):
            code, ctype, body = 200, "application/json", BADJSON
        else:
            code, ctype, body = 400, "text/plain", ERROR
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = reply


class Server(ThreadingHTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
print("PORT %d" % srv.server_address[1], flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
