/*
 * ino.h: the inotipy engine, a C library over Linux inotify(7).
 *
 * It knows nothing of Python.  A program owns an `ino_watcher`, adds
 * watches, waits for the descriptor `ino_fd()` to be readable with any
 * event loop it likes, calls `ino_read()` and then takes decoded events
 * with `ino_next()` until it returns 0.
 *
 * Error convention, everywhere: a function returns 0 (or a count) on
 * success and a negative errno value on failure; callers test `< 0`.
 *
 * All state lives in the caller's `ino_watcher`; the library has no globals
 * and no function-level statics, so watchers in different threads are
 * independent (one watcher must not be used by two threads at once).
 */
#ifndef INO_H
#define INO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/inotify.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest name field the kernel writes: NAME_MAX + 1 rounded up to the
 * 16-byte record size.  A record whose name field is longer is malformed. */
#define INO_NAME_FIELD_MAX 256u

/* The fixed part of a kernel record, as in <sys/inotify.h>. */
#define INO_RECORD_HEADER 16u

/* The smallest read buffer that can never fail with EINVAL. */
#define INO_READ_MIN (INO_RECORD_HEADER + INO_NAME_FIELD_MAX)

/* The default bound of the user-space queue, in events. */
#define INO_DEFAULT_MAX_QUEUED 262144u

/* The event bits: a watch mask needs at least one.  The core's one name
 * for IN_ALL_EVENTS. */
#define INO_EVENT_BITS ((uint32_t)IN_ALL_EVENTS)

/* The mask of the event that tells that a sync has completed (see
 * ino_sync_begin()): a bit the kernel never sets.  Its wd is -1. */
#define INO_SYNC 0x00400000u

/* ino_sync_begin()'s flag: queue an INO_SYNC event when the sync
 * completes. */
#define INO_SYNC_EVENT 1u

/* Bits a caller may pass to inotify_add_watch (events and watch flags). */
#define INO_WATCH_BITS                                                        \
    (INO_EVENT_BITS | (uint32_t)IN_ONLYDIR | (uint32_t)IN_DONT_FOLLOW |       \
     (uint32_t)IN_EXCL_UNLINK | (uint32_t)IN_MASK_CREATE |                    \
     (uint32_t)IN_MASK_ADD | (uint32_t)IN_ONESHOT)

/* Bits of a tree's events that the kernel never sets (inotify leaves bits
 * 16 to 23 unused).  INO_RESCAN marks an event a heal made: after an
 * IN_Q_OVERFLOW the tree compares its index with what is on disk and
 * reports the difference as ordinary events carrying this bit.
 * INO_SYNCED (with the root's wd and an empty name) follows a heal: the
 * tree's events tell the whole tree again. */
#define INO_RESCAN 0x00010000u
#define INO_SYNCED 0x00020000u

/* The types of the entries of a tree's index (ino_tree_entries()). */
#define INO_FT_UNKNOWN 0 /* told by a record that does not say */
#define INO_FT_FILE 1    /* a regular file */
#define INO_FT_DIR 2     /* a directory of the tree */
#define INO_FT_LINK 3    /* a symbolic link */
#define INO_FT_OTHER 4   /* a fifo, socket or device */

/* Flags of ino_add_tree(). */
#define INO_TREE_FOLLOW 1   /* follow symbolic links to directories */
#define INO_TREE_NO_FILES                                                     \
    2 /* index directories only: an overflow is
                               then repaired, not healed */

/* One decoded event.  `name` points into the watcher's queue and stays
 * valid until the next call to ino_read(), ino_next() or ino_close() on the
 * same watcher; it is not NUL-terminated when name_len == 0. */
typedef struct ino_event {
    int32_t wd; /* watch descriptor, -1 for IN_Q_OVERFLOW and INO_SYNC */
    uint32_t mask;       /* the kernel's mask, IN_ISDIR and all */
    uint32_t cookie;     /* pairs IN_MOVED_FROM with IN_MOVED_TO, else 0 */
    uint32_t name_len; /* bytes in name, without the kernel's NUL padding */
    const char *name; /* the name inside the watched directory; for a
                            tree, the path below the tree's root */
    const char *src; /* a tree's paired IN_MOVED_TO: the path below the
                            root it moved from; else NULL */
    uint32_t src_len; /* bytes in src */
    int error; /* > 0: not an event but a failure to watch part
                            of a tree (an errno; name is the path) */
    void *udata; /* the watch's user pointer, NULL for overflow */
    int released; /* 1 when the watch left the table with this event
                            (IN_IGNORED): the caller now owns udata */
} ino_event;

/* One watch in the table.  Pointers to entries stay valid only until the
 * next insertion into or removal from the table. */
typedef struct ino_node ino_node;

typedef struct ino_entry {
    int32_t wd; /* the kernel's watch descriptor, > 0; 0 = free */
    uint32_t mask; /* the mask as last set, without IN_MASK_ADD */
    int removed; /* 1 after ino_rm_watch(): IN_IGNORED is pending */
    void *udata; /* the caller's pointer for this watch (for a
                            tree: set on its root only) */
    ino_node *node; /* the directory of a tree this watch is, or NULL
                            for a plain watch */
} ino_entry;

/* wd -> entry, an open-addressing hash table with linear probing. */
typedef struct ino_table {
    ino_entry *slots; /* capacity slots, wd == 0 marks a free one */
    size_t capacity; /* a power of two, or 0 before the first insert */
    size_t count; /* entries in use */
    size_t hint; /* the slot ino_next() last found its wd in: a guess,
                            checked before use (a drain's records, and a
                            tree's, mostly share one wd) */
} ino_table;

typedef struct ino_chunk ino_chunk;

/* The user-space event queue (ino_queue.c): a list of chunks holding
 * records in the kernel's layout, read into in place or written there by
 * the trees.  Read it through ino_queued(), ino_max_queued() and
 * ino_drained(). */
typedef struct ino_queue {
    ino_chunk *head; /* the oldest chunk with records not handed out */
    ino_chunk *tail; /* the chunk reads append to */
    ino_chunk *spare; /* one drained chunk kept for reuse, or NULL */
    size_t queued; /* records read from the kernel, not yet taken */
    size_t max_queued; /* ino_read() stops once queued reaches this */
    int drained; /* 1 when the last ino_read() saw the kernel's
                            queue empty (see ino_read()) */
    size_t peak; /* the most records queued at once */
    uint64_t delivered; /* events ino_next() handed out (INO_SYNC not
                           counted) */
    uint64_t overflows; /* IN_Q_OVERFLOW events among them */
} ino_queue;

/* One sync that has not completed (ino_sync.c). */
typedef struct ino_sync_wait ino_sync_wait;

/* The syncs of a watcher (ino_sync_begin()).  Tokens are handed out in
 * order and syncs complete in that order, so the ones waiting are those
 * from done + 1 to begun, in waits[0..begun - done). */
typedef struct ino_syncs {
    uint64_t begun; /* the last token handed out, 0 before the first */
    uint64_t done; /* every sync with a token up to this has completed */
    uint64_t read_bytes; /* bytes ino_read() has read from the descriptor
                            outside trees (see ino_sync.c) */
    ino_sync_wait *waits; /* the syncs waiting, oldest first */
    size_t cap; /* room in waits */
} ino_syncs;

/* The state of a watcher's trees, private to the core (ino_trees.h). */
struct ino_trees;

/* A fanotify watcher's state, private to the core (ino_fan.c). */
typedef struct ino_fan ino_fan;

typedef struct ino_watcher {
    int fd; /* the inotify (or fanotify) descriptor, -1 once closed */
    ino_fan *fan; /* NULL, or the state of a fanotify watcher */
    ino_table table; /* the watches this watcher knows */
    ino_queue queue; /* events read and not yet taken */
    struct ino_trees *trees; /* NULL until the first ino_add_tree() */
    ino_syncs sync; /* ino_sync_begin()'s syncs */
} ino_watcher;

/* ---- decoding ---------------------------------------------------------- */

/* Decodes the record at *offset in buf[0..len).  Returns 1 and advances
 * *offset past it, 0 when *offset == len, or -EBADMSG when the record is
 * truncated or its name field is larger than INO_NAME_FIELD_MAX (nothing
 * past len is ever read).  ev->udata and ev->released are set to 0. */
int ino_decode(const char *buf, size_t len, size_t *offset, ino_event *ev);

/* Counts the records in buf[0..len); returns the count, or -EBADMSG with
 * *valid_len set to the length of the well-formed prefix. */
long ino_validate(const char *buf, size_t len, size_t *valid_len);

/* ---- watch table ------------------------------------------------------- */

void ino_table_init(ino_table *t);
void ino_table_free(ino_table *t);
ino_entry *ino_table_find(const ino_table *t, int32_t wd);
/* Inserts wd (which must not be present); returns 0 and sets *out, or
 * -EINVAL for wd <= 0, or -ENOMEM. */
int ino_table_insert(ino_table *t, int32_t wd, ino_entry **out);
/* Removes wd; returns 0 and copies the entry to *old (if not NULL), or
 * -ENOENT. */
int ino_table_remove(ino_table *t, int32_t wd, ino_entry *old);
/* Iterates: start with *pos = 0; returns the next entry or NULL.  The
 * table must not gain or lose entries during an iteration. */
ino_entry *ino_table_next(const ino_table *t, size_t *pos);

/* ---- watcher ----------------------------------------------------------- */

/* Opens an inotify instance (always IN_NONBLOCK | IN_CLOEXEC).  max_queued
 * bounds the user-space queue (0 = INO_DEFAULT_MAX_QUEUED). */
int ino_open(ino_watcher *w, size_t max_queued);
/* Closes the descriptor and frees the queue and table; idempotent.  It does
 * not touch udata pointers: iterate the table first to release them. */
int ino_close(ino_watcher *w);
/* Turns a watcher that has no watch yet into a fanotify watcher (Linux
 * 5.17, CAP_SYS_ADMIN): its descriptor, under the same number, is then a
 * fanotify group's, its trees (ino_add_tree()) are heard by one mark per
 * file system instead of a watch per directory, and it takes no plain
 * watch (ino_add_watch() fails with -EOPNOTSUPP).  Returns 0 (also when
 * it is one already), -EBUSY when it has watches, -EPERM without the
 * privilege, -EINVAL before Linux 5.9 (no FAN_REPORT_DFID_NAME), or
 * another negative errno of fanotify_init(2).  A kernel before 5.17 (no
 * FAN_RENAME), or a file system without file handles, fails the first
 * ino_add_tree() there (-EINVAL, -EOPNOTSUPP, -ENODEV or -EXDEV). */
int ino_use_fanotify(ino_watcher *w);
/* Turns a fanotify watcher that has no tree any more back into an
 * inotify watcher, under the same descriptor number (after a first
 * ino_add_tree() that failed, say).  Returns 0 (also when it is one
 * already), -EBUSY while it has trees, or an error of inotify_init1(). */
int ino_use_inotify(ino_watcher *w);
/* 1 for a fanotify watcher. */
static inline int
ino_is_fanotify(const ino_watcher *w)
{
    return w->fan != NULL;
}
static inline int
ino_fd(const ino_watcher *w)
{
    return w->fd;
}
/* The number of watches in the table (trees' directories included). */
static inline size_t
ino_watch_count(const ino_watcher *w)
{
    return w->table.count;
}
/* The watcher's table of watches, for ino_table_find() and
 * ino_table_next() (to free every udata before ino_close(), say). */
static inline ino_table *
ino_watches(ino_watcher *w)
{
    return &w->table;
}
/* Records read from the kernel and not yet taken by ino_next(). */
static inline size_t
ino_queued(const ino_watcher *w)
{
    return w->queue.queued;
}
/* The bound on ino_queued() given to ino_open(). */
static inline size_t
ino_max_queued(const ino_watcher *w)
{
    return w->queue.max_queued;
}
/* 1 when the last ino_read() saw the kernel's queue empty. */
static inline int
ino_drained(const ino_watcher *w)
{
    return w->queue.drained;
}

/* Adds or updates a watch.  Returns 1 when a new entry was made (its udata
 * is NULL: set it), 0 when the kernel returned a wd already in the table
 * (the same inode: its mask is updated), -EBUSY when that inode is a
 * directory of a tree, or another negative errno.  *out is the
 * entry, valid until the table next changes. */
int ino_add_watch(ino_watcher *w, const char *path, uint32_t mask,
                  ino_entry **out);
/* Asks the kernel to remove a watch.  The entry stays, marked removed,
 * until its IN_IGNORED is taken with ino_next().  An already gone watch
 * (EINVAL from the kernel) is not an error. */
int ino_rm_watch(ino_watcher *w, int32_t wd);
/* Drops an entry at once, without waiting for IN_IGNORED (used to roll
 * back a watch whose caller-side object could not be made). */
void ino_forget_watch(ino_watcher *w, int32_t wd);

/* Reads from the descriptor until the kernel's queue is seen empty or
 * until our queue holds max_queued events.  The kernel's queue is seen
 * empty at EAGAIN, or when a read leaves room for a whole record unused
 * (the kernel fills a read while records fit): then no second read is
 * spent to hear EAGAIN, and ino_drained() is 1 (it is 0 again when a read
 * stops for want of room).  With level-triggered readiness a caller that
 * finds ino_drained() set may wait for readiness instead of reading: records
 * that came after that read make the descriptor readable.  Returns the
 * number of events queued by this call, or a negative errno (-EBADMSG if
 * the kernel wrote a malformed record: the well-formed records before it
 * are kept).  With trees, a read that ino_add_tree() or a scan made and
 * that failed has its error returned here, and records such a read could
 * not keep for want of memory are told by an IN_Q_OVERFLOW event (then
 * the trees are repaired, as after the kernel's own overflow).  It also
 * completes the syncs it can (ino_sync_begin()); -ENOMEM with nothing
 * queued may mean that a sync's INO_SYNC event could not be queued (it is
 * tried again by the next call). */
long ino_read(ino_watcher *w);
/* 1 when the queue is at its bound and ino_read() would read nothing.
 * While a sync waits (ino_sync_begin()) the bound is lifted: the queue is
 * never full then. */
static inline int
ino_full(const ino_watcher *w)
{
    return w->queue.queued >= w->queue.max_queued &&
           w->sync.done == w->sync.begun; /* no sync waits */
}
/* Takes the next event; returns 1, or 0 when the queue is empty.  Events of
 * wds not in the table are skipped; wd -1 is IN_Q_OVERFLOW, or INO_SYNC
 * (only after ino_sync_begin() with INO_SYNC_EVENT).  On IN_IGNORED the entry is removed
 * from the table and ev->released is 1. */
int ino_next(ino_watcher *w, ino_event *ev);
/* 1 when ino_next() may have an event (the queue is not empty). */
static inline int
ino_pending(const ino_watcher *w)
{
    return w->queue.queued > 0;
}

/* ---- sync ------------------------------------------------------------- */

/* Begins a sync: it completes once every event of a change made before
 * this call is in the queue, for ino_next() to take (or, if the kernel's
 * queue overflowed, an IN_Q_OVERFLOW is there in its place), a tree's
 * events included: what its scans find, and the moves out it tells at
 * the drain.  Nothing is written to any watched directory: the kernel
 * queues an event while the system call that causes it runs, so reading
 * what the kernel holds now (FIONREAD) is enough, or for a watcher with
 * trees, reading until the kernel's queue is seen empty and the trees
 * are settled.  A change that a system call still running makes is not
 * "before".
 *
 * Sets *token (1, 2, 3, ... in the order of the calls) and returns 1 when
 * the sync has completed already (the kernel held nothing and the watcher
 * has no tree), 0 when it waits, or a negative errno (-EBADF once
 * closed, -ENOMEM).  A waiting sync completes in ino_read(): call it
 * right away, without waiting for the descriptor to be readable (with a
 * tree, the read that sees the kernel's queue empty completes it), then
 * as usual.  ino_synced() tells which syncs have completed; syncs
 * complete in the order they began.  While one waits ino_full() is 0 and
 * ino_read() reads past the queue's bound, as far as the kernel's queue
 * holds (its max_queued_events bounds that).  With flags INO_SYNC_EVENT,
 * its completion is also queued as an event of wd -1, mask INO_SYNC and
 * the token's low 32 bits as cookie, after every event the sync waited
 * for.  A sync cannot be cancelled; one nobody waits for any more just
 * completes.  ino_close() ends every sync. */
int ino_sync_begin(ino_watcher *w, unsigned flags, uint64_t *token);
/* Every sync whose token is at most this has completed. */
static inline uint64_t
ino_synced(const ino_watcher *w)
{
    return w->sync.done;
}
/* 1 while a sync waits: ino_read() must be called until it completes,
 * even with the queue at its bound. */
static inline int
ino_sync_waiting(const ino_watcher *w)
{
    return w->sync.done != w->sync.begun;
}

/* Reads the inotify limit /proc/sys/fs/inotify/<name> (max_user_watches,
 * max_user_instances or max_queued_events).  Returns its value, or -EINVAL
 * for a name that is not a plain file name or a file that holds no
 * number, -ERANGE for a number that does not fit, or the errno of opening
 * or reading it. */
long ino_sysctl(const char *name);

/* What a watcher has done, for monitoring (ino_stats()). */
typedef struct ino_stats {
    size_t watches; /* inotify watches held, trees' directories included
                       (0 for a fanotify watcher) */
    size_t queued; /* events read and not yet taken */
    size_t peak_queued; /* the most that were ever waiting at once */
    uint64_t delivered; /* events taken with ino_next() */
    uint64_t overflows; /* IN_Q_OVERFLOW events among them */
    uint64_t rescans; /* trees healed or repaired after an overflow */
    size_t tree_dirs; /* directories of all trees */
    size_t tree_files; /* entries of all trees' file indexes */
} ino_stats;

/* Fills *st. */
void ino_get_stats(const ino_watcher *w, ino_stats *st);

/* ---- trees ------------------------------------------------------------- */

/* Watches a directory and every directory below it, now and later.  Events
 * of the whole tree come with the root's wd (and udata), the path below the
 * root as the name, and src set on a paired IN_MOVED_TO.  A directory that
 * appears is watched, then scanned, and what the scan finds is reported as
 * IN_CREATE.  Names matching an exclude glob (fnmatch, on the name alone)
 * are neither watched nor reported.  mask holds the events to report.
 * flags: INO_TREE_FOLLOW follows symbolic links to directories below the
 * root; unless INO_TREE_NO_FILES, the tree also keeps an index of its
 * files (name, type, inode, size, mtime), which heals it after an
 * IN_Q_OVERFLOW: the difference between the index and the disk is
 * reported as events with INO_RESCAN, then one INO_SYNCED event.
 * Returns 1 and *out (the root's entry: set its udata) when a tree was
 * made, -EBUSY when the directory is already watched, or a negative
 * errno; on failure (ENOSPC, say) everything this call
 * added is removed again.  *in_use is set to the number of watches the
 * watcher held when it failed (for messages), if not NULL.  While it scans
 * it reads the kernel's queue (so that a large tree cannot overflow it):
 * what it read waits in the watcher and does not make the descriptor
 * readable, so call ino_read() and take events before waiting for
 * readiness again. */
int ino_add_tree(ino_watcher *w, const char *path, uint32_t mask,
                 const char *const *exclude, size_t nexclude, int flags,
                 ino_entry **out, size_t *in_use);
/* Calls fn(arg, directories so far) every 1024 directories that the first
 * scan of each ino_add_tree() from now on watches; when fn returns
 * non-zero, that ino_add_tree() stops, rolls back and returns -ECANCELED.
 * fn NULL: no calls.  Returns 0 or -ENOMEM. */
int ino_set_tree_progress(ino_watcher *w, int (*fn)(void *arg, size_t dirs),
                          void *arg);
/* The number of directories a tree watches, 0 if wd is no tree root. */
size_t ino_tree_size(const ino_watcher *w, int32_t wd);
/* The number of entries that are not directories a tree's index holds. */
size_t ino_tree_files(const ino_watcher *w, int32_t wd);

/* One entry of a tree's index: what its events have told, read from
 * memory.  path is below the root and valid only during the callback. */
typedef struct ino_tree_entry {
    const char *path; /* NUL-terminated */
    size_t path_len;
    int type; /* INO_FT_* */
    uint64_t ino; /* 0 when not known (directories: not kept) */
    int64_t size; /* -1 when not known */
    int64_t mtime_ns; /* -1 when not known */
} ino_tree_entry;

/* Calls fn for every entry below the tree whose root has watch wd, each
 * directory before what it holds; stops when fn returns non-zero and
 * returns that value.  Returns 0 when done, or -ENOENT when wd is no
 * tree's root, or -ENOMEM. */
int ino_tree_entries(ino_watcher *w, int32_t wd,
                     int (*fn)(void *arg, const ino_tree_entry *entry),
                     void *arg);

/* ---- polling (ino_poll.c) --------------------------------------------- */

/* Marks the directory rel (rel_len bytes, components split by '/', ""
 * for the root) of the tree whose root has watch wd as polled: each poll
 * of the tree compares it and everything below it with the tree's index,
 * and queues the difference as events with INO_RESCAN (CREATE, DELETE,
 * MODIFY by size or mtime, MOVED_FROM and MOVED_TO paired by inode with a
 * cookie of the trees' own), as after an overflow but with no INO_SYNCED.
 * This is for what inotify cannot see: changes made on a network or FUSE
 * file system by others than this kernel.  The kernel's watches stay and
 * tell at once what this kernel does there.  A polled directory that
 * holds another covers it.  Returns 1 when marked, 0 when a polled
 * directory covers it already, -ENOENT when wd is no tree's root or rel
 * no directory of it, -EINVAL for a tree made with INO_TREE_NO_FILES (a
 * poll compares with the index), or -ENOMEM. */
int ino_tree_poll_at(ino_watcher *w, int32_t wd, const char *rel,
                     size_t rel_len);
/* Asks for a poll of the tree whose root has watch wd (0: of every tree
 * with polled directories).  It runs in the next ino_read() that sees the
 * kernel's queue empty, as a heal does, so that it compares with an index
 * that holds every record read before: call ino_read() now (a queue at
 * its bound postpones it until the consumer has taken events).  Returns
 * the number of trees that owe a poll, -ENOENT when wd is no tree's root,
 * or -EBADF once closed. */
int ino_tree_poll(ino_watcher *w, int32_t wd);
/* The number of polled directories of the tree whose root has watch wd
 * (0 if none, or if wd is no tree's root). */
size_t ino_tree_polled(const ino_watcher *w, int32_t wd);

/* ---- saved state: catching up across restarts (ino_state.c) ---------- */

/* A state file read and checked whole (ino_state_load()): the index of one
 * or more trees, as ino_state_save() wrote it.  docs/state-format.md
 * describes the file. */
typedef struct ino_state ino_state;

/* The newest version of the file this library reads and writes. */
#define INO_STATE_VERSION 1u

/* What is wrong with a state file (ino_state_error.reason). */
#define INO_STATE_OK 0
#define INO_STATE_NOT_STATE 1 /* not a state file (no magic) */
#define INO_STATE_TRUNCATED 2 /* shorter than it says it is */
#define INO_STATE_CORRUPT 3   /* checksum or a record is wrong */
#define INO_STATE_TOO_NEW 4   /* a version this library cannot read */
#define INO_STATE_FOREIGN 5   /* no tree of this root (path or inode) */
#define INO_STATE_OTHER_FS 6  /* the root is on another device now */

typedef struct ino_state_error {
    int reason;       /* INO_STATE_* */
    char detail[256]; /* a sentence saying what is wrong */
} ino_state_error;

/* Writes the index of the trees whose roots have watches wds[0..n) to
 * path: a temporary file in path's directory, written, fsync()ed and
 * renamed over path, then the directory fsync()ed; on failure the
 * temporary file is removed and path is untouched.  The file is made
 * with mode 0600.  Returns 0, -ENOENT when a wd is no tree's root,
 * -EINVAL when a tree keeps no index of its files (INO_TREE_NO_FILES) or
 * n is 0, or the errno of a failed system call.  Entries whose attributes
 * the tree has not read since its events told a change are stat()ed now
 * when the kernel holds no record (so the file says what they are), and
 * else saved as changed (the catch-up reports them modified).  Save once
 * every event queued has been taken: the index already holds them. */
int ino_state_save(ino_watcher *w, const int32_t *wds, size_t n,
                   const char *path);
/* ino_state_save() in two steps: the file's bytes in memory (*out, to
 * free()), then written atomically (which touches no watcher, so it may
 * run while another thread uses it). */
int ino_state_encode(ino_watcher *w, const int32_t *wds, size_t n, void **out,
                     size_t *out_len);
int ino_state_write(const char *path, const void *buf, size_t len);

/* Reads and checks a state file: 0 and *out (free it with
 * ino_state_free()), -EBADMSG with *err saying what is wrong, or the
 * errno of opening or reading it.  Nothing of a file that fails a check
 * is used. */
int ino_state_load(const char *path, ino_state **out, ino_state_error *err);
/* The same for the bytes of a file in memory (copied). */
int ino_state_parse(const void *buf, size_t len, ino_state **out,
                    ino_state_error *err);
void ino_state_free(ino_state *st);
/* The number of trees in a state. */
size_t ino_state_trees(const ino_state *st);

/* As ino_add_tree(), but the tree's index is the one st holds for the
 * directory at path (the same device and inode as its root then), not a
 * scan: the tree is then healed against the disk, and what changed while
 * nobody watched is queued as events with INO_RESCAN (creates, deletes,
 * moves paired by inode, files whose size or mtime changed as IN_MODIFY),
 * then one INO_SYNCED event.  -EBADMSG with *err when st holds no tree of
 * this root (INO_STATE_FOREIGN, INO_STATE_OTHER_FS); -EINVAL with
 * INO_TREE_NO_FILES.  Other returns as ino_add_tree(). */
int ino_add_tree_since(ino_watcher *w, const char *path, uint32_t mask,
                       const char *const *exclude, size_t nexclude, int flags,
                       const ino_state *st, ino_state_error *err,
                       ino_entry **out, size_t *in_use);

#ifdef __cplusplus
}
#endif

#endif /* INO_H */
