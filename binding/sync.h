/*
 * sync.h: Watcher._sync_begin(), what `await watcher.sync()` stands on
 * (sync.c), and the hook by which a read completes the syncs it may.
 */
#ifndef INOTIPY_SYNC_H
#define INOTIPY_SYNC_H

#include "watcher.h"

/* Watcher._sync_begin(fut=None, /): begins a core sync (ino_sync_begin()).
 * Returns True when it has completed already.  Else with fut, a future of
 * the running loop, registers it, to be resolved with None when the sync
 * completes or to fail with WatcherClosedError when the watcher closes,
 * and returns False; without fut, reads the kernel once and tells whether
 * that completed it. */
PyObject *sync_begin(WatcherObject *watcher, PyObject *const *args,
                     Py_ssize_t nargs);
/* Resolves the futures of the syncs that have completed; while some still
 * wait, schedules another read on the loop.  Returns 0, or -1 with an
 * exception. */
int sync_resolve(WatcherObject *watcher);
/* close(): every waiting future fails with WatcherClosedError; never
 * raises. */
void sync_fail_all(WatcherObject *watcher);

/* After every read of the kernel (queue_read()): cheap when no sync
 * waits. */
static inline int
sync_after_read(WatcherObject *watcher)
{
    if (watcher->syncs == NULL || PyList_GET_SIZE(watcher->syncs) == 0) {
        return 0;
    }
    return sync_resolve(watcher);
}

#endif /* INOTIPY_SYNC_H */
