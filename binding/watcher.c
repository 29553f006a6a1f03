/*
 * watcher.c: the Watcher type: making one (the core opened, the Reader
 * made), closing it, its finalizer and GC slots, its methods and getters.
 * The work behind the methods is done in loop.c (the asyncio loop),
 * queue.c (events and waiters) and changes.c (change sets).
 */
#include <errno.h>

#include "watcher.h"

#include "args.h"
#include "batch.h"
#include "changes.h"
#include "errors.h"
#include "loop.h"
#include "module.h"
#include "poll.h"
#include "queue.h"
#include "state_file.h"
#include "sync.h"
#include "waiter.h"
#include "watch.h"

/* ---- construction and closing ----------------------------------------- */

static int
watcher_open(WatcherObject *self, size_t max_queued)
{
    int rc = ino_open(&self->core, max_queued);

    if (rc == -EMFILE) {
        return inotipy_raise_oserror(
            EMFILE, NULL,
            "cannot create an inotify instance: too many open files, or "
            "/proc/sys/fs/inotify/max_user_instances reached");
    }
    if (rc < 0) {
        return inotipy_raise_errno(rc, NULL);
    }
    self->closed = 0;
    return 0;
}

static PyObject *
watcher_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"flags", "loop", "max_queued", NULL};
    PyObject *flags = NULL, *loop = Py_None;
    Py_ssize_t max_queued = INO_DEFAULT_MAX_QUEUED;
    inotipy_state *st = inotipy_state_of_type(type);
    WatcherObject *self;

    if (st == NULL || !PyArg_ParseTupleAndKeywords(
                          args, kwds, "|O!O$n:Watcher", kwlist, &PyLong_Type,
                          &flags, &loop, &max_queued)) {
        return NULL;
    }
    if (flags != NULL && inotipy_parse_flags(flags) < 0) {
        return NULL;
    }
    if (max_queued < 1) {
        PyErr_SetString(PyExc_ValueError, "max_queued must be at least 1");
        return NULL;
    }
    self = (WatcherObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->st = st;
    /* Closed until the core is open: a watcher that fails half-made is
     * neither warned about nor closed by its finalizer.  ino_open() comes
     * first because it leaves a core that ino_close() accepts, failed or
     * not, and dealloc closes it. */
    self->closed = 1;
    if (watcher_open(self, (size_t)max_queued) < 0) {
        goto fail;
    }
    self->waiters = PyList_New(0);
    self->given_back = PyList_New(0);
    self->syncs = PyList_New(0);
    self->reader = loop_reader_new(self, queue_on_readable);
    if (self->waiters == NULL || self->given_back == NULL ||
        self->syncs == NULL || self->reader == NULL) {
        goto fail;
    }
    if (loop != Py_None) {
        self->loop = Py_NewRef(loop);
        if (loop_start_reading(self) < 0) {
            goto fail;
        }
    }
    return (PyObject *)self;
fail:
    self->closed = 1;
    Py_DECREF(self);
    return NULL;
}

/* Drops the table's references to the live Watches, marking them invalid.
 * Returns them in a list (new reference), so that the caller releases them
 * once the watcher is in a consistent state; or NULL with an exception
 * when no list could be made, the references then dropped here. */
static PyObject *
watcher_detach_watches(WatcherObject *self)
{
    PyObject *held = PyList_New(0);
    ino_entry *e;
    size_t pos = 0;

    while ((e = ino_table_next(&self->core.table, &pos)) != NULL) {
        WatchObject *watch = (WatchObject *)e->udata;

        if (watch == NULL) {
            continue;
        }
        watch->valid = 0;
        e->udata = NULL;
        if (held != NULL && PyList_Append(held, (PyObject *)watch) < 0) {
            PyErr_Clear();      /* the reference is dropped here instead */
        }
        Py_DECREF(watch);
    }
    return held;
}

/* Closes the core without the GIL: close(2) of an inotify descriptor with
 * watches waits for an RCU grace period, milliseconds long
 * (docs/guarantees.md).
 *
 * Re-entrancy: while the GIL is released, other threads run, and may use
 * this watcher, its Watches and its waiters.  They cannot reach the core:
 * `closed` was set under the GIL before, and every path to the core checks
 * it first (watcher_raise_if_closed() in the methods, the getters, the
 * Watch methods through live_watcher(), queue.c and loop.c, traverse and
 * clear).  A second close() returns at once.  This thread cannot re-enter,
 * as it runs no Python code until the GIL is back.  The table holds no
 * Python object any more (the caller detached the Watches), so ino_close()
 * frees only C memory. */
static int
watcher_close_core(WatcherObject *self)
{
    int rc;

    Py_BEGIN_ALLOW_THREADS rc = ino_close(&self->core);
    Py_END_ALLOW_THREADS return rc;
}

static PyObject *
watcher_close(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *held;
    int rc;

    if (self->closed) {
        Py_RETURN_NONE;
    }
    if (watcher_raise_if_closed(self) < 0) {
        return NULL; /* busy: from a progress callback */
    }
    /* First: what the steps below call out to finds the watcher closed. */
    self->closed = 1;
    if (self->loop != NULL && loop_stop_reading(self) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    if (loop_forget_dead_waiters(self) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    queue_wake_all_closed(self);
    sync_fail_all(self);
    poll_close(self);
    /* A trio task waiting for the descriptor must hear of it before it
     * is closed; it then finds the watcher closed. */
    loop_notify_closing(self);
    if (PyList_SetSlice(self->given_back, 0, PyList_GET_SIZE(self->given_back),
                        NULL) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    held = watcher_detach_watches(self);
    rc = watcher_close_core(self);
    Py_CLEAR(self->loop);
    Py_XDECREF(held);
    if (held == NULL) {
        return NULL;
    }
    if (rc < 0) {
        inotipy_raise_errno(rc, NULL);
        return NULL;
    }
    Py_RETURN_NONE;
}

static void
watcher_finalize(WatcherObject *self)
{
    PyObject *r;
    inotipy_saved_error saved;

    inotipy_error_save(&saved);
    if (!self->closed) {
        if (PyErr_ResourceWarning((PyObject *)self, 1,
                                  "unclosed inotipy watcher %R", self) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        /* The C close(), not a subclass's: the descriptor must go. */
        r = watcher_close(self, NULL);
        if (r == NULL) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        Py_XDECREF(r);
    }
    inotipy_error_restore(&saved);
}

static int
watcher_traverse(WatcherObject *self, visitproc visit, void *arg)
{
    ino_entry *e;
    size_t pos = 0;

    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->loop);
    Py_VISIT(self->reader);
    Py_VISIT(self->waiters);
    Py_VISIT(self->given_back);
    Py_VISIT(self->spare_waiter);
    Py_VISIT(self->syncs);
    Py_VISIT(self->trio_side);
    if (poll_traverse(self, visit, arg) != 0) {
        return -1;
    }
    /* A collection in another thread may run while close() has the core
     * without the GIL: once closed, the table is not ours to walk.  Not
     * visiting is safe, as unvisited objects only look reachable. */
    while (!self->closed &&
           (e = ino_table_next(&self->core.table, &pos)) != NULL) {
        Py_VISIT((PyObject *)e->udata);
    }
    return 0;
}

static int
watcher_clear(WatcherObject *self)
{
    /* Once closed, close() has detached the Watches already. */
    if (!self->closed) {
        PyObject *held = watcher_detach_watches(self);

        if (held == NULL) {
            PyErr_Clear();
        }
        Py_XDECREF(held);
    }
    Py_CLEAR(self->loop);
    Py_CLEAR(self->waiters);
    Py_CLEAR(self->given_back);
    Py_CLEAR(self->spare_waiter);
    Py_CLEAR(self->syncs);
    Py_CLEAR(self->trio_side);
    poll_clear(self);
    return 0;
}

/* As CPython's own types with a finalizer: the finalizer (which closes)
 * runs while the object is still tracked, so a resurrected watcher stays
 * tracked; then untrack, clear, free, and drop the heap type's
 * reference. */
static void
watcher_dealloc(WatcherObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    loop_reader_detach(self);
    Py_CLEAR(self->reader);
    watcher_clear(self);
    poll_free(self);
    /* close() has run, unless watcher_new() failed after ino_open(): this
     * closes what it opened (a no-op otherwise). */
    (void)ino_close(&self->core);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* ---- methods ----------------------------------------------------------- */

static PyObject *
watcher_watch(WatcherObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pathname", "mask", NULL};
    PyObject *pathname, *maskobj, *path, *fsname = NULL, *watch;
    ino_entry *e;
    uint32_t mask;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:watch", kwlist, &pathname,
                                     &maskobj) ||
        watcher_raise_if_closed(self) < 0 ||
        inotipy_parse_mask(maskobj, &mask) < 0 ||
        inotipy_check_watch_mask(mask) < 0) {
        return NULL;
    }
    path = PyOS_FSPath(pathname);
    if (path == NULL || !PyUnicode_FSConverter(path, &fsname)) {
        Py_XDECREF(path);
        return NULL;
    }
    /* os.fspath() may run __fspath__, which may close the watcher. */
    if (watcher_raise_if_closed(self) < 0) {
        Py_DECREF(path);
        Py_DECREF(fsname);
        return NULL;
    }
    if (ino_is_fanotify(&self->core)) {
        PyErr_SetString(PyExc_ValueError,
                        "a fanotify watcher watches trees only "
                        "(watch_tree()): watch() needs another watcher");
        Py_DECREF(path);
        Py_DECREF(fsname);
        return NULL;
    }
    rc = ino_add_watch(&self->core, PyBytes_AS_STRING(fsname), mask, &e);
    Py_DECREF(fsname);
    if (rc < 0) {
        inotipy_raise_watch_error(rc, path, ino_watch_count(&self->core));
        Py_DECREF(path);
        return NULL;
    }
    if (rc == 0) {
        /* The same inode: the kernel gave back the wd we have. */
        ((WatchObject *)e->udata)->mask = e->mask;
        Py_DECREF(path);
        return Py_NewRef((PyObject *)e->udata);
    }
    watch = watch_new(self, path, e->wd, e->mask);
    Py_DECREF(path);
    if (watch == NULL) {
        ino_forget_watch(&self->core, e->wd);
        return NULL;
    }
    e->udata = Py_NewRef(watch); /* the table's reference */
    return watch;
}

/* watch_tree()'s progress callback, called by the core's first scan. */
typedef struct progress_ctx {
    PyObject *fn;
    int failed;
} progress_ctx;

static int
call_progress(void *arg, size_t dirs)
{
    progress_ctx *c = arg;
    PyObject *res = PyObject_CallFunction(c->fn, "n", (Py_ssize_t)dirs);

    if (res == NULL) {
        c->failed = 1;
        return 1;
    }
    Py_DECREF(res);
    return 0;
}

/* Adds the tree and makes its root's Watch; returns a new reference. */
static PyObject *
add_tree(WatcherObject *self, PyObject *path, PyObject *fsname, uint32_t mask,
         const char **globs, Py_ssize_t nglobs, int flags, PyObject *progress,
         PyObject *since)
{
    progress_ctx ctx = {progress, 0};
    PyObject *watch;
    size_t in_use = 0;
    ino_entry *e;
    int rc;

    /* os.fspath() and the globs' __fspath__ may have closed the watcher. */
    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    if (progress != NULL &&
        (rc = ino_set_tree_progress(&self->core, call_progress, &ctx)) < 0) {
        inotipy_raise_errno(rc, path);
        return NULL;
    }
    self->scanning = progress != NULL;
    if (since != NULL) {
        /* Catch-up (state_file.c): 0 is its own exception. */
        rc = state_file_add_tree(self, since, PyBytes_AS_STRING(fsname), mask,
                                 globs, (size_t)nglobs, flags, &e, &in_use);
        ctx.failed |= rc == 0;
    }
    else {
        rc = ino_add_tree(&self->core, PyBytes_AS_STRING(fsname), mask, globs,
                          (size_t)nglobs, flags, &e, &in_use);
    }
    self->scanning = 0;
    if (progress != NULL) {
        ino_set_tree_progress(&self->core, NULL, NULL);
    }
    if (ctx.failed) {
        return NULL; /* the callback's exception; the tree rolled back */
    }
    if (rc < 0) {
        inotipy_raise_watch_error(rc, path, in_use);
        return NULL;
    }
    watch = watch_new(self, path, e->wd, mask & INO_EVENT_BITS);
    if (watch == NULL) {
        ino_rm_watch(&self->core, e->wd);
        return NULL;
    }
    ((WatchObject *)watch)->is_tree = 1;
    e->udata = Py_NewRef(watch); /* the table's reference */
    return watch;
}

static PyObject *
watcher_watch_tree(WatcherObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {
        "path",        "mask",     "exclude", "follow_symlinks",
        "index_files", "progress", "since",   NULL};
    PyObject *pathname, *maskobj = NULL, *exclude = NULL, *path = NULL;
    PyObject *fsname = NULL, *holder = NULL, *watch = NULL;
    PyObject *progress = NULL, *since = NULL;
    const char **globs = NULL;
    int follow = 0, index_files = 1;
    uint32_t mask = INO_EVENT_BITS;
    Py_ssize_t nglobs = 0;

    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "O|O$OppOO:watch_tree", kwlist, &pathname, &maskobj,
            &exclude, &follow, &index_files, &progress, &since) ||
        watcher_raise_if_closed(self) < 0 ||
        (maskobj != NULL && inotipy_parse_mask(maskobj, &mask) < 0) ||
        inotipy_check_watch_mask(mask) < 0) {
        return NULL;
    }
    if (progress == Py_None) {
        progress = NULL;
    }
    if (since == Py_None) {
        since = NULL;
    }
    if (progress != NULL && !PyCallable_Check(progress)) {
        PyErr_SetString(PyExc_TypeError, "progress must be callable or None");
        return NULL;
    }
    if (exclude != NULL &&
        (nglobs = inotipy_parse_excludes(exclude, &holder, &globs)) < 0) {
        goto done;
    }
    path = PyOS_FSPath(pathname);
    if (path != NULL && PyUnicode_FSConverter(path, &fsname)) {
        watch = add_tree(self, path, fsname, mask, globs, nglobs,
                         (follow ? INO_TREE_FOLLOW : 0) |
                             (index_files ? 0 : INO_TREE_NO_FILES),
                         progress, since);
    }
done:
    Py_XDECREF(path);
    Py_XDECREF(fsname);
    Py_XDECREF(holder);
    PyMem_Free(globs);
    return watch;
}

static PyObject *
watcher_get(WatcherObject *self, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    PyObject *obj = NULL;
    double timeout;

    /* get() with no argument, the common call, parses nothing. */
    if (nargs == 0 && kwnames == NULL) {
        return waiter_new(self, -1, 0);
    }
    if (nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0) > 1) {
        PyErr_SetString(PyExc_TypeError, "get() takes at most 1 argument");
        return NULL;
    }
    if (nargs == 1) {
        obj = args[0];
    }
    else if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0),
                                              "timeout") == 0) {
        obj = args[0];
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "get() got an unexpected keyword argument '%U'",
                     PyTuple_GET_ITEM(kwnames, 0));
        return NULL;
    }
    if (inotipy_parse_timeout(obj, &timeout) < 0) {
        return NULL;
    }
    return waiter_new(self, timeout, 0);
}

static PyObject *
watcher_get_nowait(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *event;
    int rc;

    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    rc = queue_poll(self, POLL_READ_KERNEL, &event);
    if (rc < 0) {
        return NULL;
    }
    return rc > 0 ? event : Py_NewRef(Py_None);
}

static PyObject *
watcher_get_batch_nowait(WatcherObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_events", NULL};
    Py_ssize_t max_events = PY_SSIZE_T_MAX;
    PyObject *limit = Py_None;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:get_batch_nowait", kwlist,
                                     &limit) ||
        watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    if (limit != Py_None) {
        max_events = PyLong_AsSsize_t(limit);
        if (max_events == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    if (max_events < 0) {
        PyErr_SetString(PyExc_ValueError, "max_events must not be negative");
        return NULL;
    }
    return batch_take(self, NULL, max_events);
}

/* _batch(first, max_events, /): get_batch()'s second half, the batch of
 * first (what get() returned, or None after a timeout, when nothing more
 * is taken) and every event ready after it, max_events in all (None: no
 * bound). */
static PyObject *
watcher_batch(WatcherObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t max_events = PY_SSIZE_T_MAX;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_batch expected 2 arguments");
        return NULL;
    }
    if (args[1] != Py_None) {
        max_events = PyLong_AsSsize_t(args[1]);
        if (max_events == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    if (args[0] == Py_None) {
        return batch_take(self, NULL, 0); /* a timeout: an empty batch */
    }
    if (!Py_IS_TYPE(args[0], self->st->event_type)) {
        PyErr_SetString(PyExc_TypeError, "first must be an Event or None");
        return NULL;
    }
    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    return batch_take(self, args[0], max_events);
}

static PyObject *
watcher_fileno(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    return PyLong_FromLong(ino_fd(&self->core));
}

/* _use_fanotify(): makes a watcher that has no watch yet a fanotify
 * watcher (ino_use_fanotify()).  Its descriptor keeps its number, but it
 * is another file: the loop's registration is made again for it. */
static PyObject *
watcher_use_fanotify(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    int was_reading = self->reading, rc;

    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    if (ino_is_fanotify(&self->core)) {
        Py_RETURN_NONE;
    }
    if (was_reading && loop_stop_reading(self) < 0) {
        return NULL;
    }
    rc = ino_use_fanotify(&self->core);
    if (was_reading && loop_start_reading(self) < 0) {
        return NULL;
    }
    if (rc < 0) {
        inotipy_raise_errno(rc, NULL);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _use_inotify(): the way back, for a fanotify watcher whose first tree
 * failed (ino_use_inotify()). */
static PyObject *
watcher_use_inotify(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    int was_reading = self->reading, rc;

    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    if (!ino_is_fanotify(&self->core)) {
        Py_RETURN_NONE;
    }
    if (was_reading && loop_stop_reading(self) < 0) {
        return NULL;
    }
    rc = ino_use_inotify(&self->core);
    if (was_reading && loop_start_reading(self) < 0) {
        return NULL;
    }
    if (rc < 0) {
        inotipy_raise_errno(rc, NULL);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
watcher_is_fanotify(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(!self->closed && ino_is_fanotify(&self->core));
}

static PyObject *
watcher_live_watches(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(0);
    ino_entry *e;
    size_t pos = 0;

    while (list != NULL && !self->closed &&
           (e = ino_table_next(&self->core.table, &pos)) != NULL) {
        WatchObject *watch = (WatchObject *)e->udata;

        if (watch != NULL && watch->valid &&
            PyList_Append(list, (PyObject *)watch) < 0) {
            Py_CLEAR(list);
        }
    }
    return list;
}

static PyObject *
watcher_enter(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    return Py_NewRef((PyObject *)self);
}

static PyObject *
watcher_exit(WatcherObject *self, PyObject *args)
{
    /* close() by name, so that a subclass's close() runs (as epoll's
     * __exit__ does); its result is not ours to return, as a true one
     * would swallow the exception. */
    PyObject *r =
        PyObject_CallMethodNoArgs((PyObject *)self, self->st->s_close);

    (void)args;
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* ---- getters: all derived from `closed` while it is set ---------------- */

static PyObject *
watcher_get_fd(WatcherObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->closed ? -1 : ino_fd(&self->core));
}

static PyObject *
watcher_get_closed(WatcherObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->closed);
}

static PyObject *
watcher_get_loop(WatcherObject *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->loop ? self->loop : Py_None);
}

static PyObject *
watcher_get_queued(WatcherObject *self, void *closure)
{
    (void)closure;
    if (self->closed) {
        return PyLong_FromLong(0);
    }
    return PyLong_FromSize_t(ino_queued(&self->core) +
                             (size_t)PyList_GET_SIZE(self->given_back));
}

static PyObject *
watcher_stats(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    ino_stats st;

    ino_get_stats(&self->core, &st);
    if (self->closed) {
        st.watches = st.queued = st.tree_dirs = st.tree_files = 0;
    }
    return Py_BuildValue(
        "(nnnKKKnn)", (Py_ssize_t)st.watches, (Py_ssize_t)st.queued,
        (Py_ssize_t)st.peak_queued, (unsigned long long)st.delivered,
        (unsigned long long)st.overflows, (unsigned long long)st.rescans,
        (Py_ssize_t)st.tree_dirs, (Py_ssize_t)st.tree_files);
}

static PyObject *
watcher_get_watch_count(WatcherObject *self, void *closure)
{
    (void)closure;
    if (self->closed) {
        return PyLong_FromLong(0);
    }
    return PyLong_FromSize_t(ino_watch_count(&self->core));
}

static PyObject *
watcher_get_max_queued(WatcherObject *self, void *closure)
{
    (void)closure;
    /* The bound is kept after close(), as before: ino_open() sets it and
     * nothing writes it again, ino_close() included, so this read is safe
     * even while close() runs without the GIL. */
    return PyLong_FromSize_t(ino_max_queued(&self->core));
}
static PyMethodDef watcher_methods[] = {
    {"watch", (PyCFunction)(void (*)(void))watcher_watch,
     METH_VARARGS | METH_KEYWORDS,
     "watch($self, pathname, mask)\n--\n\nWatches a path; returns its "
     "Watch (the same one for the same inode)."},
    {"watch_tree", (PyCFunction)(void (*)(void))watcher_watch_tree,
     METH_VARARGS | METH_KEYWORDS,
     "watch_tree($self, path, mask=IN.ALL_EVENTS, *, exclude=(), "
     "follow_symlinks=False, index_files=True, progress=None, "
     "since=None)\n--\n\n"
     "Watches a "
     "directory and every directory below it, now and later; returns the "
     "root's Watch.  Events carry the path below the root as their name.  "
     "With index_files the tree also keeps an index of its files, which "
     "heals it after an overflow.  progress(dirs) is called every 1024 "
     "directories the first scan watches.  since=path (a file "
     "Watch.save_state() wrote) starts the tree from that index instead of "
     "a scan: what changed meanwhile comes first, as events with IN.RESCAN, "
     "then one IN.SYNCED."},
    {"get", (PyCFunction)(void (*)(void))watcher_get,
     METH_FASTCALL | METH_KEYWORDS,
     "get($self, timeout=None)\n--\n\nAwaitable: the next Event, or None "
     "when timeout seconds pass first."},
    {"get_nowait", (PyCFunction)watcher_get_nowait, METH_NOARGS,
     "get_nowait($self, /)\n--\n\nThe next Event if one is ready (the "
     "kernel is polled), else None."},
    {"get_batch_nowait", (PyCFunction)(void (*)(void))watcher_get_batch_nowait,
     METH_VARARGS | METH_KEYWORDS,
     "get_batch_nowait($self, /, max_events=None)\n--\n\nEvery Event that "
     "is ready (the kernel is polled), at most max_events, as an "
     "EventBatch."},
    {"_batch", (PyCFunction)(void (*)(void))watcher_batch, METH_FASTCALL,
     NULL},
    {"_take_changes", (PyCFunction)(void (*)(void))changes_take, METH_FASTCALL,
     NULL},
    {"_sync_begin", (PyCFunction)(void (*)(void))sync_begin, METH_FASTCALL,
     NULL},
    {"_poll_add", (PyCFunction)(void (*)(void))poll_add, METH_FASTCALL, NULL},
    {"_poll_due", (PyCFunction)poll_due, METH_NOARGS, NULL},
    {"_hold_reading", (PyCFunction)loop_hold_reading, METH_O, NULL},
    {"_poll_now", (PyCFunction)poll_now, METH_NOARGS, NULL},
    {"_save_state", (PyCFunction)(void (*)(void))state_file_save_many,
     METH_FASTCALL, NULL},
    {"close", (PyCFunction)watcher_close, METH_NOARGS,
     "close($self, /)\n--\n\nCloses the watcher; idempotent.  Waiting "
     "get() calls raise WatcherClosedError."},
    {"fileno", (PyCFunction)watcher_fileno, METH_NOARGS,
     "fileno($self, /)\n--\n\nThe inotify (or fanotify) file descriptor."},
    {"_live_watches", (PyCFunction)watcher_live_watches, METH_NOARGS, NULL},
    {"_use_fanotify", (PyCFunction)watcher_use_fanotify, METH_NOARGS, NULL},
    {"_is_fanotify", (PyCFunction)watcher_is_fanotify, METH_NOARGS, NULL},
    {"_use_inotify", (PyCFunction)watcher_use_inotify, METH_NOARGS, NULL},
    {"_stats", (PyCFunction)watcher_stats, METH_NOARGS,
     "_stats($self)\n--\n\nFor Watcher.stats(): (watches, queued, "
     "peak_queued, delivered, overflows, rescans, tree_dirs, tree_files)."},
    {"__enter__", (PyCFunction)watcher_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)watcher_exit, METH_VARARGS, NULL},
    {NULL},
};

static PyGetSetDef watcher_getset[] = {
    {"fd", (getter)watcher_get_fd, NULL,
     "The inotify file descriptor (-1 once closed).", NULL},
    {"closed", (getter)watcher_get_closed, NULL, "True once closed.", NULL},
    {"loop", (getter)watcher_get_loop, NULL,
     "The event loop the watcher is bound to, or None.", NULL},
    {"queued", (getter)watcher_get_queued, NULL,
     "Events read from the kernel and not yet taken.", NULL},
    {"watch_count", (getter)watcher_get_watch_count, NULL,
     "Kernel watches held, a tree's directories included.", NULL},
    {"max_queued", (getter)watcher_get_max_queued, NULL,
     "The bound of the user-space queue, in events.", NULL},
    {NULL},
};

static PyType_Slot watcher_slots[] = {
    {Py_tp_doc,
     "Watcher(flags=0, loop=None, *, max_queued=262144)\n--\n\n"
     "An inotify instance whose events are awaited on asyncio."},
    {Py_tp_new, watcher_new},
    {Py_tp_dealloc, watcher_dealloc},
    {Py_tp_finalize, watcher_finalize},
    {Py_tp_traverse, watcher_traverse},
    {Py_tp_clear, watcher_clear},
    {Py_tp_methods, watcher_methods},
    {Py_tp_getset, watcher_getset},
    {Py_am_aiter, PyObject_SelfIter},
    {Py_am_anext, waiter_anext},
    {0, NULL},
};

static PyType_Spec watcher_spec = {
    .name = "inotipy._inotipy.Watcher",
    .basicsize = sizeof(WatcherObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = watcher_slots,
};

int
watcher_init_type(PyObject *module, inotipy_state *st)
{
    return inotipy_types_add(module, &watcher_spec, NULL, &st->watcher_type);
}
