/*
 * support.h: what the C core's tests against the real kernel share
 * (support.c), beyond check.h:
 *
 *   - a scratch directory, removed at the end of a test and also when a
 *     CHECK fails or the test hangs (SIGALRM after SUPPORT_ALARM_S);
 *   - the machine-wide inotify limits, saved before a test lowers them and
 *     restored by that same cleanup;
 *   - files and directories made and removed;
 *   - events collected into a list (recs), counted and looked up;
 *   - the kernel's own view of a watcher (/proc/self/fdinfo), checked
 *     against the watcher's bookkeeping.
 *
 * Used by test_watcher.c, the test_tree_*.c files, tree_known_bugs.c and
 * core/fuzz/fuzz_tree.c.  Core state is read through the core's
 * accessors only (ino_watch_count(), ino_trees_nodes(), ...).
 */
#ifndef INO_TESTS_SUPPORT_H
#define INO_TESTS_SUPPORT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "ino.h"

/* How long collect_wait() waits for a first event. */
#define SUPPORT_WAIT_MS 2000
/* Per test, generous enough for valgrind (a hang is a failure, not a
 * stuck CI job). */
#define SUPPORT_ALARM_S 60

/* The kernel's inotify limits. */
#define Q_EVENTS "/proc/sys/fs/inotify/max_queued_events"
#define U_WATCHES "/proc/sys/fs/inotify/max_user_watches"

/* Every event a tree can report. */
#define TREE_MASK                                                             \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |        \
     IN_DELETE_SELF | IN_MOVE_SELF)

/* ---- the scratch directory and the limits ------------------------------- */

/* The scratch directory of the running test, "" when there is none. */
extern char tmp_root[PATH_MAX];
/* Limits to restore by tmp_remove() (or sysctl_restore()), or -1. */
extern long saved_queued; /* max_queued_events */
extern long saved_watches; /* max_user_watches */

/* A fresh mkdtemp() directory under $TMPDIR (else /tmp), removed by
 * tmp_remove() and by a failed CHECK; arms the hang alarm. */
void tmp_make(void);
/* tmp_make() holding "tree" (the tree tests' root) and "out" (a sibling
 * outside the tree). */
void tmp_make_tree(void);
/* Restores the limits, then removes the scratch directory; also the
 * cleanup of a failed CHECK and of a hang. */
void tmp_remove(void);
/* tmp_root/name, and tmp_root/tree/rel, in one of a few static buffers
 * used in turn, so that rename(tmp_path(a), tmp_path(b)) gets two paths.
 * Not thread-safe. */
const char *tmp_path(const char *name);
const char *tree_path(const char *rel);

long sysctl_read(const char *path);
int sysctl_write(const char *path, long v);
void sysctl_restore(void);
/* 1 if the limits can be changed here; else prints a note naming `what`
 * (a test that is then skipped) and returns 0. */
int have_root(const char *what);

/* ---- files -------------------------------------------------------------- */

void touch_at(const char *path);
void mkdir_at(const char *path);
/* rm -r: 0, or -1 if anything could not be removed.  keep_top: empty the
 * directory but keep it. */
int remove_tree(const char *path, int keep_top);
/* remove_tree(path, 0), which must succeed. */
void rm_r(const char *path);
/* Directories under (and including) path, not following symlinks. */
size_t count_dirs(const char *path);

/* ---- collected events --------------------------------------------------- */

typedef struct rec {
    int32_t wd;
    uint32_t mask;
    uint32_t cookie;
    int error;
    int released;
    void *udata;
    int has_src;
    char name[2 * PATH_MAX];
    char src[2 * PATH_MAX];
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
} recs;

void recs_add(recs *r, const ino_event *ev);
void recs_free(recs *r);
void recs_dump(const recs *r);
/* Takes everything: the user-space queue and the kernel's, until a read
 * finds the kernel queue empty (which also settles pending moves). */
void collect(ino_watcher *w, recs *r);
/* Like collect() but waits (up to SUPPORT_WAIT_MS) for at least one
 * event. */
void collect_wait(ino_watcher *w, recs *r);
/* collect_wait() until the last event taken is an IN_IGNORED (a tree or
 * watch ending), or a wait finds nothing more. */
void collect_until_ignored(ino_watcher *w, recs *r);
/* The number of events with exactly this mask and name. */
size_t count(const recs *r, uint32_t mask, const char *name);
/* Index of the first event with this mask and name, or -1. */
long find(const recs *r, uint32_t mask, const char *name);
/* Every event is of the tree root: wd and udata. */
void all_of_root(const recs *r, int32_t wd, void *udata);

#define EXPECT_COUNT(r, mask, name, k)                                        \
    do {                                                                      \
        if (count((r), (mask), (name)) != (size_t)(k)) {                      \
            fprintf(stderr, "want %d x (%#x, '%s'), got %zu:\n", (k),         \
                    (unsigned)(mask), (name), count((r), (mask), (name)));    \
            recs_dump(r);                                                     \
            CHECK(count((r), (mask), (name)) == (size_t)(k));                 \
        }                                                                     \
    } while (0)

/* ---- the watcher and the kernel ----------------------------------------- */

void open_watcher(ino_watcher *w, size_t max_queued);
/* ino_add_tree() that must succeed; sets the root's udata; returns its
 * wd. */
int32_t add_tree(ino_watcher *w, const char *path, uint32_t mask,
                 const char *const *ex, size_t nex, int follow, void *udata);
/* Nothing to collect. */
void expect_quiet(ino_watcher *w);
/* The number of inotify marks the kernel holds for this descriptor. */
size_t kernel_watches(int fd);
/* Kernel marks == table entries; the trees' children map == non-root
 * nodes (`nodes` counts all of them, `ntrees` roots among them). */
void consistent(const ino_watcher *w, size_t ntrees, size_t nodes);

#endif /* INO_TESTS_SUPPORT_H */
