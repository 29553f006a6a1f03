/*
 * replay.c: a main() for the fuzz target without libFuzzer, so that any
 * compiler (and valgrind) can run the committed corpus and the crash
 * reproducers as a regression test:
 *
 *     meson setup build -Dtests=true && ninja -C build replay_decode
 *     build/replay_decode core/fuzz/corpus/decode core/fuzz/regressions
 *
 * (replay_tree likewise for fuzz_tree.c; meson.build builds both.)
 *
 * Each argument is a file or a directory of files (not recursive).  It
 * prints "N passed, 0 failed" after feeding every file once; a failed
 * check aborts with the check's text on stderr, after a line naming the
 * input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

/* Feeds one file; returns 0, or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long size;
    int rc = -1;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        /* An exact-size buffer, as libFuzzer gives, so that an overread
         * is one past the end (malloc(0) may be NULL: ask for 1). */
        data = malloc(size > 0 ? (size_t)size : 1);
        if (data != NULL && fread(data, 1, (size_t)size, f) == (size_t)size) {
            fprintf(stderr, "replay: %s\n", path);
            LLVMFuzzerTestOneInput(data, (size_t)size);
            rc = 0;
        }
    }
    if (rc < 0) {
        perror(path);
    }
    free(data);
    fclose(f);
    return rc;
}

/* Feeds every regular file in a directory, in name order so that a run
 * is repeatable; returns the count, or -1. */
static int
replay_dir(const char *dir)
{
    struct dirent **names;
    char path[4096];
    struct stat st;
    int n = scandir(dir, &names, NULL, alphasort), i, count = 0;

    if (n < 0) {
        perror(dir);
        return -1;
    }
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode)) {
            if (replay_file(path) < 0) {
                count = -1;
            }
            else if (count >= 0) {
                count++;
            }
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int
main(int argc, char **argv)
{
    struct stat st;
    int i, n, total = 0;

    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 2;
        }
        n = S_ISDIR(st.st_mode) ? replay_dir(argv[i])
                                : (replay_file(argv[i]) < 0 ? -1 : 1);
        if (n < 0) {
            return 2;
        }
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no input files\n");
        return 2;
    }
    printf("%d passed, 0 failed\n", total);
    return 0;
}
