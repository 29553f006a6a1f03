"""``inotipy [options] PATH... -- COMMAND [ARG...]``: runs COMMAND and
restarts it whenever something changes below the paths.

Changes are grouped by ``awatch()``; the filters are the command line's
(@-exclusions, regular expressions, globs) on top of ``DefaultFilter``.
The watches are in place before COMMAND first starts, so a path that
cannot be watched stops everything before anything runs.  COMMAND runs
in a process group of its own: a restart stops whatever it started too.
When it exits by itself, that is said, and the next change starts it
again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from . import _cli_watch as cw
from ._changes import awatch
from ._cli_output import DIM, RESET, safe
from ._filters import DefaultFilter

__all__ = ["run_command"]


class _Child:
    """The command, in a process group of its own: stopping it stops
    whatever it started too, even once it has exited itself."""

    def __init__(
        self, command: Sequence[str], grace: float, note: Any
    ) -> None:
        self.command = list(command)
        self.shown = shlex.join(self.command)
        self.grace = grace
        self.note = note
        self.proc: subprocess.Popen[bytes] | None = None
        self.pidfd: int | None = None
        self.exited: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Starts the command; raises OSError."""
        self.proc = subprocess.Popen(self.command, start_new_session=True)
        self._watch_exit()

    def _watch_exit(self) -> None:
        """Calls _on_exit when the process ends by itself: its pidfd
        turns readable (Linux 5.3), or else a look twice a second."""
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        try:
            self.pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self.exited = loop.call_later(0.5, self._poll_exit)
            return
        loop.add_reader(self.pidfd, self._on_exit)

    def _poll_exit(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            loop = asyncio.get_running_loop()
            self.exited = loop.call_later(0.5, self._poll_exit)
        else:
            self._on_exit()

    def _unwatch_exit(self) -> None:
        if self.pidfd is not None:
            asyncio.get_running_loop().remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        if self.exited is not None:
            self.exited.cancel()
            self.exited = None

    def _on_exit(self) -> None:
        self._unwatch_exit()
        if self.proc is None:
            return
        status = self.proc.poll()
        if status is None:
            status = self.proc.wait()
        self.note(
            f"{self.shown} exited by itself ({_status(status)}); the next "
            "change starts it again"
        )

    async def stop(self) -> None:
        self._unwatch_exit()
        proc, self.proc = self.proc, None
        if proc is None:
            return
        group = proc.pid  # the session leader's pid is its group
        proc.poll()  # reap a leader that exited: no zombie
        if not _signal_group(group, signal.SIGTERM):
            proc.wait()
            return
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            proc.poll()
            if not _signal_group(group, 0):
                break
            await asyncio.sleep(0.02)  # polls the group's exit, bounded
        else:
            _signal_group(group, signal.SIGKILL)
        proc.wait()


def _status(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"status {code}"


def _signal_group(group: int, signum: int) -> bool:
    """Sends signum to a process group; False when none of it is left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True


def _describe(changes: Iterable[tuple[Any, str]]) -> str:
    items = sorted(changes)
    shown = ", ".join(f"{c.raw_str()} {safe(p)}" for c, p in items[:3])
    more = len(items) - 3
    return shown + (f" and {more} more" if more > 0 else "")


class _Restarts:
    """Which changes restart the command: the command line's filters,
    then DefaultFilter."""

    def __init__(self, selection: cw.Selection) -> None:
        self.selection = selection
        self.default = DefaultFilter()

    def __call__(self, change: Any, path: str) -> bool:
        return self.selection.shows(path) and self.default(change, path)


async def _watching(
    args: argparse.Namespace,
    targets: cw.Targets,
    restarts: _Restarts,
) -> tuple[AsyncIterator[set[Any]], asyncio.Future[set[Any]]]:
    """awatch() with its watches in place: its first wait is started and
    has run up to the point where it waits (asyncio runs what is ready
    in order), so a path it cannot watch fails here, before the command
    runs.  Returns the iterator and that first wait."""
    for path in targets.paths:
        if not os.path.exists(path):
            raise cw.CliError(
                f"cannot watch {path!r}: No such file or directory"
            )
    # What the filter drops by directory name need not even be watched.
    excludes = cw.tree_excludes(args.exclude_glob) + list(
        restarts.default.ignore_dirs
    )
    changes = awatch(
        *targets.paths,
        watch_filter=restarts,
        debounce=args.debounce,
        step=args.step,
        exclude=excludes,
        rust_timeout=0,
        **cw.backend_options(args),
    ).__aiter__()
    first: asyncio.Future[set[Any]] = asyncio.ensure_future(
        changes.__anext__()
    )
    await asyncio.sleep(0)  # the first wait runs its setup
    if first.done() and first.exception() is not None:
        _raise_setup_error(first.exception())
    return changes, first


def _raise_setup_error(error: BaseException | None) -> None:
    if isinstance(error, OSError):
        what = error.strerror or str(error)
        if error.filename is not None:
            where = os.fsdecode(error.filename)
            raise cw.CliError(f"cannot watch {where!r}: {what}") from None
        raise cw.CliError(cw.instance_error(error)) from None
    if error is not None:
        raise error


async def run_command(
    args: argparse.Namespace,
    targets: cw.Targets,
    selection: cw.Selection,
    command: list[str],
) -> int:
    colour = _use_colour(args.color)

    def note(text: str) -> None:
        if args.quiet:
            return
        line = f"inotipy: {text}"
        print(DIM + line + RESET if colour else line, file=sys.stderr)

    child = _Child(command, args.grace, note)
    changes, first = await _watching(args, targets, _Restarts(selection))
    try:
        if not args.quiet:
            print("Watches established.", file=sys.stderr)
        note(f"running {child.shown}")
        try:
            child.start()
        except OSError as e:
            raise cw.CliError(
                f"cannot run {command[0]!r}: {e.strerror or e}"
            ) from None
        return await _restarting(child, changes, first, note)
    finally:
        first.cancel()
        with contextlib.suppress(BaseException):
            await first
        aclose = getattr(changes, "aclose", None)
        if aclose is not None:
            await aclose()


async def _restarting(
    child: _Child,
    changes: AsyncIterator[set[Any]],
    first: asyncio.Future[set[Any]],
    note: Any,
) -> int:
    # SIGTERM and SIGHUP end us like Ctrl-C does: through the finally
    # below, which stops the command, never leaving it behind.
    with cw.cancelled_by((signal.SIGTERM, signal.SIGHUP)) as caught:
        try:
            group = await first
            while True:
                note(f"{_describe(group)}: restarting {child.shown}")
                await child.stop()
                child.start()
                group = await changes.__anext__()
        except StopAsyncIteration:
            note("nothing left to watch")
            return cw.EXIT_OK
        except asyncio.CancelledError:
            if not caught:
                raise  # Ctrl-C: asyncio.run() says so
            return 128 + caught[0]
        finally:
            await child.stop()


def _use_colour(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stderr.isatty()
