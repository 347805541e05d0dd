-- wrk: the same request maestro sends for bench/workflows/http1.yaml's step (POST /echo, JSON body)
wrk.method = "POST"
wrk.body = '{"id":"x"}'
wrk.headers["Content-Type"] = "application/json"
