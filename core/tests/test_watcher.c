/*
 * test_watcher.c: the watcher against the real kernel, no mocks.
 *
 * Each test works in a fresh scratch directory that is removed at the end,
 * and also when a CHECK fails or the test hangs (support.h).  inotify queues
 * an event during the system call that causes it, so after creat() the
 * event can be read at once; next_event() still polls with a timeout so
 * that a slow kernel path (IN_IGNORED after an inode is evicted) cannot
 * make a test flaky.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino.h"
#include "check.h"
#include "support.h"

/* ---- the scratch directory (support.h) ---------------------------------- */

/* touch and mkdir of tmp_root/name. */
static void
touch(const char *name)
{
    touch_at(tmp_path(name));
}

static void
make_dir(const char *name)
{
    mkdir_at(tmp_path(name));
}

/* ---- event helpers ----------------------------------------------------- */

/* Takes the next event, reading (and waiting up to SUPPORT_WAIT_MS per
 * wait) when the user-space queue is empty.  Returns 0 if none came. */
static int
next_event(ino_watcher *w, ino_event *ev)
{
    for (;;) {
        struct pollfd p = {ino_fd(w), POLLIN, 0};
        int rc = ino_next(w, ev);

        if (rc != 0) {
            CHECK_EQ(rc, 1);
            return 1;
        }
        rc = poll(&p, 1, SUPPORT_WAIT_MS);
        CHECK(rc >= 0);
        if (rc == 0) {
            return 0;
        }
        CHECK(ino_read(w) >= 0);
    }
}

/* Like next_event() without waiting, for when every expected event is
 * known to be queued in the kernel already. */
static int
next_queued(ino_watcher *w, ino_event *ev)
{
    int rc;

    while ((rc = ino_next(w, ev)) == 0) {
        long n = ino_read(w);

        CHECK(n >= 0);
        if (n == 0) {
            return 0;
        }
    }
    CHECK_EQ(rc, 1);
    return 1;
}

static int
name_is(const ino_event *ev, const char *name)
{
    size_t len = strlen(name);

    return ev->name_len == len && memcmp(ev->name, name, len) == 0;
}

/* The next event must be exactly this one. */
static void
expect_event(ino_watcher *w, int32_t wd, uint32_t mask, const char *name,
             void *udata)
{
    ino_event ev;

    CHECK_EQ(next_event(w, &ev), 1);
    CHECK_EQ(ev.wd, wd);
    CHECK_EQ(ev.mask, mask);
    CHECK(name_is(&ev, name));
    CHECK(ev.udata == udata);
    CHECK_EQ(ev.released, 0);
}

/* The next event must be the IN_IGNORED that releases this watch. */
static void
expect_released(ino_watcher *w, int32_t wd, void *udata)
{
    ino_event ev;

    CHECK_EQ(next_event(w, &ev), 1);
    CHECK_EQ(ev.wd, wd);
    CHECK_EQ(ev.mask, IN_IGNORED);
    CHECK_EQ(ev.name_len, 0);
    CHECK(ev.udata == udata);
    CHECK_EQ(ev.released, 1);
    CHECK(ino_table_find(&w->table, wd) == NULL);
}

/* Nothing more is queued, in user space or in the kernel: one read finds
 * the kernel's queue empty (stricter than support.c's expect_quiet(),
 * which collects until it is). */
static void
expect_drained(ino_watcher *w)
{
    ino_event ev;

    CHECK_EQ(ino_read(w), 0);
    CHECK_EQ(ino_next(w, &ev), 0);
    CHECK_EQ(ino_pending(w), 0);
}

static int32_t
add_dir_watch(ino_watcher *w, const char *name, uint32_t mask, void *udata)
{
    ino_entry *e = NULL;

    CHECK_EQ(ino_add_watch(w, tmp_path(name), mask, &e), 1);
    CHECK(e != NULL && e->wd > 0);
    CHECK(e->udata == NULL);
    e->udata = udata;
    return e->wd;
}

/* ---- tests ------------------------------------------------------------- */

/* A second add of one inode (under any path) finds the same entry and
 * replaces or, with IN_MASK_ADD, merges its mask. */
static void
test_add_watch_twice(void)
{
    ino_watcher w;
    ino_entry *e = NULL;
    int marker;
    int32_t wd;

    tmp_make();
    make_dir("d");
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, "d", IN_CREATE, &marker);
    e = ino_table_find(&w.table, wd);
    CHECK(e != NULL && e->mask == IN_CREATE && e->removed == 0);

    CHECK_EQ(ino_add_watch(&w, tmp_path("d"), IN_DELETE, &e), 0);
    CHECK(e->wd == wd && e->udata == &marker);
    CHECK_EQ(e->mask, IN_DELETE);
    CHECK_EQ(ino_add_watch(&w, tmp_path("d/."), IN_CREATE | IN_MASK_ADD, &e),
             0);
    CHECK(e->wd == wd && e->udata == &marker);
    CHECK_EQ(e->mask, IN_DELETE | IN_CREATE);
    CHECK_EQ(ino_watch_count(&w), 1);

    /* The kernel holds the merged mask too. */
    touch("d/f");
    CHECK(unlink(tmp_path("d/f")) == 0);
    expect_event(&w, wd, IN_CREATE, "f", &marker);
    expect_event(&w, wd, IN_DELETE, "f", &marker);
    expect_drained(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* IN_MASK_ADD is a request flag, never part of the stored mask. */
static void
test_first_add_with_mask_add(void)
{
    ino_watcher w;
    ino_entry *e = NULL;

    tmp_make();
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tmp_root, IN_CREATE | IN_MASK_ADD, &e), 1);
    CHECK_EQ(e->mask, IN_CREATE);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

static void
test_create_events_in_order(void)
{
    static const char *names[] = {
        "a", "bb", "fifteen_bytes__", "sixteen_bytes___", "with space", "z",
    };
    char longest[NAME_MAX + 1];
    ino_watcher w;
    int marker;
    int32_t wd;
    size_t i;

    memset(longest, 'L', NAME_MAX);
    longest[NAME_MAX] = '\0';
    tmp_make();
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, ".", IN_CREATE, &marker);
    CHECK_EQ(ino_read(&w), 0); /* nothing yet, and no blocking */
    for (i = 0; i < CHECK_COUNT(names); i++) {
        touch(names[i]);
    }
    touch(longest);
    make_dir("sub");
    CHECK_EQ(ino_read(&w), CHECK_COUNT(names) + 2);
    CHECK(ino_pending(&w));
    for (i = 0; i < CHECK_COUNT(names); i++) {
        expect_event(&w, wd, IN_CREATE, names[i], &marker);
    }
    expect_event(&w, wd, IN_CREATE, longest, &marker);
    expect_event(&w, wd, IN_CREATE | IN_ISDIR, "sub", &marker);
    expect_drained(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A rename gives IN_MOVED_FROM and IN_MOVED_TO with one shared cookie. */
static void
test_move_cookie(void)
{
    ino_watcher w;
    ino_event from, to;
    int32_t wd;

    tmp_make();
    touch("old");
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, ".", IN_MOVE, NULL);
    CHECK(rename(tmp_path("old"), tmp_path("new")) == 0);
    CHECK_EQ(next_event(&w, &from), 1);
    CHECK(from.wd == wd && from.mask == IN_MOVED_FROM);
    CHECK(name_is(&from, "old"));
    CHECK_EQ(next_event(&w, &to), 1);
    CHECK(to.wd == wd && to.mask == IN_MOVED_TO && name_is(&to, "new"));
    CHECK(from.cookie != 0 && from.cookie == to.cookie);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* After ino_rm_watch() the entry stays (marked removed), its pending
 * events still carry udata, and its IN_IGNORED releases it. */
static void
test_rm_watch_releases(void)
{
    ino_watcher w;
    ino_entry *e;
    int marker;
    int32_t wd;

    tmp_make();
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, ".", IN_CREATE, &marker);
    touch("before");
    CHECK_EQ(ino_rm_watch(&w, wd), 0);
    e = ino_table_find(&w.table, wd);
    CHECK(e != NULL && e->removed == 1);
    CHECK_EQ(ino_rm_watch(&w, wd), 0); /* a repeat is harmless */
    expect_event(&w, wd, IN_CREATE, "before", &marker);
    expect_released(&w, wd, &marker);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(ino_rm_watch(&w, wd), -ENOENT);
    touch("after"); /* the kernel watch is gone */
    expect_drained(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* The kernel drops a watch on a deleted directory by itself; removing it
 * afterwards (EINVAL in the kernel) is not an error. */
static void
test_rm_watch_after_delete(void)
{
    ino_watcher w;
    int marker;
    int32_t wd;

    tmp_make();
    make_dir("gone");
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, "gone", IN_DELETE_SELF, &marker);
    CHECK(rmdir(tmp_path("gone")) == 0);
    expect_event(&w, wd, IN_DELETE_SELF, "", &marker);
    CHECK_EQ(ino_rm_watch(&w, wd), 0);
    expect_released(&w, wd, &marker);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

static void
test_oneshot(void)
{
    ino_watcher w;
    int marker;
    int32_t wd;

    tmp_make();
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, ".", IN_CREATE | IN_ONESHOT, &marker);
    touch("one");
    touch("two");
    expect_event(&w, wd, IN_CREATE, "one", &marker);
    expect_released(&w, wd, &marker);
    expect_drained(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Events already queued for a forgotten wd, and its IN_IGNORED, are
 * skipped; the other watch's events come through untouched. */
static void
test_forgotten_wd_skipped(void)
{
    ino_watcher w;
    int ma, mb;
    int32_t wa, wb;

    tmp_make();
    make_dir("a");
    make_dir("b");
    open_watcher(&w, 0);
    wa = add_dir_watch(&w, "a", IN_CREATE, &ma);
    wb = add_dir_watch(&w, "b", IN_CREATE, &mb);
    touch("a/1");
    touch("b/1");
    touch("a/2");
    touch("b/2");
    CHECK_EQ(ino_read(&w), 4);
    ino_forget_watch(&w, wa);
    CHECK(ino_table_find(&w.table, wa) == NULL);
    CHECK(ino_table_find(&w.table, wb) != NULL);
    touch("a/3");
    expect_event(&w, wb, IN_CREATE, "1", &mb);
    expect_event(&w, wb, IN_CREATE, "2", &mb);
    /* forget removed the kernel watch too, which queued an IN_IGNORED for
     * wa: it is read like any record, then skipped. */
    CHECK_EQ(ino_read(&w), 1);
    CHECK(ino_pending(&w));
    expect_drained(&w);
    ino_forget_watch(&w, wa); /* a second time: a no-op */
    ino_forget_watch(&w, 12345); /* and an unknown wd */
    CHECK_EQ(ino_watch_count(&w), 1);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Names f0000, f0001, ...: equal length, so every record is 32 bytes. */
#define NUMBERED_NAME_SIZE 32

static void
numbered_name(char *name, size_t i)
{
    snprintf(name, NUMBERED_NAME_SIZE, "f%04zu", i);
}

/* Queues 2 * n events cheaply: one file renamed f0000 -> f0001 -> ...
 * gives IN_MOVED_FROM f<i>, IN_MOVED_TO f<i+1> per step (a rename makes
 * no inode, unlike a create, which costs about a millisecond on some
 * disks). */
static void
rename_chain(size_t n)
{
    char from[NUMBERED_NAME_SIZE], to[NUMBERED_NAME_SIZE];
    size_t i;

    numbered_name(from, 0);
    touch(from);
    for (i = 0; i < n; i++) {
        numbered_name(from, i);
        numbered_name(to, i + 1);
        CHECK(rename(tmp_path(from), tmp_path(to)) == 0);
    }
}

/* Takes event k of rename_chain() and checks it is exactly that one: the
 * names pin down order, loss and duplication; the pair shares a cookie
 * that differs from the previous pair's. */
static void
take_chain_event(ino_watcher *w, int32_t wd, size_t k, uint32_t *cookie)
{
    char name[NUMBERED_NAME_SIZE];
    ino_event ev;

    CHECK_EQ(ino_next(w, &ev), 1);
    CHECK_EQ(ev.wd, wd);
    numbered_name(name, k / 2 + k % 2);
    CHECK(name_is(&ev, name));
    CHECK(ev.cookie != 0);
    if (k % 2 == 0) {
        CHECK_EQ(ev.mask, IN_MOVED_FROM);
        CHECK(ev.cookie != *cookie);
        *cookie = ev.cookie;
    }
    else {
        CHECK_EQ(ev.mask, IN_MOVED_TO);
        CHECK_EQ(ev.cookie, *cookie);
    }
}

#define BOUND 10u
#define BOUND_SLACK 16u /* one short read may overshoot this much */
#define BOUND_EVENTS 1000u

/* With 1000 events waiting in the kernel, each ino_read() stops near the
 * bound; draining and reading again goes on where it stopped, and every
 * event arrives once, in order. */
static void
test_bound_full_drain(void)
{
    ino_watcher w;
    size_t taken = 0, reads = 0;
    uint32_t cookie = 0;
    long n;
    int32_t wd;

    tmp_make();
    open_watcher(&w, BOUND);
    wd = add_dir_watch(&w, ".", IN_MOVE, NULL);
    rename_chain(BOUND_EVENTS / 2);
    while ((n = ino_read(&w)) > 0) {
        reads++;
        CHECK(n <= (long)(BOUND + BOUND_SLACK));
        CHECK(ino_queued(&w) <= BOUND + BOUND_SLACK);
        CHECK(ino_full(&w) || taken + (size_t)n == BOUND_EVENTS);
        CHECK_EQ(ino_read(&w), 0); /* full: reads nothing */
        while (ino_pending(&w)) {
            take_chain_event(&w, wd, taken++, &cookie);
        }
        CHECK(!ino_full(&w));
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(taken, BOUND_EVENTS);
    CHECK(reads >= BOUND_EVENTS / (BOUND + BOUND_SLACK));
    expect_drained(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Taking a few events at a time: a read may only top the queue up, and
 * the bound still holds. */
static void
test_bound_partial_drain(void)
{
    ino_watcher w;
    size_t taken = 0, k;
    uint32_t cookie = 0;
    int32_t wd;

    tmp_make();
    open_watcher(&w, BOUND);
    wd = add_dir_watch(&w, ".", IN_MOVE, NULL);
    rename_chain(BOUND_EVENTS / 2);
    CHECK(ino_read(&w) > 0);
    CHECK(ino_full(&w));
    while (ino_pending(&w)) {
        for (k = 0; k < 4 && ino_pending(&w); k++) {
            take_chain_event(&w, wd, taken++, &cookie);
        }
        CHECK(ino_read(&w) >= 0);
        CHECK(ino_queued(&w) <= BOUND + BOUND_SLACK);
    }
    CHECK_EQ(taken, BOUND_EVENTS);
    expect_drained(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Writes `n` bytes to the files in fd[] in turn, one byte each: n
 * IN_MODIFY events whose names alternate, so the kernel merges none. */
static void
write_alternating(const int *fd, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        CHECK_EQ(write(fd[i % 2], "!", 1), 1);
    }
}

/* Opens the two files write_alternating() writes to. */
static void
open_pair(int *fd)
{
    fd[0] = open(tmp_path("x"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    fd[1] = open(tmp_path("y"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    CHECK(fd[0] >= 0 && fd[1] >= 0);
}

/* Reads /proc/sys/fs/inotify/max_queued_events, or returns 0. */
static long
kernel_queue_limit(void)
{
    FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    long limit = 0;

    if (f != NULL) {
        if (fscanf(f, "%ld", &limit) != 1) {
            limit = 0;
        }
        fclose(f);
    }
    return limit;
}

/* Overrunning the kernel queue yields one IN_Q_OVERFLOW, with wd -1 and no
 * udata, after the events that fit.  Two files are written in turn so that
 * the kernel cannot merge consecutive identical events. */
static void
test_queue_overflow(void)
{
    long limit = kernel_queue_limit(), modifies = 0, overflows = 0;
    ino_watcher w;
    ino_event ev;
    int fd[2];
    int32_t wd;

    if (limit <= 0 || limit > 100000) {
        printf("skip queue_overflow: max_queued_events is %ld\n", limit);
        return;
    }
    tmp_make();
    open_watcher(&w, 64);
    wd = add_dir_watch(&w, ".", IN_MODIFY, NULL);
    open_pair(fd);
    write_alternating(fd, (size_t)limit + 100);
    while (next_queued(&w, &ev)) {
        CHECK_EQ(overflows, 0); /* the overflow comes last */
        if (ev.mask == IN_Q_OVERFLOW) {
            CHECK(ev.wd == -1 && ev.udata == NULL && ev.name_len == 0);
            CHECK_EQ(ev.released, 0);
            overflows++;
            continue;
        }
        CHECK(ev.wd == wd && ev.mask == IN_MODIFY);
        CHECK(name_is(&ev, modifies % 2 == 0 ? "x" : "y"));
        modifies++;
    }
    CHECK_EQ(overflows, 1);
    CHECK_EQ(modifies, limit);
    /* Drained, the kernel queue takes events again. */
    CHECK_EQ(write(fd[0], "!", 1), 1);
    expect_event(&w, wd, IN_MODIFY, "x", NULL);
    CHECK(close(fd[0]) == 0 && close(fd[1]) == 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

#define CHUNK_ROUNDS 4
#define CHUNK_WRITES 2500 /* 2500 * 32 bytes: more than one chunk */

/* Takes every queued event; they must keep alternating x, y. */
static void
drain_alternating(ino_watcher *w, size_t *taken)
{
    ino_event ev;

    while (ino_next(w, &ev) == 1) {
        CHECK(ev.mask == IN_MODIFY);
        CHECK(name_is(&ev, (*taken)++ % 2 == 0 ? "x" : "y"));
    }
}

/* A queue longer than one 64 KiB chunk, filled while partly drained so
 * that chunks are appended, dropped, kept as the spare and reused.  Every
 * event must come through once, in order.  It ends by closing just after
 * a drain has parked a chunk as the spare: with valgrind or ASan that
 * catches a stale link out of the spare, which once made ino_close()
 * free a chunk twice. */
static void
test_queue_spans_chunks(void)
{
    ino_watcher w;
    ino_event ev;
    size_t round, k, written = 0, taken = 0;
    int fd[2];
    int32_t wd;

    tmp_make();
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, ".", IN_MODIFY, NULL);
    open_pair(fd);
    for (round = 0; round < CHUNK_ROUNDS; round++) {
        write_alternating(fd, CHUNK_WRITES);
        written += CHUNK_WRITES;
        CHECK_EQ(ino_read(&w), CHUNK_WRITES);
        /* Leave a different share behind each round. */
        for (k = 0; k < CHUNK_WRITES * (round + 1) / (CHUNK_ROUNDS + 1); k++) {
            CHECK_EQ(ino_next(&w, &ev), 1);
            CHECK(ev.wd == wd && ev.mask == IN_MODIFY);
            CHECK(name_is(&ev, taken++ % 2 == 0 ? "x" : "y"));
        }
        CHECK_EQ(ino_queued(&w), written - taken);
    }
    drain_alternating(&w, &taken);
    CHECK_EQ(taken, written);
    /* Once more from empty: the spare is reused, then parked again. */
    write_alternating(fd, CHUNK_WRITES);
    written += CHUNK_WRITES;
    CHECK_EQ(ino_read(&w), CHUNK_WRITES);
    drain_alternating(&w, &taken);
    CHECK_EQ(taken, written);
    expect_drained(&w);
    CHECK(close(fd[0]) == 0 && close(fd[1]) == 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Closing with several chunks full of unread events frees them all. */
static void
test_close_with_chunks_queued(void)
{
    ino_watcher w;
    int fd[2];

    tmp_make();
    open_watcher(&w, 0);
    add_dir_watch(&w, ".", IN_MODIFY, NULL);
    open_pair(fd);
    write_alternating(fd, 2 * CHUNK_WRITES);
    CHECK_EQ(ino_read(&w), 2 * CHUNK_WRITES);
    CHECK(close(fd[0]) == 0 && close(fd[1]) == 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Closing twice is fine, and a closed watcher refuses work cleanly.  The
 * first close happens with events queued and a watch in the table, so
 * valgrind sees that close frees both. */
static void
test_close_idempotent(void)
{
    ino_watcher w;
    ino_entry *e;
    ino_event ev;
    int32_t wd;

    tmp_make();
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, ".", IN_CREATE, NULL);
    touch("pending");
    CHECK_EQ(ino_read(&w), 1);
    CHECK_EQ(ino_close(&w), 0);
    CHECK_EQ(ino_fd(&w), -1);
    CHECK_EQ(ino_close(&w), 0);
    CHECK_EQ(ino_fd(&w), -1);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(ino_pending(&w), 0);
    CHECK_EQ(ino_next(&w, &ev), 0);
    CHECK_EQ(ino_read(&w), -EBADF);
    CHECK_EQ(ino_add_watch(&w, tmp_root, IN_CREATE, &e), -EBADF);
    CHECK_EQ(ino_rm_watch(&w, wd), -ENOENT);
    ino_forget_watch(&w, wd);
    tmp_remove();
}

static void
test_add_watch_errors(void)
{
    static const uint32_t bad_masks[] = {
        0,
        IN_ONLYDIR,
        IN_MASK_ADD | IN_ONESHOT,
        IN_CREATE | IN_IGNORED,
        IN_CREATE | IN_Q_OVERFLOW,
        IN_CREATE | IN_ISDIR,
        IN_CREATE | 0x1000,
    };
    ino_watcher w;
    ino_entry *e = NULL;
    size_t i;

    tmp_make();
    touch("file");
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_watch(&w, tmp_path("missing"), IN_CREATE, &e), -ENOENT);
    for (i = 0; i < CHECK_COUNT(bad_masks); i++) {
        CHECK_EQ(ino_add_watch(&w, tmp_root, bad_masks[i], &e), -EINVAL);
    }
    /* Errors the kernel finds come back as they are. */
    CHECK_EQ(ino_add_watch(&w, tmp_path("file"), IN_CREATE | IN_ONLYDIR, &e),
             -ENOTDIR);
    CHECK_EQ(ino_watch_count(&w), 0);
    add_dir_watch(&w, ".", IN_CREATE, NULL);
    CHECK_EQ(ino_add_watch(&w, tmp_root, IN_DELETE | IN_MASK_CREATE, &e),
             -EEXIST);
    CHECK_EQ(ino_watch_count(&w), 1);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* The read(2) calls this process has made so far (/proc/self/io syscr);
 * reading it is one read, counted in the next look. */
static long
read_syscalls(void)
{
    char buf[1024], *p;
    int fd = open("/proc/self/io", O_RDONLY | O_CLOEXEC);
    ssize_t n;

    CHECK(fd >= 0);
    n = read(fd, buf, sizeof buf - 1);
    CHECK(n > 0);
    CHECK(close(fd) == 0);
    buf[n] = '\0';
    p = strstr(buf, "syscr: ");
    CHECK(p != NULL);
    return strtol(p + 7, NULL, 10);
}

/* Valgrind makes read(2) calls of its own, which syscr counts. */
static int
under_a_reading_tool(void)
{
    const char *preload = getenv("LD_PRELOAD");

    return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

/* A read that leaves room for a whole record shows the kernel's queue was
 * empty: ino_read() stops there, one read(2) per readiness, with drained
 * set; a read cut short by the bound leaves it clear. */
static void
test_short_read_means_drained(void)
{
    ino_watcher w;
    long before;
    int32_t wd;

    tmp_make();
    open_watcher(&w, 0);
    wd = add_dir_watch(&w, ".", IN_CREATE, NULL);
    CHECK(!ino_drained(&w)); /* nothing read yet */
    CHECK_EQ(ino_read(&w), 0); /* EAGAIN */
    CHECK(ino_drained(&w));
    touch("a");
    touch("b");
    touch("c");
    before = read_syscalls();
    CHECK_EQ(ino_read(&w), 3);
    if (!under_a_reading_tool()) {
        CHECK_EQ(read_syscalls() - before, 2); /* the look at syscr + one */
    }
    CHECK(ino_drained(&w));
    expect_event(&w, wd, IN_CREATE, "a", NULL);
    expect_event(&w, wd, IN_CREATE, "b", NULL);
    expect_event(&w, wd, IN_CREATE, "c", NULL);
    expect_drained(&w);
    CHECK_EQ(ino_close(&w), 0);

    /* Cut short by the bound: the kernel may hold more. */
    open_watcher(&w, BOUND);
    wd = add_dir_watch(&w, ".", IN_MOVE, NULL);
    rename_chain(BOUND_EVENTS / 2);
    CHECK(ino_read(&w) > 0);
    CHECK(ino_full(&w));
    CHECK(!ino_drained(&w));
    CHECK_EQ(ino_close(&w), 0);
    (void)wd;
    tmp_remove();
}

/* ino_sysctl() reads the inotify limits as /proc shows them, and keeps
 * to the inotify directory. */
static void
test_sysctl(void)
{
    FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "r");
    long expected = -1;

    CHECK(f != NULL);
    CHECK(fscanf(f, "%ld", &expected) == 1);
    fclose(f);
    CHECK_EQ(ino_sysctl("max_user_watches"), expected);
    CHECK(ino_sysctl("max_queued_events") > 0);
    CHECK(ino_sysctl("max_user_instances") > 0);
    CHECK_EQ(ino_sysctl("no_such_limit"), -ENOENT);
    CHECK_EQ(ino_sysctl(""), -EINVAL);
    CHECK_EQ(ino_sysctl(".."), -EINVAL);
    CHECK_EQ(ino_sysctl("../inotify/max_user_watches"), -EINVAL);
}

static const check_case cases[] = {
    {"add_watch_twice", test_add_watch_twice},
    {"first_add_with_mask_add", test_first_add_with_mask_add},
    {"create_events_in_order", test_create_events_in_order},
    {"move_cookie", test_move_cookie},
    {"rm_watch_releases", test_rm_watch_releases},
    {"rm_watch_after_delete", test_rm_watch_after_delete},
    {"oneshot", test_oneshot},
    {"forgotten_wd_skipped", test_forgotten_wd_skipped},
    {"bound_full_drain", test_bound_full_drain},
    {"bound_partial_drain", test_bound_partial_drain},
    {"queue_overflow", test_queue_overflow},
    {"queue_spans_chunks", test_queue_spans_chunks},
    {"close_with_chunks_queued", test_close_with_chunks_queued},
    {"close_idempotent", test_close_idempotent},
    {"add_watch_errors", test_add_watch_errors},
    {"short_read_means_drained", test_short_read_means_drained},
    {"sysctl", test_sysctl},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
