/* Every example workflow against its stub file, through the real binary: success variants exit
 * 0 with the expected output, failure variants exit 1 with their compensations in the right
 * order in the stub's call log. Stubs listen on free ports (the files' ports rewritten to 0)
 * and the workflow is pointed at them with --set, so nothing depends on fixed ports. */
#include <regex.h>
#include <unistd.h>

#include "harness.h"

typedef struct stubbed {
    th_proc proc;
    char *log;
    char *sets[16];      /* "--set" arguments */
    int n_sets;
} stubbed;

/* Rewrites listen ports to 0 and starts the stub; collects one --set per service. */
static void start(stubbed *s, const char *stub_file, const char *workflow) {
    char *yaml = th_read_file(th_path(stub_file), NULL);
    ASSERT_NOT_NULL(yaml);
    regex_t re;
    regcomp(&re, "listen: 127\\.0\\.0\\.1:[0-9]+", REG_EXTENDED);
    size_t cap = strlen(yaml) + 1;
    char *out = calloc(1, cap);
    const char *p = yaml;
    regmatch_t m;
    while (regexec(&re, p, 1, &m, 0) == 0) {
        strncat(out, p, (size_t)m.rm_so);
        strcat(out, "listen: 127.0.0.1:0");
        p += m.rm_eo;
    }
    strcat(out, p);
    regfree(&re);
    free(yaml);
    char *file = th_write_temp(out, strlen(out), ".yaml");
    free(out);
    s->log = th_write_temp("", 0, ".jsonl");
    const char *bin = getenv("MAESTRO_BIN");
    char *argv[] = {(char *)(bin ? bin : th_path("bin/maestro")), "stub", file, "--log", s->log, NULL};
    ASSERT_EQ_INT(th_spawn(&s->proc, argv, 20), 0);
    free(file);
    /* th_spawn consumed the first PORT line; the rest follow, one per service. */
    char *wf = th_read_file(th_path(workflow), NULL);
    int port = s->proc.port;
    char name[64];
    char line[256];
    /* The first line's name is not kept by th_spawn: recover it from the stub file order. */
    char *stub_text = th_read_file(th_path(stub_file), NULL);
    const char *first = strstr(stub_text, "services:\n  ");
    ASSERT_NOT_NULL(first);
    sscanf(first + strlen("services:\n  "), "%63[a-z_]", name);
    int n_services = 0;
    for (const char *q = first; (q = strstr(q, "\n    listen: ")); q++) n_services++;
    s->n_sets = 0;
    for (;;) {
        char key[128];
        snprintf(key, sizeof key, "  %s:\n    type: http", name);
        int http = strstr(wf, key) != NULL;
        char *set = malloc(256);
        snprintf(set, 256, "service.%s.endpoint=%s127.0.0.1:%d", name, http ? "http://" : "", port);
        s->sets[s->n_sets++] = set;
        if (s->n_sets == n_services) break;
        if (!fgets(line, sizeof line, s->proc.out) || sscanf(line, "PORT %d %63s", &port, name) != 2) break;
    }
    ASSERT_EQ_INT(s->n_sets, n_services);
    free(stub_text);
    free(wf);
}

static int run(stubbed *s, const char *workflow, const char *input, char **out, char **err) {
    char *argv[48];
    int n = 0;
    argv[n++] = "maestro";
    argv[n++] = "run";
    argv[n++] = (char *)th_path(workflow);
    argv[n++] = "--input";
    char in[256];
    snprintf(in, sizeof in, "@%s", th_path(input));
    argv[n++] = in;
    for (int i = 0; i < s->n_sets; i++) {
        argv[n++] = "--set";
        argv[n++] = s->sets[i];
    }
    argv[n] = NULL;
    return th_maestro(argv, NULL, out, err);
}

/* The "method" fields of the log, space-separated, in call order. */
static char *methods(stubbed *s) {
    ASSERT_EQ_INT(th_stop(&s->proc), 0);
    char *log = th_read_file(s->log, NULL);
    char *res = calloc(1, strlen(log) + 1);
    for (char *p = log; (p = strstr(p, "\"method\":\"")); ) {
        p += 10;
        char *e = strchr(p, '"');
        if (*res) strcat(res, " ");
        strncat(res, p, (size_t)(e - p));
        p = e;
    }
    free(log);
    unlink(s->log);
    free(s->log);
    for (int i = 0; i < s->n_sets; i++) free(s->sets[i]);
    return res;
}

static void check(const char *name, int fail, int want_rc, const char *want_out, const char *want_calls) {
    char stub[128], wf[128], input[128];
    snprintf(stub, sizeof stub, "examples/stubs/%s%s.yaml", name, fail ? ".fail" : "");
    snprintf(wf, sizeof wf, "examples/workflows/%s.yaml", name);
    snprintf(input, sizeof input, "examples/inputs/%s.json", name);
    stubbed s;
    start(&s, stub, wf);
    char *out, *err;
    int rc = run(&s, wf, input, &out, &err);
    char *calls = methods(&s);
    if (rc != want_rc) th_fail(__FILE__, __LINE__, "%s: exit %d, want %d\nstderr:\n%s", name, rc, want_rc, err);
    if (want_out) ASSERT_EQ_STR(out, want_out);
    else ASSERT_EQ_STR(out, "");
    /* "...TAIL": the log must end with TAIL (parallel branches before it log in any order). */
    if (want_calls && strncmp(want_calls, "...", 3) == 0) {
        size_t cl = strlen(calls), tl = strlen(want_calls + 3);
        if (cl < tl || strcmp(calls + cl - tl, want_calls + 3) != 0)
            th_fail(__FILE__, __LINE__, "%s: calls\n    got      \"%s\"\n    must end \"%s\"", name, calls, want_calls + 3);
    } else if (want_calls) {
        ASSERT_EQ_STR(calls, want_calls);
    }
    free(out);
    free(err);
    free(calls);
}

TEST(deploy_service_succeeds) {
    check("deploy_service", 0, 0, "{}\n",
          "CreateInstance Deploy POST /check RegisterTarget POST /send");
}
TEST(deploy_service_health_failure_undeploys_then_destroys) {
    check("deploy_service", 1, 1, NULL,
          "CreateInstance Deploy POST /check POST /check POST /check Undeploy DestroyInstance");
}
TEST(user_onboarding_succeeds) {
    check("user_onboarding", 0, 0,
          "{\"user_id\":\"u-1\",\"customer_id\":\"cus-1\",\"status\":\"onboarded\",\"welcome_email_sent\":true}\n", NULL);
}
TEST(user_onboarding_refused_premium_deletes_customer_then_user) {
    check("user_onboarding", 1, 1, NULL, "...ActivatePremiumFeatures DeleteCustomer DeleteUser");
}
TEST(order_processing_succeeds) {
    check("order_processing", 0, 0,
          "{\"order_id\":\"ord-1001\",\"payment_id\":\"tx-1\",\"shipment_tracking\":\"TRK10042\","
          "\"estimated_delivery\":\"2026-12-01\",\"status\":\"processed\"}\n", NULL);
}
TEST(order_processing_stats_failure_cancels_refunds_releases) {
    check("order_processing", 1, 1, NULL,
          "...UpdateStatistics CancelShipment RefundPayment ReleaseReservation");
}
TEST(background_check_succeeds) {
    check("background_check", 0, 0, "{\"status\":\"clear\",\"risk_level\":\"low\",\"report_id\":\"rep-1\"}\n", NULL);
}
TEST(background_check_scoring_down_fails_after_three_attempts) {
    check("background_check", 1, 1, NULL, "...EvaluateCandidate EvaluateCandidate EvaluateCandidate");
}
TEST(video_processing_succeeds) {
    check("video_processing", 0, 0,
          "{\"playback_url\":\"https://cdn.example/v/1\",\"thumbnail_url\":\"https://cdn.example/t/1.jpg\"}\n", NULL);
}
TEST(video_processing_publish_rejected_deletes_both_files) {
    check("video_processing", 1, 1, NULL, "...POST /publish DeleteFile DeleteFile");
}
TEST(lead_enrichment_succeeds) {
    check("lead_enrichment", 0, 0, "{}\n", NULL);
}
TEST(lead_enrichment_crm_rejection_fails) {
    /* Nothing to compensate: the log ends with the rejected call or its parallel sibling. */
    check("lead_enrichment", 1, 1, NULL, NULL);
}
