"""The fixtures every test may use; the helpers behind them, and any a
test imports by name, are in tests/support.py.

- ``run``: runs a coroutine function to completion on a fresh event loop.
  It is parametrised over the default asyncio loop, uvloop and trio, so
  every async test runs on all three by construction, and it fails a test
  whose loop reported an unhandled exception.  A test marked
  ``asyncio_only`` (it uses asyncio's own API: tasks, futures, the loop)
  runs on the first two; tests/test_anyio.py holds their counterparts on
  every loop.
- ``scaled``, ``wait_for_events``, ``kernel_watches``: the helpers of those
  names, as fixtures.
- ``no_fd_leak`` (autouse): fails a test that leaves file descriptors open.
- ``tmp_dir``: an empty directory of the test's own.
- ``inotify_sysctl``: changes a /proc/sys/fs/inotify limit and puts it back.
- ``spawn``: starts a child process whose output is read line by line
  against a deadline, and which is killed at teardown.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import (
    ASYNCIO_KINDS,
    LOOP_KINDS,
    Child,
    InotifySysctl,
    LoopRunner,
    kernel_watches,
    loop_factory,
    open_fds,
    scaled,
    wait_for_events,
)

# ---- markers ----------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        pytest.skip("needs root")


# ---- deadlines --------------------------------------------------------------


@pytest.fixture(name="scaled")
def scaled_fixture() -> Callable[[float], float]:
    return scaled


@pytest.fixture(name="wait_for_events")
def wait_for_events_fixture() -> Callable[..., Awaitable[list[Any]]]:
    return wait_for_events


# ---- event loops ------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _warm_up_loops() -> None:
    """Opens and closes one loop of each kind before any fd is counted.

    libuv makes a process-wide pipe the first time a loop is initialised and
    keeps it for the life of the process; that is not a leak of the test that
    happens to come first.
    """
    for kind in ASYNCIO_KINDS:
        loop = loop_factory(kind)()
        loop.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("asyncio_only")
        kinds = ASYNCIO_KINDS if only is not None else LOOP_KINDS
        metafunc.parametrize("run", kinds, indirect=True)


@pytest.fixture
def run(request: pytest.FixtureRequest) -> Iterator[LoopRunner]:
    runner = LoopRunner(request.param)
    yield runner
    runner.check()


# ---- file descriptors -------------------------------------------------------


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    before = open_fds()
    yield
    gc.collect()
    after = open_fds()
    leaked = {
        fd: target for fd, target in after.items() if before.get(fd) != target
    }
    if leaked:
        pytest.fail(f"file descriptors left open: {leaked}")


@pytest.fixture(name="kernel_watches")
def kernel_watches_fixture() -> Callable[..., dict[int, int]]:
    return kernel_watches


# ---- directories and limits -------------------------------------------------


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    """An empty directory that only this test touches."""
    path = tmp_path / "watched"
    path.mkdir()
    return path


@pytest.fixture
def inotify_sysctl() -> Iterator[InotifySysctl]:
    sysctl = InotifySysctl()
    try:
        yield sysctl
    finally:
        sysctl.restore()


# ---- child processes --------------------------------------------------------


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    children: list[Child] = []

    def start(args: list[str], **kwargs: Any) -> Child:
        child = Child(args, **kwargs)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()
