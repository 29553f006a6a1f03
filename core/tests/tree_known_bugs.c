/*
 * tree_known_bugs.c: reproducers of tree bugs found in review and not
 * fixed yet.  Each case FAILS until its bug is fixed, so this is no test
 * program of the suite (meson builds it with -Dtests=true; `meson test`
 * and pytest do not run it).  `./tree_known_bugs` runs every case in a
 * child process (a hang or a crash stays there) and prints FAIL or ok per
 * case; `./tree_known_bugs NAME` runs one; `--list` names them.  Once a
 * bug is fixed, move its case to the test_tree_*.c file of its topic,
 * named after the behaviour it pins down.
 */
#include <fcntl.h>
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

/* Known bug (cook_named(), scan_entry(), scan_one()):
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

    tmp_make_tree();
    mkdir_at(tree_path("a"));
    open_watcher(&w, 0);
    wd = add_tree(&w, tmp_path("tree"), TREE_MASK, NULL, 0, 0, NULL);
    mkdir_at(tree_path("a/b"));
    CHECK(rename(tree_path("a"), tree_path("c")) == 0);
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE | IN_ISDIR, "a/b", 1);
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 3);         /* fails: 2 */
    touch_at(tree_path("c/b/f"));
    collect(&w, &r);
    EXPECT_COUNT(&r, IN_CREATE, "c/b/f", 1);
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Known bug (full_path(): the tree's root path is never updated): after
 * the root directory itself is renamed, directories created in it are
 * looked up under the old root path: ENOENT, swallowed; they are never
 * watched. */
static void
bug_root_moved(void)
{
    ino_watcher w;
    recs r = {0};
    int32_t wd;

    tmp_make_tree();
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

/* Known bug (read_cooked()): with trees, ino_read() reads
 * a whole 64 KiB scratch buffer whatever room the bound leaves, so the
 * queue grows past max_queued (ino_read() of plain watches caps the read;
 * the header promises it stops at max_queued). */
static void
bug_bound_ignored(void)
{
    ino_watcher w;
    long n;
    int i;

    tmp_make_tree();
    open_watcher(&w, 4);
    add_tree(&w, tmp_path("tree"), IN_CREATE, NULL, 0, 0, NULL);
    for (i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        touch_at(tree_path(name));
    }
    n = ino_read(&w);
    CHECK(n > 0);
    CHECK(ino_queued(&w) <= 4 + 1);                   /* fails: 40 */
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Known bug (low; cook_named() looks up IN_ISDIR names only): with
 * follow_symlinks = 1, a directory watched through a symlink stays watched
 * after the symlink is removed (the kernel's DELETE of a symlink has no
 * IN_ISDIR, and the target itself is not deleted, so no IN_IGNORED comes):
 * a leaked watch, and changes in the target are still reported as
 * "link/...", a path that no longer exists.  (Likewise a symlink renamed:
 * its node keeps the old name; and a symlink to a directory created later
 * is never followed, unlike one the scan finds.) */
static void
bug_follow_symlink_removed(void)
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
    EXPECT_COUNT(&r, IN_CREATE, "link/x", 0); /* fails: reported */
    recs_free(&r);
    CHECK_EQ(ino_tree_size(&w, wd), 1); /* fails: 2 */
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* Known bug (low; cook_named() keeps a moved directory's node in place
 * until ino_tree_drained()): what happens in a directory after it
 * was moved out, but before the next read, is reported under its old path
 * in the tree although the MOVED_FROM before it (with no MOVED_TO) says it
 * left -- the header promises paths "as far as the events before it tell". */
static void
bug_moved_out_events_before_drain(void)
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
    EXPECT_COUNT(&r, IN_CREATE, "a/x", 0); /* fails: reported */
    recs_free(&r);
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* ---- running ------------------------------------------------------------ */

static const check_case cases[] = {
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

    for (i = 0; i < CHECK_COUNT(cases); i++) {
        pid_t pid;
        int status;

        if (only != NULL && strcmp(only, cases[i].name) != 0) {
            continue;
        }
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            check_current = cases[i].name;
            cases[i].fn();
            _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid) {
            return 1;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok %s (fixed? move it to its test_tree_*.c)\n",
                   cases[i].name);
        }
        else {
            printf("FAIL %s (%s %d)\n", cases[i].name,
                   WIFEXITED(status) ? "exit" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            failed = 1;
        }
    }
    return failed;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        return check_main(argc, argv, cases, CHECK_COUNT(cases));
    }
    return run_bugs(argc > 1 ? argv[1] : NULL);
}
