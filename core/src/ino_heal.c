/*
 * ino_heal.c: healing a tree after its records were lost.  After an
 * IN_Q_OVERFLOW (the kernel's, or ours when a read during a scan could not
 * keep its records) the stream has told a tree that is no longer the one
 * on disk, and nothing says how they differ.  A tree that indexes its
 * files is healed at the next drain: it is scanned whole and the listing
 * of each directory is compared with the index, and the difference is
 * queued as ordinary events, each with INO_RESCAN, in an order a consumer
 * applying them can follow:
 *
 * 1. during the scan, breadth first: a directory new to the tree as
 *    CREATE (what it holds is new too, and comes in step 2); a directory
 *    of the tree found under a new name as a MOVED_FROM, MOVED_TO pair (by
 *    its watch, which follows the inode); a file whose size or mtime
 *    changed, or that its records said was changing, as MODIFY;
 * 2. entries only on disk, each paired by inode with an entry only in
 *    the index, as a MOVED_FROM, MOVED_TO pair; or else as CREATE;
 * 3. entries only in the index, in directories still there, as DELETE;
 * 4. directories not met at all, each with all it held, as DELETEs,
 *    deepest first;
 * 5. entries only on disk whose name a directory of step 4 held, as
 *    CREATE;
 * 6. one INO_SYNCED event: the tree's events tell it whole again.
 *
 * A directory that cannot be listed by its path during the heal (a rename
 * read meanwhile) keeps what the index says of it, and the tree is healed
 * again at the next drain.  Heals are owed, not run, at each overflow: at
 * most one runs per drain, however many overflows came.
 *
 * A poll (ino_poll.c) is the same comparison, for a directory and all
 * below it, asked for by ino_tree_poll() and run at the drain as a heal
 * is, so that the index holds every record read before it.  Its events
 * carry INO_RESCAN too, with three differences: no INO_SYNCED follows
 * (nothing was lost), an entry whose records said it was changing is
 * only refreshed (those records were delivered, and told the change),
 * and a directory that cannot be listed waits for the next poll.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ino_trees.h"

/* An entry only on disk (a name the index lacks, or holds as another
 * inode or type). */
typedef struct fresh {
    int32_t wd;       /* the directory's watch */
    ino_fattr attr;   /* what fstatat() said */
    int late;         /* a directory of the tree held the name: step 5 */
    size_t name_len;
    char *name;
} fresh;

/* An entry only in the index. */
typedef struct gone {
    ino_node *node;   /* its directory */
    ino_file *file;
    int done;         /* moved or deleted already */
} gone;

typedef struct heal {
    ino_watcher *w;
    ino_tree *t;
    ino_node *top;    /* where the comparison starts: the root for a heal,
                         a polled directory for a poll */
    int poll;         /* 1 for a poll (see above) */
    ino_worklist todo;
    fresh *fresh;
    size_t nfresh, fresh_cap;
    gone *gone;
    size_t ngone, gone_cap;
    size_t *by_ino;   /* open addressing: index into gone + 1, 0 free */
    size_t ino_cap;
    int again;        /* a directory could not be listed: heal again */
} heal;

static int
push(heal *h, uint32_t mask, uint32_t cookie, const char *rel, size_t len,
     const char *src, size_t src_len)
{
    if (!(mask & h->t->mask)) {
        return 0;
    }
    return ino_tree_push(h->w, h->t, mask | INO_RESCAN, cookie, rel, len, src,
                         src_len);
}

static int
push_at(heal *h, uint32_t mask, ino_node *n, const char *name, size_t len)
{
    char rel[INO_PATH_CAP];
    long rl = ino_node_path(n, name, len, rel);

    return rl < 0 ? 0 : push(h, mask, 0, rel, (size_t)rl, NULL, 0);
}

static int
add_fresh(heal *h, ino_node *n, const char *name, size_t len,
          const ino_fattr *a, int late)
{
    fresh *f;

    if (h->nfresh == h->fresh_cap) {
        size_t cap = h->fresh_cap ? h->fresh_cap * 2 : 64;
        fresh *grown = realloc(h->fresh, cap * sizeof *grown);
        if (grown == NULL) {
            return -ENOMEM;
        }
        h->fresh = grown;
        h->fresh_cap = cap;
    }
    f = &h->fresh[h->nfresh];
    if ((f->name = malloc(len + 1)) == NULL) {
        return -ENOMEM;
    }
    memcpy(f->name, name, len);
    f->name[len] = '\0';
    f->name_len = len;
    f->wd = n->wd;
    f->attr = *a;
    f->late = late;
    h->nfresh++;
    return 0;
}

/* Step 1 for a name that is a directory on disk (inode number d_ino). */
static int
heal_dir_entry(heal *h, ino_node *n, int dirfd, const char *name, size_t len,
               uint64_t d_ino)
{
    ino_watcher *w = h->w;
    ino_file *f = ino_files_get(&n->files, name, len);
    int told = f != NULL && f->type == INO_FT_DIR;
    ino_node *child;
    int rc;

    if (f != NULL && !told) {
        /* A file of the index's became a directory. */
        if (push_at(h, IN_DELETE, n, name, len) < 0) {
            return -ENOMEM;
        }
        ino_node_file_del(n, name, len);
    }
    /* A poll knows a directory by its inode number too, where the kernel
     * numbers inodes by path (FUSE): see ino_poll.c. */
    child = h->poll ? ino_poll_same_dir(w, n, dirfd, name, len, d_ino) : NULL;
    rc = child != NULL
             ? 0
             : ino_watch_dir(w, h->t, n, dirfd, name, len, 1, 1, &child);
    if (rc == 1 && h->poll) {
        int err = 0;
        ino_node *moved =
            ino_poll_moved_dir(w, h->top, n, child, name, len, d_ino, &err);
        if (err < 0) {
            return err;
        }
        if (moved != NULL) {
            child = moved;
            rc = 0; /* told moved already */
        }
    }
    if (child != NULL && rc >= 0 && d_ino != 0) {
        child->ino = d_ino;
    }
    if (rc == 2) {
        if (ino_report_moved(w, n, name, len, INO_RESCAN) < 0) {
            return -ENOMEM;
        }
    }
    else if (rc == 1) {
        /* A directory the stream told without a node is not new; what
         * it holds is. */
        if ((!told && push_at(h, IN_CREATE | IN_ISDIR, n, name, len) < 0) ||
            ino_nmap_put(&w->trees->scanned, (uintptr_t)n->wd, name, len, n,
                         1) < 0) {
            return -ENOMEM;
        }
    }
    else if (rc < 0) {
        child = ino_cmap_get(&w->trees->children, (uintptr_t)n, name, len);
        if (rc == -ENOMEM) {
            return rc;
        }
        /* Gone since the listing (its records tell it), or not watchable:
         * a directory the tree had there is kept as it is. */
        if (told && (f = ino_files_get(&n->files, name, len)) != NULL) {
            f->flags |= INO_FF_SEEN;
        }
        if (child == NULL && !told && rc != -ENOENT && rc != -ENOTDIR) {
            /* There, but not watchable (no permission, the watch limit):
             * told as the live stream tells it, with the failure. */
            char rel[INO_PATH_CAP];
            long rl = ino_node_path(n, name, len, rel);
            if (push_at(h, IN_CREATE | IN_ISDIR, n, name, len) < 0 ||
                ino_node_told_dir(w, n, name, len) < 0 ||
                (rl >= 0 &&
                 ino_tree_push_error(w, h->t, -rc, rel, (size_t)rl) < 0)) {
                return -ENOMEM;
            }
            if ((f = ino_files_get(&n->files, name, len)) != NULL) {
                f->flags |= INO_FF_SEEN;
            }
        }
        if (child == NULL || rc == -ENOENT || rc == -ENOTDIR) {
            return 0;
        }
    }
    if (child == NULL) {
        /* Watched otherwise (another watch of this watcher): a directory
         * told without a node stays. */
        if (told && (f = ino_files_get(&n->files, name, len)) != NULL) {
            f->flags |= INO_FF_SEEN;
        }
        return 0;
    }
    ino_moves_keep(w->trees, child);
    if (!child->seen) {
        child->seen = 1;
        return rc < 0 ? 0 : ino_worklist_push(&h->todo, child);
    }
    return 0;
}

/* A poll's test of a file met again: changed when its size or mtime
 * differ from what the index read last.  One its records said was
 * changing is not reported again (they told it), nor one whose
 * attributes the index never read: both are only refreshed. */
static int
poll_changed(const ino_file *f, const ino_fattr *a)
{
    return !(f->flags & INO_FF_STALE) && f->size >= 0 &&
           (f->size != a->size || f->mtime_ns != a->mtime_ns);
}

/* Step 1 for a name that is not a directory on disk. */
static int
heal_file_entry(heal *h, ino_node *n, int dirfd, const char *name, size_t len)
{
    ino_file *f = ino_files_get(&n->files, name, len);
    int late;
    ino_fattr a;
    int rc = ino_stat_entry(dirfd, name, &a);

    if (rc == -ENOENT || rc == -ENOTDIR) {
        return 0; /* gone since the listing */
    }
    if (rc < 0) {
        /* Cannot tell: keep what the index says. */
        if (f != NULL) {
            f->flags |= INO_FF_SEEN;
        }
        return 0;
    }
    if (f != NULL && (f->type == a.type || f->type == INO_FT_UNKNOWN) &&
        (f->ino == a.ino || f->ino == 0)) {
        int changed = h->poll
                          ? poll_changed(f, &a)
                          : (f->flags & INO_FF_STALE) || f->size != a.size ||
                                f->mtime_ns != a.mtime_ns;
        f->flags |= INO_FF_SEEN;
        ino_file_set(f, &a);
        return changed ? push_at(h, IN_MODIFY, n, name, len) : 0;
    }
    /* Looked up only here: every poll passes through this function for
     * each file it meets. */
    late =
        ino_cmap_get(&h->w->trees->children, (uintptr_t)n, name, len) != NULL;
    return add_fresh(h, n, name, len, &a, late);
}

/* Step 1 for one directory.  Returns 0, 1 when it could not be listed
 * (then the tree is healed again at the next drain), or -ENOMEM. */
static int
heal_one(heal *h, ino_node *n)
{
    int fd = ino_open_node(h->w, n), rc = 0;
    struct dirent *de;
    DIR *d;

    if (fd < 0) {
        h->again = 1;
        return fd == -ENOMEM ? fd : 1;
    }
    if ((d = fdopendir(fd)) == NULL) {
        close(fd);
        h->again = 1;
        return 1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            ino_excluded(h->t, name)) {
            continue;
        }
        if (ino_entry_is_dir(h->t, d, de)) {
            rc = heal_dir_entry(h, n, dirfd(d), name, len, de->d_ino);
        }
        else {
            rc = heal_file_entry(h, n, dirfd(d), name, len);
        }
    }
    closedir(d);
    return rc;
}

/* Marks everything below n met, when n could not be listed: kept as the
 * index has it. */
static void
keep_subtree(ino_node *top)
{
    ino_node *cur = top;
    size_t pos;
    ino_file *f;

    for (;;) {
        cur->seen = 1;
        for (pos = 0; (f = ino_files_next(&cur->files, &pos)) != NULL;) {
            f->flags |= INO_FF_SEEN;
        }
        if (cur->child != NULL) {
            cur = cur->child;
            continue;
        }
        while (cur != top && cur->next == NULL) {
            cur = cur->parent;
        }
        if (cur == top) {
            return;
        }
        cur = cur->next;
    }
}

static int
add_gone(heal *h, ino_node *n, ino_file *f)
{
    if (h->ngone == h->gone_cap) {
        size_t cap = h->gone_cap ? h->gone_cap * 2 : 64;
        gone *grown = realloc(h->gone, cap * sizeof *grown);
        if (grown == NULL) {
            return -ENOMEM;
        }
        h->gone = grown;
        h->gone_cap = cap;
    }
    h->gone[h->ngone].node = n;
    h->gone[h->ngone].file = f;
    h->gone[h->ngone].done = 0;
    h->ngone++;
    return 0;
}

static size_t
ino_slot(const heal *h, uint64_t ino)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (h->ino_cap - 1);
}

static int
by_file(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const gone *)a)->file;
    uintptr_t y = (uintptr_t)((const gone *)b)->file;

    return x < y ? -1 : x > y;
}

/* Collects the index's entries that the scan did not meet, and maps their
 * inodes. */
static int
collect_gone(heal *h)
{
    ino_node *cur = h->top;
    size_t pos, i;
    ino_file *f;

    for (;;) {
        for (pos = 0; (f = ino_files_next(&cur->files, &pos)) != NULL;) {
            if (!(f->flags & INO_FF_SEEN) && add_gone(h, cur, f) < 0) {
                return -ENOMEM;
            }
            f->flags &= (uint8_t)~INO_FF_SEEN;
        }
        if (cur->child != NULL) {
            cur = cur->child;
            continue;
        }
        while (cur != h->top && cur->next == NULL) {
            cur = cur->parent;
        }
        if (cur == h->top) {
            break;
        }
        cur = cur->next;
    }
    /* By entry, for gone_at(); then by inode, for find_gone(). */
    if (h->ngone > 1) {
        qsort(h->gone, h->ngone, sizeof *h->gone, by_file);
    }
    for (h->ino_cap = 16; h->ino_cap < h->ngone * 2; h->ino_cap *= 2) {
    }
    if ((h->by_ino = calloc(h->ino_cap, sizeof *h->by_ino)) == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < h->ngone; i++) {
        uint64_t ino = h->gone[i].file->ino;
        size_t s;
        if (ino == 0) {
            continue;
        }
        for (s = ino_slot(h, ino); h->by_ino[s] != 0;
             s = (s + 1) & (h->ino_cap - 1)) {
        }
        h->by_ino[s] = i + 1;
    }
    return 0;
}

/* Catching up from a state file (ino_state.c), an inode deleted while
 * nobody watched may be a new entry's: it is a move only if a rename
 * could have made it, with the size and mtime it had (where known). */
static int
same_content(const ino_file *f, const ino_fattr *a)
{
    return f->size < 0 || f->mtime_ns < 0 ||
           (f->size == a->size && f->mtime_ns == a->mtime_ns);
}

/* The entry only in the index with this inode and type, not moved or
 * deleted yet, or NULL. */
static gone *
find_gone(const heal *h, const ino_fattr *a)
{
    size_t s;

    if (a->ino == 0) {
        return NULL;
    }
    for (s = ino_slot(h, a->ino); h->by_ino[s] != 0;
         s = (s + 1) & (h->ino_cap - 1)) {
        gone *g = &h->gone[h->by_ino[s] - 1];
        if (!g->done && g->file->ino == a->ino &&
            (g->file->type == a->type || g->file->type == INO_FT_UNKNOWN) &&
            (h->t->since == NULL || same_content(g->file, a))) {
            return g;
        }
    }
    return NULL;
}

/* The entry only in the index at n/name, if any (the scan met another
 * inode there). */
static gone *
gone_at(const heal *h, const ino_node *n, const char *name, size_t len)
{
    gone key;
    gone *g;

    key.file = ino_files_get(&n->files, name, len);
    if (key.file == NULL || h->ngone == 0) {
        return NULL;
    }
    g = bsearch(&key, h->gone, h->ngone, sizeof *h->gone, by_file);
    return g != NULL && !g->done ? g : NULL;
}

static int
tell_gone(heal *h, gone *g)
{
    uint32_t mask =
        IN_DELETE | (g->file->type == INO_FT_DIR ? (uint32_t)IN_ISDIR : 0);
    int rc = push_at(h, mask, g->node, g->file->name, g->file->name_len);

    g->done = 1;
    ino_node_file_del(g->node, g->file->name, g->file->name_len);
    return rc;
}

/* Step 2 (or 5) for one entry only on disk. */
static int
tell_fresh(heal *h, fresh *fr, int pair)
{
    const ino_entry *e = ino_table_find(&h->w->table, fr->wd);
    ino_node *n = e != NULL ? e->node : NULL;
    char rel[INO_PATH_CAP], src[INO_PATH_CAP];
    long rl, sl;
    gone *g, *here;
    ino_file *moved;
    uint32_t cookie;

    if (n == NULL || n->tree != h->t) {
        return 0; /* its directory went meanwhile */
    }
    here = gone_at(h, n, fr->name, fr->name_len);
    g = pair ? find_gone(h, &fr->attr) : NULL;
    if (here != NULL && here != g && tell_gone(h, here) < 0) {
        return -ENOMEM;
    }
    rl = ino_node_path(n, fr->name, fr->name_len, rel);
    if (rl < 0) {
        return 0;
    }
    if (g == NULL) {
        fr->attr.stale = 0;
        if (ino_node_file_put(n, fr->name, fr->name_len, &fr->attr) < 0) {
            return -ENOMEM;
        }
        return push(h, IN_CREATE, 0, rel, (size_t)rl, NULL, 0);
    }
    sl = ino_node_path(g->node, g->file->name, g->file->name_len, src);
    if (sl < 0) {
        return tell_gone(h, g) < 0 ? -ENOMEM : tell_fresh(h, fr, 0);
    }
    g->done = 1;
    cookie = ino_own_cookie(h->w->trees);
    if (push(h, IN_MOVED_FROM, cookie, src, (size_t)sl, NULL, 0) < 0 ||
        push(h, IN_MOVED_TO, cookie, rel, (size_t)rl, src, (size_t)sl) < 0) {
        return -ENOMEM;
    }
    if (ino_node_file_move(g->node, g->file->name, g->file->name_len, n,
                           fr->name, fr->name_len) < 0) {
        return -ENOMEM;
    }
    moved = ino_files_get(&n->files, fr->name, fr->name_len);
    if (moved != NULL) {
        fr->attr.stale = 0;
        ino_file_set(moved, &fr->attr);
    }
    return 0;
}

/* Step 4: the directories of the tree the scan did not meet, each topmost
 * one with all below it. */
static int
tell_unseen(heal *h)
{
    ino_worklist lost = {NULL, NULL, 0, 0, 0};
    ino_node *cur = h->top, *n;
    int rc = 0;

    for (;;) {
        if (cur->child != NULL && cur->seen) {
            cur = cur->child;
        }
        else {
            if (!cur->seen && (rc = ino_worklist_push(&lost, cur)) < 0) {
                break;
            }
            while (cur != h->top && cur->next == NULL) {
                cur = cur->parent;
            }
            if (cur == h->top) {
                break;
            }
            cur = cur->next;
        }
    }
    while (rc == 0 && (n = ino_worklist_next(h->w, &lost)) != NULL) {
        rc = ino_subtree_tell_gone(h->w, n, INO_RESCAN);
        ino_subtree_free(h->w, n, 1);
    }
    ino_worklist_free(&lost);
    return rc;
}

static void
heal_free(heal *h)
{
    size_t i;

    for (i = 0; i < h->nfresh; i++) {
        free(h->fresh[i].name);
    }
    free(h->fresh);
    free(h->gone);
    free(h->by_ino);
    ino_worklist_free(&h->todo);
}

/* Marks every directory below top not met yet (top itself is). */
static void
unsee_subtree(ino_node *top)
{
    ino_node *cur = top;

    for (;;) {
        cur->seen = 0;
        if (cur->child != NULL) {
            cur = cur->child;
            continue;
        }
        while (cur != top && cur->next == NULL) {
            cur = cur->parent;
        }
        if (cur == top) {
            break;
        }
        cur = cur->next;
    }
    top->seen = 1;
}

/* Heals one tree (top its root, poll 0), or polls top and all below it
 * (poll 1).  Returns 0 or a negative errno. */
static int
heal_tree(ino_watcher *w, ino_tree *t, ino_node *top, int poll)
{
    heal h;
    ino_node *n;
    size_t i;
    ino_entry *e;
    int rc;

    memset(&h, 0, sizeof h);
    if (!poll) {
        w->trees->rescans++;
    }
    h.w = w;
    h.t = t;
    h.top = top;
    h.poll = poll;
    unsee_subtree(top);
    w->trees->healing = 1;
    rc = ino_worklist_push(&h.todo, top);
    while (rc == 0 && (n = ino_worklist_next(w, &h.todo)) != NULL) {
        ino_node *kept = n;
        int32_t wd = n->wd;
        rc = heal_one(&h, n);
        e = ino_table_find(&w->table, wd);
        if (rc == 1) {
            /* Not listed: what the index says of it stands. */
            if (e != NULL && e->node == kept) {
                keep_subtree(kept);
            }
            rc = 0;
        }
        if ((h.todo.head & 63) == 0) {
            ino_scan_drain(w);
        }
    }
    ino_scan_drain(w);
    if (rc == 0) {
        rc = collect_gone(&h);
    }
    for (i = 0; rc == 0 && i < h.nfresh; i++) {
        if (!h.fresh[i].late) {
            rc = tell_fresh(&h, &h.fresh[i], 1);
        }
    }
    for (i = 0; rc == 0 && i < h.ngone; i++) {
        gone *g = &h.gone[i];
        if (!g->done && g->node->seen) {
            rc = tell_gone(&h, g);
        }
    }
    /* The entries of unseen directories go with them: none may be found
     * again once they are freed. */
    for (i = 0; i < h.ngone; i++) {
        h.gone[i].done = 1;
    }
    if (rc == 0) {
        rc = tell_unseen(&h);
    }
    for (i = 0; rc == 0 && i < h.nfresh; i++) {
        if (h.fresh[i].late) {
            rc = tell_fresh(&h, &h.fresh[i], 0);
        }
    }
    if (w->trees->healing < 0 && rc == 0) {
        rc = -ENOMEM;
    }
    w->trees->healing = 0;
    if (poll) {
        /* A directory not listed waits for the next poll. */
    }
    else if (rc == 0 && h.again) {
        t->heal_owed = 1;
    }
    else if (rc == 0) {
        rc = ino_tree_push(w, t, INO_SYNCED, 0, "", 0, NULL, 0);
    }
    heal_free(&h);
    return rc;
}

int
ino_heal_tree(ino_watcher *w, ino_tree *t)
{
    return heal_tree(w, t, t->root, 0);
}

/* Polls each of a tree's polled directories still in it, dropping the
 * ones that went. */
static int
poll_tree(ino_watcher *w, ino_tree *t)
{
    size_t i, kept = 0;
    int rc = 0;

    for (i = 0; i < t->npoll; i++) {
        const ino_entry *e = ino_table_find(&w->table, t->poll_wds[i]);
        if (e == NULL || e->node == NULL || e->node->tree != t) {
            continue;
        }
        t->poll_wds[kept++] = t->poll_wds[i];
        if (rc == 0) {
            rc = heal_tree(w, t, e->node, 1);
        }
    }
    t->npoll = kept;
    return rc;
}

int
ino_heal_owed(ino_watcher *w)
{
    ino_tree *t;
    int rc = 0;

    for (t = w->trees->list; rc == 0 && t != NULL; t = t->next) {
        if (t->root == NULL || t->ended) {
            continue;
        }
        if (t->heal_owed) {
            /* A heal compares the whole tree: it is the poll too. */
            t->heal_owed = t->poll_owed = 0;
            rc = heal_tree(w, t, t->root, 0);
        }
        else if (t->poll_owed) {
            t->poll_owed = 0;
            rc = poll_tree(w, t);
        }
    }
    return rc;
}
