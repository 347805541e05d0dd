#!/usr/bin/python3
"""A raw HTTP/2 (h2c) gRPC peer on python3-h2 for the compression and keepalive tests: what
grpcio will not send. The reply is chosen per request by the `x-reply` header:

  gzip       the envelope reply {"a": 1}, gzip-compressed (grpc-encoding: gzip)
  deflate    the same, zlib format (grpc-encoding: deflate)
  bomb       a gzip message that inflates to 256 MiB of zeros (about 260 KB on the wire)
  corrupt    grpc-encoding gzip, compressed flag, bytes that are not gzip
  snappy     grpc-encoding snappy, compressed flag
  ok         the reply uncompressed (default)
Options: --mute-after N: after N replies the connection goes silent (reads but never writes
again: no PING ACK, no replies); a line "MUTE" is printed when that happens.
--calm: after each reply, GOAWAY(ENHANCE_YOUR_CALM); a line "CONN" is printed per connection.
Per request, two lines: "ACCEPT <grpc-accept-encoding>" and "REQ <grpc-encoding> <flag byte>
<message length after decompression>".
Prints "PORT <n>" once listening on 127.0.0.1."""
import socket
import socketserver
import struct
import sys
import threading
import zlib

import h2.config
import h2.connection
import h2.events
import h2.exceptions

LOCK = threading.Lock()
OPTS = {"mute_after": 0, "calm": False}


def say(line):
    with LOCK:
        print(line, flush=True)


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
    value = b"\x11" + struct.pack("<d", 1.0)
    st = ld(1, ld(1, b"a") + ld(2, value))
    anyb = ld(1, b"type.googleapis.com/google.protobuf.Struct") + ld(2, st)
    return b"\x08\x01" + ld(2, anyb)


def framed(msg, flag=0):
    return bytes([flag]) + struct.pack(">I", len(msg)) + msg


def gz(data, wbits=31):
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return z.compress(data) + z.flush()


def bomb():
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    out = [z.compress(zeros) for _ in range(256)]
    return b"".join(out) + z.flush()


BOMB = None


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.headers = {}
        self.bodies = {}
        self.replies = 0
        self.muted = False

    def flush(self):
        data = self.conn.data_to_send()
        if data and not self.muted:
            self.request.sendall(data)

    def respond(self, sid):
        h = self.headers.get(sid, {})
        say("ACCEPT %s" % h.get("grpc-accept-encoding", "-"))
        req = bytes(self.bodies.pop(sid, b""))
        plain = req[5:]
        if req[:1] == b"\x01":
            plain = zlib.decompress(req[5:], 31 if h.get("grpc-encoding") == "gzip" else 15)
        say("REQ %s %d %d" % (h.get("grpc-encoding", "-"), req[0] if req else -1, len(plain)))
        kind = h.get("x-reply", "ok")
        c = self.conn
        hdrs = [(":status", "200"), ("content-type", "application/grpc")]
        msg = envelope_reply()
        if kind == "gzip":
            hdrs.append(("grpc-encoding", "gzip"))
            body = framed(gz(msg), 1)
        elif kind == "deflate":
            hdrs.append(("grpc-encoding", "deflate"))
            body = framed(gz(msg, 15), 1)
        elif kind == "bomb":
            hdrs.append(("grpc-encoding", "gzip"))
            body = framed(BOMB, 1)
        elif kind == "corrupt":
            hdrs.append(("grpc-encoding", "gzip"))
            body = framed(b"\x1f\x8b not gzip at all", 1)
        elif kind == "snappy":
            hdrs.append(("grpc-encoding", "snappy"))
            body = framed(b"whatever", 1)
        else:
            body = framed(msg)
        c.send_headers(sid, hdrs)
        # In frames of the peer's maximum size, within the window it grants (8 MiB per stream).
        step = c.max_outbound_frame_size
        for i in range(0, len(body), step):
            c.send_data(sid, body[i:i + step])
        c.send_headers(sid, [("grpc-status", "0")], end_stream=True)
        self.replies += 1
        if OPTS["calm"]:
            c.close_connection(error_code=11, last_stream_id=sid)
        self.flush()
        if OPTS["mute_after"] and self.replies >= OPTS["mute_after"]:
            self.muted = True
            say("MUTE")

    def handle(self):
        if OPTS["calm"]:
            say("CONN")
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
                        self.bodies.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                        self.conn.acknowledge_received_data(ev.flow_controlled_length,
                                                            ev.stream_id)
                    elif isinstance(ev, h2.events.PingReceived):
                        say("PING")
                    elif isinstance(ev, h2.events.StreamEnded) and not self.muted:
                        self.respond(ev.stream_id)
                self.flush()
        except (ConnectionError, OSError, h2.exceptions.StreamClosedError):
            return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global BOMB
    import ctypes
    import signal
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: go with the test
    args = sys.argv[1:]
    if "--mute-after" in args:
        OPTS["mute_after"] = int(args[args.index("--mute-after") + 1])
    OPTS["calm"] = "--calm" in args
    BOMB = bomb()
    srv = Server(("127.0.0.1", 0), Handler)
    say("PORT %d" % srv.server_address[1])
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
