/* Issue #14: docs/workflow.schema.json, the JSON Schema editors use for the workflow language,
 * accepts every example and every benchmark workflow, and rejects each broken file whose fault
 * is one of structure (the rest need references and templates: only `maestro validate` sees
 * those). Checked by tests/schema_check.py with python3-jsonschema. */
#include <dirent.h>

#include "harness.h"

/* The broken files whose fault a schema can see. */
static const char *const caught[] = {
    "attempts_out_of_range", "bad_backoff", "bad_duration", "bad_endpoints", "bad_headers_tls",
    "bad_http_verb", "bad_input_decl", "bad_jitter", "bad_name", "bad_probe", "bad_service_type",
    "bad_size", "compensate_without_method", "duplicate_keys_and_more", "empty_file",
    "foreach_missing_as_do", "http_method_no_slash", "key_not_allowed_for_kind",
    "missing_call_fields", "missing_name", "reserved_output_name", "retry_on_bad", "step_none",
    "step_two_kinds", "top_not_mapping", "unknown_key_typo", "unknown_top_key",
    "when_not_template", "wrong_types",
};

/* Runs the checker over every .yaml of dir (relative to the root); its output, caller frees. */
static char *check_dir(const char *dir, int *n) {
    char *schema = strdup(th_path("docs/workflow.schema.json"));
    char *script = strdup(th_path("tests/schema_check.py"));
    char *base = strdup(th_path(dir));
    char *argv[128] = {TH_PYTHON, script, schema};
    int argc = 3;
    DIR *d = opendir(base);
    ASSERT_NOT_NULL(d);
    struct dirent *e;
    while ((e = readdir(d)) && argc < 126) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".yaml") != 0) continue;
        if (asprintf(&argv[argc], "%s/%s", base, e->d_name) < 0) abort();
        argc++;
    }
    closedir(d);
    argv[argc] = NULL;
    *n = argc - 3;
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    if (rc != 0) th_fail(__FILE__, __LINE__, "schema_check.py: exit %d: %s", rc, err);
    free(err);
    for (int i = 3; i < argc; i++) free(argv[i]);
    free(schema);
    free(script);
    free(base);
    return out;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

TEST(examples_and_benchmarks_are_valid) {
    int n;
    char *out = check_dir("examples/workflows", &n);
    ASSERT_CMP_INT(n, >=, 6);
    ASSERT_EQ_INT(count(out, "valid "), n);
    ASSERT_FALSE(strstr(out, "invalid "));
    free(out);
    out = check_dir("bench/workflows", &n);
    ASSERT_CMP_INT(n, >=, 1);
    if (strstr(out, "invalid ") || strstr(out, "unreadable ")) th_fail(__FILE__, __LINE__, "%s", out);
    free(out);
}

TEST(broken_files_it_can_catch_fail) {
    int n;
    char *out = check_dir("tests/broken", &n);
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, "invalid %s/%s.yaml: ", th_path("tests/broken"), caught[i]);
        if (!strstr(out, want)) th_fail(__FILE__, __LINE__, "the schema accepts %s.yaml:\n%s", caught[i], out);
    }
    free(out);
}
