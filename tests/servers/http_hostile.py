#!/usr/bin/python3
"""An HTTP/1.1 server whose replies carry bytes meant to damage a terminal or a JSON reader, for
the tests of what Maestro writes (issue #17, defect 7). Binds 127.0.0.1 port 0 and prints
"PORT <n>" first. Routes (any method):

  /error    400, text/plain body: CR LF, a forged log line, ESC [2J (clear screen), 0xFF
  /badjson  200, application/json whose string holds an invalid UTF-8 byte (0xFF) and a cut
            sequence (E2 82)
Weak decoding and misreports (defects 10, 12):
  /notjson  200, Content-Type: application/json, body not JSON ({"ok": tru)
  /gzip     200, application/json, Content-Encoding: gzip whatever the request's Accept-Encoding
  /bomb     200, application/json, gzip of 8 MiB of spaces inside a string (inflates far past
            a small max_response)
  /nul      200, application/json, {"s":"ab\u0000cd"}
  /cut      200, Content-Length 1000, 100 bytes, then a clean close (a truncated body)
  /close    200, {"ok":true} with Connection: close (no connection is kept)
  /http09   no status line at all: "hello" and close (an HTTP/0.9 reply)
  /later    503, Retry-After: 999999999
"""
import gzip
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
        extra = {}
        if self.path.startswith("/http09"):
            self.wfile.write(b"hello\n")
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/cut"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"a":"' + b"x" * 94)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/badjson"):
            code, ctype, body = 200, "application/json", BADJSON
        elif self.path.startswith("/notjson"):
            code, ctype, body = 200, "application/json; charset=utf-8", b'{"ok": tru'
        elif self.path.startswith("/gzip"):
            code, ctype, body = 200, "application/json", gzip.compress(b'{"zipped":true}')
            extra["Content-Encoding"] = "gzip"
        elif self.path.startswith("/bomb"):
            code, ctype = 200, "application/json"
            body = gzip.compress(b'{"s":"' + b" " * (8 << 20) + b'"}')
            extra["Content-Encoding"] = "gzip"
        elif self.path.startswith("/nul"):
            code, ctype, body = 200, "application/json", b'{"s":"ab\\u0000cd"}'
        elif self.path.startswith("/close"):
            code, ctype, body = 200, "application/json", b'{"ok":true}'
            extra["Connection"] = "close"
            self.close_connection = True
        elif self.path.startswith("/later"):
            code, ctype, body = 503, "text/plain", b"later"
            extra["Retry-After"] = "999999999"
        else:
            code, ctype, body = 400, "text/plain", ERROR
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            self.send_header(k, v)
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
