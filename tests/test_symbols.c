/* What the built artefacts contain, read with binutils (objdump -t, ar t) from the archives
 * and binaries of this test's own flavour (build/<flavour>/, found from /proc/self/exe):
 * - no mutable global or static state in the library: no data object in a writable section
 *   (.data, .bss, .tdata, .tbss; .data.rel.ro is read-only after relocation) in any object of
 *   libmaestro.a or libmaestro_stub.a;
 * - nothing only tests use (tests/, the scripted transport, MAESTRO_SCRIPT) in libmaestro.a or
 *   the production binary, while the CLI's test build does have it;
 * - no google__protobuf__* symbol (an embedder's own generated code defines those).
 * Each scan is also run on an artefact that must match, so a scan that finds nothing because it
 * is broken fails too. */
#include <limits.h>
#include <unistd.h>

#include "harness.h"

static char flavour_dir[PATH_MAX];   /* build/<flavour>, absolute */

static const char *fl_path(const char *rel) {
    if (!flavour_dir[0]) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        ASSERT_CMP_INT(n, >, 0);
        exe[n] = 0;
        char *s = strrchr(exe, '/');   /* .../build/<fl>/tests/test_symbols */
        ASSERT_NOT_NULL(s);
        *s = 0;
        s = strrchr(exe, '/');
        ASSERT_NOT_NULL(s);
        *s = 0;
        snprintf(flavour_dir, sizeof flavour_dir, "%s", exe);
    }
    static char buf[4][PATH_MAX + 64];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", flavour_dir, rel);
    ASSERT_EQ_INT(access(b, R_OK), 0);
    return b;
}

static const char *bin_path(void) {
    const char *b = getenv("MAESTRO_BIN");
    return b ? b : th_path("bin/maestro");
}

static char *run_tool(const char *tool, const char *opt, const char *file) {
    char *argv[] = {(char *)tool, (char *)opt, (char *)file, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    if (rc != 0) th_fail(__FILE__, __LINE__, "%s %s %s: exit %d: %s", tool, opt, file, rc, err ? err : "");
    free(err);
    ASSERT_NOT_NULL(out);
    return out;
}

/* Sanitizers add their own writable metadata (ASan's global descriptors, UBSan's source
 * locations); those are the compiler's, not ours. */
static int compiler_owned(const char *name) {
    return !strncmp(name, "__unnamed_", 10) || !strncmp(name, "__asan", 6) ||
           !strncmp(name, "___asan", 7) || !strncmp(name, "__ubsan", 7) || !strncmp(name, "__sancov", 8) ||
           !strncmp(name, ".L", 2);
}

/* Data objects in writable sections of file (an object, archive or binary), one "object: symbol
 * (section)" per line appended to list; returns how many. */
static int writable_objects(const char *file, char *list, size_t cap) {
    char *out = run_tool("objdump", "-t", file);
    int n = 0;
    char member[256] = "";
    list[0] = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        const char *ff = strstr(line, ":     file format");
        if (ff) {
            snprintf(member, sizeof member, "%.*s", (int)(ff - line), line);
            continue;
        }
        /* "0000000000000000 l     O .bss	0000000000010000 slab.0" */
        char *tab = strchr(line, '\t');
        if (!tab || strlen(line) < 26 || line[23] != 'O') continue;
        char sect[64];
        if (sscanf(line + 25, "%63s", sect) != 1) continue;
        if (strncmp(sect, ".data", 5) && strncmp(sect, ".bss", 4) && strncmp(sect, ".tdata", 6) &&
            strncmp(sect, ".tbss", 5))
            continue;
        if (!strncmp(sect, ".data.rel.ro", 12)) continue;
        const char *name = strrchr(tab, ' ');
        name = name ? name + 1 : tab + 1;
        if (compiler_owned(name)) continue;
        n++;
        size_t len = strlen(list);
        snprintf(list + len, cap - len, "  %s: %s (%s)\n", member, name, sect);
    }
    free(out);
    return n;
}

TEST(library_has_no_mutable_global_or_static_state) {
    static char list[16384];
    const char *archives[] = {fl_path("libmaestro.a"), fl_path("libmaestro_stub.a")};
    for (size_t i = 0; i < 2; i++) {
        int n = writable_objects(archives[i], list, sizeof list);
        if (n) th_fail(__FILE__, __LINE__, "%d writable data objects in %s:\n%s", n, archives[i], list);
    }
    /* the scan sees what it must: the harness keeps state in statics (th_path's buffers) */
    ASSERT_CMP_INT(writable_objects(fl_path("tests/harness.o"), list, sizeof list), >, 0);
    ASSERT_NOT_NULL(strstr(list, "bufs"));
}

/* Counts lines of text holding any of the needles. */
static int lines_with(const char *text, const char *const needles[]) {
    int n = 0;
    for (const char *l = text; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        for (int i = 0; needles[i]; i++) {
            if (memmem(l, len, needles[i], strlen(needles[i]))) {
                n++;
                break;
            }
        }
        l = e ? e + 1 : NULL;
    }
    return n;
}

static const char *const test_only[] = {"scripted", "mae_script", "MAESTRO_SCRIPT", "mae__test", NULL};

TEST(test_only_code_stays_out_of_library_and_binary) {
    char *members = run_tool("ar", "t", fl_path("libmaestro.a"));
    const char *tests_dir[] = {"tests/", NULL};
    ASSERT_EQ_INT(lines_with(members, tests_dir), 0);
    ASSERT_CMP_INT(lines_with(members, (const char *const[]){"loop/engine.o", NULL}), ==, 1);
    free(members);
    char *lib = run_tool("nm", "-A", fl_path("libmaestro.a"));
    ASSERT_EQ_INT(lines_with(lib, test_only), 0);
    free(lib);
    char *bin = run_tool("nm", "-A", bin_path());
    ASSERT_EQ_INT(lines_with(bin, test_only), 0);
    free(bin);
    char *strs = run_tool("strings", "-a", bin_path());
    ASSERT_EQ_INT(lines_with(strs, (const char *const[]){"MAESTRO_SCRIPT", NULL}), 0);
    free(strs);
    /* the CLI's test build is where they went */
    char *tb = run_tool("nm", "-A", fl_path("tests/maestro-test"));
    ASSERT_CMP_INT(lines_with(tb, (const char *const[]){"mae_scripted_new", NULL}), ==, 1);
    free(tb);
}

/* Our generated protobuf code is package mae.pb (proto/maestro/internal/): an embedder's own
 * generated google.protobuf or maestro.v1 code must link beside libmaestro.a. */
TEST(no_generated_symbol_an_embedder_could_also_define) {
    static const char *const clash[] = {"google__protobuf__", "maestro__v1__", NULL};
    const char *files[] = {fl_path("libmaestro.a"), fl_path("libmaestro_stub.a"), bin_path()};
    for (size_t i = 0; i < 3; i++) {
        char *syms = run_tool("nm", "-A", files[i]);
        ASSERT_EQ_INT(lines_with(syms, clash), 0);
        free(syms);
    }
    /* the scan sees the renamed descriptors */
    char *syms = run_tool("nm", "-A", fl_path("libmaestro.a"));
    ASSERT_CMP_INT(lines_with(syms, (const char *const[]){"mae__pb__struct__descriptor", NULL}), ==, 1);
    free(syms);
}

/* Names: a global symbol of the archives that starts with mae_ is public, so some header under
 * include/maestro/ declares it; everything else internal is mae__* or static. (The .so's export
 * list is checked against the installed headers in test_install; this covers static linking.) */
TEST(every_global_mae_symbol_of_the_archives_is_declared_in_a_public_header) {
    char *hdr_out = NULL, *hdr_err = NULL;
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "cat %s/*.h | grep -oE '\\bmae_[a-z0-9_]+[[:space:]]*\\(' | tr -d '( \\t'",
             th_path("include/maestro"));
    char *argv[] = {"sh", "-c", cmd, NULL};
    ASSERT_EQ_INT(th_run(argv, NULL, &hdr_out, &hdr_err), 0);
    free(hdr_err);
    ASSERT_CONTAINS(hdr_out, "mae_run_start\n");
    const char *libs[] = {fl_path("libmaestro.a"), fl_path("libmaestro_stub.a")};
    int publics = 0;
    for (size_t i = 0; i < 2; i++) {
        char *syms = run_tool("nm", "-g", libs[i]);
        for (char *line = strtok(syms, "\n"); line; line = strtok(NULL, "\n")) {
            char type, name[256];
            if (sscanf(line, "%*s %c %255s", &type, name) != 2 || type == 'U') continue;
            if (strncmp(name, "mae_", 4) != 0 || name[4] == '_') continue;
            char want[260];
            snprintf(want, sizeof want, "%s\n", name);
            /* the declared list holds whole names, one a line */
            const char *p = hdr_out;
            int found = 0;
            while ((p = strstr(p, want)) != NULL) {
                if (p == hdr_out || p[-1] == '\n') { found = 1; break; }
                p++;
            }
            if (!found) th_fail(__FILE__, __LINE__, "%s: global %s is not in include/maestro/ (make it mae__ or static)",
                                libs[i], name);
            publics++;
        }
        free(syms);
    }
    /* and the scan did see the public API */
    ASSERT_CMP_INT(publics, >=, 20);
    free(hdr_out);
}
