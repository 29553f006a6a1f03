/* The memory of a tree's index, measured in C on the core alone.

       index_mem ROOT WARMUP FLAGS CPU

   Opens a watcher and watches the small tree WARMUP first (so that what
   a watcher allocates once, whatever its trees' sizes, is there before
   the first reading: its read and scan buffers, a queue chunk, the first
   tables), then the tree ROOT with ino_add_tree(mask IN_ALL_EVENTS, the
   default of watch_tree(); FLAGS as ino_add_tree() takes them: 0, or
   INO_TREE_NO_FILES = 2 for an index of directories only), takes every
   event that left (the scan's own opens and closes), and prints one JSON
   line: the growth of the heap over the call (glibc's mallinfo2(): the
   bytes of chunks in use, headers and rounding included, plus the mmap()ed
   ones, so every byte malloc() hands the core, and nothing the kernel
   holds for the watches), the growth of RSS, the seconds the call took
   (CLOCK_MONOTONIC), and what the tree holds (ino_tree_size(),
   ino_tree_files()).  The heap is read after the events are taken, so a
   queue chunk still holding them is not counted. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity; meson defines it already */
#endif
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ino.h"

/* CPU seconds this process has used, user and system. */
static double
cpu_now(void)
{
    struct rusage u;

    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static long
rss_bytes(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) {
            res = 0;
        }
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

/* Bytes malloc() has handed out and not had back: chunks in use in the
 * arenas and chunks of their own mapping. */
static long
heap_bytes(void)
{
    struct mallinfo2 m = mallinfo2();

    return (long)(m.uordblks + m.hblkhd);
}

static double
now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Reads and takes every event until the kernel's queue is seen empty.
 * Returns the events taken, or a negative errno. */
static long
take_all(ino_watcher *w)
{
    ino_event ev;
    long n = 0, rc;

    do {
        if ((rc = ino_read(w)) < 0) {
            return rc;
        }
        while (ino_next(w, &ev)) {
            n++;
        }
    } while (!ino_drained(w));
    return n;
}

static void
pin(const char *cpu)
{
    cpu_set_t set;

    if (atoi(cpu) < 0) {
        return;
    }
    CPU_ZERO(&set);
    CPU_SET(atoi(cpu), &set);
    sched_setaffinity(0, sizeof set, &set);
}

int
main(int argc, char **argv)
{
    ino_watcher w;
    ino_entry *root, *warm;
    long h0, h1, r0, r1, taken;
    double t0, t1, c0, c1;
    int flags, rc;

    if (argc < 4) {
        fprintf(stderr, "usage: index_mem ROOT WARMUP FLAGS [CPU]\n");
        return 2;
    }
    flags = atoi(argv[3]);
    if (argc > 4) {
        pin(argv[4]);
    }
    if ((rc = ino_open(&w, 0)) < 0) {
        fprintf(stderr, "ino_open: %s\n", strerror(-rc));
        return 1;
    }
    rc = ino_add_tree(&w, argv[2], IN_ALL_EVENTS, NULL, 0, flags, &warm, NULL);
    if (rc < 0 || take_all(&w) < 0) {
        fprintf(stderr, "warm-up tree %s: %s\n", argv[2], strerror(-rc));
        return 1;
    }
    int32_t warm_wd = warm->wd;
    h0 = heap_bytes();
    r0 = rss_bytes();
    c0 = cpu_now();
    t0 = now();
    rc = ino_add_tree(&w, argv[1], IN_ALL_EVENTS, NULL, 0, flags, &root, NULL);
    t1 = now();
    c1 = cpu_now();
    if (rc < 0) {
        fprintf(stderr, "ino_add_tree %s: %s\n", argv[1], strerror(-rc));
        return 1;
    }
    int32_t wd = root->wd;
    if ((taken = take_all(&w)) < 0) {
        fprintf(stderr, "ino_read: %s\n", strerror((int)-taken));
        return 1;
    }
    h1 = heap_bytes();
    r1 = rss_bytes();
    printf(
        "{\"seconds\": %.9f, \"heap_growth\": %ld, \"rss_growth\": %ld, "
        "\"dirs\": %zu, \"files\": %zu, \"watches\": %zu, "
        "\"events_taken\": %ld, \"cpu_s\": %.6f}\n",
        t1 - t0, h1 - h0, r1 - r0, ino_tree_size(&w, wd),
        ino_tree_files(&w, wd),
        ino_watch_count(&w) - ino_tree_size(&w, warm_wd), taken, c1 - c0);
    fflush(stdout);
    ino_close(&w);
    return 0;
}
