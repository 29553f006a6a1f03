"""A randomized oracle for watch_tree(): the model built from the events
equals the tree on disk once the churn stops (issue 10).

The property: start from a walk of the tree taken right after watch_tree()
returns, then apply each event in order:

- CREATE adds the path (a directory if ISDIR);
- DELETE removes it;
- a MOVED_TO with src_path moves the subtree at src_path to path;
- a MOVED_TO without one adds it (what the tree then finds inside arrives
  as CREATE);
- a MOVED_FROM that no MOVED_TO pairs removes the subtree.

When the churn has stopped and the watcher has gone quiet, the model must
equal a fresh walk (no path missing, none extra, every type right), and no
event may name a path outside the tree.

Pieces, each usable on its own:

- ``walk(root)``: the tree on disk, ``{relpath: "dir"|"file"|"symlink"}``.
- ``Model``: applies events by the rules above and records every event
  that contradicts the model (``Violation``, with the event's index).
- ``churn()``: the churn worker, run as a separate process
  (``python tests/oracle.py --churn-worker ...``).
- ``run_once(config)`` (a coroutine): sets up a tree, watches it, starts
  the churners, feeds every event to a model, waits until the churners
  exited and the watcher is quiet (``wait_quiet()``, the one function to
  switch to ``await watcher.sync()`` once that exists), and compares.
- ``check_sequence(base, setup, action)`` (a coroutine): the same for a
  fixed sequence of operations made in this process, for regression tests.

Run it: ``python -m tests.oracle --runs 20 --procs 2`` (``--help``).

How the model decides when a MOVED_FROM is unpaired.  A rename holds the
locks of both parent directories while the kernel queues its MOVED_FROM
and MOVED_TO, so no event naming an entry of either parent can come
between the two.  A MOVED_FROM waits for its MOVED_TO (by cookie) until an
event names another entry of the directory it left, a Q_OVERFLOW comes or
the stream ends; then it is unpaired and its subtree leaves the model.
Events that named a path inside that subtree after the MOVED_FROM named a
path that had left the tree: each is a ``moved-out`` violation.

inotify does not tell a symbolic link from a file: the model holds
"symlink" only for links it met in a walk, and types are compared as
directory or not.

Overflows (``--overflow``): a Q_OVERFLOW means the kernel dropped events.
The tree heals: it compares its index with the disk and reports the
difference as ordinary events (marked IN.RESCAN), then one SYNCED event.
The model ignores the Q_OVERFLOW itself and goes on applying events, so
the run checks that the stream is exact from the events alone.  With
``--resync`` it does what a consumer of a tree without an index must: the
runner stops the churners (SIGSTOP), takes every event the kernel holds,
re-reads the model from a walk, and lets the churners go on (SIGCONT); the
events taken while stopped are logged but not applied.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import atexit
import collections
import contextlib
import dataclasses
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

DIR = "dir"
FILE = "file"
LINK = "symlink"

TIMEOUT_SCALE = float(os.environ.get("INOTIPY_TEST_TIMEOUT_SCALE") or "1")

# No event for this long (scaled), with the kernel's queue empty, is quiet.
QUIET = 0.3
# The longest a run waits for the churners, then for quiet (scaled).
CHURN_DEADLINE = 60.0
QUIET_DEADLINE = 30.0

MAX_QUEUED_EVENTS = "/proc/sys/fs/inotify/max_queued_events"
# fanotify's own bound (Linux 5.13), read when a group is made.
FAN_MAX_QUEUED_EVENTS = "/proc/sys/fs/fanotify/max_queued_events"


def scaled(seconds: float) -> float:
    return seconds * TIMEOUT_SCALE


# ---- the tree on disk -------------------------------------------------------


def walk(root: str) -> dict[str, str]:
    """Every entry below root, by lstat type, as {relpath: type}.

    Entries that vanish while they are listed are left out (a walk during
    churn)."""
    found: dict[str, str] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            it = os.scandir(os.path.join(root, rel) if rel else root)
        except OSError:
            continue
        with it:
            for entry in it:
                path = rel + "/" + entry.name if rel else entry.name
                try:
                    if entry.is_symlink():
                        kind = LINK
                    elif entry.is_dir(follow_symlinks=False):
                        kind = DIR
                    else:
                        kind = FILE
                except OSError:
                    continue
                found[path] = kind
                if kind == DIR:
                    stack.append(path)
    return found


def same_kind(a: str, b: str) -> bool:
    """Whether two types agree as far as events can tell."""
    return (a == DIR) == (b == DIR)


# ---- events as plain records ------------------------------------------------


@dataclasses.dataclass
class Record:
    """What the model needs of an event, kept for the log."""

    index: int
    mask: int
    pathname: str
    path: str
    src_path: str | None
    cookie: int
    applied: bool = True  # False: taken while resyncing, not applied

    def text(self, root: str = "") -> str:
        src = self.src_path
        if src is not None and root and src.startswith(root + "/"):
            src = src[len(root) + 1 :]
        out = "{:4d} {} {}".format(
            self.index,
            mask_text(self.mask),
            self.pathname or "''",
        )
        if src is not None:
            out += " <- " + src
        if self.cookie:
            out += f" (cookie {self.cookie})"
        if not self.applied:
            out += " [superseded by resync]"
        return out


_BITS = [
    (0x40, "MOVED_FROM"),
    (0x80, "MOVED_TO"),
    (0x100, "CREATE"),
    (0x200, "DELETE"),
    (0x400, "DELETE_SELF"),
    (0x800, "MOVE_SELF"),
    (0x2000, "UNMOUNT"),
    (0x4000, "Q_OVERFLOW"),
    (0x8000, "IGNORED"),
    (0x40000000, "ISDIR"),
]


def mask_text(mask: int) -> str:
    names = [name for bit, name in _BITS if mask & bit]
    rest = mask & ~sum(bit for bit, _ in _BITS)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


def record_of(index: int, event: Any) -> Record:
    def text(value: Any) -> str:
        return os.fsdecode(value) if isinstance(value, bytes) else value

    src = event.src_path
    return Record(
        index,
        int(event.mask),
        text(event.pathname) or "",
        text(event.path) or "",
        None if src is None else text(src),
        int(event.cookie),
    )


# ---- the model --------------------------------------------------------------


@dataclasses.dataclass
class Violation:
    """An event that contradicts the model (or names a path outside)."""

    index: int
    kind: str
    detail: str


@dataclasses.dataclass
class _Pending:
    index: int
    cookie: int
    parent: dict[str, Any]
    name: str
    node: Any  # what the model held there, None if nothing
    rel: str
    under: list[int] = dataclasses.field(default_factory=list)


# Violation kinds.
OUTSIDE = "outside"  # event path not below the root (textually)
MOVED_OUT = "moved-out"  # named a path inside a subtree that left
ORPHAN = "orphan"  # CREATE/MOVED_TO into no known directory
STALE = "stale"  # DELETE/MOVED_FROM/src of an unknown path
DUPLICATE = "duplicate"  # CREATE of a path the model holds
NONEMPTY = "nonempty-delete"  # DELETE of a directory still holding entries
NO_FROM = "no-from"  # src_path with no MOVED_FROM of that cookie
UNEXPECTED = "unexpected"  # an event of no kind the model knows


class Model:
    """The tree as the events tell it.

    Directories are dicts (name -> child), other entries their type
    string.  ``apply(record)`` takes events in order; ``finish()`` settles
    what still waits; ``snapshot()`` is the flat view, as ``walk()``
    gives."""

    def __init__(self, root: str, initial: dict[str, str]) -> None:
        self.root = root.rstrip("/") or "/"
        self.tree: dict[str, Any] = {}
        self.violations: list[Violation] = []
        self.count = 0
        self.overflows = 0
        self.synced = 0  # SYNCED events: heals done
        self._pending: dict[int, _Pending] = {}
        self._pending_dirs: dict[int, _Pending] = {}
        # How each directory node came to be (for categorising diffs):
        # "initial", "create", "moved-in"; and which moved by a rename.
        self.origin: dict[int, str] = {}
        self.renamed: set[int] = set()
        self.unpaired_dirs = 0  # directory MOVED_FROMs settled unpaired
        self.reset(initial)

    # -- state

    def reset(self, snapshot: dict[str, str]) -> None:
        """Forgets everything and holds snapshot (a walk) instead."""
        self.tree = {}
        self._pending.clear()
        self._pending_dirs.clear()
        for rel in sorted(snapshot, key=lambda p: p.count("/")):
            parent, name, _ = self._locate(rel)
            if parent is not None:
                kind = snapshot[rel]
                parent[name] = (
                    self._new(DIR, "initial") if kind == DIR else kind
                )

    def _new(self, kind: str, origin: str) -> Any:
        if kind != DIR:
            return kind
        node: dict[str, Any] = {}
        self.origin[id(node)] = origin
        self.renamed.discard(id(node))
        return node

    def ancestry(self, rel: str) -> list[tuple[str, bool]]:
        """(origin, renamed) of each directory the model holds on the way
        to rel, from the root down, as far as the model holds them."""
        out = []
        node: Any = self.tree
        for part in rel.split("/")[:-1]:
            node = node.get(part)
            if not isinstance(node, dict):
                break
            out.append(
                (self.origin.get(id(node), "?"), id(node) in self.renamed)
            )
        return out

    def snapshot(self) -> dict[str, str]:
        out: dict[str, str] = {}
        stack: list[tuple[str, dict[str, Any]]] = [("", self.tree)]
        while stack:
            prefix, node = stack.pop()
            for name, child in node.items():
                rel = prefix + name
                if isinstance(child, dict):
                    out[rel] = DIR
                    stack.append((rel + "/", child))
                else:
                    out[rel] = child
        return out

    def _locate(
        self, rel: str
    ) -> tuple[dict[str, Any] | None, str, list[_Pending]]:
        """The directory holding rel (None if the model has none), rel's
        last name, and the pending moves of directories on the way."""
        parts = rel.split("/")
        node: Any = self.tree
        passed = []
        for part in parts[:-1]:
            node = node.get(part)
            if not isinstance(node, dict):
                return None, parts[-1], passed
            pending = self._pending_dirs.get(id(node))
            if pending is not None:
                passed.append(pending)
        return node, parts[-1], passed

    def _violate(self, index: int, kind: str, detail: str) -> None:
        self.violations.append(Violation(index, kind, detail))

    # -- moves that wait for their MOVED_TO

    def _settle(self, pending: _Pending) -> None:
        """pending's MOVED_FROM had no MOVED_TO: its subtree left."""
        self._pending.pop(pending.cookie, None)
        if isinstance(pending.node, dict):
            self._pending_dirs.pop(id(pending.node), None)
        if (
            pending.node is not None
            and pending.parent.get(pending.name) is pending.node
        ):
            del pending.parent[pending.name]
        if isinstance(pending.node, dict):
            self.unpaired_dirs += 1
        for index in pending.under:
            self._violate(
                index,
                MOVED_OUT,
                f"names a path in {pending.rel}, which left the tree by "
                f"MOVED_FROM #{pending.index}",
            )

    def _settle_siblings(
        self, parent: dict[str, Any], keep: _Pending | None = None
    ) -> None:
        for pending in list(self._pending.values()):
            if pending.parent is parent and pending is not keep:
                self._settle(pending)

    def finish(self) -> None:
        """The stream has ended: every move still waiting left the tree."""
        for pending in sorted(self._pending.values(), key=lambda p: p.index):
            self._settle(pending)

    # -- events

    def resync(self, snapshot: dict[str, str]) -> None:
        """After a Q_OVERFLOW: the model becomes what a walk found."""
        self.overflows += 1
        self.reset(snapshot)

    def skip(self) -> int:
        """Counts an event that is logged but not applied."""
        self.count += 1
        return self.count - 1

    def apply(self, rec: Record) -> None:
        index = rec.index
        self.count = max(self.count, index + 1)
        mask = rec.mask
        if mask & 0x4000:  # Q_OVERFLOW
            return  # the heal's events follow (or the runner resyncs)
        if mask & 0x20000 and not rec.pathname:  # SYNCED: whole again
            self.synced += 1
            return
        if not self.check_inside(rec):
            return
        kinds = mask & (0x40 | 0x80 | 0x100 | 0x200)
        if kinds not in (0x40, 0x80, 0x100, 0x200) or not rec.pathname:
            self._violate(index, UNEXPECTED, mask_text(mask))
            return
        is_dir = bool(mask & 0x40000000)
        parent, name, passed = self._locate(rec.pathname)
        pending = None
        if kinds == 0x80 and rec.src_path is not None:
            pending = self._pending.pop(rec.cookie, None)
            if pending is None:
                self._violate(
                    index,
                    NO_FROM,
                    f"no MOVED_FROM waits with cookie {rec.cookie}",
                )
            elif isinstance(pending.node, dict):
                self._pending_dirs.pop(id(pending.node), None)
        # inotipy reports a rename's two events next to each other: a
        # MOVED_FROM that this event does not pair had no MOVED_TO.
        for waiting in sorted(self._pending.values(), key=lambda p: p.index):
            self._settle(waiting)
        parent, name, passed = self._locate(rec.pathname)
        for moving in passed:
            moving.under.append(index)
        self._dispatch(index, rec, kinds, parent, name, is_dir, pending)

    def _dispatch(
        self,
        index: int,
        rec: Record,
        kinds: int,
        parent: Any,
        name: str,
        is_dir: bool,
        pending: _Pending | None,
    ) -> None:
        """Applies one event of a known kind (CREATE, DELETE, MOVED_FROM,
        MOVED_TO) at parent/name."""
        if kinds == 0x100:
            self._create(index, rec, parent, name, is_dir)
        elif kinds == 0x200:
            self._delete(index, rec, parent, name)
        elif kinds == 0x40:
            self._moved_from(index, rec, parent, name)
        elif rec.src_path is not None:
            self._moved_to_paired(index, rec, parent, name, is_dir, pending)
        else:
            self._put(
                index,
                rec,
                parent,
                name,
                self._new(DIR if is_dir else FILE, "moved-in"),
            )

    def check_inside(self, rec: Record) -> bool:
        """Checks the event's paths are below the root; records one
        violation if not."""
        if rec.mask & 0x4000:  # Q_OVERFLOW names nothing
            return True
        why = []
        for label, path in (("path", rec.path), ("src_path", rec.src_path)):
            if path is None:
                continue
            if not path.startswith(self.root + "/"):
                why.append(f"{label} {path!r} is not below the root")
            elif not _plain(path[len(self.root) + 1 :]):
                why.append(f"{label} {path!r}")
        if rec.pathname and not _plain(rec.pathname):
            why.append(f"pathname {rec.pathname!r}")
        elif rec.pathname and rec.path != self.root + "/" + rec.pathname:
            why.append(f"path {rec.path!r} is not root + pathname")
        if why:
            self._violate(rec.index, OUTSIDE, "; ".join(why))
        return not why

    def _create(
        self, index: int, rec: Record, parent: Any, name: str, is_dir: bool
    ) -> None:
        if parent is not None and name in parent:
            old = parent[name]
            self._violate(
                index,
                DUPLICATE,
                f"{rec.pathname} already held "
                f"({DIR if isinstance(old, dict) else old})",
            )
            if isinstance(old, dict) == is_dir:
                return
        self._put(
            index,
            rec,
            parent,
            name,
            self._new(DIR if is_dir else FILE, "create"),
        )

    def _put(
        self, index: int, rec: Record, parent: Any, name: str, node: Any
    ) -> None:
        if parent is None:
            self._violate(index, ORPHAN, f"no directory holds {rec.pathname}")
            return
        parent[name] = node

    def _delete(self, index: int, rec: Record, parent: Any, name: str) -> None:
        if parent is None or name not in parent:
            self._violate(index, STALE, f"{rec.pathname} is not held")
            return
        node = parent.pop(name)
        if isinstance(node, dict) and node:
            self._violate(
                index,
                NONEMPTY,
                "{} still held {}".format(
                    rec.pathname, ", ".join(sorted(node)[:5])
                ),
            )

    def _moved_from(
        self, index: int, rec: Record, parent: Any, name: str
    ) -> None:
        node = None if parent is None else parent.get(name)
        if node is None:
            self._violate(index, STALE, f"{rec.pathname} is not held")
        pending = _Pending(
            index,
            rec.cookie,
            parent if parent is not None else {},
            name,
            node,
            rec.pathname,
        )
        old = self._pending.pop(rec.cookie, None)
        if old is not None:
            self._settle(old)
        self._pending[rec.cookie] = pending
        if isinstance(node, dict):
            self._pending_dirs[id(node)] = pending

    def _moved_to_paired(
        self,
        index: int,
        rec: Record,
        parent: Any,
        name: str,
        is_dir: bool,
        pending: _Pending | None,
    ) -> None:
        assert rec.src_path is not None
        src = rec.src_path[len(self.root) + 1 :]
        sparent, sname, _ = self._locate(src)
        node = None if sparent is None else sparent.get(sname)
        if node is None:
            if pending is None or pending.node is not None:
                self._violate(index, STALE, f"src {src} is not held")
            node = self._new(DIR if is_dir else FILE, "moved-in")
        else:
            if pending is not None and pending.node is not node:
                self._violate(
                    index,
                    STALE,
                    f"src {src} is not what MOVED_FROM #{pending.index} named",
                )
            del sparent[sname]
            if isinstance(node, dict):
                self.renamed.add(id(node))
        self._put(index, rec, parent, name, node)


def _plain(rel: str) -> bool:
    """Whether rel is a relative path with no empty, . or .. part."""
    return not rel.startswith("/") and all(
        part not in ("", ".", "..") for part in rel.split("/")
    )


# ---- comparing --------------------------------------------------------------


@dataclasses.dataclass
class Diff:
    missing: list[tuple[str, str]]  # (path, type on disk)
    extra: list[tuple[str, str]]  # (path, type in the model)
    wrong_type: list[tuple[str, str, str]]  # (path, model, disk)

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.wrong_type)


def compare(model: dict[str, str], disk: dict[str, str]) -> Diff:
    missing = sorted((p, t) for p, t in disk.items() if p not in model)
    extra = sorted((p, t) for p, t in model.items() if p not in disk)
    wrong = sorted(
        (p, model[p], t)
        for p, t in disk.items()
        if p in model and not same_kind(model[p], t)
    )
    return Diff(missing, extra, wrong)


def _topmost(paths: Iterable[str]) -> list[str]:
    """The paths none of whose ancestors is in the set."""
    have = set(paths)
    out = []
    for path in sorted(have):
        parts = path.split("/")
        if not any("/".join(parts[:i]) in have for i in range(1, len(parts))):
            out.append(path)
    return out


# ---- results ----------------------------------------------------------------


@dataclasses.dataclass
class Result:
    seed: int | None
    root: str
    initial: dict[str, str]
    final: dict[str, str]
    model: dict[str, str]
    diff: Diff
    violations: list[Violation]
    events: list[Record]
    overflowed: bool
    quiet: bool  # the watcher went quiet before the deadline
    ops: list[list[str]] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0
    categories: list[str] = dataclasses.field(default_factory=list)

    @property
    def exact(self) -> bool:
        """The property holds: quiet, no diff, no violation of any kind."""
        return self.quiet and not self.diff and not self.violations

    @property
    def outside(self) -> list[Violation]:
        """Events that named a path outside the tree: below no root, or
        inside a directory that had left it."""
        return [v for v in self.violations if v.kind in (OUTSIDE, MOVED_OUT)]

    @property
    def overflows(self) -> int:
        return sum(1 for r in self.events if r.mask & 0x4000)

    @property
    def applied(self) -> int:
        return sum(1 for r in self.events if r.applied)

    def report(self, events: bool = True, limit: int = 40) -> str:
        lines = [
            "seed {}: {}{}".format(
                self.seed,
                "exact" if self.exact else "NOT exact",
                ", overflowed" if self.overflowed else "",
            )
        ]
        if not self.quiet:
            lines.append("  the watcher never went quiet")

        def some(title: str, items: list[Any]) -> None:
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines.extend(f"    {item}" for item in items[:limit])
                if len(items) > limit:
                    lines.append("    ...")

        some("missing", self.diff.missing)
        some("extra", self.diff.extra)
        some("wrong type (model, disk)", self.diff.wrong_type)
        some(
            "violations",
            [f"#{v.index} {v.kind}: {v.detail}" for v in self.violations],
        )
        some("warnings", self.warnings)
        if not self.exact:
            lines.append("  categories: " + ", ".join(self.categories))
        if events:
            some(
                "initial tree",
                [f"{t} {p}" for p, t in sorted(self.initial.items())],
            )
            for n, log in enumerate(self.ops):
                some(f"ops of churner {n}", log)
            some("events", [r.text(self.root) for r in self.events])
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "exact": self.exact,
            "overflowed": self.overflowed,
            "quiet": self.quiet,
            "categories": self.categories,
            "missing": self.diff.missing,
            "extra": self.diff.extra,
            "wrong_type": self.diff.wrong_type,
            "violations": [dataclasses.asdict(v) for v in self.violations],
            "initial": self.initial,
            "ops": self.ops,
            "events": [r.text(self.root) for r in self.events],
            "warnings": self.warnings,
            "elapsed": self.elapsed,
        }


def categorise(result: Result, model: Model) -> list[str]:
    """Names for what went wrong, for the baseline's tallies."""
    cats: set[str] = set()
    if not result.quiet:
        cats.add("never quiet")
    for path in _topmost(p for p, _ in result.diff.missing):
        parent = path.rpartition("/")[0]
        ancestry = model.ancestry(path)
        origins = [origin for origin, _ in ancestry]
        if parent and parent not in result.model:
            cats.add("missing: its directory is unknown too")
        elif "moved-in" in origins:
            above = any(
                r
                for r in [r for _, r in ancestry][: origins.index("moved-in")]
            )
            cats.add(
                "missing: contents of a directory moved in"
                + (", then an ancestor renamed" if above else "")
            )
        elif any(renamed for _, renamed in ancestry):
            cats.add("missing: contents lost after an ancestor's rename")
        elif origins and origins[-1] == "create" and model.unpaired_dirs:
            cats.add(
                "missing: a rename seen as CREATE + unpaired "
                "MOVED_FROM, contents lost"
            )
        else:
            cats.add("missing: CREATE never reported")
    if result.diff.extra:
        cats.add("extra: model holds paths gone from disk")
    if result.diff.wrong_type:
        cats.add("wrong type")
    for v in result.violations:
        cats.add("event: " + v.kind)
    return sorted(cats)


# ---- the churn worker -------------------------------------------------------


class Churner:
    """Random operations in a tree and a directory outside it."""

    def __init__(
        self,
        root: str,
        outside: str,
        seed: int,
        tag: str,
        log: Callable[[str], None],
    ) -> None:
        self.root = root
        self.outside = outside
        self.rnd = random.Random(seed)
        self.tag = tag
        self.counter = 0
        self.log = log
        self.recent: list[str] = []  # directories this worker made

    def name(self) -> str:
        self.counter += 1
        return f"{self.tag}{self.counter}"

    def rel(self, path: str) -> str:
        for base, label in ((self.root, ""), (self.outside, "OUT/")):
            if path == base:
                return label or "."
            if path.startswith(base + "/"):
                return label + path[len(base) + 1 :]
        return path

    def do(self, what: str, fn: Callable[..., Any], *args: str) -> bool:
        text = "{} {}".format(what, " ".join(self.rel(a) for a in args))
        try:
            fn(*args)
        except OSError as exc:
            self.log(f"{text}: {exc.strerror or exc}")
            return False
        self.log(text)
        return True

    # -- picking

    def pick_dir(self, base: str | None = None, stop: float = 0.35) -> str:
        """A directory reached by a random descent from base."""
        path = base or self.root
        if self.recent and base is None and self.rnd.random() < 0.3:
            cand = self.rnd.choice(self.recent)
            if os.path.isdir(cand) and not os.path.islink(cand):
                return cand
        for _ in range(12):
            if self.rnd.random() < stop:
                break
            try:
                subs = [
                    e.path
                    for e in os.scandir(path)
                    if e.is_dir(follow_symlinks=False)
                ]
            except OSError:
                break
            if not subs:
                break
            path = self.rnd.choice(sorted(subs))
        return path

    def pick_entry(
        self, dirs: bool | None, base: str | None = None
    ) -> str | None:
        """An entry below base (a directory if dirs, else not; any if
        None), never base itself."""
        for _ in range(4):
            where = self.pick_dir(base, stop=0.5)
            try:
                entries = [e for e in os.scandir(where)]
                cand = sorted(
                    e.path
                    for e in entries
                    if dirs is None or e.is_dir(follow_symlinks=False) == dirs
                )
            except OSError:
                continue
            if cand:
                return self.rnd.choice(cand)
        return None

    def write(self, path: str) -> None:
        with open(path, "w") as f:
            f.write("x" * self.rnd.randrange(8))

    # -- operations

    def op_mkdir(self) -> None:
        path = os.path.join(self.pick_dir(), self.name())
        if self.do("mkdir", os.mkdir, path):
            self.recent.append(path)

    def op_makedirs(self) -> None:
        top = os.path.join(self.pick_dir(), self.name())
        levels = [top]
        for depth in range(1, 10):
            levels.append(os.path.join(levels[-1], f"d{depth}"))
        if not self.do("makedirs", os.makedirs, levels[-1]):
            return
        self.recent.append(levels[self.rnd.randrange(10)])
        for level in levels:
            if not self.do("write", self.write, os.path.join(level, "f")):
                break

    def op_write(self) -> None:
        if self.rnd.random() < 0.3:
            path = self.pick_entry(False)
            if path is None or os.path.islink(path):
                return
        else:
            path = os.path.join(self.pick_dir(), self.name())
        self.do("write", self.write, path)

    def op_unlink(self) -> None:
        path = self.pick_entry(False)
        if path is not None:
            self.do("unlink", os.unlink, path)

    def op_rename_file(self) -> None:
        src = self.pick_entry(False)
        if src is None:
            return
        if self.rnd.random() < 0.2:
            dst = self.pick_entry(False) or src  # over an existing one
        else:
            dst = os.path.join(self.pick_dir(), self.name())
        if dst != src:
            self.do("rename", os.rename, src, dst)

    def op_rename_dir(self, twice: bool = False) -> None:
        src = self.pick_entry(True)
        if src is None:
            return
        for _ in range(2 if twice else 1):
            dst = os.path.join(self.pick_dir(), self.name())
            if not self.do("rename", os.rename, src, dst):
                return
            self.recent.append(dst)
            src = dst

    def op_rename_twice(self) -> None:
        self.op_rename_dir(twice=True)

    def op_fill_and_rename(self) -> None:
        """A directory renamed while it is being filled, then again."""
        path = os.path.join(self.pick_dir(), self.name())
        if not self.do("mkdir", os.mkdir, path):
            return
        for step in range(3):
            for _ in range(self.rnd.randrange(1, 4)):
                sub = os.path.join(path, self.name())
                if self.rnd.random() < 0.4:
                    self.do("mkdir", os.mkdir, sub)
                else:
                    self.do("write", self.write, sub)
            if step < 2:
                dst = os.path.join(self.pick_dir(), self.name())
                if not self.do("rename", os.rename, path, dst):
                    return
                path = dst
        self.recent.append(path)

    def op_move_out(self) -> None:
        src = self.pick_entry(None)
        if src is None:
            return
        dst = os.path.join(self.outside, self.name())
        if (
            self.do("rename", os.rename, src, dst)
            and os.path.isdir(dst)
            and self.rnd.random() < 0.5  # writes that follow it out
        ):
            self.do("write", self.write, os.path.join(dst, "late"))

    def build_outside(self) -> str | None:
        top = os.path.join(self.outside, self.name())
        try:
            for depth in range(self.rnd.randrange(1, 4)):
                where = top
                for level in range(depth + 1):
                    where = os.path.join(where, f"s{level}")
                os.makedirs(where, exist_ok=True)
                self.write(os.path.join(where, "f"))
            self.write(os.path.join(top, "g"))
        except OSError as exc:
            self.log(f"build {self.rel(top)}: {exc.strerror}")
            return None
        self.log(f"build {self.rel(top)}")
        return top

    def op_move_in(self) -> None:
        src = None
        if self.rnd.random() < 0.4:
            src = self.pick_entry(None, base=self.outside)
        if src is None or src == self.outside:
            src = self.build_outside()
        if src is None:
            return
        where = self.pick_dir()
        dst = os.path.join(where, self.name())
        if not self.do("rename", os.rename, src, dst):
            return
        if self.rnd.random() < 0.4 and where != self.root:
            # the directory it went into is renamed at once
            self.do(
                "rename",
                os.rename,
                where,
                os.path.join(self.pick_dir(), self.name()),
            )

    def op_rmtree(self) -> None:
        path = self.pick_entry(True)
        if path is not None:
            self.do("rmtree", shutil.rmtree, path)

    def op_symlink(self) -> None:
        where = self.pick_dir()
        choice = self.rnd.randrange(4)
        if choice == 0:
            target = self.pick_dir()
        elif choice == 1:
            target = self.pick_entry(False) or self.root
        elif choice == 2:
            target = self.outside
        else:
            target = "dangling-" + self.name()
        self.do(
            "symlink", os.symlink, target, os.path.join(where, self.name())
        )

    OPS = [
        ("mkdir", 3),
        ("makedirs", 2),
        ("write", 4),
        ("unlink", 1),
        ("rename_file", 2),
        ("rename_dir", 2),
        ("rename_twice", 1),
        ("fill_and_rename", 1),
        ("move_out", 1),
        ("move_in", 1),
        ("rmtree", 1),
        ("symlink", 1),
    ]

    def run(self, count: int, only: Iterable[str] = ()) -> None:
        """count operations, of the kinds in only (all if empty)."""
        chosen = set(only)
        unknown = chosen - {n for n, _ in self.OPS}
        if unknown:
            raise ValueError(f"unknown operations: {sorted(unknown)}")
        ops = [(n, w) for n, w in self.OPS if not chosen or n in chosen]
        names = [n for n, _ in ops]
        weights = [w for _, w in ops]
        for _ in range(count):
            op = self.rnd.choices(names, weights)[0]
            getattr(self, "op_" + op)()


def churn(
    root: str,
    outside: str,
    seed: int,
    ops: int,
    tag: str,
    log_path: str,
    only: Iterable[str] = (),
) -> None:
    """The worker's body: ops random operations, logged to log_path."""
    lines: list[str] = []
    try:
        Churner(root, outside, seed, tag, lines.append).run(ops, only)
    finally:
        with open(log_path, "w") as f:
            f.write("".join(line + "\n" for line in lines))


def _worker_main(argv: list[str]) -> int:
    root, outside, seed, ops, tag, log_path, only = argv
    sys.stdin.readline()  # "go": every churner starts together
    churn(
        root,
        outside,
        int(seed),
        int(ops),
        tag,
        log_path,
        [op for op in only.split(",") if op],
    )
    return 0


# ---- setting up -------------------------------------------------------------


def make_initial(root: str, outside: str, seed: int) -> None:
    """Random initial content of the tree and of the outside."""
    rnd = random.Random(seed * 7919 + 1)
    dirs = [root]
    for n in range(rnd.randrange(4, 12)):
        path = os.path.join(rnd.choice(dirs), f"i{n}")
        os.mkdir(path)
        dirs.append(path)
    for n in range(rnd.randrange(4, 16)):
        with open(os.path.join(rnd.choice(dirs), f"if{n}"), "w") as f:
            f.write("x")
    for n in range(rnd.randrange(0, 3)):
        os.symlink(rnd.choice(dirs), os.path.join(rnd.choice(dirs), f"il{n}"))
    os.makedirs(os.path.join(outside, "o0", "s0"))
    with open(os.path.join(outside, "o0", "s0", "f"), "w") as f:
        f.write("x")


# ---- sysctl -----------------------------------------------------------------


_saved_sysctl: list[tuple[str, str]] = []


def _restore_sysctl() -> None:
    while _saved_sysctl:
        path, old = _saved_sysctl.pop()
        with open(path, "w") as f:
            f.write(old + "\n")


atexit.register(_restore_sysctl)


@contextlib.contextmanager
def max_queued_events(value: int | None, path: str = MAX_QUEUED_EVENTS):
    """Holds the kernel's queue bound at value for the body (machine-wide:
    keep the body short; a watcher reads it when it is created)."""
    if value is None:
        yield
        return
    with open(path) as f:
        old = f.read().strip()
    _saved_sysctl.append((path, old))
    try:
        with open(path, "w") as f:
            f.write(f"{value:d}\n")
        yield
    finally:
        _restore_sysctl()


# ---- watching ---------------------------------------------------------------


MASK = 0x100 | 0x200 | 0x40 | 0x80  # CREATE | DELETE | MOVE


def kernel_pending(watcher: Any) -> int:
    """Bytes of events the kernel holds for the watcher (FIONREAD)."""
    buf = array.array("i", [0])
    fcntl.ioctl(watcher.fd, termios.FIONREAD, buf, True)
    return buf[0]


async def wait_quiet(
    watcher: Any,
    take: Callable[[Any], None],
    quiet: float | None = None,
    deadline: float | None = None,
) -> bool:
    """Takes events until none came for ``quiet`` seconds (scaled) and the
    kernel holds none; False if that did not happen by ``deadline``.

    The one place that decides the watcher is done: switch it to
    ``await watcher.sync()`` once that exists."""
    quiet = scaled(QUIET if quiet is None else quiet)
    end = time.monotonic() + scaled(
        QUIET_DEADLINE if deadline is None else deadline
    )
    while time.monotonic() < end:
        event = await watcher.get(quiet)
        if event is not None:
            take(event)
        elif kernel_pending(watcher) == 0 and watcher.queued == 0:
            return True
    return False


def drain_now(watcher: Any, take: Callable[[Any], None]) -> None:
    """Takes every event ready now, the kernel's too (nothing new may be
    happening: the churners are stopped)."""
    while True:
        event = watcher.get_nowait()
        if event is not None:
            take(event)
        elif kernel_pending(watcher) == 0 and watcher.queued == 0:
            return


class _Run:
    """The consuming side of one run: log, model, resyncs."""

    def __init__(
        self,
        root: str,
        initial: dict[str, str],
        watcher: Any,
        children: list[subprocess.Popen[bytes]],
        resync: bool = False,
    ) -> None:
        self.root = root
        self.resync_on_overflow = resync
        self.model = Model(root, initial)
        self.events: list[Record] = []
        self.overflowed = False
        self.watcher = watcher
        self.children = children
        self.resyncing = False

    def take(self, event: Any) -> None:
        rec = record_of(len(self.events), event)
        self.events.append(rec)
        if self.resyncing:
            rec.applied = False
            self.model.skip()
            self.model.check_inside(rec)
            return
        self.model.apply(rec)
        if rec.mask & 0x4000:
            self.overflowed = True
            # By default the model goes on from the events alone: the
            # tree heals, and its events say how.
            if self.resync_on_overflow:
                self.resync()
            else:
                self.model.overflows += 1

    def resync(self) -> None:
        """Stops the churners, takes what the kernel holds (logged, not
        applied), re-reads the model from a walk, lets them go on."""
        pids = _stop(self.children)
        self.resyncing = True
        try:
            drain_now(self.watcher, self.take)
            self.model.resync(walk(self.root))
        finally:
            self.resyncing = False
            _cont(pids)

    def result(
        self,
        seed: int | None,
        initial: dict[str, str],
        quiet: bool,
        ops: list[list[str]],
        caught: list[Any],
        started: float,
    ) -> Result:
        self.model.finish()
        final = walk(self.root)
        snapshot = self.model.snapshot()
        result = Result(
            seed,
            self.root,
            initial,
            final,
            snapshot,
            compare(snapshot, final),
            sorted(self.model.violations, key=lambda v: v.index),
            self.events,
            self.overflowed,
            quiet,
            ops,
            [str(w.message) for w in caught],
            time.monotonic() - started,
        )
        result.categories = categorise(result, self.model)
        return result


def _stop(children: list[subprocess.Popen[bytes]]) -> list[int]:
    stopped = []
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGSTOP)
                stopped.append(child.pid)
    end = time.monotonic() + scaled(10)
    for pid in stopped:
        while time.monotonic() < end:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rpartition(")")[2].split()[0]
            except OSError:
                break
            if state in ("T", "t", "Z", "X"):
                break
            time.sleep(0.0005)  # polls a condition, against a deadline
    return stopped


def _cont(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


@dataclasses.dataclass
class Config:
    seed: int = 1
    procs: int = 2
    ops: int = 40
    overflow: int | None = None  # max_queued_events for the watcher
    resync: bool = False  # after an overflow, re-read the model from a walk
    base: str | None = None  # where to make the tree (a temp dir)
    keep: bool = False
    only: tuple[str, ...] = ()  # operation kinds (all if empty)
    # The tree watched through a bindfs mount of it, the churners working
    # behind it, and watch_tree()'s backend (issue 11: a poll must catch
    # up with everything inotify on the mount cannot see).
    fuse: bool = False
    backend: str = "auto"
    poll_delay_ms: int = 300


async def run_once(config: Config) -> Result:
    """One randomized run; see the module's docstring."""
    import inotipy

    started = time.monotonic()
    base = tempfile.mkdtemp(prefix="oracle-", dir=config.base)
    root = os.path.join(base, "tree")
    outside = os.path.join(base, "outside")
    logs = os.path.join(base, "logs")
    for path in (root, outside, logs):
        os.mkdir(path)
    make_initial(root, outside, config.seed)
    children: list[subprocess.Popen[bytes]] = []
    caught: list[warnings.WarningMessage] = []
    watched = root
    if config.fuse:
        watched = os.path.join(base, "mnt")
        os.mkdir(watched)
        subprocess.run(["bindfs", root, watched], check=True)
    try:
        _spawn_churners(config, root, outside, logs, children)
        fan = config.backend == "fanotify"
        with max_queued_events(
            config.overflow,
            FAN_MAX_QUEUED_EVENTS if fan else MAX_QUEUED_EVENTS,
        ):
            watcher = inotipy.Watcher()
            if fan:
                # fanotify's group, made now, reads its bound now.
                from inotipy import _fanotify

                _fanotify.ensure(watcher)
        with watcher, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", inotipy.TreeWarning)
            watcher.watch_tree(
                watched,
                MASK,
                backend=config.backend,
                poll_delay_ms=config.poll_delay_ms,
            )
            initial = walk(watched)
            state = _Run(watched, initial, watcher, children, config.resync)
            for child in children:
                assert child.stdin is not None
                child.stdin.write(b"go\n")
                child.stdin.close()
            end = time.monotonic() + scaled(CHURN_DEADLINE)
            while any(c.poll() is None for c in children):
                if time.monotonic() > end:
                    raise RuntimeError("churners did not finish")
                event = await watcher.get(0.02)
                if event is not None:
                    state.take(event)
            if config.fuse:
                await watcher.sync()  # a last poll, now
            quiet = await wait_quiet(watcher, state.take)
        ops = _read_ops(logs, config.procs)
        return state.result(config.seed, initial, quiet, ops, caught, started)
    finally:
        _reap(children)
        if config.fuse:
            subprocess.run(["fusermount", "-u", watched], check=False)
        if not config.keep:
            shutil.rmtree(base, ignore_errors=True)


def _spawn_churners(
    config: Config,
    root: str,
    outside: str,
    logs: str,
    children: list[subprocess.Popen[bytes]],
) -> None:
    """Starts config.procs churners, each waiting for "go" on its stdin;
    appends each to children as it starts (so that the caller reaps the
    ones started if a later one fails)."""
    for n in range(config.procs):
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    os.path.abspath(__file__),
                    "--churn-worker",
                    root,
                    outside,
                    str(config.seed * 1000 + n),
                    str(config.ops),
                    f"p{n}-",
                    os.path.join(logs, f"{n}.txt"),
                    ",".join(config.only),
                ],
                stdin=subprocess.PIPE,
            )
        )


def _read_ops(logs: str, procs: int) -> list[list[str]]:
    """The op logs of the churners, one list of lines each ([] for a log
    that cannot be read)."""
    ops: list[list[str]] = []
    for n in range(procs):
        try:
            with open(os.path.join(logs, f"{n}.txt")) as f:
                ops.append(f.read().splitlines())
        except OSError:
            ops.append([])
    return ops


def _reap(children: list[subprocess.Popen[bytes]]) -> None:
    """Kills the churners still running, closes their stdin, waits for
    each."""
    for child in children:
        if child.poll() is None:
            child.kill()
        if child.stdin is not None and not child.stdin.closed:
            child.stdin.close()
        child.wait()


async def check_sequence(
    base: str | os.PathLike[str],
    setup: Callable[[str, str], None],
    action: Callable[[str, str], None],
    quiet: float = 0.1,
) -> Result:
    """Makes base/tree and base/outside, calls setup(tree, outside),
    watches the tree, takes the initial walk, calls action(tree, outside)
    (in this process, before any event is read), and checks the model once
    the watcher is quiet."""
    import inotipy

    started = time.monotonic()
    base = os.fspath(base)
    root = os.path.join(base, "tree")
    outside = os.path.join(base, "outside")
    os.makedirs(root)
    os.makedirs(outside)
    setup(root, outside)
    with (
        inotipy.Watcher() as watcher,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always", inotipy.TreeWarning)
        watcher.watch_tree(root, MASK)
        initial = walk(root)
        state = _Run(root, initial, watcher, [])
        action(root, outside)
        went_quiet = await wait_quiet(watcher, state.take, quiet)
    return state.result(None, initial, went_quiet, [], caught, started)


# ---- the command line -------------------------------------------------------


def _seeds(spec: str, runs: int | None) -> list[int]:
    seeds: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            seeds.extend(range(int(lo), int(hi) + 1))
        elif part:
            seeds.append(int(part))
    if runs is not None:
        first = seeds[0] if seeds else 1
        seeds = list(range(first, first + runs))
    return seeds


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--churn-worker"]:
        return _worker_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m tests.oracle",
        description="Randomized check that watch_tree()'s events build an "
        "exact model of the tree (issue 10).",
    )
    parser.add_argument(
        "--seeds",
        default="1",
        help="seeds: '3', '1,5,9' or '10-19' (default 1)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        help="this many runs, seeds counting from the first of --seeds",
    )
    parser.add_argument(
        "--procs", type=int, default=2, help="churning processes (default 2)"
    )
    parser.add_argument(
        "--ops",
        type=int,
        default=40,
        help="operations per churner (default 40)",
    )
    parser.add_argument(
        "--overflow",
        nargs="?",
        type=int,
        const=16,
        metavar="N",
        help="make the watcher with max_queued_events N "
        "(default 16; root), so overflows happen",
    )
    parser.add_argument(
        "--resync",
        action="store_true",
        help="after an overflow, stop the churners and re-read the model "
        "from a walk (default: go on from the events alone)",
    )
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio"
    )
    parser.add_argument(
        "--backend",
        default="auto",
        help="watch_tree()'s backend: auto, inotify, poll or fanotify "
        "(root; --overflow then lowers fs.fanotify.max_queued_events)",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="count",
        default=0,
        help="-v: report failing runs; -vv: with events",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write every result to FILE"
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="OP,OP",
        help="only these operations: " + ", ".join(n for n, _ in Churner.OPS),
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary trees"
    )
    args = parser.parse_args(argv)
    if args.overflow is not None and os.geteuid() != 0:
        parser.error("--overflow needs root")
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    tally: collections.Counter[str] = collections.Counter()
    exact = overflowed = exact_overflowed = 0
    dump = []
    seeds = _seeds(args.seeds, args.runs)
    for seed in seeds:
        config = Config(
            seed,
            args.procs,
            args.ops,
            args.overflow,
            resync=args.resync,
            keep=args.keep,
            only=tuple(op for op in args.only.split(",") if op),
            backend=args.backend,
        )
        loop = factory()
        try:
            result = loop.run_until_complete(run_once(config))
        finally:
            loop.close()
        exact += result.exact
        overflowed += result.overflowed
        exact_overflowed += result.exact and result.overflowed
        cats = result.categories
        tally.update(cats)
        print(
            "seed {}: {}{} {} events ({} applied) {:.1f}s{}".format(
                seed,
                "exact" if result.exact else "FAIL",
                f" ({result.overflows} overflows)"
                if result.overflowed
                else "",
                len(result.events),
                result.applied,
                result.elapsed,
                "" if result.exact else "  " + "; ".join(cats),
            ),
            flush=True,
        )
        if args.verbose and not result.exact:
            print(result.report(events=args.verbose > 1), flush=True)
        if args.json:
            dump.append(result.as_json())
    print(
        f"{exact}/{len(seeds)} exact; {overflowed} overflowed "
        f"({exact_overflowed} of them exact)"
    )
    for cat, count in tally.most_common():
        print(f"  {count:3d}  {cat}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dump, f, indent=1)
    return 0 if exact == len(seeds) else 1


if __name__ == "__main__":
    sys.exit(main())
