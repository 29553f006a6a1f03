/*
 * ino_internal.h: what the core's files share and ino.h does not show.
 */
#ifndef INO_INTERNAL_H
#define INO_INTERNAL_H

#include <limits.h>

#include "ino.h"

/* Flags of queued records that the kernel never sets (bits 20 and 21 are
 * unused by inotify); ino_next() strips them. */
#define INO_PRIV_SRC 0x00100000u     /* the name field holds "path\0src\0" */
#define INO_PRIV_ERROR 0x00200000u   /* a failure to watch: cookie = errno */
#define INO_PRIV_BITS (INO_PRIV_SRC | INO_PRIV_ERROR)

/* The largest path (below a tree's root) a queued record may carry. */
#define INO_PATH_CAP (2u * PATH_MAX)
/* The largest name field of a queued record: a path and a source path. */
#define INO_QUEUE_FIELD_MAX (2u * INO_PATH_CAP + 16u)

/* The read buffer of a watcher with trees, and the size of a queue chunk.
 */
#define INO_SCRATCH_SIZE (64u * 1024u)

/* Frames the kernel's records in buf[0..len): sets *valid to the bytes of
 * the well-formed ones and *count to their number, and returns 0, or
 * -EBADMSG when a malformed record (truncated, or a name field over
 * INO_NAME_FIELD_MAX) follows them.  Only the headers are read; with
 * strip set, the queue's private bits are cleared from each record's mask
 * so that no kernel record can pass for one of ours. */
int ino_frame(char *buf, size_t len, int strip, size_t *valid,
              size_t *count);

/* ino_decode() with another bound on the name field. */
int ino_decode_field(const char *buf, size_t len, size_t *offset,
                     ino_event *ev, size_t max_field);

/* Appends a record to the queue; src may be NULL.  Returns 0 or -ENOMEM. */
int ino_queue_push(ino_watcher *w, int32_t wd, uint32_t mask,
                   uint32_t cookie, const char *name, size_t name_len,
                   const char *src, size_t src_len);

/* The name map (ino_nmap.c).  Names are copied when owns is set, else the
 * map points at names its caller keeps alive and unchanged. */
void ino_nmap_init(ino_nmap *m);
void ino_nmap_free(ino_nmap *m, int owns);
void *ino_nmap_get(const ino_nmap *m, uintptr_t owner, const char *name,
                   size_t len);
int ino_nmap_put(ino_nmap *m, uintptr_t owner, const char *name, size_t len,
                 void *value, int owns);
void *ino_nmap_del(ino_nmap *m, uintptr_t owner, const char *name,
                   size_t len, int owns);

/* Trees (ino_tree.c). */
int ino_tree_cook(ino_watcher *w, const char *buf, size_t len);
int ino_tree_cook_backlog(ino_watcher *w);
void ino_tree_drained(ino_watcher *w);
void ino_tree_unwatch(ino_watcher *w, ino_entry *root);
void ino_tree_release(ino_watcher *w, ino_node *root);
void ino_trees_free(ino_watcher *w);

/* White-box views of the trees' private state, for the core's own tests. */
static inline size_t
ino_trees_nodes(const ino_watcher *w)
{
    return w->children.count;
}
static inline size_t
ino_trees_pending_moves(const ino_watcher *w)
{
    return w->nmoves;
}
static inline int
ino_trees_none(const ino_watcher *w)
{
    return w->trees == NULL;
}

#endif /* INO_INTERNAL_H */
