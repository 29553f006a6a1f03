"""The public Watcher: the C watcher with Python's conveniences on top
(create(), watches, get_batch(), iter_async(), sync(), async with)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Any, TypeVar

from . import _backends, _inotipy, _trio
from ._constants import IN, STOP_ON
from ._inotipy import (
    DEFAULT_MAX_QUEUED,
    Event,
    EventBatch,
    Watch,
    WatcherClosedError,
)

__all__ = ["Watcher", "WatcherStats"]

_P = TypeVar("_P", str, bytes)


def _read_limit(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class WatcherStats:
    """What Watcher.stats() tells: the watches against the limits that
    apply, and what the watcher has done since it was made."""

    #: Kernel watches this watcher holds (trees' directories included).
    watches: int
    #: /proc/sys/fs/inotify/max_user_watches: the limit per user, over
    #: every process of the user (None where it cannot be read).
    max_user_watches: int | None
    #: /proc/sys/user/max_inotify_watches: the limit of this user
    #: namespace, which applies too (None where there is none).
    user_namespace_max_watches: int | None
    #: Events read from the kernel and not yet taken.
    queued: int
    #: The most events that were ever waiting at once.
    peak_queued: int
    #: Events handed out (get(), get_batch(), async for, change sets).
    delivered: int
    #: Q_OVERFLOW events among them.
    overflows: int
    #: Trees healed (or, without a file index, repaired) after overflows.
    rescans: int
    #: Directories and indexed files of all its trees.
    tree_dirs: int
    tree_files: int

    @property
    def watch_limit(self) -> int | None:
        """The tighter of the two watch limits."""
        limits = [
            v
            for v in (self.max_user_watches, self.user_namespace_max_watches)
            if v is not None
        ]
        return min(limits) if limits else None


class Watcher(_inotipy.Watcher):
    """An inotify instance whose events are awaited on asyncio.

    ``Watcher(flags=0, loop=None, *, max_queued=DEFAULT_MAX_QUEUED)``.  It
    binds to the loop it is first awaited in (or to ``loop`` at once).
    """

    __slots__ = ()
    # Shown as inotipy.Watcher, where users find it (and where it was
    # defined before this module).
    __module__ = "inotipy"

    @classmethod
    def create(
        cls,
        flags: int = 0,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> Watcher:
        """A new watcher; the same as calling the class (not a coroutine)."""
        return cls(flags, loop, max_queued=max_queued)

    def stats(self) -> WatcherStats:
        """The watches against the limits, and what the watcher has done:
        events delivered, overflows, rescans, the queue's depth and its
        peak.  Works on a closed watcher too (its watches are then 0)."""
        (
            watches,
            queued,
            peak,
            delivered,
            overflows,
            rescans,
            tree_dirs,
            tree_files,
        ) = self._stats()
        return WatcherStats(
            watches=watches,
            max_user_watches=_read_limit(
                "/proc/sys/fs/inotify/max_user_watches"
            ),
            user_namespace_max_watches=_read_limit(
                "/proc/sys/user/max_inotify_watches"
            ),
            queued=queued,
            peak_queued=peak,
            delivered=delivered,
            overflows=overflows,
            rescans=rescans,
            tree_dirs=tree_dirs,
            tree_files=tree_files,
        )

    def watch_tree(
        self,
        path: _P | os.PathLike[_P],
        mask: int = IN.ALL_EVENTS,
        *,
        exclude: Collection[str | bytes] = (),
        follow_symlinks: bool = False,
        index_files: bool = True,
        progress: Callable[[int], object] | None = None,
        backend: str = "auto",
        poll_delay_ms: int = _backends.DEFAULT_POLL_DELAY_MS,
        since: str
        | bytes
        | os.PathLike[str]
        | os.PathLike[bytes]
        | None = None,
    ) -> Watch[_P]:
        """Watches a directory and every directory below it, now and
        later; returns the root's Watch.  Events carry the path below the
        root as their pathname.  With index_files the tree also keeps an
        index of its files, which heals it after an overflow.
        progress(dirs) is called every 1024 directories the first scan
        watches.

        backend: "auto" polls the parts of the tree on mounts inotify
        cannot fully see (network and FUSE file systems, hosts' shares:
        docs/backends.md), "poll" the whole tree, "inotify" nothing.  A
        poll compares the polled directories with the tree's index every
        poll_delay_ms milliseconds and delivers the difference as
        ordinary events marked IN.RESCAN; inotify's watches stay and tell
        at once what this kernel does there.  "fanotify" (root, Linux
        5.17) hears the tree by one fanotify mark for its file system
        instead of an inotify watch per directory: the watcher, which must
        have no watch yet, becomes a fanotify watcher, whose every tree is
        fanotify's and which takes no watch(); "auto" takes it when the
        inotify watch limit cannot hold the tree on such a watcher.

        since: a file Watch.save_state() wrote for this tree.  The tree
        starts from the index saved there instead of a scan, and what
        changed while nobody watched comes first, as events marked
        IN.RESCAN (creates, deletes, moves paired by inode with src_path,
        IN.MODIFY for a file whose size or mtime changed), then one
        IN.SYNCED, then live events.  A file that is not a state file,
        cut short, damaged, too new, or of another tree (another root,
        another file system) raises InvalidStateFile; a missing one
        FileNotFoundError."""
        return _backends.watch_tree(
            self,
            path,
            mask,
            exclude=exclude,
            follow_symlinks=follow_symlinks,
            index_files=index_files,
            progress=progress,
            backend=backend,
            poll_delay_ms=poll_delay_ms,
            since=since,
        )

    @property
    def watches(self) -> list[Watch]:
        """The live watches, sorted by pathname."""
        return sorted(self._live_watches(), key=_path_key)

    async def get_batch(
        self, timeout: float | None = None, max_events: int | None = None
    ) -> EventBatch[Any]:
        """Waits like get(timeout) for one event, then returns it with all
        others that are ready (at most max_events) as an EventBatch (a
        read-only sequence that compares equal to the list of its Events);
        an empty one on a timeout."""
        if max_events is not None and max_events < 1:
            raise ValueError("max_events must be at least 1")
        first = await self.get(timeout)
        return self._batch(first, max_events)

    async def iter_async(
        self,
        stop_on: Collection[STOP_ON] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Event | None]:
        """Yields get(timeout) results; on a timeout yields None, or stops
        when STOP_ON.TIMEOUT is in stop_on.  Ends when the watcher closes."""
        stop_on_timeout = stop_on is not None and STOP_ON.TIMEOUT in stop_on
        while not self.closed:
            try:
                event = await self.get(timeout)
            except WatcherClosedError:
                return
            if event is None and stop_on_timeout:
                return
            yield event

    async def sync(self, timeout: float | None = None) -> None:
        """Returns once every event of a change made before the call is
        queued in the watcher: get_nowait() and get_batch_nowait() give
        them without waiting (or an IN.Q_OVERFLOW stands for what the
        kernel lost).  For a tree, that includes what its scans find in
        new directories and the directories it tells moved out.  Nothing
        is written to the watched paths, so it works as well for watches
        of files and on read-only mounts.

        timeout is a deadline in seconds (None waits as long as it takes;
        0 polls the kernel once); TimeoutError when it passes first.
        Cancelling loses no event.  WatcherClosedError if the watcher is
        closed meanwhile."""
        if timeout is not None:
            # math.isnan() takes what get()'s timeout takes (a str is a
            # TypeError there, as it is not for float()).
            if math.isnan(timeout):
                raise ValueError("timeout must not be NaN")
            timeout = float(timeout)
            timeout = None if timeout == math.inf else max(timeout, 0.0)
        # Polled trees are compared with the disk by the read that
        # completes the sync: changes inotify cannot see are delivered too.
        self._poll_now()
        if timeout == 0:
            if not self._sync_begin():
                raise TimeoutError("sync(0): events are still being read")
            return
        if not _trio.on_asyncio():
            await self._sync_trio(timeout)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._sync_begin(fut):
            return
        if timeout is None:
            await fut
            return
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            # asyncio's own class before Python 3.11, the builtin after.
            raise TimeoutError(
                f"sync() did not complete within {timeout} seconds"
            ) from None

    async def _sync_trio(self, timeout: float | None) -> None:
        """sync() on trio: no future to resolve, so the kernel is read
        whenever the descriptor is readable, until a read completes it."""
        if not _trio.in_trio():
            _trio.raise_no_loop()
        import trio

        with trio.move_on_after(math.inf if timeout is None else timeout):
            while not self._sync_begin():
                if self.closed:
                    raise WatcherClosedError("the watcher was closed")
                await trio.lowlevel.wait_readable(self.fd)
            return
        raise TimeoutError(f"sync() did not complete within {timeout} seconds")

    async def __aenter__(self) -> Watcher:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.fd}"
        return f"<{type(self).__name__} {state}>"


# An EventBatch is a Sequence: isinstance() says so, as for a list.
Sequence.register(EventBatch)


def _path_key(watch: Watch) -> bytes:
    return os.fsencode(watch.pathname)
