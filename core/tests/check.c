/*
 * check.c: the test harness of check.h -- failing a check, and running
 * the cases of one test program.
 */
#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *check_current = "?";
void (*check_cleanup)(void);
int check_abort;

void
check_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", file, line, check_current,
            what);
    if (check_cleanup != NULL) {
        void (*cleanup)(void) = check_cleanup;

        check_cleanup = NULL; /* a failure inside cleanup must not loop */
        cleanup();
    }
    if (check_abort) {
        abort();
    }
    exit(1);
}

void
check_fail_eq(const char *file, int line, const char *a, const char *b,
              intmax_t va, intmax_t vb)
{
    char what[512];

    snprintf(what, sizeof what, "%s == %s (%jd != %jd)", a, b, va, vb);
    check_fail(file, line, what);
}

int
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
