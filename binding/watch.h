/*
 * watch.h: the Watch object, one inotify watch (watch.c).
 */
#ifndef INOTIPY_WATCH_H
#define INOTIPY_WATCH_H

#include "watcher.h"

typedef struct {
    PyObject_HEAD
    PyObject *watcher;           /* the WatcherObject, strong */
    PyObject *pathname;          /* str or bytes, os.fspath() of the input */
    int32_t wd;                  /* the kernel's watch descriptor */
    uint32_t mask;               /* the mask as last set */
    int repr_fd;                 /* the watcher's fd when made, for repr */
    int valid;                   /* 0 after remove(), close() or IGNORED */
    int is_bytes;                /* names are bytes, like the pathname */
    int is_tree;                 /* the root of a watch_tree() */
} WatchObject;

int watch_init_type(PyObject *module, inotipy_state *st);
/* Returns a new Watch of an open watcher; the caller stores a reference in
 * the core's table. */
PyObject *watch_new(WatcherObject *watcher, PyObject *pathname, int32_t wd,
                    uint32_t mask);

#endif /* INOTIPY_WATCH_H */
