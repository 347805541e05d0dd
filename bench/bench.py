#!/usr/bin/python3
"""The driver of `make bench` (called by bench/run.sh once tools are installed): starts the
project's stub as the shared backend, runs b0..b5 as interleaved A/B rounds, keeps the median of
each figure, prints ratios, and writes bench/results/{results.json,summary.md,latency.png}.

Every client process is measured the same way: /usr/bin/time gives its wall, user+system CPU and
max RSS. Only 127.0.0.1 is ever a target. Environment: ROUNDS (default 3), QUICK=1 (smaller N)."""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M = os.path.join(ROOT, "bin", "maestro")
B = os.path.join(ROOT, "bench")
OUT = os.path.join(B, "results")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
QUICK = os.environ.get("QUICK") == "1"
TMP = tempfile.mkdtemp(prefix="maestro-bench-")
# `maestro run` journals every run by default (~/.local/state/maestro/runs): keep the benchmark's
# journals in the temporary directory, removed at exit, instead of filling the user's state.
os.environ["MAESTRO_JOURNAL"] = os.path.join(TMP, "journal")
results = {}
procs = []


def log(*a):
    print(*a, flush=True)


def wf(name):
    return os.path.join(B, "workflows", name)


def timed(cmd, check=True):
    """Runs cmd under /usr/bin/time; returns (stdout, {wall_s, cpu_s, maxrss_kb})."""
    tf = os.path.join(TMP, "time.txt")
    p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf] + cmd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        sys.stderr.write("command failed (%d): %s\n%s\n%s\n" % (p.returncode, " ".join(cmd), p.stdout[-2000:],
                                                              p.stderr[-2000:]))
        raise SystemExit(1)
    wall, user, sys_, rss = open(tf).read().split()[-4:]
    return p.stdout, {"wall_s": float(wall), "cpu_s": float(user) + float(sys_), "maxrss_kb": int(rss)}


def start_stub(stub_file, log_path=None):
    cmd = [M, "stub", stub_file] + (["--log", log_path] if log_path else [])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs.append(p)
    ports = {}
    while len(ports) < 2:
        line = p.stdout.readline()
        if not line:
            raise SystemExit("the stub did not start")
        _, port, name = line.split()
        ports[name] = int(port)
    return p, ports


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def med(xs):
    return statistics.median(xs)


def wrk_parse(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = None
    m = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    if m:
        p50 = float(m.group(1)) * {"us": 1, "ms": 1000, "s": 1e6}[m.group(2)]
    return rps, reqs, p50


def h2load_parse(out):
    rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out)
    return rps, int(m.group(3))


def grpc_url(ports):
    return "http://127.0.0.1:%d/maestro.v1.MaestroService/Execute" % ports["rpc"]


H2_HDRS = ["-H", "content-type: application/grpc", "-H", "te: trailers"]


def write_items(n):
    path = os.path.join(TMP, "items%d.json" % n)
    with open(path, "w") as f:
        json.dump({"items": ["i%d" % i for i in range(n)]}, f)
    return path


def maestro_bench(workflow, inp, n, c, sets):
    cmd = [M, "bench", wf(workflow), "--input", inp, "-n", str(n), "-c", str(c), "--json"]
    for s in sets:
        cmd += ["--set", s]
    out, t = timed(cmd)
    j = json.loads(out)
    if j["failed"] != 0:
        raise SystemExit("maestro bench %s: %d runs failed: %s" % (workflow, j["failed"], j["errors"]))
    return j, t


# ---------------------------------------------------------------------------------------------
def b0_stub(ports, req):
    """The stub's own throughput (issue #6 goals: >= 20,000 gRPC/s, >= 10,000 HTTP/s)."""
    log("== b0: the stub's throughput (h2load gRPC envelope, wrk HTTP)")
    g, h = [], []
    n = 50000 if not QUICK else 10000
    for r in range(ROUNDS):
        out, _ = timed(["h2load", "-n", str(n), "-c", "10", "-m", "50", "-d", req] + H2_HDRS + [grpc_url(ports)])
        rps, ok = h2load_parse(out)
        assert ok == n, out
        g.append(rps)
        out, _ = timed(["wrk", "-t1", "-c50", "-d2s", "-s", os.path.join(B, "post_echo.lua"),
                        "http://127.0.0.1:%d/echo" % ports["web"]])
        h.append(wrk_parse(out)[0])
        log("  round %d: gRPC %.0f calls/s, HTTP %.0f calls/s" % (r + 1, g[-1], h[-1]))
    results["b0"] = {"grpc_calls_per_s": med(g), "http_calls_per_s": med(h)}


def b1_http_serial(ports):
    log("== b1: one HTTP step, one at a time: maestro bench -c 1 vs wrk -c1 -t1")
    sets = ["service.web.endpoint=http://127.0.0.1:%d" % ports["web"]]
    n = 5000 if not QUICK else 1000
    rows = []
    for r in range(ROUNDS):
        j, t = maestro_bench("http1.yaml", '{"id":"x"}', n, 1, sets)
        out, tw = timed(["wrk", "-t1", "-c1", "-d2s", "--latency", "-s", os.path.join(B, "post_echo.lua"),
                         "http://127.0.0.1:%d/echo" % ports["web"]])
        rps, reqs, p50 = wrk_parse(out)
        row = {"maestro_runs_per_s": j["runs_per_s"], "maestro_mean_us": 1e6 / j["runs_per_s"],
               "maestro_p50_us": j["latency_ms"]["p50"] * 1000, "wrk_rps": rps, "wrk_mean_us": 1e6 / rps,
               "wrk_p50_us": p50}
        rows.append(row)
        log("  round %d: maestro %.1f us/run (p50 %.0f), wrk %.1f us/req (p50 %.0f)" %
            (r + 1, row["maestro_mean_us"], row["maestro_p50_us"], row["wrk_mean_us"], p50))
    res = {k: med([x[k] for x in rows]) for k in rows[0]}
    res["added_us_mean"] = res["maestro_mean_us"] - res["wrk_mean_us"]
    res["added_us_p50"] = res["maestro_p50_us"] - res["wrk_p50_us"]
    res["throughput_ratio"] = res["maestro_runs_per_s"] / res["wrk_rps"]
    results["b1"] = res


def b2_grpc_concurrent(ports, req):
    log("== b2: one gRPC step, 100 runs in flight over 5 connections vs h2load -c5 -m20")
    sets = ["service.rpc.endpoint=127.0.0.1:%d" % ports["rpc"]]
    n = 50000 if not QUICK else 10000
    rows = []
    for r in range(ROUNDS):
        j, t = maestro_bench("grpc1.yaml", '{"id":"x"}', n, 100, sets)
        out, th = timed(["h2load", "-n", str(n), "-c", "5", "-m", "20", "-d", req] + H2_HDRS + [grpc_url(ports)])
        rps, ok = h2load_parse(out)
        row = {"maestro_calls_per_s": j["steps_per_s"], "maestro_cpu_us_per_call": t["cpu_s"] / n * 1e6,
               "maestro_p50_ms": j["latency_ms"]["p50"], "maestro_p99_ms": j["latency_ms"]["p99"],
               "h2load_calls_per_s": rps, "h2load_cpu_us_per_call": th["cpu_s"] / n * 1e6}
        rows.append(row)
        log("  round %d: maestro %.0f calls/s %.1f us CPU/call, h2load %.0f calls/s %.1f us CPU/call" %
            (r + 1, row["maestro_calls_per_s"], row["maestro_cpu_us_per_call"], rps, row["h2load_cpu_us_per_call"]))
    res = {k: med([x[k] for x in rows]) for k in rows[0]}
    res["throughput_ratio"] = res["maestro_calls_per_s"] / res["h2load_calls_per_s"]
    res["cpu_per_call_ratio"] = res["maestro_cpu_us_per_call"] / res["h2load_cpu_us_per_call"]
    results["b2"] = res


def b3_fanout(ports, req, node_ok):
    log("== b3: fan-out in one workflow (gRPC 10,000 at 1,000 in flight; HTTP 1,000) vs h2load/wrk/Node glue")
    ng, nh = (10000, 1000) if not QUICK else (2000, 500)
    runs = 3
    gi, hi = write_items(ng), write_items(nh)
    gset = ["service.rpc.endpoint=127.0.0.1:%d" % ports["rpc"]]
    hset = ["service.web.endpoint=http://127.0.0.1:%d" % ports["web"]]
    glue = os.path.join(B, "node", "glue.js")
    rows = []
    for r in range(ROUNDS):
        row = {}
        j, t = maestro_bench("fan_grpc.yaml", "@" + gi, runs, 1, gset)
        row["grpc_maestro_calls_per_s"] = j["steps_per_s"]
        row["grpc_maestro_calls_per_cpu_s"] = j["steps"] / j["cpu_s"]
        row["grpc_maestro_calls_per_proc_cpu_s"] = j["steps"] / t["cpu_s"]
        row["grpc_maestro_peak_rss_kb"] = j["peak_rss_kb"]
        out, th = timed(["h2load", "-n", str(ng * runs), "-c", "5", "-m", "200", "-d", req] + H2_HDRS + [grpc_url(ports)])
        rps, ok = h2load_parse(out)
        row["grpc_h2load_calls_per_s"] = rps
        row["grpc_h2load_calls_per_proc_cpu_s"] = ng * runs / th["cpu_s"]
        if node_ok:
            out, tn = timed(["node", glue, "grpc", "127.0.0.1:%d" % ports["rpc"], str(ng), "1000", str(runs)])
            jn = json.loads(out)
            row["grpc_node_calls_per_s"] = jn["calls"] / jn["wall_s"]
            row["grpc_node_calls_per_cpu_s"] = jn["calls"] / jn["cpu_s"]
            row["grpc_node_maxrss_kb"] = tn["maxrss_kb"]
        j, t = maestro_bench("fan_http.yaml", "@" + hi, runs, 1, hset)
        row["http_maestro_calls_per_s"] = j["steps_per_s"]
        row["http_maestro_calls_per_cpu_s"] = j["steps"] / j["cpu_s"]
        row["http_maestro_calls_per_proc_cpu_s"] = j["steps"] / t["cpu_s"]
        out, tw = timed(["wrk", "-t1", "-c5", "-d2s", "-s", os.path.join(B, "post_echo.lua"),
                         "http://127.0.0.1:%d/echo" % ports["web"]])
        rps, reqs, _ = wrk_parse(out)
        row["http_wrk_calls_per_s"] = rps
        row["http_wrk_calls_per_proc_cpu_s"] = reqs / tw["cpu_s"] if tw["cpu_s"] > 0 else 0
        if node_ok:
            out, tn = timed(["node", glue, "http", "http://127.0.0.1:%d" % ports["web"], str(nh), "1000", str(runs)])
            jn = json.loads(out)
            row["http_node_calls_per_s"] = jn["calls"] / jn["wall_s"]
            row["http_node_calls_per_cpu_s"] = jn["calls"] / jn["cpu_s"]
            out, tn = timed(["node", glue, "http-agent", "http://127.0.0.1:%d" % ports["web"], str(nh), "1000", str(runs)])
            jn = json.loads(out)
            row["http_nodeagent_calls_per_s"] = jn["calls"] / jn["wall_s"]
            row["http_nodeagent_calls_per_cpu_s"] = jn["calls"] / jn["cpu_s"]
        rows.append(row)
        log("  round %d: " % (r + 1) + ", ".join("%s=%.0f" % (k, v) for k, v in row.items()))
    res = {k: med([x[k] for x in rows]) for k in rows[0]}
    res["grpc_vs_h2load"] = res["grpc_maestro_calls_per_s"] / res["grpc_h2load_calls_per_s"]
    res["http_vs_wrk"] = res["http_maestro_calls_per_s"] / res["http_wrk_calls_per_s"]
    if node_ok:
        res["grpc_vs_node_per_cpu_s"] = res["grpc_maestro_calls_per_cpu_s"] / res["grpc_node_calls_per_cpu_s"]
        res["http_vs_node_per_cpu_s"] = res["http_maestro_calls_per_cpu_s"] / res["http_node_calls_per_cpu_s"]
        res["http_vs_nodeagent_per_cpu_s"] = res["http_maestro_calls_per_cpu_s"] / res["http_nodeagent_calls_per_cpu_s"]
    results["b3"] = res


# ---------------------------------------------------------------------------------------------
def insns(cmd):
    """Whole-process instruction count of cmd under callgrind (reproducible on a busy machine)."""
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode != 0 or not m:
        raise SystemExit("callgrind failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-2000:]))
    return int(m.group(1))


def b6_instructions(ports):
    """Instructions (callgrind) per run and at start-up, the N2 - N1 method: the difference of two
    whole-process counts divided by the difference in runs cancels start-up and exit."""
    log("== b6: instructions per run (callgrind, N2 - N1) and at start-up")
    g = "service.rpc.endpoint=127.0.0.1:%d" % ports["rpc"]
    h = "service.web.endpoint=http://127.0.0.1:%d" % ports["web"]
    res = {}

    def per_run(key, workflow, sets, n1, n2, c, items=False):
        """runs: -n N of a one-step workflow; items: one run of a foreach over N items."""
        counts = []
        for n in (n1, n2):
            inp, runs = ("@" + write_items(n), 1) if items else ('{"id":"x"}', n)
            counts.append(insns([M, "bench", wf(workflow), "--input", inp, "-n", str(runs), "-c", str(c), "--json",
                                 "--set", sets]))
        res[key] = (counts[1] - counts[0]) / (n2 - n1)
        log("  %-34s %9.0f instructions" % (key, res[key]))

    per_run("grpc_per_run_c1", "grpc1.yaml", g, 100, 600, 1)
    per_run("grpc_per_run_c100", "grpc1.yaml", g, 500, 3000, 100)
    per_run("http_per_run_c1", "http1.yaml", h, 100, 600, 1)
    per_run("grpc_per_foreach_item", "fan_grpc.yaml", g, *((1000, 10000) if not QUICK else (500, 2000)), 1, items=True)
    res["startup_version"] = insns([M, "version"])
    res["startup_validate"] = insns([M, "validate", os.path.join(ROOT, "examples", "workflows", "order_processing.yaml")])
    res["startup_run_grpc1"] = insns([M, "run", wf("grpc1.yaml"), "--quiet", "--no-journal", "--input", '{"id":"x"}',
                                      "--set", g])
    for k in ("startup_version", "startup_validate", "startup_run_grpc1"):
        log("  %-34s %9d instructions (whole process)" % (k, res[k]))
    results["b6"] = res


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rollup(pid):
    """Pss and Anonymous (kB) from /proc/PID/smaps_rollup: what the process costs beyond the
    shared library pages every process mapping them shares."""
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Pss", "Anonymous", "Shared_Clean", "Private_Clean"):
                    out[k.lower() + "_kb"] = int(v.split()[0])
    except OSError:
        pass
    return out


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


def hold(cmd, log_path, want_calls, timeout=60):
    """Starts cmd, waits until the stub has logged want_calls new calls and the process's RSS
    stays put for 0.6 s, returns (RSS kB, calls seen); then kills it. hold.last_rollup keeps the
    smaps_rollup figures of that moment."""
    base = count_lines(log_path)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    last, stable, rss = None, 0, None
    try:
        while time.time() < deadline:
            time.sleep(0.2)
            if p.poll() is not None:
                raise SystemExit("%s exited early (%d)" % (cmd[0], p.returncode))
            seen = count_lines(log_path) - base
            rss = rss_kb(p.pid)
            if seen >= want_calls:
                stable = stable + 1 if rss == last else 0
                if stable >= 3:
                    hold.last_rollup = rollup(p.pid)
                    return rss, seen
            last = rss
        raise SystemExit("timed out holding %d calls (%d seen)" % (want_calls, count_lines(log_path) - base))
    finally:
        p.kill()
        p.wait()


def b4_b5_memory(req):
    log("== b4: memory per in-flight call (calls held by hang: true); b5: idle RSS")
    logp = os.path.join(TMP, "hang.jsonl")
    stub, ports = start_stub(os.path.join(B, "stubs.yaml"), logp)
    res = {}
    try:
        gset = ["--set", "service.rpc.endpoint=127.0.0.1:%d" % ports["rpc"]]
        hset = ["--set", "service.web.endpoint=http://127.0.0.1:%d" % ports["web"]]
        ns = [1, 1000, 10000] if not QUICK else [1, 1000, 3000]
        for proto, w, sets, cap in (("grpc", "hang_grpc.yaml", gset, 10 ** 9), ("http", "hang_http.yaml", hset, 1000)):
            for n in ns:
                cmd = [M, "run", wf(w), "--quiet", "--input", "@" + write_items(n)] + sets
                rss, seen = hold(cmd, logp, min(n, cap))
                res["%s_rss_kb_%d" % (proto, n)] = rss
                if n == 1:
                    res["%s_idle_rollup" % proto] = hold.last_rollup
                res["%s_on_wire_%d" % (proto, n)] = seen
                log("  %s: %d calls in flight (%d at the stub): RSS %d kB" % (proto, n, seen, rss))
            for n in ns[1:]:
                res["%s_bytes_per_call_%d" % (proto, n)] = (res["%s_rss_kb_%d" % (proto, n)] -
                                                            res["%s_rss_kb_1" % proto]) * 1024 / (n - 1)
        # nghttp2's own cost per stream, as seen from another nghttp2 client holding the same calls
        hreq = os.path.join(TMP, "hang.bin")
        subprocess.run(["/usr/bin/python3", os.path.join(B, "mkreq.py"), hreq, "Hang", '{"id":"x"}'], check=True)
        url = grpc_url(ports)
        for n in (10, ns[-1]):
            cmd = ["h2load", "-n", str(n), "-c", "10", "-m", str(n // 10), "-d", hreq] + H2_HDRS + [url]
            rss, _ = hold(cmd, logp, n)
            res["h2load_rss_kb_%d" % n] = rss
        res["h2load_bytes_per_stream"] = (res["h2load_rss_kb_%d" % ns[-1]] - res["h2load_rss_kb_10"]) * 1024 / (ns[-1] - 10)
        res["grpc_beyond_h2load_bytes_per_call"] = res["grpc_bytes_per_call_%d" % ns[-1]] - res["h2load_bytes_per_stream"]
        log("  h2load holding the same streams: %.0f bytes per stream" % res["h2load_bytes_per_stream"])
    finally:
        stop(stub)
    results["b4"] = res
    # b5: idle RSS = maestro run waiting on one call; max RSS of a whole small run; validate time
    b5 = {"idle_rss_kb": res["grpc_rss_kb_1"], "idle_rss_kb_http": res["http_rss_kb_1"],
          "idle_rollup": res.get("grpc_idle_rollup", {})}
    stub2, ports2 = start_stub(os.path.join(B, "stubs.yaml"))
    try:
        _, t = timed([M, "run", wf("grpc1.yaml"), "--input", '{"id":"x"}', "--set",
                      "service.rpc.endpoint=127.0.0.1:%d" % ports2["rpc"]])
        b5["run_maxrss_kb"] = t["maxrss_kb"]
    finally:
        stop(stub2)
    target = os.path.join(ROOT, "examples", "workflows", "order_processing.yaml")
    if shutil.which("hyperfine"):
        hj = os.path.join(TMP, "hf.json")
        subprocess.run(["hyperfine", "-N", "--warmup", "20", "--runs", "300", "--export-json", hj,
                        "%s validate %s" % (M, target), "%s version" % M], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        h, hv = json.load(open(hj))["results"][:2]
        b5["validate_ms_mean"], b5["validate_ms_median"] = h["mean"] * 1000, h["median"] * 1000
        b5["version_ms_median"] = hv["median"] * 1000   # process start-up alone (dynamic linking)
        b5["validate_tool"] = "hyperfine"
    else:
        ts = []
        for _ in range(200):
            t0 = time.perf_counter()
            subprocess.run([M, "validate", target], stdout=subprocess.DEVNULL, check=True)
            ts.append((time.perf_counter() - t0) * 1000)
        b5["validate_ms_mean"], b5["validate_ms_median"] = statistics.mean(ts), med(ts)
        ts = []
        for _ in range(200):
            t0 = time.perf_counter()
            subprocess.run([M, "version"], stdout=subprocess.DEVNULL, check=True)
            ts.append((time.perf_counter() - t0) * 1000)
        b5["version_ms_median"] = med(ts)
        b5["validate_tool"] = "loop of 200 (hyperfine not installed)"
    results["b5"] = b5
    log("  b5: idle RSS %d kB (gRPC), %d kB (HTTP); whole small run max RSS %d kB; validate %.2f ms median (%s)" %
        (b5["idle_rss_kb"], b5["idle_rss_kb_http"], b5["run_maxrss_kb"], b5["validate_ms_median"], b5["validate_tool"]))


def plot(ports):
    log("== latency percentiles vs concurrency (maestro bench, one-step workflows)")
    cs = [1, 10, 50, 100, 200, 500, 1000]
    n = 10000 if not QUICK else 2000
    dat = os.path.join(OUT, "latency.dat")
    rows = []
    for c in cs:
        jg, _ = maestro_bench("grpc1.yaml", '{"id":"x"}', n, c, ["service.rpc.endpoint=127.0.0.1:%d" % ports["rpc"]])
        jh, _ = maestro_bench("http1.yaml", '{"id":"x"}', n, c, ["service.web.endpoint=http://127.0.0.1:%d" % ports["web"]])
        rows.append((c, jg, jh))
        log("  c=%d: gRPC p50 %.3f p99 %.3f ms %.0f/s; HTTP p50 %.3f p99 %.3f ms %.0f/s" %
            (c, jg["latency_ms"]["p50"], jg["latency_ms"]["p99"], jg["runs_per_s"], jh["latency_ms"]["p50"],
             jh["latency_ms"]["p99"], jh["runs_per_s"]))
    with open(dat, "w") as f:
        f.write("# c grpc_p50 grpc_p90 grpc_p99 grpc_runs_s http_p50 http_p90 http_p99 http_runs_s (ms, runs/s)\n")
        for c, jg, jh in rows:
            f.write("%d %.4f %.4f %.4f %.1f %.4f %.4f %.4f %.1f\n" % (
                c, jg["latency_ms"]["p50"], jg["latency_ms"]["p90"], jg["latency_ms"]["p99"], jg["runs_per_s"],
                jh["latency_ms"]["p50"], jh["latency_ms"]["p90"], jh["latency_ms"]["p99"], jh["runs_per_s"]))
    results["latency_vs_concurrency"] = [{"c": c, "grpc": jg["latency_ms"], "grpc_runs_per_s": jg["runs_per_s"],
                                          "http": jh["latency_ms"], "http_runs_per_s": jh["runs_per_s"]}
                                         for c, jg, jh in rows]
    if shutil.which("gnuplot"):
        gp = """set terminal pngcairo size 900,560 noenhanced
set output '%s'
set title 'maestro bench: one-step workflow, run latency vs runs in flight (stub backend, 2 shared cores)'
set logscale xy
set xlabel 'concurrency (-c)'
set ylabel 'latency (ms)'
set key top left
set grid
plot '%s' u 1:2 w lp t 'gRPC p50', '' u 1:3 w lp t 'gRPC p90', '' u 1:4 w lp t 'gRPC p99', \\
     '' u 1:6 w lp t 'HTTP p50', '' u 1:7 w lp t 'HTTP p90', '' u 1:8 w lp t 'HTTP p99'
""" % (os.path.join(OUT, "latency.png"), dat)
        r = subprocess.run(["gnuplot"], input=gp, text=True, stderr=subprocess.PIPE)
        if r.returncode != 0:
            log("  gnuplot failed: " + r.stderr[-500:])
        else:
            log("  plot: bench/results/latency.png")
    else:
        log("  gnuplot not installed: no plot (data in bench/results/latency.dat)")


def goal(ok):
    return "met" if ok else "MISSED"


def summary():
    r = results
    lines = ["| benchmark | Maestro | reference | ratio / figure | goal |", "|---|---|---|---|---|"]
    b0, b1, b2, b3, b4, b5 = (r.get(k, {}) for k in ("b0", "b1", "b2", "b3", "b4", "b5"))
    if b0:
        lines.append("| b0 stub gRPC (h2load -c10 -m50) | | | %.0f calls/s | >= 20,000: %s |" %
                     (b0["grpc_calls_per_s"], goal(b0["grpc_calls_per_s"] >= 20000)))
        lines.append("| b0 stub HTTP (wrk -c50) | | | %.0f calls/s | >= 10,000: %s |" %
                     (b0["http_calls_per_s"], goal(b0["http_calls_per_s"] >= 10000)))
    if b1:
        lines.append("| b1 HTTP step, 1 at a time | %.1f us/run (p50 %.0f) | wrk -c1: %.1f us/req (p50 %.0f) | +%.1f us per step (mean), %.2fx wrk's throughput | HTTP >= 0.5x wrk: %s |" %
                     (b1["maestro_mean_us"], b1["maestro_p50_us"], b1["wrk_mean_us"], b1["wrk_p50_us"],
                      b1["added_us_mean"], b1["throughput_ratio"], goal(b1["throughput_ratio"] >= 0.5)))
    if b2:
        lines.append("| b2 gRPC step, 100 in flight / 5 conns | %.0f calls/s, %.1f us CPU/call | h2load -c5 -m20: %.0f calls/s, %.1f us CPU/call | %.2fx throughput, %.2fx CPU per call | gRPC >= 0.75x h2load: %s |" %
                     (b2["maestro_calls_per_s"], b2["maestro_cpu_us_per_call"], b2["h2load_calls_per_s"],
                      b2["h2load_cpu_us_per_call"], b2["throughput_ratio"], b2["cpu_per_call_ratio"],
                      goal(b2["throughput_ratio"] >= 0.75)))
    if b3:
        lines.append("| b3 foreach 10,000 gRPC (1,000 in flight) | %.0f calls/s | h2load -c5 -m200: %.0f calls/s | %.2fx | gRPC >= 0.7x h2load: %s |" %
                     (b3["grpc_maestro_calls_per_s"], b3["grpc_h2load_calls_per_s"], b3["grpc_vs_h2load"],
                      goal(b3["grpc_vs_h2load"] >= 0.7)))
        lines.append("| b3 foreach 1,000 HTTP (5 conns) | %.0f calls/s | wrk -c5: %.0f calls/s | %.2fx | HTTP >= 0.65x wrk: %s |" %
                     (b3["http_maestro_calls_per_s"], b3["http_wrk_calls_per_s"], b3["http_vs_wrk"],
                      goal(b3["http_vs_wrk"] >= 0.65)))
        if "grpc_vs_node_per_cpu_s" in b3:
            lines.append("| b3 gRPC fan-out, calls per CPU second | %.0f | Node glue (grpc-js): %.0f | %.1fx | >= 1.5x Node: %s |" %
                         (b3["grpc_maestro_calls_per_cpu_s"], b3["grpc_node_calls_per_cpu_s"],
                          b3["grpc_vs_node_per_cpu_s"], goal(b3["grpc_vs_node_per_cpu_s"] >= 1.5)))
            lines.append("| b3 HTTP fan-out, calls per CPU second | %.0f | Node glue (fetch): %.0f | %.1fx | >= 1.5x Node: %s |" %
                         (b3["http_maestro_calls_per_cpu_s"], b3["http_node_calls_per_cpu_s"],
                          b3["http_vs_node_per_cpu_s"], goal(b3["http_vs_node_per_cpu_s"] >= 1.5)))
            lines.append("| b3 HTTP fan-out, calls per CPU second | %.0f | Node http.request, keep-alive agent of 5: %.0f | %.1fx | >= 1.5x Node: %s |" %
                         (b3["http_maestro_calls_per_cpu_s"], b3["http_nodeagent_calls_per_cpu_s"],
                          b3["http_vs_nodeagent_per_cpu_s"], goal(b3["http_vs_nodeagent_per_cpu_s"] >= 1.5)))
    if b4:
        big = max(int(k.rsplit("_", 1)[1]) for k in b4 if k.startswith("grpc_bytes_per_call_"))
        # issue #15: whole RSS per call (nghttp2's stream, about 0.27 KB, included) <= 1.5 KB
        lines.append("| b4 memory per in-flight gRPC call | %.0f B (N=1,000), %.0f B (N=%d) | h2load: %.0f B per stream | %.0f B beyond h2load's | <= 1.5 KB per call: %s |" %
                     (b4["grpc_bytes_per_call_1000"], b4["grpc_bytes_per_call_%d" % big], big,
                      b4["h2load_bytes_per_stream"], b4["grpc_beyond_h2load_bytes_per_call"],
                      goal(b4["grpc_bytes_per_call_%d" % big] <= 1536)))
        lines.append("| b4 memory per in-flight HTTP call | %.0f B (N=1,000, 1,000 connections), %.0f B (N=%d, %d on the wire) | | | <= 8 KB per call: %s |" %
                     (b4["http_bytes_per_call_1000"], b4["http_bytes_per_call_%d" % big], big, b4["http_on_wire_%d" % big],
                      goal(b4["http_bytes_per_call_%d" % big] <= 8192)))
    if b5:
        ro = b5.get("idle_rollup", {})
        lines.append("| b5 idle RSS of maestro run | %d kB (gRPC), %d kB (HTTP) | | of which anonymous %s kB, PSS %s kB; whole small run: max RSS %d kB | gRPC-only < 5 MB: %s |" %
                     (b5["idle_rss_kb"], b5["idle_rss_kb_http"], ro.get("anonymous_kb", "?"), ro.get("pss_kb", "?"),
                      b5["run_maxrss_kb"], goal(b5["idle_rss_kb"] < 5120)))
        lines.append("| b5 maestro validate (order_processing.yaml) | %.2f ms median, %.2f ms mean | `maestro version`: %.2f ms | %s | < 5 ms: %s |" %
                     (b5["validate_ms_median"], b5["validate_ms_mean"], b5["version_ms_median"], b5["validate_tool"],
                      goal(b5["validate_ms_median"] < 5)))
    b6 = r.get("b6", {})
    if b6:
        lines.append("| b6 instructions per gRPC one-step run | %.0f (-c 1), %.0f (-c 100) | | callgrind, N2 - N1 | (no goal) |" %
                     (b6["grpc_per_run_c1"], b6["grpc_per_run_c100"]))
        lines.append("| b6 instructions per foreach item (gRPC) | %.0f | | callgrind, N2 - N1 | <= 40,000: %s |" %
                     (b6["grpc_per_foreach_item"], goal(b6["grpc_per_foreach_item"] <= 40000)))
        lines.append("| b6 instructions per HTTP one-step run | %.0f (-c 1) | | callgrind, N2 - N1 | <= 75,000: %s |" %
                     (b6["http_per_run_c1"], goal(b6["http_per_run_c1"] <= 75000)))
        top = max(b6["startup_version"], b6["startup_validate"], b6["startup_run_grpc1"])
        lines.append("| b6 start-up instructions (whole process) | version %d, validate %d, one-step gRPC run %d | | callgrind | < 2 M: %s |" %
                     (b6["startup_version"], b6["startup_validate"], b6["startup_run_grpc1"], goal(top < 2000000)))
    return "\n".join(lines) + "\n"


def main():
    os.makedirs(OUT, exist_ok=True)
    for tool in ("h2load", "wrk"):
        if not shutil.which(tool):
            raise SystemExit("%s is required (apt-get install nghttp2-client wrk)" % tool)
    node_ok = shutil.which("node") and os.path.isdir(os.path.join(B, "node", "node_modules", "@grpc"))
    if not node_ok:
        log("(Node.js glue not available: b3's Node comparison is skipped)")
    req = os.path.join(TMP, "req.bin")
    subprocess.run(["/usr/bin/python3", os.path.join(B, "mkreq.py"), req, "Echo", '{"id":"x"}'], check=True)
    t0 = time.time()
    only = sys.argv[1:] or ["b0", "b1", "b2", "b3", "b4", "b6", "plot"]
    if "b6" in only and not shutil.which("valgrind"):
        log("(valgrind not installed: b6's instruction counts are skipped)")
        only = [b for b in only if b != "b6"]
    stub, ports = start_stub(os.path.join(B, "stubs.yaml"))
    try:
        if "b0" in only:
            b0_stub(ports, req)
        if "b1" in only:
            b1_http_serial(ports)
        if "b2" in only:
            b2_grpc_concurrent(ports, req)
        if "b3" in only:
            b3_fanout(ports, req, node_ok)
        if "b6" in only:
            b6_instructions(ports)
        if "plot" in only:
            plot(ports)
    finally:
        stop(stub)
    if "b4" in only:
        b4_b5_memory(req)
    results["machine"] = {
        "nproc": os.cpu_count(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rounds": ROUNDS, "quick": QUICK, "duration_s": round(time.time() - t0, 1),
    }
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    table = summary()
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        m = results["machine"]
        f.write("Machine: %d cores, %s (shared with other work while measured); %s; median of %d interleaved rounds.\n\n"
                % (m["nproc"], m["cpu"], m["date_utc"], m["rounds"]))
        f.write(table)
    log("")
    log(table)
    log("results: bench/results/results.json, bench/results/summary.md (%.0f s)" % (time.time() - t0))


if __name__ == "__main__":   # bench/grpc_ab.py imports the helpers above
    try:
        main()
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(TMP, ignore_errors=True)
