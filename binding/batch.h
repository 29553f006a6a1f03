/*
 * batch.h: the EventBatch object, what get_batch() and get_batch_nowait()
 * return (batch.c).
 */
#ifndef INOTIPY_BATCH_H
#define INOTIPY_BATCH_H

#include "watcher.h"

int batch_init_type(PyObject *module, inotipy_state *st);
/* Every event that is ready (the kernel polled until a read sees its queue
 * empty), at most max_events, after first (an Event that counts as one of
 * them, or NULL) as a new EventBatch; NULL with an exception. */
PyObject *batch_take(WatcherObject *watcher, PyObject *first,
                     Py_ssize_t max_events);

#endif /* INOTIPY_BATCH_H */
