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
import logging
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

from . import _backends, _inotipy, _trio
from ._constants import IN, Change
from ._filters import DefaultFilter, dirs_never_watched
from ._inotipy import TreeWarning, WatcherClosedError
from ._types import StopEvent

__all__ = ["FileChange", "awatch", "watch"]

# The name watchfiles logs under: programs that turn its messages down
# (or up) by that name get the same with inotipy.
logger = logging.getLogger("watchfiles.main")


FileChange = tuple[Change, str]
# A state file's path, as save_state() and watch_tree(since=) take it.
StatePath = str | os.PathLike[str]

# What a change set needs from the kernel.  CLOSE_WRITE would only repeat
# what MODIFY says (it is added for report_closed); opens and reads are no
# change.
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

# Once a group has its first change, the rest of it is gathered a slice
# at a time: sleep this long (or less, to the group's next deadline), then
# take everything the kernel holds.  A burst then costs a wake-up per
# slice rather than one per read (the consumer keeps up with a writer one
# or two events at a time otherwise), and a change is seen at most one
# slice after it was made (later when the loop is busy: a slice lasts
# until the loop runs us again).  Meanwhile the kernel's queue (16384
# events by default) is the only buffer, and it holds a slice of any
# burst: 5 ms of 400,000 events per second is 2,000 (past it, the kernel
# reports an overflow, which trees heal).
_SLICE = 0.005


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
    long in its own way, and calls on_change() each time it has taken
    changes into the group's set, saying whether the set grew.  Until the
    first change the wait is the rest of the timeout (none when timeout
    is 0), cut to one step when a stop event is to be looked at every
    step.  After it, the group ends once a step passes in which the set
    did not grow, or once the debounce has passed since the first change.

    That is watchfiles' rule, which looks at the size of its set once a
    step and yields when it has not grown since the last look, but taken
    when each change is seen rather than at the next look: the first change
    of a group when it arrives, the rest within a slice (``_SLICE``, 5 ms)
    of it. So a group never ends before a step has passed since what last
    grew it, unless the debounce ends it first, ends within a step and a
    slice of that, and, started at the same moment on the same stream, ends
    about half a step sooner than watchfiles' on average
    (tests/test_grouper.py replays streams through both). The set that
    grows is the raw one, before filters, as in watchfiles. A file appended
    to all the time (a log) is one change in the set, so it does not hold
    back the edit made beside it.
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
        # When the first change arrived, and when the set last grew.
        self.first_at: float | None = None
        self.grew_at = 0.0

    def next_wait(self) -> float | None:
        """Seconds to wait for the next change (math.inf: no limit), or
        None when the group is over: the timeout passed before a first
        change, a step without growth or the debounce after it."""
        now = self.clock()
        if self.first_at is None:
            left = (
                self.timeout - (now - self.start) if self.timeout else math.inf
            )
            if left <= 0:
                return None
            return min(left, self.step) if self.every_step else left
        debounce_left = self.debounce - (now - self.first_at)
        step_left = self.step - (now - self.grew_at)
        # A step left of exactly 0 still polls once (step=0 polls).
        if debounce_left <= 0 or step_left < 0:
            return None
        return min(step_left, debounce_left)

    def on_change(self, grew: bool = True) -> None:
        """Changes were taken into the set: the first ones start the
        debounce and the step; later ones restart the step if the set
        grew."""
        now = self.clock()
        if self.first_at is None:
            self.first_at = self.grew_at = now
        elif grew:
            self.grew_at = now


class _Stopped(Exception):
    """The stop event was set while a group was gathered: it is dropped,
    as watchfiles drops it."""


def _check_stop(stop_event: Any) -> None:
    if stop_event is not None and stop_event.is_set():
        raise _Stopped


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
        report_closed: bool,
        backend: str = "auto",
        poll_delay_ms: int = _backends.DEFAULT_POLL_DELAY_MS,
        since: StatePath | None = None,
        state_file: StatePath | None = None,
    ) -> None:
        self.backend = _backends.check_backend(backend)
        self.poll_delay_ms = _backends.check_poll_delay(poll_delay_ms)
        # No path at all is no error, as in watchfiles: nothing is
        # watched, and only the timeout or the stop event ends a wait.
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
        self.closed_kind = Change.closed if report_closed else None
        mask = CHANGE_MASK | (IN.CLOSE_WRITE if report_closed else 0)
        if ignore_permission_denied is None:
            # As watchfiles: the environment variable, set and not empty.
            ignore_permission_denied = bool(
                os.environ.get("WATCHFILES_IGNORE_PERMISSION_DENIED")
            )
        self.quiet = ignore_permission_denied
        self.roots: list[str] = []
        self.healed: set[str] = set()
        dirs, files = _plan([_Root(p) for p in paths], recursive)
        self.state = _StateKeeping(since, state_file, dirs, files, recursive)
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
                    self._add(
                        root.shown, recursive and root.is_dir, excludes, mask
                    )
                for parent in files:
                    self._add(parent, False, excludes, mask)
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

    def _add(
        self, path: str, tree: bool, excludes: tuple[str, ...], mask: int
    ) -> None:
        try:
            if tree:
                # Links to directories are followed, as watchfiles does.
                watch = _backends.watch_tree(
                    self.watcher,
                    path,
                    mask,
                    exclude=excludes,
                    follow_symlinks=True,
                    index_files=True,
                    progress=None,
                    backend=self.backend,
                    poll_delay_ms=self.poll_delay_ms,
                    since=self.state.since,
                )
                self.state.trees.append(watch)
                if self.state.since is not None:
                    # Its catch-up ends with its SYNCED.
                    self.state.catching_up += 1
            else:
                self.watcher.watch(path, mask)
        except PermissionError:
            if not self.quiet:
                raise
            return
        if path not in self.only_parents:
            self.roots.append(path)
            if tree:
                # A tree heals after an overflow: its index is compared
                # with the disk, and the difference comes as events.
                self.healed.add(path)

    def _warnings(self) -> Any:
        """Silences TreeWarnings when permission errors are to be ignored."""
        return _quiet_tree_warnings() if self.quiet else nullcontext()

    def take(self, changes: set[Any], first: Any = None) -> int:
        """Moves what is ready into the set; returns the events taken."""
        with self._warnings():
            taken, overflowed = self.watcher._take_changes(
                changes, *_KINDS, first, self.closed_kind
            )
        if taken:
            self.state.took()
        if overflowed:
            # The kernel dropped events.  Trees heal (what changed comes
            # as events); for the other watches which files changed is
            # unknown, so each such root counts as modified.
            changes.update(
                (Change.modified, root)
                for root in self.roots
                if root not in self.healed
            )
        return int(taken)

    def result(self, raw: set[Any] | None) -> set[FileChange] | None:
        """What to yield for a group (None for a timeout): the filtered
        set, or None when there is nothing to yield.  Logged as
        watchfiles logs it, on the logger named ``watchfiles.main``."""
        if raw is None:
            if self.yield_on_timeout:
                return set()
            logger.debug("timeout with no change, waiting on")
            return None
        changes = raw
        if self.only_parents:
            changes = {c for c in changes if self._wanted(c[1])}
        if self.filter is not None:
            keep = self.filter
            changes = {c for c in changes if keep(c[0], c[1])}
        if not changes:
            logger.debug("every change was filtered out: %s", raw)
            return None
        _log_changes(changes)
        return changes

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

    def catch_up(self, changes: set[Any], event: Any) -> bool:
        """Adds one event of the catch-up (a tree started from a state
        file) to the set; True once every such tree has said SYNCED: what
        comes after is live."""
        if event.mask & IN.SYNCED:
            self.state.catching_up -= 1
        else:
            kind = _change_of(int(event.mask), self.closed_kind)
            if kind is not None and not (
                kind is Change.modified
                and (Change.added, event.path) in changes
            ):
                changes.add((kind, event.path))
        return self.state.catching_up <= 0

    def close(self) -> None:
        self.watcher.close()

    def stop(self) -> None:
        """The end: the state is saved if it says no more than what the
        consumer finished with (no set held, no group dropped), then the
        watcher closes."""
        try:
            self.state.save(self.watcher)
        finally:
            self.close()


def _change_of(mask: int, closed: Change | None) -> Change | None:
    """The kind of change an event is, as binding/changes.c tells it."""
    if mask & IN.CLOSE_WRITE and closed is not None:
        return closed
    if mask & (IN.CREATE | IN.MOVED_TO):
        return Change.added
    if mask & (
        IN.DELETE | IN.MOVED_FROM | IN.DELETE_SELF | IN.MOVE_SELF | IN.UNMOUNT
    ):
        return Change.deleted
    if mask & (IN.MODIFY | IN.ATTRIB | IN.CLOSE_WRITE):
        return Change.modified
    return None


class _StateKeeping:
    """since= and state_file= of awatch()/watch(): which state file the
    trees start from, and when the trees' index is saved.

    The index holds every event read, so it is saved only when it says no
    more than what the consumer has finished with: when the iteration
    resumes after a yield (the consumer asked for the next set, so it is
    done with the last), or ends by the stop event, and then only if no
    event is queued and no group was taken and dropped.  A consumer that
    breaks out of the loop (or raises) while holding a set does not say it
    finished it: that set comes again, in the catch-up of the next start.
    At least once, never lost."""

    def __init__(
        self,
        since: StatePath | None,
        state_file: StatePath | None,
        dirs: list[_Root],
        files: dict[str, set[str]],
        recursive: bool,
    ) -> None:
        if (
            since is None
            and state_file is not None
            and os.path.exists(state_file)
        ):
            since = state_file
        self.since = since
        self.path = state_file
        self.trees: list[Any] = []
        self.unsaved = False  # events taken since the last save
        self.gathering = False  # events taken into a group not done yet
        self.held = False  # the consumer holds a set (we are at a yield)
        if since is None and state_file is None:
            self.catching_up = 0
            return
        plain = [r.shown for r in dirs if not (recursive and r.is_dir)]
        plain += [os.path.join(p, n) for p, ns in files.items() for n in ns]
        if plain:
            raise ValueError(
                "since= and state_file= need directory trees (recursive=True);"
                f" these are watched otherwise: {', '.join(sorted(plain))}"
            )
        # The trees started from since that have not said SYNCED yet
        # (counted as they are added: one denied and skipped has none).
        self.catching_up = 0

    def took(self) -> None:
        self.unsaved = self.gathering = True

    def done(self, watcher: Any) -> None:
        """The group taken is done with (yielded and resumed, or filtered
        out): saves if it can."""
        self.gathering = self.held = False
        self.save(watcher)

    def save(self, watcher: Any) -> bool:
        """Saves the trees' index if it says no more than what was
        finished with; True if it did."""
        if (
            self.path is None
            or not self.unsaved
            or self.gathering
            or self.held
        ):
            return False
        trees = [t for t in self.trees if t.valid]
        if not trees or watcher.closed or watcher.queued:
            return False
        watcher._save_state(self.path, trees)
        self.unsaved = False
        return True


def _log_changes(changes: set[FileChange]) -> None:
    """One line per yielded set: its size at INFO, the set itself at
    DEBUG (the level watchfiles users turn down or up)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    count = len(changes)
    plural = "" if count == 1 else "s"
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%d change%s detected: %s", count, plural, changes)
    else:
        logger.info("%d change%s detected", count, plural)


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
    report_closed: bool = False,
    backend: str | None = None,
    since: StatePath | None = None,
    state_file: StatePath | None = None,
) -> AsyncGenerator[set[FileChange], None]:
    """Yields sets of ``(Change, path)``: changes grouped until a ``step``
    ms passes in which the set does not grow, at most ``debounce`` ms.

    The arguments are watchfiles'.  ``stop_event`` (an ``asyncio.Event``,
    an ``anyio.Event``, anything with ``wait()`` or ``is_set()``) ends the
    iteration when set, within one step; a group being gathered then is
    dropped, as watchfiles drops it.  With ``yield_on_timeout``, an empty
    set is yielded after ``rust_timeout`` ms (5000 when None) without a
    change; without it there is no timer.  No path at all watches
    nothing.  Paths are watched as watchfiles watches them: repeated and
    nested ones once, links followed, a file through its directory (so
    that it survives an editor's safe write), and a deleted path is
    waited for, not an end.  ``exclude`` adds globs of names that are
    neither watched nor reported.  ``report_closed`` adds
    ``(Change.closed, path)`` each time a file open for writing is
    closed (inotify's IN_CLOSE_WRITE): the writer has finished.

    Directory trees on mounts that inotify cannot fully see (network and
    FUSE file systems, hosts' shares) are polled every ``poll_delay_ms``
    ms (``WATCHFILES_POLL_DELAY_MS`` wins, as in watchfiles); the rest is
    inotify's.  ``force_polling=True`` polls every tree, ``False`` none;
    when it is None, ``WATCHFILES_FORCE_POLLING`` decides as in
    watchfiles (set and not empty: polling, unless it is ``false``,
    ``disable`` or ``disabled``).  ``backend`` ("auto", "inotify",
    "poll") says the same in watch_tree()'s words; "fanotify" (root)
    hears every tree by a fanotify mark of its file system, and then takes
    directories only, with ``recursive=True``.  Files given alone and
    directories with ``recursive=False`` are inotify's only.  ``debug``
    is accepted and ignored.

    ``since`` (a file a tree's ``save_state()`` or ``state_file`` wrote)
    starts the trees from their saved index: the first set yielded is
    what changed while nobody watched (when anything did), at once,
    then live sets.  ``state_file`` keeps the state in that file: read
    at the start when it exists (as ``since``), and saved each time the
    consumer asks for the next set (so after it finished with the last)
    and when the stop event ends the iteration; a set the consumer held
    when it broke out of the loop comes again at the next start.  Both
    need directory trees (``recursive=True``); an unusable file is
    ``InvalidStateFile``.
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
        report_closed=report_closed,
        backend=_backends.resolve_backend(backend, force_polling),
        poll_delay_ms=_backends.env_poll_delay(poll_delay_ms),
        since=since,
        state_file=state_file,
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
            # It wakes a get() by closing the watcher; while the consumer
            # holds a set none waits, and the loop sees the event itself.
            stopper.add_done_callback(
                lambda _f: None if cw.state.held else cw.stop()
            )
        if cw.state.catching_up:
            try:
                caught = await _catch_up_async(cw)
            except WatcherClosedError:
                return  # the stop event, during a catch-up still owed
            changes = cw.result(caught)
            if changes is not None:
                cw.state.held = True
                yield changes
            cw.state.done(cw.watcher)
        while True:
            if stop_event is not None and stop_event.is_set():
                return
            try:
                raw = await _gather_async(cw, None if can_wait else stop_event)
            except (WatcherClosedError, _Stopped):
                return
            changes = cw.result(raw)
            if changes is not None:
                cw.state.held = True
                yield changes
            cw.state.done(cw.watcher)
    finally:
        if stopper is not None:
            stopper.cancel()
        cw.stop()


async def _catch_up_async(cw: _ChangeWatcher) -> set[Any]:
    """The changes the trees started from a state file told, up to their
    SYNCED events (the heal of each ran in watch_tree(): its events are
    queued already, unless a directory could not be listed then)."""
    changes: set[Any] = set()
    with cw._warnings():
        while not cw.catch_up(changes, await cw.watcher.get()):
            pass
    cw.state.took()
    return changes


async def _gather_async(cw: _ChangeWatcher, poll_stop: Any) -> set[Any] | None:
    """One group of changes; None when the timeout passes without one.
    With a stop event that cannot be awaited (poll_stop), it is looked at
    at least every step, and _Stopped raised when it is set."""
    w = cw.watcher
    # The clock of get()'s timeouts: the asyncio loop's, or trio's.
    group = cw.grouper(_trio.clock(), poll_stop is not None)
    changes: set[Any] = set()
    event = None
    while event is None:
        wait = group.next_wait()
        if wait is None:
            return None
        event = await w.get(wait)
        _check_stop(poll_stop)
    # The rest of the group comes a slice at a time: on asyncio the reader
    # is off the loop meanwhile, so that the kernel holds what comes (on
    # trio nothing reads while no get() waits).
    on_asyncio = _trio.on_asyncio()
    nap = asyncio.sleep if on_asyncio else _trio.sleep
    try:
        if on_asyncio:
            w._hold_reading(True)
        while True:
            # Each slice takes everything ready: the event get() returned,
            # then whatever the kernel has queued since.
            before = len(changes)
            cw.take(changes, event)
            event = None
            group.on_change(len(changes) > before)
            _check_stop(poll_stop)
            wait = None if cw.gone else group.next_wait()
            if wait is None:
                return changes
            await nap(min(wait, _SLICE))
            if not on_asyncio:
                # On trio the polled trees are polled when due by whoever
                # waits (no loop timer): here, by us.
                w._poll_due()
    finally:
        if on_asyncio:
            w._hold_reading(False)


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
    report_closed: bool = False,
    backend: str | None = None,
    since: StatePath | None = None,
    state_file: StatePath | None = None,
) -> Generator[set[FileChange], None, None]:
    """The blocking twin of awatch(), for code without an event loop:
    the same arguments (watchfiles'), the same sets.  ``stop_event`` is
    anything with ``is_set()`` (a ``threading.Event``, say), looked at
    at least every ``step`` ms, also while changes keep coming; a group
    being gathered when it is set is dropped, as watchfiles drops it.  A
    KeyboardInterrupt ends the iteration quietly unless
    ``raise_interrupt``.  Polling is chosen as awatch() chooses it;
    ``since`` and ``state_file`` are as for awatch()."""
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
        report_closed=report_closed,
        backend=_backends.resolve_backend(backend, force_polling),
        poll_delay_ms=_backends.env_poll_delay(poll_delay_ms),
        since=since,
        state_file=state_file,
    )
    poller = select.poll()
    poller.register(cw.watcher.fileno(), select.POLLIN)
    try:
        if cw.state.catching_up:
            changes = cw.result(_catch_up_sync(cw, poller))
            if changes is not None:
                cw.state.held = True
                yield changes
            cw.state.done(cw.watcher)
        while True:
            if stop_event is not None and stop_event.is_set():
                return
            try:
                raw = _gather_sync(cw, poller, stop_event)
            except _Stopped:
                return
            except KeyboardInterrupt:
                if raise_interrupt:
                    raise
                logger.warning("KeyboardInterrupt caught, stopping watch")
                return
            changes = cw.result(raw)
            if changes is not None:
                cw.state.held = True
                yield changes
            cw.state.done(cw.watcher)
    finally:
        cw.stop()


def _catch_up_sync(cw: _ChangeWatcher, poller: Any) -> set[Any]:
    """_catch_up_async(), waiting in poll()."""
    changes: set[Any] = set()
    with cw._warnings():
        while True:
            event = cw.watcher.get_nowait()
            if event is None:
                poller.poll()
            elif cw.catch_up(changes, event):
                break
    cw.state.took()
    return changes


def _poll_ms(seconds: float) -> int | None:
    """A wait in seconds as poll() takes it: ms rounded up, None for no
    limit."""
    if seconds == math.inf:
        return None
    return max(0, int(seconds * 1000 + 0.999))


def _wait_sync(cw: _ChangeWatcher, poller: Any, wait: float) -> bool:
    """Waits in poll() up to wait seconds for the descriptor, running the
    polls of polled trees as they fall due; True once something is
    ready."""
    deadline = time.monotonic() + wait
    while True:
        due = cw.watcher._poll_due()
        if due is not None and cw.watcher.queued:
            return True
        left = deadline - time.monotonic()
        step = left if due is None else min(left, due)
        if poller.poll(_poll_ms(max(step, 0.0))):
            return True
        if time.monotonic() >= deadline:
            return False


def _gather_sync(
    cw: _ChangeWatcher, poller: Any, stop_event: Any
) -> set[Any] | None:
    """One group of changes, as _gather_async() makes it, waiting in
    poll(); stop_event is looked at at least every step."""
    group = cw.grouper(time.monotonic, stop_event is not None)
    changes: set[Any] = set()
    # Take first, wait after: what a tree's scan read is already ours and
    # would not make the descriptor readable.
    while cw.take(changes) == 0:
        _check_stop(stop_event)
        wait = group.next_wait()
        if wait is None:
            return None
        _wait_sync(cw, poller, wait)
    before = 0
    while True:
        group.on_change(len(changes) > before)
        _check_stop(stop_event)
        wait = None if cw.gone else group.next_wait()
        if wait is None:
            return changes
        # The rest of the group comes a slice at a time, as in
        # _gather_async(): the kernel holds it meanwhile.
        time.sleep(min(wait, _SLICE))
        cw.watcher._poll_due()
        before = len(changes)
        cw.take(changes)
