/* The protobuf wire format, both ways: varints, tags, fixed values and length-delimited fields
 * over byte slices. Pure; reading never allocates and checks every length against what is
 * left before using it; the writer's buffer has a hard maximum. */
#include <stdlib.h>
#include <string.h>

#include "grpc_h2/pb_int.h"
#include "maestro/maestro.h"

/* Groups inside groups: bounded like message nesting. */
#define GROUP_DEPTH MAE__PB_MAX_DEPTH

int mae__pb_buf_reserve(pb_buf *b, size_t more) {
    if (more > b->max || b->len > b->max - more) return MAE_ELIMIT;
    if (b->len + more <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < b->len + more) ncap = ncap > SIZE_MAX / 2 ? b->len + more : ncap * 2;
    if (ncap > b->max) ncap = b->max;
    uint8_t *np = realloc(b->p, ncap);
    if (!np) return MAE_ENOMEM;
    b->p = np;
    b->cap = ncap;
    return 0;
}

int mae__pb_buf_put(pb_buf *b, const void *src, size_t n) {
    if (n == 0) return 0;
    int rc = mae__pb_buf_reserve(b, n);
    if (rc) return rc;
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static size_t varint_bytes(uint64_t v, uint8_t out[10]) {
    size_t n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) out[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

int mae__pb_buf_varint(pb_buf *b, uint64_t v) {
    uint8_t tmp[10];
    return mae__pb_buf_put(b, tmp, varint_bytes(v, tmp));
}

int mae__pb_buf_tag(pb_buf *b, uint32_t number, unsigned wire_type) {
    return mae__pb_buf_varint(b, ((uint64_t)number << 3) | wire_type);
}

int mae__pb_buf_close_len(pb_buf *b, size_t start) {
    uint8_t tmp[10];
    size_t n = varint_bytes(b->len - start, tmp);
    int rc = mae__pb_buf_reserve(b, n);
    if (rc) return rc;
    memmove(b->p + start + n, b->p + start, b->len - start);
    memcpy(b->p + start, tmp, n);
    b->len += n;
    return 0;
}

size_t mae__pb_get_varint(const uint8_t *p, size_t len, uint64_t *v) {
    uint64_t r = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        /* The tenth byte may only carry the top bit of a 64-bit value. */
        if (i == 9 && p[i] > 1) return 0;
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* Skips a group's contents up to its end tag; returns bytes consumed, 0 if malformed. */
static size_t skip_group(const uint8_t *p, size_t len, uint32_t number) {
    /* An explicit stack of open group numbers instead of recursion. */
    uint32_t open[GROUP_DEPTH];
    int depth = 0;
    open[depth++] = number;
    size_t off = 0;
    while (off < len) {
        uint64_t key;
        size_t n = mae__pb_get_varint(p + off, len - off, &key);
        if (!n || key >> 3 == 0 || key >> 3 > 0x1fffffff) return 0;
        off += n;
        uint32_t num = (uint32_t)(key >> 3);
        uint64_t v;
        switch (key & 7) {
        case 0:
            n = mae__pb_get_varint(p + off, len - off, &v);
            if (!n) return 0;
            off += n;
            break;
        case 1:
            if (len - off < 8) return 0;
            off += 8;
            break;
        case 5:
            if (len - off < 4) return 0;
            off += 4;
            break;
        case 2:
            n = mae__pb_get_varint(p + off, len - off, &v);
            if (!n || v > len - off - n) return 0;
            off += n + (size_t)v;
            break;
        case 3:
            if (depth == GROUP_DEPTH) return 0;
            open[depth++] = num;
            break;
        case 4:
            if (open[--depth] != num) return 0;
            if (depth == 0) return off;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

size_t mae__pb_get_field(const uint8_t *p, size_t len, pb_wire_field *f) {
    uint64_t key, v;
    size_t off = mae__pb_get_varint(p, len, &key);
    if (!off || key >> 3 == 0 || key >> 3 > 0x1fffffff) return 0;
    f->number = (uint32_t)(key >> 3);
    f->wire_type = (unsigned)(key & 7);
    f->u = 0;
    f->val = NULL;
    f->vlen = 0;
    size_t n;
    switch (f->wire_type) {
    case 0:
        n = mae__pb_get_varint(p + off, len - off, &f->u);
        return n ? off + n : 0;
    case 1:
        if (len - off < 8) return 0;
        for (int i = 7; i >= 0; i--) f->u = (f->u << 8) | p[off + (size_t)i];
        return off + 8;
    case 5:
        if (len - off < 4) return 0;
        for (int i = 3; i >= 0; i--) f->u = (f->u << 8) | p[off + (size_t)i];
        return off + 4;
    case 2:
        n = mae__pb_get_varint(p + off, len - off, &v);
        if (!n || v > len - off - n) return 0;
        f->val = p + off + n;
        f->vlen = (size_t)v;
        return off + n + (size_t)v;
    case 3:
        n = skip_group(p + off, len - off, f->number);
        return n ? off + n : 0;
    default:
        return 0;   /* 4 (an end tag with no group open), 6 and 7 */
    }
}
