"""Who takes part: the contenders' names and labels, the peers' pinned
requirements, and the phases some of them cannot take part in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The peers, pinned so that runs stay comparable; each gets its own venv.
PEERS = {
    "asyncinotify": "asyncinotify==4.4.4",
    "aionotify": "aionotify==0.3.1",
    "pyinotify": "pyinotify==0.9.6",
    "inotify_simple": "inotify_simple==2.0.1",
    "watchdog": "watchdog==7.1.0",
    "watchfiles": "watchfiles==1.3.0",
    # Shares our module name, hence a venv of its own like every peer.
    "inotipy-0.1.1": "inotipy==0.1.1",
}
# Peers that take part in the trees phase only.
TREE_PEERS = {
    "inotifyrecursive": "inotifyrecursive==0.3.5",
}
# Every peer's requirement, event phases and trees alike.
REQUIREMENTS = {**PEERS, **TREE_PEERS}

OURS = ["inotipy-get", "inotipy-for", "inotipy-batch"]
# Ours' variants that differ from inotipy-for only in how events are
# taken: the idle and memory phases measure inotipy-for alone.
SAME_WATCHER = ("inotipy-get", "inotipy-batch")
RAW = "raw-c"
# No library: a reader callback and a Future on a bare asyncio loop
# (consumer.py AsyncioFloor), the floor of what asyncio costs per wake-up;
# run under our Python, with the standard library only.
FLOOR = "asyncio-floor"
LABELS = {
    RAW: "raw C reader",
    FLOOR: "asyncio floor (add_reader + Future)",
    "inotipy-get": "inotipy get()",
    "inotipy-for": "inotipy async for",
    "inotipy-batch": "inotipy get_batch()",
}
# Contenders that cannot take part in a phase, and why.
NOT_APPLICABLE = {
    ("watchfiles", "drain"): "reads in its own thread from the moment the "
    "watch exists: nothing can be queued before it starts",
}

# Peers with no recursive mode.
NO_TREE = {"aionotify", "inotify_simple", "inotipy-0.1.1", FLOOR}
# What each contender's tree time is the time of.
TREE_HOW = {
    RAW: "raw_tree.c: opendir/readdir/d_type walk, inotify_add_watch on "
    "every directory",
    "inotipy-for": "Watcher().watch_tree(root) until it returns",
    "asyncinotify": "RecursiveInotify().add_recursive_watch(root, mask)",
    "pyinotify": "WatchManager().add_watch(root, mask, rec=True, "
    "auto_add=True)",
    "watchdog": "Observer().schedule(h, root, recursive=True) + start() "
    "(start() adds the watches before it returns)",
    "watchfiles": "RustNotify([root], ..., recursive=True), what watch() and "
    "awatch() build first (its constructor adds every watch)",
    "inotifyrecursive": "INotify().add_watch_recursive(root, mask)",
}


def module_of(requirement: str) -> str:
    """The distribution a pinned requirement names."""
    return requirement.split("==")[0]


@dataclass
class Lineup:
    """Who runs: the contenders of the event phases (the raw C reader and
    ours first), the peers of the trees phase only, the Python each runs
    under, the versions to record, and what could not be set up."""

    names: list[str]
    tree_peers: list[str]
    pythons: dict[str, str | Path] = field(default_factory=dict)
    versions: dict[str, object] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def drop(self, name: str, why: str) -> None:
        """Leaves NAME out of the run, recording why."""
        for group in (self.names, self.tree_peers):
            if name in group:
                group.remove(name)
        self.errors.append(f"setup {name}: {why}")
