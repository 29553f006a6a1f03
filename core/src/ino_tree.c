/*
 * ino_tree.c: the life of trees and their public API.  ino_add_tree()
 * makes a tree (watching its root, then scanning), ino_tree_size() tells
 * its size, and the hooks of ino_internal.h let the watcher read through
 * the trees, end a tree when its root goes, and free them all.
 *
 * While a watcher has trees, ino_read() reads into the trees' buffer and
 * ino_rewrite.c rewrites the records into the queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "ino_trees.h"

/* Makes the trees' state of a watcher on its first tree. */
static int
trees_init(ino_watcher *w)
{
    ino_trees *ts;

    if (w->trees != NULL) {
        return 0;
    }
    ts = calloc(1, sizeof *ts);
    if (ts == NULL) {
        return -ENOMEM;
    }
    ts->read_buf = malloc(INO_READ_BUF_SIZE);
    if (ts->read_buf == NULL) {
        free(ts);
        return -ENOMEM;
    }
    ino_cmap_init(&ts->children);
    ino_nmap_init(&ts->scanned);
    w->trees = ts;
    return 0;
}

static void
tree_free(ino_tree *t)
{
    size_t i;

    for (i = 0; i < t->nexclude; i++) {
        free(t->exclude[i]);
    }
    free(t->exclude);
    free(t->poll_wds);
    ino_since_free(t);
    free(t);
}

static ino_tree *
tree_new(const char *path, uint32_t mask, const char *const *exclude,
         size_t nexclude, int flags)
{
    int follow = (flags & INO_TREE_FOLLOW) != 0;
    size_t len = strlen(path), i;
    ino_tree *t = calloc(1, sizeof *t + len + 1);

    if (t == NULL) {
        return NULL;
    }
    memcpy(t->root_path, path, len + 1);
    t->root_len = len;
    t->mask = mask & INO_EVENT_BITS;
    t->follow = follow;
    t->index_files = (flags & INO_TREE_NO_FILES) == 0;
    t->watch_mask = t->mask | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO |
                    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |
                    (follow ? 0 : IN_DONT_FOLLOW);
    t->exclude = nexclude ? calloc(nexclude, sizeof(char *)) : NULL;
    if (nexclude && t->exclude == NULL) {
        free(t);
        return NULL;
    }
    for (i = 0; i < nexclude; i++) {
        t->exclude[i] = strdup(exclude[i]);
        t->nexclude++;
        if (t->exclude[i] == NULL) {
            tree_free(t);
            return NULL;
        }
    }
    return t;
}

static void
tree_unlink(ino_watcher *w, ino_tree *t)
{
    ino_trees *ts = w->trees;
    ino_tree **pp;

    ino_moves_tree_gone(ts, t);
    for (pp = &ts->list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            return;
        }
    }
}

/* Rolls back a tree that ino_add_tree() could not finish. */
static void
tree_abort(ino_watcher *w, ino_tree *t)
{
    ino_subtree_free(w, t->root, 1);
    tree_unlink(w, t);
    tree_free(t);
}

/* Gives every directory of a new tree its full mask, after the first scan
 * (see ino_add_tree()).  A directory whose path now leads elsewhere keeps
 * the mask it has; the watch made by mistake there is removed again. */
static void
add_read_bits(ino_watcher *w, ino_tree *t)
{
    char rel[INO_PATH_CAP], path[INO_PATH_CAP];
    size_t pos = 0;
    ino_entry *e;
    long rl;
    int wd;

    while ((e = ino_table_next(&w->table, &pos)) != NULL) {
        if (e->node == NULL || e->node->tree != t) {
            continue;
        }
        rl = ino_node_path(e->node, NULL, 0, rel);
        if (rl < 0 || ino_full_path(t, rel, (size_t)rl, path) < 0) {
            continue;
        }
        /* The root is followed if it is a link (see ino_add_tree()). */
        wd = ino_kwatch_add(w, path,
                            e->node == t->root
                                ? t->watch_mask & ~(uint32_t)IN_DONT_FOLLOW
                                : t->watch_mask);
        if (wd == e->wd) {
            e->mask = t->watch_mask;
        }
        else if (wd >= 0 && ino_table_find(&w->table, wd) == NULL) {
            ino_kwatch_rm(w, wd);
        }
    }
}

/* Watches a new tree's root and puts the tree in the watcher's list;
 * returns the root's wd, or a negative errno (the tree is then the
 * caller's to free). */
static int
tree_add_root(ino_watcher *w, ino_tree *t, const char *path)
{
    ino_entry *e;
    int wd, rc;

    /* IN_MASK_CREATE: an inode this watcher already watches fails with
     * EEXIST instead of having its mask replaced.  The root itself is
     * followed when it is a symbolic link, as the path the caller named
     * (follow_symlinks is about links below it). */
    wd = ino_kwatch_add(
        w, path, (t->watch_mask & ~(uint32_t)IN_DONT_FOLLOW) | IN_MASK_CREATE);
    if (wd < 0) {
        return errno == EEXIST ? -EBUSY : -errno;
    }
    t->root = ino_node_new(t, "", 0, wd);
    rc = t->root == NULL ? -ENOMEM : ino_table_insert(&w->table, wd, &e);
    if (rc < 0) {
        free(t->root);
        ino_kwatch_rm(w, wd);
        return rc;
    }
    e->mask = t->watch_mask;
    e->node = t->root;
    t->ndirs = 1;
    t->next = w->trees->list;
    w->trees->list = t;
    return wd;
}

int
ino_add_tree(ino_watcher *w, const char *path, uint32_t mask,
             const char *const *exclude, size_t nexclude, int flags,
             ino_entry **out, size_t *in_use)
{
    return ino_tree_add_with(w, path, mask, exclude, nexclude, flags, NULL,
                             NULL, out, in_use);
}

int
ino_tree_add_with(ino_watcher *w, const char *path, uint32_t mask,
                  const char *const *exclude, size_t nexclude, int flags,
                  ino_tree_fill fill, void *arg, ino_entry **out,
                  size_t *in_use)
{
    ino_tree *t;
    uint32_t full_mask;
    int wd, rc;

    if (w->fd < 0) {
        return -EBADF;
    }
    if ((mask & ~INO_WATCH_BITS) != 0 || (mask & INO_EVENT_BITS) == 0 ||
        (flags & ~(INO_TREE_FOLLOW | INO_TREE_NO_FILES)) != 0) {
        return -EINVAL;
    }
    if ((rc = trees_init(w)) < 0) {
        return rc;
    }
    if (in_use != NULL) {
        *in_use = w->table.count;
    }
    t = tree_new(path, mask, exclude, nexclude, flags);
    if (t == NULL) {
        return -ENOMEM;
    }
    /* The first scan lists every directory, and each listing would make
     * OPEN, ACCESS and CLOSE_NOWRITE events in two watches (the
     * directory's and its parent's), all of which a tree drops: watch
     * without those bits while it runs, and add them after.  On an
     * inotify watcher the scan adds them itself (ino_scan()), to each
     * directory once it and the directories in it are listed; a fanotify
     * watcher's mark (the file system's), and a fill (ino_state.c), have
     * them added once the scan or fill is done (add_read_bits()). */
    full_mask = t->watch_mask;
    t->held_bits =
        t->watch_mask & (uint32_t)(IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE);
    t->watch_mask &= ~t->held_bits;
    wd = tree_add_root(w, t, path);
    if (wd < 0) {
        tree_free(t);
        return wd;
    }
    rc = fill != NULL ? fill(w, t, arg) : ino_scan(w, t->root, SCAN_INITIAL);
    if (rc < 0) {
        if (in_use != NULL) {
            *in_use = w->table.count;
        }
        tree_abort(w, t);
        return rc;
    }
    t->held_bits = 0;
    if (full_mask != t->watch_mask) {
        t->watch_mask = full_mask;
        if (fill != NULL || w->fan != NULL) {
            add_read_bits(w, t);
        }
    }
    *out = ino_table_find(&w->table, wd);
    return 1;
}

size_t
ino_tree_size(const ino_watcher *w, int32_t wd)
{
    ino_entry *e = ino_table_find(&w->table, wd);

    if (e == NULL || e->node == NULL || e->node->parent != NULL) {
        return 0;
    }
    return e->node->tree->ndirs;
}

size_t
ino_tree_files(const ino_watcher *w, int32_t wd)
{
    ino_entry *e = ino_table_find(&w->table, wd);

    if (e == NULL || e->node == NULL || e->node->parent != NULL) {
        return 0;
    }
    return e->node->tree->nfiles;
}

int
ino_trees_active(const ino_watcher *w)
{
    const ino_trees *ts = w->trees;

    return ts != NULL && (ts->list != NULL || ts->deferred_len > 0 ||
                          ts->deferred_lost || ts->deferred_error < 0);
}

long
ino_trees_read(ino_watcher *w)
{
    ino_queue *q = &w->queue;
    char *buf = w->trees->read_buf;
    int settle = 0;
    size_t before = q->queued, valid;
    long n, count;
    int rc = ino_tree_rewrite_deferred(w);

    while (rc == 0 && !ino_full(w)) {
        size_t room = INO_READ_BUF_SIZE, left = q->max_queued - q->queued;

        /* As in ino_read(): no more records than the bound allows. */
        if (left < INO_READ_BUF_SIZE / INO_RECORD_HEADER) {
            room = left * INO_RECORD_HEADER + INO_NAME_FIELD_MAX;
        }
        n = ino_kernel_read(w, buf, room);
        if (n == -EAGAIN) {
            q->drained = 1;
            rc = ino_tree_drained(w);
            if (rc < 0 || (w->trees->deferred_len == 0 &&
                           ino_moves_stale(w->trees) == 0)) {
                break;
            }
            /* Settling scanned and read records meanwhile, or met stale
             * paths again: go round a few times, then leave the rest to
             * the next call (not drained, so that it reads on). */
            if (++settle > 3) {
                q->drained = 0;
                rc = ino_tree_rewrite_deferred(w);
                break;
            }
            /* Settling the trees scanned, and read records meanwhile:
             * rewrite them and read on. */
            q->drained = 0;
            rc = ino_tree_rewrite_deferred(w);
            continue;
        }
        q->drained = 0;
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        count = ino_validate(buf, (size_t)n, &valid);
        rc = ino_tree_rewrite(w, buf, valid);
        if (rc >= 0) {
            rc = ino_tree_rewrite_deferred(w);
        }
        if (rc == 0 && count < 0) {
            rc = (int)count;
        }
    }
    return rc < 0 ? rc : (long)(q->queued - before);
}

void
ino_tree_unwatch(ino_watcher *w, ino_entry *root)
{
    /* Their late events find no entry; the root's IN_IGNORED ends the
     * tree. */
    ino_children_free(w, root->node);
}

void
ino_tree_release(ino_watcher *w, ino_node *root)
{
    ino_tree *t = root->tree;

    ino_children_free(w, root);
    tree_unlink(w, t);
    ino_files_free(&root->files);
    free(root);
    tree_free(t);
}

void
ino_trees_free(ino_watcher *w)
{
    ino_trees *ts = w->trees;

    if (ts == NULL) {
        return;
    }
    while (ts->list != NULL) {
        ino_tree *t = ts->list;
        ino_node *root = t->root;
        ts->list = t->next;
        if (root != NULL) {
            while (root->child != NULL) {
                ino_subtree_free(w, root->child, 0);
            }
            ino_files_free(&root->files);
            free(root);
        }
        tree_free(t);
    }
    ino_moves_clear(ts);
    free(ts->moves);
    ino_cmap_free(&ts->children);
    ino_nmap_free(&ts->scanned, 1);
    ino_nmap_free(&ts->told, 1);
    free(ts->read_buf);
    free(ts->deferred);
    free(ts->scan_buf);
    free(ts);
    w->trees = NULL;
}

size_t
ino_trees_nodes(const ino_watcher *w)
{
    return w->trees != NULL ? w->trees->children.count : 0;
}

size_t
ino_trees_pending_moves(const ino_watcher *w)
{
    return w->trees != NULL ? w->trees->nmoves : 0;
}

int
ino_trees_none(const ino_watcher *w)
{
    return w->trees == NULL || w->trees->list == NULL;
}

/* Tells one node's files to fn (rel holds the node's path, rl bytes). */
static int
entries_of_files(const ino_node *n, char *rel, long rl,
                 int (*fn)(void *, const ino_tree_entry *), void *arg)
{
    ino_tree_entry ent;
    size_t pos = 0;
    ino_file *f;
    int rc;

    while ((f = ino_files_next(&n->files, &pos)) != NULL) {
        size_t at = rl > 0 ? (size_t)rl + 1 : 0;
        if (at + f->name_len >= INO_PATH_CAP) {
            continue;
        }
        if (rl > 0) {
            rel[rl] = '/';
        }
        memcpy(rel + at, f->name, f->name_len);
        rel[at + f->name_len] = '\0';
        ent.path = rel;
        ent.path_len = at + f->name_len;
        ent.type = f->type;
        ent.ino = f->ino;
        ent.size = f->size;
        ent.mtime_ns = f->mtime_ns;
        if ((rc = fn(arg, &ent)) != 0) {
            return rc;
        }
    }
    rel[rl] = '\0';
    return 0;
}

int
ino_tree_entries(ino_watcher *w, int32_t wd,
                 int (*fn)(void *arg, const ino_tree_entry *entry), void *arg)
{
    ino_entry *e = ino_table_find(&w->table, wd);
    char *rel;
    ino_node *cur, *root;
    ino_tree_entry ent;
    long rl;
    int rc = 0;

    if (e == NULL || e->node == NULL || e->node->parent != NULL) {
        return -ENOENT;
    }
    if ((rel = malloc(INO_PATH_CAP)) == NULL) {
        return -ENOMEM;
    }
    root = cur = e->node;
    /* Pre-order: each directory, then its files, then below it. */
    for (;;) {
        rl = ino_node_path(cur, NULL, 0, rel);
        if (rl >= 0 && cur != root) {
            ent.path = rel;
            ent.path_len = (size_t)rl;
            ent.type = INO_FT_DIR;
            ent.ino = 0;
            ent.size = ent.mtime_ns = -1;
            rc = fn(arg, &ent);
        }
        if (rc == 0 && rl >= 0) {
            rc = entries_of_files(cur, rel, rl, fn, arg);
        }
        if (rc != 0) {
            break;
        }
        if (cur->child != NULL) {
            cur = cur->child;
            continue;
        }
        while (cur != root && cur->next == NULL) {
            cur = cur->parent;
        }
        if (cur == root) {
            break;
        }
        cur = cur->next;
    }
    free(rel);
    return rc;
}

void
ino_get_stats(const ino_watcher *w, ino_stats *st)
{
    const ino_tree *t;

    memset(st, 0, sizeof *st);
    /* A fanotify watcher's directories are numbered, not watched: it
     * holds no inotify watch. */
    st->watches = w->fan != NULL ? 0 : w->table.count;
    st->queued = w->queue.queued;
    st->peak_queued = w->queue.peak;
    st->delivered = w->queue.delivered;
    st->overflows = w->queue.overflows;
    if (w->trees == NULL) {
        return;
    }
    st->rescans = w->trees->rescans;
    for (t = w->trees->list; t != NULL; t = t->next) {
        st->tree_dirs += t->ndirs;
        st->tree_files += t->nfiles;
    }
}

int
ino_set_tree_progress(ino_watcher *w, int (*fn)(void *arg, size_t dirs),
                      void *arg)
{
    int rc = trees_init(w);

    if (rc < 0) {
        return rc;
    }
    w->trees->progress = fn;
    w->trees->progress_arg = arg;
    return 0;
}
