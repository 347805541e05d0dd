#!/usr/bin/python3
"""A raw HTTP/2 (h2c) server built on python3-h2 that misbehaves on purpose, for what grpcio
never sends. The behaviour is chosen per request by the `x-fault` request header:

  ok             a valid envelope reply {"a": 1}
  one_byte       the same reply, one byte per DATA frame
  refused        RST_STREAM(REFUSED_STREAM)
  calm           RST_STREAM(ENHANCE_YOUR_CALM)
  goaway         GOAWAY with last-stream-id below this stream
  no_status      headers, message, trailers without grpc-status
  no_trailers    headers, message, END_STREAM on the DATA frame
  http_503       :status 503 with a text body
  http_404       :status 404
  html           :status 200 with content-type text/html
  garbage_status trailers with grpc-status "OK"
  huge_prefix    a message prefix announcing 0xFFFFFFFF bytes (and a little data)
  two_messages   two messages then grpc-status 0
  no_message     grpc-status 0 without any message
  compressed     compressed flag set without grpc-encoding
  pushback       Trailers-Only UNAVAILABLE with grpc-retry-pushback-ms: 1500
  pushback_stop  Trailers-Only UNAVAILABLE with grpc-retry-pushback-ms: -1 (gRPC's "do not retry")
  hostile_message  Trailers-Only FAILED_PRECONDITION whose grpc-message decodes to CR LF, a
                 forged log line, ESC [2J (clear screen), a 0xFF byte and a cut UTF-8 sequence
  silent         never answers
  close          closes the TCP connection
Options: --max-streams N advertises SETTINGS_MAX_CONCURRENT_STREAMS = N.
--close-after-preface: every connection is accepted, its 24-byte client preface read, and closed
before any SETTINGS is sent; a line "CONN" is printed for each (a test counts reconnects).
Prints "PORT <n>" once listening on 127.0.0.1."""
import socket
import socketserver
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

MAX_STREAMS = 0
CLOSE_AFTER_PREFACE = False
PRINT_LOCK = threading.Lock()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ld(field, b):
    return bytes([field << 3 | 2]) + varint(len(b)) + b


def envelope_reply():
    value = b"\x11" + struct.pack("<d", 1.0)           # Value.number_value = 1
    st = ld(1, ld(1, b"a") + ld(2, value))              # Struct{fields{"a": value}}
    anyb = ld(1, b"type.googleapis.com/google.protobuf.Struct") + ld(2, st)
    return b"\x08\x01" + ld(2, anyb)                    # ServiceResponse{success, data}


def framed(msg, flag=0):
    return bytes([flag]) + struct.pack(">I", len(msg)) + msg


GRPC_HDRS = [(":status", "200"), ("content-type", "application/grpc")]


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.headers = {}

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.request.sendall(data)

    def respond(self, sid):
        fault = self.headers.get(sid, {}).get("x-fault", "ok")
        c = self.conn
        body = framed(envelope_reply())
        if fault == "ok":
            c.send_headers(sid, GRPC_HDRS)
            c.send_data(sid, body)
            c.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        elif fault == "one_byte":
            c.send_headers(sid, GRPC_HDRS)
            for i in range(len(body)):
                c.send_data(sid, body[i:i + 1])
                self.flush()
            c.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        elif fault == "refused":
            c.reset_stream(sid, error_code=7)
        elif fault == "calm":
            c.reset_stream(sid, error_code=11)
        elif fault == "goaway":
            c.close_connection(error_code=0, last_stream_id=max(0, sid - 2))
        elif fault == "no_status":
            c.send_headers(sid, GRPC_HDRS)
            c.send_data(sid, body)
            c.send_headers(sid, [("grpc-message", "nothing")], end_stream=True)
        elif fault == "no_trailers":
            c.send_headers(sid, GRPC_HDRS)
            c.send_data(sid, body, end_stream=True)
        elif fault in ("http_503", "http_404"):
            c.send_headers(sid, [(":status", fault[5:]), ("content-type", "text/plain")])
            c.send_data(sid, b"upstream says no", end_stream=True)
        elif fault == "html":
            c.send_headers(sid, [(":status", "200"), ("content-type", "text/html")])
            c.send_data(sid, b"<html></html>", end_stream=True)
        elif fault == "garbage_status":
            c.send_headers(sid, GRPC_HDRS)
            c.send_data(sid, body)
            c.send_headers(sid, [("grpc-status", "OK")], end_stream=True)
        elif fault == "huge_prefix":
            c.send_headers(sid, GRPC_HDRS)
            c.send_data(sid, b"\x00\xff\xff\xff\xff" + b"z" * 1000)
            c.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        elif fault == "two_messages":
            c.send_headers(sid, GRPC_HDRS)
            c.send_data(sid, body + body)
            c.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        elif fault == "no_message":
            c.send_headers(sid, GRPC_HDRS + [("grpc-status", "0")], end_stream=True)
        elif fault == "compressed":
            c.send_headers(sid, GRPC_HDRS)
            c.send_data(sid, framed(envelope_reply(), flag=1))
            c.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        elif fault == "pushback":
            c.send_headers(sid, GRPC_HDRS + [("grpc-status", "14"), ("grpc-message", "busy"),
                                             ("grpc-retry-pushback-ms", "1500")],
                           end_stream=True)
        elif fault == "pushback_stop":
            c.send_headers(sid, GRPC_HDRS + [("grpc-status", "14"), ("grpc-message", "go away"),
                                             ("grpc-retry-pushback-ms", "-1")],
                           end_stream=True)
        elif fault == "hostile_message":
            c.send_headers(sid, GRPC_HDRS + [("grpc-status", "9"),
                                             ("grpc-message", "denied%0D%0A2026-01-01T00:00:00Z error forged%1B[2J%FF tail%E2%82")],
                           end_stream=True)
        elif fault == "silent":
            return
        elif fault == "close":
            self.request.shutdown(socket.SHUT_RDWR)
            raise ConnectionError
        self.flush()

    def handle(self):
        if CLOSE_AFTER_PREFACE:
            with PRINT_LOCK:
                print("CONN", flush=True)
            got = b""
            try:
                while len(got) < 24:
                    data = self.request.recv(24 - len(got))
                    if not data:
                        break
                    got += data
            except OSError:
                pass
            return
        if MAX_STREAMS:
            # In the very first SETTINGS frame, so the client knows it before any request.
            self.conn.local_settings = h2.settings.Settings(
                client=False,
                initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS})
        self.conn.initiate_connection()
        self.flush()
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    return
                try:
                    events = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self.flush()
                    return
                for ev in events:
                    if isinstance(ev, h2.events.RequestReceived):
                        self.headers[ev.stream_id] = dict(ev.headers)
                    elif isinstance(ev, h2.events.DataReceived):
                        self.conn.acknowledge_received_data(ev.flow_controlled_length,
                                                            ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        self.respond(ev.stream_id)
                self.flush()
        except (ConnectionError, OSError, h2.exceptions.StreamClosedError):
            return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def die_with_parent():
    # A test that fails exits without stopping us: go with it.
    import ctypes
    import signal
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main():
    global MAX_STREAMS, CLOSE_AFTER_PREFACE
    die_with_parent()
    if len(sys.argv) > 2 and sys.argv[1] == "--max-streams":
        MAX_STREAMS = int(sys.argv[2])
    if len(sys.argv) > 1 and sys.argv[1] == "--close-after-preface":
        CLOSE_AFTER_PREFACE = True
    srv = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
