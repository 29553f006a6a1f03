/*
 * ino_queue.c: the user-space event queue, a list of chunks holding
 * records in the kernel's layout.
 *
 * Plain reads go straight into the free tail of the newest chunk
 * (ino_queue_reserve() and ino_queue_commit()): the kernel's records are
 * framed once, as they arrive, and then handed out in place, so an event
 * costs no copy and no allocation of its own.  A read goes into that tail
 * while at least INO_READ_MIN bytes are free there, which keeps small,
 * frequent reads compact.  The trees write rewritten records with
 * ino_queue_push(), marked by the private flags of ino_internal.h.
 *
 * The queue knows nothing of watches, tables or trees: ino_queue_take()
 * hands out every record, and the watcher decides what to skip.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ino_internal.h"

void
ino_queue_init(ino_queue *q, size_t max_queued)
{
    q->head = q->tail = q->spare = NULL;
    q->queued = 0;
    q->max_queued = max_queued ? max_queued : INO_DEFAULT_MAX_QUEUED;
    q->drained = 0;
    q->peak = 0;
    q->delivered = q->overflows = 0;
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

void
ino_queue_free(ino_queue *q)
{
    free_chunks(q->head);
    free_chunks(q->spare);
    q->head = q->tail = q->spare = NULL;
    q->queued = 0;
}

/* Returns a chunk with at least need free bytes at the tail of the queue,
 * or NULL when out of memory. */
static ino_chunk *
tail_with_room(ino_queue *q, size_t need)
{
    ino_chunk *c = q->tail;

    if (c != NULL && c->pos == c->len) {
        c->pos = c->len = 0;    /* everything in it was taken: rewind */
    }
    if (c != NULL && INO_CHUNK_SIZE - c->len >= need) {
        return c;
    }
    if (q->spare != NULL) {
        c = q->spare;
        q->spare = NULL;
    }
    else if ((c = malloc(sizeof *c)) == NULL) {
        return NULL;
    }
    c->next = NULL;
    c->len = c->pos = 0;
    if (q->tail != NULL) {
        q->tail->next = c;
    }
    else {
        q->head = c;
    }
    q->tail = c;
    return c;
}

char *
ino_queue_reserve(ino_queue *q, size_t need, size_t *room)
{
    ino_chunk *c = tail_with_room(q, need);

    if (c == NULL) {
        return NULL;
    }
    *room = INO_CHUNK_SIZE - c->len;
    return c->buf + c->len;
}

void
ino_queue_commit(ino_queue *q, size_t len, size_t count)
{
    q->tail->len += len;
    q->queued += count;
    if (q->queued > q->peak) {
        q->peak = q->queued;
    }
}

int
ino_queue_push(ino_queue *q, int32_t wd, uint32_t mask, uint32_t cookie,
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
    c = tail_with_room(q, need);
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
    if (++q->queued > q->peak) {
        q->peak = q->queued;
    }
    return 0;
}

/* Unlinks a fully taken chunk from the head, keeping one for reuse. */
static void
drop_head(ino_queue *q)
{
    ino_chunk *c = q->head;

    q->head = c->next;
    c->next = NULL;
    if (q->spare == NULL) {
        q->spare = c;
    }
    else {
        free(c);
    }
}

/* Turns the private flags of a queued record into event fields. */
void
ino_queue_unpack_private(ino_event *ev)
{
    if (ev->mask & INO_PRIV_SRC) {
        ev->src = ev->name + ev->name_len + 1;
        ev->src_len = (uint32_t)strlen(ev->src);
    }
    if (ev->mask & INO_PRIV_ERROR) {
        ev->error = (int)ev->cookie;
        ev->cookie = 0;
    }
    ev->mask &= ~INO_PRIV_FIELDS;
}

int
ino_queue_take_next_chunk(ino_queue *q, ino_event *ev)
{
    ino_chunk *c;

    while ((c = q->head) != NULL && c->pos >= c->len) {
        if (c == q->tail) {
            c->pos = c->len = 0;
            return 0;
        }
        drop_head(q);
    }
    return c == NULL ? 0 : ino_queue_take(q, ev);
}
