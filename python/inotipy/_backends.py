"""The backends a tree can be watched by, and the arguments that choose
one: ``backend=`` and ``poll_delay_ms=`` of watch_tree(), and watchfiles'
``force_polling`` and environment variables for awatch() and watch().

To add a backend: add its name to BACKENDS, and say in
Watcher.watch_tree() (python/inotipy/_watcher.py) what it does.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Collection
from typing import Any

from . import _fanotify, _inotipy, _mounts
from ._inotipy import Watch

__all__ = [
    "BACKENDS",
    "DEFAULT_POLL_DELAY_MS",
    "check_backend",
    "check_poll_delay",
    "env_poll_delay",
    "resolve_backend",
    "watch_tree",
]

#: What watch_tree(backend=...) takes: "auto" polls the mounts inotify
#: cannot fully see (/proc/self/mountinfo) and leaves the rest to inotify,
#: or to fanotify when inotify's watch limit cannot hold the tree (root,
#: a watcher with no watch yet); "inotify" never polls; "poll" polls the
#: whole tree too; "fanotify" hears the tree by one mark for its file
#: system (root, Linux 5.17: _fanotify.py).
BACKENDS = ("auto", "inotify", "poll", "fanotify")

#: watchfiles' default delay between two polls.
DEFAULT_POLL_DELAY_MS = 300

# watchfiles' values of WATCHFILES_FORCE_POLLING that mean "no".
_FALSE = frozenset({"false", "disable", "disabled"})


def check_backend(backend: object) -> str:
    """backend when it is one of BACKENDS, else TypeError or ValueError."""
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str, not {type(backend).__name__}")
    if backend not in BACKENDS:
        choices = ", ".join(repr(b) for b in BACKENDS)
        raise ValueError(f"backend must be one of {choices}, not {backend!r}")
    return backend


def check_poll_delay(poll_delay_ms: object) -> int:
    """poll_delay_ms when it is an int > 0, else TypeError or ValueError."""
    if isinstance(poll_delay_ms, bool) or not isinstance(poll_delay_ms, int):
        raise TypeError(
            "poll_delay_ms must be an int (milliseconds), not "
            f"{type(poll_delay_ms).__name__}"
        )
    if poll_delay_ms <= 0:
        raise ValueError(
            f"poll_delay_ms must be positive, not {poll_delay_ms}"
        )
    return poll_delay_ms


def resolve_backend(backend: str | None, force_polling: bool | None) -> str:
    """The backend of awatch()/watch(): backend when given; else as
    watchfiles decides force_polling: the argument when not None, else
    WATCHFILES_FORCE_POLLING when set and not empty (polling unless it is
    false, disable or disabled, in any case), else "auto" (where
    watchfiles polls everything on WSL, auto polls its Windows drives,
    9p or virtiofs mounts, and nothing else)."""
    if backend is not None:
        backend = check_backend(backend)
        if force_polling is not None and force_polling != (backend == "poll"):
            raise ValueError(
                f"force_polling={force_polling!r} contradicts "
                f"backend={backend!r}"
            )
        return backend
    if force_polling is None:
        env = os.environ.get("WATCHFILES_FORCE_POLLING")
        if not env:
            return "auto"
        force_polling = env.lower() not in _FALSE
    return "poll" if force_polling else "inotify"


def env_poll_delay(poll_delay_ms: int) -> int:
    """As watchfiles: WATCHFILES_POLL_DELAY_MS, when it is a decimal
    number, wins over the argument (a 0 there is 1 ms here)."""
    env = os.environ.get("WATCHFILES_POLL_DELAY_MS")
    if env and env.isdecimal():
        return max(1, int(env))
    return poll_delay_ms


def watch_tree(
    watcher: _inotipy.Watcher,
    path: Any,
    mask: int,
    *,
    exclude: Collection[str | bytes],
    follow_symlinks: bool,
    index_files: bool,
    progress: Callable[[int], object] | None,
    backend: str,
    poll_delay_ms: int,
    since: Any = None,
) -> Watch[Any]:
    """watch_tree() with a backend: the C one (inotify, or fanotify on a
    watcher switched to it), then the directories to poll marked, each
    polled every poll_delay_ms."""
    backend = check_backend(backend)
    delay = check_poll_delay(poll_delay_ms)
    options: dict[str, Any] = {
        "exclude": exclude,
        "follow_symlinks": follow_symlinks,
        "index_files": index_files,
        "progress": progress,
        "since": since,
    }
    if watcher._is_fanotify():
        if backend in ("inotify", "poll"):
            raise ValueError(
                f"backend={backend!r} on a fanotify watcher: its trees are "
                "all heard by fanotify (use another watcher)"
            )
        backend = "fanotify"
    if backend == "fanotify":
        fresh = not watcher._is_fanotify()
        _fanotify.ensure(watcher)
        return _fanotify_tree(watcher, path, mask, options, fresh)
    dirs = _poll_dirs(path, backend)
    if dirs and not index_files:
        where = "the tree" if dirs == [""] else ", ".join(dirs)
        raise ValueError(
            f"backend={backend!r} polls {where}, and polling compares the "
            "tree with its index of files: index_files=False cannot poll "
            "(backend='inotify' does not poll)"
        )
    try:
        watch = _inotipy.Watcher.watch_tree(watcher, path, mask, **options)
    except OSError as e:
        if not _auto_fanotify(watcher, backend, dirs, e):
            raise
        return _auto_fanotify_tree(watcher, path, mask, options, e)
    try:
        for rel in dirs:
            try:
                watcher._poll_add(watch.wd, [os.fsencode(rel)], delay)
            except FileNotFoundError:
                # A mount in no directory of the tree (excluded, say).
                if backend == "poll":
                    raise
    except BaseException:
        watch.remove()
        raise
    return watch


def _fanotify_tree(
    watcher: _inotipy.Watcher,
    path: Any,
    mask: int,
    options: dict[str, Any],
    fresh: bool,
) -> Watch[Any]:
    """The C watch_tree() on a fanotify watcher, its mark's errors told.
    When fresh (this call made it a fanotify watcher) and it fails, the
    watcher is an inotify watcher again, as it was."""
    try:
        return _inotipy.Watcher.watch_tree(watcher, path, mask, **options)
    except OSError as e:
        if fresh and watcher.watch_count == 0:
            watcher._use_inotify()
        told = _fanotify.mark_error(e, path)
        if told is e:
            raise
        raise told from None


def _auto_fanotify_tree(
    watcher: _inotipy.Watcher,
    path: Any,
    mask: int,
    options: dict[str, Any],
    first: OSError,
) -> Watch[Any]:
    """The tree by fanotify for "auto", after inotify failed with first.
    When fanotify cannot either (a kernel before 5.17, a file system
    without handles), inotify's error is the one raised, fanotify's its
    context."""
    try:
        return _fanotify_tree(watcher, path, mask, options, True)
    except OSError as fan:
        first.__context__ = fan
    raise first


def _auto_fanotify(
    watcher: _inotipy.Watcher, backend: str, dirs: list[str], e: OSError
) -> bool:
    """True when "auto" takes fanotify for a tree inotify could not hold:
    the watch limit was reached (ENOSPC), this process is root, the
    watcher had no watch (it becomes a fanotify watcher) and nothing is
    to be polled.  A failure to switch leaves e to be raised."""
    if (
        backend != "auto"
        or e.errno != errno.ENOSPC
        or dirs
        or watcher.watch_count != 0
        or not _fanotify.usable()
    ):
        return False
    try:
        _fanotify.ensure(watcher)
    except (OSError, ValueError):
        return False
    return True


def _poll_dirs(path: Any, backend: str) -> list[str]:
    """What a tree at path polls, as paths below its root."""
    if backend == "poll":
        return [""]
    if backend == "auto":
        try:
            return _mounts.poll_dirs(path)
        except (OSError, ValueError):
            # No such path (or an embedded NUL): watch_tree() says so.
            return []
    return []
