/*
 * poll.h: the trees a watcher polls and when (poll.c): Watcher._poll_add(),
 * _poll_due() and _poll_now(), the asyncio timer that runs the polls, and
 * the hooks by which the watcher arms it, closes it and shows it to the
 * collector.
 */
#ifndef INOTIPY_POLL_H
#define INOTIPY_POLL_H

#include "watcher.h"

/* Watcher._poll_add(wd, dirs, delay_ms, /): marks each directory of dirs
 * (paths below the root of the tree whose root has watch wd, as bytes; b""
 * for the root) polled, and polls the tree every delay_ms milliseconds
 * from now on: on asyncio by a timer of the loop the watcher is bound to
 * (bound now if a loop runs), elsewhere when _poll_due() is called.
 * Returns the number of directories the tree polls. */
PyObject *poll_add(WatcherObject *watcher, PyObject *const *args,
                   Py_ssize_t nargs);
/* Watcher._poll_due(): runs the polls that are due (each the core's
 * comparison, read into the queue and handed to waiters), and returns the
 * seconds until the next is due, or None when no tree is polled.  What
 * trio's get() and the blocking watch() wait by. */
PyObject *poll_due(WatcherObject *watcher, PyObject *Py_UNUSED(ignored));
/* Watcher._poll_now(): every polled tree owes a poll now, which the next
 * read of the kernel runs (sync() makes one).  Returns the number of
 * trees that owe one. */
PyObject *poll_now(WatcherObject *watcher, PyObject *Py_UNUSED(ignored));

/* Arms the timer on the loop the watcher is bound to, unless it is armed
 * there already: called when a get() is about to wait on asyncio.  Cheap
 * when nothing is polled.  Returns 0, or -1 with an exception. */
int poll_arm_slow(WatcherObject *watcher);
static inline int
poll_arm(WatcherObject *watcher)
{
    return watcher->polls == NULL ? 0 : poll_arm_slow(watcher);
}
/* close(): cancels the timer and forgets the polled trees; never
 * raises. */
void poll_close(WatcherObject *watcher);
/* The collector's slots, and dealloc's last word (frees everything). */
int poll_traverse(WatcherObject *watcher, visitproc visit, void *arg);
void poll_clear(WatcherObject *watcher);
void poll_free(WatcherObject *watcher);

#endif /* INOTIPY_POLL_H */
