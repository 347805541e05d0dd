#!/usr/bin/python3
"""The Python half of the differential test of Maestro's proto3 JSON codec (tests/test_pb_diff.c).

Python's protobuf runtime is the reference: message classes are built from the same descriptor
set Maestro loads, so both sides see the very same schema.

  pb_diff.py encode SET TYPE IN OUT
      IN holds one JSON message per line (written by the C test). For each, Python parses it
      (json_format.Parse) and writes a line {"hex": <its serialization>, "ref": <MessageToDict
      with default values>} or {"error": ...} when Python refuses the input.
  pb_diff.py check SET TYPE REF MAE
      REF is the output of encode; MAE holds, per line, what Maestro made of the same message:
      {"hex": <Maestro's encoding of the JSON>, "dec": <Maestro's decoding of Python's bytes>}.
      Compares (1) Python's reading of Maestro's bytes and (2) Maestro's reading of Python's
      bytes with the reference, prints "N checked, M differences" and the first differences,
      exits 1 on any.

Comparison rules (the only normalisations): keys whose value is null are dropped on both sides
(Maestro writes unset messages, oneof members and optional fields as null, Python leaves them
out); numbers compare by value (1 == 1.0).
"""
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf import message_factory


def message_class(set_path, type_name):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(set_path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    desc = pool.FindMessageTypeByName(type_name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc), pool
    return message_factory.MessageFactory(pool).GetPrototype(desc), pool


def to_dict(msg, pool):
    kw = {"preserving_proto_field_name": False, "descriptor_pool": pool}
    try:
        return json_format.MessageToDict(msg, including_default_value_fields=True, **kw)
    except TypeError:   # protobuf >= 5 renamed the option
        return json_format.MessageToDict(msg, always_print_fields_with_no_presence=True, **kw)


def norm(v):
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    return float(v)


def diff(a, b, path="$"):
    """The first difference between a and b, as text; None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s: only in %s" % (path, k, "first" if k in a else "second")
            d = diff(a[k], b[k], path + "." + k)
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: %d vs %d elements" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if a != b:
        return "%s: %r vs %r" % (path, a, b)
    return None


def encode(cls, pool, inp, out):
    with open(inp) as f, open(out, "w") as o:
        for line in f:
            try:
                m = cls()
                json_format.Parse(line, m, descriptor_pool=pool)
                rec = {"hex": m.SerializeToString().hex(), "ref": to_dict(m, pool)}
            except Exception as e:   # reported by check, line by line
                rec = {"error": "%s: %s" % (type(e).__name__, e)}
            o.write(json.dumps(rec) + "\n")


def check(cls, pool, ref_path, mae_path):
    with open(ref_path) as f:
        refs = [json.loads(l) for l in f]
    with open(mae_path) as f:
        maes = [json.loads(l) for l in f]
    problems = []
    if len(refs) != len(maes):
        problems.append("line counts differ: %d vs %d" % (len(refs), len(maes)))
    for i, (r, m) in enumerate(zip(refs, maes)):
        if "error" in r:
            problems.append("#%d: Python refused the input: %s" % (i, r["error"]))
            continue
        if "error" in m:
            problems.append("#%d: Maestro refused: %s" % (i, m["error"]))
            continue
        ref = norm(r["ref"])
        try:
            got = cls.FromString(bytes.fromhex(m["hex"]))
            d = diff(norm(to_dict(got, pool)), ref)
            if d:
                problems.append("#%d Maestro's bytes read by Python: %s" % (i, d))
        except Exception as e:
            problems.append("#%d Maestro's bytes rejected by Python: %s" % (i, e))
        d = diff(norm(m["dec"]), ref)
        if d:
            problems.append("#%d Python's bytes read by Maestro: %s" % (i, d))
    print("%d checked, %d differences" % (len(refs), len(problems)))
    for p in problems[:20]:
        print(p)
    return 1 if problems else 0


def main():
    mode, set_path, type_name, a, b = sys.argv[1:6]
    cls, pool = message_class(set_path, type_name)
    if mode == "encode":
        encode(cls, pool, a, b)
        return 0
    return check(cls, pool, a, b)


if __name__ == "__main__":
    sys.exit(main())
