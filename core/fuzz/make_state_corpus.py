#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_state.c into core/fuzz/corpus/state/.

Each seed is fuzz_state.c's mode byte, then a state file that inotipy
(installed: ``pip install .``) saved for a scratch tree like the target's
own (a/, a/b/, c/, f, a/g, c/h, a symlink l), changed or not, or that
this script cut or damaged.  The devices and inodes are this machine's:
the modes that rebase them (bits 2 and 3) make the states the target's
tree's.  The scratch trees are made under /dev/shm, as the target's is,
so that the saved file handles have the length of the target's (which
the rebase needs).  Run it again only to change the seeds; the files are committed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from inotipy import Watcher

OUT = Path(__file__).resolve().parent / "corpus" / "state"

CRC, LENGTH, ROOT, REMAP, FOLLOW = 1, 2, 4, 8, 16


def layout(root: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    for name in ("f", "a/g", "c/h"):
        (root / name).write_text(name)
    os.symlink("f", root / "l")


async def saved(root: Path, *more: Path, follow: bool = False) -> bytes:
    state = root.parent / "state"
    with Watcher() as w:
        trees = [
            w.watch_tree(r, follow_symlinks=follow) for r in (root, *more)
        ]
        while await w.get(0.05) is not None:
            pass
        if more:
            w._save_state(state, trees)
        else:
            trees[0].save_state(state)
    return state.read_bytes()


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    seeds: dict[str, bytes] = {}
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        layout(root)
        same = await saved(root)
        seeds["same-layout-remapped"] = bytes([CRC | ROOT | REMAP]) + same
        seeds["same-layout-root-only"] = bytes([CRC | ROOT]) + same
        seeds["foreign-as-saved"] = bytes([0]) + same
        seeds["truncated"] = bytes([0]) + same[: len(same) // 2]
        too_new = bytearray(same)
        too_new[8] = 2
        seeds["too-new"] = bytes([CRC]) + bytes(too_new)
        seeds["follow"] = bytes([CRC | ROOT | REMAP | FOLLOW]) + await saved(
            root, follow=True
        )
        os.rename(root / "a" / "b", root / "b")
        os.rename(root / "c", root / "a" / "c2")
        os.rename(root / "f", root / "b" / "f2")
        (root / "extra").mkdir()
        (root / "extra" / "x").write_text("x")
        seeds["moved"] = bytes([CRC | ROOT | REMAP]) + await saved(root)
        shutil.rmtree(root)
        root.mkdir()
        seeds["empty-tree"] = bytes([CRC | LENGTH | ROOT]) + await saved(root)
        other = Path(tmp) / "other"
        other.mkdir()
        layout(other)
        seeds["two-trees"] = bytes([CRC | ROOT | REMAP]) + await saved(
            root, other
        )
    seeds["not-a-state-file"] = b"\x00hello, world\n"
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    asyncio.run(main())
