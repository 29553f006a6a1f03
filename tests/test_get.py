"""Taking events: get(), waiters, cancellation, iteration and the queue."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from inotipy import IN, STOP_ON, Watcher


def _touch_all(directory: Path, names: list[str]) -> None:
    for name in names:
        (directory / name).touch()


# ---- get() ------------------------------------------------------------------


@pytest.mark.asyncio_only
def test_get_returns_the_next_event(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watch = watcher.watch(tmp_dir, IN.CREATE)
            waiter = asyncio.ensure_future(watcher.get())
            await asyncio.sleep(0)
            (tmp_dir / "f1").touch()
            (tmp_dir / "f2").touch()
            event = await asyncio.wait_for(waiter, scaled(5))
            assert (event.watch, event.mask, event.pathname) == (
                watch,
                IN.CREATE,
                "f1",
            )
            event = await watcher.get()
            assert event.pathname == "f2"

    run(main)


def test_get_timeout_returns_none(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            start = time.monotonic()
            assert await watcher.get(0.2) is None
            elapsed = time.monotonic() - start
            assert 0.18 <= elapsed < 0.2 + scaled(1)

    run(main)


@pytest.mark.asyncio_only
def test_get_timeout_is_a_deadline(run, tmp_dir: Path, scaled) -> None:
    """A waiter with a timeout returns at its deadline although the watcher
    keeps reading events meanwhile (they go to the waiters ahead of it)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            ahead = [asyncio.ensure_future(watcher.get()) for _ in range(12)]
            timed = asyncio.ensure_future(watcher.get(0.5))
            await asyncio.sleep(0)
            start = time.monotonic()
            # One event every 0.1 s for 1.2 s, all served to `ahead`.
            for i in range(12):
                loop.call_later(0.1 * (i + 1), (tmp_dir / f"f{i:02}").touch)
            assert await asyncio.wait_for(timed, scaled(5)) is None
            elapsed = time.monotonic() - start
            assert 0.45 <= elapsed < 0.5 + scaled(0.45), elapsed
            events = await asyncio.wait_for(asyncio.gather(*ahead), scaled(5))
            assert [e.pathname for e in events] == [
                f"f{i:02}" for i in range(12)
            ]

    run(main)


def test_get_zero_polls_the_kernel(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            assert await watcher.get(0) is None
            (tmp_dir / "f1").touch()
            # The loop has not run the watcher's reader since the touch.
            event = await watcher.get(0)
            assert event is not None and event.pathname == "f1"
            assert await watcher.get(0) is None

    run(main)


def test_get_zero_polls_the_kernel_before_first_use(
    run, tmp_dir: Path
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            (tmp_dir / "f1").touch()
            event = await watcher.get(0)
            assert event is not None and event.pathname == "f1"

    run(main)


@pytest.mark.asyncio_only
def test_get_zero_is_not_blocked_by_a_cancelled_waiter(
    run, tmp_dir: Path
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            waiter = asyncio.ensure_future(watcher.get())
            await asyncio.sleep(0)
            waiter.cancel()  # no longer a waiter, though not unwound yet
            (tmp_dir / "f1").touch()
            event = await watcher.get(0)
            assert event is not None and event.pathname == "f1"
            with pytest.raises(asyncio.CancelledError):
                await waiter

    run(main)


def test_negative_timeout_is_like_zero(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            start = time.monotonic()
            assert await watcher.get(-1) is None
            assert time.monotonic() - start < scaled(0.5)
            (tmp_dir / "f1").touch()
            event = await watcher.get(-5.5)
            assert event is not None and event.pathname == "f1"

    run(main)


def test_nan_timeout_is_value_error(run) -> None:
    async def main() -> None:
        with Watcher.create() as watcher, pytest.raises(ValueError):
            await watcher.get(math.nan)

    run(main)


# ---- several waiters --------------------------------------------------------


@pytest.mark.asyncio_only
def test_concurrent_waiters_are_served_fifo(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            waiters = [asyncio.ensure_future(watcher.get()) for _ in range(5)]
            await asyncio.sleep(0)  # each waiter is now waiting, in order
            names = [f"f{i}" for i in range(8)]
            _touch_all(tmp_dir, names)
            events = await asyncio.wait_for(
                asyncio.gather(*waiters), scaled(5)
            )
            assert [e.pathname for e in events] == names[:5]
            rest = [await watcher.get(scaled(5)) for _ in range(3)]
            assert [e.pathname for e in rest] == names[5:]
            assert await watcher.get(0) is None

    run(main)


@pytest.mark.asyncio_only
def test_timed_out_waiter_leaves_the_queue_of_waiters(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            early = asyncio.ensure_future(watcher.get(0.05))
            late = asyncio.ensure_future(watcher.get())
            assert await asyncio.wait_for(early, scaled(5)) is None
            (tmp_dir / "f1").touch()
            event = await asyncio.wait_for(late, scaled(5))
            assert event is not None and event.pathname == "f1"

    run(main)


@pytest.mark.asyncio_only
def test_get_works_with_create_task(run, tmp_dir: Path, scaled) -> None:
    # 0.1.1's get() was a coroutine function; code hands it to create_task.
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            task = asyncio.create_task(watcher.get())
            (tmp_dir / "f1").touch()
            event = await asyncio.wait_for(task, scaled(5))
            assert event is not None and event.pathname == "f1"

    run(main)


@pytest.mark.asyncio_only
def test_cancelled_pending_waiter_loses_nothing(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            waiter = asyncio.ensure_future(watcher.get())
            await asyncio.sleep(0)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            _touch_all(tmp_dir, ["f1", "f2"])
            first = await watcher.get(scaled(5))
            second = await watcher.get(scaled(5))
            assert [first.pathname, second.pathname] == ["f1", "f2"]

    run(main)


async def _cancel_after(task: asyncio.Future, variant: int) -> None:
    """Cancels ``task`` after one of several amounts of loop activity, so
    that the cancellation lands before, during and after the delivery."""
    loop = asyncio.get_running_loop()
    if variant == 0:
        task.cancel()
    elif variant == 1:
        loop.call_soon(task.cancel)
    else:
        for _ in range(variant - 1):
            await asyncio.sleep(0)
        task.cancel()


@pytest.mark.asyncio_only
def test_cancel_racing_delivery_loses_nothing(
    run, tmp_dir: Path, scaled
) -> None:
    """Whenever the cancellation lands, the event reaches the next get().

    The variants of _cancel_after straddle the delivery: on both loops some
    cancellations land before the reader ran, some after it handed the event
    to the waiter but before the task resumed, some after the task finished.
    """

    async def main() -> None:
        outcomes = set()
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            for i in range(120):
                timeout = None if i % 2 else scaled(30)
                waiter = asyncio.ensure_future(watcher.get(timeout))
                await asyncio.sleep(0)
                assert not waiter.done()  # waiting, with nothing queued
                name = f"f{i:03}"
                (tmp_dir / name).touch()
                await _cancel_after(waiter, (i // 2) % 6)
                try:
                    event = await waiter
                    outcomes.add("delivered")
                except asyncio.CancelledError:
                    outcomes.add("cancelled")
                    event = await watcher.get(scaled(5))
                assert event is not None and event.pathname == name
            assert await watcher.get(0) is None
        assert outcomes == {"delivered", "cancelled"}

    run(main)


@pytest.mark.asyncio_only
def test_cancel_racing_delivery_passes_to_the_next_waiter(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        outcomes = set()
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            for i in range(60):
                first = asyncio.ensure_future(watcher.get())
                second = asyncio.ensure_future(watcher.get(scaled(30)))
                await asyncio.sleep(0)
                assert not first.done() and not second.done()
                (tmp_dir / f"f{i:03}").touch()
                await _cancel_after(first, i % 6)
                try:
                    event = await first
                except asyncio.CancelledError:
                    # The waiter behind the cancelled one gets its event.
                    outcomes.add("cancelled")
                    event = await asyncio.wait_for(second, scaled(5))
                else:
                    outcomes.add("delivered")
                    (tmp_dir / f"g{i:03}").touch()
                    later = await asyncio.wait_for(second, scaled(5))
                    assert later is not None and later.pathname == f"g{i:03}"
                assert event is not None and event.pathname == f"f{i:03}"
            assert await watcher.get(0) is None
        assert outcomes == {"delivered", "cancelled"}

    run(main)


# ---- iteration --------------------------------------------------------------


def test_iter_async_yields_events(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            _touch_all(tmp_dir, ["f1", "f2", "f3"])
            seen = []
            iterator = watcher.iter_async(timeout=scaled(5))
            async for event in iterator:
                assert event is not None, "timed out"
                seen.append(event.pathname)
                if len(seen) == 3:
                    break
            if hasattr(iterator, "aclose"):
                await iterator.aclose()
            assert seen == ["f1", "f2", "f3"]

    run(main)


def test_iter_async_yields_none_on_timeout(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            (tmp_dir / "f1").touch()
            got = []
            iterator = watcher.iter_async(timeout=0.05)
            async for event in iterator:
                got.append(event)
                if len(got) == 3:
                    break
            if hasattr(iterator, "aclose"):
                await iterator.aclose()
            assert got[0].pathname == "f1"
            assert got[1:] == [None, None]

    run(main)


def test_iter_async_stops_on_timeout(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            _touch_all(tmp_dir, ["f1", "f2"])
            got = [
                event
                async for event in watcher.iter_async(
                    stop_on={STOP_ON.TIMEOUT}, timeout=0.05
                )
            ]
            assert [e.pathname for e in got] == ["f1", "f2"]

    run(main)


def test_async_for_over_the_watcher(run, tmp_dir: Path) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            _touch_all(tmp_dir, ["f1", "f2"])
            seen = []
            async for event in watcher:
                seen.append(event.pathname)
                if len(seen) == 2:
                    break
            assert seen == ["f1", "f2"]

    run(main)


# ---- the queue --------------------------------------------------------------


def test_bounded_queue_loses_nothing(
    run, tmp_dir: Path, wait_for_events
) -> None:
    count = 5000
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        if int(f.read()) <= count:
            pytest.skip("the kernel's queue is too short for this test")

    async def main() -> None:
        with Watcher(max_queued=100) as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            names = [f"f{i:04}" for i in range(count)]
            _touch_all(tmp_dir, names)
            events = await wait_for_events(watcher, count, deadline=30)
            assert [e.mask for e in events] == [IN.CREATE] * count
            assert [e.pathname for e in events] == names
            assert await watcher.get(0) is None
            (tmp_dir / "after").touch()
            [event] = await wait_for_events(watcher, 1)
            assert event.pathname == "after"

    run(main)


@pytest.mark.root
def test_kernel_queue_overflow(
    run, tmp_dir: Path, inotify_sysctl, wait_for_events
) -> None:
    async def main() -> None:
        # The kernel reads the limit when the inotify instance is made.
        with inotify_sysctl.limit("max_queued_events", 16):
            watcher = Watcher.create()
        with watcher:
            watch = watcher.watch(tmp_dir, IN.CREATE)
            names = [f"f{i:03}" for i in range(100)]
            _touch_all(tmp_dir, names)
            events = await wait_for_events(
                watcher,
                lambda events: events[-1:] and events[-1].watch is None,
            )
            *created, overflow = events
            assert [e.pathname for e in created] == names[: len(created)]
            assert all(e.watch is watch for e in created)
            assert overflow.watch is None
            assert overflow.wd is None
            assert overflow.mask == IN.Q_OVERFLOW
            assert overflow.cookie == 0
            assert overflow.pathname == ""
            assert (
                repr(overflow)
                == "Event(None, [<EVENT_BIT.Q_OVERFLOW: 14>], 0, '')"
            )

            assert await watcher.get(0) is None
            (tmp_dir / "after").touch()
            [event] = await wait_for_events(watcher, 1)
            assert event.pathname == "after"

    run(main)


# ---- get_batch(): an EventBatch reads as a list ---------------------------


def test_batch_reads_as_a_list(run, tmp_dir: Path, scaled) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watch = watcher.watch(tmp_dir, IN.CREATE)
            for i in range(5):
                (tmp_dir / f"f{i}").touch()
            batch = await watcher.get_batch(scaled(5))
            events = list(batch)
            assert len(batch) == 5 and bool(batch)
            assert [e.pathname for e in batch] == [f"f{i}" for i in range(5)]
            assert all(e.watch is watch for e in batch)
            # The same index gives the same Event, however it is reached.
            assert batch[0] is batch[0] is events[0] is batch[-5]
            assert batch == events and events == batch
            assert (batch != events) is False
            assert batch != events[:4] and batch != events[::-1]
            assert batch[1:3] == events[1:3] and batch[::-2] == events[::-2]
            assert isinstance(batch[1:3], list)
            assert events[2] in batch and batch.index(events[2]) == 2
            assert batch.count(events[3]) == 1
            assert batch.index(events[3], -3) == 3
            with pytest.raises(ValueError):
                batch.index(events[0], 1)
            assert list(reversed(batch)) == events[::-1]
            assert batch + [] == events and [] + batch == events
            assert batch + batch == events * 2
            assert repr(batch) == f"EventBatch({events!r})"
            with pytest.raises(IndexError):
                batch[5]
            with pytest.raises(TypeError):
                batch["0"]
            with pytest.raises(TypeError):
                hash(batch)
            assert isinstance(batch, Sequence) and batch != tuple(events)
            collected = await watcher.get_batch(0)
            assert collected == [] and not collected and len(collected) == 0
            collected += watcher.get_batch_nowait()
            assert collected == []

    run(main)


def test_batch_events_are_complete(run, tmp_dir: Path, scaled) -> None:
    """Events made from a batch's records, touched late, are what get()
    gives: names of every length, bytes names for a bytes watch, and the
    IGNORED that ends a watch (the Watch invalid from the batch on)."""

    async def main() -> None:
        with Watcher() as watcher:
            sub = tmp_dir / "sub"
            sub.mkdir()
            names = ["a", "x" * 16, "y" * 17, "é" * 40, "z" * 200]
            watch = watcher.watch(sub, IN.CREATE | IN.DELETE_SELF)
            bwatch = watcher.watch(os.fsencode(tmp_dir), IN.CREATE)
            for name in names:
                (sub / name).touch()
            (tmp_dir / "b").touch()
            for name in names:
                (sub / name).unlink()
            sub.rmdir()
            batch = await watcher.get_batch(scaled(5))
            assert not watch.valid
            got = [(e.watch, e.mask, e.pathname) for e in batch]
            want = [(watch, IN.CREATE, n) for n in names]
            assert got[: len(names)] == want
            assert (bwatch, IN.CREATE, b"b") in got
            assert got[-1] == (watch, IN.IGNORED, "")
            assert batch[-1].path == str(sub)
            assert (
                repr(batch[0]) == "Event(1, [<EVENT_BIT.CREATE: 8>], 0, 'a')"
            )

    run(main)


@pytest.mark.asyncio_only
def test_batch_serves_earlier_waiters_first(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            waiter = asyncio.ensure_future(watcher.get())
            await asyncio.sleep(0)
            for i in range(3):
                (tmp_dir / f"f{i}").touch()
            batch = watcher.get_batch_nowait(max_events=1)
            assert [e.pathname for e in batch] == ["f1"]
            first = await asyncio.wait_for(waiter, scaled(5))
            assert first.pathname == "f0"
            rest = await watcher.get_batch(scaled(5), max_events=5)
            assert [e.pathname for e in rest] == ["f2"]

    run(main)


# ---- the reader held off the loop (awatch()'s slices) -----------------------


def _registered(fd: int) -> bool | None:
    """Whether the running asyncio loop's selector has fd (None when the
    loop keeps no selector to look at, as uvloop)."""
    selector = getattr(asyncio.get_running_loop(), "_selector", None)
    if selector is None:
        return None
    return fd in selector.get_map()


@pytest.mark.asyncio_only
def test_holding_the_reader_takes_it_off_the_loop_and_loses_nothing(
    run, tmp_dir: Path, scaled
) -> None:
    """While awatch() gathers a group it reads the kernel itself, a slice
    at a time: _hold_reading(True) takes the reader off the loop, what
    comes meanwhile stays in the kernel and is all taken by
    _take_changes(), and _hold_reading(False) puts the reader back."""

    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            assert await watcher.get(0.01) is None  # binds the loop
            fd = watcher.fileno()
            assert _registered(fd) in (True, None)
            watcher._hold_reading(True)
            assert _registered(fd) in (False, None)
            names = [f"f{i}" for i in range(50)]
            _touch_all(tmp_dir, names)
            changes: set = set()
            taken, overflowed = watcher._take_changes(changes, "a", "m", "d")
            assert (taken, overflowed) == (50, False)
            assert {Path(p).name for _k, p in changes} == set(names)
            watcher._hold_reading(False)
            assert _registered(fd) in (True, None)
            (tmp_dir / "late").touch()
            event = await asyncio.wait_for(watcher.get(), scaled(5))
            assert event.pathname == "late"
        watcher._hold_reading(True)  # closed: nothing to hold, no error
        watcher._hold_reading(False)

    run(main)


@pytest.mark.asyncio_only
def test_a_get_that_waits_brings_a_held_reader_back(
    run, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            assert await watcher.get(0.01) is None  # binds the loop
            watcher._hold_reading(True)
            assert _registered(watcher.fileno()) in (False, None)
            waiter = asyncio.ensure_future(watcher.get())
            await asyncio.sleep(0)
            assert _registered(watcher.fileno()) in (True, None)
            (tmp_dir / "f").touch()
            event = await asyncio.wait_for(waiter, scaled(5))
            assert event.pathname == "f"

    run(main)
