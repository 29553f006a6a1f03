/*
 * support.c: the shared harness of the C core's kernel tests (support.h).
 */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ino_internal.h" /* white-box views of the trees */

char tmp_root[PATH_MAX];
long saved_queued = -1;
long saved_watches = -1;

/* ---- limits ------------------------------------------------------------- */

long
sysctl_read(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;

    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1) {
            v = -1;
        }
        fclose(f);
    }
    return v;
}

int
sysctl_write(const char *path, long v)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL) {
        return -1;
    }
    ok = fprintf(f, "%ld\n", v) > 0;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -1;
}

void
sysctl_restore(void)
{
    if (saved_queued >= 0) {
        if (sysctl_write(Q_EVENTS, saved_queued) != 0) {
            fprintf(stderr, "could not restore %s to %ld!\n", Q_EVENTS,
                    saved_queued);
        }
        saved_queued = -1;
    }
    if (saved_watches >= 0) {
        if (sysctl_write(U_WATCHES, saved_watches) != 0) {
            fprintf(stderr, "could not restore %s to %ld!\n", U_WATCHES,
                    saved_watches);
        }
        saved_watches = -1;
    }
}


int
have_root(const char *what)
{
    if (geteuid() != 0 || access(Q_EVENTS, W_OK) != 0 ||
        access(U_WATCHES, W_OK) != 0) {
        fprintf(stderr,
                "note: %s skipped: needs root and a writable "
                "/proc/sys/fs/inotify\n",
                what);
        return 0;
    }
    return 1;
}

/* ---- files -------------------------------------------------------------- */

static int
remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* remove_one() for all but the top directory. */
static int
remove_below(const char *path, const struct stat *sb, int flag,
             struct FTW *ftw)
{
    return ftw->level == 0 ? 0 : remove_one(path, sb, flag, ftw);
}

int
remove_tree(const char *path, int keep_top)
{
    /* FTW_DEPTH: children before their directory; FTW_PHYS: never follow
     * a symlink out of the tree. */
    return nftw(path, keep_top ? remove_below : remove_one, 16,
                FTW_DEPTH | FTW_PHYS) == 0
               ? 0
               : -1;
}

void
rm_r(const char *path)
{
    CHECK(remove_tree(path, 0) == 0);
}

void
touch_at(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

    CHECK(fd >= 0);
    CHECK(close(fd) == 0);
}

void
mkdir_at(const char *path)
{
    CHECK(mkdir(path, 0755) == 0);
}

static size_t walk_dirs;

static int
walk_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)sb;
    (void)ftw;
    if (flag == FTW_D) {
        walk_dirs++;
    }
    return 0;
}

size_t
count_dirs(const char *path)
{
    walk_dirs = 0;
    CHECK(nftw(path, walk_one, 16, FTW_PHYS) == 0);
    return walk_dirs;
}

/* ---- the scratch directory ---------------------------------------------- */

void
tmp_remove(void)
{
    alarm(0);
    sysctl_restore();
    if (tmp_root[0] != '\0') {
        (void)remove_tree(tmp_root, 0);
        tmp_root[0] = '\0';
    }
    check_cleanup = NULL;
}

static void
on_alarm(int sig)
{
    static const char msg[] = "test hung (SIGALRM): cleaning up\n";

    (void)sig;
    (void)!write(2, msg, sizeof msg - 1);
    /* Not async-signal-safe, but the process is stuck in the library and
     * the limits must come back. */
    tmp_remove();
    _exit(2);
}

void
tmp_make(void)
{
    const char *base = getenv("TMPDIR");
    int n;

    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    n = snprintf(tmp_root, sizeof tmp_root, "%s/inotipy-test-XXXXXX", base);
    CHECK(n > 0 && (size_t)n < sizeof tmp_root);
    CHECK(mkdtemp(tmp_root) != NULL);
    check_cleanup = tmp_remove;
    signal(SIGALRM, on_alarm);
    alarm(SUPPORT_ALARM_S);
}

void
tmp_make_tree(void)
{
    tmp_make();
    mkdir_at(tmp_path("tree"));
    mkdir_at(tmp_path("out"));
}

const char *
tmp_path(const char *name)
{
    static char paths[8][PATH_MAX];
    static unsigned turn;
    char *path = paths[turn++ % 8];
    int n = snprintf(path, PATH_MAX, "%s/%s", tmp_root, name);

    CHECK(n > 0 && n < PATH_MAX);
    return path;
}

const char *
tree_path(const char *rel)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "tree/%s", rel);

    CHECK(n > 0 && (size_t)n < sizeof buf);
    return tmp_path(buf);
}

/* ---- collected events --------------------------------------------------- */

void
recs_add(recs *r, const ino_event *ev)
{
    rec *x;

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        rec *v = realloc(r->v, cap * sizeof *v);

        CHECK(v != NULL);
        r->v = v;
        r->cap = cap;
    }
    x = &r->v[r->n++];
    memset(x, 0, sizeof *x);
    x->wd = ev->wd;
    x->mask = ev->mask;
    x->cookie = ev->cookie;
    x->error = ev->error;
    x->released = ev->released;
    x->udata = ev->udata;
    CHECK(ev->name_len < sizeof x->name);
    memcpy(x->name, ev->name, ev->name_len);
    if (ev->src != NULL) {
        x->has_src = 1;
        CHECK(ev->src_len < sizeof x->src);
        memcpy(x->src, ev->src, ev->src_len);
    }
}

void
recs_free(recs *r)
{
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

void
recs_dump(const recs *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        fprintf(
            stderr,
            "  [%zu] wd=%d mask=%#x cookie=%u err=%d rel=%d "
            "name='%s'%s%s%s\n",
            i, r->v[i].wd, r->v[i].mask, r->v[i].cookie, r->v[i].error,
            r->v[i].released, r->v[i].name, r->v[i].has_src ? " src='" : "",
            r->v[i].has_src ? r->v[i].src : "", r->v[i].has_src ? "'" : "");
    }
}

/* Takes everything: the user-space queue and the kernel's, until a read
 * finds the kernel queue empty (which also settles pending moves). */
void
collect(ino_watcher *w, recs *r)
{
    ino_event ev;
    long n;

    for (;;) {
        while (ino_next(w, &ev) == 1) {
            recs_add(r, &ev);
        }
        n = ino_read(w);
        CHECK(n >= 0);
        if (n == 0 && !ino_pending(w)) {
            return;
        }
    }
}

/* Like collect() but waits (up to SUPPORT_WAIT_MS) for at least one event. */
void
collect_wait(ino_watcher *w, recs *r)
{
    struct pollfd p = {ino_fd(w), POLLIN, 0};
    size_t before = r->n;

    collect(w, r);
    while (r->n == before) {
        int rc = poll(&p, 1, SUPPORT_WAIT_MS);

        CHECK(rc >= 0);
        if (rc == 0) {
            return;
        }
        collect(w, r);
    }
}

void
collect_until_ignored(ino_watcher *w, recs *r)
{
    size_t before;

    do {
        before = r->n;
        collect_wait(w, r);
    } while (r->n > before && r->v[r->n - 1].mask != IN_IGNORED);
}

/* The number of events with exactly this mask and name. */
size_t
count(const recs *r, uint32_t mask, const char *name)
{
    size_t i, k = 0;

    for (i = 0; i < r->n; i++) {
        if (r->v[i].mask == mask && strcmp(r->v[i].name, name) == 0) {
            k++;
        }
    }
    return k;
}

/* Index of the first event with this mask and name, or -1. */
long
find(const recs *r, uint32_t mask, const char *name)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        if (r->v[i].mask == mask && strcmp(r->v[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* Every event is of the tree root: wd and udata. */
void
all_of_root(const recs *r, int32_t wd, void *udata)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        CHECK_EQ(r->v[i].wd, wd);
        CHECK(r->v[i].udata == udata);
    }
}


/* ---- the watcher and the kernel ----------------------------------------- */

size_t
kernel_watches(int fd)
{
    char path[64], line[512];
    size_t n = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    f = fopen(path, "r");
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "inotify wd:", 11) == 0) {
            n++;
        }
    }
    fclose(f);
    return n;
}

/* Kernel marks == table entries; children map == non-root nodes. */
void
consistent(const ino_watcher *w, size_t ntrees, size_t nodes)
{
    CHECK_EQ(kernel_watches(ino_fd(w)), ino_watch_count(w));
    CHECK_EQ(ino_trees_nodes(w), nodes - ntrees);
}


void
open_watcher(ino_watcher *w, size_t max_queued)
{
    CHECK_EQ(ino_open(w, max_queued), 0);
    CHECK(ino_fd(w) >= 0);
    /* IN_NONBLOCK | IN_CLOEXEC are promised on every descriptor. */
    CHECK((fcntl(ino_fd(w), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((fcntl(ino_fd(w), F_GETFD) & FD_CLOEXEC) != 0);
}

int32_t
add_tree(ino_watcher *w, const char *path, uint32_t mask,
         const char *const *ex, size_t nex, int follow, void *udata)
{
    ino_entry *e = NULL;
    size_t in_use = 0;
    int rc = ino_add_tree(w, path, mask, ex, nex, follow, &e, &in_use);

    CHECK_EQ(rc, 1);
    CHECK(e != NULL && e->wd > 0 && e->node != NULL);
    CHECK(e->udata == NULL);
    e->udata = udata;
    return e->wd;
}

void
expect_quiet(ino_watcher *w)
{
    recs r = {0};

    collect(w, &r);
    if (r.n != 0) {
        fprintf(stderr, "expected no events, got:\n");
        recs_dump(&r);
    }
    CHECK_EQ(r.n, 0);
    recs_free(&r);
}
