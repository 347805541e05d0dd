/* Unit tests of the descriptor pool (grpc_h2/pb.h): descriptor sets compiled by protoc at test
 * time, and hostile descriptors built byte by byte (import cycles, absurd nesting, missing and
 * duplicate names, garbage) that must give a clear error and never a crash. */
#include "grpc_h2/pb.h"
#include "harness.h"
#include "maestro/internal/descriptor.pb-c.h"
#include "maestro/maestro.h"
#include "pb_fx.h"

static const char *const DEPLOY =
    "syntax = \"proto3\";\n"
    "package acme.deploy.v1;\n"
    "import \"google/protobuf/timestamp.proto\";\n"
    "enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }\n"
    "message Tag { string key = 1; }\n"
    "message CreateInstanceRequest {\n"
    "  string image = 1; int32 disk_gb = 2; map<string, string> tags = 3;\n"
    "  repeated Color colors = 4; map<string, Tag> tag_objs = 5; int64 big = 6;\n"
    "  google.protobuf.Timestamp at = 7; Tag one = 8; Node tree = 9;\n"
    "  oneof choice { string a_name = 10; int32 a_num = 11; }\n"
    "  optional int32 maybe = 12;\n"
    "}\n"
    "message Node { string v = 1; Node left = 2; repeated Node kids = 3; }\n"
    "message Instance { string id = 1; string ip = 2; }\n"
    "service Provisioner {\n"
    "  rpc CreateInstance(CreateInstanceRequest) returns (Instance);\n"
    "  rpc DestroyInstance(Instance) returns (Instance);\n"
    "  rpc Get(Instance) returns (Instance);\n"
    "  rpc Watch(Instance) returns (stream Instance);\n"
    "}\n"
    "service Other { rpc Get(Tag) returns (Tag); }\n";

TEST(pool_methods_and_lookup) {
    mae__pb_pool *p = fx_pool1(DEPLOY);
    char err[256];
    const mae__pb_method *m = mae__pb_pool_method(p, "CreateInstance", err, sizeof err);
    ASSERT_NOT_NULL(m);
    ASSERT_EQ_STR(m->name, "CreateInstance");
    ASSERT_EQ_STR(m->service, "acme.deploy.v1.Provisioner");
    ASSERT_EQ_STR(m->path, "/acme.deploy.v1.Provisioner/CreateInstance");
    ASSERT_EQ_STR(mae__pb_msg_name(m->input), "acme.deploy.v1.CreateInstanceRequest");
    ASSERT_EQ_STR(mae__pb_msg_name(m->output), "acme.deploy.v1.Instance");
    ASSERT_FALSE(m->client_streaming);
    ASSERT_FALSE(m->server_streaming);
    ASSERT_TRUE(mae__pb_pool_method(p, "acme.deploy.v1.Provisioner/CreateInstance", err,
                                    sizeof err) == m);
    ASSERT_TRUE(mae__pb_pool_method(p, "/acme.deploy.v1.Provisioner/CreateInstance", err,
                                    sizeof err) == m);
    const mae__pb_method *w = mae__pb_pool_method(p, "Watch", err, sizeof err);
    ASSERT_NOT_NULL(w);
    ASSERT_TRUE(w->server_streaming);

    ASSERT_NULL(mae__pb_pool_method(p, "CreateInstanse", err, sizeof err));
    ASSERT_EQ_STR(err, "no method CreateInstanse; did you mean CreateInstance?");
    ASSERT_NULL(mae__pb_pool_method(p, "acme.deploy.v1.Provisioner/DestroyInstanc", err,
                                    sizeof err));
    ASSERT_CONTAINS(err, "did you mean acme.deploy.v1.Provisioner/DestroyInstance?");
    ASSERT_NULL(mae__pb_pool_method(p, "Get", err, sizeof err));
    ASSERT_EQ_STR(err, "Get is ambiguous: acme.deploy.v1.Provisioner/Get, acme.deploy.v1.Other/Get");
    ASSERT_NOT_NULL(mae__pb_pool_method(p, "acme.deploy.v1.Other/Get", err, sizeof err));
    ASSERT_NULL(mae__pb_pool_method(p, "Zzzzzzzzzz", err, sizeof err));
    ASSERT_CONTAINS(err, "no method Zzzzzzzzzz");
    ASSERT_TRUE(strstr(err, "did you mean") == NULL);

    const mae__pb_method *all[16];
    ASSERT_EQ_INT(mae__pb_pool_methods(p, all, 16), 5);
    ASSERT_EQ_STR(all[0]->name, "CreateInstance");
    ASSERT_EQ_STR(all[3]->name, "Watch");
    ASSERT_EQ_STR(all[4]->path, "/acme.deploy.v1.Other/Get");
    ASSERT_EQ_INT(mae__pb_pool_methods(p, all, 2), 5);

    ASSERT_NOT_NULL(mae__pb_pool_message(p, "acme.deploy.v1.Tag"));
    ASSERT_NOT_NULL(mae__pb_pool_message(p, "google.protobuf.Timestamp"));
    ASSERT_NULL(mae__pb_pool_message(p, "acme.deploy.v1.Nope"));
    mae__pb_pool_free(p);
}

TEST(pool_fields_hints_types) {
    mae__pb_pool *p = fx_pool1(DEPLOY);
    const mae__pb_msg *req = mae__pb_pool_message(p, "acme.deploy.v1.CreateInstanceRequest");
    ASSERT_NOT_NULL(req);
    char hint[64], tn[128];
    const mae__pb_field *f = mae__pb_msg_field(req, "diskGb", hint, sizeof hint);
    ASSERT_NOT_NULL(f);
    ASSERT_TRUE(mae__pb_msg_field(req, "disk_gb", hint, sizeof hint) == f);
    mae__pb_field_type_name(f, tn, sizeof tn);
    ASSERT_EQ_STR(tn, "int32");
    ASSERT_NULL(mae__pb_field_message(f));
    ASSERT_NULL(mae__pb_msg_field(req, "tagz", hint, sizeof hint));
    ASSERT_EQ_STR(hint, "tags");
    ASSERT_NULL(mae__pb_msg_field(req, "disk_gbb", hint, sizeof hint));
    ASSERT_EQ_STR(hint, "diskGb");
    ASSERT_NULL(mae__pb_msg_field(req, "qqqqqqqqqqqq", hint, sizeof hint));
    ASSERT_EQ_STR(hint, "");

    f = mae__pb_msg_field(req, "tags", hint, sizeof hint);
    mae__pb_field_type_name(f, tn, sizeof tn);
    ASSERT_EQ_STR(tn, "map<string, string>");
    ASSERT_NULL(mae__pb_field_message(f));
    f = mae__pb_msg_field(req, "tagObjs", hint, sizeof hint);
    mae__pb_field_type_name(f, tn, sizeof tn);
    ASSERT_EQ_STR(tn, "map<string, acme.deploy.v1.Tag>");
    ASSERT_TRUE(mae__pb_field_message(f) == mae__pb_pool_message(p, "acme.deploy.v1.Tag"));
    f = mae__pb_msg_field(req, "colors", hint, sizeof hint);
    mae__pb_field_type_name(f, tn, sizeof tn);
    ASSERT_EQ_STR(tn, "repeated acme.deploy.v1.Color");
    f = mae__pb_msg_field(req, "at", hint, sizeof hint);
    mae__pb_field_type_name(f, tn, sizeof tn);
    ASSERT_EQ_STR(tn, "google.protobuf.Timestamp");
    ASSERT_NULL(mae__pb_field_message(f));   /* a JSON string, no keys to check */
    f = mae__pb_msg_field(req, "one", hint, sizeof hint);
    ASSERT_TRUE(mae__pb_field_message(f) == mae__pb_pool_message(p, "acme.deploy.v1.Tag"));
    mae__pb_pool_free(p);
}

TEST(pool_skeleton) {
    mae__pb_pool *p = fx_pool1(DEPLOY);
    const mae__pb_msg *req = mae__pb_pool_message(p, "acme.deploy.v1.CreateInstanceRequest");
    cJSON *s = mae__pb_skeleton(req);
    ASSERT_NOT_NULL(s);
    char *txt = cJSON_PrintUnformatted(s);
    ASSERT_EQ_STR(txt,
                  "{\"image\":\"\",\"diskGb\":0,\"tags\":{},\"colors\":[],\"tagObjs\":{},"
                  "\"big\":\"0\",\"at\":\"1970-01-01T00:00:00Z\",\"one\":{\"key\":\"\"},"
                  "\"tree\":{\"v\":\"\",\"left\":null,\"kids\":[]},\"aName\":\"\",\"aNum\":0,"
                  "\"maybe\":0}");
    free(txt);
    cJSON_Delete(s);
    mae__pb_pool_free(p);
}

/* --- hand-built descriptors ------------------------------------------------------------------ */

static uint8_t *pack_file(Mae__Pb__FileDescriptorProto *fd, size_t *len) {
    *len = mae__pb__file_descriptor_proto__get_packed_size(fd);
    uint8_t *b = malloc(*len + 1);
    ASSERT_NOT_NULL(b);
    mae__pb__file_descriptor_proto__pack(fd, b);
    return b;
}

/* A file "name" importing deps, with one message "pkg.Msg" holding a field of type_name
 * (NULL: an int32 field). */
static uint8_t *mk_file(const char *name, const char *pkg, const char *msg, const char **deps,
                        size_t ndeps, const char *type_name, size_t *len) {
    Mae__Pb__FileDescriptorProto fd = MAE__PB__FILE_DESCRIPTOR_PROTO__INIT;
    Mae__Pb__DescriptorProto d = MAE__PB__DESCRIPTOR_PROTO__INIT;
    Mae__Pb__FieldDescriptorProto f = MAE__PB__FIELD_DESCRIPTOR_PROTO__INIT;
    Mae__Pb__DescriptorProto *dp = &d;
    Mae__Pb__FieldDescriptorProto *fp = &f;
    fd.name = (char *)name;
    fd.package = (char *)pkg;
    fd.syntax = "proto3";
    fd.dependency = (char **)deps;
    fd.n_dependency = ndeps;
    d.name = (char *)msg;
    f.name = "f";
    f.has_number = f.has_type = f.has_label = 1;
    f.number = 1;
    f.label = 1;
    f.type = type_name ? 11 : 5;
    f.type_name = (char *)type_name;
    d.field = &fp;
    d.n_field = 1;
    fd.message_type = &dp;
    fd.n_message_type = 1;
    return pack_file(&fd, len);
}

TEST(pool_readd_identical_and_conflicting) {
    mae__pb_pool *p;
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    char err[256];
    size_t l1, l2;
    uint8_t *a = mk_file("a.proto", "x", "A", NULL, 0, NULL, &l1);
    uint8_t *a2 = mk_file("a.proto", "x", "B", NULL, 0, NULL, &l2);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, a, l1, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, a, l1, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, a2, l2, err, sizeof err), MAE_EINVAL);
    ASSERT_EQ_STR(err, "a.proto: added twice with different contents");
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    ASSERT_NOT_NULL(mae__pb_pool_message(p, "x.A"));
    ASSERT_NULL(mae__pb_pool_message(p, "x.B"));
    free(a);
    free(a2);
    mae__pb_pool_free(p);
}

TEST(pool_duplicate_names_undone) {
    mae__pb_pool *p;
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    char err[256];
    size_t l1, l2;
    uint8_t *a = mk_file("a.proto", "x", "A", NULL, 0, NULL, &l1);
    uint8_t *b = mk_file("b.proto", "x", "A", NULL, 0, NULL, &l2);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, a, l1, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, l2, err, sizeof err), MAE_EINVAL);
    ASSERT_EQ_STR(err, "b.proto: duplicate message x.A (already a message)");
    /* b.proto was not kept: adding a different b.proto works. */
    free(b);
    b = mk_file("b.proto", "y", "A", NULL, 0, ".x.A", &l2);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, l2, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    const mae__pb_msg *ya = mae__pb_pool_message(p, "y.A");
    ASSERT_NOT_NULL(ya);
    char hint[32];
    const mae__pb_field *f = mae__pb_msg_field(ya, "f", hint, sizeof hint);
    ASSERT_TRUE(mae__pb_field_message(f) == mae__pb_pool_message(p, "x.A"));
    free(a);
    free(b);
    mae__pb_pool_free(p);
}

TEST(pool_missing_dependency) {
    mae__pb_pool *p;
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    char err[256];
    const char *deps[] = {"a.proto", "c.proto", "a.proto"};
    size_t l;
    uint8_t *b = mk_file("b.proto", "y", "B", deps, 3, ".x.A", &l);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, l, err, sizeof err), 0);
    const char *names[4];
    ASSERT_EQ_INT(mae__pb_pool_missing(p, names, 4), 2);
    ASSERT_EQ_STR(names[0], "a.proto");
    ASSERT_EQ_STR(names[1], "c.proto");
    ASSERT_EQ_INT(mae__pb_pool_missing(p, names, 1), 2);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), MAE_EINVAL);
    ASSERT_EQ_STR(err, "b.proto imports a.proto, which is missing");
    size_t la, lc;
    uint8_t *a = mk_file("a.proto", "x", "A", NULL, 0, NULL, &la);
    uint8_t *c = mk_file("c.proto", "z", "C", NULL, 0, NULL, &lc);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, a, la, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_missing(p, names, 4), 1);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, c, lc, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_missing(p, names, 4), 0);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    free(a);
    free(b);
    free(c);
    mae__pb_pool_free(p);
}

TEST(pool_import_cycle_and_unresolved) {
    mae__pb_pool *p;
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    char err[256];
    const char *da[] = {"b.proto"}, *db[] = {"c.proto"}, *dc[] = {"a.proto"};
    size_t la, lb, lc;
    uint8_t *a = mk_file("a.proto", "x", "A", da, 1, NULL, &la);
    uint8_t *b = mk_file("b.proto", "x", "B", db, 1, NULL, &lb);
    uint8_t *c = mk_file("c.proto", "x", "C", dc, 1, NULL, &lc);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, a, la, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, lb, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, c, lc, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), MAE_EINVAL);
    ASSERT_CONTAINS(err, "cycle of imports");
    mae__pb_pool_free(p);
    free(a);
    free(b);
    free(c);

    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    a = mk_file("a.proto", "x", "A", NULL, 0, ".x.Nope", &la);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, a, la, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), MAE_EINVAL);
    ASSERT_EQ_STR(err, "field x.A.f: unknown message type .x.Nope");
    ASSERT_NULL(mae__pb_pool_method(p, "X", err, sizeof err));   /* never linked */
    mae__pb_pool_free(p);
    free(a);

    /* A relative type name is looked up from the inner scope outwards. */
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    a = mk_file("a.proto", "x.y", "A", NULL, 0, "A", &la);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, a, la, err, sizeof err), 0);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    mae__pb_pool_free(p);
    free(a);
}

/* n DescriptorProtos nested inside each other (field 3), on the wire. */
static uint8_t *nested_file(size_t n, size_t *len) {
    size_t cap = 64 + n * 20;
    uint8_t *b = malloc(cap), *t = malloc(cap);
    ASSERT_TRUE(b && t);
    size_t bl = 0;
    b[bl++] = 0x0a;   /* name = "M" */
    b[bl++] = 1;
    b[bl++] = 'M';
    for (size_t i = 0; i < n; i++) {
        /* wrap: 0x1a (field 3, LEN) len, then name, then the previous */
        size_t tl = 0;
        t[tl++] = i + 1 == n ? 0x22 : 0x1a;   /* the outermost is FileDescriptorProto.message_type */
        size_t l = bl + 3;
        do {
            t[tl++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
            l >>= 7;
        } while (l);
        memcpy(t + tl, "\x0a\x01M", 3);
        memcpy(t + tl + 3, b, bl);
        tl += bl + 3;
        uint8_t *s = b;
        b = t;
        t = s;
        bl = tl;
    }
    free(t);
    /* a file name first */
    uint8_t *f = malloc(bl + 8);
    memcpy(f, "\x0a\x03" "n.p", 5);
    memcpy(f + 5, b, bl);
    free(b);
    *len = bl + 5;
    return f;
}

TEST(pool_hostile_nesting_and_garbage) {
    mae__pb_pool *p;
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    char err[256];
    size_t len;
    uint8_t *ok = nested_file(10, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, ok, len, err, sizeof err), 0);
    free(ok);
    uint8_t *deep = nested_file(MAE__PB_MAX_DEPTH + 1, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, deep, len, err, sizeof err), MAE_ELIMIT);
    ASSERT_CONTAINS(err, "nested deeper than 64");
    free(deep);
    deep = nested_file(5000, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, deep, len, err, sizeof err), MAE_ELIMIT);
    free(deep);

    const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01, 0x02};
    ASSERT_EQ_INT(mae__pb_pool_add_set(p, junk, sizeof junk, err, sizeof err), MAE_EDECODE);
    ASSERT_CONTAINS(err, "not a FileDescriptorSet");
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, junk, sizeof junk, err, sizeof err), MAE_EDECODE);
    ASSERT_EQ_INT(mae__pb_pool_add_set(p, NULL, 0, err, sizeof err), MAE_EDECODE);
    ASSERT_EQ_STR(err, "an empty FileDescriptorSet");
    /* A file with no name. */
    const uint8_t noname[] = {0x12, 0x01, 'x'};
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, noname, sizeof noname, err, sizeof err), MAE_EDECODE);
    ASSERT_CONTAINS(err, "without a name");
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    mae__pb_pool_free(p);
}

TEST(pool_bad_fields) {
    mae__pb_pool *p;
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    char err[256];
    Mae__Pb__FileDescriptorProto fd = MAE__PB__FILE_DESCRIPTOR_PROTO__INIT;
    Mae__Pb__DescriptorProto d = MAE__PB__DESCRIPTOR_PROTO__INIT;
    Mae__Pb__FieldDescriptorProto f1 = MAE__PB__FIELD_DESCRIPTOR_PROTO__INIT,
                                  f2 = MAE__PB__FIELD_DESCRIPTOR_PROTO__INIT;
    Mae__Pb__DescriptorProto *dp = &d;
    Mae__Pb__FieldDescriptorProto *fps[] = {&f1, &f2};
    fd.name = "bad.proto";
    fd.package = "q";
    d.name = "M";
    d.field = fps;
    d.n_field = 2;
    fd.message_type = &dp;
    fd.n_message_type = 1;
    f1.name = "a";
    f2.name = "b";
    f1.has_number = f2.has_number = f1.has_type = f2.has_type = 1;
    f1.number = f2.number = 7;
    f1.type = f2.type = 5;
    size_t len;
    uint8_t *b = pack_file(&fd, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, len, err, sizeof err), MAE_EINVAL);
    ASSERT_EQ_STR(err, "bad.proto: q.M: field number 7 used twice");
    free(b);
    f2.number = 8;
    f2.type = 99;
    b = pack_file(&fd, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, len, err, sizeof err), MAE_EINVAL);
    ASSERT_EQ_STR(err, "bad.proto: field q.M.b: unknown field type");
    free(b);
    f2.type = 5;
    f2.name = "a";
    b = pack_file(&fd, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, len, err, sizeof err), MAE_EINVAL);
    ASSERT_EQ_STR(err, "bad.proto: field q.M.a: declared twice");
    free(b);
    f2.name = "b";
    f2.number = 0;
    b = pack_file(&fd, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, len, err, sizeof err), MAE_EINVAL);
    ASSERT_EQ_STR(err, "bad.proto: field q.M.b: field number out of range");
    free(b);
    f2.number = 2;
    f2.has_oneof_index = 1;
    f2.oneof_index = 3;
    b = pack_file(&fd, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, len, err, sizeof err), MAE_EINVAL);
    ASSERT_CONTAINS(err, "oneof index out of range");
    free(b);
    f2.has_oneof_index = 0;
    d.name = "has.dot";
    b = pack_file(&fd, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, len, err, sizeof err), MAE_EINVAL);
    ASSERT_CONTAINS(err, "invalid name");
    free(b);
    d.name = "M";
    b = pack_file(&fd, &len);
    ASSERT_EQ_INT(mae__pb_pool_add_file(p, b, len, err, sizeof err), 0);
    free(b);
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    mae__pb_pool_free(p);
}

TEST(pool_too_many_files) {
    mae__pb_pool *p;
    ASSERT_EQ_INT(mae__pb_pool_new(&p), 0);
    char err[256], name[32], msg[32];
    for (int i = 0; i <= MAE__PB_MAX_FILES; i++) {
        snprintf(name, sizeof name, "f%d.proto", i);
        snprintf(msg, sizeof msg, "M%d", i);
        size_t len;
        uint8_t *b = mk_file(name, "x", msg, NULL, 0, NULL, &len);
        int rc = mae__pb_pool_add_file(p, b, len, err, sizeof err);
        free(b);
        if (i < MAE__PB_MAX_FILES) {
            ASSERT_EQ_INT(rc, 0);
        } else {
            ASSERT_EQ_INT(rc, MAE_ELIMIT);
            ASSERT_EQ_STR(err, "more than 4096 descriptor files");
        }
    }
    ASSERT_EQ_INT(mae__pb_pool_link(p, err, sizeof err), 0);
    ASSERT_NOT_NULL(mae__pb_pool_message(p, "x.M4095"));
    mae__pb_pool_free(p);
}
