#!/usr/bin/python3
"""A real grpcio client for testing Maestro's gRPC server side: calls the envelope on
127.0.0.1:<port> and prints one JSON line per case (echo, fail, unknown path, deadline), then
exits 0. Usage: grpc_client_check.py PORT"""
import json
import os
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grpc_envelope import die_with_parent, load_envelope  # noqa: E402


def main():
    die_with_parent()
    port = int(sys.argv[1])
    from google.protobuf import json_format, struct_pb2
    pb = load_envelope()
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    execute = ch.unary_unary("/maestro.v1.MaestroService/Execute",
                             request_serializer=pb.ServiceRequest.SerializeToString,
                             response_deserializer=pb.ServiceResponse.FromString)

    def req(method, payload):
        r = pb.ServiceRequest(method=method, workflow_id="w1", step_id="s1",
                              correlation_id="w1:s1")
        r.headers["k"] = "v"
        s = struct_pb2.Struct()
        s.update(payload)
        r.payload.Pack(s)
        return r

    def out(d):
        print(json.dumps(d, sort_keys=True), flush=True)

    r = execute(req("Echo", {"a": [1, {"b": None}], "s": "x"}), timeout=10)
    data = struct_pb2.Struct()
    r.data.Unpack(data)
    out({"case": "echo", "success": r.success, "data": json_format.MessageToDict(data)})
    for case, call in (("fail", lambda: execute(req("Fail", {}), timeout=10)),
                       ("unknown", lambda: ch.unary_unary("/nope.Svc/M")(b"", timeout=10)),
                       ("deadline", lambda: execute(req("Never", {}), timeout=0.3))):
        try:
            call()
            out({"case": case, "code": "OK"})
        except grpc.RpcError as e:
            md = dict(e.trailing_metadata() or ())
            out({"case": case, "code": e.code().name, "details": e.details(),
                 "pushback": md.get("grpc-retry-pushback-ms")})
    r = execute(req("App", {}), timeout=10)
    out({"case": "app", "success": r.success, "error": r.error})


if __name__ == "__main__":
    main()
