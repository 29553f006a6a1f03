/*
 * inowatch.c: the C core used on its own, with the program's own event
 * loop (here poll(2); epoll, libuv or any loop that watches a descriptor
 * for readability works the same way).  It prints one line per event:
 *
 *   PATH <TAB> BITS <TAB> COOKIE [<TAB> FROM]
 *
 * PATH is the watched path joined with the event's name, BITS the event's
 * bits by name joined with '|', FROM the old path of a paired move in a
 * tree.
 *
 *   inowatch [-r] [-o] [-m MASK] [-x GLOB]... [-n COUNT] [-t SECONDS] PATH...
 *
 *   -r          watch each PATH as a tree (every directory below it, now
 *               and later)
 *   -m MASK     the events to watch, a number (default IN_ALL_EVENTS)
 *   -x GLOB     in trees, neither watch nor report names matching GLOB
 *   -n COUNT    exit after COUNT events
 *   -o          once: stop watching a path after its first event
 *               (ino_rm_watch(); its IN_IGNORED follows)
 *   -t SECONDS  exit when SECONDS pass without an event
 *
 * Once every watch is set it writes "watching N" to standard error.  Exit
 * status as inotifywait's: 0 after COUNT events (or when nothing is left
 * to watch), 1 on an error, 2 on a timeout.
 *
 * Build it against the core's header and sources (core/src, every .c
 * file) or libinocore.a; see core/README.md.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ino.h"

static const char *const bit_names[] = {
    "ACCESS",      "MODIFY",     "ATTRIB",   "CLOSE_WRITE", "CLOSE_NOWRITE",
    "OPEN",        "MOVED_FROM", "MOVED_TO", "CREATE",      "DELETE",
    "DELETE_SELF", "MOVE_SELF",  NULL,       "UNMOUNT",     "Q_OVERFLOW",
    "IGNORED",     NULL,         NULL,       NULL,          NULL,
    NULL,          NULL,         NULL,       NULL,          NULL,
    NULL,          NULL,         NULL,       NULL,          NULL,
    "ISDIR",       NULL,
};

static void
print_bits(uint32_t mask)
{
    const char *sep = "";
    int bit;

    for (bit = 0; bit < 32; bit++) {
        if (mask & (UINT32_C(1) << bit)) {
            if (bit_names[bit] != NULL) {
                printf("%s%s", sep, bit_names[bit]);
            }
            else {
                printf("%s?%d", sep, bit);
            }
            sep = "|";
        }
    }
}

/* Prints base joined with name[0..len). */
static void
print_path(const char *base, const char *name, size_t len)
{
    fputs(base, stdout);
    if (len > 0) {
        if (base[0] != '\0' && base[strlen(base) - 1] != '/') {
            putchar('/');
        }
        fwrite(name, 1, len, stdout);
    }
}

static int
usage(void)
{
    fputs(
        "usage: inowatch [-r] [-o] [-m MASK] [-x GLOB]... [-n COUNT] "
        "[-t SECONDS] PATH...\n",
        stderr);
    return 1;
}

/* Frees the path each remaining watch carries, then closes. */
static void
close_watcher(ino_watcher *w)
{
    size_t pos = 0;
    ino_entry *e;

    while ((e = ino_table_next(ino_watches(w), &pos)) != NULL) {
        free(e->udata);
        e->udata = NULL;
    }
    ino_close(w);
}

/* Watches one path; its copy becomes the watch's udata. */
static int
add_one(ino_watcher *w, const char *path, uint32_t mask, int tree,
        const char *const *exclude, size_t nexclude)
{
    ino_entry *e;
    size_t in_use = 0;
    int rc;

    if (tree) {
        rc = ino_add_tree(w, path, mask, exclude, nexclude, 0, &e, &in_use);
    }
    else {
        rc = ino_add_watch(w, path, mask, &e);
    }
    if (rc < 0) {
        fprintf(stderr, "inowatch: %s: %s%s\n", path, strerror(-rc),
                rc == -ENOSPC ? " (see /proc/sys/fs/inotify/max_user_watches)"
                              : "");
        return -1;
    }
    if (rc == 1) {              /* a new watch: give it its path */
        e->udata = strdup(path);
        if (e->udata == NULL) {
            fprintf(stderr, "inowatch: out of memory\n");
            return -1;
        }
    }
    return 0;
}

/* Prints every queued event; returns how many were printed.  With once,
 * a watch is removed after its first event, and what its removal leaves
 * queued is not printed (but for the IN_IGNORED that closes it). */
static long
print_events(ino_watcher *w, long budget, int once)
{
    ino_event ev;
    long printed = 0;

    while (printed < budget && ino_next(w, &ev)) {
        const ino_entry *e =
            ev.wd < 0 ? NULL : ino_table_find(ino_watches(w), ev.wd);

        if (once && e != NULL && e->removed && !(ev.mask & IN_IGNORED)) {
            continue;
        }
        if (ev.error > 0) {
            /* Not an event: part of a tree could not be watched. */
            fprintf(stderr, "inowatch: cannot watch %.*s below %s: %s\n",
                    (int)ev.name_len, ev.name,
                    ev.udata ? (const char *)ev.udata : "?",
                    strerror(ev.error));
            continue;
        }
        print_path(ev.udata ? (const char *)ev.udata : "", ev.name,
                   ev.name_len);
        putchar('\t');
        print_bits(ev.mask);
        printf("\t%u", (unsigned)ev.cookie);
        if (ev.src != NULL) {
            putchar('\t');
            print_path((const char *)ev.udata, ev.src, ev.src_len);
        }
        putchar('\n');
        if (ev.released) {
            /* IN_IGNORED: the watch is gone and its udata is ours. */
            free(ev.udata);
        }
        else if (once && e != NULL && !e->removed) {
            int rc = ino_rm_watch(w, ev.wd);

            if (rc < 0) {
                fprintf(stderr, "inowatch: rm_watch: %s\n", strerror(-rc));
            }
        }
        printed++;
    }
    fflush(stdout);
    return printed;
}

/* The command line. */
typedef struct options {
    const char **exclude; /* the -x globs, argc entries of room */
    size_t nexclude; /* globs in exclude */
    uint32_t mask; /* -m */
    long count; /* -n, or -1 for no limit */
    int timeout_ms; /* -t in milliseconds, or -1 for none */
    int tree; /* -r */
    int once; /* -o */
    char **paths; /* the paths to watch */
    int npaths; /* entries in paths */
} options;

/* Fills *o from the command line; returns 0, or 1 after printing the
 * usage.  o->exclude is malloc'd in both cases. */
static int
parse_options(int argc, char **argv, options *o)
{
    double seconds = -1;
    int opt;

    memset(o, 0, sizeof *o);
    o->mask = IN_ALL_EVENTS;
    o->count = -1;
    o->exclude = calloc((size_t)argc, sizeof *o->exclude);
    if (o->exclude == NULL) {
        return 1;
    }
    while ((opt = getopt(argc, argv, "rom:x:n:t:")) != -1) {
        switch (opt) {
        case 'r':
            o->tree = 1;
            break;
        case 'o':
            o->once = 1;
            break;
        case 'm':
            o->mask = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'x':
            o->exclude[o->nexclude++] = optarg;
            break;
        case 'n':
            o->count = atol(optarg);
            break;
        case 't':
            seconds = atof(optarg);
            break;
        default:
            return usage();
        }
    }
    if (optind == argc) {
        return usage();
    }
    o->timeout_ms = seconds < 0 ? -1 : (int)(seconds * 1000);
    o->paths = argv + optind;
    o->npaths = argc - optind;
    return 0;
}

/* Watches every path; returns 0, or -1 after printing why not. */
static int
add_paths(ino_watcher *w, const options *o)
{
    int i;

    for (i = 0; i < o->npaths; i++) {
        if (add_one(w, o->paths[i], o->mask, o->tree, o->exclude,
                    o->nexclude) < 0) {
            return -1;
        }
    }
    fprintf(stderr, "watching %d\n", o->npaths);
    return 0;
}

/* The loop: read, take every event, wait for readability.  Reading comes
 * first because watching a tree reads the kernel's queue while it scans:
 * what it read is waiting in the watcher, not in the kernel, and would
 * not make the descriptor readable.  Returns the exit status. */
static int
run_loop(ino_watcher *w, const options *o)
{
    long seen = 0;

    for (;;) {
        struct pollfd p = {.fd = ino_fd(w), .events = POLLIN};
        long rc = ino_read(w);
        int ready;

        if (rc < 0) {
            fprintf(stderr, "inowatch: read: %s\n", strerror((int)-rc));
            return 1;
        }
        seen += print_events(w, o->count < 0 ? LONG_MAX : o->count - seen,
                             o->once);
        if (o->count >= 0 && seen >= o->count) {
            return 0;
        }
        if (ino_watch_count(w) == 0) {
            return 0; /* every watch is gone */
        }
        do {
            ready = poll(&p, 1, o->timeout_ms);
        } while (ready < 0 && errno == EINTR);
        if (ready < 0) {
            perror("inowatch: poll");
            return 1;
        }
        if (ready == 0) {
            return 2;
        }
    }
}

int
main(int argc, char **argv)
{
    ino_watcher w;
    options o;
    int status;

    if (parse_options(argc, argv, &o) != 0) {
        free(o.exclude);
        return 1;
    }
    if (ino_open(&w, 0) < 0) {
        perror("inowatch: inotify_init1");
        free(o.exclude);
        return 1;
    }
    status = add_paths(&w, &o) < 0 ? 1 : run_loop(&w, &o);
    close_watcher(&w);
    free(o.exclude);
    return status;
}
