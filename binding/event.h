/*
 * event.h: the Event object, one inotify event (event.c).
 */
#ifndef INOTIPY_EVENT_H
#define INOTIPY_EVENT_H

#include <string.h>

#include "watch.h"

/* Names up to this many bytes are kept in the Event itself until asked
 * for; longer ones are made into a str (or bytes) at once. */
#define EVENT_INLINE_NAME 48

typedef struct {
    PyObject_HEAD
    PyObject *watch;             /* the WatchObject, or None (overflow) */
    PyObject *pathname;          /* the name in the watched directory, or
                                    NULL while it waits in name[] (lazy) */
    PyObject *src;               /* a tree's paired MOVED_TO: the path below
                                    the root it moved from; else NULL */
    inotipy_state *st;           /* the module state of our type: its free
                                    list, for dealloc */
    uint32_t mask;               /* the kernel's mask */
    uint32_t cookie;             /* pairs MOVED_FROM with MOVED_TO */
    uint8_t lazy;                /* 1: pathname is NULL and the name is the
                                    name_len bytes of name[] */
    uint8_t name_len;            /* bytes in name[] while lazy */
    char name[EVENT_INLINE_NAME]; /* the kernel's bytes, not decoded */
} EventObject;

int event_init_type(PyObject *module, inotipy_state *st);
/* event_from_core() for every event its inline part does not take. */
PyObject *event_from_core_slow(WatcherObject *watcher, const ino_event *ev);

/* Copies the len (1 to 16) bytes of a short name without a call: two
 * overlapping moves, as a small memcpy does. */
static inline void
event_copy_short(char *to, const char *from, size_t len)
{
    if (len >= 8) {
        memcpy(to, from, 8);
        memcpy(to + len - 8, from + len - 8, 8);
    }
    else if (len >= 4) {
        memcpy(to, from, 4);
        memcpy(to + len - 4, from + len - 4, 4);
    }
    else {
        to[0] = from[0];
        to[len / 2] = from[len / 2];
        to[len - 1] = from[len - 1];
    }
}

/* Returns a new Event for a core event, or NULL with an exception.  When
 * ev->released is set the table's reference to the Watch is handed over
 * (IN_IGNORED), on failure too.  Inline for the common event (a watch's,
 * a short name, a pooled Event to reuse): this runs for every event. */
static inline PyObject *
event_from_core(WatcherObject *watcher, const ino_event *ev)
{
    inotipy_state *st = watcher->st;
    WatchObject *watch = (WatchObject *)ev->udata;
    size_t len = ev->name_len;
    EventObject *e;

    if (watch == NULL || ev->released || ev->src != NULL || len == 0 ||
        len > 16 ||
        (e = (EventObject *)inotipy_freelist_pop(&st->free_events,
                                                 st->event_type)) == NULL) {
        return event_from_core_slow(watcher, ev);
    }
    e->watch = Py_NewRef((PyObject *)watch);
    e->pathname = NULL;
    e->src = NULL;
    e->st = st;
    e->mask = ev->mask;
    e->cookie = ev->cookie;
    e->lazy = 1;
    e->name_len = (uint8_t)len;
    event_copy_short(e->name, ev->name, len);
#if !INOTIPY_FREELIST_TRACKED
    PyObject_GC_Track(e);
#endif
    return (PyObject *)e;
}
/* Returns a new Event: watch is a new reference handed over (NULL for
 * overflow), on failure too; name and src are the kernel's bytes. */
PyObject *event_make(inotipy_state *st, WatchObject *watch, uint32_t mask,
                     uint32_t cookie, const char *name, size_t name_len,
                     const char *src, size_t src_len);
/* The Event's name as a borrowed reference, made on first use; NULL with
 * an exception, or NULL without one once the Event was cleared. */
PyObject *event_name(EventObject *event);

#endif /* INOTIPY_EVENT_H */
