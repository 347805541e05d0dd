#!/usr/bin/python3
"""A real grpcio client of gRPC server reflection, for the typed stub's tests. It holds one
ServerReflectionInfo stream open and converses: each request is sent only once the answer to
the previous one came (so the server must answer message by message, not at the end). Messages
from Maestro's own copy of the reflection protocol (proto/maestro/internal/reflection.proto,
wire-identical), generated at start-up with grpc_tools.protoc; files decoded with
google.protobuf.descriptor_pb2.

Usage: grpc_reflect_client.py PORT v1|v1alpha
Prints one line per answer: "services A B ...", "files NAME NAME ...", "error CODE MESSAGE"."""
import os
import queue
import subprocess
import sys
import tempfile

import grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    port, version = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp(prefix="maestro-reflc-")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.join(ROOT, "proto"),
                           "--python_out=" + out, "maestro/internal/reflection.proto"])
    sys.path.insert(0, out)
    from google.protobuf import descriptor_pb2
    from maestro.internal import reflection_pb2 as pb

    channel = grpc.insecure_channel("127.0.0.1:" + port)
    info = channel.stream_stream(
        "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version,
        request_serializer=pb.ReflectionRequest.SerializeToString,
        response_deserializer=pb.ReflectionResponse.FromString)
    requests = queue.Queue()

    def gen():
        while True:
            r = requests.get()
            if r is None:
                return
            yield r

    answers = info(gen(), timeout=20)

    def ask(**kw):
        requests.put(pb.ReflectionRequest(**kw))
        return next(answers)

    def show(a):
        kind = a.WhichOneof("message_response")
        if kind == "list_services_response":
            print("services " + " ".join(s.name for s in a.list_services_response.service))
        elif kind == "file_descriptor_response":
            names = [descriptor_pb2.FileDescriptorProto.FromString(b).name
                     for b in a.file_descriptor_response.file_descriptor_proto]
            print("files " + " ".join(names))
        else:
            print("error %d %s" % (a.error_response.error_code, a.error_response.error_message))

    a = ask(list_services="*")
    show(a)
    for s in a.list_services_response.service:
        show(ask(file_containing_symbol=s.name))
    show(ask(file_containing_symbol="acme.deploy.v1.Provisioner.CreateInstance"))
    show(ask(file_by_filename="acme/common/v1/types.proto"))
    show(ask(file_by_filename="nope.proto"))
    requests.put(None)
    for _ in answers:  # the stream ends with OK after the half-close
        pass
    print("end OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
