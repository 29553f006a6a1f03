"""inotipy: Linux inotify for asyncio, with its engine in C.

    watcher = inotipy.Watcher.create()
    watcher.watch("some/dir", inotipy.IN.ALL_EVENTS)
    async for event in watcher:
        print(event)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection
from typing import Any

from . import _inotipy
from ._changes import (
    BaseFilter,
    Change,
    DefaultFilter,
    FileChange,
    PythonFilter,
    awatch,
    watch,
)
from ._constants import EVENT_BIT, IN, STOP_ON, decode_mask, get_event_loop
from ._inotipy import (
    DEFAULT_MAX_QUEUED,
    Event,
    TreeWarning,
    Watch,
    WatcherClosedError,
)

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "EVENT_BIT",
    "BaseFilter",
    "Change",
    "DefaultFilter",
    "Event",
    "FileChange",
    "IN",
    "PythonFilter",
    "STOP_ON",
    "TreeWarning",
    "Watch",
    "Watcher",
    "WatcherClosedError",
    "awatch",
    "decode_mask",
    "get_event_loop",
    "watch",
]

__version__ = "0.2.0.dev0"


class Watcher(_inotipy.Watcher):
    """An inotify instance whose events are awaited on asyncio.

    ``Watcher(flags=0, loop=None, *, max_queued=DEFAULT_MAX_QUEUED)``.  It
    binds to the loop it is first awaited in (or to ``loop`` at once).
    """

    __slots__ = ()

    @classmethod
    def create(
        cls,
        flags: int = 0,
        loop: Any = None,
        *,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> Watcher:
        """A new watcher; the same as calling the class (not a coroutine)."""
        return cls(flags, loop, max_queued=max_queued)

    @property
    def watches(self) -> list[Watch]:
        """The live watches, sorted by pathname."""
        return sorted(self._live_watches(), key=_path_key)

    async def get_batch(
        self, timeout: float | None = None, max_events: int | None = None
    ) -> list[Event]:
        """Waits like get(timeout) for one event, then returns it with all
        others that are ready (at most max_events); [] on a timeout."""
        if max_events is not None and max_events < 1:
            raise ValueError("max_events must be at least 1")
        first = await self.get(timeout)
        if first is None:
            return []
        rest = self.get_batch_nowait(
            None if max_events is None else max_events - 1
        )
        rest.insert(0, first)
        return rest

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

    async def __aenter__(self) -> Watcher:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "fd=%d" % self.fd
        return "<%s %s>" % (type(self).__name__, state)


def _path_key(watch: Watch) -> bytes:
    return os.fsencode(watch.pathname)
