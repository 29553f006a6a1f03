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
#include <stdlib.h>
#include <string.h>

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
            n = ino_nmap_get(&w->trees->children, (uintptr_t)n, rel + at,
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
