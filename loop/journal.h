/* The run journal (docs/journal.md): the on-disk record format, as pure encode/decode functions
 * over byte arrays, and a thin group-commit writer on libuv's asynchronous file operations.
 *
 * File layout: a 16-byte header ("MAEJRNL\0", u16 version, u16 header size, u32 CRC-32C of the
 * first 12 bytes), then records. A record is a 9-byte header (u32 payload length, u32 CRC-32C
 * of the type byte and the payload, u8 type) and the payload (JSON text). Integers are little
 * endian. A record is only believed whole when its checksum matches.
 *
 * This module knows nothing of runs or the engine: the payloads are opaque here (the engine's
 * hooks in loop/journal_run.c build and read them). The decoder never allocates. */
#ifndef MAE_LOOP_JOURNAL_H
#define MAE_LOOP_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define MAE_JRNL_VERSION 1
#define MAE_JRNL_HDR 16              /* file header */
#define MAE_JRNL_REC_HDR 9           /* record header */
#define MAE_JRNL_MAX_PAYLOAD (64u << 20)  /* a longer announced length is damage, not a record */

typedef enum {
    MAE_JR_RUN_START = 1,   /* run id, workflow path + digest, checked input, endpoints */
    MAE_JR_INTENT = 2,      /* an attempt is about to be sent */
    MAE_JR_RESULT = 3,      /* a call's final result (step, re-send or compensation) */
    MAE_JR_FAIL = 4,        /* the run started failing: a resume compensates */
    MAE_JR_RUN_END = 5,     /* the run is over, with its report */
    MAE_JR_RESUME = 6,      /* a resume or compensate took the run over */
} mae_jr_type;

uint32_t mae__crc32c(uint32_t crc, const void *buf, size_t len);

/* Writes the file header into out (MAE_JRNL_HDR bytes). */
void mae__jrnl_header(uint8_t out[MAE_JRNL_HDR]);
/* Encodes one record into out, which holds MAE_JRNL_REC_HDR + len bytes. */
void mae__jrnl_encode(uint8_t *out, uint8_t type, const void *payload, size_t len);

typedef struct mae_jrec {
    uint8_t type;
    const uint8_t *payload;   /* points into the decoded buffer */
    size_t len;
    size_t off;               /* of the record header in the file */
} mae_jrec;

typedef enum {
    MAE_JD_RECORD = 1,   /* *rec filled, *off advanced past it */
    MAE_JD_END = 0,      /* no bytes left */
    MAE_JD_TORN = -1,    /* a record that is not whole (cut short, or its checksum fails) with no
                            whole record anywhere after it: a write cut short; everything before
                            it stands */
    MAE_JD_DAMAGED = -2, /* a record that is not whole followed by one that is: damage in the
                            middle, at *off */
} mae_jd_status;

/* Checks the file header. 0, MAE_EDECODE (not a journal, or a version we do not read) or
 * MAE_ENOTFOUND (shorter than the header: a file cut before its first write completed). */
int mae__jrnl_check_header(const uint8_t *buf, size_t n);
/* Decodes the record at *off of buf[0..n). See mae_jd_status; *off is left at the bad record
 * on TORN and DAMAGED. */
mae_jd_status mae__jrnl_decode(const uint8_t *buf, size_t n, size_t *off, mae_jrec *rec);

/* What a whole-file scan found. */
typedef struct mae_jscan {
    int header;               /* mae__jrnl_check_header's result */
    size_t n_records;
    size_t valid_end;         /* just past the last whole record (where an append continues) */
    bool torn;                /* a torn last record was ignored */
    bool damaged;             /* damage in the middle */
    size_t damaged_at;        /* its offset */
} mae_jscan;
/* Decodes every record, calling cb (may be NULL) on each until it returns non-zero. */
void mae__jrnl_scan(const uint8_t *buf, size_t n, int (*cb)(const mae_jrec *rec, void *ud), void *ud,
                    mae_jscan *out);

/* --- the writer ---
 * Group commit: records appended while no write is in flight collect in one buffer, which an
 * idle handle (so the loop does not block in poll first) hands to one uv_fs_write and one
 * uv_fs_fdatasync; each record's callback runs once its bytes are durable. Records appended
 * during a write wait for the next one. After an error (ENOSPC, EIO, ...) the writer is failed
 * for good: every waiting and later callback gets the error, nothing more is written. */
typedef struct mae_jwriter mae_jwriter;
/* status: 0 (durable) or a negative libuv error (UV_ENOSPC, ...). */
typedef void (*mae_jw_cb)(int status, void *ud);

/* Opens (creating with a header when it does not exist, else appending at valid_end, the file
 * being cut there first) synchronously: this happens before a run starts. The file is locked
 * (flock, exclusive) until closed: UV_EBUSY when another writer holds it. Returns 0 or a
 * negative libuv error. */
int mae__jw_open(uv_loop_t *loop, const char *path, bool create, size_t valid_end, mae_jwriter **out);
/* Queues a record; cb (may be NULL) runs from the loop once it is durable or failed, never
 * from inside this call. 0, MAE_ENOMEM, or the writer's error (cb is then still called). */
int mae__jw_append(mae_jwriter *w, uint8_t type, const void *payload, size_t len, mae_jw_cb cb, void *ud);
/* The writer's error: 0 while healthy, else the negative libuv error that failed it. */
int mae__jw_error(const mae_jwriter *w);
/* Completed write + fdatasync rounds so far (group commit: one per batch). */
size_t mae__jw_syncs(const mae_jwriter *w);
/* fdatasync latency of the group commits of every writer given it (for serve's metrics). b[i]
 * counts the syncs that took at most mae__jw_stat_bounds[i] seconds (cumulative, as a
 * Prometheus histogram); count is every sync. Only the file's data syncs are timed, not the
 * one-time directory sync of a new file. */
#define MAE_JW_STAT_BUCKETS 12
typedef struct mae_jw_stats {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t b[MAE_JW_STAT_BUCKETS];
} mae_jw_stats;
extern const double mae__jw_stat_bounds[MAE_JW_STAT_BUCKETS];
/* Times this writer's syncs into s from now on (NULL: stop). s must outlive the writer. */
void mae__jw_set_stats(mae_jwriter *w, mae_jw_stats *s);

/* Flushes what is queued, closes the file and frees the writer; done(ud) runs from the loop. */
void mae__jw_close(mae_jwriter *w, void (*done)(void *ud), void *ud);

#endif
