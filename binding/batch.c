/*
 * batch.c: the EventBatch type, a read-only sequence of Events that makes
 * each Event when it is first touched.
 *
 * get_batch() on a large backlog used to build one Event per event, all
 * alive at once, and a list of them: tens of megabytes of objects that
 * push the kernel's records out of the caches.  A batch instead keeps one
 * compact record per event (its Watch, mask, cookie, and the name's bytes
 * in one buffer) and makes the Event on indexing or iteration, once: the
 * same index gives the same Event.  It behaves as a list does for reading
 * (len, indexing, slicing to a list, iteration, `in`, index(), count(),
 * ==/!= with lists and batches, + to a list, repr); list(batch) gives a
 * list to change.
 *
 * Taking the records is the binding's event path without the Events: the
 * watch's reference is taken (the table's own one at IN_IGNORED, which
 * ends the Watch then, as taking an Event does), the bytes are copied, and
 * nothing calls out to Python.
 */
#include "batch.h"

#include <string.h>

#include "event.h"
#include "loop.h"
#include "module.h"
#include "queue.h"

/* One event of a batch. */
typedef struct {
    PyObject *watch; /* strong; NULL for overflow, or once made */
    uint32_t mask; /* the kernel's mask */
    uint32_t cookie; /* pairs MOVED_FROM with MOVED_TO */
    uint32_t name_off; /* the name at names[name_off], and the */
    uint32_t name_len; /* src path (if has_src) right after it */
    uint32_t src_len; /* bytes of src */
    uint32_t has_src; /* 1 for a tree's paired MOVED_TO */
} batch_rec;

typedef struct {
    PyObject_HEAD
    inotipy_state *st; /* borrowed: our type keeps the module */
    Py_ssize_t len; /* events in the batch */
    Py_ssize_t cap; /* records allocated */
    batch_rec *recs; /* PyMem, cap records */
    PyObject **made; /* PyMem, cap slots: the Event of each
                                    record once made (strong), else NULL;
                                    NULL until the first is made */
    char *names; /* PyMem: the names' bytes */
    size_t names_len; /* bytes used in names */
    size_t names_cap; /* bytes allocated */
} BatchObject;

/* ---- building ---------------------------------------------------------- */

static BatchObject *
batch_new(inotipy_state *st)
{
    BatchObject *b = PyObject_GC_New(BatchObject, st->batch_type);

    if (b == NULL) {
        return NULL;
    }
    b->st = st;
    b->len = b->cap = 0;
    b->recs = NULL;
    b->made = NULL;
    b->names = NULL;
    b->names_len = b->names_cap = 0;
    PyObject_GC_Track(b);
    return b;
}

/* Doubles the records; 0, or -1 with MemoryError. */
static int
grow_recs_more(BatchObject *b)
{
    Py_ssize_t cap = b->cap ? b->cap * 2 : 64;
    batch_rec *recs;

    recs = PyMem_Realloc(b->recs, (size_t)cap * sizeof *recs);
    if (recs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->recs = recs;
    if (b->made != NULL) {
        PyObject **made = PyMem_Realloc(b->made, (size_t)cap * sizeof *made);

        if (made == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(made + b->cap, 0, (size_t)(cap - b->cap) * sizeof *made);
        b->made = made;
    }
    b->cap = cap;
    return 0;
}

/* Room for one more record; 0, or -1 with MemoryError. */
static inline int
grow_recs(BatchObject *b)
{
    return b->len < b->cap ? 0 : grow_recs_more(b);
}

/* Room for need more bytes of names (offsets stay below 4 GiB); 0 or -1
 * with MemoryError. */
static int
grow_names_more(BatchObject *b, size_t need)
{
    size_t cap = b->names_cap ? b->names_cap : 1024;
    char *names;

    if (need > UINT32_MAX - b->names_len) {
        PyErr_NoMemory();
        return -1;
    }
    while (cap - b->names_len < need) {
        cap *= 2;
    }
    names = PyMem_Realloc(b->names, cap);
    if (names == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->names = names;
    b->names_cap = cap;
    return 0;
}

static inline int
grow_names(BatchObject *b, size_t need)
{
    return b->names_cap - b->names_len >= need ? 0 : grow_names_more(b, need);
}

/* The made[] slots, allocated on first use; 0 or -1 with MemoryError. */
static int
ensure_made(BatchObject *b)
{
    if (b->made == NULL && b->cap > 0) {
        b->made = PyMem_Calloc((size_t)b->cap, sizeof *b->made);
        if (b->made == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

/* Appends an Event object (a new reference, kept on failure by the
 * caller); 0 or -1. */
static int
append_event(BatchObject *b, PyObject *event)
{
    batch_rec *r;

    if (grow_recs(b) < 0 || ensure_made(b) < 0) {
        return -1;
    }
    r = &b->recs[b->len];
    memset(r, 0, sizeof *r);
    b->made[b->len++] = event;
    return 0;
}

/* Appends a core event, taking over the watch's reference (a new one, or
 * the table's at IN_IGNORED), on failure too; 0 or -1. */
static int
append_core(BatchObject *b, WatchObject *watch, const ino_event *ev)
{
    size_t need = ev->name_len + (ev->src != NULL ? ev->src_len : 0);
    batch_rec *r;

    if (grow_recs(b) < 0 || grow_names(b, need) < 0) {
        Py_XDECREF(watch);
        return -1;
    }
    r = &b->recs[b->len];
    r->watch = (PyObject *)watch;
    r->mask = ev->mask;
    r->cookie = ev->cookie;
    r->name_off = (uint32_t)b->names_len;
    r->name_len = ev->name_len;
    r->has_src = ev->src != NULL;
    r->src_len = r->has_src ? ev->src_len : 0;
    /* (A name of 0 bytes copies nothing: names may still be NULL.) */
    if (ev->name_len - 1 < 16) {
        event_copy_short(b->names + b->names_len, ev->name, ev->name_len);
    }
    else if (ev->name_len > 0) {
        memcpy(b->names + b->names_len, ev->name, ev->name_len);
    }
    if (r->has_src) {
        memcpy(b->names + b->names_len + ev->name_len, ev->src, ev->src_len);
    }
    b->names_len += need;
    if (b->made != NULL) {
        b->made[b->len] = NULL;
    }
    b->len++;
    return 0;
}

/* One core event into the batch: 1, 0 when the core has none, -1. */
static int
take_core(BatchObject *b, WatcherObject *watcher)
{
    ino_event ev;
    WatchObject *watch;
    int rc = queue_next_core(watcher, &ev);

    if (rc <= 0) {
        return rc;
    }
    watch = (WatchObject *)ev.udata;
    if (watch != NULL) {
        if (ev.released) {
            watch->valid = 0; /* the table's reference is ours now */
        }
        else {
            Py_INCREF(watch);
        }
    }
    return append_core(b, watch, &ev) < 0 ? -1 : 1;
}

/* One event through the general path (waiters first, given-back Events):
 * 1, 0 when none is for us, -1. */
static int
take_polled(BatchObject *b, WatcherObject *watcher, queue_poll_mode mode)
{
    PyObject *event;
    int rc = queue_poll(watcher, mode, &event);

    if (rc <= 0) {
        return rc;
    }
    if (append_event(b, event) < 0) {
        queue_give_back_on_error(watcher, event);
        Py_DECREF(event);
        return -1;
    }
    return 1;
}

/* Fills b up to max_events.  Once a read of this batch saw the kernel's
 * queue empty, what came after it is for the next call: no read only to
 * hear EAGAIN.  0 or -1. */
static int
fill(BatchObject *b, WatcherObject *watcher, Py_ssize_t max_events)
{
    int read_kernel = 1, rc = 1;

    while (b->len < max_events && !watcher->closed) {
        if (PyList_GET_SIZE(watcher->waiters) > 0 ||
            PyList_GET_SIZE(watcher->given_back) > 0) {
            rc = take_polled(b, watcher,
                             read_kernel ? POLL_READ_KERNEL : POLL_QUEUE_ONLY);
            read_kernel = read_kernel && !watcher->closed &&
                          !ino_drained(&watcher->core);
        }
        else {
            rc = take_core(b, watcher);
            if (rc == 0 && read_kernel) {
                if (queue_read(watcher) < 0) {
                    return -1;
                }
                /* Reading called no Python code: the watcher is open. */
                read_kernel = !ino_drained(&watcher->core);
                rc = take_core(b, watcher);
            }
        }
        if (rc <= 0) {
            break;
        }
    }
    if (rc >= 0 && !watcher->closed && !watcher->reading) {
        loop_maybe_resume(watcher);
    }
    return rc < 0 ? -1 : 0;
}

PyObject *
batch_take(WatcherObject *watcher, PyObject *first, Py_ssize_t max_events)
{
    BatchObject *b = batch_new(watcher->st);

    if (b == NULL) {
        return NULL;
    }
    if (first != NULL && first != Py_None) {
        if (append_event(b, Py_NewRef(first)) < 0) {
            Py_DECREF(first);
            Py_DECREF(b);
            return NULL;
        }
    }
    if (fill(b, watcher, max_events) < 0) {
        Py_DECREF(b);
        return NULL;
    }
    return (PyObject *)b;
}

/* ---- reading ------------------------------------------------------------ */

/* The Event at i (0 <= i < len), made on first use: a new reference, or
 * NULL with an exception. */
static PyObject *
batch_event(BatchObject *b, Py_ssize_t i)
{
    batch_rec *r = &b->recs[i];
    const char *name;
    PyObject *event;

    if (ensure_made(b) < 0) {
        return NULL;
    }
    if (b->made[i] != NULL) {
        return Py_NewRef(b->made[i]);
    }
    name = b->names + r->name_off;
    Py_XINCREF(r->watch); /* the Event's own reference */
    event = event_make(b->st, (WatchObject *)r->watch, r->mask, r->cookie,
                       name, r->name_len,
                       r->has_src ? name + r->name_len : NULL, r->src_len);
    if (event == NULL) {
        return NULL;
    }
    b->made[i] = Py_NewRef(event);
    /* The Event holds the watch now; the record needs it no more. */
    Py_CLEAR(r->watch);
    return event;
}

static Py_ssize_t
batch_length(BatchObject *b)
{
    return b->len;
}

static PyObject *
batch_item(BatchObject *b, Py_ssize_t i)
{
    if (i < 0 || i >= b->len) {
        PyErr_SetString(PyExc_IndexError, "EventBatch index out of range");
        return NULL;
    }
    return batch_event(b, i);
}

/* A list of the Events from start, step by step, n of them. */
static PyObject *
batch_slice_list(BatchObject *b, Py_ssize_t start, Py_ssize_t step,
                 Py_ssize_t n)
{
    PyObject *list = PyList_New(n);
    Py_ssize_t k;

    for (k = 0; list != NULL && k < n; k++) {
        PyObject *event = batch_event(b, start + k * step);

        if (event == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, k, event);
    }
    return list;
}

static PyObject *
batch_subscript(BatchObject *b, PyObject *key)
{
    Py_ssize_t i, start, stop, step, n;

    if (PySlice_Check(key)) {
        if (PySlice_Unpack(key, &start, &stop, &step) < 0) {
            return NULL;
        }
        n = PySlice_AdjustIndices(b->len, &start, &stop, step);
        return batch_slice_list(b, start, step, n);
    }
    if (!PyIndex_Check(key)) {
        PyErr_Format(PyExc_TypeError,
                     "EventBatch indices must be integers or slices, not %s",
                     Py_TYPE(key)->tp_name);
        return NULL;
    }
    i = PyNumber_AsSsize_t(key, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return batch_item(b, i < 0 ? i + b->len : i);
}

/* Every Event, as a new list. */
static PyObject *
batch_to_list(BatchObject *b)
{
    return batch_slice_list(b, 0, 1, b->len);
}

/* self or other as a list (a new reference), or NULL without an exception
 * when it is neither a batch, a list nor a tuple. */
static PyObject *
as_list(PyObject *obj, PyTypeObject *batch_type)
{
    if (Py_IS_TYPE(obj, batch_type)) {
        return batch_to_list((BatchObject *)obj);
    }
    if (PyList_Check(obj) || PyTuple_Check(obj)) {
        return PySequence_List(obj);
    }
    return NULL;
}

static PyObject *
batch_richcompare(PyObject *self, PyObject *other, int op)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject *a, *c, *r;

    if (op != Py_EQ && op != Py_NE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    /* Tuples are not lists: a list never equals a tuple either. */
    if (!Py_IS_TYPE(other, tp) && !PyList_Check(other)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (PyObject_Length(other) != ((BatchObject *)self)->len) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        return PyBool_FromLong(op == Py_NE);
    }
    a = batch_to_list((BatchObject *)self);
    c = a == NULL ? NULL : as_list(other, tp);
    r = c == NULL ? NULL : PyObject_RichCompare(a, c, op);
    Py_XDECREF(a);
    Py_XDECREF(c);
    return r;
}

/* batch + list, list + batch, batch + batch: a new list. */
static PyObject *
batch_add(PyObject *x, PyObject *y)
{
    PyTypeObject *tp = Py_IS_TYPE(x, Py_TYPE(y)) || !PyList_Check(x)
                           ? Py_TYPE(x)
                           : Py_TYPE(y);
    PyObject *a = as_list(x, tp), *c, *r;

    if (a == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NOTIMPLEMENTED;
    }
    c = as_list(y, tp);
    if (c == NULL) {
        Py_DECREF(a);
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NOTIMPLEMENTED;
    }
    r = PySequence_Concat(a, c);
    Py_DECREF(a);
    Py_DECREF(c);
    return r;
}

static PyObject *
batch_repr(BatchObject *b)
{
    PyObject *list = batch_to_list(b), *text;

    if (list == NULL) {
        return NULL;
    }
    text = PyUnicode_FromFormat("EventBatch(%R)", list);
    Py_DECREF(list);
    return text;
}

static PyObject *
batch_iter(BatchObject *b)
{
    return PySeqIter_New((PyObject *)b);
}

/* count(value) and index(value, start, stop), as list's. */
static PyObject *
batch_count(BatchObject *b, PyObject *value)
{
    Py_ssize_t i, n = 0;

    for (i = 0; i < b->len; i++) {
        PyObject *event = batch_event(b, i);
        int eq =
            event == NULL ? -1 : PyObject_RichCompareBool(event, value, Py_EQ);

        Py_XDECREF(event);
        if (eq < 0) {
            return NULL;
        }
        n += eq;
    }
    return PyLong_FromSsize_t(n);
}

static PyObject *
batch_index(BatchObject *b, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t i, start = 0, stop = PY_SSIZE_T_MAX;

    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "index expected 1 to 3 arguments, got %zd", nargs);
        return NULL;
    }
    /* Out-of-range bounds are clipped, as slice indices are. */
    if ((nargs > 1 && (start = PyNumber_AsSsize_t(args[1], NULL)) == -1 &&
         PyErr_Occurred()) ||
        (nargs > 2 && (stop = PyNumber_AsSsize_t(args[2], NULL)) == -1 &&
         PyErr_Occurred())) {
        return NULL;
    }
    if (start < 0) {
        start = start + b->len < 0 ? 0 : start + b->len;
    }
    if (stop < 0) {
        stop = stop + b->len < 0 ? 0 : stop + b->len;
    }
    for (i = start; i < stop && i < b->len; i++) {
        PyObject *event = batch_event(b, i);
        int eq = event == NULL
                     ? -1
                     : PyObject_RichCompareBool(event, args[0], Py_EQ);

        Py_XDECREF(event);
        if (eq < 0) {
            return NULL;
        }
        if (eq) {
            return PyLong_FromSsize_t(i);
        }
    }
    PyErr_SetString(PyExc_ValueError, "event is not in the batch");
    return NULL;
}

/* ---- life --------------------------------------------------------------- */

static int
batch_traverse(BatchObject *b, visitproc visit, void *arg)
{
    Py_ssize_t i;

    Py_VISIT(Py_TYPE(b));
    for (i = 0; i < b->len; i++) {
        Py_VISIT(b->recs[i].watch);
        if (b->made != NULL) {
            Py_VISIT(b->made[i]);
        }
    }
    return 0;
}

static int
batch_clear(BatchObject *b)
{
    Py_ssize_t i, n = b->len;

    /* Emptied first: what the decrefs run finds an empty batch. */
    b->len = 0;
    for (i = 0; i < n; i++) {
        Py_CLEAR(b->recs[i].watch);
        if (b->made != NULL) {
            Py_CLEAR(b->made[i]);
        }
    }
    return 0;
}

static void
batch_dealloc(BatchObject *b)
{
    PyTypeObject *tp = Py_TYPE(b);

    PyObject_GC_UnTrack(b);
    batch_clear(b);
    PyMem_Free(b->recs);
    PyMem_Free(b->made);
    PyMem_Free(b->names);
    tp->tp_free((PyObject *)b);
    Py_DECREF(tp);
}

static PyMethodDef batch_methods[] = {
    {"count", (PyCFunction)batch_count, METH_O,
     "count($self, value, /)\n--\n\nThe number of times value occurs."},
    {"index", (PyCFunction)(void (*)(void))batch_index, METH_FASTCALL,
     "index($self, value, start=0, stop=sys.maxsize, /)\n--\n\nThe first "
     "index of value; ValueError if it is not present."},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS,
     "See PEP 585."},
    {NULL},
};

static PyType_Slot batch_slots[] = {
    {Py_tp_doc,
     "The Events of one get_batch() or get_batch_nowait(): a read-only "
     "sequence (as a list for reading) whose Events are made when first "
     "touched."},
    {Py_tp_dealloc, batch_dealloc},
    {Py_tp_traverse, batch_traverse},
    {Py_tp_clear, batch_clear},
    {Py_tp_repr, batch_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_richcompare, batch_richcompare},
    {Py_tp_iter, batch_iter},
    {Py_tp_methods, batch_methods},
    {Py_sq_length, batch_length},
    {Py_sq_item, batch_item},
    {Py_mp_length, batch_length},
    {Py_mp_subscript, batch_subscript},
    {Py_nb_add, batch_add},
    {0, NULL},
};

static PyType_Spec batch_spec = {
    .name = "inotipy._inotipy.EventBatch",
    .basicsize = sizeof(BatchObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION |
             Py_TPFLAGS_SEQUENCE,
    .slots = batch_slots,
};

int
batch_init_type(PyObject *module, inotipy_state *st)
{
    return inotipy_types_add(module, &batch_spec, NULL, &st->batch_type);
}
