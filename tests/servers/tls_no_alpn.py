#!/usr/bin/python3
"""A TLS server that completes handshakes without selecting ALPN h2 (python's ssl), for the gRPC
client's "refuse a server that does not select h2" test. usage: tls_no_alpn.py CERT KEY [PROTO]
With PROTO (e.g. http/1.1) it selects that protocol instead of none. Prints "PORT <n>"; each
connection is held open until the client closes it."""
import socket
import ssl
import sys
import threading

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from grpc_envelope import die_with_parent  # noqa: E402


def serve(conn):
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass
    conn.close()


def main():
    die_with_parent()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    if len(sys.argv) > 3:
        ctx.set_alpn_protocols([sys.argv[3]])
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print("PORT %d" % ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        try:
            t = ctx.wrap_socket(c, server_side=True)
        except (OSError, ssl.SSLError):
            c.close()
            continue
        threading.Thread(target=serve, args=(t,), daemon=True).start()


if __name__ == "__main__":
    main()
