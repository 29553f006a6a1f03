"""``inotipy run`` (and ``python -m inotipy run``): watchfiles' command
line, for running a command or a Python function again on changes.

    inotipy run [options] TARGET [PATH ...]

TARGET is a command line (one argument: quote it) or the dotted path of a
function; PATH defaults to the current directory.  The options are
watchfiles' (``--filter``, ``--ignore-paths``, ``--target-type``,
``--args``, ``--verbose``, ``--verbosity``, ``--non-recursive``,
``--sigint-timeout``, ``--sigkill-timeout``, ``--grace-period``,
``--ignore-permission-denied``, ``--version``), so that ``watchfiles
...`` becomes ``inotipy run ...``.  A mistake (a missing path, a target
or filter that cannot be imported, a command that does not exist) is one
line on stderr and status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._constants import Change
from ._filters import BaseFilter, DefaultFilter, PythonFilter
from ._run import detect_target_type, import_string, run_process

__all__ = ["main"]

logger = logging.getLogger("watchfiles.cli")

WatchFilter = Callable[[Change, str], bool]


class _Fail(Exception):
    """A mistake to report in one line, with status 1."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="inotipy run",
        description=(
            "Run a command or a Python function, and run it again each\n"
            "time files under the paths change (watchfiles' command line)."
        ),
        epilog=(
            "examples:\n"
            "  inotipy run 'pytest --lf' src tests\n"
            "  inotipy run --filter python app.main ."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "target", help="a command line (quoted) or a dotted function path"
    )
    p.add_argument(
        "paths", nargs="*", default=["."], help="paths to watch (default: .)"
    )
    p.add_argument(
        "--ignore-paths",
        metavar="PATHS",
        help="comma-separated paths whose changes are ignored",
    )
    p.add_argument(
        "--target-type",
        choices=("command", "function", "auto"),
        default="auto",
        help="how to run TARGET (default: auto, from its form)",
    )
    p.add_argument(
        "--filter",
        default="default",
        help=(
            "default (DefaultFilter), python (PythonFilter), all (no "
            "filter), or the dotted path of a filter class or function"
        ),
    )
    p.add_argument(
        "--args",
        help="sys.argv for a function TARGET, as one shell-quoted string",
    )
    p.add_argument("--verbose", action="store_true", help="log at debug level")
    p.add_argument(
        "--non-recursive",
        action="store_true",
        help="watch the paths themselves, not the directories below",
    )
    p.add_argument(
        "--verbosity",
        choices=("warning", "info", "debug"),
        default="info",
        help="log level (default: info)",
    )
    p.add_argument(
        "--sigint-timeout",
        type=int,
        default=5,
        metavar="S",
        help="seconds from SIGINT to SIGKILL when stopping (default: 5)",
    )
    p.add_argument(
        "--grace-period",
        type=float,
        default=0,
        metavar="S",
        help="seconds after the first start before watching (default: 0)",
    )
    p.add_argument(
        "--sigkill-timeout",
        type=int,
        default=1,
        metavar="S",
        help="seconds to wait after SIGKILL before failing (default: 1)",
    )
    p.add_argument(
        "--ignore-permission-denied",
        action="store_true",
        help="skip what cannot be read rather than failing",
    )
    p.add_argument("--version", "-V", action="version", version=_version())
    return p


def _version() -> str:
    from . import VERSION

    return f"inotipy run v{VERSION}"


def _log_to_stderr(level: int) -> None:
    """watchfiles' and our run messages on stderr, with the time."""
    handler = logging.StreamHandler()
    handler.setLevel(level)
    handler.setFormatter(
        logging.Formatter("[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    )
    root = logging.getLogger("watchfiles")
    root.addHandler(handler)
    root.setLevel(level)


def _import(dotted: str) -> Any:
    """The object at a dotted path, the current directory importable."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        return import_string(dotted)
    except ImportError as e:
        raise _Fail(f"ImportError: {e}") from None


def _filter(
    name: str, ignore_paths: str | None
) -> tuple[WatchFilter | None, str]:
    """The watch filter --filter names, and how to show it."""
    paths = [Path(p).resolve() for p in (ignore_paths or "").split(",") if p]
    if name == "default":
        return DefaultFilter(ignore_paths=paths), "DefaultFilter"
    if name == "python":
        return PythonFilter(ignore_paths=paths), "PythonFilter"
    if name == "all":
        if paths:
            logger.warning('"--ignore-paths" ignored with the "all" filter')
        return None, "(no filter)"
    found = _import(name)
    if isinstance(found, type) and issubclass(found, DefaultFilter):
        return found(ignore_paths=paths), found.__name__
    if paths:
        logger.warning(
            '"--ignore-paths" ignored: the filter is not a DefaultFilter'
        )
    if isinstance(found, type) and issubclass(found, BaseFilter):
        return found(), found.__name__
    if not callable(found):
        raise _Fail(f"--filter {name}: not a filter class or a function")
    watch_filter: WatchFilter = found
    return watch_filter, repr(found)


def _paths(given: Sequence[str]) -> list[Path]:
    paths = []
    for p in given:
        path = Path(p)
        if not path.exists():
            raise _Fail(f'path "{p}" does not exist')
        paths.append(path.resolve())
    return paths


def _run(args: argparse.Namespace) -> int:
    level = (
        logging.DEBUG
        if args.verbose
        else getattr(logging, args.verbosity.upper())
    )
    _log_to_stderr(level)
    kind = (
        detect_target_type(args.target)
        if args.target_type == "auto"
        else args.target_type
    )
    if kind == "function":
        _import(args.target)  # fails here, once, rather than in each run
        if args.args:
            sys.argv = [args.target, *shlex.split(args.args)]
    elif args.args:
        logger.warning("--args is only used when the target is a function")
    paths = _paths(args.paths)
    watch_filter, shown = _filter(args.filter, args.ignore_paths)
    from . import VERSION

    logger.info(
        'inotipy v%s watching path=%s target="%s" (%s) filter=%s...',
        VERSION,
        ", ".join(f'"{p}"' for p in paths),
        args.target,
        kind,
        shown,
    )
    run_process(
        *paths,
        target=args.target,
        target_type=kind,
        watch_filter=watch_filter,
        sigint_timeout=args.sigint_timeout,
        sigkill_timeout=args.sigkill_timeout,
        recursive=not args.non_recursive,
        ignore_permission_denied=args.ignore_permission_denied,
        grace_period=args.grace_period,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``inotipy run ARGS``: argv is what follows ``run``."""
    args = _parser().parse_args(list(sys.argv[2:] if argv is None else argv))
    try:
        return _run(args)
    except _Fail as e:
        print(f"inotipy run: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        # A command that does not exist, a path that cannot be watched.
        print(f"inotipy run: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # SIGTERM or Ctrl-C outside the watch: the process is stopped.
        return 0
