/*
 * state_file.c: a tree's index saved to a file, and a tree started from
 * one, for Python (the core's ino_state.c does the work).  An invalid file
 * is inotipy.InvalidStateFile (python/inotipy/_state.py), made with the
 * file's path, the reason's name and the core's sentence.
 */
#include <errno.h>
#include <stdlib.h>

#include "state_file.h"

#include "errors.h"

/* The names of the core's INO_STATE_* reasons, by value. */
static const char *const reasons[] = {
    "ok",      "not-a-state-file", "truncated",         "corrupt",
    "too-new", "foreign-root",     "other-file-system",
};

/* Raises InvalidStateFile(filename, reason, detail); returns -1. */
static int
raise_invalid(PyObject *filename, const ino_state_error *err)
{
    PyObject *mod = PyImport_ImportModule("inotipy._state"), *cls, *exc;
    int r = err->reason;
    const char *reason = r > 0 && r < (int)(sizeof reasons / sizeof *reasons)
                             ? reasons[r]
                             : "corrupt";

    if (mod == NULL) {
        return -1;
    }
    cls = PyObject_GetAttrString(mod, "InvalidStateFile");
    Py_DECREF(mod);
    if (cls == NULL) {
        return -1;
    }
    /* The detail may quote a root path of the file's, in any bytes. */
    exc = PyObject_CallFunction(cls, "OsN", filename, reason,
                                PyUnicode_DecodeFSDefault(err->detail));
    if (exc != NULL) {
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    Py_DECREF(cls);
    return -1;
}

/* Saves the trees of wds to path (a str, bytes or path-like): encoded with
 * the GIL, written without it (the write touches no watcher). */
static PyObject *
save(WatcherObject *watcher, const int32_t *wds, size_t n, PyObject *path)
{
    PyObject *fspath = PyOS_FSPath(path), *fsname = NULL;
    void *buf = NULL;
    size_t len = 0;
    int rc;

    if (fspath == NULL || !PyUnicode_FSConverter(fspath, &fsname)) {
        Py_XDECREF(fspath);
        return NULL;
    }
    /* os.fspath() may have run code that closed the watcher. */
    if (watcher_raise_if_closed(watcher) < 0) {
        goto fail;
    }
    if (ino_queued(&watcher->core) > 0) {
        PyErr_Format(PyExc_RuntimeError,
                     "save_state(): %zd events are queued and not taken; "
                     "the index already holds them, so a program that "
                     "stopped now would never see them: take them first",
                     (Py_ssize_t)ino_queued(&watcher->core));
        goto fail;
    }
    rc = ino_state_encode(&watcher->core, wds, n, &buf, &len);
    if (rc == -EINVAL) {
        PyErr_SetString(PyExc_ValueError,
                        "save_state() needs a tree that indexes its files "
                        "(watch_tree(..., index_files=True), the default) "
                        "and whose root is still watched");
        goto fail;
    }
    if (rc == -ENOENT) {
        PyErr_SetString(PyExc_ValueError, "watch is no longer a tree");
        goto fail;
    }
    if (rc < 0) {
        inotipy_raise_errno(rc, fspath);
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS rc =
        ino_state_write(PyBytes_AS_STRING(fsname), buf, len);
    Py_END_ALLOW_THREADS free(buf);
    if (rc < 0) {
        inotipy_raise_errno(rc, fspath);
        goto fail;
    }
    Py_DECREF(fspath);
    Py_DECREF(fsname);
    Py_RETURN_NONE;
fail:
    Py_DECREF(fspath);
    Py_XDECREF(fsname);
    return NULL;
}

/* The watcher of a tree's Watch, open, or NULL with an exception. */
static WatcherObject *
tree_watcher(WatchObject *watch)
{
    WatcherObject *watcher = (WatcherObject *)watch->watcher;

    if (!watch->is_tree) {
        PyErr_SetString(PyExc_TypeError,
                        "save_state() is for the Watch of a watch_tree()");
        return NULL;
    }
    if (watcher == NULL || watcher->closed || !watch->valid) {
        PyErr_SetString(PyExc_ValueError, "watch is no longer valid");
        return NULL;
    }
    return watcher_raise_if_closed(watcher) < 0 ? NULL : watcher;
}

PyObject *
state_file_save_one(WatchObject *self, PyObject *path)
{
    WatcherObject *watcher = tree_watcher(self);

    return watcher == NULL ? NULL : save(watcher, &self->wd, 1, path);
}

PyObject *
state_file_save_many(WatcherObject *self, PyObject *const *args,
                     Py_ssize_t nargs)
{
    PyObject *seq, *result = NULL;
    int32_t *wds;
    Py_ssize_t n, i;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_save_state(path, watches)");
        return NULL;
    }
    if (watcher_raise_if_closed(self) < 0) {
        return NULL;
    }
    seq = PySequence_Fast(args[1], "watches must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    wds = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *wds);
    if (wds == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyObject_TypeCheck(item, self->st->watch_type) ||
            ((WatchObject *)item)->watcher != (PyObject *)self ||
            tree_watcher((WatchObject *)item) == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError,
                                "watches must be this watcher's trees");
            }
            goto done;
        }
        wds[i] = ((WatchObject *)item)->wd;
    }
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "no tree to save");
        goto done;
    }
    result = save(self, wds, (size_t)n, args[0]);
done:
    PyMem_Free(wds);
    Py_DECREF(seq);
    return result;
}

int
state_file_add_tree(WatcherObject *self, PyObject *since, const char *path,
                    uint32_t mask, const char **globs, size_t nglobs,
                    int flags, ino_entry **out, size_t *in_use)
{
    PyObject *fspath = PyOS_FSPath(since), *fsname = NULL;
    ino_state_error err;
    ino_state *st = NULL;
    int rc;

    if (fspath == NULL || !PyUnicode_FSConverter(fspath, &fsname)) {
        Py_XDECREF(fspath);
        return 0;
    }
    if (flags & INO_TREE_NO_FILES) {
        PyErr_SetString(PyExc_ValueError,
                        "since= needs a tree that indexes its files "
                        "(index_files=True): its state is that index");
        rc = 0;
        goto done;
    }
    if (self->closed) {
        /* (By since's __fspath__: watch_tree() checked before.) */
        rc = inotipy_raise_closed(self->st) + 1;
        goto done;
    }
    rc = ino_state_load(PyBytes_AS_STRING(fsname), &st, &err);
    if (rc == -EBADMSG) {
        rc = raise_invalid(fspath, &err) + 1;
        goto done;
    }
    if (rc < 0) {
        rc = inotipy_raise_errno(rc, fspath) + 1;
        goto done;
    }
    rc = ino_add_tree_since(&self->core, path, mask, globs, nglobs, flags, st,
                            &err, out, in_use);
    if (rc == -EBADMSG) {
        rc = raise_invalid(fspath, &err) + 1;
    }
done:
    ino_state_free(st);
    Py_DECREF(fspath);
    Py_XDECREF(fsname);
    return rc;
}
