"""A dev-server reloader: run a command, and restart it whenever a file
below the watched directory changes.

    python examples/reloader.py [--path DIR] -- python -m http.server

Changes are grouped by awatch() (a burst of saves is one restart), and
the names its DefaultFilter ignores (.git, __pycache__, node_modules,
editors' swap files, ...) are not even watched.  The command gets SIGTERM,
then SIGKILL if it has not exited after a grace period.  (The command line
does the same with `inotipy DIR -- COMMAND`; this is the library's way.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from inotipy import awatch

GRACE = 5.0  # seconds between SIGTERM and SIGKILL


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), GRACE)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()


async def reload(path: str, command: list[str]) -> None:
    changes_seen = awatch(path)
    proc = await asyncio.create_subprocess_exec(*command)
    print(f"reloader: started {command[0]} (pid {proc.pid})", flush=True)
    try:
        async for changes in changes_seen:
            names = sorted(os.path.relpath(p, path) for _, p in changes)
            print(
                f"reloader: {', '.join(names)} changed; restarting", flush=True
            )
            await stop(proc)
            proc = await asyncio.create_subprocess_exec(*command)
            print(
                f"reloader: started {command[0]} (pid {proc.pid})", flush=True
            )
    finally:
        await stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(
        usage="reloader.py [--path DIR] -- COMMAND [ARG...]"
    )
    parser.add_argument("--path", default=".", help="what to watch")
    parser.add_argument("command", nargs="+", help="what to run")
    args = parser.parse_args()
    try:
        asyncio.run(reload(args.path, args.command))
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print(f"reloader: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
