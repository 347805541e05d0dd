#!/usr/bin/python3
"""The cost of gRPC over TLS against h2c (issue #16), with `maestro stub` serving both on the
same machine (certificates from tests/servers/tls_certs.sh):

  t1  connection set-up: `maestro run` of one gRPC step, a fresh process and connection each
      time (wall time, median of RUNS): h2c vs TLS (TCP + TLS 1.3 handshake + CA file load)
  t2  the stub's side of many handshakes: h2load -n N -c N -m 1 (one request per connection),
      h2c vs TLS: h2load's mean "time for connect" and "time to 1st byte"
  t3  throughput over ONE connection: `maestro bench` of the one-step workflow, 100 runs in
      flight, pool.connections 1, h2c vs TLS (calls/s and CPU per call of the maestro process);
      h2load -c1 -m100 the same way as the partner
Each figure is the median of ROUNDS interleaved rounds (h2c, then TLS).
usage: bench/tls_bench.py   (ROUNDS=3, RUNS=30, N=20000 by default); prints a Markdown table."""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
M = os.path.join(ROOT, "bin", "maestro")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
RUNS = int(os.environ.get("RUNS", "30"))
N = int(os.environ.get("N", "20000"))
TMP = tempfile.mkdtemp(prefix="maestro-tlsbench-")


def sh(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def timed(cmd):
    tf = os.path.join(TMP, "time.txt")
    p = sh(["/usr/bin/time", "-f", "%e %U %S", "-o", tf] + cmd)
    if p.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), p.stdout[-1500:], p.stderr[-1500:]))
    wall, user, sys_ = open(tf).read().split()[-3:]
    return p.stdout, float(wall), float(user) + float(sys_)


def main():
    subprocess.run(["sh", os.path.join(ROOT, "tests/servers/tls_certs.sh"), TMP], check=True,
                   capture_output=True)
    stub_yaml = os.path.join(TMP, "stub.yaml")
    with open(stub_yaml, "w") as f:
        f.write("services:\n"
                "  plain: {type: grpc, listen: 127.0.0.1:0, methods: {Echo: {respond: {ok: true}}}}\n"
                "  secure:\n"
                "    type: grpc\n"
                "    listen: 127.0.0.1:0\n"
                "    tls: {cert_file: %s/server.pem, key_file: %s/server.key}\n"
                "    methods: {Echo: {respond: {ok: true}}}\n" % (TMP, TMP))
    stub = subprocess.Popen([M, "stub", stub_yaml], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    ports = {}
    while len(ports) < 2:
        _, port, name = stub.stdout.readline().split()
        ports[name] = int(port)
    eps = {"h2c": "127.0.0.1:%d" % ports["plain"], "tls": "grpcs://localhost:%d" % ports["secure"]}
    wfs = {}
    for kind, ep in eps.items():
        tls = "tls: {ca_file: %s/ca.pem}, " % TMP if kind == "tls" else ""
        wfs[kind] = os.path.join(TMP, "wf-%s.yaml" % kind)
        with open(wfs[kind], "w") as f:
            f.write("name: tls_bench\ntimeout: 60s\nservices:\n"
                    "  rpc: {type: grpc, endpoint: \"%s\", %spool: {connections: 1}, timeout: 20s}\n"
                    "steps:\n  - {id: echo, service: rpc, method: Echo, input: {id: x}, output: r}\n"
                    "output: {ok: \"{{ .r.ok }}\"}\n" % (ep, tls))
    req = os.path.join(TMP, "req.bin")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench/mkreq.py"), req, "Echo",
                    '{"id":"x"}'], check=True)
    hdrs = ["-H", "content-type: application/grpc", "-H", "te: trailers"]
    urls = {"h2c": "http://127.0.0.1:%d/maestro.v1.MaestroService/Execute" % ports["plain"],
            "tls": "https://127.0.0.1:%d/maestro.v1.MaestroService/Execute" % ports["secure"]}
    res = {k: {"run_ms": [], "connect_ms": [], "ttfb_ms": [], "calls_s": [], "cpu_us": [],
               "h2load_s": []} for k in eps}
    for r in range(ROUNDS):
        for kind in ("h2c", "tls"):
            walls = []
            for _ in range(RUNS):
                t0 = time.monotonic()
                p = sh([M, "run", wfs[kind]])
                walls.append((time.monotonic() - t0) * 1000)
                if p.returncode != 0:
                    sys.exit(p.stderr)
            res[kind]["run_ms"].append(statistics.median(walls))
            out = sh(["h2load", "-n", "500", "-c", "500", "-m", "1", "-d", req] + hdrs +
                     [urls[kind]]).stdout
            m = re.search(r"time for connect:\s+\S+\s+\S+\s+(\S+?)(us|ms|s)\s", out)
            unit = {"us": 0.001, "ms": 1, "s": 1000}
            if m:
                res[kind]["connect_ms"].append(float(m.group(1)) * unit[m.group(2)])
            m = re.search(r"time to 1st byte:\s+\S+\s+\S+\s+(\S+?)(us|ms|s)\s", out)
            if m:
                res[kind]["ttfb_ms"].append(float(m.group(1)) * unit[m.group(2)])
            out, wall, cpu = timed([M, "bench", wfs[kind], "-n", str(N), "-c", "100", "--json"])
            j = json.loads(out)
            res[kind]["calls_s"].append(j["runs_per_s"])
            res[kind]["cpu_us"].append(j["cpu_s"] / N * 1e6)
            out = sh(["h2load", "-n", str(N), "-c", "1", "-m", "100", "-d", req] + hdrs +
                     [urls[kind]]).stdout
            m = re.search(r"finished in .*?, ([\d.]+) req/s", out)
            if m:
                res[kind]["h2load_s"].append(float(m.group(1)))
            print("round %d %s: run %.1f ms, connect %s ms, maestro %.0f calls/s %.1f us CPU, "
                  "h2load %s req/s" % (r + 1, kind, res[kind]["run_ms"][-1],
                                       res[kind]["connect_ms"][-1:], res[kind]["calls_s"][-1],
                                       res[kind]["cpu_us"][-1], res[kind]["h2load_s"][-1:]),
                  flush=True)
    stub.send_signal(signal.SIGTERM)
    stub.wait()
    med = {k: {f: (statistics.median(v) if v else float("nan")) for f, v in d.items()}
           for k, d in res.items()}
    h, t = med["h2c"], med["tls"]
    print()
    print("| figure | h2c | TLS | TLS cost |")
    print("|---|---|---|---|")
    print("| t1 `maestro run`, one step, new process and connection | %.1f ms | %.1f ms | +%.1f ms |"
          % (h["run_ms"], t["run_ms"], t["run_ms"] - h["run_ms"]))
    print("| t2 h2load 500 connections: mean time for connect | %.2f ms | %.2f ms | +%.2f ms |"
          % (h["connect_ms"], t["connect_ms"], t["connect_ms"] - h["connect_ms"]))
    print("| t2 h2load 500 connections: mean time to 1st byte | %.2f ms | %.2f ms | +%.2f ms |"
          % (h["ttfb_ms"], t["ttfb_ms"], t["ttfb_ms"] - h["ttfb_ms"]))
    print("| t3 `maestro bench` one connection, 100 in flight | %.0f calls/s | %.0f calls/s | %.2fx |"
          % (h["calls_s"], t["calls_s"], t["calls_s"] / h["calls_s"]))
    print("| t3 maestro CPU per call (whole process) | %.1f us | %.1f us | +%.1f us |"
          % (h["cpu_us"], t["cpu_us"], t["cpu_us"] - h["cpu_us"]))
    print("| t3 h2load -c1 -m100 (partner) | %.0f req/s | %.0f req/s | %.2fx |"
          % (h["h2load_s"], t["h2load_s"], t["h2load_s"] / h["h2load_s"]))
    subprocess.run(["rm", "-rf", TMP])


if __name__ == "__main__":
    main()
