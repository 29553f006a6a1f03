"""The public Watcher: the C watcher with Python's conveniences on top
(create(), watches, get_batch(), iter_async(), async with)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any

from . import _inotipy
from ._constants import STOP_ON
from ._inotipy import (
    DEFAULT_MAX_QUEUED,
    Event,
    EventBatch,
    Watch,
    WatcherClosedError,
)

__all__ = ["Watcher"]


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
