/* `maestro run` of typed gRPC calls (docs/typed-grpc.md) against a real grpcio server with typed
 * generated code (tests/servers/grpc_typed.py), through a descriptor set built here with protoc-c:
 * nested messages with maps of messages and repeated enums both ways, a server-streaming method,
 * an input that does not fit (nothing called: the server counts 0 calls), compensation through a
 * typed method, a saga of three typed steps with the third failing, grpc.health.v1 Check,
 * google.rpc.Status details in the step's error and RetryInfo honoured like pushback; the same
 * service through server reflection (v1 and v1alpha, served by grpc_typed.py, and by a real
 * @grpc/grpc-js server with @grpc/reflection and grpc-health-check). */
#include <cjson/cJSON.h>

#include "typed_fx.h"

typedef struct {
    th_proc srv;
    typed_dir d;
    char set[96];
    char *out, *err;
} fx;

static const char svc_head[] =
    "services:\n"
    "  cloud:\n"
    "    type: grpc\n"
    "    endpoint: \"127.0.0.1:1\"\n"
    "    descriptors: deploy.protoset\n"
    "    timeout: 10s\n"
    "    retry: {attempts: 3, initial: 1ms, max: 5ms}\n";

static void start_with(fx *f, const char *reflection) {
    memset(f, 0, sizeof *f);
    typed_dir_make(&f->d);
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_typed.py"), "--port", "0", "--reflection",
                    (char *)reflection, NULL};
    ASSERT_EQ_INT(th_spawn(&f->srv, argv, 60), 0);
    ASSERT_CMP_INT(f->srv.port, >, 0);
    snprintf(f->set, sizeof f->set, "service.cloud.endpoint=127.0.0.1:%d", f->srv.port);
}

static void start(fx *f) { start_with(f, "none"); }

static void stop(fx *f) {
    th_stop(&f->srv);
    if (f->srv.out) fclose(f->srv.out);
    typed_dir_remove(&f->d);
    free(f->out);
    free(f->err);
}

/* Runs "name: NAME\n" + svc_head + body with input; exit code, stdout/stderr in f. */
static int run(fx *f, const char *name, const char *body, const char *input) {
    char text[8192];
    snprintf(text, sizeof text, "name: %s\n%s%s", name, svc_head, body);
    char file[64];
    snprintf(file, sizeof file, "%s.yaml", name);
    const char *wf = typed_dir_file(&f->d, file, text);
    char *argv[] = {"maestro", "run", (char *)wf, "--input", (char *)(input ? input : "{}"), "--set", f->set, NULL};
    free(f->out);
    free(f->err);
    f->out = f->err = NULL;
    return th_maestro(argv, NULL, &f->out, &f->err);
}

/* The server's Stats {calls, log} through a typed call of its own (not counted). */
static cJSON *stats(fx *f) {
    int rc = run(f, "stats", "steps:\n  - {id: s, service: cloud, method: acme.deploy.v1.Audit/GetStats, output: s}\n"
                              "output: \"{{ .s }}\"\n", NULL);
    if (rc != 0) printf("stats stderr: %s\n", f->err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *j = cJSON_Parse(f->out);
    ASSERT_NOT_NULL(j);
    return j;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static char *log_text(const cJSON *st) {
    char *s = cJSON_PrintUnformatted(get(st, "log"));
    ASSERT_NOT_NULL(s);
    return s;
}

TEST_T(typed_call_through_a_descriptor_set_nested_maps_and_enums, 120) {
    fx f;
    start(&f);
    int rc = run(&f, "create",
                 "steps:\n"
                 "  - id: make\n"
                 "    service: cloud\n"
                 "    method: CreateInstance\n"
                 "    input:\n"
                 "      image: \"{{ .input.image }}\"\n"
                 "      disk_gb: 20\n"
                 "      tags: {team: \"{{ .input.team }}\"}\n"
                 "      labels: {web: {value: front, weight: 2}, db: {value: back}}\n"
                 "      zones: [ZONE_EU, 2]\n"
                 "      boot: {sizeGb: 10, zones: [ZONE_US, ZONE_EU]}\n"
                 "      big: \"9007199254740993\"\n"
                 "    output: inst\n"
                 "output: \"{{ .inst }}\"\n",
                 "{\"image\":\"debian\",\"team\":\"core\"}");
    if (rc != 0) printf("stderr: %s\n", f.err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(f.out);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ_STR(get(o, "id")->valuestring, "i-debian");
    ASSERT_EQ_STR(get(o, "ip")->valuestring, "10.0.0.1");
    ASSERT_EQ_INT(get(o, "diskGb")->valueint, 20);
    ASSERT_EQ_STR(get(get(o, "tags"), "team")->valuestring, "core");
    ASSERT_EQ_STR(get(get(get(o, "labels"), "web"), "value")->valuestring, "front");
    ASSERT_EQ_INT(get(get(get(o, "labels"), "web"), "weight")->valueint, 2);
    /* unset scalars come back with their default */
    ASSERT_EQ_INT(get(get(get(o, "labels"), "db"), "weight")->valueint, 0);
    ASSERT_EQ_STR(get(o, "ownerName")->valuestring, "");
    /* enums as names, in order; a number on input became its name */
    const cJSON *z = get(o, "zones");
    ASSERT_EQ_INT(cJSON_GetArraySize(z), 2);
    ASSERT_EQ_STR(cJSON_GetArrayItem(z, 0)->valuestring, "ZONE_EU");
    ASSERT_EQ_STR(cJSON_GetArrayItem(z, 1)->valuestring, "ZONE_US");
    ASSERT_EQ_INT(get(get(o, "boot"), "sizeGb")->valueint, 10);
    ASSERT_EQ_STR(cJSON_GetArrayItem(get(get(o, "boot"), "zones"), 0)->valuestring, "ZONE_US");
    /* 64-bit integers as strings, exactly */
    ASSERT_EQ_STR(get(o, "big")->valuestring, "9007199254740993");
    cJSON_Delete(o);
    stop(&f);
}

TEST_T(typed_server_streaming_method_gives_an_array, 120) {
    fx f;
    start(&f);
    int rc = run(&f, "watch",
                 "steps:\n"
                 "  - {id: w, service: cloud, method: Watch, input: {id: x, count: 3}, output: ev}\n"
                 "  - {id: none, service: cloud, method: Watch, input: {id: y, count: 0}, output: nothing}\n"
                 "output: {ev: \"{{ .ev }}\", n: \"{{ .nothing }}\"}\n",
                 NULL);
    if (rc != 0) printf("stderr: %s\n", f.err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(f.out);
    ASSERT_NOT_NULL(o);
    const cJSON *ev = get(o, "ev");
    ASSERT_EQ_INT(cJSON_GetArraySize(ev), 3);
    ASSERT_EQ_INT(get(cJSON_GetArrayItem(ev, 2), "seq")->valueint, 3);
    ASSERT_EQ_STR(get(cJSON_GetArrayItem(ev, 0), "state")->valuestring, "step-1");
    ASSERT_EQ_INT(cJSON_GetArraySize(get(o, "n")), 0);
    cJSON_Delete(o);
    stop(&f);
}

TEST_T(typed_unknown_method_and_unknown_input_field_call_nothing, 120) {
    fx f;
    start(&f);
    /* caught when the workflow is loaded */
    ASSERT_EQ_INT(run(&f, "nomethod", "steps:\n  - {id: a, service: cloud, method: CreateInstanse}\n", NULL), 2);
    ASSERT_CONTAINS(f.err, "did you mean CreateInstance?");
    ASSERT_EQ_INT(run(&f, "nofield", "steps:\n  - {id: a, service: cloud, method: CreateInstance, input: {imag: x}}\n",
                      NULL),
                  2);
    ASSERT_CONTAINS(f.err, "input imag: no such field");
    /* an input only known at run time: a template failure, nothing sent, not retried */
    ASSERT_EQ_INT(run(&f, "latefield",
                      "steps:\n"
                      "  - {id: first, service: cloud, method: CreateInstance, input: \"{{ .input.req }}\"}\n",
                      "{\"req\":{\"image\":\"x\",\"disk_gbb\":3}}"),
                  1);
    ASSERT_CONTAINS(f.err, "template");
    ASSERT_CONTAINS(f.err, "disk_gbb");
    ASSERT_EQ_INT(run(&f, "latetype",
                      "steps:\n"
                      "  - {id: first, service: cloud, method: CreateInstance, input: {disk_gb: \"{{ .input.n }}\"}}\n",
                      "{\"n\":\"twenty\"}"),
                  1);
    ASSERT_CONTAINS(f.err, "disk_gb");
    cJSON *st = stats(&f);
    char *lg = log_text(st);
    if (get(st, "calls")->valueint != 0) printf("log: %s\n", lg);
    ASSERT_EQ_INT(get(st, "calls")->valueint, 0);
    free(lg);
    cJSON_Delete(st);
    stop(&f);
}

TEST_T(typed_saga_of_three_steps_third_failing_compensates_in_reverse, 120) {
    fx f;
    start(&f);
    int rc = run(&f, "saga",
                 "steps:\n"
                 "  - id: a\n"
                 "    service: cloud\n"
                 "    method: CreateInstance\n"
                 "    input: {image: a}\n"
                 "    output: ia\n"
                 "    compensate: {method: DestroyInstance, input: {id: \"{{ .ia.id }}\"}}\n"
                 "  - id: b\n"
                 "    service: cloud\n"
                 "    method: acme.deploy.v1.Provisioner/CreateInstance\n"
                 "    input: {image: b}\n"
                 "    output: ib\n"
                 "    compensate: {method: acme.deploy.v1.Provisioner/DestroyInstance, input: {id: \"{{ .ib.id }}\"}}\n"
                 "  - id: c\n"
                 "    service: cloud\n"
                 "    method: CreateInstance\n"
                 "    input: {image: c, fail: true}\n"
                 "    compensate: {method: DestroyInstance, input: {id: never}}\n",
                 NULL);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_CONTAINS(f.err, "step 'c' failed after 1 attempt: grpc:FAILED_PRECONDITION");
    ASSERT_CONTAINS(f.err, "no capacity");
    cJSON *st = stats(&f);
    char *lg = log_text(st);
    ASSERT_EQ_STR(lg, "[\"CreateInstance:a\",\"CreateInstance:b\",\"CreateInstance:c\",\"DestroyInstance:i-b\","
                      "\"DestroyInstance:i-a\"]");
    free(lg);
    cJSON_Delete(st);
    stop(&f);
}

TEST_T(typed_health_check, 120) {
    fx f;
    start(&f);
    int rc = run(&f, "health",
                 "steps:\n"
                 "  - {id: h, service: cloud, method: grpc.health.v1.Health/Check, input: {service: \"\"}, output: h}\n"
                 "  - {id: h2, service: cloud, method: Check, output: h2}\n"
                 "output: {a: \"{{ .h.status }}\", b: \"{{ .h2.status }}\"}\n",
                 NULL);
    if (rc != 0) printf("stderr: %s\n", f.err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(f.out);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ_STR(get(o, "a")->valuestring, "SERVING");
    ASSERT_EQ_STR(get(o, "b")->valuestring, "SERVING");
    cJSON_Delete(o);
    stop(&f);
}

TEST_T(typed_status_details_decoded_and_retry_info_honoured, 120) {
    fx f;
    start(&f);
    char *rep = th_write_temp("", 0, ".json");
    char text[4096];
    snprintf(text, sizeof text,
             "name: details\n%s"
             "steps:\n"
             "  - id: ch\n"
             "    service: cloud\n"
             "    method: Charge\n"
             "    input: {account: acct1, fail_first: 1, retry_delay_ms: 400}\n"
             "    retry: {attempts: 3, initial: 1ms, max: 2ms, on: [\"grpc:RESOURCE_EXHAUSTED\"]}\n"
             "    output: ch\n"
             "  - id: full\n"
             "    service: cloud\n"
             "    method: CreateInstance\n"
             "    input: {image: z, fail: true}\n"
             "    continue_on_error: true\n"
             "output: {attempts: \"{{ .ch.attempts }}\", err: \"{{ .steps.full.error }}\"}\n",
             svc_head);
    const char *wf = typed_dir_file(&f.d, "details.yaml", text);
    char *argv[] = {"maestro", "run", (char *)wf, "--report", rep, "--set", f.set, NULL};
    int rc = th_maestro(argv, NULL, &f.out, &f.err);
    if (rc != 0) printf("stderr: %s\n", f.err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(f.out);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ_INT(get(o, "attempts")->valueint, 2);
    /* google.rpc.ErrorInfo from grpc-status-details-bin, in .steps.full.error */
    const cJSON *err = get(o, "err");
    ASSERT_EQ_STR(get(err, "class")->valuestring, "grpc:FAILED_PRECONDITION");
    const cJSON *d0 = cJSON_GetArrayItem(get(err, "details"), 0);
    ASSERT_NOT_NULL(d0);
    ASSERT_EQ_STR(get(d0, "@type")->valuestring, "type.googleapis.com/google.rpc.ErrorInfo");
    ASSERT_EQ_STR(get(d0, "reason")->valuestring, "NO_CAPACITY");
    ASSERT_EQ_STR(get(get(d0, "metadata"), "zone")->valuestring, "eu");
    cJSON_Delete(o);
    /* RetryInfo.retry_delay (400ms) was waited instead of the 1-2ms backoff */
    char *t = th_read_file(rep, NULL);
    cJSON *r = t ? cJSON_Parse(t) : NULL;
    free(t);
    ASSERT_NOT_NULL(r);
    const cJSON *s, *found = NULL;
    cJSON_ArrayForEach(s, get(r, "steps")) if (!strcmp(get(s, "id")->valuestring, "ch")) found = s;
    ASSERT_NOT_NULL(found);
    ASSERT_EQ_INT(get(found, "attempts")->valueint, 2);
    ASSERT_EQ_INT(cJSON_GetArrayItem(get(found, "retry_delays_ms"), 0)->valueint, 400);
    found = NULL;
    cJSON_ArrayForEach(s, get(r, "steps")) if (!strcmp(get(s, "id")->valuestring, "full")) found = s;
    ASSERT_NOT_NULL(found);
    ASSERT_EQ_STR(get(cJSON_GetArrayItem(get(get(found, "error"), "details"), 0), "reason")->valuestring, "NO_CAPACITY");
    cJSON_Delete(r);
    unlink(rep);
    free(rep);
    stop(&f);
}

/* The same service through server reflection: fetched when the run starts. */
static int run_reflect(fx *f, const char *body, const char *input) {
    char text[8192];
    snprintf(text, sizeof text,
             "name: refl\n"
             "services:\n"
             "  cloud:\n"
             "    type: grpc\n"
             "    endpoint: \"127.0.0.1:1\"\n"
             "    descriptors: reflection\n"
             "    timeout: 10s\n"
             "%s", body);
    const char *wf = typed_dir_file(&f->d, "refl.yaml", text);
    char *argv[] = {"maestro", "run", (char *)wf, "--input", (char *)(input ? input : "{}"), "--set", f->set, NULL};
    free(f->out);
    free(f->err);
    f->out = f->err = NULL;
    return th_maestro(argv, NULL, &f->out, &f->err);
}

static void reflection_call(const char *version) {
    fx f;
    start_with(&f, version);
    int rc = run_reflect(&f,
                         "steps:\n"
                         "  - id: make\n"
                         "    service: cloud\n"
                         "    method: CreateInstance\n"
                         "    input: {image: \"{{ .input.image }}\", labels: {web: {weight: 7}}, zones: [ZONE_US]}\n"
                         "    output: inst\n"
                         "    compensate: {method: DestroyInstance, input: {id: \"{{ .inst.id }}\"}}\n"
                         "  - {id: h, service: cloud, method: grpc.health.v1.Health/Check, output: h}\n"
                         "output: {inst: \"{{ .inst }}\", h: \"{{ .h.status }}\"}\n",
                         "{\"image\":\"alpine\"}");
    if (rc != 0) printf("stderr: %s\n", f.err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(f.out);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ_STR(get(get(o, "inst"), "id")->valuestring, "i-alpine");
    ASSERT_EQ_INT(get(get(get(get(o, "inst"), "labels"), "web"), "weight")->valueint, 7);
    ASSERT_EQ_STR(cJSON_GetArrayItem(get(get(o, "inst"), "zones"), 0)->valuestring, "ZONE_US");
    ASSERT_EQ_STR(get(o, "h")->valuestring, "SERVING");
    cJSON_Delete(o);
    cJSON *st = stats(&f);
    char *lg = log_text(st);
    ASSERT_EQ_STR(lg, "[\"Reflection\",\"CreateInstance:alpine\",\"Check:\"]");
    free(lg);
    cJSON_Delete(st);
    stop(&f);
}

TEST_T(typed_call_through_reflection_v1, 120) { reflection_call("v1"); }
TEST_T(typed_call_through_reflection_v1alpha, 120) { reflection_call("v1alpha"); }

TEST_T(typed_reflection_unknown_method_or_field_fails_the_run_before_any_call, 120) {
    fx f;
    start_with(&f, "v1");
    ASSERT_EQ_INT(run_reflect(&f,
                              "steps:\n"
                              "  - {id: a, service: cloud, method: CreateInstance, input: {image: a}}\n"
                              "  - {id: b, service: cloud, method: DestroyInstanse, input: {id: x}}\n",
                              NULL),
                  1);
    ASSERT_CONTAINS(f.err, "refl.yaml:10:5: service cloud: no method DestroyInstanse; did you mean DestroyInstance?");
    ASSERT_EQ_INT(run_reflect(&f,
                              "steps:\n"
                              "  - {id: a, service: cloud, method: CreateInstance, input: {image: a}}\n"
                              "  - {id: b, service: cloud, method: DestroyInstance, input: {idd: x}}\n",
                              NULL),
                  1);
    ASSERT_CONTAINS(f.err, "input idd: no such field in acme.deploy.v1.DestroyRequest");
    ASSERT_EQ_INT(run_reflect(&f, "steps:\n  - {id: a, service: cloud, method: Chat}\n", NULL), 1);
    ASSERT_CONTAINS(f.err, "bidirectional-streaming");
    cJSON *st = stats(&f);
    char *lg = log_text(st);
    /* reflection was asked three times; nothing else was called */
    ASSERT_EQ_STR(lg, "[\"Reflection\",\"Reflection\",\"Reflection\"]");
    free(lg);
    cJSON_Delete(st);
    stop(&f);
}

TEST_T(typed_reflection_unavailable_fails_the_run_with_a_clear_message, 120) {
    fx f;
    start_with(&f, "none");
    ASSERT_EQ_INT(run_reflect(&f, "steps:\n  - {id: a, service: cloud, method: CreateInstance}\n", NULL), 1);
    ASSERT_CONTAINS(f.err, "service cloud: cannot fetch descriptors by reflection: ");
    cJSON *st = stats(&f);
    ASSERT_EQ_INT(get(st, "calls")->valueint, 0);
    cJSON_Delete(st);
    stop(&f);
}

/* The same through a real @grpc/grpc-js server with @grpc/reflection and grpc-health-check from
 * npm (tests/servers/grpc_node_reflect.js): typed calls, a Timestamp and an int64 back, a
 * server-streaming method, and grpc.health.v1.Health/Check answered by the real health
 * implementation, described by the real reflection service. */
static void node_reflection(const char *version) {
    typed_dir d;
    typed_dir_make(&d);
    th_proc srv;
    char *argv[] = {"node", (char *)th_path("tests/servers/grpc_node_reflect.js"), "--port", "0", "--reflection",
                    (char *)version, NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 60), 0);
    const char *wf = typed_dir_file(&d, "node.yaml",
                                    "name: node\n"
                                    "services:\n"
                                    "  cloud: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: reflection, timeout: 10s}\n"
                                    "steps:\n"
                                    "  - id: make\n"
                                    "    service: cloud\n"
                                    "    method: CreateInstance\n"
                                    "    input: {image: deb, disk_gb: 3, zone: ZONE_EU, memory_bytes: \"8589934593\"}\n"
                                    "    output: inst\n"
                                    "  - {id: list, service: cloud, method: ListInstances, input: {count: 2}, output: list}\n"
                                    "  - {id: h, service: cloud, method: grpc.health.v1.Health/Check,\n"
                                    "     input: {service: acme.deploy.v1.Provisioner}, output: h}\n"
                                    "output: {inst: \"{{ .inst }}\", n: \"{{ len(.list) }}\", id1: \"{{ .list[1].id }}\",\n"
                                    "         h: \"{{ .h.status }}\"}\n");
    char set[96];
    snprintf(set, sizeof set, "service.cloud.endpoint=127.0.0.1:%d", srv.port);
    char *a[] = {"maestro", "run", (char *)wf, "--set", set, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_maestro(a, NULL, &out, &err);
    if (rc != 0) printf("stderr: %s\n", err);
    ASSERT_EQ_INT(rc, 0);
    cJSON *o = cJSON_Parse(out);
    ASSERT_NOT_NULL(o);
    const cJSON *inst = get(o, "inst");
    ASSERT_EQ_STR(get(inst, "id")->valuestring, "i-deb");
    ASSERT_EQ_INT(get(inst, "diskGb")->valueint, 3);
    ASSERT_EQ_STR(get(inst, "zone")->valuestring, "ZONE_EU");
    ASSERT_EQ_STR(get(inst, "memoryBytes")->valuestring, "8589934593");
    ASSERT_EQ_STR(get(inst, "created")->valuestring, "2024-01-02T03:04:05Z");
    ASSERT_EQ_INT(get(o, "n")->valueint, 2);
    ASSERT_EQ_STR(get(o, "id1")->valuestring, "i-list-1");
    ASSERT_EQ_STR(get(o, "h")->valuestring, "SERVING");
    cJSON_Delete(o);
    free(out);
    free(err);
    th_stop(&srv);
    if (srv.out) fclose(srv.out);
    typed_dir_remove(&d);
}

TEST_T(typed_calls_through_grpc_js_reflection_v1, 120) { node_reflection("v1"); }
TEST_T(typed_calls_through_grpc_js_reflection_v1alpha, 120) { node_reflection("v1alpha"); }
