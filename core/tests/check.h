/*
 * check.h: the few lines of test harness the C core tests share
 * (check.c).
 *
 * A failed CHECK prints file:line and exits at once with status 1: the
 * tests drive one kernel object through a sequence of states, so going on
 * after a broken step would only report its consequences.  A run that gets
 * to the end prints "N passed, 0 failed", N counting test functions; the
 * pytest driver looks for that exact line.
 *
 * check_main() runs every case, or only the one named by argv[1]
 * (`./test_tree_moves rename_inside`, handy under gdb); `--list` prints
 * the case names, one a line.
 */
#ifndef INO_TESTS_CHECK_H
#define INO_TESTS_CHECK_H

/* Also for the tests that include this header and not these. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct check_case {
    const char *name;
    void (*fn)(void);
} check_case;

/* The test running now, named in failure messages. */
extern const char *check_current;

/* Set by a test that holds something outside the process (a temp
 * directory) so that a failing CHECK still removes it. */
extern void (*check_cleanup)(void);

/* 1: a failed CHECK aborts instead of exiting with status 1, so that a
 * fuzzer (core/fuzz/fuzz_tree.c) or a sanitizer reports it with a stack. */
extern int check_abort;

void check_fail(const char *file, int line, const char *what);
void check_fail_eq(const char *file, int line, const char *a, const char *b,
                   intmax_t va, intmax_t vb);
int check_main(int argc, char **argv, const check_case *cases, size_t ncases);

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            check_fail(__FILE__, __LINE__, #cond);                            \
        }                                                                     \
    } while (0)

/* Integer equality that shows both values on failure.  Every operand in
 * these tests fits in intmax_t. */
#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        intmax_t check_a_ = (intmax_t)(a);                                    \
        intmax_t check_b_ = (intmax_t)(b);                                    \
        if (check_a_ != check_b_) {                                           \
            check_fail_eq(__FILE__, __LINE__, #a, #b, check_a_, check_b_);    \
        }                                                                     \
    } while (0)

#define CHECK_COUNT(array) (sizeof(array) / sizeof((array)[0]))

#endif /* INO_TESTS_CHECK_H */
