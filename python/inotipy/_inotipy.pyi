"""Type stub of inotipy._inotipy, the C binding: watchers, watches, events.

Only the extension is stubbed here; the Python layer (the Watcher
subclass, the enums, change sets) is typed in its own .py files.  Event
and Watch are generic in the type of their paths, str or bytes, as
os.DirEntry is: a watch made with a bytes path gives bytes names.
"""

import asyncio
import os
from collections.abc import Callable, Collection, Generator, Iterator, Sequence
from types import GenericAlias, TracebackType
from typing import (
    Any,
    ClassVar,
    Generic,
    Literal,
    SupportsIndex,
    TypeVar,
    final,
    overload,
)

from typing_extensions import Self

import inotipy

_P = TypeVar("_P", str, bytes)
_T_co = TypeVar("_T_co", covariant=True)

DEFAULT_MAX_QUEUED: int
"""The default bound of a watcher's user-space queue, in events."""

class WatcherClosedError(ValueError):
    """An operation on a closed Watcher, or a get() that was waiting when
    the watcher was closed."""

class TreeWarning(RuntimeWarning):
    """Part of a watched tree could not be watched (no permission, or the
    watch limit was reached); the rest is still watched."""

@final
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
    def watcher(self) -> inotipy.Watcher:
        """The Watcher this watch belongs to.  Typed as the public class:
        every Watch handed to users comes from one."""
    def remove(self) -> None:
        """Stops watching; idempotent.  The IN_IGNORED that follows is
        still delivered."""
    def replace_mask(self, mask: int, /) -> None:
        """Sets a new mask (merged with the old one given IN.MASK_ADD)."""
    def entries(
        self,
    ) -> list[
        tuple[
            _P,
            Literal["dir", "file", "symlink", "other"] | None,
            int | None,
            int | None,
        ]
    ]:
        """The tree's index, from memory: (path, kind, size, mtime_ns) for
        every entry below the root, each directory before what it holds."""
    def save_state(
        self, path: str | bytes | os.PathLike[str] | os.PathLike[bytes], /
    ) -> None:
        """Writes the tree's index to path (docs/state-format.md),
        atomically: a temporary file in its directory, synced, renamed
        over it, the directory synced; path is untouched on failure.
        watch_tree(..., since=path) then tells what changed in between.
        Take every queued event first (RuntimeError otherwise): the index
        holds them already.  TypeError for a watch that is no tree,
        ValueError for a tree without an index of files or removed,
        OSError (with the path) when the file cannot be written."""

@final
class Event(Generic[_P]):
    """One inotify event: the Watch, the mask, the cookie and the name."""

    def __new__(
        cls,
        watch: Watch[_P] | None,
        mask: int,
        cookie: int = 0,
        pathname: _P = ...,
    ) -> Self: ...
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

@final
class EventBatch(Sequence[Event[_P]]):
    """The Events of one get_batch() or get_batch_nowait(): a read-only
    sequence, as a list for reading (len, indexing, slices as lists,
    iteration, ==/!= with lists, + to a list), whose Events are made when
    first touched (the same index gives the same Event).  list(batch)
    gives a list to change."""

    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: SupportsIndex, /) -> Event[_P]: ...
    @overload
    def __getitem__(self, index: slice, /) -> list[Event[_P]]: ...
    def __iter__(self) -> Iterator[Event[_P]]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __add__(
        self, other: EventBatch[_P] | list[Event[_P]], /
    ) -> list[Event[_P]]: ...
    def __radd__(
        self, other: EventBatch[_P] | list[Event[_P]], /
    ) -> list[Event[_P]]: ...
    def count(self, value: object, /) -> int:
        """The number of times value occurs."""
    def index(
        self,
        value: object,
        start: SupportsIndex = 0,
        stop: SupportsIndex = ...,
        /,
    ) -> int:
        """The first index of value; ValueError if it is not present."""
    def __class_getitem__(cls, item: Any, /) -> GenericAlias: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

class _GetAwaitable(Generic[_T_co]):
    """What get() and async iteration return (GetAwaitable in C, not
    exported): awaiting it gives the event."""

    def __await__(self) -> Generator[Any, None, _T_co]: ...

class Watcher:
    """An inotify instance whose events are awaited on asyncio.  It binds
    to the loop it is first awaited in (or to ``loop`` at once).  The
    public inotipy.Watcher subclasses it."""

    def __new__(
        cls,
        flags: int = 0,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_queued: int = ...,
    ) -> Self: ...
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
        index_files: bool = True,
        progress: Callable[[int], object] | None = None,
        since: str
        | bytes
        | os.PathLike[str]
        | os.PathLike[bytes]
        | None = None,
    ) -> Watch[_P]:
        """Watches a directory and every directory below it, now and later;
        returns the root's Watch.  Events carry the path below the root as
        their pathname (event.path is the full path); a directory that
        appears is watched, then scanned, and what the scan finds is
        reported as CREATE.  Names matching an exclude glob are neither
        watched nor reported.  The mask defaults to IN.ALL_EVENTS.  Raises
        NotADirectoryError for a file, and OSError naming max_user_watches
        when the limit is reached (nothing of the tree stays watched
        then).  since=path (a file Watch.save_state() wrote) starts the
        tree from that index instead of a scan: what changed meanwhile
        comes first, as events with IN.RESCAN, then one IN.SYNCED;
        InvalidStateFile when the file cannot be used."""
    @property
    def watch_count(self) -> int:
        """Kernel watches held, a tree's directories included."""
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
    def get(
        self, timeout: float | None = None
    ) -> _GetAwaitable[Event[Any] | None]:
        """Awaitable: the next Event, or None when timeout seconds pass
        first (a deadline).  get(0) polls the kernel; a negative timeout
        is 0.  Cancelling loses no event."""
    def get_nowait(self) -> Event[Any] | None:
        """The next Event if one is ready (the kernel is polled), else
        None."""
    def get_batch_nowait(
        self, max_events: int | None = None
    ) -> EventBatch[Any]:
        """Every Event that is ready (the kernel is polled), at most
        max_events."""
    def _batch(
        self, first: Event[Any] | None, max_events: int | None, /
    ) -> EventBatch[Any]:
        """For get_batch(): first (what get() returned; None after a
        timeout gives an empty batch) and every Event ready after it,
        max_events in all."""
    def close(self) -> None:
        """Closes the watcher; idempotent.  Waiting get() calls raise
        WatcherClosedError; async for ends."""
    def _take_changes(
        self,
        changes: set[Any],
        added: object,
        modified: object,
        deleted: object,
        first: Event[Any] | None = None,
        closed: object = None,
        /,
    ) -> tuple[int, bool]:
        """For awatch()/watch(): moves every event that is ready (the
        kernel polled; earlier get() waiters are served first) into
        changes as (kind, path) tuples, first with them, the kind being
        one of added, modified, deleted, or closed for IN_CLOSE_WRITE
        when closed is given (else that is a modification).  Returns the
        events taken and whether IN_Q_OVERFLOW was among them."""
    def _sync_begin(self, fut: asyncio.Future[None] | None = None, /) -> bool:
        """For Watcher.sync(): begins a sync.  True when it has completed
        already; else with fut, fut is resolved with None when it
        completes (or fails with WatcherClosedError), and False is
        returned; without fut, the kernel is read once and the result
        tells whether that completed it."""
    def _poll_add(
        self, wd: int, dirs: Sequence[bytes], delay_ms: int, /
    ) -> int:
        """For watch_tree(backend=...): marks each of dirs (paths below the
        root of the tree whose root has watch wd; b"" is the root) polled
        and polls the tree every delay_ms from now on, by a timer of the
        asyncio loop, or when _poll_due() is called.  Returns how many
        directories the tree polls."""
    def _save_state(
        self,
        path: str | bytes | os.PathLike[str] | os.PathLike[bytes],
        watches: Sequence[Watch[Any]],
        /,
    ) -> None:
        """For awatch(state_file=...): Watch.save_state() of several trees
        of this watcher into one file."""
    def _poll_due(self) -> float | None:
        """Runs the polls that are due; returns the seconds until the next
        one, or None when no tree is polled."""
    def _hold_reading(self, hold: bool, /) -> None:
        """For awatch(): with True, the watcher's reader leaves the
        asyncio loop (the caller reads the kernel through _take_changes()
        a slice at a time); with False it comes back.  A get() that waits
        brings it back too."""
    def _poll_now(self) -> int:
        """Every polled tree owes a poll, run by the next read; returns
        their number."""
    def _use_fanotify(self) -> None:
        """For watch_tree(backend="fanotify"): makes this watcher, which
        must have no watch yet, a fanotify watcher (its descriptor keeps
        its number).  OSError from fanotify_init() (EPERM without
        CAP_SYS_ADMIN, EINVAL before Linux 5.9), OSError EBUSY when it
        has watches."""
    def _is_fanotify(self) -> bool:
        """True for a fanotify watcher."""
    def _use_inotify(self) -> None:
        """Makes a fanotify watcher that has no tree back an inotify
        watcher (OSError EBUSY while it has trees)."""
    def _stats(self) -> tuple[int, int, int, int, int, int, int, int]:
        """For Watcher.stats(): (watches, queued, peak_queued, delivered,
        overflows, rescans, tree_dirs, tree_files)."""
    def _live_watches(self) -> list[Watch[Any]]:
        """The valid watches, in no order (Watcher.watches sorts them)."""
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> _GetAwaitable[Event[Any]]: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
