#!/usr/bin/python3
"""A real grpcio server with streaming methods of raw bytes (no protobuf: grpcio's generic
handlers with no serializers pass message bytes through), for the gRPC client's streaming tests.

  /test.Stream/Count   server-streaming: the request is "N" or "N:SIZE"; replies N messages,
                       "msg-0", "msg-1", ... (or SIZE bytes of "x" each)
  /test.Stream/FailAt  server-streaming: the request is "N"; replies N messages then aborts with
                       NOT_FOUND "gone after N"
  /test.Stream/Echo    bidirectional: answers each message with "echo:" + message, ends with OK
                       when the client half-closes
Options: --port N (0 = pick). Prints "PORT <n>" once listening."""
import argparse
import ctypes
import signal
import sys
from concurrent import futures

import grpc


def count(req, ctx):
    text = req.decode()
    n, _, size = text.partition(":")
    for i in range(int(n)):
        yield b"x" * int(size) if size else ("msg-%d" % i).encode()


def fail_at(req, ctx):
    n = int(req.decode())
    for i in range(n):
        yield ("msg-%d" % i).encode()
    ctx.abort(grpc.StatusCode.NOT_FOUND, "gone after %d" % n)


def echo(it, ctx):
    for m in it:
        yield b"echo:" + m


def main():
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: go with the test
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Stream", {
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "FailAt": grpc.unary_stream_rpc_method_handler(fail_at),
        "Echo": grpc.stream_stream_rpc_method_handler(echo),
    }),))
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    print("PORT %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
