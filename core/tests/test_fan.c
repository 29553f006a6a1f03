/*
 * test_fan.c: trees of a fanotify watcher (ino_use_fanotify()), against
 * the real kernel as root: no inotify watch is held, events outside the
 * tree are not reported, creates, deletes and renames of files and
 * directories come as from inotify (a rename a MOVED_FROM and MOVED_TO of
 * one cookie), moves in and out of the tree, a new directory's contents,
 * the root's removal ending the tree, and an overflow of the kernel's
 * queue (fs.fanotify.max_queued_events lowered for the group's creation
 * only) healed from the index.  Skipped without root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino.h"
#include "ino_internal.h"
#include "check.h"
#include "support.h"

#define FAN_QUEUED "/proc/sys/fs/fanotify/max_queued_events"

/* Opens a fanotify watcher; 0 when this process may not (skip). */
static int
open_fan(ino_watcher *w)
{
    int rc;

    open_watcher(w, 0);
    rc = ino_use_fanotify(w);
    if (rc == -EPERM) {
        fprintf(stderr, "note: skipped: fanotify needs CAP_SYS_ADMIN\n");
        CHECK_EQ(ino_close(w), 0);
        return 0;
    }
    CHECK_EQ(rc, 0);
    CHECK(ino_is_fanotify(w));
    return 1;
}

static void
test_basic(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    long from, to;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    touch_at(tree_path("a/f"));
    mkdir_at(tmp_path("out/d"));
    touch_at(tmp_path("out/d/inside"));
    if (!open_fan(&w)) {
        tmp_remove();
        return;
    }
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    CHECK_EQ(kernel_watches(ino_fd(&w)), 0); /* no inotify watch at all */
    expect_quiet(&w);

    touch_at(tmp_path("out/elsewhere")); /* outside: not reported */
    touch_at(tree_path("a/b/new"));
    mkdir_at(tree_path("c"));
    touch_at(tree_path("c/x"));
    CHECK(rename(tree_path("a/f"), tree_path("g")) == 0);
    CHECK(rename(tree_path("a/b"), tree_path("c/b2")) == 0);
    touch_at(tree_path("c/b2/later"));
    CHECK(unlink(tree_path("g")) == 0);
    collect_wait(&w, &r);
    all_of_root(&r, wd, NULL);
    EXPECT_COUNT(&r, IN_CREATE, "out/elsewhere", 0);
    EXPECT_COUNT(&r, IN_CREATE, "a/b/new", 1);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "c", 1);
    EXPECT_COUNT(&r, IN_CREATE, "c/x", 1);
    from = find(&r, IN_MOVED_FROM, "a/f");
    to = find(&r, IN_MOVED_TO, "g");
    CHECK(from >= 0 && to == from + 1);
    CHECK(r.v[from].cookie != 0 && r.v[from].cookie == r.v[to].cookie);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "a/b", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "c/b2", 1);
    EXPECT_COUNT(&r, IN_CREATE, "c/b2/later", 1);
    EXPECT_COUNT(&r, IN_DELETE, "g", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 4); /* root, a, c, c/b2 */

    /* Moves out of and into the tree. */
    CHECK(rename(tree_path("c/b2"), tmp_path("out/b2")) == 0);
    CHECK(rename(tmp_path("out/d"), tree_path("d")) == 0);
    touch_at(tmp_path("out/b2/unseen"));
    touch_at(tree_path("d/seen"));
    collect_wait(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "c/b2", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "d", 1);
    EXPECT_COUNT(&r, IN_CREATE, "out/b2/unseen", 0);
    EXPECT_COUNT(&r, IN_CREATE, "b2/unseen", 0);
    EXPECT_COUNT(&r, IN_CREATE, "d/seen", 1);
    EXPECT_COUNT(&r, IN_CREATE, "d/inside", 1); /* the scan of d */
    recs_free(&r);

    /* A directory removed with what it held. */
    CHECK(unlink(tree_path("d/seen")) == 0);
    CHECK(unlink(tree_path("d/inside")) == 0);
    CHECK(rmdir(tree_path("d")) == 0);
    collect_wait(&w, &r);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR, "d", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* fanotify merges a record into an earlier one of the same directory and
 * name still queued: a CREATE and a DELETE of one name come as one
 * record.  What is on disk tells their order. */
static void
test_merged(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    long c, d;

    tmp_make_tree();
    if (!open_fan(&w)) {
        tmp_remove();
        return;
    }
    wd = add_tree(&w, tmp_path("tree"), IN_CREATE | IN_DELETE, NULL, 0, 0,
                  NULL);
    touch_at(tree_path("gone"));
    CHECK(unlink(tree_path("gone")) == 0);
    touch_at(tree_path("back"));
    CHECK(unlink(tree_path("back")) == 0);
    touch_at(tree_path("back"));
    collect(&w, &r);
    c = find(&r, IN_CREATE, "gone");
    d = find(&r, IN_DELETE, "gone");
    CHECK(c >= 0 && d > c);
    /* back is there: its last event is a CREATE. */
    c = find(&r, IN_CREATE, "back");
    d = find(&r, IN_DELETE, "back");
    CHECK(c >= 0);
    CHECK(d < 0 || d < c || count(&r, IN_CREATE, "back") == 2);
    CHECK_EQ(ino_tree_files(&w, wd), 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* The root's removal ends the tree with its IN_IGNORED, as inotify's. */
static void
test_root_gone(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    if (!open_fan(&w)) {
        tmp_remove();
        return;
    }
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rmdir(tree_path("a")) == 0);
    CHECK(rmdir(tmp_path("tree")) == 0);
    collect_until_ignored(&w, &r);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR, "a", 1);
    CHECK(r.n > 0 && r.v[r.n - 1].mask == IN_IGNORED &&
          r.v[r.n - 1].wd == wd && r.v[r.n - 1].released);
    recs_free(&r);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Removing the tree's root (ino_rm_watch()) queues its IN_IGNORED. */
static void
test_rm_and_errors(void)
{
    ino_watcher w;
    ino_entry *e;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    if (!open_fan(&w)) {
        tmp_remove();
        return;
    }
    CHECK_EQ(ino_add_watch(&w, tmp_path("out"), IN_CREATE, &e), -EOPNOTSUPP);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(
        ino_add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &e, NULL),
        -EBUSY);
    CHECK_EQ(ino_rm_watch(&w, wd), 0);
    collect_until_ignored(&w, &r);
    CHECK(r.n == 1 && r.v[0].mask == IN_IGNORED && r.v[0].released);
    recs_free(&r);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(ino_close(&w), 0);

    /* A file system without file handles: the tree fails, and the
     * watcher can go back to inotify. */
    CHECK(open_fan(&w));
    CHECK_EQ(ino_add_tree(&w, "/proc/sys/fs", TREE_MASK, NULL, 0, 0, &e, NULL),
             -EOPNOTSUPP);
    CHECK_EQ(ino_use_inotify(&w), 0);
    CHECK(!ino_is_fanotify(&w));
    CHECK_EQ(ino_add_watch(&w, tmp_path("out"), IN_CREATE, &e), 1);
    CHECK_EQ(kernel_watches(ino_fd(&w)), 1);
    CHECK_EQ(ino_use_inotify(&w), 0);
    CHECK_EQ(ino_close(&w), 0);

    /* A watcher with inotify watches cannot switch. */
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tmp_path("out"), IN_CREATE, &e), 1);
    CHECK_EQ(ino_use_fanotify(&w), -EBUSY);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* An overflow of the kernel's queue heals the tree from its index: what
 * changed is reported after the IN_Q_OVERFLOW, and the index ends as the
 * disk is. */
static void
test_overflow(void)
{
    char name[64];
    ino_watcher w;
    recs r = {0};
    long saved;
    int32_t wd;
    int i, ok;

    if (geteuid() != 0 || (saved = sysctl_read(FAN_QUEUED)) < 0) {
        fprintf(stderr, "note: overflow skipped: needs root\n");
        return;
    }
    tmp_make_tree();
    for (i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "old%d", i);
        touch_at(tree_path(name));
    }
    /* The bound is read when the group is made: restored at once. */
    CHECK_EQ(sysctl_write(FAN_QUEUED, 64), 0);
    open_watcher(&w, 0);
    ok = ino_use_fanotify(&w);
    CHECK_EQ(sysctl_write(FAN_QUEUED, saved), 0);
    CHECK_EQ(ok, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "new%d", i);
        touch_at(tree_path(name));
    }
    for (i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "old%d", i);
        CHECK(unlink(tree_path(name)) == 0);
    }
    collect(&w, &r);
    CHECK(find(&r, IN_Q_OVERFLOW, "") >= 0);
    CHECK_EQ(ino_tree_files(&w, wd), 300);
    EXPECT_COUNT(&r, IN_CREATE | INO_RESCAN, "new299", 1);
    EXPECT_COUNT(&r, IN_DELETE | INO_RESCAN, "old19", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

static const check_case cases[] = {
    {"basic", test_basic},         {"merged", test_merged},
    {"root_gone", test_root_gone}, {"rm_and_errors", test_rm_and_errors},
    {"overflow", test_overflow},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
