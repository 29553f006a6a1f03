"""A drop-folder worker: each file that arrives complete in INBOX is
processed once (here: counted and hashed), then moved to DONE.

    python examples/dropfolder.py INBOX DONE

A file is complete when the writer closes it (CLOSE_WRITE), or when it is
renamed into INBOX (MOVED_TO), the safe way to deliver: write
`name.part`, then rename it to `name`.  Names starting with "." or ending
in ".part" or ".tmp" are still being written and are left alone.  Files
already in INBOX at start are processed first.  The work runs in a
thread, so the loop goes on reading events meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys

from inotipy import IN, Watcher


def in_progress(name: str) -> bool:
    return name.startswith(".") or name.endswith((".part", ".tmp"))


def waiting(inbox: str) -> list[str]:
    """The complete files in INBOX now, by name."""
    with os.scandir(inbox) as entries:
        return sorted(
            e.name
            for e in entries
            if e.is_file(follow_symlinks=False) and not in_progress(e.name)
        )


def process(inbox: str, done: str, name: str) -> str | None:
    """The work on one file; returns what to print, or None when the file
    is gone (processed already, or taken by someone else)."""
    path = os.path.join(inbox, name)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        shutil.move(path, os.path.join(done, name))
    except FileNotFoundError:
        return None
    return f"processed {name}: {size} bytes, sha256 {digest.hexdigest()[:16]}"


async def work(inbox: str, done: str) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def worker() -> None:
        while True:
            name = await queue.get()
            line = await asyncio.to_thread(process, inbox, done, name)
            if line is not None:
                print(line, flush=True)

    with Watcher() as watcher:
        # Watch first, list second: a file that arrives meanwhile is both
        # listed and reported, and the second time finds it gone.
        watcher.watch(inbox, IN.CLOSE_WRITE | IN.MOVED_TO | IN.ONLYDIR)
        for name in waiting(inbox):
            queue.put_nowait(name)
        print(f"dropfolder: watching {inbox}", flush=True)
        task = asyncio.ensure_future(worker())
        try:
            async for event in watcher:
                if event.mask & IN.Q_OVERFLOW:
                    print("dropfolder: events lost; rescan", file=sys.stderr)
                    for name in waiting(inbox):
                        queue.put_nowait(name)
                elif not event.mask & IN.ISDIR and not in_progress(event.name):
                    queue.put_nowait(event.name)
        finally:
            task.cancel()


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: dropfolder.py INBOX DONE", file=sys.stderr)
        return 2
    inbox, done = sys.argv[1:]
    try:
        os.makedirs(done, exist_ok=True)
        asyncio.run(work(inbox, done))
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print(f"dropfolder: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
