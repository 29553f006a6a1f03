"""Trees heal after an overflow (issue 10): the index of every entry is
compared with the disk and the difference comes as ordinary events marked
IN.RESCAN, then one IN.SYNCED event.  Real overflows: the kernel's queue
is made small (root) for the watcher's creation, and restored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from inotipy import IN, Watcher
from support import rescanned, scaled, synced, wait_for_events

pytestmark = pytest.mark.root

MASK = IN.CREATE | IN.DELETE | IN.MOVE | IN.MODIFY


def small_queue_watcher(inotify_sysctl: Any) -> Watcher:
    with inotify_sysctl.limit("max_queued_events", 16):
        return Watcher()


def walk(root: Path) -> dict[str, str]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            p = os.path.join(dirpath, name)
            found[os.path.relpath(p, root)] = (
                "symlink" if os.path.islink(p) else "file"
            )
    return found


def overflow(root: Path) -> None:
    """Fills the kernel's queue of 16 past its end."""
    for i in range(40):
        (root / f"noise{i}").touch()


def test_heal_reports_the_blind_window_as_events(
    run, tmp_dir: Path, inotify_sysctl: Any
) -> None:
    (tmp_dir / "grows").write_text("a")
    (tmp_dir / "gone").write_text("x")
    (tmp_dir / "d" / "deep").mkdir(parents=True)
    (tmp_dir / "d" / "deep" / "f").write_text("x")
    (tmp_dir / "old").mkdir()
    (tmp_dir / "old" / "inside").write_text("x")
    (tmp_dir / "same").write_text("unchanged")

    async def main() -> None:
        w = small_queue_watcher(inotify_sysctl)
        with w:
            tree = w.watch_tree(tmp_dir, MASK)
            overflow(tmp_dir)
            # The blind window: none of this reaches the kernel's queue.
            (tmp_dir / "grows").write_text("abc")
            (tmp_dir / "gone").unlink()
            os.rename(tmp_dir / "d", tmp_dir / "d2")
            os.rename(tmp_dir / "old" / "inside", tmp_dir / "moved")
            (tmp_dir / "old").rmdir()
            (tmp_dir / "new" / "sub").mkdir(parents=True)
            (tmp_dir / "new" / "sub" / "g").write_text("x")
            events = await wait_for_events(w, synced)
            heal = rescanned(events)
            assert ("MODIFY", "grows", None) in heal
            assert ("DELETE", "gone", None) in heal
            assert ("MOVED_TO|ISDIR", "d2", "d") in heal
            assert ("MOVED_TO", "moved", "old/inside") in heal
            assert ("DELETE|ISDIR", "old", None) in heal
            assert ("CREATE|ISDIR", "new", None) in heal
            assert ("CREATE|ISDIR", "new/sub", None) in heal
            assert ("CREATE", "new/sub/g", None) in heal
            assert not any(p == "same" for _, p, _ in heal)
            # The overflow comes before the heal, SYNCED after it.
            kinds = [e.mask for e in events]
            first_rescan = next(
                i for i, m in enumerate(kinds) if m & IN.RESCAN
            )
            assert any(m & IN.Q_OVERFLOW for m in kinds[:first_rescan])
            assert events[-1].mask == IN.SYNCED
            assert events[-1].pathname == ""
            # The index is the disk again, and the tree goes on.
            listed = {
                os.path.relpath(p, tmp_dir): kind or "file"
                for p, kind, _, _ in tree.entries()
            }
            assert listed == walk(tmp_dir)
            (tmp_dir / "d2" / "deep" / "late").touch()
            late = await wait_for_events(
                w, lambda evs: any(e.pathname == "d2/deep/late" for e in evs)
            )
            assert not late[-1].mask & IN.RESCAN

    run(main)


def apply(model: set[str], events: list[Any]) -> set[str]:
    """Applies a tree's events in order, as a consumer keeping a model
    does; Q_OVERFLOW and SYNCED are ignored."""
    pending: dict[int, tuple[str, set[str]]] = {}
    for e in events:
        path = e.pathname
        below = {p for p in model if p == path or p.startswith(path + "/")}
        if e.mask & IN.CREATE:
            model.add(path)
        elif e.mask & IN.DELETE:
            model -= below
        elif e.mask & IN.MOVED_FROM:
            model -= below
            pending[e.cookie] = (path, below)
        elif e.mask & IN.MOVED_TO:
            src, moved = pending.pop(e.cookie, (path, {path}))
            model -= below
            model |= {path + p[len(src) :] for p in moved}
    return model


def test_a_model_that_ignores_the_overflow_ends_exact(
    run, tmp_dir: Path, inotify_sysctl: Any
) -> None:
    for i in range(5):
        (tmp_dir / f"dir{i}" / "x").mkdir(parents=True)
        (tmp_dir / f"dir{i}" / "x" / "f").write_text("x")

    async def main() -> None:
        w = small_queue_watcher(inotify_sysctl)
        with w:
            w.watch_tree(tmp_dir, IN.CREATE | IN.DELETE | IN.MOVE)
            model = set(walk(tmp_dir))
            overflow(tmp_dir)
            os.rename(tmp_dir / "dir0", tmp_dir / "dir1" / "x" / "in")
            os.rename(tmp_dir / "dir2" / "x" / "f", tmp_dir / "f2")
            (tmp_dir / "dir3" / "x" / "f").unlink()
            (tmp_dir / "dir3" / "x").rmdir()
            os.rename(tmp_dir / "dir4" / "x" / "f", tmp_dir / "dir4" / "x2")
            events = await wait_for_events(w, synced)
            assert apply(model, events) == set(walk(tmp_dir))

    run(main)


def test_without_a_file_index_an_overflow_repairs_silently(
    run, tmp_dir: Path, inotify_sysctl: Any
) -> None:
    """index_files=False keeps directories only: the overflow is repaired
    (watches mended) as before, with no heal and no SYNCED."""

    async def main() -> None:
        w = small_queue_watcher(inotify_sysctl)
        with w:
            tree = w.watch_tree(tmp_dir, MASK, index_files=False)
            overflow(tmp_dir)
            (tmp_dir / "d" / "e").mkdir(parents=True)
            events = await wait_for_events(
                w, lambda evs: any(e.mask & IN.Q_OVERFLOW for e in evs)
            )
            while (e := await w.get(scaled(0.2))) is not None:
                events.append(e)
            assert not any(e.mask & (IN.RESCAN | IN.SYNCED) for e in events)
            assert w.watch_count == 3
            assert [k for _, k, _, _ in tree.entries()] == ["dir", "dir"]
            (tmp_dir / "d" / "e" / "late").touch()
            await wait_for_events(
                w, lambda evs: any(e.pathname == "d/e/late" for e in evs)
            )

    run(main)


def test_entries_list_the_index_from_memory(run, tmp_dir: Path) -> None:
    (tmp_dir / "a" / "b").mkdir(parents=True)
    (tmp_dir / "a" / "f").write_text("12345")
    os.symlink("f", tmp_dir / "a" / "link")

    async def main() -> None:
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK)
            got = {
                os.path.relpath(p, tmp_dir): (kind, size)
                for p, kind, size, _ in tree.entries()
            }
            assert got == {
                "a": ("dir", None),
                "a/b": ("dir", None),
                "a/f": ("file", 5),
                "a/link": ("symlink", 1),
            }
            st = os.lstat(tmp_dir / "a" / "f")
            [mtime] = [m for p, _, _, m in tree.entries() if p.endswith("/f")]
            assert mtime == st.st_mtime_ns
            # A file made now is indexed from its event: kind not yet read.
            (tmp_dir / "a" / "new").touch()
            await wait_for_events(w, 1)
            [(kind, size)] = [
                (k, s) for p, k, s, _ in tree.entries() if p.endswith("new")
            ]
            assert kind is None and size is None
            with pytest.raises(TypeError):
                w.watch(tmp_dir / "a" / "f", IN.MODIFY).entries()
            bytes_tree = Watcher()
            with bytes_tree:
                t = bytes_tree.watch_tree(os.fsencode(tmp_dir / "a"))
                assert all(isinstance(p, bytes) for p, *_ in t.entries())
        with pytest.raises(ValueError):
            tree.entries()

    run(main)


def test_stats_count_what_the_watcher_did(
    run, tmp_dir: Path, inotify_sysctl: Any
) -> None:
    (tmp_dir / "d").mkdir()
    (tmp_dir / "f").touch()

    async def main() -> None:
        w = small_queue_watcher(inotify_sysctl)
        with w:
            w.watch_tree(tmp_dir, MASK)
            st = w.stats()
            assert (st.watches, st.tree_dirs, st.tree_files) == (2, 2, 1)
            assert st.delivered == st.overflows == st.rescans == 0
            assert st.max_user_watches == inotify_sysctl.read(
                "max_user_watches"
            )
            assert st.watch_limit is not None
            overflow(tmp_dir)
            events = await wait_for_events(w, synced)
            st = w.stats()
            assert st.delivered == len(events)
            assert st.overflows == 1 and st.rescans == 1
            assert st.tree_files == 41 and st.queued == 0
            assert st.peak_queued >= 16
        assert w.stats().watches == 0
        assert w.stats().delivered == len(events)

    run(main)


def test_watch_tree_reports_progress(tmp_dir: Path) -> None:
    for top, n in (("a", 2100), ("b", 1100), ("c", 1100)):
        for i in range(n):
            (tmp_dir / top / f"d{i}").mkdir(parents=True)
    seen: list[int] = []
    with Watcher() as w:
        w.watch_tree(tmp_dir / "a", IN.CREATE, progress=seen.append)
        assert seen == [1024, 2048]
        with pytest.raises(TypeError):
            w.watch_tree(tmp_dir / "b", progress=3)

        def stop(dirs: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            w.watch_tree(tmp_dir / "b", progress=stop)

        def meddle(dirs: int) -> None:
            w.close()

        with pytest.raises(RuntimeError, match="busy"):
            w.watch_tree(tmp_dir / "c", progress=meddle)
        # What failed rolled back; the watcher goes on.
        assert w.watch_count == 2101 and not w.closed
        w.watch_tree(tmp_dir / "b")
        assert w.watch_count == 2101 + 1101
