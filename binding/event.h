/*
 * event.h: the Event object, one inotify event (event.c).
 */
#ifndef INOTIPY_EVENT_H
#define INOTIPY_EVENT_H

#include "watch.h"

typedef struct {
    PyObject_HEAD
    PyObject *watch;             /* the WatchObject, or None (overflow) */
    PyObject *pathname;          /* the name in the watched directory */
    PyObject *src;               /* a tree's paired MOVED_TO: the path below
                                    the root it moved from; else NULL */
    uint32_t mask;               /* the kernel's mask */
    uint32_t cookie;             /* pairs MOVED_FROM with MOVED_TO */
} EventObject;

int event_init_type(PyObject *module, inotipy_state *st);
/* Returns a new Event for a core event, or NULL with an exception.  When
 * ev->released is set the table's reference to the Watch is handed over
 * (IN_IGNORED), on failure too. */
PyObject *event_from_core(WatcherObject *watcher, const ino_event *ev);

#endif /* INOTIPY_EVENT_H */
