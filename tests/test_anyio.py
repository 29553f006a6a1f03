"""The API on every loop: written with anyio, run by the `run` fixture on
asyncio, uvloop and trio.

These are the counterparts, on every loop, of the tests elsewhere that use
asyncio's own API (tasks, futures) and so run on asyncio and uvloop only:
waiters served first come first served, deadlines, cancelling a waiter
without losing its event, closing under waiters, awatch().  Then what only
trio has to keep (a get() is a checkpoint), anyio.run() on both backends,
one watcher moving between asyncio and trio, and the error when no loop
runs at all.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

import inotipy
from inotipy import IN, Change, Watcher, WatcherClosedError
from support import DEFAULT_DEADLINE, scaled

pytest.importorskip("trio")
import trio  # noqa: E402


def _touch(directory: Path, name: str) -> None:
    (directory / name).touch()


async def _blocked() -> None:
    """Returns once every other task waits (in get(), say)."""
    await anyio.wait_all_tasks_blocked()


# ---- waiters ----------------------------------------------------------------


def test_a_waiting_task_gets_the_next_event(run, tmp_dir: Path) -> None:
    async def main() -> None:
        got: list[Any] = []
        with Watcher() as watcher:
            watch = watcher.watch(tmp_dir, IN.CREATE)

            async def wait() -> None:
                got.append(await watcher.get())

            with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait)
                    await _blocked()
                    _touch(tmp_dir, "f1")
                    _touch(tmp_dir, "f2")
                assert (got[0].watch, got[0].mask, got[0].pathname) == (
                    watch,
                    IN.CREATE,
                    "f1",
                )
                assert (await watcher.get()).pathname == "f2"

    run(main)


def test_waiters_are_served_first_come_first_served(
    run, tmp_dir: Path
) -> None:
    async def main() -> None:
        got: dict[int, str] = {}
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)

            async def wait(i: int) -> None:
                got[i] = (await watcher.get()).pathname

            with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
                async with anyio.create_task_group() as tg:
                    for i in range(5):
                        tg.start_soon(wait, i)
                        await _blocked()  # waiting, in this order
                    for i in range(5):
                        _touch(tmp_dir, f"f{i}")
        assert got == {i: f"f{i}" for i in range(5)}

    run(main)


def test_a_timeout_is_a_deadline(run, tmp_dir: Path) -> None:
    """A waiter with a timeout returns None at its deadline, while the
    events that come meanwhile go to the waiter ahead of it."""

    async def main() -> None:
        got: list[Any] = []
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)

            async def ahead() -> None:
                got.append((await watcher.get()).pathname)

            async def timed() -> None:
                start = time.monotonic()
                assert await watcher.get(0.3) is None
                assert time.monotonic() - start >= 0.28
                got.append(None)

            with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
                async with anyio.create_task_group() as tg:
                    for _ in range(3):
                        tg.start_soon(ahead)
                        await _blocked()
                    tg.start_soon(timed)
                    await _blocked()
                    for i in range(3):
                        await anyio.sleep(0.05)
                        _touch(tmp_dir, f"f{i}")
        assert got == ["f0", "f1", "f2", None]

    run(main)


def test_get_zero_polls_and_a_timeout_passes(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            assert await watcher.get(0) is None
            assert await watcher.get(0.01) is None
            _touch(tmp_dir, "f1")
            assert (await watcher.get(0)).pathname == "f1"
            assert await watcher.get(-1) is None

    run(main)


# ---- cancelling -------------------------------------------------------------


def test_a_cancelled_waiter_loses_nothing(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            with anyio.move_on_after(0.05) as scope:
                await watcher.get()
            assert scope.cancelled_caught
            async with anyio.create_task_group() as tg:
                tg.start_soon(watcher.get)
                await _blocked()
                tg.cancel_scope.cancel()
            _touch(tmp_dir, "f1")
            with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
                assert (await watcher.get()).pathname == "f1"

    run(main)


def test_cancelling_while_events_arrive_loses_nothing(
    run, tmp_dir: Path
) -> None:
    """Waiters are cancelled at every point around the arrival of their
    event (before the loop has read it, after it has been handed over,
    while it is ready): each event is taken exactly once, in order."""

    async def main() -> None:
        taken: list[str] = []
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)

            async def wait() -> None:
                taken.append((await watcher.get()).pathname)

            for i in range(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait)
                    await _blocked()
                    _touch(tmp_dir, f"f{i:02}")
                    for _ in range(i % 4):
                        await anyio.sleep(0)
                    tg.cancel_scope.cancel()
            with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
                while len(taken) < 60:
                    taken.append((await watcher.get()).pathname)
            assert await watcher.get(0) is None
        assert taken == [f"f{i:02}" for i in range(60)]

    run(main)


# ---- closing ----------------------------------------------------------------


def test_close_wakes_every_waiter(run, tmp_dir: Path) -> None:
    async def main() -> None:
        outcomes: list[Any] = []
        watcher = Watcher()
        watcher.watch(tmp_dir, IN.CREATE)

        async def wait(timeout: float | None) -> None:
            try:
                await watcher.get(timeout)
            except WatcherClosedError as exc:
                outcomes.append(exc)

        async def iterate() -> None:
            async for event in watcher:
                outcomes.append(event)
            outcomes.append("ended")

        with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait, None)
                tg.start_soon(wait, 30)
                tg.start_soon(iterate)
                await _blocked()
                watcher.close()
        assert len(outcomes) == 3 and "ended" in outcomes
        outcomes.remove("ended")
        assert all(isinstance(o, WatcherClosedError) for o in outcomes)
        with pytest.raises(WatcherClosedError):
            await watcher.get()

    run(main)


def test_async_for_and_get_batch(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            for name in ("a", "b", "c", "d"):
                _touch(tmp_dir, name)
            seen = []
            async for event in watcher:
                seen.append(event.pathname)
                if len(seen) == 2:
                    break
            batch = await watcher.get_batch(scaled(DEFAULT_DEADLINE))
            assert seen + [e.pathname for e in batch] == ["a", "b", "c", "d"]
            assert await watcher.get_batch(0.01) == []

    run(main)


def test_trees(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch_tree(tmp_dir, IN.CREATE)
            os.makedirs(tmp_dir / "a" / "b")
            _touch(tmp_dir / "a" / "b", "f")
            names = []
            with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
                while len(names) < 3:
                    names.append((await watcher.get()).pathname)
        assert names == ["a", "a/b", "a/b/f"]

    run(main)


# ---- awatch() ---------------------------------------------------------------


def test_awatch_with_a_stop_event(run, tmp_dir: Path) -> None:
    async def main() -> None:
        stop = anyio.Event()
        sets: list[set[Any]] = []

        async def change() -> None:
            while not sets:
                _touch(tmp_dir, "f")
                await anyio.sleep(0.05)

        with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
            async with anyio.create_task_group() as tg:
                tg.start_soon(change)
                async for changes in inotipy.awatch(
                    tmp_dir, debounce=200, step=20, stop_event=stop
                ):
                    sets.append(changes)
                    stop.set()
        assert (Change.added, str(tmp_dir / "f")) in sets[0]

    run(main)


def test_awatch_stops_on_a_threading_event(run, tmp_dir: Path) -> None:
    async def main() -> None:
        stop = threading.Event()
        stop.set()
        with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
            async for _ in inotipy.awatch(tmp_dir, stop_event=stop):
                pytest.fail("a set stop event yields nothing")

    run(main)


def test_awatch_times_out_on_the_loops_clock(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with anyio.fail_after(scaled(DEFAULT_DEADLINE)):
            agen = inotipy.awatch(
                tmp_dir, rust_timeout=50, yield_on_timeout=True
            )
            try:
                assert await agen.__anext__() == set()
            finally:
                await agen.aclose()

    run(main)


# ---- trio only --------------------------------------------------------------


def test_on_trio_get_is_a_checkpoint(tmp_dir: Path) -> None:
    """trio's rule for its own functions: a cancelled scope is noticed by
    a get() even when an event is ready, and the event stays queued."""

    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            _touch(tmp_dir, "f1")
            with trio.CancelScope() as scope:
                scope.cancel()
                await watcher.get()
                pytest.fail("get() went past a cancelled scope")
            with trio.CancelScope() as scope:
                scope.cancel()
                async for _ in watcher:
                    pytest.fail("async for went past a cancelled scope")
            assert (await watcher.get()).pathname == "f1"

    trio.run(main)


def test_on_trio_a_flood_of_events_can_be_cancelled(tmp_dir: Path) -> None:
    """A consumer that never runs dry still yields to trio: its deadline
    ends it, and the other tasks run meanwhile."""

    async def main() -> None:
        scope = trio.CancelScope()

        async def ticker() -> None:
            # Runs only when the consumer yields.
            for _ in range(10):
                await trio.sleep(0)
            scope.cancel()

        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            for i in range(500):
                _touch(tmp_dir, f"f{i}")
            taken = 0
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ticker)
                with scope:
                    async for _ in watcher:
                        taken += 1
            assert 0 < taken < 500
            rest = watcher.get_batch_nowait()
            assert taken + len(rest) == 500

    trio.run(main)


def test_on_trio_close_wakes_a_task_waiting_for_the_descriptor(
    tmp_dir: Path,
) -> None:
    async def main() -> None:
        watcher = Watcher()
        watcher.watch(tmp_dir, IN.CREATE)
        with trio.fail_after(scaled(DEFAULT_DEADLINE)):
            async with trio.open_nursery() as nursery:

                async def wait() -> None:
                    with pytest.raises(WatcherClosedError):
                        await watcher.get()

                nursery.start_soon(wait)
                await trio.testing.wait_all_tasks_blocked()
                watcher.close()

    import trio.testing

    trio.run(main)


def test_on_trio_timeouts_follow_trios_clock(tmp_dir: Path) -> None:
    """A get(3600) under trio's autojump clock ends at once: the deadline
    is on trio's clock, not the wall clock."""
    import trio.testing

    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            start = trio.current_time()
            assert await watcher.get(3600) is None
            assert trio.current_time() - start == pytest.approx(3600)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# ---- anyio.run, and one watcher on both ------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_run_on_either_backend(tmp_dir: Path, backend: str) -> None:
    async def main() -> list[str]:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            names = []
            async with anyio.create_task_group() as tg:

                async def consume() -> None:
                    async for event in watcher:
                        names.append(event.pathname)
                        if len(names) == 2:
                            return

                tg.start_soon(consume)
                await _blocked()
                _touch(tmp_dir, "a")
                _touch(tmp_dir, "b")
            return names

    assert anyio.run(main, backend=backend) == ["a", "b"]


def test_one_watcher_on_asyncio_then_trio_then_asyncio(tmp_dir: Path) -> None:
    with Watcher() as watcher:
        watcher.watch(tmp_dir, IN.CREATE)

        async def one(name: str) -> str:
            async with anyio.create_task_group() as tg:
                got: list[str] = []

                async def wait() -> None:
                    got.append((await watcher.get()).pathname)

                tg.start_soon(wait)
                await _blocked()
                _touch(tmp_dir, name)
            return got[0]

        assert asyncio.run(one("a")) == "a"
        assert trio.run(one, "b") == "b"
        assert asyncio.run(one("c")) == "c"
        assert trio.run(one, "d") == "d"


# ---- no loop at all ---------------------------------------------------------


def test_waiting_with_no_loop_says_what_is_needed(tmp_dir: Path) -> None:
    with Watcher() as watcher:
        watcher.watch(tmp_dir, IN.CREATE)
        waiter = watcher.get().__await__()
        with pytest.raises(RuntimeError, match="asyncio.*trio"):
            waiter.send(None)
        # What is ready needs no loop, as before.
        _touch(tmp_dir, "f")
        with pytest.raises(StopIteration) as stop:
            watcher.get().__await__().send(None)
        assert stop.value.value.pathname == "f"


def test_awatch_with_no_loop_says_what_is_needed(tmp_dir: Path) -> None:
    agen = inotipy.awatch(tmp_dir)
    step = agen.__anext__()
    with pytest.raises(RuntimeError, match="asyncio.*trio"):
        step.send(None)
    step.close()
