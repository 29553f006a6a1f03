/*
 * names.c: names from the kernel as Python objects of the watch's kind
 * (bytes or str), and paths joined from a watch's pathname and a name.
 * Used by event.c, changes.c and errors.c (tree warnings).
 */
#include <string.h>

#include "names.h"

PyObject *
names_decode(WatchObject *watch, const char *name, size_t len)
{
    uint64_t high = 0, word;
    PyObject *s;
    size_t i = 0;

    if (watch != NULL && watch->is_bytes) {
        return PyBytes_FromStringAndSize(name, (Py_ssize_t)len);
    }
    /* os.fsdecode() is UTF-8 with surrogateescape on Linux, so any name
     * round-trips through os.fsencode().  Most names are ASCII, which
     * decodes to itself under any codec the filesystem encoding can be on
     * Linux: copy those straight into a compact string and leave the codec
     * machinery for the rest. */
    for (; i + 8 <= len; i += 8) {
        memcpy(&word, name + i, 8);
        high |= word;
    }
    for (; i < len; i++) {
        high |= (unsigned char)name[i];
    }
    if (high & UINT64_C(0x8080808080808080)) {
        return PyUnicode_DecodeFSDefaultAndSize(name, (Py_ssize_t)len);
    }
    s = PyUnicode_New((Py_ssize_t)len, 127);
    if (s != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(s), name, len);
    }
    return s;
}

static PyObject *
join_bytes(PyObject *base, PyObject *name)
{
    Py_ssize_t blen = PyBytes_GET_SIZE(base);
    Py_ssize_t nlen = PyBytes_GET_SIZE(name);
    int ends_with_sep = blen > 0 && PyBytes_AS_STRING(base)[blen - 1] == '/';
    PyObject *joined;
    char *out;

    joined = PyBytes_FromStringAndSize(NULL, blen + !ends_with_sep + nlen);
    if (joined == NULL) {
        return NULL;
    }
    out = PyBytes_AS_STRING(joined);
    memcpy(out, PyBytes_AS_STRING(base), (size_t)blen);
    if (!ends_with_sep) {
        out[blen++] = '/';
    }
    memcpy(out + blen, PyBytes_AS_STRING(name), (size_t)nlen);
    return joined;
}

/* Both str: one allocation and two copies (PyUnicode_FromFormat() parses
 * its format, and awatch() joins a path for every change). */
static PyObject *
join_str(PyObject *base, PyObject *name)
{
    Py_ssize_t blen = PyUnicode_GET_LENGTH(base);
    Py_ssize_t nlen = PyUnicode_GET_LENGTH(name);
    int sep = !(blen > 0 && PyUnicode_READ_CHAR(base, blen - 1) == '/');
    Py_UCS4 bmax = PyUnicode_MAX_CHAR_VALUE(base);
    Py_UCS4 nmax = PyUnicode_MAX_CHAR_VALUE(name);
    PyObject *joined =
        PyUnicode_New(blen + sep + nlen, bmax > nmax ? bmax : nmax);

    if (joined == NULL) {
        return NULL;
    }
    if (PyUnicode_CopyCharacters(joined, 0, base, 0, blen) < 0 ||
        (sep && PyUnicode_WriteChar(joined, blen, '/') < 0) ||
        PyUnicode_CopyCharacters(joined, blen + sep, name, 0, nlen) < 0) {
        Py_DECREF(joined);
        return NULL;
    }
    return joined;
}

PyObject *
names_join(PyObject *base, PyObject *name)
{
    Py_ssize_t n = PyObject_Length(name);

    if (n <= 0) {
        return n < 0 ? NULL : Py_NewRef(base);
    }
    if (PyBytes_Check(base) != PyBytes_Check(name)) {
        PyErr_SetString(PyExc_TypeError,
                        "can't join a str path with a bytes name");
        return NULL;
    }
    if (PyBytes_Check(base)) {
        return join_bytes(base, name);
    }
    return join_str(base, name);
}
