/*
 * args.c: converting and checking the arguments of the binding's methods
 * (masks, timeouts, flags, exclude globs), each in one place.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/inotify.h>

#include "args.h"
#include "ino.h"

int
inotipy_parse_mask(PyObject *arg, uint32_t *mask)
{
    unsigned long value;

    if (!PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "mask must be an int, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    value = PyLong_AsUnsignedLong(arg);
    if (value == (unsigned long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError,
                            "mask must be in range 0..0xffffffff");
        }
        return -1;
    }
    if (value > 0xffffffffUL) {
        PyErr_SetString(PyExc_ValueError,
                        "mask must be in range 0..0xffffffff");
        return -1;
    }
    *mask = (uint32_t)value;
    return 0;
}

int
inotipy_check_watch_mask(uint32_t mask)
{
    const uint32_t both = IN_MASK_ADD | IN_MASK_CREATE;

    if (mask & ~INO_WATCH_BITS) {
        PyErr_Format(PyExc_ValueError,
                     "mask has bits that are not inotify watch bits: 0x%x",
                     (unsigned int)(mask & ~INO_WATCH_BITS));
        return -1;
    }
    if (!(mask & INO_EVENT_BITS)) {
        PyErr_SetString(PyExc_ValueError,
                        "mask has no event bit (IN.ALL_EVENTS has them all)");
        return -1;
    }
    if ((mask & both) == both) {
        PyErr_SetString(PyExc_ValueError,
                        "IN.MASK_ADD and IN.MASK_CREATE exclude each other");
        return -1;
    }
    return 0;
}

int
inotipy_parse_timeout(PyObject *obj, double *timeout)
{
    double t;

    if (obj == NULL || obj == Py_None) {
        *timeout = -1;
        return 0;
    }
    t = PyFloat_AsDouble(obj);
    if (t == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (t != t) {
        PyErr_SetString(PyExc_ValueError, "timeout must not be NaN");
        return -1;
    }
    *timeout = t < 0 ? 0 : (t == Py_HUGE_VAL ? -1 : t);
    return 0;
}

int
inotipy_parse_flags(PyObject *obj)
{
    long flags = PyLong_AsLong(obj);

    if (flags == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (flags & ~(long)(O_CLOEXEC | O_NONBLOCK)) {
        /* PyUnicode_FromFormat() takes %lx only from Python 3.12 on. */
        char hex[24];

        snprintf(hex, sizeof hex, "%#lx", (unsigned long)flags);
        PyErr_Format(PyExc_ValueError,
                     "flags may hold only IN.CLOEXEC and IN.NONBLOCK, "
                     "not %s",
                     hex);
        return -1;
    }
    return 0;
}

Py_ssize_t
inotipy_parse_excludes(PyObject *exclude, PyObject **holder, const char ***out)
{
    PyObject *seq, *item, *fsname;
    Py_ssize_t i, n;

    *out = NULL;
    *holder = NULL;
    if (PyUnicode_Check(exclude) || PyBytes_Check(exclude)) {
        PyErr_SetString(PyExc_TypeError,
                        "exclude must be a collection of globs, not a str");
        return -1;
    }
    seq = PySequence_Fast(exclude, "exclude must be a collection of globs");
    if (seq == NULL) {
        return -1;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    *holder = PyList_New(n);
    *out = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (*holder == NULL || *out == NULL) {
        Py_DECREF(seq);
        if (*out == NULL && *holder != NULL) {
            PyErr_NoMemory();
        }
        return -1;
    }
    for (i = 0; i < n; i++) {
        item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_FSConverter(item, &fsname)) {
            Py_DECREF(seq);
            return -1;
        }
        PyList_SET_ITEM(*holder, i, fsname);
        (*out)[i] = PyBytes_AS_STRING(fsname);
    }
    Py_DECREF(seq);
    return n;
}
