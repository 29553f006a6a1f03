/*
 * sync.c: Watcher._sync_begin(), the C half of `await watcher.sync()`
 * (the Python half, python/inotipy/_watcher.py, makes the future and
 * applies the timeout).
 *
 * The core does the work (core/src/ino_sync.c): a sync completes in a
 * read.  Here each waiting sync is a (token, future) tuple in
 * watcher->syncs, oldest first; every read of the kernel (queue_read())
 * resolves the futures whose syncs have completed.  A sync that waits
 * needs a read even when the descriptor is not readable (a tree settles
 * only at a read that finds the kernel's queue empty), so while futures
 * wait a read is scheduled on the loop with call_soon(), the Reader
 * itself, which also serves get() waiters and pauses a full queue.
 *
 * A cancelled sync is a done future: it is dropped when met, and its core
 * sync just completes.  close() fails every waiting future with
 * WatcherClosedError.  Resolving calls out (future methods), so the
 * entries are taken out of the list before their futures are touched.
 */
#include <stdint.h>

#include "sync.h"

#include "errors.h"
#include "loop.h"
#include "queue.h"

static uint64_t
entry_token(PyObject *entry)
{
    /* Our own tuples, made from a uint64_t: this cannot fail. */
    return (uint64_t)PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entry, 0));
}

static PyObject *
entry_future(PyObject *entry)
{
    return PyTuple_GET_ITEM(entry, 1);
}

/* 1 when fut is done (a cancelled task's, say), 0 when pending, -1. */
static int
future_done(WatcherObject *watcher, PyObject *fut)
{
    PyObject *r = PyObject_CallMethodNoArgs(fut, watcher->st->s_done);
    int done;

    if (r == NULL) {
        return -1;
    }
    done = PyObject_IsTrue(r);
    Py_DECREF(r);
    return done;
}

/* 1 when loop has been closed, else 0 (also when that cannot be told);
 * clears any error. */
static int
loop_closed(PyObject *loop)
{
    PyObject *r = PyObject_CallMethod(loop, "is_closed", NULL);
    int closed = 0;

    if (r != NULL) {
        closed = PyObject_IsTrue(r) == 1;
        Py_DECREF(r);
    }
    PyErr_Clear();
    return closed;
}

/* 1 when fut's loop has been closed: its task was abandoned, and
 * resolving it may fail (call_soon() raises), harmlessly. */
static int
future_loop_closed(PyObject *fut)
{
    PyObject *loop = PyObject_CallMethod(fut, "get_loop", NULL);
    int closed = 0;

    if (loop != NULL) {
        closed = loop_closed(loop);
        Py_DECREF(loop);
    }
    PyErr_Clear();
    return closed;
}

/* Called with the exception of a failed call on fut (or, fut NULL, on
 * loop) set: when that loop is closed the failure is expected and
 * harmless (nothing can wait there any more): clears it and returns 0.
 * Else keeps it and returns -1. */
static int
fail_unless_closed(PyObject *fut, PyObject *loop)
{
    inotipy_saved_error saved;
    int closed;

    inotipy_error_save(&saved);
    closed = fut != NULL ? future_loop_closed(fut) : loop_closed(loop);
    inotipy_error_restore(&saved);
    if (closed) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* Resolves a pending fut: with exc as its exception, or None as its
 * result.  Returns 0, or -1 with an exception. */
static int
settle(WatcherObject *watcher, PyObject *fut, PyObject *exc)
{
    int done = future_done(watcher, fut);
    PyObject *r;

    if (done != 0) {
        return done < 0 ? -1 : 0;
    }
    if (exc != NULL) {
        r = PyObject_CallMethod(fut, "set_exception", "O", exc);
    }
    else {
        r = PyObject_CallMethodOneArg(fut, watcher->st->s_set_result, Py_None);
    }
    if (r == NULL) {
        return fail_unless_closed(fut, NULL);
    }
    Py_DECREF(r);
    return 0;
}

/* Drops the entries whose future is done: a task that stopped waiting
 * (cancelled, timed out) leaves nothing behind.  Returns 0 or -1. */
static int
prune(WatcherObject *watcher)
{
    Py_ssize_t i = 0;

    while (i < PyList_GET_SIZE(watcher->syncs)) {
        PyObject *entry = Py_NewRef(PyList_GET_ITEM(watcher->syncs, i));
        int done = future_done(watcher, entry_future(entry));

        Py_DECREF(entry);
        if (done < 0) {
            return -1;
        }
        /* future_done() called out: the list may have changed, so the
         * entry is looked for again. */
        if (done && i < PyList_GET_SIZE(watcher->syncs) &&
            PyList_GET_ITEM(watcher->syncs, i) == entry) {
            if (PyList_SetSlice(watcher->syncs, i, i + 1, NULL) < 0) {
                return -1;
            }
            continue;
        }
        i++;
    }
    return 0;
}

/* Schedules one read on the loop (the Reader), unless one is scheduled
 * already.  A closed loop schedules nothing: its futures are dead. */
static int
schedule_read(WatcherObject *watcher)
{
    PyObject *r;

    if (watcher->sync_read_scheduled || watcher->loop == NULL ||
        watcher->closed) {
        return 0;
    }
    r = PyObject_CallMethod(watcher->loop, "call_soon", "O", watcher->reader);
    if (r == NULL) {
        return fail_unless_closed(NULL, watcher->loop);
    }
    Py_DECREF(r);
    watcher->sync_read_scheduled = 1;
    return 0;
}

int
sync_resolve(WatcherObject *watcher)
{
    uint64_t synced;
    PyObject *ready;
    Py_ssize_t i, k = 0, n = PyList_GET_SIZE(watcher->syncs);
    int rc = 0;

    watcher->sync_read_scheduled = 0;
    if (watcher->closed) {
        return 0;
    }
    synced = ino_synced(&watcher->core);
    /* Entries are in the order of their tokens, as syncs complete. */
    while (k < n &&
           entry_token(PyList_GET_ITEM(watcher->syncs, k)) <= synced) {
        k++;
    }
    if (k > 0) {
        ready = PyList_GetSlice(watcher->syncs, 0, k);
        if (ready == NULL || PyList_SetSlice(watcher->syncs, 0, k, NULL) < 0) {
            Py_XDECREF(ready);
            return -1;
        }
        for (i = 0; i < k; i++) {
            if (settle(watcher, entry_future(PyList_GET_ITEM(ready, i)),
                       NULL) < 0) {
                /* The others are resolved all the same. */
                PyErr_WriteUnraisable(PyList_GET_ITEM(ready, i));
            }
        }
        Py_DECREF(ready);
    }
    /* Resolving called out: the watcher may be closed now. */
    if (!watcher->closed && PyList_GET_SIZE(watcher->syncs) > 0 &&
        ino_sync_waiting(&watcher->core)) {
        rc = schedule_read(watcher);
    }
    return rc;
}

void
sync_fail_all(WatcherObject *watcher)
{
    PyObject *syncs = watcher->syncs, *exc;
    Py_ssize_t i;

    if (syncs == NULL || PyList_GET_SIZE(syncs) == 0) {
        return;
    }
    /* Detached first: what failing the futures runs finds none. */
    watcher->syncs = PyList_New(0);
    if (watcher->syncs == NULL) {
        PyErr_WriteUnraisable((PyObject *)watcher);
        watcher->syncs = syncs;
        return;
    }
    exc = PyObject_CallFunction(watcher->st->closed_error, "s",
                                "operation on closed watcher");
    if (exc == NULL) {
        PyErr_WriteUnraisable((PyObject *)watcher);
    }
    for (i = 0; exc != NULL && i < PyList_GET_SIZE(syncs); i++) {
        PyObject *fut = entry_future(PyList_GET_ITEM(syncs, i));

        if (settle(watcher, fut, exc) < 0) {
            PyErr_WriteUnraisable(fut);
        }
    }
    Py_XDECREF(exc);
    Py_DECREF(syncs);
}

/* Registers fut for the sync of token, and makes sure a read comes. */
static int
add_waiting(WatcherObject *watcher, uint64_t token, PyObject *fut)
{
    PyObject *entry = Py_BuildValue("(KO)", (unsigned long long)token, fut);
    int rc;

    if (entry == NULL) {
        return -1;
    }
    rc = PyList_Append(watcher->syncs, entry);
    Py_DECREF(entry);
    return rc < 0 ? -1 : schedule_read(watcher);
}

PyObject *
sync_begin(WatcherObject *watcher, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *fut = nargs > 0 ? args[0] : Py_None, *r;
    uint64_t token = 0;
    int rc;

    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError,
                     "_sync_begin() takes at most 1 argument (%zd given)",
                     nargs);
        return NULL;
    }
    /* Bound to the running loop first (get() raises as this does for a
     * watcher bound to another loop), so that a refused call begins no
     * sync.  loop_ensure() raises once closed. */
    /* Without a future (sync(0), or trio's sync(), which waits for the
     * descriptor itself) no loop is needed. */
    if ((fut != Py_None && loop_ensure(watcher) < 0) || prune(watcher) < 0 ||
        watcher_raise_if_closed(watcher) < 0) {
        return NULL;
    }
    rc = ino_sync_begin(&watcher->core, 0, &token);
    if (rc < 0) {
        inotipy_raise_errno(rc, NULL);
        return NULL;
    }
    if (rc == 1) {
        Py_RETURN_TRUE;
    }
    /* The bound is lifted while the sync waits: read even if full. */
    if (fut != Py_None && loop_ensure(watcher) < 0) {
        return NULL;
    }
    if (fut != Py_None) {
        return add_waiting(watcher, token, fut) < 0 ? NULL
                                                    : Py_NewRef(Py_False);
    }
    r = queue_on_readable(watcher);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    /* Serving waiters called out, and may have closed the watcher. */
    if (watcher_raise_if_closed(watcher) < 0) {
        return NULL;
    }
    return PyBool_FromLong(ino_synced(&watcher->core) >= token);
}
