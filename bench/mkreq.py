#!/usr/bin/python3
"""Writes one gRPC-framed Maestro envelope request (5-byte prefix + ServiceRequest) to a file, for
h2load -d. Hand-encoded protobuf, so it needs nothing installed:
  mkreq.py OUT METHOD '{"id":"x"}'   (flat object of strings, numbers, booleans)
The run id, step id and correlation id are filled like maestro fills them, so the bytes on the
wire are the same size as the engine's."""
import json
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def s(num, text):
    return field(num, 2, text.encode())


def value(v):
    if isinstance(v, bool):
        return field(4, 0, varint(1 if v else 0))
    if isinstance(v, (int, float)):
        return field(2, 1, struct.pack("<d", float(v)))
    return s(3, str(v))


def struct_msg(obj):
    return b"".join(field(1, 2, s(1, k) + field(2, 2, value(v))) for k, v in obj.items())


def main():
    out, method, payload = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    run_id = "0192f0c4-5b6a-7c1d-8e2f-0123456789ab"
    step = "echo"
    anymsg = s(1, "type.googleapis.com/google.protobuf.Struct") + field(2, 2, struct_msg(payload))
    req = (s(1, method) + field(2, 2, anymsg) + s(4, run_id + ":" + step) + s(5, run_id) + s(6, step))
    with open(out, "wb") as f:
        f.write(b"\x00" + struct.pack(">I", len(req)) + req)


main()
