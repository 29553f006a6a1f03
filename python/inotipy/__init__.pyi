"""Type stubs for inotipy: Linux inotify for asyncio, with a C engine."""

import asyncio
import enum
import os
from collections.abc import AsyncIterator, Collection
from types import TracebackType
from typing import Any, Generator, Generic, TypeVar

_P = TypeVar("_P", str, bytes)

DEFAULT_MAX_QUEUED: int
__version__: str

class IN(enum.IntFlag):
    """The kernel's inotify bits, values as in <sys/inotify.h>."""

    ACCESS: int
    MODIFY: int
    ATTRIB: int
    CLOSE_WRITE: int
    CLOSE_NOWRITE: int
    CLOSE: int
    OPEN: int
    MOVED_FROM: int
    MOVED_TO: int
    MOVE: int
    CREATE: int
    DELETE: int
    DELETE_SELF: int
    MOVE_SELF: int
    ALL_EVENTS: int
    UNMOUNT: int
    Q_OVERFLOW: int
    IGNORED: int
    ONLYDIR: int
    DONT_FOLLOW: int
    EXCL_UNLINK: int
    MASK_CREATE: int
    MASK_ADD: int
    ISDIR: int
    ONESHOT: int
    CLOEXEC: int
    NONBLOCK: int

class EVENT_BIT(enum.IntEnum):
    """The bit number of each single-bit IN name: CREATE is 8."""

    ACCESS: int
    MODIFY: int
    ATTRIB: int
    CLOSE_WRITE: int
    CLOSE_NOWRITE: int
    OPEN: int
    MOVED_FROM: int
    MOVED_TO: int
    CREATE: int
    DELETE: int
    DELETE_SELF: int
    MOVE_SELF: int
    UNMOUNT: int
    Q_OVERFLOW: int
    IGNORED: int
    ONLYDIR: int
    DONT_FOLLOW: int
    EXCL_UNLINK: int
    MASK_CREATE: int
    MASK_ADD: int
    ISDIR: int
    ONESHOT: int
    CLOEXEC: int
    NONBLOCK: int
    @property
    def mask(self) -> int:
        """The bit as a mask: ``1 << value``."""

class STOP_ON(enum.Enum):
    """Conditions that end Watcher.iter_async()."""

    TIMEOUT: int

def decode_mask(mask: int) -> list[EVENT_BIT | str]:
    """The set bits of mask, lowest first, as EVENT_BIT members; an
    unnamed bit N appears as the string '?N'."""

def get_event_loop() -> asyncio.AbstractEventLoop:
    """The running loop if there is one, else the policy's loop."""

class WatcherClosedError(ValueError):
    """An operation on a closed Watcher, or a get() that was waiting when
    the watcher was closed."""

class Watch(Generic[_P]):
    """One inotify watch, made by Watcher.watch(); hashable by identity."""

    @property
    def pathname(self) -> _P:
        """The watched path as given (after os.fspath())."""
    @property
    def mask(self) -> int:
        """The mask as last set."""
    @property
    def wd(self) -> int:
        """The kernel's watch descriptor."""
    @property
    def valid(self) -> bool:
        """False after remove(), close() or the watch's IN_IGNORED event."""
    @property
    def watcher(self) -> Watcher:
        """The Watcher this watch belongs to."""
    def remove(self) -> None:
        """Stops watching; idempotent.  The IN_IGNORED that follows is
        still delivered."""
    def replace_mask(self, mask: int) -> None:
        """Sets a new mask (merged with the old one given IN.MASK_ADD)."""

class Event(Generic[_P]):
    """One inotify event."""

    def __init__(
        self,
        watch: Watch[_P] | None,
        mask: int,
        cookie: int = 0,
        pathname: _P = ...,
    ) -> None: ...
    @property
    def watch(self) -> Watch[_P] | None:
        """The Watch the event came from, None for IN.Q_OVERFLOW."""
    @property
    def mask(self) -> int:
        """The kernel's mask (IN bits, IN.ISDIR included)."""
    @property
    def cookie(self) -> int:
        """Pairs IN.MOVED_FROM with IN.MOVED_TO; 0 for other events."""
    @property
    def pathname(self) -> _P:
        """The name inside the watched directory; '' for the object itself.
        bytes when the watch was made with a bytes path."""
    @property
    def name(self) -> _P:
        """Alias of pathname."""
    @property
    def wd(self) -> int | None:
        """The watch descriptor, None for IN.Q_OVERFLOW."""
    @property
    def path(self) -> _P:
        """The watch's pathname joined with the name."""

class _Get:
    def __await__(self) -> Generator[Any, None, Event[Any] | None]: ...

class _Next:
    def __await__(self) -> Generator[Any, None, Event[Any]]: ...

class Watcher:
    """An inotify instance whose events are awaited on asyncio.  It binds
    to the loop it is first awaited in (or to ``loop`` at once)."""

    def __init__(
        self,
        flags: int = 0,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_queued: int = ...,
    ) -> None: ...
    @classmethod
    def create(
        cls,
        flags: int = 0,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_queued: int = ...,
    ) -> Watcher:
        """A new watcher (a plain classmethod, not a coroutine)."""
    def watch(self, pathname: _P | os.PathLike[_P], mask: int) -> Watch[_P]:
        """Watches a path; the same inode again gives the same Watch.
        Raises the OSError subclass for the path's errno, ValueError for a
        mask with no event bit or unknown bits."""
    @property
    def watches(self) -> list[Watch[Any]]:
        """The live watches, sorted by pathname."""
    @property
    def fd(self) -> int:
        """The inotify descriptor (-1 once closed)."""
    def fileno(self) -> int:
        """The inotify descriptor."""
    @property
    def closed(self) -> bool:
        """True once close() ran."""
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the watcher is bound to, or None."""
    @property
    def queued(self) -> int:
        """Events read from the kernel and not yet taken."""
    @property
    def max_queued(self) -> int:
        """The bound of the user-space queue, in events."""
    def get(self, timeout: float | None = None) -> _Get:
        """Awaitable: the next Event, or None when timeout seconds pass
        first (a deadline).  get(0) polls the kernel; a negative timeout
        is 0.  Cancelling loses no event."""
    def get_nowait(self) -> Event[Any] | None:
        """The next Event if one is ready (the kernel is polled), else
        None."""
    def iter_async(
        self,
        stop_on: Collection[STOP_ON] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Event[Any] | None]:
        """Yields get(timeout) results; None on a timeout, or stops when
        STOP_ON.TIMEOUT is in stop_on."""
    def close(self) -> None:
        """Closes the watcher; idempotent.  Waiting get() calls raise
        WatcherClosedError; async for ends."""
    def __aiter__(self) -> Watcher: ...
    def __anext__(self) -> _Next: ...
    def __enter__(self) -> Watcher: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def __aenter__(self) -> Watcher: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
