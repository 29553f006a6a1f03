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
    "ACCESS", "MODIFY", "ATTRIB", "CLOSE_WRITE", "CLOSE_NOWRITE", "OPEN",
    "MOVED_FROM", "MOVED_TO", "CREATE", "DELETE", "DELETE_SELF", "MOVE_SELF",
    NULL, "UNMOUNT", "Q_OVERFLOW", "IGNORED", NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "ISDIR", NULL,
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
    fputs("usage: inowatch [-r] [-o] [-m MASK] [-x GLOB]... [-n COUNT] "
          "[-t SECONDS] PATH...\n", stderr);
    return 1;
}

/* Frees the path each remaining watch carries, then closes. */
static void
close_watcher(ino_watcher *w)
{
    size_t pos = 0;
    ino_entry *e;

    while ((e = ino_table_next(&w->table, &pos)) != NULL) {
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
        const ino_entry *e = ev.wd < 0 ? NULL : ino_table_find(&w->table,
                                                               ev.wd);

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

int
main(int argc, char **argv)
{
    const char **exclude = calloc((size_t)argc, sizeof *exclude);
    size_t nexclude = 0;
    uint32_t mask = IN_ALL_EVENTS;
    long count = -1, seen = 0;
    double seconds = -1;
    int tree = 0, once = 0, opt, status = 1, timeout_ms, i;
    ino_watcher w;

    if (exclude == NULL) {
        return 1;
    }
    while ((opt = getopt(argc, argv, "rom:x:n:t:")) != -1) {
        switch (opt) {
        case 'r':
            tree = 1;
            break;
        case 'o':
            once = 1;
            break;
        case 'm':
            mask = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'x':
            exclude[nexclude++] = optarg;
            break;
        case 'n':
            count = atol(optarg);
            break;
        case 't':
            seconds = atof(optarg);
            break;
        default:
            free(exclude);
            return usage();
        }
    }
    if (optind == argc) {
        free(exclude);
        return usage();
    }
    timeout_ms = seconds < 0 ? -1 : (int)(seconds * 1000);

    if (ino_open(&w, 0) < 0) {
        perror("inowatch: inotify_init1");
        free(exclude);
        return 1;
    }
    for (i = optind; i < argc; i++) {
        if (add_one(&w, argv[i], mask, tree, exclude, nexclude) < 0) {
            goto done;
        }
    }
    fprintf(stderr, "watching %d\n", argc - optind);

    /* The loop: read, take every event, wait for readability.  Reading
     * comes first because watching a tree reads the kernel's queue while
     * it scans: what it read is waiting in the watcher, not in the
     * kernel, and would not make the descriptor readable. */
    for (;;) {
        struct pollfd p = {.fd = ino_fd(&w), .events = POLLIN};
        long rc = ino_read(&w);
        int ready;

        if (rc < 0) {
            fprintf(stderr, "inowatch: read: %s\n", strerror((int)-rc));
            goto done;
        }
        seen += print_events(&w, count < 0 ? LONG_MAX : count - seen, once);
        if (count >= 0 && seen >= count) {
            status = 0;
            goto done;
        }
        if (ino_watch_count(&w) == 0) {
            status = 0;         /* every watch is gone */
            goto done;
        }
        do {
            ready = poll(&p, 1, timeout_ms);
        } while (ready < 0 && errno == EINTR);
        if (ready < 0) {
            perror("inowatch: poll");
            goto done;
        }
        if (ready == 0) {
            status = 2;
            goto done;
        }
    }
done:
    close_watcher(&w);
    free(exclude);
    return status;
}
