/*
 * test_tree_moves.c: renames, moves and removals in a tree, against the
 * real kernel, no mocks: MOVED_FROM and MOVED_TO paired with `src`, the
 * paths below a renamed directory, directories moved out (unwatched) and
 * in (scanned), rm -r of a subtree and of the root, ino_rm_watch() of the
 * root, and the cases where a directory's key in the children map must
 * survive another directory's late IN_IGNORED.
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
#include <sys/syscall.h>
#include <unistd.h>

#include "ino.h"
#include "ino_internal.h" /* white-box views of the trees */
#include "check.h"
#include "support.h"

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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    mkdir_at(tree_path("a/b/c"));
    mkdir_at(tree_path("z"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 5);

    CHECK(rename(tree_path("a/b"), tree_path("a/bb")) == 0);
    collect(&w, &r);
    CHECK_EQ(r.n, 2);
    from = find(&r, IN_MOVED_FROM | IN_ISDIR, "a/b");
    to = find(&r, IN_MOVED_TO | IN_ISDIR, "a/bb");
    CHECK(from == 0 && to == 1);
    CHECK(r.v[0].cookie != 0 && r.v[0].cookie == r.v[1].cookie);
    CHECK(!r.v[0].has_src);
    CHECK(r.v[1].has_src && strcmp(r.v[1].src, "a/b") == 0);
    recs_free(&r);

    touch_at(tree_path("a/bb/c/x"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "a/bb/c/x", 1);
    CHECK_EQ(r.n, 1);
    recs_free(&r);

    /* Longer name, then to another parent, then a short name again. */
    snprintf(want, sizeof want, "a/%s", longer);
    CHECK(rename(tree_path("a/bb"), tree_path(want)) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, want, 1);
    CHECK(strcmp(r.v[1].src, "a/bb") == 0);
    recs_free(&r);
    CHECK(rename(tree_path(want), tree_path("z/q")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, want, 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "z/q", 1);
    CHECK(strcmp(r.v[find(&r, IN_MOVED_TO | IN_ISDIR, "z/q")].src, want) == 0);
    recs_free(&r);
    touch_at(tree_path("z/q/c/y"));
    mkdir_at(tree_path("z/q/c/new"));
    touch_at(tree_path("z/q/c/new/f"));
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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("b"));
    touch_at(tree_path("a/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tree_path("a/f"), tree_path("b/g")) == 0);
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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    mkdir_at(tree_path("a/b/c"));
    mkdir_at(tree_path("keep"));
    touch_at(tree_path("a/b/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 5);
    CHECK(rename(tree_path("a"), tmp_path("out/a")) == 0);
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
    touch_at(tree_path("keep/k"));
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

    tmp_make_tree();
    mkdir_at(tmp_path("out/m"));
    mkdir_at(tmp_path("out/m/n"));
    mkdir_at(tmp_path("out/m/n/o"));
    touch_at(tmp_path("out/m/f"));
    touch_at(tmp_path("out/m/n/f"));
    touch_at(tmp_path("out/m/n/o/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tmp_path("out/m"), tree_path("m")) == 0);
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
    touch_at(tree_path("m/n/o/g"));
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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    mkdir_at(tree_path("a/b/c"));
    mkdir_at(tree_path("a/e"));
    touch_at(tree_path("a/f"));
    touch_at(tree_path("a/b/c/f"));
    mkdir_at(tree_path("keep"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(ino_tree_size(&w, wd), 6);
    rm_r(tree_path("a"));
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
    mkdir_at(tree_path("a"));
    touch_at(tree_path("a/again"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "a", 1);
    EXPECT_COUNT(&r, IN_CREATE, "a/again", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    consistent(&w, 1, 3);
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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    mkdir_at(tree_path("c"));
    mkdir_at(tree_path("c/d"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &marker);
    CHECK_EQ(ino_tree_size(&w, wd), 5);
    touch_at(tree_path("before"));
    CHECK(rename(tree_path("a"), tree_path("a2")) ==
          0);      /* a move left pending */
    CHECK_EQ(ino_rm_watch(&w, wd), 0);
    e = ino_table_find(&w.table, wd);
    CHECK(e != NULL && e->removed == 1 && e->udata == &marker);
    CHECK_EQ(ino_watch_count(&w), 1); /* the root's, till IGNORED */
    CHECK_EQ(kernel_watches(ino_fd(&w)), 0);
    CHECK_EQ(ino_rm_watch(&w, wd), 0); /* a repeat is harmless */
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
    touch_at(tree_path("after"));
    touch_at(tree_path("c/d/after"));
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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/b"));
    touch_at(tree_path("a/b/f"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, &marker);
    rm_r(tmp_path("tree"));
    collect_until_ignored(&w, &r);
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
    CHECK_EQ(kernel_watches(ino_fd(&w)), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A directory renamed over an existing empty directory takes its place in
 * the children map: the replaced directory's IN_IGNORED, which frees its
 * node, must not delete the key that now belongs to the moved one, so that
 * a later rename of it is still tracked.  (Once broke: node_link() put a
 * second node under the same (parent, name), ino_nmap_put() kept the old
 * slot, and node_unlink() of the old node deleted the moved node's key.) */
static void
test_rename_over_empty_dir(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("A"));
    mkdir_at(tree_path("A/sub"));
    mkdir_at(tree_path("B"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tree_path("A"), tree_path("B")) == 0); /* replaces empty B */
    collect_wait(&w, &r);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3); /* root, B, B/sub */
    consistent(&w, 1, 3);
    CHECK(rename(tree_path("B"), tree_path("C")) == 0);
    touch_at(tree_path("C/sub/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "C/sub/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A directory removed while a process holds it open gets its IN_IGNORED
 * only at the last close; a new directory of the same name made meanwhile
 * has its own node under the same key, which the old one's late IN_IGNORED
 * must not delete.  (Once broke as rename_over_empty_dir did.) */
static void
test_recreated_while_open(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;
    int fd;

    tmp_make_tree();
    mkdir_at(tree_path("x"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    fd = open(tree_path("x"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(rmdir(tree_path("x")) == 0);
    mkdir_at(tree_path("x"));
    collect(&w, &r);
    recs_free(&r);
    CHECK(close(fd) == 0);
    collect_wait(&w, &r); /* the old x's IGNORED */
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 2);
    consistent(&w, 1, 2);
    CHECK(rename(tree_path("x"), tree_path("y")) == 0);
    touch_at(tree_path("y/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "y/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A directory moved out and back in under another name before the next
 * read (same inode, same wd) stays watched, with all below it, under its
 * new name.  (Once broke: watch_dir(), from cook_moved_to(), found the
 * node and left it under its old name without a scan, and
 * ino_tree_drained() then unwatched it for the pending MOVED_FROM.) */
static void
test_moved_out_and_back_in(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/sub"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tree_path("a"), tmp_path("out/a")) == 0);
    CHECK(rename(tmp_path("out/a"), tree_path("b")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "a", 1);
    EXPECT_COUNT(&r, IN_MOVED_TO | IN_ISDIR, "b", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    touch_at(tree_path("b/sub/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "b/sub/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* ino_rm_watch() of a tree's root marks the root's own table entry
 * removed, also when removing the children from the table moves that entry
 * (backward-shift deletion).  Layout found by simulating ino_table.c: root
 * wd 32 with children 33..37 and plain watches 38..47 puts the root's
 * entry one slot back.  (Once broke: ino_rm_watch() found the entry before
 * ino_tree_unwatch() ran and marked whatever then sat in the old slot,
 * plain watch 47, whose later ino_rm_watch() returned 0 without removing
 * the kernel watch.) */
static void
test_rm_root_marks_its_own_entry(void)
{
    ino_watcher w;
    ino_entry *e = NULL;
    int32_t wd, last = 0;
    int i;

    tmp_make_tree();
    for (i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "d%d", i);
        mkdir_at(tree_path(name));
    }
    for (i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "out/p%d", i);
        mkdir_at(tmp_path(name));
    }
    open_watcher(&w, 0);
    for (i = 0; i < 31; i++) { /* wds are handed out cyclically */
        int x = inotify_add_watch(ino_fd(&w), tmp_path("out"), IN_CREATE);
        CHECK(x > 0);
        CHECK(inotify_rm_watch(ino_fd(&w), x) == 0);
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
    CHECK_EQ(e->removed, 0);
    e = ino_table_find(&w.table, wd);
    CHECK(e != NULL);
    CHECK_EQ(e->removed, 1);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* ---- running ------------------------------------------------------------ */

/* A directory made in a/ just before a/ is renamed (both before the next
 * read) cannot be watched by the path its record gives (a/b): it is
 * watched at the drain where it is then (c/b), and what is made in it is
 * reported there. */
static void
test_new_dir_in_renamed_parent(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    mkdir_at(tree_path("a/b"));
    CHECK(rename(tree_path("a"), tree_path("c")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "a/b", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);
    touch_at(tree_path("c/b/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "c/b/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A directory moved out and written to before the next read: its
 * MOVED_FROM, with no MOVED_TO after it, and its MOVE_SELF say it left, so
 * what it holds from then on is not reported under its old path. */
static void
test_moved_out_events_not_reported(void)
{
    ino_watcher w;
    recs r = {0};

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    open_watcher(&w, 0);
    add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tree_path("a"), tmp_path("out/a")) == 0);
    touch_at(tmp_path("out/a/x"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_MOVED_FROM | IN_ISDIR, "a", 1);
    EXPECT_COUNT(&r, IN_CREATE, "a/x", 0);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Renaming the root itself: inotify does not say where it went, so the
 * tree ends (MOVE_SELF, then IN_IGNORED releasing it), and nothing made in
 * it afterwards is looked for under the old path. */
static void
test_root_renamed_ends_the_tree(void)
{
    ino_watcher w;
    recs r = {0};

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    open_watcher(&w, 0);
    add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tmp_path("tree"), tmp_path("tree2")) == 0);
    mkdir_at(tmp_path("tree2/new"));
    collect_until_ignored(&w, &r);
    EXPECT_COUNT(&r, IN_MOVE_SELF, "", 1);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "new", 0);
    CHECK(r.n >= 1 && r.v[r.n - 1].mask == IN_IGNORED &&
          r.v[r.n - 1].released == 1);
    recs_free(&r);
    CHECK(ino_trees_none(&w));
    CHECK_EQ(ino_watch_count(&w), 0);
    CHECK_EQ(kernel_watches(ino_fd(&w)), 0);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* The next read(2) of descriptor fed_fd returns fed_buf instead of what
 * the kernel queued (the core, linked statically, calls this read()):
 * records put in an order, or with a gap, that only an interleaving or an
 * overflow makes, while inotify_add_watch() and the rest stay real. */
static int fed_fd = -1;
static const char *fed_buf;
static size_t fed_len;
/* Then, once, the read after that: fed_then() runs first (to change the
 * disk between the two reads), then fed_next is returned. */
static const char *fed_next;
static size_t fed_next_len;
static void (*fed_then)(void);

ssize_t
read(int fd, void *buf, size_t n)
{
    if (fd == fed_fd && fed_buf != NULL && n >= fed_len) {
        memcpy(buf, fed_buf, fed_len);
        fed_buf = NULL;
        if (fed_next == NULL) {
            fed_fd = -1;
        }
        return (ssize_t)fed_len;
    }
    if (fd == fed_fd && fed_next != NULL && n >= fed_next_len) {
        size_t len = fed_next_len;
        if (fed_then != NULL) {
            fed_then();
        }
        memcpy(buf, fed_next, len);
        fed_next = NULL;
        fed_then = NULL;
        fed_fd = -1;
        return (ssize_t)len;
    }
    return syscall(SYS_read, fd, buf, n);
}

/* The next read of w's descriptor returns these len bytes. */
static void
feed(const ino_watcher *w, const void *records, size_t len)
{
    fed_fd = ino_fd(w);
    fed_buf = records;
    fed_len = len;
}

/* Another process's records can fall between a rename's MOVED_FROM and
 * its MOVED_TO (found by the oracle: one process moved i1/if8 to
 * i1/i3/p/f while another renamed i1 to z, and the kernel queued FROM
 * if8, FROM i1, TO f, TO z).  The MOVED_TO is then taken early, so the
 * file's move is still a pair, told before the rename of i1.  The
 * kernel's own records are read, put in that order and fed back
 * (feed()). */
static void
test_pair_split_by_another_rename(void)
{
    char buf[4096], out[4096];
    size_t len, off = 0, cut = 0, to_at = 0, to_len = 0, olen = 0;
    ino_watcher w;
    ino_event ev;
    recs r = {0};
    long n, from_f, to_f, from_d, to_d;

    tmp_make_tree();
    mkdir_at(tree_path("i1"));
    mkdir_at(tree_path("i1/i3"));
    mkdir_at(tree_path("i1/i3/p"));
    touch_at(tree_path("i1/if8"));
    open_watcher(&w, 0);
    add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tree_path("i1/if8"), tree_path("i1/i3/p/f")) == 0);
    CHECK(rename(tree_path("i1"), tree_path("z")) == 0);
    n = read(ino_fd(&w), buf, sizeof buf);
    CHECK(n > 0);
    len = (size_t)n;
    /* Cut the file's MOVED_TO out; put it after the directory's
     * MOVED_FROM. */
    for (;;) {
        size_t start = off;
        if (ino_decode(buf, len, &off, &ev) <= 0) {
            break;
        }
        if ((ev.mask & IN_MOVED_TO) && !(ev.mask & IN_ISDIR)) {
            to_at = start;
            to_len = off - start;
        }
        if ((ev.mask & IN_MOVED_FROM) && (ev.mask & IN_ISDIR)) {
            cut = off;
        }
    }
    CHECK(to_len > 0 && cut > to_at);
    memcpy(out, buf, to_at);
    olen = to_at;
    memcpy(out + olen, buf + to_at + to_len, cut - to_at - to_len);
    olen += cut - to_at - to_len;
    memcpy(out + olen, buf + to_at, to_len);
    olen += to_len;
    memcpy(out + olen, buf + cut, len - cut);
    olen += len - cut;
    CHECK_EQ(olen, len);

    feed(&w, out, olen);
    collect(&w, &r);
    CHECK(fed_buf == NULL);

    from_f = find(&r, IN_MOVED_FROM, "i1/if8");
    to_f = find(&r, IN_MOVED_TO, "i1/i3/p/f");
    from_d = find(&r, IN_MOVED_FROM | IN_ISDIR, "i1");
    to_d = find(&r, IN_MOVED_TO | IN_ISDIR, "z");
    if (!(from_f >= 0 && to_f == from_f + 1 && from_d > to_f &&
          to_d == from_d + 1 && r.v[to_f].has_src &&
          strcmp(r.v[to_f].src, "i1/if8") == 0)) {
        recs_dump(&r);
        CHECK(0);
    }
    recs_free(&r);
    touch_at(tree_path("z/i3/p/g"));
    collect_wait(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "z/i3/p/g", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* The kernel's records after an overflow can tell a directory removed
 * whose contents' DELETEs were lost (the oracle: rm -r of a deep tree,
 * the queue overflowing between d6/f and d5).  A directory is removed
 * only once empty, so what the index still held in it is told gone
 * (marked INO_RESCAN) before its DELETE, never after.  Made from the
 * kernel's own records of rm -r: an overflow, then only the root's
 * DELETE of the top directory, fed to the core (feed()). */
static void
test_delete_after_overflow_tells_contents_first(void)
{
    char buf[4096], out[4096];
    uint32_t ovf[4] = {(uint32_t)-1, IN_Q_OVERFLOW, 0, 0};
    size_t len, off = 0, olen = sizeof ovf;
    ino_watcher w;
    ino_event ev;
    recs r = {0};
    long n, f, sub, top;
    int32_t root_wd;

    tmp_make_tree();
    mkdir_at(tree_path("d"));
    mkdir_at(tree_path("d/sub"));
    touch_at(tree_path("d/sub/f"));
    touch_at(tree_path("d/g"));
    open_watcher(&w, 0);
    root_wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    rm_r(tree_path("d"));
    n = read(ino_fd(&w), buf, sizeof buf);
    CHECK(n > 0);
    len = (size_t)n;
    memcpy(out, ovf, sizeof ovf);
    for (;;) {
        size_t start = off;
        if (ino_decode(buf, len, &off, &ev) <= 0) {
            break;
        }
        if (ev.wd == root_wd && (ev.mask & IN_DELETE)) {
            memcpy(out + olen, buf + start, off - start);
            olen += off - start;
        }
    }
    CHECK(olen > sizeof ovf);

    feed(&w, out, olen);
    collect(&w, &r);
    CHECK(fed_buf == NULL);

    f = find(&r, IN_DELETE | INO_RESCAN, "d/sub/f");
    sub = find(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "d/sub");
    top = find(&r, IN_DELETE | IN_ISDIR, "d");
    if (!(find(&r, IN_Q_OVERFLOW, "") == 0 && f > 0 && sub > f && top > sub &&
          find(&r, IN_DELETE | INO_RESCAN, "d/g") > 0 &&
          find(&r, IN_DELETE | INO_RESCAN, "d/g") < top &&
          count(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "d") == 0 &&
          find(&r, INO_SYNCED, "") > top)) {
        recs_dump(&r);
        CHECK(0);
    }
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* An overflow can drop a rename's MOVED_FROM and keep its MOVED_TO (the
 * queue is read between the two).  The unpaired MOVED_TO of a directory
 * the tree holds elsewhere is then told as the move it was, MOVED_FROM
 * from where the stream had it and MOVED_TO with src, so that what it
 * holds goes with it (the oracle: the old place stayed in the model, and
 * later events named contents the model never had).  With and_back, the
 * directory is renamed on and back before the read (mv a/sub b; mv b c;
 * mv c b): when the unpaired MOVED_TO b is rewritten, a record ahead
 * takes b away, so what is at b might be a directory made since; it is
 * the tree's own node, which is still taken as the move it was (the fuzz
 * fix of 2026-12-04 first left it, and a/sub stayed in the model). */
static void
moved_after_overflow_lost_its_from(int and_back)
{
    char buf[4096], out[4096];
    uint32_t ovf[4] = {(uint32_t)-1, IN_Q_OVERFLOW, 0, 0};
    size_t len, off = 0, olen = sizeof ovf;
    ino_watcher w;
    ino_event ev;
    recs r = {0};
    long n, from, to;
    int32_t root_wd;
    int dropped = 0;

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    mkdir_at(tree_path("a/sub"));
    touch_at(tree_path("a/sub/f"));
    open_watcher(&w, 0);
    root_wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tree_path("a/sub"), tree_path("b")) == 0);
    if (and_back) {
        CHECK(rename(tree_path("b"), tree_path("c")) == 0);
        CHECK(rename(tree_path("c"), tree_path("b")) == 0);
    }
    n = read(ino_fd(&w), buf, sizeof buf);
    CHECK(n > 0);
    len = (size_t)n;
    memcpy(out, ovf, sizeof ovf);
    for (;;) {
        size_t start = off;
        if (ino_decode(buf, len, &off, &ev) <= 0) {
            break;
        }
        if ((ev.mask & IN_MOVED_FROM) && !dropped) {
            dropped = 1; /* the overflow took the first one */
            continue;
        }
        memcpy(out + olen, buf + start, off - start);
        olen += off - start;
    }
    CHECK(dropped && olen > sizeof ovf);
    feed(&w, out, olen);
    collect(&w, &r);
    CHECK(fed_buf == NULL);

    from = find(&r, IN_MOVED_FROM | IN_ISDIR, "a/sub");
    to = find(&r, IN_MOVED_TO | IN_ISDIR, "b");
    if (!(find(&r, IN_Q_OVERFLOW, "") == 0 && from > 0 && to == from + 1 &&
          r.v[to].has_src && strcmp(r.v[to].src, "a/sub") == 0 &&
          r.v[to].cookie == r.v[from].cookie &&
          count(&r, IN_DELETE | INO_RESCAN, "a/sub/f") == 0 &&
          count(&r, IN_CREATE | INO_RESCAN, "b/f") == 0 &&
          find(&r, INO_SYNCED, "") > to)) {
        recs_dump(&r);
        CHECK(0);
    }
    recs_free(&r);
    touch_at(tree_path("b/g"));
    collect_wait(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "b/g", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, root_wd), 3);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

static void
test_moved_to_after_overflow_lost_its_from(void)
{
    moved_after_overflow_lost_its_from(0);
}

static void
test_moved_back_after_overflow_lost_its_from(void)
{
    moved_after_overflow_lost_its_from(1);
}


/* A directory's MOVED_FROM out of the tree is told at once, but its
 * MOVE_SELF, the proof, can come after another process's records of what
 * it still does in there (the oracle: an rm -r inside a directory being
 * moved out).  Those records are of a directory outside the tree: none is
 * reported.  The kernel's records of mv d ../out/d; rm out/d/f1, put in
 * the order FROM d, DELETE d/f1, MOVE_SELF d. */
static void
test_records_after_a_move_out_before_its_move_self(void)
{
    char buf[4096], out[4096];
    size_t len, off = 0, olen = 0, self_at = 0, self_len = 0;
    ino_watcher w;
    ino_event ev;
    recs r = {0};
    int32_t root_wd;

    tmp_make_tree();
    mkdir_at(tree_path("d"));
    touch_at(tree_path("d/f1"));
    touch_at(tree_path("d/f2"));
    open_watcher(&w, 0);
    root_wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tree_path("d"), tmp_path("out/d")) == 0);
    CHECK(unlink(tmp_path("out/d/f1")) == 0);
    len = (size_t)read(ino_fd(&w), buf, sizeof buf);
    CHECK(len > 0 && len < sizeof buf);
    /* Move the MOVE_SELF to the end. */
    for (;;) {
        size_t start = off;
        if (ino_decode(buf, len, &off, &ev) <= 0) {
            break;
        }
        if (ev.mask & IN_MOVE_SELF) {
            self_at = start;
            self_len = off - start;
            continue;
        }
        memcpy(out + olen, buf + start, off - start);
        olen += off - start;
    }
    CHECK(self_len > 0);
    memcpy(out + olen, buf + self_at, self_len);
    olen += self_len;
    feed(&w, out, olen);
    collect(&w, &r);
    CHECK(fed_buf == NULL);
    if (!(r.n == 1 && find(&r, IN_MOVED_FROM | IN_ISDIR, "d") == 0)) {
        recs_dump(&r);
        CHECK(0);
    }
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, root_wd), 1);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A directory moved in from outside while the tree's scan of its new
 * parent runs, then renamed there: the scan finds it and tells it
 * (CREATE, with what it holds); the kernel's MOVED_TO of its arrival,
 * queued before the scan listed it, comes after, when the name already
 * leads nowhere.  That record tells nothing new and is dropped, as a
 * CREATE a scan told is (the oracle: a model that applied it as "add"
 * over the path the scan had filled lost what the scan told inside).
 * Fed as the kernel queued it: the parent's CREATE in one read; in the
 * next, after the rename, the MOVED_TO and the rename's pair, in the
 * parent's watch, whose number the kernel hands out next. */
static char renamed_from[PATH_MAX], renamed_to[PATH_MAX];

static void
rename_between_reads(void)
{
    CHECK(rename(renamed_from, renamed_to) == 0);
}

static void
test_moved_to_that_a_scan_told_already(void)
{
    uint32_t first[8], next[3][8];
    ino_watcher w;
    recs r = {0};
    int32_t root_wd;

    tmp_make_tree();
    mkdir_at(tmp_path("out/x"));
    mkdir_at(tmp_path("out/x/c"));
    open_watcher(&w, 0);
    root_wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    mkdir_at(tree_path("d"));
    CHECK(rename(tmp_path("out/x"), tree_path("d/x")) == 0);
    snprintf(renamed_from, sizeof renamed_from, "%s", tree_path("d/x"));
    snprintf(renamed_to, sizeof renamed_to, "%s", tree_path("d/y"));
    {
        char drop[4096];
        while (read(ino_fd(&w), drop, sizeof drop) > 0) {
        }
    }
    memset(first, 0, sizeof first);
    memset(next, 0, sizeof next);
    first[0] = (uint32_t)root_wd; /* CREATE|ISDIR "d" in the root */
    first[1] = IN_CREATE | IN_ISDIR;
    first[3] = 16;
    memcpy(&first[4], "d", 2);
    /* In d's watch: MOVED_TO "x" (from outside), then x renamed to y. */
    next[0][0] = next[1][0] = next[2][0] = (uint32_t)root_wd + 1;
    next[0][1] = IN_MOVED_TO | IN_ISDIR;
    next[0][2] = 4242;
    memcpy(&next[0][4], "x", 2);
    next[1][1] = IN_MOVED_FROM | IN_ISDIR;
    next[1][2] = 4243;
    memcpy(&next[1][4], "x", 2);
    next[2][1] = IN_MOVED_TO | IN_ISDIR;
    next[2][2] = 4243;
    memcpy(&next[2][4], "y", 2);
    next[0][3] = next[1][3] = next[2][3] = 16;
    feed(&w, first, sizeof first);
    fed_next = (const char *)next;
    fed_next_len = sizeof next;
    fed_then = rename_between_reads;
    collect(&w, &r);
    CHECK(fed_buf == NULL && fed_next == NULL);
    if (!(count(&r, IN_CREATE | IN_ISDIR, "d") == 1 &&
          count(&r, IN_CREATE | IN_ISDIR, "d/x") == 1 &&
          count(&r, IN_CREATE | IN_ISDIR, "d/x/c") == 1 &&
          count(&r, IN_MOVED_TO | IN_ISDIR, "d/x") == 0 &&
          count(&r, IN_MOVED_FROM | IN_ISDIR, "d/x") == 1 &&
          count(&r, IN_MOVED_TO | IN_ISDIR, "d/y") == 1 && r.n == 5)) {
        recs_dump(&r);
        CHECK(0);
    }
    recs_free(&r);
    touch_at(tree_path("d/y/c/f"));
    collect_wait(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "d/y/c/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, root_wd), 4);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* A directory told moved out, found back in the tree by a scan before
 * its MOVE_SELF is read (the oracle, on fanotify with three processes):
 * the stream had it gone, so what the scan finds is told as new (CREATE,
 * and what it holds), never as a move from where the stream no longer has
 * it.  The kernel's records of mv d ../out/d; mkdir n; mv ../out/d n/d,
 * with the first MOVE_SELF put after the CREATE of n, as another
 * process's mkdir between the rename's records makes it. */
static void
test_moved_out_then_found_back_before_its_move_self(void)
{
    char buf[4096], out[4096];
    size_t len, off = 0, olen = 0, self_at = 0, self_len = 0;
    ino_watcher w;
    ino_event ev;
    recs r = {0};
    int32_t root_wd;
    int selves = 0;

    tmp_make_tree();
    mkdir_at(tree_path("d"));
    touch_at(tree_path("d/f"));
    open_watcher(&w, 0);
    root_wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK(rename(tree_path("d"), tmp_path("out/d")) == 0);
    mkdir_at(tree_path("n"));
    CHECK(rename(tmp_path("out/d"), tree_path("n/d")) == 0);
    len = (size_t)read(ino_fd(&w), buf, sizeof buf);
    CHECK(len > 0 && len < sizeof buf);
    for (;;) {
        size_t start = off;
        if (ino_decode(buf, len, &off, &ev) <= 0) {
            break;
        }
        if ((ev.mask & IN_MOVE_SELF) && selves++ == 0) {
            self_at = start; /* the first: after the CREATE of n */
            self_len = off - start;
            continue;
        }
        memcpy(out + olen, buf + start, off - start);
        olen += off - start;
        if (ev.mask & IN_CREATE) {
            memcpy(out + olen, buf + self_at, self_len);
            olen += self_len;
        }
    }
    CHECK(self_len > 0 && olen == len);
    feed(&w, out, olen);
    collect(&w, &r);
    CHECK(fed_buf == NULL);
    if (!(find(&r, IN_MOVED_FROM | IN_ISDIR, "d") == 0 &&
          count(&r, IN_CREATE | IN_ISDIR, "n") == 1 &&
          count(&r, IN_CREATE | IN_ISDIR, "n/d") == 1 &&
          count(&r, IN_CREATE, "n/d/f") == 1 && r.n == 4)) {
        recs_dump(&r);
        CHECK(0);
    }
    recs_free(&r);
    touch_at(tree_path("n/d/g"));
    collect_wait(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "n/d/g", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, root_wd), 3);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* An overflow can lose a directory's rename (both its records), and a
 * directory of the same name be made there next (oracle, fanotify with
 * overflows: p2-16 renamed into p1-1 unseen, then p2-16 made again).  The
 * CREATE lands on a name the stream still holds: what the stream held
 * there is told gone first (INO_RESCAN), deepest first, so that the
 * CREATE adds a directory the consumer's model does not have, and the
 * heal then tells where the old one went (before: the old node was
 * dropped untold, the model kept its contents under the new directory). */
static void
test_created_over_a_name_an_overflow_freed(void)
{
    char buf[4096], out[256];
    uint32_t ovf[4] = {(uint32_t)-1, IN_Q_OVERFLOW, 0, 0};
    uint32_t head[4];
    size_t olen = 0;
    ino_watcher w;
    recs r = {0};
    long gone_f, gone_d, made, moved_in;
    int32_t root_wd;

    tmp_make_tree();
    mkdir_at(tree_path("d"));
    mkdir_at(tree_path("d/sub"));
    touch_at(tree_path("d/f"));
    open_watcher(&w, 0);
    root_wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    CHECK_EQ(rename(tree_path("d"), tree_path("e")), 0);
    mkdir_at(tree_path("d"));
    /* The kernel's own records of the rename and the mkdir are dropped
     * (as the overflow did); what is fed is the overflow and the CREATE
     * of the new d. */
    CHECK(read(ino_fd(&w), buf, sizeof buf) > 0);
    memcpy(out, ovf, sizeof ovf);
    olen = sizeof ovf;
    head[0] = (uint32_t)root_wd;
    head[1] = IN_CREATE | IN_ISDIR;
    head[2] = 0;
    head[3] = 16;
    memcpy(out + olen, head, sizeof head);
    olen += sizeof head;
    memset(out + olen, 0, 16);
    memcpy(out + olen, "d", 1);
    olen += 16;

    feed(&w, out, olen);
    collect(&w, &r);
    CHECK(fed_buf == NULL);

    gone_f = find(&r, IN_DELETE | INO_RESCAN, "d/f");
    gone_d = find(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "d");
    made = find(&r, IN_CREATE | IN_ISDIR, "d");
    moved_in = find(&r, IN_CREATE | IN_ISDIR | INO_RESCAN, "e");
    if (!(find(&r, IN_Q_OVERFLOW, "") == 0 && gone_f > 0 &&
          find(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "d/sub") > 0 &&
          find(&r, IN_DELETE | IN_ISDIR | INO_RESCAN, "d/sub") < gone_d &&
          gone_d > gone_f && made > gone_d && moved_in > made &&
          find(&r, IN_CREATE | INO_RESCAN, "e/f") > moved_in &&
          find(&r, INO_SYNCED, "") > moved_in)) {
        recs_dump(&r);
        CHECK(0);
    }
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Appends one inotify record (wd, mask, cookie, name) at out + *len. */
static void
put_record(char *out, size_t *len, int32_t wd, uint32_t mask, uint32_t cookie,
           const char *name)
{
    uint32_t head[4] = {(uint32_t)wd, mask, cookie, 16};

    memcpy(out + *len, head, sizeof head);
    *len += sizeof head;
    memset(out + *len, 0, 16);
    memcpy(out + *len, name, strlen(name));
    *len += 16;
}

/* A directory moved in (MOVED_TO P/x) whose parent P was renamed to Q
 * before the record is read, the rename's records still to come when the
 * kernel's queue is first seen empty (oracle, fanotify, three processes:
 * the contents of a directory moved in were never told).  The parent's
 * path leads nowhere then: a rename above is in flight, not a removal,
 * and x is watched and listed once the rename is read. */
static void
test_moved_in_while_its_parent_is_renamed(void)
{
    char buf[4096], first[64], second[64];
    size_t flen = 0, slen = 0;
    ino_watcher w;
    recs r = {0};
    int32_t root_wd, p_wd;
    long to, from_p, to_q;

    tmp_make_tree();
    mkdir_at(tree_path("P"));
    mkdir_at(tmp_path("out/x"));
    mkdir_at(tmp_path("out/x/s"));
    touch_at(tmp_path("out/x/f"));
    open_watcher(&w, 0);
    root_wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    p_wd =
        inotify_add_watch(ino_fd(&w), tree_path("P"), IN_MASK_ADD | IN_CREATE);
    CHECK(p_wd > 0 && p_wd != root_wd);
    CHECK_EQ(rename(tmp_path("out/x"), tree_path("P/x")), 0);
    CHECK_EQ(rename(tree_path("P"), tree_path("Q")), 0);
    /* The kernel's records of the two renames are read away; the core is
     * fed the move in alone first, then the rename of P. */
    CHECK(read(ino_fd(&w), buf, sizeof buf) > 0);
    put_record(first, &flen, p_wd, IN_MOVED_TO | IN_ISDIR, 7, "x");
    put_record(second, &slen, root_wd, IN_MOVED_FROM | IN_ISDIR, 8, "P");
    put_record(second, &slen, root_wd, IN_MOVED_TO | IN_ISDIR, 8, "Q");

    feed(&w, first, flen);
    collect(&w, &r); /* read, then the queue seen empty: a drain */
    CHECK(fed_buf == NULL);
    feed(&w, second, slen);
    collect(&w, &r);
    CHECK(fed_buf == NULL);

    to = find(&r, IN_MOVED_TO | IN_ISDIR, "P/x");
    from_p = find(&r, IN_MOVED_FROM | IN_ISDIR, "P");
    to_q = find(&r, IN_MOVED_TO | IN_ISDIR, "Q");
    if (!(to >= 0 && from_p > to && to_q == from_p + 1 &&
          find(&r, IN_CREATE, "Q/x/f") > to_q &&
          find(&r, IN_CREATE | IN_ISDIR, "Q/x/s") > to_q)) {
        recs_dump(&r);
        CHECK(0);
    }
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, root_wd), 4); /* root, Q, Q/x, Q/x/s */
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

static const check_case cases[] = {
    {"rename_inside", test_rename_inside},
    {"rename_file", test_rename_file},
    {"move_out", test_move_out},
    {"move_in", test_move_in},
    {"rm_subtree", test_rm_subtree},
    {"rm_root_releases", test_rm_root_releases},
    {"root_deleted", test_root_deleted},
    {"rename_over_empty_dir", test_rename_over_empty_dir},
    {"recreated_while_open", test_recreated_while_open},
    {"moved_out_and_back_in", test_moved_out_and_back_in},
    {"rm_root_marks_its_own_entry", test_rm_root_marks_its_own_entry},
    {"new_dir_in_renamed_parent", test_new_dir_in_renamed_parent},
    {"moved_out_events_not_reported", test_moved_out_events_not_reported},
    {"root_renamed_ends_the_tree", test_root_renamed_ends_the_tree},
    {"pair_split_by_another_rename", test_pair_split_by_another_rename},
    {"delete_after_overflow_tells_contents_first",
     test_delete_after_overflow_tells_contents_first},
    {"moved_to_after_overflow_lost_its_from",
     test_moved_to_after_overflow_lost_its_from},
    {"moved_back_after_overflow_lost_its_from",
     test_moved_back_after_overflow_lost_its_from},
    {"records_after_a_move_out_before_its_move_self",
     test_records_after_a_move_out_before_its_move_self},
    {"moved_to_that_a_scan_told_already",
     test_moved_to_that_a_scan_told_already},
    {"moved_out_then_found_back_before_its_move_self",
     test_moved_out_then_found_back_before_its_move_self},
    {"created_over_a_name_an_overflow_freed",
     test_created_over_a_name_an_overflow_freed},
    {"moved_in_while_its_parent_is_renamed",
     test_moved_in_while_its_parent_is_renamed},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
