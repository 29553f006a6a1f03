/*
 * ino_sync.c: syncs (ino_sync_begin()), the core of `await
 * watcher.sync()`.
 *
 * inotify queues an event while the system call that causes it runs, all
 * of a descriptor's events in one queue, in order.  So once a sync has
 * begun, the events of every change made before it are in the kernel's
 * queue already (or the queue overflowed), and the sync has completed
 * when they have been read.  Two facts tell that, whichever comes first:
 *
 * - a read that saw the kernel's queue empty (ino_drained()).  For a
 *   watcher with trees that read also settled them: the MOVED_FROMs held
 *   for a pair were told as moves out and the stale directories tried
 *   again (ino_trees_read() reports drained only then);
 * - for a watcher without trees, the bytes read since the sync began
 *   reaching what FIONREAD said the kernel held when it began (the kernel
 *   counts the records it will hand out, sizes as read(2) gives them).
 *   This one needs no empty queue, so a sync completes under a stream of
 *   changes that never lets the queue empty, and it reads past the
 *   queue's bound only as far as the backlog.
 *
 * No marker file is made: nothing is written to the watched trees, so a
 * sync works the same on a read-only mount, for a watch of a file, and for
 * a mask with no CREATE, and other programs watching the same directories
 * see nothing of it.
 *
 * Trees read the descriptor elsewhere too (ino_tree.c, scans in
 * ino_scan.c), which read_bytes does not count: the byte rule counts only
 * while the watcher has no tree, and bytes it did not count can only make
 * a sync complete later (at a drain), never early.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "ino_internal.h"

/* A waiting sync's flag, beside ino_sync_begin()'s: it has completed but
 * its INO_SYNC event could not be queued yet (out of memory). */
#define SYNC_DUE 0x100u

/* One sync that has not completed. */
struct ino_sync_wait {
    uint64_t target; /* read_bytes that completes it; UINT64_MAX: only a
                        drain does */
    unsigned flags;  /* ino_sync_begin()'s flags */
};

void
ino_sync_init(ino_syncs *s)
{
    memset(s, 0, sizeof *s);
}

void
ino_sync_free(ino_syncs *s)
{
    free(s->waits);
    s->waits = NULL;
    s->cap = 0;
    /* A closed watcher's syncs have ended: none waits. */
    s->done = s->begun;
}

/* The number of syncs waiting. */
static size_t
waiting(const ino_syncs *s)
{
    return (size_t)(s->begun - s->done);
}

/* Room for one more waiting sync: 0 or -ENOMEM. */
static int
reserve(ino_syncs *s)
{
    size_t n = waiting(s), cap;
    ino_sync_wait *grown;

    if (n < s->cap) {
        return 0;
    }
    cap = s->cap ? 2 * s->cap : 4;
    grown = realloc(s->waits, cap * sizeof *grown);
    if (grown == NULL) {
        return -ENOMEM;
    }
    s->waits = grown;
    s->cap = cap;
    return 0;
}

/* Completes the k oldest waiting syncs, queueing the INO_SYNC events they
 * asked for.  Returns 0, or -ENOMEM when an event could not be queued:
 * then that sync and the ones after it among the k wait, due, for the
 * next read (ino_synced() must not pass a sync whose event is missing). */
static int
complete(ino_watcher *w, size_t k)
{
    ino_syncs *s = &w->sync;
    size_t i, j, n = waiting(s);
    int rc = 0;

    for (i = 0; i < k; i++) {
        if ((s->waits[i].flags & INO_SYNC_EVENT) &&
            ino_queue_push(&w->queue, -1, INO_SYNC,
                           (uint32_t)(s->done + 1 + i), "", 0, NULL, 0) < 0) {
            rc = -ENOMEM;
            break;
        }
    }
    for (j = i; j < k; j++) {
        s->waits[j].flags |= SYNC_DUE;
    }
    memmove(s->waits, s->waits + i, (n - i) * sizeof *s->waits);
    s->done += i;
    return rc;
}

int
ino_sync_begin(ino_watcher *w, unsigned flags, uint64_t *token)
{
    ino_syncs *s = &w->sync;
    int queued = 0, rc;

    if (w->fd < 0) {
        return -EBADF;
    }
    if ((flags & ~INO_SYNC_EVENT) != 0) {
        return -EINVAL;
    }
    if ((rc = reserve(s)) < 0) {
        return rc;
    }
    if (ioctl(w->fd, FIONREAD, &queued) < 0) {
        return -errno;
    }
    s->waits[waiting(s)].flags = flags;
    /* FIONREAD gives an int: a backlog past INT_MAX bytes would wrap, and
     * then only a drain completes the sync. */
    s->waits[waiting(s)].target =
        queued >= 0 ? s->read_bytes + (uint64_t)queued : UINT64_MAX;
    *token = ++s->begun;
    if (queued == 0 && !ino_trees_active(w)) {
        /* Nothing to read, and no tree with work left: every earlier sync
         * waited for no more than has been read, so all complete (or wait,
         * due, for the next read, out of memory for their events). */
        return complete(w, waiting(s)) < 0 ? 0 : 1;
    }
    return 0;
}

int
ino_sync_after_read(ino_watcher *w)
{
    ino_syncs *s = &w->sync;
    size_t k = 0, n = waiting(s);

    if (w->queue.drained) {
        k = n;
    }
    else {
        /* Targets grow with the tokens: the ones reached come first. */
        int by_bytes = !ino_trees_active(w);
        while (k < n && ((s->waits[k].flags & SYNC_DUE) ||
                         (by_bytes && s->waits[k].target <= s->read_bytes))) {
            k++;
        }
    }
    return k > 0 ? complete(w, k) : 0;
}
