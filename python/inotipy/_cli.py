"""The command line: ``inotipy`` (or ``python -m inotipy``).

    inotipy [options] PATH...                 print events (inotifywait)
    inotipy --stats [options] PATH...         count events per file
    inotipy watch-stats [options] PATH...     count them as inotifywatch
    inotipy [options] PATH... -- CMD [ARG...] run CMD, restart it on changes

inotifywait's options are taken as it spells them (-m, -q, -e, -t,
--format, --csv, -o, --fromfile, --exclude ...); what inotipy does not
do (-d, -s) is refused with a hint, never ignored.  The jobs are split:
``_cli_watch`` (paths, filters, setting up, running a mode),
``_cli_output`` (formats), ``_cli_stats`` (counting), ``_cli_command``
(running a command).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import _cli_watch as cw
from ._cli_command import run_command
from ._cli_output import (
    DIM,
    RESET,
    Formatter,
    Output,
    bad_format,
    bad_pyformat,
    formatter,
    lines_of,
    split_event,
)
from ._cli_stats import per_file_stats, sort_spec, watch_stats_main
from ._constants import IN
from ._inotipy import Event
from ._watcher import Watcher

EXIT_OK, EXIT_ERROR, EXIT_TIMEOUT = cw.EXIT_OK, cw.EXIT_ERROR, cw.EXIT_TIMEOUT


# Subcommands, by their first argument (a path of that name: ./NAME).
def _run_main(argv: list[str]) -> int:
    """watchfiles' command line (inotipy._run_cli), imported when used."""
    from ._run_cli import main as run_main

    return run_main(argv)


SUBCOMMANDS = {"watch-stats": watch_stats_main, "run": _run_main}

# Options refused with a hint: (flags, what to do instead).
_REFUSED = (
    (
        ("-d", "--daemon"),
        "-d/--daemon is not supported: run it in the background yourself, "
        "e.g. `nohup inotipy -m -q -o FILE PATH... &` or under a service "
        "manager (systemd-run --user inotipy ...)",
    ),
    (
        ("-s", "--syslog"),
        "-s/--syslog is not supported: send standard error to the log, "
        "e.g. `inotipy ... 2> >(logger -t inotipy)`",
    ),
)


def _parser() -> argparse.ArgumentParser:
    p = cw.Parser(
        prog="inotipy",
        usage="%(prog)s [options] PATH... [-- COMMAND [ARG...]]\n"
        "       %(prog)s watch-stats [options] PATH...",
        description="Watch paths with inotify: print events (the default, "
        "until interrupted, as inotifywait -m), count them (--stats; "
        "watch-stats takes inotifywatch's options), or run COMMAND and "
        "restart it whenever something changes (give it after --).",
        epilog="Exit status: 0 done, 1 error (or, waiting for -n/-t's "
        "events, every watch went away first), 2 -t ended it, 130 "
        "interrupted.",
    )
    cw.add_watch_options(p)
    _add_run_options(p)
    _add_output_options(p)
    _add_stats_options(p)
    _add_command_options(p)
    for flags, _ in _REFUSED:
        p.add_argument(*flags, action="store_true", help=argparse.SUPPRESS)
    return p


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-m",
        "--monitor",
        action="store_true",
        help="keep printing events (the default); with -t, until SECONDS "
        "pass without one",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=cw.seconds,
        metavar="SECONDS",
        help="alone: wait for one event, at most SECONDS (0: no limit); "
        "with -m or -n: exit (status 2) after SECONDS without an event; "
        "with --stats: count for SECONDS",
    )
    p.add_argument(
        "-n",
        "--max-events",
        type=int,
        metavar="N",
        help="exit after N events",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="once: no 'Watches established.' and no status line; twice "
        "(-qq): no events either, only the exit status",
    )


def _add_output_options(p: argparse.ArgumentParser) -> None:
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--format",
        metavar="FMT",
        help="inotifywait's format: %%w watched path (a directory with "
        "a slash), %%f the name in it, %%e events (%%Xe: separated by X), "
        "%%c cookie (hex), %%T time (--timefmt), %%n newline, %%0 NUL "
        "(exact names, no escaping), %%%% a %%",
    )
    out.add_argument(
        "-c",
        "--csv",
        action="store_true",
        help="inotifywait's CSV: path,events,name, quoted when needed; "
        "exact names",
    )
    out.add_argument(
        "--pyformat",
        metavar="FMT",
        help="a str.format() line per event: {path} {name} {events} "
        "{mask} {cookie} {wd} {src} {time}",
    )
    out.add_argument(
        "--json", action="store_true", help="one JSON object per event"
    )
    out.add_argument(
        "--repr", action="store_true", help="repr(event), one a line"
    )
    out.add_argument(
        "--stats",
        action="store_true",
        help="count events per file; print a table at the end (after -t, "
        "-n or Ctrl-C), then what the watcher went through",
    )
    p.add_argument(
        "--timefmt",
        metavar="FMT",
        help="strftime() format of %%T in --format (default "
        "%%Y-%%m-%%dT%%H:%%M:%%S)",
    )
    p.add_argument(
        "--no-newline",
        action="store_true",
        help="no newline after each --format/--pyformat line",
    )
    p.add_argument(
        "-o",
        "--outfile",
        metavar="FILE",
        help="append events to FILE rather than standard output",
    )
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour on a terminal (auto, unless NO_COLOR is set)",
    )


def _add_stats_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ascending",
        metavar="EVENT",
        help="with --stats: sort by EVENT (or total), ascending",
    )
    p.add_argument(
        "--descending",
        metavar="EVENT",
        help="with --stats: sort by EVENT, descending (default: total)",
    )
    p.add_argument(
        "-z",
        "--zero",
        action="store_true",
        help="with --stats: show columns of zeros too",
    )


def _add_command_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--debounce",
        type=int,
        metavar="MS",
        help="with a COMMAND: group changes for at most MS ms (1600)",
    )
    p.add_argument(
        "--step",
        type=int,
        metavar="MS",
        help="with a COMMAND: restart once MS ms pass without a change (50)",
    )
    p.add_argument(
        "--grace",
        type=cw.seconds,
        metavar="SECONDS",
        help="with a COMMAND: time it has to exit after SIGTERM before "
        "SIGKILL (5)",
    )


# ---- checking what was asked ------------------------------------------------

_STYLES = ("format", "csv", "pyformat", "json", "repr")


def _style(args: argparse.Namespace) -> str:
    for name in _STYLES:
        if getattr(args, name) not in (None, False):
            return name
    return "text"


def _given(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    flags = []
    for name in names:
        value = getattr(args, name)
        if value not in (None, False, 0, []):
            flags.append("--" + name.replace("_", "-"))
    return flags


def _problem(args: argparse.Namespace, command: list[str]) -> str | None:
    """Why these options cannot run together, or None."""
    for flags, hint in _REFUSED:
        if getattr(args, flags[1].lstrip("-")):
            return hint
    if args.max_events is not None and args.max_events < 1:
        return "--max-events must be at least 1"
    if command:
        return _command_problem(args)
    not_here = _given(args, ("debounce", "step", "grace"))
    if not_here:
        return f"{not_here[0]} is for a COMMAND (given after --)"
    if args.stats:
        return _stats_problem(args)
    return _format_problem(args)


def _command_problem(args: argparse.Namespace) -> str | None:
    names = (*_STYLES, "stats", "timefmt", "no_newline", "outfile")
    printing = _given(args, names)
    if printing:
        return f"a COMMAND prints nothing of its own: no {printing[0]} with it"
    if args.events:
        return (
            "-e picks events to print: a COMMAND restarts on any change "
            "(choose which with --exclude/--include or their -glob forms)"
        )
    if args.timeout is not None or args.max_events is not None:
        return (
            "-t and -n end the printing of events: a COMMAND runs until "
            "interrupted (wrap it: timeout 60 inotipy PATH -- CMD)"
        )
    if args.no_dereference:
        return "-P: with a COMMAND links are followed, as watchfiles does"
    return None


def _stats_problem(args: argparse.Namespace) -> str | None:
    extra = _given(args, ("timefmt", "no_newline"))
    if extra:
        return f"{extra[0]} is for --format: --stats prints a table"
    return None


def _format_problem(args: argparse.Namespace) -> str | None:
    if args.ascending or args.descending or args.zero:
        return "--ascending, --descending and --zero are for --stats"
    if args.format is not None:
        why = bad_format(args.format)
        if why:
            return f"bad --format {args.format!r}: {why}"
        if args.timefmt is not None and "%T" not in args.format:
            return "--timefmt is for %T in --format, and it has none"
    elif args.timefmt is not None:
        return "--timefmt is for %T in --format"
    if args.pyformat is not None:
        why = bad_pyformat(args.pyformat)
        if why:
            return f"bad --pyformat {args.pyformat!r}: {why}"
    if args.no_newline and args.format is None and args.pyformat is None:
        return "--no-newline is for --format (or --pyformat)"
    return None


def _split_command(
    parser: argparse.ArgumentParser, argv: list[str]
) -> tuple[list[str], list[str]]:
    """The options, and the COMMAND after --."""
    if "--" not in argv:
        return argv, []
    at = argv.index("--")
    options, command = argv[:at], argv[at + 1 :]
    if not command:
        parser.error("no COMMAND after --")
    return options, command


# ---- printing events --------------------------------------------------------


class _Status:
    """A status line kept at the bottom of a terminal (stderr), redrawn at
    most ten times a second; a no-op elsewhere."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False
        self.last = 0.0
        self.started = 0.0

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False

    def show(self, now: float, count: int, watches: int) -> None:
        if not self.enabled or now - self.last < 0.1:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        sys.stderr.write(
            f"\r\x1b[K{DIM}{count} events, {count / elapsed:.0f}/s, "
            f"{watches} watches{RESET}"
        )
        sys.stderr.flush()
        self.shown = True


class _Printing:
    """What the printing loop needs: the limits (-n, -t and whether -t
    waits for one event or for quiet), the filters and the line maker."""

    def __init__(
        self,
        args: argparse.Namespace,
        selection: cw.Selection,
        dirs: set[str],
        out: Output,
    ) -> None:
        self.mask = cw.requested_mask(args) | IN.Q_OVERFLOW
        one_shot = args.timeout is not None and not (
            args.monitor or args.max_events
        )
        self.limit: int | None = 1 if one_shot else args.max_events
        # -t alone: a deadline for the one event; else time without one.
        self.deadline = one_shot
        self.timeout: float | None = args.timeout or None
        self.selection = selection
        self.dirs = dirs
        self.out = out
        self.quiet = args.quiet
        colour = _use_colour(out, args.color)
        self.fmt: Formatter = formatter(
            dirs=dirs,
            style=_style(args),
            fmt=args.format if args.format is not None else args.pyformat,
            timefmt=args.timefmt,
            newline=not args.no_newline,
        )
        self.line = lines_of(self.fmt, colour)
        self.status = _Status(
            colour and sys.stderr.isatty() and not self.quiet
        )

    def shows(self, event: Event[Any]) -> bool:
        if not event.mask & self.mask:
            return False  # IGNORED, UNMOUNT unless asked for
        if not self.selection.anything:
            return True
        return self.selection.shows("".join(split_event(event, self.dirs)))


def _use_colour(out: Output, choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    return out.tty


async def _print_events(
    args: argparse.Namespace,
    targets: cw.Targets,
    selection: cw.Selection,
    out: Output,
) -> int:
    err = sys.stderr
    if not args.quiet:
        err.write("Setting up watches.\n")
        err.flush()
    watcher, dirs = cw.open_watcher(
        targets,
        cw.requested_mask(args) & IN.ALL_EVENTS,
        recursive=args.recursive,
        no_dereference=args.no_dereference,
        exclude=cw.tree_excludes(args.exclude_glob),
        progress=cw.Progress(err, err.isatty() and not args.quiet),
        **cw.backend_options(args),
    )
    with watcher:
        if not args.quiet:
            err.write("Watches established.\n")
            err.flush()
        printing = _Printing(args, selection, dirs, out)
        try:
            return await _print_loop(watcher, printing)
        finally:
            printing.status.clear()


async def _print_loop(watcher: Watcher, p: _Printing) -> int:
    loop = asyncio.get_running_loop()
    p.status.started = since = loop.time()
    count = 0
    while True:
        wait = None if p.timeout is None else p.timeout - (loop.time() - since)
        if wait is not None and wait <= 0:
            return EXIT_TIMEOUT
        batch = await watcher.get_batch(wait)
        p.status.clear()
        lines = []
        before = count
        for event in batch:
            if not p.shows(event):
                continue
            count += 1
            if p.quiet < 2:
                lines.append(p.line(event))
            if count == p.limit:
                break
        p.out.write(lines, p.fmt.raw)
        if count > before and not p.deadline:
            since = loop.time()
        if count == p.limit:
            return EXIT_OK
        if watcher.watch_count == 0:
            return _nothing_left(p)
        p.status.show(loop.time(), count, watcher.watch_count)


def _nothing_left(p: _Printing) -> int:
    if not p.quiet:
        print("inotipy: nothing left to watch", file=sys.stderr)
    # Waiting for -n/-t's events, as inotifywait's 1 for an event it was
    # not asked for (the watch went away); else a normal end.
    return EXIT_ERROR if p.limit is not None else EXIT_OK


# ---- entry point ------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in SUBCOMMANDS:
        return SUBCOMMANDS[args_list[0]](args_list[1:])
    parser = _parser()
    options, command = _split_command(parser, args_list)
    args = parser.parse_intermixed_args(options)
    problem = _problem(args, command)
    if problem:
        parser.error(problem)
    if command and not (args.paths or args.fromfile):
        parser.error(
            "no PATH before --: what follows -- is a COMMAND to run (to "
            "watch a path that starts with -, write ./-name)"
        )
    targets, selection = cw.parse_targets(parser, args)
    if command:
        _command_defaults(args)
        return cw.run(run_command(args, targets, selection, command))
    sort = (0, False)
    if args.stats:
        try:
            sort = sort_spec(
                args.ascending, args.descending, cw.requested_mask(args)
            )
        except ValueError as e:
            parser.error(str(e))
    return cw.run(_output_mode(args, targets, selection, sort))


def _command_defaults(args: argparse.Namespace) -> None:
    for name, default in (("debounce", 1600), ("step", 50), ("grace", 5.0)):
        if getattr(args, name) is None:
            setattr(args, name, default)


async def _output_mode(
    args: argparse.Namespace,
    targets: cw.Targets,
    selection: cw.Selection,
    sort: tuple[int, bool],
) -> int:
    try:
        out = (
            Output.stdout()
            if args.outfile is None
            else Output.outfile(args.outfile)
        )
    except OSError as e:
        raise cw.CliError(
            f"cannot open --outfile {args.outfile!r}: {e.strerror or e}"
        ) from None
    try:
        if args.stats:
            mask = cw.requested_mask(args)
            return await per_file_stats(
                args, targets, selection, mask, sort, out
            )
        return await _print_events(args, targets, selection, out)
    finally:
        out.close()
