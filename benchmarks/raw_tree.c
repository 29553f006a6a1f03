/* The raw C tree walk: the limit for watching a tree of directories.

       raw_tree ROOT CPU [stat]

   Walks the tree under ROOT depth first with opendir/readdir, taking
   directories from d_type (lstat only when d_type is DT_UNKNOWN), and adds
   one inotify watch (IN_ALL_EVENTS, the mask ours uses by default) on
   every directory, ROOT included.  With "stat" it also calls
   fstatat(AT_SYMLINK_NOFOLLOW) on every entry that is not a directory,
   by the directory's descriptor: what a tree that indexes its files must
   learn of each (inode, size, mtime).  Prints one JSON line: the seconds
   the walk took (CLOCK_MONOTONIC), the number of distinct watches, the
   other entries met, and the growth of RSS (/proc/self/statm) over the
   walk.  Keeps no table of its own: a caller would need one, which is
   what the libraries measure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* sched_setaffinity; meson defines it already */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One walk: the descriptor, what it counted, and the path being built. */
struct walk {
    int fd;                     /* inotify, one watch per directory */
    long watches;               /* distinct watches added */
    long max_wd;                /* highest wd seen: new ones are higher */
    long errors;                /* inotify_add_watch failures */
    long files;                 /* entries that are not directories */
    int stat_files;             /* fstatat each of them */
    unsigned long sink;         /* folds the stat results */
    char path[PATH_MAX];        /* the directory at hand, NUL-terminated */
};

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

/* Watches w->path (LEN bytes long), then walks into its subdirectories,
 * appending each name to w->path and cutting it off again after. */
static void
walk(struct walk *w, size_t len)
{
    int wd = inotify_add_watch(w->fd, w->path, IN_ALL_EVENTS);

    if (wd < 0) {
        w->errors++;
        if (w->errors == 1) {
            fprintf(stderr, "inotify_add_watch %s: %s\n", w->path,
                    strerror(errno));
        }
        return;
    }
    if (wd > w->max_wd) {       /* wds are handed out in increasing order */
        w->max_wd = wd;
        w->watches++;
    }
    DIR *d = opendir(w->path);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) {
            continue;
        }
        size_t nl = strlen(n);
        if (len + 1 + nl >= sizeof w->path) {
            continue;
        }
        w->path[len] = '/';
        memcpy(w->path + len + 1, n, nl + 1);
        int isdir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            isdir = lstat(w->path, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (isdir) {
            walk(w, len + 1 + nl);
        }
        else {
            w->files++;
            struct stat st;
            if (w->stat_files &&
                fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                w->sink += (unsigned long)st.st_ino ^
                           (unsigned long)st.st_size ^
                           (unsigned long)st.st_mtim.tv_nsec;
            }
        }
        w->path[len] = 0;
    }
    closedir(d);
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
    /* Static storage, where the globals it replaced were, so that RSS
     * over the walk counts the same pages as before. */
    static struct walk w;
    struct timespec t0, t1;
    size_t len;
    long r0, r1;
    double c0, c1;

    if (argc < 2) {
        fprintf(stderr, "usage: raw_tree ROOT [CPU [stat]]\n");
        return 2;
    }
    if (argc > 2) {
        pin(argv[2]);
    }
    w.stat_files = argc > 3 && strcmp(argv[3], "stat") == 0;
    len = strlen(argv[1]);
    if (len >= sizeof w.path) {
        return 2;
    }
    memcpy(w.path, argv[1], len + 1);
    while (len > 1 && w.path[len - 1] == '/') {
        w.path[--len] = 0;
    }
    w.fd = inotify_init1(IN_CLOEXEC);
    if (w.fd < 0) {
        perror("inotify_init1");
        return 1;
    }
    r0 = rss_bytes();
    c0 = cpu_now();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    walk(&w, len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    c1 = cpu_now();
    r1 = rss_bytes();
    printf(
        "{\"seconds\": %.9f, \"watches\": %ld, \"errors\": %ld, "
        "\"rss_growth\": %ld, \"files\": %ld, \"stat\": %s, "
        "\"sink\": %lu, \"cpu_s\": %.6f}\n",
        (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, w.watches,
        w.errors, r1 - r0, w.files, w.stat_files ? "true" : "false",
        w.sink & 1, c1 - c0);
    fflush(stdout);
    close(w.fd);
    return w.errors ? 1 : 0;
}
