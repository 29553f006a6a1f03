"""Keep DST a copy of the tree SRC, live: what is made, written, renamed
or deleted in SRC is done to DST.

    python examples/mirror.py SRC DST

The tree is watched first and copied second, so nothing done to SRC
while it is being copied is missed (what the copy already has is copied
again: each step is idempotent).  A renamed directory is renamed in DST,
not copied again: the tree's MOVED_TO carries the path it came from.
After a kernel queue overflow the whole tree is synchronised again.
Each step is printed.  Links are copied as links.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys

from inotipy import IN, Event, Watcher

MASK = IN.CREATE | IN.CLOSE_WRITE | IN.ATTRIB | IN.DELETE | IN.MOVE


def below(path: str, top: str) -> bool:
    """True when path is top or below it."""
    return path == top or path.startswith(top + "/")


class Mirror:
    def __init__(self, src: str, dst: str) -> None:
        self.src = os.path.abspath(src)
        self.dst = os.path.abspath(dst)
        # Paths whose copy found nothing: renamed (with a directory above
        # them, say) before the mirror got to them.  Events come in order,
        # so the rename that took them is among the events still to come:
        # move() copies them under their new name.
        self.lost: set[str] = set()

    def say(self, what: str, rel: str, *more: str) -> None:
        print(what, rel, *more, flush=True)

    def copy(self, rel: str) -> None:
        """Copies SRC/rel (a file, a link, or a directory with all below)."""
        src, dst = os.path.join(self.src, rel), os.path.join(self.dst, rel)
        try:
            if os.path.isdir(src) and not os.path.islink(src):
                shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
                self.say("mkdir", rel)
            else:
                # Copied beside, then renamed over: a reader of DST never
                # sees half a file, and a link replaces what was there.
                part = f"{dst}.mirror-part"
                shutil.copy2(src, part, follow_symlinks=False)
                os.replace(part, dst)
                self.say("copy", rel)
        except FileNotFoundError:
            self.lost.add(rel)  # its DELETE or MOVED_FROM is to come
        else:
            self.lost.discard(rel)

    def remove(self, rel: str) -> None:
        self.lost = {p for p in self.lost if not below(p, rel)}
        dst = os.path.join(self.dst, rel)
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        elif os.path.lexists(dst):
            os.remove(dst)
        else:
            return
        self.say("delete", rel)

    def move(self, old: str, new: str) -> None:
        try:
            os.replace(
                os.path.join(self.dst, old), os.path.join(self.dst, new)
            )
        except FileNotFoundError:
            self.copy(new)  # it was never copied: copy it now
        else:
            self.say("move", old, "->", new)
        for path in sorted(p for p in self.lost if below(p, old)):
            self.lost.discard(path)
            self.copy(new + path[len(old) :])

    def sync(self) -> None:
        """Makes DST equal SRC, whatever both hold now."""
        for top, dirs, files in os.walk(self.dst, topdown=False):
            rel_top = os.path.relpath(top, self.dst)
            for name in files + dirs:
                rel = os.path.normpath(os.path.join(rel_top, name))
                if not os.path.lexists(os.path.join(self.src, rel)):
                    self.remove(rel)
        shutil.copytree(self.src, self.dst, symlinks=True, dirs_exist_ok=True)

    def apply(self, event: Event[str]) -> None:
        """One event of the tree, applied to DST."""
        rel, mask = event.pathname, event.mask
        if mask & IN.Q_OVERFLOW:
            self.sync()
            self.say("sync", ".")
        elif mask & IN.MOVED_TO and event.src_path is not None:
            self.move(os.path.relpath(event.src_path, self.src), rel)
        elif mask & (IN.CREATE | IN.MOVED_TO | IN.CLOSE_WRITE):
            self.copy(rel)
        elif mask & IN.ATTRIB and rel:
            with contextlib.suppress(FileNotFoundError):
                shutil.copystat(
                    os.path.join(self.src, rel),
                    os.path.join(self.dst, rel),
                    follow_symlinks=False,
                )
        elif mask & IN.DELETE:
            self.remove(rel)


def take(watcher: Watcher, event: Event[str] | None, mirror: Mirror) -> None:
    """Applies an event, and with a MOVED_FROM what tells where it went."""
    while event is not None:
        if not event.mask & IN.MOVED_FROM:
            mirror.apply(event)
            return
        # inotipy hands out a rename's MOVED_TO right after its MOVED_FROM:
        # when the next event is not that, the MOVED_FROM moved out.
        after = watcher.get_nowait()
        if (
            after is not None
            and after.mask & IN.MOVED_TO
            and after.cookie == event.cookie
            and after.src_path is not None
        ):
            mirror.apply(after)  # the move
            return
        mirror.remove(event.pathname)
        event = after


async def run(src: str, dst: str) -> None:
    mirror = Mirror(src, dst)
    with Watcher() as watcher:
        watcher.watch_tree(mirror.src, MASK)  # watch first, copy second
        os.makedirs(mirror.dst, exist_ok=True)
        mirror.sync()
        print(f"mirror: {mirror.src} -> {mirror.dst}, watching", flush=True)
        async for event in watcher:
            if event.mask & IN.IGNORED and event.pathname == "":
                print("mirror: the source is gone", file=sys.stderr)
                return
            take(watcher, event, mirror)


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: mirror.py SRC DST", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(*sys.argv[1:]))
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print(f"mirror: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
