"""python -m inotipy PATH...: print one line per inotify event."""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from collections.abc import Sequence

from . import IN, Watcher


def _mask(text: str) -> int:
    mask = 0
    for name in text.split(","):
        name = name.strip().upper()
        try:
            mask |= IN[name]
        except KeyError:
            raise argparse.ArgumentTypeError("unknown event %r" % name) from None
    return mask


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="inotipy",
        description="Watch paths with inotify and print one line per event.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="what to watch")
    p.add_argument(
        "-e",
        "--events",
        type=_mask,
        default=int(IN.ALL_EVENTS),
        metavar="EVENT[,EVENT]",
        help="events to watch (names of IN, e.g. CREATE,DELETE; default: all)",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after SECONDS without an event",
    )
    return p


async def _run(args: argparse.Namespace) -> int:
    with Watcher() as watcher:
        for path in args.paths:
            try:
                watcher.watch(path, args.events)
            except OSError as e:
                print(
                    "inotipy: cannot watch %r: %s" % (path, e.strerror or e),
                    file=sys.stderr,
                )
                return 1
        out = sys.stdout
        # A character the output's encoding lacks (a name with é on an
        # ASCII or Latin-1 terminal) is escaped too, never fatal.
        if isinstance(out, io.TextIOWrapper):
            out.reconfigure(errors="backslashreplace")
        while True:
            event = await watcher.get(args.timeout)
            if event is None:
                return 0
            # repr() escapes newlines, escape sequences and invalid UTF-8.
            out.write(repr(event) + "\n")
            out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
