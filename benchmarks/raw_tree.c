/* The raw C tree walk: the limit for watching a tree of directories.

       raw_tree ROOT CPU

   Walks the tree under ROOT depth first with opendir/readdir, taking
   directories from d_type (lstat only when d_type is DT_UNKNOWN), and adds
   one inotify watch (IN_ALL_EVENTS, the mask ours uses by default) on
   every directory, ROOT included.  Prints one JSON line: the seconds the
   walk took (CLOCK_MONOTONIC), the number of distinct watches, and the
   growth of RSS (/proc/self/statm) over the walk.  Keeps no table of its
   own: a caller would need one, which is what the libraries measure. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int ifd;
static long watches, max_wd, errors;
static char path[PATH_MAX];

static long rss_bytes(void)
{
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * sysconf(_SC_PAGESIZE);
}

static void walk(size_t len)
{
    int wd = inotify_add_watch(ifd, path, IN_ALL_EVENTS);
    if (wd < 0) {
        errors++;
        if (errors == 1)
            fprintf(stderr, "inotify_add_watch %s: %s\n", path,
                    strerror(errno));
        return;
    }
    if (wd > max_wd) {          /* wds are handed out in increasing order */
        max_wd = wd;
        watches++;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0)))
            continue;
        size_t nl = strlen(n);
        if (len + 1 + nl >= sizeof path)
            continue;
        path[len] = '/';
        memcpy(path + len + 1, n, nl + 1);
        int isdir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            isdir = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
        }
        if (isdir)
            walk(len + 1 + nl);
        path[len] = 0;
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: raw_tree ROOT [CPU]\n");
        return 2;
    }
    if (argc > 2 && atoi(argv[2]) >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(argv[2]), &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    size_t len = strlen(argv[1]);
    if (len >= sizeof path)
        return 2;
    memcpy(path, argv[1], len + 1);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = 0;
    ifd = inotify_init1(IN_CLOEXEC);
    if (ifd < 0) {
        perror("inotify_init1");
        return 1;
    }
    long r0 = rss_bytes();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    walk(len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long r1 = rss_bytes();
    printf("{\"seconds\": %.9f, \"watches\": %ld, \"errors\": %ld, "
           "\"rss_growth\": %ld}\n",
           (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
           watches, errors, r1 - r0);
    fflush(stdout);
    close(ifd);
    return errors ? 1 : 0;
}
