/*
 * loop.h: the watcher's ties to its asyncio loop (loop.c).  Nothing here
 * calls up into the queue: the Reader calls the hook it was made with.
 */
#ifndef INOTIPY_LOOP_H
#define INOTIPY_LOOP_H

#include "watcher.h"

/* What the Reader calls when the descriptor is readable: returns a new
 * reference (None) or NULL with an exception, for the loop to report. */
typedef PyObject *(*loop_on_readable)(WatcherObject *watcher);

int loop_init_type(PyObject *module, inotipy_state *st);
/* Returns a new Reader for the watcher (held weakly: see loop.c). */
PyObject *loop_reader_new(WatcherObject *watcher, loop_on_readable hook);
/* Tells the watcher's Reader that the watcher is gone. */
void loop_reader_detach(WatcherObject *watcher);

int loop_start_reading(WatcherObject *watcher);
int loop_stop_reading(WatcherObject *watcher);
/* Binds to the running loop on first use, rebinding when the bound loop
 * has been closed; makes sure the reader is registered unless full. */
int loop_ensure(WatcherObject *watcher);
/* Forgets the waiters when the bound loop was closed under them: 1 when
 * it did, 0 when not, -1 on error. */
int loop_forget_dead_waiters(WatcherObject *watcher);
/* Starts reading again once the consumer has taken half of a full queue;
 * never raises.  Call it with no exception set. */
void loop_maybe_resume(WatcherObject *watcher);

#endif /* INOTIPY_LOOP_H */
