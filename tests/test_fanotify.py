"""fanotify trees (issue 11): watch_tree(backend="fanotify") as root, on a
real ext4 directory and on a tmpfs mounted for the test: creates, deletes
and renames of files and directories, moves in and out of the tree,
events outside it not reported, a new directory's contents with no race,
overflows healed by the index (fs.fanotify.max_queued_events lowered for
the group's creation only, then restored), closing, the errors without
the privilege or with a watcher that has inotify watches, older kernels
(5.8, 5.16, and one without the entry's handle) made by a seccomp filter
that refuses what they do not know, "auto" taking
fanotify at the inotify watch limit, awatch()/watch()/the CLI, and the
exact-tree oracle run on fanotify, with and without overflows.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import inotipy
from inotipy import IN, Change, Watcher
from inotipy import _fanotify as fanotify
from support import scaled, wait_for_events

MASK = IN.CREATE | IN.DELETE | IN.MOVE | IN.MODIFY
FAN_QUEUED = Path("/proc/sys/fs/fanotify/max_queued_events")


def _fanotify_problem() -> str | None:
    if os.geteuid() != 0:
        return "fanotify needs root"
    w = Watcher()
    try:
        w._use_fanotify()
    except OSError as e:
        return f"no fanotify here: {e}"
    finally:
        w.close()
    return None


@pytest.fixture(autouse=True)
def _needs_fanotify(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("unprivileged"):
        return
    problem = _fanotify_problem()
    if problem is not None:
        pytest.skip(problem)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    with _tmpfs_at(tmp_path / "tmpfs") as path:
        yield path


@pytest.fixture(params=["ext4", "tmpfs"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A directory holding "tree" (watched) and "out" (beside it), on the
    ext4 of /tmp or on a fresh tmpfs."""
    if request.param == "ext4":
        base = tmp_path / "ext4"
        base.mkdir()
        yield base
        return
    with _tmpfs_at(tmp_path / "tmpfs") as path:
        yield path


@contextlib.contextmanager
def _tmpfs_at(path: Path) -> Iterator[Path]:
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "none", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def kinds(events: list[Any]) -> list[tuple[str, str]]:
    """(kind, pathname) of each change event, kind as 'CREATE|ISDIR'."""
    out = []
    for e in events:
        for k in ("CREATE", "DELETE", "MOVED_FROM", "MOVED_TO", "MODIFY"):
            if e.mask & IN[k]:
                out.append(
                    (k + ("|ISDIR" if e.mask & IN.ISDIR else ""), e.pathname)
                )
                break
    return out


def write(path: Path, data: str = "x") -> None:
    with open(path, "w") as f:
        f.write(data)


async def settle(w: Watcher) -> list[Any]:
    """Everything the watcher has, once the kernel's queue is read."""
    await w.sync()
    return list(w.get_batch_nowait())


@contextlib.contextmanager
def fan_queue(value: int) -> Iterator[None]:
    """Holds fs.fanotify.max_queued_events at value for the body (a group
    reads it when it is made: keep the body short)."""
    old = FAN_QUEUED.read_text()
    FAN_QUEUED.write_text(f"{value}\n")
    try:
        yield
    finally:
        FAN_QUEUED.write_text(old)


# ---- events -----------------------------------------------------------------


def test_files_and_directories(run: Any, place: Path) -> None:
    tree, out = place / "tree", place / "out"
    (tree / "a" / "b").mkdir(parents=True)
    write(tree / "a" / "f")
    (out / "d").mkdir(parents=True)
    write(out / "d" / "inside")

    async def main() -> None:
        with Watcher() as w:
            root = w.watch_tree(tree, MASK, backend="fanotify")
            assert w._is_fanotify() and root.pathname == str(tree)
            assert w.stats().tree_dirs == 3
            write(out / "elsewhere")  # beside the tree: not reported
            write(tree / "a" / "b" / "new")
            os.rename(tree / "a" / "f", tree / "g")
            os.rename(tree / "a" / "b", tree / "b2")
            os.unlink(tree / "g")
            evs = await wait_for_events(w, 6)
            evs += await settle(w)
            assert kinds(evs) == [
                ("CREATE", "a/b/new"),
                ("MODIFY", "a/b/new"),
                ("MOVED_FROM", "a/f"),
                ("MOVED_TO", "g"),
                ("MOVED_FROM|ISDIR", "a/b"),
                ("MOVED_TO|ISDIR", "b2"),
                ("DELETE", "g"),
            ]
            assert evs[2].cookie == evs[3].cookie != 0
            assert evs[4].cookie == evs[5].cookie != evs[2].cookie
            # The renamed directory is known under its new name.
            write(tree / "b2" / "later")
            assert ("CREATE", "b2/later") in kinds(await wait_for_events(w, 1))
            await settle(w)

            # Out of the tree, into it, and removed.
            os.rename(tree / "b2", out / "b2")
            os.rename(out / "d", tree / "d")
            write(out / "b2" / "unseen")
            write(tree / "d" / "seen")
            evs = await wait_for_events(w, 4)
            evs += await settle(w)
            got = kinds(evs)
            assert ("MOVED_FROM|ISDIR", "b2") in got
            assert ("MOVED_TO|ISDIR", "d") in got
            assert ("CREATE", "d/inside") in got  # the scan of d
            assert ("CREATE", "d/seen") in got
            assert not [p for _, p in got if "unseen" in p]
            for name in ("seen", "inside"):
                os.unlink(tree / "d" / name)
            os.rmdir(tree / "d")
            evs = await wait_for_events(
                w, lambda es: ("DELETE|ISDIR", "d") in kinds(es)
            )
            assert kinds(evs)[-1] == ("DELETE|ISDIR", "d")
            assert w.stats().tree_dirs == 2

    run(main)


def test_new_directory_contents_have_no_race(run: Any, place: Path) -> None:
    """A burst of directories with files in each, made faster than the
    events are read: each named once, the directory before what it
    holds."""
    tree = place / "tree"
    tree.mkdir()

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tree, IN.CREATE, backend="fanotify")
            rel = Path()
            expected = []
            for i in range(12):
                rel = rel / f"d{i}"
                (tree / rel).mkdir()
                expected.append(("CREATE|ISDIR", str(rel)))
                for j in range(3):
                    write(tree / rel / f"f{j}")
                    expected.append(("CREATE", str(rel / f"f{j}")))
            evs = await wait_for_events(w, len(expected))
            evs += await settle(w)
            got = kinds(evs)
            assert sorted(got) == sorted(expected)
            for kind, path in got:
                if kind == "CREATE":
                    parent = os.path.dirname(path)
                    assert got.index(("CREATE|ISDIR", parent)) < got.index(
                        (kind, path)
                    )

    run(main)


@pytest.mark.parametrize("contents", [False, True], ids=["empty", "full"])
def test_a_name_made_again_after_its_directory_left(
    run: Any, place: Path, contents: bool
) -> None:
    """mkdir a, mv a b, mkdir a, all before a's CREATE is read: the path
    a then leads to the second directory.  Watching what is there for the
    first CREATE would take the second for the first (and move it to b
    with the rename).  With the kernel's handle of the directory each
    record tells of (Linux 5.17), the first is seen gone, the rename
    tells b as moved in, and the second a comes with its own CREATE; the
    events applied in order give the tree on disk."""
    import oracle

    tree = place / "tree"
    tree.mkdir()

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tree, MASK, backend="fanotify")
            (tree / "a").mkdir()
            if contents:
                write(tree / "a" / "first")
                (tree / "a" / "sub").mkdir()
            os.rename(tree / "a", tree / "b")
            (tree / "a").mkdir()
            if contents:
                write(tree / "a" / "second")
            evs = await wait_for_events(
                w, lambda es: any(e.pathname == "b" for e in es)
            )
            evs += await settle(w)
            model = oracle.Model(str(tree), {})
            for i, e in enumerate(evs):
                model.apply(oracle.record_of(i, e))
            model.finish()
            assert not model.violations, model.violations
            assert model.snapshot() == oracle.walk(str(tree)), kinds(evs)
            assert w.stats().tree_dirs == 3 + (1 if contents else 0)

    run(main)


def test_a_directory_renamed_away_while_its_new_parent_is_scanned(
    run: Any, place: Path
) -> None:
    """mkdir p; mkdir p/d; mv p/d q; mkdir p/d; mkdir p/d/x, all before
    p's CREATE is read: the scan of p finds the second d (and x), and the
    rename record then tells of the first.  It takes the directory it
    names by its handle, not the one the trees hold at p/d: that one
    stays, and q arrives as a directory moved in."""
    import oracle

    tree = place / "tree"
    tree.mkdir()

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tree, MASK, backend="fanotify")
            (tree / "p").mkdir()
            (tree / "p" / "d").mkdir()
            write(tree / "p" / "d" / "first")
            os.rename(tree / "p" / "d", tree / "q")
            (tree / "p" / "d").mkdir()
            (tree / "p" / "d" / "x").mkdir()
            evs = await wait_for_events(
                w, lambda es: any(e.pathname == "q" for e in es)
            )
            evs += await settle(w)
            model = oracle.Model(str(tree), {})
            for i, e in enumerate(evs):
                model.apply(oracle.record_of(i, e))
            model.finish()
            assert not model.violations, model.violations
            assert model.snapshot() == oracle.walk(str(tree)), kinds(evs)
            assert w.stats().tree_dirs == 5

    run(main)


def test_no_inotify_watch_and_no_event_outside(
    run: Any, tmp_path: Path
) -> None:
    """The tree holds no kernel watch per directory: the descriptor is a
    fanotify group with one mark for the file system."""
    tree = tmp_path / "tree"
    for i in range(50):
        (tree / f"d{i}").mkdir(parents=True)

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tree, MASK, backend="fanotify")
            info = Path(f"/proc/self/fdinfo/{w.fileno()}").read_text()
            assert "inotify wd:" not in info
            marks = [ln for ln in info.splitlines() if "fanotify" in ln]
            assert len(marks) == 2, info  # the group, and one sb mark
            assert "sdev:" in marks[1]
            assert w.stats().tree_dirs == 51
            assert w.stats().watches == 0  # no inotify watch
            write(tmp_path / "beside")
            assert await settle(w) == []

    run(main)


def test_two_trees_on_two_file_systems(
    run: Any, tmp_path: Path, tmpfs: Path
) -> None:
    ext4 = tmp_path / "ext4"
    ext4.mkdir()

    async def main() -> None:
        with Watcher() as w:
            a = w.watch_tree(ext4, MASK, backend="fanotify")
            b = w.watch_tree(tmpfs, MASK)  # a fanotify watcher: fanotify
            write(ext4 / "x")
            write(tmpfs / "y")
            evs = await wait_for_events(w, 4)
            evs += await settle(w)
            assert {(e.wd, e.pathname) for e in evs} == {
                (a.wd, "x"),
                (b.wd, "y"),
            }

    run(main)


# ---- overflows --------------------------------------------------------------


def test_overflow_heals_from_the_index(run: Any, place: Path) -> None:
    tree = place / "tree"
    tree.mkdir()
    for i in range(20):
        write(tree / f"old{i}")

    async def main() -> None:
        w = Watcher()
        with fan_queue(32):
            fanotify.ensure(w)
        with w:
            w.watch_tree(tree, IN.CREATE | IN.DELETE, backend="fanotify")
            for i in range(300):
                write(tree / f"new{i}")
            for i in range(20):
                os.unlink(tree / f"old{i}")
            evs = await wait_for_events(
                w, lambda es: any(e.mask & IN.SYNCED for e in es)
            )
            evs += await settle(w)
            assert any(e.mask & IN.Q_OVERFLOW for e in evs)
            model = {f"old{i}" for i in range(20)}
            for kind, path in kinds(evs):
                if kind == "CREATE":
                    model.add(path)
                elif kind == "DELETE":
                    model.discard(path)
            assert model == {f"new{i}" for i in range(300)}
            assert w.stats().tree_files == 300

    run(main)


# ---- closing, removing, errors ----------------------------------------------


def test_close_and_remove(run: Any, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)

    async def main() -> None:
        w = Watcher()
        root = w.watch_tree(tree, MASK, backend="fanotify")
        root.remove()
        evs = await wait_for_events(w, 1)
        assert evs[0].mask & IN.IGNORED
        assert w.watch_count == 0
        w.watch_tree(tree, MASK, backend="fanotify")
        fd = w.fileno()
        w.close()
        w.close()
        assert w.closed
        with pytest.raises(OSError):
            os.fstat(fd)

    run(main)


def test_root_removed_ends_the_tree(run: Any, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)

    async def main() -> None:
        with Watcher() as w:
            w.watch_tree(tree, MASK, backend="fanotify")
            os.rmdir(tree / "a")
            os.rmdir(tree)
            evs = await wait_for_events(
                w, lambda es: bool(es) and bool(es[-1].mask & IN.IGNORED)
            )
            assert ("DELETE|ISDIR", "a") in kinds(evs)
            assert w.watch_count == 0

    run(main)


def test_mixing_backends_is_refused(tmp_path: Path) -> None:
    with Watcher() as w:
        w.watch(tmp_path, IN.CREATE)
        with pytest.raises(ValueError, match="watcher of its own"):
            w.watch_tree(tmp_path, backend="fanotify")
    with Watcher() as w:
        w.watch_tree(tmp_path, backend="fanotify")
        with pytest.raises(ValueError, match="trees only"):
            w.watch(tmp_path, IN.CREATE)
        for backend in ("inotify", "poll"):
            with pytest.raises(ValueError, match="fanotify watcher"):
                w.watch_tree(tmp_path / "x", backend=backend)
        with pytest.raises(FileNotFoundError):
            w.watch_tree(tmp_path / "missing", backend="fanotify")


UNPRIVILEGED_CHILD = """
import os, sys
import inotipy
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
with inotipy.Watcher() as w:
    try:
        w.watch_tree(sys.argv[1], backend="fanotify")
    except PermissionError as exc:
        print("PermissionError", exc.errno, exc.strerror)
    except BaseException as exc:
        print("other", repr(exc))
    else:
        print("no error")
    # auto never needs it.
    w.watch_tree(sys.argv[1])
    print("auto", w._is_fanotify())
"""


@pytest.mark.unprivileged
@pytest.mark.root
def test_permission_error_without_the_privilege(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("drops root's privileges in a child")
    # A directory "nobody" may reach (pytest's own is root's alone).
    top = Path(tempfile.mkdtemp(prefix="inotipy-fan-"))
    try:
        top.chmod(0o755)
        result = subprocess.run(
            [sys.executable, "-c", UNPRIVILEGED_CHILD, str(top)],
            capture_output=True,
            text=True,
            timeout=scaled(60),
        )
    finally:
        top.rmdir()
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith(f"PermissionError {errno.EPERM} "), first
    assert "CAP_SYS_ADMIN" in first
    assert second == "auto False"


@pytest.mark.unprivileged
def test_the_errors_name_what_is_missing() -> None:
    """mark_error(), which turns a failed mark into what the user reads
    (the kernel's own failures are made in the seccomp tests below)."""
    e = fanotify.mark_error(OSError(errno.EINVAL, "x"), "/p")
    assert e.errno == errno.EINVAL and "FAN_RENAME" in str(e)
    assert e.filename == "/p"
    e = fanotify.mark_error(OSError(errno.EXDEV, "x"), b"/p")
    assert "file handles" in str(e) and e.filename == "/p"
    other = OSError(errno.ENOENT, "x")
    assert fanotify.mark_error(other, "/p") is other
    assert fanotify.KERNEL_NEEDS["FAN_RENAME"] == (5, 17)


# ---- older kernels, made by seccomp -----------------------------------------
#
# An older kernel refuses, with EINVAL, the fanotify_init() flags and the
# fanotify_mark() event bits it does not know.  These tests give a child
# process exactly that refusal: a seccomp filter (installed with prctl()
# through ctypes, no library) fails fanotify_init() when its flags hold
# one of INIT_BITS and fanotify_mark() when its mask holds one of
# MARK_BITS; every other call reaches the real kernel.

FAN_REPORT_DIR_FID = 0x00000400
FAN_REPORT_NAME = 0x00000800
FAN_REPORT_TARGET_FID = 0x00001000
FAN_RENAME = 0x10000000

OLD_KERNEL = r"""
import asyncio, ctypes, errno, json, os, struct, sys
init_bits, mark_bits, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def ld(off): return struct.pack("HBBI", 0x20, 0, 0, off)
def jeq(k, jt, jf): return struct.pack("HBBI", 0x15, jt, jf, k)
def jset(k, jt, jf): return struct.pack("HBBI", 0x45, jt, jf, k)
def ret(k): return struct.pack("HBBI", 0x06, 0, 0, k)
ALLOW, EINVAL = 0x7FFF0000, 0x00050000 | errno.EINVAL
prog = b"".join([
    ld(4), jeq(0xC000003E, 0, 3),          # x86_64, else allow
    ld(0), jeq(300, 2, 0), jeq(301, 4, 0),  # fanotify_init, fanotify_mark
    ret(ALLOW),
    ld(16), jset(init_bits, 4, 0), ret(ALLOW),   # init: flags, args[0]
    ld(32), jset(mark_bits, 1, 0), ret(ALLOW),   # mark: mask, args[2]
    ret(EINVAL),
])
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fprog = Fprog(len(prog) // 8, ctypes.addressof(buf))
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p,
                       ctypes.c_ulong, ctypes.c_ulong]
assert libc.prctl(38, 1, None, 0, 0) == 0            # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # SECCOMP_FILTER

import inotipy
from inotipy import IN

async def main():
    out = {}
    w = inotipy.Watcher()
    try:
        w.watch_tree(root, IN.CREATE | IN.MOVE, backend="fanotify")
    except OSError as e:
        out["error"] = [type(e).__name__, e.errno, str(e)]
        out["fanotify"] = w._is_fanotify()
        w.watch_tree(root, IN.CREATE | IN.MOVE)  # inotify's, as before
    else:
        out["fanotify"] = w._is_fanotify()
    out["events"] = []
    for step in (
        lambda: os.mkdir(os.path.join(root, "d")),
        lambda: open(os.path.join(root, "d", "f"), "w").close(),
        lambda: os.rename(os.path.join(root, "d"), os.path.join(root, "e")),
    ):
        step()
        await w.sync()
        out["events"] += [
            [
                str(IN(e.mask & ~IN.ISDIR).name),
                e.pathname,
                e.src_path and os.path.relpath(e.src_path, root),
            ]
            for e in w.get_batch_nowait()
        ]
    w.close()
    print(json.dumps(out))

asyncio.run(main())
"""


def _on_old_kernel(
    tmp_path: Path, init_bits: int, mark_bits: int
) -> dict[str, Any]:
    import json
    import platform

    if platform.machine() != "x86_64":
        pytest.skip("the seccomp filter is written for x86_64")
    root = tmp_path / "tree"
    root.mkdir()
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            OLD_KERNEL,
            str(init_bits),
            str(mark_bits),
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


MOVED = [
    ["CREATE", "d", None],
    ["CREATE", "d/f", None],
    ["MOVED_FROM", "d", None],
    ["MOVED_TO", "e", "d"],
]


def test_before_5_9_the_error_names_the_versions(tmp_path: Path) -> None:
    """Linux 5.8 knows no FAN_REPORT_NAME: fanotify_init() fails, the
    error names what is needed and the running kernel, and the watcher
    is an inotify watcher again, that works."""
    out = _on_old_kernel(tmp_path, FAN_REPORT_NAME, 0)
    kind, err, text = out["error"]
    assert (kind, err) == ("OSError", errno.EINVAL)
    assert "5.9" in text and "5.17" in text
    assert out["fanotify"] is False
    assert out["events"] == MOVED


def test_before_5_17_the_error_names_fan_rename(tmp_path: Path) -> None:
    """Linux 5.9 to 5.16: the group is made (without the entry's handle,
    which 5.17 brought too), and the mark fails on FAN_RENAME."""
    out = _on_old_kernel(tmp_path, FAN_REPORT_TARGET_FID, FAN_RENAME)
    kind, err, text = out["error"]
    assert (kind, err) == ("OSError", errno.EINVAL)
    assert "FAN_RENAME" in text and "5.17" in text
    assert out["fanotify"] is False
    assert out["events"] == MOVED


def test_without_the_entry_s_handle_the_tree_trusts_paths(
    tmp_path: Path,
) -> None:
    """A kernel that refuses FAN_REPORT_TARGET_FID but takes FAN_RENAME:
    the group is made without the entry's handle, and the tree works
    from names, as with inotify."""
    out = _on_old_kernel(tmp_path, FAN_REPORT_TARGET_FID, 0)
    assert "error" not in out
    assert out["fanotify"] is True
    assert out["events"] == MOVED


def test_auto_takes_fanotify_at_the_watch_limit(
    tmp_path: Path, inotify_sysctl: Any
) -> None:
    tree = tmp_path / "tree"
    for i in range(30):
        (tree / f"d{i}").mkdir(parents=True)
    # The limit is per user, and other processes of root's count: 10 is
    # below what the tree alone needs.
    with Watcher() as busy, Watcher() as w:
        busy.watch(tmp_path, IN.CREATE)
        with inotify_sysctl.limit("max_user_watches", 10):
            w.watch_tree(tree, MASK)
            assert w._is_fanotify()
            assert w.stats().tree_dirs == 31
            # Not on a watcher that has a watch: the inotify error stays.
            with pytest.raises(OSError, match="watch limit"):
                busy.watch_tree(tree, MASK)


def test_a_file_system_without_handles_leaves_an_inotify_watcher() -> None:
    """procfs gives no file handles: the error says so, and the watcher is
    an inotify watcher again, as before the call."""
    with Watcher() as w:
        with pytest.raises(OSError, match="file handles") as info:
            w.watch_tree("/proc/sys/fs", backend="fanotify")
        assert info.value.errno == errno.EOPNOTSUPP
        assert not w._is_fanotify()
        w.watch_tree("/proc/sys/fs", IN.MODIFY, backend="inotify")


def test_auto_keeps_inotify_s_error_when_fanotify_cannot_either(
    inotify_sysctl: Any,
) -> None:
    with Watcher() as busy, Watcher() as w:
        busy.watch("/proc/sys", IN.MODIFY)
        with (
            inotify_sysctl.limit("max_user_watches", 10),
            pytest.raises(OSError, match="watch limit") as info,
        ):
            w.watch_tree("/proc/sys", IN.MODIFY)
        assert info.value.errno == errno.ENOSPC
        assert "file handles" in str(info.value.__context__)
        assert not w._is_fanotify()


# ---- awatch(), watch() and the CLI ------------------------------------------


async def _first_changes(root: Path) -> set[Any]:
    changes_of = inotipy.awatch(
        root,
        debounce=100,
        step=20,
        rust_timeout=int(scaled(1000)),
        yield_on_timeout=True,
        backend="fanotify",
    )
    async with contextlib.aclosing(changes_of):
        async for changes in changes_of:
            if not changes:
                write(root / "f.py")
                continue
            return changes
    raise AssertionError("awatch ended")


def test_awatch(run: Any, tmp_path: Path) -> None:
    changes = run(_first_changes, tmp_path)
    assert changes == {(Change.added, str(tmp_path / "f.py"))}


def test_blocking_watch(tmp_path: Path) -> None:
    for changes in inotipy.watch(
        tmp_path,
        debounce=100,
        step=20,
        rust_timeout=int(scaled(1000)),
        yield_on_timeout=True,
        backend="fanotify",
    ):
        if not changes:
            write(tmp_path / "g.py")
            continue
        assert changes == {(Change.added, str(tmp_path / "g.py"))}
        break


def test_cli_backend_fanotify(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "inotipy", "-r", "-n", "1",
            "--backend", "fanotify", "-e", "create",
            "--format", "%e %w%f", str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Watches established" in line:
                break
        write(tmp_path / "f")
        out, err = proc.communicate(timeout=scaled(10))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == f"CREATE {tmp_path}/f"


# ---- the exact-tree oracle, on fanotify -------------------------------------


@pytest.mark.parametrize("seed", [31, 32, 33, 34])
def test_oracle_exact(run: Any, tmp_path: Path, seed: int) -> None:
    import oracle

    config = oracle.Config(
        seed=seed, procs=2, ops=40, base=str(tmp_path), backend="fanotify"
    )
    result = run(oracle.run_once, config)
    assert result.exact, result.report(events=False)


@pytest.mark.parametrize("seed", [41, 42])
def test_oracle_exact_with_overflows(
    run: Any, tmp_path: Path, seed: int
) -> None:
    import oracle

    config = oracle.Config(
        seed=seed,
        procs=2,
        ops=60,
        overflow=16,
        base=str(tmp_path),
        backend="fanotify",
    )
    result = run(oracle.run_once, config)
    assert result.exact, result.report(events=False)
    assert FAN_QUEUED.read_text().strip() != "16"
