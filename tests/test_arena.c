/* Unit tests: the arena, diagnostics and error table the other modules stand on. */
#include "harness.h"
#include "maestro/maestro.h"
#include "workflow/arena.h"
#include "workflow/diag.h"

TEST(arena_alignment_zeroing_and_limit) {
    mae_arena a;
    mae__arena_init(&a, 1 << 20);
    char *p = mae__arena_alloc(&a, 3);
    char *q = mae__arena_alloc(&a, 5);
    ASSERT_EQ_INT((uintptr_t)p % 16, 0);
    ASSERT_EQ_INT((uintptr_t)q % 16, 0);
    ASSERT_EQ_INT(q - p, 16);
    ASSERT_EQ_INT(q[4], 0);
    char *big = mae__arena_alloc(&a, 200000);     /* its own chunk */
    ASSERT_NOT_NULL(big);
    char *after = mae__arena_alloc(&a, 8);         /* still from the first chunk */
    ASSERT_EQ_INT(after - q, 16);
    ASSERT_NULL(mae__arena_alloc(&a, 1 << 20));    /* past the limit */
    ASSERT_EQ_STR(mae__arena_strndup(&a, "abcdef", 3), "abc");
    mae__arena_free(&a);
}

TEST(diags_sorted_and_capped) {
    mae_diags d;
    mae__diags_init(&d, "wf.yaml");
    d.max = 3;
    mae__diag_add(&d, (mae_pos){4, 2}, "second %d", 2);
    mae__diag_add(&d, (mae_pos){1, 9}, "first");
    mae__diag_add(&d, (mae_pos){4, 2}, "third");
    mae__diag_add(&d, (mae_pos){9, 9}, "dropped");
    mae__diags_sort(&d);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    mae__diags_print(&d, f);
    fclose(f);
    ASSERT_EQ_STR(buf, "wf.yaml:1:9: error: first\n"
                       "wf.yaml:4:2: error: second 2\n"
                       "wf.yaml:4:2: error: third\n"
                       "wf.yaml: error: 1 more errors not shown\n");
    free(buf);
    mae__diags_free(&d);
}

TEST(error_table) {
    ASSERT_EQ_STR(mae_strerror(MAE_ETIMEDOUT), "timed out");
    ASSERT_EQ_STR(mae_err_name(MAE_ENOMEM), "NOMEM");
    ASSERT_EQ_STR(mae_strerror(0), "success");
    ASSERT_EQ_STR(mae_strerror(12345), "unknown error");
}
