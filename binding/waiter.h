/*
 * waiter.h: the GetAwaitable object (waiter.c), the awaitable get() and
 * __anext__ return.  While one waits in the watcher's FIFO (queue.c) it is
 * called a waiter: that is its role, GetAwaitable its type.
 */
#ifndef INOTIPY_WAITER_H
#define INOTIPY_WAITER_H

#include "watcher.h"

/* The states of a GetAwaitable.  DELEGATING: on trio, running the
 * coroutine of inotipy._trio that waits there (coro). */
enum { WAITER_INIT, WAITER_WAITING, WAITER_DELEGATING, WAITER_DONE };
/* Why a waiting GetAwaitable was woken. */
enum { WAKE_NONE, WAKE_EVENT, WAKE_TIMEOUT, WAKE_CLOSED };

typedef struct {
    PyObject_HEAD
    WatcherObject *watcher;      /* strong */
    PyObject *fut;               /* the loop's future we wait on, or NULL */
    PyObject *timer;             /* the call_later handle, or NULL */
    PyObject *result;            /* the Event handed to us, or NULL */
    PyObject *coro;              /* DELEGATING: what we pass sends and
                                    throws to, else NULL */
    double timeout;              /* seconds; < 0 means none */
    int state;                   /* WAITER_* */
    int woken;                   /* WAKE_* */
    int anext;                   /* 1: from __anext__, closing ends it */
} GetAwaitableObject;

int waiter_init_type(PyObject *module, inotipy_state *st);
/* Returns a new (or the watcher's reused spare) GetAwaitable. */
PyObject *waiter_new(WatcherObject *watcher, double timeout, int anext);
/* The Watcher's am_anext slot: waiter_new(watcher, -1, 1), without a call
 * between them. */
PyObject *waiter_anext(PyObject *watcher);
/* Wakes a waiting waiter: stores the event (a new reference it takes over
 * on success, or NULL) and resolves the future.  On failure the caller
 * keeps the event. */
int waiter_wake(GetAwaitableObject *waiter, int why, PyObject *event);
/* 1 when the waiter's future is done (cancelled, say), 0 when pending, -1
 * on error. */
int waiter_is_done(GetAwaitableObject *waiter);

#endif /* INOTIPY_WAITER_H */
