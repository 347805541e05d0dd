/* The journal's record format (pure functions) and its group-commit writer (loop/journal.h).
 * The decoder trusts nothing in the file: lengths are checked against what is left and against
 * MAE_JRNL_MAX_PAYLOAD before any use, and a checksum decides whether a record is whole. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/file.h>
#include <string.h>
#include <unistd.h>

#include "loop/journal.h"
#include "maestro/base.h"

static const uint8_t magic[8] = {'M', 'A', 'E', 'J', 'R', 'N', 'L', 0};

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): entry i is the CRC of byte i. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
    0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
    0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
    0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
    0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
    0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
    0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
    0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
    0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
    0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
    0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
    0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
    0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
    0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
    0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
    0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
    0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
    0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
    0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
    0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t mae__crc32c(uint32_t crc, const void *buf, size_t len) {
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void mae__jrnl_header(uint8_t out[MAE_JRNL_HDR]) {
    memcpy(out, magic, 8);
    out[8] = MAE_JRNL_VERSION;
    out[9] = 0;
    out[10] = MAE_JRNL_HDR;
    out[11] = 0;
    put32(out + 12, mae__crc32c(0, out, 12));
}

int mae__jrnl_check_header(const uint8_t *buf, size_t n) {
    if (n < MAE_JRNL_HDR) {
        /* a prefix of a valid header is a file cut while it was being created */
        size_t k = n < 8 ? n : 8;
        return memcmp(buf, magic, k) == 0 ? MAE_ENOTFOUND : MAE_EDECODE;
    }
    if (memcmp(buf, magic, 8) != 0 || get32(buf + 12) != mae__crc32c(0, buf, 12)) return MAE_EDECODE;
    if (buf[8] != MAE_JRNL_VERSION || buf[9] != 0 || buf[10] != MAE_JRNL_HDR || buf[11] != 0) return MAE_EDECODE;
    return 0;
}

static uint32_t rec_crc(uint8_t type, const void *payload, size_t len) {
    return mae__crc32c(mae__crc32c(0, &type, 1), payload, len);
}

void mae__jrnl_encode(uint8_t *out, uint8_t type, const void *payload, size_t len) {
    put32(out, (uint32_t)len);
    put32(out + 4, rec_crc(type, payload, len));
    out[8] = type;
    if (len) memcpy(out + MAE_JRNL_REC_HDR, payload, len);
}

/* A whole record (checksum matching) starts at o. */
static bool whole_at(const uint8_t *buf, size_t n, size_t o) {
    if (n - o < MAE_JRNL_REC_HDR) return false;
    uint32_t len = get32(buf + o);
    uint8_t type = buf[o + 8];
    if (type == 0 || len > MAE_JRNL_MAX_PAYLOAD || (size_t)len > n - o - MAE_JRNL_REC_HDR) return false;
    return rec_crc(type, buf + o + MAE_JRNL_REC_HDR, len) == get32(buf + o + 4);
}

/* A bad record at o is a torn tail only when no whole record follows it anywhere: a write cut
 * short leaves nothing valid after itself, while a damaged length or payload in the middle
 * leaves the records that were written after it. */
static mae_jd_status bad_record(const uint8_t *buf, size_t n, size_t o) {
    for (size_t p = o + 1; p + MAE_JRNL_REC_HDR <= n; p++)
        if (whole_at(buf, n, p)) return MAE_JD_DAMAGED;
    return MAE_JD_TORN;
}

mae_jd_status mae__jrnl_decode(const uint8_t *buf, size_t n, size_t *off, mae_jrec *rec) {
    size_t o = *off;
    if (o >= n) return MAE_JD_END;
    size_t left = n - o;
    /* a header cut short can only be the end of a write */
    if (left < MAE_JRNL_REC_HDR) return MAE_JD_TORN;
    if (!whole_at(buf, n, o)) return bad_record(buf, n, o);
    uint32_t len = get32(buf + o);
    rec->type = buf[o + 8];
    rec->payload = buf + o + MAE_JRNL_REC_HDR;
    rec->len = len;
    rec->off = o;
    *off = o + MAE_JRNL_REC_HDR + len;
    return MAE_JD_RECORD;
}

void mae__jrnl_scan(const uint8_t *buf, size_t n, int (*cb)(const mae_jrec *rec, void *ud), void *ud,
                    mae_jscan *out) {
    memset(out, 0, sizeof *out);
    out->header = mae__jrnl_check_header(buf, n);
    if (out->header != 0) return;
    size_t off = MAE_JRNL_HDR;
    out->valid_end = off;
    for (;;) {
        mae_jrec rec;
        mae_jd_status st = mae__jrnl_decode(buf, n, &off, &rec);
        if (st == MAE_JD_END) return;
        if (st == MAE_JD_TORN) {
            out->torn = true;
            return;
        }
        if (st == MAE_JD_DAMAGED) {
            out->damaged = true;
            out->damaged_at = off;
            return;
        }
        out->n_records++;
        out->valid_end = off;
        if (cb && cb(&rec, ud) != 0) return;
    }
}

/* ---- writer ---- */

typedef struct waiter {
    mae_jw_cb cb;
    void *ud;
} waiter;

typedef struct batch {
    uint8_t *buf;
    size_t len, cap;
    waiter *w;
    size_t nw, capw;
} batch;

struct mae_jwriter {
    uv_loop_t *loop;
    uv_file fd;
    uv_file dirfd;         /* a new file's directory, synced once after the first batch; -1 after */
    uv_file dirfd_closing;
    int64_t pos;           /* where the next write goes */
    uv_fs_t req;
    uv_idle_t idle;        /* flushes the pending batch before the loop next blocks */
    batch pending, flight;
    size_t flight_done;    /* bytes of flight written so far (a short write continues) */
    bool busy;
    bool closing;
    int err;
    size_t syncs;          /* completed write + fdatasync rounds */
    mae_jw_stats *stats;   /* NULL: not timed */
    uint64_t sync_t0;      /* uv_hrtime() when the fdatasync in flight started; 0: none */
    void (*done)(void *ud);
    void *done_ud;
};

static void batch_free(batch *b) {
    free(b->buf);
    free(b->w);
    memset(b, 0, sizeof *b);
}

static int batch_reserve(batch *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    uint8_t *n = realloc(b->buf, cap);
    if (!n) return MAE_ENOMEM;
    b->buf = n;
    b->cap = cap;
    return 0;
}

static int batch_wait(batch *b, mae_jw_cb cb, void *ud) {
    if (!cb) return 0;
    if (b->nw == b->capw) {
        size_t cap = b->capw ? b->capw * 2 : 16;
        waiter *n = realloc(b->w, cap * sizeof *n);
        if (!n) return MAE_ENOMEM;
        b->w = n;
        b->capw = cap;
    }
    b->w[b->nw++] = (waiter){cb, ud};
    return 0;
}

/* Calls every waiter of b (taken out first: a callback may append again). */
static void fire(batch *b, int status) {
    waiter *w = b->w;
    size_t nw = b->nw;
    b->w = NULL;
    b->nw = b->capw = 0;
    for (size_t i = 0; i < nw; i++) w[i].cb(status, w[i].ud);
    free(w);
}

static void idle_cb(uv_idle_t *h);

static void kick(mae_jwriter *w) {
    if (!uv_is_active((uv_handle_t *)&w->idle)) uv_idle_start(&w->idle, idle_cb);
}

static void idle_closed(uv_handle_t *h) {
    mae_jwriter *w = h->data;
    void (*done)(void *) = w->done;
    void *ud = w->done_ud;
    batch_free(&w->pending);
    batch_free(&w->flight);
    free(w);
    if (done) done(ud);
}

static void file_closed(uv_fs_t *req) {
    mae_jwriter *w = req->data;
    uv_fs_req_cleanup(req);
    if (w->dirfd >= 0) close(w->dirfd);   /* nothing was ever written */
    uv_close((uv_handle_t *)&w->idle, idle_closed);
}

static void failed(mae_jwriter *w, int err) {
    if (!w->err) w->err = err;
    w->busy = false;
    w->flight.len = 0;
    fire(&w->flight, w->err);
    kick(w);   /* the pending waiters learn it from the loop */
}

static void dir_synced(uv_fs_t *req);

const double mae__jw_stat_bounds[MAE_JW_STAT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                         0.01,   0.025,   0.05,   0.1,   0.25,   1};

void mae__jw_set_stats(mae_jwriter *w, mae_jw_stats *s) { w->stats = s; }

static void observe_sync(mae_jwriter *w) {
    uint64_t ns = uv_hrtime() - w->sync_t0;
    w->sync_t0 = 0;
    mae_jw_stats *s = w->stats;
    if (!s) return;
    s->count++;
    s->sum_ns += ns;
    for (int i = 0; i < MAE_JW_STAT_BUCKETS; i++)
        if ((double)ns <= mae__jw_stat_bounds[i] * 1e9) s->b[i]++;
}

static void synced(uv_fs_t *req) {
    mae_jwriter *w = req->data;
    int r = (int)req->result;
    uv_fs_req_cleanup(req);
    if (w->sync_t0 && r >= 0) observe_sync(w);
    w->sync_t0 = 0;
    if (r < 0) {
        failed(w, r);
        return;
    }
    if (w->dirfd >= 0) {
        /* the file's name: synced (then closed, synchronously: close does not wait for a disk) */
        uv_file d = w->dirfd;
        w->dirfd = -1;
        w->req.data = w;
        int rc = uv_fs_fsync(w->loop, &w->req, d, dir_synced);
        w->dirfd_closing = d;
        if (rc < 0) {
            close(d);
            failed(w, rc);
        }
        return;
    }
    w->busy = false;
    w->flight.len = 0;
    w->syncs++;
    fire(&w->flight, 0);
    if (w->pending.len || w->pending.nw || w->closing) kick(w);
}

static void write_more(mae_jwriter *w);

static void synced(uv_fs_t *req);

static void dir_synced(uv_fs_t *req) {
    mae_jwriter *w = req->data;
    close(w->dirfd_closing);
    w->dirfd_closing = -1;
    synced(req);
}

static void written(uv_fs_t *req) {
    mae_jwriter *w = req->data;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r < 0) {
        failed(w, (int)r);
        return;
    }
    if (r == 0) {
        failed(w, UV_EIO);
        return;
    }
    w->flight_done += (size_t)r;
    w->pos += r;
    if (w->flight_done < w->flight.len) {
        write_more(w);
        return;
    }
    w->req.data = w;
    w->sync_t0 = uv_hrtime();
    int rc = uv_fs_fdatasync(w->loop, &w->req, w->fd, synced);
    if (rc < 0) failed(w, rc);
}

static void write_more(mae_jwriter *w) {
    uv_buf_t b = uv_buf_init((char *)w->flight.buf + w->flight_done, (unsigned)(w->flight.len - w->flight_done));
    w->req.data = w;
    int rc = uv_fs_write(w->loop, &w->req, w->fd, &b, 1, w->pos, written);
    if (rc < 0) failed(w, rc);
}

static void idle_cb(uv_idle_t *h) {
    mae_jwriter *w = h->data;
    uv_idle_stop(h);
    if (w->busy) return;   /* the write in flight kicks again when it is done */
    if (w->err) {
        w->pending.len = 0;
        fire(&w->pending, w->err);
    }
    if (w->pending.len == 0) {
        /* waiters with nothing to write (records appended after a failure) were fired above */
        if (w->pending.nw) fire(&w->pending, w->err);
        if (w->closing && !w->busy && w->pending.len == 0) {
            w->req.data = w;
            if (uv_fs_close(w->loop, &w->req, w->fd, file_closed) < 0) uv_close((uv_handle_t *)&w->idle, idle_closed);
        }
        return;
    }
    /* the pending batch becomes the one in flight; the old flight buffer is reused */
    batch t = w->flight;
    w->flight = w->pending;
    w->pending = t;
    w->pending.len = 0;
    w->flight_done = 0;
    w->busy = true;
    write_more(w);
}

int mae__jw_open(uv_loop_t *loop, const char *path, bool create, size_t valid_end, mae_jwriter **out) {
    *out = NULL;
    int fd = open(path, create ? O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC : O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return uv_translate_sys_error(errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return UV_EBUSY;
    }
    int64_t pos = 0;
    int dfd = -1;
    if (create) {
        /* the header goes out with the first batch; the new name itself must survive a crash, so
         * the directory is synced after that batch, before its callbacks run */
        char *dup = strdup(path);
        if (dup) dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(dup);
        if (dfd < 0) {
            int e = errno ? errno : ENOMEM;
            close(fd);
            unlink(path);
            return uv_translate_sys_error(e);
        }
    } else {
        /* a torn tail is cut off, so what is appended next follows whole records */
        if (ftruncate(fd, (off_t)valid_end) != 0 || fdatasync(fd) != 0) {
            int e = errno;
            close(fd);
            return uv_translate_sys_error(e);
        }
        pos = (int64_t)valid_end;
    }
    mae_jwriter *w = calloc(1, sizeof *w);
    if (!w || uv_idle_init(loop, &w->idle) != 0 || (create && batch_reserve(&w->pending, MAE_JRNL_HDR) != 0)) {
        if (w) batch_free(&w->pending);
        free(w);
        close(fd);
        if (dfd >= 0) close(dfd);
        if (create) unlink(path);
        return UV_ENOMEM;
    }
    w->loop = loop;
    w->fd = fd;
    w->dirfd = dfd;
    w->dirfd_closing = -1;
    w->pos = pos;
    w->idle.data = w;
    if (create) {
        mae__jrnl_header(w->pending.buf);
        w->pending.len = MAE_JRNL_HDR;
    }
    /* only pending work keeps the loop alive, and that is the run's, which has its own handles */
    *out = w;
    return 0;
}

int mae__jw_append(mae_jwriter *w, uint8_t type, const void *payload, size_t len, mae_jw_cb cb, void *ud) {
    if (w->err || w->closing) {
        int rc = batch_wait(&w->pending, cb, ud);
        kick(w);
        if (rc) return rc;
        return w->err ? w->err : MAE_ESTATE;
    }
    if (len > MAE_JRNL_MAX_PAYLOAD) return MAE_ETOOBIG;
    if (batch_reserve(&w->pending, MAE_JRNL_REC_HDR + len) != 0) return MAE_ENOMEM;
    if (batch_wait(&w->pending, cb, ud) != 0) return MAE_ENOMEM;
    mae__jrnl_encode(w->pending.buf + w->pending.len, type, payload, len);
    w->pending.len += MAE_JRNL_REC_HDR + len;
    kick(w);
    return 0;
}

int mae__jw_error(const mae_jwriter *w) { return w->err; }

size_t mae__jw_syncs(const mae_jwriter *w) { return w->syncs; }

void mae__jw_close(mae_jwriter *w, void (*done)(void *ud), void *ud) {
    if (!w) {
        if (done) done(ud);
        return;
    }
    w->closing = true;
    w->done = done;
    w->done_ud = ud;
    kick(w);
}
