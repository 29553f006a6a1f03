"""Which links a tree that follows links (watch_tree(follow_symlinks=True),
and so awatch()) follows: never into or out of a pseudo file system, never
to the root or above it, never to a directory above the link; a link to a
directory elsewhere is followed (core/src/ino_follow.c).  Real links, to
real /proc, /sys and /dev."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inotipy import IN, Watcher

from support import wait_for_events


def tree_watches(root: Path | str) -> int:
    """The kernel watches a tree that follows links holds at root."""
    with Watcher() as w:
        w.watch_tree(root, IN.CREATE, follow_symlinks=True)
        return w.watch_count


def mount_type(path: str) -> str | None:
    """The file system type /proc/self/mountinfo gives the mount at path."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, rest = line.partition(" - ")
            if fields.split()[4] == path:
                return rest.split()[0]
    return None


@pytest.mark.parametrize("target", ["/proc", "/proc/self", "/sys"])
def test_a_link_into_a_pseudo_file_system_is_not_followed(
    run, tmp_dir: Path, target: str
) -> None:
    (tmp_dir / "real").mkdir()
    (tmp_dir / "pseudo").symlink_to(target)

    async def main() -> None:
        assert tree_watches(tmp_dir) == 2  # the root and real

    run(main)


def test_a_link_into_devtmpfs_is_not_followed(run, tmp_dir: Path) -> None:
    """statfs() says tmpfs for devtmpfs; mountinfo tells them apart."""
    if mount_type("/dev") != "devtmpfs":
        pytest.skip("/dev is not devtmpfs here (a container?)")
    with os.scandir("/dev") as entries:
        if not any(e.is_dir(follow_symlinks=False) for e in entries):
            pytest.skip("/dev has no directory below it to follow")
    (tmp_dir / "dev").symlink_to("/dev")

    async def main() -> None:
        assert tree_watches(tmp_dir) == 1

    run(main)


def test_a_link_to_plain_tmpfs_is_still_followed(run, tmp_dir: Path) -> None:
    """tmpfs (where /tmp and /dev/shm often are) is a real file system."""
    shm = "/dev/shm"
    if mount_type(shm) != "tmpfs":
        pytest.skip(f"{shm} is not a tmpfs mount here")
    try:
        target = Path(os.path.realpath(shm)) / f"inotipy-follow-{os.getpid()}"
        (target / "inner").mkdir(parents=True)
    except OSError as e:
        pytest.skip(f"cannot make a directory in {shm}: {e}")
    try:
        (tmp_dir / "shm").symlink_to(target)

        async def main() -> None:
            assert tree_watches(tmp_dir) == 3

        run(main)
    finally:
        (target / "inner").rmdir()
        target.rmdir()


def test_watching_proc_self_stays_inside_it(run) -> None:
    """awatch('/proc/self') once followed /proc/self/root into "/": the
    links of a pseudo file system (cwd, root, fd/N) are never followed, so
    following links watches what not following does."""

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree("/proc/self", IN.CREATE)
            plain = w.watch_count
        # Threads may come and go between the two scans, each a few
        # directories; "/" would be tens of thousands.
        assert tree_watches("/proc/self") <= plain + 50

    run(main)


@pytest.mark.parametrize("up", [1, 2])
def test_a_link_to_the_root_or_above_it_is_not_followed(
    run, tmp_path: Path, up: int
) -> None:
    root = tmp_path / "top" / "tree"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "top" / "beside").mkdir()
    (root / "sub" / "to-root").symlink_to(root)
    (root / "sub" / "up").symlink_to(root.parents[up - 1])
    (root / "slash").symlink_to("/")

    async def main() -> None:
        assert tree_watches(root) == 2  # the root and sub

    run(main)


def test_a_link_to_a_directory_above_it_is_not_followed(
    run, tmp_path: Path
) -> None:
    """Also in the part of a tree reached through a link, where the root
    is not above: there a link up would take in all beside it."""
    root = tmp_path / "tree"
    root.mkdir()
    (tmp_path / "out" / "a" / "b").mkdir(parents=True)
    (tmp_path / "out" / "other").mkdir()
    (root / "link").symlink_to(tmp_path / "out" / "a")
    (tmp_path / "out" / "a" / "b" / "up").symlink_to(tmp_path / "out")
    (tmp_path / "out" / "a" / "b" / "self").symlink_to(".")

    async def main() -> None:
        assert tree_watches(root) == 3  # the root, link and link/b

    run(main)


def test_a_link_to_a_directory_beside_the_tree_is_followed(
    run, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (tmp_path / "beside" / "inner").mkdir(parents=True)
    (root / "link").symlink_to(tmp_path / "beside")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(root, IN.CREATE, follow_symlinks=True)
            assert w.watch_count == 3
            (tmp_path / "beside" / "inner" / "f").touch()
            [event] = await wait_for_events(w, 1)
            assert event.pathname == "link/inner/f"

    run(main)


def test_a_link_inside_the_tree_is_followed_once(run, tmp_dir: Path) -> None:
    """The kernel gives the same watch for the same directory: a link to a
    directory of the tree adds no watch, and its events come once."""
    (tmp_dir / "a" / "deep").mkdir(parents=True)
    (tmp_dir / "z").mkdir()
    (tmp_dir / "z" / "to-deep").symlink_to(tmp_dir / "a" / "deep")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, IN.CREATE, follow_symlinks=True)
            assert w.watch_count == 4
            (tmp_dir / "a" / "deep" / "f").touch()
            (tmp_dir / "marker").touch()
            events = await wait_for_events(w, 2)
            assert [os.path.basename(e.pathname) for e in events] == [
                "f",
                "marker",
            ]

    run(main)


def test_links_found_later_follow_the_same_rules(run, tmp_path: Path) -> None:
    """A directory moved in is scanned; its links are judged alike."""
    root = tmp_path / "tree"
    root.mkdir()
    (tmp_path / "beside").mkdir()
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "proc").symlink_to("/proc")
    (moved / "up").symlink_to(root)
    (moved / "beside").symlink_to(tmp_path / "beside")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(root, IN.CREATE | IN.MOVE, follow_symlinks=True)
            moved.rename(root / "moved")
            (root / "marker").touch()
            events = await wait_for_events(
                w, lambda evs: any(e.pathname == "marker" for e in evs)
            )
            assert "moved" in {e.pathname for e in events}
            # root, moved, moved/beside
            assert w.watch_count == 3

    run(main)
