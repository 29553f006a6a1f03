/*
 * fuzz_decode.c: a libFuzzer target for the event decoder and the
 * watcher's queue (core/src/ino_decode.c, core/src/ino_watcher.c).
 *
 * meson builds it with -Dfuzz=true (clang, -fsanitize=fuzzer,address,
 * undefined) and .ci/fuzz runs it.  core/fuzz/replay.c gives the same
 * target a main() (replay_decode, built with -Dtests=true) so that the
 * committed corpus and every crash reproducer also run under gcc and
 * valgrind from the pytest suite (tests/test_bad_input.py).
 *
 * An input is three header bytes and a payload:
 *
 *   byte 0  bit 7: 1 = "kernel" mode, 0 = "hostile" mode;
 *           bits 0-5: the watcher's max_queued (0 = the default bound)
 *   byte 1  bits 0-2: events taken per round, less one;
 *           bits 3-7: the size of each write(2) in hostile mode
 *   byte 2  a bitmap: wd k (1..8) is in the watch table when bit k-1 is
 *           set; wds 1 and 2, when present, are marked removed
 *   rest    what read(2) on the inotify descriptor returns
 *
 * Three things are checked on every input:
 *
 * 1. ino_validate() and ino_decode() over the whole input, also copied to
 *    an odd address: no read outside the buffer (ASan), a record count
 *    and prefix length that agree, names inside their records.
 * 2. The payload written through a pipe swapped in for the inotify
 *    descriptor, then ino_read() and ino_next() in turns.  In kernel mode
 *    only the well-formed prefix is written, a few whole records at a
 *    time, as the kernel does (a read never splits a record), and the
 *    events handed out must be exactly those a model predicts: every
 *    record of a wd in the table or of wd -1, in order, with the right
 *    udata, and IN_IGNORED releasing its entry (the mask as written, less
 *    the bits the queue keeps for itself, INO_PRIV_BITS).  In hostile mode the
 *    payload is written in arbitrary pieces (records split across reads,
 *    garbage lengths): ino_read() may fail with -EBADMSG, but memory stays
 *    sound and the queue's count returns to zero.
 * 3. ino_close() frees everything (LeakSanitizer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ino.h"
#include "common.h"
#include "ino_internal.h"   /* INO_PRIV_BITS */

#define FUZZ_WDS 8              /* wds 1..FUZZ_WDS may be in the table */
#define FUZZ_BATCH                                                            \
    INO_READ_MIN /* bytes of whole records per write in
                                   kernel mode: one read always takes
                                   them all, as INO_READ_MIN is the least
                                   room ino_read() offers */

/* The decoded fields of one record, for comparisons. */
typedef struct {
    int32_t wd;
    uint32_t mask;
    uint32_t cookie;
    uint32_t name_len;
    const char *name;
} fuzz_record;

/* What the queue model expects of a watcher fed from a pipe. */
typedef struct {
    ino_watcher w;            /* the watcher under test */
    int in;                   /* the pipe's write end */
    int known[FUZZ_WDS + 1];  /* 1: wd k is in the model's table */
    char udata[FUZZ_WDS + 1]; /* &udata[k] is wd k's user pointer */
    const char *expect;       /* kernel mode: records written, in order */
    size_t expect_len;        /* bytes of them */
    size_t expect_pos;        /* the next record an event must match */
    size_t written;           /* payload bytes written to the pipe */
    unsigned take;            /* ino_next() calls per round */
} fuzz_queue;

/* ---- 1. the decoder ---------------------------------------------------- */

static void
check_decoder(const char *buf, size_t len)
{
    size_t valid = (size_t)-1, again = (size_t)-1, off = 0, prev;
    long count = ino_validate(buf, len, &valid), walked = 0;
    ino_event ev;
    int rc;

    FUZZ_CHECK(count >= 0 || count == -EBADMSG);
    FUZZ_CHECK(valid <= len);
    for (;;) {
        prev = off;
        rc = ino_decode(buf, len, &off, &ev);
        if (rc <= 0) {
            break;
        }
        walked++;
        FUZZ_CHECK(off > prev && off - prev >= INO_RECORD_HEADER);
        FUZZ_CHECK(off - prev <= INO_RECORD_HEADER + INO_NAME_FIELD_MAX);
        FUZZ_CHECK(ev.name == buf + prev + INO_RECORD_HEADER);
        FUZZ_CHECK(ev.name_len <= off - prev - INO_RECORD_HEADER);
        FUZZ_CHECK(ev.name_len == off - prev - INO_RECORD_HEADER ||
                   ev.name[ev.name_len] == '\0');
        FUZZ_CHECK(memchr(ev.name, '\0', ev.name_len) == NULL);
        FUZZ_CHECK(ev.udata == NULL && ev.released == 0);
    }
    /* A failed decode leaves the offset alone. */
    FUZZ_CHECK(off == prev);
    FUZZ_CHECK(rc == (count < 0 ? -EBADMSG : 0));
    FUZZ_CHECK(off == valid);
    FUZZ_CHECK(count < 0 || walked == count);
    FUZZ_CHECK(count >= 0 || off < len);
    /* The well-formed prefix is well-formed on its own. */
    FUZZ_CHECK(ino_validate(buf, valid, &again) == walked);
    FUZZ_CHECK(again == valid);
}

/* The same bytes at an odd address: ino_decode() must not assume that a
 * record is aligned. */
static void
check_decoder_unaligned(const uint8_t *data, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy == NULL) {
        return;
    }
    memcpy(copy + 1, data, len);
    check_decoder(copy + 1, len);
    free(copy);
}

/* ---- 2. the queue ------------------------------------------------------ */

/* Opens a watcher whose descriptor is the read end of a non-blocking
 * pipe; returns 0, or -1 when the system is out of descriptors. */
static int
queue_open(fuzz_queue *q, size_t max_queued, unsigned bitmap)
{
    int p[2], k;
    ino_entry *e;

    memset(q, 0, sizeof *q);
    if (ino_open(&q->w, max_queued) < 0) {
        return -1;
    }
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
        ino_close(&q->w);
        return -1;
    }
    /* dup3 keeps the descriptor number ino_open() chose; the pipe's
     * O_NONBLOCK belongs to the open file and comes along. */
    FUZZ_CHECK(dup3(p[0], q->w.fd, O_CLOEXEC) == q->w.fd);
    close(p[0]);
    q->in = p[1];
    for (k = 1; k <= FUZZ_WDS; k++) {
        if (!(bitmap & (1u << (k - 1)))) {
            continue;
        }
        FUZZ_CHECK(ino_table_insert(&q->w.table, k, &e) == 0);
        e->mask = IN_ALL_EVENTS;
        e->udata = &q->udata[k];
        q->known[k] = 1;
        if (k <= 2) {
            /* inotify_rm_watch() on a pipe fails with EINVAL, which
             * ino_rm_watch() takes for "already gone": marked removed. */
            FUZZ_CHECK(ino_rm_watch(&q->w, k) == 0);
            FUZZ_CHECK(ino_table_find(&q->w.table, k)->removed == 1);
        }
    }
    return 0;
}

static size_t
pipe_unread(const fuzz_queue *q)
{
    int n = 0;

    FUZZ_CHECK(ioctl(q->w.fd, FIONREAD, &n) == 0);
    return (size_t)n;
}

/* The next record the model expects to be handed out, skipping those of
 * wds that are not in its table; 0 when there is none. */
static int
model_next(fuzz_queue *q, fuzz_record *r)
{
    ino_event ev;

    while (ino_decode(q->expect, q->expect_len, &q->expect_pos, &ev) > 0) {
        if (ev.wd != -1 &&
            (ev.wd < 1 || ev.wd > FUZZ_WDS || !q->known[ev.wd])) {
            continue;
        }
        r->wd = ev.wd;
        r->mask = ev.mask & ~INO_PRIV_BITS;
        r->cookie = ev.cookie;
        r->name_len = ev.name_len;
        r->name = ev.name;
        return 1;
    }
    return 0;
}

/* Checks one event from ino_next() against the model (kernel mode) or
 * against what any event must be (hostile mode). */
static void
check_event(fuzz_queue *q, const ino_event *ev, int kernel)
{
    fuzz_record r;

    FUZZ_CHECK(ev->name_len <= INO_NAME_FIELD_MAX);
    FUZZ_CHECK(memchr(ev->name, '\0', ev->name_len) == NULL);
    /* The model first, while its table is as the core's was. */
    if (kernel) {
        FUZZ_CHECK(model_next(q, &r));
        FUZZ_CHECK(ev->wd == r.wd && ev->mask == r.mask);
        FUZZ_CHECK(ev->cookie == r.cookie && ev->name_len == r.name_len);
        FUZZ_CHECK(memcmp(ev->name, r.name, r.name_len) == 0);
    }
    if (ev->wd == -1) {
        FUZZ_CHECK(ev->udata == NULL && !ev->released);
        return;
    }
    FUZZ_CHECK(ev->wd >= 1 && ev->wd <= FUZZ_WDS && q->known[ev->wd]);
    FUZZ_CHECK(ev->udata == &q->udata[ev->wd]);
    FUZZ_CHECK(ev->released == ((ev->mask & IN_IGNORED) != 0));
    if (ev->released) {
        q->known[ev->wd] = 0;
        FUZZ_CHECK(ino_table_find(&q->w.table, ev->wd) == NULL);
    }
}

/* Takes up to q->take events; returns how many. */
static unsigned
queue_take(fuzz_queue *q, int kernel)
{
    unsigned n;
    ino_event ev;

    for (n = 0; n < q->take; n++) {
        size_t before = ino_queued(&q->w);

        if (!ino_next(&q->w, &ev)) {
            FUZZ_CHECK(ino_queued(&q->w) == 0);
            break;
        }
        FUZZ_CHECK(ino_queued(&q->w) < before);
        check_event(q, &ev, kernel);
    }
    return n;
}

/* The length of the whole records at the start of buf[0..len) that fit
 * in one kernel read of FUZZ_BATCH bytes (at least one record). */
static size_t
kernel_batch(const char *buf, size_t len)
{
    size_t off = 0, end = 0;
    ino_event ev;

    while (ino_decode(buf, len, &off, &ev) > 0) {
        if (off > FUZZ_BATCH && end > 0) {
            break;
        }
        end = off;
    }
    return end;
}

/* Kernel mode: the well-formed prefix, written batch by batch, each batch
 * only once the previous one has been read, so no read splits a record. */
static void
run_kernel(fuzz_queue *q, const char *payload, size_t len)
{
    size_t valid;
    long rc;

    ino_validate(payload, len, &valid);
    q->expect = payload;
    q->expect_len = valid;
    while (q->written < valid || pipe_unread(q) > 0 || ino_pending(&q->w)) {
        if (q->written < valid && pipe_unread(q) == 0) {
            size_t n = kernel_batch(payload + q->written, valid - q->written);
            FUZZ_CHECK(write(q->in, payload + q->written, n) == (ssize_t)n);
            q->written += n;
        }
        rc = ino_read(&q->w);
        FUZZ_CHECK(rc >= 0);
        FUZZ_CHECK(pipe_unread(q) == 0 || ino_full(&q->w));
        queue_take(q, 1);
    }
    /* Every record the model expected was handed out. */
    {
        fuzz_record r;
        FUZZ_CHECK(!model_next(q, &r));
    }
}

/* Hostile mode: the payload as it comes, in pieces of any size. */
static void
run_hostile(fuzz_queue *q, const char *payload, size_t len, size_t piece)
{
    long rc;

    while (q->written < len || pipe_unread(q) > 0 || ino_pending(&q->w)) {
        if (q->written < len) {
            size_t n = len - q->written < piece ? len - q->written : piece;
            ssize_t put = write(q->in, payload + q->written, n);
            FUZZ_CHECK(put > 0 || (put < 0 && errno == EAGAIN));
            q->written += put > 0 ? (size_t)put : 0;
        }
        rc = ino_read(&q->w);
        FUZZ_CHECK(rc >= 0 || rc == -EBADMSG);
        if (queue_take(q, 0) == 0 && !ino_pending(&q->w) &&
            q->written == len && pipe_unread(q) > 0) {
            /* ino_read() must make progress on what is left in the pipe
             * when the queue is empty. */
            size_t left = pipe_unread(q);
            rc = ino_read(&q->w);
            FUZZ_CHECK(pipe_unread(q) < left);
        }
    }
    FUZZ_CHECK(ino_queued(&q->w) == 0);
}

static void
check_queue(const uint8_t *data, size_t len)
{
    fuzz_queue q;
    const char *payload = (const char *)data + 3;
    size_t plen = len - 3;
    int kernel = (data[0] & 0x80) != 0;
    size_t piece = 1 + ((size_t)(data[1] >> 3) * 37);

    if (queue_open(&q, data[0] & 0x3f, data[2]) < 0) {
        return;
    }
    q.take = 1 + (data[1] & 7u);
    if (kernel) {
        run_kernel(&q, payload, plen);
    }
    else {
        run_hostile(&q, payload, plen, piece);
    }
    FUZZ_CHECK(!ino_pending(&q.w));
    FUZZ_CHECK(ino_close(&q.w) == 0);
    FUZZ_CHECK(ino_fd(&q.w) == -1);
    FUZZ_CHECK(ino_close(&q.w) == 0); /* idempotent */
    close(q.in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decoder((const char *)data, size);
    check_decoder_unaligned(data, size);
    /* A pipe holds 64 KiB; longer inputs add nothing the queue has not
     * seen in a shorter one. */
    if (size >= 3 && size - 3 <= 65536) {
        check_queue(data, size);
    }
    return 0;
}
