#!/usr/bin/python3
"""A real HTTP/1.1 server for the HTTP transport's tests (keep-alive, one thread per
connection). Binds 127.0.0.1 port 0 and prints "PORT <n>" first. Routes:

  /echo...           200 JSON {method, target, headers (lower-case names), names (every header
                     name in order, lower case, repeats kept), body}
  /flaky/...         first request per path: 503 + Retry-After: 1; then 200 JSON {attempt,
                     target, idempotency_key, body}
  /status/<code>     that status; ?ra=<Retry-After value>&body=<text> (default a JSON error)
  /text              200 text/plain "hello, world"
  /close             200 JSON, then closes the connection (Connection: close)
  /json-ws           200 a JSON object with trailing whitespace
  /empty             200 with an empty body
  /nocontent         204
  /hang              reads the request and never answers
  /reset             declares 100000 bytes, sends 1000, then resets the connection (RST)
  /slow              declares 100000 bytes, sends 1000, then waits 30 s
  /endless           a chunked body that never ends
  /bigcl             declares a 1 GB Content-Length and streams it
  /work              200 JSON after 20 ms; the client port is recorded
  /stats             200 JSON {work_conns: distinct client ports seen on /work,
                     accepted: connections accepted, work_requests}
  /numbers           200 a fixed JSON text of numbers a double holds exactly (NUMBERS below)
  /keep/<name>       stores the request body verbatim under name; 200 {"kept": name}
  /kept/<name>       200 the body stored under name, verbatim (404 when none)
"""
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
flaky_seen = {}
work_ports = set()
counts = {"accepted": 0, "work_requests": 0}
kept = {}
# Written here, not by Maestro: 2^53-1, -(2^53-1), 16 digits, 12 digits, 0.1, 1e300.
NUMBERS = (b'{"a":9007199254740991,"b":-9007199254740991,"c":8999999999999999,'
           b'"d":123456789012,"e":0.1,"f":1e300}')


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that cancel or time out close their connection mid-answer: expected here.
        pass

    def process_request(self, request, client_address):
        with lock:
            counts["accepted"] += 1
        super().process_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def reply(self, code, data, ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def route(self):
        raw = self.body()
        target = self.path
        path, _, query = target.partition("?")
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        if path.startswith("/flaky/"):
            # The first request for each path gets 503 with Retry-After: 1, later ones the echo.
            with lock:
                n = flaky_seen.get(path, 0) + 1
                flaky_seen[path] = n
            if n == 1:
                return self.reply(503, b'{"error": "warming up"}', extra={"Retry-After": "1"})
            doc = {"attempt": n, "target": target,
                   "idempotency_key": self.headers.get("Idempotency-Key"),
                   "body": raw.decode("utf-8", "replace")}
            return self.reply(200, json.dumps(doc).encode())
        if path.startswith("/echo"):
            doc = {
                "method": self.command,
                "target": target,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "names": [k.lower() for k in self.headers.keys()],
                "body": raw.decode("utf-8", "replace"),
            }
            return self.reply(200, json.dumps(doc).encode())
        if path.startswith("/status/"):
            code = int(path[len("/status/"):])
            extra = {"Retry-After": q["ra"][0]} if "ra" in q else {}
            body = q["body"][0].encode() if "body" in q else \
                json.dumps({"error": "status %d" % code}).encode()
            return self.reply(code, body, "text/plain", extra)
        if path == "/close":
            self.close_connection = True
            return self.reply(200, b'{"closed": true}', extra={"Connection": "close"})
        if path == "/text":
            return self.reply(200, b"hello, world", "text/plain")
        if path == "/json-ws":
            return self.reply(200, b'{"a": [1, 2]}  \r\n')
        if path == "/empty":
            return self.reply(200, b"")
        if path == "/nocontent":
            self.send_response(204)
            self.end_headers()
            return
        if path == "/hang":
            time.sleep(60)
            return
        if path in ("/reset", "/slow"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"[" + b"1," * 500)
            self.wfile.flush()
            if path == "/slow":
                time.sleep(30)
                return
            time.sleep(0.05)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
            try:
                while True:
                    self.wfile.write(chunk)
            except OSError:
                self.close_connection = True
            return
        if path == "/bigcl":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"y" * 65536)
            except OSError:
                self.close_connection = True
            return
        if path == "/work":
            time.sleep(0.02)
            with lock:
                work_ports.add(self.client_address[1])
                counts["work_requests"] += 1
            return self.reply(200, b'{"ok": true}')
        if path == "/numbers":
            return self.reply(200, NUMBERS)
        if path.startswith("/keep/"):
            with lock:
                kept[path[len("/keep/"):]] = raw
            return self.reply(200, json.dumps({"kept": path[len("/keep/"):]}).encode())
        if path.startswith("/kept/"):
            with lock:
                body = kept.get(path[len("/kept/"):])
            if body is None:
                return self.reply(404, b'{"error": "nothing kept"}')
            return self.reply(200, body)
        if path == "/stats":
            with lock:
                doc = dict(counts, work_conns=len(work_ports))
            return self.reply(200, json.dumps(doc).encode())
        return self.reply(404, b'{"error": "no route"}')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = route


def exit_with_parent(on_exit=None):
    """A failed test exits without stopping its server: follow the test process out."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        if on_exit:
            on_exit()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    exit_with_parent()
    srv = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
