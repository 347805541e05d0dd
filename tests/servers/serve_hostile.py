#!/usr/bin/env python3
"""Hostile clients against `maestro serve` (tests/test_serve_load.c).

usage: serve_hostile.py PORT PID IDLE_CONNS
Runs, all at once against one server: slowloris clients, a 1 GB body stream, IDLE_CONNS idle
connections, a client that pipelines thousands of requests and never reads, garbage bytes;
meanwhile a good client keeps making requests with http.client. Prints one JSON object with what
each saw and the server's RSS (from /proc) before, at the peak and after.
"""
import http.client
import json
import os
import socket
import sys
import threading
import time

port, pid, n_idle = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
res = {}


def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    return s


def read_all(s, limit=1 << 20):
    data = b""
    try:
        while len(data) < limit:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def slowloris():
    s = conn()
    t0 = time.time()
    closed = False
    try:
        for ch in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10000:
            s.send(bytes([ch]))
            time.sleep(0.05)
            if time.time() - t0 > 20:
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    head = read_all(s)
    res["slowloris_cut_after_s"] = round(time.time() - t0, 1)
    res["slowloris_status"] = head.split(b"\r\n", 1)[0].decode(errors="replace") if head else ("closed" if closed else "")


def big_body():
    s = conn()
    s.send(b"POST /v1/workflows/echo/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n")
    sent = 0
    chunk = b"x" * 65536
    try:
        while sent < (1 << 30):
            s.send(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    head = read_all(s)
    res["big_body_sent_mb"] = sent >> 20
    res["big_body_status"] = head.split(b"\r\n", 1)[0].decode(errors="replace") if head else "closed"


def pipeliner():
    s = conn()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 100
    sent = 0
    s.settimeout(3)
    try:
        for _ in range(1000):
            s.send(req)
            sent += 100
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    res["pipelined_sent"] = sent
    time.sleep(1)
    res["pipeliner_rss_kb"] = rss_kb()
    s.close()


def garbage():
    s = conn()
    s.send(os.urandom(4096) + b"\r\n\r\n")
    head = read_all(s)
    res["garbage_status"] = head.split(b"\r\n", 1)[0].decode(errors="replace") if head else "closed"


def idle():
    socks = []
    for _ in range(n_idle):
        try:
            socks.append(conn())
        except OSError:
            break
    res["idle_opened"] = len(socks)
    time.sleep(3)
    res["idle_rss_kb"] = rss_kb()
    # how many the server closed (past its cap): a read returns at once on those
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
        s.close()
    res["idle_closed_by_server"] = closed


def good():
    ok = bad = 0
    t_end = time.time() + 6
    while time.time() < t_end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/v1/workflows/echo/runs", body='{"n":1}')
            r = c.getresponse()
            r.read()
            ok += r.status == 200
            bad += r.status != 200
            c.close()
        except OSError:
            bad += 1
        time.sleep(0.05)
    res["good_ok"] = ok
    res["good_bad"] = bad


res["rss_before_kb"] = rss_kb()
threads = [threading.Thread(target=f) for f in (idle, slowloris, big_body, pipeliner, garbage, good)]
for t in threads:
    t.start()
for t in threads:
    t.join()
res["rss_after_kb"] = rss_kb()
print(json.dumps(res, sort_keys=True))
