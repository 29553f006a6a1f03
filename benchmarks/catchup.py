"""Catching up across restarts (issue 11): a start from a saved state
(watch_tree(since=...)) against a full rescan (a fresh watch_tree(), the
first scan), on the same trees with a few changes made while stopped.

    python benchmarks/catchup.py                   # 10,000 and 100,000 files
    python benchmarks/catchup.py --files 10000 --reps 5 --out FILE

For each tree size a tree of that many files (100 to a directory) is made
once, in a tmpfs when run as root (else under /tmp).  Each repetition,
after a state is saved, makes a few changes while nothing watches (5
files created, 5 deleted, 5 written, 2 renamed, a directory renamed and
one made with 3 files), then times, on fresh watchers:

- the full rescan: watch_tree(root) until it returns (the first scan:
  every directory listed and watched, every file stat()ed into the
  index), which tells nothing of what changed;
- the catch-up: watch_tree(root, since=state) and the events taken up to
  IN.SYNCED (the state read and checked, the index built from it, every
  directory listed and watched, only the difference stat()ed and told),
  whose events are checked against the changes made;
- the save: Watch.save_state() of the caught-up tree (the next
  repetition's state), and the file's size;
- for scale, what a program does without a state of inotipy's: a
  snapshot of its own in Python (a pickled {path: (inode, size,
  mtime_ns)}), loaded, the tree walked with os.scandir() and stat()ed,
  and the two compared (created, deleted, modified, moves paired by
  inode); no watch is made.

Wall time and the process's CPU time (getrusage) of each, medians over
the repetitions.  The page cache and the dentries are warm for both (the
tree was just made, and each repetition reads it): a cold cache costs
both the same reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PER_DIR = 100


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Clock:
    """Wall and CPU seconds of a with-block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = _cpu() - self.cpu


def make_tree(base: str, files: int) -> str:
    root = os.path.join(base, f"tree-{files}")
    os.mkdir(root)
    for i in range(files):
        d = os.path.join(root, f"d{i // PER_DIR:05d}")
        if i % PER_DIR == 0:
            os.mkdir(d)
        with open(os.path.join(d, f"f{i % PER_DIR:03d}.py"), "w") as f:
            f.write("x = 1\n")
    return root


def churn(root: str, rep: int) -> int:
    """A few changes while stopped; returns the events a catch-up tells
    for them (a rename is two)."""
    dirs = sorted(e for e in os.listdir(root) if e.startswith("d"))
    told = 0
    for k in range(5):
        d = os.path.join(root, dirs[(rep * 17 + k) % len(dirs)])
        names = sorted(os.listdir(d))
        with open(os.path.join(d, f"new-{rep}-{k}.py"), "w") as f:
            f.write("y = 2\n")
        os.unlink(os.path.join(d, names[0]))
        with open(os.path.join(d, names[1]), "a") as f:
            f.write("z = 3\n")
        told += 3
    for k in range(2):
        d = os.path.join(root, dirs[(rep * 31 + k + 7) % len(dirs)])
        name = sorted(os.listdir(d))[2]
        os.rename(os.path.join(d, name), os.path.join(d, f"moved-{rep}-{k}"))
        told += 2
    d = dirs[(rep * 13 + 3) % len(dirs)]
    os.rename(os.path.join(root, d), os.path.join(root, f"{d}-r{rep}"))
    told += 2
    made = os.path.join(root, f"made-{rep}")
    os.mkdir(made)
    for k in range(3):
        with open(os.path.join(made, f"m{k}.py"), "w") as f:
            f.write("w = 4\n")
    return told + 4


def snapshot(root: str) -> dict[str, tuple[int, int, int]]:
    """{path below root: (inode, size, mtime_ns)}, by os.scandir()."""
    out: dict[str, tuple[int, int, int]] = {}
    todo = [""]
    while todo:
        rel = todo.pop()
        with os.scandir(os.path.join(root, rel)) as it:
            for e in it:
                p = os.path.join(rel, e.name)
                st = e.stat(follow_symlinks=False)
                out[p] = (st.st_ino, st.st_size, st.st_mtime_ns)
                if e.is_dir(follow_symlinks=False):
                    todo.append(p)
    return out


def python_diff(root: str, saved: str) -> tuple[Clock, int]:
    """The snapshot in saved loaded, the tree walked, the difference
    made; returns the clock and the number of changes."""
    import pickle

    with Clock() as c:
        with open(saved, "rb") as f:
            old = pickle.load(f)
        new = snapshot(root)
        gone = {p: v for p, v in old.items() if p not in new}
        made = {p: v for p, v in new.items() if p not in old}
        by_ino = {v[0]: p for p, v in gone.items()}
        moved = [(by_ino[v[0]], p) for p, v in made.items() if v[0] in by_ino]
        modified = [
            p for p, v in new.items() if p in old and old[p][1:] != v[1:]
        ]
        changes = len(gone) + len(made) + len(modified) - len(moved)
    with open(saved, "wb") as f:
        pickle.dump(new, f)
    return c, changes


async def full_rescan(root: str) -> Clock:
    import inotipy

    with inotipy.Watcher() as w, Clock() as c:
        w.watch_tree(root)
    return c


async def catch_up(root: str, state: str) -> tuple[Clock, int, Clock, int]:
    """The catch-up's clock and events, then the save's clock and the
    file's size."""
    import inotipy

    with inotipy.Watcher() as w:
        events = 0
        with Clock() as c:
            tree = w.watch_tree(root, since=state)
            while True:
                e = w.get_nowait()
                if e is None:
                    e = await w.get()
                if e.mask & inotipy.IN.SYNCED:
                    break
                events += 1
        with Clock() as s:
            tree.save_state(state)
    return c, events, s, os.path.getsize(state)


async def measure(root: str, reps: int, base: str) -> dict[str, Any]:
    import inotipy

    import pickle

    state = os.path.join(base, "state")
    with inotipy.Watcher() as w:
        w.watch_tree(root).save_state(state)
    pickled = os.path.join(base, "snapshot.pickle")
    with open(pickled, "wb") as f:
        pickle.dump(snapshot(root), f)
    rows: dict[str, list[float]] = {
        k: []
        for k in (
            "full_wall",
            "full_cpu",
            "catchup_wall",
            "catchup_cpu",
            "save_wall",
            "save_cpu",
            "python_wall",
            "python_cpu",
        )
    }
    size = 0
    for rep in range(reps):
        expected = churn(root, rep)
        full = await full_rescan(root)
        c, events, s, size = await catch_up(root, state)
        py, _ = python_diff(root, pickled)
        if events != expected:
            raise AssertionError(
                f"catch-up told {events} events, {expected} expected"
            )
        for key, clock in (
            ("full", full),
            ("catchup", c),
            ("save", s),
            ("python", py),
        ):
            rows[key + "_wall"].append(clock.wall)
            rows[key + "_cpu"].append(clock.cpu)
    out: dict[str, Any] = {k: statistics.median(v) for k, v in rows.items()}
    out["all"] = rows
    out["state_bytes"] = size
    out["events"] = expected
    return out


class _Base:
    """A tmpfs as root (unmounted at the end), else a temporary
    directory."""

    def __enter__(self) -> str:
        self.path = tempfile.mkdtemp(prefix="inotipy-catchup-bench-")
        self.mounted = False
        if os.geteuid() == 0:
            r = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=2g", "none", self.path]
            )
            self.mounted = r.returncode == 0
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", self.path])
        shutil.rmtree(self.path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", default="10000,100000")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default=None)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    from bench.machine import machine_info

    results: dict[str, Any] = {
        "reps": args.reps,
        "machine": machine_info(),
        "runs": [],
    }
    with _Base() as base:
        results["tmpfs"] = os.path.ismount(base)
        for files in (int(n) for n in args.files.split(",")):
            root = make_tree(base, files)
            row = asyncio.run(measure(root, args.reps, base))
            row["files"] = files
            results["runs"].append(row)
            print(
                f"{files:>7} files  rescan {row['full_wall'] * 1000:8.1f} ms"
                f"  catch-up {row['catchup_wall'] * 1000:8.1f} ms"
                f"  save {row['save_wall'] * 1000:7.1f} ms"
                f"  python diff {row['python_wall'] * 1000:8.1f} ms",
                flush=True,
            )
            shutil.rmtree(root)
    results["loadavg_after"] = os.getloadavg()
    print()
    print(report(results))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def report(results: dict[str, Any]) -> str:
    lines = [
        "| files | full rescan | catch-up (to SYNCED) | ratio | save "
        "| state file | Python snapshot and diff |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["runs"]:
        ratio = r["catchup_wall"] / r["full_wall"]
        lines.append(
            f"| {r['files']:,} "
            f"| {r['full_wall'] * 1000:.1f} ms ({r['full_cpu'] * 1000:.0f} "
            f"CPU) "
            f"| {r['catchup_wall'] * 1000:.1f} ms "
            f"({r['catchup_cpu'] * 1000:.0f} CPU), {r['events']} events "
            f"| {ratio:.2f}x "
            f"| {r['save_wall'] * 1000:.1f} ms "
            f"| {r['state_bytes'] / 1e6:.2f} MB "
            f"| {r['python_wall'] * 1000:.1f} ms |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
