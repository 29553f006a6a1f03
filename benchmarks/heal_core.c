/* A tree's heal after a real IN_Q_OVERFLOW, timed in C on the core alone.

       heal_core ROOT MASK FLAGS CPU BEFORE AFTER

   Talks to run.py by lines, as consumer.py's heal mode does:

   1. prints STARTED and waits for OPEN (run.py lowers max_queued_events
      meanwhile: the kernel reads it when the instance is made), opens the
      watcher and prints OPENED (run.py puts the limit back);
   2. watches the tree ROOT (ino_add_tree, with MASK and FLAGS), takes
      every event the setup left, writes the tree's index to the file
      BEFORE and prints READY with the setup's seconds;
   3. waits for GO, without reading: run.py meanwhile queues more events
      than the kernel's queue holds and then changes the tree (the blind
      window: these records are lost);
   4. reads and takes events until the INO_SYNCED event, then writes the
      index to AFTER and prints one JSON line: the seconds from just
      before the first read to the IN_Q_OVERFLOW event and to the
      INO_SYNCED one (the heal runs in the read that finds the kernel's
      queue empty after the overflow), and every event marked INO_RESCAN
      as [mask, path, src], with counts of the others.

   An index file has one line per entry, "KIND<TAB>PATH", the kind as
   Watch.entries() names it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity; meson defines it already */
#endif
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ino.h"

/* How long to wait for an event before giving up, in ms. */
#define WAIT_MS 60000

static double
now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* CPU seconds this process has used, user and system. */
static double
cpu_now(void)
{
    struct rusage u;

    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
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

/* Waits for a line on stdin that starts with word; 0, or -1 at EOF. */
static int
expect(const char *word)
{
    char line[256];

    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strncmp(line, word, strlen(word)) == 0) {
            return 0;
        }
    }
    return -1;
}

static void
say(const char *line)
{
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Writes s[0..len) as a JSON string. */
static void
json_str(FILE *f, const char *s, size_t len)
{
    size_t i;

    fputc('"', f);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        }
        else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        }
        else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static const char *const KINDS[] = {"unknown", "file", "dir", "symlink",
                                    "other"};

static int
write_entry(void *arg, const ino_tree_entry *e)
{
    FILE *f = arg;
    int t = e->type >= 0 && e->type <= INO_FT_OTHER ? e->type : 0;

    fprintf(f, "%s\t%.*s\n", KINDS[t], (int)e->path_len, e->path);
    return 0;
}

static int
write_index(ino_watcher *w, int32_t wd, const char *path)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (f == NULL) {
        return -errno;
    }
    rc = ino_tree_entries(w, wd, write_entry, f);
    if (fclose(f) != 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
}

/* What step 4 saw. */
struct seen {
    double t_overflow;  /* seconds from the first read, or -1 */
    double t_synced;    /* the same, or -1 */
    double cpu;         /* CPU seconds from the first read to INO_SYNCED */
    long reads;         /* ino_read() calls */
    long before;        /* events before the overflow */
    long overflows;     /* IN_Q_OVERFLOW events */
    long plain_after;   /* events without INO_RESCAN after the overflow */
    long rescan;        /* events with INO_RESCAN */
    FILE *events;       /* where the INO_RESCAN events are written */
};

/* One event of step 4; returns 1 at INO_SYNCED. */
static int
see(struct seen *s, const ino_event *ev, double t)
{
    if (ev->wd == -1 && (ev->mask & IN_Q_OVERFLOW)) {
        if (s->overflows++ == 0) {
            s->t_overflow = t;
        }
        return 0;
    }
    if (ev->mask & INO_SYNCED) {
        s->t_synced = t;
        return 1;
    }
    if (s->overflows == 0) {
        s->before++;
        return 0;
    }
    if (!(ev->mask & INO_RESCAN)) {
        s->plain_after++;
        return 0;
    }
    fprintf(s->events, "%s[%u, ", s->rescan++ ? ", " : "", (unsigned)ev->mask);
    json_str(s->events, ev->name, ev->name_len);
    fputs(", ", s->events);
    if (ev->src != NULL) {
        json_str(s->events, ev->src, ev->src_len);
    }
    else {
        fputs("null", s->events);
    }
    fputc(']', s->events);
    return 0;
}

/* Step 4: reads and takes events until INO_SYNCED; 0 or a negative
 * errno (-ETIMEDOUT when none comes). */
static int
heal(ino_watcher *w, struct seen *s)
{
    double t0 = now(), c0 = cpu_now();
    ino_event ev;
    long rc;

    for (;;) {
        if ((rc = ino_read(w)) < 0) {
            return (int)rc;
        }
        s->reads++;
        while (ino_next(w, &ev)) {
            if (see(s, &ev, now() - t0)) {
                s->cpu = cpu_now() - c0;
                return 0;
            }
        }
        if (ino_drained(w)) {
            struct pollfd p = {.fd = ino_fd(w), .events = POLLIN};
            if (poll(&p, 1, WAIT_MS) == 0) {
                return -ETIMEDOUT;
            }
        }
    }
}

int
main(int argc, char **argv)
{
    ino_watcher w;
    ino_entry *root;
    ino_event ev;
    struct seen s = {-1, -1, 0, 0, 0, 0, 0, 0, NULL};
    char *buf = NULL;
    size_t buf_len = 0;
    double t0, t1;
    int32_t wd;
    int rc;

    if (argc < 7) {
        fprintf(stderr, "usage: heal_core ROOT MASK FLAGS CPU BEFORE AFTER\n");
        return 2;
    }
    pin(argv[4]);
    say("STARTED");
    if (expect("OPEN") < 0) {
        return 1;
    }
    if ((rc = ino_open(&w, 0)) < 0) {
        fprintf(stderr, "ino_open: %s\n", strerror(-rc));
        return 1;
    }
    say("OPENED");
    t0 = now();
    rc = ino_add_tree(&w, argv[1], (uint32_t)strtoul(argv[2], NULL, 0), NULL,
                      0, atoi(argv[3]), &root, NULL);
    t1 = now();
    if (rc < 0) {
        fprintf(stderr, "ino_add_tree %s: %s\n", argv[1], strerror(-rc));
        return 1;
    }
    wd = root->wd;
    do {
        if (ino_read(&w) < 0) {
            return 1;
        }
        while (ino_next(&w, &ev)) {
        }
    } while (!ino_drained(&w));
    if ((rc = write_index(&w, wd, argv[5])) < 0) {
        fprintf(stderr, "index %s: %s\n", argv[5], strerror(-rc));
        return 1;
    }
    printf("READY {\"setup_s\": %.9f, \"dirs\": %zu, \"files\": %zu}\n",
           t1 - t0, ino_tree_size(&w, wd), ino_tree_files(&w, wd));
    fflush(stdout);
    if (expect("GO") < 0) {
        return 1;
    }
    s.events = open_memstream(&buf, &buf_len);
    if (s.events == NULL) {
        return 1;
    }
    rc = heal(&w, &s);
    fclose(s.events);
    if (rc < 0) {
        fprintf(stderr, "heal: %s\n", strerror(-rc));
        return 1;
    }
    if ((rc = write_index(&w, wd, argv[6])) < 0) {
        fprintf(stderr, "index %s: %s\n", argv[6], strerror(-rc));
        return 1;
    }
    printf(
        "{\"t_overflow_s\": %.9f, \"t_synced_s\": %.9f, \"reads\": %ld, "
        "\"before_overflow\": %ld, \"overflows\": %ld, "
        "\"plain_after\": %ld, \"dirs\": %zu, \"files\": %zu, "
        "\"cpu_s\": %.6f, \"events\": [%s]}\n",
        s.t_overflow, s.t_synced, s.reads, s.before, s.overflows,
        s.plain_after, ino_tree_size(&w, wd), ino_tree_files(&w, wd), s.cpu,
        buf ? buf : "");
    fflush(stdout);
    free(buf);
    ino_close(&w);
    return 0;
}
