"""Type stubs for inotipy: Linux inotify for asyncio, with a C engine."""

import asyncio
import enum
import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Collection,
    Sequence,
)
from pathlib import Path
from types import TracebackType
from typing import Any, Generator, Generic, TypeVar

_P = TypeVar("_P", str, bytes)

DEFAULT_MAX_QUEUED: int
__version__: str

class IN(enum.IntFlag):
    """The kernel's inotify bits, values as in <sys/inotify.h>."""

    ACCESS = 0x00000001
    MODIFY = 0x00000002
    ATTRIB = 0x00000004
    CLOSE_WRITE = 0x00000008
    CLOSE_NOWRITE = 0x00000010
    CLOSE = 0x00000018
    OPEN = 0x00000020
    MOVED_FROM = 0x00000040
    MOVED_TO = 0x00000080
    MOVE = 0x000000C0
    CREATE = 0x00000100
    DELETE = 0x00000200
    DELETE_SELF = 0x00000400
    MOVE_SELF = 0x00000800
    ALL_EVENTS = 0x00000FFF
    UNMOUNT = 0x00002000
    Q_OVERFLOW = 0x00004000
    IGNORED = 0x00008000
    ONLYDIR = 0x01000000
    DONT_FOLLOW = 0x02000000
    EXCL_UNLINK = 0x04000000
    MASK_CREATE = 0x10000000
    MASK_ADD = 0x20000000
    ISDIR = 0x40000000
    ONESHOT = 0x80000000
    CLOEXEC = 0x00080000
    NONBLOCK = 0x00000800

class EVENT_BIT(enum.IntEnum):
    """The bit number of each single-bit IN name: CREATE is 8."""

    ACCESS = 0
    MODIFY = 1
    ATTRIB = 2
    CLOSE_WRITE = 3
    CLOSE_NOWRITE = 4
    OPEN = 5
    MOVED_FROM = 6
    MOVED_TO = 7
    CREATE = 8
    DELETE = 9
    DELETE_SELF = 10
    MOVE_SELF = 11
    UNMOUNT = 13
    Q_OVERFLOW = 14
    IGNORED = 15
    ONLYDIR = 24
    DONT_FOLLOW = 25
    EXCL_UNLINK = 26
    MASK_CREATE = 28
    MASK_ADD = 29
    ISDIR = 30
    ONESHOT = 31
    CLOEXEC = 19
    NONBLOCK = 11
    @property
    def mask(self) -> int:
        """The bit as a mask: ``1 << value``."""

class STOP_ON(enum.Enum):
    """Conditions that end Watcher.iter_async()."""

    TIMEOUT = 1

def decode_mask(mask: int) -> list[EVENT_BIT | str]:
    """The set bits of mask, lowest first, as EVENT_BIT members; an
    unnamed bit N appears as the string '?N'."""

def get_event_loop() -> asyncio.AbstractEventLoop:
    """The running loop if there is one, else the policy's loop."""

class WatcherClosedError(ValueError):
    """An operation on a closed Watcher, or a get() that was waiting when
    the watcher was closed."""

class TreeWarning(RuntimeWarning):
    """Part of a watched tree could not be watched (no permission, or the
    watch limit was reached); the rest is still watched."""

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
    @property
    def src_path(self) -> _P | None:
        """For a MOVED_TO paired with a MOVED_FROM in the same tree: the
        path it moved from; else None."""

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
    def watch_tree(
        self,
        path: _P | os.PathLike[_P],
        mask: int = ...,
        *,
        exclude: Collection[str | bytes] = (),
        follow_symlinks: bool = False,
    ) -> Watch[_P]:
        """Watches a directory and every directory below it, now and later;
        returns the root's Watch.  Events carry the path below the root as
        their pathname (event.path is the full path); a directory that
        appears is watched, then scanned, and what the scan finds is
        reported as CREATE.  Names matching an exclude glob are neither
        watched nor reported.  Raises NotADirectoryError for a file, and
        OSError naming max_user_watches when the limit is reached (nothing
        of the tree stays watched then)."""
    @property
    def watch_count(self) -> int:
        """Kernel watches held, a tree's directories included."""
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
    def get_batch_nowait(self, max_events: int | None = None) -> list[Event[Any]]:
        """Every Event that is ready (the kernel is polled), at most
        max_events."""
    async def get_batch(
        self, timeout: float | None = None, max_events: int | None = None
    ) -> list[Event[Any]]:
        """Waits like get(timeout) for one event, then returns it with all
        others that are ready (at most max_events); [] on a timeout."""
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

# ---- change sets (awatch / watch): watchfiles' arguments and results ------

class Change(enum.IntEnum):
    """The kind of a change, numbered as watchfiles numbers them."""

    added = 1
    modified = 2
    deleted = 3
    def raw_str(self) -> str: ...

FileChange = tuple[Change, str]

class BaseFilter:
    """Ignores paths by directory name, name pattern (regex, on the last
    component) and prefix; call it with (change, path): True keeps."""

    ignore_dirs: Sequence[str]
    ignore_entity_patterns: Sequence[str]
    ignore_paths: Sequence[str | Path]
    def __init__(self) -> None: ...
    def __call__(self, change: Change, path: str) -> bool: ...

class DefaultFilter(BaseFilter):
    """Ignores what editors, VCSs, caches and package managers leave."""

    def __init__(
        self,
        *,
        ignore_dirs: Sequence[str] | None = None,
        ignore_entity_patterns: Sequence[str] | None = None,
        ignore_paths: Sequence[str | Path] | None = None,
    ) -> None: ...

class PythonFilter(DefaultFilter):
    """DefaultFilter, and only .py, .pyx, .pyd (and extra_extensions)."""

    extensions: tuple[str, ...]
    def __init__(
        self,
        *,
        ignore_paths: Sequence[str | Path] | None = None,
        extra_extensions: Sequence[str] = (),
    ) -> None: ...

def awatch(
    *paths: Path | str,
    watch_filter: Callable[[Change, str], bool] | None = ...,
    debounce: int = 1600,
    step: int = 50,
    stop_event: Any = None,
    rust_timeout: int | None = None,
    yield_on_timeout: bool = False,
    debug: bool | None = None,
    raise_interrupt: bool | None = None,
    force_polling: bool | None = None,
    poll_delay_ms: int = 300,
    recursive: bool = True,
    ignore_permission_denied: bool | None = None,
    exclude: Sequence[str] = (),
) -> AsyncGenerator[set[FileChange], None]:
    """Yields sets of (Change, path), grouped while changes keep coming
    (at most debounce ms, until step ms pass without one)."""

def watch(
    *paths: Path | str,
    watch_filter: Callable[[Change, str], bool] | None = ...,
    debounce: int = 1600,
    step: int = 50,
    stop_event: Any = None,
    rust_timeout: int = 5000,
    yield_on_timeout: bool = False,
    debug: bool | None = None,
    raise_interrupt: bool = True,
    force_polling: bool | None = None,
    poll_delay_ms: int = 300,
    recursive: bool = True,
    ignore_permission_denied: bool | None = None,
    exclude: Sequence[str] = (),
) -> Generator[set[FileChange], None, None]:
    """The blocking twin of awatch(), for code without an event loop."""
