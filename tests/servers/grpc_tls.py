#!/usr/bin/python3
"""A real grpcio server over TLS (grpc.ssl_server_credentials) speaking Maestro's envelope, for
the gRPC TLS and compression tests. Envelope methods: Echo (data = {input, method, metadata,
scheme}) and Big (data = {blob: "x" * input.size}); others UNIMPLEMENTED.

usage: grpc_tls.py [--cert F --key F [--client-ca F]] [--plain] [--gzip]
  --cert/--key    the server's certificate chain and key (PEM)
  --client-ca     require a client certificate signed by this CA (mutual TLS)
  --plain         no TLS (h2c), for the compression tests
  --gzip          compress every reply with gzip (grpc.Compression.Gzip)
Prints "PORT <n>" once listening on 127.0.0.1."""
import argparse
import os
import sys
from concurrent import futures

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grpc_envelope import die_with_parent, load_envelope  # noqa: E402


def main():
    die_with_parent()
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca")
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--gzip", action="store_true")
    args = ap.parse_args()
    from google.protobuf import json_format, struct_pb2
    pb = load_envelope()

    def reply(data):
        r = pb.ServiceResponse(success=True)
        s = struct_pb2.Struct()
        s.update(data)
        r.data.Pack(s)
        return r

    def execute(req, ctx):
        inp = {}
        if req.payload.type_url.endswith("google.protobuf.Struct"):
            s = struct_pb2.Struct()
            req.payload.Unpack(s)
            inp = json_format.MessageToDict(s)
        md = {k: v for k, v in ctx.invocation_metadata() if isinstance(v, str)}
        binmd = {k: v.hex() for k, v in ctx.invocation_metadata() if isinstance(v, bytes)}
        if req.method == "Echo":
            auth = ctx.auth_context()
            return reply({"input": inp, "method": req.method, "metadata": md, "binary": binmd,
                          "transport": [x.decode() for x in
                                        auth.get("transport_security_type", [])],
                          "client_cn": [x.decode() for x in
                                        auth.get("x509_common_name", [])]})
        if req.method == "Big":
            return reply({"blob": "x" * int(inp.get("size", 0))})
        ctx.abort(grpc.StatusCode.UNIMPLEMENTED, "unknown method " + req.method)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         compression=grpc.Compression.Gzip if args.gzip else None,
                         options=[("grpc.max_send_message_length", 64 << 20)])
    handler = grpc.unary_unary_rpc_method_handler(
        execute, request_deserializer=pb.ServiceRequest.FromString,
        response_serializer=pb.ServiceResponse.SerializeToString)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("maestro.v1.MaestroService",
                                              {"Execute": handler}),))
    if args.plain:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        key = open(args.key, "rb").read()
        cert = open(args.cert, "rb").read()
        ca = open(args.client_ca, "rb").read() if args.client_ca else None
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                            require_client_auth=bool(ca))
        port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    print("PORT %d" % port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
