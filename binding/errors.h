/*
 * errors.h: the exceptions and warnings the binding raises (errors.c).
 * Each function returns -1 with the exception set, for `return` chains.
 */
#ifndef INOTIPY_ERRORS_H
#define INOTIPY_ERRORS_H

#include "watcher.h"

/* Raises the OSError subclass for a negative errno from the core (or a
 * syscall), with path as its filename when it is not NULL. */
int inotipy_raise_errno(int neg_errno, PyObject *path);
/* Raises the OSError subclass for errnum with our own message (printf
 * style, as PyUnicode_FromFormat), and path as its filename unless NULL. */
int inotipy_raise_oserror(int errnum, PyObject *path, const char *format, ...);
/* Raises WatcherClosedError("operation on closed watcher"). */
int inotipy_raise_closed(inotipy_state *st);
/* Raises the error of a failed ino_add_watch() or ino_add_tree(); in_use
 * is the number of watches the watcher held when it failed. */
int inotipy_raise_watch_error(int neg_errno, PyObject *path, size_t in_use);
/* Issues a TreeWarning for a record that is not an event but a failure to
 * watch part of a tree (ev->error > 0); returns 0, or -1 when the warning
 * was turned into an exception. */
int inotipy_warn_tree_error(WatcherObject *watcher, const ino_event *ev);

#endif /* INOTIPY_ERRORS_H */
