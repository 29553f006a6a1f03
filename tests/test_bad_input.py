"""Bad input: each case raises a clear exception, and the watcher that saw
it goes on working (a watch made afterwards delivers its events).

The last tests replay the decoder fuzzer's seed corpus and every crash it
ever found (core/fuzz/regressions/) through the C core, natively and under
valgrind: hostile bytes where the kernel's records should be.
"""

from __future__ import annotations

import asyncio
import errno
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inotipy import IN, Event, Watcher

import c_build

ROOT = Path(__file__).resolve().parent.parent
PATH_MAX = os.pathconf("/", "PC_PATH_MAX")
NAME_MAX = os.pathconf("/", "PC_NAME_MAX")


@pytest.fixture
def watcher() -> Iterator[Watcher]:
    with Watcher() as w:
        yield w


def assert_usable(
    watcher: Watcher, directory: Path, name: str = "probe"
) -> None:
    """Watches directory, makes a file there, and takes its CREATE event
    (get_nowait() reads the kernel itself: no loop needed)."""
    watch = watcher.watch(directory, IN.CREATE)
    (directory / name).touch()
    event = watcher.get_nowait()
    assert event is not None, "no event after the bad call"
    assert (event.watch, event.mask, event.pathname) == (
        watch,
        IN.CREATE,
        name,
    )
    assert watcher.get_nowait() is None


# ---- wrong types ------------------------------------------------------------


class _FsPathReturnsInt:
    def __fspath__(self) -> Any:
        return 5


class _FsPathRaises:
    def __fspath__(self) -> str:
        raise RuntimeError("no path for you")


@pytest.mark.parametrize(
    "path",
    [123, None, 1.5, ["/tmp"], _FsPathReturnsInt()],
    ids=["int", "None", "float", "list", "fspath-int"],
)
def test_path_of_the_wrong_type(
    watcher: Watcher, tmp_dir: Path, path: Any
) -> None:
    with pytest.raises(
        TypeError, match="str, bytes or os.PathLike|__fspath__"
    ):
        watcher.watch(path, IN.CREATE)
    assert_usable(watcher, tmp_dir)


def test_fspath_that_raises_propagates(
    watcher: Watcher, tmp_dir: Path
) -> None:
    with pytest.raises(RuntimeError, match="no path for you"):
        watcher.watch(_FsPathRaises(), IN.CREATE)
    assert_usable(watcher, tmp_dir)


@pytest.mark.parametrize("mask", ["CREATE", 1.5, None, b"\x01"], ids=repr)
def test_mask_of_the_wrong_type(
    watcher: Watcher, tmp_dir: Path, mask: Any
) -> None:
    with pytest.raises(TypeError, match="mask must be an int"):
        watcher.watch(tmp_dir, mask)
    assert_usable(watcher, tmp_dir)


@pytest.mark.parametrize("mask", ["CREATE", 2.0, None], ids=repr)
def test_replace_mask_of_the_wrong_type(
    watcher: Watcher, tmp_dir: Path, kernel_watches, mask: Any
) -> None:
    watch = watcher.watch(tmp_dir, IN.CREATE)
    with pytest.raises(TypeError, match="mask must be an int"):
        watch.replace_mask(mask)
    assert watch.mask == IN.CREATE and watch.valid
    assert kernel_watches(watcher.fd)[watch.wd] & IN.ALL_EVENTS == IN.CREATE
    assert_usable(watcher, tmp_dir)


@pytest.mark.parametrize(
    "timeout", ["1", [], object()], ids=["str", "list", "object"]
)
def test_timeout_of_the_wrong_type(
    run, watcher: Watcher, tmp_dir: Path, timeout: Any
) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="real number"):
            watcher.get(timeout)
        with pytest.raises(TypeError, match="real number"):
            await watcher.get_batch(timeout)
        assert_usable(watcher, tmp_dir)

    run(main)


def test_timeout_too_large_for_a_float(
    run, watcher: Watcher, tmp_dir: Path
) -> None:
    async def main() -> None:
        with pytest.raises(OverflowError):
            watcher.get(10**400)
        assert_usable(watcher, tmp_dir)

    run(main)


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"flags": "0"}, TypeError),
        ({"flags": 1.0}, TypeError),
        ({"max_queued": "many"}, TypeError),
        ({"max_queued": 2**70}, OverflowError),
    ],
    ids=["flags-str", "flags-float", "max_queued-str", "max_queued-huge"],
)
def test_constructor_arguments_of_the_wrong_type(
    tmp_dir: Path, kwargs: dict[str, Any], exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        Watcher(**kwargs)
    with Watcher() as watcher:  # nothing was left half-made
        assert_usable(watcher, tmp_dir)


@pytest.mark.parametrize("max_events", ["3", 1.5], ids=repr)
def test_batch_size_of_the_wrong_type(
    watcher: Watcher, tmp_dir: Path, max_events: Any
) -> None:
    with pytest.raises(TypeError, match="integer"):
        watcher.get_batch_nowait(max_events)
    assert_usable(watcher, tmp_dir)


def test_event_constructor_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="Watch or None"):
        Event("not a watch", IN.CREATE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mask must be an int"):
        Event(None, "CREATE")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str or bytes"):
        Event(None, IN.CREATE, 0, 5)  # type: ignore[arg-type]


# ---- values out of range ----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"flags": 1 << 40}, "flags may hold only .* not 0x10000000000"),
        ({"flags": IN.ACCESS}, "flags may hold only .* not 0x1$"),
        ({"max_queued": 0}, "max_queued must be at least 1"),
        ({"max_queued": -5}, "max_queued must be at least 1"),
    ],
    ids=[
        "flags-high-bit",
        "flags-event-bit",
        "max_queued-0",
        "max_queued-negative",
    ],
)
def test_constructor_values_out_of_range(
    tmp_dir: Path, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        Watcher(**kwargs)
    with Watcher() as watcher:
        assert_usable(watcher, tmp_dir)


def test_negative_batch_sizes(run, watcher: Watcher, tmp_dir: Path) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="must not be negative"):
            watcher.get_batch_nowait(-1)
        with pytest.raises(ValueError, match="at least 1"):
            await watcher.get_batch(0, max_events=0)
        assert_usable(watcher, tmp_dir)

    run(main)


# ---- timeouts ---------------------------------------------------------------


def test_nan_timeout_is_value_error_and_nothing_is_lost(
    run, watcher: Watcher, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        watcher.watch(tmp_dir, IN.CREATE)
        (tmp_dir / "queued").touch()
        for nan in (math.nan, -math.nan, float("nan")):
            with pytest.raises(ValueError, match="NaN"):
                watcher.get(nan)
            with pytest.raises(ValueError, match="NaN"):
                await watcher.get_batch(nan)
            with pytest.raises(ValueError, match="NaN"):
                async for _ in watcher.iter_async(timeout=nan):
                    pass
        # The event that was ready all along is still first in line.
        event = await watcher.get(scaled(5))
        assert event is not None and event.pathname == "queued"

    run(main)


@pytest.mark.parametrize("timeout", [-1, -0.001, -1e300, -math.inf], ids=repr)
def test_negative_timeout_polls_like_zero(
    run, watcher: Watcher, tmp_dir: Path, timeout: float
) -> None:
    async def main() -> None:
        watcher.watch(tmp_dir, IN.CREATE)
        # Nothing ready: returns None at once, without waiting.
        assert await watcher.get(timeout) is None
        assert await watcher.get_batch(timeout) == []
        # Something ready (not yet read from the kernel): returned.
        (tmp_dir / "f1").touch()
        event = await watcher.get(timeout)
        assert event is not None and event.pathname == "f1"

    run(main)


@pytest.mark.asyncio_only
def test_infinite_timeout_waits(
    run, watcher: Watcher, tmp_dir: Path, scaled
) -> None:
    async def main() -> None:
        watcher.watch(tmp_dir, IN.CREATE)
        waiter = asyncio.ensure_future(watcher.get(math.inf))
        await asyncio.sleep(0)
        assert not waiter.done()
        (tmp_dir / "f1").touch()
        event = await asyncio.wait_for(waiter, scaled(5))
        assert event is not None and event.pathname == "f1"

    run(main)


# ---- masks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (0, "no event bit"),
        (IN.ONLYDIR, "no event bit"),
        (IN.DONT_FOLLOW | IN.EXCL_UNLINK | IN.ONESHOT, "no event bit"),
        (IN.MASK_ADD, "no event bit"),
        (IN.CREATE | IN.ISDIR, "not inotify watch bits: 0x40000000"),
        (IN.CREATE | IN.IGNORED, "not inotify watch bits: 0x8000"),
        (IN.CREATE | IN.Q_OVERFLOW, "not inotify watch bits: 0x4000"),
        (IN.CREATE | IN.UNMOUNT, "not inotify watch bits: 0x2000"),
        (IN.CREATE | 0x1000, "not inotify watch bits: 0x1000"),
        (IN.CREATE | 0x00100000, "not inotify watch bits: 0x100000"),
        (IN.CREATE | IN.MASK_ADD | IN.MASK_CREATE, "exclude each other"),
        (1 << 32, "range"),
        (-1, "range"),
        (-IN.CREATE, "range"),
    ],
    ids=lambda v: hex(v) if isinstance(v, int) else v,
)
def test_bad_masks_are_value_errors(
    watcher: Watcher, tmp_dir: Path, kernel_watches, mask: int, match: str
) -> None:
    watched = tmp_dir / "watched"
    watched.mkdir()
    with pytest.raises(ValueError, match=match):
        watcher.watch(watched, mask)
    assert watcher.watches == [] and kernel_watches(watcher.fd) == {}
    # The same mask given to an existing watch leaves it as it was.
    watch = watcher.watch(watched, IN.DELETE)
    with pytest.raises(ValueError, match=match):
        watch.replace_mask(mask)
    assert watch.mask == IN.DELETE
    assert kernel_watches(watcher.fd) == {watch.wd: IN.DELETE}
    assert_usable(watcher, tmp_dir)


# ---- paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["a\0b", b"a\0b", "\0", Path("dir\0name"), "/tmp/\0"],
    ids=["str", "bytes", "only-nul", "pathlike", "trailing"],
)
def test_nul_byte_in_path(watcher: Watcher, tmp_dir: Path, path: Any) -> None:
    with pytest.raises(ValueError, match="null"):
        watcher.watch(path, IN.CREATE)
    assert_usable(watcher, tmp_dir)


@pytest.mark.parametrize("path", ["", b""], ids=["str", "bytes"])
def test_empty_path(
    watcher: Watcher, tmp_dir: Path, path: str | bytes
) -> None:
    # (Path("") is ".", not empty: the empty path is only a str or bytes.)
    with pytest.raises(FileNotFoundError) as info:
        watcher.watch(path, IN.CREATE)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == path
    assert_usable(watcher, tmp_dir)


@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_path_longer_than_path_max(
    watcher: Watcher, tmp_dir: Path, kind: str
) -> None:
    long = "/".join(["d" * 100] * (PATH_MAX // 100 + 2))
    assert len(long) > PATH_MAX
    path: str | bytes = long if kind == "str" else os.fsencode(long)
    with pytest.raises(OSError) as info:
        watcher.watch(path, IN.CREATE)
    assert info.value.errno == errno.ENAMETOOLONG
    assert info.value.filename == path
    assert_usable(watcher, tmp_dir)


def test_name_longer_than_name_max(watcher: Watcher, tmp_dir: Path) -> None:
    path = tmp_dir / ("n" * (NAME_MAX + 1))
    with pytest.raises(OSError) as info:
        watcher.watch(path, IN.CREATE)
    assert info.value.errno == errno.ENAMETOOLONG
    assert_usable(watcher, tmp_dir)


def test_unencodable_str_path(watcher: Watcher, tmp_dir: Path) -> None:
    # A lone high surrogate: os.fsencode() cannot turn it into bytes (a
    # surrogateescape'd byte such as '\udcff' can, and is a valid name).
    with pytest.raises(UnicodeEncodeError):
        watcher.watch(str(tmp_dir / "\ud800"), IN.CREATE)
    assert_usable(watcher, tmp_dir)


@pytest.mark.parametrize(
    "target", ["file", "symlink-to-file", "fifo", "dev-null"]
)
def test_onlydir_on_a_non_directory(
    watcher: Watcher, tmp_dir: Path, kernel_watches, target: str
) -> None:
    path: Path
    if target == "dev-null":
        path = Path("/dev/null")
    else:
        path = tmp_dir.parent / target
        if target == "fifo":
            os.mkfifo(path)
        else:
            (tmp_dir.parent / "file").touch()
            if target == "symlink-to-file":
                path.symlink_to(tmp_dir.parent / "file")
    with pytest.raises(NotADirectoryError) as info:
        watcher.watch(path, IN.CREATE | IN.ONLYDIR)
    assert info.value.errno == errno.ENOTDIR
    assert info.value.filename == str(path)
    assert watcher.watches == [] and kernel_watches(watcher.fd) == {}
    assert_usable(watcher, tmp_dir)


def test_onlydir_with_dont_follow_on_a_symlink_to_a_directory(
    watcher: Watcher, tmp_dir: Path
) -> None:
    link = tmp_dir.parent / "link"
    link.symlink_to(tmp_dir)
    with pytest.raises(NotADirectoryError):
        watcher.watch(link, IN.CREATE | IN.ONLYDIR | IN.DONT_FOLLOW)
    assert_usable(watcher, tmp_dir)


def test_many_bad_calls_in_a_row_leave_a_working_watcher(
    run, watcher: Watcher, tmp_dir: Path, wait_for_events
) -> None:
    """Interleaved failures, then a real event stream."""
    bad: list[tuple[Any, Any]] = [
        ("a\0b", IN.CREATE),
        (tmp_dir, 0),
        ("", IN.CREATE),
        (tmp_dir / "missing", IN.CREATE),
        (123, IN.CREATE),
        (tmp_dir, "x"),
    ]

    async def main() -> None:
        for _ in range(50):
            for path, mask in bad:
                with pytest.raises((ValueError, TypeError, OSError)):
                    watcher.watch(path, mask)
            with pytest.raises(ValueError):
                watcher.get(math.nan)
        watcher.watch(tmp_dir, IN.CREATE)
        names = [f"f{i}" for i in range(20)]
        for name in names:
            (tmp_dir / name).touch()
        events = await wait_for_events(watcher, len(names))
        assert [e.pathname for e in events] == names

    run(main)


# ---- hostile bytes from the kernel's side -----------------------------------

FUZZ_DIR = ROOT / "core" / "fuzz"


def _inputs(directory: str) -> list[Path]:
    return sorted(
        p
        for p in (FUZZ_DIR / directory).glob("*")
        if not p.name.startswith(".")
    )


def _replay(binary: Path, path: Path) -> None:
    """One input through a fuzz target built with replay.c's main()."""
    proc = subprocess.run(
        [str(binary), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1 passed, 0 failed"


def _replay_under_valgrind(binary: Path, *directories: str) -> None:
    """Every input of the directories (below core/fuzz) through a replay
    program under valgrind: no error, no leak."""
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind not on PATH")
    if c_build.SANITIZED:
        pytest.skip("built with a sanitizer, which valgrind cannot host")
    proc = subprocess.run(
        [
            "valgrind",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=all",
            "--track-fds=no",
            "-q",
            str(binary),
            *(str(FUZZ_DIR / d) for d in directories),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    count = sum(len(_inputs(d)) for d in directories)
    assert proc.stdout.strip() == f"{count} passed, 0 failed"


@pytest.fixture(scope="module")
def replay_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The decoder fuzz target with replay.c's main(), built by meson."""
    return c_build.program(tmp_path_factory, "replay_decode")


@pytest.fixture(scope="module")
def tree_replay_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tree fuzz target with replay.c's main(), built by meson."""
    return c_build.program(tmp_path_factory, "replay_tree")


@pytest.mark.parametrize(
    "path",
    _inputs("corpus/decode") + _inputs("regressions"),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_decoder_survives_fuzz_input(replay_binary: Path, path: Path) -> None:
    _replay(replay_binary, path)


def test_decoder_corpus_under_valgrind(replay_binary: Path) -> None:
    _replay_under_valgrind(replay_binary, "corpus/decode", "regressions")


@pytest.mark.parametrize(
    "path",
    _inputs("corpus/tree") + _inputs("regressions-tree"),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_tree_survives_fuzz_input(
    tree_replay_binary: Path, path: Path
) -> None:
    # Each input is a sequence of real filesystem operations on a tree,
    # checked against a walk of the tree (core/fuzz/fuzz_tree.c).
    _replay(tree_replay_binary, path)


@pytest.fixture(scope="module")
def state_replay_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state file fuzz target with replay.c's main(), built by meson."""
    return c_build.program(tmp_path_factory, "replay_state")


@pytest.mark.parametrize(
    "path", _inputs("corpus/state"), ids=lambda p: f"state/{p.name}"
)
def test_state_loader_survives_fuzz_input(
    state_replay_binary: Path, path: Path
) -> None:
    # Each input is a state file (damaged or not) loaded, then caught up
    # from on a real scratch tree (core/fuzz/fuzz_state.c).
    _replay(state_replay_binary, path)


def test_state_corpus_under_valgrind(state_replay_binary: Path) -> None:
    _replay_under_valgrind(state_replay_binary, "corpus/state")


@pytest.fixture(scope="module")
def fan_replay_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fanotify record fuzz target with replay.c's main()."""
    return c_build.program(tmp_path_factory, "replay_fan")


@pytest.mark.root
@pytest.mark.parametrize(
    "path", _inputs("corpus/fan"), ids=lambda p: f"fan/{p.name}"
)
def test_fanotify_parser_survives_fuzz_input(
    fan_replay_binary: Path, path: Path
) -> None:
    # Each input is kernel records (well-formed, spoiled, or raw bytes)
    # read by a fanotify watcher's tree on a real scratch directory
    # through a pipe (core/fuzz/fuzz_fan.c); as root, or it proves nothing.
    _replay(fan_replay_binary, path)


@pytest.mark.root
def test_fanotify_corpus_under_valgrind(fan_replay_binary: Path) -> None:
    _replay_under_valgrind(fan_replay_binary, "corpus/fan")
