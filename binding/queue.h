/*
 * queue.h: the queue as Python sees it, and the FIFO of waiters that wait
 * on it (queue.c).  With waiter.c it is one concept: queue.c hands events
 * to waiters, waiters give back what a cancelled task did not take.
 *
 * The functions that take return 1 with a new reference in *out, 0 when
 * there is nothing (*out NULL), -1 with an exception (*out NULL), as
 * PyDict_GetItemRef() does.
 */
#ifndef INOTIPY_QUEUE_H
#define INOTIPY_QUEUE_H

#include "errors.h"
#include "event.h"
#include "loop.h"
#include "waiter.h"

/* Whether queue_poll() may read the kernel when our queue is empty. */
typedef enum {
    POLL_QUEUE_ONLY,             /* what is queued already */
    POLL_READ_KERNEL,            /* read the descriptor when that is none */
} queue_poll_mode;

/* Reads the kernel's queue into the core's (nothing once closed). */
int queue_read(WatcherObject *watcher);
/* Takes the oldest given-back Event. */
int queue_take_given_back(WatcherObject *watcher, PyObject **out);
/* Takes the next core event into *ev, issuing TreeWarnings for the
 * records that are not events: 1, 0 or -1 as above.  ev->name stays valid
 * until the next read or take; call loop_maybe_resume() after using it.
 * Inline, as the next one is for every event. */
int queue_next_core_warn(WatcherObject *watcher, ino_event *ev);
static inline int
queue_next_core(WatcherObject *watcher, ino_event *ev)
{
    if (watcher->closed || !ino_next(&watcher->core, ev)) {
        return 0;
    }
    return ev->error == 0 ? 1 : queue_next_core_warn(watcher, ev);
}

/* Takes the next Event (a given-back one, else one made from the core's)
 * whether or not waiters wait: the caller checks that none does. */
static inline int
queue_take(WatcherObject *watcher, PyObject **out)
{
    ino_event ev;
    int rc;

    if (PyList_GET_SIZE(watcher->given_back) > 0) {
        return queue_take_given_back(watcher, out);
    }
    *out = NULL;
    rc = queue_next_core(watcher, &ev);
    if (rc <= 0) {
        return rc;
    }
    *out = event_from_core(watcher, &ev);
    if (*out == NULL) {
        return -1;
    }
    /* loop_maybe_resume()'s first tests, without the call: no loop is
     * bound until a get() waits (a drain of a backlog never does). */
    if (!watcher->reading && watcher->loop != NULL) {
        loop_maybe_resume(watcher);
    }
    return 1;
}
/* Takes the next Event when no live waiter is ahead of the caller. */
int queue_poll(WatcherObject *watcher, queue_poll_mode mode, PyObject **out);
/* Puts an Event back at the head of the queue (a new reference is taken);
 * a closed watcher drops it. */
int queue_give_back(WatcherObject *watcher, PyObject *event);
/* Gives an Event back while an exception is being raised, so the event is
 * kept for the next caller and that exception stays the one raised. */
void queue_give_back_on_error(WatcherObject *watcher, PyObject *event);
/* Hands one event to each waiter, oldest first, while both last. */
int queue_serve(WatcherObject *watcher);
int queue_add_waiter(WatcherObject *watcher, GetAwaitableObject *waiter);
int queue_drop_waiter(WatcherObject *watcher, GetAwaitableObject *waiter);
/* Wakes every waiter with WAKE_CLOSED; never raises. */
void queue_wake_all_closed(WatcherObject *watcher);
/* The Reader's hook (loop.h): read, serve, and pause when full. */
PyObject *queue_on_readable(WatcherObject *watcher);

#endif /* INOTIPY_QUEUE_H */
