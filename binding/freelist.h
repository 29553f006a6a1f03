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

/* Untracked objects with refcount 0 and their fields cleared. */
typedef struct {
    PyObject *items[INOTIPY_FREELIST_MAX];
    int count;
} inotipy_freelist;

/* Keeps a dead object for reuse; returns 0 when the pool is full and the
 * caller must free it. */
static inline int
inotipy_freelist_push(inotipy_freelist *fl, PyObject *op)
{
    if (fl->count >= INOTIPY_FREELIST_MAX) {
        return 0;
    }
    fl->items[fl->count++] = op;
    return 1;
}

/* Returns a pooled object's memory (PyObject_Init() it), or NULL. */
static inline PyObject *
inotipy_freelist_pop(inotipy_freelist *fl)
{
    return fl->count > 0 ? fl->items[--fl->count] : NULL;
}

/* Frees what the pool holds (GC objects: PyObject_GC_Del()). */
static inline void
inotipy_freelist_clear(inotipy_freelist *fl)
{
    while (fl->count > 0) {
        PyObject_GC_Del(fl->items[--fl->count]);
    }
}

#else /* INOTIPY_NO_FREELIST */

typedef struct {
    char unused;               /* C11 has no empty structs */
} inotipy_freelist;

static inline int
inotipy_freelist_push(inotipy_freelist *fl, PyObject *op)
{
    (void)fl;
    (void)op;
    return 0;
}

static inline PyObject *
inotipy_freelist_pop(inotipy_freelist *fl)
{
    (void)fl;
    return NULL;
}

static inline void
inotipy_freelist_clear(inotipy_freelist *fl)
{
    (void)fl;
}

#endif /* INOTIPY_NO_FREELIST */

#endif /* INOTIPY_FREELIST_H */
