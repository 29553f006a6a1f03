/*
 * ino_rewrite.c: rewriting the kernel's records of trees into the queue.
 * Each record of a tree's directory becomes a record of the tree's root
 * (wd, udata) whose name is the path below the root, in stream order: a
 * path is the one that was true when the event happened, as far as the
 * events before it tell.  Records of plain watches pass unchanged.
 *
 * The stream tells what the consumer's model of the tree must do, so it
 * never contradicts what it told before:
 * - a MOVED_FROM is held (in the pending list, ino_moves.c) until its
 *   MOVED_TO comes, and the two are queued next to each other; a
 *   MOVED_TO that another process's records separate from its MOVED_FROM
 *   in the same read is taken early (take_pair()); a MOVED_FROM that
 *   another record follows then, or the drain, had none: it is queued
 *   alone and means "moved out" (its directory is unwatched at its
 *   MOVE_SELF, or at the drain);
 * - records of a move that a scan reported already (the scan of a new
 *   directory found a directory of the tree under a new name) are dropped,
 *   and so is a directory's MOVED_FROM from where the stream never had it;
 * - a directory that cannot be watched by the path the records give,
 *   since a rename of a directory above is still queued, is watched again
 *   at the drain, where it is then.
 * After IN_Q_OVERFLOW nothing is known of what happened, and every tree
 * is repaired by a scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ino_trees.h"

/* ---- moves ------------------------------------------------------------- */

/* A MOVED_FROM read: held back until it is known whether its MOVED_TO
 * comes, so that a pair is always reported as two adjacent events. */
static int
move_hold(ino_watcher *w, ino_node *parent, ino_node *node,
          const ino_event *ev, const char *rel, size_t rel_len)
{
    ino_move *m =
        ino_moves_add(w->trees, MOVE_PENDING, ev->cookie, parent->tree, node,
                      parent, rel, rel_len, ev->name, ev->name_len);

    if (m == NULL) {
        return -ENOMEM;
    }
    m->mask = ev->mask;
    m->held = 1;
    return 0;
}

/* Queues a held MOVED_FROM, by the path its directory has now, which is
 * what the stream has told of it (m->src becomes that path). */
static int
push_from(ino_watcher *w, ino_move *m)
{
    char rel[INO_PATH_CAP];
    long rl;

    if (!m->held) {
        return 0;
    }
    m->held = 0;
    if (m->parent != NULL &&
        (rl = ino_node_path(m->parent, m->name, m->name_len, rel)) >= 0) {
        char *fresh = malloc((size_t)rl + 1);
        if (fresh == NULL) {
            return -ENOMEM;
        }
        memcpy(fresh, rel, (size_t)rl + 1);
        free(m->src);
        m->src = fresh;
        m->src_len = (size_t)rl;
    }
    if (m->tree == NULL || !(m->mask & m->tree->mask)) {
        return 0;
    }
    return ino_tree_push(w, m->tree, m->mask, m->cookie, m->src, m->src_len,
                         NULL, 0);
}

/* A file's MOVED_FROM that no MOVED_TO of its tree pairs: it left, and
 * the index forgets it. */
static void
forget_moved_file(ino_move *m)
{
    /* (A directory with a node has no entry; one without may.) */
    if (m->parent != NULL && m->parent->tree->index_files) {
        ino_node_file_del(m->parent, m->name, m->name_len);
    }
}

/* What a record that makes a file appear at n/name (an unpaired MOVED_TO,
 * a CREATE) tells the index: it is there, attributes not read yet. */
static int
index_appeared(ino_node *n, const char *name, size_t len)
{
    ino_fattr a = {0, -1, -1, INO_FT_UNKNOWN, 1};

    if (!n->tree->index_files) {
        return 0;
    }
    return ino_node_file_put(n, name, len, &a) < 0 ? -ENOMEM : 0;
}

/* Queues the held MOVED_FROMs, but the one whose cookie is keep (0: none).
 * The kernel queues a rename's MOVED_TO right after its MOVED_FROM, so a
 * MOVED_FROM that another record follows has none (or one so late that
 * it is reported as a move in): the stream says at once what left, before
 * anything else happens to the directories above it. */
static int
flush_held(ino_watcher *w, uint32_t keep)
{
    ino_trees *ts = w->trees;
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < ts->nmoves; i++) {
        ino_move *m = &ts->moves[i];
        if (m->kind == MOVE_PENDING && m->held &&
            (keep == 0 || m->cookie != keep)) {
            rc = push_from(w, m);
            forget_moved_file(m);
        }
    }
    return rc;
}

/* A MOVED_FROM of directory parent/name: when a scan reported that move
 * already (MOVE_TOLD), the record is past the stream has told.  Returns 1,
 * keeping the cookie to drop the MOVED_TO too, or 0. */
static int
move_was_told(ino_watcher *w, ino_node *parent, const ino_event *ev)
{
    ino_move *m =
        ino_moves_find(w->trees, MOVE_TOLD, parent, ev->name, ev->name_len);

    if (m == NULL) {
        return 0;
    }
    m->kind = MOVE_SWALLOW;
    m->cookie = ev->cookie;
    return 1;
}

/* A directory's MOVE_SELF: when a held MOVED_FROM names it and its
 * MOVED_TO, which the kernel queues before the MOVE_SELF, did not come,
 * it left every watched directory of the tree: unwatch it now, so that
 * nothing it does from now on is reported. */
static int
move_self(ino_watcher *w, ino_node *n)
{
    ino_trees *ts = w->trees;
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        ino_move *m = &ts->moves[i];
        if (m->kind == MOVE_PENDING && m->node == n) {
            int rc = push_from(w, m);
            m->node = NULL;
            ino_subtree_free(w, n, 1);
            return rc;
        }
    }
    return 0;
}

static int watch_dir_and_scan(ino_watcher *w, ino_tree *t, ino_node *n,
                              const char *name, size_t len);

/* A stale directory could not be watched at the drain either: gone
 * (ENOENT, its records tell), still stale (tried again), or a failure the
 * consumer is told of, as rewrite_named() tells it.  Returns 0 or
 * -ENOMEM. */
static int
retry_failed(ino_watcher *w, const ino_move *m, int rc)
{
    char rel[INO_PATH_CAP];
    long rl;

    if (rc >= 0 || rc == -ENOMEM || rc == -ENOENT || rc == -ENOTDIR ||
        rc == -ESTALE) {
        return rc == -ENOMEM ? rc : 0;
    }
    rl = ino_node_path(m->parent, m->src, m->src_len, rel);
    return ino_tree_push_error(w, m->parent->tree, -rc, rel,
                               rl < 0 ? 0 : (size_t)rl);
}

/* Watches again, now that every rename read before has moved the nodes,
 * the directories whose path was stale (MOVE_RETRY).  The list is taken
 * out first: a scan adds to it. */
static int
retry_stale(ino_watcher *w, ino_move *list, size_t n)
{
    ino_trees *ts = w->trees;
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++) {
        ino_move *m = &list[i];
        /* Out of the list, its pointers are not cleared when a node goes
         * (an earlier retry may free one): check them by their wd. */
        const ino_entry *e = ino_table_find(&w->table, (int32_t)m->cookie);
        ino_node *live = e != NULL ? e->node : NULL;
        if (m->kind == MOVE_RETRY && m->parent != live) {
            m->parent = NULL;
        }
        if (m->kind == MOVE_RELIST && m->node != live) {
            m->node = NULL;
        }
        if (rc == 0 && m->kind == MOVE_RETRY && m->parent != NULL &&
            ino_cmap_get(&ts->children, (uintptr_t)m->parent, m->src,
                         m->src_len) == NULL) {
            rc = watch_dir_and_scan(w, m->parent->tree, m->parent, m->src,
                                    m->src_len);
            /* Its parent's path still leads elsewhere: a rename is in
             * flight; try again at the next drain. */
            if (rc == -ESTALE &&
                ino_moves_add(ts, MOVE_RETRY, m->cookie, m->parent->tree, NULL,
                              m->parent, m->src, m->src_len, NULL,
                              0) == NULL) {
                rc = -ENOMEM;
            }
            rc = retry_failed(w, m, rc);
        }
        if (rc == 0 && m->kind == MOVE_RELIST && m->node != NULL) {
            rc = ino_scan(w, m->node, SCAN_RELIST);
        }
    }
    for (i = 0; i < n; i++) {
        ino_move_clear(&list[i]);
    }
    free(list);
    /* What the records told meanwhile was for the lists just made. */
    ino_nmap_free(&ts->told, 1);
    return rc;
}

/* No MOVED_TO will pair the held MOVED_FROMs: each is queued alone, and a
 * directory that left by one is unwatched. */
static int
end_pending(ino_watcher *w)
{
    ino_trees *ts = w->trees;
    size_t i;
    int rc = flush_held(w, 0);

    for (i = 0; i < ts->nmoves; i++) {
        ino_move *m = &ts->moves[i];
        if (m->kind == MOVE_PENDING && m->node != NULL) {
            ino_node *node = m->node;
            m->node = NULL;
            ino_subtree_free(w, node, 1);
        }
    }
    return rc;
}

/* Once the kernel's queue is seen empty: a MOVED_FROM still held has no
 * MOVED_TO; a directory that left by one is unwatched.  Names remembered
 * from scans are forgotten: any kernel CREATE for them would have been
 * read by now.  Then the stale directories are watched again. */
int
ino_tree_drained(ino_watcher *w)
{
    ino_trees *ts = w->trees;
    ino_move *list;
    size_t n;
    int rc = end_pending(w), retried;

    if (ts->scanned.count > 0) {
        ino_nmap_free(&ts->scanned, 1);
    }
    list = ts->moves;
    n = ts->nmoves;
    ts->moves = NULL;
    ts->nmoves = ts->moves_cap = 0;
    retried = retry_stale(w, list, n);
    if (rc == 0) {
        rc = retried;
    }
    /* Settled: now the trees that lost records can be compared with the
     * disk. */
    if (rc == 0) {
        rc = ino_heal_owed(w);
    }
    return rc;
}

/* ---- repair ------------------------------------------------------------ */

/* Frees the directories of a tree that the repair scan did not meet: each
 * topmost one with all below it.  They are collected first, since freeing
 * changes the table being walked.  Out of memory, the ones not collected
 * stay watched and -ENOMEM is returned. */
static int
drop_unseen(ino_watcher *w, ino_tree *t)
{
    ino_worklist gone = {NULL, NULL, 0, 0, 0};
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
    ino_worklist_free(&gone);
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

    /* A tree that heals keeps what it waits for: the records after the
     * overflow still come, and what scans reported before it stands. */
    for (t = w->trees->list; t != NULL; t = t->next) {
        if (t->root == NULL) {
            continue;
        }
        if (t->index_files) {
            t->heal_owed = 1; /* at the drain (ino_heal.c) */
            continue;
        }
        ino_moves_tree_gone(w->trees, t);
        w->trees->rescans++;
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
    /* What was told as moved out has left, whatever the lost records
     * said. */
    int rc = end_pending(w), repaired;

    if (rc == 0) {
        rc = ino_queue_push(&w->queue, -1, mask, 0, "", 0, NULL, 0);
    }
    repaired = repair(w);
    return rc < 0 ? rc : repaired;
}

/* ---- records of a tree's directory ------------------------------------- */

/* The IN_IGNORED of a directory below the root: it was removed (the
 * kernel queues this before its parent's DELETE), or its file system
 * unmounted.  Until the stream tells it gone, the index keeps it as a
 * directory without a node; what the index still held below it, whose
 * DELETEs were lost to an overflow, is told gone now. */
static int
ignored_dir(ino_watcher *w, ino_node *n)
{
    char name[NAME_MAX + 1];
    ino_node *parent = n->parent;
    size_t len = n->name_len;
    int rc = 0;

    if (!n->tree->index_files || n->gone_told || len > NAME_MAX) {
        ino_subtree_free(w, n, 0);
        return 0;
    }
    memcpy(name, n->name, len);
    name[len] = '\0';
    for (ino_node *c = n->child; rc == 0 && c != NULL; c = c->next) {
        rc = ino_subtree_tell_gone(w, c, 0);
    }
    if (rc == 0) {
        rc = ino_node_tell_files_gone(w, n, 0);
    }
    ino_subtree_free(w, n, 0);
    return rc < 0 ? rc : ino_node_told_dir(w, parent, name, len);
}

static int
rewrite_ignored(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_tree *t = n->tree;

    if (n->parent != NULL) {
        return ignored_dir(w, n);
    }
    /* The root is gone: so is the tree.  The root's node and entry stay
     * until this IN_IGNORED is taken (ino_tree_release()). */
    ino_children_free(w, n);
    return ino_tree_push(w, t, ev->mask, 0, "", 0, NULL, 0);
}

/* Watches the directory now at n/name, moving a node of this tree found
 * there under another name (a rename the events have not told yet, or one
 * that came back) and scanning it when it is new to the tree. */
static int
watch_dir_and_scan(ino_watcher *w, ino_tree *t, ino_node *n, const char *name,
                   size_t len)
{
    ino_node *child;
    int rc = ino_watch_dir(w, t, n, -1, name, len, !t->follow, 0, &child);

    if (rc >= 0 && child != NULL) {
        ino_moves_keep(w->trees, child);
    }
    if (rc == 1) {
        return ino_scan(w, child, SCAN_NEW);
    }
    return rc < 0 ? rc : 0;
}

/* How many of the records ahead name_leaves_ahead() looks at. */
#define LEAVES_LOOKAHEAD 512

/* 1 when one of the next records of this read takes the name n/name away
 * (a MOVED_FROM or DELETE of it): then what is at that path now may be
 * another directory, made there after the one the record being rewritten
 * tells of had gone. */
static int
name_leaves_ahead(const ino_watcher *w, const ino_node *n, const char *name,
                  size_t len)
{
    const ino_trees *ts = w->trees;
    size_t off = 0;
    ino_event ev;
    int seen;

    if (ts->ahead == NULL) {
        return 0;
    }
    for (seen = 0; seen < LEAVES_LOOKAHEAD &&
                   ino_decode(ts->ahead, ts->ahead_len, &off, &ev) > 0;
         seen++) {
        if (ev.wd == n->wd && (ev.mask & (IN_MOVED_FROM | IN_DELETE)) &&
            ev.name_len == len && memcmp(ev.name, name, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* watch_dir_and_scan() for a directory a record says is at n/ev->name.
 * When its path leads nowhere, a rename read later may be why (of a
 * directory above, before this record was read): it is tried again at the
 * drain, once every rename queued before it has moved the nodes.  So it
 * is when a record of this read still to come takes the name away: the
 * directory the record tells of is watched where that record's rename
 * takes it (or not at all, if removed), never the one made at its old
 * path since. */
static int
watch_named_dir(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    int rc = name_leaves_ahead(w, n, ev->name, ev->name_len)
                 ? -ESTALE
                 : watch_dir_and_scan(w, n->tree, n, ev->name, ev->name_len);

    if (rc == -EIDRM) {
        /* (fanotify, ino_fan_expect()) Another directory is there now:
         * the one told left unwatched, which its next record tells, and
         * the new one has records of its own to come.  Nothing to retry. */
        rc = 0;
    }
    if (rc == -ENOENT || rc == -ENOTDIR || rc == -ESTALE) {
        rc = ino_moves_add(w->trees, MOVE_RETRY, (uint32_t)n->wd, n->tree,
                           NULL, n, ev->name, ev->name_len, NULL, 0) == NULL
                 ? -ENOMEM
                 : 0;
    }
    /* The stream told it: the index holds it, with a node or without. */
    if (rc != -ENOMEM && ino_node_told_dir(w, n, ev->name, ev->name_len) < 0) {
        rc = -ENOMEM;
    }
    return rc;
}

/* A MOVED_TO whose MOVED_FROM, still held, was in the same tree: the two
 * are queued together. */
static int
rewrite_paired(ino_watcher *w, ino_node *n, const ino_event *ev, ino_move *m,
               const char *rel, size_t rel_len)
{
    ino_tree *t = n->tree;
    int rc = push_from(w, m);

    /* A node cannot go below itself, whatever an out-of-step record
     * says: then it stays, and the drain's checks sort it out. */
    if (rc == 0 && m->node != NULL && !ino_node_is_ancestor(m->node, n)) {
        rc = ino_node_move(w, m->node, n, ev->name, ev->name_len);
    }
    else if (rc == 0 && m->node == NULL && (ev->mask & IN_ISDIR)) {
        /* A directory without a node renamed over one with a node: that
         * one is gone, as the consumer's model has it now. */
        ino_node *over = ino_cmap_get(&w->trees->children, (uintptr_t)n,
                                      ev->name, ev->name_len);
        /* (Nor when the directory it left is in what would go: a record
         * out of step, or not the kernel's.) */
        if (over != NULL && !ino_node_is_ancestor(over, n) &&
            (m->parent == NULL || !ino_node_is_ancestor(over, m->parent))) {
            ino_subtree_free(w, over, 1);
        }
    }
    if (rc == 0 && (ev->mask & t->mask)) {
        rc = ino_tree_push(w, t, ev->mask, ev->cookie, rel, rel_len, m->src,
                           m->src_len);
    }
    if (rc == 0 && (!(ev->mask & IN_ISDIR) || m->node == NULL) &&
        t->index_files) {
        /* The file's entry moves with it (or, never read, is made). */
        rc = m->parent != NULL
                 ? ino_node_file_move(m->parent, m->name, m->name_len, n,
                                      ev->name, ev->name_len)
                 : 0;
        if (rc == 0 && !(ev->mask & IN_ISDIR)) {
            rc = index_appeared(n, ev->name, ev->name_len);
        }
        rc = rc < 0 ? rc : 0;
    }
    ino_move_clear(m);
    if (rc < 0 || !(ev->mask & IN_ISDIR)) {
        return rc;
    }
    /* The node was found by the path as it is when the events are read,
     * which later renames may have changed: make sure the directory now
     * at the new path is the one watched (or watch and scan it, if it was
     * not watched at all). */
    rc = watch_named_dir(w, n, ev);
    return rc == -ENOMEM ? rc : 0;
}

/* A MOVED_TO whose move the stream has told already, or whose MOVED_FROM
 * named a directory the stream never held there.  Returns 1 when it is
 * dealt with, 0 when it is still to report, or a negative errno. */
static int
rewrite_told_moved_to(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_trees *ts = w->trees;
    ino_move m;
    int rc;

    if (ino_moves_take(ts, MOVE_SWALLOW, ev->cookie, &m)) {
        /* A scan reported this move, and where it went. */
        ino_move_clear(&m);
        rc = watch_dir_and_scan(w, n->tree, n, ev->name, ev->name_len);
        return rc == -ENOMEM ? rc : 1;
    }
    if (!ino_moves_take(ts, MOVE_UNTOLD, ev->cookie, &m)) {
        return 0;
    }
    ino_move_clear(&m);
    if (!(ev->mask & IN_ISDIR)) {
        /* A file the stream never told where it left: told here already
         * (a scan found it), or a move in. */
        return n->tree->index_files &&
               ino_files_get(&n->files, ev->name, ev->name_len) != NULL;
    }
    if (ino_cmap_get(&ts->children, (uintptr_t)n, ev->name, ev->name_len) ==
        NULL) {
        return 0; /* not told here: a move in */
    }
    rc = watch_named_dir(w, n, ev);
    return rc == -ENOMEM ? rc : 1;
}

/* A directory's MOVED_TO that no MOVED_FROM pairs, where the stream holds
 * a directory by that name already: when it is that very directory (a
 * scan found it there, before its records came), the record tells
 * nothing new.  Returns 1 then, 2 with *fresh when another directory is
 * there now, watched just now (to be scanned once the record is queued),
 * 0, or a negative errno. */
static int
moved_in_told(ino_watcher *w, ino_node *n, const ino_event *ev,
              ino_node **fresh)
{
    ino_node *had = ino_cmap_get(&w->trees->children, (uintptr_t)n, ev->name,
                                 ev->name_len),
             *child;
    int rc;

    if (had == NULL) {
        return 0;
    }
    /* (With a record ahead taking the name away, a directory new to the
     * watcher there is left to the records ahead, as in
     * moved_from_untold().) */
    rc = ino_watch_dir(
        w, n->tree, n, -1, ev->name, ev->name_len,
        name_leaves_ahead(w, n, ev->name, ev->name_len) ? INO_WATCH_KNOWN : 0,
        0, &child);
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc == 0 && child == had) {
        ino_moves_keep(w->trees, had);
        return 1;
    }
    if (rc == 1) {
        *fresh = child;
        return 2;
    }
    /* Another directory there now (watched already, or to be watched by
     * the caller): the record stands. */
    return 0;
}

/* An unpaired MOVED_TO of a directory that is a node of this tree under
 * another name: its MOVED_FROM was lost (to an overflow: the kernel
 * queues the two together, but a full queue can drop the first and,
 * once read, take the second).  The stream still has it where it was:
 * the move is told as a scan tells one (MOVED_FROM from there, MOVED_TO
 * with src; what it holds goes with it) instead of the record.  Returns
 * 1 when so; 2 with *fresh when it is new to the tree and now watched
 * (the record stands, and the caller scans it); 0 when neither (the
 * record stands, and the caller watches it); or -ENOMEM. */
static int
moved_from_untold(ino_watcher *w, ino_node *n, const ino_event *ev,
                  ino_node **fresh)
{
    ino_tree *t = n->tree;
    ino_node *child = NULL;
    int rc;

    if (t->follow) {
        return 0; /* (a directory met twice may be a link's target) */
    }
    /* When a record ahead takes the name away, what is there now may be
     * another directory, made after this one went: only a node of the
     * tree is taken there, a directory new to it is left to the records
     * ahead (its own CREATE among them). */
    rc = ino_watch_dir(
        w, t, n, -1, ev->name, ev->name_len,
        INO_WATCH_MOVE |
            (name_leaves_ahead(w, n, ev->name, ev->name_len) ? INO_WATCH_KNOWN
                                                             : 0),
        1, &child);
    if (rc == 1) {
        *fresh = child;
        return 2;
    }
    if (rc != 2) {
        return rc == -ENOMEM ? rc : 0;
    }
    ino_moves_keep(w->trees, child);
    rc = ino_report_moved(w, n, ev->name, ev->name_len, 0);
    if (rc == 0 && ino_node_told_dir(w, n, ev->name, ev->name_len) < 0) {
        rc = -ENOMEM;
    }
    return rc < 0 ? rc : 1;
}

static int
rewrite_moved_to(ino_watcher *w, ino_node *n, const ino_event *ev,
                 const char *rel, size_t rel_len)
{
    ino_tree *t = n->tree;
    ino_node *fresh = NULL;
    ino_move m;
    int rc = rewrite_told_moved_to(w, n, ev), paired;

    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    paired = ino_moves_take(w->trees, MOVE_PENDING, ev->cookie, &m);
    if (paired && m.tree == t && m.held) {
        return rewrite_paired(w, n, ev, &m, rel, rel_len);
    }
    if (paired) {
        /* From another tree, or reported already as a move out: a move
         * in, of what the stream no longer holds. */
        rc = push_from(w, &m);
        forget_moved_file(&m);
        if (m.node != NULL) {
            ino_subtree_free(w, m.node, 1);
        }
        ino_move_clear(&m);
        if (rc < 0) {
            return rc;
        }
    }
    if (!paired && ino_nmap_del(&w->trees->scanned, (uintptr_t)n->wd, ev->name,
                                ev->name_len, 1) != NULL) {
        /* A scan met it here and told it (as a CREATE) before this record
         * of its arrival came, as for a CREATE.  (Its name may already
         * lead elsewhere: the records that follow move what the scan
         * told.) */
        return 0;
    }
    if ((ev->mask & IN_ISDIR) && !paired &&
        (rc = moved_in_told(w, n, ev, &fresh)) != 0 && rc != 2) {
        return rc < 0 ? rc : 0;
    }
    if ((ev->mask & IN_ISDIR) && rc == 0 &&
        (rc = moved_from_untold(w, n, ev, &fresh)) != 0 && rc != 2) {
        return rc < 0 ? rc : 0;
    }
    if ((ev->mask & t->mask) &&
        ino_tree_push(w, t, ev->mask, ev->cookie, rel, rel_len, NULL, 0) < 0) {
        return -ENOMEM;
    }
    if (rc == 2) {
        rc = ino_scan(w, fresh, SCAN_NEW);
        if (rc != -ENOMEM &&
            ino_node_told_dir(w, n, ev->name, ev->name_len) < 0) {
            rc = -ENOMEM;
        }
        return rc == -ENOMEM ? rc : 0;
    }
    if (!(ev->mask & IN_ISDIR)) {
        return index_appeared(n, ev->name, ev->name_len);
    }
    /* Moved in from outside: watch and scan it like a new directory. */
    rc = watch_named_dir(w, n, ev);
    return rc == -ENOMEM ? rc : 0;
}

/* n waits to be listed (MOVE_RELIST): remember what its records tell, so
 * that the listing does not tell it again.  Returns 1 when the record is
 * to be dropped: it takes away a name the stream never told (n was never
 * listed, and only its records told names in it), 0, or -ENOMEM. */
static int
track_told(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_nmap *told = &w->trees->told;

    if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
        return ino_nmap_put(told, (uintptr_t)n->wd, ev->name, ev->name_len, n,
                            1);
    }
    if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
        return ino_nmap_del(told, (uintptr_t)n->wd, ev->name, ev->name_len,
                            1) == NULL;
    }
    return 0;
}

/* A name that is not a directory went from n: with follow_symlinks it may
 * be a link the tree followed, whose target's watch is a node under the
 * link's name.  That target is no longer in the tree by this name: unwatch
 * it. */
static void
unwatch_followed(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_node *child = ino_cmap_get(&w->trees->children, (uintptr_t)n, ev->name,
                                   ev->name_len);

    if (child != NULL) {
        ino_subtree_free(w, child, 1);
    }
}

/* The DELETE of directory n, which the index still holds entries in: a
 * directory is removed only once empty, so their DELETEs (and, when it
 * was not held open, its own IN_IGNORED, which the kernel queues before
 * this record) were lost to an overflow.  They are told gone now, as a
 * heal would tell them (INO_RESCAN), before the DELETE that needs them
 * gone, and the index forgets them. */
static int
empty_removed_dir(ino_watcher *w, ino_node *n)
{
    int rc = 0;

    if (n->child == NULL && n->files.count == 0) {
        return 0;
    }
    for (ino_node *c = n->child; rc == 0 && c != NULL; c = c->next) {
        rc = ino_subtree_tell_gone(w, c, INO_RESCAN);
    }
    if (rc == 0) {
        rc = ino_node_tell_files_gone(w, n, INO_RESCAN);
    }
    ino_children_free(w, n);
    n->tree->nfiles -= n->files.count;
    ino_files_free(&n->files);
    return rc;
}

/* 1 when the directory at n/name now is node had, 0 when it is not (or
 * nothing is there), -1 when that cannot be said: n's path leads
 * elsewhere (a rename above it is still queued). */
static int
dir_there_is(ino_watcher *w, ino_node *n, const char *name, size_t len,
             const ino_node *had)
{
    char base[NAME_MAX + 1];
    int dfd = ino_open_node(w, n), fd, rc;

    if (dfd < 0) {
        return -1;
    }
    memcpy(base, name, len);
    base[len] = '\0';
    fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (fd < 0) {
        return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : -1;
    }
    rc = ino_fd_is_node(w, fd, had);
    close(fd);
    return rc < 0 ? -1 : rc;
}

/* A CREATE of n/name, where the stream still holds something else by
 * that name: a directory (its node), or an entry of another type.  The
 * kernel makes a name only where none is, so what the stream holds left
 * by records an overflow lost (a rename, a removal).  It is told gone
 * first, as a heal would tell it (INO_RESCAN), so that the CREATE lands
 * on a free name; where it went, the heal owed for the overflow tells.
 * The one exception: the directory there now is that very node (a scan
 * met it before its CREATE was read): the record is dropped.  Returns 1
 * to drop the record, 0, or -ENOMEM. */
static int
created_over(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_trees *ts = w->trees;
    ino_tree *t = n->tree;
    ino_node *had;
    const ino_file *f;
    ino_move *m;
    int there, held_dir;

    if (t->follow || ev->name_len > NAME_MAX ||
        ino_nmap_get(&ts->scanned, (uintptr_t)n->wd, ev->name, ev->name_len) !=
            NULL) {
        return 0; /* (a scan told it: dropped below) */
    }
    had = ino_cmap_get(&ts->children, (uintptr_t)n, ev->name, ev->name_len);
    if (had != NULL) {
        if (had->gone_told ||
            (ts->nmoves > 0 && ino_moves_left_tree(ts, had))) {
            return 0;
        }
        there = (ev->mask & IN_ISDIR)
                    ? dir_there_is(w, n, ev->name, ev->name_len, had)
                    : 0;
        if (there != 0) {
            return there > 0; /* told already, or cannot be said */
        }
        if (ino_subtree_tell_gone(w, had, INO_RESCAN) < 0) {
            return -ENOMEM;
        }
        ino_subtree_free(w, had, 1);
        return 0;
    }
    if (!t->index_files ||
        (f = ino_files_get(&n->files, ev->name, ev->name_len)) == NULL) {
        return 0;
    }
    held_dir = f->type == INO_FT_DIR;
    if (held_dir == ((ev->mask & IN_ISDIR) != 0)) {
        return 0; /* (the same type: index_record() drops the record) */
    }
    /* A file held where a directory is made, or a directory without a
     * node (one that could not be watched) where a file is: it went
     * untold. */
    if (t->mask & IN_DELETE) {
        char rel[INO_PATH_CAP];
        long rl = ino_node_path(n, ev->name, ev->name_len, rel);
        uint32_t mask = IN_DELETE | INO_RESCAN | (held_dir ? IN_ISDIR : 0);
        if (rl >= 0 && ino_queue_push(&w->queue, t->root->wd, mask, 0, rel,
                                      (size_t)rl, NULL, 0) < 0) {
            return -ENOMEM;
        }
    }
    ino_node_file_del(n, ev->name, ev->name_len);
    while (held_dir && ts->nmoves > 0 &&
           (m = ino_moves_find(ts, MOVE_RETRY, n, ev->name, ev->name_len)) !=
               NULL) {
        m->kind = MOVE_DEAD; /* it waited to be watched there */
    }
    return 0;
}

/* What a CREATE, DELETE, MODIFY, ATTRIB or CLOSE_WRITE record of n/name
 * tells the index of a tree that keeps one.  Returns 1 when the record is
 * to be dropped, since it contradicts what the stream told (a CREATE of a
 * file the stream holds: a scan reported it; a DELETE of one it never
 * told), 0, or -ENOMEM. */
static int
index_record(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_trees *ts = w->trees;
    uint32_t m = ev->mask;
    ino_file *f;

    if (m & IN_ISDIR) {
        ino_node *child = (m & IN_DELETE)
                              ? ino_cmap_get(&ts->children, (uintptr_t)n,
                                             ev->name, ev->name_len)
                              : NULL;
        if (child != NULL && !child->gone_told &&
            empty_removed_dir(w, child) < 0) {
            return -ENOMEM;
        }
        if (child != NULL) {
            child->gone_told = 1;
        }
        /* A directory told without a node goes from the index. */
        if ((m & IN_DELETE) && ino_node_file_del(n, ev->name, ev->name_len)) {
            return 0;
        }
        /* Every directory the stream told is a node or an entry: one that
         * is neither was never told (an overflow lost its CREATE) or was
         * told gone (by a heal): its DELETE tells nothing. */
        return (m & IN_DELETE) && child == NULL &&
               ino_moves_find(ts, MOVE_RETRY, n, ev->name, ev->name_len) ==
                   NULL;
    }
    if (m & IN_CREATE) {
        if (ino_files_get(&n->files, ev->name, ev->name_len) != NULL) {
            ino_nmap_del(&ts->scanned, (uintptr_t)n->wd, ev->name,
                         ev->name_len, 1);
            return 1;
        }
        return index_appeared(n, ev->name, ev->name_len);
    }
    if (m & IN_DELETE) {
        /* With follow_symlinks a link's target may be a node by its
         * name: its DELETE stands. */
        return !ino_node_file_del(n, ev->name, ev->name_len) &&
               ino_cmap_get(&ts->children, (uintptr_t)n, ev->name,
                            ev->name_len) == NULL;
    }
    if ((m & (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)) &&
        (f = ino_files_get(&n->files, ev->name, ev->name_len)) != NULL) {
        f->flags |= INO_FF_STALE;
    }
    return 0;
}

static int
rewrite_moved_from(ino_watcher *w, ino_node *n, const ino_event *ev,
                   const char *rel, size_t rel_len)
{
    ino_trees *ts = w->trees;
    ino_node *child = NULL;

    if (!(ev->mask & IN_ISDIR) && n->tree->follow) {
        /* A followed link moving: its target's node moves with it. */
        child =
            ino_cmap_get(&ts->children, (uintptr_t)n, ev->name, ev->name_len);
    }
    if (!(ev->mask & IN_ISDIR) && n->tree->index_files && child == NULL &&
        ino_files_get(&n->files, ev->name, ev->name_len) == NULL) {
        /* A file the stream never told (it went before a scan could list
         * it, or an overflow lost its CREATE): nothing to take away.  Its
         * MOVED_TO, if it comes, is a move in. */
        return ino_moves_add(ts, MOVE_UNTOLD, ev->cookie, n->tree, NULL, NULL,
                             "", 0, NULL, 0) == NULL
                   ? -ENOMEM
                   : 0;
    }
    if (ev->mask & IN_ISDIR) {
        if (move_was_told(w, n, ev)) {
            return 0;
        }
        child =
            ino_cmap_get(&ts->children, (uintptr_t)n, ev->name, ev->name_len);
        /* No directory of the stream's is there (a scan reported it
         * elsewhere, where a later rename had put it), unless it waits to
         * be watched: drop the record. */
        if (child == NULL &&
            ino_moves_find(ts, MOVE_RETRY, n, ev->name, ev->name_len) ==
                NULL &&
            ino_files_get(&n->files, ev->name, ev->name_len) == NULL) {
            return ino_moves_add(ts, MOVE_UNTOLD, ev->cookie, n->tree, NULL,
                                 NULL, "", 0, NULL, 0) == NULL
                       ? -ENOMEM
                       : 0;
        }
    }
    return move_hold(w, n, child, ev, rel, rel_len);
}

/* A record that takes the name n/name away: a directory waiting to be
 * watched there (MOVE_RETRY) is no longer there.  (A move takes it along:
 * its MOVED_TO watches it where it went.) */
static void
drop_retry(ino_trees *ts, const ino_node *n, const ino_event *ev)
{
    ino_move *m;

    if (ts->nmoves == 0 || !(ev->mask & IN_ISDIR)) {
        return;
    }
    while ((m = ino_moves_find(ts, MOVE_RETRY, n, ev->name, ev->name_len)) !=
           NULL) {
        m->kind = MOVE_DEAD;
    }
}

static int
rewrite_named(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_trees *ts = w->trees;
    ino_tree *t = n->tree;
    char rel[INO_PATH_CAP];
    long rl = ino_node_path(n, ev->name, ev->name_len, rel);
    uint32_t m = ev->mask;
    int rc;

    if (rl < 0) {
        return 0;
    }
    if (m & (IN_DELETE | IN_MOVED_FROM)) {
        ino_nmap_del(&ts->scanned, (uintptr_t)n->wd, ev->name, ev->name_len,
                     1);
    }
    if (ts->nmoves > 0 && ino_moves_relist(ts, n) != NULL &&
        (rc = track_told(w, n, ev)) != 0) {
        return rc < 0 ? rc : 0;
    }
    if ((m & IN_CREATE) && (rc = created_over(w, n, ev)) != 0) {
        return rc < 0 ? rc : 0;
    }
    if (t->index_files && (rc = index_record(w, n, ev)) != 0) {
        return rc < 0 ? rc : 0;
    }
    if ((m & IN_DELETE) && !(m & IN_ISDIR) && t->follow) {
        unwatch_followed(w, n, ev);
    }
    if (m & IN_MOVED_FROM) {
        rc = rewrite_moved_from(w, n, ev, rel, (size_t)rl);
        drop_retry(ts, n, ev);
        return rc;
    }
    if (m & IN_DELETE) {
        drop_retry(ts, n, ev);
    }
    if (m & IN_MOVED_TO) {
        return rewrite_moved_to(w, n, ev, rel, (size_t)rl);
    }
    if ((m & IN_CREATE) && ino_nmap_del(&ts->scanned, (uintptr_t)n->wd,
                                        ev->name, ev->name_len, 1) != NULL) {
        return 0; /* the scan of a new directory reported it */
    }
    if ((m & t->mask) &&
        ino_tree_push(w, t, m, ev->cookie, rel, (size_t)rl, NULL, 0) < 0) {
        return -ENOMEM;
    }
    if ((m & IN_CREATE) && (m & IN_ISDIR)) {
        rc = watch_named_dir(w, n, ev);
        if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR) {
            return ino_tree_push_error(w, t, -rc, rel, (size_t)rl);
        }
    }
    return 0;
}

/* The root itself was renamed.  inotify does not say where to, and a
 * descriptor held to find it would keep the kernel from telling when it
 * is removed: the tree ends, as if ino_rm_watch() had been called on its
 * root, and its IN_IGNORED (after this IN_MOVE_SELF) says so. */
static void
end_moved_root(ino_watcher *w, ino_node *root)
{
    ino_entry *e = ino_table_find(&w->table, root->wd);

    if (e == NULL || e->removed) {
        return;
    }
    e->removed = 1;
    root->tree->ended = 1;
    ino_children_free(w, root);
    ino_kwatch_rm(w, root->wd);
    (void)ino_kwatch_ignored(w, root->wd);
}

/* One kernel record of a tree's directory. */
static int
rewrite_one(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_tree *t = n->tree;
    int is_root = n->parent == NULL;

    if (w->trees->nmoves > 0) {
        int rc = flush_held(w, (ev->mask & IN_MOVED_TO) ? ev->cookie : 0);
        if (rc < 0) {
            return rc;
        }
        if (!(ev->mask & (IN_IGNORED | IN_MOVE_SELF)) &&
            ino_moves_left_tree(w->trees, n)) {
            return 0;
        }
    }
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
    if ((ev->mask & IN_MOVE_SELF) && !is_root) {
        return move_self(w, n);
    }
    if (ev->name_len == 0) {
        /* A directory's own events are its parent's named ones, but for
         * the root, which has no parent in the tree. */
        if (!is_root) {
            return 0;
        }
        if ((ev->mask & (t->mask | IN_UNMOUNT)) &&
            ino_tree_push(w, t, ev->mask, ev->cookie, "", 0, NULL, 0) < 0) {
            return -ENOMEM;
        }
        if (ev->mask & IN_MOVE_SELF) {
            end_moved_root(w, n);
        }
        return 0;
    }
    if (ino_excluded(t, ev->name)) {
        return 0;
    }
    return rewrite_named(w, n, ev);
}

/* ---- the records of one read ------------------------------------------ */

/* How far past a MOVED_FROM its MOVED_TO is looked for (records). */
#define PAIR_LOOKAHEAD 64
/* How many MOVED_TOs taken early one read may wait to be skipped. */
#define PAIR_TAKEN_MAX 16

/* The records of one read, walked in order, but for MOVED_TOs taken out
 * of order to follow their MOVED_FROM (take_pair()). */
typedef struct {
    const char *buf;
    size_t len;
    size_t off;
    size_t taken[PAIR_TAKEN_MAX]; /* offsets of records already rewritten */
    size_t ntaken;
    int fan; /* a fanotify watcher's: key records may come */
    const char *key; /* the key of the record records_next() gave */
    size_t key_len; /* its length, 0 when it has none */
} records;

/* The key a key record (INO_PRIV_KEY) holds, whose name field ends at
 * end: its length, with *key its bytes; 0 when it holds none. */
static size_t
key_record(const ino_event *ev, const char *end, const char **key)
{
    if (ev->cookie == 0 || ev->cookie > (size_t)(end - ev->name)) {
        return 0;
    }
    *key = ev->name;
    return ev->cookie;
}

/* The next record not taken already: 1, 0 at the end, or < 0.  A key
 * record is not one: it goes with the record after it (r->key). */
static int
records_next(records *r, ino_event *ev)
{
    r->key_len = 0;
    for (;;) {
        size_t at = r->off;
        size_t i;
        int rc = ino_decode(r->buf, r->len, &r->off, ev);
        if (rc <= 0) {
            return rc;
        }
        if (r->fan && (ev->mask & INO_PRIV_KEY)) {
            r->key_len = key_record(ev, r->buf + r->off, &r->key);
            continue;
        }
        for (i = 0; i < r->ntaken && r->taken[i] != at; i++) {
        }
        if (i == r->ntaken) {
            return 1;
        }
        r->taken[i] = r->taken[--r->ntaken];
        r->key_len = 0; /* it went with the record taken */
    }
}

/* A rename queues its MOVED_FROM and its MOVED_TO one after the other,
 * with both directories locked; another process's records (of other
 * directories) can still fall between the two.  The move then happened
 * before those records were queued, so reporting its MOVED_TO right after
 * its MOVED_FROM tells the same story in an order that could have been,
 * and keeps the pair a move, not a move out and an unrelated arrival.
 * For the MOVED_FROM `from` of a tree: finds its MOVED_TO among the next
 * records of this read, marks it taken and returns 1 with it in *to. */
static int
take_pair(ino_watcher *w, records *r, const ino_event *from, ino_event *to,
          const char **key, size_t *key_len)
{
    size_t off = r->off;
    size_t at;
    int seen;

    *key_len = 0;
    if (r->ntaken == PAIR_TAKEN_MAX || from->cookie == 0) {
        return 0;
    }
    for (seen = 0; seen < PAIR_LOOKAHEAD; seen++) {
        const ino_entry *e;
        size_t i;
        at = off;
        if (ino_decode(r->buf, r->len, &off, to) <= 0 || to->wd == -1) {
            return 0; /* the end, or an overflow: nothing after it */
        }
        if (r->fan && (to->mask & INO_PRIV_KEY)) {
            *key_len = key_record(to, r->buf + off, key);
            seen--; /* (not a record of its own) */
            continue;
        }
        for (i = 0; i < r->ntaken && r->taken[i] != at; i++) {
        }
        if (i < r->ntaken || !(to->mask & IN_MOVED_TO) ||
            to->cookie != from->cookie) {
            *key_len = 0;
            continue;
        }
        if (seen == 0) {
            return 0; /* next already: the usual order */
        }
        e = ino_table_find(&w->table, to->wd);
        if (e == NULL || e->node == NULL) {
            return 0;
        }
        r->taken[r->ntaken++] = at;
        return 1;
    }
    return 0;
}

/* One record of a read, kernel bits cleared. */
static int
rewrite_record(ino_watcher *w, ino_event *ev)
{
    ino_entry *e;

    ev->mask &= ~INO_PRIV_BITS; /* the kernel's, never ours */
    if (ev->wd == -1) {
        return rewrite_overflow(w, ev->mask);
    }
    e = ino_table_find(&w->table, ev->wd);
    if (e == NULL) {
        return 0; /* unknown or stale wd */
    }
    if (e->node == NULL) {
        return ino_queue_push(&w->queue, ev->wd, ev->mask, ev->cookie,
                              ev->name, ev->name_len, NULL, 0);
    }
    if (e->node->tree->ended && !(ev->mask & IN_IGNORED)) {
        return 0; /* its root moved: only its IGNORED */
    }
    return rewrite_one(w, e->node, ev);
}

/* rewrite_record() of a record that came with a key (fanotify): the
 * directory it makes or brings in is watched only if it is that one. */
static int
rewrite_keyed(ino_watcher *w, ino_event *ev, const char *key, size_t len)
{
    int rc;

    if (len == 0 || !(ev->mask & IN_ISDIR) ||
        !(ev->mask & (IN_CREATE | IN_MOVED_TO))) {
        return rewrite_record(w, ev);
    }
    ino_fan_expect(w, key, len);
    rc = rewrite_record(w, ev);
    ino_fan_expect(w, NULL, 0);
    return rc;
}

int
ino_tree_rewrite(ino_watcher *w, const char *buf, size_t len)
{
    records r = {buf, len, 0, {0}, 0, w->fan != NULL, NULL, 0};
    const char *ahead = w->trees->ahead;
    size_t ahead_len = w->trees->ahead_len;
    const char *to_key = NULL;
    size_t to_key_len = 0;
    ino_event ev, to;
    int rc = 0;

    while (rc >= 0 && records_next(&r, &ev) > 0) {
        int paired = 0;
        if ((ev.mask & IN_MOVED_FROM) && ev.wd != -1) {
            const ino_entry *e = ino_table_find(&w->table, ev.wd);
            paired = e != NULL && e->node != NULL &&
                     take_pair(w, &r, &ev, &to, &to_key, &to_key_len);
        }
        w->trees->ahead = buf + r.off;
        w->trees->ahead_len = len - r.off;
        rc = rewrite_keyed(w, &ev, r.key, r.key_len);
        if (rc >= 0 && paired) {
            rc = rewrite_keyed(w, &to, to_key, to_key_len);
        }
    }
    /* (A rewrite may run inside another's scan: that one gets its view
     * back.) */
    w->trees->ahead = ahead;
    w->trees->ahead_len = ahead_len;
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
