"""Watcher.watch(), the watches property and Watch objects."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from inotipy import IN, Watcher

# ---- what watch() accepts ---------------------------------------------------


def test_watch_str_path(tmp_dir: Path, kernel_watches) -> None:
    with Watcher.create() as watcher:
        watch = watcher.watch(str(tmp_dir), IN.CREATE)
        assert watch.pathname == str(tmp_dir)
        assert type(watch.pathname) is str
        assert watch.mask == IN.CREATE
        assert watch.watcher is watcher
        assert watch.valid is True
        assert isinstance(watch.wd, int) and watch.wd > 0
        assert kernel_watches(watcher.fd) == {watch.wd: IN.CREATE}


def test_watch_bytes_path(tmp_dir: Path) -> None:
    with Watcher.create() as watcher:
        watch = watcher.watch(os.fsencode(tmp_dir), IN.CREATE)
        assert watch.pathname == os.fsencode(tmp_dir)
        assert type(watch.pathname) is bytes


def test_watch_pathlike(tmp_dir: Path) -> None:
    with Watcher.create() as watcher:
        watch = watcher.watch(tmp_dir, IN.CREATE)
        assert os.fspath(watch.pathname) == str(tmp_dir)


def test_watching_the_same_inode_returns_the_same_watch(
    tmp_dir: Path, kernel_watches
) -> None:
    with Watcher.create() as watcher:
        first = watcher.watch(tmp_dir, IN.CREATE)
        again = watcher.watch(str(tmp_dir) + "/.", IN.DELETE)
        assert again is first
        assert first.mask == IN.DELETE
        assert kernel_watches(watcher.fd) == {first.wd: IN.DELETE}
        assert watcher.watches == [first]


def test_mask_add_merges(tmp_dir: Path, kernel_watches) -> None:
    with Watcher.create() as watcher:
        watch = watcher.watch(tmp_dir, IN.CREATE)
        assert watcher.watch(tmp_dir, IN.DELETE | IN.MASK_ADD) is watch
        assert watch.mask == IN.CREATE | IN.DELETE
        assert kernel_watches(watcher.fd) == {watch.wd: IN.CREATE | IN.DELETE}


def test_replace_mask(
    run, tmp_dir: Path, kernel_watches, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watch = watcher.watch(tmp_dir, IN.CREATE)
            watch.replace_mask(IN.DELETE)
            assert watch.mask == IN.DELETE
            assert kernel_watches(watcher.fd) == {watch.wd: IN.DELETE}
            (tmp_dir / "f1").touch()
            (tmp_dir / "f1").unlink()
            [event] = await wait_for_events(watcher, 1)
            assert event.mask == IN.DELETE and event.pathname == "f1"
            assert await watcher.get(0) is None

    run(main)


def test_replace_mask_after_rename_leaves_other_watches_alone(
    tmp_path: Path, kernel_watches
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with Watcher.create() as watcher:
        wa = watcher.watch(str(a), IN.CREATE)
        wb = watcher.watch(str(b), IN.CREATE)
        a.rename(tmp_path / "c")
        b.rename(a)  # wa's pathname now names wb's directory
        with pytest.raises(OSError):
            wa.replace_mask(IN.DELETE)
        assert wb.mask == IN.CREATE
        assert kernel_watches(watcher.fd) == {
            wa.wd: IN.CREATE,
            wb.wd: IN.CREATE,
        }


# ---- errors -----------------------------------------------------------------


def test_missing_path_is_file_not_found(tmp_dir: Path) -> None:
    missing = str(tmp_dir / "missing")
    with Watcher.create() as watcher:
        with pytest.raises(FileNotFoundError) as info:
            watcher.watch(missing, IN.CREATE)
        assert info.value.errno == errno.ENOENT
        assert info.value.filename == missing
        assert watcher.watches == []


def test_onlydir_on_a_file_is_not_a_directory(tmp_dir: Path) -> None:
    path = str(tmp_dir / "file")
    Path(path).touch()
    with Watcher.create() as watcher:
        with pytest.raises(NotADirectoryError) as info:
            watcher.watch(path, IN.CREATE | IN.ONLYDIR)
        assert info.value.filename == path
        # Without ONLYDIR a file can be watched.
        assert watcher.watch(path, IN.MODIFY).pathname == path


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A root-owned 0o700 directory inside a directory anyone may enter."""
    top = Path(tempfile.mkdtemp(prefix="inotipy-perm-"))
    try:
        top.chmod(0o755)
        private = top / "private"
        private.mkdir(mode=0o700)
        yield private
    finally:
        shutil.rmtree(top)


# Runs as root, then drops to "nobody" before watching.
PERMISSION_CHILD = """
import os, sys
import inotipy
private = sys.argv[1]
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
with inotipy.Watcher.create() as watcher:
    watcher.watch(os.path.dirname(private), inotipy.IN.CREATE)
    try:
        watcher.watch(private, inotipy.IN.CREATE)
    except PermissionError as exc:
        print("PermissionError", exc.errno, exc.filename == private)
    except BaseException as exc:
        print("other", repr(exc))
    else:
        print("no error")
"""


@pytest.mark.root
def test_unreadable_directory_is_permission_error(private_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PERMISSION_CHILD, str(private_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "PermissionError",
        str(errno.EACCES),
        "True",
    ]


@pytest.mark.parametrize("mask", [0, IN.ONLYDIR, IN.MASK_ADD | IN.DONT_FOLLOW])
def test_mask_without_event_bit_is_value_error(
    tmp_dir: Path, mask: int
) -> None:
    with Watcher.create() as watcher:
        with pytest.raises(ValueError):
            watcher.watch(tmp_dir, mask)
        assert watcher.watches == []


@pytest.mark.parametrize("extra", [1 << 12, 1 << 20, 1 << 27])
def test_unknown_mask_bits_are_value_error(tmp_dir: Path, extra: int) -> None:
    with Watcher.create() as watcher:
        with pytest.raises(ValueError):
            watcher.watch(tmp_dir, IN.CREATE | extra)
        assert watcher.watches == []


@pytest.mark.parametrize(
    "args",
    [(123, IN.CREATE), (None, IN.CREATE), (["x"], IN.CREATE)],
    ids=["int-path", "none-path", "list-path"],
)
def test_wrong_path_type_is_type_error(args: tuple) -> None:
    with Watcher.create() as watcher, pytest.raises(TypeError):
        watcher.watch(*args)


@pytest.mark.parametrize("mask", ["CREATE", 256.0, None], ids=repr)
def test_wrong_mask_type_is_type_error(tmp_dir: Path, mask: object) -> None:
    with Watcher.create() as watcher, pytest.raises(TypeError):
        watcher.watch(tmp_dir, mask)


@pytest.mark.parametrize("path", ["a\0b", b"a\0b"], ids=["str", "bytes"])
def test_nul_in_path_is_value_error(path: str | bytes) -> None:
    with Watcher.create() as watcher, pytest.raises(ValueError):
        watcher.watch(path, IN.CREATE)


def _root_watch_count() -> int:
    """The inotify watches that root's processes hold, as /proc shows them."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != 0:
                continue
            for fd in os.listdir(f"/proc/{pid}/fdinfo"):
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    count += f.read().count("inotify wd:")
        except OSError:
            pass  # the process or descriptor went away
    return count


@pytest.mark.root
def test_out_of_watches_names_the_limit(
    tmp_path: Path, inotify_sysctl
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    with Watcher.create() as watcher:
        watcher.watch(first, IN.CREATE)
        with (
            inotify_sysctl.limit("max_user_watches", _root_watch_count()),
            pytest.raises(OSError) as info,
        ):
            watcher.watch(second, IN.CREATE)
        assert info.value.errno == errno.ENOSPC
        assert "/proc/sys/fs/inotify/max_user_watches" in str(info.value)
        assert len(watcher.watches) == 1
        # Works again once the limit is back.
        watcher.watch(second, IN.CREATE)


# ---- the watches property ---------------------------------------------------


def test_watches_sorted_by_pathname(
    run, tmp_path: Path, wait_for_events
) -> None:
    dirs = {name: tmp_path / name for name in ("b", "a", "c")}
    for d in dirs.values():
        d.mkdir()

    async def main() -> None:
        with Watcher.create() as watcher:
            assert watcher.watches == []
            made = {
                name: watcher.watch(str(d), IN.CREATE | IN.DELETE_SELF)
                for name, d in dirs.items()
            }
            assert watcher.watches == [made["a"], made["b"], made["c"]]

            made["b"].remove()
            assert watcher.watches == [made["a"], made["c"]]
            await wait_for_events(watcher, 1)  # b's IGNORED
            assert watcher.watches == [made["a"], made["c"]]

            dirs["a"].rmdir()  # DELETE_SELF, IGNORED
            await wait_for_events(watcher, 2)
            assert watcher.watches == [made["c"]]

    run(main)


# ---- Watch objects ----------------------------------------------------------


def test_watch_is_hashable_by_identity(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with Watcher.create() as watcher:
        wa = watcher.watch(tmp_path / "a", IN.CREATE)
        wb = watcher.watch(tmp_path / "b", IN.CREATE)
        table = {wa: "a", wb: "b"}
        assert table[wa] == "a" and table[wb] == "b"
        assert wa == wa and wa != wb
        assert hash(wa) == hash(wa)
        assert watcher.watch(tmp_path / "a", IN.DELETE) in table
        hash_before = hash(wa)
        wa.remove()
        assert hash(wa) == hash_before and wa in table


def test_remove_delivers_ignored_with_the_watch(
    run, tmp_path: Path, wait_for_events
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()

    async def main() -> None:
        with Watcher.create() as watcher:
            wa = watcher.watch(a, IN.CREATE)
            wb = watcher.watch(b, IN.CREATE)
            wa.remove()
            assert wa.valid is False
            wa.remove()  # a second time is fine
            (b / "f1").touch()
            events = await wait_for_events(watcher, 2)
            assert [(e.watch, e.mask, e.pathname) for e in events] == [
                (wa, IN.IGNORED, ""),
                (wb, IN.CREATE, "f1"),
            ]
            assert events[0].watch is wa
            assert events[1].watch is wb and wb.valid
            wa.remove()  # and after its IGNORED
            assert await watcher.get(0) is None

    run(main)


def test_rewatch_right_after_remove_gives_a_new_watch(
    run, tmp_dir: Path, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            old = watcher.watch(tmp_dir, IN.CREATE)
            old.remove()
            new = watcher.watch(tmp_dir, IN.CREATE)
            assert new is not old
            assert new.valid and not old.valid
            (tmp_dir / "f1").touch()
            events = await wait_for_events(watcher, 2)
            assert [(e.watch, e.mask) for e in events] == [
                (old, IN.IGNORED),
                (new, IN.CREATE),
            ]
            assert new.valid
            assert watcher.watches == [new]

    run(main)


def test_rmdir_delivers_delete_self_then_ignored(
    run, tmp_dir: Path, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher.create() as watcher:
            watch = watcher.watch(tmp_dir, IN.DELETE_SELF)
            tmp_dir.rmdir()
            first, second = await wait_for_events(watcher, 2)
            assert first.watch is watch and first.mask == IN.DELETE_SELF
            assert second.watch is watch and second.mask == IN.IGNORED
            assert first.pathname == second.pathname == ""
            assert watch.valid is False
            assert watcher.watches == []

    run(main)


def test_close_invalidates_watches_and_remove_is_a_no_op(
    tmp_dir: Path,
) -> None:
    watcher = Watcher.create()
    watch = watcher.watch(tmp_dir, IN.CREATE)
    watcher.close()
    assert watch.valid is False
    watch.remove()
    assert watch.watcher is watcher


def test_watch_repr(tmp_dir: Path) -> None:
    with Watcher.create() as watcher:
        watch = watcher.watch(str(tmp_dir), IN.CREATE)
        assert repr(watch) == (
            f"Watch({str(tmp_dir)!r}, [<EVENT_BIT.CREATE: 8>], "
            f"{watcher.fd}:{watch.wd})"
        )
        watch.remove()
        assert isinstance(repr(watch), str)
    assert isinstance(repr(watch), str)


def test_watch_repr_after_close(tmp_dir: Path) -> None:
    watcher = Watcher.create()
    watch = watcher.watch(os.fsencode(tmp_dir), IN.CREATE | IN.DELETE)
    watcher.close()
    assert repr(watch).startswith(f"Watch({os.fsencode(tmp_dir)!r}, ")
