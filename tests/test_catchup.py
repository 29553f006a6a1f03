"""Catching up across restarts (issue 11): Watch.save_state(path) writes a
tree's index to a file; watch_tree(root, since=path) starts from it and
delivers what changed while nobody watched (events marked IN.RESCAN, then
one IN.SYNCED), then live events; awatch()/watch() take since= and
state_file=.  A state file that cannot be used is InvalidStateFile, and
writing one is atomic.  Real files, real mounts (tmpfs) for the foreign
file system and the failed writes."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import inotipy
from inotipy import IN, Change, InvalidStateFile, Watcher, awatch
from support import DEFAULT_DEADLINE, scaled, synced, wait_for_events
from support import rescanned as told

MASK = IN.CREATE | IN.DELETE | IN.MOVE | IN.MODIFY
A, M, D = Change.added, Change.modified, Change.deleted
FAST = {"debounce": 400, "step": 50}


def walk(root: Path) -> dict[str, str]:
    """Every entry below root: "dir" or "file"."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = "file"
    return found


def listed(tree: Any, root: Path) -> dict[str, str]:
    return {
        os.path.relpath(p, root): "dir" if kind == "dir" else "file"
        for p, kind, _, _ in tree.entries()
    }


async def save(root: Path, state: Path, **kwargs: Any) -> None:
    """Watches root, saves its state, closes."""
    with Watcher() as w:
        tree = w.watch_tree(root, MASK, **kwargs)
        assert await w.get(scaled(0.05)) is None
        tree.save_state(state)


async def catch_up(w: Watcher) -> list[Any]:
    """The catch-up's events, up to and with SYNCED."""
    return await wait_for_events(w, synced)


# ---- the round trip ---------------------------------------------------------


def test_nothing_changed_tells_nothing_then_live_events(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    (tmp_dir / "a" / "b").mkdir(parents=True)
    (tmp_dir / "a" / "b" / "f").write_text("x")
    (tmp_dir / "g").write_text("yy")
    os.symlink("g", tmp_dir / "a" / "link")
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state)
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK, since=state)
            events = await catch_up(w)
            assert [e.mask for e in events] == [IN.SYNCED]
            assert listed(tree, tmp_dir) == walk(tmp_dir)
            assert w.watch_count == 3
            (tmp_dir / "a" / "b" / "late").touch()
            late = await wait_for_events(w, 1)
            assert late[0].pathname == "a/b/late"
            assert late[0].mask == IN.CREATE

    run(main)


def test_churn_while_stopped_is_told_then_live(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    (tmp_dir / "grows").write_text("a")
    (tmp_dir / "touched").write_text("a")
    (tmp_dir / "same").write_text("unchanged")
    (tmp_dir / "gone").write_text("x")
    (tmp_dir / "renamed").write_text("r")
    (tmp_dir / "d" / "deep").mkdir(parents=True)
    (tmp_dir / "d" / "deep" / "f").write_text("x")
    (tmp_dir / "old").mkdir()
    (tmp_dir / "old" / "inside").write_text("x")
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state)
        # While nobody watches.
        (tmp_dir / "grows").write_text("abc")
        os.utime(tmp_dir / "touched", ns=(1, 10**18))
        (tmp_dir / "gone").unlink()
        os.rename(tmp_dir / "renamed", tmp_dir / "d" / "deep" / "now")
        os.rename(tmp_dir / "d", tmp_dir / "d2")
        (tmp_dir / "new" / "sub").mkdir(parents=True)
        (tmp_dir / "new" / "sub" / "g").write_text("x")
        shutil.rmtree(tmp_dir / "old")
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK, since=state)
            events = await catch_up(w)
            got = told(events)
            assert ("MODIFY", "grows", None) in got
            assert ("MODIFY", "touched", None) in got
            assert ("DELETE", "gone", None) in got
            assert ("MOVED_FROM|ISDIR", "d", None) in got
            assert ("MOVED_TO|ISDIR", "d2", "d") in got
            assert ("MOVED_TO", "d2/deep/now", "renamed") in got
            assert ("DELETE", "old/inside", None) in got
            assert ("DELETE|ISDIR", "old", None) in got
            assert ("CREATE|ISDIR", "new", None) in got
            assert ("CREATE|ISDIR", "new/sub", None) in got
            assert ("CREATE", "new/sub/g", None) in got
            assert not any(p == "same" for _, p, _ in got)
            assert len(got) == 12  # the pairs' halves, nothing else
            pairs = {e.cookie for e in events if e.mask & IN.MOVE}
            assert len(pairs) == 2 and 0 not in pairs
            assert events[-1].mask == IN.SYNCED
            assert events[-1].pathname == ""
            assert listed(tree, tmp_dir) == walk(tmp_dir)
            # Live, in a directory the catch-up adopted and in a new one.
            (tmp_dir / "d2" / "deep" / "late").touch()
            (tmp_dir / "new" / "sub" / "late").touch()
            live = await wait_for_events(w, 2)
            assert {e.pathname for e in live} == {
                "d2/deep/late",
                "new/sub/late",
            }
            assert not any(e.mask & IN.RESCAN for e in live)

    run(main)


def test_a_directory_made_again_is_not_the_old_one(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    """rm -r d; mkdir d: a delete and a create, not a move into itself."""
    (tmp_dir / "d").mkdir()
    (tmp_dir / "d" / "f").write_text("x")
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state)
        shutil.rmtree(tmp_dir / "d")
        (tmp_dir / "d").mkdir()
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK, since=state)
            got = told(await catch_up(w))
            assert ("DELETE", "d/f", None) in got
            assert ("DELETE|ISDIR", "d", None) in got
            assert ("CREATE|ISDIR", "d", None) in got
            assert listed(tree, tmp_dir) == walk(tmp_dir)

    run(main)


def test_links_followed_across_a_restart(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    """A tree that follows links: the directory behind a link is adopted
    again; started without following, the link is a link."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "f").touch()
    os.symlink(out, tmp_dir / "link")
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state, follow_symlinks=True)
        (out / "g").touch()
        with Watcher() as w:
            w.watch_tree(tmp_dir, MASK, follow_symlinks=True, since=state)
            assert told(await catch_up(w)) == [("CREATE", "link/g", None)]
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK, since=state)
            got = told(await catch_up(w))
            assert got == [
                ("DELETE", "link/f", None),
                ("DELETE|ISDIR", "link", None),
                ("CREATE", "link", None),
            ]
            assert listed(tree, tmp_dir) == {"link": "file"}

    run(main)


def test_several_saves_and_restarts(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    """Each start saves again: the second catch-up tells only what came
    after the second save."""
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state)
        (tmp_dir / "one").touch()
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK, since=state)
            assert told(await catch_up(w)) == [("CREATE", "one", None)]
            tree.save_state(state)
        (tmp_dir / "two").touch()
        with Watcher() as w:
            w.watch_tree(tmp_dir, MASK, since=state)
            assert told(await catch_up(w)) == [("CREATE", "two", None)]

    run(main)


def test_excludes_of_the_new_start_apply(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    """The excludes are the new start's: what they now leave out is never
    reported (it is no delete), what they no longer leave out is new."""
    (tmp_dir / "x").mkdir()
    (tmp_dir / "x" / "f").touch()
    (tmp_dir / "keep.tmp").touch()
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state, exclude=["*.tmp"])
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK, exclude=["x"], since=state)
            got = told(await catch_up(w))
            assert got == [("CREATE", "keep.tmp", None)]
            assert listed(tree, tmp_dir) == {"keep.tmp": "file"}

    run(main)


# ---- randomized churn against a walk of the disk ----------------------------


def apply(model: dict[str, str], events: list[Any]) -> dict[str, str]:
    """Applies a tree's events in order to {path: kind}, as a consumer
    keeping a model does."""
    pending: dict[int, tuple[str, dict[str, str]]] = {}
    for e in events:
        path = e.pathname
        below = {
            p: k
            for p, k in model.items()
            if p == path or p.startswith(path + "/")
        }
        if e.mask & IN.CREATE:
            model[path] = "dir" if e.mask & IN.ISDIR else "file"
        elif e.mask & IN.DELETE:
            for p in below:
                del model[p]
        elif e.mask & IN.MOVED_FROM:
            for p in below:
                del model[p]
            pending[e.cookie] = (path, below)
        elif e.mask & IN.MOVED_TO:
            src, moved = pending.pop(e.cookie)
            assert e.src_path == os.path.join(e.watch.pathname, src)
            for p in below:
                del model[p]
            for p, k in moved.items():
                model[path + p[len(src) :]] = k
    assert not pending, "a MOVED_FROM without its MOVED_TO"
    return model


def churn(root: Path, rng: random.Random, steps: int) -> None:
    """Random creates, mkdirs, deletes, renames and writes below root."""
    for _ in range(steps):
        entries = sorted(walk(root).items())
        dirs = [""] + [p for p, k in entries if k == "dir"]
        files = [p for p, k in entries if k == "file"]
        op = rng.randrange(7)
        parent = root / rng.choice(dirs)
        name = f"n{rng.randrange(40)}"
        try:
            if op == 0:
                (parent / name).write_text("x" * rng.randrange(5))
            elif op == 1:
                (parent / name).mkdir()
            elif op == 2 and files:
                (root / rng.choice(files)).unlink()
            elif op == 3 and len(dirs) > 1:
                shutil.rmtree(root / rng.choice(dirs[1:]))
            elif op in (4, 5) and entries:
                src = root / rng.choice(entries)[0]
                os.rename(src, parent / name)
            elif op == 6 and files:
                with open(root / rng.choice(files), "a") as f:
                    f.write("more")
        except OSError as e:
            # A rename into itself, over a non-empty directory, a name
            # taken by the other kind: part of the game.
            assert e.errno in (
                errno.EEXIST,
                errno.EINVAL,
                errno.ENOTEMPTY,
                errno.EISDIR,
                errno.ENOTDIR,
                errno.ENOENT,
            )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_random_churn_while_stopped_matches_the_disk(
    run, tmp_path: Path, tmp_dir: Path, seed: int
) -> None:
    rng = random.Random(seed)
    churn(tmp_dir, rng, 60)
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state)
        model = walk(tmp_dir)
        churn(tmp_dir, rng, 80)
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK, since=state)
            events = await catch_up(w)
            assert events[-1].mask == IN.SYNCED
            assert all(e.mask & IN.RESCAN for e in events[:-1])
            assert apply(model, events) == walk(tmp_dir)
            assert listed(tree, tmp_dir) == walk(tmp_dir)
            # A second start from a fresh save tells nothing.
            tree.save_state(state)
        with Watcher() as w:
            w.watch_tree(tmp_dir, MASK, since=state)
            assert [e.mask for e in await catch_up(w)] == [IN.SYNCED]

    run(main)


# ---- state files that cannot be used ----------------------------------------


def refused(
    root: Path, state: Path, reason: str, **kwargs: Any
) -> InvalidStateFile:
    """watch_tree(since=state) raises InvalidStateFile for reason, and the
    watcher is left as it was."""
    with Watcher() as w:
        with pytest.raises(InvalidStateFile) as info:
            w.watch_tree(root, MASK, since=state, **kwargs)
        assert w.watch_count == 0
        assert w.queued == 0
    exc = info.value
    assert isinstance(exc, ValueError)
    assert exc.reason == reason, exc
    assert os.fspath(exc.filename) == os.fspath(state)
    assert str(state) in str(exc) and exc.detail in str(exc)
    return exc


@pytest.fixture(name="saved")
def saved_fixture(tmp_path: Path, tmp_dir: Path) -> Path:
    (tmp_dir / "a").mkdir()
    (tmp_dir / "a" / "f").write_text("x")
    (tmp_dir / "g").write_text("x")
    state = tmp_path / "state"
    asyncio.run(save(tmp_dir, state))
    return state


def test_corrupt_state_file(tmp_dir: Path, saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x40
    saved.write_bytes(data)
    exc = refused(tmp_dir, saved, "corrupt")
    assert "checksum" in exc.detail


def test_every_damaged_byte_is_refused(tmp_dir: Path, saved: Path) -> None:
    """Each byte of the file changed in turn: refused every time."""
    good = saved.read_bytes()
    for i in range(len(good)):
        data = bytearray(good)
        data[i] ^= 0xFF
        saved.write_bytes(data)
        with Watcher() as w, pytest.raises(InvalidStateFile):
            w.watch_tree(tmp_dir, MASK, since=saved)


def test_truncated_state_file(tmp_dir: Path, saved: Path) -> None:
    good = saved.read_bytes()
    for cut in (len(good) - 1, len(good) // 2, 40, 12):
        saved.write_bytes(good[:cut])
        exc = refused(tmp_dir, saved, "truncated")
        assert "cut short" in exc.detail
    saved.write_bytes(good[:4])
    refused(tmp_dir, saved, "not-a-state-file")


def test_too_new_state_file(tmp_dir: Path, saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[8:12] = (2).to_bytes(4, "little")
    saved.write_bytes(data)
    exc = refused(tmp_dir, saved, "too-new")
    assert "version 2" in exc.detail


@pytest.mark.parametrize(
    "content", [b"", b"hello\n", b"INOSTAT", b"\x00" * 100, b"PK\x03\x04zip"]
)
def test_not_a_state_file(
    tmp_dir: Path, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "other"
    path.write_bytes(content)
    refused(tmp_dir, path, "not-a-state-file")


def test_missing_state_file_and_a_directory(
    tmp_dir: Path, tmp_path: Path
) -> None:
    with Watcher() as w:
        with pytest.raises(FileNotFoundError) as info:
            w.watch_tree(tmp_dir, since=tmp_path / "none")
        assert info.value.filename == os.fspath(tmp_path / "none")
        with pytest.raises(IsADirectoryError):
            w.watch_tree(tmp_dir, since=tmp_path)
        with pytest.raises(TypeError):
            w.watch_tree(tmp_dir, since=42)  # type: ignore[arg-type]
        assert w.watch_count == 0


def test_a_fifo_or_a_device_is_no_state_file(
    tmp_dir: Path, tmp_path: Path
) -> None:
    """Refused at once, without blocking on the fifo's open."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    exc = refused(tmp_dir, fifo, "not-a-state-file")
    assert "regular file" in exc.detail
    refused(tmp_dir, Path("/dev/null"), "not-a-state-file")


def test_foreign_root(tmp_path: Path, tmp_dir: Path, saved: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    exc = refused(other, saved, "foreign-root")
    assert str(tmp_dir) in exc.detail
    # The same path made again is another directory.
    shutil.rmtree(tmp_dir)
    tmp_dir.mkdir()
    exc = refused(tmp_dir, saved, "foreign-root")
    assert "inode" in exc.detail


@contextlib.contextmanager
def mounted_tmpfs(where: Path, options: str = "size=1m") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    where.mkdir(exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "inotipy-test", str(where)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        if os.path.ismount(where):
            subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.root
def test_foreign_file_system(tmp_path: Path) -> None:
    """A state saved for a tree on a tmpfs, read once it is unmounted: the
    same path is now on another file system."""
    mnt = tmp_path / "mnt"
    state = tmp_path / "state"
    with mounted_tmpfs(mnt):
        (mnt / "d").mkdir()
        (mnt / "f").write_text("x")
        asyncio.run(save(mnt, state))
        subprocess.run(["umount", str(mnt)], check=True, timeout=30)
    exc = refused(mnt, state, "other-file-system")
    assert "device" in exc.detail


def test_save_state_misuse(tmp_path: Path, tmp_dir: Path) -> None:
    state = tmp_path / "state"

    async def main() -> None:
        with Watcher() as w:
            plain = w.watch(tmp_path, IN.CREATE)
            with pytest.raises(TypeError):
                plain.save_state(state)
            tree = w.watch_tree(tmp_dir, MASK)
            (tmp_dir / "f").touch()
            (tmp_dir / "f2").touch()
            # Both are read at the first get(): one is taken, one stays
            # queued.  The index holds it, and a state saved now would
            # hide it from the next start.
            assert await w.get(scaled(DEFAULT_DEADLINE)) is not None
            assert w.queued == 1
            with pytest.raises(RuntimeError, match="queued"):
                tree.save_state(state)
            assert await w.get(scaled(1)) is not None
            tree.save_state(state)
            tree.remove()
            with pytest.raises(ValueError):
                tree.save_state(state)
            other = tmp_path / "flat"
            other.mkdir()
            no_index = w.watch_tree(other, MASK, index_files=False)
            with pytest.raises(ValueError, match="index"):
                no_index.save_state(state)
            with pytest.raises(ValueError, match="index"):
                w.watch_tree(tmp_dir, MASK, index_files=False, since=state)
        with pytest.raises(ValueError):
            tree.save_state(state)

    asyncio.run(main())


# ---- writing is atomic ------------------------------------------------------


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "state")


@pytest.mark.root
def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """ENOSPC on a tiny tmpfs, then EROFS once it is read-only: an OSError
    with the path, the old state untouched, no temporary file left."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(3000):
        (tree / f"file-with-a-long-name-{i:05}").touch()
    small = tmp_path / "small"

    async def main() -> None:
        with mounted_tmpfs(small, "size=64k"):
            state = small / "state"
            with Watcher() as w:
                t = w.watch_tree(tree, MASK)
                (tree / "file-with-a-long-name-00000").unlink()
                (tree / "x").touch()
                await wait_for_events(w, 2)
                with open(state, "wb") as f:
                    f.write(b"old state")
                with pytest.raises(OSError) as info:
                    t.save_state(state)
                assert info.value.errno == errno.ENOSPC
                assert info.value.filename == os.fspath(state)
                assert state.read_bytes() == b"old state"
                assert leftovers(small) == []
                subprocess.run(
                    ["mount", "-o", "remount,ro", str(small)], check=True
                )
                with pytest.raises(OSError) as info:
                    t.save_state(state)
                assert info.value.errno == errno.EROFS
                assert state.read_bytes() == b"old state"
                assert leftovers(small) == []

    asyncio.run(main())


def test_a_save_replaces_the_file_by_a_rename(
    tmp_path: Path, tmp_dir: Path
) -> None:
    state = tmp_path / "state"
    state.write_bytes(b"old")
    old_inode = state.stat().st_ino
    link = tmp_path / "hardlink"
    os.link(state, link)

    async def main() -> None:
        await save(tmp_dir, state)

    asyncio.run(main())
    # A rename over it: the old inode (still linked) keeps the old bytes.
    assert state.stat().st_ino != old_inode
    assert link.read_bytes() == b"old"
    assert state.read_bytes()[:8] == b"INOSTATE"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "hardlink",
        "state",
        "watched",
    ]
    with Watcher() as w:
        with pytest.raises(OSError) as info:
            w.watch_tree(tmp_dir, MASK).save_state(tmp_path / "no" / "state")
        assert info.value.errno == errno.ENOENT


# ---- awatch() and watch() ---------------------------------------------------


async def first_set(agen: Any) -> set[tuple[Change, str]]:
    return await asyncio.wait_for(agen.__anext__(), scaled(DEFAULT_DEADLINE))


@pytest.mark.asyncio_only
def test_awatch_since_yields_the_catch_up_first(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    (tmp_dir / "d").mkdir()
    (tmp_dir / "d" / "f").write_text("x")
    (tmp_dir / "g").write_text("x")
    (tmp_dir / "keep").write_text("x")
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state)
        (tmp_dir / "new").write_text("x")
        (tmp_dir / "g").write_text("longer")
        os.rename(tmp_dir / "d", tmp_dir / "d2")
        agen = awatch(tmp_dir, since=state, **FAST)
        try:
            got = await first_set(agen)
            root = str(tmp_dir)
            assert got == {
                (A, os.path.join(root, "new")),
                (M, os.path.join(root, "g")),
                (D, os.path.join(root, "d")),
                (A, os.path.join(root, "d2")),
            }
            (tmp_dir / "d2" / "live").write_text("x")
            live = await first_set(agen)
            assert (A, os.path.join(root, "d2", "live")) in live
        finally:
            await agen.aclose()

    run(main)


def test_awatch_since_on_every_loop(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    """The catch-up set on asyncio, uvloop and trio alike (anyio's
    primitives only)."""
    state = tmp_path / "state"

    async def main() -> None:
        with Watcher() as w:
            tree = w.watch_tree(tmp_dir, MASK)
            assert await w.get(scaled(0.05)) is None
            tree.save_state(state)
        (tmp_dir / "while-stopped").touch()
        agen = awatch(tmp_dir, since=state, **FAST)
        with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
            async with contextlib.aclosing(agen):
                async for changes in agen:
                    assert changes == {(A, str(tmp_dir / "while-stopped"))}
                    break

    run(main)


@pytest.mark.asyncio_only
def test_awatch_since_nothing_changed_yields_live_only(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    (tmp_dir / "f").write_text("x")
    state = tmp_path / "state"

    async def main() -> None:
        await save(tmp_dir, state)
        agen = awatch(tmp_dir, since=state, **FAST)
        task = asyncio.ensure_future(agen.__anext__())
        try:
            # The catch-up is empty: no set comes until a live change.
            done, _ = await asyncio.wait({task}, timeout=scaled(0.3))
            assert not done
            (tmp_dir / "live").touch()
            got = await asyncio.wait_for(task, scaled(DEFAULT_DEADLINE))
            assert got == {(A, os.path.join(str(tmp_dir), "live"))}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await agen.aclose()

    run(main)


@pytest.mark.asyncio_only
def test_awatch_state_file_keeps_what_the_consumer_finished(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    """state_file= saves each time the consumer asks for the next set: a
    set held when the consumer broke out comes again at the next start,
    with what changed while stopped; a set finished with does not."""
    state = tmp_path / "state"
    root = str(tmp_dir)

    async def main() -> None:
        agen = awatch(tmp_dir, state_file=state, **FAST)
        task = asyncio.ensure_future(agen.__anext__())
        await asyncio.sleep(scaled(0.2))
        (tmp_dir / "a").touch()
        assert await asyncio.wait_for(task, scaled(DEFAULT_DEADLINE)) == {
            (A, os.path.join(root, "a"))
        }
        assert not state.exists()  # no set was finished with yet
        nxt = asyncio.ensure_future(agen.__anext__())
        await asyncio.sleep(scaled(0.2))
        (tmp_dir / "b").touch()
        assert await asyncio.wait_for(nxt, scaled(DEFAULT_DEADLINE)) == {
            (A, os.path.join(root, "b"))
        }
        assert state.exists()  # saved when the second set was asked for
        await agen.aclose()  # broke out holding the set of b
        (tmp_dir / "c").touch()
        agen = awatch(tmp_dir, state_file=state, **FAST)
        try:
            assert await first_set(agen) == {
                (A, os.path.join(root, "b")),
                (A, os.path.join(root, "c")),
            }
        finally:
            await agen.aclose()

    run(main)


@pytest.mark.asyncio_only
def test_awatch_stop_event_saves_the_state(
    run, tmp_path: Path, tmp_dir: Path
) -> None:
    """The stop event ends the iteration with every set finished with:
    the state is saved then, and the next start tells only what came
    after."""
    state = tmp_path / "state"
    root = str(tmp_dir)

    async def main() -> None:
        await save(tmp_dir, state)
        (tmp_dir / "while-stopped").touch()
        stop = asyncio.Event()
        seen = []
        async for changes in awatch(
            tmp_dir, state_file=state, stop_event=stop, **FAST
        ):
            seen.append(changes)
            if len(seen) == 1:
                (tmp_dir / "live").touch()
            else:
                stop.set()
        assert seen == [
            {(A, os.path.join(root, "while-stopped"))},
            {(A, os.path.join(root, "live"))},
        ]
        (tmp_dir / "new").touch()
        agen = awatch(tmp_dir, since=state, **FAST)
        try:
            assert await first_set(agen) == {(A, os.path.join(root, "new"))}
        finally:
            await agen.aclose()

    run(main)


@pytest.mark.asyncio_only
def test_awatch_state_file_of_two_trees(run, tmp_path: Path) -> None:
    """One state file holds every tree of the iteration; each start picks
    its own by root."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    state = tmp_path / "state"

    async def main() -> None:
        agen = awatch(one, two, state_file=state, **FAST)
        task = asyncio.ensure_future(agen.__anext__())
        try:
            await asyncio.sleep(scaled(0.2))
            (one / "a").touch()
            assert await asyncio.wait_for(task, scaled(DEFAULT_DEADLINE))
            task = asyncio.ensure_future(agen.__anext__())
            await asyncio.sleep(scaled(0.2))
            assert state.exists()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await agen.aclose()
        (one / "b").touch()
        (two / "c").touch()
        agen = awatch(one, two, since=state, **FAST)
        try:
            assert await first_set(agen) == {
                (A, str(one / "b")),
                (A, str(two / "c")),
            }
        finally:
            await agen.aclose()

    run(main)


def test_watch_since_blocking(tmp_path: Path, tmp_dir: Path) -> None:
    (tmp_dir / "f").write_text("x")
    state = tmp_path / "state"
    asyncio.run(save(tmp_dir, state))
    (tmp_dir / "f").unlink()
    (tmp_dir / "g").mkdir()
    stop = threading.Event()
    gen = inotipy.watch(tmp_dir, since=state, stop_event=stop, **FAST)
    try:
        assert next(gen) == {
            (D, os.path.join(str(tmp_dir), "f")),
            (A, os.path.join(str(tmp_dir), "g")),
        }
    finally:
        gen.close()


def test_awatch_since_bad_arguments(tmp_path: Path, tmp_dir: Path) -> None:
    state = tmp_path / "state"
    asyncio.run(save(tmp_dir, state))
    (tmp_dir / "f").touch()

    async def main() -> None:
        with pytest.raises(ValueError, match="recursive"):
            await awatch(tmp_dir, since=state, recursive=False).__anext__()
        with pytest.raises(ValueError, match="recursive"):
            await awatch(tmp_dir / "f", state_file=state).__anext__()
        bad = tmp_path / "bad"
        bad.write_bytes(b"nonsense")
        with pytest.raises(InvalidStateFile):
            await awatch(tmp_dir, since=bad).__anext__()
        with pytest.raises(FileNotFoundError):
            await awatch(tmp_dir, since=tmp_path / "none").__anext__()

    asyncio.run(main())
