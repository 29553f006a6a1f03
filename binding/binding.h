/*
 * binding.h: what the files of the CPython binding share: the module state,
 * the object layouts and the functions one file calls in another.
 *
 * Public C API only.  The event path (read, decode, queue, wake a waiter)
 * stays in C: Python objects are made only for the Event a caller takes.
 */
#ifndef INOTIPY_BINDING_H
#define INOTIPY_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ino.h"

/* Everything the module owns; one per module object (multi-phase init). */
#define INOTIPY_EVENT_FREE_MAX 64

typedef struct {
    PyTypeObject *watcher_type;  /* _inotipy.Watcher, subclassed in Python */
    PyTypeObject *watch_type;    /* _inotipy.Watch */
    PyTypeObject *event_type;    /* _inotipy.Event */
    PyTypeObject *waiter_type;   /* the awaitable get() and __anext__ return */
    PyTypeObject *reader_type;   /* the callback handed to loop.add_reader */
    PyObject *closed_error;      /* WatcherClosedError, a ValueError */
    PyObject *tree_warning;      /* TreeWarning, a RuntimeWarning */
    PyObject *get_running_loop;  /* asyncio.get_running_loop */
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
    PyObject *s_blocking;        /* "_asyncio_future_blocking" */
    /* Deallocated Events kept for reuse (untracked, refcount 0, fields
     * cleared): the event path then neither allocates nor frees them. */
    PyObject *free_events[INOTIPY_EVENT_FREE_MAX];
    int n_free_events;
} inotipy_state;

typedef struct WaiterObject WaiterObject;

typedef struct {
    PyObject_HEAD
    ino_watcher core;            /* the C engine: fd, table, event queue */
    inotipy_state *st;           /* borrowed: our type keeps the module */
    PyObject *loop;              /* the loop we are bound to, or NULL */
    PyObject *reader;            /* our Reader, given to loop.add_reader */
    PyObject *waiters;           /* list of WaiterObjects, oldest first */
    PyObject *returned;          /* list of Events given back by cancelled
                                    waiters, handed out before the queue */
    WaiterObject *spare;         /* a finished waiter kept for reuse */
    int reading;                 /* 1 while registered with add_reader */
    int closed;                  /* 1 once close() ran */
    int fd_shown;                /* the descriptor number, kept for reprs */
    pid_t reader_pid;            /* the process that called add_reader: a
                                    forked child shares its parent's epoll
                                    instance and must not touch it */
} WatcherObject;

typedef struct {
    PyObject_HEAD
    PyObject *watcher;           /* the WatcherObject, strong */
    PyObject *pathname;          /* str or bytes, os.fspath() of the input */
    int32_t wd;                  /* the kernel's watch descriptor */
    uint32_t mask;               /* the mask as last set */
    int fd;                      /* the watcher's fd when made, for repr */
    int valid;                   /* 0 after remove(), close() or IGNORED */
    int is_bytes;                /* names are bytes, like the pathname */
    int is_tree;                 /* the root of a watch_tree() */
} WatchObject;

typedef struct {
    PyObject_HEAD
    PyObject *watch;             /* the WatchObject, or None (overflow) */
    PyObject *pathname;          /* the name in the watched directory */
    PyObject *src;               /* a tree's paired MOVED_TO: the path below
                                    the root it moved from; else NULL */
    uint32_t mask;               /* the kernel's mask */
    uint32_t cookie;             /* pairs MOVED_FROM with MOVED_TO */
} EventObject;

/* The states of a waiter (an awaitable from get() or __anext__). */
enum { WAITER_INIT, WAITER_WAITING, WAITER_DONE };
/* Why a waiting waiter was woken. */
enum { WAKE_NONE, WAKE_EVENT, WAKE_TIMEOUT, WAKE_CLOSED };

struct WaiterObject {
    PyObject_HEAD
    WatcherObject *watcher;      /* strong */
    PyObject *fut;               /* the loop's future we wait on, or NULL */
    PyObject *timer;             /* the call_later handle, or NULL */
    PyObject *result;            /* the Event handed to us, or NULL */
    double timeout;              /* seconds; < 0 means none */
    int state;                   /* WAITER_* */
    int woken;                   /* WAKE_* */
    int anext;                   /* 1: from __anext__, closing ends it */
};

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

/* module.c */
inotipy_state *inotipy_state_of_type(PyTypeObject *type);
PyObject *inotipy_decode_mask_repr(inotipy_state *st, uint32_t mask);
int inotipy_parse_mask(PyObject *arg, uint32_t *mask);
int inotipy_check_watch_mask(uint32_t mask);
int inotipy_types_add(PyObject *module, PyType_Spec *spec, PyObject *base,
                      PyTypeObject **out);

/* watcher.c */
int watcher_init_type(PyObject *module, inotipy_state *st);
int watcher_raise_if_closed(WatcherObject *self);
PyObject *watcher_take_event(WatcherObject *self);
PyObject *watcher_poll(WatcherObject *self, int read_kernel);
int watcher_read(WatcherObject *self);
int watcher_serve(WatcherObject *self);
int watcher_ensure_loop(WatcherObject *self);
int watcher_give_back(WatcherObject *self, PyObject *event);
int watcher_drop_waiter(WatcherObject *self, WaiterObject *w);

/* waiter.c */
int waiter_init_type(PyObject *module, inotipy_state *st);
PyObject *waiter_new(WatcherObject *watcher, double timeout, int anext);
int waiter_wake(WaiterObject *w, int why, PyObject *event);
int waiter_is_done(WaiterObject *w);

/* watch.c */
int watch_init_type(PyObject *module, inotipy_state *st);
PyObject *watch_new(WatcherObject *watcher, PyObject *pathname, int32_t wd,
                    uint32_t mask);

/* event.c */
int event_init_type(PyObject *module, inotipy_state *st);
PyObject *event_from_core(WatcherObject *watcher, const ino_event *ev);
PyObject *event_decode_name(WatchObject *watch, const char *name,
                            size_t len);
PyObject *event_join(PyObject *base, PyObject *name);

#endif /* INOTIPY_BINDING_H */
