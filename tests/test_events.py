"""Event objects: fields, names, paths and repr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inotipy import IN, Watcher

NON_UTF8 = b"caf\xe9"


def test_event_fields(run, tmp_dir: Path, wait_for_events) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watch = watcher.watch(str(tmp_dir), IN.CREATE)
            (tmp_dir / "f1").touch()
            [event] = await wait_for_events(watcher, 1)
            assert event.watch is watch
            assert event.wd == watch.wd
            assert event.mask == IN.CREATE
            assert isinstance(event.mask, int)
            assert event.cookie == 0
            assert event.pathname == "f1"
            assert event.name == "f1"
            assert event.path == os.path.join(str(tmp_dir), "f1")

    run(main)


def test_event_repr(run, tmp_dir: Path, wait_for_events) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watch = watcher.watch(tmp_dir, IN.CREATE)
            (tmp_dir / "f1").touch()
            (tmp_dir / "sub").mkdir()
            file_event, dir_event = await wait_for_events(watcher, 2)
            assert (
                repr(file_event)
                == f"Event({watch.wd}, [<EVENT_BIT.CREATE: 8>], 0, 'f1')"
            )
            assert repr(dir_event) == (
                f"Event({watch.wd}, [<EVENT_BIT.CREATE: 8>, "
                f"<EVENT_BIT.ISDIR: 30>], 0, 'sub')"
            )
            watch.remove()
            assert repr(file_event).startswith("Event(")
        assert repr(file_event).startswith("Event(")

    run(main)


def test_event_on_the_watched_object_itself(
    run, tmp_dir: Path, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watch = watcher.watch(str(tmp_dir), IN.ATTRIB)
            tmp_dir.chmod(0o750)
            [event] = await wait_for_events(watcher, 1)
            assert event.mask == IN.ATTRIB | IN.ISDIR
            assert event.pathname == event.name == ""
            assert event.path == watch.pathname

    run(main)


def test_move_cookies_pair(run, tmp_dir: Path, wait_for_events) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.MOVE)
            (tmp_dir / "f1").touch()
            (tmp_dir / "f1").rename(tmp_dir / "f2")
            moved_from, moved_to = await wait_for_events(watcher, 2)
            assert (moved_from.mask, moved_from.pathname) == (
                IN.MOVED_FROM,
                "f1",
            )
            assert (moved_to.mask, moved_to.pathname) == (IN.MOVED_TO, "f2")
            assert moved_from.cookie == moved_to.cookie != 0

    run(main)


def test_non_utf8_name_round_trips(
    run, tmp_dir: Path, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(str(tmp_dir), IN.CREATE)
            with open(os.path.join(os.fsencode(tmp_dir), NON_UTF8), "wb"):
                pass
            [event] = await wait_for_events(watcher, 1)
            assert event.pathname == os.fsdecode(NON_UTF8)
            assert os.fsencode(event.pathname) == NON_UTF8
            assert type(event.path) is str
            assert os.fsencode(event.path) == os.path.join(
                os.fsencode(tmp_dir), NON_UTF8
            )
            assert isinstance(repr(event), str)

    run(main)


def test_bytes_watch_gives_bytes_names(
    run, tmp_dir: Path, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            bpath = os.fsencode(tmp_dir)
            watcher.watch(bpath, IN.CREATE | IN.ATTRIB)
            (tmp_dir / "f1").touch()
            with open(os.path.join(bpath, NON_UTF8), "wb"):
                pass
            os.chmod(bpath, 0o750)
            plain, odd, itself = await wait_for_events(watcher, 3)
            assert plain.pathname == plain.name == b"f1"
            assert plain.path == os.path.join(bpath, b"f1")
            assert odd.pathname == NON_UTF8
            assert odd.path == os.path.join(bpath, NON_UTF8)
            assert itself.pathname == b""
            assert itself.path == bpath
            assert repr(plain) == (
                f"Event({plain.wd}, [<EVENT_BIT.CREATE: 8>], 0, {b'f1'!r})"
            )

    run(main)


def test_pathlike_watch_gives_str_names(
    run, tmp_dir: Path, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            (tmp_dir / "f1").touch()
            [event] = await wait_for_events(watcher, 1)
            assert event.pathname == "f1"
            assert os.fspath(event.path) == str(tmp_dir / "f1")

    run(main)


def test_longest_and_odd_names(run, tmp_dir: Path, wait_for_events) -> None:
    names = ["x" * 255, "new\nline", "sp ace", "\u00e9t\u00e9", "a"]

    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            for name in names:
                (tmp_dir / name).touch()
            events = await wait_for_events(watcher, len(names))
            assert [e.pathname for e in events] == names
            assert repr(events[1]).endswith(", 0, 'new\\nline')")

    run(main)


def test_events_are_tracked_and_a_pooled_one_found_is_not_reused(
    run, tmp_dir: Path, wait_for_events
) -> None:
    # Dead Events wait for reuse in a pool, still tracked by the collector
    # (freelist.h): gc.get_objects() lists them, cleared.  One found there
    # and held is the holder's: the pool never hands it out again.
    import gc

    from inotipy import _inotipy

    async def main() -> None:
        with Watcher.create() as watcher:
            watcher.watch(tmp_dir, IN.CREATE | IN.DELETE)
            for i in range(80):
                (tmp_dir / f"f{i}").touch()
            events = await wait_for_events(watcher, 80)
            assert all(gc.is_tracked(e) for e in events)
            del events
            held = [
                o
                for o in gc.get_objects()
                if type(o) is _inotipy.Event and o.name is None
            ]
            if not held:
                # Built without the pool (-Dfreelist=false), or for a
                # debug Python, whose pool holds untracked objects.
                pytest.skip("no tracked Event pool in this build")
            assert all(o.watch is None for o in held)
            for i in range(80):
                (tmp_dir / f"f{i}").unlink()
            again = await wait_for_events(watcher, 80)
            assert {id(e) for e in again}.isdisjoint(id(o) for o in held)
            assert all(gc.is_tracked(e) for e in again)
            assert [e.name for e in again] == [f"f{i}" for i in range(80)]

    run(main)
