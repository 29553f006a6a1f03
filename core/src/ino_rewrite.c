/*
 * ino_rewrite.c: rewriting the kernel's records of trees into the queue.
 * Each record of a tree's directory becomes a record of the tree's root
 * (wd, udata) whose name is the path below the root, in stream order: a
 * path is the one that was true when the event happened, as far as the
 * events before it tell.  Records of plain watches pass unchanged.
 *
 * A MOVED_FROM waits (by cookie) in the moves list for its MOVED_TO; one
 * that has none once the kernel's queue is drained moved out of the tree.
 * After IN_Q_OVERFLOW nothing is known of what happened, and every tree
 * is repaired by a scan.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "ino_trees.h"

/* ---- moves ------------------------------------------------------------- */

static int
move_remember(ino_watcher *w, uint32_t cookie, ino_tree *t, ino_node *node,
              const char *src, size_t len)
{
    ino_trees *ts = w->trees;
    ino_move *m;

    if (ts->nmoves == ts->moves_cap) {
        size_t cap = ts->moves_cap ? ts->moves_cap * 2 : 8;
        ino_move *moves = realloc(ts->moves, cap * sizeof *moves);
        if (moves == NULL) {
            return -ENOMEM;
        }
        ts->moves = moves;
        ts->moves_cap = cap;
    }
    m = &ts->moves[ts->nmoves];
    m->src = malloc(len + 1);
    if (m->src == NULL) {
        return -ENOMEM;
    }
    memcpy(m->src, src, len);
    m->src[len] = '\0';
    m->src_len = len;
    m->cookie = cookie;
    m->tree = t;
    m->node = node;
    ts->nmoves++;
    return 0;
}

/* Takes the pending move with this cookie out of the list (into *out). */
static int
move_take(ino_watcher *w, uint32_t cookie, ino_move *out)
{
    ino_trees *ts = w->trees;
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        if (ts->moves[i].cookie == cookie) {
            *out = ts->moves[i];
            ts->moves[i] = ts->moves[--ts->nmoves];
            return 1;
        }
    }
    return 0;
}

/* A MOVED_FROM still waiting once the kernel's queue is drained has no
 * MOVED_TO in any tree, so its directory left: unwatch it.  Names
 * remembered from scans are forgotten: any kernel CREATE for them would
 * have been read by now. */
void
ino_tree_drained(ino_watcher *w)
{
    ino_trees *ts = w->trees;
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        ino_move *m = &ts->moves[i];
        if (m->node != NULL) {
            ino_node *n = m->node;
            m->node = NULL;
            ino_subtree_free(w, n, 1);
        }
        free(m->src);
    }
    ts->nmoves = 0;
    if (ts->scanned.count > 0) {
        ino_nmap_free(&ts->scanned, 1);
    }
}

void
ino_moves_forget(ino_watcher *w)
{
    ino_trees *ts = w->trees;
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        free(ts->moves[i].src);
    }
    ts->nmoves = 0;
}

/* ---- repair ------------------------------------------------------------ */

/* Frees the directories of a tree that the repair scan did not meet: each
 * topmost one with all below it.  They are collected first, since freeing
 * changes the table being walked.  Out of memory, the ones not collected
 * stay watched and -ENOMEM is returned. */
static int
drop_unseen(ino_watcher *w, ino_tree *t)
{
    ino_worklist gone = {NULL, 0, 0, 0};
    size_t pos = 0, i;
    ino_entry *e;
    int rc = 0;

    while (rc == 0 && (e = ino_table_next(&w->table, &pos)) != NULL) {
        ino_node *n = e->node;
        if (n != NULL && n->tree == t && !n->seen && n->parent != NULL &&
            n->parent->seen) {
            rc = ino_worklist_push(&gone, n);
        }
    }
    for (i = 0; i < gone.len; i++) {
        ino_subtree_free(w, gone.items[i], 1);
    }
    free(gone.items);
    return rc;
}

/* Mends one tree's watch set by a scan that watches what is new and drops
 * what is gone.  A scan that failed met only part of the tree: then
 * nothing is dropped. */
static int
repair_tree(ino_watcher *w, ino_tree *t)
{
    size_t pos = 0;
    ino_entry *e;
    int rc;

    while ((e = ino_table_next(&w->table, &pos)) != NULL) {
        if (e->node != NULL && e->node->tree == t) {
            e->node->seen = 0;
        }
    }
    t->root->seen = 1;
    rc = ino_scan(w, t->root, SCAN_REPAIR);
    return rc < 0 ? rc : drop_unseen(w, t);
}

/* After an overflow nothing is known of what happened: repair every tree.
 * Returns 0 or the first error, having tried every tree. */
static int
repair(ino_watcher *w)
{
    ino_tree *t;
    int rc = 0, one;

    ino_moves_forget(w);
    ino_nmap_free(&w->trees->scanned, 1);
    for (t = w->trees->list; t != NULL; t = t->next) {
        if (t->root == NULL) {
            continue;
        }
        one = repair_tree(w, t);
        if (rc == 0) {
            rc = one;
        }
    }
    return rc;
}

/* Queues an IN_Q_OVERFLOW (with the kernel's mask, or ours) and repairs. */
static int
rewrite_overflow(ino_watcher *w, uint32_t mask)
{
    int rc = ino_queue_push(&w->queue, -1, mask, 0, "", 0, NULL, 0);
    int repaired = repair(w);

    return rc < 0 ? rc : repaired;
}

/* ---- records of a tree's directory ------------------------------------- */

static int
rewrite_ignored(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_tree *t = n->tree;

    if (n->parent != NULL) {
        ino_subtree_free(w, n, 0);
        return 0;
    }
    /* The root is gone: so is the tree.  The root's node and entry stay
     * until this IN_IGNORED is taken (ino_tree_release()). */
    ino_children_free(w, n);
    return ino_tree_push(w, t, ev->mask, 0, "", 0, NULL, 0);
}

/* Watches the directory now at n/ev->name, moving a node of this tree
 * found there under another name (a rename the events have not told yet,
 * or one that came back) and scanning it when it is new to the tree. */
static int
watch_dir_and_scan(ino_watcher *w, ino_tree *t, ino_node *n,
                   const ino_event *ev)
{
    ino_node *child;
    int rc = ino_watch_dir(w, t, n, ev->name, ev->name_len, !t->follow,
                           &child);

    if (rc >= 0 && child != NULL) {
        ino_node_keep(w, child);
    }
    if (rc == 1) {
        return ino_scan(w, child, SCAN_NEW);
    }
    return rc;
}

/* A MOVED_TO whose MOVED_FROM was in the same tree. */
static int
rewrite_paired(ino_watcher *w, ino_node *n, const ino_event *ev,
               ino_move *m, const char *rel, size_t rel_len)
{
    ino_tree *t = n->tree;
    int rc = 0;

    if (m->node != NULL) {
        rc = ino_node_move(w, m->node, n, ev->name, ev->name_len);
    }
    if (rc == 0 && (ev->mask & t->mask)) {
        rc = ino_tree_push(w, t, ev->mask, ev->cookie, rel, rel_len, m->src,
                           m->src_len);
    }
    free(m->src);
    if (rc < 0 || !(ev->mask & IN_ISDIR)) {
        return rc;
    }
    /* The node was found by the path as it is when the events are read,
     * which later renames may have changed: make sure the directory now
     * at the new path is the one watched (or watch and scan it, if it was
     * not watched at all). */
    rc = watch_dir_and_scan(w, t, n, ev);
    return rc == -ENOMEM ? rc : 0;
}

static int
rewrite_moved_to(ino_watcher *w, ino_node *n, const ino_event *ev,
                 const char *rel, size_t rel_len)
{
    ino_tree *t = n->tree;
    ino_move m;
    int rc, paired = move_take(w, ev->cookie, &m);

    if (paired && m.tree == t) {
        return rewrite_paired(w, n, ev, &m, rel, rel_len);
    }
    if (paired) {
        if (m.node != NULL) {
            ino_subtree_free(w, m.node, 1);     /* it left its own tree */
        }
        free(m.src);
    }
    if ((ev->mask & t->mask) &&
        ino_tree_push(w, t, ev->mask, ev->cookie, rel, rel_len, NULL, 0) <
            0) {
        return -ENOMEM;
    }
    if (!(ev->mask & IN_ISDIR)) {
        return 0;
    }
    /* Moved in from outside: watch and scan it like a new directory.  It
     * may be one of ours that left and came back before the drain: then it
     * is moved here and no longer waits to be unwatched. */
    rc = watch_dir_and_scan(w, t, n, ev);
    return rc == -ENOMEM ? rc : 0;
}

static int
rewrite_named(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_trees *ts = w->trees;
    ino_tree *t = n->tree;
    char rel[INO_PATH_CAP];
    long rl = ino_node_path(n, ev->name, ev->name_len, rel);
    uint32_t m = ev->mask;
    ino_node *child;
    int rc;

    if (rl < 0) {
        return 0;
    }
    if (m & (IN_DELETE | IN_MOVED_FROM)) {
        ino_nmap_del(&ts->scanned, (uintptr_t)n->wd, ev->name, ev->name_len,
                     1);
    }
    if (m & IN_MOVED_FROM) {
        child = (m & IN_ISDIR) ? ino_nmap_get(&ts->children, (uintptr_t)n,
                                              ev->name, ev->name_len)
                               : NULL;
        if (move_remember(w, ev->cookie, t, child, rel, (size_t)rl) < 0) {
            return -ENOMEM;
        }
    }
    else if (m & IN_MOVED_TO) {
        return rewrite_moved_to(w, n, ev, rel, (size_t)rl);
    }
    else if ((m & IN_CREATE) &&
             ino_nmap_del(&ts->scanned, (uintptr_t)n->wd, ev->name,
                          ev->name_len, 1) != NULL) {
        return 0;       /* the scan of a new directory reported it */
    }
    if ((m & t->mask) &&
        ino_tree_push(w, t, m, ev->cookie, rel, (size_t)rl, NULL, 0) < 0) {
        return -ENOMEM;
    }
    if ((m & IN_CREATE) && (m & IN_ISDIR)) {
        rc = watch_dir_and_scan(w, t, n, ev);
        if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR) {
            return ino_tree_push_error(w, t, -rc, rel, (size_t)rl);
        }
    }
    return 0;
}

/* One kernel record of a tree's directory. */
static int
rewrite_one(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_tree *t = n->tree;
    int is_root = n->parent == NULL;

    if (ev->mask & IN_IGNORED) {
        return rewrite_ignored(w, n, ev);
    }
    if ((ev->mask & IN_ISDIR) &&
        (ev->mask & (IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE))) {
        /* Listing a directory changes nothing, and our own scans list
         * every directory that appears: trees do not report reads of
         * directories. */
        return 0;
    }
    if (ev->name_len == 0) {
        /* A directory's own events are its parent's named ones, but for
         * the root, which has no parent in the tree. */
        if (!is_root || !(ev->mask & (t->mask | IN_UNMOUNT))) {
            return 0;
        }
        return ino_tree_push(w, t, ev->mask, ev->cookie, "", 0, NULL, 0);
    }
    if (ino_excluded(t, ev->name)) {
        return 0;
    }
    return rewrite_named(w, n, ev);
}

int
ino_tree_rewrite(ino_watcher *w, const char *buf, size_t len)
{
    size_t off = 0;
    ino_event ev;
    ino_entry *e;
    int rc = 0;

    while (rc >= 0 && ino_decode(buf, len, &off, &ev) > 0) {
        ev.mask &= ~INO_PRIV_BITS;      /* the kernel's, never ours */
        if (ev.wd == -1) {
            rc = rewrite_overflow(w, ev.mask);
            continue;
        }
        e = ino_table_find(&w->table, ev.wd);
        if (e == NULL) {
            continue;           /* unknown or stale wd */
        }
        if (e->node == NULL) {
            rc = ino_queue_push(&w->queue, ev.wd, ev.mask, ev.cookie,
                                ev.name, ev.name_len, NULL, 0);
            continue;
        }
        rc = rewrite_one(w, e->node, &ev);
    }
    return rc;
}

int
ino_tree_rewrite_deferred(ino_watcher *w)
{
    ino_trees *ts = w->trees;
    int rc = 0;

    /* Rewriting may scan, and a scan may defer more: take the deferred
     * records out before rewriting them. */
    while (rc >= 0 && ts->deferred_len > 0) {
        char *buf = ts->deferred;
        size_t len = ts->deferred_len;
        ts->deferred = NULL;
        ts->deferred_len = ts->deferred_cap = 0;
        rc = ino_tree_rewrite(w, buf, len);
        free(buf);
    }
    /* Records read during a scan that could not be kept came after the
     * deferred ones: the consumer hears of them as of an overflow. */
    if (rc >= 0 && ts->deferred_lost) {
        ts->deferred_lost = 0;
        rc = rewrite_overflow(w, IN_Q_OVERFLOW);
        if (rc >= 0) {
            rc = ino_tree_rewrite_deferred(w);
        }
    }
    if (rc >= 0 && ts->deferred_error < 0) {
        rc = ts->deferred_error;
        ts->deferred_error = 0;
    }
    return rc < 0 ? rc : 0;
}
