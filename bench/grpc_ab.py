#!/usr/bin/python3
"""Issue #15, gRPC: binaries side by side against the same `maestro stub bench/stubs.yaml`.

    python3 bench/grpc_ab.py [--rounds R] [--mem] BIN...

Wall: R interleaved rounds of b2 (`maestro bench grpc1.yaml -n 50000 -c 100` for each BIN in
turn, then `h2load -n 50000 -c 5 -m 20` against the same stub); prints each round with the load
average, then per BIN the median calls/s and the median of the per-round ratios to h2load.
--mem: RSS per in-flight gRPC call as b4 measures it (hang_grpc.yaml holding 1 and 10,000 calls,
(RSS(10,000) - RSS(1)) / 9,999), with and without the run's journal. N=... changes -n."""
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the helpers of bench.py; importing runs nothing)


def wall(bins, rounds, n):
    req = os.path.join(bench.TMP, "req.bin")
    subprocess.run(["/usr/bin/python3", os.path.join(bench.B, "mkreq.py"), req, "Echo", '{"id":"x"}'], check=True)
    stub, ports = bench.start_stub(os.path.join(bench.B, "stubs.yaml"))
    res = {b: [] for b in bins}
    res["h2load"] = []
    try:
        for r in range(rounds):
            for b in bins:
                bench.M = b
                j, _ = bench.maestro_bench("grpc1.yaml", '{"id":"x"}', n, 100,
                                           ["service.rpc.endpoint=127.0.0.1:%d" % ports["rpc"]])
                res[b].append(j["steps_per_s"])
            out, _ = bench.timed(["h2load", "-n", str(n), "-c", "5", "-m", "20", "-d", req] + bench.H2_HDRS +
                                 [bench.grpc_url(ports)])
            res["h2load"].append(bench.h2load_parse(out)[0])
            print("round %d: %s; load average %s" % (r + 1, ", ".join("%s %.0f" % (k, v[-1]) for k, v in res.items()),
                                                      " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)
    finally:
        bench.stop(stub)
    for b in bins:
        ratios = [m / h for m, h in zip(res[b], res["h2load"])]
        print("%s: median %.0f calls/s, median ratio to h2load %.3f" % (b, statistics.median(res[b]),
                                                                        statistics.median(ratios)))
    print("h2load: median %.0f calls/s" % statistics.median(res["h2load"]))


def mem(bins):
    logp = os.path.join(bench.TMP, "hang.jsonl")
    stub, ports = bench.start_stub(os.path.join(bench.B, "stubs.yaml"), logp)
    try:
        for b in bins:
            for journal in ([], ["--no-journal"]):
                rss = {}
                for n in (1, 10000):
                    cmd = [b, "run", bench.wf("hang_grpc.yaml"), "--quiet", "--input", "@" + bench.write_items(n),
                           "--set", "service.rpc.endpoint=127.0.0.1:%d" % ports["rpc"]] + journal
                    rss[n], _ = bench.hold(cmd, logp, n)
                print("%s %s: %.0f B per in-flight call (RSS %d kB with 1, %d kB with 10,000)" %
                      (b, " ".join(journal) or "(journal on)", (rss[10000] - rss[1]) * 1024 / 9999, rss[1], rss[10000]),
                      flush=True)
    finally:
        bench.stop(stub)


if __name__ == "__main__":
    args = sys.argv[1:]
    rounds, do_mem = 5, False
    if "--rounds" in args:
        i = args.index("--rounds")
        rounds = int(args[i + 1])
        del args[i:i + 2]
    if "--mem" in args:
        args.remove("--mem")
        do_mem = True
    if not args:
        sys.exit(__doc__)
    try:
        wall(args, rounds, int(os.environ.get("N", "50000")))
        if do_mem:
            mem(args)
    finally:
        for p in bench.procs:
            bench.stop(p)
        bench.shutil.rmtree(bench.TMP, ignore_errors=True)
