/*
 * errors.c: turning the core's negative errno values, and its failures to
 * watch part of a tree, into Python exceptions and warnings.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "names.h"
#include "watch.h"

int
inotipy_raise_errno(int neg_errno, PyObject *path)
{
    /* PyErr_SetFromErrno*() pick the OSError subclass (FileNotFoundError
     * and so on) from errno, and take a NULL filename. */
    errno = -neg_errno;
    PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    return -1;
}

int
inotipy_raise_oserror(int errnum, PyObject *path, const char *format, ...)
{
    PyObject *message, *exc;
    va_list vargs;

    va_start(vargs, format);
    message = PyUnicode_FromFormatV(format, vargs);
    va_end(vargs);
    if (message == NULL) {
        return -1;
    }
    /* Calling OSError makes the subclass for errnum; raise that type. */
    exc = path == NULL
              ? PyObject_CallFunction(PyExc_OSError, "iO", errnum, message)
              : PyObject_CallFunction(PyExc_OSError, "iOO", errnum, message,
                                      path);
    Py_DECREF(message);
    if (exc == NULL) {
        return -1;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return -1;
}

int
inotipy_raise_closed(inotipy_state *st)
{
    PyErr_SetString(st->closed_error, "operation on closed watcher");
    return -1;
}

int
inotipy_raise_watch_error(int neg_errno, PyObject *path, size_t in_use)
{
    const char *limit = "/proc/sys/fs/inotify/max_user_watches";

    if (neg_errno == -EBUSY) {
        return inotipy_raise_oserror(
            EEXIST, path,
            "already watched by this watcher: a watch and a tree, or two "
            "trees, cannot share a directory");
    }
    if (neg_errno == -ENOSPC) {
        return inotipy_raise_oserror(
            ENOSPC, path,
            "inotify watch limit reached: %s is %ld and this watcher had "
            "%zu watches; raise the limit",
            limit, ino_sysctl("max_user_watches"), in_use);
    }
    return inotipy_raise_errno(neg_errno, path);
}

int
inotipy_warn_tree_error(WatcherObject *watcher, const ino_event *ev)
{
    WatchObject *root = (WatchObject *)ev->udata;
    PyObject *rel, *path;
    int rc;

    if (root == NULL) {
        return 0;
    }
    rel = names_decode(root, ev->name, ev->name_len);
    path = rel == NULL ? NULL : names_join(root->pathname, rel);
    Py_XDECREF(rel);
    if (path == NULL) {
        return -1;
    }
    if (ev->error == ENOSPC) {
        rc = PyErr_WarnFormat(
            watcher->st->tree_warning, 1,
            "cannot watch %R: the inotify watch limit "
            "(/proc/sys/fs/inotify/max_user_watches) is reached with %zu "
            "watches in this watcher",
            path, ino_watch_count(&watcher->core));
    }
    else {
        rc =
            PyErr_WarnFormat(watcher->st->tree_warning, 1,
                             "cannot watch %R: %s", path, strerror(ev->error));
    }
    Py_DECREF(path);
    return rc;
}
