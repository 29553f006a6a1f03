/*
 * common.h: what the libFuzzer targets (fuzz_decode.c, fuzz_tree.c) and
 * replay.c share: the entry point, and the check that stops a run.
 */
#ifndef INO_FUZZ_COMMON_H
#define INO_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The target: libFuzzer's main() calls it, or replay.c's. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run: libFuzzer reports the input as a crash, with a stack
 * from the sanitizers. */
#define FUZZ_CHECK(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__,       \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

#endif /* INO_FUZZ_COMMON_H */
