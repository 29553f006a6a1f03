"""The figures of a tree's index (issue 10): what the index costs in
memory per file and per directory, how long a tree with files takes to
watch with it and without it, and how long a heal takes after a real
IN_Q_OVERFLOW, each against a raw C program doing the least the job
needs.  Three phases, run by PHASES in bench/phases.py:

    index_mem   index_mem.c on the core alone: heap growth (mallinfo2) of
                ino_add_tree() per directory and per file, the index of
                files on and off
    tree_files  watching trees with files: the raw C walk (raw_tree.c,
                with and without an fstatat of every file) against
                watch_tree() from Python, index_files=True and False
    heal        a tree overflowed for real (max_queued_events lowered for
                the watcher's creation, as root), changed in the blind
                window, then healed: the time from the first read to
                IN.SYNCED in C (heal_core.c) and through Python
                (get_batch()), against raw_rescan.c; every heal's events
                are checked (the expected ones exactly, and the index
                before them plus them equal to the disk after)

Each phase returns its raw records; bench/index_report.py makes the
tables.  The trees are made by make_file_tree() below on the run's
scratch directory (tmpfs when there is one)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import HERE, log
from bench.limits import QUEUE_SYSCTL, WATCHES_SYSCTL, SysctlLimit, read_int
from bench.proc import Failed, Proc, kill_children

# inotify's bits, and ours (core/include/ino.h).
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_ISDIR = 0x40000000
INO_RESCAN = 0x10000
INO_TREE_NO_FILES = 2
# What the heal phase watches: what a sync tool asks for.  No IN_OPEN,
# IN_ACCESS or IN_CLOSE_NOWRITE, so that listing a directory (the setup's
# scan, the heal's) queues nothing and the kernel's queue fills only with
# the records the phase makes; IN_ATTRIB for those.
HEAL_MASK = (
    IN_CREATE
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
# The bits a heal's event is compared by.
KIND_BITS = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY
# The largest kernel queue the heal phase overflows when it does not lower
# the machine's.
MAX_NOISE = 1 << 18
# Room in max_user_watches beyond a phase's largest tree.
WATCH_HEADROOM = 32768
FANOUT = 10


# ---- trees -----------------------------------------------------------------


@dataclass
class FileTree:
    """A tree made by make_file_tree(): its directories below the root
    (relative paths, breadth first), files per directory, file names."""

    root: Path
    dirs: list[str]
    files_per_dir: int
    depth: int
    mixed: bool = False

    @property
    def ndirs(self) -> int:
        return len(self.dirs) + 1

    @property
    def nfiles(self) -> int:
        return self.ndirs * self.files_per_dir

    def leaves(self) -> list[str]:
        """The directories with no directory below them, deepest last."""
        parents = {d.rpartition("/")[0] for d in self.dirs}
        return [d for d in self.dirs if d not in parents]


def file_name(i: int, mixed: bool = False) -> str:
    """The name of a directory's file I: file0000.txt (12 bytes), or with
    MIXED names of 6 to 21 bytes, every length as often (0000ab,
    0001abcdefghi, ...): malloc() rounds to 16 bytes, so a figure per
    file taken with one length of name depends on where that length
    falls, and one taken with lengths spread over 16 does not."""
    if mixed:
        return f"{i:04d}" + "abcdefghijklmnopq"[: (i * 7) % 16 + 2]
    return f"file{i:04d}.txt"


def make_file_tree(
    root: Path, ndirs: int, files: int, mixed: bool = False
) -> FileTree:
    """Exactly NDIRS directories under and including ROOT, FANOUT
    subdirectories per directory, breadth first (the last level partly
    filled), and FILES files of one byte in every directory, named by
    file_name()."""
    os.mkdir(root)
    dirs: list[str] = []
    level, depth = [""], 0
    while len(dirs) + 1 < ndirs:
        nxt = []
        for parent in level:
            for k in range(FANOUT):
                if len(dirs) + 1 == ndirs:
                    break
                rel = f"{parent}/d{k}" if parent else f"d{k}"
                os.mkdir(root / rel)
                nxt.append(rel)
                dirs.append(rel)
        level = nxt
        depth += 1
    for d in [""] + dirs:
        base = f"{root}/{d}/" if d else f"{root}/"
        for i in range(files):
            fd = os.open(
                base + file_name(i, mixed), os.O_WRONLY | os.O_CREAT, 0o644
            )
            os.write(fd, b"x")
            os.close(fd)
    return FileTree(root, dirs, files, depth, mixed)


def file_name_length(tree: FileTree) -> float:
    """The average length of a file's name."""
    n = tree.files_per_dir
    if not n:
        return 0.0
    return sum(len(file_name(i, tree.mixed)) for i in range(n)) / n


def walk(root: Path) -> dict[str, bool]:
    """Every entry below root: {relative path: is a directory} (lstat)."""
    out: dict[str, bool] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(root / rel if rel else root) as it:
            for e in it:
                p = f"{rel}/{e.name}" if rel else e.name
                isdir = e.is_dir(follow_symlinks=False)
                out[p] = isdir
                if isdir:
                    stack.append(p)
    return out


def read_index(path: str) -> dict[str, bool]:
    """An index file of heal_core.c or consumer.py: {path: is a dir}."""
    out = {}
    with open(path) as f:
        for line in f:
            kind, _, rel = line.rstrip("\n").partition("\t")
            out[rel] = kind == "dir"
    return out


# ---- the blind window ------------------------------------------------------


@dataclass
class BlindChanges:
    """The changes made while the kernel's queue is overflowed, the events
    a heal must report for them, and how to undo them (so that the next
    repetition watches the same tree).  Five directories each lose a file,
    have one modified, one moved to another directory under a new name
    and one new file; a new directory with three files appears; one leaf
    directory is renamed under another parent; one is removed with its
    files."""

    tree: FileTree
    ops: list[tuple] = field(default_factory=list)
    expected: Counter = field(default_factory=Counter)

    def __post_init__(self):
        leaves = self.tree.leaves()
        if self.tree.files_per_dir < 3 or len(leaves) < 12:
            raise ValueError("the blind window needs a larger tree")
        top = self.tree.dirs[0]
        e = self.expected
        for k in range(5):
            d, to = leaves[k], leaves[k + 5]
            gone, mod, moved = (f"{d}/{file_name(i)}" for i in range(3))
            new, dst = f"{d}/new{k}.txt", f"{to}/moved{k}.txt"
            self.ops += [
                ("unlink", gone),
                ("append", mod),
                ("rename", moved, dst),
                ("create", new),
            ]
            e[(IN_DELETE, gone, None)] += 1
            e[(IN_MODIFY, mod, None)] += 1
            e[(IN_MOVED_FROM, moved, None)] += 1
            e[(IN_MOVED_TO, dst, moved)] += 1
            e[(IN_CREATE, new, None)] += 1
        fresh = f"{top}/newdir"
        self.ops.append(("mkdir", fresh, 3))
        e[(IN_CREATE | IN_ISDIR, fresh, None)] += 1
        for i in range(3):
            e[(IN_CREATE, f"{fresh}/{file_name(i)}", None)] += 1
        renamed, dst = leaves[-1], f"{top}/renamed"
        self.ops.append(("rename", renamed, dst))
        e[(IN_MOVED_FROM | IN_ISDIR, renamed, None)] += 1
        e[(IN_MOVED_TO | IN_ISDIR, dst, renamed)] += 1
        removed = leaves[-2]
        self.ops.append(("rmtree", removed, self.tree.files_per_dir))
        for i in range(self.tree.files_per_dir):
            e[(IN_DELETE, f"{removed}/{file_name(i)}", None)] += 1
        e[(IN_DELETE | IN_ISDIR, removed, None)] += 1

    def apply(self) -> None:
        r = self.tree.root
        for op in self.ops:
            kind, a = op[0], r / op[1]
            if kind == "unlink":
                os.unlink(a)
            elif kind == "append":
                with open(a, "ab") as f:
                    f.write(b"more")
            elif kind == "rename":
                os.rename(a, r / op[2])
            elif kind == "create":
                a.write_bytes(b"new")
            elif kind == "mkdir":
                a.mkdir()
                for i in range(op[2]):
                    (a / file_name(i)).write_bytes(b"x")
            elif kind == "rmtree":
                shutil.rmtree(a)

    def undo(self) -> None:
        r = self.tree.root
        for op in reversed(self.ops):
            kind, a = op[0], r / op[1]
            if kind == "unlink":
                a.write_bytes(b"x")
            elif kind == "append":
                os.truncate(a, 1)
            elif kind == "rename":
                os.rename(r / op[2], a)
            elif kind == "create":
                os.unlink(a)
            elif kind == "mkdir":
                shutil.rmtree(a)
            elif kind == "rmtree":
                a.mkdir()
                for i in range(op[2]):
                    (a / file_name(i)).write_bytes(b"x")


def overflow(tree: FileTree, limit: int) -> int:
    """Queues more records than a queue of LIMIT holds, changing nothing a
    heal reports: chmod of two directories in turn, each one IN_ATTRIB on
    the directory's own watch and one on its parent's (never merged: the
    kernel merges a record only with the same one just before it).
    Returns the chmods made."""
    a, b = tree.root / tree.dirs[0], tree.root / tree.dirs[1]
    n = limit // 2 + 64
    for _ in range(n):
        os.chmod(a, 0o755)
        os.chmod(b, 0o755)
    return 2 * n


def check_heal(r: dict, changes: BlindChanges, before: str, after: str):
    """What is wrong with one heal's record R (an empty list when
    nothing): an overflow seen, no plain events after it, the INO_RESCAN
    events exactly the expected ones, and the index before them with them
    applied equal to the index after and to the disk."""
    problems = []
    if r.get("overflows", 0) < 1:
        problems.append("no IN_Q_OVERFLOW was read")
    if r.get("plain_after"):
        problems.append(f"{r['plain_after']} events without RESCAN after it")
    got = Counter(
        (m & (KIND_BITS | IN_ISDIR), p, s) for m, p, s in r.get("events", [])
    )
    if got != changes.expected:
        missing = changes.expected - got
        extra = got - changes.expected
        problems.append(
            f"events: missing {sorted(missing)[:6]}, extra {sorted(extra)[:6]}"
        )
    model = read_index(before)
    problems += apply_events(model, r.get("events", []))
    index = read_index(after)
    disk = walk(changes.tree.root)
    for name, other in (("index after", index), ("disk", disk)):
        if model != other:
            diff = sorted(set(model.items()) ^ set(other.items()))
            problems.append(f"model vs {name}: {diff[:6]}")
    return problems


def subtree(model: dict[str, bool], p: str) -> list[str]:
    """P and every path below it in MODEL."""
    return [q for q in model if q == p or q.startswith(p + "/")]


def apply_events(model: dict[str, bool], events) -> list[str]:
    """Applies a heal's events to MODEL ({path: is a dir}) as a consumer
    does; returns what could not be applied."""
    problems: list[str] = []
    moved_from: set[str] = set()
    for mask, path, src in events:
        if mask & IN_MOVED_FROM:
            moved_from.add(path)
        elif mask & IN_MOVED_TO and src is not None and src in moved_from:
            moved_from.discard(src)
            for q in subtree(model, src):
                model[path + q[len(src) :]] = model.pop(q)
        else:
            apply_one(model, mask, path, problems)
    for p in moved_from:
        for q in subtree(model, p):
            del model[q]
    return problems


def apply_one(model, mask: int, path: str, problems: list[str]) -> None:
    """A CREATE, DELETE, MODIFY or unpaired MOVED_TO, applied to MODEL."""
    if mask & (IN_CREATE | IN_MOVED_TO):
        model[path] = bool(mask & IN_ISDIR)
    elif mask & IN_DELETE:
        if path not in model or len(subtree(model, path)) > 1:
            problems.append(f"DELETE of {path}: absent or not empty")
        model.pop(path, None)
    elif mask & IN_MODIFY and path not in model:
        problems.append(f"MODIFY of {path}, not in the model")


# ---- the phases ------------------------------------------------------------


def spread(values) -> dict:
    """Median, min and max of a list of numbers (None when empty)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
    }


def shape_key(ndirs: int, files: int, mixed: bool = False) -> str:
    return f"{ndirs}x{files}" + ("-mixed" if mixed else "")


def watches_for(shapes) -> SysctlLimit:
    need = max(s[0] for s in shapes) + WATCH_HEADROOM
    return SysctlLimit(WATCHES_SYSCTL, need, "the index phases")


def phase_index_mem(bench) -> dict:
    """index_mem.c on each shape (directories, files per directory, and
    "mixed" for names of mixed lengths), the index of files on and off,
    index_mem_reps times, in processes of their own.  Per directory:
    growth with files off / directories; per file: (growth on - growth
    off) / files."""
    shapes, reps = bench.cfg["index_mem_shapes"], bench.cfg["index_mem_reps"]
    log(
        "index memory: "
        + ", ".join(
            f"{s[0]:,} dirs x {' '.join(map(str, s[1:]))}" for s in shapes
        )
        + f", {reps} reps"
    )
    warm = bench.workdir / "index-warm"
    make_file_tree(warm, 3, 2)
    out = {"shapes": [list(s) for s in shapes], "reps": reps, "runs": {}}
    with watches_for(shapes):
        for ndirs, files, *names in shapes:
            mixed = names == ["mixed"]
            tree = make_file_tree(
                bench.workdir / "index-tree", ndirs, files, mixed
            )
            runs = {"on": [], "off": []}
            for _ in range(reps):
                for key, flags in (("on", 0), ("off", INO_TREE_NO_FILES)):
                    runs[key].append(index_mem_once(bench, tree, warm, flags))
            out["runs"][shape_key(ndirs, files, mixed)] = {
                "dirs": tree.ndirs,
                "files": tree.nfiles,
                "depth": tree.depth,
                "mixed_names": mixed,
                "file_name_len": file_name_length(tree),
                **runs,
            }
            show_index_mem(tree, runs)
            shutil.rmtree(tree.root)
    shutil.rmtree(warm)
    return out


def index_mem_once(bench, tree: FileTree, warm: Path, flags: int) -> dict:
    def once():
        r = run_json(
            bench,
            "index_mem",
            [
                bench.bins["index_mem"],
                tree.root,
                warm,
                flags,
                bench.cpu_consumer,
            ],
        )
        want = 0 if flags & INO_TREE_NO_FILES else tree.nfiles
        if (r["dirs"], r["watches"], r["files"]) != (
            tree.ndirs,
            tree.ndirs,
            want,
        ):
            raise Failed(
                f"{r['dirs']} dirs, {r['watches']} watches, {r['files']} "
                f"files, not {tree.ndirs}, {tree.ndirs}, {want}"
            )
        return r

    return attempts(bench, f"index_mem {tree.ndirs}", once)


def run_json(bench, name: str, argv) -> dict:
    """Runs a helper that prints one JSON line; Failed when it does not."""
    p = Proc(argv, errlog=bench.errlog(name))
    try:
        return p.json(600)
    finally:
        p.kill()


def attempts(bench, what: str, once, tries: int = 3) -> dict:
    """ONCE() (a record, or Failed), tried again when it fails: the watch
    limit is one for the whole uid, and other work on a shared machine
    (this project's tests lower it for a moment; other runs hold watches)
    can make a run fail for want of watches.  Failed attempts are kept in
    the record; the last failure is the run's error."""
    failed = []
    for i in range(tries):
        try:
            r = once()
        except Failed as e:
            failed.append(str(e)[-300:])
            log(f"  {what}: attempt {i + 1} failed: {str(e)[-200:]}")
            kill_children()
            continue
        if failed:
            r["failed_attempts"] = failed
        return r
    bench.errors.append(f"{what}: {failed[-1]}")
    return {"error": failed[-1], "failed_attempts": failed}


def show_index_mem(tree: FileTree, runs) -> None:
    on = statistics.median(r["heap_growth"] for r in runs["on"])
    off = statistics.median(r["heap_growth"] for r in runs["off"])
    per_file = (on - off) / tree.nfiles if tree.nfiles else float("nan")
    log(
        f"  {tree.ndirs:,} dirs x {tree.files_per_dir} files: "
        f"{off / tree.ndirs:.1f} B/dir (files off), "
        f"{on / tree.ndirs:.1f} B/dir all in (on), "
        f"{per_file:.1f} B/file"
    )


# The contenders of tree_files: (name, what runs).
TREE_FILES_WHO = {
    "raw-walk": "raw_tree.c: opendir/readdir/d_type walk, inotify_add_watch "
    "on every directory (files: no system call)",
    "raw-walk-stat": "raw_tree.c stat: the same, and fstatat() of every "
    "entry that is not a directory",
    "core-on": "index_mem.c: ino_add_tree() in C (index of files on)",
    "core-off": "index_mem.c: ino_add_tree(INO_TREE_NO_FILES) in C",
    "py-on": "Watcher().watch_tree(root) (index_files=True, the default)",
    "py-off": "Watcher().watch_tree(root, index_files=False)",
}


def phase_tree_files(bench) -> dict:
    """Watching trees with files: each contender of TREE_FILES_WHO in a
    process of its own, tree_files_reps rounds (each round starting one
    contender further on), on each shape of tree_files_shapes."""
    shapes = bench.cfg["tree_files_shapes"]
    reps = bench.cfg["tree_files_reps"]
    log(
        "trees with files: "
        + ", ".join(f"{d:,} dirs x {f} files" for d, f in shapes)
        + f", {reps} reps"
    )
    warm = bench.workdir / "tf-warm"
    make_file_tree(warm, 3, 2)
    names = list(TREE_FILES_WHO)
    out = {
        "shapes": [list(s) for s in shapes],
        "reps": reps,
        "how": TREE_FILES_WHO,
        "runs": {},
    }
    with watches_for(shapes):
        for ndirs, files in shapes:
            tree = make_file_tree(bench.workdir / "tf-tree", ndirs, files)
            runs = {n: [] for n in names}
            for rep in range(reps):
                k = rep % len(names)
                for name in names[k:] + names[:k]:
                    runs[name].append(tree_files_once(bench, name, tree, warm))
            out["runs"][shape_key(ndirs, files)] = {
                "dirs": tree.ndirs,
                "files": tree.nfiles,
                "depth": tree.depth,
                **runs,
            }
            med = {
                n: spread(r.get("seconds") for r in rs)["median"]
                for n, rs in runs.items()
            }
            log(
                f"  {tree.ndirs:,} x {files}: "
                + "  ".join(f"{n} {v:.3f}s" for n, v in med.items() if v)
            )
            shutil.rmtree(tree.root)
    shutil.rmtree(warm)
    return out


def tree_files_once(bench, name: str, tree: FileTree, warm: Path) -> dict:
    cpu = bench.cpu_consumer
    if name.startswith("raw-walk"):
        argv = [bench.bins["raw_tree"], tree.root, cpu]
        argv += ["stat"] if name == "raw-walk-stat" else []
    elif name.startswith("core-"):
        flags = 0 if name == "core-on" else INO_TREE_NO_FILES
        argv = [bench.bins["index_mem"], tree.root, warm, flags, cpu]
    else:
        argv = [
            bench.pythons["inotipy-for"],
            HERE / "consumer.py",
            "inotipy-for",
            "tree",
            tree.root,
            "--cpu",
            cpu,
        ] + ([] if name == "py-on" else ["--no-index-files"])

    def once():
        r = run_json(bench, name, argv)
        if r.get("watches") != tree.ndirs:
            raise Failed(f"{r.get('watches')} watches of {tree.ndirs}")
        return r

    return attempts(bench, f"tree_files {tree.ndirs} {name}", once)


# The contenders of the heal phase.
HEAL_WHO = {
    "raw-rescan": "raw_rescan.c: openat/readdir walk, fstatat() of every "
    "entry that is not a directory",
    "raw-rescan-watch": "raw_rescan.c watch: the same, and "
    "inotify_add_watch() on every directory (already watched)",
    "heal-core": "heal_core.c: ino_read()/ino_next() in C, from the first "
    "read to INO_SYNCED",
    "heal-python": "await watcher.get_batch() in a loop, from the first "
    "call to IN.SYNCED",
}


def phase_heal(bench) -> dict:
    """Heals after a real overflow, on each shape of heal_shapes, heal_reps
    rounds of every contender of HEAL_WHO (each round starting one further
    on); the tree's changes are undone after each heal."""
    shapes, reps = bench.cfg["heal_shapes"], bench.cfg["heal_reps"]
    # Lowered as root (the full run); the smoke run leaves the sysctl
    # alone and overflows the machine's queue.
    lower = os.geteuid() == 0 and bench.cfg["heal_queue"] is not None
    limit = bench.cfg["heal_queue"] if lower else read_int(QUEUE_SYSCTL)
    if limit is None or limit > MAX_NOISE:
        return {
            "status": "skipped",
            "reason": f"max_queued_events is {limit} and not to be "
            "lowered here: too many records to overflow it",
        }
    log(
        "heal: "
        + ", ".join(f"{d:,} dirs x {f} files" for d, f in shapes)
        + f", {reps} reps, kernel queue {limit}"
        + ("" if lower else " (the machine's)")
    )
    names = list(HEAL_WHO)
    out = {
        "status": "ran",
        "shapes": [list(s) for s in shapes],
        "reps": reps,
        "mask": HEAL_MASK,
        "queue_limit": limit,
        "queue_lowered": lower,
        "how": HEAL_WHO,
        "runs": {},
    }
    with watches_for(shapes):
        for ndirs, files in shapes:
            tree = make_file_tree(bench.workdir / "heal-tree", ndirs, files)
            changes = BlindChanges(tree)
            runs = {n: [] for n in names}
            for rep in range(reps):
                k = rep % len(names)
                for name in names[k:] + names[:k]:
                    runs[name].append(
                        heal_once(bench, name, changes, limit, lower)
                    )
            entries = tree.ndirs - 1 + tree.nfiles
            out["runs"][shape_key(ndirs, files)] = {
                "dirs": tree.ndirs,
                "files": tree.nfiles,
                "entries": entries,
                "depth": tree.depth,
                "expected_events": sum(changes.expected.values()),
                **runs,
            }
            med = {
                n: spread(heal_seconds(r) for r in rs)["median"]
                for n, rs in runs.items()
            }
            log(
                f"  {entries:,} entries: "
                + "  ".join(
                    f"{n} {v * 1e3:.1f} ms" for n, v in med.items() if v
                )
            )
            shutil.rmtree(tree.root)
    return out


def heal_seconds(r: dict):
    """The time a heal record stands for: from the first read to SYNCED
    for the heals, the walk for the raw rescans."""
    if "t_synced_s" in r:
        return r["t_synced_s"]
    return r.get("seconds")


def heal_once(bench, name, changes: BlindChanges, limit, lower) -> dict:
    tree = changes.tree
    what = f"heal {tree.ndirs} {name}"
    if name.startswith("raw-rescan"):
        argv = [bench.bins["raw_rescan"], tree.root, bench.cpu_consumer]
        argv += ["watch"] if name == "raw-rescan-watch" else []
        return attempts(bench, what, lambda: run_json(bench, name, argv))
    return attempts(
        bench, what, lambda: heal_run(bench, name, changes, limit, lower)
    )


def heal_run(bench, name, changes: BlindChanges, limit, lower) -> dict:
    """One heal: the watcher made while max_queued_events is LIMIT (when
    LOWER; else the machine's), the tree watched, the queue overflowed
    and the tree changed, the heal timed, its events checked, the changes
    undone."""
    tree = changes.tree
    prefix = str(bench.workdir / f"heal-{name}")
    before, after = prefix + ".before", prefix + ".after"
    if name == "heal-core":
        argv = [
            bench.bins["heal_core"],
            tree.root,
            HEAL_MASK,
            0,
            bench.cpu_consumer,
            before,
            after,
        ]
    else:
        argv = [
            bench.pythons["inotipy-batch"],
            HERE / "consumer.py",
            "inotipy-batch",
            "heal",
            tree.root,
            "--cpu",
            bench.cpu_consumer,
            "--mask",
            hex(HEAL_MASK),
            "--index-out",
            prefix,
        ]
    p = Proc(argv, errlog=bench.errlog(name))
    applied = False
    try:
        p.expect("STARTED", 120)
        with SysctlLimit(QUEUE_SYSCTL, limit, "the heal phase", lower=True):
            if lower:
                opened_at = read_int(QUEUE_SYSCTL)
            p.send("OPEN\n")
            p.expect("OPENED", 60)
        if not lower:
            opened_at = limit
        line = p.readline(600)
        if not line.startswith("READY "):
            raise Failed(f"{name} said {line[:200]!r}, not READY")
        setup = json.loads(line[6:])
        records = overflow(tree, opened_at)
        changes.apply()
        applied = True
        p.send("GO\n")
        r = p.json(600)
        r["setup"] = setup
        r["noise_records"] = records
        r["queue_limit_at_open"] = opened_at
        r["problems"] = check_heal(r, changes, before, after)
        r["expected"] = sum(changes.expected.values())
        r["got"] = len(r.get("events", []))
        if r["problems"]:
            bench.errors.append(
                f"heal {name} ({tree.ndirs} dirs): " + "; ".join(r["problems"])
            )
        return r
    finally:
        p.kill()
        if applied:
            changes.undo()
        for f in (before, after):
            if os.path.exists(f):
                os.unlink(f)
