"""Polling where inotify is blind (issue 11): watch_tree(backend=...),
awatch(force_polling=...), the CLI's --backend, and the mount table that
"auto" reads.

The blind mount is real: bindfs (FUSE) over a backing directory.  Changes
made in the backing directory never reach inotify on the mount (the first
test shows it), so whatever events arrive for them came from a poll.
Every mount is unmounted at teardown, whatever the test did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import inotipy
from inotipy import IN, Change, Watcher
from inotipy import _mounts as mounts
from support import scaled, wait_for_events

FAST_MS = 50


def _fuse_problem() -> str | None:
    if os.geteuid() != 0:
        return "mounting bindfs needs root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if shutil.which("bindfs") is None:
        return "bindfs is not installed (apt-get install bindfs)"
    return None


def _unmount(path: Path) -> None:
    for cmd in (["fusermount", "-u", str(path)], ["umount", str(path)]):
        if shutil.which(cmd[0]) is None:
            continue
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            return
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def bindfs(back: Path, mnt: Path) -> Iterator[Path]:
    problem = _fuse_problem()
    if problem is not None:
        pytest.skip(problem)
    back.mkdir(parents=True, exist_ok=True)
    mnt.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bindfs", str(back), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        _unmount(mnt)


@pytest.fixture
def fuse(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(backing directory, its bindfs mount); the mount's name has a space,
    which mountinfo escapes as \\040."""
    back = tmp_path / "back"
    with bindfs(back, tmp_path / "mnt dir") as mnt:
        yield back, mnt


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path = tmp_path / "tmpfs"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "none", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def kinds(events: list[Any]) -> list[tuple[str, str]]:
    """(kind, pathname) of each change event, kind as 'CREATE|ISDIR'."""
    out = []
    for e in events:
        kind = next(
            (
                k
                for k in (
                    "CREATE",
                    "DELETE",
                    "MOVED_FROM",
                    "MOVED_TO",
                    "MODIFY",
                )
                if e.mask & IN[k]
            ),
            None,
        )
        if kind is None:
            continue  # OPEN, CLOSE_WRITE and the like
        out.append(
            (kind + ("|ISDIR" if e.mask & IN.ISDIR else ""), e.pathname)
        )
    return out


def write(path: Path, data: str = "x") -> None:
    with open(path, "w") as f:
        f.write(data)


# ---- the mount table --------------------------------------------------------

SAMPLE = (
    b"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    b"27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    b"40 27 0:40 / /srv/my\\040share rw master:3 - cifs //nas/a\\040b rw\n"
    b"41 27 0:41 /sub /home/u/with\\011tab\\134x rw - fuse.sshfs u@h: rw\n"
    b"42 41 0:42 / /home/u/with\\011tab\\134x/in rw - tmpfs none rw\n"
    b"43 27 0:43 / /snap/core rw - fuse.snapfuse /a.snap ro\n"
    b"44 27 0:44 / /mnt/c rw - 9p drvfs rw\n"
    b"45 27 0:45 / /nfs rw - nfs4 srv:/ rw\n"
    b"46 45 0:46 / /nfs/deeper rw - nfs4 srv:/d rw\n"
    b"not a line\n"
    b"\n"
)


def test_mountinfo_parser_decodes_escaped_fields() -> None:
    ms = mounts.parse_mountinfo(SAMPLE)
    assert [m.mount_point for m in ms] == [
        "/proc",
        "/",
        "/srv/my share",
        "/home/u/with\ttab\\x",
        "/home/u/with\ttab\\x/in",
        "/snap/core",
        "/mnt/c",
        "/nfs",
        "/nfs/deeper",
    ]
    share = ms[2]
    assert (share.mount_id, share.parent_id, share.dev) == (40, 27, "0:40")
    assert (share.fs_type, share.source) == ("cifs", "//nas/a b")
    assert ms[3].root == "/sub"
    assert [m.blind for m in ms] == [
        False,
        False,
        True,
        True,
        False,
        False,
        True,
        True,
        True,
    ]


def test_blind_types() -> None:
    for t in ("nfs", "nfs4", "cifs", "smb3", "9p", "virtiofs", "ceph"):
        assert mounts.is_blind(t), t
    for t in ("fuse", "fuse.sshfs", "fuse.bindfs", "fuse.rclone"):
        assert mounts.is_blind(t), t
    for t in ("ext4", "tmpfs", "btrfs", "overlay", "fuseblk", "proc"):
        assert not mounts.is_blind(t), t
    assert not mounts.is_blind("fuse.snapfuse")


def test_poll_dirs_from_a_sample_table() -> None:
    ms = mounts.parse_mountinfo(SAMPLE)
    assert mounts.poll_dirs("/srv", ms) == ["my share"]
    assert mounts.poll_dirs("/srv/my share/x", ms) == [""]
    # A native mount inside a blind one is polled with it.
    assert mounts.poll_dirs("/home/u/with\ttab\\x/in", ms) == []
    assert mounts.poll_dirs("/home", ms) == ["u/with\ttab\\x"]
    # The outermost of a nest, once.
    assert mounts.poll_dirs("/", ms) == [
        "home/u/with\ttab\\x",
        "mnt/c",
        "nfs",
        "srv/my share",
    ]
    assert mounts.poll_dirs("/proc", ms) == []


def test_real_mountinfo_with_a_fuse_mount(fuse: tuple[Path, Path]) -> None:
    back, mnt = fuse
    ms = mounts.read_mounts()
    assert any(m.mount_point == "/" for m in ms)
    (ours,) = [m for m in ms if m.mount_point == str(mnt)]
    assert ours.fs_type.startswith("fuse") and ours.blind
    st = os.stat(mnt)
    assert ours.dev == f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    assert mounts.mount_of(str(mnt)) == ours
    assert mounts.poll_dirs(mnt) == [""]
    assert mounts.poll_dirs(mnt.parent) == [mnt.name]
    assert mounts.poll_dirs(back) == []


# ---- watch_tree(backend=...) ------------------------------------------------


def test_inotify_is_blind_to_the_backing_directory(
    run: Any, fuse: tuple[Path, Path]
) -> None:
    """The premise: without polling nothing is seen."""
    back, mnt = fuse

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(mnt, backend="inotify")
            write(back / "f")
            (back / "d").mkdir()
            await w.sync()
            assert list(w.get_batch_nowait()) == []
            # What this kernel does through the mount, inotify sees.
            write(mnt / "g")
            await w.sync()
            assert ("CREATE", "g") in kinds(list(w.get_batch_nowait()))

    run(main)


def test_poll_reports_changes_made_behind_the_mount(
    run: Any, fuse: tuple[Path, Path]
) -> None:
    back, mnt = fuse
    write(back / "old", "1")
    (back / "olddir").mkdir()

    async def main() -> None:
        with Watcher() as w:
            # auto: this mount is FUSE.
            root = w.watch_tree(mnt, poll_delay_ms=FAST_MS)
            assert root.pathname == str(mnt)

            async def step(count: int) -> list[Any]:
                evs = await wait_for_events(w, count)
                assert all(e.mask & IN.RESCAN for e in evs), evs
                assert not any(e.mask & IN.SYNCED for e in evs)
                return evs

            (back / "a" / "b").mkdir(parents=True)
            write(back / "a" / "b" / "f")
            write(back / "top")
            evs = await step(4)
            assert sorted(kinds(evs)) == [
                ("CREATE", "a/b/f"),
                ("CREATE", "top"),
                ("CREATE|ISDIR", "a"),
                ("CREATE|ISDIR", "a/b"),
            ]
            # A directory before what it holds.
            names = [e.pathname for e in evs]
            assert names.index("a") < names.index("a/b") < names.index("a/b/f")
            write(back / "old", "longer")
            assert kinds(await step(1)) == [("MODIFY", "old")]
            os.rename(back / "top", back / "a" / "moved")
            evs = await step(2)
            assert kinds(evs) == [
                ("MOVED_FROM", "top"),
                ("MOVED_TO", "a/moved"),
            ]
            assert evs[0].cookie == evs[1].cookie != 0
            assert evs[1].src_path == os.path.join(mnt, "top")
            os.rename(back / "olddir", back / "a" / "newdir")
            evs = await step(2)
            assert kinds(evs) == [
                ("MOVED_FROM|ISDIR", "olddir"),
                ("MOVED_TO|ISDIR", "a/newdir"),
            ]
            assert evs[0].cookie == evs[1].cookie
            shutil.rmtree(back / "a")
            evs = await step(5)
            assert sorted(kinds(evs)) == [
                ("DELETE", "a/b/f"),
                ("DELETE", "a/moved"),
                ("DELETE|ISDIR", "a"),
                ("DELETE|ISDIR", "a/b"),
                ("DELETE|ISDIR", "a/newdir"),
            ]
            # The deepest first.
            names = [e.pathname for e in evs]
            assert names.index("a/b/f") < names.index("a/b") < names.index("a")
            assert names[-1] == "a"
            # Quiet: a poll of an unchanged tree finds nothing.
            await w.sync()
            assert list(w.get_batch_nowait()) == []

    run(main)


def test_a_change_inotify_told_is_not_told_again(
    run: Any, fuse: tuple[Path, Path]
) -> None:
    back, mnt = fuse

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(mnt, IN.CREATE | IN.DELETE | IN.MOVE | IN.MODIFY)
            write(mnt / "f", "through the mount")
            (mnt / "d").mkdir()
            evs = await wait_for_events(w, 3)
            assert not any(e.mask & IN.RESCAN for e in evs)
            await w.sync()  # polls
            assert list(w.get_batch_nowait()) == []

    run(main)


def test_a_tree_spanning_tmpfs_and_fuse_is_served_by_both(
    run: Any, tmpfs: Path
) -> None:
    with bindfs(tmpfs / "back", tmpfs / "native" / "fuse"):
        back = tmpfs / "back"

        async def main() -> None:
            with Watcher() as w:
                # A long delay: only sync() polls.
                w.watch_tree(
                    tmpfs / "native",
                    IN.CREATE | IN.DELETE | IN.MOVE,
                    poll_delay_ms=600_000,
                )
                write(tmpfs / "native" / "here")
                write(back / "there")
                evs = await wait_for_events(w, 1)
                assert kinds(evs) == [("CREATE", "here")]
                assert not evs[0].mask & IN.RESCAN
                await w.sync()
                evs = list(w.get_batch_nowait())
                assert kinds(evs) == [("CREATE", "fuse/there")]
                assert evs[0].mask & IN.RESCAN

        run(main)


def test_poll_backend_on_a_native_tree(run: Any, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(
                tmp_dir,
                IN.CREATE | IN.DELETE | IN.MOVE | IN.MODIFY,
                backend="poll",
                poll_delay_ms=FAST_MS,
            )
            write(tmp_dir / "f")
            evs = await wait_for_events(w, 2)
            assert kinds(evs) == [("CREATE", "f"), ("MODIFY", "f")]
            assert not any(e.mask & IN.RESCAN for e in evs)
            # Told by inotify already: the polls say nothing more.
            await asyncio_or_trio_sleep(run, 3 * FAST_MS / 1000)
            await w.sync()
            assert list(w.get_batch_nowait()) == []

    run(main)


async def asyncio_or_trio_sleep(run: Any, seconds: float) -> None:
    if run.on_trio:
        import trio

        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


def test_closing_while_a_poll_is_scheduled(
    run: Any, fuse: tuple[Path, Path]
) -> None:
    back, mnt = fuse

    async def main() -> None:
        w = Watcher()
        w.watch_tree(mnt, poll_delay_ms=FAST_MS)
        write(back / "f")
        w.close()
        w.close()
        with pytest.raises(inotipy.WatcherClosedError):
            w._poll_due()
        # Past when the poll was due: nothing runs, nothing is reported.
        await asyncio_or_trio_sleep(run, 3 * FAST_MS / 1000)

    run(main)


def test_watch_tree_before_the_loop_polls_once_awaited(
    fuse: tuple[Path, Path],
) -> None:
    back, mnt = fuse
    with Watcher() as w:
        w.watch_tree(mnt, poll_delay_ms=FAST_MS)

        async def main() -> list[Any]:
            write(back / "f")
            return await wait_for_events(w, 1)

        assert kinds(asyncio.run(main())) == [("CREATE", "f")]


def test_bad_values(tmp_dir: Path) -> None:
    with Watcher() as w:
        with pytest.raises(ValueError, match="'auto', 'inotify', 'poll'"):
            w.watch_tree(tmp_dir, backend="kqueue")
        with pytest.raises(TypeError, match="backend must be a str"):
            w.watch_tree(tmp_dir, backend=1)  # type: ignore[arg-type]
        for bad in (0, -5):
            with pytest.raises(ValueError, match="poll_delay_ms"):
                w.watch_tree(tmp_dir, poll_delay_ms=bad)
        for wrong in ("300", 1.5, True, None):
            with pytest.raises(TypeError, match="poll_delay_ms"):
                w.watch_tree(tmp_dir, poll_delay_ms=wrong)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="index_files"):
            w.watch_tree(tmp_dir, backend="poll", index_files=False)
        assert w.watch_count == 0
        # The binding's own checks.
        tree = w.watch_tree(tmp_dir)
        with pytest.raises(ValueError, match="tree's root"):
            w._poll_add(12345, [b""], 10)
        with pytest.raises(FileNotFoundError):
            w._poll_add(tree.wd, [b"no/such"], 10)
        with pytest.raises(TypeError):
            w._poll_add(tree.wd, [""], 10)  # type: ignore[list-item]
        with pytest.raises(ValueError, match="positive"):
            w._poll_add(tree.wd, [b""], 0)
        assert w._poll_add(tree.wd, [b""], 10) == 1
        assert w._poll_add(tree.wd, [b""], 10) == 1
    with pytest.raises(ValueError, match="contradicts"):
        next(inotipy.watch(tmp_dir, force_polling=True, backend="inotify"))
    with pytest.raises(ValueError, match="'auto', 'inotify', 'poll'"):
        next(inotipy.watch(tmp_dir, backend="nope"))


def test_auto_without_an_index_on_a_blind_mount(
    fuse: tuple[Path, Path],
) -> None:
    _, mnt = fuse
    with Watcher() as w:
        with pytest.raises(ValueError, match="index_files"):
            w.watch_tree(mnt, index_files=False)
        w.watch_tree(mnt, index_files=False, backend="inotify")


# ---- awatch() and watch() ---------------------------------------------------


async def _first_changes(
    mnt: Path, back: Path, timeout_ms: int, force_polling: bool | None
) -> set[Any]:
    """The first set awatch() yields after f.py is made behind the mount
    (its first wait, a timeout, says the watches are in place)."""
    changes_of = inotipy.awatch(
        mnt,
        debounce=200,
        step=20,
        rust_timeout=timeout_ms,
        yield_on_timeout=True,
        poll_delay_ms=FAST_MS,
        force_polling=force_polling,
    )
    async with contextlib.aclosing(changes_of):
        async for changes in changes_of:
            if not changes and not (back / "f.py").exists():
                write(back / "f.py")
                continue
            return changes
    raise AssertionError("awatch ended")


async def _one_group_of_two(mnt: Path, back: Path, step_ms: int) -> Any:
    """The set awatch() yields once a.py is made behind the mount and, a
    tenth of a second later (from a thread), b.py: both must be in it,
    as the group gathered after a.py keeps polling."""
    import threading

    changes_of = inotipy.awatch(
        mnt,
        debounce=10 * step_ms,
        step=step_ms,
        rust_timeout=step_ms,
        yield_on_timeout=True,
        poll_delay_ms=FAST_MS,
        force_polling=True,
    )
    timer = threading.Timer(0.1, write, (back / "b.py",))
    try:
        async with contextlib.aclosing(changes_of):
            async for changes in changes_of:
                if not changes and not (back / "a.py").exists():
                    write(back / "a.py")
                    timer.start()
                    continue
                if changes:
                    return changes
    finally:
        timer.cancel()
        timer.join()
    raise AssertionError("awatch ended")


def test_a_group_keeps_polling_while_it_is_gathered(
    run: Any, fuse: tuple[Path, Path]
) -> None:
    """On every loop (trio polls no tree by a loop timer: the group's
    slices do), a change a poll finds while a group is gathered joins it."""
    back, mnt = fuse
    changes = run(_one_group_of_two, mnt, back, int(scaled(600)))
    assert changes == {
        (Change.added, os.path.join(mnt, "a.py")),
        (Change.added, os.path.join(mnt, "b.py")),
    }


@pytest.mark.parametrize(
    ("env", "force", "polls"),
    [
        (None, None, True),  # auto: the mount is FUSE
        (None, True, True),
        (None, False, False),
        ("true", None, True),
        ("1", None, True),
        ("FALSE", None, False),
        ("disabled", None, False),
        ("false", True, True),  # the argument wins
        ("true", False, False),
        ("", None, True),  # empty: as unset
    ],
)
def test_awatch_force_polling(
    run: Any,
    fuse: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    env: str | None,
    force: bool | None,
    polls: bool,
) -> None:
    back, mnt = fuse
    if env is None:
        monkeypatch.delenv("WATCHFILES_FORCE_POLLING", raising=False)
    else:
        monkeypatch.setenv("WATCHFILES_FORCE_POLLING", env)
    timeout = int(scaled(1000 if polls else 600))
    changes = run(_first_changes, mnt, back, timeout, force)
    path = os.path.join(mnt, "f.py")
    if polls:
        assert changes == {(Change.added, path)}
    else:
        assert changes == set()


def test_blocking_watch_polls(
    fuse: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    back, mnt = fuse
    monkeypatch.setenv("WATCHFILES_POLL_DELAY_MS", "40")
    start = time.monotonic()
    for changes in inotipy.watch(
        mnt,
        debounce=200,
        step=20,
        rust_timeout=200,
        yield_on_timeout=True,
        force_polling=True,
        poll_delay_ms=600_000,  # the environment wins, as in watchfiles
    ):
        if not changes:
            write(back / "f.py")
            continue
        assert changes == {(Change.added, os.path.join(mnt, "f.py"))}
        break
    assert time.monotonic() - start < scaled(3)


# ---- the command line -------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "inotipy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("flags", [["--backend", "poll"], ["--poll"], []])
def test_cli_backend(fuse: tuple[Path, Path], flags: list[str]) -> None:
    back, mnt = fuse
    proc = _cli(
        "-r", "-n", "1", "--poll-delay-ms", str(FAST_MS),
        "--format", "%e %w%f", *flags, str(mnt),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Watches established" in line:
                break
        write(back / "f")
        out, err = proc.communicate(timeout=scaled(10))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    # The poll's events carry IN.RESCAN (0x10000), shown in hex.
    assert out.strip() == f"CREATE,0x00010000 {mnt}/f"


def test_cli_backend_bad_values(tmp_dir: Path) -> None:
    for args in (
        ["--backend", "kqueue"],
        ["--poll-delay-ms", "0"],
        ["--poll-delay-ms", "x"],
        ["--poll", "--backend", "inotify"],
    ):
        proc = _cli("-r", "-t", "1", *args, str(tmp_dir))
        out, err = proc.communicate(timeout=scaled(10))
        assert proc.returncode != 0, args
        assert "Traceback" not in err
        assert "backend" in err or "poll" in err, err


# ---- the exact-tree oracle, on a poll ---------------------------------------


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_oracle_behind_a_fuse_mount(
    run: Any, tmp_path: Path, seed: int
) -> None:
    """Random churn of two processes in the backing directory, which only
    polls can see: once quiet, the model built from the events equals the
    disk (a poll sees no transient state, but misses nothing that
    stays)."""
    problem = _fuse_problem()
    if problem is not None:
        pytest.skip(problem)
    import oracle

    config = oracle.Config(
        seed=seed,
        procs=2,
        ops=40,
        base=str(tmp_path),
        fuse=True,
        poll_delay_ms=FAST_MS,
    )
    result = run(oracle.run_once, config)
    assert result.exact, result.report(events=False)
    assert all(e.mask & IN.RESCAN for e in result.events), "inotify saw it"
