/*
 * state_file.h: saved tree state in the binding (state_file.c):
 * Watch.save_state(), Watcher._save_state() for change sets, and
 * watch_tree(since=...).
 */
#ifndef INOTIPY_STATE_FILE_H
#define INOTIPY_STATE_FILE_H

#include "watch.h"

/* Watch.save_state(path): METH_O. */
PyObject *state_file_save_one(WatchObject *self, PyObject *path);
/* Watcher._save_state(path, watches): METH_FASTCALL. */
PyObject *state_file_save_many(WatcherObject *self, PyObject *const *args,
                               Py_ssize_t nargs);
/* watch_tree(..., since=since): loads the state file and adds the tree
 * from it.  Returns 1 with *out as ino_add_tree() sets it, a negative
 * errno for the caller to raise as ino_add_tree()'s, or 0 with an
 * exception set (the state file could not be read, or is invalid). */
int state_file_add_tree(WatcherObject *self, PyObject *since, const char *path,
                        uint32_t mask, const char **globs, size_t nglobs,
                        int flags, ino_entry **out, size_t *in_use);

#endif /* INOTIPY_STATE_FILE_H */
