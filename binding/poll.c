/*
 * poll.c: the trees a watcher polls, and the timer that polls them.
 *
 * The core compares a polled tree with the disk when asked
 * (ino_tree_poll(), run by the next read that sees the kernel's queue
 * empty); here is when to ask.  Each polled tree has its delay and the
 * time its next poll is due, on CLOCK_MONOTONIC (the clock of asyncio's
 * loop.time()).  One tick runs every poll that is due, then reads the
 * kernel's queue into ours, which runs them, and serves the waiters, as
 * the Reader does when the descriptor is readable (queue_on_readable()):
 * one call into C, no thread.  The next poll of a tree is due its delay
 * after the tick that ran its last one ended, as watchfiles' poller
 * sleeps its delay between two scans.
 *
 * Who ticks: on asyncio a timer of the loop the watcher is bound to
 * (loop.call_later() with a Reader whose hook is poll_on_timer(), which
 * holds the watcher weakly, so an unclosed watcher the program dropped is
 * still collected), armed by _poll_add() when a loop runs, else by the
 * first get() that waits; on trio, the get() that waits, by its deadline
 * (inotipy._trio); without a loop, the blocking watch(), by its poll()
 * timeout (inotipy._changes).  Those two call _poll_due().
 *
 * Re-entrancy: serving waiters calls out, and what runs may close the
 * watcher (poll_close() frees the polls) or add a polled tree (the array
 * grows).  So after calling out, `closed` and watcher->polls are looked
 * at again, and trees are found by flag, not by pointer.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "poll.h"

#include "errors.h"
#include "loop.h"
#include "queue.h"

/* One polled tree. */
typedef struct poll_tree {
    int32_t wd;   /* its root's watch */
    int ran;      /* polled by the tick that runs now */
    double delay; /* seconds between the end of a tick and its next poll */
    double due;   /* when its next poll is due (CLOCK_MONOTONIC seconds) */
} poll_tree;

struct watcher_polls {
    poll_tree *trees;     /* the polled trees */
    size_t ntrees;        /* entries in trees */
    size_t cap;           /* room in trees */
    PyObject *callback;   /* a Reader whose hook is poll_on_timer() */
    PyObject *timer;      /* the asyncio.TimerHandle of the next tick, or
                             NULL when none is armed */
    PyObject *timer_loop; /* the loop it is armed on */
    double timer_due;     /* when it fires */
};

static double
now_monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The earliest time a poll is due, or INFINITY when no tree is polled. */
static double
earliest_due(const struct watcher_polls *p)
{
    double due = INFINITY;
    size_t i;

    for (i = 0; i < p->ntrees; i++) {
        if (p->trees[i].due < due) {
            due = p->trees[i].due;
        }
    }
    return due;
}

/* Cancels the armed timer, if any; never raises. */
static void
cancel_timer(WatcherObject *watcher)
{
    struct watcher_polls *p = watcher->polls;
    PyObject *timer = p->timer, *r;

    p->timer = NULL;
    Py_CLEAR(p->timer_loop);
    if (timer == NULL) {
        return;
    }
    r = PyObject_CallMethodNoArgs(timer, watcher->st->s_cancel);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)watcher);
    }
    Py_XDECREF(r);
    Py_DECREF(timer);
}

/* Arms the timer on the bound loop for the earliest due poll (cancelling
 * one armed for another time or loop).  Returns 0, or -1. */
static int
arm(WatcherObject *watcher)
{
    struct watcher_polls *p = watcher->polls;
    double due = earliest_due(p);
    PyObject *delay, *timer;

    if (watcher->loop == NULL || watcher->closed) {
        return 0;
    }
    if (p->timer != NULL && p->timer_loop == watcher->loop &&
        p->timer_due <= due) {
        return 0;
    }
    cancel_timer(watcher);
    if (due == INFINITY) {
        return 0;
    }
    delay = PyFloat_FromDouble(fmax(0.0, due - now_monotonic()));
    if (delay == NULL) {
        return -1;
    }
    timer = PyObject_CallMethodObjArgs(
        watcher->loop, watcher->st->s_call_later, delay, p->callback, NULL);
    Py_DECREF(delay);
    /* The call ran Python code: the watcher may be closed now. */
    if (timer == NULL || watcher->closed || watcher->polls != p) {
        Py_XDECREF(timer);
        return timer == NULL ? -1 : 0;
    }
    p->timer = timer;
    p->timer_loop = Py_NewRef(watcher->loop);
    p->timer_due = due;
    return 0;
}

int
poll_arm_slow(WatcherObject *watcher)
{
    return arm(watcher);
}

/* Asks the core for the polls that are due and reads, which runs them
 * and hands what they found to waiters.  Returns 0, or -1. */
static int
run_due(WatcherObject *watcher)
{
    struct watcher_polls *p = watcher->polls;
    double now = now_monotonic();
    size_t i, kept = 0;
    int owed = 0, rc;
    PyObject *r;

    for (i = 0; i < p->ntrees; i++) {
        poll_tree *t = &p->trees[i];
        if (t->due <= now) {
            rc = ino_tree_poll(&watcher->core, t->wd);
            if (rc <= 0 && rc != -ENOMEM) {
                continue; /* the tree went (or polls nothing any more) */
            }
            if (rc < 0) {
                return inotipy_raise_errno(rc, NULL);
            }
            t->ran = 1;
            t->due = INFINITY; /* set once the tick has ended */
            owed = 1;
        }
        p->trees[kept++] = *t;
    }
    p->ntrees = kept;
    if (!owed) {
        return 0;
    }
    r = queue_on_readable(watcher);
    if (r == NULL) {
        rc = -1;
    }
    else {
        Py_DECREF(r);
        rc = 0;
    }
    /* Serving called out: the watcher may be closed, the array grown. */
    if (!watcher->closed && (p = watcher->polls) != NULL) {
        now = now_monotonic();
        for (i = 0; i < p->ntrees; i++) {
            if (p->trees[i].ran) {
                p->trees[i].ran = 0;
                p->trees[i].due = now + p->trees[i].delay;
            }
        }
    }
    return rc;
}

/* The timer's hook: one tick, then the timer armed again. */
static PyObject *
poll_on_timer(WatcherObject *watcher)
{
    struct watcher_polls *p = watcher->polls;
    int rc;

    if (watcher->closed || p == NULL) {
        Py_RETURN_NONE;
    }
    /* This timer has fired: nothing to cancel. */
    Py_CLEAR(p->timer);
    Py_CLEAR(p->timer_loop);
    rc = run_due(watcher);
    if (!watcher->closed && watcher->polls != NULL) {
        if (rc < 0) {
            /* Told to the loop's exception handler; polling goes on. */
            PyErr_WriteUnraisable((PyObject *)watcher);
        }
        if (arm(watcher) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}

/* The watcher's polls, made on first use; NULL with an exception. */
static struct watcher_polls *
ensure_polls(WatcherObject *watcher)
{
    struct watcher_polls *p = watcher->polls;

    if (p != NULL) {
        return p;
    }
    p = PyMem_Calloc(1, sizeof *p);
    if (p == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    p->callback = loop_reader_new(watcher, poll_on_timer);
    if (p->callback == NULL) {
        PyMem_Free(p);
        return NULL;
    }
    watcher->polls = p;
    return p;
}

/* Polls the tree of wd every delay seconds from now on. */
static int
schedule(struct watcher_polls *p, int32_t wd, double delay)
{
    poll_tree *t = NULL;
    size_t i;

    for (i = 0; i < p->ntrees; i++) {
        if (p->trees[i].wd == wd) {
            t = &p->trees[i];
        }
    }
    if (t == NULL) {
        if (p->ntrees == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 4;
            poll_tree *grown = PyMem_Realloc(p->trees, cap * sizeof *grown);
            if (grown == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            p->trees = grown;
            p->cap = cap;
        }
        t = &p->trees[p->ntrees++];
        t->wd = wd;
        t->ran = 0;
    }
    t->delay = delay;
    t->due = now_monotonic() + delay;
    return 0;
}

/* Marks the directories of dirs polled in the tree of wd. */
static int
mark_dirs(WatcherObject *watcher, int32_t wd, PyObject *dirs)
{
    PyObject *seq = PySequence_Fast(dirs, "dirs must be a sequence of bytes");
    Py_ssize_t i;
    int rc = 0;

    if (seq == NULL) {
        return -1;
    }
    for (i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *rel = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(rel)) {
            PyErr_SetString(PyExc_TypeError,
                            "dirs must be a sequence of bytes");
            rc = -1;
            break;
        }
        rc = ino_tree_poll_at(&watcher->core, wd, PyBytes_AS_STRING(rel),
                              (size_t)PyBytes_GET_SIZE(rel));
        if (rc == -EINVAL) {
            PyErr_SetString(PyExc_ValueError,
                            "polling compares a tree with its index of "
                            "files: the tree needs index_files=True");
        }
        else if (rc == -ENOENT && ino_tree_size(&watcher->core, wd) == 0) {
            PyErr_SetString(PyExc_ValueError, "wd is not a tree's root");
        }
        else if (rc < 0) {
            inotipy_raise_errno(rc, rel);
        }
        rc = rc < 0 ? -1 : 0;
    }
    Py_DECREF(seq);
    return rc;
}

/* Binds to the running asyncio loop, if one runs, and arms the timer
 * there.  Returns 0, or -1. */
static int
arm_if_running(WatcherObject *watcher)
{
    PyObject *running = PyObject_CallNoArgs(watcher->st->get_running_loop);

    if (running == NULL) {
        return -1;
    }
    Py_DECREF(running);
    if (running == Py_None) {
        return 0; /* armed by the first get() that waits on asyncio */
    }
    if (loop_ensure(watcher) < 0) {
        return -1;
    }
    return arm(watcher);
}

PyObject *
poll_add(WatcherObject *watcher, PyObject *const *args, Py_ssize_t nargs)
{
    struct watcher_polls *p;
    long wd;
    long long ms;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "_poll_add(wd, dirs, delay_ms) takes 3 arguments");
        return NULL;
    }
    wd = PyLong_AsLong(args[0]);
    if (wd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    ms = PyLong_AsLongLong(args[2]);
    if (ms == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (ms <= 0) {
        PyErr_SetString(PyExc_ValueError, "delay_ms must be positive");
        return NULL;
    }
    if (watcher_raise_if_closed(watcher) < 0 || wd <= 0 || wd > INT32_MAX) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "wd is not a tree's root");
        }
        return NULL;
    }
    if (mark_dirs(watcher, (int32_t)wd, args[1]) < 0 ||
        watcher_raise_if_closed(watcher) < 0) {
        return NULL;
    }
    if (ino_tree_polled(&watcher->core, (int32_t)wd) == 0) {
        return PyLong_FromLong(0);
    }
    if ((p = ensure_polls(watcher)) == NULL ||
        schedule(p, (int32_t)wd, (double)ms / 1000.0) < 0 ||
        arm_if_running(watcher) < 0) {
        return NULL;
    }
    return PyLong_FromSize_t(ino_tree_polled(&watcher->core, (int32_t)wd));
}

PyObject *
poll_due(WatcherObject *watcher, PyObject *Py_UNUSED(ignored))
{
    double due;

    if (watcher_raise_if_closed(watcher) < 0) {
        return NULL;
    }
    if (watcher->polls == NULL) {
        Py_RETURN_NONE;
    }
    if (run_due(watcher) < 0 || watcher_raise_if_closed(watcher) < 0) {
        return NULL;
    }
    if (watcher->polls == NULL ||
        (due = earliest_due(watcher->polls)) == INFINITY) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(fmax(0.0, due - now_monotonic()));
}

PyObject *
poll_now(WatcherObject *watcher, PyObject *Py_UNUSED(ignored))
{
    struct watcher_polls *p = watcher->polls;
    double now = now_monotonic();
    size_t i;
    int rc;

    if (watcher_raise_if_closed(watcher) < 0) {
        return NULL;
    }
    if (p == NULL) {
        return PyLong_FromLong(0);
    }
    rc = ino_tree_poll(&watcher->core, 0);
    if (rc < 0) {
        inotipy_raise_errno(rc, NULL);
        return NULL;
    }
    for (i = 0; i < p->ntrees; i++) {
        p->trees[i].due = now + p->trees[i].delay;
    }
    return PyLong_FromLong(rc);
}

void
poll_close(WatcherObject *watcher)
{
    if (watcher->polls != NULL) {
        cancel_timer(watcher);
        poll_free(watcher);
    }
}

int
poll_traverse(WatcherObject *watcher, visitproc visit, void *arg)
{
    struct watcher_polls *p = watcher->polls;

    if (p != NULL) {
        Py_VISIT(p->timer);
        Py_VISIT(p->timer_loop);
    }
    return 0;
}

void
poll_clear(WatcherObject *watcher)
{
    struct watcher_polls *p = watcher->polls;

    if (p != NULL) {
        Py_CLEAR(p->timer);
        Py_CLEAR(p->timer_loop);
    }
}

void
poll_free(WatcherObject *watcher)
{
    struct watcher_polls *p = watcher->polls;

    if (p == NULL) {
        return;
    }
    watcher->polls = NULL;
    loop_callback_detach(p->callback);
    Py_CLEAR(p->callback);
    Py_CLEAR(p->timer);
    Py_CLEAR(p->timer_loop);
    PyMem_Free(p->trees);
    PyMem_Free(p);
}
