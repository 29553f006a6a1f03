/*
 * ino_trees.h: the private state of a watcher's trees and what the tree
 * files (ino_node.c, ino_follow.c, ino_scan.c, ino_rewrite.c,
 * ino_tree.c) share.  Each of them calls only the ones before it in that
 * list; none calls ino_watcher.c.
 */
#ifndef INO_TREES_H
#define INO_TREES_H

#include <dirent.h>
#include <stdint.h>

#include "ino_internal.h"

typedef struct ino_tree ino_tree;
typedef struct ino_trees ino_trees;
typedef struct ino_move ino_move;
typedef struct ino_since ino_since;

/* ---- the index of entries that are not directories (ino_index.c) ------- */

/* An entry's flags. */
#define INO_FF_SEEN 0x01u  /* met by the current heal's scan */
#define INO_FF_STALE                                                          \
    0x02u /* changed since its attributes were read (a
                              MODIFY, ATTRIB or CLOSE_WRITE told, or made
                              by a record): a heal reports it modified */

/* One file, symbolic link or other entry of a directory of a tree. */
typedef struct ino_file {
    uint64_t ino;      /* its inode number, 0 when not known */
    int64_t size;      /* bytes, -1 when not known */
    int64_t mtime_ns;  /* last modification, ns since the epoch, or -1 */
    /* 26 bytes before the name, so that with the name and its NUL an
     * entry of a usual name fits one malloc() step lower (benchmarks/README:
     * "Memory of the index"). */
    uint8_t name_len;  /* bytes in name: at most NAME_MAX (255) */
    uint8_t type : 4;  /* INO_FT_* */
    uint8_t flags : 4; /* INO_FF_* */
    char name[];       /* NUL-terminated */
} ino_file;

/* A directory's entries by name. */
typedef struct ino_files {
    ino_file **slots;  /* capacity slots, NULL marks a free one */
    uint32_t capacity; /* a power of two, or 0 */
    uint32_t count;    /* entries */
} ino_files;

/* What is known of an entry, to make or refresh one. */
typedef struct ino_fattr {
    uint64_t ino;
    int64_t size;
    int64_t mtime_ns;
    uint8_t type;
    int stale; /* sets INO_FF_STALE */
} ino_fattr;

ino_file *ino_files_get(const ino_files *fs, const char *name, size_t len);
/* Adds an entry, or refreshes the one of that name; 1 added, 0 refreshed,
 * or -ENOMEM. */
int ino_files_put(ino_files *fs, const char *name, size_t len,
                  const ino_fattr *a);
/* Takes an entry out of the table, for the caller to free or insert
 * elsewhere; NULL when there is none. */
ino_file *ino_files_take(ino_files *fs, const char *name, size_t len);
/* Puts an entry in, freeing one of the same name it replaces: 1 added, 0
 * replaced, or -ENOMEM (the entry is then still the caller's). */
int ino_files_insert(ino_files *fs, ino_file *f);
/* Removes and frees an entry: 1, or 0 when there is none. */
int ino_files_del(ino_files *fs, const char *name, size_t len);
/* An entry out of any table under a new name; NULL (out of memory, f
 * unchanged) or the entry, which may have moved. */
ino_file *ino_files_rename(ino_file *f, const char *name, size_t len);
ino_file *ino_file_new(const char *name, size_t len, const ino_fattr *a);
void ino_file_set(ino_file *f, const ino_fattr *a);
/* Iterates: start with *pos = 0; NULL at the end.  The table must not
 * change during an iteration. */
ino_file *ino_files_next(const ino_files *fs, size_t *pos);
void ino_files_free(ino_files *fs);
struct stat;
uint8_t ino_ftype_of_mode(unsigned mode);
void ino_fattr_of_stat(ino_fattr *a, const struct stat *st);

/* A directory of a tree.  Laid out so that a node of a short name (up to
 * 5 bytes) is a 96-byte malloc() chunk: the name starts right after the
 * flags, not at sizeof (see ino_node_new()). */
struct ino_node {
    ino_node *parent;    /* the directory above, NULL for the root */
    ino_node *child;     /* the first directory below */
    ino_node *next;      /* the next sibling */
    ino_node *prev;      /* the previous sibling */
    ino_tree *tree;      /* the tree it belongs to */
    int32_t wd;          /* its watch */
    uint16_t name_len;   /* bytes in name (at most NAME_MAX) */
    uint16_t name_cap;   /* bytes inline_name can hold */
    uint64_t ino;        /* its inode number as its parent's listing
                            said (d_ino), 0 when not known: how a poll
                            knows it again where its watch cannot
                            (ino_poll.c) */
    ino_files files;     /* its entries that are not directories, when
                            its tree indexes them */
    char *name;          /* inline_name, or a larger copy after a rename */
    uint8_t seen;        /* met by the current repair scan */
    uint8_t gone_told;   /* a DELETE of it was read in its parent */
    char inline_name[];  /* the name as first seen, NUL-terminated */
};

struct ino_tree {
    ino_tree *next;      /* the watcher's next tree */
    ino_node *root;      /* the directory ino_add_tree() was given */
    uint32_t mask;       /* the events to report */
    uint32_t watch_mask; /* what inotify_add_watch() is asked for */
    int follow;          /* follow symbolic links to directories */
    int ended;           /* its root was renamed: it ends (ino_rewrite.c) */
    int index_files;     /* keeps an index of its files (ino_index.c) */
    int heal_owed;       /* records were lost: heal at the next drain */
    int poll_owed;       /* ino_tree_poll() asked: poll at the next drain */
    uint32_t held_bits;  /* the read bits the first scan watches without
                            (ino_add_tree()), 0 after it */
    int32_t *poll_wds;   /* the directories a poll compares with the disk,
                            each with all below it (ino_poll.c): their
                            watches, as nodes may go meanwhile */
    size_t npoll;        /* entries in poll_wds */
    ino_since *since;    /* directories loaded from a state file and
                            not watched yet (ino_state.c), or NULL */
    size_t ndirs;        /* nodes in the tree */
    size_t nfiles;       /* entries in its nodes' file tables */
    size_t nexclude;     /* entries in exclude */
    char **exclude;      /* fnmatch() patterns for names to leave out */
    size_t root_len;     /* bytes in root_path */
    char root_path[];    /* the path as given, NUL-terminated */
};

/* What an entry of the pending list (ino_moves.c) waits for. */
enum ino_move_kind {
    MOVE_PENDING,        /* a MOVED_FROM read: waits for its MOVED_TO */
    MOVE_TOLD,           /* a scan found a directory of the tree under a
                            new name and reported the move: waits for the
                            MOVED_FROM at (parent, name), to drop it */
    MOVE_SWALLOW,        /* that MOVED_FROM came: drop its MOVED_TO too */
    MOVE_UNTOLD,         /* a MOVED_FROM of a directory the stream never
                            told at that place (a scan told where it went
                            later) was dropped; its MOVED_TO reports only
                            what the stream lacks */
    MOVE_RETRY,          /* the directory (parent, src) could not be
                            watched by its path, which a rename still
                            queued may have made stale: tried again at the
                            drain */
    MOVE_RELIST,         /* the directory node was watched but could not
                            be listed by its path, stale for the same
                            reason: listed at the drain, but for the
                            names the records told meanwhile */
    MOVE_DEAD            /* its parent or tree is gone: ignored */
};

/* One entry of the pending list. */
struct ino_move {
    enum ino_move_kind kind; /* what it waits for */
    uint32_t cookie;     /* the rename's cookie; RETRY, RELIST: the wd of
                            parent, of node */
    ino_tree *tree;      /* where it moved from, NULL once that is gone */
    ino_node *node;      /* PENDING: the directory that moved, or NULL */
    ino_node *parent;    /* the directory that held the name, or NULL
                            once freed */
    char *src;           /* PENDING, TOLD: its path below the root; RETRY:
                            the name; malloc'd */
    size_t src_len;      /* bytes in src */
    char *name;          /* PENDING, TOLD: its name in parent, malloc'd */
    size_t name_len;     /* bytes in name */
    uint32_t mask;       /* PENDING: the MOVED_FROM's mask */
    int held;            /* PENDING: that MOVED_FROM is not queued yet;
                            RELIST: the drains it was tried at */
};

/* The trees' children map (ino_nmap.c): (parent node, name) -> the child
 * node, keyed by the nodes' own parent and name, so that a slot holds only
 * the node and its hash (12 bytes, where an ino_nmap slot takes 32).
 * Built as the name map is: linear probing, backward-shift deletion, at
 * most three quarters full.  A node must not change its parent or name
 * while it is in the map. */
typedef struct ino_cmap {
    ino_node **nodes;    /* capacity slots, NULL marks a free one */
    uint32_t *hashes;    /* each slot's hash, in the same block */
    size_t capacity;     /* a power of two, or 0 */
    size_t count;        /* nodes in the map */
} ino_cmap;

void ino_cmap_init(ino_cmap *m);
void ino_cmap_free(ino_cmap *m);
/* The node at (parent, name), or NULL. */
ino_node *ino_cmap_get(const ino_cmap *m, uintptr_t parent, const char *name,
                       size_t len);
/* Puts node n at its own (parent, name), replacing any node there, which
 * it returns (NULL when none was).  The map must have room for it
 * (ino_cmap_reserve()). */
ino_node *ino_cmap_put(ino_cmap *m, ino_node *n);
/* Takes node n out of the map, when the map holds it; 1 or 0. */
int ino_cmap_del(ino_cmap *m, const ino_node *n);
/* Makes room for more new keys: 0 or -ENOMEM. */
int ino_cmap_reserve(ino_cmap *m, size_t more);
/* Prefetches the slot where (parent, name) is or would go. */
void ino_cmap_prefetch(const ino_cmap *m, uintptr_t parent, const char *name,
                       size_t len);

/* Everything the trees keep, reached by ino_watcher.trees. */
struct ino_trees {
    ino_tree *list;      /* the watcher's trees */
    char *read_buf;      /* ino_trees_read()'s buffer: records are
                            rewritten into the queue, not read into it */
    ino_cmap children;   /* (parent node, name) -> child node */
    ino_nmap scanned;    /* (wd, name) -> 1: names a scan reported whose
                            kernel CREATE may still be on its way */
    ino_nmap told;       /* (wd, name) -> 1: names the records told in a
                            directory waiting to be listed (MOVE_RELIST) */
    char *deferred;      /* kernel records read while a scan ran, to be
                            rewritten after the batch being rewritten */
    size_t deferred_len; /* bytes in deferred */
    size_t deferred_cap; /* room in deferred */
    char *scan_buf;      /* the read buffer of those reads */
    int deferred_lost;   /* 1 when such a read lost records for want of
                            memory: an IN_Q_OVERFLOW is owed */
    int deferred_error;  /* a negative errno such a read failed with,
                            owed to the next ino_read(), or 0 */
    ino_move *moves;     /* the pending list (ino_moves.c) */
    size_t nmoves;       /* entries in moves */
    size_t moves_cap;    /* room in moves */
    uint32_t told_cookie; /* counts the moves that scans reported */
    int32_t next_wd;     /* the wd the kernel likely hands out next (the
                            last new node's plus one), for the first
                            scan's prefetches */
    uint64_t rescans;    /* heals and repairs run */
    int (*progress)(void *, size_t); /* ino_set_tree_progress() */
    void *progress_arg;
    int healing;         /* a heal runs (ino_heal.c): a directory a link
                            displaces is reported gone */
    const char *ahead;   /* the records of the read being rewritten that
                            come after the one being rewritten (NULL when
                            none is), for ino_name_leaves_ahead() */
    size_t ahead_len;    /* bytes in ahead */
};

enum ino_scan_mode {
    SCAN_INITIAL,        /* ino_add_tree(): report nothing, fail on ENOSPC */
    SCAN_NEW,            /* a directory appeared: report what it holds */
    SCAN_RELIST,         /* as SCAN_NEW, for a directory whose listing
                            failed: report what the records did not */
    SCAN_REPAIR          /* after an overflow: mend the watch set */
};

/* A cookie for a move the trees tell themselves (a scan or a heal found
 * it): the kernel counts its cookies up from 1, so the high half is not
 * theirs for billions of renames. */
static inline uint32_t
ino_own_cookie(ino_trees *ts)
{
    return 0x80000000u | (++ts->told_cookie & 0x7fffffffu);
}

/* ---- the pending list (ino_moves.c) ------------------------------------ */

/* Appends an entry; src and name (when not NULL) are copied.  Returns the
 * entry, valid until the list next changes, or NULL (out of memory). */
ino_move *ino_moves_add(ino_trees *ts, enum ino_move_kind kind,
                        uint32_t cookie, ino_tree *t, ino_node *node,
                        ino_node *parent, const char *src, size_t len,
                        const char *name, size_t name_len);
/* Takes the entry of this kind with this cookie out of the list into
 * *out, which then owns its strings (ino_move_clear()).  Returns 1 or 0. */
int ino_moves_take(ino_trees *ts, enum ino_move_kind kind, uint32_t cookie,
                   ino_move *out);
/* The entry of this kind for parent/name (its name, or for RETRY its
 * src), or NULL. */
ino_move *ino_moves_find(ino_trees *ts, enum ino_move_kind kind,
                         const ino_node *parent, const char *name, size_t len);
/* Frees an entry's strings. */
void ino_move_clear(ino_move *m);
/* The node stays where it is: no pending MOVED_FROM moves or frees it. */
void ino_moves_keep(ino_trees *ts, const ino_node *n);
/* The node is being freed: nothing may point to it any more. */
void ino_moves_node_gone(ino_trees *ts, const ino_node *n);
/* The RELIST entry of node n, or NULL. */
ino_move *ino_moves_relist(ino_trees *ts, const ino_node *n);
/* 1 when node n is, or is below, a directory whose MOVED_FROM the stream
 * told as a move out and whose MOVE_SELF has not come yet: what happens
 * there now happens outside the tree (another process, still at work in
 * it, can make records between the rename's and the MOVE_SELF), and a
 * scan that meets it meets a directory new to the stream. */
int ino_moves_left_tree(const ino_trees *ts, const ino_node *n);
/* The number of RETRY and RELIST entries. */
size_t ino_moves_stale(const ino_trees *ts);
/* The tree is going: its entries end. */
void ino_moves_tree_gone(ino_trees *ts, const ino_tree *t);
/* Empties the list. */
void ino_moves_clear(ino_trees *ts);

/* ---- nodes and paths (ino_node.c) -------------------------------------- */

ino_node *ino_node_new(ino_tree *t, const char *name, size_t len, int32_t wd);
/* 1 when a is b or one of b's ancestors. */
int ino_node_is_ancestor(const ino_node *a, const ino_node *b);
/* Links a node under parent; the children map must have room for it
 * (ino_node_reserve()).  A node of another directory at the same name is
 * unwatched and freed: nodes may go while a caller runs, so hold wds, not
 * node pointers, across calls that watch (see ino_worklist). */
void ino_node_link(ino_watcher *w, ino_node *n, ino_node *parent);
/* Makes sure the children map can take one more entry without failing;
 * returns 0 or -ENOMEM. */
int ino_node_reserve(ino_watcher *w);
/* Moves a node under another parent and name (a rename in the tree);
 * returns 0 or -ENOMEM, leaving the node where it was. */
int ino_node_move(ino_watcher *w, ino_node *n, ino_node *parent,
                  const char *name, size_t len);
/* Frees a node and everything below it, deepest first; the node's own
 * watch is removed from the kernel only if rm_self. */
void ino_subtree_free(ino_watcher *w, ino_node *top, int rm_self);
/* Frees everything below a node, keeping the node. */
void ino_children_free(ino_watcher *w, ino_node *n);
/* Queues a DELETE (with flags) of everything in and below n, deepest
 * first, then of n itself: what a consumer's model must drop when n goes
 * unseen by the records.  Returns 0 or -ENOMEM. */
int ino_subtree_tell_gone(ino_watcher *w, ino_node *n, uint32_t flags);
/* Queues the DELETEs of n's own index entries, with flags. */
int ino_node_tell_files_gone(ino_watcher *w, ino_node *n, uint32_t flags);
/* Writes the node's path below the root (plus "/name" when name is not
 * NULL) into buf, which holds INO_PATH_CAP bytes; returns its length, or
 * -ENAMETOOLONG. */
long ino_node_path(const ino_node *n, const char *name, size_t name_len,
                   char *buf);
/* The absolute path (root path joined with the path below it), as
 * ino_node_path(). */
long ino_full_path(const ino_tree *t, const char *rel, size_t rel_len,
                   char *buf);
/* The stream told a directory at n/name: when no node is there (it could
 * not be watched yet, or at all), the index holds it as an entry of type
 * INO_FT_DIR, until a node takes its place (ino_node_link()) or it goes.
 * Returns 0 or -ENOMEM. */
int ino_node_told_dir(ino_watcher *w, ino_node *n, const char *name,
                      size_t len);
/* A node's index of files, keeping its tree's count: as ino_files_put(),
 * ino_files_del(), ino_files_take() and ino_files_insert(). */
int ino_node_file_put(ino_node *n, const char *name, size_t len,
                      const ino_fattr *a);
int ino_node_file_del(ino_node *n, const char *name, size_t len);
ino_file *ino_node_file_take(ino_node *n, const char *name, size_t len);
int ino_node_file_insert(ino_node *n, ino_file *f);
/* Moves the entry from/name to to/to_name (replacing what is there):
 * returns 1, 0 when from holds no such entry, or -ENOMEM (the entry is
 * then forgotten). */
int ino_node_file_move(ino_node *from, const char *name, size_t len,
                       ino_node *to, const char *to_name, size_t to_len);

/* ---- following links (ino_follow.c) ------------------------------------ */

/* 1 when a scan of a tree that follows links may follow dirfd/name (a
 * link to a directory, or a directory: see ino_follow.c), else 0. */
int ino_follow_allowed(const ino_tree *t, int dirfd, const char *name);

/* ---- watching and scanning (ino_scan.c) -------------------------------- */

/* A growable list of nodes.  A scan's list holds their wds too: watching
 * may free a node (ino_node_link()), which ino_worklist_get() then skips. */
typedef struct ino_worklist {
    ino_node **items;    /* the nodes */
    int32_t *wds;        /* their wds */
    size_t head;         /* the next to scan */
    size_t len;          /* nodes in items */
    size_t cap;          /* room in items */
} ino_worklist;

int ino_worklist_push(ino_worklist *l, ino_node *n);
/* The next node of a scan's list that is still watched, or NULL. */
ino_node *ino_worklist_next(ino_watcher *w, ino_worklist *l);
void ino_worklist_free(ino_worklist *l);

/* 1 when a tree's exclude globs leave the name out. */
int ino_excluded(const ino_tree *t, const char *name);
/* Queues a record of the tree's root (with src, a paired move), or a
 * failure to watch rel (err, an errno).  Return 0 or -ENOMEM. */
int ino_tree_push(ino_watcher *w, const ino_tree *t, uint32_t mask,
                  uint32_t cookie, const char *rel, size_t rel_len,
                  const char *src, size_t src_len);
int ino_tree_push_error(ino_watcher *w, const ino_tree *t, int err,
                        const char *rel, size_t rel_len);

/* 1 when the directory open as fd is node n (its watch), 0 when it is
 * another, or a negative errno. */
int ino_fd_is_node(ino_watcher *w, int fd, const ino_node *n);
/* Watches parent/name, by parent's descriptor dirfd, or with dirfd -1 by
 * its path, checked to lead to it (-ESTALE when it does not, or leads
 * nowhere: a rename above is still to be read), or with
 * INO_BY_PATH by its path unchecked: see ino_scan.c. */
#define INO_BY_PATH (-2)
/* may_move: a node of the tree met at that name may be moved there
 * (INO_WATCH_MOVE, which is 1); with INO_WATCH_KNOWN too, a directory new
 * to the watcher is not watched (0, *out NULL): only a node the tree has
 * is taken. */
#define INO_WATCH_MOVE 1
#define INO_WATCH_KNOWN 2
int ino_watch_dir(ino_watcher *w, ino_tree *t, ino_node *parent, int dirfd,
                  const char *name, size_t len, int may_move, int tell,
                  ino_node **out);
/* Scans a watched directory and every new directory below it; returns 0
 * or a negative errno. */
int ino_scan(ino_watcher *w, ino_node *start, enum ino_scan_mode mode);
/* 1 when a directory entry is a directory the tree descends into. */
int ino_entry_is_dir(const ino_tree *t, DIR *d, const struct dirent *de);
/* fstatat() of dirfd/name, not following a link, into *a; 0 or -errno. */
int ino_stat_entry(int dirfd, const char *name, ino_fattr *a);
/* Opens node n's directory by its path, checked to lead to n: the
 * descriptor, -ESTALE when it leads elsewhere, or a negative errno. */
int ino_open_node(ino_watcher *w, const ino_node *n);
/* Reads the kernel's queue into the deferred records while a scan runs. */
void ino_scan_drain(ino_watcher *w);
/* Reports the move a scan found (the last pending entry, MOVE_TOLD) of
 * directory n/name, with flags on both events.  0 or -ENOMEM. */
int ino_report_moved(ino_watcher *w, ino_node *n, const char *name, size_t len,
                     uint32_t flags);

/* ---- healing (ino_heal.c) --------------------------------------------- */

/* Heals every tree that owes a heal (t->heal_owed), and polls every
 * other that owes a poll (t->poll_owed); 0 or a negative errno. */
int ino_heal_owed(ino_watcher *w);
/* Heals one tree now; 0 or a negative errno. */
int ino_heal_tree(ino_watcher *w, ino_tree *t);

/* ---- a tree started from a saved state (ino_state.c) -------------------- */

/* A node loaded from a state file and not watched yet has a negative wd,
 * its place among the tree's loaded directories (t->since). */

/* A heal watched path (wd, not in the table): when it is a loaded
 * directory of t (the same device and inode), that node takes the watch.
 * Returns 1 with *out its new table entry, 0 when it is none, or
 * -ENOMEM. */
int ino_since_adopt(ino_watcher *w, ino_tree *t, const char *path, int32_t wd,
                    ino_entry **out);
/* 1 when wd (negative) is the loaded, unwatched node n of a tree. */
int ino_since_holds(const ino_watcher *w, int32_t wd, const ino_node *n);
/* A loaded node is being freed. */
void ino_since_node_gone(ino_node *n);
/* A heal begins: the loaded nodes are not met yet. */
void ino_since_unsee(ino_tree *t);
void ino_since_free(ino_tree *t);

/* What ino_tree_add_with() fills a new tree by, its root watched: 0 or a
 * negative errno (the tree is then rolled back). */
typedef int (*ino_tree_fill)(ino_watcher *w, ino_tree *t, void *arg);
/* ino_add_tree() with fill instead of the first scan (NULL: the scan). */
int ino_tree_add_with(ino_watcher *w, const char *path, uint32_t mask,
                      const char *const *exclude, size_t nexclude, int flags,
                      ino_tree_fill fill, void *arg, ino_entry **out,
                      size_t *in_use);

/* ---- a poll's directories (ino_poll.c, for ino_heal.c) ----------------- */

/* The directory at n/name, listed with inode number d_ino, when the node
 * of the tree there has that inode but the kernel now knows it as another
 * inode (FUSE): the node, given the new watch, else NULL (watch it as
 * usual). */
ino_node *ino_poll_same_dir(ino_watcher *w, ino_node *n, int dirfd,
                            const char *name, size_t len, uint64_t d_ino);
/* fresh, a node just made at n/name for a directory listed with inode
 * number d_ino: when a node of the polled directory top has that inode
 * and is no longer where it was, it was renamed unseen: it is given
 * fresh's watch (fresh is freed), moved to n/name with all it holds, and
 * its move queued (MOVED_FROM, MOVED_TO with INO_RESCAN).  Returns it,
 * or NULL (*err set to -ENOMEM when out of memory). */
ino_node *ino_poll_moved_dir(ino_watcher *w, ino_node *top, ino_node *n,
                             ino_node *fresh, const char *name, size_t len,
                             uint64_t d_ino, int *err);

/* ---- rewriting kernel records (ino_rewrite.c) -------------------------- */

/* Rewrites the kernel's records in buf[0..len) into the queue; returns 0
 * or a negative errno. */
int ino_tree_rewrite(ino_watcher *w, const char *buf, size_t len);
/* Rewrites what scans read (the deferred records), then owes the queue
 * an IN_Q_OVERFLOW if such a read lost records; returns 0, the error such
 * a read met, or a negative errno. */
int ino_tree_rewrite_deferred(ino_watcher *w);
/* The kernel's queue was seen empty: ends the moves still waiting and
 * watches the directories whose path was stale.  Returns 0 or -ENOMEM. */
int ino_tree_drained(ino_watcher *w);

#endif /* INO_TREES_H */
