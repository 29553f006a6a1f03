/*
 * changes.c: change sets, the watchfiles-style view awatch() and watch()
 * give: every ready event folded into a set of (Change, path) tuples,
 * without making an Event for the core's events.
 */
#include <string.h>
#include <sys/inotify.h>

#include "changes.h"

#include "errors.h"
#include "event.h"
#include "loop.h"
#include "names.h"
#include "queue.h"

/* Names up to this long are remembered from one event to the next. */
#define CHANGES_NAME_CACHE 256

/* The kind of change an event's mask is; the values index kinds[]. */
typedef enum {
    CHANGE_NONE = -1,            /* opens, reads, IGNORED: not a change */
    CHANGE_ADDED,
    CHANGE_MODIFIED,
    CHANGE_DELETED,
    CHANGE_CLOSED,               /* finished writing: only when asked for */
    CHANGE_KINDS                 /* how many kinds there are */
} change_kind;

/* What one _take_changes() call adds to, and what it found. */
typedef struct {
    PyObject *changes;           /* the set of (kind, path) tuples */
    PyObject *kinds[CHANGE_KINDS]; /* the Change members, borrowed; the
                                    * closed one NULL unless asked for */
    Py_ssize_t taken;            /* events taken */
    int overflowed;              /* 1 once IN_Q_OVERFLOW was among them */
    /* The path of the last core event: a burst gives each file several
     * events in a row (CREATE, MODIFY, CLOSE_WRITE), and only the first
     * needs a path made and the set looked at. */
    WatchObject *last_watch;     /* strong, or NULL: no last path */
    PyObject *last_path;         /* strong: last_watch's path + last_name */
    unsigned last_kinds;         /* 1 << kind for each (kind, last_path)
                                    known to be in the set */
    uint32_t last_len;           /* bytes in last_name */
    char last_name[CHANGES_NAME_CACHE];
} change_set;

/* The kernel never folds IN_CLOSE_WRITE into a record with another event
 * bit, so a record that has it is the close alone. */
static change_kind
kind_of(const change_set *set, uint32_t mask)
{
    if ((mask & IN_CLOSE_WRITE) && set->kinds[CHANGE_CLOSED] != NULL) {
        return CHANGE_CLOSED;
    }
    if (mask & (IN_CREATE | IN_MOVED_TO)) {
        return CHANGE_ADDED;
    }
    if (mask & (IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF |
                IN_UNMOUNT)) {
        return CHANGE_DELETED;
    }
    if (mask & (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)) {
        return CHANGE_MODIFIED;
    }
    return CHANGE_NONE;
}

/* Adds (kinds[kind], path) to the set (path: a new reference, dropped
 * here).  As in watchfiles, a path added in this set is not also reported
 * modified.  Returns 0 when (kind, path) is in the set now, 1 when it was
 * not added because (added, path) is there, -1 on error. */
static int
add_path_change(change_set *set, change_kind kind, PyObject *path)
{
    PyObject *item;
    int rc = 0;

    if (kind == CHANGE_MODIFIED) {
        item = PyTuple_Pack(2, set->kinds[CHANGE_ADDED], path);
        rc = item == NULL ? -1 : PySet_Contains(set->changes, item);
        Py_XDECREF(item);
    }
    if (rc != 0) {
        Py_DECREF(path);
        return rc < 0 ? -1 : 1;
    }
    item = PyTuple_Pack(2, set->kinds[kind], path);
    Py_DECREF(path);
    if (item == NULL) {
        return -1;
    }
    rc = PySet_Add(set->changes, item);
    Py_DECREF(item);
    return rc;
}

/* Adds (kinds[kind], watch path joined with name) to the set. */
static int
add_change(change_set *set, change_kind kind, WatchObject *watch,
           PyObject *name)
{
    PyObject *path;

    if (kind == CHANGE_NONE || watch == NULL) {
        return 0;
    }
    path = names_join(watch->pathname, name);
    if (path == NULL) {
        return -1;
    }
    return add_path_change(set, kind, path) < 0 ? -1 : 0;
}

/* Adds one Event object (the one get() returned, or one given back). */
static int
add_event_change(change_set *set, PyObject *obj)
{
    EventObject *event = (EventObject *)obj;
    PyObject *watch = event->watch, *name;

    if (event->mask & IN_Q_OVERFLOW) {
        set->overflowed = 1;
        return 0;
    }
    if (watch == NULL || watch == Py_None) {
        return 0;
    }
    name = event_name(event);
    if (name == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return add_change(set, kind_of(set, event->mask), (WatchObject *)watch,
                      name);
}

/* Forgets the last path (at the end of a call, or for a name too long to
 * remember). */
static void
forget_last(change_set *set)
{
    Py_CLEAR(set->last_watch);
    Py_CLEAR(set->last_path);
}

/* The path of a core event (a new reference): the last one again when the
 * event is of the same watch and name (*same set), else made and
 * remembered when the name is short enough. */
static PyObject *
core_event_path(WatcherObject *watcher, change_set *set, WatchObject *watch,
                const ino_event *ev, int *same)
{
    PyObject *name, *path;

    *same = set->last_watch == watch && set->last_len == ev->name_len &&
            memcmp(set->last_name, ev->name, ev->name_len) == 0;
    if (*same) {
        return Py_NewRef(set->last_path);
    }
    name = ev->name_len == 0
               ? Py_NewRef(watch->is_bytes ? watcher->st->empty_bytes
                                           : watcher->st->empty_str)
               : names_decode(watch, ev->name, ev->name_len);
    path = name == NULL ? NULL : names_join(watch->pathname, name);
    Py_XDECREF(name);
    forget_last(set);
    if (path != NULL && ev->name_len <= CHANGES_NAME_CACHE) {
        set->last_watch = (WatchObject *)Py_NewRef((PyObject *)watch);
        set->last_path = Py_NewRef(path);
        set->last_len = ev->name_len;
        set->last_kinds = 0;
        memcpy(set->last_name, ev->name, ev->name_len);
    }
    return path;
}

/* Adds a core event's change: a file's second and later events in a row
 * (MODIFY, CLOSE_WRITE after CREATE) cost a comparison of names. */
static int
add_core_path_change(WatcherObject *watcher, change_set *set, change_kind kind,
                     WatchObject *watch, const ino_event *ev)
{
    unsigned bit = 1u << kind, added = 1u << CHANGE_ADDED;
    int same, rc;
    PyObject *path;

    if (set->last_watch == watch &&
        (set->last_kinds & bit ||
         (kind == CHANGE_MODIFIED && set->last_kinds & added))) {
        /* Known to be in the set already, if the name is the same. */
        if (set->last_len == ev->name_len &&
            memcmp(set->last_name, ev->name, ev->name_len) == 0) {
            return 0;
        }
    }
    path = core_event_path(watcher, set, watch, ev, &same);
    if (path == NULL) {
        return -1;
    }
    /* The set's code may run Python code (a subclass's __eq__), which
     * cannot reach this call's last path: it stays valid. */
    same = same || set->last_path == path;
    rc = add_path_change(set, kind, path);
    if (rc < 0) {
        return -1;
    }
    if (same) {
        set->last_kinds |= rc == 1 ? added : bit;
    }
    return 0;
}

/* Adds one core event without making an Event for it. */
static int
add_core_change(WatcherObject *watcher, change_set *set, const ino_event *ev)
{
    WatchObject *watch = (WatchObject *)ev->udata;
    change_kind kind = kind_of(set, ev->mask);
    int rc = 0;

    if (ev->mask & IN_Q_OVERFLOW) {
        set->overflowed = 1;
    }
    else if (kind != CHANGE_NONE && watch != NULL) {
        rc = add_core_path_change(watcher, set, kind, watch, ev);
    }
    if (watch != NULL && ev->released) {
        /* IN_IGNORED: the table's reference to the Watch is ours. */
        watch->valid = 0;
        Py_DECREF(watch);
    }
    return rc;
}

/* Moves one given-back Event into the set: 1, 0 when none, -1. */
static int
take_given_back_change(WatcherObject *watcher, change_set *set)
{
    PyObject *event;
    int rc = queue_take_given_back(watcher, &event);

    if (rc <= 0) {
        return rc;
    }
    if (add_event_change(set, event) < 0) {
        /* Keep the event for the next caller rather than lose it. */
        queue_give_back_on_error(watcher, event);
        Py_DECREF(event);
        return -1;
    }
    Py_DECREF(event);
    set->taken++;
    return 1;
}

/* Moves one core event into the set: 1, 0 when none, -1. */
static int
take_core_change(WatcherObject *watcher, change_set *set)
{
    ino_event ev;
    int rc = queue_next_core(watcher, &ev);

    if (rc <= 0) {
        return rc;
    }
    if (add_core_change(watcher, set, &ev) < 0) {
        return -1;
    }
    loop_maybe_resume(watcher);
    set->taken++;
    return 1;
}

/* Takes every ready event, given-back ones first, then the core's, reading
 * the kernel until a read sees its queue empty (as get_batch_nowait()). */
static int
take_ready_changes(WatcherObject *watcher, change_set *set)
{
    int rc, read_kernel = 1;

    for (;;) {
        /* A warning filter, or the kinds' __hash__ and __eq__, run Python
         * code that may have closed the watcher: then stop here.  A get()
         * that still waits goes first: stop for it too. */
        if (watcher->closed || PyList_GET_SIZE(watcher->waiters) > 0) {
            return 0;
        }
        rc = take_given_back_change(watcher, set);
        if (rc == 0) {
            rc = take_core_change(watcher, set);
        }
        if (rc < 0) {
            return -1;
        }
        if (rc > 0) {
            continue;
        }
        if (!read_kernel) {
            return 0;
        }
        if (queue_read(watcher) < 0) {
            return -1;
        }
        read_kernel = !ino_drained(&watcher->core);
        if (!ino_pending(&watcher->core)) {
            return 0;
        }
    }
}

/* Unpacks (changes, added, modified, deleted, first=None, closed=None)
 * into set and *first. */
static int
parse_take_args(WatcherObject *watcher, PyObject *const *args,
                Py_ssize_t nargs, change_set *set, PyObject **first)
{
    if (nargs < 4 || nargs > 6) {
        PyErr_SetString(PyExc_TypeError,
                        "_take_changes(changes, added, modified, deleted, "
                        "first=None, closed=None)");
        return -1;
    }
    set->changes = args[0];
    set->kinds[CHANGE_ADDED] = args[1];
    set->kinds[CHANGE_MODIFIED] = args[2];
    set->kinds[CHANGE_DELETED] = args[3];
    set->kinds[CHANGE_CLOSED] =
        nargs == 6 && args[5] != Py_None ? args[5] : NULL;
    set->taken = 0;
    set->overflowed = 0;
    set->last_watch = NULL;
    set->last_path = NULL;
    set->last_kinds = 0;
    set->last_len = 0;
    *first = nargs >= 5 ? args[4] : Py_None;
    if (!PySet_Check(set->changes)) {
        PyErr_SetString(PyExc_TypeError, "changes must be a set");
        return -1;
    }
    if (*first != Py_None &&
        !PyObject_TypeCheck(*first, watcher->st->event_type)) {
        PyErr_SetString(PyExc_TypeError, "first must be an Event");
        return -1;
    }
    return 0;
}

/* Moves every event that is ready (the kernel polled, as
 * get_batch_nowait() does; earlier get() waiters are served first) into
 * the set as (kind, path) tuples, and first (an Event) with them.  Given
 * closed, an IN_CLOSE_WRITE is (closed, path) rather than a
 * modification.
 * Returns (events taken, whether IN_Q_OVERFLOW was among them). */
PyObject *
changes_take(WatcherObject *watcher, PyObject *const *args, Py_ssize_t nargs)
{
    change_set set;
    PyObject *first;
    int rc;

    if (parse_take_args(watcher, args, nargs, &set, &first) < 0) {
        return NULL;
    }
    if (first != Py_None) {
        if (add_event_change(&set, first) < 0) {
            return NULL;
        }
        set.taken++;
    }
    rc = watcher_raise_if_closed(watcher) < 0 || queue_serve(watcher) < 0 ||
         take_ready_changes(watcher, &set) < 0;
    forget_last(&set);
    if (rc) {
        return NULL;
    }
    return Py_BuildValue("nO", set.taken, set.overflowed ? Py_True : Py_False);
}
