/*
 * ino_node.c: the nodes of the trees.  inotify watches one directory per
 * wd; a tree keeps one node per watched directory, linked to its parent
 * and found by (parent, name) in the trees' children map, so a rename is
 * O(1) (the node moves, no descendant's path is rewritten) and a path is
 * built by walking up.  Freeing a node unhooks it everywhere: the map,
 * the watch table, the kernel and the pending moves.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "ino_trees.h"

ino_node *
ino_node_new(ino_tree *t, const char *name, size_t len, int32_t wd)
{
    /* The name follows the last field, in the struct's tail padding. */
    size_t size = offsetof(ino_node, inline_name) + len + 1;
    ino_node *n = malloc(size < sizeof *n ? sizeof *n : size);

    if (n == NULL) {
        return NULL;
    }
    memset(n, 0, offsetof(ino_node, inline_name));
    n->tree = t;
    n->wd = wd;
    n->name = n->inline_name;
    n->name_len = n->name_cap = (uint16_t)len;
    memcpy(n->inline_name, name, len);
    n->inline_name[len] = '\0';
    return n;
}

int
ino_node_is_ancestor(const ino_node *a, const ino_node *b)
{
    for (; b != NULL; b = b->parent) {
        if (a == b) {
            return 1;
        }
    }
    return 0;
}

void
ino_node_link(ino_watcher *w, ino_node *n, ino_node *parent)
{
    ino_node *old;

    /* In the map first, by one lookup: n takes (parent, name), and the
     * node there before, if any, is no longer found there, so freeing it
     * below leaves n in place.  (Cannot fail for want of memory: callers
     * reserve with ino_node_reserve().) */
    n->parent = parent;
    old = ino_cmap_put(&w->trees->children, n);
    /* Two directories cannot both be at parent/name: the one there before
     * was renamed over or removed, or left by a rename whose records are
     * still to come; n is the one there now.  Unwatch the other, unless n
     * lies below it (what a scan meets there is then sorted out by the
     * records to come). */
    if (old != NULL && old != n && !ino_node_is_ancestor(old, n) &&
        !ino_node_is_ancestor(old, parent)) {
        /* A heal tells what goes; records tell it otherwise.  Out of
         * memory, the heal's SYNCED is not to be trusted: it owes the
         * consumer an overflow (ino_heal.c). */
        if (w->trees->healing &&
            ino_subtree_tell_gone(w, old, INO_RESCAN) < 0) {
            w->trees->healing = -1;
        }
        ino_subtree_free(w, old, 1);
    }
    /* A directory the stream told there but could not watch has a node
     * now. */
    if (parent->files.count > 0) {
        const ino_file *f =
            ino_files_get(&parent->files, n->name, n->name_len);
        if (f != NULL && f->type == INO_FT_DIR) {
            ino_node_file_del(parent, n->name, n->name_len);
        }
    }
    n->prev = NULL;
    n->next = parent->child;
    if (parent->child != NULL) {
        parent->child->prev = n;
    }
    parent->child = n;
}

static void
node_unlink(ino_watcher *w, ino_node *n)
{
    ino_node *p = n->parent;

    if (p == NULL) {
        return;
    }
    /* Another node may have taken the name since (a directory renamed
     * over this one, or made again while this one was still open): only
     * n itself is taken out. */
    ino_cmap_del(&w->trees->children, n);
    if (n->prev != NULL) {
        n->prev->next = n->next;
    }
    else {
        p->child = n->next;
    }
    if (n->next != NULL) {
        n->next->prev = n->prev;
    }
    n->parent = n->next = n->prev = NULL;
}

int
ino_node_reserve(ino_watcher *w)
{
    return ino_cmap_reserve(&w->trees->children, 1);
}

int
ino_node_move(ino_watcher *w, ino_node *n, ino_node *parent, const char *name,
              size_t len)
{
    char *fresh = NULL;

    if (len > n->name_cap && (fresh = malloc(len + 1)) == NULL) {
        return -ENOMEM;
    }
    if (ino_node_reserve(w) < 0) {
        free(fresh);
        return -ENOMEM;
    }
    node_unlink(w, n);
    if (fresh != NULL) {
        if (n->name != n->inline_name) {
            free(n->name);
        }
        n->name = fresh;
        n->name_cap = (uint16_t)len;
    }
    memcpy(n->name, name, len);
    n->name[len] = '\0';
    n->name_len = (uint16_t)len;
    ino_node_link(w, n, parent);
    return 0;
}

/* Frees one node that has no children, after unhooking it everywhere. */
static void
node_free(ino_watcher *w, ino_node *n, int rm_kernel)
{
    /* Nothing pending may move, free or name it any more. */
    ino_moves_node_gone(w->trees, n);
    node_unlink(w, n);
    if (n->wd < 0) {
        ino_since_node_gone(n); /* loaded from a state file, not watched */
    }
    else {
        ino_table_remove(&w->table, n->wd, NULL);
        /* The kernel's IN_IGNORED for it will find no entry and be
         * skipped. */
        if (rm_kernel && w->fd >= 0) {
            ino_kwatch_rm(w, n->wd);
        }
    }
    n->tree->ndirs--;
    n->tree->nfiles -= n->files.count;
    ino_files_free(&n->files);
    if (n->name != n->inline_name) {
        free(n->name);
    }
    free(n);
}

void
ino_subtree_free(ino_watcher *w, ino_node *top, int rm_self)
{
    ino_node *cur = top;

    /* Deepest first, without recursion, however deep the tree. */
    for (;;) {
        ino_node *parent;
        while (cur->child != NULL) {
            cur = cur->child;
        }
        if (cur == top) {
            node_free(w, cur, rm_self);
            return;
        }
        parent = cur->parent;
        node_free(w, cur, 1);
        cur = parent;
    }
}

void
ino_children_free(ino_watcher *w, ino_node *n)
{
    while (n->child != NULL) {
        ino_subtree_free(w, n->child, 1);
    }
}

long
ino_node_path(const ino_node *n, const char *name, size_t name_len, char *buf)
{
    size_t len = name != NULL ? name_len : 0, pos;
    const ino_node *p;

    for (p = n; p->parent != NULL; p = p->parent) {
        len += p->name_len + 1;
    }
    if (name == NULL && len > 0) {
        len--; /* no "/" after the last directory */
    }
    if (len >= INO_PATH_CAP) {
        return -ENAMETOOLONG;
    }
    pos = len;
    buf[len] = '\0';
    if (name != NULL) {
        pos -= name_len;
        memcpy(buf + pos, name, name_len);
    }
    for (p = n; p->parent != NULL; p = p->parent) {
        if (pos < len) {
            buf[--pos] = '/';
        }
        pos -= p->name_len;
        memcpy(buf + pos, p->name, p->name_len);
    }
    return (long)len;
}

long
ino_full_path(const ino_tree *t, const char *rel, size_t rel_len, char *buf)
{
    size_t n = t->root_len;
    int slash = rel_len > 0 && n > 0 && t->root_path[n - 1] != '/';

    if (n + slash + rel_len >= INO_PATH_CAP) {
        return -ENAMETOOLONG;
    }
    memcpy(buf, t->root_path, n);
    if (slash) {
        buf[n++] = '/';
    }
    memcpy(buf + n, rel, rel_len);
    buf[n + rel_len] = '\0';
    return (long)(n + rel_len);
}

int
ino_node_told_dir(ino_watcher *w, ino_node *n, const char *name, size_t len)
{
    ino_fattr a = {0, -1, -1, INO_FT_DIR, 1};

    if (!n->tree->index_files ||
        ino_cmap_get(&w->trees->children, (uintptr_t)n, name, len) != NULL) {
        return 0;
    }
    return ino_node_file_put(n, name, len, &a) < 0 ? -ENOMEM : 0;
}

int
ino_node_file_put(ino_node *n, const char *name, size_t len,
                  const ino_fattr *a)
{
    int rc = ino_files_put(&n->files, name, len, a);

    if (rc == 1) {
        n->tree->nfiles++;
    }
    return rc;
}

int
ino_node_file_del(ino_node *n, const char *name, size_t len)
{
    int rc = ino_files_del(&n->files, name, len);

    n->tree->nfiles -= (size_t)rc;
    return rc;
}

ino_file *
ino_node_file_take(ino_node *n, const char *name, size_t len)
{
    ino_file *f = ino_files_take(&n->files, name, len);

    if (f != NULL) {
        n->tree->nfiles--;
    }
    return f;
}

int
ino_node_file_insert(ino_node *n, ino_file *f)
{
    int rc = ino_files_insert(&n->files, f);

    if (rc == 1) {
        n->tree->nfiles++;
    }
    return rc;
}

int
ino_node_file_move(ino_node *from, const char *name, size_t len, ino_node *to,
                   const char *to_name, size_t to_len)
{
    ino_file *f = ino_node_file_take(from, name, len), *g;
    int rc;

    if (f == NULL) {
        return 0;
    }
    g = ino_files_rename(f, to_name, to_len);
    if (g == NULL) {
        free(f);
        return -ENOMEM;
    }
    if ((rc = ino_node_file_insert(to, g)) < 0) {
        free(g);
        return rc;
    }
    return 1;
}

int
ino_node_tell_files_gone(ino_watcher *w, ino_node *n, uint32_t flags)
{
    const ino_tree *t = n->tree;
    char rel[INO_PATH_CAP];
    size_t pos = 0;
    ino_file *f;
    long rl;

    if (!(t->mask & IN_DELETE)) {
        return 0;
    }
    while ((f = ino_files_next(&n->files, &pos)) != NULL) {
        uint32_t mask = IN_DELETE | flags |
                        (f->type == INO_FT_DIR ? (uint32_t)IN_ISDIR : 0);
        rl = ino_node_path(n, f->name, f->name_len, rel);
        if (rl >= 0 && ino_queue_push(&w->queue, t->root->wd, mask, 0, rel,
                                      (size_t)rl, NULL, 0) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

int
ino_subtree_tell_gone(ino_watcher *w, ino_node *top, uint32_t flags)
{
    const ino_tree *t = top->tree;
    char rel[INO_PATH_CAP];
    ino_node *cur = top;
    long rl;

    /* Deepest first, as the kernel tells a tree removed: each directory
     * after what it held.  Post-order without recursion: down to the
     * first leaf, then each node once its children are done. */
    while (cur->child != NULL) {
        cur = cur->child;
    }
    for (;;) {
        /* (One whose DELETE was read is told already, and so is what it
         * held.) */
        if (!cur->gone_told && ino_node_tell_files_gone(w, cur, flags) < 0) {
            return -ENOMEM;
        }
        rl = ino_node_path(cur, NULL, 0, rel);
        if ((t->mask & IN_DELETE) && rl >= 0 && !cur->gone_told &&
            ino_queue_push(&w->queue, t->root->wd,
                           IN_DELETE | IN_ISDIR | flags, 0, rel, (size_t)rl,
                           NULL, 0) < 0) {
            return -ENOMEM;
        }
        if (cur == top) {
            return 0;
        }
        if (cur->next != NULL) {
            cur = cur->next;
            while (cur->child != NULL) {
                cur = cur->child;
            }
        }
        else {
            cur = cur->parent;
        }
    }
}
