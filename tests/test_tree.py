"""Watcher.watch_tree(): recursive watching that misses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from inotipy import IN, Watcher
from support import scaled, wait_for_events

# A separate process that, ROUNDS times in a row, makes a chain of DEPTH
# directories with `mkdir -p` semantics and at once writes a file at every
# level, as fast as it can.
ROUNDS = 20
DEPTH = 10
STRESS = textwrap.dedent(
    """
    import os, sys
    root = sys.argv[1]
    for r in range(int(sys.argv[2])):
        levels = [os.path.join(root, "r%d" % r)]
        for d in range(1, int(sys.argv[3])):
            levels.append(os.path.join(levels[-1], "d%d" % d))
        os.makedirs(levels[-1])
        for path in levels:
            with open(os.path.join(path, "f"), "w") as f:
                f.write("x")
    """
)


def names(events: list[Any], bit: int) -> list[str]:
    return [e.pathname for e in events if e.mask & bit]


def dirs_on_disk(root: Path) -> int:
    return 1 + sum(len(ds) for _, ds, _ in os.walk(root))


def test_deep_bursts_in_new_directories_miss_nothing(
    run, tmp_dir: Path
) -> None:
    expected = set()
    for r in range(ROUNDS):
        rel = f"r{r}"
        expected.add(rel + "/f")
        for d in range(1, DEPTH):
            rel += f"/d{d}"
            expected.add(rel + "/f")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, IN.CREATE | IN.CLOSE_WRITE)
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    STRESS,
                    str(tmp_dir),
                    str(ROUNDS),
                    str(DEPTH),
                ]
            )
            try:

                def all_seen(events: list[Any]) -> bool:
                    return expected <= set(names(events, IN.CREATE))

                events = await wait_for_events(w, all_seen, deadline=30)
            finally:
                assert proc.wait(scaled(30)) == 0
            # Drain what is left, then check nothing came twice.
            while (ev := await w.get(scaled(0.2))) is not None:
                events.append(ev)
            created = names(events, IN.CREATE)
            files = [n for n in created if n.endswith("/f")]
            assert sorted(files) == sorted(expected)
            dirs = [
                e.pathname
                for e in events
                if e.mask & IN.CREATE and e.mask & IN.ISDIR
            ]
            assert len(dirs) == len(set(dirs)) == ROUNDS * DEPTH
            assert w.watch_count == dirs_on_disk(tmp_dir)

    run(main)


def test_initial_tree_is_watched_and_paths_are_relative(
    run, tmp_dir: Path
) -> None:
    (tmp_dir / "a" / "b").mkdir(parents=True)

    async def main() -> None:
        with Watcher() as w:
            root = w.watch_tree(str(tmp_dir), IN.CREATE)
            assert w.watch_count == 3
            (tmp_dir / "a" / "b" / "f").touch()
            [ev] = await wait_for_events(w, 1)
            assert ev.watch is root
            assert ev.pathname == "a/b/f" and ev.name == "a/b/f"
            assert ev.path == str(tmp_dir / "a" / "b" / "f")
            assert ev.src_path is None

    run(main)


def test_rename_inside_the_tree_keeps_paths_true(run, tmp_dir: Path) -> None:
    (tmp_dir / "a" / "sub").mkdir(parents=True)

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, IN.CREATE | IN.MOVE)
            os.rename(tmp_dir / "a", tmp_dir / "b")
            (tmp_dir / "b" / "sub" / "f").touch()
            events = await wait_for_events(w, 3)
            frm, to, created = events
            assert frm.mask & IN.MOVED_FROM and frm.pathname == "a"
            assert to.mask & IN.MOVED_TO and to.pathname == "b"
            assert to.cookie == frm.cookie != 0
            assert to.src_path == str(tmp_dir / "a")
            assert created.pathname == "b/sub/f"
            assert created.path == str(tmp_dir / "b" / "sub" / "f")

    run(main)


def test_file_moves_pair_with_src_path(run, tmp_dir: Path) -> None:
    (tmp_dir / "a").mkdir()
    (tmp_dir / "x").write_text("x")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, IN.MOVE)
            os.rename(tmp_dir / "x", tmp_dir / "a" / "y")
            frm, to = await wait_for_events(w, 2)
            assert (frm.pathname, to.pathname) == ("x", "a/y")
            assert to.src_path == str(tmp_dir / "x")

    run(main)


def test_directory_moved_out_is_unwatched(run, tmp_path: Path) -> None:
    inside = tmp_path / "tree"
    outside = tmp_path / "elsewhere"
    (inside / "gone" / "deep").mkdir(parents=True)
    outside.mkdir()

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(inside, IN.CREATE | IN.MOVE)
            assert w.watch_count == 3
            os.rename(inside / "gone", outside / "gone")
            [frm] = await wait_for_events(w, 1)
            assert frm.mask & IN.MOVED_FROM and frm.pathname == "gone"
            assert await w.get(scaled(0.1)) is None
            assert w.watch_count == 1
            (outside / "gone" / "deep" / "f").touch()
            (inside / "marker").touch()
            [ev] = await wait_for_events(w, 1)
            assert ev.pathname == "marker"

    run(main)


def test_directory_moved_in_is_watched_and_scanned(
    run, tmp_path: Path
) -> None:
    inside = tmp_path / "tree"
    outside = tmp_path / "elsewhere"
    inside.mkdir()
    (outside / "new" / "deep").mkdir(parents=True)
    (outside / "new" / "deep" / "f").touch()

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(inside, IN.CREATE | IN.MOVE)
            os.rename(outside / "new", inside / "new")
            events = await wait_for_events(
                w, lambda evs: "new/deep/f" in names(evs, IN.CREATE)
            )
            to = events[0]
            assert to.mask & IN.MOVED_TO and to.src_path is None
            assert names(events, IN.CREATE) == ["new/deep", "new/deep/f"]
            assert w.watch_count == 3
            (inside / "new" / "deep" / "g").touch()
            [ev] = await wait_for_events(w, 1)
            assert ev.pathname == "new/deep/g"

    run(main)


def test_deleted_subtree_leaves_no_watch(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, IN.CREATE | IN.DELETE)
            (tmp_dir / "x" / "y" / "z").mkdir(parents=True)
            await wait_for_events(
                w, lambda evs: "x/y/z" in names(evs, IN.CREATE)
            )
            assert w.watch_count == 4
            subprocess.run(["rm", "-rf", str(tmp_dir / "x")], check=True)
            events = await wait_for_events(
                w, lambda evs: "x" in names(evs, IN.DELETE)
            )
            assert names(events, IN.DELETE) == ["x/y/z", "x/y", "x"]
            assert w.watch_count == 1
            # A directory made again with the same name is watched afresh.
            (tmp_dir / "x").mkdir()
            (tmp_dir / "x" / "f").touch()
            events = await wait_for_events(
                w, lambda evs: "x/f" in names(evs, IN.CREATE)
            )
            assert names(events, IN.CREATE) == ["x", "x/f"]

    run(main)


def test_excluded_names_are_never_watched_nor_reported(
    run, tmp_dir: Path
) -> None:
    (tmp_dir / ".git" / "objects").mkdir(parents=True)

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, exclude=[".git", "*.swp", "node_modules"])
            assert w.watch_count == 1
            (tmp_dir / ".git" / "objects" / "x").touch()
            (tmp_dir / "node_modules" / "pkg").mkdir(parents=True)
            (tmp_dir / "node_modules" / "pkg" / "i.js").touch()
            (tmp_dir / "a.swp").touch()
            (tmp_dir / "kept").touch()
            events = await wait_for_events(
                w, lambda evs: "kept" in names(evs, IN.CLOSE_WRITE)
            )
            assert {e.pathname for e in events} == {"kept"}
            assert w.watch_count == 1

    run(main)


def test_symlink_loop_terminates(run, tmp_dir: Path) -> None:
    (tmp_dir / "a").mkdir()
    (tmp_dir / "a" / "loop").symlink_to(tmp_dir)
    (tmp_dir / "a" / "self").symlink_to(tmp_dir / "a")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, follow_symlinks=True)
            assert w.watch_count == 2
        with Watcher() as w:
            w.watch_tree(tmp_dir)
            assert w.watch_count == 2

    run(main)


def test_symlinks_not_followed_by_default(run, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    target = tmp_path / "target"
    tree.mkdir()
    (target / "inner").mkdir(parents=True)
    (tree / "link").symlink_to(target)

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tree)
            assert w.watch_count == 1
        with Watcher() as w:
            w.watch_tree(tree, follow_symlinks=True)
            assert w.watch_count == 3

    run(main)


def test_removing_a_followed_link_unwatches_its_target(
    run, tmp_path: Path
) -> None:
    """With follow_symlinks, a link's target is watched under the link's
    name; when the link goes (removed, or renamed out of the tree), the
    target is no longer in the tree: unwatched, its events not reported."""
    tree = tmp_path / "tree"
    target = tmp_path / "target"
    out = tmp_path / "out"
    tree.mkdir()
    out.mkdir()
    (target / "inner").mkdir(parents=True)
    (tree / "link").symlink_to(target)
    (tree / "link2").symlink_to(target / "inner")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(
                tree, IN.CREATE | IN.DELETE | IN.MOVE, follow_symlinks=True
            )
            # root, link, link/inner (link2 reaches inner again)
            assert w.watch_count == 3
            (tree / "link").unlink()
            (tree / "link2").rename(out / "link2")
            (tree / "marker").touch()
            events = await wait_for_events(w, 3)
            assert [e.pathname for e in events] == ["link", "link2", "marker"]
            assert w.watch_count == 1
            (target / "late").touch()
            (target / "inner" / "late").touch()
            (tree / "end").touch()
            events = await wait_for_events(w, 1)
            assert [e.pathname for e in events] == ["end"]

    run(main)


def test_bytes_tree_gives_bytes_paths(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(os.fsencode(tmp_dir), IN.CREATE)
            (tmp_dir / "d").mkdir()
            (tmp_dir / "d" / "caf\udce9").touch()
            events = await wait_for_events(w, 2)
            assert [e.pathname for e in events] == [b"d", b"d/caf\xe9"]
            assert events[1].path == os.fsencode(tmp_dir) + b"/d/caf\xe9"

    run(main)


def test_remove_root_ends_the_tree(run, tmp_dir: Path) -> None:
    (tmp_dir / "a" / "b").mkdir(parents=True)

    async def main() -> None:
        with Watcher() as w:
            root = w.watch_tree(tmp_dir, IN.CREATE)
            root.remove()
            [ev] = await wait_for_events(w, 1)
            assert ev.mask & IN.IGNORED and ev.watch is root
            assert not root.valid
            assert w.watch_count == 0
            assert w.watches == []

    run(main)


def test_renaming_the_root_ends_the_tree(run, tmp_path: Path) -> None:
    """inotify does not say where a renamed root went: the tree ends with
    the root's MOVE_SELF and then IGNORED, and nothing it does afterwards
    is reported under the old path."""
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)

    async def main() -> None:
        with Watcher() as w:
            root = w.watch_tree(tree, IN.CREATE | IN.MOVE_SELF)
            tree.rename(tmp_path / "tree2")
            (tmp_path / "tree2" / "a" / "late").touch()
            events = await wait_for_events(w, 2)
            assert [e.mask & (IN.MOVE_SELF | IN.IGNORED) for e in events] == [
                IN.MOVE_SELF,
                IN.IGNORED,
            ]
            assert all(e.watch is root and e.pathname == "" for e in events)
            assert not root.valid
            assert w.watch_count == 0
            assert await w.get(scaled(0.2)) is None

    run(main)


def test_tree_on_a_file_or_missing_path(tmp_dir: Path) -> None:
    (tmp_dir / "file").touch()
    with Watcher() as w:
        with pytest.raises(NotADirectoryError) as info:
            w.watch_tree(tmp_dir / "file")
        assert info.value.filename == str(tmp_dir / "file")
        with pytest.raises(FileNotFoundError):
            w.watch_tree(tmp_dir / "missing")
        with pytest.raises(ValueError):
            w.watch_tree(tmp_dir, 0)
        with pytest.raises(TypeError):
            w.watch_tree(tmp_dir, exclude=".git")
        assert w.watch_count == 0
        w.watch_tree(tmp_dir)  # still usable
        with pytest.raises(FileExistsError):
            w.watch(tmp_dir, IN.CREATE)


@pytest.mark.root
def test_overflow_repairs_the_tree(run, tmp_dir: Path, inotify_sysctl) -> None:
    async def main() -> None:
        with inotify_sysctl.limit("max_queued_events", 16):
            w = Watcher()
        with w:
            w.watch_tree(tmp_dir, IN.CREATE)
            for i in range(40):
                (tmp_dir / f"d{i}" / "sub").mkdir(parents=True)
            events = await wait_for_events(
                w, lambda evs: any(e.mask & IN.Q_OVERFLOW for e in evs)
            )
            overflow = [e for e in events if e.mask & IN.Q_OVERFLOW]
            assert (
                repr(overflow[0])
                == "Event(None, [<EVENT_BIT.Q_OVERFLOW: 14>], 0, '')"
            )
            while await w.get(scaled(0.1)) is not None:
                pass
            assert w.watch_count == dirs_on_disk(tmp_dir) == 81
            (tmp_dir / "d39" / "sub" / "late").touch()
            events = await wait_for_events(
                w, lambda evs: "d39/sub/late" in names(evs, IN.CREATE)
            )

    run(main)


@pytest.mark.root
def test_watch_limit_rolls_the_tree_back(
    tmp_dir: Path, inotify_sysctl
) -> None:
    for i in range(30):
        (tmp_dir / f"d{i}").mkdir()
    with Watcher() as w:
        other = w.watch(tmp_dir.parent, IN.CREATE)
        in_use = _user_watches()
        with (
            inotify_sysctl.limit("max_user_watches", in_use + 10),
            pytest.raises(OSError) as info,
        ):
            w.watch_tree(tmp_dir)
        assert "/proc/sys/fs/inotify/max_user_watches" in str(info.value)
        assert info.value.filename == str(tmp_dir)
        assert w.watch_count == 1 and w.watches == [other]
        w.watch_tree(tmp_dir)  # fine again with the old limit
        assert w.watch_count == 32


def _user_watches() -> int:
    """Watches held by all of this user's inotify instances, from /proc."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fdinfo"):
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    total += sum(
                        1 for line in f if line.startswith("inotify wd:")
                    )
        except OSError:
            continue
    return total


UNREADABLE = textwrap.dedent(
    """
    import asyncio, os, sys, warnings
    import inotipy
    os.setgid(65534); os.setuid(65534)
    async def main():
        with inotipy.Watcher() as w:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                w.watch_tree(sys.argv[1], inotipy.IN.CREATE)
                await w.get(0)
            print(len(caught), caught[0].category.__name__ if caught else "")
            print(str(caught[0].message) if caught else "")
            print(w.watch_count)
    asyncio.run(main())
    """
)


@pytest.mark.root
def test_unreadable_directory_is_reported_not_fatal() -> None:
    # Not under pytest's tmp_path: its parents are closed to other users.
    with tempfile.TemporaryDirectory() as top:
        _check_unreadable(Path(top))


def _check_unreadable(top: Path) -> None:
    tree = top / "tree"
    (tree / "locked" / "inner").mkdir(parents=True)
    (tree / "open").mkdir()
    os.chmod(top, 0o755)
    os.chmod(tree, 0o777)
    os.chmod(tree / "open", 0o777)
    os.chmod(tree / "locked", 0o000)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", UNREADABLE, str(tree)],
            capture_output=True,
            text=True,
            timeout=scaled(30),
        )
    finally:
        os.chmod(tree / "locked", 0o755)
    assert proc.returncode == 0, proc.stderr
    counted, message, watched = proc.stdout.splitlines()
    assert counted == "1 TreeWarning"
    assert "locked" in message and "Permission denied" in message
    assert watched == "2"  # the root and open/, not locked/


def test_own_scan_does_not_overflow_the_kernel_queue(
    run, tmp_dir: Path
) -> None:
    # Listing 6,000 directories makes ~24,000 OPEN/ACCESS/CLOSE_NOWRITE
    # events in the watched directories themselves, more than the kernel's
    # default queue of 16,384: the scan must absorb them as it goes, or an
    # overflow (and a repair scan, overflowing again) would follow.
    for a in range(20):
        for b in range(300):
            (tmp_dir / str(a) / str(b)).mkdir(parents=True)

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir)
            assert w.watch_count == 1 + 20 + 6000
            (tmp_dir / "7" / "7" / "x").touch()
            events = await wait_for_events(
                w, lambda evs: any(e.mask & IN.CLOSE_WRITE for e in evs)
            )
            assert not [e for e in events if e.mask & IN.Q_OVERFLOW]
            assert {e.pathname for e in events} == {"7/7/x"}

    run(main)


def test_reads_of_files_are_reported_in_every_directory(
    run, tmp_dir: Path
) -> None:
    # The first scan watches without the read bits (its own listings would
    # flood the queue) and adds them after: they must be there at the end.
    (tmp_dir / "a" / "b").mkdir(parents=True)
    (tmp_dir / "a" / "b" / "f").write_text("x")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, IN.OPEN | IN.ACCESS | IN.CLOSE_NOWRITE)
            assert (tmp_dir / "a" / "b" / "f").read_text() == "x"
            events = await wait_for_events(w, 3)
            assert [(e.mask, e.pathname) for e in events] == [
                (IN.OPEN, "a/b/f"),
                (IN.ACCESS, "a/b/f"),
                (IN.CLOSE_NOWRITE, "a/b/f"),
            ]

    run(main)


def test_read_bits_of_directories_with_and_without_subdirectories(
    run, tmp_dir: Path
) -> None:
    # The first scan gives a directory without subdirectories its read bits
    # as soon as it is listed, and the others (the root, "a", "a/b") at its
    # end: reads are reported in each kind, and none of the scan's own
    # listings (nor a listing after it) is.
    for d in ("a/b/c", "a/b/d", "e"):
        (tmp_dir / d).mkdir(parents=True)
    names = ["f", "a/f", "a/b/f", "a/b/c/f", "e/f"]
    for name in names:
        (tmp_dir / name).write_text("x")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, IN.OPEN | IN.ACCESS | IN.CLOSE_NOWRITE)
            assert sorted(os.listdir(tmp_dir / "a" / "b")) == [
                "c",
                "d",
                "f",
            ]
            for name in names:
                assert (tmp_dir / name).read_text() == "x"
            events = await wait_for_events(w, 3 * len(names))
            assert [(e.mask, e.pathname) for e in events] == [
                (mask, name)
                for name in names
                for mask in (IN.OPEN, IN.ACCESS, IN.CLOSE_NOWRITE)
            ]

    run(main)


def test_a_root_given_as_a_link_is_followed(run, tmp_dir: Path) -> None:
    """follow_symlinks is about links below the root: the root a caller
    names is followed, and its events carry the name given."""
    (tmp_dir / "real" / "sub").mkdir(parents=True)
    os.symlink(tmp_dir / "real", tmp_dir / "link")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir / "link", IN.CREATE)
            assert w.watch_count == 2
            (tmp_dir / "real" / "sub" / "f").touch()
            [event] = await wait_for_events(w, 1)
            assert event.path == str(tmp_dir / "link" / "sub" / "f")

    run(main)
