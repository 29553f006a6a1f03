/*
 * watcher.c: the Watcher type: owns the C engine, plugs its descriptor into
 * the running loop with loop.add_reader() and hands events to waiters.
 *
 * The reader stays registered while the watcher is open, so the kernel's
 * queue is drained into ours as events arrive.  Ours is bounded: when it
 * holds max_queued events the reader is removed (and the kernel's own
 * overflow rules apply) until the consumer has taken half of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "binding.h"

/* The callable given to loop.add_reader().  It holds the watcher weakly
 * (a borrowed pointer the watcher clears when it dies), so a watcher the
 * program dropped can still be collected and warned about while the loop
 * runs. */
typedef struct {
    PyObject_HEAD
    WatcherObject *watcher;      /* borrowed, NULL once the watcher died */
} ReaderObject;

static PyObject *watcher_on_readable(WatcherObject *self);

static PyObject *
reader_call(ReaderObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *r;

    (void)args;
    (void)kwds;
    if (self->watcher == NULL) {
        Py_RETURN_NONE;
    }
    Py_INCREF(self->watcher);
    r = watcher_on_readable(self->watcher);
    Py_DECREF(self->watcher);
    return r;
}

static void
reader_dealloc(ReaderObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyType_Slot reader_slots[] = {
    {Py_tp_call, reader_call},
    {Py_tp_dealloc, reader_dealloc},
    {0, NULL},
};

static PyType_Spec reader_spec = {
    .name = "inotipy._inotipy.Reader",
    .basicsize = sizeof(ReaderObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = reader_slots,
};

/* ---- errors ------------------------------------------------------------ */

int
watcher_raise_if_closed(WatcherObject *self)
{
    if (self->closed) {
        PyErr_SetString(self->st->closed_error,
                        "operation on closed watcher");
        return -1;
    }
    return 0;
}

/* Reads one number from a /proc file, or -1. */
static long
read_proc_number(const char *path)
{
    FILE *f = fopen(path, "r");
    long value = -1;

    if (f != NULL) {
        if (fscanf(f, "%ld", &value) != 1) {
            value = -1;
        }
        fclose(f);
    }
    return value;
}

/* Raises the OSError subclass for a negative errno from a watch call;
 * in_use is the number of watches the watcher held when it failed. */
static void
raise_watch_error(WatcherObject *self, int rc, PyObject *path, size_t in_use)
{
    PyObject *exc;

    (void)self;
    if (rc == -EBUSY) {
        exc = PyObject_CallFunction(
            PyExc_OSError, "isO", EEXIST,
            "already watched by this watcher: a watch and a tree, or two "
            "trees, cannot share a directory", path);
        if (exc != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return;
    }
    if (rc == -ENOSPC) {
        const char *limit = "/proc/sys/fs/inotify/max_user_watches";
        exc = PyObject_CallFunction(
            PyExc_OSError, "iNO", ENOSPC,
            PyUnicode_FromFormat(
                "inotify watch limit reached: %s is %ld and this watcher "
                "had %zu watches; raise the limit",
                limit, read_proc_number(limit), in_use),
            path);
        if (exc != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return;
    }
    errno = -rc;
    PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
}

/* ---- loop plumbing ----------------------------------------------------- */

static PyObject *
call_loop(WatcherObject *self, PyObject *name, PyObject *arg)
{
    PyObject *fd = PyLong_FromLong(ino_fd(&self->core)), *r;

    if (fd == NULL) {
        return NULL;
    }
    r = PyObject_CallMethodObjArgs(self->loop, name, fd, arg, NULL);
    Py_DECREF(fd);
    return r;
}

static int
watcher_start_reading(WatcherObject *self)
{
    PyObject *r = call_loop(self, self->st->s_add_reader, self->reader);

    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    self->reading = 1;
    self->reader_pid = getpid();
    return 0;
}

/* 1 when the bound loop is closed, 0 when open, -1 on error. */
static int
loop_is_closed(WatcherObject *self)
{
    PyObject *r = PyObject_CallMethodNoArgs(self->loop, self->st->s_is_closed);
    int closed;

    if (r == NULL) {
        return -1;
    }
    closed = PyObject_IsTrue(r);
    Py_DECREF(r);
    return closed;
}

static int
watcher_stop_reading(WatcherObject *self)
{
    PyObject *r;
    int closed;

    if (!self->reading) {
        return 0;
    }
    self->reading = 0;
    if (self->reader_pid != getpid()) {
        /* A forked child: remove_reader() would take the descriptor out
         * of the epoll instance it shares with its parent. */
        return 0;
    }
    closed = loop_is_closed(self);
    if (closed != 0) {
        return closed < 0 ? -1 : 0;     /* a closed loop forgot us */
    }
    r = call_loop(self, self->st->s_remove_reader, NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Forgets the waiters when the bound loop was closed under them (without
 * cancelling their tasks): their futures can be neither resolved, as
 * call_soon() raises, nor resumed.  Returns 1 when it did, 0 when the loop
 * is open or there are no waiters, -1 on error. */
static int
watcher_forget_dead_waiters(WatcherObject *self)
{
    int closed;

    if (self->loop == NULL || PyList_GET_SIZE(self->waiters) == 0) {
        return 0;
    }
    closed = loop_is_closed(self);
    if (closed == 1 && PyList_SetSlice(self->waiters, 0,
                                       PyList_GET_SIZE(self->waiters),
                                       NULL) < 0) {
        return -1;
    }
    return closed;
}

/* Starts reading again once the consumer has taken half of a full queue.
 * A failure (the loop was closed) is not the caller's concern: the next
 * get() that waits rebinds. */
static void
watcher_maybe_resume(WatcherObject *self)
{
    if (self->reading || self->loop == NULL || self->closed ||
        ino_queued(&self->core) > ino_max_queued(&self->core) / 2 ||
        self->reader_pid != getpid()) {
        return;
    }
    if (watcher_start_reading(self) < 0) {
        PyErr_Clear();
    }
}

/* Binds to the running loop on first use; rebinds when the loop we were
 * bound to has been closed (a second asyncio.run(), say). */
int
watcher_ensure_loop(WatcherObject *self)
{
    PyObject *running = PyObject_CallNoArgs(self->st->get_running_loop);
    int closed;

    if (running == NULL) {
        return -1;
    }
    if (running == self->loop) {
        Py_DECREF(running);
        if (!self->reading && !ino_full(&self->core)) {
            return watcher_start_reading(self);
        }
        return 0;
    }
    if (self->loop != NULL) {
        closed = loop_is_closed(self);
        if (closed <= 0) {
            if (closed == 0) {
                PyErr_SetString(PyExc_RuntimeError,
                                "this watcher is bound to another event loop");
            }
            Py_DECREF(running);
            return -1;
        }
        /* Waiters of a closed loop can never resume: forget them. */
        if (PyList_SetSlice(self->waiters, 0,
                            PyList_GET_SIZE(self->waiters), NULL) < 0) {
            Py_DECREF(running);
            return -1;
        }
        self->reading = 0;
    }
    Py_XSETREF(self->loop, running);
    return watcher_start_reading(self);
}

/* ---- the event path ---------------------------------------------------- */

int
watcher_read(WatcherObject *self)
{
    long rc = ino_read(&self->core);

    if (rc < 0) {
        errno = (int)-rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* Issues a TreeWarning for a directory of a tree that could not be
 * watched or scanned. */
static int
warn_tree_error(WatcherObject *self, const ino_event *ev)
{
    WatchObject *root = (WatchObject *)ev->udata;
    PyObject *rel, *path;
    int rc;

    if (root == NULL) {
        return 0;
    }
    rel = event_decode_name(root, ev->name, ev->name_len);
    path = rel == NULL ? NULL : event_join(root->pathname, rel);
    Py_XDECREF(rel);
    if (path == NULL) {
        return -1;
    }
    if (ev->error == ENOSPC) {
        rc = PyErr_WarnFormat(
            self->st->tree_warning, 1,
            "cannot watch %R: the inotify watch limit "
            "(/proc/sys/fs/inotify/max_user_watches) is reached with %zu "
            "watches in this watcher",
            path, ino_watch_count(&self->core));
    }
    else {
        rc = PyErr_WarnFormat(self->st->tree_warning, 1,
                              "cannot watch %R: %s", path,
                              strerror(ev->error));
    }
    Py_DECREF(path);
    return rc;
}

/* Returns a new reference to the next Event, or NULL: with an exception
 * set on error, without one when nothing is queued. */
PyObject *
watcher_take_event(WatcherObject *self)
{
    PyObject *event;
    ino_event ev;

    if (PyList_GET_SIZE(self->returned) > 0) {
        event = Py_NewRef(PyList_GET_ITEM(self->returned, 0));
        if (PyList_SetSlice(self->returned, 0, 1, NULL) < 0) {
            Py_DECREF(event);
            return NULL;
        }
        return event;
    }
    while (ino_next(&self->core, &ev)) {
        if (ev.error > 0) {
            /* Not an event: part of a tree could not be watched. */
            if (warn_tree_error(self, &ev) < 0) {
                return NULL;
            }
            continue;
        }
        event = event_from_core(self, &ev);
        watcher_maybe_resume(self);
        return event;
    }
    return NULL;
}

/* Puts an Event back at the head of the queue (a new reference is taken).
 */
int
watcher_give_back(WatcherObject *self, PyObject *event)
{
    if (self->closed) {
        return 0;
    }
    return PyList_Insert(self->returned, 0, event);
}

int
watcher_drop_waiter(WatcherObject *self, WaiterObject *w)
{
    Py_ssize_t i, n = PyList_GET_SIZE(self->waiters);

    for (i = 0; i < n; i++) {
        if (PyList_GET_ITEM(self->waiters, i) == (PyObject *)w) {
            return PyList_SetSlice(self->waiters, i, i + 1, NULL);
        }
    }
    return 0;
}

/* Hands one event to each waiter, oldest first, while both last. */
int
watcher_serve(WatcherObject *self)
{
    while (PyList_GET_SIZE(self->waiters) > 0) {
        WaiterObject *w = (WaiterObject *)Py_NewRef(
            PyList_GET_ITEM(self->waiters, 0));
        PyObject *event = NULL;
        int done = waiter_is_done(w);

        if (done == 0) {
            event = watcher_take_event(self);
            if (event == NULL) {
                Py_DECREF(w);
                return PyErr_Occurred() ? -1 : 0;
            }
        }
        if (done < 0 || watcher_drop_waiter(self, w) < 0 ||
            (event != NULL && waiter_wake(w, WAKE_EVENT, event) < 0)) {
            if (event != NULL && watcher_give_back(self, event) < 0) {
                PyErr_WriteUnraisable((PyObject *)self);
            }
            Py_XDECREF(event);
            Py_DECREF(w);
            return -1;
        }
        Py_DECREF(w);
    }
    return 0;
}

/* Returns a new reference to the next Event when no live waiter is ahead
 * of the caller, polling the kernel when our queue is empty (unless
 * read_kernel is 0); NULL without an exception when there is none for the
 * caller. */
PyObject *
watcher_poll(WatcherObject *self, int read_kernel)
{
    PyObject *event;

    if (watcher_forget_dead_waiters(self) < 0) {
        return NULL;
    }
    if (PyList_GET_SIZE(self->waiters) > 0) {
        /* Earlier waiters go first; serving also drops cancelled ones. */
        if (watcher_serve(self) < 0 ||
            (read_kernel && PyList_GET_SIZE(self->waiters) > 0 &&
             (watcher_read(self) < 0 || watcher_serve(self) < 0))) {
            return NULL;
        }
        if (PyList_GET_SIZE(self->waiters) > 0) {
            return NULL;
        }
    }
    event = watcher_take_event(self);
    if (event == NULL && read_kernel && !PyErr_Occurred() &&
        watcher_read(self) == 0) {
        event = watcher_take_event(self);
    }
    return event;
}

static PyObject *
watcher_on_readable(WatcherObject *self)
{
    if (self->closed) {
        Py_RETURN_NONE;
    }
    if (watcher_read(self) < 0 || watcher_serve(self) < 0) {
        return NULL;
    }
    if (ino_full(&self->core) && watcher_stop_reading(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- construction and closing ----------------------------------------- */

static int
watcher_open(WatcherObject *self, size_t max_queued)
{
    int rc = ino_open(&self->core, max_queued);

    if (rc == -EMFILE) {
        /* An OSError with its errno, as for every other failure. */
        PyObject *exc = PyObject_CallFunction(
            PyExc_OSError, "is", EMFILE,
            "cannot create an inotify instance: too many open files, or "
            "/proc/sys/fs/inotify/max_user_instances reached");
        if (exc != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return -1;
    }
    if (rc < 0) {
        errno = -rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->fd_shown = ino_fd(&self->core);
    return 0;
}

static int
parse_flags(PyObject *obj)
{
    long flags = PyLong_AsLong(obj);

    if (flags == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (flags & ~(long)(O_CLOEXEC | O_NONBLOCK)) {
        /* PyUnicode_FromFormat() takes %lx only from Python 3.12 on. */
        char hex[24];

        snprintf(hex, sizeof hex, "%#lx", (unsigned long)flags);
        PyErr_Format(PyExc_ValueError,
                     "flags may hold only IN.CLOEXEC and IN.NONBLOCK, "
                     "not %s", hex);
        return -1;
    }
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
    ReaderObject *reader;

    if (st == NULL ||
        !PyArg_ParseTupleAndKeywords(args, kwds, "|O!O$n:Watcher", kwlist,
                                     &PyLong_Type, &flags, &loop,
                                     &max_queued)) {
        return NULL;
    }
    if ((flags != NULL && parse_flags(flags) < 0)) {
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
    self->core.fd = -1;
    self->st = st;
    self->waiters = PyList_New(0);
    self->returned = PyList_New(0);
    reader = PyObject_New(ReaderObject, st->reader_type);
    if (reader != NULL) {
        reader->watcher = self;
        self->reader = (PyObject *)reader;
    }
    if (self->waiters == NULL || self->returned == NULL || reader == NULL ||
        watcher_open(self, (size_t)max_queued) < 0) {
        goto fail;
    }
    if (loop != Py_None) {
        self->loop = Py_NewRef(loop);
        if (watcher_start_reading(self) < 0) {
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
 * Returns them in a list (new reference) so the caller can release them
 * once the watcher is in a consistent state, or NULL on error. */
static PyObject *
watcher_detach_watches(WatcherObject *self)
{
    PyObject *held = PyList_New(0);
    ino_entry *e;
    size_t pos = 0;

    if (held == NULL) {
        return NULL;
    }
    while ((e = ino_table_next(&self->core.table, &pos)) != NULL) {
        WatchObject *w = (WatchObject *)e->udata;
        if (w == NULL) {
            continue;
        }
        w->valid = 0;
        e->udata = NULL;
        /* On failure the reference is dropped here instead of later. */
        if (PyList_Append(held, (PyObject *)w) < 0) {
            PyErr_Clear();
        }
        Py_DECREF(w);
    }
    return held;
}

/* Wakes every waiter with WAKE_CLOSED; they raise WatcherClosedError (or
 * end an async for). */
static void
watcher_wake_all_closed(WatcherObject *self)
{
    PyObject *waiters = self->waiters;
    Py_ssize_t i;

    self->waiters = PyList_New(0);
    if (self->waiters == NULL) {
        PyErr_WriteUnraisable((PyObject *)self);
        self->waiters = waiters;
        return;
    }
    for (i = 0; i < PyList_GET_SIZE(waiters); i++) {
        WaiterObject *w = (WaiterObject *)PyList_GET_ITEM(waiters, i);
        if (waiter_is_done(w) == 0 && waiter_wake(w, WAKE_CLOSED, NULL) < 0) {
            PyErr_WriteUnraisable((PyObject *)w);
        }
        PyErr_Clear();
    }
    Py_DECREF(waiters);
}

static PyObject *
watcher_close(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *held;
    int failed, rc;

    if (self->closed) {
        Py_RETURN_NONE;
    }
    self->closed = 1;
    failed = self->loop != NULL && watcher_stop_reading(self) < 0;
    if (failed) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    if (watcher_forget_dead_waiters(self) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    watcher_wake_all_closed(self);
    if (PyList_SetSlice(self->returned, 0, PyList_GET_SIZE(self->returned),
                        NULL) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    held = watcher_detach_watches(self);
    rc = ino_close(&self->core);
    Py_CLEAR(self->loop);
    Py_XDECREF(held);
    if (held == NULL) {
        return NULL;
    }
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
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
    Py_VISIT(self->returned);
    Py_VISIT(self->spare);
    while ((e = ino_table_next(&self->core.table, &pos)) != NULL) {
        Py_VISIT((PyObject *)e->udata);
    }
    return 0;
}

static int
watcher_clear(WatcherObject *self)
{
    PyObject *held = watcher_detach_watches(self);

    if (held == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(held);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->waiters);
    Py_CLEAR(self->returned);
    Py_CLEAR(self->spare);
    return 0;
}

static void
watcher_dealloc(WatcherObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return;                 /* resurrected */
    }
    if (self->reader != NULL) {
        ((ReaderObject *)self->reader)->watcher = NULL;
        Py_CLEAR(self->reader);
    }
    watcher_clear(self);
    ino_close(&self->core);
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

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:watch", kwlist,
                                     &pathname, &maskobj) ||
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
    rc = ino_add_watch(&self->core, PyBytes_AS_STRING(fsname), mask, &e);
    Py_DECREF(fsname);
    if (rc < 0) {
        raise_watch_error(self, rc, path, ino_watch_count(&self->core));
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
    e->udata = Py_NewRef(watch);    /* the table's reference */
    return watch;
}

/* Converts exclude globs (str, bytes or PathLike each) into an array of C
 * strings pointing into *holder (a new list of bytes); returns the count or
 * -1. */
static Py_ssize_t
parse_excludes(PyObject *exclude, PyObject **holder, const char ***out)
{
    PyObject *seq, *item, *fsname;
    Py_ssize_t i, n;

    *out = NULL;
    *holder = NULL;
    if (PyUnicode_Check(exclude) || PyBytes_Check(exclude)) {
        PyErr_SetString(PyExc_TypeError,
                        "exclude must be a collection of globs, not a str");
        return -1;
    }
    seq = PySequence_Fast(exclude, "exclude must be a collection of globs");
    if (seq == NULL) {
        return -1;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    *holder = PyList_New(n);
    *out = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (*holder == NULL || *out == NULL) {
        Py_DECREF(seq);
        return -1;
    }
    for (i = 0; i < n; i++) {
        item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_FSConverter(item, &fsname)) {
            Py_DECREF(seq);
            return -1;
        }
        PyList_SET_ITEM(*holder, i, fsname);
        (*out)[i] = PyBytes_AS_STRING(fsname);
    }
    Py_DECREF(seq);
    return n;
}

static PyObject *
watcher_watch_tree(WatcherObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"path", "mask", "exclude", "follow_symlinks",
                             NULL};
    PyObject *pathname, *maskobj = NULL, *exclude = NULL, *path = NULL;
    PyObject *fsname = NULL, *holder = NULL, *watch = NULL;
    const char **globs = NULL;
    int follow = 0, rc;
    uint32_t mask = INO_EVENT_BITS;
    Py_ssize_t nglobs = 0;
    size_t in_use = 0;
    ino_entry *e;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$Op:watch_tree",
                                     kwlist, &pathname, &maskobj, &exclude,
                                     &follow) ||
        watcher_raise_if_closed(self) < 0 ||
        (maskobj != NULL && inotipy_parse_mask(maskobj, &mask) < 0) ||
        inotipy_check_watch_mask(mask) < 0) {
        return NULL;
    }
    if (exclude != NULL &&
        (nglobs = parse_excludes(exclude, &holder, &globs)) < 0) {
        goto done;
    }
    path = PyOS_FSPath(pathname);
    if (path == NULL || !PyUnicode_FSConverter(path, &fsname)) {
        goto done;
    }
    rc = ino_add_tree(&self->core, PyBytes_AS_STRING(fsname), mask, globs,
                      (size_t)nglobs, follow, &e, &in_use);
    if (rc < 0) {
        raise_watch_error(self, rc, path, in_use);
        goto done;
    }
    watch = watch_new(self, path, e->wd, mask & INO_EVENT_BITS);
    if (watch == NULL) {
        ino_rm_watch(&self->core, e->wd);
        goto done;
    }
    ((WatchObject *)watch)->is_tree = 1;
    e->udata = Py_NewRef(watch);    /* the table's reference */
done:
    Py_XDECREF(path);
    Py_XDECREF(fsname);
    Py_XDECREF(holder);
    PyMem_Free(globs);
    return watch;
}

/* Parses a get() timeout: None is none (-1); negative polls like 0. */
static int
parse_timeout(PyObject *obj, double *timeout)
{
    double t;

    if (obj == NULL || obj == Py_None) {
        *timeout = -1;
        return 0;
    }
    t = PyFloat_AsDouble(obj);
    if (t == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (t != t) {
        PyErr_SetString(PyExc_ValueError, "timeout must not be NaN");
        return -1;
    }
    *timeout = t < 0 ? 0 : (t == Py_HUGE_VAL ? -1 : t);
    return 0;
}

static PyObject *
watcher_get(WatcherObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *obj = NULL;
    double timeout;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:get", kwlist, &obj) ||
        parse_timeout(obj, &timeout) < 0) {
        return NULL;
    }
    return waiter_new(self, timeout, 0);
}

static PyObject *
watcher_get_nowait(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *event;

    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    event = watcher_poll(self, 1);
    if (event == NULL && !PyErr_Occurred()) {
        Py_RETURN_NONE;
    }
    return event;
}

/* Every event that is ready (the kernel polled), at most max_events. */
static PyObject *
watcher_get_batch_nowait(WatcherObject *self, PyObject *args,
                         PyObject *kwds)
{
    static char *kwlist[] = {"max_events", NULL};
    Py_ssize_t max_events = PY_SSIZE_T_MAX;
    PyObject *list, *event, *limit = Py_None;
    int gc_was_on, read_kernel = 1;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:get_batch_nowait",
                                     kwlist, &limit) ||
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
    /* The list keeps every Event alive until it returns: with the
     * collector on, a large batch would be traversed again and again. */
    gc_was_on = PyGC_Disable();
    list = PyList_New(0);
    while (list != NULL && PyList_GET_SIZE(list) < max_events) {
        /* Once a read of this call saw the kernel's queue empty, what
         * came after it is for the next call: no read only to hear
         * EAGAIN. */
        event = watcher_poll(self, 0);
        if (event == NULL && read_kernel && !PyErr_Occurred()) {
            event = watcher_poll(self, 1);
            read_kernel = !ino_drained(&self->core);
        }
        if (event == NULL) {
            if (PyErr_Occurred()) {
                Py_CLEAR(list);
            }
            break;
        }
        if (PyList_Append(list, event) < 0) {
            /* Keep the event for the next caller rather than lose it. */
            if (watcher_give_back(self, event) < 0) {
                PyErr_WriteUnraisable((PyObject *)self);
            }
            Py_CLEAR(list);
        }
        Py_DECREF(event);
    }
    if (gc_was_on) {
        PyGC_Enable();
    }
    return list;
}

/* ---- change sets (awatch) ---------------------------------------------- */

/* Which of the three kinds an event's mask is: 0 added, 1 modified, 2
 * deleted, -1 none (opens, reads, IGNORED). */
static int
change_kind(uint32_t mask)
{
    if (mask & (IN_CREATE | IN_MOVED_TO)) {
        return 0;
    }
    if (mask & (IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF |
                IN_UNMOUNT)) {
        return 2;
    }
    if (mask & (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)) {
        return 1;
    }
    return -1;
}

/* Adds (kinds[kind], watch path joined with name) to the set.  As in
 * watchfiles, a path added in this set is not also reported modified. */
static int
add_change(PyObject *changes, PyObject *const *kinds, int kind,
           WatchObject *watch, PyObject *name)
{
    PyObject *path, *item;
    int rc = 0;

    if (kind < 0 || watch == NULL) {
        return 0;
    }
    path = event_join(watch->pathname, name);
    if (path == NULL) {
        return -1;
    }
    if (kind == 1) {
        item = PyTuple_Pack(2, kinds[0], path);
        rc = item == NULL ? -1 : PySet_Contains(changes, item);
        Py_XDECREF(item);
    }
    if (rc != 0) {
        Py_DECREF(path);
        return rc < 0 ? -1 : 0;
    }
    item = PyTuple_Pack(2, kinds[kind], path);
    Py_DECREF(path);
    if (item == NULL) {
        return -1;
    }
    rc = PySet_Add(changes, item);
    Py_DECREF(item);
    return rc;
}

/* Adds one Event object (the one get() returned, or one given back). */
static int
add_event_change(PyObject *changes, PyObject *const *kinds, PyObject *obj,
                 int *overflowed)
{
    EventObject *e = (EventObject *)obj;
    PyObject *w = e->watch;

    if (e->mask & IN_Q_OVERFLOW) {
        *overflowed = 1;
        return 0;
    }
    if (w == NULL || w == Py_None || e->pathname == NULL) {
        return 0;
    }
    return add_change(changes, kinds, change_kind(e->mask),
                      (WatchObject *)w, e->pathname);
}

/* Adds one core event without making an Event for it. */
static int
add_core_change(WatcherObject *self, PyObject *changes,
                PyObject *const *kinds, const ino_event *ev,
                int *overflowed)
{
    WatchObject *watch = (WatchObject *)ev->udata;
    PyObject *name;
    int kind = change_kind(ev->mask), rc = 0;

    if (ev->mask & IN_Q_OVERFLOW) {
        *overflowed = 1;
    }
    else if (kind >= 0 && watch != NULL) {
        name = ev->name_len == 0
                   ? Py_NewRef(watch->is_bytes ? self->st->empty_bytes
                                               : self->st->empty_str)
                   : event_decode_name(watch, ev->name, ev->name_len);
        rc = name == NULL ? -1
                          : add_change(changes, kinds, kind, watch, name);
        Py_XDECREF(name);
    }
    if (watch != NULL && ev->released) {
        /* IN_IGNORED: the table's reference to the Watch is ours. */
        watch->valid = 0;
        Py_DECREF(watch);
    }
    return rc;
}

/* _take_changes(changes, added, modified, deleted, first=None, /)
 * Moves every event that is ready (the kernel polled, as
 * get_batch_nowait() does; earlier get() waiters are served first) into
 * the set as (kind, path) tuples, and first (an Event) with them.
 * Returns (events taken, whether IN_Q_OVERFLOW was among them). */
static PyObject *
watcher_take_changes(WatcherObject *self, PyObject *const *args,
                     Py_ssize_t nargs)
{
    PyObject *changes, *first = Py_None, *event;
    PyObject *kinds[3];
    Py_ssize_t taken = 0;
    int overflowed = 0, read_kernel = 1;
    ino_event ev;

    if (nargs < 4 || nargs > 5) {
        PyErr_SetString(PyExc_TypeError,
                        "_take_changes(changes, added, modified, deleted, "
                        "first=None)");
        return NULL;
    }
    changes = args[0];
    kinds[0] = args[1];
    kinds[1] = args[2];
    kinds[2] = args[3];
    if (nargs == 5) {
        first = args[4];
    }
    if (!PySet_Check(changes)) {
        PyErr_SetString(PyExc_TypeError, "changes must be a set");
        return NULL;
    }
    if (first != Py_None) {
        if (!PyObject_TypeCheck(first, self->st->event_type)) {
            PyErr_SetString(PyExc_TypeError, "first must be an Event");
            return NULL;
        }
        if (add_event_change(changes, kinds, first, &overflowed) < 0) {
            return NULL;
        }
        taken++;
    }
    if (watcher_raise_if_closed(self) < 0 || watcher_serve(self) < 0) {
        return NULL;
    }
    for (;;) {
        /* A warning filter, or the kinds' __hash__ and __eq__, run Python
         * code that may have closed the watcher: then stop here. */
        if (self->closed || PyList_GET_SIZE(self->waiters) > 0) {
            break;              /* or a get() still waits: it goes first */
        }
        if (PyList_GET_SIZE(self->returned) > 0) {
            event = watcher_take_event(self);
            if (event == NULL) {
                return NULL;
            }
            if (add_event_change(changes, kinds, event, &overflowed) < 0) {
                /* Keep the event for the next caller rather than lose it;
                 * the error that stopped us is the one to raise. */
                inotipy_saved_error saved;

                inotipy_error_save(&saved);
                if (watcher_give_back(self, event) < 0) {
                    PyErr_WriteUnraisable((PyObject *)self);
                }
                inotipy_error_restore(&saved);
                Py_DECREF(event);
                return NULL;
            }
            Py_DECREF(event);
            taken++;
            continue;
        }
        if (ino_next(&self->core, &ev)) {
            if (ev.error > 0) {
                if (warn_tree_error(self, &ev) < 0) {
                    return NULL;
                }
                continue;
            }
            if (add_core_change(self, changes, kinds, &ev, &overflowed) < 0) {
                return NULL;
            }
            watcher_maybe_resume(self);
            taken++;
            continue;
        }
        if (!read_kernel) {
            break;
        }
        if (watcher_read(self) < 0) {
            return NULL;
        }
        read_kernel = !ino_drained(&self->core);
        if (!ino_pending(&self->core)) {
            break;
        }
    }
    return Py_BuildValue("nO", taken, overflowed ? Py_True : Py_False);
}

static PyObject *
watcher_anext(WatcherObject *self)
{
    return waiter_new(self, -1, 1);
}

static PyObject *
watcher_fileno(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    return PyLong_FromLong(ino_fd(&self->core));
}

static PyObject *
watcher_live_watches(WatcherObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(0);
    ino_entry *e;
    size_t pos = 0;

    while (list != NULL &&
           (e = ino_table_next(&self->core.table, &pos)) != NULL) {
        WatchObject *w = (WatchObject *)e->udata;
        if (w != NULL && w->valid && PyList_Append(list, (PyObject *)w) < 0) {
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
    (void)args;
    return watcher_close(self, NULL);
}

static PyObject *
watcher_get_fd(WatcherObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(ino_fd(&self->core));
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
    return PyLong_FromSize_t(ino_queued(&self->core) +
                             (size_t)PyList_GET_SIZE(self->returned));
}

static PyObject *
watcher_get_watch_count(WatcherObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(ino_watch_count(&self->core));
}

static PyObject *
watcher_get_max_queued(WatcherObject *self, void *closure)
{
    (void)closure;
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
     "follow_symlinks=False)\n--\n\nWatches a directory and every "
     "directory below it, now and later; returns the root's Watch.  "
     "Events carry the path below the root as their name."},
    {"get", (PyCFunction)(void (*)(void))watcher_get,
     METH_VARARGS | METH_KEYWORDS,
     "get($self, timeout=None)\n--\n\nAwaitable: the next Event, or None "
     "when timeout seconds pass first."},
    {"get_nowait", (PyCFunction)watcher_get_nowait, METH_NOARGS,
     "get_nowait($self, /)\n--\n\nThe next Event if one is ready (the "
     "kernel is polled), else None."},
    {"get_batch_nowait", (PyCFunction)(void (*)(void))watcher_get_batch_nowait,
     METH_VARARGS | METH_KEYWORDS,
     "get_batch_nowait($self, /, max_events=None)\n--\n\nEvery Event that "
     "is ready (the kernel is polled), at most max_events, as a list."},
    {"_take_changes", (PyCFunction)(void (*)(void))watcher_take_changes,
     METH_FASTCALL, NULL},
    {"close", (PyCFunction)watcher_close, METH_NOARGS,
     "close($self, /)\n--\n\nCloses the watcher; idempotent.  Waiting "
     "get() calls raise WatcherClosedError."},
    {"fileno", (PyCFunction)watcher_fileno, METH_NOARGS,
     "fileno($self, /)\n--\n\nThe inotify file descriptor."},
    {"_live_watches", (PyCFunction)watcher_live_watches, METH_NOARGS,
     NULL},
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
    {Py_tp_doc, "Watcher(flags=0, loop=None, *, max_queued=262144)\n--\n\n"
                "An inotify instance whose events are awaited on asyncio."},
    {Py_tp_new, watcher_new},
    {Py_tp_dealloc, watcher_dealloc},
    {Py_tp_finalize, watcher_finalize},
    {Py_tp_traverse, watcher_traverse},
    {Py_tp_clear, watcher_clear},
    {Py_tp_methods, watcher_methods},
    {Py_tp_getset, watcher_getset},
    {Py_am_aiter, PyObject_SelfIter},
    {Py_am_anext, watcher_anext},
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
    PyObject *type = PyType_FromModuleAndSpec(module, &reader_spec, NULL);

    if (type == NULL) {
        return -1;
    }
    st->reader_type = (PyTypeObject *)type;
    return inotipy_types_add(module, &watcher_spec, NULL, &st->watcher_type);
}
