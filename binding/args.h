/*
 * args.h: argument converters shared by the methods (args.c).  Each
 * returns 0, or -1 with TypeError or ValueError set.
 */
#ifndef INOTIPY_ARGS_H
#define INOTIPY_ARGS_H

#include "state.h"

/* A mask argument: an int in 0..2**32-1 (IntFlag included). */
int inotipy_parse_mask(PyObject *arg, uint32_t *mask);
/* Rejects a mask inotify_add_watch() would not take. */
int inotipy_check_watch_mask(uint32_t mask);
/* A get() timeout: None is none (-1); negative polls like 0. */
int inotipy_parse_timeout(PyObject *obj, double *timeout);
/* Watcher flags: only IN.CLOEXEC and IN.NONBLOCK (always set anyway). */
int inotipy_parse_flags(PyObject *obj);
/* Exclude globs (str, bytes or PathLike each) as C strings pointing into
 * *holder (a new list of bytes); *out is PyMem_Calloc()ed.  Returns the
 * count or -1 (the caller frees *holder and *out either way). */
Py_ssize_t inotipy_parse_excludes(PyObject *exclude, PyObject **holder,
                                  const char ***out);

#endif /* INOTIPY_ARGS_H */
