"""The command line: ``inotipy`` (or ``python -m inotipy``).

Three modes over the same options:

    inotipy [options] PATH...                 print events
    inotipy --stats [options] PATH...         count events per path
    inotipy [options] PATH... -- CMD [ARG...] run CMD, restart it on changes

Output is plain on a pipe; on a terminal event names are coloured and a
status line (or, with --stats, the table) is kept up to date on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import fnmatch
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from typing import Any, TextIO

from ._changes import awatch
from ._constants import EVENT_BIT, IN, decode_mask
from ._filters import DefaultFilter
from ._inotipy import Event, WatcherClosedError
from ._watcher import Watcher

EXIT_OK, EXIT_ERROR, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 130

# ANSI colours by the kind of event, for terminals.
_COLOURS = (
    (IN.CREATE | IN.MOVED_TO, "\x1b[32m"),  # green
    (IN.DELETE | IN.DELETE_SELF | IN.MOVED_FROM, "\x1b[31m"),  # red
    (IN.MODIFY | IN.CLOSE_WRITE | IN.ATTRIB, "\x1b[33m"),  # yellow
    (IN.MOVE_SELF | IN.Q_OVERFLOW | IN.UNMOUNT, "\x1b[35m"),  # magenta
)
_DIM, _RESET = "\x1b[2m", "\x1b[0m"


def _mask(text: str) -> int:
    mask = 0
    for name in text.split(","):
        name = name.strip().upper()
        if not name:
            continue
        try:
            mask |= IN[name]
        except KeyError:
            raise argparse.ArgumentTypeError(
                f"unknown event {name!r} (names of inotipy.IN, e.g. "
                "CREATE,MODIFY)"
            ) from None
    if not mask & IN.ALL_EVENTS:
        raise argparse.ArgumentTypeError(f"no event named in {text!r}")
    return mask


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1, as inotifywait's do: 2 means a timeout."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="inotipy",
        usage="%(prog)s [options] PATH... [-- COMMAND [ARG...]]",
        description="Watch paths with inotify: print events (the default), "
        "count them (--stats), or run COMMAND and restart it whenever "
        "something changes (give it after --).",
        epilog="Exit status: 0 done, 1 error, 2 timeout with no event, "
        "130 interrupted.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="what to watch")
    p.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="watch directories as trees: every directory below, "
        "now and later (always on with a COMMAND)",
    )
    p.add_argument(
        "-e",
        "--events",
        type=_mask,
        action="append",
        metavar="EVENT[,EVENT]",
        help="events to watch, names of inotipy.IN "
        "(CREATE,MODIFY,...; default: all)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip names matching GLOB (in trees: not even "
        "watched); repeatable",
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="report only names matching GLOB; repeatable",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="exit after SECONDS without an event (status 2 if "
        "there was none at all); with --stats, the period",
    )
    p.add_argument(
        "-n", "--max-events", type=int, metavar="N", help="exit after N events"
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--format",
        metavar="FMT",
        help="a str.format() line per event: {path} {name} "
        "{events} {mask} {cookie} {wd} {src} {time}",
    )
    out.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per event and line",
    )
    out.add_argument(
        "--stats",
        action="store_true",
        help="count events per path and print a table at the "
        "end (after --timeout, --max-events or Ctrl-C)",
    )
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour on a terminal (auto, unless NO_COLOR is set)",
    )
    p.add_argument(
        "--debounce",
        type=int,
        default=1600,
        metavar="MS",
        help="with a COMMAND: group changes for at most MS ms",
    )
    p.add_argument(
        "--step",
        type=int,
        default=50,
        metavar="MS",
        help="with a COMMAND: restart once MS ms pass without a change",
    )
    p.add_argument(
        "--grace",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="with a COMMAND: time it has to exit after SIGTERM "
        "before SIGKILL",
    )
    return p


# ---- shared helpers ---------------------------------------------------------


def _use_colour(stream: TextIO, choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _colour_of(mask: int) -> str:
    for bits, colour in _COLOURS:
        if mask & bits:
            return colour
    return _DIM


def _safe(text: str | bytes) -> str:
    """Text for one output line: control characters, backslashes and
    undecodable bytes escaped, nothing else touched."""
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte
            out.append("\\x%02x" % (code - 0xDC00))
        elif not ch.isprintable():
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def _event_names(mask: int) -> list[str]:
    return [
        b.name if isinstance(b, EVENT_BIT) else b for b in decode_mask(mask)
    ]


def _text(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _matches(name: str, globs: Sequence[str]) -> bool:
    base = name.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(base, g) for g in globs)


class _Selection:
    """Which events are shown: --include and --exclude on the name."""

    def __init__(self, include: Sequence[str], exclude: Sequence[str]):
        self.include = include
        self.exclude = exclude

    def __call__(self, event: Event[Any]) -> bool:
        if not (self.include or self.exclude) or event.watch is None:
            return True
        name = _text(event.path)
        if self.exclude and _matches(name, self.exclude):
            return False
        if self.include and not event.pathname:
            return False  # the watched path itself
        return not self.include or _matches(name, self.include)


def _open_watcher(args: argparse.Namespace, mask: int) -> Watcher | int:
    watcher = Watcher()
    for path in args.paths:
        try:
            if args.recursive and os.path.isdir(path):
                watcher.watch_tree(path, mask, exclude=args.exclude)
            else:
                watcher.watch(path, mask)
        except OSError as e:
            print(
                f"inotipy: cannot watch {path!r}: {e.strerror or e}",
                file=sys.stderr,
            )
            watcher.close()
            return EXIT_ERROR
    return watcher


def _reconfigure(stream: TextIO) -> None:
    # A character the output's encoding lacks (a name with é on an ASCII
    # or Latin-1 terminal) is escaped too, never fatal.
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="backslashreplace")


class _Status:
    """A status line kept at the bottom of a terminal (stderr), redrawn at
    most ten times a second; a no-op elsewhere."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False
        self.last = 0.0
        self.started = time.monotonic()

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False

    def show(self, count: int, watches: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < 0.1):
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        sys.stderr.write(
            f"\r\x1b[K{_DIM}{count} events, {count / elapsed:.0f}/s, "
            f"{watches} watches{_RESET}"
        )
        sys.stderr.flush()
        self.shown = True


# ---- printing events --------------------------------------------------------


def _formatter(args: argparse.Namespace, colour: bool) -> Any:
    if args.json:

        def as_json(event: Event[Any]) -> str:
            return json.dumps(
                {
                    "time": time.time(),
                    "path": _text(event.path),
                    "name": _text(event.pathname),
                    "events": _event_names(event.mask),
                    "mask": event.mask,
                    "cookie": event.cookie,
                    "wd": event.wd,
                    "src_path": None
                    if event.src_path is None
                    else _text(event.src_path),
                }
            )

        return as_json
    if args.format is not None:
        fmt: str = args.format.encode("latin-1", "backslashreplace").decode(
            "unicode_escape"
        )  # \t and \n as the shell gave them

        def formatted(event: Event[Any]) -> str:
            names = ",".join(_event_names(event.mask))
            line = fmt.format(
                path=_safe(event.path),
                name=_safe(event.pathname),
                events=names,
                mask=event.mask,
                cookie=event.cookie,
                wd=event.wd,
                src=_safe(event.src_path or ""),
                time=datetime.datetime.now().isoformat(
                    timespec="milliseconds"
                ),
            )
            if colour:
                return _colour_of(event.mask) + line + _RESET
            return line

        return formatted

    def plain(event: Event[Any]) -> str:
        # repr() escapes newlines, escape sequences and invalid UTF-8.
        line = repr(event)
        if colour:
            return _colour_of(event.mask) + line + _RESET
        return line

    return plain


async def _print_events(args: argparse.Namespace, mask: int) -> int:
    opened = _open_watcher(args, mask)
    if isinstance(opened, int):
        return opened
    out = sys.stdout
    _reconfigure(out)
    colour = _use_colour(out, args.color)
    fmt = _formatter(args, colour)
    status = _Status(colour and sys.stderr.isatty())
    selected = _Selection(args.include, args.exclude)
    count = 0
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    with opened as watcher:
        try:
            while True:
                wait = None
                if args.timeout is not None:
                    wait = args.timeout - (loop.time() - quiet_since)
                    if wait <= 0:
                        return EXIT_OK if count else EXIT_TIMEOUT
                batch = await watcher.get_batch(wait)
                if not batch:
                    continue
                status.clear()
                lines = []
                for event in batch:
                    if not selected(event):
                        continue
                    lines.append(fmt(event))
                    count += 1
                    if count == args.max_events:
                        break
                if lines:
                    out.write("\n".join(lines) + "\n")
                    out.flush()
                    quiet_since = loop.time()
                if count == args.max_events:
                    return EXIT_OK
                if watcher.watch_count == 0:
                    print("inotipy: nothing left to watch", file=sys.stderr)
                    return EXIT_OK
                status.show(count, watcher.watch_count)
        finally:
            status.clear()


# ---- --stats ----------------------------------------------------------------


class _Stats:
    def __init__(self) -> None:
        self.per_path: dict[str, Counter[str]] = defaultdict(Counter)
        self.total = 0

    def add(self, event: Event[Any]) -> None:
        counts = self.per_path[_safe(event.path)]
        for name in _event_names(event.mask):
            if name != "ISDIR":
                counts[name] += 1
        counts["total"] += 1
        self.total += 1

    def table(self, limit: int | None = None) -> list[str]:
        columns = sorted(
            {n for c in self.per_path.values() for n in c} - {"total"}
        )
        rows = sorted(
            self.per_path.items(), key=lambda kv: (-kv[1]["total"], kv[0])
        )
        head = ["total"] + [c.lower() for c in columns] + ["path"]
        widths = [max(len(h), 6) for h in head[:-1]]
        # widths has no column for the path, the last heading.
        lines = [
            "  ".join(h.rjust(w) for h, w in zip(head, widths, strict=False))
            + "  path"
        ]
        for path, counts in rows[:limit]:
            cells = [counts["total"]] + [counts.get(c, 0) for c in columns]
            lines.append(
                "  ".join(
                    str(v).rjust(w) for v, w in zip(cells, widths, strict=True)
                )
                + "  "
                + path
            )
        return lines


async def _stats(args: argparse.Namespace, mask: int) -> int:
    opened = _open_watcher(args, mask)
    if isinstance(opened, int):
        return opened
    _reconfigure(sys.stdout)
    live = sys.stderr.isatty() and _use_colour(sys.stderr, args.color)
    selected = _Selection(args.include, args.exclude)
    stats = _Stats()
    loop = asyncio.get_running_loop()
    end = None if args.timeout is None else loop.time() + args.timeout
    drawn = 0
    last_draw = 0.0
    status = EXIT_OK
    with opened as watcher:
        try:
            while True:
                wait = None if end is None else end - loop.time()
                if live:
                    wait = 1.0 if wait is None else min(wait, 1.0)
                if wait is not None and wait <= 0:
                    break
                for event in await watcher.get_batch(wait):
                    if selected(event):
                        stats.add(event)
                        if stats.total == args.max_events:
                            break
                if stats.total == args.max_events:
                    break
                if live and loop.time() - last_draw >= 1.0:
                    last_draw = loop.time()
                    drawn = _redraw(stats, drawn)
        except asyncio.CancelledError:
            status = EXIT_INTERRUPTED
        finally:
            if live:
                _redraw(None, drawn)
    print("\n".join(stats.table()))
    print(f"{stats.total} events")
    return status


def _redraw(stats: _Stats | None, drawn: int) -> int:
    """Replaces the previous live table on stderr; returns its height."""
    err = sys.stderr
    if drawn:
        err.write(f"\x1b[{drawn}F\x1b[J")
    if stats is None:
        err.flush()
        return 0
    lines = [f"{_DIM}{stats.total} events so far{_RESET}"]
    lines += stats.table(limit=15)
    err.write("\n".join(lines) + "\n")
    err.flush()
    return len(lines)


# ---- running a command ------------------------------------------------------


class _Child:
    """The command, in a process group of its own: stopping it stops
    whatever it started too, even once it has exited itself."""

    def __init__(self, command: Sequence[str], grace: float) -> None:
        self.command = list(command)
        self.grace = grace
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, start_new_session=True)

    async def stop(self) -> None:
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


def _signal_group(group: int, signum: int) -> bool:
    """Sends signum to a process group; False when none of it is left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True


def _describe(changes: Iterable[tuple[Any, str]]) -> str:
    items = sorted(changes)
    shown = ", ".join(f"{c.raw_str()} {_safe(p)}" for c, p in items[:3])
    more = len(items) - 3
    return shown + (f" and {more} more" if more > 0 else "")


class _Restarts:
    """Which changes restart the command: --include and --exclude on the
    path, then DefaultFilter."""

    def __init__(self, include: Sequence[str], exclude: Sequence[str]):
        self.include = include
        self.exclude = exclude
        self.default = DefaultFilter()

    def __call__(self, change: Any, path: str) -> bool:
        if self.include and not _matches(path, self.include):
            return False
        if self.exclude and _matches(path, self.exclude):
            return False
        return self.default(change, path)


def _note(text: str, colour: bool) -> None:
    line = f"inotipy: {text}"
    print(_DIM + line + _RESET if colour else line, file=sys.stderr)


def _all_exist(paths: Sequence[str]) -> bool:
    for path in paths:
        if not os.path.exists(path):
            print(
                f"inotipy: cannot watch {path!r}: No such file or directory",
                file=sys.stderr,
            )
            return False
    return True


@contextlib.contextmanager
def _cancelled_by(signums: Sequence[int]) -> Iterator[list[int]]:
    """While in the block, these signals cancel the running task, as
    Ctrl-C does; the list it gives says which came."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    caught: list[int] = []

    def on_signal(signum: int) -> None:
        caught.append(signum)
        if task is not None:
            task.cancel()

    for signum in signums:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield caught
    finally:
        for signum in signums:
            loop.remove_signal_handler(signum)


async def _run_command(args: argparse.Namespace, command: list[str]) -> int:
    colour = _use_colour(sys.stderr, args.color)
    restarts = _Restarts(args.include, args.exclude)
    # What the filter drops by directory name need not even be watched.
    excludes = list(args.exclude) + list(restarts.default.ignore_dirs)
    child = _Child(command, args.grace)
    if not _all_exist(args.paths):
        return EXIT_ERROR
    try:
        child.start()
    except OSError as e:
        print(
            f"inotipy: cannot run {command[0]!r}: {e.strerror or e}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    # SIGTERM and SIGHUP end us like Ctrl-C does: through the finally
    # below, which stops the command, never leaving it behind.
    with _cancelled_by((signal.SIGTERM, signal.SIGHUP)) as caught:
        try:
            async for changes in awatch(
                *args.paths,
                watch_filter=restarts,
                debounce=args.debounce,
                step=args.step,
                exclude=excludes,
                rust_timeout=0,
            ):
                _note(
                    f"{_describe(changes)}: restarting {' '.join(command)}",
                    colour,
                )
                await child.stop()
                child.start()
        except OSError as e:
            print(f"inotipy: {e}", file=sys.stderr)
            return EXIT_ERROR
        except asyncio.CancelledError:
            if not caught:
                raise  # Ctrl-C: asyncio.run() says so
            return 128 + caught[0]
        finally:
            await child.stop()
    return EXIT_OK


# ---- entry point ------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:  # watchfiles' command line: inotipy._run_cli
        from ._run_cli import main as run_main

        return run_main(argv[1:])
    args, command = _parse(argv)
    if command:
        return _run(_run_command(args, command))
    if args.stats:
        return _run(_stats(args, _mask_of(args)))
    return _run(_print_events(args, _mask_of(args)))


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The options, and the COMMAND after --; usage errors exit."""
    parser = _parser()
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1 :]
        if not command:
            parser.error("no COMMAND after --")
    args = parser.parse_args(argv)
    if args.max_events is not None and args.max_events < 1:
        parser.error("--max-events must be at least 1")
    if args.format is not None:
        try:
            args.format.format(
                path="",
                name="",
                events="",
                mask=0,
                cookie=0,
                wd=0,
                src="",
                time="",
            )
        except (KeyError, IndexError, ValueError) as e:
            parser.error(
                f"bad --format {args.format!r}: {e} (fields: {{path}} "
                "{name} {events} {mask} {cookie} {wd} {src} {time})"
            )
    if command and (args.stats or args.json or args.format is not None):
        parser.error(
            "a COMMAND runs on its own: no --stats, --json or --format with it"
        )
    return args, command


def _mask_of(args: argparse.Namespace) -> int:
    """The events to watch: those of -e, all by default."""
    mask: int = IN.ALL_EVENTS
    if args.events:
        mask = 0
        for m in args.events:
            mask |= m
    return mask


def _run(job: Coroutine[Any, Any, int]) -> int:
    """Runs a mode to its exit status; Ctrl-C and a reader that went away
    end it quietly."""
    try:
        return asyncio.run(job)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly.  The new stdout
        # stays open, for whatever writes to it on the way out.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    except WatcherClosedError:
        return EXIT_OK
