#!/usr/bin/python3
"""A real grpcio server speaking Maestro's envelope (maestro.v1.MaestroService/Execute) for the
gRPC transport's integration tests. The envelope classes are generated at start-up from
proto/maestro/v1/maestro.proto with grpc_tools.protoc into a temporary directory.

Envelope methods (ServiceRequest.method):
  Echo     success, data = {input, method, workflow_id, step_id, correlation_id, headers, peer,
           metadata (the call's gRPC metadata)}
  Fail     success=false, error="quota exceeded"
  Flaky    UNAVAILABLE for the first 2 calls of a correlation_id, then success {attempts: n}
  Invalid  INVALID_ARGUMENT "bad input"
  Status   aborts with input.code (name) and input.message
  Sleep    sleeps input.seconds watching context.is_active(); records cancellations
  Big      success with data {blob: "x" * input.size}
  Stats    {cancelled, deadline_seen, calls, sleeping}; input.wait_cancelled / wait_sleeping:
           block (up to 10 s) until that many handlers were cancelled / started sleeping
  Inspect  success, data = {has_payload (HasField), type_url, n_fields (of the Struct),
           numbers: {field: repr() of each number_value, read by protobuf, not by Maestro},
           input}
  other    UNIMPLEMENTED
Options: --port N (0 = pick), --max-streams N, --bare (no service registered at all).
Prints "PORT <n>" once listening."""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load_envelope():
    out = tempfile.mkdtemp(prefix="maestro-pb-")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc",
                           "-I" + os.path.join(ROOT, "proto"), "--python_out=" + out,
                           "maestro/v1/maestro.proto"])
    sys.path.insert(0, out)
    from maestro.v1 import maestro_pb2  # noqa: E402
    return maestro_pb2


def die_with_parent():
    # A test that fails exits without stopping us: go with it.
    import ctypes
    import signal
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main():
    die_with_parent()
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-streams", type=int, default=0)
    ap.add_argument("--bare", action="store_true")
    args = ap.parse_args()

    from google.protobuf import json_format, struct_pb2
    pb = load_envelope()
    lock = threading.Condition()
    state = {"cancelled": 0, "deadline_seen": 0, "calls": 0, "sleeping": 0, "flaky": {}}

    def reply(data):
        r = pb.ServiceResponse(success=True)
        if data is not None:
            s = struct_pb2.Struct()
            s.update(data)
            r.data.Pack(s)
        return r

    def execute(req, ctx):
        with lock:
            state["calls"] += 1
        inp = {}
        if req.payload.type_url.endswith("google.protobuf.Struct"):
            s = struct_pb2.Struct()
            req.payload.Unpack(s)
            inp = json_format.MessageToDict(s)
        m = req.method
        if m == "Echo":
            return reply({"input": inp, "method": m, "workflow_id": req.workflow_id,
                          "step_id": req.step_id, "correlation_id": req.correlation_id,
                          "headers": dict(req.headers), "peer": ctx.peer(),
                          "metadata": {k: v for k, v in ctx.invocation_metadata()
                                       if isinstance(v, str)}})
        if m == "Fail":
            return pb.ServiceResponse(success=False, error="quota exceeded")
        if m == "Flaky":
            with lock:
                n = state["flaky"].get(req.correlation_id, 0) + 1
                state["flaky"][req.correlation_id] = n
            if n <= 2:
                ctx.abort(grpc.StatusCode.UNAVAILABLE, "try again (%d)" % n)
            return reply({"attempts": n})
        if m == "Invalid":
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad input")
        if m == "Status":
            ctx.abort(getattr(grpc.StatusCode, inp.get("code", "UNKNOWN")), inp.get("message", ""))
        if m == "Sleep":
            if ctx.time_remaining() is not None:
                with lock:
                    state["deadline_seen"] += 1
            end = time.monotonic() + float(inp.get("seconds", 1))
            with lock:
                state["sleeping"] += 1
                lock.notify_all()
            while time.monotonic() < end:
                if not ctx.is_active():
                    with lock:
                        state["cancelled"] += 1
                        lock.notify_all()
                    return pb.ServiceResponse(success=False, error="cancelled")
                time.sleep(0.01)
            return reply({"slept": True})
        if m == "Big":
            return reply({"blob": "x" * int(inp.get("size", 0))})
        if m == "Inspect":
            nums, n_fields = {}, 0
            if req.payload.type_url.endswith("google.protobuf.Struct"):
                s = struct_pb2.Struct()
                req.payload.Unpack(s)
                n_fields = len(s.fields)
                nums = {k: repr(v.number_value) for k, v in s.fields.items()
                        if v.WhichOneof("kind") == "number_value"}
            return reply({"has_payload": req.HasField("payload"),
                          "type_url": req.payload.type_url, "n_fields": n_fields,
                          "numbers": nums, "input": inp})
        if m == "Stats":
            want = int(inp.get("wait_cancelled", 0))
            sleeping = int(inp.get("wait_sleeping", 0))
            with lock:
                lock.wait_for(lambda: state["cancelled"] >= want and state["sleeping"] >= sleeping,
                              timeout=10)
                return reply({k: state[k]
                              for k in ("cancelled", "deadline_seen", "calls", "sleeping")})
        ctx.abort(grpc.StatusCode.UNIMPLEMENTED, "unknown method " + m)

    opts = [("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.so_reuseport", 1)]
    if args.max_streams:
        opts.append(("grpc.max_concurrent_streams", args.max_streams))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), options=opts)
    if not args.bare:
        handler = grpc.unary_unary_rpc_method_handler(
            execute, request_deserializer=pb.ServiceRequest.FromString,
            response_serializer=pb.ServiceResponse.SerializeToString)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("maestro.v1.MaestroService",
                                                  {"Execute": handler}),))
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    print("PORT %d" % port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
