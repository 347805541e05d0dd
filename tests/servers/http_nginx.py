#!/usr/bin/python3
"""Runs a real nginx for the HTTP transport's tests from a generated config.

usage: http_nginx.py DIR [plain|tls]

Writes DIR/nginx.conf (daemon off; master_process off; every path inside DIR), picks a free
loopback port, starts `nginx -p DIR -c DIR/nginx.conf`, waits until the port accepts, then
prints "PORT <n>". In tls mode it first makes a self-signed certificate for 127.0.0.1
(DIR/cert.pem, also the CA file a client trusts) and serves HTTP/2 over TLS (ALPN h2).

DIR/access.log gets one line per request: "$connection $server_protocol $request_method
$request_uri $status", so a test counts distinct connections after stopping nginx.
Routes: /json → {"ok":true}; anything else → 404.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format conn '$connection $server_protocol $request_method $request_uri $status';
    access_log {dir}/access.log conn;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port}{listen_extra};
        {tls}
        location = /json {{ return 200 '{{"ok":true}}'; }}
        location / {{ return 404 '{{"error":"no route"}}'; }}
    }}
}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def exit_with_parent(on_exit=None):
    """A failed test exits without stopping its server: follow the test process out."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        if on_exit:
            on_exit()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    d = os.path.abspath(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "plain"
    tls, extra = "", ""
    if mode == "tls":
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", d + "/key.pem", "-out", d + "/cert.pem", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-addext", "basicConstraints=critical,CA:TRUE"],
                       check=True, capture_output=True)
        extra = " ssl http2"
        tls = "ssl_certificate {0}/cert.pem; ssl_certificate_key {0}/key.pem;".format(d)
    port = free_port()
    with open(d + "/nginx.conf", "w") as f:
        f.write(CONF.format(dir=d, port=port, tls=tls, listen_extra=extra))
    ng = subprocess.Popen(["nginx", "-p", d, "-c", d + "/nginx.conf"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(*_):
        # The main thread's ng.wait() returns once nginx is gone.
        ng.terminate()

    signal.signal(signal.SIGTERM, stop)
    exit_with_parent(ng.kill)
    for _ in range(200):
        if ng.poll() is not None:
            sys.stderr.write(open(d + "/error.log").read())
            return 1
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        ng.kill()
        ng.wait()
        return 1
    print("PORT %d" % port, flush=True)
    ng.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
