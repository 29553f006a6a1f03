/*
 * ino_watcher.c: the watcher itself: the inotify descriptor's life,
 * adding, removing and forgetting watches, ino_read() for a watcher with
 * plain watches only, and ino_next(), which gives each queued record its
 * watch (skipping stale wds) and ends a watch at its IN_IGNORED.
 *
 * The records wait in the queue (ino_queue.c).  While the watcher has
 * trees, reads go through the trees instead (ino_trees_read()), which
 * rewrite each record into the queue; the watcher calls the trees only
 * through the hooks declared in ino_internal.h.  After each read, the
 * syncs that read completes are told (ino_sync.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ino_internal.h"

int
ino_open(ino_watcher *w, size_t max_queued)
{
    int fd;

    /* A failed open leaves a watcher that ino_close() accepts. */
    w->fd = -1;
    w->fan = NULL;
    ino_table_init(&w->table);
    ino_queue_init(&w->queue, max_queued);
    w->trees = NULL;
    ino_sync_init(&w->sync);
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    w->fd = fd;
    return 0;
}

int
ino_close(ino_watcher *w)
{
    int fd = w->fd;
    int rc = 0;

    if (fd < 0) {
        return 0;
    }
    /* Mark closed before close(2), so a second call is a no-op even if this
     * one fails; Linux releases the descriptor even on EINTR. */
    w->fd = -1;
    if (close(fd) < 0 && errno != EINTR) {
        rc = -errno;
    }
    ino_queue_free(&w->queue);
    ino_trees_free(w);
    ino_fan_free(w);
    ino_table_free(&w->table);
    ino_sync_free(&w->sync);
    return rc;
}

int
ino_add_watch(ino_watcher *w, const char *path, uint32_t mask, ino_entry **out)
{
    ino_entry *e;
    int wd, rc;

    if (w->fd < 0) {
        return -EBADF;
    }
    if ((mask & ~INO_WATCH_BITS) != 0 || (mask & INO_EVENT_BITS) == 0) {
        return -EINVAL;
    }
    if (w->fan != NULL) {
        return -EOPNOTSUPP; /* a fanotify watcher watches trees only */
    }
    wd = inotify_add_watch(w->fd, path, mask);
    if (wd < 0) {
        return -errno;
    }
    /* The kernel returns the wd it already has for the same inode. */
    e = ino_table_find(&w->table, wd);
    if (e != NULL && e->node != NULL) {
        /* A directory of a tree: give it back the tree's mask. */
        inotify_add_watch(w->fd, path, e->mask);
        return -EBUSY;
    }
    if (e != NULL) {
        if (mask & IN_MASK_ADD) {
            e->mask |= mask & ~(uint32_t)IN_MASK_ADD;
        }
        else {
            e->mask = mask;
        }
        *out = e;
        return 0;
    }
    rc = ino_table_insert(&w->table, wd, &e);
    if (rc < 0) {
        inotify_rm_watch(w->fd, wd);
        return rc;
    }
    e->mask = mask & ~(uint32_t)IN_MASK_ADD;
    *out = e;
    return 1;
}

int
ino_rm_watch(ino_watcher *w, int32_t wd)
{
    ino_entry *e = ino_table_find(&w->table, wd);

    if (e == NULL) {
        return -ENOENT;
    }
    if (e->removed || w->fd < 0) {
        return 0;
    }
    if (e->node != NULL) {
        ino_tree_unwatch(w, e);
        /* Removing the children may have moved the root's slot. */
        e = ino_table_find(&w->table, wd);
    }
    /* EINVAL: the kernel already dropped the watch (its inode was deleted
     * or unmounted) and its IN_IGNORED is on the way. */
    if (ino_kwatch_rm(w, wd) < 0 && errno != EINVAL) {
        return -errno;
    }
    e->removed = 1;
    return ino_kwatch_ignored(w, wd);
}

void
ino_forget_watch(ino_watcher *w, int32_t wd)
{
    if (w->fd >= 0) {
        ino_kwatch_rm(w, wd);
    }
    ino_table_remove(&w->table, wd, NULL);
}

/* ino_read() of a fanotify watcher without trees: what the kernel
 * queued is of no tree, and dropped. */
static long
fan_idle_read(ino_watcher *w)
{
    char buf[INO_READ_BUF_SIZE / 16];
    long n;

    while ((n = ino_kernel_read(w, buf, sizeof buf)) >= 0) {
    }
    if (n == -EAGAIN) {
        w->queue.drained = 1;
        return 0;
    }
    return n;
}

/* ino_read() of a watcher without trees. */
static long
plain_read(ino_watcher *w)
{
    ino_queue *q = &w->queue;
    long total = 0;

    if (w->fan != NULL) {
        return fan_idle_read(w);
    }
    while (!ino_full(w)) {
        size_t room, left, valid, count;
        char *buf = ino_queue_reserve(q, INO_READ_MIN, &room);
        long n;
        int rc;

        if (buf == NULL) {
            return total > 0 ? total : -ENOMEM;
        }
        /* Read no more records than the bound allows: every record takes
         * at least INO_RECORD_HEADER bytes, and one full name must fit or
         * the kernel fails the read with EINVAL. */
        left = ino_sync_waiting(w) ? SIZE_MAX : q->max_queued - q->queued;
        if (left < room / INO_RECORD_HEADER) {
            size_t cap = left * INO_RECORD_HEADER + INO_NAME_FIELD_MAX;
            room = room < cap ? room : cap;
        }
        n = ino_read_fd(w->fd, buf, room);
        if (n == -EAGAIN) {
            q->drained = 1;
            break;
        }
        if (n <= 0) {
            return n;
        }
        w->sync.read_bytes += (uint64_t)n;
        /* Room for one more whole record left over: the kernel had no
         * more when it filled this read. */
        q->drained = room - (size_t)n >= INO_READ_MIN;
        /* On a malformed record, keep (and count) the well-formed ones
         * before it; what follows it cannot be framed and is dropped. */
        rc = ino_frame_strip(buf, (size_t)n, &valid, &count);
        ino_queue_commit(q, valid, count);
        if (rc < 0) {
            return rc;
        }
        total += (long)count;
        if (q->drained) {
            break;
        }
        /* A sync this read completed lets the bound apply again (a failure
         * to queue its event is told by ino_read(), which tries again). */
        if (ino_sync_waiting(w)) {
            (void)ino_sync_after_read(w);
        }
    }
    return total;
}

long
ino_read(ino_watcher *w)
{
    size_t before = w->queue.queued;
    long n;
    int rc;

    if (w->fd < 0) {
        return -EBADF;
    }
    if (!ino_sync_waiting(w)) {
        return ino_trees_active(w) ? ino_trees_read(w) : plain_read(w);
    }
    /* Only a read of this call may count as the drain that completes a
     * sync. */
    w->queue.drained = 0;
    n = ino_trees_active(w) ? ino_trees_read(w) : plain_read(w);
    rc = ino_sync_after_read(w);
    if (n < 0) {
        return n;
    }
    /* The INO_SYNC events count among the events queued. */
    n = (long)(w->queue.queued - before);
    return rc < 0 && n == 0 ? rc : n;
}

/* ino_next() for every record its fast path leaves: overflows, syncs,
 * private bits, IN_IGNORED, stale wds, a spent head chunk. */
static int
next_slow(ino_watcher *w, ino_event *ev)
{
    ino_entry *e;

    while (ino_queue_take(&w->queue, ev)) {
        if (ev->wd == -1) {
            /* IN_Q_OVERFLOW and INO_SYNC belong to no watch */
            if (ev->mask & IN_Q_OVERFLOW) {
                w->queue.overflows++;
                w->queue.delivered++;
            }
            return 1;
        }
        w->queue.delivered++;
        e = ino_table_lookup(&w->table, ev->wd);
        if (e == NULL) {
            continue; /* unknown or stale wd */
        }
        ev->udata = e->udata;
        if (ev->mask & IN_IGNORED) {
            ino_node *root = e->node;
            ino_table_remove(&w->table, ev->wd, NULL);
            if (root != NULL) {
                ino_tree_release(w, root);
            }
            ev->released = 1;
        }
        return 1;
    }
    return 0;
}

/* The record's header is the event's first four fields, in its order. */
_Static_assert(offsetof(ino_event, wd) == 0 &&
                   offsetof(ino_event, mask) == 4 &&
                   offsetof(ino_event, cookie) == 8 &&
                   offsetof(ino_event, name_len) == 12,
               "ino_event starts as a record header");

/* The common record, a live watch's event in the head chunk with none of
 * the bits next_slow() handles, taken without a loop or a call: this runs
 * for every event.  The header is copied into *ev as it is (the name
 * field's length lands in name_len, then the name's length replaces it);
 * next_slow() writes all of *ev again when the record is not one of
 * these. */
int
ino_next(ino_watcher *w, ino_event *ev)
{
    ino_chunk *c = w->queue.head;
    const char *rec;
    ino_entry *e;

    if (c == NULL || c->pos >= c->len) {
        return next_slow(w, ev);
    }
    rec = c->buf + c->pos;
    memcpy(ev, rec, INO_RECORD_HEADER);
    if (ev->wd <= 0 || (ev->mask & (INO_PRIV_BITS | IN_IGNORED))) {
        return next_slow(w, ev);
    }
    /* The slot of the last lookup first: a wd is in one slot at most, so
     * finding it there is finding its entry. */
    if (w->table.hint < w->table.capacity &&
        w->table.slots[w->table.hint].wd == ev->wd) {
        e = &w->table.slots[w->table.hint];
    }
    else {
        e = ino_table_lookup(&w->table, ev->wd);
        if (e == NULL) {
            return next_slow(w, ev);
        }
        w->table.hint = (size_t)(e - w->table.slots);
    }
    assert(ev->name_len <= INO_QUEUE_FIELD_MAX &&
           ev->name_len <= c->len - c->pos - INO_RECORD_HEADER);
    c->pos += INO_RECORD_HEADER + ev->name_len;
    ev->name = rec + INO_RECORD_HEADER;
    ev->name_len = ino_name_length(ev->name, ev->name_len);
    ev->src = NULL;
    ev->src_len = 0;
    ev->error = 0;
    ev->udata = e->udata;
    ev->released = 0;
    w->queue.queued--;
    w->queue.delivered++;
    return 1;
}
