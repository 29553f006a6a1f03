/*
 * ino_tree.c: recursive watching.  inotify watches one directory per wd;
 * a tree keeps one node per watched directory, linked to its parent, so a
 * rename is O(1) (the node moves, no descendant's path is rewritten) and a
 * path is built by walking up.
 *
 * While a watcher has trees, ino_read() reads into a scratch buffer and
 * hands the records here.  Each record of a tree's directory is rewritten
 * as a record of the tree's root (wd, udata) whose name is the path below
 * the root, in stream order: a path is the one that was true when the
 * event happened, as far as the events before it tell.  Directories that
 * appear are watched first and scanned second, so nothing created in them
 * goes unseen; a name both the scan and the kernel report is reported
 * once.  MOVED_FROM waits (by cookie) for its MOVED_TO; one that has none
 * once the kernel's queue is drained moved out of the tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino_internal.h"

struct ino_node {
    ino_node *parent;    /* the directory above, NULL for the root */
    ino_node *child;     /* the first directory below */
    ino_node *next;      /* the next sibling */
    ino_node *prev;      /* the previous sibling */
    ino_tree *tree;      /* the tree it belongs to */
    int32_t wd;          /* its watch */
    uint32_t name_len;   /* bytes in name */
    uint32_t name_cap;   /* bytes inline_name can hold */
    int seen;            /* met by the current repair scan */
    char *name;          /* inline_name, or a larger copy after a rename */
    char inline_name[];  /* the name as first seen, NUL-terminated */
};

struct ino_tree {
    ino_tree *next;      /* the watcher's next tree */
    ino_node *root;      /* the directory watch_tree() was given */
    uint32_t mask;       /* the events to report */
    uint32_t watch_mask; /* what inotify_add_watch() is asked for */
    int follow;          /* follow symbolic links to directories */
    size_t ndirs;        /* nodes in the tree */
    size_t nexclude;     /* entries in exclude */
    char **exclude;      /* fnmatch() patterns for names to leave out */
    size_t root_len;     /* bytes in root_path */
    char root_path[];    /* the path as given, NUL-terminated */
};

struct ino_move {
    uint32_t cookie;     /* the rename's cookie */
    ino_tree *tree;      /* where it moved from */
    ino_node *node;      /* the directory that moved, or NULL */
    char *src;           /* its path below the root, malloc'd */
    size_t src_len;      /* bytes in src */
};

enum scan_mode {
    SCAN_INITIAL,        /* watch_tree(): report nothing, fail on ENOSPC */
    SCAN_NEW,            /* a directory appeared: report what it holds */
    SCAN_REPAIR          /* after an overflow: mend the watch set */
};

/* ---- nodes ------------------------------------------------------------- */

static ino_node *
node_new(ino_tree *t, const char *name, size_t len, int32_t wd)
{
    ino_node *n = malloc(sizeof *n + len + 1);

    if (n == NULL) {
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->tree = t;
    n->wd = wd;
    n->name = n->inline_name;
    n->name_len = n->name_cap = (uint32_t)len;
    memcpy(n->inline_name, name, len);
    n->inline_name[len] = '\0';
    return n;
}

static void
node_link(ino_watcher *w, ino_node *n, ino_node *parent)
{
    n->parent = parent;
    n->prev = NULL;
    n->next = parent->child;
    if (parent->child != NULL) {
        parent->child->prev = n;
    }
    parent->child = n;
    /* Cannot fail for want of memory: callers reserve with node_reserve. */
    ino_nmap_put(&w->children, (uintptr_t)parent, n->name, n->name_len, n,
                 0);
}

static void
node_unlink(ino_watcher *w, ino_node *n)
{
    ino_node *p = n->parent;

    if (p == NULL) {
        return;
    }
    /* Another node may have taken the name since (a directory renamed
     * over this one, or made again while this one was still open). */
    if (ino_nmap_get(&w->children, (uintptr_t)p, n->name, n->name_len) == n) {
        ino_nmap_del(&w->children, (uintptr_t)p, n->name, n->name_len, 0);
    }
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

/* Makes sure the children map can take one more entry without failing. */
static int
node_reserve(ino_watcher *w)
{
    static const char probe[] = "";
    int rc;

    /* Adding and removing a key under owner 1 (never a node's address)
     * grows the map now if it would have to grow on the next insert. */
    rc = ino_nmap_put(&w->children, 1, probe, 0, NULL, 0);
    if (rc == 0) {
        ino_nmap_del(&w->children, 1, probe, 0, 0);
    }
    return rc;
}

/* Moves a node under another parent and name (a rename in the tree). */
static int
node_move(ino_watcher *w, ino_node *n, ino_node *parent, const char *name,
          size_t len)
{
    char *fresh = NULL;

    if (len > n->name_cap && (fresh = malloc(len + 1)) == NULL) {
        return -ENOMEM;
    }
    if (node_reserve(w) < 0) {
        free(fresh);
        return -ENOMEM;
    }
    node_unlink(w, n);
    if (fresh != NULL) {
        if (n->name != n->inline_name) {
            free(n->name);
        }
        n->name = fresh;
        n->name_cap = (uint32_t)len;
    }
    memcpy(n->name, name, len);
    n->name[len] = '\0';
    n->name_len = (uint32_t)len;
    node_link(w, n, parent);
    return 0;
}

/* Frees one node that has no children, after unhooking it everywhere. */
static void
node_free(ino_watcher *w, ino_node *n, int rm_kernel)
{
    size_t i;

    for (i = 0; i < w->nmoves; i++) {
        if (w->moves[i].node == n) {
            w->moves[i].node = NULL;
        }
    }
    node_unlink(w, n);
    ino_table_remove(&w->table, n->wd, NULL);
    /* The kernel's IN_IGNORED for it will find no entry and be skipped. */
    if (rm_kernel && w->fd >= 0) {
        inotify_rm_watch(w->fd, n->wd);
    }
    n->tree->ndirs--;
    if (n->name != n->inline_name) {
        free(n->name);
    }
    free(n);
}

/* Frees a node and everything below it, deepest first, without recursion.
 * The node's own watch is removed from the kernel only if rm_self. */
static void
subtree_free(ino_watcher *w, ino_node *top, int rm_self)
{
    ino_node *cur = top;

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

/* Frees everything below a node, keeping the node. */
static void
children_free(ino_watcher *w, ino_node *n)
{
    while (n->child != NULL) {
        subtree_free(w, n->child, 1);
    }
}

/* ---- paths ------------------------------------------------------------- */

/* Writes the node's path below the root (plus "/name" when name is not
 * NULL) into buf; returns its length, or -ENAMETOOLONG. */
static long
node_path(const ino_node *n, const char *name, size_t name_len, char *buf)
{
    size_t len = name != NULL ? name_len : 0, pos;
    const ino_node *p;

    for (p = n; p->parent != NULL; p = p->parent) {
        len += p->name_len + 1;
    }
    if (name == NULL && len > 0) {
        len--;                  /* no "/" after the last directory */
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

/* The absolute path (root path joined with the path below it). */
static long
full_path(const ino_tree *t, const char *rel, size_t rel_len, char *buf)
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

static int
excluded(const ino_tree *t, const char *name)
{
    size_t i;

    for (i = 0; i < t->nexclude; i++) {
        if (fnmatch(t->exclude[i], name, FNM_PERIOD) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- pushing records ---------------------------------------------------- */

static int
push(ino_watcher *w, const ino_tree *t, uint32_t mask, uint32_t cookie,
     const char *rel, size_t rel_len, const char *src, size_t src_len)
{
    return ino_queue_push(w, t->root->wd, mask | (src ? INO_PRIV_SRC : 0),
                          cookie, rel, rel_len, src, src_len);
}

static int
push_error(ino_watcher *w, const ino_tree *t, int err, const char *rel,
           size_t rel_len)
{
    return ino_queue_push(w, t->root->wd, INO_PRIV_ERROR, (uint32_t)err, rel,
                          rel_len, NULL, 0);
}

/* ---- watching and scanning --------------------------------------------- */

/* 1 when a is b or one of b's ancestors. */
static int
is_ancestor(const ino_node *a, const ino_node *b)
{
    for (; b != NULL; b = b->parent) {
        if (a == b) {
            return 1;
        }
    }
    return 0;
}

/* Watches parent/name.  Returns 1 with *out a new node, 0 with *out an
 * existing node of this tree for the same inode or NULL (the inode is
 * watched otherwise: left alone), or a negative errno.  With may_move, an
 * existing node met under another name is taken to have been renamed
 * unseen (after an overflow) and moved there; otherwise the same directory
 * reached twice (through a symbolic link) is simply not watched again. */
static int
watch_dir(ino_watcher *w, ino_tree *t, ino_node *parent, const char *name,
          size_t len, int may_move, ino_node **out)
{
    char rel[INO_PATH_CAP], path[INO_PATH_CAP];
    long rl = node_path(parent, name, len, rel), pl;
    ino_entry *e;
    ino_node *n;
    int wd, rc;

    *out = NULL;
    if (rl < 0 || (pl = full_path(t, rel, (size_t)rl, path)) < 0) {
        return -ENAMETOOLONG;
    }
    wd = inotify_add_watch(w->fd, path, t->watch_mask);
    if (wd < 0) {
        return -errno;
    }
    e = ino_table_find(&w->table, wd);
    if (e != NULL) {
        n = e->node;
        if (n == NULL || n->tree != t) {
            /* Another watch of this watcher: give it its mask back. */
            inotify_add_watch(w->fd, path, e->mask);
            return 0;
        }
        if (n->parent == NULL) {
            return 0;
        }
        if (n->parent == parent && n->name_len == len &&
            memcmp(n->name, name, len) == 0) {
            *out = n;
            return 0;
        }
        if (!may_move || is_ancestor(n, parent)) {
            return 0;
        }
        *out = n;
        return node_move(w, n, parent, name, len);
    }
    n = node_new(t, name, len, wd);
    if (n == NULL || node_reserve(w) < 0 ||
        (rc = ino_table_insert(&w->table, wd, &e)) < 0) {
        free(n);
        inotify_rm_watch(w->fd, wd);
        return -ENOMEM;
    }
    e->mask = t->watch_mask;
    e->node = n;
    node_link(w, n, parent);
    t->ndirs++;
    *out = n;
    return 1;
}

/* Is this directory entry a directory we should descend into? */
static int
entry_is_dir(const ino_tree *t, DIR *d, const struct dirent *de)
{
    struct stat st;

    if (de->d_type == DT_DIR) {
        return 1;
    }
    if (de->d_type == DT_LNK && !t->follow) {
        return 0;
    }
    if (de->d_type != DT_UNKNOWN && de->d_type != DT_LNK) {
        return 0;
    }
    if (fstatat(dirfd(d), de->d_name, &st,
                t->follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0) {
        return 0;
    }
    return S_ISDIR(st.st_mode);
}

/* A growable list of nodes still to scan. */
typedef struct {
    ino_node **items;    /* the nodes */
    size_t head;         /* the next to scan */
    size_t len;          /* nodes in items */
    size_t cap;          /* room in items */
} worklist;

static int
worklist_push(worklist *l, ino_node *n)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ino_node **items = realloc(l->items, cap * sizeof *items);
        if (items == NULL) {
            return -ENOMEM;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = n;
    return 0;
}

/* The directory is in the tree, where watch_dir() just found it: a
 * pending MOVED_FROM that named it (its MOVED_TO never to come, as the
 * place it went was not watched yet) did not take it out. */
static void
keep_in_tree(ino_watcher *w, const ino_node *child)
{
    size_t i;

    for (i = 0; i < w->nmoves; i++) {
        if (w->moves[i].node == child) {
            w->moves[i].node = NULL;
        }
    }
}

/* Handles one entry found by a scan of n.  Returns 0 or a negative errno
 * that ends the scan. */
static int
scan_entry(ino_watcher *w, ino_node *n, DIR *d, const struct dirent *de,
           enum scan_mode mode, worklist *todo)
{
    ino_tree *t = n->tree;
    size_t len = strlen(de->d_name);
    int is_dir = entry_is_dir(t, d, de), rc = 0;
    char rel[INO_PATH_CAP];
    ino_node *child;
    long rl;

    if (mode == SCAN_NEW && (t->mask & IN_CREATE)) {
        rl = node_path(n, de->d_name, len, rel);
        if (rl >= 0 &&
            (push(w, t, IN_CREATE | (is_dir ? IN_ISDIR : 0), 0, rel,
                  (size_t)rl, NULL, 0) < 0 ||
             ino_nmap_put(&w->scanned, (uintptr_t)n->wd, de->d_name, len,
                          n, 1) < 0)) {
            return -ENOMEM;
        }
    }
    if (!is_dir) {
        return 0;
    }
    /* A directory of the tree met under another name was renamed (or
     * moved here) by events not read yet: move its node here, where it is
     * now.  (Not while following links when not repairing: then it may be
     * the same directory reached twice.) */
    rc = watch_dir(w, t, n, de->d_name, len,
                   mode == SCAN_REPAIR || (mode == SCAN_NEW && !t->follow),
                   &child);
    if (rc == 0 && child != NULL) {
        keep_in_tree(w, child);
    }
    if (rc == 1 || (rc == 0 && child != NULL && mode == SCAN_REPAIR &&
                    !child->seen)) {
        child->seen = 1;
        return worklist_push(todo, child);
    }
    if (rc == -ENOSPC && mode == SCAN_INITIAL) {
        return rc;
    }
    if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR && mode != SCAN_REPAIR) {
        rl = node_path(n, de->d_name, len, rel);
        if (push_error(w, t, -rc, rel, rl < 0 ? 0 : (size_t)rl) < 0) {
            return -ENOMEM;
        }
    }
    return rc == -ENOMEM ? rc : 0;
}

/* Scans one directory. */
static int
scan_one(ino_watcher *w, ino_node *n, enum scan_mode mode, worklist *todo)
{
    char rel[INO_PATH_CAP], path[INO_PATH_CAP];
    long rl = node_path(n, NULL, 0, rel);
    struct dirent *de;
    DIR *d;
    int rc = 0;

    if (rl < 0 || full_path(n->tree, rel, (size_t)rl, path) < 0) {
        return 0;
    }
    d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT || errno == ENOTDIR || mode == SCAN_REPAIR) {
            return 0;
        }
        return push_error(w, n->tree, errno, rel, (size_t)rl);
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            excluded(n->tree, de->d_name)) {
            continue;
        }
        rc = scan_entry(w, n, d, de, mode, todo);
    }
    closedir(d);
    return rc;
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
backlog_append(ino_watcher *w, const char *rec, size_t len)
{
    if (w->backlog_len + len > w->backlog_cap) {
        size_t cap = w->backlog_cap ? w->backlog_cap * 2 : INO_SCRATCH_SIZE;
        char *grown;
        while (cap < w->backlog_len + len) {
            cap *= 2;
        }
        if ((grown = realloc(w->backlog, cap)) == NULL) {
            return -ENOMEM;
        }
        w->backlog = grown;
        w->backlog_cap = cap;
    }
    memcpy(w->backlog + w->backlog_len, rec, len);
    w->backlog_len += len;
    return 0;
}

/* Reads what the kernel queued while a scan runs, so that the scan's own
 * reads of directories cannot overflow the kernel's queue (and make a
 * repair scan, which would overflow it again).  Those reads are dropped,
 * as cooking would drop them; every other record is kept, in order, in the
 * backlog, which is cooked after the batch being cooked now. */
static void
absorb(ino_watcher *w)
{
    ssize_t n;
    size_t valid, off;
    ino_event ev;

    if (w->absorb_buf == NULL &&
        (w->absorb_buf = malloc(INO_SCRATCH_SIZE)) == NULL) {
        return;
    }
    for (;;) {
        n = read(w->fd, w->absorb_buf, INO_SCRATCH_SIZE);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        ino_validate(w->absorb_buf, (size_t)n, &valid);
        for (off = 0; off < valid;) {
            size_t start = off;
            ino_decode(w->absorb_buf, valid, &off, &ev);
            if (!is_tree_dir_read(w, &ev) &&
                backlog_append(w, w->absorb_buf + start, off - start) < 0) {
                return;
            }
        }
    }
}

int
ino_tree_cook_backlog(ino_watcher *w)
{
    int rc = 0;

    /* Cooking may scan, and a scan may absorb more: take the backlog out
     * before cooking it. */
    while (rc >= 0 && w->backlog_len > 0) {
        char *buf = w->backlog;
        size_t len = w->backlog_len;
        w->backlog = NULL;
        w->backlog_len = w->backlog_cap = 0;
        rc = ino_tree_cook(w, buf, len);
        free(buf);
    }
    return rc < 0 ? rc : 0;
}

/* Scans a watched directory and, breadth first, every new directory found
 * below it (each watched before it is scanned).  One directory stream is
 * open at a time, however deep the tree. */
static int
scan(ino_watcher *w, ino_node *start, enum scan_mode mode)
{
    worklist todo = {NULL, 0, 0, 0};
    int rc = worklist_push(&todo, start);

    while (rc == 0 && todo.head < todo.len) {
        rc = scan_one(w, todo.items[todo.head++], mode, &todo);
        if ((todo.head & 63) == 0) {
            absorb(w);
        }
    }
    absorb(w);
    free(todo.items);
    return rc;
}

/* ---- moves ------------------------------------------------------------- */

static int
move_remember(ino_watcher *w, uint32_t cookie, ino_tree *t, ino_node *node,
              const char *src, size_t len)
{
    ino_move *m;

    if (w->nmoves == w->moves_cap) {
        size_t cap = w->moves_cap ? w->moves_cap * 2 : 8;
        ino_move *moves = realloc(w->moves, cap * sizeof *moves);
        if (moves == NULL) {
            return -ENOMEM;
        }
        w->moves = moves;
        w->moves_cap = cap;
    }
    m = &w->moves[w->nmoves];
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
    w->nmoves++;
    return 0;
}

/* Takes the pending move with this cookie out of the list (into *out). */
static int
move_take(ino_watcher *w, uint32_t cookie, ino_move *out)
{
    size_t i;

    for (i = 0; i < w->nmoves; i++) {
        if (w->moves[i].cookie == cookie) {
            *out = w->moves[i];
            w->moves[i] = w->moves[--w->nmoves];
            return 1;
        }
    }
    return 0;
}

/* Called once the kernel's queue is drained: a MOVED_FROM still waiting
 * has no MOVED_TO in any tree, so its directory left: unwatch it.  Names
 * remembered from scans are forgotten: any kernel CREATE for them would
 * have been read by now. */
void
ino_tree_drained(ino_watcher *w)
{
    size_t i;

    for (i = 0; i < w->nmoves; i++) {
        ino_move *m = &w->moves[i];
        if (m->node != NULL) {
            ino_node *n = m->node;
            m->node = NULL;
            subtree_free(w, n, 1);
        }
        free(m->src);
    }
    w->nmoves = 0;
    if (w->scanned.count > 0) {
        ino_nmap_free(&w->scanned, 1);
    }
}

static void
moves_forget(ino_watcher *w)
{
    size_t i;

    for (i = 0; i < w->nmoves; i++) {
        free(w->moves[i].src);
    }
    w->nmoves = 0;
}

/* ---- cooking kernel records --------------------------------------------- */

/* Frees the directories of a tree that the repair scan did not meet: each
 * topmost one with all below it.  They are collected first, since freeing
 * changes the table being walked. */
static void
drop_unseen(ino_watcher *w, ino_tree *t)
{
    worklist gone = {NULL, 0, 0, 0};
    size_t pos = 0, i;
    ino_entry *e;

    while ((e = ino_table_next(&w->table, &pos)) != NULL) {
        ino_node *n = e->node;
        if (n != NULL && n->tree == t && !n->seen && n->parent != NULL &&
            n->parent->seen && worklist_push(&gone, n) < 0) {
            break;              /* out of memory: keep the rest watched */
        }
    }
    for (i = 0; i < gone.len; i++) {
        subtree_free(w, gone.items[i], 1);
    }
    free(gone.items);
}

/* After an overflow nothing is known of what happened: mend every tree's
 * watch set by a scan that watches what is new and drops what is gone. */
static void
repair(ino_watcher *w)
{
    ino_tree *t;

    moves_forget(w);
    ino_nmap_free(&w->scanned, 1);
    for (t = w->trees; t != NULL; t = t->next) {
        size_t pos = 0;
        ino_entry *e;

        if (t->root == NULL) {
            continue;
        }
        while ((e = ino_table_next(&w->table, &pos)) != NULL) {
            if (e->node != NULL && e->node->tree == t) {
                e->node->seen = 0;
            }
        }
        t->root->seen = 1;
        scan(w, t->root, SCAN_REPAIR);
        drop_unseen(w, t);
    }
}

static int
cook_ignored(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_tree *t = n->tree;

    if (n->parent != NULL) {
        subtree_free(w, n, 0);
        return 0;
    }
    /* The root is gone: so is the tree.  The root's node and entry stay
     * until this IN_IGNORED is taken (ino_tree_release()). */
    children_free(w, n);
    return push(w, t, ev->mask, 0, "", 0, NULL, 0);
}

/* Watches the directory now at n/ev->name, moving a node of this tree
 * found there under another name (a rename the events have not told yet,
 * or one that came back) and scanning it when it is new to the tree. */
static int
watch_dir_and_scan(ino_watcher *w, ino_tree *t, ino_node *n,
                   const ino_event *ev)
{
    ino_node *child;
    int rc = watch_dir(w, t, n, ev->name, ev->name_len, !t->follow, &child);

    if (rc >= 0 && child != NULL) {
        keep_in_tree(w, child);
    }
    if (rc == 1) {
        return scan(w, child, SCAN_NEW);
    }
    return rc;
}

static int
cook_moved_to(ino_watcher *w, ino_node *n, const ino_event *ev,
              const char *rel, size_t rel_len)
{
    ino_tree *t = n->tree;
    ino_move m;
    int rc, paired = move_take(w, ev->cookie, &m);

    if (paired && m.tree == t) {
        rc = 0;
        if (m.node != NULL) {
            rc = node_move(w, m.node, n, ev->name, ev->name_len);
        }
        if (rc == 0 && (ev->mask & t->mask)) {
            rc = push(w, t, ev->mask, ev->cookie, rel, rel_len, m.src,
                      m.src_len);
        }
        free(m.src);
        if (rc < 0 || !(ev->mask & IN_ISDIR)) {
            return rc;
        }
        /* The node was found by the path as it is when the events are
         * read, which later renames may have changed: make sure the
         * directory now at the new path is the one watched (or watch and
         * scan it, if it was not watched at all). */
        rc = watch_dir_and_scan(w, t, n, ev);
        return rc == -ENOMEM ? rc : 0;
    }
    if (paired) {
        if (m.node != NULL) {
            subtree_free(w, m.node, 1);     /* it left its own tree */
        }
        free(m.src);
    }
    if ((ev->mask & t->mask) &&
        push(w, t, ev->mask, ev->cookie, rel, rel_len, NULL, 0) < 0) {
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
cook_named(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_tree *t = n->tree;
    char rel[INO_PATH_CAP];
    long rl = node_path(n, ev->name, ev->name_len, rel);
    uint32_t m = ev->mask;
    ino_node *child;
    int rc;

    if (rl < 0) {
        return 0;
    }
    if (m & (IN_DELETE | IN_MOVED_FROM)) {
        ino_nmap_del(&w->scanned, (uintptr_t)n->wd, ev->name, ev->name_len,
                     1);
    }
    if (m & IN_MOVED_FROM) {
        child = (m & IN_ISDIR) ? ino_nmap_get(&w->children, (uintptr_t)n,
                                              ev->name, ev->name_len)
                               : NULL;
        if (move_remember(w, ev->cookie, t, child, rel, (size_t)rl) < 0) {
            return -ENOMEM;
        }
    }
    else if (m & IN_MOVED_TO) {
        return cook_moved_to(w, n, ev, rel, (size_t)rl);
    }
    else if ((m & IN_CREATE) &&
             ino_nmap_del(&w->scanned, (uintptr_t)n->wd, ev->name,
                          ev->name_len, 1) != NULL) {
        return 0;       /* the scan of a new directory reported it */
    }
    if ((m & t->mask) &&
        push(w, t, m, ev->cookie, rel, (size_t)rl, NULL, 0) < 0) {
        return -ENOMEM;
    }
    if ((m & IN_CREATE) && (m & IN_ISDIR)) {
        rc = watch_dir_and_scan(w, t, n, ev);
        if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR) {
            return push_error(w, t, -rc, rel, (size_t)rl);
        }
    }
    return 0;
}

/* One kernel record of a tree's directory. */
static int
cook_one(ino_watcher *w, ino_node *n, const ino_event *ev)
{
    ino_tree *t = n->tree;
    int is_root = n->parent == NULL;

    if (ev->mask & IN_IGNORED) {
        return cook_ignored(w, n, ev);
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
        return push(w, t, ev->mask, ev->cookie, "", 0, NULL, 0);
    }
    if (excluded(t, ev->name)) {
        return 0;
    }
    return cook_named(w, n, ev);
}

int
ino_tree_cook(ino_watcher *w, const char *buf, size_t len)
{
    size_t off = 0;
    ino_event ev;
    ino_entry *e;
    int rc = 0;

    while (rc >= 0 && ino_decode(buf, len, &off, &ev) > 0) {
        ev.mask &= ~INO_PRIV_BITS;      /* the kernel's, never ours */
        if (ev.wd == -1) {
            rc = ino_queue_push(w, -1, ev.mask, 0, "", 0, NULL, 0);
            repair(w);
            continue;
        }
        e = ino_table_find(&w->table, ev.wd);
        if (e == NULL) {
            continue;           /* unknown or stale wd */
        }
        if (e->node == NULL) {
            rc = ino_queue_push(w, ev.wd, ev.mask, ev.cookie, ev.name,
                                ev.name_len, NULL, 0);
            continue;
        }
        rc = cook_one(w, e->node, &ev);
    }
    return rc;
}

/* ---- trees ------------------------------------------------------------- */

static void
tree_free(ino_tree *t)
{
    size_t i;

    for (i = 0; i < t->nexclude; i++) {
        free(t->exclude[i]);
    }
    free(t->exclude);
    free(t);
}

static ino_tree *
tree_new(const char *path, uint32_t mask, const char *const *exclude,
         size_t nexclude, int follow)
{
    size_t len = strlen(path), i;
    ino_tree *t = calloc(1, sizeof *t + len + 1);

    if (t == NULL) {
        return NULL;
    }
    memcpy(t->root_path, path, len + 1);
    t->root_len = len;
    t->mask = mask & INO_EVENT_BITS;
    t->follow = follow;
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
    ino_tree **pp;
    size_t i;

    /* A pending move from this tree can no longer pair with anything. */
    for (i = 0; i < w->nmoves; i++) {
        if (w->moves[i].tree == t) {
            w->moves[i].tree = NULL;
            w->moves[i].node = NULL;
        }
    }

    for (pp = &w->trees; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            return;
        }
    }
}

/* Rolls back a tree that watch_tree() could not finish. */
static void
tree_abort(ino_watcher *w, ino_tree *t)
{
    subtree_free(w, t->root, 1);
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
        rl = node_path(e->node, NULL, 0, rel);
        if (rl < 0 || full_path(t, rel, (size_t)rl, path) < 0) {
            continue;
        }
        /* The root is followed if it is a link (see ino_add_tree()). */
        wd = inotify_add_watch(w->fd, path,
                               e->node == t->root
                                   ? t->watch_mask & ~(uint32_t)IN_DONT_FOLLOW
                                   : t->watch_mask);
        if (wd == e->wd) {
            e->mask = t->watch_mask;
        }
        else if (wd >= 0 && ino_table_find(&w->table, wd) == NULL) {
            inotify_rm_watch(w->fd, wd);
        }
    }
}

int
ino_add_tree(ino_watcher *w, const char *path, uint32_t mask,
             const char *const *exclude, size_t nexclude,
             int follow_symlinks, ino_entry **out, size_t *in_use)
{
    ino_tree *t;
    ino_entry *e;
    uint32_t full_mask;
    int wd, rc;

    if (w->fd < 0) {
        return -EBADF;
    }
    if ((mask & ~INO_WATCH_BITS) != 0 || (mask & INO_EVENT_BITS) == 0) {
        return -EINVAL;
    }
    if (w->scratch == NULL &&
        (w->scratch = malloc(INO_SCRATCH_SIZE)) == NULL) {
        return -ENOMEM;
    }
    if (in_use != NULL) {
        *in_use = w->table.count;
    }
    t = tree_new(path, mask, exclude, nexclude, follow_symlinks);
    if (t == NULL) {
        return -ENOMEM;
    }
    /* IN_MASK_CREATE: an inode this watcher already watches fails with
     * EEXIST instead of having its mask replaced. */
    /* The first scan lists every directory, and each listing would make
     * OPEN, ACCESS and CLOSE_NOWRITE events in two watches, all of which a
     * tree drops: watch without those bits while it runs, and add them
     * once it is done (add_read_bits()). */
    full_mask = t->watch_mask;
    t->watch_mask &= ~(uint32_t)(IN_OPEN | IN_ACCESS | IN_CLOSE_NOWRITE);
    /* The root itself is followed when it is a symbolic link, as the
     * path the caller named (follow_symlinks is about links below it). */
    wd = inotify_add_watch(w->fd, path,
                           (t->watch_mask & ~(uint32_t)IN_DONT_FOLLOW) |
                               IN_MASK_CREATE);
    if (wd < 0) {
        rc = errno == EEXIST ? -EBUSY : -errno;
        tree_free(t);
        return rc;
    }
    t->root = node_new(t, "", 0, wd);
    if (t->root == NULL || ino_table_insert(&w->table, wd, &e) < 0) {
        free(t->root);
        inotify_rm_watch(w->fd, wd);
        tree_free(t);
        return -ENOMEM;
    }
    e->mask = t->watch_mask;
    e->node = t->root;
    t->ndirs = 1;
    t->next = w->trees;
    w->trees = t;
    rc = scan(w, t->root, SCAN_INITIAL);
    if (rc < 0) {
        if (in_use != NULL) {
            *in_use = w->table.count;
        }
        tree_abort(w, t);
        return rc;
    }
    if (full_mask != t->watch_mask) {
        t->watch_mask = full_mask;
        add_read_bits(w, t);
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

/* ino_rm_watch() of a tree's root: unwatch everything below it now (their
 * late events find no entry); the root's IN_IGNORED ends the tree. */
void
ino_tree_unwatch(ino_watcher *w, ino_entry *root)
{
    children_free(w, root->node);
}

/* The root's IN_IGNORED was taken: free what is left of the tree. */
void
ino_tree_release(ino_watcher *w, ino_node *root)
{
    ino_tree *t = root->tree;

    children_free(w, root);
    tree_unlink(w, t);
    free(root);
    tree_free(t);
}

void
ino_trees_free(ino_watcher *w)
{
    while (w->trees != NULL) {
        ino_tree *t = w->trees;
        ino_node *root = t->root;
        w->trees = t->next;
        if (root != NULL) {
            while (root->child != NULL) {
                subtree_free(w, root->child, 0);
            }
            free(root);
        }
        tree_free(t);
    }
    moves_forget(w);
    free(w->moves);
    w->moves = NULL;
    w->moves_cap = 0;
    ino_nmap_free(&w->children, 0);
    ino_nmap_free(&w->scanned, 1);
    free(w->scratch);
    w->scratch = NULL;
    free(w->backlog);
    w->backlog = NULL;
    w->backlog_len = w->backlog_cap = 0;
    free(w->absorb_buf);
    w->absorb_buf = NULL;
}
