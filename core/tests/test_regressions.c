/*
 * test_regressions.c: cases for bugs once found in core/src, kept so they
 * stay fixed (a miscounted malformed read; a read cap that overflowed for
 * huge bounds).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ino.h"
#include "check.h"

/* Replaces the watcher's inotify descriptor with the read end of a
 * non-blocking pipe, so the test decides what read(2) returns.  Returns
 * the write end. */
static int
feed_from_pipe(ino_watcher *w)
{
    int p[2];

    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    CHECK(close(w->fd) == 0);
    w->fd = p[0];
    return p[1];
}

/* ino_watcher.c, ino_read(): on -EBADMSG the valid prefix is added to the
 * chunk (c->len += valid) but its records are not added to ino_queued(w).
 * ino_next() then hands them out and decrements queued below zero: it
 * wraps to SIZE_MAX, ino_full() stays 1, and ino_read() never reads
 * again.  Input: one 16-byte record, then a 4-byte stub. */
static void
test_badmsg_prefix_is_counted(void)
{
    uint32_t record[4] = {1, IN_CREATE, 0, 0};
    char bytes[sizeof record + 4];
    ino_watcher w;
    ino_event ev;
    int in;

    CHECK_EQ(ino_open(&w, 0), 0);
    in = feed_from_pipe(&w);
    memcpy(bytes, record, sizeof record);
    memset(bytes + sizeof record, 0, 4);
    CHECK_EQ(write(in, bytes, sizeof bytes), (long)sizeof bytes);
    CHECK_EQ(ino_read(&w), -EBADMSG);
    /* "the well-formed records before it are kept": one is queued. */
    CHECK_EQ(ino_queued(&w), 1);
    CHECK_EQ(ino_pending(&w), 1);
    CHECK_EQ(ino_next(&w, &ev), 0);         /* wd 1 is unknown: skipped */
    CHECK_EQ(ino_queued(&w), 0);
    /* And the watcher still reads. */
    CHECK_EQ(write(in, record, sizeof record), (long)sizeof record);
    CHECK_EQ(ino_read(&w), 1);
    CHECK(close(in) == 0);
    CHECK_EQ(ino_close(&w), 0);
}

static char tmp_dir[] = "/tmp/inotipy-bug-XXXXXX";
static char long_path[sizeof tmp_dir + 256];

static void
remove_tmp(void)
{
    unlink(long_path);
    rmdir(tmp_dir);
}

/* ino_watcher.c, ino_read(): cap = (max_queued - queued) * 16 wraps for a
 * huge bound.  max_queued = 2^60 makes it 0, so the read buffer shrinks
 * to 256 bytes, under INO_READ_MIN, and the kernel fails the read with
 * EINVAL as soon as an event carries a name of 240 bytes or more. */
static void
test_huge_bound_reads_long_names(void)
{
    char name[251];
    ino_watcher w;
    ino_entry *e;
    int fd;

    CHECK(mkdtemp(tmp_dir) != NULL);
    check_cleanup = remove_tmp;
    memset(name, 'n', 250);
    name[250] = '\0';
    snprintf(long_path, sizeof long_path, "%s/%s", tmp_dir, name);
    CHECK_EQ(ino_open(&w, (size_t)1 << 60), 0);
    CHECK_EQ(ino_add_watch(&w, tmp_dir, IN_CREATE, &e), 1);
    fd = open(long_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    CHECK(fd >= 0 && close(fd) == 0);
    CHECK_EQ(ino_read(&w), 1);              /* today: -EINVAL */
    CHECK_EQ(ino_close(&w), 0);
    remove_tmp();
    check_cleanup = NULL;
}

/* The trees' read path (ino_trees_read()) once had a read loop of its
 * own: a read error must come back from ino_read() as it does for plain
 * watches, and the watcher must still close cleanly.  The descriptor is
 * swapped for a pipe's write end, which read(2) fails with EBADF. */
static void
test_tree_read_error_is_returned(void)
{
    char dir[] = "/tmp/inotipy-bug-tree-XXXXXX";
    ino_watcher w;
    ino_entry *e;
    int p[2];

    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ(ino_open(&w, 0), 0);
    CHECK_EQ(ino_add_tree(&w, dir, IN_CREATE, NULL, 0, 0, &e, NULL), 1);
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    CHECK(close(w.fd) == 0);
    w.fd = p[1];
    CHECK_EQ(ino_read(&w), -EBADF);
    CHECK_EQ(ino_read(&w), -EBADF);
    CHECK(close(p[0]) == 0);
    CHECK_EQ(ino_close(&w), 0);
    CHECK(rmdir(dir) == 0);
}

static const check_case cases[] = {
    {"badmsg_prefix_is_counted", test_badmsg_prefix_is_counted},
    {"huge_bound_reads_long_names", test_huge_bound_reads_long_names},
    {"tree_read_error_is_returned", test_tree_read_error_is_returned},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
