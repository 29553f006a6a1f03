"""Follow a log file as `tail -F` does: print each line appended to it,
through rotation (the file renamed away and a new one made) and
truncation.

    python examples/tail.py /var/log/app.log

The directory is watched, not the file: the file's name may be given to
a new file at any time, and only the directory hears of it.  The file
does not have to exist yet.
"""

from __future__ import annotations

import asyncio
import os
import sys

from inotipy import IN, Watcher

# What can happen to the file's name in its directory.
MASK = IN.MODIFY | IN.CREATE | IN.MOVED_TO | IN.MOVED_FROM | IN.DELETE


class Follower:
    """The open file behind the name, and the part of a line read so far."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: int | None = None
        self.partial = b""

    def open(self, at_end: bool) -> None:
        self.close()
        try:
            self.file = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        if at_end:
            os.lseek(self.file, 0, os.SEEK_END)

    def close(self) -> None:
        if self.file is not None:
            os.close(self.file)
            self.file = None
        self.partial = b""

    def read(self) -> None:
        """Prints the complete lines written since the last read."""
        if self.file is None:
            return
        if os.fstat(self.file).st_size < os.lseek(self.file, 0, os.SEEK_CUR):
            os.lseek(self.file, 0, os.SEEK_SET)  # truncated: from the top
            self.partial = b""
        while chunk := os.read(self.file, 65536):
            *lines, self.partial = (self.partial + chunk).split(b"\n")
            for line in lines:
                sys.stdout.buffer.write(line + b"\n")
        sys.stdout.flush()


async def follow(path: str) -> None:
    directory, name = os.path.split(os.path.abspath(path))
    follower = Follower(path)
    with Watcher() as watcher:
        # Open first, watch second, then read once: what is appended
        # between the two is read then, and nothing after is missed.
        follower.open(at_end=True)
        watcher.watch(directory, MASK)
        follower.read()
        async for event in watcher:
            if event.name != name:
                continue
            if event.mask & (IN.CREATE | IN.MOVED_TO):
                follower.read()  # the rest of the old file, if any
                follower.open(at_end=False)  # a new file: from its start
            follower.read()


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: tail.py FILE", file=sys.stderr)
        return 2
    try:
        asyncio.run(follow(sys.argv[1]))
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print(f"tail: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
