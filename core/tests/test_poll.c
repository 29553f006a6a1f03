/*
 * test_poll.c: polling a tree (core/src/ino_poll.c), against the real
 * kernel and a real directory.  A poll compares the polled directories
 * with the tree's index and queues the difference with INO_RESCAN, as a
 * heal does but without INO_SYNCED.  To make the kernel blind here, as it
 * is on a network or FUSE mount changed by others, the tests read the
 * kernel's records of their changes straight from the descriptor and
 * throw them away: the index then knows only what the poll tells it.
 *
 * Scratch directory and checks as in test_tree_scan.c (support.h).
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
#include "check.h"
#include "support.h"

/* Reads and drops what the kernel queued: the changes made so far are
 * unseen, as on a mount the kernel does not see changed. */
static void
blind(ino_watcher *w)
{
    char buf[65536];

    while (read(ino_fd(w), buf, sizeof buf) > 0) {
    }
}

static void
write_at(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    CHECK(fd >= 0);
    CHECK_EQ(write(fd, text, strlen(text)), (long)strlen(text));
    CHECK(close(fd) == 0);
}

/* What ino_tree_poll_at() refuses, and what a polled directory covers. */
static void
test_marking(void)
{
    ino_watcher w;
    int32_t wd, plain;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    mkdir_at(tmp_path("flat"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_polled(&w, wd), 0);
    CHECK_EQ(ino_tree_poll_at(&w, wd, "nowhere", 7), -ENOENT);
    CHECK_EQ(ino_tree_poll_at(&w, wd + 1000, "", 0), -ENOENT);
    CHECK_EQ(ino_tree_poll(&w, wd + 1000), -ENOENT);
    CHECK_EQ(ino_tree_poll_at(&w, wd, "a/b", 3), 1);
    CHECK_EQ(ino_tree_polled(&w, wd), 1);
    CHECK_EQ(ino_tree_poll_at(&w, wd, "a/b", 3), 0); /* marked already */
    CHECK_EQ(ino_tree_poll_at(&w, wd, "a", 1), 1);   /* covers a/b now */
    CHECK_EQ(ino_tree_poll_at(&w, wd, "a/b", 3), 0);
    /* A tree without an index of files cannot be compared with one. */
    plain = add_tree(&w, tmp_path("flat"), TREE_MASK, NULL, 0,
                     INO_TREE_NO_FILES, NULL);
    CHECK_EQ(ino_tree_poll_at(&w, plain, "", 0), -EINVAL);
    CHECK_EQ(ino_close(&w), 0);
    CHECK_EQ(ino_tree_poll(&w, wd), -EBADF);
    tmp_remove();
}

/* Changes the kernel did not report come from the next poll, with
 * INO_RESCAN: a new file and directory, a file grown, a file renamed
 * (paired by inode), a directory removed; nothing more once told, and no
 * INO_SYNCED. */
static void
test_poll_tells_unseen_changes(void)
{
    ino_watcher w;
    recs r = {0};
    long from, to;
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("gone"));
    write_at(tree_path("a/f"), "x");
    write_at(tree_path("a/grows"), "x");
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK | IN_MODIFY, NULL, 0, 0,
                  NULL);
    CHECK_EQ(ino_tree_poll_at(&w, wd, "", 0), 1);
    expect_quiet(&w);

    write_at(tree_path("a/new"), "y");
    write_at(tree_path("a/grows"), "longer");
    mkdir_at(tree_path("c"));
    CHECK(rename(tree_path("a/f"), tree_path("a/g")) == 0);
    CHECK(rmdir(tree_path("gone")) == 0);
    blind(&w);
    CHECK_EQ(ino_tree_poll(&w, wd), 1);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE | INO_RESCAN, "a/new", 1);
    EXPECT_COUNT(&r, IN_MODIFY | INO_RESCAN, "a/grows", 1);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR | INO_RESCAN, "c", 1);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "gone", 1);
    from = find(&r, IN_MOVED_FROM | INO_RESCAN, "a/f");
    to = find(&r, IN_MOVED_TO | INO_RESCAN, "a/g");
    CHECK(from >= 0 && to == from + 1);
    CHECK(r.v[to].has_src && strcmp(r.v[to].src, "a/f") == 0);
    CHECK(r.v[to].cookie == r.v[from].cookie && r.v[to].cookie != 0);
    CHECK_EQ(count(&r, INO_SYNCED, ""), 0);
    all_of_root(&r, wd, NULL);
    recs_free(&r);

    /* Told: the next poll finds nothing; the new directory is watched. */
    CHECK_EQ(ino_tree_poll(&w, wd), 1);
    expect_quiet(&w);
    touch_at(tree_path("c/seen"));
    collect_wait(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "c/seen", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A poll covers only the polled directories: what changes unseen
 * elsewhere in the tree waits for the kernel (here, forever). */
static void
test_poll_covers_only_marked_directories(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("polled"));
    mkdir_at(tree_path("native"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_poll_at(&w, wd, "polled", 6), 1);
    write_at(tree_path("polled/p"), "1");
    write_at(tree_path("native/n"), "1");
    blind(&w);
    CHECK_EQ(ino_tree_poll(&w, 0), 1); /* 0: every tree that polls */
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE | INO_RESCAN, "polled/p", 1);
    EXPECT_COUNT(&r, IN_CREATE | INO_RESCAN, "native/n", 0);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

static const check_case cases[] = {
    {"marking", test_marking},
    {"poll_tells_unseen_changes", test_poll_tells_unseen_changes},
    {"poll_covers_only_marked_directories",
     test_poll_covers_only_marked_directories},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
