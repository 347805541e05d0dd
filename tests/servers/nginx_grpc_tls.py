#!/usr/bin/python3
"""nginx as a gRPC proxy over TLS for the gRPC TLS tests: a TLS + HTTP/2 listener (ALPN h2) with
DIR/server.pem and DIR/server.key, grpc_pass to a grpcio server over TLS on 127.0.0.1:BACKEND.

usage: nginx_grpc_tls.py DIR BACKEND_PORT [tls12]
With tls12 the listener offers TLS 1.2 only (ssl_protocols TLSv1.2). Works in DIR/nginx (or
DIR/nginx-tls12): access.log has one line per call:
"$server_protocol $request_method $request_uri $status $ssl_alpn_protocol $ssl_protocol".
Prints "PORT <n>" once nginx accepts connections."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_nginx import exit_with_parent, free_port  # noqa: E402

CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    log_format calls '$server_protocol $request_method $request_uri $status $ssl_alpn_protocol $ssl_protocol';
    access_log {d}/access.log calls;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {certs}/server.pem;
        ssl_certificate_key {certs}/server.key;
        ssl_protocols {protocols};
        location / {{
            grpc_pass grpcs://127.0.0.1:{backend};
        }}
    }}
}}
"""


def main():
    certs = os.path.abspath(sys.argv[1])
    tls12 = len(sys.argv) > 3 and sys.argv[3] == "tls12"
    d = os.path.join(certs, "nginx-tls12" if tls12 else "nginx")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    with open(d + "/nginx.conf", "w") as f:
        f.write(CONF.format(d=d, certs=certs, port=port, backend=sys.argv[2],
                            protocols="TLSv1.2" if tls12 else "TLSv1.2 TLSv1.3"))
    ng = subprocess.Popen(["nginx", "-p", d, "-c", d + "/nginx.conf"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    signal.signal(signal.SIGTERM, lambda *_: ng.terminate())
    exit_with_parent(ng.kill)
    import socket
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
        return 1
    print("PORT %d" % port, flush=True)
    ng.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
