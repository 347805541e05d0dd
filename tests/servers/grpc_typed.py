#!/usr/bin/python3
"""A real grpcio server with typed generated code (tests/servers/typed/*.proto compiled with
grpc_tools.protoc at start-up into a temporary directory), for Maestro's typed gRPC tests.

acme.deploy.v1.Provisioner
  CreateInstance   an Instance echoing the request (id "i-<image>", ip "10.0.0.<n>");
                   fail=true: FAILED_PRECONDITION "no capacity" with ErrorInfo details
  DestroyInstance  {ok: true, id}
  Watch            server-streaming: count Events {seq, state "step-<seq>"}
  GetStats         {calls: every call but GetStats, log: ["Method:detail", ...]}
  Charge           fail_first calls per account fail RESOURCE_EXHAUSTED with RetryInfo
                   (retry_delay_ms) in grpc-status-details-bin, then {attempts}
  Upload, Chat     the streaming kinds Maestro refuses (never called)
acme.deploy.v1.Audit/GetStats   the same stats (a second GetStats: ambiguity)
grpc.health.v1.Health/Check     SERVING
grpc.reflection.v1 / v1alpha ServerReflection (--reflection v1|v1alpha|both|none, default
none): file_by_filename, file_containing_symbol and list_services from the generated code's
descriptors; a request for a name it does not know gets NOT_FOUND in an ErrorResponse.
--reflection-hang: reflection reads a request and never answers.
--envelope: also serves maestro.v1.MaestroService/Execute, answering every envelope call with
the data CreateInstance would give ({id, image, diskGb, ip}), so bench/typed.sh compares a
typed and an envelope step against one backend.
--no-method X: X answers UNIMPLEMENTED until reflection was asked again after the first
UNIMPLEMENTED (a server updated under a client: tests the refetch).
Options: --port N (0 = pick). Prints "PORT <n>" once listening."""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = os.path.join(HERE, "typed")


def generate():
    out = tempfile.mkdtemp(prefix="maestro-typed-")
    files = ["acme/deploy/v1/deploy.proto", "acme/deploy/v1/rpc_status.proto",
             "grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto"]
    subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I" + PROTOS,
                           "--python_out=" + out, "--grpc_python_out=" + out] + files)
    sys.path.insert(0, out)
    return out


def load_by_path(out, name, *parts):
    # "grpc.health.v1" would shadow the grpc package: load the module by its path instead.
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, os.path.join(out, *parts))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def die_with_parent():
    import ctypes
    import signal
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main():
    die_with_parent()
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reflection", default="none", choices=["none", "v1", "v1alpha", "both"])
    ap.add_argument("--no-method", default="")
    ap.add_argument("--reflection-hang", action="store_true")
    ap.add_argument("--envelope", action="store_true")
    args = ap.parse_args()
    out = generate()
    from acme.deploy.v1 import deploy_pb2 as pb, deploy_pb2_grpc as pbg  # noqa: E402
    from acme.deploy.v1 import rpc_status_pb2 as st  # noqa: E402
    hpb = load_by_path(out, "typed_health_pb2", "grpc", "health", "v1", "health_pb2.py")
    rpb = load_by_path(out, "typed_reflection_pb2", "grpc", "reflection", "v1", "reflection_pb2.py")
    from google.protobuf import descriptor_pool  # noqa: E402
    dpool = descriptor_pool.Default()

    lock = threading.Lock()
    state = {"calls": 0, "log": [], "charges": {}, "ips": 0, "reflections": 0,
             "hidden": bool(args.no_method), "refused_at": -1}

    def note(entry):
        with lock:
            state["calls"] += 1
            state["log"].append(entry)

    def details_abort(ctx, code, msg, details):
        s = st.Status(code=code.value[0], message=msg)
        for type_name, m in details:
            s.details.add(type_url="type.googleapis.com/" + type_name, value=m.SerializeToString())
        ctx.set_trailing_metadata((("grpc-status-details-bin", s.SerializeToString()),))
        ctx.abort(code, msg)

    def stats():
        with lock:
            return pb.Stats(calls=state["calls"], log=list(state["log"]))

    def hidden(name, ctx):
        # --no-method: UNIMPLEMENTED until a reflection request after the first refusal
        with lock:
            if name != args.no_method or not state["hidden"]:
                return False
            if state["refused_at"] < 0:
                state["refused_at"] = state["reflections"]
            elif state["reflections"] > state["refused_at"]:
                state["hidden"] = False
                return False
            state["log"].append("Unimplemented:" + name)
        ctx.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        return True

    def reflect(it, ctx):
        with lock:
            state["reflections"] += 1
            state["log"].append("Reflection")
        if args.reflection_hang:
            # read the first request, then never answer (until the client goes away)
            next(it, None)
            while ctx.is_active():
                time.sleep(0.05)
            return
        for req in it:
            kind = req.WhichOneof("message_request")
            resp = rpb.ServerReflectionResponse(valid_host=req.host, original_request=req)
            try:
                if kind == "list_services":
                    names = ["acme.deploy.v1.Provisioner", "acme.deploy.v1.Audit",
                             "grpc.health.v1.Health"]
                    for n in names:
                        resp.list_services_response.service.add(name=n)
                elif kind == "file_by_filename":
                    f = dpool.FindFileByName(req.file_by_filename)
                    resp.file_descriptor_response.file_descriptor_proto.append(f.serialized_pb)
                elif kind == "file_containing_symbol":
                    f = dpool.FindFileContainingSymbol(req.file_containing_symbol)
                    resp.file_descriptor_response.file_descriptor_proto.append(f.serialized_pb)
                else:
                    resp.error_response.error_code = grpc.StatusCode.UNIMPLEMENTED.value[0]
                    resp.error_response.error_message = "not supported"
            except KeyError as e:
                resp.error_response.error_code = grpc.StatusCode.NOT_FOUND.value[0]
                resp.error_response.error_message = str(e)
            yield resp

    class Provisioner(pbg.ProvisionerServicer):
        def CreateInstance(self, req, ctx):
            if hidden("CreateInstance", ctx):
                return None
            note("CreateInstance:" + req.image)
            if req.fail:
                info = st.ErrorInfo(reason="NO_CAPACITY", domain="deploy.acme.test",
                                    metadata={"zone": "eu"})
                details_abort(ctx, grpc.StatusCode.FAILED_PRECONDITION, "no capacity",
                              [("google.rpc.ErrorInfo", info)])
            with lock:
                state["ips"] += 1
                ip = "10.0.0.%d" % state["ips"]
            return pb.Instance(id="i-" + req.image, image=req.image, disk_gb=req.disk_gb,
                               tags=req.tags, labels=req.labels, zones=req.zones,
                               boot=req.boot if req.HasField("boot") else None, big=req.big,
                               ip=ip, owner_name=req.owner_name)

        def DestroyInstance(self, req, ctx):
            note("DestroyInstance:" + req.id)
            return pb.DestroyReply(ok=True, id=req.id)

        def Watch(self, req, ctx):
            note("Watch:" + req.id)
            for i in range(req.count):
                yield pb.Event(seq=i + 1, state="step-%d" % (i + 1))

        def Upload(self, it, ctx):
            note("Upload")
            return pb.Stats()

        def Chat(self, it, ctx):
            note("Chat")
            for e in it:
                yield e

        def GetStats(self, req, ctx):
            return stats()

        def Charge(self, req, ctx):
            note("Charge:" + req.account)
            with lock:
                n = state["charges"].get(req.account, 0) + 1
                state["charges"][req.account] = n
            if n <= req.fail_first:
                ms = req.retry_delay_ms
                info = st.RetryInfo(retry_delay=st.Dur(seconds=ms // 1000,
                                                       nanos=(ms % 1000) * 1000000))
                details_abort(ctx, grpc.StatusCode.RESOURCE_EXHAUSTED, "quota exceeded",
                              [("google.rpc.RetryInfo", info)])
            return pb.ChargeReply(attempts=n)

    class Audit(pbg.AuditServicer):
        def GetStats(self, req, ctx):
            return stats()

    def check(req, ctx):
        note("Check:" + req.service)
        return hpb.HealthCheckResponse(status=hpb.HealthCheckResponse.SERVING)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         options=[("grpc.so_reuseport", 0)])
    pbg.add_ProvisionerServicer_to_server(Provisioner(), server)
    pbg.add_AuditServicer_to_server(Audit(), server)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(
            check, request_deserializer=hpb.HealthCheckRequest.FromString,
            response_serializer=hpb.HealthCheckResponse.SerializeToString)}),))
    if args.envelope:
        sys.path.insert(0, HERE)
        import grpc_envelope  # noqa: E402
        env = grpc_envelope.load_envelope()
        from google.protobuf import json_format, struct_pb2  # noqa: E402

        def execute(req, ctx):
            data = struct_pb2.Struct()
            json_format.ParseDict({"id": "i-" + str(req.payload.type_url != ""), "image": "x",
                                   "diskGb": 20, "ip": "10.0.0.1"}, data)
            r = env.ServiceResponse(success=True)
            r.data.Pack(data)
            return r
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "maestro.v1.MaestroService", {"Execute": grpc.unary_unary_rpc_method_handler(
                execute, request_deserializer=env.ServiceRequest.FromString,
                response_serializer=env.ServiceResponse.SerializeToString)}),))
    versions = {"v1": ["v1"], "v1alpha": ["v1alpha"], "both": ["v1", "v1alpha"]}
    for v in versions.get(args.reflection, []):
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "grpc.reflection.%s.ServerReflection" % v,
            {"ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                reflect, request_deserializer=rpb.ServerReflectionRequest.FromString,
                response_serializer=rpb.ServerReflectionResponse.SerializeToString)}),))
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    print("PORT %d" % port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
