/* The project's documentation stays self-contained: every relative link of README.md and docs/
 * resolves to a file of the repository (tests/check_links.sh), and the check itself catches a
 * missing file, a missing heading, a link leaving the repository and a reference to ../shared. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static void put(const char *dir, const char *rel, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

/* Removes a scratch repository and the directory around it. */
static void cleanup(char *root) {
    char *argv[] = {"rm", "-rf", NULL, NULL};
    char *slash = strrchr(root, '/');
    *slash = 0;
    argv[2] = root;
    char *out = NULL, *err = NULL;
    th_run(argv, NULL, &out, &err);
    free(out);
    free(err);
    free(root);
}

/* Runs the checker on root (and optional files); returns its exit code, *out its stdout. */
static int check(const char *root, const char *file, char **out) {
    char *err = NULL;
    char *argv[] = {"/bin/sh", (char *)th_path("tests/check_links.sh"), (char *)root, (char *)file, NULL};
    int rc = th_run(argv, NULL, out, &err);
    free(err);
    return rc;
}

/* A scratch repository: docs/guide.md with two headings, and an outside file next to it. */
static char *scratch(void) {
    char tmpl[] = "/tmp/maestro-links-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ASSERT_NOT_NULL(dir);
    char *root = malloc(4096);
    snprintf(root, 4096, "%s/repo", dir);
    ASSERT_EQ_INT(mkdir(root, 0700), 0);
    char docs[4096];
    snprintf(docs, sizeof docs, "%s/docs", root);
    ASSERT_EQ_INT(mkdir(docs, 0700), 0);
    put(root, "docs/guide.md", "# Guide\n\n## Retries and backoff\n\n```\n# not a heading\n```\n");
    put(dir, "outside.md", "# Outside\n");
    return root;
}

TEST(readme_and_docs_links_resolve) {
    char *out = NULL;
    int rc = check(th_path("."), NULL, &out);
    if (rc != 0) th_fail(__FILE__, __LINE__, "tests/check_links.sh failed (exit %d):\n%s", rc, out);
    ASSERT_CONTAINS(out, "every link resolves");
    free(out);
}

TEST(docs_reference_every_page) {
    /* The index links every page of the reference, so none is orphaned. */
    char *idx = th_read_file(th_path("docs/README.md"), NULL);
    ASSERT_NOT_NULL(idx);
    const char *pages[] = {"(workflow-language.md)", "(cli.md)", "(failure-semantics.md)",
                           "(run-report.md)", "(embedding.md)"};
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) ASSERT_CONTAINS(idx, pages[i]);
    char *readme = th_read_file(th_path("README.md"), NULL);
    ASSERT_NOT_NULL(readme);
    ASSERT_CONTAINS(readme, "(docs/README.md)");
    free(idx);
    free(readme);
}

TEST(checker_accepts_good_links) {
    char *root = scratch();
    put(root, "README.md",
        "See [the guide](docs/guide.md), [retries](docs/guide.md#retries-and-backoff),\n"
        "[the docs](docs/) and [the web](https://example.com/x.md).\n"
        "`[not a link](nowhere.md)`\n```\n[in code](nowhere.md)\n```\n");
    char *out = NULL;
    int rc = check(root, "README.md", &out);
    if (rc != 0) th_fail(__FILE__, __LINE__, "expected exit 0, got %d:\n%s", rc, out);
    free(out);
    cleanup(root);
}

TEST(checker_rejects_broken_links) {
    char *root = scratch();
    put(root, "README.md",
        "[missing](docs/missing.md)\n"
        "[bad anchor](docs/guide.md#not-a-heading)\n"
        "[outside](../outside.md)\n"
        "The contract is in ../shared/SPEC.md.\n"
        "[self](#nothing-here)\n");
    char *out = NULL;
    int rc = check(root, "README.md", &out);
    ASSERT_EQ_INT(rc, 1);
    ASSERT_CONTAINS(out, "README.md:1: broken link 'docs/missing.md'");
    ASSERT_CONTAINS(out, "README.md:2: broken link 'docs/guide.md#not-a-heading': no heading");
    ASSERT_CONTAINS(out, "README.md:3: link '../outside.md' leaves the repository");
    ASSERT_CONTAINS(out, "README.md:4: refers outside the repository");
    ASSERT_CONTAINS(out, "README.md:5: broken link '#nothing-here'");
    free(out);
    /* The heading inside a code block is not an anchor either. */
    put(root, "README.md", "[x](docs/guide.md#not-a-heading)\n");
    rc = check(root, "README.md", &out);
    ASSERT_EQ_INT(rc, 1);
    free(out);
    cleanup(root);
}
