/*
 * loop.c: the watcher's ties to its asyncio loop: the Reader callback
 * given to loop.add_reader(), registering and removing it, binding to the
 * running loop, and noticing when that loop was closed under us.  Where
 * no asyncio loop runs, a get() in a trio task waits through
 * inotipy._trio instead (loop_detect() tells which, loop_trio_get() makes
 * the coroutine that waits); the reading stays the C one.
 *
 * The reader stays registered while the watcher is open, so the kernel's
 * queue is drained into ours as events arrive.  Ours is bounded: when it
 * holds max_queued events the reader is removed (and the kernel's own
 * overflow rules apply) until the consumer has taken half of them.
 */
#include <unistd.h>

#include "loop.h"

#include "errors.h"

/* The callable given to loop.add_reader().  It holds the watcher weakly
 * (a borrowed pointer the watcher clears when it dies), so a watcher the
 * program dropped can still be collected and warned about while the loop
 * runs. */
typedef struct {
    PyObject_HEAD
    WatcherObject *watcher;      /* borrowed, NULL once the watcher died */
    loop_on_readable hook;       /* queue_on_readable: loop.c never calls
                                    up into the queue by name */
} ReaderObject;

static PyObject *
reader_call(ReaderObject *self, PyObject *args, PyObject *kwds)
{
    WatcherObject *watcher = self->watcher;
    PyObject *r;

    (void)args;
    (void)kwds;
    if (watcher == NULL) {
        Py_RETURN_NONE;
    }
    Py_INCREF(watcher);
    r = self->hook(watcher);
    Py_DECREF(watcher);
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

int
loop_init_type(PyObject *module, inotipy_state *st)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &reader_spec, NULL);

    if (type == NULL) {
        return -1;
    }
    st->reader_type = (PyTypeObject *)type;
    return 0;
}

PyObject *
loop_reader_new(WatcherObject *watcher, loop_on_readable hook)
{
    ReaderObject *reader =
        PyObject_New(ReaderObject, watcher->st->reader_type);

    if (reader != NULL) {
        reader->watcher = watcher;
        reader->hook = hook;
    }
    return (PyObject *)reader;
}

void
loop_reader_detach(WatcherObject *watcher)
{
    loop_callback_detach(watcher->reader);
}

void
loop_callback_detach(PyObject *reader)
{
    if (reader != NULL) {
        ((ReaderObject *)reader)->watcher = NULL;
    }
}

static PyObject *
call_loop(WatcherObject *watcher, PyObject *name, PyObject *arg)
{
    PyObject *fd = PyLong_FromLong(ino_fd(&watcher->core)), *r;

    if (fd == NULL) {
        return NULL;
    }
    r = PyObject_CallMethodObjArgs(watcher->loop, name, fd, arg, NULL);
    Py_DECREF(fd);
    return r;
}

int
loop_start_reading(WatcherObject *watcher)
{
    PyObject *r =
        call_loop(watcher, watcher->st->s_add_reader, watcher->reader);

    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    watcher->reading = 1;
    watcher->reader_pid = getpid();
    return 0;
}

/* 1 when the bound loop is closed, 0 when open, -1 on error. */
static int
loop_is_closed(WatcherObject *watcher)
{
    PyObject *r =
        PyObject_CallMethodNoArgs(watcher->loop, watcher->st->s_is_closed);
    int closed;

    if (r == NULL) {
        return -1;
    }
    closed = PyObject_IsTrue(r);
    Py_DECREF(r);
    return closed;
}

int
loop_stop_reading(WatcherObject *watcher)
{
    PyObject *r;
    int closed;

    if (!watcher->reading) {
        return 0;
    }
    watcher->reading = 0;
    if (watcher->reader_pid != getpid()) {
        /* A forked child: remove_reader() would take the descriptor out
         * of the epoll instance it shares with its parent. */
        return 0;
    }
    closed = loop_is_closed(watcher);
    if (closed != 0) {
        return closed < 0 ? -1 : 0; /* a closed loop forgot us */
    }
    r = call_loop(watcher, watcher->st->s_remove_reader, NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int
forget_waiters(WatcherObject *watcher)
{
    return PyList_SetSlice(watcher->waiters, 0,
                           PyList_GET_SIZE(watcher->waiters), NULL);
}

/* The waiters' futures can be neither resolved, as call_soon() raises on
 * a closed loop, nor resumed: their tasks were abandoned, not cancelled. */
int
loop_forget_dead_waiters(WatcherObject *watcher)
{
    int closed;

    if (watcher->loop == NULL || PyList_GET_SIZE(watcher->waiters) == 0) {
        return 0;
    }
    closed = loop_is_closed(watcher);
    if (closed == 1 && forget_waiters(watcher) < 0) {
        return -1;
    }
    return closed;
}

/* A failure (the loop was closed) is not the caller's concern: the next
 * get() that waits rebinds. */
void
loop_maybe_resume(WatcherObject *watcher)
{
    if (watcher->reading || watcher->held || watcher->loop == NULL ||
        watcher->closed ||
        ino_queued(&watcher->core) > ino_max_queued(&watcher->core) / 2 ||
        watcher->reader_pid != getpid()) {
        return;
    }
    if (loop_start_reading(watcher) < 0) {
        PyErr_Clear();
    }
}

/* Rebinds from a closed loop (a second asyncio.run(), say) to running;
 * steals running. */
static int
rebind(WatcherObject *watcher, PyObject *running)
{
    int closed = loop_is_closed(watcher);

    if (closed <= 0) {
        if (closed == 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "this watcher is bound to another event loop");
        }
        Py_DECREF(running);
        return -1;
    }
    /* Waiters of a closed loop can never resume: forget them. */
    if (forget_waiters(watcher) < 0) {
        Py_DECREF(running);
        return -1;
    }
    watcher->reading = 0;
    Py_SETREF(watcher->loop, running);
    return loop_start_reading(watcher);
}

/* inotipy._trio, imported on first use; a borrowed reference or NULL. */
static PyObject *
trio_module(inotipy_state *st)
{
    if (st->trio_module == NULL) {
        st->trio_module = PyImport_ImportModule("inotipy._trio");
    }
    return st->trio_module;
}

/* Returns a new reference to the result of inotipy._trio.name(). */
static PyObject *
call_trio(inotipy_state *st, PyObject *name)
{
    PyObject *mod = trio_module(st);

    return mod == NULL ? NULL : PyObject_CallMethodNoArgs(mod, name);
}

/* 1 when the caller is a trio task, 0 when not, -1 on error. */
static int
in_trio(inotipy_state *st)
{
    PyObject *r;
    int yes;

    if (PyDict_GetItemWithError(PyImport_GetModuleDict(), st->s_trio) ==
        NULL) {
        /* Nobody imported trio: no trio run. */
        return PyErr_Occurred() ? -1 : 0;
    }
    r = call_trio(st, st->s_in_trio);
    if (r == NULL) {
        return -1;
    }
    yes = PyObject_IsTrue(r);
    Py_DECREF(r);
    return yes;
}

static int
use_trio(WatcherObject *watcher)
{
    if (watcher->trio_side == NULL) {
        watcher->trio_side = call_trio(watcher->st, watcher->st->s_trio_side);
        if (watcher->trio_side == NULL) {
            return -1;
        }
    }
    watcher->flavour = LOOP_TRIO;
    return LOOP_TRIO;
}

/* Returns a new reference to the running asyncio loop, or to None. */
static PyObject *
running_loop(inotipy_state *st)
{
    return PyObject_CallNoArgs(st->get_running_loop);
}

int
loop_detect(WatcherObject *watcher)
{
    PyObject *running = running_loop(watcher->st);
    int trio;

    if (running == NULL) {
        return -1;
    }
    Py_DECREF(running);
    if (running != Py_None) {
        return watcher->flavour = LOOP_ASYNCIO;
    }
    trio = in_trio(watcher->st);
    if (trio < 0) {
        return -1;
    }
    if (trio) {
        return use_trio(watcher);
    }
    return watcher->flavour = LOOP_UNKNOWN;
}

PyObject *
loop_trio_get(WatcherObject *watcher, double timeout)
{
    PyObject *delay = PyFloat_FromDouble(timeout), *coro;

    if (delay == NULL) {
        return NULL;
    }
    coro = PyObject_CallMethodObjArgs(watcher->trio_side, watcher->st->s_get,
                                      (PyObject *)watcher, delay, NULL);
    Py_DECREF(delay);
    return coro;
}

void
loop_notify_closing(WatcherObject *watcher)
{
    PyObject *fd, *r = NULL;

    if (watcher->trio_side == NULL) {
        return;
    }
    fd = PyLong_FromLong(ino_fd(&watcher->core));
    if (fd != NULL) {
        r = PyObject_CallMethodOneArg(watcher->trio_side,
                                      watcher->st->s_notify_closing, fd);
        Py_DECREF(fd);
    }
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)watcher);
    }
    Py_XDECREF(r);
}

/* No asyncio loop runs: trio's (1), or the error that says what does. */
static int
no_running_loop(WatcherObject *watcher)
{
    int trio = in_trio(watcher->st);
    PyObject *r;

    if (trio > 0) {
        return use_trio(watcher) < 0 ? -1 : 1;
    }
    if (trio == 0) {
        /* It raises. */
        r = call_trio(watcher->st, watcher->st->s_raise_no_loop);
        if (r != NULL) {
            Py_DECREF(r);
            PyErr_SetString(PyExc_RuntimeError, "no running event loop");
        }
    }
    return -1;
}

int
loop_ensure(WatcherObject *watcher)
{
    int rc = loop_ensure_or_trio(watcher);

    if (rc > 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this inotipy call waits on an asyncio event loop "
                        "(uvloop and anyio's asyncio backend included); it "
                        "cannot wait on trio");
        return -1;
    }
    return rc;
}

int
loop_ensure_or_trio(WatcherObject *watcher)
{
    PyObject *running;

    if (watcher->closed) {
        /* Whatever called us called out first and may have closed it. */
        return inotipy_raise_closed(watcher->st);
    }
    running = running_loop(watcher->st);
    if (running == NULL) {
        return -1;
    }
    if (running == Py_None) {
        Py_DECREF(running);
        return no_running_loop(watcher);
    }
    watcher->flavour = LOOP_ASYNCIO;
    /* A get() that waits needs the reader, whoever held it off. */
    watcher->held = 0;
    if (running == watcher->loop) {
        Py_DECREF(running);
        if (!watcher->reading && !ino_full(&watcher->core)) {
            return loop_start_reading(watcher);
        }
        return 0;
    }
    if (watcher->loop != NULL) {
        return rebind(watcher, running);
    }
    watcher->loop = running;
    return loop_start_reading(watcher);
}

/* Watcher._hold_reading(hold): while a change set is gathered (awatch()),
 * its consumer reads the kernel itself every few milliseconds, so the
 * reader is taken off the loop: a burst then costs a wake-up per slice,
 * not one per read.  hold=False puts it back (when the loop is bound and
 * our queue has room).  A closed watcher, or one bound to no loop, has
 * nothing to hold: no error. */
PyObject *
loop_hold_reading(WatcherObject *watcher, PyObject *hold)
{
    int on = PyObject_IsTrue(hold);

    if (on < 0) {
        return NULL;
    }
    if (watcher->closed) {
        Py_RETURN_NONE;
    }
    watcher->held = on;
    if (on && loop_stop_reading(watcher) < 0) {
        return NULL;
    }
    if (!on && watcher->loop != NULL && !watcher->reading &&
        !ino_full(&watcher->core) && watcher->reader_pid == getpid()) {
        /* A loop closed under us (a generator finalized late) forgot
         * the reader: nothing to put back. */
        int closed = loop_is_closed(watcher);
        /* (is_closed() is Python code: it may have closed the watcher.) */
        if (closed < 0 ||
            (closed == 0 && !watcher->closed && !watcher->reading &&
             loop_start_reading(watcher) < 0)) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}
