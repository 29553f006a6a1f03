"""What the command line watches, and how it says why it cannot.

- Which paths: the arguments and ``--fromfile`` lines, where ``@PATH``
  excludes a path (and what is below it), as inotifywait reads them.
- Which events: ``-e`` names as inotifywait spells them.
- Which events are shown: inotifywait's regular expressions on the full
  path (``--exclude``, ``--include`` and their case-insensitive ``i``
  forms) and our globs (``--exclude-glob``, ``--include-glob``).
- Setting the watches up, with a progress line on a terminal when the
  tree walk can report one, and every failure as one line.
- Running a mode: signals, and the exit status of every way it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import fnmatch
import gc
import inspect
import os
import re
import sys
import time
import warnings
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from ._backends import BACKENDS, DEFAULT_POLL_DELAY_MS
from ._constants import IN
from ._inotipy import WatcherClosedError
from ._watcher import Watcher

__all__ = [
    "EVENT_NAMES",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "CliError",
    "Parser",
    "Progress",
    "Selection",
    "Targets",
    "add_watch_options",
    "build_selection",
    "cancelled_by",
    "check_watch_options",
    "compile_regex",
    "describe_oserror",
    "event_mask",
    "instance_error",
    "one_line_warnings",
    "open_watcher",
    "parse_targets",
    "read_targets",
    "requested_mask",
    "run",
    "seconds",
    "tree_excludes",
    "tree_takes_progress",
]

# The names -e takes, as inotifywait spells them (any case).  unmount,
# q_overflow and ignored always come; naming them shows them.
EVENT_NAMES: dict[str, int] = {
    "access": IN.ACCESS,
    "modify": IN.MODIFY,
    "attrib": IN.ATTRIB,
    "close_write": IN.CLOSE_WRITE,
    "close_nowrite": IN.CLOSE_NOWRITE,
    "close": IN.CLOSE,
    "open": IN.OPEN,
    "moved_from": IN.MOVED_FROM,
    "moved_to": IN.MOVED_TO,
    "move": IN.MOVE,
    "move_self": IN.MOVE_SELF,
    "create": IN.CREATE,
    "delete": IN.DELETE,
    "delete_self": IN.DELETE_SELF,
    "unmount": IN.UNMOUNT,
    "q_overflow": IN.Q_OVERFLOW,
    "ignored": IN.IGNORED,
    "all_events": IN.ALL_EVENTS,
}


class CliError(Exception):
    """A failure the command line reports in one line, then exits 1."""


def event_mask(value: str) -> int:
    """-e's value: names separated by commas; raises ValueError."""
    mask = 0
    for name in value.split(","):
        name = name.strip().lower()
        if not name:
            continue
        if name not in EVENT_NAMES:
            raise ValueError(
                f"unknown event {name!r} (one of: "
                + " ".join(EVENT_NAMES)
                + ")"
            )
        mask |= EVENT_NAMES[name]
    if not mask:
        raise ValueError(f"no event named in {value!r}")
    return mask


def describe_oserror(e: OSError) -> str:
    what = e.strerror or str(e)
    if e.filename is not None:
        return f"{os.fsdecode(e.filename)!r}: {what}"
    return what


def instance_error(e: OSError) -> str:
    """The line for an inotify instance that could not be made."""
    what = e.strerror or str(e)
    if "inotify instance" not in what:
        what = f"cannot create an inotify instance: {what}"
    if e.errno == errno.EMFILE:
        # Unknown when even this file cannot be opened: no descriptor.
        limits = "/proc/sys/fs/inotify/max_user_instances"
        with suppress(OSError, ValueError), open(limits) as f:
            what += f" (max_user_instances is {int(f.read())})"
    return what


# ---- paths ------------------------------------------------------------------


class Targets:
    """The paths to watch, and the @-excluded ones (absolute)."""

    def __init__(self, paths: list[str], excluded: list[str]) -> None:
        self.paths = paths
        # A path both given and excluded is watched, as inotifywait does.
        given = {os.path.abspath(p) for p in paths}
        self.excluded = [
            e for e in (os.path.abspath(x) for x in excluded) if e not in given
        ]


def read_targets(args: Sequence[str], fromfile: str | None) -> Targets:
    """The --fromfile lines first, then the arguments, as inotifywait
    reads them; a line or argument @PATH excludes PATH.  Raises CliError
    when the file cannot be read."""
    lines: list[str] = []
    if fromfile is not None:
        lines = _read_lines(fromfile)
    paths: list[str] = []
    excluded: list[str] = []
    for item in (*lines, *args):
        if not item or item == "@":
            continue
        if item.startswith("@"):
            excluded.append(item[1:])
        else:
            paths.append(item)
    return Targets(paths, excluded)


def _read_lines(fromfile: str) -> list[str]:
    try:
        if fromfile == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(fromfile, "rb") as f:
                data = f.read()
    except OSError as e:
        raise CliError(
            f"cannot read --fromfile {fromfile!r}: {e.strerror or e}"
        ) from None
    return [os.fsdecode(line) for line in data.split(b"\n")]


# ---- which events are shown -------------------------------------------------

# POSIX bracket classes, which Python's re lacks, by what they hold.
_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}


def _posix_classes(pattern: str) -> str:
    """[[:alpha:]] and its kind, inside bracket expressions, as Python's
    re spells them; nothing else changes."""
    out: list[str] = []
    i, in_bracket = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and not in_bracket:
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_bracket:
            match = re.match(r"\[:([a-z]+):\]", pattern[i:])
            if match and match.group(1) in _POSIX_CLASSES:
                out.append(_POSIX_CLASSES[match.group(1)])
                i += match.end()
                continue
            if ch == "]" and out[-1] not in ("[", "[^"):
                in_bracket = False
        elif ch == "[":
            in_bracket = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def compile_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """inotifywait's extended regular expression as Python's; raises
    ValueError."""
    try:
        return re.compile(
            _posix_classes(pattern), re.IGNORECASE if ignore_case else 0
        )
    except re.error as e:
        raise ValueError(str(e)) from None


class _Globs:
    """Globs matched on paths: one without a slash on the last name, one
    starting with a slash on the whole path, any other on the whole path
    or on any end of it that starts after a slash (build/* matches
    /tmp/w/build/x)."""

    def __init__(self, globs: Sequence[str]) -> None:
        self.any = bool(globs)
        self.names = _regex([g for g in globs if "/" not in g])
        self.whole = _regex([g for g in globs if g.startswith("/")])
        self.ends = _regex([g for g in globs if "/" in g[1:] and g[0] != "/"])

    def hit(self, path: str) -> bool:
        if self.names is not None and self.names.match(
            path.rsplit("/", 1)[-1]
        ):
            return True
        if self.whole is not None and self.whole.match(path):
            return True
        if self.ends is None:
            return False
        if self.ends.match(path):
            return True
        at = path.find("/")
        while at != -1:
            if self.ends.match(path, at + 1):
                return True
            at = path.find("/", at + 1)
        return False


def _regex(globs: Sequence[str]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(fnmatch.translate(g) for g in globs))


class Selection:
    """Which events are shown.  The regular expressions search the full
    path as inotifywait prints it (%w%f: a directory watched itself ends
    in a slash); a glob without a slash matches the last name, a glob
    with one the full path or any end of it that starts after a slash.
    A path below an @-exclusion is never shown.  Q_OVERFLOW has no path
    and is always shown."""

    def __init__(
        self,
        *,
        excluded: Sequence[str] = (),
        exclude_re: Sequence[re.Pattern[str]] = (),
        include_re: Sequence[re.Pattern[str]] = (),
        exclude_globs: Sequence[str] = (),
        include_globs: Sequence[str] = (),
    ) -> None:
        self.excluded = [e.rstrip("/") for e in excluded]
        self.exclude_re = list(exclude_re)
        self.include_re = list(include_re)
        self.exclude_globs = _Globs(exclude_globs)
        self.include_globs = _Globs(include_globs)
        self.anything = bool(
            self.excluded
            or self.exclude_re
            or self.include_re
            or exclude_globs
            or include_globs
        )

    def shows(self, full: str) -> bool:
        """full: the path as %w%f gives it ('' for Q_OVERFLOW)."""
        if not full:
            return True
        if self.excluded and self._is_excluded(full):
            return False
        if any(r.search(full) for r in self.exclude_re):
            return False
        if self.include_re and not any(
            r.search(full) for r in self.include_re
        ):
            return False
        return self._globs_show(full.rstrip("/"))

    def _is_excluded(self, full: str) -> bool:
        path = os.path.abspath(full)
        return any(
            path == e or path.startswith(e + "/") for e in self.excluded
        )

    def _globs_show(self, path: str) -> bool:
        if self.exclude_globs.any and self.exclude_globs.hit(path):
            return False
        return not self.include_globs.any or self.include_globs.hit(path)


def tree_excludes(globs: Sequence[str]) -> list[str]:
    """The globs a tree can skip while it walks: those on names alone."""
    return [g for g in globs if "/" not in g]


# ---- setting the watches up -------------------------------------------------


class Progress:
    """A line on a terminal (stderr) counting directories while trees
    are set up, redrawn at most ten times a second; nothing elsewhere."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.base = 0
        self.last = 0.0
        self.shown = False

    def __call__(self, count: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.1:
            return
        self.last = now
        total = self.base + count
        unit = "directory" if total == 1 else "directories"
        self.stream.write(f"\r\x1b[KSetting up watches: {total:,} {unit}")
        self.stream.flush()
        self.shown = True

    def tree_done(self, count: int) -> None:
        self.base += count

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def tree_takes_progress(watcher: Watcher) -> bool:
    """Whether watch_tree() takes progress=callable (a later core adds
    it); found from its signature, nothing called."""
    method = type(watcher).watch_tree
    try:
        return "progress" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        pass
    signature = getattr(method, "__text_signature__", None) or ""
    return re.search(r"\bprogress\b", signature) is not None


def open_watcher(
    targets: Targets,
    mask: int,
    *,
    recursive: bool,
    no_dereference: bool,
    exclude: Sequence[str],
    progress: Progress | None = None,
    backend: str = "auto",
    poll_delay_ms: int = DEFAULT_POLL_DELAY_MS,
) -> tuple[Watcher, set[str]]:
    """A watcher with every target watched, and the watched paths that
    are directories.  Raises CliError, the watcher closed, when one
    cannot be watched."""
    try:
        watcher = Watcher()
    except OSError as e:
        raise CliError(instance_error(e)) from None
    dirs: set[str] = set()
    tree_options = {"backend": backend, "poll_delay_ms": poll_delay_ms}
    try:
        for path in targets.paths:
            _watch_one(
                watcher, path, mask, recursive, no_dereference, exclude,
                progress, dirs, tree_options,
            )  # fmt: skip
    except OSError as e:
        watcher.close()
        raise CliError(f"cannot watch {path!r}: {e.strerror or e}") from None
    except BaseException:
        watcher.close()
        raise
    finally:
        if progress is not None:
            progress.clear()
    return watcher, dirs


def _watch_one(
    watcher: Watcher,
    path: str,
    mask: int,
    recursive: bool,
    no_dereference: bool,
    exclude: Sequence[str],
    progress: Progress | None,
    dirs: set[str],
    tree_options: dict[str, Any],
) -> None:
    link = no_dereference and os.path.islink(path)
    is_dir = os.path.isdir(path) and not link
    if recursive and is_dir:
        kwargs: dict[str, Any] = {"exclude": exclude, **tree_options}
        counted: list[int] = [0]
        if progress is not None and tree_takes_progress(watcher):

            def report(count: int) -> None:
                counted[0] = count
                progress(count)

            kwargs["progress"] = report
        watcher.watch_tree(path, mask, **kwargs)
        if progress is not None:
            progress.tree_done(counted[0])
    else:
        watcher.watch(path, mask | (IN.DONT_FOLLOW if no_dereference else 0))
    if is_dir:
        dirs.add(path)


@contextmanager
def one_line_warnings(stream: TextIO) -> Iterator[None]:
    """Warnings (a tree's TreeWarning: a directory that could not be
    watched) as one line each, 'inotipy: warning: ...', no source line."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        stream.write(f"inotipy: warning: {message}\n")
        stream.flush()

    saved = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved


# ---- options both parsers take ----------------------------------------------


class Parser(argparse.ArgumentParser):
    """Usage errors exit 1, as inotifywait's do: 2 means a timeout.
    Options are never abbreviated: --exclude is not --exclude-glob."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def add_watch_options(p: argparse.ArgumentParser) -> None:
    """The paths and filters inotifywait and inotifywatch share."""
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="what to watch; @PATH excludes PATH and what is below it",
    )
    p.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="watch directories as trees: every directory below, now "
        "and later",
    )
    p.add_argument(
        "-e",
        "--event",
        "--events",
        dest="events",
        type=_event_arg,
        action="append",
        metavar="EVENT[,EVENT]",
        help="events to watch (repeatable; default all): "
        + " ".join(EVENT_NAMES),
    )
    p.add_argument(
        "-P",
        "--no-dereference",
        action="store_true",
        help="watch a symbolic link itself, not what it points to",
    )
    p.add_argument(
        "--fromfile",
        metavar="FILE",
        help="read paths (and @exclusions) from FILE, one a line ('-': "
        "standard input)",
    )
    regex = (
        " (an extended regular expression on the full path, as "
        "inotifywait's; repeatable)"
    )
    for flag, what in (
        ("--exclude", "skip events whose path matches REGEX" + regex),
        ("--excludei", "--exclude, ignoring case"),
        ("--include", "show only events whose path matches REGEX" + regex),
        ("--includei", "--include, ignoring case"),
    ):
        p.add_argument(
            flag, action="append", default=[], metavar="REGEX", help=what
        )
    p.add_argument(
        "--exclude-glob",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip paths matching GLOB: on the name without a slash (in "
        "trees such directories are not even watched), else on the path; "
        "repeatable",
    )
    p.add_argument(
        "--include-glob",
        action="append",
        default=[],
        metavar="GLOB",
        help="show only paths matching GLOB; repeatable",
    )
    p.add_argument(
        "-I",
        "--inotify",
        action="store_true",
        help="watch with inotify (always so: accepted for fsnotifywait)",
    )
    add_backend_options(p)
    for flag, long in (("-F", "--fanotify"), ("-S", "--filesystem")):
        p.add_argument(flag, long, action="store_true", help=argparse.SUPPRESS)


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """--backend, --poll-delay-ms and --poll: what watches a tree
    (watch_tree()'s backend and poll_delay_ms)."""
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="what watches a tree (-r): auto (the default) polls the parts "
        "on network and FUSE mounts, which inotify cannot fully see; "
        "inotify never polls; poll polls the whole tree too; fanotify "
        "(root, Linux 5.17) hears trees by one mark per file system",
    )
    p.add_argument(
        "--poll",
        action="store_true",
        help="--backend poll (watchexec's and watchmedo's word for it)",
    )
    p.add_argument(
        "--poll-delay-ms",
        type=_positive_ms,
        default=DEFAULT_POLL_DELAY_MS,
        metavar="MS",
        help=f"milliseconds between two polls (default "
        f"{DEFAULT_POLL_DELAY_MS})",
    )


def _positive_ms(value: str) -> int:
    try:
        ms = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a whole number of milliseconds: {value!r}"
        ) from None
    if ms <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value!r}")
    return ms


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """watch_tree()'s backend and poll_delay_ms from the options; a
    CliError when --poll and another --backend are both given."""
    backend = getattr(args, "backend", None)
    if getattr(args, "poll", False):
        if backend not in (None, "poll"):
            raise CliError(f"--poll contradicts --backend {backend}")
        backend = "poll"
    return {
        "backend": backend or "auto",
        "poll_delay_ms": getattr(args, "poll_delay_ms", DEFAULT_POLL_DELAY_MS),
    }


def _event_arg(value: str) -> int:
    try:
        return event_mask(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def seconds(value: str) -> float:
    """A -t value: seconds, not negative."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value!r}")
    return number


def requested_mask(args: argparse.Namespace) -> int:
    """The events of -e (all by default), always-delivered ones
    included when named."""
    mask = 0
    for m in args.events or ():
        mask |= m
    return mask or int(IN.ALL_EVENTS)


def check_watch_options(args: argparse.Namespace) -> str | None:
    """Why the shared options cannot be used together, or None."""
    if args.fanotify or args.filesystem:
        return (
            "-F/--fanotify and -S/--filesystem are fsnotifywait's: inotipy "
            "watches with inotify (leave them out)"
        )
    if args.events and not requested_mask(args) & IN.ALL_EVENTS:
        return (
            "-e names no event to watch: unmount, q_overflow and ignored "
            "come anyway; name an event too (e.g. -e create,unmount)"
        )
    return None


def build_selection(args: argparse.Namespace, targets: Targets) -> Selection:
    """The Selection of the options; raises ValueError for a regular
    expression that does not compile."""
    compiled: dict[str, list[re.Pattern[str]]] = {"exclude": [], "include": []}
    for kind in ("exclude", "include"):
        for flag, fold in ((kind, False), (kind + "i", True)):
            for pattern in getattr(args, flag):
                try:
                    compiled[kind].append(compile_regex(pattern, fold))
                except ValueError as e:
                    raise ValueError(
                        f"bad --{flag} {pattern!r}: {e} (a regular "
                        "expression, as inotifywait's; for globs use "
                        f"--{kind}-glob)"
                    ) from None
    return Selection(
        excluded=targets.excluded,
        exclude_re=compiled["exclude"],
        include_re=compiled["include"],
        exclude_globs=args.exclude_glob,
        include_globs=args.include_glob,
    )


def parse_targets(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[Targets, Selection]:
    """The paths and the Selection, or a usage error (exit 1) / a one-line
    error for a --fromfile that cannot be read."""
    problem = check_watch_options(args)
    if problem:
        parser.error(problem)
    try:
        targets = read_targets(args.paths, args.fromfile)
    except CliError as e:
        print(f"inotipy: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    if not targets.paths:
        parser.error("no PATH to watch")
    try:
        selection = build_selection(args, targets)
    except ValueError as e:
        parser.error(str(e))
    return targets, selection


# ---- running a mode ---------------------------------------------------------

EXIT_OK, EXIT_ERROR, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 130


@contextmanager
def cancelled_by(signums: Sequence[int]) -> Iterator[list[int]]:
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


def run(job: Coroutine[Any, Any, int]) -> int:
    """Runs a mode to its exit status.  Ctrl-C and a reader that went
    away end it quietly; a failure is one line on stderr and status 1."""
    try:
        with one_line_warnings(sys.stderr):
            return asyncio.run(job)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly.  Standard output
        # now leads nowhere, so what is still buffered flushes at exit.
        with suppress(OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, sys.stdout.fileno())
            os.close(null)
        return EXIT_OK
    except CliError as e:
        print(f"inotipy: {e}", file=sys.stderr)
        return EXIT_ERROR
    except WatcherClosedError:
        return EXIT_OK
    except OSError as e:
        print(f"inotipy: {describe_oserror(e)}", file=sys.stderr)
        if inspect.getcoroutinestate(job) != inspect.CORO_CREATED:
            return EXIT_ERROR
        # No loop could be made (no descriptor left): the half-made one
        # would complain as it goes, once this clause lets go of it.
        job.close()
        saved, sys.unraisablehook = sys.unraisablehook, _ignore
    try:
        gc.collect()
    finally:
        sys.unraisablehook = saved
    return EXIT_ERROR


def _ignore(_: Any) -> None:
    pass
