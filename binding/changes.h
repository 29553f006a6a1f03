/*
 * changes.h: change sets for awatch() and watch() (changes.c).
 */
#ifndef INOTIPY_CHANGES_H
#define INOTIPY_CHANGES_H

#include "watcher.h"

/* Watcher._take_changes(changes, added, modified, deleted, first=None,
 * closed=None, /) (METH_FASTCALL). */
PyObject *changes_take(WatcherObject *watcher, PyObject *const *args,
                       Py_ssize_t nargs);

#endif /* INOTIPY_CHANGES_H */
