"""Typical uses of the inotipy API.

Never run: tests/test_typing.py checks it with `mypy --strict`, so the type
stubs must accept what users ordinarily write.  Event and Watch are generic
in the type of their paths (str or bytes), as os.DirEntry is.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import inotipy
from inotipy import (
    EVENT_BIT,
    IN,
    STOP_ON,
    Event,
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
        settled: list[Event[Any]] = other.get_batch_nowait()
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


if __name__ == "__main__":
    asyncio.run(managed())
