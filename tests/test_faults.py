"""Faults: limits reached, filesystems going away, fork(), closing at awkward
moments, loops closed under the watcher, user code raising between events.
In each case the watcher reports clearly, loses nothing it could deliver,
and the program goes on.

Tests marked root change machine-wide /proc/sys/fs/inotify limits only for
the few lines that need them (conftest's inotify_sysctl puts them back).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inotipy import IN, Watcher, WatcherClosedError


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


# ---- limits -----------------------------------------------------------------


@pytest.mark.root
def test_enospc_when_the_watch_limit_is_reached(
    run, tmp_path: Path, inotify_sysctl, kernel_watches, wait_for_events
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    async def main() -> None:
        with Watcher() as watcher:
            watch = watcher.watch(first, IN.CREATE)
            # Root holds at least this one watch: a limit of 1 is reached.
            with inotify_sysctl.limit("max_user_watches", 1):
                with pytest.raises(OSError) as info:
                    watcher.watch(second, IN.CREATE)
                # The existing watch goes on while the limit holds.
                (first / "during").touch()
                [event] = await wait_for_events(watcher, 1)
                assert (event.watch, event.pathname) == (watch, "during")
            assert info.value.errno == errno.ENOSPC
            assert "/proc/sys/fs/inotify/max_user_watches" in str(info.value)
            assert info.value.filename == str(second)
            # Nothing half-made: no Watch, no kernel watch, no table entry.
            assert watcher.watches == [watch]
            assert list(kernel_watches(watcher.fd)) == [watch.wd]
            # With the limit back, the same call works.
            other = watcher.watch(second, IN.CREATE)
            (second / "after").touch()
            [event] = await wait_for_events(watcher, 1)
            assert (event.watch, event.pathname) == (other, "after")

    run(main)


_EMFILE_CHILD = r"""
import errno, json, os, resource, sys
from inotipy import IN, Watcher

directory = sys.argv[1]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(64, hard), hard))
held = []
while True:
    try:
        held.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
    except OSError as e:
        assert e.errno == errno.EMFILE, e
        break
out = {}
try:
    Watcher()
except OSError as e:
    out.update(type=type(e).__name__, errno=e.errno, message=str(e))
else:
    out["type"] = None
for fd in held:
    os.close(fd)
# Descriptors again: the same process makes a watcher and gets events.
with Watcher() as watcher:
    watcher.watch(directory, IN.CREATE)
    open(os.path.join(directory, "after"), "w").close()
    event = watcher.get_nowait()
    out["after"] = None if event is None else event.pathname
print(json.dumps(out))
"""


def test_emfile_when_descriptors_run_out(tmp_dir: Path, scaled) -> None:
    """RLIMIT_NOFILE is lowered in a child process, which then uses up its
    descriptors: creating a watcher fails with EMFILE and a message that
    names both causes; once descriptors are free again it works."""
    proc = subprocess.run(
        [sys.executable, "-c", _EMFILE_CHILD, str(tmp_dir)],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["type"] == "OSError", out
    assert out["errno"] == errno.EMFILE
    assert "too many open files" in out["message"]
    assert "/proc/sys/fs/inotify/max_user_instances" in out["message"]
    assert out["after"] == "after"


@pytest.mark.root
def test_emfile_when_max_user_instances_is_reached(
    run, tmp_dir: Path, inotify_sysctl, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher() as first:
            watch = first.watch(tmp_dir, IN.CREATE)
            # Root holds at least this instance: a limit of 1 is reached.
            with inotify_sysctl.limit("max_user_instances", 1):
                with pytest.raises(OSError) as info:
                    Watcher()
                (tmp_dir / "during").touch()
                [event] = await wait_for_events(first, 1)
                assert (event.watch, event.pathname) == (watch, "during")
            assert info.value.errno == errno.EMFILE
            assert "/proc/sys/fs/inotify/max_user_instances" in str(info.value)
            with Watcher() as second:
                second.watch(tmp_dir, IN.DELETE)
                (tmp_dir / "during").unlink()
                [event] = await wait_for_events(second, 1)
                assert event.mask == IN.DELETE

    run(main)


# ---- the watched object goes away -------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs mounted on tmp_path/mnt, unmounted at teardown if the
    test did not."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "inotipy-test", str(mnt)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.root
def test_unmount_delivers_unmount_then_ignored(
    run, tmp_dir: Path, tmpfs: Path, kernel_watches, wait_for_events
) -> None:
    (tmpfs / "sub").mkdir()
    (tmpfs / "file").touch()

    async def main() -> None:
        with Watcher() as watcher:
            on_mount = [
                watcher.watch(tmpfs, IN.ALL_EVENTS),
                watcher.watch(tmpfs / "sub", IN.CREATE),
                watcher.watch(tmpfs / "file", IN.MODIFY),
            ]
            outside = watcher.watch(tmp_dir, IN.CREATE)
            subprocess.run(["umount", str(tmpfs)], check=True, timeout=30)

            def all_ignored(events: list[Any]) -> bool:
                return sum(e.mask == IN.IGNORED for e in events) == len(
                    on_mount
                )

            events = await wait_for_events(watcher, all_ignored)
            for watch in on_mount:
                masks = [
                    e.mask & ~IN.ISDIR for e in events if e.watch is watch
                ]
                assert masks == [IN.UNMOUNT, IN.IGNORED], (watch, events)
                assert not watch.valid
                watch.remove()  # a no-op now
                assert "Watch(" in repr(watch)
            # The tables are clean: ours and the kernel's.
            assert watcher.watches == [outside]
            assert list(kernel_watches(watcher.fd)) == [outside.wd]
            # The watch elsewhere is untouched.
            (tmp_dir / "after").touch()
            [event] = await wait_for_events(watcher, 1)
            assert (event.watch, event.pathname) == (outside, "after")

    run(main)


def test_watched_directory_deleted_and_recreated(
    run, tmp_path: Path, kernel_watches, wait_for_events
) -> None:
    target = tmp_path / "target"
    target.mkdir()

    async def main() -> None:
        with Watcher() as watcher:
            old = watcher.watch(target, IN.CREATE | IN.DELETE_SELF)
            (target / "f1").touch()
            (target / "f1").unlink()
            target.rmdir()
            events = await wait_for_events(
                watcher, lambda evs: bool(evs) and evs[-1].mask == IN.IGNORED
            )
            assert [(e.mask, e.pathname) for e in events] == [
                (IN.CREATE, "f1"),
                (IN.DELETE_SELF, ""),
                (IN.IGNORED, ""),
            ]
            assert all(e.watch is old for e in events)
            assert not old.valid and watcher.watches == []
            assert kernel_watches(watcher.fd) == {}

            # The same path, a new directory: a new watch, a working one.
            target.mkdir()
            new = watcher.watch(target, IN.CREATE)
            assert new is not old and new.valid and new.wd != old.wd
            (target / "f2").touch()
            [event] = await wait_for_events(watcher, 1)
            assert (event.watch, event.pathname) == (new, "f2")
            assert watcher.watches == [new]
            old.remove()  # idempotent on the dead one, and harmless to new
            assert new.valid
            assert f":{old.wd})" in repr(old)
            assert await watcher.get(0) is None

    run(main)


# ---- fork -------------------------------------------------------------------


@pytest.mark.asyncio_only
@pytest.mark.parametrize("child_does", ["close", "nothing"])
def test_fork_child_does_not_break_the_parent(
    run, tmp_dir: Path, scaled, child_does: str
) -> None:
    """A forked child gets a copy of the inotify descriptor and of the
    loop's epoll descriptor, both shared with the parent.  When the child
    closes its watcher, it must not take the descriptor out of the shared
    epoll set (the parent would never be woken again), and it must not read
    the parent's events."""

    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            seen: list[str] = []
            arrived = asyncio.Event()

            async def consume() -> None:
                async for event in watcher:
                    seen.append(event.pathname)
                    arrived.set()

            consumer = asyncio.ensure_future(consume())
            (tmp_dir / "before").touch()
            await asyncio.wait_for(arrived.wait(), scaled(5))
            arrived.clear()
            (tmp_dir / "at-fork").touch()  # queued in the kernel at fork()
            with warnings.catch_warnings():
                # 3.12+ warns about fork() in a process with threads.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: never returns into pytest
                status = 0
                try:
                    if child_does == "close":
                        watcher.close()
                        status = 0 if watcher.closed else 3
                finally:
                    os._exit(status)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            (tmp_dir / "after").touch()
            while len(seen) < 3:
                await asyncio.wait_for(arrived.wait(), scaled(5))
                arrived.clear()
            assert seen == ["before", "at-fork", "after"]
            watcher.close()
            await asyncio.wait_for(consumer, scaled(5))

    run(main)


# ---- closing at awkward moments ---------------------------------------------


def test_close_from_inside_async_for(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        watcher = Watcher()
        watcher.watch(tmp_dir, IN.CREATE)
        fd = watcher.fd
        for name in ("f1", "f2", "f3"):
            (tmp_dir / name).touch()
        seen = []
        async for event in watcher:
            seen.append(event.pathname)
            watcher.close()  # the handler of the first event closes
        assert seen == ["f1"]
        assert watcher.closed and not _fd_is_open(fd)
        with pytest.raises(WatcherClosedError):
            await watcher.get(scaled(1))

    run(main)


@pytest.mark.asyncio_only
def test_close_from_a_done_callback_while_others_wait(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        watcher = Watcher()
        watcher.watch(tmp_dir, IN.CREATE)
        first = asyncio.ensure_future(watcher.get())
        second = asyncio.ensure_future(watcher.get(scaled(30)))
        third = asyncio.ensure_future(watcher.get())
        await asyncio.sleep(0)  # all three wait
        # The callback runs when the first get() is resolved, before the
        # second has had a chance to run.
        first.add_done_callback(lambda _: watcher.close())
        (tmp_dir / "f1").touch()
        (tmp_dir / "f2").touch()
        results = await asyncio.wait_for(
            asyncio.gather(first, second, third, return_exceptions=True),
            scaled(5),
        )
        assert results[0] is not None and results[0].pathname == "f1"
        # f2 may have been handed to the second waiter before the close.
        assert isinstance(results[2], WatcherClosedError), results
        if not isinstance(results[1], WatcherClosedError):
            assert results[1].pathname == "f2"
        assert watcher.closed

    run(main)


def test_close_from_an_event_handler_mid_batch(run, tmp_dir: Path) -> None:
    async def main() -> None:
        watcher = Watcher()
        watch = watcher.watch(tmp_dir, IN.CREATE)
        for name in ("f1", "f2", "f3"):
            (tmp_dir / name).touch()
        handled = []
        for event in watcher.get_batch_nowait():
            handled.append((event.pathname, event.watch is watch))
            watcher.close()  # the rest of the batch is already ours
        assert handled == [("f1", True), ("f2", True), ("f3", True)]
        assert not watch.valid
        with pytest.raises(WatcherClosedError):
            watcher.get_batch_nowait()

    run(main)


@pytest.mark.asyncio_only
def test_close_while_other_tasks_await(run, tmp_dir: Path, scaled) -> None:
    """Every way of waiting ends promptly when another task closes the
    watcher: get() raises, async for and iter_async() end."""

    async def main() -> None:
        watcher = Watcher()
        watcher.watch(tmp_dir, IN.CREATE)

        async def async_for() -> str:
            async for _ in watcher:
                pass
            return "ended"

        async def iter_async() -> str:
            async for _ in watcher.iter_async(timeout=scaled(30)):
                pass
            return "ended"

        waiting = [
            asyncio.ensure_future(watcher.get()),
            asyncio.ensure_future(watcher.get(scaled(30))),
            asyncio.ensure_future(watcher.get_batch()),
            asyncio.ensure_future(async_for()),
            asyncio.ensure_future(iter_async()),
        ]
        cancelled = asyncio.ensure_future(watcher.get())
        await asyncio.sleep(0)
        cancelled.cancel()

        async def closer() -> None:
            await asyncio.sleep(0)
            watcher.close()

        await closer()
        results = await asyncio.wait_for(
            asyncio.gather(*waiting, return_exceptions=True), scaled(5)
        )
        assert [type(r).__name__ for r in results[:3]] == [
            "WatcherClosedError"
        ] * 3
        assert results[3:] == ["ended", "ended"]
        await asyncio.gather(cancelled, return_exceptions=True)
        assert cancelled.cancelled()
        with pytest.raises(WatcherClosedError):
            watcher.get_nowait()

    run(main)


# ---- the loop closed under the watcher --------------------------------------


@pytest.mark.asyncio_only
def test_loop_closed_under_pending_waiters(run, tmp_dir: Path, scaled) -> None:
    """loop.close() without cancelling the tasks that wait in get(): the
    watcher forgets those waiters (their loop can never resume them), reads
    synchronously, serves a new loop, and closes without an error."""
    watcher = Watcher()
    watcher.watch(tmp_dir, IN.CREATE)
    loop = run.factory()
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))

    async def start() -> list[asyncio.Future[Any]]:
        waiting = [
            asyncio.ensure_future(watcher.get()),
            asyncio.ensure_future(watcher.get(scaled(60))),
        ]
        await asyncio.sleep(0)
        return waiting

    waiting = loop.run_until_complete(start())
    loop.close()
    assert not any(task.done() for task in waiting)

    (tmp_dir / "f1").touch()
    event = watcher.get_nowait()
    assert event is not None and event.pathname == "f1"

    async def main() -> None:
        (tmp_dir / "f2").touch()
        event = await watcher.get(scaled(5))
        assert event is not None and event.pathname == "f2"

    run(main)
    watcher.close()
    # The abandoned tasks go away quietly, as far as we are concerned:
    # asyncio itself reports a task destroyed while pending.
    for task in waiting:
        task.get_coro().close()
    del waiting
    gc.collect()
    assert all(
        "destroyed but it is pending" in c["message"] for c in contexts
    ), contexts


@pytest.mark.asyncio_only
def test_loop_closed_then_watcher_collected(run, tmp_dir: Path) -> None:
    """The last reference to a watcher dropped after its loop closed: the
    ResourceWarning, and nothing else."""
    loop = run.factory()
    holder: list[Watcher] = []

    async def bind() -> int:
        watcher = Watcher()
        holder.append(watcher)
        watcher.watch(tmp_dir, IN.CREATE)
        assert await watcher.get(0.001) is None  # waits: binds to this loop
        return watcher.fd

    fd = loop.run_until_complete(bind())
    loop.close()
    with pytest.warns(ResourceWarning):
        holder.clear()
        gc.collect()
    assert not _fd_is_open(fd)


# ---- user code raising between events ---------------------------------------


class _UserError(Exception):
    pass


def test_exceptions_in_the_loop_body_lose_nothing(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            names = [f"f{i}" for i in range(10)]
            for name in names:
                (tmp_dir / name).touch()
            seen: list[str] = []
            for fail_after in (2, 5, 6):
                with pytest.raises(_UserError):
                    async for event in watcher:
                        seen.append(event.pathname)
                        if len(seen) == fail_after:
                            raise _UserError(event.pathname)
            async for event in watcher:
                seen.append(event.pathname)
                if len(seen) == len(names):
                    break
            assert seen == names
            assert await watcher.get(0) is None

    run(main)


@pytest.mark.asyncio_only
def test_timeouts_and_failing_tasks_between_events(
    run, tmp_dir: Path, scaled, wait_for_events
) -> None:
    """wait_for() timing out around get(), and a consumer task that dies
    with an exception, cost no event: the next consumer has them all."""

    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            for _ in range(5):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(watcher.get(), 0.001)
            (tmp_dir / "f1").touch()

            async def failing_consumer() -> None:
                await watcher.get(scaled(5))
                raise _UserError("handler failed")

            with pytest.raises(_UserError):
                await asyncio.ensure_future(failing_consumer())
            for _ in range(5):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(watcher.get(), 0.001)
            (tmp_dir / "f2").touch()
            (tmp_dir / "f3").touch()
            events = await wait_for_events(watcher, 2)
            assert [e.pathname for e in events] == ["f2", "f3"]

    run(main)
