/* What the pb_*.c modules share and nothing else includes: the layout of the descriptions the
 * pool builds (pb.h keeps them opaque), the wire-format reader/writer, and the well-known-type
 * hooks. The built-in google.rpc descriptions of pb_status.c are static const instances of
 * these structs, so every pointer here is to const and the pool never writes after link. */
#ifndef MAE_PB_INT_H
#define MAE_PB_INT_H

#include "grpc_h2/pb.h"

/* FieldDescriptorProto.Type values. */
enum {
    PB_DOUBLE = 1, PB_FLOAT, PB_INT64, PB_UINT64, PB_INT32, PB_FIXED64, PB_FIXED32, PB_BOOL,
    PB_STRING, PB_GROUP, PB_MESSAGE, PB_BYTES, PB_UINT32, PB_ENUM, PB_SFIXED32, PB_SFIXED64,
    PB_SINT32, PB_SINT64
};

/* The well-known types the JSON mapping treats specially (by full name). */
typedef enum {
    PB_WKT_NONE = 0, PB_WKT_ANY, PB_WKT_TIMESTAMP, PB_WKT_DURATION, PB_WKT_STRUCT, PB_WKT_VALUE,
    PB_WKT_LIST, PB_WKT_EMPTY, PB_WKT_FIELDMASK, PB_WKT_DOUBLE, PB_WKT_FLOAT, PB_WKT_INT64,
    PB_WKT_UINT64, PB_WKT_INT32, PB_WKT_UINT32, PB_WKT_BOOL, PB_WKT_STRING, PB_WKT_BYTES
} pb_wkt;

struct mae__pb_field {
    const char *name, *json_name;
    const char *type_name;          /* as the descriptor spells it; resolved by link */
    const mae__pb_msg *owner;
    const mae__pb_msg *msg;         /* PB_MESSAGE / PB_GROUP, after link */
    const mae__pb_enum *en;         /* PB_ENUM, after link */
    int32_t number;
    int oneof;                      /* index into owner->oneofs, -1 when none */
    uint8_t type;                   /* PB_* */
    bool repeated, map, packed;
    bool presence;                  /* proto3 `optional`, proto2 optional, oneof member */
};

struct mae__pb_msg {
    const char *full_name;
    const mae__pb_field *fields;    /* declaration order */
    const uint32_t *by_number;      /* indices into fields, sorted by number */
    const char *const *oneofs;
    size_t nfields, noneofs;
    const mae__pb_pool *pool;       /* NULL for built-ins: Any then resolves nothing */
    pb_wkt wkt;
    bool map_entry;
};

struct mae__pb_enum {
    const char *full_name;
    const char *const *names;
    const int32_t *numbers;
    size_t n;
    bool null_value;                /* google.protobuf.NullValue: JSON null */
};

/* The field with this number, NULL when none (binary search). */
const mae__pb_field *mae__pb_field_by_number(const mae__pb_msg *m, uint32_t number);
/* Lowercase camel case as protoc derives json_name: "disk_gb" -> "diskGb". dst has cap bytes. */
void mae__pb_json_name(const char *name, char *dst, size_t cap);
/* Well-known type of a full name ("google.protobuf.Timestamp"). */
pb_wkt mae__pb_wkt_of(const char *full_name);
/* Levenshtein distance, capped: returns > cap as soon as it is certain. */
size_t mae__pb_edit_distance(const char *a, const char *b, size_t cap);

/* --- wire format ------------------------------------------------------------------------- */

/* A growable output buffer with a hard maximum (MAE_ELIMIT past it). */
typedef struct pb_buf {
    uint8_t *p;
    size_t len, cap, max;
} pb_buf;

int mae__pb_buf_reserve(pb_buf *b, size_t more);
int mae__pb_buf_put(pb_buf *b, const void *src, size_t n);
int mae__pb_buf_varint(pb_buf *b, uint64_t v);
int mae__pb_buf_tag(pb_buf *b, uint32_t number, unsigned wire_type);
/* Inserts the varint length of everything after start at start (a length-delimited field
 * whose contents were written in place). */
int mae__pb_buf_close_len(pb_buf *b, size_t start);

/* Reading: each returns bytes consumed, 0 on malformed or truncated input. */
size_t mae__pb_get_varint(const uint8_t *p, size_t len, uint64_t *v);
/* A tag and its value: for wire type 2 val and vlen are the payload, for 0 u the varint, for 1/5
 * *u the little-endian fixed value. Groups (3) are skipped whole (depth bounded) with *vlen 0. */
typedef struct pb_wire_field {
    uint32_t number;
    unsigned wire_type;
    uint64_t u;
    const uint8_t *val;
    size_t vlen;
} pb_wire_field;
size_t mae__pb_get_field(const uint8_t *p, size_t len, pb_wire_field *f);

/* --- codec internals shared by pb_encode.c, pb_decode.c and pb_status.c ----------------------- */

/* State of one decode. budget is what is left of max_out (SIZE_MAX: no bound), decremented as
 * JSON is produced. Any is resolved through pool, after the built-ins in extra. */
typedef struct pb_dec {
    size_t budget;
    const mae__pb_pool *pool;
    const mae__pb_msg *const *extra;
    size_t nextra;
    char *err;
    size_t cap;
} pb_dec;
/* Decodes one message at nesting depth (MAE_ELIMIT past MAE__PB_MAX_DEPTH). */
int mae__pb_decode_msg(pb_dec *d, const mae__pb_msg *m, const uint8_t *buf, size_t len,
                       int depth, cJSON **out);
/* The JSON of an Any's bytes: {"@type": url, fields...}, {"@type": url, "value": wkt-json}, or
 * for a type nobody knows {"@type": url, "value": "<base64 bytes>"}. */
int mae__pb_decode_any(pb_dec *d, const uint8_t *buf, size_t len, int depth, cJSON **out);
/* A message type by the last path segment of a type URL: in extra, then in pool. */
const mae__pb_msg *mae__pb_any_type(const mae__pb_pool *pool, const mae__pb_msg *const *extra,
                                    size_t nextra, const char *type_url);

/* --- well-known-type text forms (pb_wkt.c) ---------------------------------------------- */

/* Base64 with padding (standard alphabet). Caller frees; NULL on ENOMEM. */
char *mae__pb_b64_encode(const uint8_t *p, size_t len);
/* Standard or URL-safe alphabet, padding optional, no whitespace. Returns 0, -1 (not base64)
 * or -2 (out of memory). Caller frees
 * *out (malloc'd, at least 1 byte). */
int mae__pb_b64_decode(const char *s, uint8_t **out, size_t *len);
/* RFC 3339 text of seconds/nanos since the epoch, "Z" form with 0, 3, 6 or 9 fraction digits;
 * -1 when out of the range 0001-01-01 .. 9999-12-31 or nanos out of range. buf >= 40 bytes. */
int mae__pb_ts_format(int64_t secs, int32_t nanos, char *buf, size_t cap);
/* Parses RFC 3339 (any offset, up to 9 fraction digits); -1 when malformed or out of range. */
int mae__pb_ts_parse(const char *s, int64_t *secs, int32_t *nanos);
/* "1.5s", "-0.000000001s": -1 when out of range (+-315576000000 s) or signs disagree. */
int mae__pb_dur_format(int64_t secs, int32_t nanos, char *buf, size_t cap);
int mae__pb_dur_parse(const char *s, int64_t *secs, int32_t *nanos);
/* A float as the shortest decimal that reads back as the same float, as a double. */
double mae__pb_float_json(float f);
/* FieldMask paths: "foo_bar.baz" <-> "fooBar.baz". -1 when a path cannot round-trip. */
int mae__pb_snake_to_camel(const char *in, char *out, size_t cap);
int mae__pb_camel_to_snake(const char *in, char *out, size_t cap);

#endif
