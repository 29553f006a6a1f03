/*
 * ino_internal.h: what the core's files share and ino.h does not show:
 * the queue's private record flags and calls, the one read of the
 * descriptor, the name map, and the hooks the watcher calls the trees by.
 */
#ifndef INO_INTERNAL_H
#define INO_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ino.h"

/* Flags of queued records that the kernel never sets (bits 20 to 23 are
 * unused by inotify).  Every kernel record has them cleared as it is read
 * (so that none can pass for one of ours); ino_next() turns SRC and ERROR
 * into event fields and strips them, and leaves INO_SYNC (ino.h), which
 * is the event's mask. */
#define INO_PRIV_SRC 0x00100000u     /* the name field holds "path\0src\0" */
#define INO_PRIV_ERROR 0x00200000u   /* a failure to watch: cookie = errno */
#define INO_PRIV_FIELDS (INO_PRIV_SRC | INO_PRIV_ERROR)
/* A record of a fanotify watcher's reads only, never queued: the file
 * handle of the directory the next record (a CREATE or MOVED_TO of a
 * directory) tells of; cookie = the key's length, the name field its
 * bytes (see ino_fan.c). */
#define INO_PRIV_KEY 0x00800000u
#define INO_PRIV_BITS (INO_PRIV_FIELDS | INO_PRIV_KEY | INO_SYNC)

/* The largest path (below a tree's root) a queued record may carry. */
#define INO_PATH_CAP (2u * PATH_MAX)
/* The largest name field of a queued record: a path and a source path. */
#define INO_QUEUE_FIELD_MAX (2u * INO_PATH_CAP + 16u)

/* The read buffers of a watcher with trees (ino_trees_read(), reads during
 * scans), and the first size of the deferred records.
 */
#define INO_READ_BUF_SIZE (64u * 1024u)

/* The one read of an inotify descriptor, shared by every read loop of the
 * core: retries EINTR and returns the bytes read or a negative errno
 * (-EAGAIN, which is also EWOULDBLOCK on Linux, when the kernel's queue is
 * empty). */
static inline long
ino_read_fd(int fd, void *buf, size_t room)
{
    ssize_t n;

    do {
        n = read(fd, buf, room);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : (long)n;
}

/* ---- decoding (ino_decode.c) ------------------------------------------- */

/* Frames the kernel's records in buf[0..len): sets *valid to the bytes of
 * the well-formed ones and *count to their number, and returns 0, or
 * -EBADMSG when a malformed record (truncated, or a name field over
 * INO_NAME_FIELD_MAX) follows them.  Only the headers are read. */
int ino_frame(const char *buf, size_t len, size_t *valid, size_t *count);

/* ino_frame() for records just read into the queue: in the same walk it
 * clears the queue's private bits from each record's mask, so that no
 * kernel record can pass for one of ours. */
int ino_frame_strip(char *buf, size_t len, size_t *valid, size_t *count);

/* ino_decode() with another bound on the name field. */
int ino_decode_field(const char *buf, size_t len, size_t *offset,
                     ino_event *ev, size_t max_field);

/* ---- the watch table (ino_table.c) ------------------------------------- */

/* The slot where wd's probe starts: Fibonacci hashing, the top log2
 * (capacity) bits of the product, which depend on every bit of the wd and
 * put consecutive wds (the kernel's) far apart, nearly never in one run:
 * the table can be filled to seven eighths (ino_table.c).  The capacity
 * is a power of two, at least 16. */
static inline size_t
ino_table_slot(const ino_table *t, int32_t wd)
{
    uint64_t h = (uint64_t)(uint32_t)wd * 0x9E3779B97F4A7C15ull;

    return (size_t)(h >>
                    (64 - __builtin_ctzll((unsigned long long)t->capacity)));
}

/* Prefetches the slot where wd's probe starts: the first scan asks for
 * the slot of the wd it expects before the system call that makes it,
 * which then hides the slot's cache (and TLB) miss, a random one in a
 * table of a million watches. */
static inline void
ino_table_prefetch(const ino_table *t, int32_t wd)
{
    if (t->capacity > 0) {
        __builtin_prefetch(&t->slots[ino_table_slot(t, wd)], 1);
    }
}

/* ino_table_find(), inline for ino_next(), which looks up every event. */
static inline ino_entry *
ino_table_lookup(const ino_table *t, int32_t wd)
{
    size_t i;

    if (t->capacity == 0 || wd <= 0) {
        return NULL;
    }
    for (i = ino_table_slot(t, wd);; i = (i + 1) & (t->capacity - 1)) {
        if (t->slots[i].wd == wd) {
            return &t->slots[i];
        }
        if (t->slots[i].wd == 0) {
            return NULL;
        }
    }
}

/* ---- the queue (ino_queue.c) ------------------------------------------- */

void ino_queue_init(ino_queue *q, size_t max_queued);
void ino_queue_free(ino_queue *q);

/* Returns the free tail of the newest chunk, with room for at least need
 * bytes (a fresh chunk is added when the tail has less) and its size in
 * *room, or NULL when out of memory.  Records read there join the queue
 * with ino_queue_commit(). */
char *ino_queue_reserve(ino_queue *q, size_t need, size_t *room);
/* Adds the len bytes, count framed records, just written at the pointer
 * ino_queue_reserve() returned. */
void ino_queue_commit(ino_queue *q, size_t len, size_t count);

/* Appends a record to the queue; src may be NULL.  Returns 0 or -ENOMEM. */
int ino_queue_push(ino_queue *q, int32_t wd, uint32_t mask, uint32_t cookie,
                   const char *name, size_t name_len, const char *src,
                   size_t src_len);

/* The queue's chunks (a list, oldest first).  Defined here so that
 * ino_queue_take(), which runs for every event, inlines into ino_next(). */
#define INO_CHUNK_SIZE (64u * 1024u)

struct ino_chunk {
    ino_chunk *next;            /* the next newer chunk, or NULL */
    size_t len;                 /* bytes of framed records in buf */
    size_t pos;                 /* offset of the first record not taken */
    char buf[INO_CHUNK_SIZE];   /* the records, in the kernel's layout */
};

/* ino_queue_take()'s rare cases: a head chunk whose records are all taken
 * (ino_queue_take_next_chunk() drops or rewinds it and takes from the
 * next), and a record with private flags. */
int ino_queue_take_next_chunk(ino_queue *q, ino_event *ev);
void ino_queue_unpack_private(ino_event *ev);

/* The length of the NUL-padded name in field[0..len), as strnlen(): 16
 * bytes at a time with SSE2 (the kernel pads every name field to a
 * multiple of 16, so that is one compare for a name up to 15 bytes), then
 * a word at a time while whole words fit. */
static inline uint32_t
ino_name_length(const char *field, size_t len)
{
    const uint64_t lows = UINT64_C(0x7F7F7F7F7F7F7F7F);
    size_t i = 0;

#if defined(__SSE2__)
    for (; i + 16 <= len; i += 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(field + i));
        unsigned nul = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(block, _mm_setzero_si128()));

        if (nul != 0) {
            return (uint32_t)(i + (size_t)__builtin_ctz(nul));
        }
    }
#endif
    for (; i + 8 <= len; i += 8) {
        uint64_t w, zero;

        memcpy(&w, field + i, 8);
        /* The high bit of each byte that is 0, and of no other (no carry
         * crosses a byte). */
        zero = ~(((w & lows) + lows) | w | lows);
        if (zero != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            return (uint32_t)(i + (size_t)__builtin_clzll(zero) / 8);
#else
            return (uint32_t)(i + (size_t)__builtin_ctzll(zero) / 8);
#endif
        }
    }
    while (i < len && field[i] != '\0') {
        i++;
    }
    return (uint32_t)i;
}

/* Takes the oldest record into *ev, its private flags turned into event
 * fields; returns 1, or 0 when the queue is empty.  ev->name points into
 * the queue until its next call. */
static inline int
ino_queue_take(ino_queue *q, ino_event *ev)
{
    ino_chunk *c = q->head;
    uint32_t field[4]; /* wd, mask, cookie, len */
    const char *rec;

    if (c == NULL || c->pos >= c->len) {
        return c == NULL ? 0 : ino_queue_take_next_chunk(q, ev);
    }
    /* Every record was framed when it joined the queue (ino_frame_strip()
     * or ino_queue_push()): it lies wholly in buf[pos..len), so it is
     * decoded without the checks of ino_decode_field(). */
    rec = c->buf + c->pos;
    memcpy(field, rec, sizeof field);
    assert(field[3] <= INO_QUEUE_FIELD_MAX &&
           field[3] <= c->len - c->pos - INO_RECORD_HEADER);
    ev->wd = (int32_t)field[0];
    ev->mask = field[1];
    ev->cookie = field[2];
    ev->name = rec + INO_RECORD_HEADER;
    ev->name_len = ino_name_length(ev->name, field[3]);
    ev->src = NULL;
    ev->src_len = 0;
    ev->error = 0;
    ev->udata = NULL;
    ev->released = 0;
    c->pos += INO_RECORD_HEADER + field[3];
    q->queued--;
    if (ev->mask & INO_PRIV_BITS) {
        ino_queue_unpack_private(ev);
    }
    return 1;
}

/* ---- syncs (ino_sync.c) ------------------------------------------------ */

/* Called by ino_read() after it read: completes the syncs it may (the
 * read saw the kernel's queue empty, or it read as far as a sync waited
 * for).  Returns 0 or -ENOMEM (an INO_SYNC event could not be queued; the
 * sync has completed all the same). */
int ino_sync_after_read(ino_watcher *w);
/* ino_open() and ino_close(): no sync, nothing allocated. */
void ino_sync_init(ino_syncs *s);
void ino_sync_free(ino_syncs *s);

/* ---- the name map (ino_nmap.c) ----------------------------------------- */

/* A map from (owner, name) to a pointer: a tree's children by parent and
 * name, and the names a scan reported by wd. */
typedef struct ino_nmap_slot ino_nmap_slot;
typedef struct ino_nmap {
    ino_nmap_slot *slots; /* capacity slots */
    size_t capacity; /* a power of two, or 0 */
    size_t count; /* slots in use */
} ino_nmap;

/* Names are copied when owns is set, else the map points at names its
 * caller keeps alive and unchanged. */
void ino_nmap_init(ino_nmap *m);
void ino_nmap_free(ino_nmap *m, int owns);
void *ino_nmap_get(const ino_nmap *m, uintptr_t owner, const char *name,
                   size_t len);
int ino_nmap_put(ino_nmap *m, uintptr_t owner, const char *name, size_t len,
                 void *value, int owns);
void *ino_nmap_del(ino_nmap *m, uintptr_t owner, const char *name, size_t len,
                   int owns);
/* Frees every value (each a malloc()'d block); the keys stay. */
void ino_nmap_free_values(ino_nmap *m);
/* Makes room for more new keys, so that the next that many ino_nmap_put()
 * calls of absent keys cannot fail for want of slots (an owned name's
 * copy still can).  Returns 0 or -ENOMEM. */
int ino_nmap_reserve(ino_nmap *m, size_t more);

/* ---- the kernel's watches, by inotify or fanotify (ino_fan.c) ---------- */

/* As inotify_add_watch(2) and inotify_rm_watch(2) (a wd, 0, or -1 with
 * errno set), on either kind of watcher: a fanotify watcher numbers its
 * directories itself, the same directory always the same, and marks each
 * file system it meets once (see ino_fan.c).  Every watch the trees make
 * or remove goes through them. */
int ino_kwatch_add(ino_watcher *w, const char *path, uint32_t mask);
int ino_kwatch_rm(ino_watcher *w, int32_t wd);
/* After ino_kwatch_rm() of a watch whose IN_IGNORED the caller waits for
 * (a tree's root): a fanotify watcher queues it, as inotify would.
 * Returns 0 or -ENOMEM. */
int ino_kwatch_ignored(ino_watcher *w, int32_t wd);
/* The one read of the kernel's records for the trees: inotify's as they
 * are, fanotify's turned into inotify's layout, for the trees' directories
 * only.  Returns as ino_read_fd() (-EAGAIN: the kernel's queue is empty);
 * buf holds INO_READ_BUF_SIZE bytes, room bounds what is written (one
 * record is written however small it is). */
long ino_kernel_read(ino_watcher *w, char *buf, size_t room);
/* A fanotify watcher only: while the record a key record came with is
 * rewritten, the first ino_kwatch_add() of a directory unknown to the
 * watcher (no IN_MASK_ADD) must find that very directory (key, len), and
 * fails with EIDRM when another one is there now: the one the record told
 * of has left, and the one there since is told by its own records.  len 0
 * ends the expectation.  A no-op on an inotify watcher. */
void ino_fan_expect(ino_watcher *w, const char *key, size_t len);
/* ino_close(): frees a fanotify watcher's state. */
void ino_fan_free(ino_watcher *w);

/* ---- the hooks the watcher calls the trees by (ino_tree.c) ------------- */

/* 1 when ino_read() must go through ino_trees_read(): the watcher has
 * trees, or records read during a scan still wait to be rewritten. */
int ino_trees_active(const ino_watcher *w);
/* ino_read() for such a watcher: records are read into the trees' buffer
 * and rewritten into the queue.  Returns as ino_read(). */
long ino_trees_read(ino_watcher *w);
/* ino_rm_watch() of a tree's root: unwatches everything below it now. */
void ino_tree_unwatch(ino_watcher *w, ino_entry *root);
/* The root's IN_IGNORED was taken: frees what is left of its tree. */
void ino_tree_release(ino_watcher *w, ino_node *root);
/* Frees every tree and the trees' state; w->trees is NULL after it. */
void ino_trees_free(ino_watcher *w);

/* White-box views of the trees' private state, for the core's own tests:
 * the directories of all trees but their roots, the MOVED_FROMs waiting
 * for their MOVED_TO, and whether the watcher has no tree. */
size_t ino_trees_nodes(const ino_watcher *w);
size_t ino_trees_pending_moves(const ino_watcher *w);
int ino_trees_none(const ino_watcher *w);

#endif /* INO_INTERNAL_H */
