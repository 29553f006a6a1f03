/*
 * state.h: the module state, one per module object (multi-phase init), and
 * the small helpers every file of the binding uses with it.
 *
 * Public C API only.  The event path (read, decode, queue, wake a waiter)
 * stays in C: Python objects are made only for the Event a caller takes.
 */
#ifndef INOTIPY_STATE_H
#define INOTIPY_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <assert.h>

#include "freelist.h"

/* Everything the module owns.  module.c's STATE_FIELDS lists the object
 * fields, so that traverse and clear stay in step with this struct. */
typedef struct {
    PyTypeObject *watcher_type;  /* _inotipy.Watcher, subclassed in Python */
    PyTypeObject *watch_type;    /* _inotipy.Watch */
    PyTypeObject *event_type;    /* _inotipy.Event */
    PyTypeObject *batch_type;    /* _inotipy.EventBatch */
    PyTypeObject *get_awaitable_type; /* what get() and __anext__ return */
    PyTypeObject *reader_type;   /* the callback handed to loop.add_reader */
    PyObject *closed_error;      /* WatcherClosedError, a ValueError */
    PyObject *tree_warning;      /* TreeWarning, a RuntimeWarning */
    PyObject *get_running_loop;  /* asyncio._get_running_loop: the running
                                    loop, or None (no exception) */
    PyObject *trio_module;       /* inotipy._trio, imported the first time
                                    no asyncio loop runs, or NULL */
    PyObject *future_type;       /* asyncio.Future */
    PyObject *base_create_future; /* asyncio.BaseEventLoop.create_future:
                                     a loop whose create_future is this one
                                     gets Future(loop=loop) directly */
    PyObject *kw_loop;           /* ("loop",), the kwnames of that call */
    PyObject *decode_mask;       /* inotipy._constants.decode_mask, imported
                                    on first use by a repr, or NULL */
    PyObject *empty_str;         /* '' */
    PyObject *empty_bytes;       /* b'' */
    /* Interned method and attribute names. */
    PyObject *s_add_reader;
    PyObject *s_remove_reader;
    PyObject *s_create_future;
    PyObject *s_set_result;
    PyObject *s_done;
    PyObject *s_cancel;
    PyObject *s_call_later;
    PyObject *s_is_closed;
    PyObject *s_close;           /* __exit__ calls close() by name, so a
                                    subclass's close() runs */
    PyObject *s_blocking;        /* "_asyncio_future_blocking" */
    /* For trio (loop.c, waiter.c).  Interned as the others: a name made
     * afresh for each call would also take a new entry of the type
     * attribute cache each time, which holds its name. */
    PyObject *s_trio;
    PyObject *s_in_trio;
    PyObject *s_raise_no_loop;
    PyObject *s_trio_side;
    PyObject *s_get;
    PyObject *s_notify_closing;
    PyObject *s_throw;
    inotipy_freelist free_events; /* dead Events kept for reuse */
} inotipy_state;

/* The state of our module object; never NULL for it. */
static inline inotipy_state *
get_state(PyObject *module)
{
    void *state = PyModule_GetState(module);

    assert(state != NULL);
    return (inotipy_state *)state;
}

/* The state of the module that made type (or a base of it), or NULL with
 * an exception (module.c). */
inotipy_state *inotipy_state_of_type(PyTypeObject *type);

/* The exception being raised, set aside while code that may raise runs
 * (a finalizer, say) and put back after. */
typedef struct {
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc;
#else
    PyObject *typ, *val, *tb;
#endif
} inotipy_saved_error;

static inline void
inotipy_error_save(inotipy_saved_error *saved)
{
#if PY_VERSION_HEX >= 0x030C0000
    saved->exc = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&saved->typ, &saved->val, &saved->tb);
#endif
}

static inline void
inotipy_error_restore(inotipy_saved_error *saved)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(saved->exc);
#else
    PyErr_Restore(saved->typ, saved->val, saved->tb);
#endif
}

#endif /* INOTIPY_STATE_H */
