/* Arguments shared by `run` and `bench`: --input (inline JSON, @FILE, or - for stdin, bounded)
 * and --set service.NAME.endpoint=URL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "maestro/maestro.h"
#include "workflow/model.h"

#define MAX_INPUT (64u << 20)

static char *read_stream(FILE *f) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap >= MAX_INPUT ? NULL : realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    buf[n] = 0;
    return buf;
}

char *mae_cli_read_input(const char *cmd, const char *arg) {
    if (!arg) return strdup("{}");
    if (strcmp(arg, "-") == 0) {
        char *s = read_stream(stdin);
        if (!s) fprintf(stderr, "maestro %s: input on stdin is larger than %u bytes\n", cmd, MAX_INPUT);
        return s;
    }
    if (arg[0] != '@') return strdup(arg);
    FILE *f = fopen(arg + 1, "rb");
    if (!f) {
        fprintf(stderr, "maestro %s: cannot read input file %s\n", cmd, arg + 1);
        return NULL;
    }
    char *s = read_stream(f);
    fclose(f);
    if (!s) fprintf(stderr, "maestro %s: input file %s is larger than %u bytes\n", cmd, arg + 1, MAX_INPUT);
    return s;
}

int mae_cli_apply_set(const char *cmd, mae_workflow *wf, const char *kv) {
    static const char pre[] = "service.", suf[] = ".endpoint";
    const char *eq = strchr(kv, '=');
    size_t pl = sizeof pre - 1, sl = sizeof suf - 1;
    if (!eq || strncmp(kv, pre, pl) != 0 || (size_t)(eq - kv) <= pl + sl || strncmp(eq - sl, suf, sl) != 0) {
        fprintf(stderr, "maestro %s: --set expects service.NAME.endpoint=URL, got '%s'\n", cmd, kv);
        return 2;
    }
    if (!eq[1]) {
        fprintf(stderr, "maestro %s: --set: empty endpoint in '%s'\n", cmd, kv);
        return 2;
    }
    size_t nl = (size_t)(eq - kv) - pl - sl;
    char name[256], err[600];
    snprintf(name, sizeof name, "%.*s", (int)nl, kv + pl);
    if (mae_workflow_set_endpoint(wf, name, eq + 1, err, sizeof err) == 0) return 0;
    fprintf(stderr, "maestro %s: --set: %s\n", cmd, err);
    return 2;
}
