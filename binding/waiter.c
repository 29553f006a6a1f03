/*
 * waiter.c: the awaitable that Watcher.get() and `async for` return.
 *
 * When an event is ready the first send() returns it at once (am_send,
 * PYGEN_RETURN: no future, no StopIteration object).  Otherwise the waiter
 * joins the watcher's FIFO of waiters and yields a future of the running
 * loop.  The reader callback hands an event to the waiter itself (result)
 * and resolves the future with None; so when the task is cancelled after
 * that but before it resumes, throw() still holds the event and gives it
 * back to the watcher: cancelling never loses an event.
 *
 * On trio there is no future to yield: the waiter runs, in its place, the
 * coroutine of inotipy._trio that waits there, passing on what the task
 * sends and throws (DELEGATING).  Which one applies is looked up once per
 * watcher on asyncio (loop_detect()), so its hot path is as it was.
 *
 * The type is GetAwaitable (GetAwaitableObject here); while one waits in
 * the watcher's FIFO (queue.c) its role is "waiter", hence waiter_*.
 */
#include "waiter.h"

#include "errors.h"
#include "loop.h"
#include "poll.h"
#include "queue.h"

/* Kept out of the fast path's function (3.10 has no Py_NO_INLINE). */
#define INOTIPY_NOINLINE __attribute__((noinline))

static PySendResult waiter_am_send(GetAwaitableObject *self, PyObject *arg,
                                   PyObject **presult);

/* A new GetAwaitable, which becomes the watcher's spare if it has none;
 * its state is the caller's to set. */
INOTIPY_NOINLINE static GetAwaitableObject *
waiter_alloc(WatcherObject *watcher)
{
    GetAwaitableObject *waiter =
        PyObject_GC_New(GetAwaitableObject, watcher->st->get_awaitable_type);

    if (waiter == NULL) {
        return NULL;
    }
    waiter->watcher = (WatcherObject *)Py_NewRef((PyObject *)watcher);
    waiter->fut = waiter->timer = waiter->result = waiter->coro = NULL;
    PyObject_GC_Track(waiter);
    if (watcher->spare_waiter == NULL) {
        watcher->spare_waiter = Py_NewRef((PyObject *)waiter);
    }
    return waiter;
}

static inline PyObject *
waiter_make(WatcherObject *watcher, double timeout, int anext)
{
    GetAwaitableObject *waiter = (GetAwaitableObject *)watcher->spare_waiter;

    /* Reuse the watcher's spare when nothing but the watcher holds it: a
     * plain `async for` then allocates no awaitable per event.  Reading
     * the refcount as "nobody else holds it" needs the GIL (module.c). */
    if (waiter != NULL && Py_REFCNT(waiter) == 1 &&
        (waiter->state == WAITER_INIT || waiter->state == WAITER_DONE)) {
        Py_INCREF(waiter);
    }
    else if ((waiter = waiter_alloc(watcher)) == NULL) {
        return NULL;
    }
    waiter->timeout = timeout;
    waiter->state = WAITER_INIT;
    waiter->woken = WAKE_NONE;
    waiter->anext = anext;
    return (PyObject *)waiter;
}

PyObject *
waiter_new(WatcherObject *watcher, double timeout, int anext)
{
    return waiter_make(watcher, timeout, anext);
}

PyObject *
waiter_anext(PyObject *watcher)
{
    return waiter_make((WatcherObject *)watcher, -1, 1);
}

/* The future is done when Task.cancel() cancelled it, for instance. */
int
waiter_is_done(GetAwaitableObject *waiter)
{
    PyObject *r;
    int done;

    if (waiter->fut == NULL) {
        return 1;
    }
    r = PyObject_CallMethodNoArgs(waiter->fut, waiter->watcher->st->s_done);
    if (r == NULL) {
        return -1;
    }
    done = PyObject_IsTrue(r);
    Py_DECREF(r);
    return done;
}

int
waiter_wake(GetAwaitableObject *waiter, int why, PyObject *event)
{
    PyObject *r;

    if (waiter->state != WAITER_WAITING || waiter->woken != WAKE_NONE) {
        PyErr_SetString(PyExc_RuntimeError, "waiter is not waiting");
        return -1;
    }
    r = PyObject_CallMethodOneArg(waiter->fut,
                                  waiter->watcher->st->s_set_result, Py_None);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    waiter->woken = why;
    waiter->result = event;
    return 0;
}

static void
waiter_cancel_timer(GetAwaitableObject *self)
{
    PyObject *timer = self->timer, *r;

    if (timer == NULL) {
        return;
    }
    self->timer = NULL;
    r = PyObject_CallMethodNoArgs(timer, self->watcher->st->s_cancel);
    if (r == NULL) {
        PyErr_WriteUnraisable(timer);
    }
    Py_XDECREF(r);
    Py_DECREF(timer);
}

/* Called with the exception of a failed fut.cancel() set.  When fut's loop
 * has been closed (its task was abandoned, not cancelled) that failure is
 * expected, as cancel() schedules callbacks, and harmless, as nothing can
 * wait on fut any more: clears it and returns 1.  Else restores it and
 * returns 0. */
static int
cancel_failed_on_closed_loop(PyObject *fut)
{
    PyObject *loop, *r = NULL;
    int closed = 0;
    inotipy_saved_error saved;

    inotipy_error_save(&saved);
    loop = PyObject_CallMethod(fut, "get_loop", NULL);
    if (loop != NULL) {
        r = PyObject_CallMethod(loop, "is_closed", NULL);
        Py_DECREF(loop);
    }
    if (r != NULL) {
        closed = PyObject_IsTrue(r) == 1;
        Py_DECREF(r);
    }
    PyErr_Clear();
    inotipy_error_restore(&saved);
    if (closed) {
        PyErr_Clear();
    }
    return closed;
}

/* Leaves the WAITING state without resuming: on throw(), close() or when
 * the waiter is finalized.  Gives a handed-over event back (to the next
 * waiter or the head of the queue) and cancels the future.  Never raises:
 * failures are reported as unraisable. */
static void
waiter_abandon(GetAwaitableObject *self)
{
    WatcherObject *watcher = self->watcher;
    PyObject *event = self->result, *fut = self->fut, *r;

    if (self->state != WAITER_WAITING) {
        return;
    }
    self->state = WAITER_DONE;
    self->result = NULL;
    self->fut = NULL;
    waiter_cancel_timer(self);
    if (queue_drop_waiter(watcher, self) < 0) {
        PyErr_WriteUnraisable((PyObject *)self);
    }
    if (event != NULL) {
        if (queue_give_back(watcher, event) < 0 || queue_serve(watcher) < 0) {
            PyErr_WriteUnraisable((PyObject *)self);
        }
        Py_DECREF(event);
    }
    if (fut != NULL) {
        r = PyObject_CallMethodNoArgs(fut, watcher->st->s_cancel);
        if (r == NULL && !cancel_failed_on_closed_loop(fut)) {
            PyErr_WriteUnraisable(fut);
        }
        Py_XDECREF(r);
        Py_DECREF(fut);
    }
}

/* Leaves the DELEGATING state without resuming: closes the coroutine,
 * which has taken no event (it returns one as soon as it takes it). */
static void
waiter_abandon_coro(GetAwaitableObject *self)
{
    PyObject *coro = self->coro, *r;

    if (self->state != WAITER_DELEGATING) {
        return;
    }
    self->state = WAITER_DONE;
    self->coro = NULL;
    r = PyObject_CallMethodNoArgs(coro, self->watcher->st->s_close);
    if (r == NULL) {
        PyErr_WriteUnraisable(coro);
    }
    Py_XDECREF(r);
    Py_DECREF(coro);
}

static PySendResult
waiter_fail_closed(GetAwaitableObject *self, PyObject **presult)
{
    self->state = WAITER_DONE;
    *presult = NULL;
    if (self->anext) {
        PyErr_SetNone(PyExc_StopAsyncIteration);
    }
    else {
        inotipy_raise_closed(self->watcher->st);
    }
    return PYGEN_ERROR;
}

static PySendResult
waiter_return(GetAwaitableObject *self, PyObject *value, PyObject **presult)
{
    self->state = WAITER_DONE;
    *presult = value;
    return PYGEN_RETURN;
}

static PySendResult
waiter_error(GetAwaitableObject *self, PyObject **presult)
{
    self->state = WAITER_DONE;
    *presult = NULL;
    return PYGEN_ERROR;
}

/* Yields the future to the task, the way asyncio.Future.__await__ does. */
static PySendResult
waiter_yield(GetAwaitableObject *self, PyObject **presult)
{
    if (PyObject_SetAttr(self->fut, self->watcher->st->s_blocking, Py_True) <
        0) {
        waiter_abandon(self);
        return waiter_error(self, presult);
    }
    *presult = Py_NewRef(self->fut);
    return PYGEN_NEXT;
}

static PyObject *waiter_on_timeout(GetAwaitableObject *self, PyObject *unused);

static PyMethodDef waiter_timeout_def = {
    "_on_timeout",
    (PyCFunction)waiter_on_timeout,
    METH_NOARGS,
    NULL,
};

/* A new future of the watcher's loop: loop.create_future(), or for a loop
 * whose create_future is asyncio's own (it returns Future(loop=loop)) that
 * call without the Python frame of create_future, on every wait. */
static PyObject *
new_future(WatcherObject *watcher)
{
    inotipy_state *st = watcher->st;
    PyObject *meth = PyObject_GetAttr(watcher->loop, st->s_create_future);
    PyObject *fut;

    if (meth == NULL) {
        return NULL;
    }
    if (PyMethod_Check(meth) &&
        PyMethod_GET_FUNCTION(meth) == st->base_create_future &&
        PyMethod_GET_SELF(meth) == watcher->loop) {
        PyObject *args[1] = {watcher->loop};

        fut = PyObject_Vectorcall(st->future_type, args, 0, st->kw_loop);
    }
    else {
        fut = PyObject_CallNoArgs(meth);
    }
    Py_DECREF(meth);
    return fut;
}

/* Makes the future (and the timer) and joins the watcher's waiters; or
 * returns 1 when the caller runs on trio. */
static int
waiter_suspend(GetAwaitableObject *self)
{
    WatcherObject *watcher = self->watcher;
    inotipy_state *st = watcher->st;
    PyObject *cb, *delay;

    int rc = loop_ensure_or_trio(watcher);

    if (rc != 0) {
        return rc; /* -1, or 1: on trio */
    }
    /* A polled tree's timer, on the loop now bound. */
    if (poll_arm(watcher) < 0) {
        return -1;
    }
    self->fut = new_future(watcher);
    if (self->fut == NULL) {
        return -1;
    }
    if (self->timeout > 0) {
        cb = PyCFunction_New(&waiter_timeout_def, (PyObject *)self);
        delay = cb == NULL ? NULL : PyFloat_FromDouble(self->timeout);
        if (delay != NULL) {
            self->timer = PyObject_CallMethodObjArgs(
                watcher->loop, st->s_call_later, delay, cb, NULL);
        }
        Py_XDECREF(cb);
        Py_XDECREF(delay);
        if (self->timer == NULL) {
            Py_CLEAR(self->fut);
            return -1;
        }
    }
    if (queue_add_waiter(watcher, self) < 0) {
        waiter_cancel_timer(self);
        Py_CLEAR(self->fut);
        return -1;
    }
    self->state = WAITER_WAITING;
    return 0;
}

/* What the coroutine did, as our own outcome: it yielded (to trio), or it
 * returned the Event (or None), or it raised; a closed watcher ends an
 * `async for`. */
static PySendResult
waiter_delegated(GetAwaitableObject *self, PySendResult r, PyObject *value,
                 PyObject **presult)
{
    if (r == PYGEN_NEXT) {
        *presult = value;
        return PYGEN_NEXT;
    }
    Py_CLEAR(self->coro);
    if (r == PYGEN_RETURN) {
        return waiter_return(self, value, presult);
    }
    if (self->anext &&
        PyErr_ExceptionMatches(self->watcher->st->closed_error)) {
        PyErr_Clear();
        PyErr_SetNone(PyExc_StopAsyncIteration);
    }
    return waiter_error(self, presult);
}

static PySendResult
waiter_delegate_send(GetAwaitableObject *self, PyObject *arg,
                     PyObject **presult)
{
    PyObject *value;
    PySendResult r = PyIter_Send(self->coro, arg, &value);

    return waiter_delegated(self, r, value, presult);
}

/* On trio: the rest of this get() is the coroutine's. */
static PySendResult
waiter_delegate(GetAwaitableObject *self, PyObject **presult)
{
    self->coro = loop_trio_get(self->watcher, self->timeout);
    if (self->coro == NULL) {
        return waiter_error(self, presult);
    }
    self->state = WAITER_DELEGATING;
    return waiter_delegate_send(self, Py_None, presult);
}

/* The value of the StopIteration being raised, a new reference (None when
 * it has none), the exception cleared; NULL with it kept when it is not a
 * StopIteration. */
static PyObject *
fetch_stop_value(void)
{
    PyObject *value = NULL;
    inotipy_saved_error saved;

    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030C0000
    inotipy_error_save(&saved);
    value = PyObject_GetAttrString(saved.exc, "value");
    Py_DECREF(saved.exc);
#else
    inotipy_error_save(&saved);
    PyErr_NormalizeException(&saved.typ, &saved.val, &saved.tb);
    value = PyObject_GetAttrString(saved.val, "value");
    Py_XDECREF(saved.typ);
    Py_XDECREF(saved.val);
    Py_XDECREF(saved.tb);
#endif
    return value;
}

static PyObject *send_result_to_iter(PySendResult r, PyObject *value);

/* throw() while DELEGATING: thrown into the coroutine, whose outcome is
 * ours. */
static PyObject *
waiter_delegate_throw(GetAwaitableObject *self, PyObject *const *args,
                      Py_ssize_t nargs)
{
    PyObject *meth = PyObject_GetAttr(self->coro, self->watcher->st->s_throw);
    PyObject *value = NULL;
    PySendResult r = PYGEN_ERROR;

    if (meth != NULL) {
        value = PyObject_Vectorcall(meth, args, (size_t)nargs, NULL);
        Py_DECREF(meth);
        if (value != NULL) {
            r = PYGEN_NEXT;
        }
        else if ((value = fetch_stop_value()) != NULL) {
            r = PYGEN_RETURN;
        }
    }
    r = waiter_delegated(self, r, value, &value);
    return send_result_to_iter(r, value);
}

static PySendResult waiter_start_poll(GetAwaitableObject *self,
                                      PyObject **presult);

static PySendResult
waiter_start(GetAwaitableObject *self, PyObject **presult)
{
    WatcherObject *watcher = self->watcher;
    PyObject *event;
    int rc;

    if (watcher->closed) {
        return waiter_fail_closed(self, presult);
    }
    /* Looked up once on asyncio; on trio, every time (a trio get() is a
     * checkpoint, even when an event is ready). */
    if (watcher->flavour != LOOP_ASYNCIO) {
        rc = loop_detect(watcher);
        if (rc < 0) {
            return waiter_error(self, presult);
        }
        if (rc == LOOP_TRIO) {
            return waiter_delegate(self, presult);
        }
    }
    /* The common case first: no waiter ahead of us and an event queued. */
    if (PyList_GET_SIZE(watcher->waiters) == 0) {
        rc = queue_take(watcher, &event);
        if (rc > 0) {
            return waiter_return(self, event, presult);
        }
        if (rc < 0) {
            return waiter_error(self, presult);
        }
    }
    return waiter_start_poll(self, presult);
}

/* The rest of the first send() when nothing was taken from our queue:
 * read the kernel, else wait.  Not inlined into waiter_am_send(), whose
 * fast path stays small. */
INOTIPY_NOINLINE static PySendResult
waiter_start_poll(GetAwaitableObject *self, PyObject **presult)
{
    WatcherObject *watcher = self->watcher;
    PyObject *event;
    int rc;

    rc = queue_poll(watcher, POLL_READ_KERNEL, &event);
    if (rc > 0) {
        return waiter_return(self, event, presult);
    }
    if (rc < 0) {
        return waiter_error(self, presult);
    }
    if (watcher->closed) {
        /* Polling called out, and what it ran closed the watcher. */
        return waiter_fail_closed(self, presult);
    }
    if (self->timeout == 0) {
        return waiter_return(self, Py_NewRef(Py_None), presult);
    }
    rc = waiter_suspend(self);
    if (rc < 0) {
        return waiter_error(self, presult);
    }
    if (rc > 0) {
        /* No asyncio loop runs after all, but trio does. */
        return waiter_delegate(self, presult);
    }
    return waiter_yield(self, presult);
}

static PySendResult
waiter_finish(GetAwaitableObject *self, PyObject **presult)
{
    PyObject *event = self->result;

    self->result = NULL;
    waiter_cancel_timer(self);
    Py_CLEAR(self->fut);
    switch (self->woken) {
    case WAKE_EVENT:
        return waiter_return(self, event, presult);
    case WAKE_CLOSED:
        return waiter_fail_closed(self, presult);
    default:
        return waiter_return(self, Py_NewRef(Py_None), presult);
    }
}

/* Every send() but the fast path's. */
INOTIPY_NOINLINE static PySendResult
waiter_send_slow(GetAwaitableObject *self, PyObject *arg, PyObject **presult)
{
    switch (self->state) {
    case WAITER_INIT:
        return waiter_start(self, presult);
    case WAITER_WAITING:
        /* Resumed without our wake-up (someone sent into us): wait on. */
        if (self->woken == WAKE_NONE) {
            return waiter_yield(self, presult);
        }
        return waiter_finish(self, presult);
    case WAITER_DELEGATING:
        return waiter_delegate_send(self, arg, presult);
    default:
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot reuse already awaited get()");
        *presult = NULL;
        return PYGEN_ERROR;
    }
}

/* The first send() of a get() on asyncio with an event in our queue,
 * the common case of a drain, straight through: what waiter_start() does
 * for it, with every other case (trio, a closed watcher, waiters ahead,
 * nothing queued, a later send) left to the functions above. */
static PySendResult
waiter_am_send(GetAwaitableObject *self, PyObject *arg, PyObject **presult)
{
    WatcherObject *watcher = self->watcher;
    PyObject *event;
    int rc;

    if (self->state != WAITER_INIT || watcher->closed ||
        watcher->flavour != LOOP_ASYNCIO ||
        PyList_GET_SIZE(watcher->waiters) != 0) {
        return waiter_send_slow(self, arg, presult);
    }
    rc = queue_take(watcher, &event);
    if (rc > 0) {
        return waiter_return(self, event, presult);
    }
    if (rc < 0) {
        return waiter_error(self, presult);
    }
    return waiter_start_poll(self, presult);
}

/* Called by the loop when the timeout passes first. */
static PyObject *
waiter_on_timeout(GetAwaitableObject *self, PyObject *unused)
{
    (void)unused;
    Py_CLEAR(self->timer);
    if (self->state != WAITER_WAITING || self->woken != WAKE_NONE) {
        Py_RETURN_NONE;
    }
    if (queue_drop_waiter(self->watcher, self) < 0) {
        return NULL;
    }
    if (waiter_wake(self, WAKE_TIMEOUT, NULL) < 0) {
        /* The future was cancelled meanwhile: throw() will clean up. */
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

/* Turns an am_send outcome into the iterator protocol's. */
static PyObject *
send_result_to_iter(PySendResult r, PyObject *value)
{
    PyObject *stop;

    if (r == PYGEN_NEXT) {
        return value;
    }
    if (r == PYGEN_RETURN) {
        if (value == Py_None) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        else {
            stop = PyObject_CallOneArg(PyExc_StopIteration, value);
            if (stop != NULL) {
                PyErr_SetObject(PyExc_StopIteration, stop);
                Py_DECREF(stop);
            }
        }
        Py_DECREF(value);
    }
    return NULL;
}

static PyObject *
waiter_iternext(GetAwaitableObject *self)
{
    PyObject *value;
    PySendResult r = waiter_am_send(self, Py_None, &value);

    return send_result_to_iter(r, value);
}

static PyObject *
waiter_send(GetAwaitableObject *self, PyObject *arg)
{
    PyObject *value;
    PySendResult r = waiter_am_send(self, arg, &value);

    return send_result_to_iter(r, value);
}

/* Raises what throw() was given: throw(exc) or throw(type[, value[, tb]]).
 */
static void
raise_thrown(PyObject *typ, PyObject *val, PyObject *tb)
{
    if (PyExceptionInstance_Check(typ)) {
        if (val != NULL && val != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "instance exception may not have a separate "
                            "value");
            return;
        }
        if (tb != NULL && tb != Py_None) {
            PyException_SetTraceback(typ, tb);
        }
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    }
    else if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, val != NULL ? val : Py_None);
    }
    else {
        PyErr_SetString(PyExc_TypeError,
                        "exceptions must be classes or instances deriving "
                        "from BaseException");
    }
}

static PyObject *
waiter_throw(GetAwaitableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    if (self->state == WAITER_DELEGATING) {
        return waiter_delegate_throw(self, args, nargs);
    }
    waiter_abandon(self);
    self->state = WAITER_DONE;
    raise_thrown(args[0], nargs > 1 ? args[1] : NULL,
                 nargs > 2 ? args[2] : NULL);
    return NULL;
}

static PyObject *
waiter_close(GetAwaitableObject *self, PyObject *Py_UNUSED(ignored))
{
    waiter_abandon_coro(self);
    waiter_abandon(self);
    self->state = WAITER_DONE;
    Py_RETURN_NONE;
}

static PyObject *
waiter_await(GetAwaitableObject *self)
{
    return Py_NewRef((PyObject *)self);
}

static void
waiter_finalize(GetAwaitableObject *self)
{
    inotipy_saved_error saved;

    inotipy_error_save(&saved);
    waiter_abandon_coro(self);
    waiter_abandon(self);
    inotipy_error_restore(&saved);
}

static int
waiter_traverse(GetAwaitableObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->watcher);
    Py_VISIT(self->fut);
    Py_VISIT(self->timer);
    Py_VISIT(self->result);
    Py_VISIT(self->coro);
    return 0;
}

static int
waiter_clear(GetAwaitableObject *self)
{
    Py_CLEAR(self->watcher);
    Py_CLEAR(self->fut);
    Py_CLEAR(self->timer);
    Py_CLEAR(self->result);
    Py_CLEAR(self->coro);
    return 0;
}

/* As CPython's own types with a finalizer: the finalizer runs while the
 * object is still tracked (a resurrected object stays tracked), then
 * untrack, clear, free, and drop the heap type's reference. */
static void
waiter_dealloc(GetAwaitableObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(self);
    waiter_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef waiter_methods[] = {
    {"send", (PyCFunction)waiter_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))waiter_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)waiter_close, METH_NOARGS, NULL},
    {NULL},
};

static PyType_Slot waiter_slots[] = {
    {Py_tp_doc, "The awaitable of Watcher.get() and async iteration."},
    {Py_tp_dealloc, waiter_dealloc},
    {Py_tp_finalize, waiter_finalize},
    {Py_tp_traverse, waiter_traverse},
    {Py_tp_clear, waiter_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, waiter_iternext},
    {Py_tp_methods, waiter_methods},
    {Py_am_await, waiter_await},
    {Py_am_send, waiter_am_send},
    {0, NULL},
};

static PyType_Spec waiter_spec = {
    .name = "inotipy._inotipy.GetAwaitable",
    .basicsize = sizeof(GetAwaitableObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = waiter_slots,
};

int
waiter_init_type(PyObject *module, inotipy_state *st)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &waiter_spec, NULL);

    if (type == NULL) {
        return -1;
    }
    st->get_awaitable_type = (PyTypeObject *)type;
    return 0;
}
