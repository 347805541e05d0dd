/* The table of transport types, keyed by the service `type` string (see target.h). */
#include <string.h>

#include "maestro/maestro.h"

#include "grpc_h2/grpc_target.h"
#include "transports/http_target.h"
#include "transports/target.h"

const mae_target_type *const mae__target_types[] = {
    &mae__http_target_type,
    &mae__grpc_target_type,
    NULL,
};

size_t mae__opts_transports(const mae_engine_opts *o, const char **types, mae_transport **out,
                            size_t max) {
    struct { const char *type; mae_transport *t; } given[] = {{"http", o->http}, {"grpc", o->grpc}};
    size_t n = 0;
    for (size_t i = 0; i < sizeof given / sizeof *given; i++) {
        if (!given[i].t || n >= max) continue;
        types[n] = given[i].type;
        out[n++] = given[i].t;
    }
    return n;
}

const mae_target_type *mae__target_type_find(const char *name) {
    for (size_t i = 0; name && mae__target_types[i]; i++)
        if (strcmp(mae__target_types[i]->name, name) == 0) return mae__target_types[i];
    return NULL;
}

bool mae__target_ident(const char *s) {
    if (!s || !*s || strlen(s) > 128) return false;
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}
