"""Typical uses of the inotipy API.

Never run: tests/test_typing.py checks it with `mypy --strict`, so the type
stubs must accept what users ordinarily write.  Event and Watch are generic
in the type of their paths (str or bytes), as os.DirEntry is.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import trio
from typing_extensions import assert_type

import inotipy
from inotipy import (
    EVENT_BIT,
    IN,
    STOP_ON,
    Event,
    EventBatch,
    Watch,
    Watcher,
    WatcherClosedError,
)


def describe(event: Event[str]) -> str:
    bits = inotipy.decode_mask(event.mask)
    names = [bit.name if isinstance(bit, EVENT_BIT) else bit for bit in bits]
    where = os.fsdecode(event.path)
    return f"{'|'.join(names)} {where} {os.fsdecode(event.pathname)}"


def watch_fields(watch: Watch[str]) -> tuple[str, int, int, bool]:
    owner: Watcher = watch.watcher
    assert owner.fileno() == owner.fd
    return os.fsdecode(watch.pathname), watch.mask, watch.wd, watch.valid


async def seed_style(paths: list[str]) -> None:
    watcher = inotipy.Watcher.create()
    for path in paths:
        watcher.watch(path, inotipy.IN.ALL_EVENTS)
    while True:
        event = await watcher.get()
        if event is None:
            break
        print(repr(event))


async def everyday() -> None:
    loop: asyncio.AbstractEventLoop = inotipy.get_event_loop()
    watcher = Watcher.create(IN.CLOEXEC, loop, max_queued=1024)
    try:
        created: Watch[str] = watcher.watch("some/dir", IN.CREATE | IN.DELETE)
        watcher.watch(Path("other"), IN.ALL_EVENTS | IN.ONLYDIR)
        raw: Watch[bytes] = watcher.watch(b"bytes/dir", IN.MODIFY)
        print(raw.pathname.decode(errors="surrogateescape"))
        same = watcher.watch("some/dir", IN.MOVE | IN.MASK_ADD)
        assert same is created
        created.replace_mask(IN.CLOSE_WRITE)

        live: list[Watch[Any]] = list(watcher.watches)
        print(len(live), watcher.closed, watcher.fileno())

        maybe: Event[str] | None = await watcher.get(1.5)
        if maybe is not None:
            print(describe(maybe), maybe.cookie, maybe.wd, maybe.name)
            if maybe.watch is not None and maybe.mask & IN.IGNORED:
                print(watch_fields(maybe.watch))
        now: Event[Any] | None = watcher.get_nowait()
        if now is not None and now.mask & IN.Q_OVERFLOW:
            print("overflow", now.watch is None)

        async for polled in watcher.iter_async(timeout=0.5):
            if polled is None:
                break
            print(polled.pathname)
        async for timed in watcher.iter_async(
            stop_on={STOP_ON.TIMEOUT}, timeout=0.5
        ):
            if timed is not None:
                print(timed.pathname)

        async for event in watcher:
            print(event.mask & ~IN.ISDIR, EVENT_BIT.CREATE.mask)
            created.remove()
            break
    except WatcherClosedError:
        pass
    finally:
        watcher.close()


async def managed() -> None:
    async with Watcher.create() as watcher:
        watcher.watch(".", IN.CREATE)
        event = await watcher.get()
        if event is not None:
            print(event.path)
    with Watcher() as other:
        other.watch(".", IN.DELETE_SELF)
        await other.sync()
        try:
            await other.sync(timeout=2.5)
        except TimeoutError:
            print("still reading")
        settled: Sequence[Event[Any]] = other.get_batch_nowait()
        print(len(settled))


async def reload_on_change() -> None:
    stop = asyncio.Event()
    async for changes in inotipy.awatch(
        "src",
        Path("tests"),
        watch_filter=inotipy.PythonFilter(),
        debounce=800,
        step=50,
        stop_event=stop,
    ):
        for change, path in changes:
            if change is inotipy.Change.deleted:
                print(change.raw_str(), path.upper())
        stop.set()

    def keep(change: inotipy.Change, path: str) -> bool:
        return change != inotipy.Change.added

    for batch in inotipy.watch(
        ".",
        watch_filter=keep,
        exclude=("*.tmp",),
        rust_timeout=0,
        raise_interrupt=False,
    ):
        first: inotipy.FileChange = next(iter(batch))
        print(first[1])
        break
    only: inotipy.BaseFilter = inotipy.DefaultFilter(ignore_dirs=("build",))
    print(only(inotipy.Change.modified, "/x/build/y"))


def paths_keep_their_type(watcher: Watcher) -> None:
    """watch() and watch_tree() give Watch[str] or Watch[bytes] by the
    path's type (str, bytes, or an os.PathLike of either); an Event
    carries the type of its Watch."""
    assert_type(watcher.watch("d", IN.CREATE), Watch[str])
    assert_type(watcher.watch(Path("d"), IN.CREATE), Watch[str])
    assert_type(watcher.watch(b"d", IN.CREATE), Watch[bytes])
    assert_type(watcher.watch_tree("d"), Watch[str])
    assert_type(watcher.watch_tree(Path("d"), IN.CREATE), Watch[str])
    assert_type(watcher.watch_tree(b"d", exclude=[".git"]), Watch[bytes])
    assert_type(watcher.watch("d", IN.CREATE).pathname, str)
    assert_type(watcher.watch(b"d", IN.CREATE).pathname, bytes)


def events_keep_their_type(text: Event[str], raw: Event[bytes]) -> None:
    assert_type(text.pathname, str)
    assert_type(text.name, str)
    assert_type(text.path, str)
    assert_type(text.src_path, str | None)
    assert_type(text.watch, Watch[str] | None)
    assert_type(raw.pathname, bytes)
    assert_type(raw.path, bytes)
    assert_type(raw.src_path, bytes | None)
    assert_type(raw.watch, Watch[bytes] | None)


def wrong_types_are_refused(watcher: Watcher) -> None:
    # --strict warns of an unused ignore: each line must be an error.
    watcher.watch(123, IN.CREATE)  # type: ignore[type-var]
    bad: Watch[bytes] = watcher.watch("d", IN.CREATE)  # type: ignore[arg-type]
    print(bad)


class MyStop:
    """Anything with is_set() is a stop event."""

    def is_set(self) -> bool:
        return False


async def stop_events() -> None:
    """awatch() and watch() take any of these, typed as the StopEvent
    protocol."""
    events: list[inotipy.StopEvent] = [
        asyncio.Event(),
        threading.Event(),
        anyio.Event(),
        trio.Event(),
        MyStop(),
    ]
    for stop in events:
        async for changes in inotipy.awatch(".", stop_event=stop):
            assert_type(changes, set[tuple[inotipy.Change, str]])
        for batch in inotipy.watch(".", stop_event=stop):
            print(batch)
    async for _ in inotipy.awatch(".", stop_event=object()):  # type: ignore[arg-type]
        pass


async def catch_up_across_restarts(state: Path) -> None:
    """save_state() and since= take str or os.PathLike; awatch() and
    watch() take since= and state_file=; InvalidStateFile is a
    ValueError with the file's path and the reason."""
    with Watcher() as watcher:
        try:
            tree = watcher.watch_tree("d", since=state)
        except inotipy.InvalidStateFile as e:
            assert_type(e.reason, str)
            assert_type(e.detail, str)
            print(e.filename)
            tree = watcher.watch_tree("d", since=None)
        assert_type(tree, Watch[str])
        tree.save_state(state)
        tree.save_state(str(state))
        tree.save_state(1)  # type: ignore[arg-type]
    async for changes in inotipy.awatch(".", state_file=state):
        assert_type(changes, set[tuple[inotipy.Change, str]])
    for changes in inotipy.watch(".", since="state", state_file=None):
        print(changes)
    error: ValueError = inotipy.InvalidStateFile(state, "corrupt", "bad")
    print(error)


async def on_trio_and_anyio(watcher: Watcher) -> None:
    """The same calls, awaited in trio or anyio tasks, type alike."""
    event = await watcher.get(1.0)
    assert_type(event, Event[Any] | None)
    batch = await watcher.get_batch(max_events=10)
    assert_type(batch, EventBatch[Any])
    with anyio.move_on_after(1):
        async for each in watcher:
            assert_type(each, Event[Any])


if __name__ == "__main__":
    asyncio.run(managed())
