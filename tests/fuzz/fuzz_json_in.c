/* libFuzzer target: arbitrary bytes read back by mae__json_read_back (workflow/json_in.c) must
 * give exactly cJSON_ParseWithLength's tree: both NULL, or the same types, keys, strings,
 * numbers (valueint and the double's bits) and child links (each child's prev, the first
 * child's prev the last). Everything freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "workflow/json_in.h"

static int same_str(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

static void same_tree(const cJSON *a, const cJSON *b) {
    if ((a->type & 0xff) != (b->type & 0xff) || a->valueint != b->valueint ||
        memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) != 0 ||
        !same_str(a->string, b->string) || !same_str(a->valuestring, b->valuestring))
        abort();
    const cJSON *ca = a->child, *cb = b->child;
    if (!ca != !cb) abort();
    if (ca && (!ca->prev || !cb->prev)) abort();
    const cJSON *last_a = NULL;
    while (ca && cb) {
        if (last_a && ca->prev != last_a) abort();
        same_tree(ca, cb);
        last_a = ca;
        ca = ca->next;
        cb = cb->next;
    }
    if (ca || cb) abort();
    if (last_a && a->child->prev != last_a) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *mine = mae__json_read_back((const char *)data, size);
    cJSON *ref = cJSON_ParseWithLength((const char *)data, size);
    if (!mine != !ref) abort();
    if (mine) same_tree(mine, ref);
    cJSON_Delete(mine);
    cJSON_Delete(ref);
    return 0;
}
