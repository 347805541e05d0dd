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

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table built on first use. */
static uint32_t crc_table[256];
static bool crc_ready;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = true;
}

uint32_t mae__crc32c(uint32_t crc, const void *buf, size_t len) {
    if (!crc_ready) crc_init();
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

mae_jd_status mae__jrnl_decode(const uint8_t *buf, size_t n, size_t *off, mae_jrec *rec) {
    size_t o = *off;
    if (o >= n) return MAE_JD_END;
    size_t left = n - o;
    /* a header cut short can only be the end of a write */
    if (left < MAE_JRNL_REC_HDR) return MAE_JD_TORN;
    uint32_t len = get32(buf + o);
    uint32_t crc = get32(buf + o + 4);
    uint8_t type = buf[o + 8];
    if (len > MAE_JRNL_MAX_PAYLOAD) {
        /* an impossible length: trusting it would swallow whatever follows; only the very last
         * bytes of a file may be a torn write */
        return left < MAE_JRNL_REC_HDR + 64 ? MAE_JD_TORN : MAE_JD_DAMAGED;
    }
    if ((size_t)len > left - MAE_JRNL_REC_HDR) return MAE_JD_TORN;
    size_t end = o + MAE_JRNL_REC_HDR + len;
    if (type == 0 || rec_crc(type, buf + o + MAE_JRNL_REC_HDR, len) != crc)
        return end == n ? MAE_JD_TORN : MAE_JD_DAMAGED;
    rec->type = type;
    rec->payload = buf + o + MAE_JRNL_REC_HDR;
    rec->len = len;
    rec->off = o;
    *off = end;
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
    int64_t pos;           /* where the next write goes */
    uv_fs_t req;
    uv_idle_t idle;        /* flushes the pending batch before the loop next blocks */
    batch pending, flight;
    size_t flight_done;    /* bytes of flight written so far (a short write continues) */
    bool busy;
    bool closing;
    int err;
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
    uv_close((uv_handle_t *)&w->idle, idle_closed);
}

static void failed(mae_jwriter *w, int err) {
    if (!w->err) w->err = err;
    w->busy = false;
    w->flight.len = 0;
    fire(&w->flight, w->err);
    kick(w);   /* the pending waiters learn it from the loop */
}

static void synced(uv_fs_t *req) {
    mae_jwriter *w = req->data;
    int r = (int)req->result;
    uv_fs_req_cleanup(req);
    if (r < 0) {
        failed(w, r);
        return;
    }
    w->busy = false;
    w->flight.len = 0;
    fire(&w->flight, 0);
    if (w->pending.len || w->pending.nw || w->closing) kick(w);
}

static void write_more(mae_jwriter *w);

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
    if (create) {
        uint8_t hdr[MAE_JRNL_HDR];
        mae__jrnl_header(hdr);
        if (write(fd, hdr, sizeof hdr) != (ssize_t)sizeof hdr || fdatasync(fd) != 0) {
            int e = errno ? errno : EIO;
            close(fd);
            unlink(path);
            return uv_translate_sys_error(e);
        }
        pos = MAE_JRNL_HDR;
        /* the new name itself must survive a crash: sync its directory */
        char *dup = strdup(path);
        if (dup) {
            int dfd = open(dirname(dup), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            free(dup);
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
    if (!w || uv_idle_init(loop, &w->idle) != 0) {
        free(w);
        close(fd);
        return UV_ENOMEM;
    }
    w->loop = loop;
    w->fd = fd;
    w->pos = pos;
    w->idle.data = w;
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
