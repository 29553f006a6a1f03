"""Change sets for reloaders: ``awatch()`` and its blocking twin ``watch()``.

They take the arguments of ``watchfiles.awatch`` / ``watchfiles.watch`` and
yield the same thing, sets of ``(Change, path)``, so a user of watchfiles
can switch by changing the import.  The engine is the C one: events are
turned into ``(kind, path)`` tuples in C (``Watcher._take_changes``) without
an ``Event`` object each, trees are watched with ``watch_tree()``, and the
directories a filter ignores by name are never watched at all.  What stays
here is which paths to watch, when a group of changes is complete (debounce
and step, in one sans-I/O ``_Grouper`` that both share) and the filter call,
per change; the filters themselves are in ``_filters``.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import select
import time
import warnings
from collections.abc import (
    AsyncGenerator,
    Callable,
    Generator,
    Iterator,
    Sequence,
)
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from . import _inotipy, _trio
from ._constants import IN, Change
from ._filters import DefaultFilter, dirs_never_watched
from ._inotipy import TreeWarning, WatcherClosedError
from ._types import StopEvent

__all__ = ["FileChange", "awatch", "watch"]


FileChange = tuple[Change, str]

# What a change set needs from the kernel.  CLOSE_WRITE would only repeat
# what MODIFY says; opens and reads are no change.
CHANGE_MASK = (
    IN.CREATE
    | IN.DELETE
    | IN.MODIFY
    | IN.ATTRIB
    | IN.MOVED_FROM
    | IN.MOVED_TO
    | IN.DELETE_SELF
    | IN.MOVE_SELF
)
_KINDS = (Change.added, Change.modified, Change.deleted)


class _Root:
    """A path given to awatch()/watch(): as shown in changes, and real."""

    def __init__(self, given: Path | str | bytes) -> None:
        text = os.fsdecode(os.fspath(given))
        # Absolute, as watchfiles reports paths (and normalized).
        self.shown = os.path.abspath(text)
        self.real = os.path.realpath(self.shown)
        self.is_dir = os.path.isdir(self.shown)

    def inside(self, other: _Root) -> bool:
        """True when other is a directory tree that holds this path."""
        return other.is_dir and (
            self.real == other.real
            or self.real.startswith(other.real.rstrip(os.sep) + os.sep)
        )


def _plan(
    roots: list[_Root], recursive: bool
) -> tuple[list[_Root], dict[str, set[str]]]:
    """Which directories to watch, and which files through their parent.

    Repeated paths count once, and with trees a path inside another
    tree is left to it.  A file is watched through its directory, for
    its name only, so that it survives being replaced (an editor's safe
    write renames a new file over it) and being deleted and made again.
    Returns the directories (or, without trees, any path that is not a
    file) and {parent directory: names of files watched in it}."""
    dirs: list[_Root] = []
    files: dict[str, set[str]] = {}
    seen: set[str] = set()
    # Shorter real paths first, so that a tree comes before what it holds.
    for root in sorted(roots, key=lambda r: len(r.real)):
        if root.real in seen:
            continue
        seen.add(root.real)
        if recursive and any(root.inside(d) for d in dirs):
            continue
        if root.is_dir or not os.path.lexists(root.shown):
            dirs.append(root)  # a missing path fails in watch()
            continue
        parent, name = os.path.split(root.shown)
        if not recursive and any(
            d.is_dir and d.real == os.path.realpath(parent) for d in dirs
        ):
            continue  # its directory is watched anyway
        files.setdefault(parent, set()).add(name)
    return dirs, files


class _Grouper:
    """When one group of changes is complete: debounce and step, without
    I/O, so that awatch() and watch() share the deadlines.

    The caller asks next_wait() how long to wait for a change, waits that
    long in its own way, and calls on_change() when the first change
    arrives.  Until then the wait is the rest of the timeout (none when
    timeout is 0), cut to one step when a stop event is to be looked at
    every step; after it, a step, cut to what is left of the debounce.
    A wait that passes without a change ends the group.
    """

    def __init__(
        self,
        *,
        debounce: float,
        step: float,
        timeout: float,
        every_step: bool,
        clock: Callable[[], float],
    ) -> None:
        self.debounce = debounce
        self.step = step
        self.timeout = timeout
        self.every_step = every_step
        self.clock = clock
        self.start = clock()
        self.first_at: float | None = None

    def next_wait(self) -> float | None:
        """Seconds to wait for the next change (math.inf: no limit), or
        None when the group is over: the timeout passed before a first
        change, or the debounce after it."""
        now = self.clock()
        if self.first_at is None:
            left = (
                self.timeout - (now - self.start) if self.timeout else math.inf
            )
            if left <= 0:
                return None
            return min(left, self.step) if self.every_step else left
        left = self.debounce - (now - self.first_at)
        if left <= 0:
            return None
        return min(self.step, left)

    def on_change(self) -> None:
        """The first change of the group arrived: the debounce starts."""
        self.first_at = self.clock()


class _ChangeWatcher:
    """The watcher behind one awatch()/watch() call."""

    def __init__(
        self,
        paths: Sequence[Path | str],
        *,
        watch_filter: Callable[[Change, str], bool] | None,
        debounce: int,
        step: int,
        timeout: int,
        yield_on_timeout: bool,
        recursive: bool,
        exclude: Sequence[str],
        ignore_permission_denied: bool | None,
    ) -> None:
        if not paths:
            raise ValueError("awatch() and watch() need at least one path")
        for name, value in (
            ("debounce", debounce),
            ("step", step),
            ("rust_timeout", timeout),
        ):
            if value < 0:
                raise ValueError(f"{name} must not be negative")
        # In seconds.  A timeout that would yield nothing is no timer.
        self.debounce = debounce / 1000
        self.step = step / 1000
        self.timeout = timeout / 1000 if yield_on_timeout else 0.0
        self.yield_on_timeout = yield_on_timeout
        self.filter = watch_filter
        if ignore_permission_denied is None:
            # As watchfiles: the environment variable, set and not empty.
            ignore_permission_denied = bool(
                os.environ.get("WATCHFILES_IGNORE_PERMISSION_DENIED")
            )
        self.quiet = ignore_permission_denied
        self.roots: list[str] = []
        dirs, files = _plan([_Root(p) for p in paths], recursive)
        # Changes in a directory watched only for some of its files are
        # kept for those files alone.
        self.only_parents = frozenset(files)
        self.only = frozenset(
            os.path.join(parent, name)
            for parent, names in files.items()
            for name in names
        )
        excludes = tuple(exclude) + dirs_never_watched(watch_filter)
        self.watcher = _inotipy.Watcher()
        try:
            with self._warnings():
                for root in dirs:
                    self._add(root.shown, recursive and root.is_dir, excludes)
                for parent in files:
                    self._add(parent, False, excludes)
        except BaseException:
            self.watcher.close()
            raise
        self.roots.extend(sorted(self.only))

    def grouper(
        self, clock: Callable[[], float], every_step: bool
    ) -> _Grouper:
        """The deadlines of one group, read on clock (in seconds)."""
        return _Grouper(
            debounce=self.debounce,
            step=self.step,
            timeout=self.timeout,
            every_step=every_step,
            clock=clock,
        )

    def _add(self, path: str, tree: bool, excludes: tuple[str, ...]) -> None:
        try:
            if tree:
                # Links to directories are followed, as watchfiles does.
                self.watcher.watch_tree(
                    path, CHANGE_MASK, exclude=excludes, follow_symlinks=True
                )
            else:
                self.watcher.watch(path, CHANGE_MASK)
        except PermissionError:
            if not self.quiet:
                raise
            return
        if path not in self.only_parents:
            self.roots.append(path)

    def _warnings(self) -> Any:
        """Silences TreeWarnings when permission errors are to be ignored."""
        return _quiet_tree_warnings() if self.quiet else nullcontext()

    def take(self, changes: set[Any], first: Any = None) -> int:
        """Moves what is ready into the set; returns the events taken."""
        with self._warnings():
            if first is None:
                taken, overflowed = self.watcher._take_changes(
                    changes, *_KINDS
                )
            else:
                taken, overflowed = self.watcher._take_changes(
                    changes, *_KINDS, first
                )
        if overflowed:
            # The kernel dropped events: which files changed is unknown,
            # so every root counts as modified (a reloader reloads).
            changes.update((Change.modified, root) for root in self.roots)
        return int(taken)

    def result(self, raw: set[Any] | None) -> set[FileChange] | None:
        """What to yield for a group (None for a timeout): the filtered
        set, or None when there is nothing to yield."""
        if raw is None:
            return set() if self.yield_on_timeout else None
        if self.only_parents:
            raw = {c for c in raw if self._wanted(c[1])}
        if self.filter is not None:
            keep = self.filter
            raw = {c for c in raw if keep(c[0], c[1])}
        return raw or None

    def _wanted(self, path: str) -> bool:
        if path in self.only:
            return True
        return path not in self.only_parents and (
            os.path.dirname(path) not in self.only_parents
        )

    @property
    def gone(self) -> bool:
        """True once nothing is watched any more (every root deleted)."""
        return bool(self.watcher.closed or self.watcher.watch_count == 0)

    def close(self) -> None:
        self.watcher.close()


@contextmanager
def _quiet_tree_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TreeWarning)
        yield


async def awatch(
    *paths: Path | str,
    # One filter for every call, as watchfiles has it: nothing changes it.
    watch_filter: Callable[[Change, str], bool] | None = DefaultFilter(),  # noqa: B008
    debounce: int = 1_600,
    step: int = 50,
    stop_event: StopEvent | None = None,
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
    """Yields sets of ``(Change, path)``: changes grouped while they keep
    coming, at most ``debounce`` ms, until ``step`` ms pass without one.

    The arguments are watchfiles'.  ``stop_event`` (an ``asyncio.Event``,
    an ``anyio.Event``, anything with ``wait()`` or ``is_set()``) ends the
    iteration when set.  With ``yield_on_timeout``, an empty set is
    yielded after ``rust_timeout`` ms (5000 when None) without a change;
    without it there is no timer.  Paths are watched as watchfiles watches
    them: repeated and nested ones once, links followed, a file through
    its directory (so that it survives an editor's safe write), and a
    deleted path is waited for, not an end.  ``exclude`` adds globs of
    names that are neither watched nor reported.  ``debug``,
    ``force_polling`` and ``poll_delay_ms`` are accepted and ignored:
    there is no polling here.
    """
    if raise_interrupt is not None:
        warnings.warn(
            "raise_interrupt is deprecated for awatch(): a KeyboardInterrupt "
            "cancels the coroutine",
            DeprecationWarning,
            stacklevel=2,
        )
    cw = _ChangeWatcher(
        paths,
        watch_filter=watch_filter,
        debounce=debounce,
        step=step,
        timeout=5_000 if rust_timeout is None else rust_timeout,
        yield_on_timeout=yield_on_timeout,
        recursive=recursive,
        exclude=exclude,
        ignore_permission_denied=ignore_permission_denied,
    )
    stopper: asyncio.Future[Any] | None = None
    # On asyncio, asyncio.Event and anyio.Event are awaited; threading.Event's
    # wait() would block the loop, so it is only looked at (is_set()), as
    # every stop event is on trio (no task outlives a yield of ours there).
    wait = getattr(stop_event, "wait", None)
    can_wait = (
        stop_event is not None
        and _trio.on_asyncio()
        and inspect.iscoroutinefunction(wait)
    )
    try:
        if wait is not None and can_wait:
            stopper = asyncio.ensure_future(wait())
            stopper.add_done_callback(lambda _f: cw.close())
        while True:
            if stop_event is not None and stop_event.is_set():
                return
            try:
                raw = await _gather_async(cw, None if can_wait else stop_event)
            except WatcherClosedError:
                return
            changes = cw.result(raw)
            if changes is not None:
                yield changes
    finally:
        if stopper is not None:
            stopper.cancel()
        cw.close()


async def _gather_async(cw: _ChangeWatcher, poll_stop: Any) -> set[Any] | None:
    """One group of changes; None when the timeout passes without one.
    With a stop event that cannot be awaited (poll_stop), it is looked at
    every step while waiting."""
    w = cw.watcher
    # The clock of get()'s timeouts: the asyncio loop's, or trio's.
    group = cw.grouper(_trio.clock(), poll_stop is not None)
    changes: set[Any] = set()
    while True:
        wait = group.next_wait()
        if wait is None:
            return None
        first = await w.get(wait)
        if first is not None:
            break
        if poll_stop is not None and poll_stop.is_set():
            return changes
    group.on_change()
    cw.take(changes, first)
    while not cw.gone:
        wait = group.next_wait()
        if wait is None:
            break
        event = await w.get(wait)
        if event is None:
            break
        cw.take(changes, event)
    return changes


def watch(
    *paths: Path | str,
    # One filter for every call, as watchfiles has it: nothing changes it.
    watch_filter: Callable[[Change, str], bool] | None = DefaultFilter(),  # noqa: B008
    debounce: int = 1_600,
    step: int = 50,
    stop_event: StopEvent | None = None,
    rust_timeout: int = 5_000,
    yield_on_timeout: bool = False,
    debug: bool | None = None,
    raise_interrupt: bool = True,
    force_polling: bool | None = None,
    poll_delay_ms: int = 300,
    recursive: bool = True,
    ignore_permission_denied: bool | None = None,
    exclude: Sequence[str] = (),
) -> Generator[set[FileChange], None, None]:
    """The blocking twin of awatch(), for code without an event loop:
    the same arguments (watchfiles'), the same sets.  ``stop_event`` is
    anything with ``is_set()`` (a ``threading.Event``, say), looked at
    every ``step`` ms while waiting.  A KeyboardInterrupt ends the
    iteration quietly unless ``raise_interrupt``."""
    cw = _ChangeWatcher(
        paths,
        watch_filter=watch_filter,
        debounce=debounce,
        step=step,
        timeout=rust_timeout,
        yield_on_timeout=yield_on_timeout,
        recursive=recursive,
        exclude=exclude,
        ignore_permission_denied=ignore_permission_denied,
    )
    poller = select.poll()
    poller.register(cw.watcher.fileno(), select.POLLIN)
    try:
        while True:
            if stop_event is not None and stop_event.is_set():
                return
            try:
                raw = _gather_sync(cw, poller, stop_event)
            except KeyboardInterrupt:
                if raise_interrupt:
                    raise
                return
            changes = cw.result(raw)
            if changes is not None:
                yield changes
    finally:
        cw.close()


def _poll_ms(seconds: float) -> int | None:
    """A wait in seconds as poll() takes it: ms rounded up, None for no
    limit."""
    if seconds == math.inf:
        return None
    return max(0, int(seconds * 1000 + 0.999))


def _gather_sync(
    cw: _ChangeWatcher, poller: Any, stop_event: Any
) -> set[Any] | None:
    """One group of changes, as _gather_async() makes it, waiting in
    poll(); stop_event is looked at every step while waiting."""
    group = cw.grouper(time.monotonic, stop_event is not None)
    changes: set[Any] = set()
    # Take first, wait after: what a tree's scan read is already ours and
    # would not make the descriptor readable.
    while cw.take(changes) == 0:
        if stop_event is not None and stop_event.is_set():
            return changes
        wait = group.next_wait()
        if wait is None:
            return None
        poller.poll(_poll_ms(wait))
    group.on_change()
    while not cw.gone:
        wait = group.next_wait()
        if wait is None or not poller.poll(_poll_ms(wait)):
            break
        cw.take(changes)
    return changes
