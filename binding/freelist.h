/*
 * freelist.h: the pool of deallocated Events, so the event path neither
 * allocates nor frees one per event.
 *
 * The pool is per module state, not global: an Event's memory belongs to
 * the interpreter that made it (each has its own allocator under a
 * per-interpreter GIL) and its type to one module object, so a pool shared
 * by two modules would hand one interpreter's memory to another.  Push and
 * pop take no lock: they rely on the GIL, as the module does (module.c).
 *
 * Build with INOTIPY_NO_FREELIST (meson -Dfreelist=false, as .ci/sanitize
 * does) to turn pooling off: a pooled Event never reaches free(), so
 * AddressSanitizer could not see a use after "free" of one.
 */
#ifndef INOTIPY_FREELIST_H
#define INOTIPY_FREELIST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(Py_GIL_DISABLED) && !defined(INOTIPY_NO_FREELIST)
#define INOTIPY_NO_FREELIST    /* no GIL, no lock-free pool */
#endif

#ifndef INOTIPY_NO_FREELIST

#define INOTIPY_FREELIST_MAX 64

/* A pooled object keeps the reference to its type that it had alive, so
 * that taking one back is a store of its refcount, not PyObject_Init()
 * (a call, the type's incref, tracemalloc's hook).  Not in the debug
 * builds that count or chain every reference: there each object is
 * initialised as new. */
#if defined(Py_REF_DEBUG) || defined(Py_TRACE_REFS)
#define INOTIPY_FREELIST_KEEPS_TYPE 0
#else
#define INOTIPY_FREELIST_KEEPS_TYPE 1
#endif

/* With the type kept, a pooled object also stays tracked by the
 * collector, alive with one reference, the pool's (the module's traverse
 * visits it): taking one back or giving it up then costs no
 * PyObject_GC_Track() or PyObject_GC_UnTrack() call, which were about 33
 * of an event's instructions in a drain.  The price: gc.get_objects() lists
 * the pooled objects, cleared.  Whoever takes one from there makes it
 * shared: the pool gives up a shared object instead of reusing it. */
#define INOTIPY_FREELIST_TRACKED INOTIPY_FREELIST_KEEPS_TYPE

/* Cleared objects; each holds a reference to its type when
 * INOTIPY_FREELIST_KEEPS_TYPE, and is tracked, its one reference the
 * pool's, when INOTIPY_FREELIST_TRACKED (else untracked and dead). */
typedef struct {
    PyObject *items[INOTIPY_FREELIST_MAX];
    int count;
} inotipy_freelist;

/* 1 when inotipy_freelist_push() would keep one more. */
static inline int
inotipy_freelist_has_room(const inotipy_freelist *fl)
{
    return fl->count < INOTIPY_FREELIST_MAX;
}

/* Keeps a cleared object for reuse: when INOTIPY_FREELIST_TRACKED a
 * tracked one whose reference the pool takes over, else a dead, untracked
 * one (with its type's reference when INOTIPY_FREELIST_KEEPS_TYPE, else
 * the caller drops that); returns 0 when the pool is full and the caller
 * must free it. */
static inline int
inotipy_freelist_push(inotipy_freelist *fl, PyObject *op)
{
    if (fl->count >= INOTIPY_FREELIST_MAX) {
        return 0;
    }
    fl->items[fl->count++] = op;
    return 1;
}

#if INOTIPY_FREELIST_TRACKED
/* A pooled object that someone else holds too (found through
 * gc.get_objects()): the pool lets go of it, the holder keeps it. */
static inline PyObject *
inotipy_freelist_drop_shared(PyObject *op)
{
    Py_DECREF(op);
    return NULL;
}
#endif

/* Returns a pooled object of type tp, its fields to be set: a new
 * reference, tracked when INOTIPY_FREELIST_TRACKED (else untracked, alive
 * again); or NULL when the pool is empty, and at times when it is not
 * (the caller then allocates one). */
static inline PyObject *
inotipy_freelist_pop(inotipy_freelist *fl, PyTypeObject *tp)
{
    PyObject *op;

    if (fl->count == 0) {
        return NULL;
    }
    op = fl->items[--fl->count];
#if INOTIPY_FREELIST_TRACKED
    (void)tp;
    /* The pool's reference becomes the caller's. */
    return Py_REFCNT(op) == 1 ? op : inotipy_freelist_drop_shared(op);
#elif INOTIPY_FREELIST_KEEPS_TYPE
    (void)tp;
    Py_SET_REFCNT(op, 1);
    return op;
#else
    return PyObject_Init(op, tp);
#endif
}

/* Tells the collector of the pool's references to its (tracked) objects,
 * or of the types' references that untracked pooled objects hold (the
 * module's traverse calls this). */
static inline int
inotipy_freelist_traverse(inotipy_freelist *fl, visitproc visit, void *arg)
{
#if INOTIPY_FREELIST_TRACKED
    for (int i = 0; i < fl->count; i++) {
        Py_VISIT(fl->items[i]);
    }
#elif INOTIPY_FREELIST_KEEPS_TYPE
    for (int i = 0; i < fl->count; i++) {
        Py_VISIT(Py_TYPE(fl->items[i]));
    }
#else
    (void)fl;
    (void)visit;
    (void)arg;
#endif
    return 0;
}

/* Frees what the pool holds (GC objects: PyObject_GC_Del()).  Tracked
 * ones are let go of (Py_DECREF()): the caller has made sure that their
 * dealloc frees them rather than pooling them again. */
static inline void
inotipy_freelist_clear(inotipy_freelist *fl)
{
    while (fl->count > 0) {
        PyObject *op = fl->items[--fl->count];
#if INOTIPY_FREELIST_TRACKED
        Py_DECREF(op);
#elif INOTIPY_FREELIST_KEEPS_TYPE
        PyTypeObject *tp = Py_TYPE(op);

        PyObject_GC_Del(op);
        Py_DECREF(tp);
#else
        PyObject_GC_Del(op);
#endif
    }
}

#else /* INOTIPY_NO_FREELIST */

#define INOTIPY_FREELIST_KEEPS_TYPE 0
#define INOTIPY_FREELIST_TRACKED 0

typedef struct {
    char unused;               /* C11 has no empty structs */
} inotipy_freelist;

static inline int
inotipy_freelist_has_room(const inotipy_freelist *fl)
{
    (void)fl;
    return 0;
}

static inline int
inotipy_freelist_push(inotipy_freelist *fl, PyObject *op)
{
    (void)fl;
    (void)op;
    return 0;
}

static inline PyObject *
inotipy_freelist_pop(inotipy_freelist *fl, PyTypeObject *tp)
{
    (void)fl;
    (void)tp;
    return NULL;
}

static inline int
inotipy_freelist_traverse(inotipy_freelist *fl, visitproc visit, void *arg)
{
    (void)fl;
    (void)visit;
    (void)arg;
    return 0;
}

static inline void
inotipy_freelist_clear(inotipy_freelist *fl)
{
    (void)fl;
}

#endif /* INOTIPY_NO_FREELIST */

#endif /* INOTIPY_FREELIST_H */
