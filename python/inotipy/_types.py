"""The protocols of the public API's arguments."""

from __future__ import annotations

from typing import Protocol

__all__ = ["StopEvent"]


class StopEvent(Protocol):
    """What awatch() and watch() take as ``stop_event``: anything that
    says whether it is set, as ``asyncio.Event``, ``anyio.Event``,
    ``trio.Event`` and ``threading.Event`` do.  awatch() on asyncio also
    awaits its ``wait()`` when that is a coroutine function."""

    def is_set(self) -> bool: ...
