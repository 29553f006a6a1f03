/*
 * ino_watcher.c: the inotify descriptor, the read loop and the event queue.
 *
 * The queue is a list of chunks that read(2) writes into directly: the
 * kernel's records are validated once, as they arrive, and then handed out
 * in place, so an event costs no copy and no allocation of its own.  A read
 * goes into the free tail of the last chunk while at least INO_READ_MIN
 * bytes are free there, which keeps small, frequent reads compact.
 *
 * While the watcher has trees, reads go to a scratch buffer instead and
 * ino_tree.c rewrites the records into the queue (ino_queue_push()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ino_internal.h"

#define INO_CHUNK_SIZE (64u * 1024u)

struct ino_chunk {
    ino_chunk *next;            /* the next newer chunk, or NULL */
    size_t len;                 /* bytes of validated records in buf */
    size_t pos;                 /* offset of the first record not taken */
    char buf[INO_CHUNK_SIZE];   /* records exactly as the kernel wrote them */
};

int
ino_open(ino_watcher *w, size_t max_queued)
{
    int fd;

    /* A failed open leaves a watcher that ino_close() accepts. */
    w->fd = -1;
    ino_table_init(&w->table);
    w->head = w->tail = w->spare = NULL;
    w->queued = 0;
    w->drained = 0;
    w->trees = NULL;
    w->scratch = NULL;
    ino_nmap_init(&w->children);
    ino_nmap_init(&w->scanned);
    w->moves = NULL;
    w->nmoves = w->moves_cap = 0;
    w->backlog = w->absorb_buf = NULL;
    w->backlog_len = w->backlog_cap = 0;
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    w->fd = fd;
    w->max_queued = max_queued ? max_queued : INO_DEFAULT_MAX_QUEUED;
    return 0;
}

static void
free_chunks(ino_chunk *c)
{
    while (c != NULL) {
        ino_chunk *next = c->next;
        free(c);
        c = next;
    }
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
    free_chunks(w->head);
    free_chunks(w->spare);
    w->head = w->tail = w->spare = NULL;
    w->queued = 0;
    ino_trees_free(w);
    ino_table_free(&w->table);
    return rc;
}

int
ino_add_watch(ino_watcher *w, const char *path, uint32_t mask,
              ino_entry **out)
{
    ino_entry *e;
    int wd, rc;

    if (w->fd < 0) {
        return -EBADF;
    }
    if ((mask & ~INO_WATCH_BITS) != 0 || (mask & IN_ALL_EVENTS) == 0) {
        return -EINVAL;
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
    if (inotify_rm_watch(w->fd, wd) < 0 && errno != EINVAL) {
        return -errno;
    }
    e->removed = 1;
    return 0;
}

void
ino_forget_watch(ino_watcher *w, int32_t wd)
{
    if (w->fd >= 0) {
        inotify_rm_watch(w->fd, wd);
    }
    ino_table_remove(&w->table, wd, NULL);
}

/* Returns a chunk with at least need free bytes at the tail of the queue,
 * or NULL when out of memory. */
static ino_chunk *
tail_with_room(ino_watcher *w, size_t need)
{
    ino_chunk *c = w->tail;

    if (c != NULL && c->pos == c->len) {
        c->pos = c->len = 0;    /* everything in it was taken: rewind */
    }
    if (c != NULL && INO_CHUNK_SIZE - c->len >= need) {
        return c;
    }
    if (w->spare != NULL) {
        c = w->spare;
        w->spare = NULL;
    }
    else if ((c = malloc(sizeof *c)) == NULL) {
        return NULL;
    }
    c->next = NULL;
    c->len = c->pos = 0;
    if (w->tail != NULL) {
        w->tail->next = c;
    }
    else {
        w->head = c;
    }
    w->tail = c;
    return c;
}

int
ino_queue_push(ino_watcher *w, int32_t wd, uint32_t mask, uint32_t cookie,
               const char *name, size_t name_len, const char *src,
               size_t src_len)
{
    size_t field = 0, need;
    uint32_t head[4];
    ino_chunk *c;
    char *p;

    if (name_len > 0 || src != NULL) {
        field = name_len + 1 + (src != NULL ? src_len + 1 : 0);
        field = (field + INO_RECORD_HEADER - 1) & ~(size_t)15;
    }
    need = INO_RECORD_HEADER + field;
    c = tail_with_room(w, need);
    if (c == NULL) {
        return -ENOMEM;
    }
    head[0] = (uint32_t)wd;
    head[1] = mask;
    head[2] = cookie;
    head[3] = (uint32_t)field;
    p = c->buf + c->len;
    memcpy(p, head, sizeof head);
    memset(p + INO_RECORD_HEADER, 0, field);
    memcpy(p + INO_RECORD_HEADER, name, name_len);
    if (src != NULL) {
        memcpy(p + INO_RECORD_HEADER + name_len + 1, src, src_len);
    }
    c->len += need;
    w->queued++;
    return 0;
}

/* ino_read() for a watcher with trees: read into the scratch buffer and
 * let ino_tree.c rewrite the records into the queue. */
static long
read_cooked(ino_watcher *w)
{
    size_t before = w->queued, valid;
    long count;
    ssize_t n;
    int rc = ino_tree_cook_backlog(w);

    while (rc == 0 && !ino_full(w)) {
        size_t room = INO_SCRATCH_SIZE, left = w->max_queued - w->queued;

        if (left < INO_SCRATCH_SIZE / INO_RECORD_HEADER) {
            room = left * INO_RECORD_HEADER + INO_NAME_FIELD_MAX;
        }
        n = read(w->fd, w->scratch, room);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            w->drained = 1;
            ino_tree_drained(w);
            break;
        }
        w->drained = 0;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        count = ino_validate(w->scratch, (size_t)n, &valid);
        rc = ino_tree_cook(w, w->scratch, valid);
        if (rc >= 0) {
            rc = ino_tree_cook_backlog(w);
        }
        if (rc == 0 && count < 0) {
            rc = (int)count;
        }
        if (rc < 0) {
            break;
        }
    }
    return rc < 0 ? rc : (long)(w->queued - before);
}

long
ino_read(ino_watcher *w)
{
    long total = 0;

    if (w->fd < 0) {
        return -EBADF;
    }
    if (w->trees != NULL || w->backlog_len > 0) {
        return read_cooked(w);
    }
    while (!ino_full(w)) {
        ino_chunk *c = tail_with_room(w, INO_READ_MIN);
        size_t room, left, valid, count;
        ssize_t n;
        int rc;

        if (c == NULL) {
            return total > 0 ? total : -ENOMEM;
        }
        /* Read no more records than the bound allows: every record takes
         * at least INO_RECORD_HEADER bytes, and one full name must fit or
         * the kernel fails the read with EINVAL. */
        room = INO_CHUNK_SIZE - c->len;
        left = w->max_queued - w->queued;
        if (left < INO_CHUNK_SIZE / INO_RECORD_HEADER) {
            size_t cap = left * INO_RECORD_HEADER + INO_NAME_FIELD_MAX;
            room = room < cap ? room : cap;
        }
        n = read(w->fd, c->buf + c->len, room);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                w->drained = 1;
                break;
            }
            return -errno;
        }
        if (n == 0) {
            break;
        }
        /* Room for one more whole record left over: the kernel had no
         * more when it filled this read. */
        w->drained = room - (size_t)n >= INO_READ_MIN;
        /* On a malformed record, keep (and count) the well-formed ones
         * before it; what follows it cannot be framed and is dropped. */
        rc = ino_frame(c->buf + c->len, (size_t)n, 1, &valid, &count);
        c->len += valid;
        w->queued += count;
        if (rc < 0) {
            return rc;
        }
        total += (long)count;
        if (w->drained) {
            break;
        }
    }
    return total;
}

/* Unlinks a fully taken chunk from the head, keeping one for reuse. */
static void
drop_head(ino_watcher *w)
{
    ino_chunk *c = w->head;

    w->head = c->next;
    c->next = NULL;
    if (w->spare == NULL) {
        w->spare = c;
    }
    else {
        free(c);
    }
}

/* Turns the private flags of a queued record into event fields. */
static void
unpack_private(ino_event *ev)
{
    if (ev->mask & INO_PRIV_SRC) {
        ev->src = ev->name + ev->name_len + 1;
        ev->src_len = (uint32_t)strlen(ev->src);
    }
    if (ev->mask & INO_PRIV_ERROR) {
        ev->error = (int)ev->cookie;
        ev->cookie = 0;
    }
    ev->mask &= ~INO_PRIV_BITS;
}

int
ino_next(ino_watcher *w, ino_event *ev)
{
    ino_chunk *c;
    ino_entry *e;

    while ((c = w->head) != NULL) {
        if (c->pos >= c->len) {
            if (c == w->tail) {
                c->pos = c->len = 0;
                return 0;
            }
            drop_head(w);
            continue;
        }
        if (ino_decode_field(c->buf, c->len, &c->pos, ev,
                             INO_QUEUE_FIELD_MAX) <= 0) {
            /* Unreachable: records were validated on arrival. */
            c->pos = c->len;
            continue;
        }
        w->queued--;
        unpack_private(ev);
        if (ev->wd == -1) {
            return 1;           /* IN_Q_OVERFLOW belongs to no watch */
        }
        e = ino_table_find(&w->table, ev->wd);
        if (e == NULL) {
            continue;           /* unknown or stale wd */
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
