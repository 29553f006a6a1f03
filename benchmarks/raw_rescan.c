/* The raw C rescan: the least a heal must do to compare a tree with an
   index of it.

       raw_rescan ROOT CPU [watch]

   Walks the tree under ROOT depth first, opening each directory by its
   parent's descriptor (openat, fdopendir, readdir), taking directories
   from d_type (fstatat only when d_type is DT_UNKNOWN), and calls
   fstatat(AT_SYMLINK_NOFOLLOW) on every entry that is not a directory:
   the inode, size and mtime a heal compares with its index.  It keeps
   nothing and compares nothing.  With "watch" it first walks the tree
   once, untimed, adding an inotify watch (IN_ALL_EVENTS) on every
   directory, and the timed walk then also calls inotify_add_watch on
   every directory it meets, by its path: what a heal does to learn that
   a directory is still the one its watch is on (the watches exist, as
   they do for a tree being healed).  Prints one JSON line: the seconds
   of the timed walk (CLOCK_MONOTONIC), the directories and other entries
   met, and the failures. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity; meson defines it already */
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

/* One walk: what it counts and the path being built. */
struct walk {
    int ifd;             /* inotify, or -1 when no watch is added */
    int stat_files;      /* fstatat every entry that is not a directory */
    long dirs;           /* directories met, ROOT included */
    long files;          /* other entries met */
    long errors;         /* failed calls */
    unsigned long sink;  /* folds the stat results, so none is unused */
    char path[PATH_MAX]; /* the directory at hand, NUL-terminated */
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

static void
fail(struct walk *w, const char *what)
{
    if (w->errors++ == 0) {
        fprintf(stderr, "%s %s: %s\n", what, w->path, strerror(errno));
    }
}

/* Walks the directory open as fd, at w->path (LEN bytes); closes fd. */
static void
walk(struct walk *w, int fd, size_t len)
{
    DIR *d;
    struct dirent *e;
    struct stat st;

    w->dirs++;
    if (w->ifd >= 0 && inotify_add_watch(w->ifd, w->path, IN_ALL_EVENTS) < 0) {
        fail(w, "inotify_add_watch");
    }
    if ((d = fdopendir(fd)) == NULL) {
        fail(w, "fdopendir");
        close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t nl;
        int isdir = e->d_type == DT_DIR;

        if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) {
            continue;
        }
        if (e->d_type == DT_UNKNOWN || (!isdir && w->stat_files)) {
            if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                continue; /* gone since the listing */
            }
            isdir = S_ISDIR(st.st_mode);
            w->sink += (unsigned long)st.st_ino ^ (unsigned long)st.st_size ^
                       (unsigned long)st.st_mtim.tv_nsec;
        }
        if (!isdir) {
            w->files++;
            continue;
        }
        nl = strlen(n);
        if (len + 1 + nl >= sizeof w->path) {
            continue;
        }
        int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub < 0) {
            fail(w, "openat");
            continue;
        }
        w->path[len] = '/';
        memcpy(w->path + len + 1, n, nl + 1);
        walk(w, sub, len + 1 + nl);
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

/* One walk of the tree at w->path (LEN bytes); returns its seconds and
 * sets *cpu to the CPU seconds it took. */
static double
timed_walk(struct walk *w, size_t len, double *cpu)
{
    struct timespec t0, t1;
    int fd;

    double c0 = cpu_now();

    w->dirs = w->files = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fd = open(w->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        fail(w, "open");
    }
    else {
        walk(w, fd, len);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *cpu = cpu_now() - c0;
    return (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

int
main(int argc, char **argv)
{
    static struct walk w;
    size_t len;
    double seconds, cpu;
    int watch;

    if (argc < 2) {
        fprintf(stderr, "usage: raw_rescan ROOT [CPU [watch]]\n");
        return 2;
    }
    if (argc > 2) {
        pin(argv[2]);
    }
    watch = argc > 3 && strcmp(argv[3], "watch") == 0;
    len = strlen(argv[1]);
    if (len >= sizeof w.path) {
        return 2;
    }
    memcpy(w.path, argv[1], len + 1);
    while (len > 1 && w.path[len - 1] == '/') {
        w.path[--len] = 0;
    }
    w.ifd = -1;
    if (watch) {
        if ((w.ifd = inotify_init1(IN_CLOEXEC)) < 0) {
            perror("inotify_init1");
            return 1;
        }
        timed_walk(&w, len, &cpu); /* the watches a tree being healed has */
    }
    w.stat_files = 1;
    seconds = timed_walk(&w, len, &cpu);
    printf(
        "{\"seconds\": %.9f, \"dirs\": %ld, \"files\": %ld, "
        "\"errors\": %ld, \"watch\": %s, \"sink\": %lu, \"cpu_s\": %.6f}\n",
        seconds, w.dirs, w.files, w.errors, watch ? "true" : "false",
        w.sink & 1, cpu);
    fflush(stdout);
    if (w.ifd >= 0) {
        close(w.ifd);
    }
    return w.errors ? 1 : 0;
}
