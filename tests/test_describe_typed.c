/* `maestro describe WORKFLOW.yaml [SERVICE]` through the real binary: methods, types and JSON
 * skeletons from a descriptor set (built here with protoc-c) and by reflection from the grpcio
 * typed server; its exit codes (unknown service, untyped service, no typed service, a failed
 * reflection fetch). */
#include "typed_fx.h"

/* maestro describe WF [SVC] [--set SET]; NULL leaves an argument out. */
static int describe(const char *wf, const char *svc, const char *set, char **out, char **err) {
    char *argv[8];
    int n = 0;
    argv[n++] = "maestro";
    argv[n++] = "describe";
    argv[n++] = (char *)wf;
    if (svc) argv[n++] = (char *)svc;
    if (set) {
        argv[n++] = "--set";
        argv[n++] = (char *)set;
    }
    argv[n] = NULL;
    return th_maestro(argv, NULL, out, err);
}

TEST(describe_from_a_descriptor_set) {
    typed_dir d;
    typed_dir_make(&d);
    const char *wf = typed_dir_file(&d, "wf.yaml",
                                    "name: t\n"
                                    "services:\n"
                                    "  cloud: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: deploy.protoset}\n"
                                    "  env: {type: grpc, endpoint: \"127.0.0.1:1\"}\n"
                                    "steps:\n  - {id: a, service: cloud, method: CreateInstance}\n");
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(describe(wf, NULL, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "service cloud (grpc 127.0.0.1:1, descriptor set ");
    ASSERT_CONTAINS(out, "  acme.deploy.v1.Provisioner/CreateInstance\n"
                         "    request:  acme.deploy.v1.CreateInstanceRequest\n"
                         "    response: acme.deploy.v1.Instance\n"
                         "    input:\n"
                         "      {\n"
                         "        \"image\": \"\",\n"
                         "        \"diskGb\": 0,\n");
    ASSERT_CONTAINS(out, "        \"boot\": {\n          \"sizeGb\": 0,\n          \"zones\": []\n        },\n");
    ASSERT_CONTAINS(out, "        \"big\": \"0\",\n");
    ASSERT_CONTAINS(out, "  acme.deploy.v1.Provisioner/Watch  (server streaming: the output is an array)\n");
    ASSERT_CONTAINS(out, "  acme.deploy.v1.Provisioner/Upload  (client streaming: cannot be called)\n"
                         "    request:  acme.deploy.v1.Event\n"
                         "    response: acme.deploy.v1.Stats\n"
                         "  acme.deploy.v1.Provisioner/Chat");
    ASSERT_CONTAINS(out, "  grpc.health.v1.Health/Check\n");
    ASSERT_TRUE(strstr(out, "service env") == NULL);
    free(out);
    free(err);
    ASSERT_EQ_INT(describe(wf, "env", NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "service 'env' is not typed");
    free(out);
    free(err);
    ASSERT_EQ_INT(describe(wf, "nope", NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "no service 'nope'");
    free(out);
    free(err);
    const char *plain = typed_dir_file(&d, "plain.yaml",
                                       "name: t\nservices:\n  env: {type: grpc, endpoint: \"127.0.0.1:1\"}\n"
                                       "steps:\n  - {id: a, service: env, method: M}\n");
    ASSERT_EQ_INT(describe(plain, NULL, NULL, &out, &err), 2);
    ASSERT_CONTAINS(err, "has no typed gRPC service");
    free(out);
    free(err);
    typed_dir_remove(&d);
}

TEST_T(describe_by_reflection, 120) {
    typed_dir d;
    typed_dir_make(&d);
    th_proc srv;
    char *argv[] = {TH_PYTHON, (char *)th_path("tests/servers/grpc_typed.py"), "--port", "0", "--reflection", "v1", NULL};
    ASSERT_EQ_INT(th_spawn(&srv, argv, 60), 0);
    const char *wf = typed_dir_file(&d, "wf.yaml",
                                    "name: t\n"
                                    "services:\n"
                                    "  cloud: {type: grpc, endpoint: \"127.0.0.1:1\", descriptors: reflection, timeout: 10s}\n"
                                    "steps:\n  - {id: a, service: cloud, method: CreateInstance}\n");
    char set[96];
    snprintf(set, sizeof set, "service.cloud.endpoint=127.0.0.1:%d", srv.port);
    char *out = NULL, *err = NULL;
    int rc = describe(wf, "cloud", set, &out, &err);
    if (rc != 0) printf("stderr: %s\n", err);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_CONTAINS(out, ", reflection 127.0.0.1:");
    ASSERT_CONTAINS(out, "  acme.deploy.v1.Provisioner/DestroyInstance\n"
                         "    request:  acme.deploy.v1.DestroyRequest\n"
                         "    response: acme.deploy.v1.DestroyReply\n"
                         "    input:\n"
                         "      {\n"
                         "        \"id\": \"\"\n"
                         "      }\n");
    ASSERT_CONTAINS(out, "  acme.deploy.v1.Audit/GetStats\n");
    free(out);
    free(err);
    th_stop(&srv);
    if (srv.out) fclose(srv.out);
    /* nobody there: exit 1 with the reason */
    ASSERT_EQ_INT(describe(wf, "cloud", "service.cloud.endpoint=127.0.0.1:1", &out, &err), 1);
    ASSERT_CONTAINS(err, "maestro describe: service cloud: cannot fetch descriptors by reflection: ");
    free(out);
    free(err);
    typed_dir_remove(&d);
}

TEST(dry_run_shows_the_typed_path) {
    char *out = NULL, *err = NULL;
    char in[4200];
    snprintf(in, sizeof in, "@%s", th_path("examples/typed-deploy/input.json"));
    char *argv[] = {"maestro", "run", (char *)th_path("examples/typed-deploy/workflow.yaml"), "--input", in,
                    "--dry-run", NULL};
    ASSERT_EQ_INT(th_maestro(argv, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "\"method\":\"Deploy\",\"path\":\"/acme.deploy.v1.Deployer/Deploy\"");
    ASSERT_CONTAINS(out, "\"compensation_of\":\"provision\",\"service\":\"cloud\",\"type\":\"grpc\","
                         "\"endpoint\":\"127.0.0.1:50061\",\"method\":\"DestroyInstance\","
                         "\"path\":\"/acme.deploy.v1.Provisioner/DestroyInstance\"");
    free(out);
    free(err);
}
