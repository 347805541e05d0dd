/* `maestro validate` of typed gRPC services (docs/typed-grpc.md#what-is-checked-when): with a
 * descriptor set (built here with protoc-c from tests/servers/typed/), every method name of
 * steps and compensations and every literal input key, nested too, is checked at its YAML
 * line:col, with did-you-mean and ambiguity candidates; streaming kinds Maestro cannot call are
 * refused; `descriptors: reflection` cannot be checked before a run and validates clean. */
#include "typed_fx.h"

static const char head[] =
    "name: typed\n"
    "services:\n"
    "  cloud:\n"
    "    type: grpc\n"
    "    endpoint: \"127.0.0.1:50051\"\n"
    "    descriptors: deploy.protoset\n"
    "steps:\n";

/* Validates head + steps; returns the exit code, stderr in *err (caller frees). */
static int validate(typed_dir *d, const char *steps, char **err) {
    char text[8192];
    snprintf(text, sizeof text, "%s%s", head, steps);
    const char *wf = typed_dir_file(d, "wf.yaml", text);
    char *argv[] = {"maestro", "validate", (char *)wf, NULL};
    char *out = NULL;
    int rc = th_maestro(argv, NULL, &out, err);
    free(out);
    return rc;
}

TEST(typed_valid_workflow_validates_clean) {
    typed_dir d;
    typed_dir_make(&d);
    char *err = NULL;
    int rc = validate(&d,
                      "  - id: a\n"
                      "    service: cloud\n"
                      "    method: CreateInstance\n"
                      "    input:\n"
                      "      image: \"{{ .input.image }}\"\n"
                      "      disk_gb: 20\n"
                      "      ownerName: ann\n"
                      "      tags: {team: \"{{ .input.team }}\"}\n"
                      "      labels: {web: {value: x, weight: 2}}\n"
                      "      zones: [ZONE_EU, 2]\n"
                      "      boot: {size_gb: 10, zones: [ZONE_US]}\n"
                      "    output: inst\n"
                      "    compensate: {method: DestroyInstance, input: {id: \"{{ .inst.id }}\"}}\n"
                      "  - {id: b, service: cloud, method: acme.deploy.v1.Audit/GetStats}\n"
                      "  - {id: c, service: cloud, method: /acme.deploy.v1.Provisioner/Watch, input: {count: 3}}\n"
                      "  - {id: h, service: cloud, method: Check, input: {service: \"\"}}\n",
                      &err);
    if (rc != 0) printf("stderr: %s\n", err);
    ASSERT_EQ_INT(rc, 0);
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_unknown_method_has_did_you_mean_at_its_position) {
    typed_dir d;
    typed_dir_make(&d);
    char *err = NULL;
    ASSERT_EQ_INT(validate(&d, "  - {id: a, service: cloud, method: CreateInstanse}\n", &err), 2);
    ASSERT_CONTAINS(err, "wf.yaml:8:37: error: service cloud: ");
    ASSERT_CONTAINS(err, "CreateInstanse");
    ASSERT_CONTAINS(err, "CreateInstance?");
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_ambiguous_method_lists_candidates) {
    typed_dir d;
    typed_dir_make(&d);
    char *err = NULL;
    ASSERT_EQ_INT(validate(&d, "  - {id: a, service: cloud, method: GetStats}\n", &err), 2);
    ASSERT_CONTAINS(err, "wf.yaml:8:37: error: ");
    ASSERT_CONTAINS(err, "acme.deploy.v1.Provisioner/GetStats");
    ASSERT_CONTAINS(err, "acme.deploy.v1.Audit/GetStats");
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_unknown_input_keys_nested_point_at_the_key) {
    typed_dir d;
    typed_dir_make(&d);
    char *err = NULL;
    ASSERT_EQ_INT(validate(&d,
                           "  - id: a\n"
                           "    service: cloud\n"
                           "    method: CreateInstance\n"
                           "    input:\n"
                           "      imagee: \"{{ .input.image }}\"\n"
                           "      labels: {web: {valu: x}}\n"
                           "      boot: {size_gbb: 1}\n",
                           &err),
                  2);
    ASSERT_CONTAINS(err, "wf.yaml:12:7: error: input imagee: no such field in acme.deploy.v1.CreateInstanceRequest");
    ASSERT_CONTAINS(err, "did you mean image");
    ASSERT_CONTAINS(err, "wf.yaml:13:22: error: input labels[web].valu: no such field in acme.deploy.v1.Tag");
    ASSERT_CONTAINS(err, "did you mean value");
    ASSERT_CONTAINS(err, "wf.yaml:14:14: error: input boot.size_gbb: no such field in acme.deploy.v1.Disk");
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_compensation_method_and_input_are_checked) {
    typed_dir d;
    typed_dir_make(&d);
    char *err = NULL;
    ASSERT_EQ_INT(validate(&d,
                           "  - id: a\n"
                           "    service: cloud\n"
                           "    method: CreateInstance\n"
                           "    compensate: {method: DestroyInstanse, input: {id: x}}\n"
                           "  - id: b\n"
                           "    service: cloud\n"
                           "    method: CreateInstance\n"
                           "    compensate: {method: DestroyInstance, input: {idd: x}}\n",
                           &err),
                  2);
    ASSERT_CONTAINS(err, "wf.yaml:11:26: error: service cloud: ");
    ASSERT_CONTAINS(err, "DestroyInstance?");
    ASSERT_CONTAINS(err, "wf.yaml:15:51: error: input idd: no such field in acme.deploy.v1.DestroyRequest");
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_streaming_kinds_are_refused) {
    typed_dir d;
    typed_dir_make(&d);
    char *err = NULL;
    ASSERT_EQ_INT(validate(&d,
                           "  - {id: a, service: cloud, method: Upload}\n"
                           "  - {id: b, service: cloud, method: Chat}\n",
                           &err),
                  2);
    ASSERT_CONTAINS(err, "wf.yaml:8:37: error: service cloud: acme.deploy.v1.Provisioner/Upload is a client-streaming method");
    ASSERT_CONTAINS(err, "wf.yaml:9:37: error: service cloud: acme.deploy.v1.Provisioner/Chat is a bidirectional-streaming method");
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_literal_values_of_the_wrong_type_are_found) {
    typed_dir d;
    typed_dir_make(&d);
    char *err = NULL;
    ASSERT_EQ_INT(validate(&d, "  - {id: a, service: cloud, method: CreateInstance, input: {disk_gb: twenty}}\n", &err), 2);
    ASSERT_CONTAINS(err, "wf.yaml:8:60: error: input: ");
    ASSERT_CONTAINS(err, "disk_gb");
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_full_name_without_descriptors_and_bad_descriptors_are_errors) {
    typed_dir d;
    typed_dir_make(&d);
    typed_dir_file(&d, "junk.protoset", "this is not a descriptor set at all\n");
    const char *wf = typed_dir_file(&d, "wf2.yaml",
                                    "name: t\n"
                                    "services:\n"
                                    "  env: {type: grpc, endpoint: \"127.0.0.1:1\"}\n"
                                    "  gone: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: missing.protoset}\n"
                                    "  junk: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: junk.protoset}\n"
                                    "  web: {type: http, endpoint: \"http://127.0.0.1:1\", descriptors: reflection}\n"
                                    "steps:\n"
                                    "  - {id: a, service: env, method: acme.deploy.v1.Provisioner/Watch}\n");
    char *argv[] = {"maestro", "validate", (char *)wf, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "wf2.yaml:4:60: error: cannot open descriptor set ");
    ASSERT_CONTAINS(err, "missing.protoset");
    ASSERT_CONTAINS(err, "wf2.yaml:5:60: error: descriptor set ");
    ASSERT_CONTAINS(err, "wf2.yaml:6:66: error: 'descriptors' is only for grpc services");
    ASSERT_CONTAINS(err, "wf2.yaml:8:35: error: method 'acme.deploy.v1.Provisioner/Watch' is a typed method: "
                         "service 'env' needs 'descriptors:'");
    free(out);
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_reflection_is_not_checked_by_validate) {
    typed_dir d;
    typed_dir_make(&d);
    const char *wf = typed_dir_file(&d, "wf3.yaml",
                                    "name: t\n"
                                    "services:\n"
                                    "  r: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: reflection}\n"
                                    "steps:\n"
                                    "  - {id: a, service: r, method: NoSuchMethodAnywhere, input: {nope: 1}}\n");
    char *argv[] = {"maestro", "validate", (char *)wf, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 0);
    /* and says so */
    ASSERT_CONTAINS(err, "wf3.yaml: note: service r uses descriptors: reflection; its methods and inputs are "
                         "checked when a run starts\n");
    free(out);
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_deeply_nested_literal_input_is_bounded) {
    typed_dir d;
    typed_dir_make(&d);
    /* 200 levels of {child: ...} on a recursive type, and a wrong key at the bottom */
    char steps[16384];
    size_t n = (size_t)snprintf(steps, sizeof steps, "  - id: a\n    service: cloud\n    method: Tree\n    input: ");
    for (int i = 0; i < 200; i++) n += (size_t)snprintf(steps + n, sizeof steps - n, "{child: ");
    n += (size_t)snprintf(steps + n, sizeof steps - n, "{nam: x}");
    for (int i = 0; i < 200; i++) n += (size_t)snprintf(steps + n, sizeof steps - n, "}");
    snprintf(steps + n, sizeof steps - n, "\n");
    char *err = NULL;
    int rc = validate(&d, steps, &err);
    /* no crash and no runaway: either refused as too deep or, within the bound, checked */
    ASSERT_TRUE(rc == 0 || rc == 2);
    free(err);
    /* within the bound the wrong key is found, nested */
    n = (size_t)snprintf(steps, sizeof steps, "  - id: a\n    service: cloud\n    method: Tree\n    input: ");
    for (int i = 0; i < 5; i++) n += (size_t)snprintf(steps + n, sizeof steps - n, "{child: ");
    n += (size_t)snprintf(steps + n, sizeof steps - n, "{nam: x}");
    for (int i = 0; i < 5; i++) n += (size_t)snprintf(steps + n, sizeof steps - n, "}");
    snprintf(steps + n, sizeof steps - n, "\n");
    ASSERT_EQ_INT(validate(&d, steps, &err), 2);
    ASSERT_CONTAINS(err, "input child.child.child.child.child.nam: no such field in acme.deploy.v1.Node (did you mean name?)");
    free(err);
    typed_dir_remove(&d);
}

TEST(typed_set_without_its_imports_says_how_to_build_it) {
    typed_dir d;
    typed_dir_make(&d);
    typed_dir_file(&d, "b.proto", "syntax = \"proto3\";\npackage b;\nmessage B { string x = 1; }\n");
    typed_dir_file(&d, "a.proto", "syntax = \"proto3\";\npackage a;\nimport \"b.proto\";\n"
                                  "service S { rpc M(b.B) returns (b.B); }\n");
    char inc[128], set[160];
    snprintf(inc, sizeof inc, "-I%s", d.dir);
    snprintf(set, sizeof set, "%s/a.protoset", d.dir);
    char *p[] = {"protoc-c", inc, "-o", set, "a.proto", NULL};   /* no --include_imports */
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_run(p, NULL, &out, &err), 0);
    free(out);
    free(err);
    const char *wf = typed_dir_file(&d, "wf4.yaml",
                                    "name: t\n"
                                    "services:\n"
                                    "  s: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: a.protoset}\n"
                                    "steps:\n  - {id: a, service: s, method: M}\n");
    char *argv[] = {"maestro", "validate", (char *)wf, NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "wf4.yaml:3:57: error: descriptor set ");
    ASSERT_CONTAINS(err, "b.proto");
    ASSERT_CONTAINS(err, "(build the set with protoc --include_imports)");
    free(out);
    free(err);
    typed_dir_remove(&d);
}
