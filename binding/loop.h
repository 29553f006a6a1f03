/*
 * loop.h: the watcher's ties to its asyncio loop, and to trio where no
 * asyncio loop runs (loop.c).  Nothing here calls up into the queue: the
 * Reader calls the hook it was made with.
 */
#ifndef INOTIPY_LOOP_H
#define INOTIPY_LOOP_H

#include "watcher.h"

/* What the Reader calls when the descriptor is readable: returns a new
 * reference (None) or NULL with an exception, for the loop to report. */
typedef PyObject *(*loop_on_readable)(WatcherObject *watcher);

/* What a get() runs on, as loop_detect() finds it (watcher->flavour). */
enum {
    LOOP_UNKNOWN,                /* not looked yet, or nothing runs */
    LOOP_ASYNCIO,                /* asyncio's loop (uvloop's too): C waits */
    LOOP_TRIO,                   /* a trio run: inotipy._trio waits */
};

int loop_init_type(PyObject *module, inotipy_state *st);
/* Returns a new Reader for the watcher (held weakly: see loop.c). */
PyObject *loop_reader_new(WatcherObject *watcher, loop_on_readable hook);
/* Tells the watcher's Reader that the watcher is gone. */
void loop_reader_detach(WatcherObject *watcher);
/* The same for another Reader of the watcher's (poll.c's timer). */
void loop_callback_detach(PyObject *reader);

int loop_start_reading(WatcherObject *watcher);
int loop_stop_reading(WatcherObject *watcher);
/* Binds to the running loop on first use, rebinding when the bound loop
 * has been closed; makes sure the reader is registered unless full.
 * Returns 0, or -1 with an exception: a clear one when no asyncio loop
 * runs (on trio too, for whatever can only wait on asyncio). */
int loop_ensure(WatcherObject *watcher);
/* The same, but returns 1 when no asyncio loop runs and a trio run does:
 * the caller then waits with loop_trio_get() (get() does). */
int loop_ensure_or_trio(WatcherObject *watcher);
/* Sets and returns watcher->flavour for the caller's thread: LOOP_ASYNCIO,
 * LOOP_TRIO, or LOOP_UNKNOWN when neither runs; -1 on error. */
int loop_detect(WatcherObject *watcher);
/* On trio: a new coroutine that waits for, and returns, the next Event
 * (None after timeout seconds; timeout < 0: none). */
PyObject *loop_trio_get(WatcherObject *watcher, double timeout);
/* Before the descriptor is closed: wakes a trio task waiting for it to be
 * readable (it must be told: trio.lowlevel.notify_closing).  Never
 * raises. */
void loop_notify_closing(WatcherObject *watcher);
/* Forgets the waiters when the bound loop was closed under them: 1 when
 * it did, 0 when not, -1 on error. */
int loop_forget_dead_waiters(WatcherObject *watcher);
/* Starts reading again once the consumer has taken half of a full queue;
 * never raises.  Call it with no exception set. */
void loop_maybe_resume(WatcherObject *watcher);
/* Watcher._hold_reading(hold): takes the reader off the loop while a
 * change set is gathered, or puts it back. */
PyObject *loop_hold_reading(WatcherObject *watcher, PyObject *hold);

#endif /* INOTIPY_LOOP_H */
