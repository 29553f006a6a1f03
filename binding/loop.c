/*
 * loop.c: the watcher's ties to its asyncio loop: the Reader callback
 * given to loop.add_reader(), registering and removing it, binding to the
 * running loop, and noticing when that loop was closed under us.
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
    if (watcher->reader != NULL) {
        ((ReaderObject *)watcher->reader)->watcher = NULL;
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
    if (watcher->reading || watcher->loop == NULL || watcher->closed ||
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

int
loop_ensure(WatcherObject *watcher)
{
    PyObject *running;

    if (watcher->closed) {
        /* Whatever called us called out first and may have closed it. */
        return inotipy_raise_closed(watcher->st);
    }
    running = PyObject_CallNoArgs(watcher->st->get_running_loop);
    if (running == NULL) {
        return -1;
    }
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
