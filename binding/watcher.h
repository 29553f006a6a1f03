/*
 * watcher.h: the Watcher object, shared by the files that serve it (loop.c,
 * queue.c, changes.c, watch.c, event.c, waiter.c).
 */
#ifndef INOTIPY_WATCHER_H
#define INOTIPY_WATCHER_H

#include <sys/types.h>

#include "ino.h"
#include "state.h"

typedef struct {
    PyObject_HEAD
    ino_watcher core;            /* the C engine: fd, table, event queue */
    inotipy_state *st;           /* borrowed: our type keeps the module */
    PyObject *loop;              /* the loop we are bound to, or NULL */
    PyObject *reader;            /* our Reader, given to loop.add_reader */
    PyObject *waiters;           /* list of waiting GetAwaitables, oldest
                                    first (queue.c) */
    PyObject *given_back;        /* list of Events given back by cancelled
                                    waiters, handed out before the core's */
    PyObject *spare_waiter;      /* a finished GetAwaitable kept for reuse */
    PyObject *syncs;             /* list of (token, future) tuples: the
                                    syncs waiting, oldest first (sync.c) */
    int sync_read_scheduled;     /* 1 while sync.c's call_soon() read is
                                    pending */
    int reading;                 /* 1 while registered with add_reader */
    int held;                    /* 1 while a change set's gathering keeps
                                    the reader off the loop (loop_hold()):
                                    it reads the kernel itself, a slice at
                                    a time */
    int closed;                  /* 1 from the start of close() (and
                                    until the core is open): the one fact
                                    that says closed.  Once it is set only
                                    close() and dealloc touch the core,
                                    which lets close() run ino_close()
                                    without the GIL */
    int scanning;                /* 1 while watch_tree()'s progress
                                    callback may run: the core is busy,
                                    no method may touch it */
    pid_t reader_pid;            /* the process that called add_reader: a
                                    forked child shares its parent's epoll
                                    instance and must not touch it */
    int flavour;                 /* LOOP_* (loop.h): what get() last found
                                    running, asyncio or trio */
    PyObject *trio_side;         /* inotipy._trio.TrioSide, made the first
                                    time a get() runs on trio, or NULL */
    struct watcher_polls *polls; /* the trees polled and the timer that
                                    polls them (poll.c), or NULL */
} WatcherObject;

int watcher_init_type(PyObject *module, inotipy_state *st);

/* The one place that raises "operation on closed watcher" for a watcher
 * method; returns -1 then, else 0. */
int inotipy_raise_closed(inotipy_state *st); /* errors.c */

static inline int
watcher_raise_if_closed(WatcherObject *watcher)
{
    if (watcher->scanning) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the watcher is busy in watch_tree(): its progress "
                        "callback must not use it");
        return -1;
    }
    return watcher->closed ? inotipy_raise_closed(watcher->st) : 0;
}

#endif /* INOTIPY_WATCHER_H */
