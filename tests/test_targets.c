/* Unit tests of call targets (transports/target.h): what each transport type accepts as a
 * method, a probe and an endpoint, the text it describes a call with, and the type table. */
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/grpc_target.h"
#include "harness.h"
#include "maestro/maestro.h"
#include "transports/http_target.h"
#include "transports/target.h"

static int compile(mae_arena *a, const char *type, const char *text, mae_target_use use,
                   mae_target **out, mae_target_err *err) {
    const mae_target_type *ty = mae__target_type_find(type);
    ASSERT_NOT_NULL(ty);
    memset(err, 0, sizeof *err);
    return ty->compile(a, mae__arena_strdup(a, text), use, out, err);
}

static char *describe(const mae_target *t, const char *vars_json) {
    cJSON *vars = vars_json ? cJSON_Parse(vars_json) : NULL;
    mae_scope scope = {.vars = vars};
    char *out = NULL;
    mae_eval_err err;
    int rc = mae_target_describe(t, vars ? &scope : NULL, &out, &err);
    cJSON_Delete(vars);
    if (rc != 0) {
        char *m = malloc(strlen(err.msg) + 8);
        strcpy(m, "ERROR ");
        strcat(m, err.msg);
        return m;
    }
    return out;
}

#define ASSERT_DESCRIBES(t, vars, want)      \
    do {                                     \
        char *d_ = describe((t), (vars));    \
        ASSERT_EQ_STR(d_, (want));           \
        free(d_);                            \
    } while (0)

TEST(the_table_is_keyed_by_the_service_type) {
    ASSERT_TRUE(mae__target_type_find("http") == &mae__http_target_type);
    ASSERT_TRUE(mae__target_type_find("grpc") == &mae__grpc_target_type);
    ASSERT_NULL(mae__target_type_find("HTTP"));
    ASSERT_NULL(mae__target_type_find(""));
    ASSERT_NULL(mae__target_type_find(NULL));
    /* Every entry brings every function: the loader and engine call them unchecked. */
    for (size_t i = 0; mae__target_types[i]; i++) {
        const mae_target_type *t = mae__target_types[i];
        ASSERT_NOT_NULL(t->name);
        ASSERT_TRUE(t->compile && t->describe && t->templates && t->check_endpoint);
        ASSERT_TRUE(t->default_max_response > 0);
    }
}

TEST(http_methods_compile_render_and_describe) {
    mae_arena a;
    mae__arena_init(&a, 0);
    mae_target *t;
    mae_target_err err;
    ASSERT_EQ_INT(compile(&a, "http", "GET /users/{{ .input.id }}/x", MAE_TARGET_CALL, &t, &err), 0);
    ASSERT_EQ_STR(t->text, "GET /users/{{ .input.id }}/x");
    ASSERT_DESCRIBES(t, NULL, "GET /users/{{ .input.id }}/x");
    ASSERT_DESCRIBES(t, "{\"input\":{\"id\":\"a/b ?\"}}", "GET /users/a%2Fb%20%3F/x");
    ASSERT_DESCRIBES(t, "{\"input\":{\"id\":\".\"}}", "GET /users/%2E/x");
    ASSERT_DESCRIBES(t, "{\"input\":{}}", "ERROR path: {{ .input.id }}: no field 'id' in .input");
    const mae_tmpl *tm[2];
    size_t off[2];
    ASSERT_EQ_INT(t->type->templates(t, tm, off, 2), 1);
    ASSERT_EQ_INT(off[0], 4);
    ASSERT_EQ_STR(mae__tmpl_source(tm[0]), "/users/{{ .input.id }}/x");
    const char *verb;
    char *path;
    mae_eval_err ee;
    ASSERT_EQ_INT(mae__http_target_render(t, NULL, &verb, &path, &ee), MAE_ETEMPLATE);
    /* The seed's bare name: POST /api/<lowercase>, nothing to render. */
    ASSERT_EQ_INT(compile(&a, "http", "SendOrderConfirmation", MAE_TARGET_CALL, &t, &err), 0);
    ASSERT_DESCRIBES(t, NULL, "POST /api/sendorderconfirmation");
    ASSERT_EQ_INT(t->type->templates(t, tm, off, 2), 0);
    ASSERT_EQ_INT(mae__http_target_render(t, NULL, &verb, &path, &ee), 0);
    ASSERT_EQ_STR(verb, "POST");
    ASSERT_EQ_STR(path, "/api/sendorderconfirmation");
    free(path);
    mae__arena_free(&a);
}

TEST(http_method_errors_say_what_was_expected) {
    mae_arena a;
    mae__arena_init(&a, 0);
    mae_target *t;
    mae_target_err err;
    const char *bad[] = {"get /x", "FETCH /x", "GET x", "GET /a b", "POST  ", "Send-It"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ASSERT_EQ_INT(compile(&a, "http", bad[i], MAE_TARGET_CALL, &t, &err), MAE_EPARSE);
        ASSERT_NULL(t);
        ASSERT_FALSE(err.at_offset);
        ASSERT_CONTAINS(err.msg, "invalid HTTP method '");
        ASSERT_CONTAINS(err.msg, "(expected 'VERB /path' or a method name)");
    }
    /* A template error points into the text. */
    ASSERT_EQ_INT(compile(&a, "http", "GET  /x/{{ .a +}}", MAE_TARGET_CALL, &t, &err), MAE_EPARSE);
    ASSERT_TRUE(err.at_offset);
    ASSERT_CMP_INT(err.offset, >=, 8);
    ASSERT_CONTAINS(err.msg, "template: ");
    mae__arena_free(&a);
}

TEST(probes_are_fixed_calls) {
    mae_arena a;
    mae__arena_init(&a, 0);
    mae_target *t;
    mae_target_err err;
    ASSERT_EQ_INT(compile(&a, "http", "GET /health", MAE_TARGET_PROBE, &t, &err), 0);
    ASSERT_DESCRIBES(t, NULL, "GET /health");
    const char *bad[] = {"GET /h/{{ .x }}", "PUT /x", "Health", "GET  /x", "GET /a b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ASSERT_EQ_INT(compile(&a, "http", bad[i], MAE_TARGET_PROBE, &t, &err), MAE_EPARSE);
        ASSERT_CONTAINS(err.msg, "(expected e.g. \"GET /health\")");
    }
    ASSERT_EQ_INT(compile(&a, "grpc", "Health", MAE_TARGET_PROBE, &t, &err), 0);
    ASSERT_EQ_INT(compile(&a, "grpc", "GET /health", MAE_TARGET_PROBE, &t, &err), MAE_EPARSE);
    ASSERT_EQ_STR(err.msg, "invalid probe 'GET /health' (expected a method name)");
    mae__arena_free(&a);
}

TEST(grpc_methods_are_names) {
    mae_arena a;
    mae__arena_init(&a, 0);
    mae_target *t;
    mae_target_err err;
    ASSERT_EQ_INT(compile(&a, "grpc", "CreateUser", MAE_TARGET_CALL, &t, &err), 0);
    ASSERT_EQ_STR(mae__grpc_target_method(t), "CreateUser");
    ASSERT_DESCRIBES(t, "{}", "CreateUser");
    const mae_tmpl *tm[1];
    size_t off[1];
    ASSERT_EQ_INT(t->type->templates(t, tm, off, 1), 0);
    /* A gRPC target is not an HTTP one, and the other way round. */
    const char *verb;
    char *path;
    mae_eval_err ee;
    ASSERT_EQ_INT(mae__http_target_render(t, NULL, &verb, &path, &ee), MAE_EINVAL);
    ASSERT_EQ_INT(compile(&a, "http", "CreateUser", MAE_TARGET_CALL, &t, &err), 0);
    ASSERT_NULL(mae__grpc_target_method(t));
    ASSERT_EQ_INT(compile(&a, "grpc", "POST /x", MAE_TARGET_CALL, &t, &err), MAE_EPARSE);
    ASSERT_EQ_STR(err.msg, "invalid gRPC method 'POST /x' (expected a method name such as CreateUser)");
    mae__arena_free(&a);
}

TEST(endpoints_are_checked_by_their_type) {
    mae_target_err err;
    const mae_target_type *h = mae__target_type_find("http"), *g = mae__target_type_find("grpc");
    ASSERT_EQ_INT(h->check_endpoint("http://127.0.0.1:8080/base", &err), 0);
    ASSERT_EQ_INT(h->check_endpoint("https://svc", &err), 0);
    ASSERT_EQ_INT(h->check_endpoint("127.0.0.1:8080", &err), MAE_EINVAL);
    ASSERT_EQ_STR(err.msg, "invalid http endpoint '127.0.0.1:8080': no http:// or https:// (expected "
                           "http(s)://host[:port][/base])");
    ASSERT_EQ_INT(h->check_endpoint("http://:80", &err), MAE_EINVAL);
    ASSERT_CONTAINS(err.msg, ": no host (");
    /* http(s)://host[:port][/base]: names, IPv4, bracketed IPv6; a port of 1-65535 */
    const char *good[] = {"http://h", "http://h:1", "https://h:65535/", "http://my-svc.internal_1:8080/a/b%20c",
                          "http://10.0.0.1", "http://[::1]:8080/x", "http://[2001:db8::1]", "http://[::ffff:1.2.3.4]:9"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (h->check_endpoint(good[i], &err) != 0) printf("%s: %s\n", good[i], err.msg);
        ASSERT_EQ_INT(h->check_endpoint(good[i], &err), 0);
    }
    struct { const char *ep, *why; } bad[] = {
        {"http://exa mple.com", "invalid character in the host"},
        {"http://h:notaport", "the port must be a number from 1 to 65535"},
        {"http://h:99999", "the port must be a number from 1 to 65535"},
        {"http://h:0", "the port must be a number from 1 to 65535"},
        {"http://h:", "the port must be a number from 1 to 65535"},
        {"http://h:1234567", "the port must be a number from 1 to 65535"},
        {"http://h:80x/", "the port must be a number from 1 to 65535"},
        {"http://h?x=1", "no query or fragment allowed"},
        {"http://h/base?x=1", "no query or fragment allowed"},
        {"http://h/#top", "no query or fragment allowed"},
        {"http://u:p@h", "no user name or password allowed"},
        {"http://h/a b", "blank, control or non-ASCII character in the base path"},
        {"http://h/a\x7f", "blank, control or non-ASCII character in the base path"},
        {"http://h/\xc3\xa9", "blank, control or non-ASCII character in the base path"},
        {"http://h\n", "invalid character in the host"},
        {"http://h\x01:80", "invalid character in the host"},
        {"http://[::1", "invalid IPv6 address"},
        {"http://[]:80", "invalid IPv6 address"},
        {"http://[1.2.3.4]", "invalid IPv6 address"},
        {"http://[::1]x", "invalid character in the host"},
        {"HTTP://h", "no http:// or https://"},
        {"ftp://h", "no http:// or https://"},
        {"http://", "no host"},
        {"http:///base", "no host"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        ASSERT_EQ_INT(h->check_endpoint(bad[i].ep, &err), MAE_EINVAL);
        char want[256];
        snprintf(want, sizeof want, ": %s (expected http(s)://host[:port][/base])", bad[i].why);
        ASSERT_CONTAINS(err.msg, want);
    }
    /* control bytes are escaped in the message */
    ASSERT_EQ_INT(h->check_endpoint("http://h\n", &err), MAE_EINVAL);
    ASSERT_CONTAINS(err.msg, "'http://h\\x0a'");
    ASSERT_EQ_INT(g->check_endpoint("127.0.0.1:50051", &err), 0);
    ASSERT_EQ_INT(g->check_endpoint("localhost:65535", &err), 0);
    ASSERT_EQ_INT(g->check_endpoint("localhost:65536", &err), MAE_EINVAL);
    ASSERT_EQ_INT(g->check_endpoint("http://x:1", &err), MAE_EINVAL);
    ASSERT_EQ_STR(err.msg, "invalid grpc endpoint 'http://x:1' (expected host:port or grpcs://host:port)");
    ASSERT_EQ_INT(h->default_max_response, 16u << 20);
    ASSERT_EQ_INT(g->default_max_response, 4u << 20);
}
