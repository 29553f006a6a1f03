"""fanotify against inotify (issue 11): what setting up a tree costs, in
time and in memory, user-space and kernel, for trees of 100,000 and
1,000,000 directories.

    python benchmarks/fanotify.py                  # both sizes (root)
    python benchmarks/fanotify.py --dirs 100000 --out FILE
    python benchmarks/fanotify.py --clean          # remove the trees

A tree of N empty directories (1,000 at the top, N/1,000 in each) is made
once under --base (ext4 by default, /work/bench-fanotify), kept for later
runs (--clean removes it).  Before each measurement the tree is walked,
so that every contender starts with the same warm dentry and inode
caches.  Each measurement runs in a child process of its own:

- fanotify "mark": fanotify_init() and the one fanotify_mark() of the
  file system (through ctypes: the kernel's part alone, what the issue's
  "setup under 10 ms whatever the size" is about);
- "tree, no index" and "tree": watch_tree(backend=..., index_files=False
  or True): the whole setup of inotipy, which walks the tree to know its
  directories (and, with the index, its files) for paths and healing;
  the same walk for both backends, but inotify adds a watch a directory
  and fanotify a file handle a directory.

Memory: the process's RSS growth over the setup (user space: nodes,
index, handle map); the kernel's mark objects (the 80-byte slab cache
that inotify_inode_mark and fanotify_mark share, and
fsnotify_mark_connector: one of each per watched inode for inotify, one
of each per file system for fanotify), read from /sys/kernel/slab; and
the inodes an inotify watch pins (a watched inode cannot be evicted):
with --drop-caches (the default as root) the caches are dropped
(vm.drop_caches=2) once with the watcher alive and once after it is
closed (and the kernel has freed its marks, which it does from a work
queue), and the difference of ext4_inode_cache's objects is what the
watcher holds in the kernel (give or take the inodes other processes of
the machine made or dropped meanwhile: a few thousand).  Slab figures are
the caches' allocated objects, which grow a slab at a time: one mark
shows as 0.  Dropping caches is machine-wide: it makes
other processes read their inodes again, nothing worse.

1,000,000 inotify watches need fs.inotify.max_user_watches raised: it is
raised for the inotify children only, and restored.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TOP = 1000
SLAB = Path("/sys/kernel/slab")
MARK_CACHE = "inotify_inode_mark"  # merged with fanotify_mark
CONNECTOR_CACHE = "fsnotify_mark_connector"
INODE_CACHES = ("ext4_inode_cache", "shmem_inode_cache", "inode_cache")
WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
MODES = {
    "fanotify": ("mark", "tree-noindex", "tree"),
    "inotify": ("tree-noindex", "tree"),
}


# ---- readings ---------------------------------------------------------------


def _slab_objects(cache: str) -> int:
    try:
        return int((SLAB / cache / "objects").read_text().split()[0])
    except (OSError, ValueError):
        return -1


def _slab_size(cache: str) -> int:
    try:
        return int((SLAB / cache / "slab_size").read_text())
    except (OSError, ValueError):
        return 0


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _kernel() -> dict[str, int]:
    return {
        "marks": _slab_objects(MARK_CACHE),
        "connectors": _slab_objects(CONNECTOR_CACHE),
        **{c: _slab_objects(c) for c in INODE_CACHES},
    }


def _drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("2\n")


# ---- the child: one measurement ---------------------------------------------


FAN_CLASS_NOTIF = 0x0
FAN_CLOEXEC = 0x1
FAN_NONBLOCK = 0x2
FAN_REPORT_DFID_NAME = 0x00000C00
FAN_MARK_ADD = 0x1
FAN_MARK_FILESYSTEM = 0x100
FAN_MASK = 0x100 | 0x200 | 0x10000000 | 0x2 | 0x8 | 0x4 | 0x40000000


def _mark_only(tree: str) -> dict[str, Any]:
    """fanotify_init() and fanotify_mark() of the file system, timed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    libc.fanotify_mark.argtypes = [
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint64,
        ctypes.c_int,
        ctypes.c_char_p,
    ]
    before, rss = _kernel(), _rss()
    t0 = time.perf_counter()
    fd = libc.fanotify_init(
        FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_NONBLOCK | FAN_CLOEXEC,
        os.O_RDONLY,
    )
    if fd < 0:
        raise OSError(ctypes.get_errno(), "fanotify_init")
    if (
        libc.fanotify_mark(
            fd,
            FAN_MARK_ADD | FAN_MARK_FILESYSTEM,
            FAN_MASK,
            -100,
            os.fsencode(tree),
        )
        < 0
    ):
        raise OSError(ctypes.get_errno(), "fanotify_mark")
    setup = time.perf_counter() - t0
    after = _kernel()
    os.close(fd)
    return {
        "setup_s": setup,
        "rss_bytes": _rss() - rss,
        "marks": after["marks"] - before["marks"],
        "connectors": after["connectors"] - before["connectors"],
    }


def _tree(tree: str, backend: str, index: bool, drop: bool) -> dict[str, Any]:
    import inotipy

    w = inotipy.Watcher()
    before, rss = _kernel(), _rss()
    t0 = time.perf_counter()
    w.watch_tree(tree, inotipy.IN.CREATE, backend=backend, index_files=index)
    setup = time.perf_counter() - t0
    after, grown = _kernel(), _rss() - rss
    stats = w.stats()
    out: dict[str, Any] = {
        "setup_s": setup,
        "rss_bytes": grown,
        "tree_dirs": stats.tree_dirs,
        "inotify_watches": (
            0 if w._is_fanotify() else stats.watches  # type: ignore[attr-defined]
        ),
        "marks": after["marks"] - before["marks"],
        "connectors": after["connectors"] - before["connectors"],
    }
    if drop:
        _drop_caches()
        held = _kernel()
        w.close()
        # The kernel frees marks (and lets their inodes go) from a work
        # queue after an SRCU grace period: give it time.
        time.sleep(2.0)
        _drop_caches()
        freed = _kernel()
        out["pinned_inodes"] = sum(
            held[c] - freed[c] for c in INODE_CACHES if held[c] >= 0
        )
        out["pinned_inode_bytes"] = sum(
            (held[c] - freed[c]) * _slab_size(c)
            for c in INODE_CACHES
            if held[c] >= 0
        )
    else:
        w.close()
    return out


def child(backend: str, mode: str, tree: str, drop: bool) -> dict[str, Any]:
    if mode == "mark":
        return _mark_only(tree)
    return _tree(tree, backend, mode == "tree", drop)


# ---- the parent -------------------------------------------------------------


def make_tree(base: Path, dirs: int) -> Path:
    """base/dirs-N with N directories, made once; returns it."""
    tree = base / f"dirs-{dirs}"
    done = tree / ".complete"
    if done.exists() and done.read_text().strip() == str(dirs):
        return tree
    if tree.exists():
        shutil.rmtree(tree)
    print(f"making {dirs:,} directories in {tree}...", file=sys.stderr)
    per = max(1, dirs // TOP) - 1  # the top one counts
    for i in range(min(TOP, dirs)):
        top = tree / f"t{i:04d}"
        os.makedirs(top)
        for j in range(per):
            os.mkdir(top / f"d{j:04d}")
    done.write_text(f"{dirs}\n")
    return tree


def walk(tree: Path) -> int:
    n = 0
    stack = [str(tree)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                    n += 1
    return n


def run_child(
    backend: str, mode: str, tree: Path, drop: bool
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", backend, mode, str(tree)]
    if not drop:
        cmd.append("--no-drop-caches")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{backend} {mode}: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(dirs: int, base: Path, drop: bool) -> list[dict[str, Any]]:
    tree = make_tree(base, dirs)
    rows = []
    old = WATCHES.read_text()
    for backend, modes in MODES.items():
        for mode in modes:
            walk(tree)  # warm caches, for everyone alike
            if backend == "inotify":
                WATCHES.write_text(f"{max(int(old), dirs + 200_000)}\n")
            try:
                r = run_child(backend, mode, tree, drop)
            finally:
                WATCHES.write_text(old)
            r.update(dirs=dirs, backend=backend, mode=mode)
            rows.append(r)
            print(json.dumps(r), file=sys.stderr)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| directories | backend | what | setup | RSS growth | kernel "
        "marks | connectors | pinned inodes (bytes) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pinned = r.get("pinned_inodes")
        lines.append(
            "| {:,} | {} | {} | {} | {:.1f} MB | {:,} | {:,} | {} |".format(
                r["dirs"],
                r["backend"],
                r["mode"],
                _time(r["setup_s"]),
                r["rss_bytes"] / 1e6,
                r["marks"],
                r["connectors"],
                "-"
                if pinned is None
                else f"{pinned:,} ({r['pinned_inode_bytes'] / 1e6:.0f} MB)",
            )
        )
    return "\n".join(lines)


def _time(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dirs", default="100000,1000000")
    p.add_argument("--base", default="/work/bench-fanotify", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--no-drop-caches", action="store_true")
    p.add_argument("--clean", action="store_true", help="remove the trees")
    p.add_argument("--child", nargs=3, metavar=("BACKEND", "MODE", "TREE"))
    args = p.parse_args(argv)
    drop = not args.no_drop_caches and os.geteuid() == 0
    if args.child:
        print(json.dumps(child(*args.child, drop)))
        return
    if args.clean:
        shutil.rmtree(args.base, ignore_errors=True)
        return
    if os.geteuid() != 0:
        p.error("fanotify's file system mark needs root")
    args.base.mkdir(parents=True, exist_ok=True)
    rows = []
    for dirs in (int(d) for d in args.dirs.split(",")):
        rows += measure(dirs, args.base, drop)
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
