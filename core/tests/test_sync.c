/*
 * test_sync.c: ino_sync_begin() against the real kernel, no mocks.  A sync
 * has completed once every event of a change made before it is in the
 * user-space queue: each test makes changes, begins a sync, reads until
 * ino_synced() passes its token, and then takes only what is queued
 * (no further read) to find every expected event there, before the
 * INO_SYNC event.
 *
 * Scratch directory, limits and collected events as in the other tests
 * (support.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino.h"
#include "ino_internal.h" /* ino_frame_strip(), INO_PRIV_BITS */
#include "check.h"
#include "support.h"

/* ---- helpers ------------------------------------------------------------ */

static int32_t
watch_dir(ino_watcher *w, const char *path, uint32_t mask)
{
    ino_entry *e = NULL;

    CHECK_EQ(ino_add_watch(w, path, mask, &e), 1);
    return e->wd;
}

/* Makes count files name0, name1, ... in dir (a path below tmp_root). */
static void
make_files(const char *dir, const char *name, int count)
{
    char rel[PATH_MAX];
    int i;

    for (i = 0; i < count; i++) {
        snprintf(rel, sizeof rel, "%s/%s%d", dir, name, i);
        touch_at(tmp_path(rel));
    }
}

/* Takes what the user-space queue holds, reading nothing. */
static void
take_queued(ino_watcher *w, recs *r)
{
    ino_event ev;

    while (ino_next(w, &ev) == 1) {
        recs_add(r, &ev);
    }
}

/* Begins a sync with its event; returns the token. */
static uint64_t
begin(ino_watcher *w, int done_at_once)
{
    uint64_t token = 0;

    CHECK_EQ(ino_sync_begin(w, INO_SYNC_EVENT, &token), done_at_once);
    CHECK(token > 0);
    CHECK_EQ(ino_synced(w) >= token, done_at_once);
    return token;
}

/* Reads until the sync has completed; the reads it takes are bounded. */
static void
read_until_synced(ino_watcher *w, uint64_t token)
{
    int reads = 0;

    while (ino_synced(w) < token) {
        CHECK(ino_read(w) >= 0);
        CHECK(++reads < 1000);
    }
}

/* The index of the INO_SYNC event for token in r, which must be the only
 * one. */
static size_t
sync_index(const recs *r, uint64_t token)
{
    size_t i, found = r->n;

    for (i = 0; i < r->n; i++) {
        if (r->v[i].mask == INO_SYNC) {
            CHECK(found == r->n);
            CHECK_EQ(r->v[i].wd, -1);
            CHECK_EQ(r->v[i].cookie, (uint32_t)token);
            CHECK(r->v[i].udata == NULL && r->v[i].name[0] == '\0');
            found = i;
        }
    }
    CHECK(found < r->n);
    return found;
}

/* The number of entries of a directory (no "." or ".."). */
static size_t
dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    size_t n = 0;

    CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) {
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

/* With nothing watched and nothing queued a sync completes at once, its
 * event queued then; tokens count up; bad flags and a closed watcher are
 * refused. */
static void
test_nothing_to_wait_for(void)
{
    ino_watcher w;
    ino_event ev;
    uint64_t token = 0;

    open_watcher(&w, 0);
    CHECK_EQ(begin(&w, 1), 1);
    CHECK_EQ(ino_next(&w, &ev), 1);
    CHECK(ev.wd == -1 && ev.mask == INO_SYNC && ev.cookie == 1);
    CHECK(ev.udata == NULL && ev.name_len == 0 && !ev.released);
    CHECK_EQ(ino_next(&w, &ev), 0);
    /* Without INO_SYNC_EVENT no event is queued. */
    CHECK_EQ(ino_sync_begin(&w, 0, &token), 1);
    CHECK_EQ(token, 2);
    CHECK_EQ(ino_synced(&w), 2);
    CHECK_EQ(ino_next(&w, &ev), 0);
    CHECK_EQ(ino_sync_begin(&w, 2, &token), -EINVAL);
    CHECK_EQ(ino_close(&w), 0);
    CHECK_EQ(ino_sync_begin(&w, 0, &token), -EBADF);
}

/* Changes in a watched directory: every event is queued when the sync
 * completes, in order, before its event; nothing was written to the
 * directory. */
static void
test_plain_directory(void)
{
    char name[32];
    ino_watcher w;
    recs r = {0};
    uint64_t token;
    size_t i, at;
    int32_t wd;

    tmp_make();
    mkdir_at(tmp_path("d"));
    open_watcher(&w, 0);
    wd = watch_dir(&w, tmp_path("d"), IN_CREATE);
    make_files("d", "f", 100);
    token = begin(&w, 0);
    read_until_synced(&w, token);
    take_queued(&w, &r);
    at = sync_index(&r, token);
    CHECK_EQ(at, 100);
    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "f%zu", i);
        CHECK(r.v[i].wd == wd && r.v[i].mask == IN_CREATE);
        CHECK(strcmp(r.v[i].name, name) == 0);
    }
    CHECK_EQ(dir_entries(tmp_path("d")), 100);
    recs_free(&r);
    expect_quiet(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A watch of a file, and a mask with no CREATE: a sync needs no marker,
 * so it covers them as any other watch. */
static void
test_file_and_self_masks(void)
{
    ino_watcher w;
    recs r = {0};
    uint64_t token;
    int32_t wf, wd;
    int fd;

    tmp_make();
    mkdir_at(tmp_path("d"));
    touch_at(tmp_path("d/x"));
    touch_at(tmp_path("file"));
    open_watcher(&w, 0);
    wf = watch_dir(&w, tmp_path("file"), IN_MODIFY);
    wd = watch_dir(&w, tmp_path("d"), IN_ATTRIB | IN_DELETE_SELF);
    fd = open(tmp_path("file"), O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "x", 1), 1);
    CHECK(close(fd) == 0);
    CHECK(chmod(tmp_path("d/x"), 0600) == 0);
    token = begin(&w, 0);
    read_until_synced(&w, token);
    take_queued(&w, &r);
    CHECK_EQ(sync_index(&r, token), 2);
    CHECK(r.v[0].wd == wf && r.v[0].mask == IN_MODIFY);
    CHECK(r.v[1].wd == wd && r.v[1].mask == IN_ATTRIB);
    CHECK(strcmp(r.v[1].name, "x") == 0);
    CHECK_EQ(dir_entries(tmp_path("d")), 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A full queue: the sync lifts the bound while it waits, reads the
 * backlog, and the bound holds again once it has completed. */
static void
test_past_the_bound(void)
{
    ino_watcher w;
    recs r = {0};
    uint64_t token;

    tmp_make();
    mkdir_at(tmp_path("d"));
    open_watcher(&w, 8);
    watch_dir(&w, tmp_path("d"), IN_CREATE);
    make_files("d", "f", 100);
    CHECK(ino_read(&w) >= 8);
    CHECK(ino_full(&w));
    CHECK_EQ(ino_read(&w), 0);
    token = begin(&w, 0);
    CHECK(!ino_full(&w));
    read_until_synced(&w, token);
    CHECK(ino_full(&w));
    take_queued(&w, &r);
    CHECK_EQ(sync_index(&r, token), 100);
    CHECK_EQ(count(&r, IN_CREATE, "f99"), 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Without trees a sync needs no empty kernel queue: it completes once the
 * bytes the kernel held when it began are read, though changes made after
 * it keep the queue from emptying.  Here a bound of 8 stops the read soon
 * after (the backlog of later changes stays in the kernel). */
static void
test_completes_without_drain(void)
{
    long limit = sysctl_read(Q_EVENTS);
    ino_watcher w;
    recs r = {0};
    uint64_t token;
    size_t at;

    if (limit < 6000) {
        printf("skip completes_without_drain: max_queued_events %ld\n", limit);
        return;
    }
    tmp_make();
    mkdir_at(tmp_path("d"));
    open_watcher(&w, 8);
    watch_dir(&w, tmp_path("d"), IN_CREATE);
    make_files("d", "b", 50);
    token = begin(&w, 0);
    /* 5000 records of 32 bytes: more than one read takes. */
    make_files("d", "a", 5000);
    CHECK(ino_read(&w) > 0);
    CHECK(ino_synced(&w) >= token);
    CHECK(!ino_drained(&w));
    CHECK(ino_full(&w));
    take_queued(&w, &r);
    at = sync_index(&r, token);
    CHECK(at >= 50 && at < 5050);
    CHECK(find(&r, IN_CREATE, "b49") < (long)at);
    CHECK_EQ(count(&r, IN_CREATE, "a4999"), 0);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Syncs complete in the order they began, each event after the events
 * that came before it. */
static void
test_several_in_order(void)
{
    ino_watcher w;
    recs r = {0};
    uint64_t t1, t2, t3;
    long i1, i2, i3;

    tmp_make();
    mkdir_at(tmp_path("d"));
    open_watcher(&w, 0);
    watch_dir(&w, tmp_path("d"), IN_CREATE);
    touch_at(tmp_path("d/one"));
    t1 = begin(&w, 0);
    touch_at(tmp_path("d/two"));
    t2 = begin(&w, 0);
    t3 = begin(&w, 0);
    CHECK(t1 < t2 && t2 < t3);
    read_until_synced(&w, t3);
    CHECK_EQ(ino_synced(&w), t3);
    take_queued(&w, &r);
    CHECK_EQ(r.n, 5);
    i1 = find(&r, IN_CREATE, "one");
    i2 = find(&r, IN_CREATE, "two");
    for (i3 = 0; i3 < 5 && r.v[i3].mask != INO_SYNC; i3++) {
    }
    CHECK(i1 == 0 && i2 == 1 && i3 == 2);
    CHECK(r.v[2].cookie == t1 && r.v[3].cookie == t2 && r.v[4].cookie == t3);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* The kernel's queue overflowed: the sync completes, after the
 * IN_Q_OVERFLOW that stands for what was lost.  Root only (the limit is
 * lowered, and restored by tmp_remove()). */
static void
test_kernel_overflow(void)
{
    ino_watcher w;
    recs r = {0};
    uint64_t token;
    long over;

    if (!have_root("kernel_overflow")) {
        return;
    }
    tmp_make();
    saved_queued = sysctl_read(Q_EVENTS);
    CHECK_EQ(sysctl_write(Q_EVENTS, 32), 0);
    mkdir_at(tmp_path("d"));
    open_watcher(&w, 0);
    watch_dir(&w, tmp_path("d"), IN_CREATE);
    make_files("d", "f", 100);
    token = begin(&w, 0);
    read_until_synced(&w, token);
    take_queued(&w, &r);
    over = find(&r, IN_Q_OVERFLOW, "");
    CHECK(over >= 0 && (size_t)over < sync_index(&r, token));
    CHECK_EQ(count(&r, IN_CREATE, "f0"), 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A tree: what its scans find in new directories, and a directory moved
 * out (a MOVED_FROM the tree holds until a record follows or the kernel's
 * queue is seen empty), are queued when the sync completes. */
static void
test_tree(void)
{
    ino_watcher w;
    recs r = {0};
    uint64_t token;
    size_t at;
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    touch_at(tree_path("a/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &w);
    /* Nothing queued, but a tree may have work left: it waits for a
     * read, which sees the kernel's queue empty. */
    token = begin(&w, 0);
    CHECK_EQ(ino_read(&w), 1);
    CHECK(ino_synced(&w) >= token);
    take_queued(&w, &r);
    CHECK_EQ(r.n, 1);
    CHECK_EQ(sync_index(&r, token), 0);
    recs_free(&r);

    mkdir_at(tree_path("n"));
    mkdir_at(tree_path("n/m"));
    touch_at(tree_path("n/m/g"));
    CHECK(rename(tree_path("a"), tmp_path("out/a")) == 0);
    token = begin(&w, 0);
    read_until_synced(&w, token);
    take_queued(&w, &r);
    at = sync_index(&r, token);
    CHECK(find(&r, IN_CREATE | IN_ISDIR, "n") < (long)at);
    CHECK(find(&r, IN_CREATE | IN_ISDIR, "n/m") < (long)at);
    CHECK(find(&r, IN_CREATE, "n/m/g") < (long)at);
    CHECK(find(&r, IN_MOVED_FROM | IN_ISDIR, "a") >= 0);
    CHECK(find(&r, IN_MOVED_FROM | IN_ISDIR, "a") < (long)at);
    CHECK_EQ(at, r.n - 1);
    for (at = 0; at + 1 < r.n; at++) {
        CHECK(r.v[at].wd == wd && r.v[at].udata == &w);
    }
    recs_free(&r);
    expect_quiet(&w);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Closing ends the syncs that wait (nothing leaks: valgrind). */
static void
test_close_while_waiting(void)
{
    ino_watcher w;
    uint64_t token;

    tmp_make();
    open_watcher(&w, 0);
    watch_dir(&w, tmp_root, IN_CREATE);
    touch_at(tmp_path("f"));
    token = begin(&w, 0);
    begin(&w, 0);
    CHECK(ino_synced(&w) < token);
    CHECK_EQ(ino_close(&w), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A kernel record cannot pass for a sync's event: the bit is cleared as
 * records are read. */
static void
test_kernel_bit_stripped(void)
{
    uint32_t rec[4] = {1, IN_CREATE | INO_SYNC, 0, 0};
    size_t valid = 0, n = 0;

    CHECK((INO_SYNC & INO_PRIV_BITS) == INO_SYNC);
    CHECK((INO_SYNC & (uint32_t)IN_ALL_EVENTS) == 0);
    CHECK_EQ(ino_frame_strip((char *)rec, sizeof rec, &valid, &n), 0);
    CHECK(valid == sizeof rec && n == 1);
    CHECK_EQ(rec[1], IN_CREATE);
}

static const check_case cases[] = {
    {"nothing_to_wait_for", test_nothing_to_wait_for},
    {"plain_directory", test_plain_directory},
    {"file_and_self_masks", test_file_and_self_masks},
    {"past_the_bound", test_past_the_bound},
    {"completes_without_drain", test_completes_without_drain},
    {"several_in_order", test_several_in_order},
    {"kernel_overflow", test_kernel_overflow},
    {"tree", test_tree},
    {"close_while_waiting", test_close_while_waiting},
    {"kernel_bit_stripped", test_kernel_bit_stripped},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
