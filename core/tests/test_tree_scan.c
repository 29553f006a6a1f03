/*
 * test_tree_scan.c: what a tree watches and reports from its scans, against
 * the real kernel, no mocks: the first scan of ino_add_tree() (watched
 * whole, reporting nothing), new directories scanned as they appear (each
 * name reported once, also while another thread keeps creating), excluded
 * names, symlinks followed or not, several trees and plain watches on one
 * watcher, and the errors of ino_add_tree().
 *
 * Every test works in a fresh scratch directory holding "tree" (the
 * watched root) and "out" (a sibling outside the tree), removed at the end
 * and also when a CHECK fails or a test hangs (support.h).  After each
 * test the watcher's bookkeeping is checked against the kernel
 * (consistent()): the kernel's marks for the descriptor are exactly the
 * table's entries, and the children map holds one entry per non-root node.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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

    tmp_make_tree();
    for (i = 0; i < CHECK_COUNT(dirs); i++) {
        mkdir_at(tree_path(dirs[i]));
    }
    touch_at(tree_path("file"));
    touch_at(tree_path("a/b/file"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &marker);
    CHECK_EQ(ino_tree_size(&w, wd), CHECK_COUNT(dirs) + 1);
    CHECK_EQ(ino_watch_count(&w), CHECK_COUNT(dirs) + 1);
    consistent(&w, 1, CHECK_COUNT(dirs) + 1);
    CHECK_EQ(ino_tree_size(&w, wd + 1), 0);     /* not a root */
    CHECK_EQ(ino_tree_size(&w, 9999), 0);
    expect_quiet(&w); /* the initial scan reports nothing */

    touch_at(tree_path("a/b/c/new"));
    touch_at(tree_path("new"));
    CHECK(chmod(tree_path("d/e/f"), 0700) == 0); /* a directory's own attrib */
    CHECK(chmod(tree_path("a/b/file"), 0600) == 0);
    CHECK(chmod(tree_path(""), 0700) == 0); /* the root's own */
    CHECK(unlink(tree_path("a/b/file")) == 0);
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
    CHECK(find(&r, IN_ATTRIB, "a/b/file") < find(&r, IN_DELETE, "a/b/file"));
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

    tmp_make_tree();
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    for (i = 0; i < 10; i++) {
        size_t len = strlen(rel);
        snprintf(rel + len, sizeof rel - len, "%sd%d", i ? "/" : "", i);
        mkdir_at(tree_path(rel));
        snprintf(file, sizeof file, "%s/f%d", rel, i);
        touch_at(tree_path(file));
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
        CHECK(find(&r, IN_CREATE | IN_ISDIR, rel) < find(&r, IN_CREATE, file));
    }
    CHECK_EQ(r.n, 20);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 11);
    consistent(&w, 1, 11);
    /* The deepest level is live. */
    touch_at(tree_path("d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/late"));
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
            if (mkdir(tree_path(rel), 0755) != 0) {
                return (void *)1;
            }
            for (j = 0; j < C_FILES; j++) {
                int fd;
                snprintf(file, sizeof file, "%s/f%d", rel, j);
                fd = open(tree_path(file), O_CREAT | O_WRONLY | O_CLOEXEC,
                          0644);
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

    tmp_make_tree();
    for (k = 0; k < C_ROUNDS; k++) {
        snprintf(top, sizeof top, "r%d", k);
        mkdir_at(tree_path(top));
    }
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    /* tree_path() and tmp_path() rotate static buffers: only the maker uses
     * them until it is joined. */
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

/* Excluded names are neither watched nor reported, at any depth and
 * whenever they appear. */
static void
test_excludes(void)
{
    static const char *const ex[] = {".git", "*.swp"};
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path(".git"));
    mkdir_at(tree_path(".git/objects"));
    mkdir_at(tree_path("src"));
    mkdir_at(tree_path("src/.git"));
    mkdir_at(tree_path("dir.swp"));
    touch_at(tree_path("src/file.swp"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, ex, 2, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 2); /* root and src */
    consistent(&w, 1, 2);

    touch_at(tree_path(".git/objects/o"));
    touch_at(tree_path(".git/HEAD"));
    touch_at(tree_path("dir.swp/x"));
    touch_at(tree_path("src/other.swp"));
    CHECK(unlink(tree_path("src/file.swp")) == 0);
    mkdir_at(tree_path("src/new"));
    mkdir_at(tree_path("src/new/.git"));
    touch_at(tree_path("src/new/.git/config"));
    touch_at(tree_path("src/new/kept"));
    touch_at(tree_path("src/new/late.swp"));
    mkdir_at(tree_path("new.swp"));
    touch_at(tree_path("new.swp/inside"));
    mkdir_at(tmp_path("out/.git"));
    touch_at(tmp_path("out/.git/moved"));
    CHECK(rename(tmp_path("out/.git"), tree_path("src/new/.git2")) == 0);
    touch_at(tree_path("src/visible"));
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
    CHECK(rename(tree_path("src/new"), tree_path("src/new.swp")) == 0);
    CHECK(rename(tree_path("dir.swp"), tree_path("dir")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "src/new", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "dir", 1);
    EXPECT_COUNT(&r, IN_CREATE, "dir/x", 1);
    CHECK(!r.v[find(&r, IN_MOVED_TO | IN_ISDIR, "dir")].has_src);
    CHECK_EQ(r.n, 3);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3); /* root, src, dir */
    consistent(&w, 1, 3);
    touch_at(tree_path("src/new.swp/unseen"));
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

    tmp_make_tree();
    mkdir_at(tree_path("real"));
    mkdir_at(tree_path("real/sub"));
    mkdir_at(tmp_path("out/target"));
    mkdir_at(tmp_path("out/target/deep"));
    CHECK(symlink("../out/target", tree_path("link")) == 0);
    CHECK(symlink(".", tree_path("real/self")) == 0);
    CHECK(symlink("..", tree_path("real/sub/up")) == 0);
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    consistent(&w, 1, 3);
    touch_at(tmp_path("out/target/x"));
    touch_at(tmp_path("out/target/deep/y"));
    expect_quiet(&w);
    /* A symlink that appears later is a plain entry. */
    CHECK(symlink("real", tree_path("later")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "later", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    /* A directory moved in is scanned, and its symlinks not descended. */
    mkdir_at(tmp_path("out/in"));
    CHECK(symlink("../target", tmp_path("out/in/l")) == 0);
    CHECK(rename(tmp_path("out/in"), tree_path("in")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "in", 1);
    EXPECT_COUNT(&r, IN_CREATE, "in/l", 1); /* no IN_ISDIR */
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

    tmp_make_tree();
    mkdir_at(tmp_path("out/target"));
    mkdir_at(tmp_path("out/target/deep"));
    CHECK(symlink("../out/target", tree_path("link")) == 0);
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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    mkdir_at(tree_path("a/b/c"));
    CHECK(symlink("..", tree_path("a/b/up")) == 0); /* -> a */
    CHECK(symlink(".", tree_path("a/self")) == 0); /* -> a */
    CHECK(symlink("../..", tree_path("a/b/c/top")) == 0); /* -> a */
    CHECK(symlink("..", tree_path("a/root")) == 0); /* -> the root */
    alarm(10);
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 1, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 4);
    CHECK_EQ(ino_watch_count(&w), 4);
    consistent(&w, 1, 4);
    touch_at(tree_path("a/b/x"));
    touch_at(tree_path("a/b/c/y"));
    mkdir_at(tree_path("a/b/c/new"));
    CHECK(symlink("..", tree_path("a/b/c/new/loop")) == 0); /* -> c */
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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tmp_path("out/b"));
    mkdir_at(tmp_path("plain"));
    open_watcher(&w, 0);
    t1 = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &m1);
    t2 = add_tree(&w, tmp_path("out"), TREE_MASK, NULL, 0, 0, &m2);
    CHECK_EQ(ino_add_watch(&w, tmp_path("plain"), IN_CREATE, &e), 1);
    e->udata = &m3;
    pw = e->wd;
    CHECK_EQ(ino_add_tree(&w, tree_path("a"), TREE_MASK, NULL, 0, 0, &e, NULL),
             -EBUSY);
    CHECK_EQ(
        ino_add_tree(&w, tmp_path("out"), TREE_MASK, NULL, 0, 0, &e, NULL),
        -EBUSY);
    CHECK_EQ(ino_add_watch(&w, tree_path("a"), IN_CREATE, &e), -EBUSY);
    CHECK_EQ(ino_watch_count(&w), 5);
    touch_at(tree_path("a/x"));
    touch_at(tmp_path("out/b/y"));
    touch_at(tmp_path("plain/z"));
    /* Between the trees: MOVED_FROM in one, MOVED_TO (no src) in the
     * other, and the directory changes trees. */
    mkdir_at(tree_path("a/mv"));
    touch_at(tree_path("a/mv/f"));
    collect(&w, &r);
    recs_free(&r);
    CHECK(rename(tree_path("a/mv"), tmp_path("out/b/mv")) == 0);
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
    CHECK_EQ(kernel_watches(ino_fd(&w)), ino_watch_count(&w));
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

    tmp_make_tree();
    touch_at(tree_path("file"));
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_tree(&w, tree_path("missing"), TREE_MASK, NULL, 0, 0, &e,
                          NULL),
             -ENOENT);
    CHECK_EQ(
        ino_add_tree(&w, tree_path("file"), TREE_MASK, NULL, 0, 0, &e, NULL),
        -ENOTDIR);
    CHECK_EQ(ino_add_tree(&w, tree_path(""), 0, NULL, 0, 0, &e, NULL),
             -EINVAL);
    CHECK_EQ(ino_add_tree(&w, tree_path(""), IN_ONLYDIR, NULL, 0, 0, &e, NULL),
             -EINVAL);
    CHECK_EQ(ino_add_tree(&w, tree_path(""), IN_CREATE | 0x1000, NULL, 0, 0,
                          &e, NULL),
             -EINVAL);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(kernel_watches(ino_fd(&w)), 0);
    CHECK_EQ(ino_close(&w), 0);
    CHECK_EQ(ino_add_tree(&w, tree_path(""), TREE_MASK, NULL, 0, 0, &e, NULL),
             -EBADF);
    tmp_remove();
}

/* ino_add_tree() of a directory that has a plain watch is -EBUSY and leaves
 * that watch's kernel mask as it was, as ino_add_watch() does.  (Once broke:
 * ino_add_tree() replaced the mask before it found the directory watched.) */
static void
test_busy_tree_keeps_watch_mask(void)
{
    ino_watcher w;
    ino_entry *e = NULL;
    recs r = {0};

    tmp_make_tree();
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tree_path(""), IN_ATTRIB, &e), 1);
    CHECK_EQ(ino_add_tree(&w, tree_path(""), IN_CREATE, NULL, 0, 0, &e, NULL),
             -EBUSY);
    touch_at(tree_path("f")); /* the plain watch did not ask */
    CHECK(chmod(tree_path("f"), 0600) == 0); /* the plain watch asked */
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "f", 0);
    EXPECT_COUNT(&r, IN_ATTRIB, "f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A tree's scan that meets a directory watched otherwise (a plain watch, or
 * another tree's root) leaves it alone, its kernel mask included.  (Once
 * broke: watch_dir() replaced the mask before it found the directory
 * watched.) */
static void
test_scan_keeps_other_watch_mask(void)
{
    ino_watcher w;
    ino_entry *e = NULL;
    recs r = {0};
    int32_t pw;

    tmp_make_tree();
    mkdir_at(tree_path("sub"));
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tree_path("sub"), IN_ATTRIB, &e), 1);
    pw = e->wd;
    add_tree(&w, tmp_path("tree"), IN_CREATE, NULL, 0, 0, NULL);
    touch_at(tree_path("sub/f"));
    CHECK(chmod(tree_path("sub/f"), 0600) == 0);
    collect(&w, &r);
    CHECK(find(&r, IN_ATTRIB, "f") >= 0);
    CHECK(r.v[find(&r, IN_ATTRIB, "f")].wd == pw);
    EXPECT_COUNT(&r, IN_CREATE, "f", 0); /* not asked for */
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* ---- running ------------------------------------------------------------ */

/* With follow_symlinks = 1, a directory watched through a symlink is
 * unwatched when the link is removed (the kernel's DELETE of a symlink has
 * no IN_ISDIR, and the target is not deleted): no leaked watch, and
 * nothing reported under the link's name any more. */
static void
test_followed_link_removed(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tmp_path("out/target"));
    CHECK(symlink("../out/target", tree_path("link")) == 0);
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 1, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 2);
    CHECK(unlink(tree_path("link")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_DELETE, "link", 1);
    recs_free(&r);
    touch_at(tmp_path("out/target/x"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "link/x", 0);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 1);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

static const check_case cases[] = {
    {"initial_tree", test_initial_tree},
    {"deep_mkdir_files", test_deep_mkdir_files},
    {"deep_mkdir_concurrent", test_deep_mkdir_concurrent},
    {"excludes", test_excludes},
    {"follow0_no_descent", test_follow0_no_descent},
    {"follow1_outside", test_follow1_outside},
    {"symlink_loop_follow", test_symlink_loop_follow},
    {"two_trees_and_busy", test_two_trees_and_busy},
    {"add_tree_errors", test_add_tree_errors},
    {"busy_tree_keeps_watch_mask", test_busy_tree_keeps_watch_mask},
    {"scan_keeps_other_watch_mask", test_scan_keeps_other_watch_mask},
    {"followed_link_removed", test_followed_link_removed},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
