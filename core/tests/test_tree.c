/*
 * test_tree.c: recursive trees (ino_add_tree) against the real kernel, no
 * mocks.
 *
 * Every test works in a fresh mkdtemp() directory holding "tree" (the
 * watched root) and "out" (a sibling outside the tree); it is removed at
 * the end and also when a CHECK fails or a test hangs (SIGALRM).
 *
 * Limits: overflow_repair lowers the machine-wide max_queued_events (root
 * only; skipped with a note otherwise) for just the ino_open() call -- the
 * kernel reads it then -- and restores it at once, and again in the
 * cleanup path on any failure.  The ENOSPC tests lower the watch limit in
 * a child process inside a private user namespace, so nothing else on the
 * machine is affected (see run_with_room()); without user namespaces, root
 * lowers the global max_user_watches for a few milliseconds instead.
 *
 * After each test the watcher's bookkeeping is checked against the kernel:
 * the kernel's marks for the descriptor (/proc/self/fdinfo) are exactly the
 * table's entries, and the children map holds one entry per non-root node.
 *
 * `cases` must all pass.  `known_bugs` are reproducers of bugs found in
 * review (see the BUG comments); they FAIL until ino_tree.c is fixed and
 * are not run by default: `test_tree --bugs` runs each in a child process
 * with a timeout and prints FAIL/ok per case.  Move a case into `cases`
 * once its bug is fixed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ino.h"
#include "ino_internal.h"   /* white-box views of the trees */
#include "check.h"

#define WAIT_MS 2000
/* Per test, generous enough for valgrind (a hang is a failure, not a
 * stuck CI job). */
#define TEST_ALARM_S 60

#define TREE_MASK                                                         \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |   \
     IN_DELETE_SELF | IN_MOVE_SELF)

#define Q_EVENTS "/proc/sys/fs/inotify/max_queued_events"
#define U_WATCHES "/proc/sys/fs/inotify/max_user_watches"

/* ---- temp directory, limits and cleanup --------------------------------- */

static char tmp_root[PATH_MAX];
static long saved_queued = -1;   /* max_queued_events to restore, or -1 */
static long saved_watches = -1;  /* max_user_watches to restore, or -1 */

static long
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

static int
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

static void
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

static int
remove_one(const char *path, const struct stat *sb, int flag,
           struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* Also the cleanup of a failed CHECK and of a hang: limits first. */
static void
tmp_remove(void)
{
    alarm(0);
    sysctl_restore();
    if (tmp_root[0] != '\0') {
        nftw(tmp_root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
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

static const char *tmp_path(const char *name);

static void
tmp_make(void)
{
    const char *base = getenv("TMPDIR");
    int n;

    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    n = snprintf(tmp_root, sizeof tmp_root, "%s/inotipy-tree-XXXXXX", base);
    CHECK(n > 0 && (size_t)n < sizeof tmp_root);
    CHECK(mkdtemp(tmp_root) != NULL);
    check_cleanup = tmp_remove;
    signal(SIGALRM, on_alarm);
    alarm(TEST_ALARM_S);
    CHECK(mkdir(tmp_path("tree"), 0755) == 0);
    CHECK(mkdir(tmp_path("out"), 0755) == 0);
}

/* tmp_root/name in one of a few static buffers, used in turn. */
static const char *
tmp_path(const char *name)
{
    static char paths[8][PATH_MAX];
    static unsigned turn;
    char *path = paths[turn++ % 8];
    int n = snprintf(path, PATH_MAX, "%s/%s", tmp_root, name);

    CHECK(n > 0 && n < PATH_MAX);
    return path;
}

/* tmp_root/tree/rel */
static const char *
tp(const char *rel)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "tree/%s", rel);

    CHECK(n > 0 && (size_t)n < sizeof buf);
    return tmp_path(buf);
}

static void
touch_at(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

    CHECK(fd >= 0);
    CHECK(close(fd) == 0);
}

static void
mkdir_at(const char *path)
{
    CHECK(mkdir(path, 0755) == 0);
}

static void
rm_r(const char *path)
{
    CHECK(nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static int
have_root(const char *what)
{
    if (geteuid() != 0 || access(Q_EVENTS, W_OK) != 0 ||
        access(U_WATCHES, W_OK) != 0) {
        fprintf(stderr, "note: %s skipped: needs root and a writable "
                "/proc/sys/fs/inotify\n", what);
        return 0;
    }
    return 1;
}

/* ---- collected events -------------------------------------------------- */

typedef struct rec {
    int32_t wd;
    uint32_t mask;
    uint32_t cookie;
    int error;
    int released;
    void *udata;
    int has_src;
    char name[2 * PATH_MAX];
    char src[2 * PATH_MAX];
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
} recs;

static void
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

static void
recs_free(recs *r)
{
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

static void
recs_dump(const recs *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        fprintf(stderr, "  [%zu] wd=%d mask=%#x cookie=%u err=%d rel=%d "
                "name='%s'%s%s%s\n", i, r->v[i].wd, r->v[i].mask,
                r->v[i].cookie, r->v[i].error, r->v[i].released,
                r->v[i].name, r->v[i].has_src ? " src='" : "",
                r->v[i].has_src ? r->v[i].src : "",
                r->v[i].has_src ? "'" : "");
    }
}

/* Takes everything: the user-space queue and the kernel's, until a read
 * finds the kernel queue empty (which also settles pending moves). */
static void
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

/* Like collect() but waits (up to WAIT_MS) for at least one event. */
static void
collect_wait(ino_watcher *w, recs *r)
{
    struct pollfd p = {ino_fd(w), POLLIN, 0};
    size_t before = r->n;

    collect(w, r);
    while (r->n == before) {
        int rc = poll(&p, 1, WAIT_MS);

        CHECK(rc >= 0);
        if (rc == 0) {
            return;
        }
        collect(w, r);
    }
}

/* The number of events with exactly this mask and name. */
static size_t
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
static long
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

#define EXPECT_COUNT(r, mask, name, k)                                   \
    do {                                                                 \
        if (count((r), (mask), (name)) != (size_t)(k)) {                 \
            fprintf(stderr, "want %d x (%#x, '%s'), got %zu:\n", (k),    \
                    (unsigned)(mask), (name), count((r), (mask), (name)));\
            recs_dump(r);                                                \
            CHECK(count((r), (mask), (name)) == (size_t)(k));            \
        }                                                                \
    } while (0)

/* Every event is of the tree root: wd and udata. */
static void
all_of_root(const recs *r, int32_t wd, void *udata)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        CHECK_EQ(r->v[i].wd, wd);
        CHECK(r->v[i].udata == udata);
    }
}

/* ---- kernel-side checks ------------------------------------------------ */

/* The number of inotify marks the kernel holds for this descriptor. */
static size_t
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
static void
consistent(const ino_watcher *w, size_t ntrees, size_t nodes)
{
    CHECK_EQ(kernel_watches(w->fd), ino_watch_count(w));
    CHECK_EQ(ino_trees_nodes(w), nodes - ntrees);
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

/* Directories under (and including) path, not following symlinks. */
static size_t
count_dirs(const char *path)
{
    walk_dirs = 0;
    CHECK(nftw(path, walk_one, 16, FTW_PHYS) == 0);
    return walk_dirs;
}

/* ---- watcher helpers ---------------------------------------------------- */

static void
open_watcher(ino_watcher *w, size_t max_queued)
{
    CHECK_EQ(ino_open(w, max_queued), 0);
    CHECK(ino_fd(w) >= 0);
}

static int32_t
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

static void
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

/* ---- tests ------------------------------------------------------------- */

/* The initial tree is watched whole; events anywhere in it come with the
 * root's wd and udata and the path below the root. */
static void
test_initial_tree(void)
{
    static const char *dirs[] = {"a", "a/b", "a/b/c", "d", "d/e", "d/e/f"};
    ino_watcher w;
    recs r = {0};
    int marker;
    int32_t wd;
    size_t i;

    tmp_make();
    for (i = 0; i < CHECK_COUNT(dirs); i++) {
        mkdir_at(tp(dirs[i]));
    }
    touch_at(tp("file"));
    touch_at(tp("a/b/file"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &marker);
    CHECK_EQ(ino_tree_size(&w, wd), CHECK_COUNT(dirs) + 1);
    CHECK_EQ(ino_watch_count(&w), CHECK_COUNT(dirs) + 1);
    consistent(&w, 1, CHECK_COUNT(dirs) + 1);
    CHECK_EQ(ino_tree_size(&w, wd + 1), 0);     /* not a root */
    CHECK_EQ(ino_tree_size(&w, 9999), 0);
    expect_quiet(&w);                   /* the initial scan reports nothing */

    touch_at(tp("a/b/c/new"));
    touch_at(tp("new"));
    CHECK(chmod(tp("d/e/f"), 0700) == 0);       /* a directory's own attrib */
    CHECK(chmod(tp("a/b/file"), 0600) == 0);
    CHECK(chmod(tp(""), 0700) == 0);            /* the root's own */
    CHECK(unlink(tp("a/b/file")) == 0);
    collect(&w, &r);
    all_of_root(&r, wd, &marker);
    EXPECT_COUNT(&r, IN_CREATE, "a/b/c/new", 1);
    EXPECT_COUNT(&r, IN_CREATE, "new", 1);
    /* Reported once, by the parent, not again by the directory itself. */
    EXPECT_COUNT(&r, IN_ATTRIB | IN_ISDIR, "d/e/f", 1);
    EXPECT_COUNT(&r, IN_ATTRIB, "a/b/file", 1);
    EXPECT_COUNT(&r, IN_ATTRIB | IN_ISDIR, "", 1);
    EXPECT_COUNT(&r, IN_DELETE, "a/b/file", 1);
    CHECK_EQ(r.n, 6);
    for (i = 0; i < r.n; i++) {
        CHECK(!r.v[i].has_src && r.v[i].error == 0 && r.v[i].cookie == 0);
    }
    CHECK(find(&r, IN_CREATE, "a/b/c/new") < find(&r, IN_CREATE, "new"));
    CHECK(find(&r, IN_ATTRIB, "a/b/file") <
          find(&r, IN_DELETE, "a/b/file"));
    recs_free(&r);
    consistent(&w, 1, CHECK_COUNT(dirs) + 1);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* mkdir -p ten levels with a file at each level, all before any read:
 * each file is reported once (kernel or scan), each directory once as
 * IN_CREATE | IN_ISDIR, and all ten are watched. */
static void
test_deep_mkdir_files(void)
{
    char rel[PATH_MAX] = "", file[PATH_MAX + 16];
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    int i;

    tmp_make();
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    for (i = 0; i < 10; i++) {
        size_t len = strlen(rel);
        snprintf(rel + len, sizeof rel - len, "%sd%d", i ? "/" : "", i);
        mkdir_at(tp(rel));
        snprintf(file, sizeof file, "%s/f%d", rel, i);
        touch_at(tp(file));
    }
    collect(&w, &r);
    all_of_root(&r, wd, NULL);
    rel[0] = '\0';
    for (i = 0; i < 10; i++) {
        size_t len = strlen(rel);
        snprintf(rel + len, sizeof rel - len, "%sd%d", i ? "/" : "", i);
        snprintf(file, sizeof file, "%s/f%d", rel, i);
        EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, rel, 1);
        EXPECT_COUNT(&r, IN_CREATE, file, 1);
        /* A directory before what it holds. */
        CHECK(find(&r, IN_CREATE | IN_ISDIR, rel) <
              find(&r, IN_CREATE, file));
    }
    CHECK_EQ(r.n, 20);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 11);
    consistent(&w, 1, 11);
    /* The deepest level is live. */
    touch_at(tp("d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/late"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/late", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* The same with a thread creating while the main thread reads, several
 * files a level, so that names made between a new directory's watch and
 * its scan are seen by both the scan and the kernel: still exactly once. */
enum { C_ROUNDS = 12, C_LEVELS = 10, C_FILES = 24 };

static void *
maker(void *p)
{
    char rel[PATH_MAX], file[PATH_MAX + 32];
    int k, i, j;

    (void)p;
    for (k = 0; k < C_ROUNDS; k++) {
        snprintf(rel, sizeof rel, "r%d", k);
        for (i = 0; i < C_LEVELS; i++) {
            size_t len = strlen(rel);
            snprintf(rel + len, sizeof rel - len, "/d%d", i);
            if (mkdir(tp(rel), 0755) != 0) {
                return (void *)1;
            }
            for (j = 0; j < C_FILES; j++) {
                int fd;
                snprintf(file, sizeof file, "%s/f%d", rel, j);
                fd = open(tp(file), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
                if (fd < 0 || close(fd) != 0) {
                    return (void *)1;
                }
            }
        }
    }
    return NULL;
}

static void
test_deep_mkdir_concurrent(void)
{
    char rel[PATH_MAX], file[PATH_MAX + 32], top[32];
    ino_watcher w;
    recs r = {0};
    pthread_t th;
    void *res;
    int32_t wd;
    int k, i, j;

    tmp_make();
    for (k = 0; k < C_ROUNDS; k++) {
        snprintf(top, sizeof top, "r%d", k);
        mkdir_at(tp(top));
    }
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    /* tp() and tmp_path() rotate static buffers: only the maker uses them
     * until it is joined. */
    CHECK(pthread_create(&th, NULL, maker, NULL) == 0);
    for (;;) {
        struct pollfd p = {ino_fd(&w), POLLIN, 0};
        collect(&w, &r);
        if (pthread_tryjoin_np(th, &res) == 0) {
            break;
        }
        (void)poll(&p, 1, 1);
    }
    CHECK(res == NULL);
    collect(&w, &r);
    all_of_root(&r, wd, NULL);
    for (k = 0; k < C_ROUNDS; k++) {
        snprintf(rel, sizeof rel, "r%d", k);
        for (i = 0; i < C_LEVELS; i++) {
            size_t len = strlen(rel);
            snprintf(rel + len, sizeof rel - len, "/d%d", i);
            EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, rel, 1);
            for (j = 0; j < C_FILES; j++) {
                snprintf(file, sizeof file, "%s/f%d", rel, j);
                EXPECT_COUNT(&r, IN_CREATE, file, 1);
            }
        }
    }
    CHECK_EQ(r.n, C_ROUNDS * C_LEVELS * (C_FILES + 1));
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 1 + C_ROUNDS * (C_LEVELS + 1));
    consistent(&w, 1, 1 + C_ROUNDS * (C_LEVELS + 1));
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A rename inside the tree: MOVED_FROM then MOVED_TO with src, one cookie;
 * what happens below it later carries the new path (also after a rename
 * to a longer name, and to another parent). */
static void
test_rename_inside(void)
{
    static const char longer[] =
        "a_name_much_longer_than_the_first_one_so_the_node_must_grow";
    char want[PATH_MAX];
    ino_watcher w;
    recs r = {0};
    long from, to;
    int32_t wd;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/b"));
    mkdir_at(tp("a/b/c"));
    mkdir_at(tp("z"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 5);

    CHECK(rename(tp("a/b"), tp("a/bb")) == 0);
    collect(&w, &r);
    CHECK_EQ(r.n, 2);
    from = find(&r, IN_MOVED_FROM | IN_ISDIR, "a/b");
    to = find(&r, IN_MOVED_TO | IN_ISDIR, "a/bb");
    CHECK(from == 0 && to == 1);
    CHECK(r.v[0].cookie != 0 && r.v[0].cookie == r.v[1].cookie);
    CHECK(!r.v[0].has_src);
    CHECK(r.v[1].has_src && strcmp(r.v[1].src, "a/b") == 0);
    recs_free(&r);

    touch_at(tp("a/bb/c/x"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "a/bb/c/x", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);

    /* Longer name, then to another parent, then a short name again. */
    snprintf(want, sizeof want, "a/%s", longer);
    CHECK(rename(tp("a/bb"), tp(want)) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, want, 1);
    CHECK(strcmp(r.v[1].src, "a/bb") == 0);
    recs_free(&r);
    CHECK(rename(tp(want), tp("z/q")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, want, 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "z/q", 1);
    CHECK(strcmp(r.v[find(&r, IN_MOVED_TO | IN_ISDIR, "z/q")].src,
                 want) == 0);
    recs_free(&r);
    touch_at(tp("z/q/c/y"));
    mkdir_at(tp("z/q/c/new"));
    touch_at(tp("z/q/c/new/f"));
    collect(&w, &r);
    all_of_root(&r, wd, NULL);
    EXPECT_COUNT(&r, IN_CREATE, "z/q/c/y", 1);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "z/q/c/new", 1);
    EXPECT_COUNT(&r, IN_CREATE, "z/q/c/new/f", 1);
    CHECK_EQ(r.n, 3);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 6);
    consistent(&w, 1, 6);
    CHECK_EQ(ino_trees_pending_moves(&w), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A file rename pairs too; src is set, nothing is watched. */
static void
test_rename_file(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("b"));
    touch_at(tp("a/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tp("a/f"), tp("b/g")) == 0);
    collect(&w, &r);
    CHECK_EQ(r.n, 2);
    CHECK(find(&r, IN_MOVED_FROM, "a/f") == 0);
    CHECK(find(&r, IN_MOVED_TO, "b/g") == 1);
    CHECK(r.v[1].has_src && strcmp(r.v[1].src, "a/f") == 0);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    consistent(&w, 1, 3);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A directory moved out of the tree: once drained, its watches are gone
 * and what happens in it is not reported. */
static void
test_move_out(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/b"));
    mkdir_at(tp("a/b/c"));
    mkdir_at(tp("keep"));
    touch_at(tp("a/b/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 5);
    CHECK(rename(tp("a"), tmp_path("out/a")) == 0);
    collect(&w, &r);
    CHECK_EQ(r.n, 1);
    CHECK_EQ(r.v[0].mask, IN_MOVED_FROM | IN_ISDIR);
    CHECK(strcmp(r.v[0].name, "a") == 0 && r.v[0].cookie != 0);
    recs_free(&r);
    CHECK_EQ(ino_trees_pending_moves(&w), 0);
    CHECK_EQ(ino_tree_size(&w, wd), 2);
    consistent(&w, 1, 2);

    touch_at(tmp_path("out/a/x"));
    touch_at(tmp_path("out/a/b/c/y"));
    mkdir_at(tmp_path("out/a/b/c/z"));
    CHECK(unlink(tmp_path("out/a/b/f")) == 0);
    CHECK(rename(tmp_path("out/a/b"), tmp_path("out/a/b2")) == 0);
    expect_quiet(&w);
    /* The rest of the tree is still watched. */
    touch_at(tp("keep/k"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "keep/k", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A directory moved in from outside is watched and what it holds is
 * reported as IN_CREATE. */
static void
test_move_in(void)
{
    ino_watcher w;
    recs r = {0};
    long at;
    int32_t wd;

    tmp_make();
    mkdir_at(tmp_path("out/m"));
    mkdir_at(tmp_path("out/m/n"));
    mkdir_at(tmp_path("out/m/n/o"));
    touch_at(tmp_path("out/m/f"));
    touch_at(tmp_path("out/m/n/f"));
    touch_at(tmp_path("out/m/n/o/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tmp_path("out/m"), tp("m")) == 0);
    collect(&w, &r);
    all_of_root(&r, wd, NULL);
    at = find(&r, IN_MOVED_TO | IN_ISDIR, "m");
    CHECK(at == 0);
    CHECK(!r.v[0].has_src && r.v[0].cookie != 0);
    EXPECT_COUNT(&r, IN_CREATE, "m/f", 1);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "m/n", 1);
    EXPECT_COUNT(&r, IN_CREATE, "m/n/f", 1);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "m/n/o", 1);
    EXPECT_COUNT(&r, IN_CREATE, "m/n/o/f", 1);
    CHECK_EQ(r.n, 6);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 4);
    consistent(&w, 1, 4);
    touch_at(tp("m/n/o/g"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "m/n/o/g", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* rm -r of a subtree: DELETE events with paths, watches released. */
static void
test_rm_subtree(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/b"));
    mkdir_at(tp("a/b/c"));
    mkdir_at(tp("a/e"));
    touch_at(tp("a/f"));
    touch_at(tp("a/b/c/f"));
    mkdir_at(tp("keep"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 6);
    rm_r(tp("a"));
    collect_wait(&w, &r);
    all_of_root(&r, wd, NULL);
    EXPECT_COUNT(&r, IN_DELETE, "a/b/c/f", 1);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR, "a/b/c", 1);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR, "a/b", 1);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR, "a/e", 1);
    EXPECT_COUNT(&r, IN_DELETE, "a/f", 1);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR, "a", 1);
    CHECK_EQ(r.n, 6);
    CHECK(find(&r, IN_DELETE | IN_ISDIR, "a/b/c") <
          find(&r, IN_DELETE | IN_ISDIR, "a/b"));
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 2);
    consistent(&w, 1, 2);
    /* A new directory of the same name is a new watch. */
    mkdir_at(tp("a"));
    touch_at(tp("a/again"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "a", 1);
    EXPECT_COUNT(&r, IN_CREATE, "a/again", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    consistent(&w, 1, 3);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Excluded names are neither watched nor reported, at any depth and
 * whenever they appear. */
static void
test_excludes(void)
{
    static const char *const ex[] = {".git", "*.swp"};
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp(".git"));
    mkdir_at(tp(".git/objects"));
    mkdir_at(tp("src"));
    mkdir_at(tp("src/.git"));
    mkdir_at(tp("dir.swp"));
    touch_at(tp("src/file.swp"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, ex, 2, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 2);         /* root and src */
    consistent(&w, 1, 2);

    touch_at(tp(".git/objects/o"));
    touch_at(tp(".git/HEAD"));
    touch_at(tp("dir.swp/x"));
    touch_at(tp("src/other.swp"));
    CHECK(unlink(tp("src/file.swp")) == 0);
    mkdir_at(tp("src/new"));
    mkdir_at(tp("src/new/.git"));
    touch_at(tp("src/new/.git/config"));
    touch_at(tp("src/new/kept"));
    touch_at(tp("src/new/late.swp"));
    mkdir_at(tp("new.swp"));
    touch_at(tp("new.swp/inside"));
    mkdir_at(tmp_path("out/.git"));
    touch_at(tmp_path("out/.git/moved"));
    CHECK(rename(tmp_path("out/.git"), tp("src/new/.git2")) == 0);
    touch_at(tp("src/visible"));
    collect(&w, &r);
    all_of_root(&r, wd, NULL);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "src/new", 1);
    EXPECT_COUNT(&r, IN_CREATE, "src/new/kept", 1);
    EXPECT_COUNT(&r, IN_CREATE, "src/visible", 1);
    /* Moved in before src/new was watched: the scan finds it. */
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "src/new/.git2", 1);
    EXPECT_COUNT(&r, IN_CREATE, "src/new/.git2/moved", 1);
    if (r.n != 5) {
        recs_dump(&r);
    }
    CHECK_EQ(r.n, 5);
    recs_free(&r);
    /* root, src, src/new, src/new/.git2 */
    CHECK_EQ(ino_tree_size(&w, wd), 4);
    consistent(&w, 1, 4);
    /* Renamed to an excluded name: a MOVED_FROM alone, and unwatched;
     * renamed from one: a MOVED_TO alone, watched and scanned. */
    CHECK(rename(tp("src/new"), tp("src/new.swp")) == 0);
    CHECK(rename(tp("dir.swp"), tp("dir")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "src/new", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "dir", 1);
    EXPECT_COUNT(&r, IN_CREATE, "dir/x", 1);
    CHECK(!r.v[find(&r, IN_MOVED_TO | IN_ISDIR, "dir")].has_src);
    CHECK_EQ(r.n, 3);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);         /* root, src, dir */
    consistent(&w, 1, 3);
    touch_at(tp("src/new.swp/unseen"));
    expect_quiet(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* follow_symlinks = 0: symlinks to directories, inside and outside the
 * tree and looping, are never descended. */
static void
test_follow0_no_descent(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp("real"));
    mkdir_at(tp("real/sub"));
    mkdir_at(tmp_path("out/target"));
    mkdir_at(tmp_path("out/target/deep"));
    CHECK(symlink("../out/target", tp("link")) == 0);
    CHECK(symlink(".", tp("real/self")) == 0);
    CHECK(symlink("..", tp("real/sub/up")) == 0);
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    consistent(&w, 1, 3);
    touch_at(tmp_path("out/target/x"));
    touch_at(tmp_path("out/target/deep/y"));
    expect_quiet(&w);
    /* A symlink that appears later is a plain entry. */
    CHECK(symlink("real", tp("later")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "later", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    /* A directory moved in is scanned, and its symlinks not descended. */
    mkdir_at(tmp_path("out/in"));
    CHECK(symlink("../target", tmp_path("out/in/l")) == 0);
    CHECK(rename(tmp_path("out/in"), tp("in")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "in", 1);
    EXPECT_COUNT(&r, IN_CREATE, "in/l", 1);     /* no IN_ISDIR */
    CHECK_EQ(r.n, 2);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 4);
    consistent(&w, 1, 4);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* follow_symlinks = 1 without loops: a symlink to a directory outside the
 * tree is watched, with what is below it, under the link's name. */
static void
test_follow1_outside(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tmp_path("out/target"));
    mkdir_at(tmp_path("out/target/deep"));
    CHECK(symlink("../out/target", tp("link")) == 0);
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 1, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    consistent(&w, 1, 3);
    touch_at(tmp_path("out/target/deep/y"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "link/deep/y", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Removing the root with ino_rm_watch(): IN_IGNORED with released == 1
 * and the root's udata; everything is freed (valgrind checks). */
static void
test_rm_root_releases(void)
{
    ino_watcher w;
    ino_event ev;
    ino_entry *e;
    recs r = {0};
    int marker;
    int32_t wd;
    size_t i;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/b"));
    mkdir_at(tp("c"));
    mkdir_at(tp("c/d"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &marker);
    CHECK_EQ(ino_tree_size(&w, wd), 5);
    touch_at(tp("before"));
    CHECK(rename(tp("a"), tp("a2")) == 0);      /* a move left pending */
    CHECK_EQ(ino_rm_watch(&w, wd), 0);
    e = ino_table_find(&w.table, wd);
    CHECK(e != NULL && e->removed == 1 && e->udata == &marker);
    CHECK_EQ(ino_watch_count(&w), 1);                 /* the root's, till IGNORED */
    CHECK_EQ(kernel_watches(w.fd), 0);
    CHECK_EQ(ino_rm_watch(&w, wd), 0);          /* a repeat is harmless */
    collect_wait(&w, &r);
    /* The events before the removal, then the release. */
    CHECK(r.n >= 1);
    for (i = 0; i + 1 < r.n; i++) {
        CHECK_EQ(r.v[i].released, 0);
        CHECK(r.v[i].udata == &marker);
    }
    EXPECT_COUNT(&r, IN_CREATE, "before", 1);
    CHECK_EQ(r.v[r.n - 1].wd, wd);
    CHECK_EQ(r.v[r.n - 1].mask, IN_IGNORED);
    CHECK_EQ(r.v[r.n - 1].released, 1);
    CHECK(r.v[r.n - 1].udata == &marker);
    CHECK_EQ(r.v[r.n - 1].name[0], '\0');
    recs_free(&r);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK(ino_trees_none(&w));
    CHECK_EQ(ino_trees_nodes(&w), 0);
    CHECK_EQ(ino_trees_pending_moves(&w), 0);
    CHECK_EQ(ino_tree_size(&w, wd), 0);
    CHECK_EQ(ino_rm_watch(&w, wd), -ENOENT);
    touch_at(tp("after"));
    touch_at(tp("c/d/after"));
    expect_quiet(&w);
    CHECK_EQ(ino_next(&w, &ev), 0);
    /* The same directory can be a tree again. */
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &marker);
    CHECK_EQ(ino_tree_size(&w, wd), 5);
    consistent(&w, 1, 5);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Deleting the whole root: DELETE events, the root's own DELETE_SELF and
 * then IN_IGNORED releasing the tree. */
static void
test_root_deleted(void)
{
    ino_watcher w;
    recs r = {0};
    int marker;
    int32_t wd;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/b"));
    touch_at(tp("a/b/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &marker);
    rm_r(tmp_path("tree"));
    collect_wait(&w, &r);
    if (r.n == 0 || r.v[r.n - 1].mask != IN_IGNORED) {
        collect_wait(&w, &r);
    }
    all_of_root(&r, wd, &marker);
    EXPECT_COUNT(&r, IN_DELETE, "a/b/f", 1);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR, "a/b", 1);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR, "a", 1);
    EXPECT_COUNT(&r, IN_DELETE_SELF, "", 1);
    EXPECT_COUNT(&r, IN_IGNORED, "", 1);
    CHECK(r.n >= 1 && r.v[r.n - 1].mask == IN_IGNORED &&
          r.v[r.n - 1].released == 1);
    recs_free(&r);
    CHECK(ino_trees_none(&w));
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(ino_trees_nodes(&w), 0);
    CHECK_EQ(kernel_watches(w.fd), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Two trees and a plain watch on one watcher stay apart; ino_add_tree()
 * of a watched directory is -EBUSY and changes nothing in the table. */
static void
test_two_trees_and_busy(void)
{
    ino_watcher w;
    ino_entry *e = NULL;
    recs r = {0};
    int m1, m2, m3;
    int32_t t1, t2, pw;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tmp_path("out/b"));
    mkdir_at(tmp_path("plain"));
    open_watcher(&w, 0);
    t1 = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &m1);
    t2 = add_tree(&w, tmp_path("out"), TREE_MASK, NULL, 0, 0, &m2);
    CHECK_EQ(ino_add_watch(&w, tmp_path("plain"), IN_CREATE, &e), 1);
    e->udata = &m3;
    pw = e->wd;
    CHECK_EQ(ino_add_tree(&w, tp("a"), TREE_MASK, NULL, 0, 0, &e, NULL),
             -EBUSY);
    CHECK_EQ(ino_add_tree(&w, tmp_path("out"), TREE_MASK, NULL, 0, 0, &e,
                          NULL), -EBUSY);
    CHECK_EQ(ino_add_watch(&w, tp("a"), IN_CREATE, &e), -EBUSY);
    CHECK_EQ(ino_watch_count(&w), 5);
    touch_at(tp("a/x"));
    touch_at(tmp_path("out/b/y"));
    touch_at(tmp_path("plain/z"));
    /* Between the trees: MOVED_FROM in one, MOVED_TO (no src) in the
     * other, and the directory changes trees. */
    mkdir_at(tp("a/mv"));
    touch_at(tp("a/mv/f"));
    collect(&w, &r);
    recs_free(&r);
    CHECK(rename(tp("a/mv"), tmp_path("out/b/mv")) == 0);
    touch_at(tmp_path("out/b/mv/g"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "a/mv", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "b/mv", 1);
    CHECK(r.v[find(&r, IN_MOVED_FROM | IN_ISDIR, "a/mv")].wd == t1);
    CHECK(r.v[find(&r, IN_MOVED_TO | IN_ISDIR, "b/mv")].wd == t2);
    CHECK(!r.v[find(&r, IN_MOVED_TO | IN_ISDIR, "b/mv")].has_src);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, t1), 2);
    CHECK_EQ(ino_tree_size(&w, t2), 3);
    touch_at(tmp_path("out/b/mv/h"));
    touch_at(tmp_path("plain/p"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "b/mv/h", 1);
    CHECK(r.v[find(&r, IN_CREATE, "b/mv/h")].wd == t2);
    CHECK(r.v[find(&r, IN_CREATE, "b/mv/h")].udata == &m2);
    EXPECT_COUNT(&r, IN_CREATE, "p", 1);
    CHECK(r.v[find(&r, IN_CREATE, "p")].wd == pw);
    CHECK(r.v[find(&r, IN_CREATE, "p")].udata == &m3);
    CHECK_EQ(r.n, 2);
    recs_free(&r);
    CHECK_EQ(kernel_watches(w.fd), ino_watch_count(&w));
    CHECK_EQ(ino_trees_nodes(&w), 1 + 2);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Errors of ino_add_tree() itself. */
static void
test_add_tree_errors(void)
{
    ino_watcher w;
    ino_entry *e = NULL;

    tmp_make();
    touch_at(tp("file"));
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_tree(&w, tp("missing"), TREE_MASK, NULL, 0, 0, &e,
                          NULL), -ENOENT);
    CHECK_EQ(ino_add_tree(&w, tp("file"), TREE_MASK, NULL, 0, 0, &e, NULL),
             -ENOTDIR);
    CHECK_EQ(ino_add_tree(&w, tp(""), 0, NULL, 0, 0, &e, NULL), -EINVAL);
    CHECK_EQ(ino_add_tree(&w, tp(""), IN_ONLYDIR, NULL, 0, 0, &e, NULL),
             -EINVAL);
    CHECK_EQ(ino_add_tree(&w, tp(""), IN_CREATE | 0x1000, NULL, 0, 0, &e,
                          NULL), -EINVAL);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(kernel_watches(w.fd), 0);
    CHECK_EQ(ino_close(&w), 0);
    CHECK_EQ(ino_add_tree(&w, tp(""), TREE_MASK, NULL, 0, 0, &e, NULL),
             -EBADF);
    tmp_remove();
}

/* Opens w with a kernel queue of 8 events: max_queued_events is lowered
 * for just the ino_open() (the kernel reads it then) and restored at once
 * (and by tmp_remove() on failure).  It is machine-wide, and other
 * programs (benchmarks, other test runs) may set it meanwhile: the value
 * is read back after the open, and the open retried if it changed. */
static void
open_small_queue(ino_watcher *w)
{
    int tries;

    for (tries = 0; tries < 20; tries++) {
        long old = sysctl_read(Q_EVENTS), after;
        int rc;

        CHECK(old > 0);
        saved_queued = old;
        CHECK(sysctl_write(Q_EVENTS, 8) == 0);
        rc = ino_open(w, 0);
        after = sysctl_read(Q_EVENTS);
        sysctl_restore();
        CHECK_EQ(rc, 0);
        if (after == 8) {
            return;
        }
        CHECK_EQ(ino_close(w), 0);
        usleep(10000);
    }
    CHECK(!"max_queued_events kept changing under the test");
}

/* Overflow repair.  As root, max_queued_events is lowered before
 * ino_open() (the kernel reads it then) and restored at once after; more
 * than that many events, including new directories, overflow the kernel
 * queue.  IN_Q_OVERFLOW (wd -1) comes out and afterwards the tree watches
 * exactly the directories that exist. */
static void
test_overflow_repair(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    size_t i, overflows = 0;

    if (!have_root("overflow_repair")) {
        return;
    }
    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/b"));
    mkdir_at(tp("gone"));
    mkdir_at(tp("gone/sub"));
    mkdir_at(tp("moved"));
    mkdir_at(tp("moved/sub"));
    open_small_queue(&w);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 7);
    for (i = 0; i < 12; i++) {
        char name[64];
        snprintf(name, sizeof name, "file%zu", i);
        touch_at(tp(name));
    }
    mkdir_at(tp("n1"));
    mkdir_at(tp("n1/n2"));
    mkdir_at(tp("n1/n2/n3"));
    mkdir_at(tp("a/b/deep"));
    rm_r(tp("gone"));
    CHECK(rename(tp("moved"), tp("a/moved2")) == 0);
    CHECK(rename(tp("a/b"), tmp_path("out/b")) == 0);
    collect(&w, &r);
    for (i = 0; i < r.n; i++) {
        if (r.v[i].mask == IN_Q_OVERFLOW) {
            CHECK_EQ(r.v[i].wd, -1);
            CHECK(r.v[i].udata == NULL);
            overflows++;
        }
    }
    if (overflows != 1) {
        recs_dump(&r);
    }
    CHECK_EQ(overflows, 1);
    recs_free(&r);
    /* root, a, a/moved2, a/moved2/sub, n1, n1/n2, n1/n2/n3 */
    CHECK_EQ(count_dirs(tmp_path("tree")), 7);
    CHECK_EQ(ino_tree_size(&w, wd), count_dirs(tmp_path("tree")));
    consistent(&w, 1, 7);
    CHECK_EQ(ino_trees_pending_moves(&w), 0);
    /* The repaired watches report with the right paths; what left does
     * not report. */
    touch_at(tp("n1/n2/n3/x"));
    touch_at(tp("a/moved2/sub/y"));
    touch_at(tmp_path("out/b/z"));
    touch_at(tmp_path("out/b/deep/z"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "n1/n2/n3/x", 1);
    EXPECT_COUNT(&r, IN_CREATE, "a/moved2/sub/y", 1);
    if (r.n != 2) {
        recs_dump(&r);
    }
    CHECK_EQ(r.n, 2);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* ---- ENOSPC: a lowered watch limit -------------------------------------- */

/* The limit on inotify watches is per user.  Lowering the global one
 * (/proc/sys/fs/inotify/max_user_watches) hits every process of the user
 * for as long as it lasts -- other test runs on the machine included.  So
 * the ENOSPC tests run in a child process in a private user namespace,
 * whose own limit (/proc/sys/user/max_inotify_watches) counts only that
 * child's watches, exactly.  Where user namespaces are not available, root
 * lowers the global limit for a few milliseconds (restored by
 * tmp_remove(), also on failure) and fills what others leave with a probe
 * instance (on directories under probe/); otherwise the test is skipped.
 * INOTIPY_TEST_NO_USERNS=1 forces that fallback. */

typedef struct room_ctx {
    int userns;             /* 1: private namespace, 0: global limit */
    ino_watcher probe;      /* global mode: holds the watches not given */
    size_t nprobe;          /* probe watches held */
    int32_t probe_wds[256];
} room_ctx;

static int
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t len = (ssize_t)strlen(text), n;

    if (fd < 0) {
        return -1;
    }
    n = write(fd, text, (size_t)len);
    close(fd);
    return n == len ? 0 : -1;
}

/* In the child: a user namespace mapping our uid to its root. */
static int
enter_userns(void)
{
    char map[64];
    uid_t uid = geteuid();
    gid_t gid = getegid();

    if (unshare(CLONE_NEWUSER) != 0) {
        return -1;
    }
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) != 0) {
        return -1;
    }
    (void)write_file("/proc/self/setgroups", "deny\n");
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    (void)write_file("/proc/self/gid_map", map);
    return access("/proc/sys/user/max_inotify_watches", W_OK) == 0 ? 0 : -1;
}

/* The inotify watches all of this user's processes hold (global mode:
 * an estimate, since others may add or drop watches meanwhile). */
static long
watches_in_use(void)
{
    DIR *proc = opendir("/proc");
    struct dirent *de;
    long n = 0;

    CHECK(proc != NULL);
    while ((de = readdir(proc)) != NULL) {
        char path[PATH_MAX], line[512];
        struct stat st;
        DIR *fds;
        struct dirent *fe;

        if (de->d_name[0] < '0' || de->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s", de->d_name);
        if (stat(path, &st) != 0 || st.st_uid != geteuid()) {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/fdinfo", de->d_name);
        fds = opendir(path);
        if (fds == NULL) {
            continue;
        }
        while ((fe = readdir(fds)) != NULL) {
            char fpath[PATH_MAX + 300];
            FILE *f;
            if (fe->d_name[0] == '.') {
                continue;
            }
            snprintf(fpath, sizeof fpath, "%s/%s", path, fe->d_name);
            f = fopen(fpath, "r");
            if (f == NULL) {
                continue;
            }
            while (fgets(line, sizeof line, f) != NULL) {
                if (strncmp(line, "inotify wd:", 11) == 0) {
                    n++;
                }
            }
            fclose(f);
        }
        closedir(fds);
    }
    closedir(proc);
    return n;
}

/* From now on exactly `room` more watches fit; `held` is how many this
 * process holds now (userns mode needs it; the probe's are not counted).
 * Call again to change the room; room_end() gives everything back. */
static void
room_set(room_ctx *c, size_t held, size_t room)
{
    char num[32];

    if (c->userns) {
        snprintf(num, sizeof num, "%zu\n", held + room);
        CHECK(write_file("/proc/sys/user/max_inotify_watches", num) == 0);
        return;
    }
    /* Global: let the probe take all that is left, then give back room. */
    if (saved_watches < 0) {
        saved_watches = sysctl_read(U_WATCHES);
        CHECK(saved_watches > 0);
        CHECK(sysctl_write(U_WATCHES, watches_in_use() + 64) == 0);
    }
    while (c->nprobe < CHECK_COUNT(c->probe_wds)) {
        char name[32];
        int wd;

        if (mkdir(tmp_path("probe"), 0755) != 0) {
            CHECK(errno == EEXIST);
        }
        snprintf(name, sizeof name, "probe/p%zu", c->nprobe);
        if (mkdir(tmp_path(name), 0755) != 0) {
            CHECK(errno == EEXIST);
        }
        wd = inotify_add_watch(c->probe.fd, tmp_path(name), IN_CREATE);
        if (wd < 0) {
            CHECK_EQ(errno, ENOSPC);
            break;
        }
        c->probe_wds[c->nprobe++] = wd;
    }
    CHECK(c->nprobe < CHECK_COUNT(c->probe_wds));
    CHECK(c->nprobe >= room);
    while (room-- > 0) {
        CHECK(inotify_rm_watch(c->probe.fd, c->probe_wds[--c->nprobe]) ==
              0);
    }
}

static void
room_end(room_ctx *c)
{
    if (!c->userns) {
        sysctl_restore();
        CHECK_EQ(ino_close(&c->probe), 0);
    }
}

/* Runs body(c) in a child, in a private user namespace when possible.
 * The child exits 0 on success; a failed CHECK in it exits 1 (after
 * restoring any global limit). */
static void
run_with_room(const char *what, void (*body)(room_ctx *))
{
    pid_t pid;
    int status;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        static room_ctx c;

        memset(&c, 0, sizeof c);
        /* INOTIPY_TEST_NO_USERNS=1 tries the global fallback. */
        c.userns = getenv("INOTIPY_TEST_NO_USERNS") == NULL &&
                   enter_userns() == 0;
        if (!c.userns) {
            if (!have_root(what)) {
                exit(0);
            }
            fprintf(stderr, "note: %s: no user namespace, lowering the "
                    "global max_user_watches briefly\n", what);
            open_watcher(&c.probe, 0);
        }
        body(&c);
        room_end(&c);
        exit(0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}

/* A tree larger than the limit: -ENOSPC, *in_use set, and every watch the
 * call made is gone again (the table and the kernel as before). */
static void
enospc_rollback_body(room_ctx *c)
{
    ino_watcher w;
    ino_entry *e = NULL;
    size_t in_use = 12345;
    int32_t wd;
    int rc;

    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tmp_path("out"), IN_CREATE, &e), 1);
    CHECK_EQ(ino_watch_count(&w), 1);
    room_set(c, 1, 15);
    rc = ino_add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &e,
                      &in_use);
    CHECK_EQ(rc, -ENOSPC);
    CHECK(in_use == 16);                /* counted before the rollback */
    CHECK_EQ(ino_watch_count(&w), 1);
    CHECK_EQ(kernel_watches(w.fd), 1);
    CHECK(ino_trees_none(&w));
    CHECK_EQ(ino_trees_nodes(&w), 0);
    CHECK_EQ(ino_queued(&w), 0);
    /* The rolled-back watches' IN_IGNOREDs are skipped. */
    expect_quiet(&w);
    /* Nothing was left behind: with room, the whole tree can be added. */
    room_set(c, 1, 41);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 41);
    consistent(&w, 1, 41);
    expect_quiet(&w);
    CHECK_EQ(ino_close(&w), 0);
}

static void
test_enospc_rollback(void)
{
    int i;

    tmp_make();
    for (i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "d%02d", i);
        mkdir_at(tp(name));
    }
    run_with_room("enospc_rollback", enospc_rollback_body);
    tmp_remove();
}

/* A directory that appears when the limit is reached is reported as an
 * error record (error = ENOSPC, mask 0, name = its path); the rest goes
 * on, and with room again new directories are watched. */
static void
enospc_later_body(room_ctx *c)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    size_t i, errors = 0;

    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    room_set(c, 1, 0);
    mkdir_at(tp("x"));
    mkdir_at(tp("x/y"));
    touch_at(tp("x/y/f"));
    collect(&w, &r);
    all_of_root(&r, wd, NULL);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "x", 1);
    for (i = 0; i < r.n; i++) {
        if (r.v[i].error != 0) {
            CHECK_EQ(r.v[i].error, ENOSPC);
            CHECK(strcmp(r.v[i].name, "x") == 0);
            CHECK_EQ(r.v[i].mask, 0);
            CHECK(!r.v[i].has_src);
            errors++;
        }
    }
    if (errors != 1 || r.n != 2) {
        recs_dump(&r);
    }
    CHECK_EQ(errors, 1);
    CHECK_EQ(r.n, 2);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 1);
    consistent(&w, 1, 1);
    room_set(c, 1, 5);
    mkdir_at(tp("z"));
    touch_at(tp("z/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "z", 1);
    EXPECT_COUNT(&r, IN_CREATE, "z/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 2);
    consistent(&w, 1, 2);
    CHECK_EQ(ino_close(&w), 0);
}

static void
test_enospc_later(void)
{
    tmp_make();
    run_with_room("enospc_later", enospc_later_body);
    tmp_remove();
}

/* ==== known bugs: reproducers, FAIL until fixed ========================= */

/* follow_symlinks = 1 with symlink loops (to the directory itself and to
 * its parent): the scan terminates, no inode is watched twice, and paths
 * stay those of the real directories.  (Hung before 854881a: watch_dir()
 * moved a directory under its own descendant.) */
static void
test_symlink_loop_follow(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/b"));
    mkdir_at(tp("a/b/c"));
    CHECK(symlink("..", tp("a/b/up")) == 0);            /* -> a */
    CHECK(symlink(".", tp("a/self")) == 0);             /* -> a */
    CHECK(symlink("../..", tp("a/b/c/top")) == 0);      /* -> a */
    CHECK(symlink("..", tp("a/root")) == 0);            /* -> the root */
    alarm(10);
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 1, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 4);
    CHECK_EQ(ino_watch_count(&w), 4);
    consistent(&w, 1, 4);
    touch_at(tp("a/b/x"));
    touch_at(tp("a/b/c/y"));
    mkdir_at(tp("a/b/c/new"));
    CHECK(symlink("..", tp("a/b/c/new/loop")) == 0);    /* -> c */
    collect(&w, &r);
    all_of_root(&r, wd, NULL);
    EXPECT_COUNT(&r, IN_CREATE, "a/b/x", 1);
    EXPECT_COUNT(&r, IN_CREATE, "a/b/c/y", 1);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "a/b/c/new", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 5);
    consistent(&w, 1, 5);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 1 (ino_tree.c:91-124 node_link/node_unlink, ino_nmap.c:126-129
 * ino_nmap_put on an existing key): renaming a directory over an existing
 * empty directory puts a second node under the same (parent, name); the map
 * keeps the old slot (name pointer of the old node), and when the replaced
 * directory's IN_IGNORED frees the old node, node_unlink() deletes the key
 * that now belongs to the moved node.  A later rename of it is then not
 * tracked: events keep the old path. */
static void
bug_rename_over_dir(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp("A"));
    mkdir_at(tp("A/sub"));
    mkdir_at(tp("B"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tp("A"), tp("B")) == 0);       /* replaces empty B */
    collect_wait(&w, &r);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);         /* root, B, B/sub */
    consistent(&w, 1, 3);                       /* fails: map lost "B" */
    CHECK(rename(tp("B"), tp("C")) == 0);
    touch_at(tp("C/sub/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "C/sub/f", 1);  /* got "B/sub/f" */
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 2 (ino_tree.c:704 cook_moved_to -> watch_dir, 572-590
 * ino_tree_drained): a directory moved out and back in (under another name)
 * before the next read is still watched (same inode, same wd), so
 * watch_dir() finds its node and, with may_move = 0, leaves it under its
 * old name and does not scan; the MOVED_FROM still pending holds that node
 * and ino_tree_drained() then unwatches it and everything below. */
static void
bug_out_and_back(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/sub"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tp("a"), tmp_path("out/a")) == 0);
    CHECK(rename(tmp_path("out/a"), tp("b")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "a", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "b", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);         /* fails: 1 */
    touch_at(tp("b/sub/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "b/sub/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 3 (ino_tree.c:749-755 cook_named, 463 scan_entry, 487 scan_one):
 * paths are built when a record is cooked, from the names as they are then.
 * A directory created in a/ just before a/ is renamed (both before the next
 * read) is looked up at the stale path a/b: ENOENT, taken to mean "gone
 * again", is swallowed, and c/b is never watched. */
static void
bug_stale_path_new_dir(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tp("a"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    mkdir_at(tp("a/b"));
    CHECK(rename(tp("a"), tp("c")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "a/b", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);         /* fails: 2 */
    touch_at(tp("c/b/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "c/b/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 4a (ino_tree.c ino_add_tree, 912-920 at d3a7865): ino_add_tree() of a
 * directory that has a plain watch returns -EBUSY but has already replaced
 * that watch's kernel mask with the tree's (ino_add_watch() restores it;
 * this does not). */
static void
bug_busy_clobbers_mask(void)
{
    ino_watcher w;
    ino_entry *e = NULL;
    recs r = {0};

    tmp_make();
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tp(""), IN_ATTRIB, &e), 1);
    CHECK_EQ(ino_add_tree(&w, tp(""), IN_CREATE, NULL, 0, 0, &e, NULL),
             -EBUSY);
    touch_at(tp("f"));                  /* the plain watch did not ask */
    CHECK(chmod(tp("f"), 0600) == 0);   /* the plain watch asked */
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "f", 0);
    EXPECT_COUNT(&r, IN_ATTRIB, "f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 4b (ino_tree.c:345-354 watch_dir): a tree's scan that meets a
 * directory watched otherwise (a plain watch, or another tree's root)
 * "leaves it alone" but has already replaced its kernel mask with the
 * tree's. */
static void
bug_scan_clobbers_mask(void)
{
    ino_watcher w;
    ino_entry *e = NULL;
    recs r = {0};
    int32_t pw;

    tmp_make();
    mkdir_at(tp("sub"));
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tp("sub"), IN_ATTRIB, &e), 1);
    pw = e->wd;
    add_tree(&w, tmp_path("tree"), IN_CREATE, NULL, 0, 0, NULL);
    touch_at(tp("sub/f"));
    CHECK(chmod(tp("sub/f"), 0600) == 0);
    collect(&w, &r);
    CHECK(find(&r, IN_ATTRIB, "f") >= 0);
    CHECK(r.v[find(&r, IN_ATTRIB, "f")].wd == pw);
    EXPECT_COUNT(&r, IN_CREATE, "f", 0);        /* not asked for */
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 5 (ino_watcher.c:136-152, ino_rm_watch): e is found before
 * ino_tree_unwatch() removes the children from the table; backward-shift
 * deletion may move the root's entry, and `e->removed = 1` then marks
 * whatever is in the old slot.  Layout found by simulating ino_table.c:
 * root wd 32 with children 33..37 and plain watches 38..47 -- the root ends
 * up one slot back and plain watch 47 is marked removed, so a later
 * ino_rm_watch(47) returns 0 without removing the kernel watch. */
static void
bug_rm_root_marks_wrong_slot(void)
{
    ino_watcher w;
    ino_entry *e = NULL;
    int32_t wd, last = 0;
    int i;

    tmp_make();
    for (i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "d%d", i);
        mkdir_at(tp(name));
    }
    for (i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "out/p%d", i);
        mkdir_at(tmp_path(name));
    }
    open_watcher(&w, 0);
    for (i = 0; i < 31; i++) {          /* wds are handed out cyclically */
        int x = inotify_add_watch(w.fd, tmp_path("out"), IN_CREATE);
        CHECK(x > 0);
        CHECK(inotify_rm_watch(w.fd, x) == 0);
    }
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(wd, 32);
    for (i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "out/p%d", i);
        CHECK_EQ(ino_add_watch(&w, tmp_path(name), IN_CREATE, &e), 1);
        last = e->wd;
    }
    CHECK_EQ(last, 47);
    CHECK_EQ(ino_rm_watch(&w, wd), 0);
    e = ino_table_find(&w.table, last);
    CHECK(e != NULL);
    CHECK_EQ(e->removed, 0);                    /* fails: 1 */
    e = ino_table_find(&w.table, wd);
    CHECK(e != NULL);
    CHECK_EQ(e->removed, 1);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 6 (ino_tree.c ino_add_tree, 912-916 at d3a7865): when the root's own
 * watch fails with ENOSPC, *in_use is not set (the header says it is, on
 * failure). */
static void
in_use_body(room_ctx *c)
{
    ino_watcher w;
    ino_entry *e = NULL;
    size_t in_use = 12345;
    int rc;

    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tmp_path("out"), IN_CREATE, &e), 1);
    room_set(c, 1, 0);
    rc = ino_add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &e,
                      &in_use);
    CHECK_EQ(rc, -ENOSPC);
    CHECK_EQ(in_use, 1);                        /* fails: still 12345 */
    CHECK_EQ(ino_close(&w), 0);
}

static void
bug_in_use_not_set(void)
{
    tmp_make();
    run_with_room("in_use_not_set", in_use_body);
    tmp_remove();
}

/* BUG 7 (ino_tree.c:263 full_path: t->root_path is never updated): after
 * the root directory itself is renamed, directories created in it are
 * looked up under the old root path: ENOENT, swallowed; they are never
 * watched. */
static void
bug_root_moved(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tmp_path("tree"), tmp_path("tree2")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVE_SELF, "", 1);
    recs_free(&r);
    mkdir_at(tmp_path("tree2/new"));
    collect(&w, &r);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 2);         /* fails: 1 */
    touch_at(tmp_path("tree2/new/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "new/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 8 (ino_watcher.c:261-262, read_cooked): with trees, ino_read() reads
 * a whole 64 KiB scratch buffer whatever room the bound leaves, so the
 * queue grows past max_queued (ino_read() of plain watches caps the read;
 * the header promises it stops at max_queued). */
static void
bug_bound_ignored(void)
{
    ino_watcher w;
    long n;
    int i;

    tmp_make();
    open_watcher(&w, 4);
    add_tree(&w, tmp_path("tree"), IN_CREATE, NULL, 0, 0, NULL);
    for (i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        touch_at(tp(name));
    }
    n = ino_read(&w);
    CHECK(n > 0);
    CHECK(ino_queued(&w) <= 4 + 1);                   /* fails: 40 */
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 1b (same cause as BUG 1): after a directory is removed while a
 * process holds it open, its IN_IGNORED comes only at the last close; a new
 * directory of the same name made meanwhile gets its own node under the
 * same key, and the late IN_IGNORED of the old one deletes the new one's
 * key. */
static void
bug_recreate_while_open(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    int fd;

    tmp_make();
    mkdir_at(tp("x"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    fd = open(tp("x"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(rmdir(tp("x")) == 0);
    mkdir_at(tp("x"));
    collect(&w, &r);
    recs_free(&r);
    CHECK(close(fd) == 0);
    collect_wait(&w, &r);                       /* the old x's IGNORED */
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 2);
    consistent(&w, 1, 2);                       /* fails: map lost "x" */
    CHECK(rename(tp("x"), tp("y")) == 0);
    touch_at(tp("y/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "y/f", 1);      /* got "x/f" */
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 9 (ino_tree.c:453-454 scan_entry: may_move is 0 in SCAN_REPAIR when
 * follow_symlinks, then 608-625 drop_unseen): after an overflow, a tree
 * that follows symlinks meets a directory renamed during the overflow under
 * its new name; watch_dir() finds its node, does not move it and returns no
 * node, so the node stays unseen and drop_unseen() removes it -- with the
 * kernel watch the renamed directory still needs.  The renamed directory
 * and all below it are no longer watched. */
static void
bug_overflow_rename_follow(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    int i;

    if (!have_root("overflow_rename_follow")) {
        return;
    }
    tmp_make();
    mkdir_at(tp("a"));
    mkdir_at(tp("a/sub"));
    open_small_queue(&w);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 1, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    for (i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        touch_at(tp(name));
    }
    CHECK(rename(tp("a"), tp("a2")) == 0);
    collect(&w, &r);
    CHECK(find(&r, IN_Q_OVERFLOW, "") >= 0);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);         /* fails: 1 */
    touch_at(tp("a2/sub/x"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "a2/sub/x", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 10 (low; ino_tree.c:724-731 cook_named, 729 only IN_ISDIR names are
 * looked up): with follow_symlinks = 1, a directory watched through a
 * symlink stays watched after the symlink is removed (the kernel's DELETE
 * of a symlink has no IN_ISDIR, and the target itself is not deleted, so no
 * IN_IGNORED comes): a leaked watch, and changes in the target are still
 * reported as "link/...", a path that no longer exists.  (Likewise a
 * symlink renamed: its node keeps the old name; and a symlink to a
 * directory created later is never followed, unlike one the scan finds.) */
static void
bug_follow_symlink_removed(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make();
    mkdir_at(tmp_path("out/target"));
    CHECK(symlink("../out/target", tp("link")) == 0);
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 1, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 2);
    CHECK(unlink(tp("link")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_DELETE, "link", 1);
    recs_free(&r);
    touch_at(tmp_path("out/target/x"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "link/x", 0);   /* fails: reported */
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 1);         /* fails: 2 */
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* BUG 11 (low; ino_tree.c:724-735 cook_named keeps a moved directory's node
 * in place until ino_tree_drained()): what happens in a directory after it
 * was moved out, but before the next read, is reported under its old path
 * in the tree although the MOVED_FROM before it (with no MOVED_TO) says it
 * left -- the header promises paths "as far as the events before it tell". */
static void
bug_moved_out_events_before_drain(void)
{
    ino_watcher w;
    recs r = {0};

    tmp_make();
    mkdir_at(tp("a"));
    open_watcher(&w, 0);
    add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tp("a"), tmp_path("out/a")) == 0);
    touch_at(tmp_path("out/a/x"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "a", 1);
    EXPECT_COUNT(&r, IN_CREATE, "a/x", 0);      /* fails: reported */
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* ---- running ------------------------------------------------------------ */

static const check_case cases[] = {
    {"initial_tree", test_initial_tree},
    {"deep_mkdir_files", test_deep_mkdir_files},
    {"deep_mkdir_concurrent", test_deep_mkdir_concurrent},
    {"rename_inside", test_rename_inside},
    {"rename_file", test_rename_file},
    {"move_out", test_move_out},
    {"move_in", test_move_in},
    {"rm_subtree", test_rm_subtree},
    {"excludes", test_excludes},
    {"follow0_no_descent", test_follow0_no_descent},
    {"follow1_outside", test_follow1_outside},
    {"symlink_loop_follow", test_symlink_loop_follow},
    {"rm_root_releases", test_rm_root_releases},
    {"root_deleted", test_root_deleted},
    {"two_trees_and_busy", test_two_trees_and_busy},
    {"add_tree_errors", test_add_tree_errors},
    {"overflow_repair", test_overflow_repair},
    {"enospc_rollback", test_enospc_rollback},
    {"enospc_later", test_enospc_later},
    /* Bugs found by review, fixed since. */
    {"rename_over_dir", bug_rename_over_dir},
    {"out_and_back", bug_out_and_back},
    {"busy_clobbers_mask", bug_busy_clobbers_mask},
    {"scan_clobbers_mask", bug_scan_clobbers_mask},
    {"rm_root_marks_wrong_slot", bug_rm_root_marks_wrong_slot},
    {"in_use_not_set", bug_in_use_not_set},
    {"recreate_while_open", bug_recreate_while_open},
    {"overflow_rename_follow", bug_overflow_rename_follow},
};

static const check_case known_bugs[] = {
    {"bug_stale_path_new_dir", bug_stale_path_new_dir},
    {"bug_root_moved", bug_root_moved},
    {"bug_bound_ignored", bug_bound_ignored},
    {"bug_follow_symlink_removed", bug_follow_symlink_removed},
    {"bug_moved_out_events_before_drain", bug_moved_out_events_before_drain},
};

/* Runs each known-bug case in a child (a hang or crash stays there);
 * returns 1 if any failed. */
static int
run_bugs(const char *only)
{
    size_t i;
    int failed = 0;

    for (i = 0; i < CHECK_COUNT(known_bugs); i++) {
        pid_t pid;
        int status;

        if (only != NULL && strcmp(only, known_bugs[i].name) != 0) {
            continue;
        }
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            check_current = known_bugs[i].name;
            known_bugs[i].fn();
            _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid) {
            return 1;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok %s (fixed? move it to cases)\n", known_bugs[i].name);
        }
        else {
            printf("FAIL %s (%s %d)\n", known_bugs[i].name,
                   WIFEXITED(status) ? "exit" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status)
                                     : WTERMSIG(status));
            failed = 1;
        }
    }
    return failed;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bugs") == 0) {
        return run_bugs(argc > 2 ? argv[2] : NULL);
    }
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
