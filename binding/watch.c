/*
 * watch.c: the Watch type, one inotify watch.  The watcher's core table
 * holds a strong reference to each live Watch (as the entry's udata) until
 * its IN_IGNORED event is taken or the watcher is closed.
 */
#include <errno.h>

#include "watch.h"

#include "args.h"
#include "errors.h"
#include "module.h"
#include "names.h"
#include "state_file.h"

PyObject *
watch_new(WatcherObject *watcher, PyObject *pathname, int32_t wd,
          uint32_t mask)
{
    WatchObject *watch = PyObject_GC_New(WatchObject, watcher->st->watch_type);

    if (watch == NULL) {
        return NULL;
    }
    watch->watcher = Py_NewRef((PyObject *)watcher);
    watch->pathname = Py_NewRef(pathname);
    watch->wd = wd;
    watch->mask = mask;
    watch->repr_fd = ino_fd(&watcher->core);
    watch->valid = 1;
    watch->is_bytes = PyBytes_Check(pathname);
    watch->is_tree = 0;
    PyObject_GC_Track(watch);
    return (PyObject *)watch;
}

static int
watch_traverse(WatchObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->watcher);
    Py_VISIT(self->pathname);
    return 0;
}

static int
watch_clear(WatchObject *self)
{
    Py_CLEAR(self->watcher);
    Py_CLEAR(self->pathname);
    return 0;
}

static void
watch_dealloc(WatchObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    watch_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* The watcher while it is open, else NULL: once it is closed (or being
 * closed) its core is not ours to touch. */
static WatcherObject *
live_watcher(WatchObject *self)
{
    WatcherObject *watcher = (WatcherObject *)self->watcher;

    return (watcher != NULL && !watcher->closed) ? watcher : NULL;
}

static PyObject *
watch_remove(WatchObject *self, PyObject *Py_UNUSED(ignored))
{
    WatcherObject *watcher = live_watcher(self);
    int rc;

    if (!self->valid || watcher == NULL) {
        Py_RETURN_NONE;
    }
    rc = ino_rm_watch(&watcher->core, self->wd);
    if (rc < 0 && rc != -ENOENT) {
        inotipy_raise_errno(rc, self->pathname);
        return NULL;
    }
    /* The entry (and our reference in it) stays until IN_IGNORED is taken,
     * so that event is still delivered with this Watch. */
    self->valid = 0;
    Py_RETURN_NONE;
}

static PyObject *
watch_replace_mask(WatchObject *self, PyObject *arg)
{
    WatcherObject *watcher = live_watcher(self);
    PyObject *fsname = NULL;
    ino_entry *e;
    uint32_t mask;
    int rc;

    if (inotipy_parse_mask(arg, &mask) < 0) {
        return NULL;
    }
    if (watcher == NULL || !self->valid) {
        PyErr_SetString(PyExc_ValueError, "watch is no longer valid");
        return NULL;
    }
    if (inotipy_check_watch_mask(mask) < 0) {
        return NULL;
    }
    if (!PyUnicode_FSConverter(self->pathname, &fsname)) {
        return NULL;
    }
    /* The kernel changes a watch only by path: check that the path still
     * names our inode (the same wd comes back). */
    rc = ino_add_watch(&watcher->core, PyBytes_AS_STRING(fsname), mask, &e);
    if (rc < 0) {
        Py_DECREF(fsname);
        inotipy_raise_errno(rc, self->pathname);
        return NULL;
    }
    if (e->wd != self->wd) {
        if (rc == 1) {
            ino_forget_watch(&watcher->core, e->wd);
        }
        else {
            /* The path now names another of our watches, whose mask the
             * kernel just replaced: put its mask back. */
            WatchObject *other = (WatchObject *)e->udata;
            if (ino_add_watch(&watcher->core, PyBytes_AS_STRING(fsname),
                              other->mask, &e) < 0) {
                other->mask = e->mask;
            }
        }
        Py_DECREF(fsname);
        inotipy_raise_errno(-ESTALE, self->pathname);
        return NULL;
    }
    Py_DECREF(fsname);
    self->mask = e->mask;
    Py_RETURN_NONE;
}

static PyObject *
watch_repr(WatchObject *self)
{
    inotipy_state *st = inotipy_state_of_type(Py_TYPE(self));
    PyObject *bits, *text;

    if (st == NULL) {
        PyErr_Clear();
        return PyUnicode_FromString("Watch(?)");
    }
    bits = inotipy_decode_mask_repr(st, self->mask);
    if (bits == NULL) {
        return NULL;
    }
    text = PyUnicode_FromFormat("Watch(%R, %U, %d:%d)",
                                self->pathname ? self->pathname : Py_None,
                                bits, self->repr_fd, (int)self->wd);
    Py_DECREF(bits);
    return text;
}

static PyObject *
watch_get_mask(WatchObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->mask);
}

static PyObject *
watch_get_wd(WatchObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->wd);
}

static PyObject *
watch_get_valid(WatchObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->valid && live_watcher(self) != NULL);
}

static PyObject *
watch_get_pathname(WatchObject *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->pathname ? self->pathname : Py_None);
}

static PyObject *
watch_get_watcher(WatchObject *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->watcher ? self->watcher : Py_None);
}

/* What watch_entries() gathers. */
typedef struct entries_ctx {
    WatchObject *watch;
    PyObject *list;
    PyObject *kinds[5]; /* by INO_FT_*; None for unknown */
} entries_ctx;

static PyObject *
known_or_none(int64_t v)
{
    return v < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong((long long)v);
}

static int
entries_add(void *arg, const ino_tree_entry *ent)
{
    entries_ctx *c = arg;
    PyObject *name, *path, *item;
    int kind = ent->type >= 0 && ent->type <= INO_FT_OTHER ? ent->type : 0;

    name = names_decode(c->watch, ent->path, ent->path_len);
    if (name == NULL) {
        return -1;
    }
    path = names_join(c->watch->pathname, name);
    Py_DECREF(name);
    if (path == NULL) {
        return -1;
    }
    item =
        Py_BuildValue("(NONN)", path, c->kinds[kind], known_or_none(ent->size),
                      known_or_none(ent->mtime_ns));
    if (item == NULL) {
        return -1;
    }
    if (PyList_Append(c->list, item) < 0) {
        Py_DECREF(item);
        return -1;
    }
    Py_DECREF(item);
    return 0;
}

static PyObject *
watch_entries(WatchObject *self, PyObject *Py_UNUSED(ignored))
{
    static const char *names[] = {NULL, "file", "dir", "symlink", "other"};
    WatcherObject *watcher = live_watcher(self);
    entries_ctx c;
    int i, rc;

    if (!self->is_tree) {
        PyErr_SetString(PyExc_TypeError,
                        "entries() is for the Watch of a watch_tree()");
        return NULL;
    }
    if (watcher == NULL || !self->valid) {
        PyErr_SetString(PyExc_ValueError, "watch is no longer valid");
        return NULL;
    }
    c.watch = self;
    c.list = PyList_New(0);
    for (i = 0; i < 5; i++) {
        c.kinds[i] = names[i] == NULL ? Py_NewRef(Py_None)
                                      : PyUnicode_FromString(names[i]);
    }
    rc = c.list == NULL ? -1 : 0;
    for (i = 0; i < 5; i++) {
        if (c.kinds[i] == NULL) {
            rc = -1;
        }
    }
    if (rc == 0) {
        rc = ino_tree_entries(&watcher->core, self->wd, entries_add, &c);
    }
    for (i = 0; i < 5; i++) {
        Py_XDECREF(c.kinds[i]);
    }
    if (rc == 0) {
        return c.list;
    }
    Py_XDECREF(c.list);
    if (rc < -1) {
        inotipy_raise_errno(rc, self->pathname);
    }
    else if (!PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    return NULL;
}

static PyMethodDef watch_methods[] = {
    {"entries", (PyCFunction)watch_entries, METH_NOARGS,
     "entries($self)\n--\n\nThe tree's index, from memory: a list of (path, "
     "kind, size, mtime_ns) for every entry below the root, each directory "
     "before what it holds.  kind is 'dir', 'file', 'symlink', 'other' or "
     "None (told by an event that does not say); size and mtime_ns are None "
     "for directories and for entries whose attributes the tree has not "
     "read.  Files are listed only when the tree indexes them "
     "(index_files=True)."},
    {"save_state", (PyCFunction)state_file_save_one, METH_O,
     "save_state($self, path, /)\n--\n\nWrites the tree's index to path "
     "(atomically: a temporary file in its directory, synced, renamed over "
     "it), for watch_tree(..., since=path) to tell what changed in between. "
     "Take every queued event first (RuntimeError otherwise)."},
    {"remove", (PyCFunction)watch_remove, METH_NOARGS,
     "remove($self, /)\n--\n\nStops watching.  Idempotent; the IN_IGNORED "
     "event that follows is still delivered."},
    {"replace_mask", (PyCFunction)watch_replace_mask, METH_O,
     "replace_mask($self, mask, /)\n--\n\nSets a new event mask (merged "
     "with the old one when IN.MASK_ADD is given)."},
    {NULL},
};

static PyGetSetDef watch_getset[] = {
    {"pathname", (getter)watch_get_pathname, NULL,
     "The watched path, as given (after os.fspath()).", NULL},
    {"mask", (getter)watch_get_mask, NULL, "The mask as last set.", NULL},
    {"wd", (getter)watch_get_wd, NULL, "The kernel's watch descriptor.", NULL},
    {"valid", (getter)watch_get_valid, NULL,
     "False after remove(), close() or the watch's IN_IGNORED event.", NULL},
    {"watcher", (getter)watch_get_watcher, NULL, "The owning Watcher.", NULL},
    {NULL},
};

static PyType_Slot watch_slots[] = {
    {Py_tp_doc, "One inotify watch; made by Watcher.watch()."},
    {Py_tp_dealloc, watch_dealloc},
    {Py_tp_traverse, watch_traverse},
    {Py_tp_clear, watch_clear},
    {Py_tp_repr, watch_repr},
    {Py_tp_methods, watch_methods},
    {Py_tp_getset, watch_getset},
    {0, NULL},
};

static PyType_Spec watch_spec = {
    .name = "inotipy._inotipy.Watch",
    .basicsize = sizeof(WatchObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = watch_slots,
};

int
watch_init_type(PyObject *module, inotipy_state *st)
{
    return inotipy_types_add(module, &watch_spec, NULL, &st->watch_type);
}
