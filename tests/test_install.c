/* `make install` as an embedder meets it: each test installs into its own DESTDIR (PREFIX=/usr)
 * through the real Makefile rule, points pkg-config at that tree (PKG_CONFIG_PATH and
 * PKG_CONFIG_SYSROOT_DIR) and uses nothing else: every public header compiles alone with only
 * `pkg-config --cflags maestro`; libmaestro.so exports exactly the functions those headers
 * declare; an embedding host built with only pkg-config's flags, against the shared library and
 * against the static one, runs deploy_service with `maestro stub` (the installed binary) serving
 * its services; `make uninstall` removes every installed file and nothing else. */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "maestro/maestro.h"

/* Runs a shell command line (printf-style) from the source root; returns its exit code. Output
 * goes to *out and *err when given (caller frees), else is printed on failure. */
static int sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char **out, char **err, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8448];
    snprintf(full, sizeof full, "cd '%s' && %s", th_path("."), cmd);
    char *o = NULL, *e = NULL;
    char *argv[] = {"/bin/sh", "-c", full, NULL};
    int rc = th_run(argv, NULL, &o, &e);
    if (rc != 0 && !err) printf("  $ %s\n  exit %d\n%s%s", cmd, rc, o ? o : "", e ? e : "");
    if (out) *out = o; else free(o);
    if (err) *err = e; else free(e);
    return rc;
}

/* The make in this test must not join the jobserver of a `make test` that started it. */
#define MAKE "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory"

/* A fresh DESTDIR with `make install PREFIX=/usr` in it; pkg-config pointed at it. */
static const char *install_tree(void) {
    static char dir[] = "/tmp/maestro-install-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    ASSERT_EQ_INT(sh(NULL, NULL, MAKE " install DESTDIR=%s PREFIX=/usr", dir), 0);
    char pc[512];
    snprintf(pc, sizeof pc, "%s/usr/lib/pkgconfig", dir);
    setenv("PKG_CONFIG_PATH", pc, 1);
    setenv("PKG_CONFIG_SYSROOT_DIR", dir, 1);
    return dir;
}

static void remove_tree(const char *dir) {
    ASSERT_EQ_INT(sh(NULL, NULL, "rm -rf '%s'", dir), 0);
}

/* The names of the public headers in the source tree, space-separated and sorted. */
static char *source_headers(void) {
    char *out = NULL;
    ASSERT_EQ_INT(sh(&out, NULL, "cd include/maestro && ls *.h | sort | tr '\\n' ' '"), 0);
    return out;
}

/* Every file (and symlink) under dir, one "path" or "path -> target" per line, sorted. */
static char *listing(const char *dir) {
    char *out = NULL;
    ASSERT_EQ_INT(sh(&out, NULL, "cd '%s' && find . ! -type d | sort | while read -r f; do "
                     "if [ -L \"$f\" ]; then echo \"$f -> $(readlink \"$f\")\"; else echo \"$f\"; fi; done",
                     dir), 0);
    return out;
}

TEST_T(install_puts_every_file_in_place_and_uninstall_removes_only_them, 300) {
    const char *dir = install_tree();
    char expect[4096];
    int n = snprintf(expect, sizeof expect,
                     "./usr/bin/maestro\n"
                     "./usr/lib/libmaestro.a\n"
                     "./usr/lib/libmaestro.so -> libmaestro.so.0\n"
                     "./usr/lib/libmaestro.so.0 -> libmaestro.so.%s\n"
                     "./usr/lib/libmaestro.so.%s\n"
                     "./usr/lib/pkgconfig/maestro.pc\n"
                     "./usr/share/bash-completion/completions/maestro\n"
                     "./usr/share/zsh/site-functions/_maestro\n",
                     MAE_VERSION, MAE_VERSION);
    char *hdrs = source_headers();
    ASSERT_CONTAINS(hdrs, "maestro.h ");
    for (char *tok = strtok(hdrs, " "); tok; tok = strtok(NULL, " "))
        n += snprintf(expect + n, sizeof expect - (size_t)n, "./usr/include/maestro/%s\n", tok);
    free(hdrs);
    const char *man = access(th_path("docs/maestro.1"), R_OK) == 0 || access(th_path("docs/man/maestro.1"), R_OK) == 0 ||
                      access(th_path("man/maestro.1"), R_OK) == 0 ? "./usr/share/man/man1/maestro.1\n" : "";
    snprintf(expect + n, sizeof expect - (size_t)n, "%s", man);
    char *sorted = NULL;
    char *exp_file = th_write_temp(expect, strlen(expect), ".txt");
    ASSERT_EQ_INT(sh(&sorted, NULL, "sort '%s'", exp_file), 0);
    char *got = listing(dir);
    ASSERT_EQ_STR(got, sorted);
    free(got);
    free(sorted);
    unlink(exp_file);
    free(exp_file);

    /* The soname, the installed binary, and what pkg-config says about the tree. */
    char *out = NULL;
    ASSERT_EQ_INT(sh(&out, NULL, "readelf -d '%s/usr/lib/libmaestro.so' | grep SONAME", dir), 0);
    ASSERT_CONTAINS(out, "[libmaestro.so.0]");
    free(out);
    ASSERT_EQ_INT(sh(&out, NULL, "'%s/usr/bin/maestro' version", dir), 0);
    ASSERT_CONTAINS(out, MAE_VERSION);
    free(out);
    ASSERT_EQ_INT(sh(&out, NULL, "pkg-config --modversion maestro"), 0);
    ASSERT_EQ_STR(out, MAE_VERSION "\n");
    free(out);
    ASSERT_EQ_INT(sh(&out, NULL, "pkg-config --print-requires maestro; pkg-config --print-requires-private maestro | sort"), 0);
    ASSERT_EQ_STR(out, "libuv\nlibcjson\nlibnghttp2\nlibprotobuf-c\nyaml-0.1\nzlib\n");   /* OpenSSL: dlopen */
    free(out);
    ASSERT_EQ_INT(sh(&out, NULL, "grep -E '^(prefix=|Libs:|Libs.private:|Cflags:)' '%s/usr/lib/pkgconfig/maestro.pc'", dir), 0);
    ASSERT_EQ_STR(out, "prefix=/usr\nCflags: -I${includedir}\nLibs: -L${libdir} -lmaestro\n"
                       "Libs.private: -ldl -lhttp_parser -lm\n");
    free(out);

    /* Files that are not ours stay where they are. */
    ASSERT_EQ_INT(sh(NULL, NULL, "touch '%s/usr/lib/libother.a' '%s/usr/include/other.h' '%s/usr/bin/other'",
                     dir, dir, dir), 0);
    ASSERT_EQ_INT(sh(NULL, NULL, MAKE " uninstall DESTDIR=%s PREFIX=/usr", dir), 0);
    got = listing(dir);
    ASSERT_EQ_STR(got, "./usr/bin/other\n./usr/include/other.h\n./usr/lib/libother.a\n");
    free(got);
    ASSERT_NE_INT(access(dir, F_OK), -1);
    char inc[512];
    snprintf(inc, sizeof inc, "%s/usr/include/maestro", dir);
    ASSERT_EQ_INT(access(inc, F_OK), -1);   /* our directory goes too */
    remove_tree(dir);
}

TEST_T(prefix_defaults_to_usr_local, 300) {
    static char dir[] = "/tmp/maestro-install-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    ASSERT_EQ_INT(sh(NULL, NULL, MAKE " install DESTDIR=%s", dir), 0);
    char *out = NULL;
    ASSERT_EQ_INT(sh(&out, NULL, "cd '%s' && ls usr/local/bin && ls usr/local/include/maestro/maestro.h && "
                                 "grep '^prefix=' usr/local/lib/pkgconfig/maestro.pc", dir), 0);
    ASSERT_EQ_STR(out, "maestro\nusr/local/include/maestro/maestro.h\nprefix=/usr/local\n");
    free(out);
    ASSERT_EQ_INT(sh(NULL, NULL, MAKE " uninstall DESTDIR=%s", dir), 0);
    char *got = listing(dir);
    ASSERT_EQ_STR(got, "");
    free(got);
    remove_tree(dir);
}

TEST_T(every_public_header_compiles_alone_with_only_pkg_config_cflags, 300) {
    const char *dir = install_tree();
    char *hdrs = source_headers();
    int count = 0;
    for (char *tok = strtok(hdrs, " "); tok; tok = strtok(NULL, " ")) {
        char src[256];
        int n = snprintf(src, sizeof src, "#include <maestro/%s>\n", tok);
        char *file = th_write_temp(src, (size_t)n, ".c");
        char *err = NULL;
        int rc = sh(NULL, &err, "cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags maestro) "
                                "-fsyntax-only '%s'", file);
        if (rc != 0) printf("  <maestro/%s> alone:\n%s", tok, err);
        ASSERT_EQ_INT(rc, 0);
        free(err);
        unlink(file);
        free(file);
        count++;
    }
    free(hdrs);
    ASSERT_CMP_INT(count, >=, 1);
    /* The flags point into the installed tree, not the source tree. */
    char *out = NULL;
    ASSERT_EQ_INT(sh(&out, NULL, "pkg-config --cflags maestro"), 0);
    char want[512];
    snprintf(want, sizeof want, "-I%s/usr/include", dir);
    ASSERT_CONTAINS(out, want);
    free(out);
    remove_tree(dir);
}

/* Appends each function name declared at file scope in preprocessed C text: the identifier before
 * the first "(" of a statement that is not a typedef and not static. Bodies of inline functions
 * and of struct/enum definitions are skipped. */
static void declared_functions(const char *text, char *names, size_t cap) {
    const char *p = text;
    names[0] = '\0';
    while (*p) {
        /* One statement: up to a ';' outside braces and parentheses, or a function body's '}'. */
        const char *start = p;
        int depth = 0, paren = 0, saw_paren = 0;
        for (; *p; p++) {
            if (*p == '(') { paren++; saw_paren |= depth == 0; }
            if (*p == ')') paren--;
            if (*p == '{') depth++;
            if (*p == '}' && --depth == 0 && paren == 0) {
                /* A struct body is followed by declarators and ';', a function body is not. */
                const char *q = p + 1;
                while (isspace((unsigned char)*q)) q++;
                if (*q != ';' && saw_paren) { p++; break; }
            }
            if (*p == ';' && depth == 0 && paren == 0) { p++; break; }
        }
        size_t len = (size_t)(p - start);
        char stmt[4096];
        if (!saw_paren || len >= sizeof stmt) continue;
        memcpy(stmt, start, len);
        stmt[len] = '\0';
        const char *s = stmt;
        while (isspace((unsigned char)*s)) s++;
        if (strncmp(s, "typedef", 7) == 0 || strstr(stmt, "static ")) continue;
        /* The identifier before the first '(' that does not open an attribute. */
        const char *q = stmt;
        for (const char *fp; (fp = strchr(q, '('));) {
            const char *e = fp;
            while (e > stmt && isspace((unsigned char)e[-1])) e--;
            const char *b = e;
            while (b > stmt && (isalnum((unsigned char)b[-1]) || b[-1] == '_')) b--;
            if ((e - b == 13 && strncmp(b, "__attribute__", 13) == 0) || (e - b == 7 && strncmp(b, "__asm__", 7) == 0)) {
                int d = 0;
                q = fp;
                do { d += *q == '(' ? 1 : *q == ')' ? -1 : 0; q++; } while (*q && d > 0);
                continue;
            }
            size_t used = strlen(names);
            if (b < e) snprintf(names + used, cap - used, "%.*s\n", (int)(e - b), b);
            break;
        }
    }
}

TEST_T(shared_library_exports_exactly_the_functions_the_headers_declare, 300) {
    const char *dir = install_tree();
    /* All installed headers through the preprocessor, with only pkg-config's flags. */
    char *hdrs = source_headers();
    char src[4096] = "";
    for (char *tok = strtok(hdrs, " "); tok; tok = strtok(NULL, " "))
        snprintf(src + strlen(src), sizeof src - strlen(src), "#include <maestro/%s>\n", tok);
    free(hdrs);
    char *file = th_write_temp(src, strlen(src), ".c");
    char *pre = NULL;
    ASSERT_EQ_INT(sh(&pre, NULL, "cc -std=c11 -E -P $(pkg-config --cflags maestro) '%s'", file), 0);
    unlink(file);
    free(file);
    static char all[1 << 20];
    declared_functions(pre, all, sizeof all);
    free(pre);
    /* Ours: what the system headers around them declare does not start with mae_. */
    char *decl_file = th_write_temp(all, strlen(all), ".txt");
    char *declared = NULL;
    ASSERT_EQ_INT(sh(&declared, NULL, "grep '^mae_' '%s' | sort -u", decl_file), 0);
    unlink(decl_file);
    free(decl_file);
    ASSERT_CONTAINS(declared, "mae_run_start\n");
    ASSERT_CONTAINS(declared, "mae_strerror\n");

    /* The linker's own markers are not part of any API. */
    char *exported = NULL;
    ASSERT_EQ_INT(sh(&exported, NULL, "nm -D --defined-only '%s/usr/lib/libmaestro.so' | awk '{print $3}' | "
                                      "grep -vxE '_init|_fini|__bss_start|_edata|_end' | sort -u", dir), 0);
    ASSERT_EQ_STR(exported, declared);
    /* And every export is code, not data or a variable someone could write. */
    char *types = NULL;
    ASSERT_EQ_INT(sh(&types, NULL, "nm -D --defined-only '%s/usr/lib/libmaestro.so' | "
                                   "grep -vE ' (_init|_fini|__bss_start|_edata|_end)$' | awk '{print $2}' | sort -u", dir), 0);
    ASSERT_EQ_STR(types, "T\n");
    free(types);
    free(exported);
    free(declared);
    remove_tree(dir);
}

TEST(declared_functions_reads_declarations_not_typedefs_bodies_or_statics) {
    char got[1024];
    declared_functions("typedef void (*mae_cb)(int x);\n"
                       "struct mae_s { int (*f)(void); int a; };\n"
                       "typedef struct { int b; } mae_t;\n"
                       "__attribute__((visibility(\"default\"))) const char *mae_one(int e);\n"
                       "int mae_two(struct mae_s *s, mae_cb cb) __attribute__((nonnull));\n"
                       "static inline int mae_inline(void) { return mae_one(0) != 0; }\n"
                       "extern int printf(const char *, ...);\n"
                       "void\nmae_three(void);\n",
                       got, sizeof got);
    ASSERT_EQ_STR(got, "mae_one\nmae_two\nprintf\nmae_three\n");
}

/* The host the test builds: the api's example once it exists, else our own small one. */
static const char *host_source(int *is_example) {
    *is_example = access(th_path("examples/embed/embed.c"), R_OK) == 0;
    return *is_example ? "examples/embed/embed.c" : "tests/embed/host.c";
}

/* `maestro stub examples/stubs/deploy_service.yaml` from the installed tree, all five services
 * listening on the file's own ports (the example's workflow names them). Another test on this
 * machine may hold one of those ports for a moment: try again until it is free. */
static void start_stub(const char *dir, th_proc *stub, char **log) {
    char bin[512];
    snprintf(bin, sizeof bin, "%s/usr/bin/maestro", dir);
    *log = th_write_temp("", 0, ".jsonl");
    char *argv[] = {bin, "stub", (char *)th_path("examples/stubs/deploy_service.yaml"), "--log", *log, NULL};
    for (int attempt = 0; attempt < 30; attempt++) {
        if (th_spawn(stub, argv, 20) == 0) {
            int ports = 1;
            char line[256];
            while (ports < 5 && fgets(line, sizeof line, stub->out)) ports += strncmp(line, "PORT ", 5) == 0;
            if (ports == 5) return;
            th_stop(stub);
        }
        printf("  (stub ports busy, attempt %d)\n", attempt + 1);
        sleep(1);
    }
    ASSERT_TRUE(!"maestro stub could not listen on deploy_service's ports");
}

/* Builds the host with cc and only pkg-config's flags, runs it from the source root with the
 * stub serving; returns the host's output. */
static void build_and_run(const char *dir, const char *pc_flags, const char *env, int want_shared) {
    int is_example = 0;
    const char *src = host_source(&is_example);
    char exe[512];
    snprintf(exe, sizeof exe, "%s/host", dir);
    ASSERT_EQ_INT(sh(NULL, NULL, "cc -Wall -Wextra -o '%s' '%s' %s", exe, src, pc_flags), 0);
    char *needed = NULL;
    ASSERT_EQ_INT(sh(&needed, NULL, "readelf -d '%s' | grep NEEDED || true", exe), 0);
    if (want_shared) ASSERT_CONTAINS(needed, "[libmaestro.so.0]");
    else ASSERT_TRUE(strstr(needed, "libmaestro") == NULL);
    free(needed);

    th_proc stub;
    char *log = NULL;
    start_stub(dir, &stub, &log);
    char *out = NULL, *err = NULL;
    int rc = sh(&out, &err, "%s '%s'", env, exe);
    th_stop(&stub);
    if (rc != 0) printf("  host (%s) exit %d\n%s%s", src, rc, out, err);
    ASSERT_EQ_INT(rc, 0);
    if (is_example) {
        /* The example ran deploy_service through the stub: every forward step was called. */
        char *calls = th_read_file(log, NULL);
        ASSERT_NOT_NULL(calls);
        ASSERT_CONTAINS(calls, "CreateInstance");
        ASSERT_CONTAINS(calls, "Deploy");
        free(calls);
    }
    free(out);
    free(err);
    unlink(log);
    free(log);
}

TEST_T(embedding_host_links_the_shared_library_with_only_pkg_config_and_runs, 300) {
    const char *dir = install_tree();
    char env[600];
    snprintf(env, sizeof env, "LD_LIBRARY_PATH='%s/usr/lib'", dir);
    build_and_run(dir, "$(pkg-config --cflags --libs maestro)", env, 1);
    remove_tree(dir);
}

TEST_T(embedding_host_links_the_static_library_with_only_pkg_config_and_runs, 300) {
    /* A tree with only the archive: -lmaestro can only mean libmaestro.a, and --static brings in
     * Requires.private and Libs.private. Runs with no LD_LIBRARY_PATH. */
    const char *dir = install_tree();
    ASSERT_EQ_INT(sh(NULL, NULL, "rm '%s'/usr/lib/libmaestro.so*", dir), 0);
    build_and_run(dir, "$(pkg-config --static --cflags --libs maestro)", "", 0);
    remove_tree(dir);
}
