/*
 * test_state.c: a tree's index saved to a file and a tree started from it
 * (ino_state.c), against the real kernel: what changed while nobody
 * watched comes as events with INO_RESCAN and then one INO_SYNCED;
 * nothing more when nothing changed; every damaged, cut, foreign or too
 * new file is refused with the reason, and saving is atomic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino.h"
#include "check.h"
#include "support.h"

#define MASK (TREE_MASK | IN_MODIFY)

static void
write_at(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* Watches the tree, saves its state to tmp_root/state, closes. */
static void
save_fresh(void)
{
    ino_watcher w;
    int32_t wd;

    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), MASK, NULL, 0, 0, NULL);
    expect_quiet(&w);
    CHECK_EQ(ino_state_save(&w, &wd, 1, tmp_path("state")), 0);
    CHECK_EQ(ino_close(&w), 0);
}

/* Starts the tree from tmp_root/state into w; returns ino_add_tree_since()'s
 * result, with *err. */
static int
start_since(ino_watcher *w, ino_state_error *err, int32_t *wd)
{
    ino_state *st;
    ino_entry *e = NULL;
    int rc = ino_state_load(tmp_path("state"), &st, err);

    if (rc < 0) {
        return rc;
    }
    rc = ino_add_tree_since(w, tmp_path("tree"), MASK, NULL, 0, 0, st, err, &e,
                            NULL);
    ino_state_free(st);
    if (rc == 1) {
        *wd = e->wd;
    }
    return rc;
}

/* Unchanged since the save: nothing but SYNCED, and the index is whole. */
static void
test_nothing_changed(void)
{
    ino_state_error err;
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    write_at(tree_path("a/b/f"), "x");
    write_at(tree_path("g"), "yy");
    CHECK(symlink("g", tree_path("a/link")) == 0);
    save_fresh();
    open_watcher(&w, 0);
    CHECK_EQ(start_since(&w, &err, &wd), 1);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    CHECK_EQ(ino_tree_files(&w, wd), 3);
    consistent(&w, 1, 3);
    collect(&w, &r);
    CHECK_EQ(r.n, 1);
    CHECK_EQ(r.v[0].mask, INO_SYNCED);
    recs_free(&r);
    /* Live after it, in a directory the heal watched. */
    touch_at(tree_path("a/b/late"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "a/b/late", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Churn while nobody watched: each change as a heal tells it. */
static void
test_churn_while_stopped(void)
{
    ino_state_error err;
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    long synced, moved_to;

    tmp_make_tree();
    mkdir_at(tree_path("d"));
    mkdir_at(tree_path("d/sub"));
    write_at(tree_path("d/sub/f"), "x");
    write_at(tree_path("grows"), "a");
    write_at(tree_path("same"), "a");
    write_at(tree_path("gone"), "a");
    write_at(tree_path("renamed"), "a");
    mkdir_at(tree_path("old"));
    write_at(tree_path("old/inner"), "a");
    write_at(tree_path("becomes_dir"), "a");
    mkdir_at(tree_path("becomes_file"));
    save_fresh();

    write_at(tree_path("grows"), "abc");
    CHECK(unlink(tree_path("gone")) == 0);
    CHECK(rename(tree_path("renamed"), tree_path("d/sub/now")) == 0);
    CHECK(rename(tree_path("d"), tree_path("d2")) == 0);
    /* Made before old goes, so that they cannot take its inodes (a new
     * entry on an inode a deleted one had is told as its move). */
    mkdir_at(tree_path("new"));
    write_at(tree_path("new/g"), "x");
    rm_r(tree_path("old"));
    CHECK(unlink(tree_path("becomes_dir")) == 0);
    mkdir_at(tree_path("becomes_dir"));
    rm_r(tree_path("becomes_file"));
    write_at(tree_path("becomes_file"), "a");

    open_watcher(&w, 0);
    CHECK_EQ(start_since(&w, &err, &wd), 1);
    collect(&w, &r);
    synced = find(&r, INO_SYNCED, "");
    if (synced != (long)r.n - 1) {
        recs_dump(&r);
    }
    CHECK(synced == (long)r.n - 1);
    EXPECT_COUNT(&r, IN_MODIFY | INO_RESCAN, "grows", 1);
    EXPECT_COUNT(&r, IN_MODIFY | INO_RESCAN, "same", 0);
    EXPECT_COUNT(&r, IN_DELETE | INO_RESCAN, "gone", 1);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR | INO_RESCAN, "d", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR | INO_RESCAN, "d2", 1);
    EXPECT_COUNT(&r, IN_MOVED_FROM | INO_RESCAN, "renamed", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | INO_RESCAN, "d2/sub/now", 1);
    moved_to = find(&r, IN_MOVED_TO | INO_RESCAN, "d2/sub/now");
    CHECK(strcmp(r.v[moved_to].src, "renamed") == 0);
    CHECK(r.v[moved_to].cookie != 0 &&
          r.v[moved_to].cookie ==
              r.v[find(&r, IN_MOVED_FROM | INO_RESCAN, "renamed")].cookie);
    EXPECT_COUNT(&r, IN_DELETE | INO_RESCAN, "old/inner", 1);
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "old", 1);
    CHECK(find(&r, IN_DELETE | INO_RESCAN, "old/inner") <
          find(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "old"));
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR | INO_RESCAN, "new", 1);
    EXPECT_COUNT(&r, IN_CREATE | INO_RESCAN, "new/g", 1);
    EXPECT_COUNT(&r, IN_DELETE | INO_RESCAN, "becomes_dir", 1);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR | INO_RESCAN, "becomes_dir", 1);
    CHECK(find(&r, IN_DELETE | INO_RESCAN, "becomes_dir") <
          find(&r, IN_CREATE | IN_ISDIR | INO_RESCAN, "becomes_dir"));
    EXPECT_COUNT(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "becomes_file", 1);
    EXPECT_COUNT(&r, IN_CREATE | INO_RESCAN, "becomes_file", 1);
    CHECK(find(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "becomes_file") <
          find(&r, IN_CREATE | INO_RESCAN, "becomes_file"));
    /* Nothing else: the other entries did not change. */
    if (r.n != 15) {
        recs_dump(&r);
    }
    CHECK_EQ(r.n, 15);
    CHECK_EQ(ino_tree_size(&w, wd), 5); /* root, d2, d2/sub, new, b_dir */
    consistent(&w, 1, 5);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Directories moved into each other while stopped: the moves are paired
 * by inode, outermost first, and the index follows. */
static void
test_nested_moves(void)
{
    ino_state_error err;
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    mkdir_at(tree_path("a/b/c"));
    write_at(tree_path("a/b/c/f"), "x");
    save_fresh();
    CHECK(rename(tree_path("a/b/c"), tree_path("c")) == 0);
    CHECK(rename(tree_path("a/b"), tree_path("c/b")) == 0);
    CHECK(rename(tree_path("a"), tree_path("c/b/a")) == 0);
    open_watcher(&w, 0);
    CHECK_EQ(start_since(&w, &err, &wd), 1);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR | INO_RESCAN, "c", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR | INO_RESCAN, "c/b", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR | INO_RESCAN, "c/b/a", 1);
    CHECK(strcmp(r.v[find(&r, IN_MOVED_TO | IN_ISDIR | INO_RESCAN, "c")].src,
                 "a/b/c") == 0);
    CHECK_EQ(r.n, 7); /* three pairs and SYNCED */
    CHECK_EQ(ino_tree_size(&w, wd), 4);
    CHECK_EQ(ino_tree_files(&w, wd), 1);
    consistent(&w, 1, 4);
    recs_free(&r);
    touch_at(tree_path("c/f2"));
    write_at(tree_path("c/f"), "longer");
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "c/f2", 1);
    EXPECT_COUNT(&r, IN_MODIFY, "c/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Reads tmp_root/state into a malloc'd buffer. */
static unsigned char *
read_state(size_t *len)
{
    FILE *f = fopen(tmp_path("state"), "rb");
    unsigned char *buf;
    long size;

    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    size = ftell(f);
    CHECK(size > 0 && fseek(f, 0, SEEK_SET) == 0);
    buf = malloc((size_t)size);
    CHECK(buf != NULL && fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static int
parse_reason(const unsigned char *buf, size_t len)
{
    ino_state_error err;
    ino_state *st = NULL;
    int rc = ino_state_parse(buf, len, &st, &err);

    if (rc == 0) {
        ino_state_free(st);
        return INO_STATE_OK;
    }
    CHECK_EQ(rc, -EBADMSG);
    CHECK(st == NULL && err.detail[0] != '\0');
    return err.reason;
}

/* The same CRC-32 as the file's, for forging a file that passes it. */
static uint32_t
crc32_bytes(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int k;

    for (i = 0; i < len; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static void
fix_crc(unsigned char *buf, size_t len)
{
    uint32_t crc = crc32_bytes(buf, len - 4);
    int i;

    for (i = 0; i < 4; i++) {
        buf[len - 4 + i] = (unsigned char)(crc >> (8 * i));
    }
}

/* Every bit flipped, every length cut: refused, never a crash. */
static void
test_damaged_files(void)
{
    unsigned char *buf;
    size_t len, i;
    int bit;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    write_at(tree_path("a/f"), "x");
    write_at(tree_path("g"), "x");
    save_fresh();
    buf = read_state(&len);
    CHECK_EQ(parse_reason(buf, len), INO_STATE_OK);
    CHECK_EQ(parse_reason(buf, 0), INO_STATE_NOT_STATE);
    for (i = 1; i < len; i++) {
        int reason = parse_reason(buf, i);
        CHECK(reason == (i < 8 ? INO_STATE_NOT_STATE : INO_STATE_TRUNCATED));
    }
    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            int reason;
            buf[i] ^= (unsigned char)(1u << bit);
            reason = parse_reason(buf, len);
            CHECK(reason != INO_STATE_OK);
            buf[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* Too new: refused by its version, before the checksum. */
    buf[8] = 2;
    CHECK_EQ(parse_reason(buf, len), INO_STATE_TOO_NEW);
    buf[8] = 1;
    /* A record made wrong with a right checksum: the parser's checks. */
    CHECK(len > 64);
    buf[len > 64 ? len - 5 : 0] = '/'; /* in the last name */
    fix_crc(buf, len);
    CHECK_EQ(parse_reason(buf, len), INO_STATE_CORRUPT);
    free(buf);
    tmp_remove();
}

/* Another root: refused by ino_add_tree_since(), the watcher unchanged. */
static void
test_foreign_root(void)
{
    ino_state_error err;
    ino_watcher w;
    int32_t wd;

    tmp_make_tree();
    write_at(tree_path("f"), "x");
    save_fresh();
    rm_r(tmp_path("tree"));
    mkdir_at(tmp_path("tree")); /* the same path, another inode */
    open_watcher(&w, 0);
    CHECK_EQ(start_since(&w, &err, &wd), -EBADMSG);
    CHECK_EQ(err.reason, INO_STATE_FOREIGN);
    CHECK(strstr(err.detail, "inode") != NULL);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* The root's path on another file system: a tmpfs mounted on "tree" when
 * the state was saved, unmounted since (root only). */
static void
test_other_file_system(void)
{
    ino_state_error err;
    ino_watcher w;
    int32_t wd;

    if (!have_root("other_file_system")) {
        return;
    }
    tmp_make_tree();
    if (mount("inotipy-test", tmp_path("tree"), "tmpfs", 0, "size=1m") < 0) {
        fprintf(stderr, "skip other_file_system: mount: %s\n",
                strerror(errno));
        tmp_remove();
        return;
    }
    write_at(tree_path("f"), "x");
    save_fresh();
    CHECK(umount(tmp_path("tree")) == 0);
    open_watcher(&w, 0);
    CHECK_EQ(start_since(&w, &err, &wd), -EBADMSG);
    CHECK_EQ(err.reason, INO_STATE_OTHER_FS);
    CHECK(strstr(err.detail, "device") != NULL);
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A fifo or a device is no state file, and opening it does not block. */
static void
test_not_regular(void)
{
    ino_state_error err;
    ino_state *st = NULL;

    tmp_make();
    CHECK(mkfifo(tmp_path("fifo"), 0600) == 0);
    CHECK_EQ(ino_state_load(tmp_path("fifo"), &st, &err), -EBADMSG);
    CHECK_EQ(err.reason, INO_STATE_NOT_STATE);
    CHECK_EQ(ino_state_load("/dev/null", &st, &err), -EBADMSG);
    CHECK_EQ(err.reason, INO_STATE_NOT_STATE);
    CHECK(st == NULL);
    tmp_remove();
}

/* The new start's excludes apply to the loaded index: what they leave
 * out is never told. */
static void
test_excludes_of_the_start(void)
{
    static const char *const ex[] = {"x"};
    ino_state_error err;
    ino_state *st;
    ino_watcher w;
    ino_entry *e = NULL;
    recs r = {0};

    tmp_make_tree();
    mkdir_at(tree_path("x"));
    write_at(tree_path("x/f"), "x");
    write_at(tree_path("keep"), "x");
    save_fresh();
    open_watcher(&w, 0);
    CHECK_EQ(ino_state_load(tmp_path("state"), &st, &err), 0);
    CHECK_EQ(ino_add_tree_since(&w, tmp_path("tree"), MASK, ex, 1, 0, st, &err,
                                &e, NULL),
             1);
    ino_state_free(st);
    collect(&w, &r);
    CHECK_EQ(r.n, 1);
    CHECK_EQ(r.v[0].mask, INO_SYNCED);
    CHECK_EQ(ino_tree_size(&w, e->wd), 1);
    CHECK_EQ(ino_tree_files(&w, e->wd), 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Saving: a tree only, with its index; a failure leaves nothing behind,
 * and a good save replaces the old file whole. */
static void
test_save_errors(void)
{
    ino_watcher w;
    ino_entry *e;
    int32_t wd, plain;
    DIR *d;
    struct dirent *de;
    int entries = 0;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_state_save(&w, &wd, 1, tmp_path("no/such/dir/state")),
             -ENOENT);
    CHECK_EQ(ino_state_save(&w, &wd, 1, tmp_path("out")), -EISDIR);
    CHECK_EQ(ino_state_save(&w, &wd, 0, tmp_path("state")), -EINVAL);
    CHECK(ino_add_watch(&w, tmp_path("out"), IN_CREATE, &e) == 1);
    plain = e->wd;
    CHECK_EQ(ino_state_save(&w, &plain, 1, tmp_path("state")), -ENOENT);
    CHECK_EQ(ino_state_save(&w, &wd, 1, tmp_path("state")), 0);
    CHECK_EQ(ino_state_save(&w, &wd, 1, tmp_path("state")), 0);
    CHECK_EQ(ino_close(&w), 0);
    open_watcher(&w, 0);
    CHECK_EQ(ino_add_tree(&w, tmp_path("tree"), MASK, NULL, 0,
                          INO_TREE_NO_FILES, &e, NULL),
             1);
    wd = e->wd;
    CHECK_EQ(ino_state_save(&w, &wd, 1, tmp_path("state2")), -EINVAL);
    CHECK_EQ(ino_close(&w), 0);
    /* tmp_root holds tree, out and state: no temporary file stayed. */
    d = opendir(tmp_root);
    CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            entries++;
        }
        else {
            CHECK(strcmp(de->d_name, ".") == 0 ||
                  strcmp(de->d_name, "..") == 0);
        }
    }
    closedir(d);
    CHECK_EQ(entries, 3);
    {
        ino_state_error err;
        ino_state *st;
        CHECK_EQ(ino_state_load(tmp_path("none"), &st, &err), -ENOENT);
        CHECK_EQ(ino_state_load(tmp_path("out"), &st, &err), -EISDIR);
        CHECK_EQ(ino_state_load(tmp_path("state"), &st, &err), 0);
        CHECK_EQ(ino_state_trees(st), 1);
        ino_state_free(st);
    }
    tmp_remove();
}

int
main(int argc, char **argv)
{
    static const check_case cases[] = {
        {"nothing_changed", test_nothing_changed},
        {"churn_while_stopped", test_churn_while_stopped},
        {"nested_moves", test_nested_moves},
        {"damaged_files", test_damaged_files},
        {"foreign_root", test_foreign_root},
        {"save_errors", test_save_errors},
        {"other_file_system", test_other_file_system},
        {"not_regular", test_not_regular},
        {"excludes_of_the_start", test_excludes_of_the_start},
    };

    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
