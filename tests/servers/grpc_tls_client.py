#!/usr/bin/python3
"""A grpcio client over TLS for `maestro stub`'s gRPC-over-TLS test: one envelope call to
127.0.0.1:PORT with grpc.ssl_channel_credentials(CA), checking the name NAME, and prints the
reply as one JSON line {"success", "data"} (or {"error": code name}). Exits 0 either way.
usage: grpc_tls_client.py PORT CA NAME METHOD"""
import json
import os
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grpc_envelope import die_with_parent, load_envelope  # noqa: E402


def main():
    die_with_parent()
    port, ca, name, method = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    from google.protobuf import json_format, struct_pb2
    pb = load_envelope()
    creds = grpc.ssl_channel_credentials(root_certificates=open(ca, "rb").read())
    ch = grpc.secure_channel("127.0.0.1:%d" % port, creds,
                             options=[("grpc.ssl_target_name_override", name)])
    execute = ch.unary_unary("/maestro.v1.MaestroService/Execute",
                             request_serializer=pb.ServiceRequest.SerializeToString,
                             response_deserializer=pb.ServiceResponse.FromString)
    r = pb.ServiceRequest(method=method, workflow_id="w1", step_id="s1", correlation_id="w1:s1")
    s = struct_pb2.Struct()
    s.update({"who": "grpcio"})
    r.payload.Pack(s)
    try:
        resp = execute(r, timeout=10)
    except grpc.RpcError as e:
        print(json.dumps({"error": e.code().name}), flush=True)
        return 0
    data = struct_pb2.Struct()
    resp.data.Unpack(data)
    print(json.dumps({"success": resp.success, "data": json_format.MessageToDict(data)}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
