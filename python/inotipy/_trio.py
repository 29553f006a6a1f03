"""Waiting on trio (and on anyio's trio backend).

On asyncio (uvloop and anyio's asyncio backend included) the binding waits
in C: a reader registered with ``loop.add_reader()`` fills the queue and
resolves the future of the oldest waiter.  trio has neither futures nor
``add_reader()``; what it has is ``trio.lowlevel.wait_readable(fd)``.  So
when a ``get()`` (or ``async for``) runs in a trio task, the binding hands
it to ``TrioSide.get()`` below, which waits for the descriptor there and
leaves the reading and decoding to C (``get_nowait()``).

The binding decides per ``get()``: asyncio when ``asyncio``'s loop is
running in this thread, trio when a trio run is, and it raises the error of
``raise_no_loop()`` when it must wait and neither is.  trio is imported by
the program, never by inotipy: ``in_trio()`` looks only at what is in
``sys.modules``.

What holds on trio, as on asyncio: waiters are served first come, first
served, one event each; a ``timeout`` is a deadline on trio's clock;
cancelling a ``get()`` loses no event, since an event is only taken from the
queue (synchronously) once nothing can cancel the task before it gets it;
closing the watcher wakes its waiters with ``WatcherClosedError`` (``async
for`` ends).  As trio's own functions, every ``get()`` is a checkpoint.  The
difference: the kernel's queue is read when a ``get()`` finds ours empty,
not by a reader in the background, so while a consumer is busy the kernel
holds what arrives (``/proc/sys/fs/inotify/max_queued_events``, 16384 by
default, before ``Q_OVERFLOW``).  Polled trees (``backend="poll"``, or
"auto" on a network or FUSE mount) are polled by the ``get()`` that waits,
whose wait ends when the next poll is due: while nobody waits, nobody
polls, and the next ``get()`` polls what is due.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from ._inotipy import Watcher as _CWatcher
from ._inotipy import WatcherClosedError

if TYPE_CHECKING:
    from ._inotipy import Event, Watcher

__all__ = ["TrioSide", "clock", "in_trio", "on_asyncio", "raise_no_loop"]

NO_LOOP = (
    "inotipy waits on a running asyncio event loop (uvloop and anyio's "
    "asyncio backend included) or in a trio run (anyio's trio backend "
    "included), and neither is running in this thread"
)


def in_trio() -> bool:
    """True when the caller is a task of a trio run."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def raise_no_loop() -> NoReturn:
    raise RuntimeError(NO_LOOP)


def on_asyncio() -> bool:
    """True when an asyncio loop runs in this thread."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def clock() -> Callable[[], float]:
    """The clock that get()'s timeouts are measured on where the caller
    runs: the asyncio loop's time(), or trio's current_time()."""
    import asyncio

    try:
        return asyncio.get_running_loop().time
    except RuntimeError:
        if in_trio():
            import trio

            return trio.current_time
        raise RuntimeError(NO_LOOP) from None


async def sleep(seconds: float) -> None:
    """trio.sleep(), for the caller running in trio."""
    import trio

    await trio.sleep(seconds)


class TrioSide:
    """A watcher's waiting side on trio: made by the binding the first
    time one of the watcher's get() calls runs in a trio task."""

    __slots__ = ("_lock", "_waiting")

    def __init__(self) -> None:
        import trio

        # Served first come, first served: trio's Lock hands itself to the
        # task that has waited longest.  Whoever holds it is the one task
        # that may be in wait_readable() (trio allows no second).
        self._lock = trio.Lock()
        self._waiting = False

    async def get(self, watcher: Watcher, timeout: float) -> Event[Any] | None:
        """get(timeout) on trio; timeout < 0 means none (the binding has
        turned a negative one given by the caller into 0)."""
        import trio  # what sys.modules holds: the caller runs in trio

        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._lock.locked():
            # Nobody is ahead of us: what is ready is ours.
            event = _get_nowait(watcher)
            if event is not None or timeout == 0:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return event
        elif timeout == 0:
            # What is ready goes to the waiters ahead of us.
            await trio.lowlevel.cancel_shielded_checkpoint()
            return None
        deadline = math.inf if timeout < 0 else trio.current_time() + timeout
        # Nothing below takes an event and then reaches a checkpoint: the
        # event is returned at once, through the lock's release and the
        # scope's exit, neither of which can raise Cancelled.
        with trio.move_on_at(deadline):
            async with self._lock:
                while True:
                    event = _get_nowait(watcher)
                    if event is not None:
                        return event
                    await self._wait_readable(watcher)
        return None

    async def _wait_readable(self, watcher: Watcher) -> None:
        import trio

        # A polled tree's polls run here, trio having no timer we could
        # arm: the wait ends when the next is due (_poll_due() runs the
        # ones due now, and returns at once when they found something).
        due = _poll_due(watcher)
        if due is not None and watcher.queued:
            return
        self._waiting = True
        try:
            with trio.move_on_after(math.inf if due is None else due):
                await trio.lowlevel.wait_readable(watcher.fileno())
        except trio.ClosedResourceError:
            # close() told trio first (notify_closing below).
            raise WatcherClosedError("operation on closed watcher") from None
        finally:
            self._waiting = False

    def notify_closing(self, fd: int) -> None:
        """Called by close() before the descriptor is closed: a task in
        wait_readable() on it must be woken (trio's rule), else it would
        wait forever."""
        if self._waiting:
            import trio

            trio.lowlevel.notify_closing(fd)


# The binding's own method, not a subclass's.
_get_nowait = _CWatcher.get_nowait
_poll_due = _CWatcher._poll_due
