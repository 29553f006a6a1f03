/*
 * check.h: the few lines of test harness the C core tests share.
 *
 * A failed CHECK prints file:line and exits at once with status 1: the
 * tests drive one kernel object through a sequence of states, so going on
 * after a broken step would only report its consequences.  A run that gets
 * to the end prints "N passed, 0 failed", N counting test functions; the
 * pytest driver looks for that exact line.
 *
 * Each test program includes this once (everything is static).
 */
#ifndef INO_TESTS_CHECK_H
#define INO_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct check_case {
    const char *name;
    void (*fn)(void);
} check_case;

/* The test running now, named in failure messages. */
static const char *check_current = "?";

/* Set by a test that holds something outside the process (a temp
 * directory) so that a failing CHECK still removes it. */
static void (*check_cleanup)(void);

static void
check_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", file, line,
            check_current, what);
    if (check_cleanup != NULL) {
        void (*cleanup)(void) = check_cleanup;

        check_cleanup = NULL;   /* a failure inside cleanup must not loop */
        cleanup();
    }
    exit(1);
}

static void
check_fail_eq(const char *file, int line, const char *a, const char *b,
              intmax_t va, intmax_t vb)
{
    char what[512];

    snprintf(what, sizeof what, "%s == %s (%jd != %jd)", a, b, va, vb);
    check_fail(file, line, what);
}

#define CHECK(cond)                                          \
    do {                                                     \
        if (!(cond)) {                                       \
            check_fail(__FILE__, __LINE__, #cond);           \
        }                                                    \
    } while (0)

/* Integer equality that shows both values on failure.  Every operand in
 * these tests fits in intmax_t. */
#define CHECK_EQ(a, b)                                                   \
    do {                                                                 \
        intmax_t check_a_ = (intmax_t)(a);                               \
        intmax_t check_b_ = (intmax_t)(b);                               \
        if (check_a_ != check_b_) {                                      \
            check_fail_eq(__FILE__, __LINE__, #a, #b, check_a_,          \
                          check_b_);                                     \
        }                                                                \
    } while (0)

/* Runs every case, or only the one named by argv[1] (handy under gdb);
 * "--list" prints the case names, one a line. */
static int
check_main(int argc, char **argv, const check_case *cases, size_t ncases)
{
    size_t i;
    int passed = 0;

    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (i = 0; i < ncases; i++) {
            printf("%s\n", cases[i].name);
        }
        return 0;
    }
    for (i = 0; i < ncases; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0) {
            continue;
        }
        check_current = cases[i].name;
        cases[i].fn();
        printf("ok %s\n", cases[i].name);
        fflush(stdout);
        passed++;
    }
    if (passed == 0) {
        fprintf(stderr, "no test matched\n");
        return 1;
    }
    printf("%d passed, 0 failed\n", passed);
    return 0;
}

#define CHECK_COUNT(array) (sizeof(array) / sizeof((array)[0]))

#endif /* INO_TESTS_CHECK_H */
