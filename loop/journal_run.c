/* The engine's journal hooks and the journal reader (loop/journal_run.h). The hooks only build
 * record payloads and hand them to the writer; the one that changes the run's course is the
 * intent, which makes a call wait for durability before it is sent. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loop/engine_int.h"
#include "loop/journal_run.h"
#include "workflow/fnv.h"
#include "workflow/json_out.h"

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *mae__journal_default_dir(char *buf, size_t len) {
    const char *j = getenv("MAESTRO_JOURNAL");
    if (j && *j) return j;
    const char *x = getenv("XDG_STATE_HOME");
    if (x && *x == '/') {
        snprintf(buf, len, "%s/maestro/runs", x);
        return buf;
    }
    const char *h = getenv("HOME");
    snprintf(buf, len, "%s/.local/state/maestro/runs", h && *h ? h : ".");
    return buf;
}

int mae__file_digest(const char *path, char out[33]) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return MAE_EIO;
    uint64_t h = MAE_FNV1A64_INIT;
    unsigned char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = mae__fnv1a64(h, buf, n);
    int err = ferror(f);
    fclose(f);
    if (err) return MAE_EIO;
    snprintf(out, 33, "fnv1a64:%016llx", (unsigned long long)h);
    return 0;
}

/* mkdir -p, mode 0700: journals hold inputs and outputs. */
static int mkdirs(const char *dir) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* Serialises o and queues it (o is freed). */
static int put(mae_run *run, uint8_t type, cJSON *o, mae_jw_cb cb, void *ud) {
    if (!o) return MAE_ENOMEM;
    char *txt = NULL;
    size_t len = 0;
    int rc = mae__json_print(o, MAE_JRNL_MAX_PAYLOAD, &txt, &len);
    cJSON_Delete(o);
    if (rc != 0) return rc == MAE_ELIMIT ? MAE_ETOOBIG : MAE_ENOMEM;
    rc = mae__jw_append(run->jw, type, txt, len, cb, ud);
    free(txt);
    return rc;
}

static void jr_broken(mae_run *run, int uverr) {
    if (run->jr_failed) return;
    run->jr_failed = true;
    mae__log(run, MAE_LOG_ERROR, NULL, 0, -1, "internal", "journal %s cannot be written: %s; nothing more is sent",
             run->jr_path ? run->jr_path : "", uv_strerror(uverr));
}

static void start_cb(int status, void *ud) {
    mae_run *run = ud;
    if (status) jr_broken(run, status);
}

static int open_locked(mae_run *run, const char *path, bool create, size_t valid_end) {
    /* the writer holds an flock: `maestro runs` tells a live run from a dead one by it */
    int rc = mae__jw_open(run->eng->loop, path, create, valid_end, &run->jw);
    if (rc == 0) mae__jw_set_stats(run->jw, &run->eng->jstats);
    return rc;
}

int mae__jr_run_open(mae_run *run, const cJSON *input) {
    const char *dir = run->eng->opts.journal_dir;
    if (!dir) return 0;
    size_t pl = strlen(dir) + 40;
    run->jr_path = malloc(pl);
    if (!run->jr_path) return MAE_ENOMEM;
    snprintf(run->jr_path, pl, "%s/%s.mj", dir, run->id);
    int rc = mkdirs(dir) != 0 ? uv_translate_sys_error(errno) : open_locked(run, run->jr_path, true, 0);
    if (rc) {
        mae__elog(run->eng, MAE_LOG_ERROR, "journal %s cannot be created: %s; the run does not start", run->jr_path,
                  uv_strerror(rc));
        return MAE_EIO;
    }
    const mae_workflow *wf = run->wf;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "v", MAE_JRNL_VERSION);
    cJSON_AddStringToObject(o, "run_id", run->id);
    cJSON_AddStringToObject(o, "trace_id", run->trace_id);
    cJSON_AddStringToObject(o, "workflow", wf->name ? wf->name : "");
    char *abs = wf->file ? realpath(wf->file, NULL) : NULL;
    char dg[33];
    if (abs) cJSON_AddStringToObject(o, "file", abs);
    else cJSON_AddNullToObject(o, "file");
    if (abs && mae__file_digest(abs, dg) == 0) cJSON_AddStringToObject(o, "digest", dg);
    else cJSON_AddNullToObject(o, "digest");
    free(abs);
    /* a reference, not a copy: the input is printed once and left alone (a 100k-item input
     * was duplicated, 100k allocations, only to be printed) */
    if (input) cJSON_AddItemReferenceToObject(o, "input", (cJSON *)input);
    else cJSON_AddItemToObject(o, "input", cJSON_CreateObject());
    /* --set changes endpoints: a resume must call the same services */
    cJSON *eps = cJSON_AddObjectToObject(o, "endpoints");
    for (size_t i = 0; eps && i < wf->n_services; i++)
        if (wf->services[i].name && wf->services[i].endpoint)
            cJSON_AddStringToObject(eps, wf->services[i].name, wf->services[i].endpoint);
    cJSON_AddNumberToObject(o, "started_at", (double)run->started_wall_ms);
    return put(run, MAE_JR_RUN_START, o, start_cb, run) == 0 ? 0 : MAE_EIO;
}

int mae__jr_run_reopen(mae_run *run, mae_jfile *f, mae_replay_mode mode) {
    run->jr_path = strdup(f->path);
    if (!run->jr_path) return MAE_ENOMEM;
    int rc = open_locked(run, f->path, false, f->scan.valid_end);
    if (rc) {
        mae__elog(run->eng, MAE_LOG_ERROR, "journal %s cannot be opened: %s", f->path, uv_strerror(rc));
        return rc == UV_EBUSY ? MAE_ESTATE : MAE_EIO;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", mode == MAE_REPLAY_COMPENSATE ? "compensate" : "resume");
    cJSON_AddNumberToObject(o, "at", (double)wall_ms());
    return put(run, MAE_JR_RESUME, o, start_cb, run) == 0 ? 0 : MAE_EIO;
}

static const char *kind_of(const mae_callnode *c) {
    return !c->is_comp ? "step" : c->resolving ? "resolve" : "comp";
}

static const char *step_of(const mae_callnode *c) { return c->base.step && c->base.step->id ? c->base.step->id : ""; }

/* The per-call records are written straight into one buffer the run reuses: building a cJSON
 * object (and a copy of the output) only to print it cost about 40 allocations per call, and
 * a long foreach spent its time in malloc (issue #17). The text is the same as the objects'. */
#define RAW(t, lit) mae__jtext_raw((t), (lit), sizeof(lit) - 1)

static mae_jtext *call_rec(mae_callnode *c, const char *count_key, int count) {
    mae_jtext *t = &c->base.run->jr_text;
    t->len = 0;
    t->rc = 0;
    t->max = MAE_JRNL_MAX_PAYLOAD;
    RAW(t, "{\"k\":");
    mae__jtext_str(t, c->idem_key);
    RAW(t, ",\"kind\":\"");
    mae__jtext_raw(t, kind_of(c), strlen(kind_of(c)));
    RAW(t, "\",\"step\":");
    mae__jtext_str(t, step_of(c));
    RAW(t, ",\"index\":");
    mae__jtext_num(t, c->base.index);
    mae__jtext_raw(t, count_key, strlen(count_key));
    mae__jtext_num(t, count);
    return t;
}

/* Queues the record written in t (left for reuse). */
static int put_text(mae_run *run, uint8_t type, mae_jtext *t, mae_jw_cb cb, void *ud) {
    if (t->rc) return t->rc == MAE_ELIMIT ? MAE_ETOOBIG : MAE_ENOMEM;
    return mae__jw_append(run->jw, type, t->p, t->len, cb, ud);
}

static void intent_cb(int status, void *ud) {
    mae_callnode *c = ud;
    mae_run *run = c->base.run;
    if (status) jr_broken(run, status);
    else run->jr_durable = true;
    mae__call_journaled(c, status);
}

int mae__jr_intent(mae_callnode *c) {
    mae_run *run = c->base.run;
    /* a call goes out live: the replay is over, pumps stop at failures again */
    if (run->replay) run->replaying = false;
    if (!run->jw) return 0;
    if (mae__jw_error(run->jw) || run->jr_failed) {
        /* compensations go out unjournaled: undoing beats leaving the side effect */
        return c->is_comp ? 0 : MAE_EIO;
    }
    mae_jtext *t = call_rec(c, ",\"attempt\":", c->attempts);
    RAW(t, "}");
    int rc = put_text(run, MAE_JR_INTENT, t, intent_cb, c);
    if (rc) return c->is_comp ? 0 : rc;
    c->jwait = true;
    return 1;
}

void mae__jr_result(mae_callnode *c) {
    mae_run *run = c->base.run;
    if (!run->jw || c->replayed || run->jr_failed) return;
    c->jseq = ++run->jr_seq;
    mae_jtext *t = call_rec(c, ",\"attempts\":", c->attempts);
    RAW(t, ",\"ok\":");
    if (c->cls == MAE_CLASS_NONE) {
        RAW(t, "true,\"output\":");
        mae__jtext_value(t, c->output);
    } else {
        char cn[64];
        mae__class_format(c->cls, c->status, cn, sizeof cn);
        RAW(t, "false,\"class\":");
        mae__jtext_str(t, cn);
        RAW(t, ",\"cls\":");
        mae__jtext_num(t, c->cls);
        RAW(t, ",\"status\":");
        mae__jtext_num(t, c->status);
        RAW(t, ",\"message\":");
        mae__jtext_str(t, c->msg ? c->msg : "");
        if (c->sent) RAW(t, ",\"sent\":true");
        else RAW(t, ",\"sent\":false");
    }
    RAW(t, "}");
    put_text(run, MAE_JR_RESULT, t, NULL, NULL);
}

void mae__jr_fail(mae_run *run) {
    if (!run->jw || run->jr_failed) return;
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    if (run->fail_step) cJSON_AddStringToObject(o, "step", run->fail_step);
    else cJSON_AddNullToObject(o, "step");
    cJSON_AddStringToObject(o, "class", run->fail_class);
    cJSON_AddNumberToObject(o, "cls", run->fail_cls);
    cJSON_AddNumberToObject(o, "status", run->fail_status);
    cJSON_AddStringToObject(o, "message", run->fail_msg ? run->fail_msg : "");
    put(run, MAE_JR_FAIL, o, NULL, NULL);
}

typedef struct end_ctx {
    mae_run *run;
    void (*done)(mae_run *run);
} end_ctx;

static void end_closed(void *ud) {
    end_ctx *x = ud;
    mae_run *run = x->run;
    void (*done)(mae_run *) = x->done;
    free(x);
    done(run);
}

void mae__jr_run_end(mae_run *run, void (*done)(mae_run *run)) {
    end_ctx *x = malloc(sizeof *x);
    if (!x) {
        /* the file still closes; only the callback's context is missing: leak nothing, wait not
           (and the writer may now outlive the engine: it stops timing into it) */
        mae__jw_set_stats(run->jw, NULL);
        mae__jw_close(run->jw, NULL, NULL);
        run->jw = NULL;
        done(run);
        return;
    }
    x->run = run;
    x->done = done;
    if (!run->jr_failed) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "status", mae_run_status_name(run->status));
            cJSON_AddItemToObject(o, "report", run->report ? cJSON_Duplicate(run->report, 1) : cJSON_CreateNull());
        }
        put(run, MAE_JR_RUN_END, o, NULL, NULL);
    }
    mae_jwriter *w = run->jw;
    run->jw = NULL;
    mae__jw_close(w, end_closed, x);
}

/* --- the key index --- */

static size_t ix_hash(const char *s) {
    uint64_t h = mae__fnv1a64_str(s);
    return (size_t)(h ^ (h >> 29));
}

/* The slot holding key, or the empty slot where it would go. cap is a power of two. */
static cJSON **ix_slot(const mae_jindex *ix, const char *key) {
    size_t m = ix->cap - 1, i = ix_hash(key) & m;
    while (ix->slot[i] && strcmp(ix->slot[i]->string, key) != 0) i = (i + 1) & m;
    return &ix->slot[i];
}

static cJSON *ix_get(const mae_jindex *ix, const char *key) {
    return ix->cap && key ? *ix_slot(ix, key) : NULL;
}

/* Points key's slot at item (whose ->string is key), replacing what was there. 0 or MAE_ENOMEM. */
static int ix_put(mae_jindex *ix, cJSON *item) {
    if ((ix->n + 1) * 2 > ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 64;
        cJSON **old = ix->slot;
        size_t ocap = ix->cap;
        ix->slot = calloc(cap, sizeof *ix->slot);
        if (!ix->slot) {
            ix->slot = old;
            return MAE_ENOMEM;
        }
        ix->cap = cap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i]) *ix_slot(ix, old[i]->string) = old[i];
        free(old);
    }
    cJSON **s = ix_slot(ix, item->string);
    if (!*s) ix->n++;
    *s = item;
    return 0;
}

cJSON *mae__jfile_result(const mae_jfile *f, const char *kind_key) { return ix_get(&f->results_ix, kind_key); }
cJSON *mae__jfile_intent(const mae_jfile *f, const char *kind_key) { return ix_get(&f->intents_ix, kind_key); }

/* --- replay --- */

static cJSON *lookup(const mae_jindex *ix, const char *kind, const char *key) {
    if (!key) return NULL;
    size_t l = strlen(kind) + strlen(key) + 2;
    char *k = malloc(l);
    if (!k) return NULL;
    snprintf(k, l, "%s:%s", kind, key);
    cJSON *r = ix_get(ix, k);
    free(k);
    return r;
}

static int num(const cJSON *o, const char *name, int dflt) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(n) ? (int)n->valuedouble : dflt;
}

static void set_msg(mae_callnode *c, const char *m) {
    free(c->msg);
    c->msg = strdup(m ? m : "");
}

int mae__jr_replay(mae_callnode *c) {
    mae_run *run = c->base.run;
    mae_jfile *f = run->replay;
    if (!f) return 0;
    const char *kind = kind_of(c);
    cJSON *r = lookup(&f->results_ix, kind, c->idem_key);
    if (r) {
        c->replayed = true;
        c->jseq = (uint64_t)num(r, "seq", 0);
        c->attempts = num(r, "attempts", 1);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
            c->cls = MAE_CLASS_NONE;
            cJSON *out = cJSON_GetObjectItemCaseSensitive(r, "output");
            cJSON_Delete(c->output);
            c->output = out && !cJSON_IsNull(out) ? cJSON_Duplicate(out, 1) : NULL;
            return 1;
        }
        c->cls = (mae_class)num(r, "cls", MAE_CLASS_INTERNAL);
        c->status = num(r, "status", 0);
        c->sent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "sent"));
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "message");
        set_msg(c, cJSON_IsString(m) ? m->valuestring : "");
        return 1;
    }
    if (run->replay_mode != MAE_REPLAY_COMPENSATE || c->is_comp) return 0;
    /* compensate: nothing new is started; a call that may have gone out is learnt by re-sending
     * it in the compensation phase (outcome_unknown), one that never did is cancelled */
    bool sent = lookup(&f->intents_ix, kind, c->idem_key) != NULL;
    mae__run_fail(run, NULL, MAE_CLASS_CANCELLED, 0, 0, "compensating an interrupted run (maestro compensate)");
    c->cls = MAE_CLASS_CANCELLED;
    c->status = 0;
    c->sent = sent;
    set_msg(c, sent ? "interrupted with its outcome unknown" : "not started: the run is being compensated");
    return 1;
}

uint64_t mae__jr_seq(mae_run *run, const mae_callnode *c) {
    if (c->replayed) return c->jseq;
    /* live completions come after everything the journal held */
    uint64_t base = run->replay ? (uint64_t)run->replay->scan.n_records : 0;
    return base + (c->jseq ? c->jseq : ++run->jr_seq);
}

void mae__jr_run_free(mae_run *run) {
    if (run->replay) {
        mae__jfile_free(run->replay);
        free(run->replay);
        run->replay = NULL;
    }
    free(run->jr_path);
    run->jr_path = NULL;
    free(run->jr_text.p);
    memset(&run->jr_text, 0, sizeof run->jr_text);
}

/* --- reading a journal --- */

typedef struct load_ctx {
    mae_jfile *f;
    size_t seq;
} load_ctx;

/* Files rec under "kind:key" in obj, replacing an earlier record of that key. */
static void put_keyed(cJSON *obj, mae_jindex *ix, cJSON *rec) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(rec, "k");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(rec, "kind");
    if (!cJSON_IsString(k) || !cJSON_IsString(kind)) {
        cJSON_Delete(rec);
        return;
    }
    size_t l = strlen(kind->valuestring) + strlen(k->valuestring) + 2;
    char *key = malloc(l);
    if (!key) {
        cJSON_Delete(rec);
        return;
    }
    snprintf(key, l, "%s:%s", kind->valuestring, k->valuestring);
    cJSON *old = ix_get(ix, key);
    rec->string = key;   /* rec is a parsed object: not a member yet, no key of its own */
    if (ix_put(ix, rec) != 0) {
        cJSON_Delete(rec);   /* frees the key too */
        return;
    }
    if (old) cJSON_ReplaceItemViaPointer(obj, old, rec);
    else cJSON_AddItemToArray(obj, rec);   /* an object is a list of keyed members */
}

static int on_rec(const mae_jrec *rec, void *ud) {
    load_ctx *x = ud;
    mae_jfile *f = x->f;
    x->seq++;
    cJSON *o = cJSON_ParseWithLength((const char *)rec->payload, rec->len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return 0;   /* a whole record we cannot read is skipped, not guessed at */
    }
    switch (rec->type) {
    case MAE_JR_RUN_START:
        if (!f->start) f->start = o;
        else cJSON_Delete(o);
        return 0;
    case MAE_JR_INTENT: put_keyed(f->intents, &f->intents_ix, o); return 0;
    case MAE_JR_RESULT: {
        cJSON_AddNumberToObject(o, "seq", (double)x->seq);
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "ok");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "step");
        if (cJSON_IsTrue(ok) && cJSON_IsString(kind) && strcmp(kind->valuestring, "step") == 0 && cJSON_IsString(st)) {
            free(f->last_step);
            f->last_step = strdup(st->valuestring);
        }
        put_keyed(f->results, &f->results_ix, o);
        return 0;
    }
    case MAE_JR_FAIL:
        f->compensating = true;
        if (!f->fail) f->fail = o;
        else cJSON_Delete(o);
        return 0;
    case MAE_JR_RESUME: {
        f->resumes++;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "mode");
        if (cJSON_IsString(m) && strcmp(m->valuestring, "compensate") == 0) f->compensating = true;
        cJSON_Delete(o);
        return 0;
    }
    case MAE_JR_RUN_END:
        cJSON_Delete(f->end);
        f->end = o;
        return 0;
    default: cJSON_Delete(o); return 0;
    }
}

int mae__jfile_load(const char *path, mae_jfile *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->results = cJSON_CreateObject();
    f->intents = cJSON_CreateObject();
    if (!f->path || !f->results || !f->intents) {
        snprintf(err, errlen, "out of memory");
        return MAE_ENOMEM;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return MAE_EIO;
    }
    f->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) f->locked = true;
    else flock(fd, LOCK_UN);
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = 0;
    while (buf && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return MAE_ENOMEM;
    }
    int rc = mae__jfile_load_buf(buf, got, f, err, errlen);
    free(buf);
    return rc;
}

int mae__jfile_load_buf(const uint8_t *buf, size_t n, mae_jfile *f, char *err, size_t errlen) {
    const char *path = f->path ? f->path : "journal";
    if (!f->results && !(f->results = cJSON_CreateObject())) return MAE_ENOMEM;
    if (!f->intents && !(f->intents = cJSON_CreateObject())) return MAE_ENOMEM;
    load_ctx x = {f, 0};
    mae__jrnl_scan(buf, n, on_rec, &x, &f->scan);
    if (f->scan.header != 0 && !(f->scan.header == MAE_ENOTFOUND)) {
        snprintf(err, errlen, "%s: not a Maestro journal (or a version this build does not read)", path);
        return MAE_EDECODE;
    }
    if (!f->start && !f->scan.damaged) {
        snprintf(err, errlen, "%s: the run's start record is missing: nothing was sent", path);
        return MAE_EDECODE;
    }
    for (cJSON *i = f->intents->child; i; i = i->next)
        if (!mae__jfile_result(f, i->string)) f->n_unknown++;
    return 0;
}

void mae__jfile_free(mae_jfile *f) {
    if (!f) return;
    free(f->path);
    cJSON_Delete(f->start);
    cJSON_Delete(f->end);
    cJSON_Delete(f->fail);
    free(f->results_ix.slot);
    free(f->intents_ix.slot);
    cJSON_Delete(f->results);
    cJSON_Delete(f->intents);
    free(f->last_step);
    memset(f, 0, sizeof *f);
}
