/*
 * queue.c: the queue as Python sees it (the Events given back by cancelled
 * waiters first, then the core's events) and the FIFO of waiters that
 * wait on it: taking, giving back, serving waiters oldest first, and
 * waking them all when the watcher closes.
 *
 * Re-entrancy: serving and taking call out (future methods, warning
 * filters, allocations that run the collector), and the code called may
 * close the watcher from this thread or let another thread close it.  So
 * every function here checks `closed` after calling out and before it
 * touches the core again; once closed, nothing is taken or read.
 */
#include "queue.h"

#include "errors.h"
#include "event.h"
#include "loop.h"
#include "sync.h"

int
queue_read(WatcherObject *watcher)
{
    long rc;

    if (watcher->closed) {
        return 0;
    }
    rc = ino_read(&watcher->core);
    if (rc < 0) {
        return inotipy_raise_errno((int)rc, NULL);
    }
    return sync_after_read(watcher); /* the syncs this read completed */
}

/* queue_next_core() after it took a record that is not an event (part
 * of a tree could not be watched): warns of it and of every such record
 * that follows, then takes the next event.  The warning runs filters, so
 * `closed` is checked again each time. */
int
queue_next_core_warn(WatcherObject *watcher, ino_event *ev)
{
    do {
        if (inotipy_warn_tree_error(watcher, ev) < 0) {
            return -1;
        }
        if (watcher->closed || !ino_next(&watcher->core, ev)) {
            return 0;
        }
    } while (ev->error != 0);
    return 1;
}

int
queue_take_given_back(WatcherObject *watcher, PyObject **out)
{
    PyObject *event;

    *out = NULL;
    if (watcher->closed || PyList_GET_SIZE(watcher->given_back) == 0) {
        return 0;
    }
    event = Py_NewRef(PyList_GET_ITEM(watcher->given_back, 0));
    if (PyList_SetSlice(watcher->given_back, 0, 1, NULL) < 0) {
        Py_DECREF(event);
        return -1;
    }
    *out = event;
    return 1;
}

int
queue_give_back(WatcherObject *watcher, PyObject *event)
{
    if (watcher->closed) {
        return 0;
    }
    return PyList_Insert(watcher->given_back, 0, event);
}

void
queue_give_back_on_error(WatcherObject *watcher, PyObject *event)
{
    inotipy_saved_error saved;

    inotipy_error_save(&saved);
    if (queue_give_back(watcher, event) < 0) {
        PyErr_WriteUnraisable((PyObject *)watcher);
    }
    inotipy_error_restore(&saved);
}

int
queue_add_waiter(WatcherObject *watcher, GetAwaitableObject *waiter)
{
    return PyList_Append(watcher->waiters, (PyObject *)waiter);
}

int
queue_drop_waiter(WatcherObject *watcher, GetAwaitableObject *waiter)
{
    Py_ssize_t i, n = PyList_GET_SIZE(watcher->waiters);

    for (i = 0; i < n; i++) {
        if (PyList_GET_ITEM(watcher->waiters, i) == (PyObject *)waiter) {
            return PyList_SetSlice(watcher->waiters, i, i + 1, NULL);
        }
    }
    return 0;
}

/* Serves the oldest waiter: an event when its future is pending, or just
 * drops it when the future is done.  1 when served, 0 when no event is
 * left for it, -1 on error. */
static int
serve_one(WatcherObject *watcher, GetAwaitableObject *waiter)
{
    PyObject *event = NULL;
    int done = waiter_is_done(waiter), rc;

    if (done < 0) {
        return -1;
    }
    if (done == 0) {
        rc = queue_take(watcher, &event);
        if (rc <= 0) {
            return rc;
        }
    }
    if (queue_drop_waiter(watcher, waiter) < 0 ||
        (event != NULL && waiter_wake(waiter, WAKE_EVENT, event) < 0)) {
        if (event != NULL) {
            queue_give_back_on_error(watcher, event);
            Py_DECREF(event);
        }
        return -1;
    }
    return 1;
}

int
queue_serve(WatcherObject *watcher)
{
    int rc = 1;

    while (rc > 0 && PyList_GET_SIZE(watcher->waiters) > 0) {
        GetAwaitableObject *waiter = (GetAwaitableObject *)Py_NewRef(
            PyList_GET_ITEM(watcher->waiters, 0));

        rc = serve_one(watcher, waiter);
        Py_DECREF(waiter);
    }
    return rc < 0 ? -1 : 0;
}

int
queue_poll(WatcherObject *watcher, queue_poll_mode mode, PyObject **out)
{
    int rc;

    *out = NULL;
    if (PyList_GET_SIZE(watcher->waiters) > 0) {
        /* Earlier waiters go first (unless their loop was closed under
         * them); serving also drops cancelled ones. */
        if (loop_forget_dead_waiters(watcher) < 0 ||
            queue_serve(watcher) < 0 ||
            (mode == POLL_READ_KERNEL &&
             PyList_GET_SIZE(watcher->waiters) > 0 &&
             (queue_read(watcher) < 0 || queue_serve(watcher) < 0))) {
            return -1;
        }
        if (PyList_GET_SIZE(watcher->waiters) > 0) {
            return 0;
        }
    }
    rc = queue_take(watcher, out);
    if (rc != 0 || mode == POLL_QUEUE_ONLY) {
        return rc;
    }
    if (queue_read(watcher) < 0) {
        return -1;
    }
    return queue_take(watcher, out);
}

void
queue_wake_all_closed(WatcherObject *watcher)
{
    PyObject *waiters = watcher->waiters;
    Py_ssize_t i;

    /* Detached before waking: the wake-ups call out, and what they run
     * must find no waiter to serve. */
    watcher->waiters = PyList_New(0);
    if (watcher->waiters == NULL) {
        PyErr_WriteUnraisable((PyObject *)watcher);
        watcher->waiters = waiters;
        return;
    }
    for (i = 0; i < PyList_GET_SIZE(waiters); i++) {
        GetAwaitableObject *waiter =
            (GetAwaitableObject *)PyList_GET_ITEM(waiters, i);

        if (waiter_is_done(waiter) == 0 &&
            waiter_wake(waiter, WAKE_CLOSED, NULL) < 0) {
            PyErr_WriteUnraisable((PyObject *)waiter);
        }
        PyErr_Clear();
    }
    Py_DECREF(waiters);
}

PyObject *
queue_on_readable(WatcherObject *watcher)
{
    if (watcher->closed) {
        Py_RETURN_NONE;
    }
    if (queue_read(watcher) < 0 || queue_serve(watcher) < 0) {
        return NULL;
    }
    /* Serving called out: the watcher may be closed now. */
    if (!watcher->closed && ino_full(&watcher->core) &&
        loop_stop_reading(watcher) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}
