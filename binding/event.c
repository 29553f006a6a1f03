/*
 * event.c: the Event type, one inotify event as a Python object.  Events
 * are made only when a caller takes one, their memory reused through the
 * module's free list (freelist.h); the repr (and its decode_mask list) is
 * built on demand, never on the event path.
 */
#include "event.h"

#include <string.h>

#include <structmember.h>

#include "args.h"
#include "module.h"
#include "names.h"

/* The name of a new Event: the kernel's bytes kept as they are when they
 * fit (made into a str or bytes only when asked for, as most consumers
 * look at the mask first), else decoded now.  0, or -1 with an
 * exception. */
static int
event_set_name(EventObject *e, inotipy_state *st, WatchObject *watch,
               const char *name, size_t len)
{
    e->lazy = 0;
    if (len == 0) {
        e->pathname =
            Py_NewRef(watch != NULL && watch->is_bytes ? st->empty_bytes
                                                       : st->empty_str);
        return 0;
    }
    if (len <= EVENT_INLINE_NAME) {
        memcpy(e->name, name, len);
        e->name_len = (uint8_t)len;
        e->pathname = NULL;
        e->lazy = 1;
        return 0;
    }
    e->pathname = names_decode(watch, name, len);
    return e->pathname == NULL ? -1 : 0;
}

PyObject *
event_make(inotipy_state *st, WatchObject *watch, uint32_t mask,
           uint32_t cookie, const char *name, size_t name_len, const char *src,
           size_t src_len)
{
    PyObject *pooled = inotipy_freelist_pop(&st->free_events, st->event_type);
    EventObject *e;

    e = pooled != NULL ? (EventObject *)pooled
                       : PyObject_GC_New(EventObject, st->event_type);
    if (e == NULL) {
        Py_XDECREF(watch);
        return NULL;
    }
    e->st = st;
    e->mask = mask;
    e->cookie = cookie;
    e->watch = watch != NULL ? (PyObject *)watch : Py_NewRef(Py_None);
    e->src = NULL;
    if (event_set_name(e, st, watch, name, name_len) < 0 ||
        (src != NULL &&
         (e->src = names_decode(watch, src, src_len)) == NULL)) {
        e->lazy = 0;
        /* Every field is set: tracked, as dealloc may pool it. */
        if (pooled == NULL || !INOTIPY_FREELIST_TRACKED) {
            PyObject_GC_Track(e);
        }
        Py_DECREF(e);
        return NULL;
    }
    if (pooled == NULL || !INOTIPY_FREELIST_TRACKED) {
        PyObject_GC_Track(e);
    }
    return (PyObject *)e;
}

/* When ev->released is set the table's reference to the Watch moves into
 * the Event, and the Watch becomes invalid. */
PyObject *
event_from_core_slow(WatcherObject *watcher, const ino_event *ev)
{
    WatchObject *watch = (WatchObject *)ev->udata;

    if (watch != NULL) {
        if (ev->released) {
            watch->valid = 0;
        }
        else {
            Py_INCREF(watch);
        }
    }
    return event_make(watcher->st, watch, ev->mask, ev->cookie, ev->name,
                      ev->name_len, ev->src, ev->src_len);
}

PyObject *
event_name(EventObject *e)
{
    if (e->lazy) {
        WatchObject *watch =
            e->watch == Py_None ? NULL : (WatchObject *)e->watch;
        PyObject *name = names_decode(watch, e->name, e->name_len);

        if (name == NULL) {
            return NULL;
        }
        e->pathname = name;
        e->lazy = 0;
    }
    return e->pathname;
}

static PyObject *
event_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"watch", "mask", "cookie", "pathname", NULL};
    inotipy_state *st = inotipy_state_of_type(type);
    PyObject *watch, *maskobj, *pathname;
    unsigned int cookie = 0;
    uint32_t mask;
    EventObject *e;

    if (st == NULL ||
        !PyArg_ParseTupleAndKeywords(args, kwds, "OO|IO:Event", kwlist, &watch,
                                     &maskobj, &cookie, &pathname)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(args) + (kwds ? PyDict_GET_SIZE(kwds) : 0) < 4) {
        pathname = st->empty_str;
    }
    if (watch != Py_None && !PyObject_TypeCheck(watch, st->watch_type)) {
        PyErr_SetString(PyExc_TypeError, "watch must be a Watch or None");
        return NULL;
    }
    if (!PyUnicode_Check(pathname) && !PyBytes_Check(pathname)) {
        PyErr_SetString(PyExc_TypeError, "pathname must be str or bytes");
        return NULL;
    }
    if (inotipy_parse_mask(maskobj, &mask) < 0) {
        return NULL;
    }
    e = (EventObject *)type->tp_alloc(type, 0);
    if (e == NULL) {
        return NULL;
    }
    e->st = st;
    e->lazy = 0;
    e->watch = Py_NewRef(watch);
    e->pathname = Py_NewRef(pathname);
    e->src = NULL;
    e->mask = mask;
    e->cookie = cookie;
    return (PyObject *)e;
}

/* An Event holds its Watch, the Watch its Watcher, and a Watcher (of a
 * subclass with a __dict__) may hold Events: so Events take part in GC. */
static int
event_traverse(EventObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->watch);
    Py_VISIT(self->pathname);
    Py_VISIT(self->src);
    return 0;
}

static int
event_clear(EventObject *self)
{
    self->lazy = 0;
    Py_CLEAR(self->watch);
    Py_CLEAR(self->pathname);
    Py_CLEAR(self->src);
    return 0;
}

/* event_dealloc() of an Event the tracked pool does not take. */
__attribute__((noinline)) static void
event_free(EventObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    inotipy_state *st = self->st;

    PyObject_GC_UnTrack(self);
    event_clear(self);
    /* Untracked now: pooled only when the pool keeps them so. */
    if (!INOTIPY_FREELIST_TRACKED && st != NULL && st->event_type == tp &&
        inotipy_freelist_push(&st->free_events, (PyObject *)self)) {
#if !INOTIPY_FREELIST_KEEPS_TYPE
        Py_DECREF(tp);
#endif
        return;
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* The type is final, so its module state is the one the Event came from;
 * once the module is being cleared (event_type NULL), Events are freed. */
static void
event_dealloc(EventObject *self)
{
#if INOTIPY_FREELIST_TRACKED
    PyTypeObject *tp = Py_TYPE(self);
    inotipy_state *st = self->st;

    /* Pooled tracked (freelist.h), alive again with the pool's reference,
     * its fields cleared before it joins and let go of after: what their
     * release runs (any code, the collector too) finds it in the pool. */
    if (st != NULL && st->event_type == tp &&
        inotipy_freelist_has_room(&st->free_events)) {
        PyObject *watch = self->watch, *pathname = self->pathname;
        PyObject *src = self->src;

        Py_SET_REFCNT(self, 1);
        self->lazy = 0;
        self->watch = self->pathname = self->src = NULL;
        inotipy_freelist_push(&st->free_events, (PyObject *)self);
        Py_XDECREF(watch);
        Py_XDECREF(pathname);
        Py_XDECREF(src);
        return;
    }
#endif
    event_free(self);
}

/* The event's Watch, or NULL for overflow (or after tp_clear). */
static WatchObject *
event_watch(EventObject *self)
{
    PyObject *watch = self->watch;

    return (watch == NULL || watch == Py_None) ? NULL : (WatchObject *)watch;
}

static PyObject *
event_repr(EventObject *self)
{
    inotipy_state *st = inotipy_state_of_type(Py_TYPE(self));
    PyObject *bits, *text, *wd, *name;

    if (st == NULL) {
        PyErr_Clear();
        return PyUnicode_FromString("Event(?)");
    }
    bits = inotipy_decode_mask_repr(st, self->mask);
    if (bits == NULL) {
        return NULL;
    }
    if (event_watch(self) == NULL) {
        wd = PyUnicode_FromString("None");
    }
    else {
        wd = PyUnicode_FromFormat("%d", event_watch(self)->wd);
    }
    if (wd == NULL) {
        Py_DECREF(bits);
        return NULL;
    }
    name = event_name(self);
    text = (name == NULL && PyErr_Occurred())
               ? NULL
               : PyUnicode_FromFormat("Event(%U, %U, %u, %R)", wd, bits,
                                      (unsigned int)self->cookie,
                                      name ? name : Py_None);
    Py_DECREF(wd);
    Py_DECREF(bits);
    return text;
}

static PyObject *
event_get_mask(EventObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->mask);
}

static PyObject *
event_get_cookie(EventObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->cookie);
}

static PyObject *
event_get_wd(EventObject *self, void *closure)
{
    (void)closure;
    if (event_watch(self) == NULL) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(event_watch(self)->wd);
}

static PyObject *
event_get_pathname(EventObject *self, void *closure)
{
    PyObject *name = event_name(self);

    (void)closure;
    if (name == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    return Py_NewRef(name);
}

/* The watch's pathname joined with the name. */
static PyObject *
event_get_path(EventObject *self, void *closure)
{
    WatchObject *watch = event_watch(self);
    PyObject *name = event_name(self);

    (void)closure;
    if (name == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    if (watch == NULL || watch->pathname == NULL) {
        return Py_NewRef(name);
    }
    return names_join(watch->pathname, name);
}

/* For a tree's paired MOVED_TO: where it came from, joined like path. */
static PyObject *
event_get_src_path(EventObject *self, void *closure)
{
    WatchObject *watch = event_watch(self);

    (void)closure;
    if (self->src == NULL) {
        Py_RETURN_NONE;
    }
    if (watch == NULL || watch->pathname == NULL) {
        return Py_NewRef(self->src);
    }
    return names_join(watch->pathname, self->src);
}

static PyMemberDef event_members[] = {
    {"watch", T_OBJECT, offsetof(EventObject, watch), READONLY,
     "The Watch the event came from, or None for IN_Q_OVERFLOW."},
    {NULL},
};

static PyGetSetDef event_getset[] = {
    {"pathname", (getter)event_get_pathname, NULL,
     "The name inside the watched directory, '' for the watched object.",
     NULL},
    {"name", (getter)event_get_pathname, NULL, "Alias of pathname.", NULL},
    {"mask", (getter)event_get_mask, NULL, "The kernel's event mask.", NULL},
    {"cookie", (getter)event_get_cookie, NULL,
     "Pairs IN_MOVED_FROM with IN_MOVED_TO; 0 for other events.", NULL},
    {"wd", (getter)event_get_wd, NULL,
     "The watch descriptor, or None for IN_Q_OVERFLOW.", NULL},
    {"path", (getter)event_get_path, NULL,
     "The watch's pathname joined with the name.", NULL},
    {"src_path", (getter)event_get_src_path, NULL,
     "For a MOVED_TO paired with a MOVED_FROM in the same tree: the path "
     "it moved from; else None.",
     NULL},
    {NULL},
};

static PyType_Slot event_slots[] = {
    {Py_tp_doc,
     "Event(watch, mask, cookie=0, pathname='')\n--\n\n"
     "One inotify event: the Watch, the mask, the cookie and "
     "the name."},
    {Py_tp_new, event_new},
    {Py_tp_dealloc, event_dealloc},
    {Py_tp_traverse, event_traverse},
    {Py_tp_clear, event_clear},
    {Py_tp_repr, event_repr},
    {Py_tp_members, event_members},
    {Py_tp_getset, event_getset},
    {0, NULL},
};

static PyType_Spec event_spec = {
    .name = "inotipy._inotipy.Event",
    .basicsize = sizeof(EventObject),
    .flags =
        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = event_slots,
};

int
event_init_type(PyObject *module, inotipy_state *st)
{
    return inotipy_types_add(module, &event_spec, NULL, &st->event_type);
}
