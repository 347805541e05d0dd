/* The journal through the embedding API (mae_engine_opts.journal_dir), in process: a transport
 * wrapped around the scripted one reads the journal file from disk at every request it is
 * handed, so "the intent is written and synced before the request leaves" is checked at the
 * moment of sending, for steps, compensations and re-sends; group commit is checked by counting
 * the writer's write+fdatasync rounds seen by calls started together. */
#include <dirent.h>
#include <unistd.h>

#include "engine_fx.h"
#include "loop/journal_run.h"

typedef struct checker {
    mae_transport base;
    mae_transport *inner;
    const char *dir;
    mae_engine *eng;
    int starts, missing;
    size_t syncs_seen[16];
} checker;

static bool journal_path(const char *dir, char *out, size_t len) {
    DIR *d = opendir(dir);
    bool ok = false;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 35) {
            snprintf(out, len, "%s/%s", dir, de->d_name);
            ok = true;
        }
    if (d) closedir(d);
    return ok;
}

static int chk_start(mae_transport *t, const mae_call_req *req, mae_call_cb cb, void *ud, mae_call **out) {
    checker *c = t->data;
    char path[512], err[256], key[300];
    mae_jfile f;
    ASSERT_TRUE(journal_path(c->dir, path, sizeof path));
    ASSERT_EQ_INT(mae__jfile_load(path, &f, err, sizeof err), 0);
    const char *kind = req->compensation ? "comp" : "step";
    snprintf(key, sizeof key, "%s:%s", kind, req->idempotency_key);
    bool found = cJSON_GetObjectItemCaseSensitive(f.intents, key) != NULL;
    if (!found && !req->compensation) {
        snprintf(key, sizeof key, "resolve:%s", req->idempotency_key);
        found = cJSON_GetObjectItemCaseSensitive(f.intents, key) != NULL;
    }
    if (!found) c->missing++;
    mae__jfile_free(&f);
    if (c->starts < 16 && c->eng->runs && c->eng->runs->jw) c->syncs_seen[c->starts] = mae__jw_syncs(c->eng->runs->jw);
    c->starts++;
    return mae_transport_start(c->inner, req, cb, ud, out);
}
static void chk_cancel(mae_transport *t, mae_call *call) { mae_transport_cancel(((checker *)t->data)->inner, call); }
static void chk_close(mae_transport *t, void (*done)(void *), void *ud) { (void)t; (void)done; (void)ud; }
static const mae_transport_vtbl chk_vt = {"check", chk_start, chk_cancel, chk_close};

static char dir[64];

/* An engine whose every call goes through the checker, journaling into a fresh directory. */
static void init(fx *f, checker *c, const char *yaml) {
    memset(f, 0, sizeof *f);
    memset(c, 0, sizeof *c);
    strcpy(dir, "/tmp/mae-jeng-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
    ASSERT_EQ_INT(uv_loop_init(&f->loop), 0);
    ASSERT_EQ_INT(mae_scripted_new(&f->loop, &f->tr), 0);
    c->base.vt = &chk_vt;
    c->base.data = c;
    c->inner = f->tr;
    c->dir = dir;
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.http = &c->base;
    o.grpc = &c->base;
    o.log_level = getenv("MAE_TEST_LOG") ? MAE_LOG_DEBUG : MAE_LOG_OFF;
    o.journal_dir = dir;
    ASSERT_EQ_INT(mae_engine_new(&f->loop, &o, &f->eng), 0);
    c->eng = f->eng;
    fx_load(f, yaml);
}

static void cleanup(void) {
    char p[512];
    if (journal_path(dir, p, sizeof p)) unlink(p);
    rmdir(dir);
}

static const char par_wf[] =
    "name: jeng\n"
    "services:\n"
    "  s: {type: http, endpoint: \"http://127.0.0.1:1\"}\n"
    "steps:\n"
    "  - parallel:\n"
    "      - {id: p1, service: s, method: \"POST /p1\", compensate: {method: \"POST /u1\"}}\n"
    "      - {id: p2, service: s, method: \"POST /p2\", compensate: {method: \"POST /u2\"}}\n"
    "      - {id: p3, service: s, method: \"POST /p3\", compensate: {method: \"POST /u3\"}}\n"
    "      - {id: p4, service: s, method: \"POST /p4\", compensate: {method: \"POST /u4\"}}\n"
    "      - {id: p5, service: s, method: \"POST /p5\", compensate: {method: \"POST /u5\"}}\n"
    "  - {id: last, service: s, method: \"POST /last\", retry: {attempts: 1}}\n";

/* Five calls started in one loop iteration: all five are sent after the same (first) write +
 * fdatasync, which carried the run's start and their five intents. Then a permanent failure,
 * and five compensations, each sent with its intent durable. */
TEST(intent_durable_before_send_and_group_commit) {
    fx f;
    checker c;
    init(&f, &c, par_wf);
    mae_script_rule *r = fx_rule(&f, "POST /last", NULL, 0, -1);
    fx_rule(&f, NULL, "{\"ok\": true}", 0, 0);
    r->fail_cls = MAE_CLASS_HTTP_4XX;
    r->fail_status = 400;
    ASSERT_EQ_INT(fx_run(&f, "{}"), 0);
    ASSERT_EQ_INT(f.status, MAE_RUN_FAILED);
    ASSERT_EQ_INT(c.starts, 11);   /* 5 + last + 5 compensations */
    ASSERT_EQ_INT(c.missing, 0);
    for (int i = 0; i < 5; i++) ASSERT_EQ_INT(c.syncs_seen[i], 1);
    ASSERT_CMP_INT(c.syncs_seen[5], >=, 2);
    /* the journal of a finished run: its end, every result, no unknown outcome */
    char path[512], err[256];
    ASSERT_TRUE(journal_path(dir, path, sizeof path));
    fx_close(&f);
    mae_jfile j;
    ASSERT_EQ_INT(mae__jfile_load(path, &j, err, sizeof err), 0);
    ASSERT_NOT_NULL(j.end);
    ASSERT_EQ_STR(cJSON_GetObjectItemCaseSensitive(j.end, "status")->valuestring, "failed");
    ASSERT_NOT_NULL(j.fail);
    ASSERT_EQ_INT(j.n_unknown, 0);
    ASSERT_EQ_INT(cJSON_GetArraySize(j.results), 11);
    ASSERT_FALSE(j.locked);
    mae__jfile_free(&j);
    cleanup();
}

/* A journal directory that cannot be created: the run is refused, nothing called, no callback. */
TEST(unwritable_journal_dir_refuses_the_run) {
    fx f;
    fx_init(&f, par_wf);
    mae_engine_opts o;
    mae_engine_opts_init(&o);
    o.http = f.tr;
    o.grpc = f.tr;
    o.log_level = MAE_LOG_OFF;
    o.journal_dir = "/dev/null/journal";
    mae_engine *e2 = NULL;
    ASSERT_EQ_INT(mae_engine_new(&f.loop, &o, &e2), 0);
    mae_run *run = NULL;
    ASSERT_EQ_INT(mae_run_start(e2, f.wf, "{}", NULL, fx_on_done, &f, &run), MAE_EIO);
    int closed = 0;
    ASSERT_EQ_INT(mae_engine_close(e2, fx_eng_closed, &f), 0);
    uv_run(&f.loop, UV_RUN_NOWAIT);
    (void)closed;
    ASSERT_EQ_INT(mae_scripted_count(f.tr, MAE_SCRIPT_CALL, NULL), 0);
    ASSERT_EQ_INT(f.done_called, 0);
    f.eng_closed = 0;
    fx_close(&f);
}

/* A run cancelled while its calls wait for their intents' sync: none is sent. */
static void cancel_soon(uv_idle_t *h) {
    mae_run *run = h->data;
    mae_run_cancel(run);
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, NULL);
}

TEST(cancelled_while_waiting_for_the_sync_sends_nothing) {
    fx f;
    checker c;
    init(&f, &c, par_wf);
    fx_rule(&f, NULL, "{}", 0, 0);
    mae_run *run = NULL;
    ASSERT_EQ_INT(mae_run_start(f.eng, f.wf, "{}", NULL, fx_on_done, &f, &run), 0);
    /* the kick-off timer starts the five calls; they wait for the first batch's sync, which
     * runs on the thread pool: an idle callback of the same iteration cancels the run first */
    static uv_idle_t idle;
    uv_idle_init(&f.loop, &idle);
    idle.data = run;
    uv_idle_start(&idle, cancel_soon);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    ASSERT_EQ_INT(f.done_called, 1);
    ASSERT_EQ_INT(f.status, MAE_RUN_INTERRUPTED);
    ASSERT_EQ_INT(c.starts, 0);
    fx_close(&f);
    cleanup();
}
