#!/usr/bin/python3
"""A grpcio server answering gRPC server reflection (v1) badly on purpose, for the reflection
client's hostile-peer tests. The messages are generated at start-up from Maestro's own copy of
the reflection protocol (proto/maestro/internal/reflection.proto, wire-identical to
grpc.reflection.v1) with grpc_tools.protoc; descriptors are built with descriptor_pb2.

--mode:
  garbage         answers the first request with bytes that are no protobuf message
  missing-dep     lists acme.Svc, whose file imports acme/gone.proto, which it then refuses
  flood           answers list_services twice
  bad-descriptor  answers the file request with bytes that are no FileDescriptorProto
  many-services   lists 2000 services
  silent          reads requests, never answers
  end-early       answers list_services, then ends the stream with OK
  double          a complete answer (a file without imports), then the same answer again
Options: --port N (0 = pick). Prints "PORT <n>" once listening."""
import argparse
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent import futures

import grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load():
    out = tempfile.mkdtemp(prefix="maestro-refl-")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc",
                           "-I" + os.path.join(ROOT, "proto"), "--python_out=" + out,
                           "maestro/internal/reflection.proto"])
    sys.path.insert(0, out)
    from maestro.internal import reflection_pb2  # noqa: E402
    return reflection_pb2


def svc_file(dep=True):
    from google.protobuf import descriptor_pb2
    f = descriptor_pb2.FileDescriptorProto(name="acme/svc.proto", package="acme", syntax="proto3")
    if dep:
        f.dependency.append("acme/gone.proto")
    m = f.message_type.add(name="Req")
    s = f.service.add(name="Svc")
    s.method.add(name="Do", input_type=".acme.Req", output_type=".acme.Req")
    return f.SerializeToString()


def main():
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: go with the test
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", required=True)
    args = ap.parse_args()
    pb = load()
    mode = args.mode

    def listing(names):
        r = pb.ReflectionResponse()
        for n in names:
            r.list_services_response.service.add(name=n)
        return r

    def info(it, ctx):
        for req in it:
            kind = req.WhichOneof("message_request")
            if mode == "garbage":
                yield b"\xff\xff\xff\xff"
            elif mode == "silent":
                done = threading.Event()
                ctx.add_callback(done.set)
                done.wait(30)
                return
            elif kind == "list_services":
                if mode == "many-services":
                    yield listing(["acme.S%d" % i for i in range(2000)])
                else:
                    yield listing(["acme.Svc", "grpc.reflection.v1.ServerReflection"])
                    if mode == "flood":
                        yield listing(["acme.Svc"])
                    if mode == "end-early":
                        return
            elif kind == "file_containing_symbol":
                r = pb.ReflectionResponse()
                if mode == "bad-descriptor":
                    r.file_descriptor_response.file_descriptor_proto.append(b"\xff\xff\xff")
                else:
                    r.file_descriptor_response.file_descriptor_proto.append(
                        svc_file(dep=mode != "double"))
                yield r
                if mode == "double":
                    yield r
            else:
                r = pb.ReflectionResponse()
                r.error_response.error_code = 5
                r.error_response.error_message = "File not found: " + req.file_by_filename
                yield r

    def ser(m):
        return m if isinstance(m, bytes) else m.SerializeToString()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "grpc.reflection.v1.ServerReflection", {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                info, request_deserializer=pb.ReflectionRequest.FromString,
                response_serializer=ser)}),))
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    print("PORT %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
