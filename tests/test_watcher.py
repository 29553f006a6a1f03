"""The Watcher object: creation, its descriptor, closing and its lifetime."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import gc
import inspect
import os
import threading
from pathlib import Path

import pytest

from inotipy import IN, Watcher, WatcherClosedError


def _is_closed_fd(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


# ---- creation ---------------------------------------------------------------


def test_create_is_a_plain_classmethod() -> None:
    assert not inspect.iscoroutinefunction(Watcher.create)
    with Watcher.create() as watcher:
        assert isinstance(watcher, Watcher)
        assert not inspect.isawaitable(watcher)


def test_signatures() -> None:
    for fn in (Watcher.create, Watcher):
        params = inspect.signature(fn).parameters
        assert list(params) == ["flags", "loop", "max_queued"]
        assert params["flags"].default == 0
        assert params["loop"].default is None
        assert params["max_queued"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["max_queued"].default == 262144


def test_max_queued_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        Watcher(0, None, 100)


def test_created_outside_a_loop_binds_to_the_first(
    run, tmp_dir: Path, scaled
) -> None:
    with Watcher.create() as watcher:
        watcher.watch(tmp_dir, IN.CREATE)

        async def main() -> None:
            (tmp_dir / "f1").touch()
            event = await watcher.get(scaled(5))
            assert event is not None and event.pathname == "f1"

        run(main)


@pytest.mark.asyncio_only
def test_watcher_outlives_its_first_loop(run, tmp_dir: Path, scaled) -> None:
    """Bound to the loop of a first run, it serves a later run once that
    loop has closed (a script calling asyncio.run() twice)."""
    names = iter(["f1", "f2", "f3", "f4"])

    async def main() -> None:
        waiter = asyncio.ensure_future(watcher.get(scaled(5)))
        await asyncio.sleep(0)  # suspended: the watcher binds to this loop
        name = next(names)
        (tmp_dir / name).touch()
        event = await waiter
        assert event is not None and event.pathname == name

    with Watcher.create() as watcher:
        watcher.watch(tmp_dir, IN.CREATE)
        run(main)
        run(main)


def test_constructor_works_like_create(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            (tmp_dir / "f1").touch()
            event = await watcher.get(scaled(5))
            assert event is not None and event.pathname == "f1"

    run(main)


@pytest.mark.asyncio_only
def test_loop_argument(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        with Watcher.create(loop=asyncio.get_running_loop()) as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            (tmp_dir / "f1").touch()
            event = await watcher.get(scaled(5))
            assert event is not None and event.pathname == "f1"

    run(main)


@pytest.mark.parametrize(
    "flags", [0, IN.CLOEXEC, IN.NONBLOCK, IN.CLOEXEC | IN.NONBLOCK]
)
def test_fd_is_always_cloexec_and_nonblocking(flags: int) -> None:
    with Watcher.create(flags) as watcher:
        assert fcntl.fcntl(watcher.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert fcntl.fcntl(watcher.fd, fcntl.F_GETFL) & os.O_NONBLOCK
    with Watcher(flags=flags) as watcher:
        assert fcntl.fcntl(watcher.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert fcntl.fcntl(watcher.fd, fcntl.F_GETFL) & os.O_NONBLOCK


@pytest.mark.parametrize("flags", [IN.CREATE, 1, 1 << 30, IN.CLOEXEC | 0x4])
def test_unknown_flag_bits_are_rejected(flags: int) -> None:
    with pytest.raises(ValueError):
        Watcher.create(flags)
    with pytest.raises(ValueError):
        Watcher(flags)


def test_fd_is_an_inotify_descriptor() -> None:
    with Watcher.create() as watcher:
        assert watcher.fileno() == watcher.fd
        assert isinstance(watcher.fd, int)
        assert (
            os.readlink(f"/proc/self/fd/{watcher.fd}") == "anon_inode:inotify"
        )


# ---- closing ----------------------------------------------------------------


def test_close_is_idempotent_and_closes_the_fd() -> None:
    watcher = Watcher.create()
    fd = watcher.fd
    assert watcher.closed is False
    watcher.close()
    assert watcher.closed is True
    assert _is_closed_fd(fd)
    watcher.close()
    assert watcher.closed is True


def test_a_failing_close_raises_once_and_still_closes(tmp_dir: Path) -> None:
    watcher = Watcher.create()
    watch = watcher.watch(tmp_dir, IN.CREATE)
    # Closed behind the watcher's back, its descriptor makes close(2) fail
    # with EBADF: the one real way to see close(2) fail.
    os.close(watcher.fileno())
    with pytest.raises(OSError) as info:
        watcher.close()
    assert info.value.errno == errno.EBADF
    # Closed all the same: the watches are released, and the number is
    # not closed a second time (it may belong to someone else by now).
    assert watcher.closed is True
    assert watcher.fd == -1
    assert watch.valid is False
    assert watcher.watches == []
    watcher.close()
    with pytest.raises(WatcherClosedError):
        watcher.fileno()


def test_with_calls_a_subclass_close() -> None:
    calls = []

    class Closing(Watcher):
        def close(self) -> None:
            calls.append(self.closed)
            super().close()

    with Closing() as watcher:
        pass
    assert calls == [False]
    assert watcher.closed


def test_with_does_not_swallow_what_a_subclass_close_returns() -> None:
    class TrueClose(Watcher):
        def close(self) -> bool:  # type: ignore[override]
            super().close()
            return True

    with pytest.raises(KeyError), TrueClose():
        raise KeyError


def test_closed_and_fd_agree_while_close_runs() -> None:
    seen = []

    class Loop(asyncio.SelectorEventLoop):
        def remove_reader(self, fd):  # type: ignore[no-untyped-def]
            # close() calls out while it runs: the watcher is closed.
            seen.append((watcher.closed, watcher.fd, watcher.queued))
            return super().remove_reader(fd)

    loop = Loop()
    try:
        watcher = Watcher(loop=loop)
        watcher.close()
    finally:
        loop.close()
    assert seen == [(True, -1, 0)]


def test_other_threads_use_the_watcher_while_close_has_no_gil(
    tmp_path: Path,
) -> None:
    # close(2) waits an RCU grace period with watches held, and close()
    # lets other threads run meanwhile: what they can reach must not be
    # the core being freed (the getters, the Watches, the collector's
    # traverse).
    dirs = [tmp_path / str(i) for i in range(64)]
    for d in dirs:
        d.mkdir()
    watcher = Watcher.create()
    watches = [watcher.watch(d, IN.CREATE) for d in dirs]
    started, stop = threading.Event(), threading.Event()
    seen = []

    def use() -> None:
        started.set()
        while not stop.is_set():
            seen.append((watcher.fd, watcher.queued, watcher.watch_count))
            seen.append([w.valid for w in watches[:4]])
            seen.append(len(watcher.watches))
            gc.collect()

    thread = threading.Thread(target=use)
    thread.start()
    started.wait()
    try:
        watcher.close()
    finally:
        stop.set()
        thread.join()
    assert watcher.closed
    assert (watcher.fd, watcher.queued, watcher.watch_count) == (-1, 0, 0)
    assert not any(w.valid for w in watches)
    assert seen


def test_with_closes() -> None:
    with Watcher.create() as watcher:
        fd = watcher.fd
        assert not watcher.closed
    assert watcher.closed
    assert _is_closed_fd(fd)


def test_with_closes_on_error() -> None:
    with pytest.raises(KeyError), Watcher.create() as watcher:
        raise KeyError
    assert watcher.closed


def test_async_with_closes(run) -> None:
    async def main() -> None:
        created = Watcher.create()
        async with created as watcher:
            assert watcher is created
            assert not watcher.closed
        assert created.closed

    run(main)


def test_operations_on_a_closed_watcher_raise(run, tmp_dir: Path) -> None:
    async def main() -> None:
        watcher = Watcher.create()
        watcher.watch(tmp_dir, IN.CREATE)
        watcher.close()
        with pytest.raises(WatcherClosedError):
            await watcher.get()
        with pytest.raises(WatcherClosedError):
            await watcher.get(0)
        with pytest.raises(WatcherClosedError):
            watcher.get_nowait()
        with pytest.raises(WatcherClosedError):
            watcher.watch(tmp_dir, IN.CREATE)

    run(main)


@pytest.mark.asyncio_only
def test_close_wakes_every_pending_waiter(run, scaled) -> None:
    async def main() -> None:
        watcher = Watcher.create()
        waiters = [asyncio.ensure_future(watcher.get()) for _ in range(3)]
        waiters.append(asyncio.ensure_future(watcher.get(60)))
        await asyncio.sleep(0)  # lets every waiter start waiting
        assert not any(w.done() for w in waiters)
        watcher.close()
        results = await asyncio.wait_for(
            asyncio.gather(*waiters, return_exceptions=True), scaled(5)
        )
        assert all(isinstance(r, WatcherClosedError) for r in results), results

    run(main)


@pytest.mark.asyncio_only
def test_close_from_another_task_ends_async_for(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        watcher = Watcher.create()
        watcher.watch(tmp_dir, IN.CREATE)
        seen: list[str] = []
        got_one = asyncio.Event()

        async def consume() -> None:
            async for event in watcher:
                seen.append(event.pathname)
                got_one.set()

        consumer = asyncio.ensure_future(consume())
        (tmp_dir / "f1").touch()
        await asyncio.wait_for(got_one.wait(), scaled(5))
        watcher.close()
        await asyncio.wait_for(consumer, scaled(5))
        assert seen == ["f1"]

    run(main)


def test_async_for_on_a_closed_watcher_ends_at_once(run) -> None:
    async def main() -> None:
        watcher = Watcher.create()
        watcher.close()
        async for event in watcher:
            pytest.fail(f"got {event!r}")

    run(main)


def test_get_nowait(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            assert watcher.get_nowait() is None
            (tmp_dir / "f1").touch()
            # Without yielding to the loop: get_nowait() reads the kernel.
            event = watcher.get_nowait()
            assert event is not None and event.pathname == "f1"
            assert watcher.get_nowait() is None

    run(main)


def test_garbage_collected_open_watcher_warns_and_closes_its_fd(
    tmp_dir: Path,
) -> None:
    watcher = Watcher.create()
    watcher.watch(tmp_dir, IN.CREATE)
    fd = watcher.fd
    with pytest.warns(ResourceWarning):
        del watcher
        gc.collect()
    assert _is_closed_fd(fd)


class _WatcherWithState(Watcher):
    """Applications subclass Watcher and keep state on it."""


def test_open_watcher_in_a_reference_cycle_is_collected(tmp_dir: Path) -> None:
    watcher = _WatcherWithState()
    watcher.watch(tmp_dir, IN.CREATE)
    (tmp_dir / "f1").touch()
    # watcher -> its __dict__ -> Event -> Watch -> watcher
    watcher.last_event = watcher.get_nowait()
    assert watcher.last_event is not None
    fd = watcher.fd
    try:
        with pytest.warns(ResourceWarning):
            del watcher
            gc.collect()
        assert _is_closed_fd(fd)
    finally:
        # If the cycle was not collected, close it here so that this failure
        # is not reported a second time as a leaked fd.
        for obj in gc.get_objects():
            if isinstance(obj, _WatcherWithState):
                obj.close()


def test_garbage_collected_closed_watcher_does_not_warn() -> None:
    # filterwarnings = error turns a stray ResourceWarning into a failure.
    watcher = Watcher.create()
    watcher.close()
    del watcher
    gc.collect()


# ---- several watchers -------------------------------------------------------


def test_watchers_are_independent(
    run, tmp_path: Path, wait_for_events
) -> None:
    only_a, only_b, both = (tmp_path / n for n in ("a", "b", "both"))
    for d in (only_a, only_b, both):
        d.mkdir()

    async def main() -> None:
        with Watcher.create() as wa, Watcher.create() as wb:
            assert wa.fd != wb.fd
            wa.watch(only_a, IN.CREATE)
            wb.watch(only_b, IN.CREATE)
            shared_a = wa.watch(both, IN.CREATE)
            shared_b = wb.watch(both, IN.CREATE)
            assert shared_a is not shared_b
            (only_a / "1").touch()
            (only_b / "2").touch()
            (both / "3").touch()
            events_a = await wait_for_events(wa, 2)
            events_b = await wait_for_events(wb, 2)
            assert [e.path for e in events_a] == [
                str(only_a / "1"),
                str(both / "3"),
            ]
            assert [e.path for e in events_b] == [
                str(only_b / "2"),
                str(both / "3"),
            ]
            assert await wa.get(0) is None
            assert await wb.get(0) is None

            wa.close()
            (both / "4").touch()
            [event] = await wait_for_events(wb, 1)
            assert event.path == str(both / "4")
            assert event.watch is shared_b

    run(main)
