/* Issue #14, editors and shells: the bash completion completes commands, options and option
 * values (run through bash itself); the zsh completion parses (zsh -n); the man page formats
 * without a warning; and every option each command's --help lists is in the bash and zsh
 * completions and in the man page, so none of them can fall behind the option tables. */
#include "harness.h"

static const char *const commands[] = {"run", "validate", "graph", "bench", "stub"};

/* COMPREPLY for the words typed (the last one is being completed), as one line. */
static char *complete(const char *words) {
    char script[2048];
    snprintf(script, sizeof script,
             "source '%s'; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
             "[ \"${words: -1}\" = ' ' ] && COMP_CWORD=${#COMP_WORDS[@]} && COMP_WORDS+=(''); "
             "_maestro; echo \"${COMPREPLY[*]}\"",
             th_path("cli/completion/maestro.bash"), words);
    char *argv[] = {"bash", "-c", script, NULL};
    char *out = NULL, *err = NULL;
    ASSERT_EQ_INT(th_run(argv, NULL, &out, &err), 0);
    ASSERT_EQ_STR(err, "");
    free(err);
    return out;
}

TEST(bash_completes_commands_options_and_values) {
    char *o = complete("maestro ru");
    ASSERT_EQ_STR(o, "run runs\n");
    free(o);
    o = complete("maestro res");
    ASSERT_EQ_STR(o, "resume\n");
    free(o);
    o = complete("maestro va");
    ASSERT_EQ_STR(o, "validate\n");
    free(o);
    o = complete("maestro run wf.yaml --dr");
    ASSERT_EQ_STR(o, "--dry-run\n");
    free(o);
    o = complete("maestro run wf.yaml --log-level ''");
    ASSERT_EQ_STR(o, "error warn info debug\n");
    free(o);
    o = complete("maestro graph wf.yaml --format ''");
    ASSERT_EQ_STR(o, "dot mermaid svg png\n");
    free(o);
    o = complete("maestro validate --format ''");
    ASSERT_EQ_STR(o, "text pretty json\n");
    free(o);
    /* --set offers the services of the workflow on the line */
    char words[512];
    snprintf(words, sizeof words, "maestro run %s --set service.c", th_path("examples/workflows/deploy_service.yaml"));
    o = complete(words);
    ASSERT_EQ_STR(o, "service.cloud.endpoint=\n");
    free(o);
    snprintf(words, sizeof words, "maestro run %s --set ''", th_path("examples/workflows/deploy_service.yaml"));
    o = complete(words);
    ASSERT_EQ_STR(o, "service.cloud.endpoint= service.deployer.endpoint= service.health.endpoint= "
                     "service.loadbalancer.endpoint= service.notifications.endpoint=\n");
    free(o);
    o = complete("maestro help st");
    ASSERT_EQ_STR(o, "stub\n");
    free(o);
}

/* word appears in text delimited by blanks or quotes (so "--log" is not found in "--log-level"). */
static int has_word(const char *text, const char *word) {
    size_t l = strlen(word);
    for (const char *p = text; (p = strstr(p, word)); p++) {
        char before = p == text ? ' ' : p[-1], after = p[l];
        if (strchr(" \"'(*{,", before) && strchr(" \"'=[)},", after)) return 1;
    }
    return 0;
}

/* The options a command's --help lists ("-q", "--quiet", ...), NULL-terminated; caller frees. */
static char **help_options(const char *cmd) {
    char *out = NULL, *err = NULL;
    char *a[] = {"maestro", "help", (char *)cmd, NULL};
    ASSERT_EQ_INT(th_maestro(a, NULL, &out, &err), 0);
    free(err);
    char **opts = calloc(64, sizeof *opts);
    size_t n = 0;
    const char *sec = strstr(out, "\noptions:\n");
    ASSERT_NOT_NULL(sec);
    for (char *line = strtok((char *)sec + 10, "\n"); line && n < 62; line = strtok(NULL, "\n")) {
        if (strncmp(line, "  -", 3) != 0) {
            if (strncmp(line, "    ", 4) == 0) continue;   /* a wrapped description */
            break;
        }
        /* the left column: words up to two blanks */
        char *end = strstr(line + 2, "  ");
        if (end) *end = 0;
        for (char *w = strtok_r(line + 2, " ", &end); w; w = strtok_r(NULL, " ", &end)) {
            size_t l = strlen(w);
            if (w[l - 1] == ',') w[l - 1] = 0;
            if (w[0] == '-') opts[n++] = strdup(w);
        }
    }
    free(out);
    ASSERT_CMP_INT(n, >=, 2);
    return opts;
}

TEST(every_option_is_in_completions_and_man_page) {
    char *bash = th_read_file(th_path("cli/completion/maestro.bash"), NULL);
    char *zsh = th_read_file(th_path("cli/completion/_maestro"), NULL);
    char *man = th_read_file(th_path("docs/maestro.1"), NULL);
    ASSERT_NOT_NULL(bash);
    ASSERT_NOT_NULL(zsh);
    ASSERT_NOT_NULL(man);
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        char **opts = help_options(commands[c]);
        for (size_t i = 0; opts[i]; i++) {
            const char *o = opts[i];
            if (strcmp(o, "-h") == 0) {   /* --help stands for it */
                free(opts[i]);
                continue;
            }
            if (!has_word(bash, o)) th_fail(__FILE__, __LINE__, "%s %s missing from maestro.bash", commands[c], o);
            if (!has_word(zsh, o)) th_fail(__FILE__, __LINE__, "%s %s missing from _maestro", commands[c], o);
            if (strcmp(o, "--help") != 0) {
                /* roff writes each '-' as "\-" */
                char roff[128];
                size_t k = 0;
                for (const char *p = o; *p && k + 3 < sizeof roff; p++) {
                    if (*p == '-') roff[k++] = '\\';
                    roff[k++] = *p;
                }
                roff[k] = 0;
                if (!strstr(man, roff)) th_fail(__FILE__, __LINE__, "%s %s missing from docs/maestro.1", commands[c], o);
            }
            free(opts[i]);
        }
        free(opts);
    }
    free(bash);
    free(zsh);
    free(man);
}

TEST(zsh_completion_parses_and_man_page_formats) {
    char *out = NULL, *err = NULL;
    char *z[] = {"zsh", "-n", (char *)th_path("cli/completion/_maestro"), NULL};
    ASSERT_EQ_INT(th_run(z, NULL, &out, &err), 0);
    ASSERT_EQ_STR(err, "");
    free(out);
    free(err);
    /* its --set action offers the services of the workflow on the line (compadd stubbed) */
    char script[1024];
    snprintf(script, sizeof script,
             "compadd() { local a=${@[-1]}; print -l -- ${(P)a}; }; source '%s'; "
             "words=(maestro run '%s' --set ''); _maestro_services",
             th_path("cli/completion/_maestro"), th_path("examples/workflows/deploy_service.yaml"));
    char *zs[] = {"zsh", "-c", script, NULL};
    ASSERT_EQ_INT(th_run(zs, NULL, &out, &err), 0);
    ASSERT_EQ_STR(out, "service.cloud.endpoint=\nservice.deployer.endpoint=\nservice.health.endpoint=\n"
                       "service.loadbalancer.endpoint=\nservice.notifications.endpoint=\n");
    free(out);
    free(err);
    char *g[] = {"groff", "-man", "-Tutf8", "-ww", "-z", (char *)th_path("docs/maestro.1"), NULL};
    ASSERT_EQ_INT(th_run(g, NULL, &out, &err), 0);
    ASSERT_EQ_STR(err, "");
    free(out);
    free(err);
    char *m[] = {"groff", "-man", "-Tascii", "-P-c", "-P-b", "-P-u", (char *)th_path("docs/maestro.1"), NULL};
    ASSERT_EQ_INT(th_run(m, NULL, &out, &err), 0);
    ASSERT_CONTAINS(out, "EXIT STATUS");
    ASSERT_CONTAINS(out, "--dry-run");
    ASSERT_CONTAINS(out, "NO_COLOR");
    free(out);
    free(err);
}
