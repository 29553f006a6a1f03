/*
 * ino_scan.c: watching a tree's directories and scanning them.  A
 * directory that appears is watched first and scanned second, so nothing
 * made in it goes unseen; in SCAN_NEW what the scan finds is queued as
 * IN_CREATE, and remembered so that the kernel's own CREATE of the same
 * name is not reported twice.  A directory of the tree that the scan
 * finds under a new name (moved there by records not read yet) is
 * reported as a move, MOVED_FROM and MOVED_TO, and one whose path is
 * stale is left to be watched at the drain (ino_rewrite.c).
 *
 * While a scan runs it also reads the descriptor (ino_scan_drain()),
 * so that its own listings of directories cannot overflow the kernel's
 * queue; what it reads is deferred, to be rewritten after the batch being
 * rewritten now (ino_rewrite.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino_trees.h"

int
ino_excluded(const ino_tree *t, const char *name)
{
    size_t i;

    for (i = 0; i < t->nexclude; i++) {
        if (fnmatch(t->exclude[i], name, FNM_PERIOD) == 0) {
            return 1;
        }
    }
    return 0;
}

int
ino_tree_push(ino_watcher *w, const ino_tree *t, uint32_t mask,
              uint32_t cookie, const char *rel, size_t rel_len,
              const char *src, size_t src_len)
{
    return ino_queue_push(&w->queue, t->root->wd,
                          mask | (src ? INO_PRIV_SRC : 0), cookie, rel,
                          rel_len, src, src_len);
}

int
ino_tree_push_error(ino_watcher *w, const ino_tree *t, int err,
                    const char *rel, size_t rel_len)
{
    return ino_queue_push(&w->queue, t->root->wd, INO_PRIV_ERROR,
                          (uint32_t)err, rel, rel_len, NULL, 0);
}

int
ino_worklist_push(ino_worklist *l, ino_node *n)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ino_node **items = realloc(l->items, cap * sizeof *items);
        int32_t *wds;
        if (items == NULL) {
            return -ENOMEM;
        }
        l->items = items;
        wds = realloc(l->wds, cap * sizeof *wds);
        if (wds == NULL) {
            return -ENOMEM;
        }
        l->wds = wds;
        l->cap = cap;
    }
    l->wds[l->len] = n->wd;
    l->items[l->len++] = n;
    return 0;
}

ino_node *
ino_worklist_next(ino_watcher *w, ino_worklist *l)
{
    while (l->head < l->len) {
        size_t i = l->head++;
        const ino_entry *e = ino_table_find(&w->table, l->wds[i]);
        if ((e != NULL && e->node == l->items[i]) ||
            (l->wds[i] < 0 && ino_since_holds(w, l->wds[i], l->items[i]))) {
            return l->items[i];
        }
    }
    return NULL;
}

/* ino_worklist_next() of the newest node instead of the oldest: the scan
 * then goes depth first, each directory listed soon after its parent's
 * listing watched it, while the kernel still has its dentry and inode at
 * hand (breadth first, the first scan of 100,000 directories took a
 * quarter longer, in the kernel). */
static ino_node *
worklist_pop(ino_watcher *w, ino_worklist *l)
{
    while (l->len > l->head) {
        size_t i = --l->len;
        const ino_entry *e = ino_table_find(&w->table, l->wds[i]);
        if ((e != NULL && e->node == l->items[i]) ||
            (l->wds[i] < 0 && ino_since_holds(w, l->wds[i], l->items[i]))) {
            return l->items[i];
        }
    }
    return NULL;
}

void
ino_worklist_free(ino_worklist *l)
{
    free(l->items);
    free(l->wds);
    l->items = NULL;
    l->wds = NULL;
    l->head = l->len = l->cap = 0;
}

/* A new node for the new watch wd at parent/name: returns 1, or the
 * error of making it, with the watch removed again. */
static int
watch_new_dir(ino_watcher *w, ino_tree *t, ino_node *parent, const char *name,
              size_t len, int32_t wd, ino_node **out)
{
    ino_node *n = ino_node_new(t, name, len, wd);
    ino_entry *e;
    int rc = n == NULL ? -ENOMEM : ino_node_reserve(w);

    if (rc == 0) {
        rc = ino_table_insert(&w->table, wd, &e);
    }
    if (rc < 0) {
        free(n);
        ino_kwatch_rm(w, wd);
        return rc;
    }
    e->mask = t->watch_mask;
    e->node = n;
    ino_node_link(w, n, parent);
    t->ndirs++;
    w->trees->next_wd = wd + (wd < INT32_MAX);
    *out = n;
    return 1;
}

/* Remembers, before a scan moves node n, where the stream last told it
 * was (MOVE_TOLD, the last entry of the pending list): the scan reports
 * the move, and its own records, when they come, are dropped. */
static int
tell_move(ino_watcher *w, ino_tree *t, ino_node *n)
{
    char rel[INO_PATH_CAP];
    long rl = ino_node_path(n, NULL, 0, rel);

    if (rl < 0) {
        return -ENAMETOOLONG;
    }
    if (ino_moves_add(w->trees, MOVE_TOLD, 0, t, NULL, n->parent, rel,
                      (size_t)rl, n->name, n->name_len) == NULL) {
        return -ENOMEM;
    }
    return 0;
}

/* Watches parent/name.  Returns 1 with *out a new node, 0 with *out an
 * existing node of this tree for the same inode or NULL (the inode is
 * watched otherwise: left alone), 2 with *out an existing node moved
 * there, or a negative errno.  With may_move, an existing node met under
 * another name is taken to have been renamed unseen (by records not read
 * yet, or lost to an overflow) and moved there; otherwise the same
 * directory reached twice (through a symbolic link) is simply not watched
 * again.  With tell, such a move is remembered for the caller to report
 * (tell_move()). */
/* Writes "/proc/self/fd/FD" (fd >= 0) into buf, which holds at least 32
 * bytes, without its NUL; returns its length.  (snprintf() took a tenth of
 * a scan's instructions.) */
static size_t
fd_path(char *buf, int fd)
{
    static const char prefix[] = "/proc/self/fd/";
    char digits[12];
    size_t n = 0, len = sizeof prefix - 1;
    unsigned v = (unsigned)fd;

    memcpy(buf, prefix, len);
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        buf[len++] = digits[--n];
    }
    return len;
}

int
ino_fd_is_node(ino_watcher *w, int fd, const ino_node *n)
{
    char path[32];
    const ino_entry *e = ino_table_find(&w->table, n->wd), *other;
    uint32_t mask = e != NULL ? e->mask : n->tree->watch_mask;
    int wd;

    path[fd_path(path, fd)] = '\0';
    /* IN_MASK_ADD of the bits it has changes nothing; no IN_DONT_FOLLOW,
     * since the path is a link to what fd is. */
    wd = ino_kwatch_add(
        w, path,
        (mask & ~(uint32_t)(IN_DONT_FOLLOW | IN_MASK_CREATE)) | IN_MASK_ADD);
    if (wd < 0) {
        /* At the watch limit the check cannot be made: trust the path, as
         * a scan before any record is read does. */
        return errno == ENOSPC ? 1 : -errno;
    }
    if (wd == n->wd) {
        return 1;
    }
    other = ino_table_find(&w->table, wd);
    if (other == NULL) {
        ino_kwatch_rm(w, wd); /* made just now, by mistake */
    }
    else {
        /* Another watch of this watcher: give it its own mask back. */
        ino_kwatch_add(w, path, other->mask);
    }
    return 0;
}

/* Opens the directory of node n by its path, and checks that the path
 * still leads to it.  Returns the descriptor, -ESTALE when it leads
 * elsewhere (a rename above n is still queued), or a negative errno. */
int
ino_open_node(ino_watcher *w, const ino_node *n)
{
    char rel[INO_PATH_CAP], path[INO_PATH_CAP];
    long rl = ino_node_path(n, NULL, 0, rel);
    int fd, rc;

    if (rl < 0 || ino_full_path(n->tree, rel, (size_t)rl, path) < 0) {
        return -ENAMETOOLONG;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    rc = ino_fd_is_node(w, fd, n);
    if (rc <= 0) {
        close(fd);
        return rc < 0 ? rc : -ESTALE;
    }
    return fd;
}

/* ino_watch_dir() once path leads to parent/name. */
static int
watch_dir_by(ino_watcher *w, ino_tree *t, ino_node *parent, const char *path,
             const char *name, size_t len, int may_move, int tell,
             ino_node **out)
{
    ino_entry *e;
    ino_node *n;
    int wd = ino_kwatch_add(w, path, t->watch_mask), rc;

    if (wd < 0) {
        return -errno;
    }
    e = ino_table_find(&w->table, wd);
    if (e == NULL && t->since != NULL &&
        (rc = ino_since_adopt(w, t, path, wd, &e)) < 0) {
        inotify_rm_watch(w->fd, wd);
        return rc;
    }
    if (e == NULL && (may_move & INO_WATCH_KNOWN)) {
        ino_kwatch_rm(w, wd); /* new to the watcher: not asked for */
        return 0;
    }
    if (e == NULL) {
        return watch_new_dir(w, t, parent, name, len, wd, out);
    }
    n = e->node;
    if (n == NULL || n->tree != t) {
        /* Another watch of this watcher: give it its mask back. */
        ino_kwatch_add(w, path, e->mask);
        return 0;
    }
    if (n->parent == NULL) {
        return 0;
    }
    if (w->trees->nmoves > 0 && ino_moves_left_tree(w->trees, n)) {
        /* Told moved out, its MOVE_SELF not read yet, and back in the
         * tree: new to the stream, which reports it and what it holds as
         * made.  (The kernel's watch stays: the same wd, a new node.) */
        if (may_move & INO_WATCH_KNOWN) {
            return 0;
        }
        ino_subtree_free(w, n, 0);
        return watch_new_dir(w, t, parent, name, len, wd, out);
    }
    if (n->parent == parent && n->name_len == len &&
        memcmp(n->name, name, len) == 0) {
        *out = n;
        return 0;
    }
    if (!(may_move & INO_WATCH_MOVE) || ino_node_is_ancestor(n, parent)) {
        return 0;
    }
    if (tell && (rc = tell_move(w, t, n)) < 0) {
        return rc;
    }
    *out = n;
    rc = ino_node_move(w, n, parent, name, len);
    if (rc < 0 && tell) {
        /* Not moved, so not to be told: drop what tell_move() added. */
        ino_trees *ts = w->trees;
        ino_move_clear(&ts->moves[--ts->nmoves]);
    }
    return rc < 0 ? rc : 2;
}

int
ino_watch_dir(ino_watcher *w, ino_tree *t, ino_node *parent, int dirfd,
              const char *name, size_t len, int may_move, int tell,
              ino_node **out)
{
    char path[64 + NAME_MAX];
    const ino_entry *root = ino_table_find(&w->table, t->root->wd);
    int fd, rc;

    *out = NULL;
    if (root == NULL || root->removed) {
        return 0; /* the tree is being removed: nothing new to watch */
    }
    if (dirfd == INO_BY_PATH) {
        char rel[INO_PATH_CAP], full[INO_PATH_CAP];
        long rl = ino_node_path(parent, name, len, rel);
        if (rl < 0 || ino_full_path(t, rel, (size_t)rl, full) < 0) {
            return -ENAMETOOLONG;
        }
        return watch_dir_by(w, t, parent, full, name, len, may_move, tell,
                            out);
    }
    fd = dirfd >= 0 ? dirfd : ino_open_node(w, parent);
    if (fd == -ENOENT || fd == -ENOTDIR) {
        /* The parent is a node still, so its path leading nowhere tells
         * of a rename or removal above it that the records have yet to
         * tell: stale, not a sign that name is gone. */
        return -ESTALE;
    }
    if (fd < 0) {
        return fd;
    }
    /* By the directory's descriptor: a path from the root could lead
     * elsewhere while a rename above it is still queued. */
    if (len > NAME_MAX) {
        rc = -ENAMETOOLONG;
    }
    else {
        size_t at = fd_path(path, fd);
        path[at++] = '/';
        memcpy(path + at, name, len);
        path[at + len] = '\0';
        rc = watch_dir_by(w, t, parent, path, name, len, may_move, tell, out);
    }
    if (fd != dirfd) {
        close(fd);
    }
    return rc;
}

/* ino_entry_is_dir() of the entry name, of type d_type, of the directory
 * open as fd: d_type alone tells, but for a link to follow or a file
 * system that leaves it DT_UNKNOWN. */
static int
entry_is_dir(const ino_tree *t, int fd, const char *name, unsigned char d_type)
{
    struct stat st;

    if (d_type == DT_DIR) {
        return 1;
    }
    if (d_type == DT_LNK && !t->follow) {
        return 0;
    }
    if (d_type != DT_UNKNOWN && d_type != DT_LNK) {
        return 0;
    }
    if (fstatat(fd, name, &st, t->follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0) {
        return 0;
    }
    return S_ISDIR(st.st_mode) &&
           (!t->follow || ino_follow_allowed(t, fd, name));
}

int
ino_entry_is_dir(const ino_tree *t, DIR *d, const struct dirent *de)
{
    return entry_is_dir(t, dirfd(d), de->d_name, de->d_type);
}

/* SCAN_NEW: a directory of the tree that the scan found in n under a new
 * name (watch_dir() returned 2) is reported as the kernel reports a
 * rename, MOVED_FROM and MOVED_TO with one cookie, but ours: the kernel
 * counts its cookies up from 1, so the high half is not theirs for
 * billions of renames.  Its own records are dropped when they come. */
int
ino_report_moved(ino_watcher *w, ino_node *n, const char *name, size_t len,
                 uint32_t flags)
{
    ino_trees *ts = w->trees;
    const ino_move *told = &ts->moves[ts->nmoves - 1];
    ino_tree *t = n->tree;
    uint32_t cookie = ino_own_cookie(ts);
    char rel[INO_PATH_CAP];
    long rl = ino_node_path(n, name, len, rel);

    if (rl < 0) {
        return 0;
    }
    if (((t->mask & IN_MOVED_FROM) &&
         ino_tree_push(w, t, IN_MOVED_FROM | IN_ISDIR | flags, cookie,
                       told->src, told->src_len, NULL, 0) < 0) ||
        ((t->mask & IN_MOVED_TO) &&
         ino_tree_push(w, t, IN_MOVED_TO | IN_ISDIR | flags, cookie, rel,
                       (size_t)rl, told->src, told->src_len) < 0)) {
        return -ENOMEM;
    }
    return 0;
}

/* SCAN_NEW: queues the entry n/name as IN_CREATE and remembers it, so
 * that the kernel's CREATE of it is not reported again. */
static int
report_found(ino_watcher *w, ino_node *n, const char *name, size_t len,
             int is_dir)
{
    char rel[INO_PATH_CAP];
    long rl = ino_node_path(n, name, len, rel);

    if (rl < 0 || !(n->tree->mask & IN_CREATE)) {
        return 0;
    }
    if (ino_tree_push(w, n->tree, IN_CREATE | (is_dir ? IN_ISDIR : 0), 0, rel,
                      (size_t)rl, NULL, 0) < 0 ||
        ino_nmap_put(&w->trees->scanned, (uintptr_t)n->wd, name, len, n, 1) <
            0) {
        return -ENOMEM;
    }
    return 0;
}

/* SCAN_NEW reports a directory the scan met after watching it: a move
 * (rc 2), or a CREATE.  One that is not where the listing said (rc
 * -ENOENT or -ENOTDIR) was renamed or removed since, which its records
 * tell, or its path went stale by the rename of a directory above it,
 * still queued: then it is watched and scanned at the drain. */
static int
report_dir(ino_watcher *w, ino_node *n, const char *name, size_t len, int rc)
{
    if (rc == 2) {
        return ino_report_moved(w, n, name, len, 0);
    }
    if (report_found(w, n, name, len, 1) < 0) {
        return -ENOMEM;
    }
    if ((rc == -ENOENT || rc == -ENOTDIR) &&
        ino_moves_add(w->trees, MOVE_RETRY, (uint32_t)n->wd, n->tree, NULL, n,
                      name, len, NULL, 0) == NULL) {
        return -ENOMEM;
    }
    return ino_node_told_dir(w, n, name, len);
}

int
ino_stat_entry(int dirfd, const char *name, ino_fattr *a)
{
    struct stat st;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return -errno;
    }
    ino_fattr_of_stat(a, &st);
    return 0;
}

/* An entry that is not a directory, met by a scan of n: indexed (when the
 * tree indexes files) with what fstatat() says.  Returns 1 when it is new
 * to the index (or the tree keeps none), 0 when the index held it already
 * (the stream told it) or it went before it could be read, or -ENOMEM. */
static int
index_found(ino_node *n, int fd, const char *name, size_t len)
{
    ino_fattr a;
    int rc;

    if (!n->tree->index_files) {
        return 1;
    }
    if (ino_files_get(&n->files, name, len) != NULL) {
        return 0;
    }
    rc = ino_stat_entry(fd, name, &a);
    if (rc == -ENOENT || rc == -ENOTDIR) {
        return 0; /* its DELETE, if it comes, finds nothing to take */
    }
    if (rc < 0) {
        a.ino = 0;
        a.size = a.mtime_ns = -1;
        a.type = INO_FT_UNKNOWN;
        a.stale = 1;
    }
    return ino_node_file_put(n, name, len, &a) < 0 ? -ENOMEM : 1;
}

/* One entry of a directory being scanned, as getdents64() told it. */
typedef struct scan_ent {
    const char *name;
    size_t len;
    uint64_t ino;
    unsigned char type; /* d_type */
} scan_ent;

/* Handles one entry found by a scan of n, open as fd; path (path_len
 * bytes, room for INO_PATH_CAP) is n's absolute path, which SCAN_INITIAL
 * watches the entry by (see scan_one()).  Returns 0 or a negative errno
 * that ends the scan. */
static int
scan_entry(ino_watcher *w, ino_node *n, int fd, const scan_ent *de,
           enum ino_scan_mode mode, ino_worklist *todo, char *path,
           size_t path_len)
{
    ino_tree *t = n->tree;
    size_t len = de->len;
    int is_dir = entry_is_dir(t, fd, de->name, de->type), rc;
    int reports = mode == SCAN_NEW || mode == SCAN_RELIST;
    char rel[INO_PATH_CAP];
    ino_node *child;
    long rl;

    if (!is_dir) {
        if (mode == SCAN_REPAIR) {
            return 0;
        }
        rc = index_found(n, fd, de->name, len);
        if (rc <= 0) {
            return rc;
        }
        return reports ? report_found(w, n, de->name, len, 0) : 0;
    }
    /* A directory of the tree met under another name was renamed (or
     * moved here) by events not read yet: move its node here, where it is
     * now.  (Not while following links when not repairing: then it may be
     * the same directory reached twice.) */
    if (mode == SCAN_INITIAL) {
        /* ino_add_tree()'s scan goes by the path, which is faster: no
         * record has been read yet that could make it stale.  The path is
         * n's with the name appended (cut off again by the caller). */
        int sep = path_len > 0 && path[path_len - 1] != '/';
        const ino_entry *root = ino_table_find(&w->table, t->root->wd);
        child = NULL;
        if (path_len + (size_t)sep + len >= INO_PATH_CAP) {
            rc = -ENAMETOOLONG;
        }
        else if (root == NULL || root->removed) {
            rc = 0; /* the tree is being removed: nothing new to watch */
        }
        else {
            path[path_len] = '/';
            memcpy(path + path_len + sep, de->name, len + 1);
            /* The slots the new node will take, while the kernel works. */
            ino_table_prefetch(&w->table, w->trees->next_wd);
            ino_cmap_prefetch(&w->trees->children, (uintptr_t)n, de->name,
                              len);
            rc = watch_dir_by(w, t, n, path, de->name, len, 0, 0, &child);
            path[path_len] = '\0';
        }
    }
    else {
        rc = ino_watch_dir(w, t, n, fd, de->name, len,
                           mode == SCAN_REPAIR || (reports && !t->follow),
                           reports, &child);
    }
    /* Relisting, a directory of the stream's already there is told. */
    if (reports && !(mode == SCAN_RELIST && rc == 0 && child != NULL) &&
        report_dir(w, n, de->name, len, rc) < 0) {
        return -ENOMEM;
    }
    if (rc >= 0 && child != NULL) {
        child->ino = de->ino; /* for polls (ino_poll.c) */
    }
    if ((rc == 0 || rc == 2) && child != NULL) {
        /* Found where a pending MOVED_FROM said it left: it did not. */
        ino_moves_keep(w->trees, child);
    }
    if (rc == 1 || ((rc == 0 || rc == 2) && child != NULL &&
                    mode == SCAN_REPAIR && !child->seen)) {
        child->seen = 1;
        return ino_worklist_push(todo, child);
    }
    if (rc == -ENOSPC && mode == SCAN_INITIAL) {
        return rc;
    }
    if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR && mode != SCAN_REPAIR) {
        rl = ino_node_path(n, de->name, len, rel);
        if (ino_tree_push_error(w, t, -rc, rel, rl < 0 ? 0 : (size_t)rl) < 0) {
            return -ENOMEM;
        }
    }
    return rc == -ENOMEM ? rc : 0;
}

/* 1 when the first scan of tree t gives its directories the read bits it
 * holds back itself, as it goes (an inotify watcher's watches are each
 * directory's own).  A fanotify watcher's mark is the file system's: the
 * bits would bring it every read there while the scan runs, so it gains
 * them after the scan (ino_tree.c). */
static int
scan_adds_held(const ino_watcher *w, const ino_tree *t)
{
    return t->held_bits != 0 && w->fan == NULL;
}

/* Gives node n, the directory at path, the read bits its tree's first
 * scan held back (ino_tree.held_bits).  A directory whose path now leads
 * elsewhere keeps the mask it has; the watch made by mistake there is
 * removed again. */
static void
add_held_bits(ino_watcher *w, ino_tree *t, ino_node *n, const char *path)
{
    ino_entry *e = ino_table_find(&w->table, n->wd);
    uint32_t mask = t->watch_mask | t->held_bits;
    int wd;

    if (e == NULL || e->node != n) {
        return;
    }
    /* The root is followed if it is a link (see ino_add_tree()). */
    wd = ino_kwatch_add(
        w, path, n == t->root ? mask & ~(uint32_t)IN_DONT_FOLLOW : mask);
    if (wd == n->wd) {
        e->mask = mask;
    }
    else if (wd >= 0 && ino_table_find(&w->table, wd) == NULL) {
        ino_kwatch_rm(w, wd);
    }
}

/* Scans one directory, listed with getdents64() into buf, the scan's own
 * INO_READ_BUF_SIZE bytes (opendir() would allocate a buffer a directory,
 * and fstat() the directory to size it), which the scan also reads the
 * kernel's records into between listings (scan_drain()): a scan needs no
 * other buffer. */
static int
scan_one(ino_watcher *w, ino_node *n, enum ino_scan_mode mode,
         ino_worklist *todo, char *buf)
{
    char rel[INO_PATH_CAP], path[INO_PATH_CAP];
    long rl = ino_node_path(n, NULL, 0, rel), pl;
    int fd, rc = 0, err;
    ssize_t got;

    if (rl < 0 || (pl = ino_full_path(n->tree, rel, (size_t)rl, path)) < 0) {
        return 0;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
    err = fd < 0 ? errno : 0;
    /* The path may lead to another directory than n while a rename above
     * it is still queued: list only n. */
    if (fd >= 0 && (mode == SCAN_NEW || mode == SCAN_RELIST) &&
        (rc = ino_fd_is_node(w, fd, n)) <= 0) {
        close(fd);
        fd = -1;
        err = rc < 0 ? -rc : ENOENT;
    }
    rc = 0;
    if (fd < 0) {
        if ((err == ENOENT || err == ENOTDIR) && mode != SCAN_INITIAL &&
            mode != SCAN_REPAIR) {
            /* Watched, so it was there: the path went stale (a rename
             * above it, still queued).  List it at the drain. */
            return ino_moves_add(w->trees, MOVE_RELIST, (uint32_t)n->wd,
                                 n->tree, n, NULL, "", 0, NULL, 0) == NULL
                       ? -ENOMEM
                       : 0;
        }
        if (err == ENOENT || err == ENOTDIR || mode == SCAN_REPAIR) {
            return 0;
        }
        return ino_tree_push_error(w, n->tree, err, rel, (size_t)rl);
    }
    /* A read error ends the listing, as readdir() would. */
    while (rc == 0 && (got = getdents64(fd, buf, INO_READ_BUF_SIZE)) > 0) {
        ssize_t off;
        for (off = 0; rc == 0 && off < got;) {
            const struct dirent64 *de = (const struct dirent64 *)(buf + off);
            scan_ent ent;
            off += de->d_reclen;
            ent.name = de->d_name;
            if (ent.name[0] == '.' &&
                (ent.name[1] == '\0' ||
                 (ent.name[1] == '.' && ent.name[2] == '\0'))) {
                continue;
            }
            ent.len = strlen(ent.name);
            if ((n->tree->nexclude > 0 && ino_excluded(n->tree, ent.name)) ||
                (mode == SCAN_RELIST &&
                 ino_nmap_get(&w->trees->told, (uintptr_t)n->wd, ent.name,
                              ent.len) != NULL)) {
                continue;
            }
            ent.ino = de->d_ino;
            ent.type = de->d_type;
            rc = scan_entry(w, n, fd, &ent, mode, todo, path, (size_t)pl);
        }
    }
    close(fd);
    /* The first scan: a directory with none below it makes no more
     * events of reads (its listing is done, and it is no directory's
     * parent), and gets its read bits now, by the path just looked up; the
     * others get theirs at the end of the scan (ino_scan()). */
    if (rc == 0 && mode == SCAN_INITIAL && scan_adds_held(w, n->tree) &&
        n->child == NULL) {
        add_held_bits(w, n->tree, n, path);
    }
    return rc;
}

/* The end of the first scan of tree t: gives every directory of parents
 * (the directories with directories below them) the read bits held back. */
static void
add_held_bits_above(ino_watcher *w, ino_tree *t, ino_worklist *parents)
{
    char rel[INO_PATH_CAP], path[INO_PATH_CAP];
    ino_node *n;
    long rl;

    while ((n = ino_worklist_next(w, parents)) != NULL) {
        rl = ino_node_path(n, NULL, 0, rel);
        if (rl >= 0 && ino_full_path(t, rel, (size_t)rl, path) >= 0) {
            add_held_bits(w, t, n, path);
        }
    }
}

/* 1 for a record trees never report: a read of one of their directories
 * (their own scans make these by the thousand). */
static int
is_tree_dir_read(const ino_watcher *w, const ino_event *ev)
{
    const ino_entry *e;

    if (!(ev->mask & IN_ISDIR) ||
        !(ev->mask & (IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE))) {
        return 0;
    }
    e = ino_table_find(&w->table, ev->wd);
    return e != NULL && e->node != NULL;
}

static int
defer(ino_trees *ts, const char *rec, size_t len)
{
    if (ts->deferred_len + len > ts->deferred_cap) {
        size_t cap =
            ts->deferred_cap ? ts->deferred_cap * 2 : INO_READ_BUF_SIZE;
        char *grown;
        while (cap < ts->deferred_len + len) {
            cap *= 2;
        }
        if ((grown = realloc(ts->deferred, cap)) == NULL) {
            return -ENOMEM;
        }
        ts->deferred = grown;
        ts->deferred_cap = cap;
    }
    memcpy(ts->deferred + ts->deferred_len, rec, len);
    ts->deferred_len += len;
    return 0;
}

/* Defers the records of one read but the reads of the trees' own
 * directories, which rewriting would drop.  Returns 0, or -ENOMEM when
 * some could not be kept, or -EBADMSG when a malformed record ended the
 * framed ones. */
static int
defer_read(ino_watcher *w, const char *buf, size_t n)
{
    ino_trees *ts = w->trees;
    size_t valid, off, start;
    long count = ino_validate(buf, n, &valid);
    ino_event ev;

    for (off = 0; off < valid;) {
        start = off;
        ino_decode(buf, valid, &off, &ev);
        if (!is_tree_dir_read(w, &ev) &&
            defer(ts, buf + start, off - start) < 0) {
            return -ENOMEM;
        }
    }
    return count < 0 ? (int)count : 0;
}

/* ino_scan_drain() into buf, of INO_READ_BUF_SIZE bytes. */
static void
scan_drain(ino_watcher *w, char *buf)
{
    ino_trees *ts = w->trees;
    long n;
    int rc;

    if (ts->deferred_lost || ts->deferred_error < 0) {
        return; /* what follows is owed an overflow or an error */
    }
    while ((n = ino_kernel_read(w, buf, INO_READ_BUF_SIZE)) > 0) {
        rc = defer_read(w, buf, (size_t)n);
        if (rc == -ENOMEM) {
            ts->deferred_lost = 1;
            return;
        }
        if (rc < 0) {
            ts->deferred_error = rc;
            return;
        }
    }
    if (n < 0 && n != -EAGAIN) {
        ts->deferred_error = (int)n;
    }
}

/* Reads what the kernel queued while a scan runs, so that the scan's own
 * reads of directories cannot overflow the kernel's queue (and make a
 * repair scan, which would overflow it again).  Records that left the
 * kernel and could not be kept make the trees owe an IN_Q_OVERFLOW; a
 * read error is kept for the next ino_read() to return.  Without a buffer
 * it reads nothing: the records then stay in the kernel. */
void
ino_scan_drain(ino_watcher *w)
{
    ino_trees *ts = w->trees;

    if (ts->scan_buf == NULL &&
        (ts->scan_buf = malloc(INO_READ_BUF_SIZE)) == NULL) {
        return;
    }
    scan_drain(w, ts->scan_buf);
}

/* Scans a watched directory and, breadth first, every new directory found
 * below it (each watched before it is scanned).  One directory stream is
 * open at a time, however deep the tree. */
int
ino_scan(ino_watcher *w, ino_node *start, enum ino_scan_mode mode)
{
    ino_worklist todo = {NULL, NULL, 0, 0, 0};
    ino_worklist parents = {NULL, NULL, 0, 0, 0};
    char *buf = malloc(INO_READ_BUF_SIZE);
    int rc = buf == NULL ? -ENOMEM : ino_worklist_push(&todo, start);
    ino_node *n;
    size_t done = 0;

    /* The first scan reports nothing, so the order it lists in is free:
     * depth first (worklist_pop()).  The others report what they find
     * breadth first. */
    while (rc == 0 &&
           (n = mode == SCAN_INITIAL ? worklist_pop(w, &todo)
                                     : ino_worklist_next(w, &todo)) != NULL) {
        /* SCAN_RELIST is for the first directory; what it finds is new. */
        enum ino_scan_mode one =
            mode == SCAN_RELIST && n != start ? SCAN_NEW : mode;
        rc = scan_one(w, n, one, &todo, buf);
        if (rc == 0 && mode == SCAN_INITIAL && scan_adds_held(w, n->tree) &&
            n->child != NULL) {
            rc = ino_worklist_push(&parents, n);
        }
        done++;
        if ((done & 63) == 0) {
            scan_drain(w, buf);
        }
        if (mode == SCAN_INITIAL && rc == 0 && (done & 1023) == 0 &&
            w->trees->progress != NULL &&
            w->trees->progress(w->trees->progress_arg, done) != 0) {
            rc = -ECANCELED;
        }
    }
    if (rc == 0 && mode == SCAN_INITIAL && scan_adds_held(w, start->tree)) {
        add_held_bits_above(w, start->tree, &parents);
    }
    if (buf != NULL) {
        scan_drain(w, buf);
    }
    ino_worklist_free(&todo);
    ino_worklist_free(&parents);
    free(buf);
    return rc;
}
