/*
 * ino_poll.c: polling the parts of a tree that inotify cannot see.  On a
 * network or FUSE file system (NFS, SMB, 9p, sshfs, bindfs...) inotify
 * hears what this kernel does through the mount, but nothing of what the
 * server, another client or the directory behind the mount does.  Such a
 * directory of a tree is marked polled (ino_tree_poll_at()); a poll
 * (ino_tree_poll()) compares it and all below it with the tree's index,
 * as a heal does after an overflow (ino_heal.c, which runs it), and
 * queues the difference as ordinary events with INO_RESCAN.  The kernel's
 * watches stay: they still tell at once what this kernel does there, they
 * are how the tree knows its directories (a watch follows its inode), and
 * the index they keep up to date is what a poll compares with, so that a
 * change they told is not reported again.
 *
 * The core has no clock: the caller decides when to poll.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "ino_trees.h"

/* The tree whose root has watch wd, or NULL. */
static ino_tree *
tree_of_root(ino_watcher *w, int32_t wd)
{
    const ino_entry *e = ino_table_find(&w->table, wd);

    if (e == NULL || e->node == NULL || e->node->parent != NULL ||
        e->removed || e->node->tree->ended) {
        return NULL;
    }
    return e->node->tree;
}

/* The directory of the tree at rel (components split by '/', "" for the
 * root), or NULL. */
static ino_node *
node_at(ino_watcher *w, ino_tree *t, const char *rel, size_t len)
{
    ino_node *n = t->root;
    size_t at = 0;

    while (n != NULL && at < len) {
        const char *slash = memchr(rel + at, '/', len - at);
        size_t end = slash != NULL ? (size_t)(slash - rel) : len;
        if (end > at) {
            n = ino_cmap_get(&w->trees->children, (uintptr_t)n, rel + at,
                             end - at);
        }
        at = end + 1;
    }
    return n;
}

int
ino_tree_poll_at(ino_watcher *w, int32_t wd, const char *rel, size_t len)
{
    ino_tree *t = tree_of_root(w, wd);
    ino_node *n;
    int32_t *grown;
    size_t i, kept = 0;

    if (t == NULL) {
        return -ENOENT;
    }
    if (!t->index_files) {
        return -EINVAL; /* a poll compares with the index of files */
    }
    if ((n = node_at(w, t, rel, len)) == NULL) {
        return -ENOENT;
    }
    /* One directory polled with all below it: a polled one that holds n
     * covers it, and n covers the polled ones it holds. */
    for (i = 0; i < t->npoll; i++) {
        const ino_entry *e = ino_table_find(&w->table, t->poll_wds[i]);
        if (e == NULL || e->node == NULL || e->node->tree != t) {
            continue;
        }
        if (ino_node_is_ancestor(e->node, n)) {
            return 0;
        }
        if (!ino_node_is_ancestor(n, e->node)) {
            t->poll_wds[kept++] = t->poll_wds[i];
        }
    }
    t->npoll = kept;
    grown = realloc(t->poll_wds, (t->npoll + 1) * sizeof *grown);
    if (grown == NULL) {
        return -ENOMEM;
    }
    t->poll_wds = grown;
    t->poll_wds[t->npoll++] = n->wd;
    return 1;
}

int
ino_tree_poll(ino_watcher *w, int32_t wd)
{
    ino_tree *t;
    int owed = 0;

    if (w->fd < 0) {
        return -EBADF;
    }
    if (wd != 0) {
        if ((t = tree_of_root(w, wd)) == NULL) {
            return -ENOENT;
        }
        t->poll_owed = t->npoll > 0;
        return t->poll_owed;
    }
    for (t = w->trees != NULL ? w->trees->list : NULL; t != NULL;
         t = t->next) {
        if (t->npoll > 0 && !t->ended) {
            t->poll_owed = 1;
            owed++;
        }
    }
    return owed;
}

size_t
ino_tree_polled(const ino_watcher *w, int32_t wd)
{
    const ino_entry *e = ino_table_find(&w->table, wd);

    if (e == NULL || e->node == NULL || e->node->parent != NULL) {
        return 0;
    }
    return e->node->tree->npoll;
}

/* ---- directories a poll knows by their inode number -------------------- */

/* A FUSE daemon of libfuse's high-level API (bindfs, sshfs...) numbers the
 * kernel's inodes by path: a directory renamed behind the mount is, at its
 * new path, a new inode to the kernel, and a new watch, though stat() and
 * the listing give the inode number of the directory behind it.  By its
 * watch alone a poll would report it deleted with all it holds and made
 * again; by that number, kept on each node, it reports the move. */

/* Gives node the watch wd, which the kernel's inode of its directory now
 * has; its old watch is removed.  Returns 0 or -ENOMEM. */
static int
rekey(ino_watcher *w, ino_node *node, int32_t wd)
{
    const ino_entry *old = ino_table_find(&w->table, node->wd);
    uint32_t mask = old != NULL ? old->mask : node->tree->watch_mask;
    ino_entry *e;
    int rc;

    ino_table_remove(&w->table, node->wd, NULL);
    ino_kwatch_rm(w, node->wd); /* its IN_IGNORED finds no entry */
    node->wd = wd;
    rc = ino_table_insert(&w->table, wd, &e);
    if (rc < 0) {
        return rc;
    }
    e->mask = mask;
    e->node = node;
    return 0;
}

ino_node *
ino_poll_same_dir(ino_watcher *w, ino_node *n, int dirfd, const char *name,
                  size_t len, uint64_t d_ino)
{
    ino_node *here =
        ino_cmap_get(&w->trees->children, (uintptr_t)n, name, len);
    char path[64 + NAME_MAX];
    int wd;

    if (here == NULL || d_ino == 0 || here->ino != d_ino || len > NAME_MAX) {
        return NULL;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d/%.*s", dirfd, (int)len,
             name);
    wd = ino_kwatch_add(w, path, n->tree->watch_mask);
    if (wd < 0 || wd == here->wd) {
        return wd < 0 ? NULL : here;
    }
    if (ino_table_find(&w->table, wd) != NULL) {
        /* Another watch of this watcher's: left to ino_watch_dir(). */
        return NULL;
    }
    return rekey(w, here, wd) < 0 ? NULL : here;
}

/* The node below top, not met yet by this poll, with inode number ino
 * and that could move under n; NULL if none. */
static ino_node *
node_of_ino(ino_node *top, const ino_node *n, const ino_node *fresh,
            uint64_t ino)
{
    ino_node *cur = top;

    for (;;) {
        if (cur->ino == ino && !cur->seen && cur != fresh && cur != top &&
            !ino_node_is_ancestor(cur, n)) {
            return cur;
        }
        if (cur->child != NULL) {
            cur = cur->child;
            continue;
        }
        while (cur != top && cur->next == NULL) {
            cur = cur->parent;
        }
        if (cur == top) {
            return NULL;
        }
        cur = cur->next;
    }
}

/* 1 when node's directory is still at its path (the same inode). */
static int
still_there(const ino_node *node, uint64_t ino)
{
    char rel[INO_PATH_CAP], path[INO_PATH_CAP];
    long rl = ino_node_path(node, NULL, 0, rel);
    struct stat st;

    if (rl < 0 || ino_full_path(node->tree, rel, (size_t)rl, path) < 0) {
        return 1; /* cannot tell: not moved */
    }
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
           (uint64_t)st.st_ino == ino;
}

ino_node *
ino_poll_moved_dir(ino_watcher *w, ino_node *top, ino_node *n, ino_node *fresh,
                   const char *name, size_t len, uint64_t d_ino, int *err)
{
    ino_trees *ts = w->trees;
    ino_node *old;
    char rel[INO_PATH_CAP];
    long rl;
    int32_t wd;

    *err = 0;
    if (d_ino == 0 || fresh == NULL ||
        (old = node_of_ino(top, n, fresh, d_ino)) == NULL ||
        still_there(old, d_ino) ||
        (rl = ino_node_path(old, NULL, 0, rel)) < 0) {
        return NULL;
    }
    /* Where the stream last told it was, for ino_report_moved(). */
    if (ino_moves_add(ts, MOVE_TOLD, 0, old->tree, NULL, old->parent, rel,
                      (size_t)rl, old->name, old->name_len) == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    wd = fresh->wd;
    ino_subtree_free(w, fresh, 0); /* its watch is old's now */
    if ((*err = rekey(w, old, wd)) < 0 ||
        (*err = ino_node_move(w, old, n, name, len)) < 0) {
        ino_move_clear(&ts->moves[--ts->nmoves]);
        return NULL;
    }
    old->ino = d_ino;
    *err = ino_report_moved(w, n, name, len, INO_RESCAN);
    return *err < 0 ? NULL : old;
}
