"""await watcher.sync(): once it returns, every event of a change made
before the call is queued in the watcher (get_nowait() and
get_batch_nowait() give it without waiting).

The tests check that by the queue itself: right after sync() returns,
``watcher.queued`` already counts every expected event, and the kernel's
queue holds none of them (FIONREAD).  Real files, real loops (asyncio and
uvloop by the ``run`` fixture), no sleeps.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import math
import os
import shutil
import subprocess
import sys
import tempfile
import termios
import textwrap
from pathlib import Path

import pytest

from inotipy import IN, Watcher, WatcherClosedError


def _kernel_bytes(watcher: Watcher) -> int:
    """The bytes of records the kernel holds for the watcher."""
    buf = array.array("i", [0])
    fcntl.ioctl(watcher.fd, termios.FIONREAD, buf)
    return buf[0]


def _touch_all(directory: Path, names: list[str]) -> None:
    for name in names:
        (directory / name).touch()


def _take_synced(watcher: Watcher) -> list:
    """Takes what sync() left queued, checking that it was all queued
    already: the kernel held none of it."""
    queued = watcher.queued
    kernel = _kernel_bytes(watcher)
    events = watcher.get_batch_nowait()
    assert kernel == 0
    assert len(events) == queued
    return events


# ---- what sync() waits for --------------------------------------------------


def test_no_watches_returns_at_once(run) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            await watcher.sync()
            await watcher.sync(0)
            assert watcher.queued == 0

    run(main)


def test_directory_changes_are_queued(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watch = watcher.watch(tmp_dir, IN.CREATE | IN.DELETE)
            names = [f"f{i:03}" for i in range(200)]
            _touch_all(tmp_dir, names)
            (tmp_dir / "f000").unlink()
            await watcher.sync()
            events = _take_synced(watcher)
            assert [(e.mask, e.pathname) for e in events] == [
                *((IN.CREATE, n) for n in names),
                (IN.DELETE, "f000"),
            ]
            assert all(e.watch is watch for e in events)
            # Nothing was written to the watched directory.
            assert sorted(os.listdir(tmp_dir)) == names[1:]

    run(main)


def test_file_watch_and_mask_without_create(run, tmp_dir: Path) -> None:
    """No marker file is needed, so a watch of a file and a mask without
    CREATE are covered like any other watch."""

    async def main() -> None:
        target = tmp_dir / "file"
        target.write_text("a")
        (tmp_dir / "d").mkdir()
        (tmp_dir / "d" / "x").touch()
        with Watcher() as watcher:
            file_watch = watcher.watch(target, IN.MODIFY)
            dir_watch = watcher.watch(tmp_dir / "d", IN.ATTRIB)
            with open(target, "a") as f:
                f.write("b")
            os.chmod(tmp_dir / "d" / "x", 0o600)
            await watcher.sync()
            events = _take_synced(watcher)
            assert [(e.watch, e.mask, e.pathname) for e in events] == [
                (file_watch, IN.MODIFY, ""),
                (dir_watch, IN.ATTRIB, "x"),
            ]
            assert os.listdir(tmp_dir / "d") == ["x"]

    run(main)


def test_tree_changes_are_queued(run, tmp_path: Path) -> None:
    """A tree's events too: what its scans find in new directories, a
    rename inside it, and a directory moved out (held until the kernel's
    queue is seen empty)."""

    async def main() -> None:
        root = tmp_path / "tree"
        outside = tmp_path / "outside"
        (root / "a").mkdir(parents=True)
        (root / "a" / "f").touch()
        (root / "b").mkdir()
        outside.mkdir()
        with Watcher() as watcher:
            watcher.watch_tree(root, IN.CREATE | IN.DELETE | IN.MOVE)
            deep = root.joinpath(*(f"d{i}" for i in range(10)))
            deep.mkdir(parents=True)
            for level in [deep, *deep.parents]:
                if level == root:
                    break
                (level / "file").touch()
            (root / "b").rename(root / "b2")
            (root / "a").rename(outside / "a")
            await watcher.sync()
            events = _take_synced(watcher)
            seen = {(e.mask & ~IN.ISDIR, e.pathname) for e in events}
            rel = "/".join(f"d{i}" for i in range(10))
            assert (IN.CREATE, rel) in seen
            assert (IN.CREATE, rel + "/file") in seen
            assert (IN.CREATE, "d0/file") in seen
            assert (IN.MOVED_TO, "b2") in seen
            assert (IN.MOVED_FROM, "a") in seen
            assert not any(".inotipy" in e.pathname for e in events)

    run(main)


def test_full_queue_still_syncs(run, tmp_dir: Path) -> None:
    """With the queue at its bound (and reading paused), sync() reads the
    backlog anyway; nothing is lost and no overflow is made up."""

    async def main() -> None:
        with Watcher(max_queued=8) as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            names = [f"f{i:03}" for i in range(300)]
            _touch_all(tmp_dir, names)
            first = await watcher.get()
            assert first is not None and first.pathname == "f000"
            assert 8 <= watcher.queued < 300
            await watcher.sync()
            events = _take_synced(watcher)
            assert [e.pathname for e in events] == names[1:]
            assert all(e.mask == IN.CREATE for e in events)
            # The bound holds again, and later events still come.
            (tmp_dir / "after").touch()
            event = await watcher.get(5)
            assert event is not None and event.pathname == "after"

    run(main)


def test_full_queue_of_a_tree_still_syncs(run, tmp_dir: Path) -> None:
    async def main() -> None:
        (tmp_dir / "sub").mkdir()
        with Watcher(max_queued=8) as watcher:
            watcher.watch_tree(tmp_dir, IN.CREATE)
            names = [f"f{i:03}" for i in range(300)]
            _touch_all(tmp_dir / "sub", names)
            first = await watcher.get()
            assert first is not None and first.pathname == "sub/f000"
            assert 8 <= watcher.queued < 300
            await watcher.sync()
            events = _take_synced(watcher)
            assert [e.pathname for e in events] == [
                f"sub/{name}" for name in names[1:]
            ]

    run(main)


@pytest.mark.root
def test_after_kernel_overflow(run, tmp_dir: Path, inotify_sysctl) -> None:
    """The kernel lost events: sync() still returns, the IN.Q_OVERFLOW that
    stands for them queued before it does."""

    async def main() -> None:
        with inotify_sysctl.limit("max_queued_events", 16):
            watcher = Watcher()
        with watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            _touch_all(tmp_dir, [f"f{i:03}" for i in range(100)])
            await watcher.sync()
            events = _take_synced(watcher)
            assert events[-1].mask == IN.Q_OVERFLOW
            assert [e.pathname for e in events[:-1]] == [
                f"f{i:03}" for i in range(len(events) - 1)
            ]
            (tmp_dir / "after").touch()
            await watcher.sync()
            [event] = _take_synced(watcher)
            assert event.pathname == "after"

    run(main)


# ---- waiting, cancelling, closing -------------------------------------------


@pytest.mark.asyncio_only
def test_concurrent_syncs_and_waiters(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            waiter = asyncio.ensure_future(watcher.get())
            await asyncio.sleep(0)
            _touch_all(tmp_dir, ["a", "b", "c"])
            await asyncio.wait_for(
                asyncio.gather(*(watcher.sync() for _ in range(5))),
                scaled(5),
            )
            # The waiter was served first, by the reads the syncs made.
            assert waiter.done()
            assert waiter.result().pathname == "a"
            assert [e.pathname for e in _take_synced(watcher)] == ["b", "c"]

    run(main)


@pytest.mark.asyncio_only
def test_cancelled_sync_loses_nothing(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            _touch_all(tmp_dir, ["a", "b"])
            task = asyncio.ensure_future(watcher.sync())
            await asyncio.sleep(0)
            assert not task.done()  # it waits for the loop's read
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            (tmp_dir / "c").touch()
            await watcher.sync()
            assert [e.pathname for e in _take_synced(watcher)] == [
                "a",
                "b",
                "c",
            ]
            assert sorted(os.listdir(tmp_dir)) == ["a", "b", "c"]

    run(main)


@pytest.mark.asyncio_only
def test_close_while_syncing(run, tmp_dir: Path) -> None:
    async def main() -> None:
        watcher = Watcher()
        watcher.watch(tmp_dir, IN.CREATE)
        (tmp_dir / "a").touch()
        task = asyncio.ensure_future(watcher.sync())
        await asyncio.sleep(0)
        assert not task.done()
        watcher.close()
        with pytest.raises(WatcherClosedError):
            await task
        with pytest.raises(WatcherClosedError):
            await watcher.sync()
        watcher.close()

    run(main)


@pytest.mark.asyncio_only
def test_abandoned_by_a_closed_loop(run, tmp_dir: Path) -> None:
    """A sync left waiting when its loop ended does not stop the watcher
    from syncing in the next loop."""
    watcher = Watcher()
    watcher.watch(tmp_dir, IN.CREATE)

    async def first() -> None:
        (tmp_dir / "a").touch()
        asyncio.ensure_future(watcher.sync())
        await asyncio.sleep(0)

    async def second() -> None:
        (tmp_dir / "b").touch()
        await watcher.sync()
        assert [e.pathname for e in _take_synced(watcher)] == ["a", "b"]

    with watcher:
        run(first)
        run(second)


def test_timeouts(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            _touch_all(tmp_dir, ["a", "b"])
            # 0 polls the kernel once, which is enough here.
            await watcher.sync(0)
            assert watcher.queued == 2
            (tmp_dir / "c").touch()
            await watcher.sync(-1)  # a negative timeout is 0
            assert watcher.queued == 3
            (tmp_dir / "d").touch()
            await watcher.sync(math.inf)
            await watcher.sync(60)
            assert [e.pathname for e in _take_synced(watcher)] == list("abcd")
            with pytest.raises(ValueError):
                await watcher.sync(math.nan)
            with pytest.raises(TypeError):
                await watcher.sync("1")  # type: ignore[arg-type]

    run(main)


# ---- roots that cannot be written -------------------------------------------

UNWRITABLE_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    import inotipy
    os.setgroups([]); os.setgid(65534); os.setuid(65534)
    async def main():
        with inotipy.Watcher() as w:
            w.watch_tree(sys.argv[1], inotipy.IN.CREATE)
            w.watch(sys.argv[2], inotipy.IN.CREATE)
            print("watching", flush=True)
            sys.stdin.readline()
            await w.sync()
            print(w.queued, sorted(e.pathname for e in w.get_batch_nowait()))
    asyncio.run(main())
    """
)


@pytest.mark.root
def test_unwritable_roots(scaled) -> None:
    """A process that may not write the watched directories syncs all the
    same: nothing is written there."""
    # Not under pytest's tmp_path: its parents are closed to other users.
    top = Path(tempfile.mkdtemp(prefix="inotipy-sync-"))
    try:
        top.chmod(0o755)
        tree, plain = top / "tree", top / "plain"
        tree.mkdir(mode=0o755)
        plain.mkdir(mode=0o755)
        child = subprocess.Popen(
            [sys.executable, "-c", UNWRITABLE_CHILD, str(tree), str(plain)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdin is not None
            assert child.stdout.readline() == "watching\n"
            (tree / "t").touch()
            (plain / "p").touch()
            out, err = child.communicate("go\n", timeout=scaled(30))
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        assert child.returncode == 0, err
        assert out == "2 ['p', 't']\n"
    finally:
        shutil.rmtree(top)


@pytest.mark.root
def test_read_only_bind_mount(run, tmp_path: Path) -> None:
    """Watched through a read-only bind mount, changed through the
    writable path: the events come, and sync() needs no write."""
    source, mount = tmp_path / "source", tmp_path / "ro"
    source.mkdir()
    mount.mkdir()
    made = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(source), str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {made.stderr.strip()}")
    try:
        # Some kernels apply ro only on a remount of the bind.
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(mount)],
            capture_output=True,
            check=False,
        )
        with pytest.raises(OSError):
            (mount / "probe").touch()

        async def main() -> None:
            with Watcher() as watcher:
                watcher.watch_tree(mount, IN.CREATE)
                (source / "x").touch()
                await watcher.sync()
                [event] = _take_synced(watcher)
                assert event.pathname == "x"

        run(main)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_sync_on_trio(tmp_dir: Path) -> None:
    """On trio, sync() reads whenever the descriptor is readable until a
    read completes it (there is no asyncio future to resolve)."""
    trio = pytest.importorskip("trio")

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tmp_dir, IN.CREATE)
            (tmp_dir / "d").mkdir()
            (tmp_dir / "d" / "f").touch()
            await w.sync()
            assert [e.pathname for e in w.get_batch_nowait()] == ["d", "d/f"]
            await w.sync(1.0)
            w.close()
            with pytest.raises(WatcherClosedError):
                await w.sync()

    trio.run(main)
