/*
 * test_tree_limits.c: trees at the kernel's limits, against the real
 * kernel: a queue overflow (IN_Q_OVERFLOW) repaired by a scan, and the
 * watch limit (ENOSPC) met by ino_add_tree() (rolled back whole) and later
 * by a new directory (an error record; the rest goes on).
 *
 * Limits: the overflow tests lower the machine-wide max_queued_events
 * (root only; skipped with a note otherwise) for just the ino_open() call
 * -- the kernel reads it then -- and restore it at once, and again in the
 * cleanup path on any failure (tmp_remove()).  The ENOSPC tests lower the
 * watch limit in a child process inside a private user namespace, so
 * nothing else on the machine is affected (see run_with_room()); without
 * user namespaces, root lowers the global max_user_watches for a few
 * milliseconds instead.
 *
 * Scratch directory and checks as in test_tree_scan.c (support.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino.h"
#include "ino_internal.h" /* white-box views of the trees */
#include "check.h"
#include "support.h"

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
    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    mkdir_at(tree_path("gone"));
    mkdir_at(tree_path("gone/sub"));
    mkdir_at(tree_path("moved"));
    mkdir_at(tree_path("moved/sub"));
    open_small_queue(&w);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 7);
    for (i = 0; i < 12; i++) {
        char name[64];
        snprintf(name, sizeof name, "file%zu", i);
        touch_at(tree_path(name));
    }
    mkdir_at(tree_path("n1"));
    mkdir_at(tree_path("n1/n2"));
    mkdir_at(tree_path("n1/n2/n3"));
    mkdir_at(tree_path("a/b/deep"));
    rm_r(tree_path("gone"));
    CHECK(rename(tree_path("moved"), tree_path("a/moved2")) == 0);
    CHECK(rename(tree_path("a/b"), tmp_path("out/b")) == 0);
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
    touch_at(tree_path("n1/n2/n3/x"));
    touch_at(tree_path("a/moved2/sub/y"));
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

/* After an overflow, a tree that follows symlinks repairs a directory
 * renamed during the overflow: the scan meets it under its new name and
 * keeps it, with its kernel watch and all below it.  (Once broke:
 * scan_entry() passed may_move = 0 in SCAN_REPAIR when following symlinks,
 * so watch_dir() did not move the node, which stayed unseen, and
 * drop_unseen() removed it.) */
static void
test_overflow_repair_follow_renamed(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    int i;

    if (!have_root("overflow_repair_follow_renamed")) {
        return;
    }
    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/sub"));
    open_small_queue(&w);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 1, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    for (i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        touch_at(tree_path(name));
    }
    CHECK(rename(tree_path("a"), tree_path("a2")) == 0);
    collect(&w, &r);
    CHECK(find(&r, IN_Q_OVERFLOW, "") >= 0);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    touch_at(tree_path("a2/sub/x"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "a2/sub/x", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Healing.  A tree that indexes its files, after an overflow, reports what
 * changed while its records were lost as events with INO_RESCAN, then one
 * INO_SYNCED; the records of a file renamed in that window pair by inode,
 * a directory's by its watch.  The same tree without a file index (flag
 * INO_TREE_NO_FILES) is only repaired. */
static void
write_at(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void
test_overflow_heals(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    long synced;
    int i;

    if (!have_root("overflow_heals")) {
        return;
    }
    tmp_make_tree();
    mkdir_at(tree_path("d"));
    mkdir_at(tree_path("d/sub"));
    write_at(tree_path("d/sub/f"), "x");
    write_at(tree_path("grows"), "a");
    write_at(tree_path("same"), "a");
    write_at(tree_path("gone"), "a");
    write_at(tree_path("renamed"), "a");
    open_small_queue(&w);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK | IN_MODIFY, NULL, 0, 0,
                  NULL);
    CHECK_EQ(ino_tree_files(&w, wd), 5);
    for (i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        touch_at(tree_path(name));
    }
    write_at(tree_path("grows"), "abc");
    CHECK(unlink(tree_path("gone")) == 0);
    CHECK(rename(tree_path("renamed"), tree_path("d/sub/now")) == 0);
    CHECK(rename(tree_path("d"), tree_path("d2")) == 0);
    mkdir_at(tree_path("new"));
    write_at(tree_path("new/g"), "x");
    collect(&w, &r);
    synced = find(&r, INO_SYNCED, "");
    if (synced < 0 || find(&r, IN_Q_OVERFLOW, "") < 0) {
        recs_dump(&r);
    }
    CHECK(synced == (long)r.n - 1);
    CHECK(find(&r, IN_Q_OVERFLOW, "") < synced);
    EXPECT_COUNT(&r, IN_MODIFY | INO_RESCAN, "grows", 1);
    EXPECT_COUNT(&r, IN_MODIFY | INO_RESCAN, "same", 0);
    EXPECT_COUNT(&r, IN_DELETE | INO_RESCAN, "gone", 1);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR | INO_RESCAN, "d", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR | INO_RESCAN, "d2", 1);
    /* The file's move is told where its directory is after the heal's
     * directory moves. */
    EXPECT_COUNT(&r, IN_MOVED_FROM | INO_RESCAN, "renamed", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | INO_RESCAN, "d2/sub/now", 1);
    CHECK(strcmp(r.v[find(&r, IN_MOVED_TO | INO_RESCAN, "d2/sub/now")].src,
                 "renamed") == 0);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR | INO_RESCAN, "new", 1);
    EXPECT_COUNT(&r, IN_CREATE | INO_RESCAN, "new/g", 1);
    CHECK_EQ(ino_tree_files(&w, wd), 5 - 1 + 12 + 1);
    recs_free(&r);
    /* Live again, and nothing more to heal. */
    touch_at(tree_path("d2/sub/late"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "d2/sub/late", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

static void
test_overflow_without_file_index_repairs(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    ino_entry *e;
    size_t i;
    int rc;

    if (!have_root("overflow_without_file_index_repairs")) {
        return;
    }
    tmp_make_tree();
    write_at(tree_path("f"), "x");
    open_small_queue(&w);
    rc = ino_add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0,
                      INO_TREE_NO_FILES, &e, NULL);
    CHECK_EQ(rc, 1);
    wd = e->wd;
    CHECK_EQ(ino_tree_files(&w, wd), 0);
    for (i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "g%zu", i);
        touch_at(tree_path(name));
    }
    mkdir_at(tree_path("n"));
    collect(&w, &r);
    CHECK(find(&r, IN_Q_OVERFLOW, "") >= 0);
    for (i = 0; i < r.n; i++) {
        CHECK((r.v[i].mask & (INO_RESCAN | INO_SYNCED)) == 0);
    }
    CHECK_EQ(ino_tree_size(&w, wd), 2);
    recs_free(&r);
    CHECK_EQ(
        ino_add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 4, &e, NULL),
        -EINVAL);
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
    int userns; /* 1: private namespace, 0: global limit */
    ino_watcher probe; /* global mode: holds the watches not given */
    size_t nprobe; /* probe watches held */
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
        wd = inotify_add_watch(ino_fd(&c->probe), tmp_path(name), IN_CREATE);
        if (wd < 0) {
            CHECK_EQ(errno, ENOSPC);
            break;
        }
        c->probe_wds[c->nprobe++] = wd;
    }
    CHECK(c->nprobe < CHECK_COUNT(c->probe_wds));
    CHECK(c->nprobe >= room);
    while (room-- > 0) {
        CHECK(inotify_rm_watch(ino_fd(&c->probe), c->probe_wds[--c->nprobe]) ==
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
        c.userns =
            getenv("INOTIPY_TEST_NO_USERNS") == NULL && enter_userns() == 0;
        if (!c.userns) {
            if (!have_root(what)) {
                exit(0);
            }
            fprintf(stderr,
                    "note: %s: no user namespace, lowering the "
                    "global max_user_watches briefly\n",
                    what);
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
    rc =
        ino_add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &e, &in_use);
    CHECK_EQ(rc, -ENOSPC);
    CHECK(in_use == 16); /* counted before the rollback */
    CHECK_EQ(ino_watch_count(&w), 1);
    CHECK_EQ(kernel_watches(ino_fd(&w)), 1);
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

    tmp_make_tree();
    for (i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "d%02d", i);
        mkdir_at(tree_path(name));
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
    mkdir_at(tree_path("x"));
    mkdir_at(tree_path("x/y"));
    touch_at(tree_path("x/y/f"));
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
    mkdir_at(tree_path("z"));
    touch_at(tree_path("z/f"));
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
    tmp_make_tree();
    run_with_room("enospc_later", enospc_later_body);
    tmp_remove();
}

/* When the root's own watch fails with ENOSPC, ino_add_tree() still sets
 * *in_use, as ino.h promises on failure.  (Once broke: ino_add_tree()
 * returned before setting it.) */
static void
enospc_root_body(room_ctx *c)
{
    ino_watcher w;
    ino_entry *e = NULL;
    size_t in_use = 12345;
    int rc;

    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tmp_path("out"), IN_CREATE, &e), 1);
    room_set(c, 1, 0);
    rc =
        ino_add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &e, &in_use);
    CHECK_EQ(rc, -ENOSPC);
    CHECK_EQ(in_use, 1);
    CHECK_EQ(ino_close(&w), 0);
}

static void
test_enospc_root_sets_in_use(void)
{
    tmp_make_tree();
    run_with_room("enospc_root_sets_in_use", enospc_root_body);
    tmp_remove();
}

/* ---- running ------------------------------------------------------------ */

static const check_case cases[] = {
    {"overflow_repair", test_overflow_repair},
    {"overflow_repair_follow_renamed", test_overflow_repair_follow_renamed},
    {"overflow_heals", test_overflow_heals},
    {"overflow_without_file_index_repairs",
     test_overflow_without_file_index_repairs},
    {"enospc_rollback", test_enospc_rollback},
    {"enospc_later", test_enospc_later},
    {"enospc_root_sets_in_use", test_enospc_root_sets_in_use},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
