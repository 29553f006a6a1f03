"""Counting events: ``inotipy --stats`` (per file) and ``inotipy
watch-stats`` (inotifywatch's table and options, per watched directory).

Both print inotifywatch's table (a column per kind of event, in its
order, left-aligned, the busiest row first unless ``-a``/``-d`` sorts by
another column) and what the watcher went through: events delivered,
watches in use against ``max_user_watches``, overflows, the depth its
queue reached.  The watcher has no ``stats()`` of its own yet, so these
are counted here, from what the events and the watcher show.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from . import _cli_watch as cw
from ._cli_output import DIM, RESET, Output, safe, split_event
from ._constants import IN
from ._inotipy import Event
from ._watcher import Watcher

__all__ = [
    "COLUMNS",
    "Health",
    "Tally",
    "live_view",
    "per_file_stats",
    "run_stats",
    "sort_spec",
    "watch_stats_main",
]

# inotifywatch's columns, in its order.
COLUMNS = (
    ("access", IN.ACCESS),
    ("modify", IN.MODIFY),
    ("attrib", IN.ATTRIB),
    ("close_write", IN.CLOSE_WRITE),
    ("close_nowrite", IN.CLOSE_NOWRITE),
    ("open", IN.OPEN),
    ("moved_from", IN.MOVED_FROM),
    ("moved_to", IN.MOVED_TO),
    ("move_self", IN.MOVE_SELF),
    ("create", IN.CREATE),
    ("delete", IN.DELETE),
    ("delete_self", IN.DELETE_SELF),
    ("unmount", IN.UNMOUNT),
)
_SORTABLE = {name: bit for name, bit in COLUMNS}


class Tally:
    """Counts per row (a path) and kind of event, of the events asked
    for."""

    def __init__(self, mask: int, key: Callable[[Event[Any]], str]) -> None:
        self.mask = mask
        self.key = key
        self.rows: dict[str, dict[int, int]] = {}
        self.total = 0

    def add(self, event: Event[Any]) -> None:
        bits = event.mask & self.mask
        if not bits & ~IN.Q_OVERFLOW & ~IN.IGNORED:
            return
        row = self.rows.setdefault(self.key(event), {0: 0})
        row[0] += 1  # 0: the row's total
        for _, bit in COLUMNS:
            if bits & bit:
                row[bit] = row.get(bit, 0) + 1
        self.total += 1

    def seed(self, key: str) -> None:
        """A row shown with -z even with nothing counted."""
        self.rows.setdefault(key, {0: 0})

    def table(
        self, *, zero: bool, sort: tuple[int, bool], limit: int | None = None
    ) -> list[str]:
        """inotifywatch's table: a column per kind counted (every kind
        asked for, with zero), a row per path with events (every row,
        with zero).  sort: (bit or 0 for total, ascending)."""
        columns = [
            (name, bit)
            for name, bit in COLUMNS
            if self.mask & bit
            and (zero or any(r.get(bit) for r in self.rows.values()))
        ]
        bit, ascending = sort
        rows = [(k, r) for k, r in self.rows.items() if zero or r[0]]
        rows.sort(key=lambda kr: kr[0])
        rows.sort(key=lambda kr: kr[1].get(bit, 0), reverse=not ascending)
        head = ["total", *(name for name, _ in columns)]
        lines = ["  ".join(head) + "  filename"]
        for key, row in rows[:limit]:
            cells = [str(row[0]).ljust(5)]
            cells += [str(row.get(b, 0)).ljust(len(n)) for n, b in columns]
            lines.append("  ".join(cells) + "  " + key)
        return lines


class Health:
    """What the watcher went through: Watcher.stats(), and what the
    events printed show."""

    def __init__(self) -> None:
        self.delivered = 0
        self.overflows = 0
        self.peak = 0

    def batch(self, watcher: Watcher, events: Sequence[Event[Any]]) -> None:
        self.delivered += len(events)
        self.peak = max(self.peak, len(events) + watcher.queued)
        self.overflows += sum(1 for e in events if e.mask & IN.Q_OVERFLOW)

    def lines(self, watcher: Watcher) -> list[str]:
        # The watcher counts for itself (Watcher.stats()); what the CLI
        # counted from the events it printed is the floor.
        st = watcher.stats()
        limit = st.max_user_watches
        userns = st.user_namespace_max_watches
        where = f"of max_user_watches {_number(limit)}"
        if userns is not None and userns != limit:
            where += f" (user namespace: max_inotify_watches {userns})"
        queue_limit = _sysctl("fs/inotify/max_queued_events")
        lines = [
            f"delivered: {max(self.delivered, st.delivered)} events",
            f"watches: {st.watches} in use by this watcher, {where}",
            f"overflows: {max(self.overflows, st.overflows)} (the kernel's "
            f"queue holds max_queued_events {_number(queue_limit)})",
            f"queue: {max(self.peak, st.peak_queued)} events at most "
            f"waiting at once (bound {watcher.max_queued})",
        ]
        if st.rescans:
            lines.append(f"rescans: {st.rescans} (trees healed)")
        return lines


def _sysctl(name: str) -> int | None:
    try:
        with open(f"/proc/sys/{name}") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _number(value: int | None) -> str:
    return "unknown" if value is None else str(value)


# ---- collecting -------------------------------------------------------------


async def _collect(
    watcher: Watcher,
    tally: Tally,
    health: Health,
    shows: Callable[[Event[Any]], bool],
    *,
    timeout: float | None,
    max_events: int | None,
    live: _Live | None,
) -> None:
    """Counts until the timeout (none: until a signal), max_events or
    every watch gone."""
    loop = asyncio.get_running_loop()
    end = None if not timeout else loop.time() + timeout
    while watcher.watch_count:
        wait = None if end is None else end - loop.time()
        if wait is not None and wait <= 0:
            return
        if live is not None:
            wait = 1.0 if wait is None else min(wait, 1.0)
        events = await watcher.get_batch(wait)
        health.batch(watcher, events)
        for event in events:
            if shows(event):
                tally.add(event)
                if tally.total == max_events:
                    return
        if live is not None:
            live.maybe_draw(tally, health, watcher)


class _Live:
    """The table kept up to date on a terminal (stderr), once a second."""

    def __init__(self, stream: TextIO, zero: bool, sort: tuple[int, bool]):
        self.stream = stream
        self.zero = zero
        self.sort = sort
        self.drawn = 0
        self.last = 0.0

    def maybe_draw(
        self, tally: Tally, health: Health, watcher: Watcher
    ) -> None:
        now = asyncio.get_running_loop().time()
        if now - self.last < 1.0:
            return
        self.last = now
        self.clear()
        lines = [f"{DIM}{tally.total} events so far{RESET}"]
        lines += tally.table(zero=self.zero, sort=self.sort, limit=15)
        lines += [DIM + health.lines(watcher)[1] + RESET]
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self.drawn = len(lines)

    def clear(self) -> None:
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.stream.flush()
            self.drawn = 0


async def run_stats(
    watcher: Watcher,
    tally: Tally,
    shows: Callable[[Event[Any]], bool],
    *,
    timeout: float | None,
    max_events: int | None,
    live: _Live | None,
) -> tuple[Health, int | None]:
    """Collects until done or a signal (SIGINT, SIGTERM, SIGHUP, which
    end it as the timeout would); returns the health and the signal."""
    health = Health()
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    with cw.cancelled_by(signums) as caught:
        try:
            await _collect(
                watcher,
                tally,
                health,
                shows,
                timeout=timeout,
                max_events=max_events,
                live=live,
            )
        except asyncio.CancelledError:
            if not caught:
                raise
        finally:
            if live is not None:
                live.clear()
    return health, caught[0] if caught else None


def live_view(
    color: str, quiet: int, zero: bool, sort: tuple[int, bool]
) -> _Live | None:
    err = sys.stderr
    tty = err.isatty()
    on = color == "always" or (
        color == "auto" and tty and not os.environ.get("NO_COLOR")
    )
    if quiet or not tty or not on:
        return None
    return _Live(err, zero, sort)


def sort_spec(
    ascending: str | None, descending: str | None, mask: int
) -> tuple[int, bool]:
    """(bit, ascending) from -a/-d's event, as inotifywatch takes it;
    raises ValueError."""
    if ascending and descending:
        raise ValueError("-a and -d sort both: give one")
    name = (ascending or descending or "total").lower()
    if name == "total":
        return 0, bool(ascending)
    if name in ("move", "close"):
        halves = (
            "moved_to or moved_from"
            if name == "move"
            else ("close_write or close_nowrite")
        )
        raise ValueError(f"cannot sort by {name!r}: sort by {halves}")
    if name not in _SORTABLE:
        raise ValueError(f"cannot sort by {name!r}: not an event")
    if not _SORTABLE[name] & mask:
        raise ValueError(f"cannot sort by {name!r}: it is not watched (-e)")
    return _SORTABLE[name], bool(ascending)


# ---- inotipy watch-stats: inotifywatch --------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = cw.Parser(
        prog="inotipy watch-stats",
        usage="%(prog)s [options] PATH...",
        description="inotifywatch's statistics: count events per watched "
        "file or directory, and print a table when the time is up (-t) "
        "or on Ctrl-C.",
        epilog="Exit status: 0 done, 1 error.",
    )
    cw.add_watch_options(p)
    p.add_argument(
        "-t",
        "--timeout",
        type=cw.seconds,
        metavar="SECONDS",
        help="count for SECONDS (0 or none: until interrupted)",
    )
    p.add_argument(
        "-a", "--ascending", metavar="EVENT", help="sort by EVENT, ascending"
    )
    p.add_argument(
        "-d",
        "--descending",
        metavar="EVENT",
        help="sort by EVENT (or total, the default), descending",
    )
    p.add_argument(
        "-z",
        "--zero",
        action="store_true",
        help="show rows and columns of zeros too",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say more on stderr while setting up",
    )
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="the live table on a terminal (auto, unless NO_COLOR is set)",
    )
    return p


def watch_stats_main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_intermixed_args(argv)
    targets, selection = cw.parse_targets(parser, args)
    mask = cw.requested_mask(args)
    try:
        sort = sort_spec(args.ascending, args.descending, mask)
    except ValueError as e:
        parser.error(str(e))
    return cw.run(_watch_stats(args, targets, selection, mask, sort))


async def _watch_stats(
    args: argparse.Namespace,
    targets: cw.Targets,
    selection: cw.Selection,
    mask: int,
    sort: tuple[int, bool],
) -> int:
    err = sys.stderr
    err.write("Establishing watches...\n")
    watcher, dirs = cw.open_watcher(
        targets,
        mask & IN.ALL_EVENTS,
        recursive=args.recursive,
        no_dereference=args.no_dereference,
        exclude=cw.tree_excludes(args.exclude_glob),
        progress=cw.Progress(err, err.isatty()),
        **cw.backend_options(args),
    )
    with watcher:
        if args.verbose:
            err.write(f"Total of {watcher.watch_count} watches.\n")
        err.write(
            "Finished establishing watches, now collecting statistics.\n"
        )
        if args.verbose and args.timeout:
            err.write(
                f"Will listen for events for {args.timeout:g} seconds.\n"
            )
        err.flush()

        def where(event: Event[Any]) -> str:
            return safe(split_event(event, dirs)[0])

        def shows(event: Event[Any]) -> bool:
            return selection.shows("".join(split_event(event, dirs)))

        tally = Tally(mask, where)
        if args.zero:
            for path in targets.paths:
                tally.seed(safe(path + "/" if path in dirs else path))
        live = live_view(args.color, 0, args.zero, sort)
        # SIGUSR1 prints the table so far and goes on, as inotifywatch's.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(
            signal.SIGUSR1, _print_table, tally, args.zero, sort, "\n"
        )
        try:
            health, _ = await run_stats(
                watcher, tally, shows, timeout=args.timeout,
                max_events=None, live=live,
            )  # fmt: skip
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)
        _print_table(tally, args.zero, sort)
        for line in health.lines(watcher):
            err.write(f"inotipy: {line}\n")
    return cw.EXIT_OK


def _print_table(
    tally: Tally, zero: bool, sort: tuple[int, bool], after: str = ""
) -> None:
    if not tally.total and not zero:
        sys.stderr.write("No events occurred.\n")
        return
    lines = [line + "\n" for line in tally.table(zero=zero, sort=sort)]
    Output.stdout().write([*lines, after])


# ---- inotipy --stats: per file ----------------------------------------------


async def per_file_stats(
    args: argparse.Namespace,
    targets: cw.Targets,
    selection: cw.Selection,
    mask: int,
    sort: tuple[int, bool],
    out: Output,
) -> int:
    """--stats: inotifywatch's table with a row per file, then what the
    watcher went through; 130 after Ctrl-C."""
    err = sys.stderr
    quiet = args.quiet
    if not quiet:
        err.write("Setting up watches.\n")
        err.flush()
    watcher, dirs = cw.open_watcher(
        targets,
        mask & IN.ALL_EVENTS,
        recursive=args.recursive,
        no_dereference=args.no_dereference,
        exclude=cw.tree_excludes(args.exclude_glob),
        progress=cw.Progress(err, err.isatty() and not quiet),
        **cw.backend_options(args),
    )
    with watcher:
        if not quiet:
            err.write("Watches established.\n")
            err.flush()

        def path(event: Event[Any]) -> str:
            return safe("".join(split_event(event, dirs)).rstrip("/"))

        def shows(event: Event[Any]) -> bool:
            return selection.shows("".join(split_event(event, dirs)))

        tally = Tally(mask, path)
        live = live_view(args.color, quiet, args.zero, sort)
        health, signum = await run_stats(
            watcher, tally, shows, timeout=args.timeout,
            max_events=args.max_events, live=live,
        )  # fmt: skip
        if quiet < 2:
            lines = tally.table(zero=args.zero, sort=sort)
            lines += [f"{tally.total} events", *health.lines(watcher)]
            out.write([line + "\n" for line in lines])
    if signum == signal.SIGINT:
        return cw.EXIT_INTERRUPTED
    return cw.EXIT_OK if signum is None else 128 + signum
