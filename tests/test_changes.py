"""awatch() and watch(): change sets for reloaders, watchfiles' API."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import inotipy
from inotipy import BaseFilter, Change, DefaultFilter, PythonFilter, awatch
from support import DEFAULT_DEADLINE, scaled
import contextlib

# The helpers below run awatch() in asyncio tasks: the async tests here run
# on asyncio and uvloop; tests/test_anyio.py runs awatch() on trio too.
pytestmark = pytest.mark.asyncio_only

A, M, D = Change.added, Change.modified, Change.deleted
# Quick grouping for tests: changes made together land in one set.
FAST = {"debounce": 400, "step": 50}


def watched_inodes() -> set[int]:
    """Inodes watched by this process's inotify descriptors."""
    inodes = set()
    for name in os.listdir("/proc/self/fdinfo"):
        try:
            with open("/proc/self/fdinfo/" + name) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("inotify wd:"):
                field = line.split(" ino:")[1].split()[0]
                inodes.add(int(field, 16))
    return inodes


async def until_watched(*paths: Path) -> None:
    """Returns once every path's inode is watched; fails at the deadline."""
    want = {os.stat(p).st_ino for p in paths}
    end = time.monotonic() + scaled(DEFAULT_DEADLINE)
    while not want <= watched_inodes():
        if time.monotonic() > end:
            pytest.fail(f"awatch() never watched {paths}")
        await asyncio.sleep(0.005)  # polls a condition, against a deadline


async def next_set(agen: Any) -> set[tuple[Change, str]]:
    return await asyncio.wait_for(agen.__anext__(), scaled(DEFAULT_DEADLINE))


class Started:
    """Runs an awatch() generator's first step in a task, so the test can
    make changes once its watches exist."""

    def __init__(self, agen: Any) -> None:
        self.agen = agen
        self.task = asyncio.ensure_future(agen.__anext__())

    async def first(self) -> set[tuple[Change, str]]:
        return await asyncio.wait_for(self.task, scaled(DEFAULT_DEADLINE))

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await self.task
        await self.agen.aclose()


async def start(
    *paths: Path, watched: tuple[Path, ...] = (), **kwargs: Any
) -> Started:
    s = Started(awatch(*paths, **kwargs))
    await until_watched(*(watched or paths))
    return s


def test_change_numbers_match_watchfiles() -> None:
    # watchfiles' three, and closed (ours, only for report_closed).
    assert [(c.name, int(c)) for c in Change] == [
        ("added", 1),
        ("modified", 2),
        ("deleted", 3),
        ("closed", 4),
    ]
    assert Change.deleted.raw_str() == "deleted"
    assert Change(2) is M


def test_changes_are_grouped_into_one_set(run, tmp_dir: Path) -> None:
    (tmp_dir / "old").write_text("x")
    (tmp_dir / "gone").write_text("x")

    async def main() -> None:
        s = await start(tmp_dir, **FAST)
        (tmp_dir / "new").write_text("hello")
        (tmp_dir / "old").write_text("changed")
        (tmp_dir / "gone").unlink()
        os.rename(tmp_dir / "new", tmp_dir / "renamed")
        changes = await s.first()
        await s.close()
        d = str(tmp_dir)
        # As in watchfiles: a path added in the set is not also modified.
        assert changes == {
            (A, d + "/new"),
            (D, d + "/new"),
            (M, d + "/old"),
            (D, d + "/gone"),
            (A, d + "/renamed"),
        }

    run(main)


def test_trees_new_directories_and_their_files(run, tmp_dir: Path) -> None:
    async def main() -> None:
        s = await start(tmp_dir, **FAST)
        (tmp_dir / "a" / "b").mkdir(parents=True)
        (tmp_dir / "a" / "b" / "f.txt").write_text("x")
        changes = await s.first()
        d = str(tmp_dir)
        added = {p for c, p in changes if c == A}
        assert added == {d + "/a", d + "/a/b", d + "/a/b/f.txt"}
        assert {p for _, p in changes} == added
        # A later change deep in the new directory, on the same generator.
        (tmp_dir / "a" / "b" / "f.txt").write_text("y")
        assert await next_set(s.agen) == {(M, d + "/a/b/f.txt")}
        await s.close()

    run(main)


def test_paths_are_absolute(run, tmp_dir: Path, monkeypatch) -> None:
    (tmp_dir / "sub").mkdir()
    monkeypatch.chdir(tmp_dir / "sub")

    async def main() -> None:
        s = await start(Path(".."), watched=(tmp_dir,), **FAST)
        (tmp_dir / "sub" / "f").write_text("x")
        (tmp_dir / "sub" / "f").write_text("y")  # added: not modified
        changes = await s.first()
        await s.close()
        assert changes == {(A, str(tmp_dir / "sub" / "f"))}

    run(main)


def test_non_recursive_watches_the_top_only(run, tmp_dir: Path) -> None:
    (tmp_dir / "sub").mkdir()

    async def main() -> None:
        s = await start(tmp_dir, recursive=False, **FAST)
        (tmp_dir / "sub" / "deep").write_text("x")  # not reported
        (tmp_dir / "top").write_text("x")
        changes = await s.first()
        await s.close()
        assert changes == {(A, str(tmp_dir / "top"))}

    run(main)


def test_default_filter_and_dirs_never_watched(run, tmp_dir: Path) -> None:
    for name in (".git", "node_modules", "__pycache__", "src"):
        (tmp_dir / name).mkdir()

    async def main() -> None:
        s = await start(tmp_dir, watched=(tmp_dir, tmp_dir / "src"), **FAST)
        ignored = watched_inodes() & {
            os.stat(tmp_dir / n).st_ino
            for n in (".git", "node_modules", "__pycache__")
        }
        assert ignored == set()  # not even watched
        for rel in (
            ".git/index",
            "node_modules/x.js",
            "__pycache__/m.pyc",
            "src/m.pyc",
            "src/.m.py.swp",
            "src/m.py~",
            "src/.#m.py",
            "src/m.py",
        ):
            (tmp_dir / rel).write_text("x")
        changes = await s.first()
        await s.close()
        assert changes == {(A, str(tmp_dir / "src" / "m.py"))}

    run(main)


def test_no_filter_reports_everything(run, tmp_dir: Path) -> None:
    async def main() -> None:
        s = await start(tmp_dir, watch_filter=None, **FAST)
        (tmp_dir / "m.pyc").write_text("x")
        (tmp_dir / ".git").mkdir()
        changes = await s.first()
        await s.close()
        assert {p for _, p in changes} == {
            str(tmp_dir / "m.pyc"),
            str(tmp_dir / ".git"),
        }

    run(main)


def test_python_filter_and_callables(run, tmp_dir: Path) -> None:
    async def main() -> None:
        s = await start(tmp_dir, watch_filter=PythonFilter(), **FAST)
        for name in ("a.py", "b.txt", "c.pyx", "d.pyc"):
            (tmp_dir / name).touch()
        changes = await s.first()
        await s.close()
        assert changes == {
            (A, str(tmp_dir / "a.py")),
            (A, str(tmp_dir / "c.pyx")),
        }

        def only_deleted(change: Change, path: str) -> bool:
            return change == D

        s = await start(tmp_dir, watch_filter=only_deleted, **FAST)
        (tmp_dir / "e.py").touch()
        (tmp_dir / "a.py").unlink()
        changes = await s.first()
        await s.close()
        assert changes == {(D, str(tmp_dir / "a.py"))}

    run(main)


def test_exclude_globs(run, tmp_dir: Path) -> None:
    (tmp_dir / "build").mkdir()

    async def main() -> None:
        s = await start(tmp_dir, exclude=("build", "*.log"), **FAST)
        assert os.stat(tmp_dir / "build").st_ino not in watched_inodes()
        (tmp_dir / "build" / "out.o").touch()
        (tmp_dir / "run.log").touch()
        (tmp_dir / "keep").touch()
        changes = await s.first()
        await s.close()
        assert changes == {(A, str(tmp_dir / "keep"))}

    run(main)


def test_a_file_given_alone_survives_safe_writes(run, tmp_dir: Path) -> None:
    f = tmp_dir / "config.toml"
    f.write_text("a")

    async def main() -> None:
        s = await start(f, watched=(tmp_dir,), **FAST)
        f.write_text("b")
        (tmp_dir / "other.txt").write_text("not watched")
        assert await s.first() == {(M, str(f))}
        # An editor's safe write: a new file renamed over the old one.
        (tmp_dir / ".config.toml.tmp").write_text("c")
        os.rename(tmp_dir / ".config.toml.tmp", f)
        assert await next_set(s.agen) == {(A, str(f))}
        f.write_text("d")
        assert await next_set(s.agen) == {(M, str(f))}
        f.unlink()
        assert await next_set(s.agen) == {(D, str(f))}
        f.write_text("back")  # still watched
        assert await next_set(s.agen) == {(A, str(f))}
        await s.close()

    run(main)


def test_paths_given_twice_or_nested_are_watched_once(
    run, tmp_dir: Path
) -> None:
    (tmp_dir / "sub").mkdir()
    (tmp_dir / "sub" / "f.py").touch()

    async def main() -> None:
        s = await start(
            tmp_dir,
            tmp_dir / "sub",
            tmp_dir,
            tmp_dir / "sub" / ".." / "sub",
            tmp_dir / "sub" / "f.py",
            watched=(tmp_dir, tmp_dir / "sub"),
            **FAST,
        )
        os.rename(tmp_dir / "sub", tmp_dir / "moved")
        (tmp_dir / "moved" / "g.py").touch()
        changes = await s.first()
        await s.close()
        d = str(tmp_dir)
        assert changes == {
            (D, d + "/sub"),
            (A, d + "/moved"),
            (A, d + "/moved/g.py"),
        }

    run(main)


def test_links_are_followed(run, tmp_dir: Path) -> None:
    (tmp_dir / "real" / "inner").mkdir(parents=True)
    (tmp_dir / "outside").mkdir()
    os.symlink(tmp_dir / "real", tmp_dir / "link")
    os.symlink(tmp_dir / "outside", tmp_dir / "real" / "to-outside")

    async def main() -> None:
        s = await start(
            tmp_dir / "link",
            watched=(tmp_dir / "real", tmp_dir / "outside"),
            **FAST,
        )
        (tmp_dir / "real" / "inner" / "a.py").touch()
        (tmp_dir / "outside" / "b.py").touch()
        changes = await s.first()
        await s.close()
        link = str(tmp_dir / "link")
        assert changes == {
            (A, link + "/inner/a.py"),
            (A, link + "/to-outside/b.py"),
        }

    run(main)


def test_debounce_bounds_a_continuous_stream(run, tmp_dir: Path) -> None:
    """Changes that never pause are still yielded, every debounce ms."""

    async def main() -> None:
        s = await start(tmp_dir, debounce=200, step=100)
        stop = asyncio.Event()

        async def writer() -> None:
            i = 0
            while not stop.is_set():
                (tmp_dir / f"f{i}").touch()
                i += 1
                await asyncio.sleep(0.01)  # paces the stream, not a wait

        task = asyncio.ensure_future(writer())
        try:
            # Both come (within the deadline) though the stream never
            # pauses for step ms.
            first = await s.first()
            second = await next_set(s.agen)
        finally:
            stop.set()
            await task
        await s.close()
        assert first and second and not first & second

    run(main)


def test_stop_event_ends_the_iteration(run, tmp_dir: Path) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        got: list[Any] = []

        async def consume() -> None:
            async for changes in awatch(tmp_dir, stop_event=stop, **FAST):
                got.append(changes)

        task = asyncio.ensure_future(consume())
        await until_watched(tmp_dir)
        stop.set()
        await asyncio.wait_for(task, scaled(DEFAULT_DEADLINE))
        assert got == []

    run(main)


def test_stop_event_without_wait(run, tmp_dir: Path) -> None:
    """Anything with is_set() stops it (looked at every step ms)."""

    async def main() -> None:
        stop = threading.Event()

        async def consume() -> None:
            async for _ in awatch(tmp_dir, stop_event=stop, **FAST):
                pass

        task = asyncio.ensure_future(consume())
        await until_watched(tmp_dir)
        stop.set()
        await asyncio.wait_for(task, scaled(DEFAULT_DEADLINE))

    run(main)


def test_timeout_yields_an_empty_set_when_asked(run, tmp_dir: Path) -> None:
    async def main() -> None:
        agen = awatch(tmp_dir, rust_timeout=50, yield_on_timeout=True)
        assert await next_set(agen) == set()
        await agen.aclose()

    run(main)


def test_deleting_the_root_is_not_an_end(run, tmp_dir: Path) -> None:
    root = tmp_dir / "root"
    (root / "sub").mkdir(parents=True)

    async def main() -> None:
        s = await start(
            root, rust_timeout=int(scaled(200)), yield_on_timeout=True, **FAST
        )
        shutil.rmtree(root)
        changes = await s.first()
        while not changes:  # a timeout came first
            changes = await next_set(s.agen)
        assert (D, str(root / "sub")) in changes
        # As with watchfiles, the iteration goes on (here: a timeout).
        assert await next_set(s.agen) == set()
        await s.close()

    run(main)


def test_bad_arguments(run, tmp_dir: Path) -> None:
    async def first(*args: Any, **kwargs: Any) -> None:
        agen = awatch(*args, **kwargs)
        try:
            await agen.__anext__()
        finally:
            await agen.aclose()

    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await first(tmp_dir / "missing")
        with pytest.raises(ValueError):
            await first(tmp_dir, debounce=-1)
        with (
            pytest.warns(DeprecationWarning),
            pytest.raises(FileNotFoundError),
        ):
            await first(tmp_dir / "missing", raise_interrupt=True)

    run(main)


def test_no_path_watches_nothing_as_watchfiles_does(run) -> None:
    """No path is no error: nothing is watched; the timeout and the stop
    event still work."""

    async def main() -> None:
        agen = awatch(rust_timeout=20, yield_on_timeout=True)
        assert await next_set(agen) == set()
        await agen.aclose()
        stop = asyncio.Event()
        agen = awatch(stop_event=stop)
        stop.set()
        with pytest.raises(StopAsyncIteration):
            await next_set(agen)

    run(main)
    stop = threading.Event()
    gen = inotipy.watch(rust_timeout=20, yield_on_timeout=True)
    assert next(gen) == set()
    gen.close()
    stop.set()
    assert list(inotipy.watch(stop_event=stop)) == []


@pytest.mark.root
def test_overflow_reports_a_trees_real_changes(
    run, tmp_dir: Path, inotify_sysctl
) -> None:
    """A tree heals after an overflow: what changed comes as changes, and
    the root is not reported as modified."""
    (tmp_dir / "old").write_text("x")

    async def main() -> None:
        with inotify_sysctl.limit("max_queued_events", 16):
            s = await start(tmp_dir, **FAST)
        for i in range(40):
            (tmp_dir / f"f{i}").touch()
        (tmp_dir / "old").unlink()
        changes = await s.first()
        await s.close()
        d = str(tmp_dir)
        assert (M, d) not in changes
        assert {(A, f"{d}/f{i}") for i in range(40)} <= changes
        assert (D, d + "/old") in changes

    run(main)


@pytest.mark.root
def test_overflow_reports_a_watched_file_as_modified(
    run, tmp_dir: Path, inotify_sysctl
) -> None:
    """A plain watch (here of one file) has no index to heal by: after an
    overflow it counts as modified."""
    target = tmp_dir / "log"
    target.write_text("")

    async def main() -> None:
        with inotify_sysctl.limit("max_queued_events", 16):
            s = await start(target, watched=(tmp_dir,), **FAST)
        with open(target, "a") as f:
            for i in range(40):
                f.write(f"{i}\n")
                f.flush()
        changes = await s.first()
        await s.close()
        assert (M, str(target)) in changes

    run(main)


# ---- the filters, against watchfiles' documented behaviour -----------------


@pytest.mark.parametrize(
    "path, kept",
    [
        ("/p/src/app.py", True),
        ("/p/src/app.pyc", False),
        ("/p/.git/HEAD", False),
        ("/p/node_modules/x/index.js", False),
        ("/p/src/.app.py.swp", False),
        ("/p/src/app.py~", False),
        ("/p/src/.#app.py", False),
        ("/p/.DS_Store", False),
        ("/p/flycheck_app.py", False),
        ("/p/app.py.___jb_tmp___", False),
        ("/p/gitignore", True),
        ("/p/.github/workflows/ci.yml", True),
    ],
)
def test_default_filter(path: str, kept: bool) -> None:
    assert DefaultFilter()(A, path) is kept


def test_filters_print_as_watchfiles_prints_them() -> None:
    import watchfiles

    class Mine(BaseFilter):
        ignore_paths = ("/x",)

    class Theirs(watchfiles.BaseFilter):
        ignore_paths = ("/x",)

    # One directory name: a set's order is the hash's.
    one = {"ignore_dirs": ("build",)}
    pairs = [
        (DefaultFilter(**one), watchfiles.DefaultFilter(**one)),
        (PythonFilter(ignore_paths=["/p"]), None),
        (Mine(), Theirs()),
    ]
    for ours, theirs in pairs:
        if theirs is None:
            theirs = watchfiles.PythonFilter(ignore_paths=["/p"])
            # Eleven names in a set: compare what is in it, not the order.
            assert repr(ours).split("}", 1)[1] == repr(theirs).split("}", 1)[1]
            continue
        assert repr(ours) == repr(theirs).replace("Theirs", "Mine")


def test_filter_options() -> None:
    f = DefaultFilter(
        ignore_dirs=("build",),
        ignore_entity_patterns=(),
        ignore_paths=("/p/secret",),
    )
    assert not f(A, "/p/build/x.py")
    assert f(A, "/p/.git/HEAD")
    assert f(A, "/p/x.pyc")
    assert not f(A, "/p/secret/key")
    assert repr(f) == (
        "DefaultFilter(_ignore_dirs={'build'}, _ignore_entity_regexes=(), "
        "_ignore_paths=('/p/secret',))"
    )

    class Docs(BaseFilter):
        # Each pattern is a regex of its own: flags and groups work.
        ignore_entity_patterns = (r"\.md$", r"(?i)\.tmp$", r"(b)\1")

    assert not Docs()(A, "/p/README.md") and Docs()(A, "/p/x.py")
    assert not Docs()(A, "/p/x.TMP") and not Docs()(A, "/p/bb")
    assert Docs()(A, "/p/aa")
    py = PythonFilter(extra_extensions=(".pyi",))
    assert py(A, "/p/x.pyi") and not py(A, "/p/x.txt")
    assert not py(A, "/p/__pycache__/x.py")


# ---- the blocking twin -----------------------------------------------------


def test_watch_blocking(tmp_dir: Path) -> None:
    stop = threading.Event()
    ready = threading.Event()

    def change() -> None:
        ready.wait(scaled(DEFAULT_DEADLINE))
        (tmp_dir / "a").write_text("x")

    thread = threading.Thread(target=change)
    thread.start()
    got = []
    try:
        gen = inotipy.watch(
            tmp_dir,
            stop_event=stop,
            rust_timeout=20,
            yield_on_timeout=True,
            **FAST,
        )
        end = time.monotonic() + scaled(DEFAULT_DEADLINE)
        for changes in gen:
            if not changes:
                ready.set()  # watching: make the change
                assert time.monotonic() < end
                continue
            got.append(changes)
            stop.set()
    finally:
        ready.set()
        thread.join()
    assert got == [{(A, str(tmp_dir / "a"))}]


def wait_watched_blocking(path: Path) -> None:
    end = time.monotonic() + scaled(DEFAULT_DEADLINE)
    while os.stat(path).st_ino not in watched_inodes():
        if time.monotonic() > end:
            pytest.fail(f"never watched {path}")
        time.sleep(0.005)  # polls a condition, against a deadline


def test_watch_blocking_tree(tmp_dir: Path) -> None:
    """A change made while the tree's scan runs is not left behind in the
    watcher: the blocking loop takes before it waits."""
    for i in range(200):
        (tmp_dir / f"d{i:03d}").mkdir()

    def change() -> None:
        wait_watched_blocking(tmp_dir)  # the root: the scan goes on
        (tmp_dir / "d199" / "late").touch()

    thread = threading.Thread(target=change)
    gen = inotipy.watch(tmp_dir, rust_timeout=int(scaled(5000)), **FAST)
    try:
        thread.start()
        changes = next(gen)
        thread.join()
        assert (A, str(tmp_dir / "d199" / "late")) in changes
    finally:
        gen.close()


SIGINT_SCRIPT = """
import sys, inotipy
try:
    for changes in inotipy.watch(sys.argv[1], rust_timeout=0,
                                 raise_interrupt=sys.argv[2] == "1"):
        print(changes, flush=True)
except KeyboardInterrupt:
    print("raised")
    sys.exit(3)
print("ended")
"""


@pytest.mark.parametrize(
    "raise_interrupt, status, output",
    [("0", 0, "ended\n"), ("1", 3, "raised\n")],
)
def test_watch_blocking_keyboard_interrupt(
    tmp_dir: Path, spawn, raise_interrupt: str, status: int, output: str
) -> None:
    child = spawn(
        [sys.executable, "-c", SIGINT_SCRIPT, str(tmp_dir), raise_interrupt]
    )
    child.wait_watching()
    child.signal(signal.SIGINT)
    assert child.finish()[:2] == (status, output)


def test_take_changes_survives_a_close_from_python(tmp_dir: Path) -> None:
    """_take_changes() calls back into Python (hashing the kinds); a kind
    whose hash closes the watcher stops it cleanly, nothing lost so far."""
    watcher = inotipy.Watcher()

    class Closing(int):
        def __hash__(self) -> int:
            watcher.close()
            return 1

    watcher.watch(tmp_dir, inotipy.IN.CREATE)
    for name in ("a", "b", "c"):
        (tmp_dir / name).touch()
    changes: set[Any] = set()
    taken, overflowed = watcher._take_changes(
        changes, Closing(1), Closing(2), Closing(3)
    )
    assert watcher.closed and not overflowed
    assert taken == 1 and len(changes) == 1


def test_runs_of_events_on_one_path(tmp_dir: Path) -> None:
    """A path's events in a row (what a burst gives) fold as one at a time
    would: the same name under two watches is two paths, added is not
    also modified, and deleted then added again is both."""
    one, two = tmp_dir / "one", tmp_dir / "two"
    one.mkdir()
    two.mkdir()
    (one / "old").write_text("x")
    with inotipy.Watcher() as w:
        mask = inotipy.IN.CREATE | inotipy.IN.MODIFY | inotipy.IN.DELETE
        mask |= inotipy.IN.CLOSE_WRITE
        w.watch(one, mask)
        w.watch(two, mask)
        (one / "f").write_text("a")  # CREATE, MODIFY, CLOSE_WRITE
        (two / "f").write_text("b")
        (one / "old").write_text("y")  # MODIFY, CLOSE_WRITE
        (one / "old").unlink()
        (one / "old").write_text("z")
        changes: set[Any] = set()
        taken, overflowed = w._take_changes(changes, A, M, D)
        assert taken >= 10 and not overflowed
        assert changes == {
            (A, f"{one}/f"),
            (A, f"{two}/f"),
            (M, f"{one}/old"),
            (D, f"{one}/old"),
            (A, f"{one}/old"),
        }
