/* The seed's example workflows (examples/workflows) run unchanged on the engine with the
 * scripted transport standing in for the services: success renders the documented output,
 * a late failure compensates with the ids the earlier steps returned. */
#include "engine_fx.h"

static void load_example(fx *f, const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "examples/workflows/%s", name);
    char *y = th_read_file(th_path(rel), NULL);
    ASSERT_NOT_NULL(y);
    fx_init(f, NULL);
    fx_load(f, y);
    free(y);
}

static const char order_input[] =
    "{\"order_id\":\"o-1\",\"items\":[{\"sku\":\"A\",\"qty\":2}],\"total_amount\":42.5,"
    "\"payment_method\":\"card\",\"customer_id\":\"c-9\",\"shipping_address\":\"1 Main St\","
    "\"shipping_priority\":\"express\",\"customer_email\":\"a@example.com\"}";

static void order_rules(fx *f) {
    fx_rule(f, "ReserveItems", "{\"id\":\"res-7\"}", 1, 0);
    fx_rule(f, "ChargePayment", "{\"transaction_id\":\"tx-3\",\"status\":\"paid\"}", 1, 0);
    fx_rule(f, "ConfirmReservation", "{\"ok\":true}", 0, 0);
    fx_rule(f, "POST /api/sendorderconfirmation", "{\"sent\":true}", 2, 0);
    fx_rule(f, "UpdateStatistics", "{}", 0, 0);
    fx_rule(f, "ReleaseReservation", "{}", 0, 0);
    fx_rule(f, "RefundPayment", "{}", 0, 0);
}

TEST(order_processing_runs_to_its_output) {
    fx f;
    load_example(&f, "order_processing.yaml");
    order_rules(&f);
    fx_rule(&f, "CreateShipment", "{\"tracking_number\":\"trk-5\",\"estimated_delivery\":\"2026-12-01\"}", 3, 0);
    ASSERT_EQ_INT(fx_run(&f, order_input), 0);
    ASSERT_EQ_INT(f.exit_code, 0);
    char *o = cJSON_PrintUnformatted(f.output);
    ASSERT_EQ_STR(o, "{\"order_id\":\"o-1\",\"payment_id\":\"tx-3\",\"shipment_tracking\":\"trk-5\","
                     "\"estimated_delivery\":\"2026-12-01\",\"status\":\"processed\"}");
    free(o);
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, NULL), 6);
    fx_close(&f);
}

TEST(order_processing_shipment_failure_refunds_and_releases) {
    fx f;
    load_example(&f, "order_processing.yaml");
    mae_script_rule *s = fx_rule(&f, "CreateShipment", NULL, 3, -1);
    s->fail_cls = MAE_CLASS_GRPC;
    s->fail_status = MAE_GRPC_FAILED_PRECONDITION;
    s->fail_message = "address not deliverable";
    order_rules(&f);
    ASSERT_EQ_INT(fx_run(&f, order_input), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_STR(fx_str(f.report, "error.class"), "grpc:FAILED_PRECONDITION");
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    const char *comps[4] = {0}, *inputs[4] = {0};
    int k = 0;
    for (size_t i = 0; i < n && k < 4; i++)
        if (e[i].ev == MAE_SCRIPT_CALL && e[i].compensation) {
            comps[k] = e[i].method;
            inputs[k++] = e[i].input;
        }
    ASSERT_EQ_INT(k, 2);
    ASSERT_EQ_STR(comps[0], "RefundPayment");
    ASSERT_EQ_STR(inputs[0], "{\"payment_id\":\"tx-3\",\"amount\":42.5}");
    ASSERT_EQ_STR(comps[1], "ReleaseReservation");
    ASSERT_EQ_STR(inputs[1], "{\"reservation_id\":\"res-7\"}");
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, "UpdateStatistics"), 0);
    fx_close(&f);
}

TEST(video_processing_publish_failure_deletes_both_transcodes) {
    fx f;
    load_example(&f, "video_processing.yaml");
    fx_rule(&f, "ValidateMedia", "{\"storage_path\":\"/in/v.mp4\",\"suggested_timestamps\":[1,2,3],\"duration\":61}", 0, 0);
    fx_rule_in(&f, "Transcode", "720p", "{\"output_path\":\"/out/720.mp4\"}", 2, 0);
    fx_rule_in(&f, "Transcode", "1080p", "{\"output_path\":\"/out/1080.mp4\"}", 4, 0);
    fx_rule(&f, "POST /generate", "{\"paths\":[\"/t/1.jpg\"]}", 1, 0);
    mae_script_rule *p = fx_rule(&f, "POST /publish", NULL, 0, -1);
    p->fail_cls = MAE_CLASS_HTTP_4XX;
    p->fail_status = 403;
    fx_rule(&f, "DeleteFile", "{\"deleted\":true}", 0, 0);
    ASSERT_EQ_INT(fx_run(&f, "{\"file_url\":\"s3://b/v.mp4\",\"title\":\"T\"}"), 0);
    ASSERT_EQ_INT(f.exit_code, 1);
    ASSERT_EQ_INT(p->calls, 1);    /* 403 is permanent */
    size_t n;
    const mae_script_entry *e = mae_scripted_log(f.tr, &n);
    const char *del[3] = {0};
    int k = 0;
    const char *pub = NULL;
    for (size_t i = 0; i < n; i++) {
        if (e[i].ev != MAE_SCRIPT_CALL) continue;
        if (!strcmp(e[i].method, "DeleteFile") && k < 3) del[k++] = e[i].input;
        if (e[i].desc && !strcmp(e[i].desc, "POST /publish")) pub = e[i].input;
    }
    ASSERT_EQ_STR(pub, "{\"assets\":[\"/out/720.mp4\",\"/out/1080.mp4\"],\"thumbnails\":[\"/t/1.jpg\"],"
                       "\"metadata\":{\"duration\":61,\"title\":\"T\"}}");
    /* reverse completion order: 1080p finished last, so it is deleted first */
    ASSERT_EQ_INT(k, 2);
    ASSERT_EQ_STR(del[0], "{\"path\":\"/out/1080.mp4\"}");
    ASSERT_EQ_STR(del[1], "{\"path\":\"/out/720.mp4\"}");
    fx_close(&f);
}
