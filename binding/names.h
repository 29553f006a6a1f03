/*
 * names.h: names and paths as the watch's pathname spells them (names.c).
 */
#ifndef INOTIPY_NAMES_H
#define INOTIPY_NAMES_H

#include "watch.h"

/* Returns a new reference to a name from the kernel: bytes for a bytes
 * watch, else os.fsdecode()d. */
PyObject *names_decode(WatchObject *watch, const char *name, size_t len);
/* Returns a new reference to base joined with name like os.path.join()
 * (base alone when name is empty); both str or both bytes. */
PyObject *names_join(PyObject *base, PyObject *name);

#endif /* INOTIPY_NAMES_H */
