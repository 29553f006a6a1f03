"""Grouping and stopping under a stream that never pauses, on real files,
for inotipy and for watchfiles itself (a test dependency), side by side.

The rule both follow: a group is over once a step passes in which its set
did not grow.  A log appended every 20 ms is one change in the set, so an
edit made beside it is yielded a step or so later, not at the debounce.
The debounce here is made far longer than any deadline of the suite: a
set that arrives at all arrived by that rule.  No test times anything;
tests/test_grouper.py checks the rule itself, and that inotipy never ends
a group later than watchfiles, on a clock of its own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import inotipy
from inotipy import Change
from support import DEFAULT_DEADLINE, scaled
from test_changes import until_watched, wait_watched_blocking

A, M, C = Change.added, Change.modified, Change.closed
# Longer than any deadline: no group here ends by the debounce.
# The async scenarios use asyncio's own API (tasks, to_thread): asyncio
# and uvloop only (tests/test_anyio.py covers awatch() on trio).
pytestmark = pytest.mark.asyncio_only

NEVER = 3_600_000
# A step for the tests whose group must keep growing while a writer adds
# a file every 20 ms: long enough that a loaded machine's stalls do not
# close the group before the stop event is set (scaled like deadlines).
GROWING_STEP = max(50, int(scaled(0.1) * 1000))


def watchfiles_module() -> Any:
    try:
        import watchfiles
    except ImportError:
        pytest.fail(
            "watchfiles is a test dependency: pip install 'inotipy[test]'"
        )
    return watchfiles


IMPLEMENTATIONS = ("inotipy", "watchfiles")


def implementation(name: str) -> Any:
    return inotipy if name == "inotipy" else watchfiles_module()


class Writer:
    """A thread that appends a line to a file every 20 ms until stopped,
    as a server's log is written; with ``new_files`` it also makes a new
    file each time, so that a set of changes keeps growing."""

    def __init__(self, log: Path, new_files: bool = False) -> None:
        self.log = log
        self.new_files = new_files
        self.writes = 0
        self.stop = threading.Event()
        self.wrote = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with open(self.log, "a") as f:
            while not self.stop.is_set():
                f.write("a line of log\n")
                f.flush()
                if self.new_files:
                    (self.log.parent / f"new{self.writes}").touch()
                with self.wrote:
                    self.writes += 1
                    self.wrote.notify_all()
                self.stop.wait(0.02)  # paces the stream, not a wait

    def wait_writes(self, count: int) -> None:
        """Returns once the writer has written count more times."""
        with self.wrote:
            target = self.writes + count
            if not self.wrote.wait_for(
                lambda: self.writes >= target, scaled(DEFAULT_DEADLINE)
            ):
                pytest.fail("the writer stopped writing")

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(scaled(DEFAULT_DEADLINE))


def python_only(change: Change, path: str) -> bool:
    """uvicorn's default: only .py files count."""
    return path.endswith(".py")


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_an_edit_beside_a_busy_log_is_yielded_blocking(
    tmp_dir: Path, impl: str
) -> None:
    """uvicorn's case: it watches the current directory with watch(), and
    the server writes its log there.  The edit to app.py comes in the
    first set, while the log goes on being written."""
    app = tmp_dir / "app.py"
    app.write_text("v = 1\n")
    stop = threading.Event()
    gen = implementation(impl).watch(
        tmp_dir,
        watch_filter=python_only,
        debounce=NEVER,
        step=50,
        stop_event=stop,
        rust_timeout=int(scaled(DEFAULT_DEADLINE) * 1000),
    )
    thread, got = watch_in_thread(gen, until_one=True)
    with Writer(tmp_dir / "app.log") as writer:
        wait_watched_blocking(tmp_dir)
        writer.wait_writes(10)  # the stream is going
        app.write_text("v = 2\n")
        thread.join(scaled(DEFAULT_DEADLINE))
        alive = thread.is_alive()
        if not alive:
            writer.wait_writes(1)  # and the log is still being written
        stop.set()
        thread.join(scaled(DEFAULT_DEADLINE))
    gen.close()
    assert not alive, "the edit was held back by the log"
    assert got == [{(M, str(app))}]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_an_edit_beside_a_busy_log_is_yielded_async(
    run, tmp_dir: Path, impl: str
) -> None:
    """The same with awatch() and no filter: the log's own sets come and
    go, and the edit arrives in one of them within the deadline."""
    app = tmp_dir / "app.py"
    app.write_text("v = 1\n")
    mod = implementation(impl)

    async def main() -> None:
        agen = mod.awatch(tmp_dir, watch_filter=None, debounce=NEVER, step=50)
        with Writer(tmp_dir / "app.log") as writer:
            # The log's first set: watching, with the stream going.
            first = await asyncio.wait_for(
                agen.__anext__(), scaled(DEFAULT_DEADLINE)
            )
            app.write_text("v = 2\n")
            while (M, str(app)) not in first:
                first = await asyncio.wait_for(
                    agen.__anext__(), scaled(DEFAULT_DEADLINE)
                )
            writer.wait_writes(1)
        await agen.aclose()
        assert first <= {(M, str(app)), (M, str(tmp_dir / "app.log"))}

    run(main)


def watch_in_thread(
    gen: Iterator[set[Any]], until_one: bool = False
) -> tuple[threading.Thread, list[Any]]:
    """Iterates gen in a thread (to its end, or to its first set), into
    the list returned."""
    got: list[Any] = []

    def consume() -> None:
        for changes in gen:
            got.append(changes)
            if until_one:
                return

    thread = threading.Thread(target=consume)
    thread.start()
    return thread, got


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_stop_event_is_seen_while_a_group_keeps_growing(
    tmp_dir: Path, impl: str
) -> None:
    """watch(): a new file every 20 ms keeps the group open (up to a
    debounce longer than the deadline); setting the stop event ends the
    iteration anyway, and the group it was gathering is dropped."""
    stop = threading.Event()
    mod = implementation(impl)
    gen = mod.watch(
        tmp_dir,
        watch_filter=None,
        debounce=NEVER,
        step=GROWING_STEP,
        stop_event=stop,
        rust_timeout=0,
    )
    thread, got = watch_in_thread(gen)
    wait_watched_blocking(tmp_dir)
    with Writer(tmp_dir / "app.log", new_files=True) as writer:
        writer.wait_writes(10)  # a group has begun, and keeps growing
        stop.set()
        thread.join(scaled(DEFAULT_DEADLINE))
        alive = thread.is_alive()
    if alive:  # end it anyway, then fail
        thread.join(scaled(DEFAULT_DEADLINE) * 4)
    assert not alive, "the stop event was not seen"
    assert got == []


@pytest.mark.parametrize("waitable", [True, False])
def test_awatch_stop_event_while_a_group_keeps_growing(
    run, tmp_dir: Path, waitable: bool
) -> None:
    """awatch(), with an asyncio.Event (awaited) and a threading.Event
    (looked at every step): the same, the group dropped."""

    async def main() -> None:
        stop: Any = asyncio.Event() if waitable else threading.Event()
        got: list[Any] = []

        async def consume() -> None:
            async for changes in inotipy.awatch(
                tmp_dir,
                watch_filter=None,
                debounce=NEVER,
                step=GROWING_STEP,
                stop_event=stop,
            ):
                got.append(changes)

        task = asyncio.ensure_future(consume())
        await until_watched(tmp_dir)
        with Writer(tmp_dir / "app.log", new_files=True) as writer:
            await asyncio.to_thread(writer.wait_writes, 10)
            stop.set()
            await asyncio.wait_for(task, scaled(DEFAULT_DEADLINE))
        assert got == []

    run(main)


# ---- finished writing ----------------------------------------------------


class SlowWriter:
    """Writes a file in pieces with pauses longer than a step between
    them (watchfiles issue 345: a file that arrives slowly), then closes
    it; the test says when each piece goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.f = open(path, "w")  # noqa: SIM115 (closed in close())
        self.closed = False

    def piece(self) -> None:
        self.f.write("part\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()
        self.closed = True


def test_report_closed_says_when_the_writer_has_finished(
    run, tmp_dir: Path
) -> None:
    """With report_closed, the close of a file open for writing is
    (Change.closed, path), in the set of its group; the modified sets
    before it carry no closed."""
    path = tmp_dir / "upload.bin"

    async def main() -> None:
        agen = inotipy.awatch(
            tmp_dir,
            report_closed=True,
            debounce=NEVER,
            step=20,
            rust_timeout=20,
            yield_on_timeout=True,
        )
        first = await asyncio.wait_for(
            agen.__anext__(), scaled(DEFAULT_DEADLINE)
        )
        assert first == set()  # a timeout: watching
        writer = SlowWriter(path)
        sets = [await next_of(agen)]
        for _ in range(3):
            writer.piece()  # each piece its own set: nothing ends it
            sets.append(await next_of(agen))
        writer.close()
        sets.append(await next_of(agen))
        await agen.aclose()
        p = str(path)
        assert sets == [{(A, p)}, *[{(M, p)}] * 3, {(C, p)}]

    run(main)


async def next_of(agen: Any) -> set[Any]:
    """The next set that is not a timeout's."""
    while True:
        changes: set[Any] = await asyncio.wait_for(
            agen.__anext__(), scaled(DEFAULT_DEADLINE)
        )
        if changes:
            return changes


def test_closed_comes_in_the_set_of_a_quick_write(tmp_dir: Path) -> None:
    """A file written at once: added and closed in one set (a path added
    in a set is not also modified); without report_closed, only added."""
    stop = threading.Event()
    for report_closed, want in ((True, {A, C}), (False, {A})):
        path = tmp_dir / f"quick{report_closed}"
        gen = inotipy.watch(
            tmp_dir,
            report_closed=report_closed,
            stop_event=stop,
            rust_timeout=20,
            yield_on_timeout=True,
            debounce=NEVER,
            step=50,
        )
        for changes in gen:
            if not changes:  # watching: write it
                path.write_text("done")
                continue
            assert changes == {(kind, str(path)) for kind in want}
            break
        gen.close()


# ---- logging -------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_logged_as_watchfiles_logs_it(
    tmp_dir: Path, impl: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each yielded set is one line on the logger ``watchfiles.main``: its
    size at INFO, the set too at DEBUG; so a program that turns that
    logger down keeps quiet with inotipy."""
    mod = implementation(impl)

    def one_set(level: int, name: str) -> set[Any]:
        caplog.clear()
        caplog.set_level(level, logger="watchfiles.main")
        gen = mod.watch(
            tmp_dir, rust_timeout=20, yield_on_timeout=True, step=20
        )
        for changes in gen:
            if changes:
                break
            (tmp_dir / name).touch()
        gen.close()
        return changes

    changes = one_set(logging.INFO, "a")
    info = [
        r
        for r in caplog.records
        if r.name == "watchfiles.main" and r.levelno == logging.INFO
    ]
    assert [r.getMessage() for r in info] == ["1 change detected"]
    one_set(logging.DEBUG, "b")
    debug = [
        r.getMessage()
        for r in caplog.records
        if r.name == "watchfiles.main" and "detected" in r.getMessage()
    ]
    assert debug == [
        f"1 change detected: {{(<Change.added: 1>, {str(tmp_dir / 'b')!r})}}"
    ]
    assert changes == {(A, str(tmp_dir / "a"))}
