#!/usr/bin/python3
"""A real typed gRPC client for the typed stub's tests: code generated at start-up with
grpc_tools.protoc from tests/js/protos/acme/deploy/v1/deploy.proto (the Provisioner service),
one call, the reply (a list for the server-streaming ListInstances) printed as JSON by
protobuf's own json_format (every field, original proto field names), or
"ERROR <CODE> <details>".

Usage: grpc_typed_call.py PORT METHOD REQUEST_JSON"""
import json
import os
import subprocess
import sys
import tempfile

import grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    port, method, request = sys.argv[1], sys.argv[2], sys.argv[3]
    out = tempfile.mkdtemp(prefix="maestro-typed-")
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc",
                           "-I" + os.path.join(ROOT, "tests", "js", "protos"),
                           "--python_out=" + out, "--grpc_python_out=" + out,
                           "acme/common/v1/types.proto", "acme/deploy/v1/deploy.proto"])
    sys.path.insert(0, out)
    from google.protobuf import json_format
    from acme.deploy.v1 import deploy_pb2, deploy_pb2_grpc
    stub = deploy_pb2_grpc.ProvisionerStub(grpc.insecure_channel("127.0.0.1:" + port))
    rpc = getattr(stub, method)
    req_type = {"CreateInstance": deploy_pb2.CreateInstanceRequest,
                "DestroyInstance": deploy_pb2.DestroyInstanceRequest,
                "ListInstances": deploy_pb2.ListInstancesRequest}[method]
    req = json_format.Parse(request, req_type())

    def as_dict(m):
        kw = {"preserving_proto_field_name": True}
        try:
            return json_format.MessageToDict(m, including_default_value_fields=True, **kw)
        except TypeError:  # protobuf >= 5.26 renamed the option
            return json_format.MessageToDict(m, always_print_fields_with_no_presence=True, **kw)

    try:
        if method == "ListInstances":  # server-streaming: the list of messages
            out = [as_dict(m) for m in rpc(req, timeout=10)]
        else:
            out = as_dict(rpc(req, timeout=10))
    except grpc.RpcError as e:
        print("ERROR %s %s" % (e.code().name, e.details()))
        return 0
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
