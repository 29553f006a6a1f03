"""Shared test machinery.

- ``run``: runs a coroutine function to completion on a fresh event loop.  It is
  parametrised over the default asyncio loop and uvloop, so every async test runs
  on both by construction, and it fails a test whose loop reported an unhandled
  exception.
- ``wait_for_events``: collects events against a deadline; tests never sleep to
  wait for something to happen.
- ``no_fd_leak`` (autouse): fails a test that leaves file descriptors open.
- ``tmp_dir``: an empty directory of the test's own.
- ``inotify_sysctl``: changes a /proc/sys/fs/inotify limit and puts it back.
- ``spawn``: starts a child process whose output is read line by line against a
  deadline, and which is killed at teardown.

Every deadline is multiplied by the environment variable
INOTIPY_TEST_TIMEOUT_SCALE (a float, 1 by default) for slow machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import selectors
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TIMEOUT_SCALE = float(os.environ.get("INOTIPY_TEST_TIMEOUT_SCALE") or "1")

# How long a test waits for something that should happen at once.
DEFAULT_DEADLINE = 5.0

INOTIFY_SYSCTL = Path("/proc/sys/fs/inotify")


def scaled(seconds: float) -> float:
    """Returns a deadline scaled for the machine the suite runs on."""
    return seconds * TIMEOUT_SCALE


@pytest.fixture(name="scaled")
def scaled_fixture() -> Callable[[float], float]:
    return scaled


# ---- markers ---------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        pytest.skip("needs root")


# ---- event loops -----------------------------------------------------------

LOOP_KINDS = ("asyncio", "uvloop")


def _loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        pytest.fail("uvloop is a test dependency: pip install 'inotipy[test]'")
    return uvloop.new_event_loop


@pytest.fixture(scope="session", autouse=True)
def _warm_up_loops() -> None:
    """Opens and closes one loop of each kind before any fd is counted.

    libuv makes a process-wide pipe the first time a loop is initialised and
    keeps it for the life of the process; that is not a leak of the test that
    happens to come first.
    """
    for kind in LOOP_KINDS:
        loop = _loop_factory(kind)()
        loop.close()


class LoopRunner:
    """Calls ``run(coro_fn, *args)``: runs ``coro_fn(*args)`` on a new loop.

    The loop is closed before ``run`` returns (pending tasks are cancelled and
    async generators finalised, as ``asyncio.run`` does).  Whatever reaches the
    loop's exception handler is recorded and fails the test at teardown.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.factory = _loop_factory(kind)
        self.errors: list[dict[str, Any]] = []

    def _record(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        self.errors.append(context)

    def __call__(
        self, coro_fn: Callable[..., Awaitable[Any]], *args: Any
    ) -> Any:
        runner_cls = getattr(asyncio, "Runner", None)
        if runner_cls is None:
            return self._run_without_runner(coro_fn, *args)
        with runner_cls(loop_factory=self.factory) as runner:
            runner.get_loop().set_exception_handler(self._record)
            return runner.run(coro_fn(*args))

    def _run_without_runner(
        self, coro_fn: Callable[..., Awaitable[Any]], *args: Any
    ) -> Any:
        # Python 3.10 has no asyncio.Runner: the same steps, by hand.
        loop = self.factory()
        loop.set_exception_handler(self._record)
        try:
            asyncio.set_event_loop(loop)
            return loop.run_until_complete(coro_fn(*args))
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(
                    asyncio.gather(*tasks, return_exceptions=True)
                )
            loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()

    def check(self) -> None:
        # Tasks whose exception was never retrieved report it when they are
        # collected, after their loop has closed.
        gc.collect()
        if self.errors:
            lines = []
            for context in self.errors:
                exc = context.get("exception")
                lines.append(f"{context.get('message')}: {exc!r}")
            pytest.fail("unhandled loop exceptions:\n" + "\n".join(lines))


@pytest.fixture(params=LOOP_KINDS)
def run(request: pytest.FixtureRequest) -> Iterator[LoopRunner]:
    runner = LoopRunner(request.param)
    yield runner
    runner.check()


# ---- waiting for events ----------------------------------------------------


async def wait_for_events(
    watcher: Any,
    until: int | Callable[[list[Any]], bool],
    deadline: float = DEFAULT_DEADLINE,
) -> list[Any]:
    """Takes events from ``watcher`` until ``until`` is satisfied.

    ``until`` is a count of events, or a predicate called with the list of
    events taken so far.  Fails the test when the (scaled) deadline passes
    first.  Returns the events taken.
    """
    if isinstance(until, int):
        count = until

        def done(events: list[Any]) -> bool:
            return len(events) >= count

    else:
        done = until
    end = time.monotonic() + scaled(deadline)
    events: list[Any] = []
    while not done(events):
        remaining = end - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"deadline passed; events so far: {events!r}")
        event = await watcher.get(remaining)
        if event is not None:
            events.append(event)
    return events


@pytest.fixture(name="wait_for_events")
def wait_for_events_fixture() -> Callable[..., Awaitable[list[Any]]]:
    return wait_for_events


# ---- file descriptors --------------------------------------------------------


def _open_fds() -> dict[int, str]:
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the descriptor that listed the directory, now closed
    return fds


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    before = _open_fds()
    yield
    gc.collect()
    after = _open_fds()
    leaked = {fd: target for fd, target in after.items() if before.get(fd) != target}
    if leaked:
        pytest.fail(f"file descriptors left open: {leaked}")


def kernel_watches(fd: int, pid: int | str = "self") -> dict[int, int]:
    """The watches the kernel holds on an inotify fd, as {wd: mask}."""
    watches = {}
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("inotify "):
                fields = dict(p.split(":", 1) for p in line.split()[1:])
                watches[int(fields["wd"])] = int(fields["mask"], 16)
    return watches


@pytest.fixture(name="kernel_watches")
def kernel_watches_fixture() -> Callable[..., dict[int, int]]:
    return kernel_watches


# ---- directories and limits --------------------------------------------------


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    """An empty directory that only this test touches."""
    path = tmp_path / "watched"
    path.mkdir()
    return path


class InotifySysctl:
    """Sets /proc/sys/fs/inotify limits; ``restore()`` puts back the old ones."""

    def __init__(self) -> None:
        self.saved: dict[Path, str] = {}

    def read(self, name: str) -> int:
        return int((INOTIFY_SYSCTL / name).read_text())

    def set(self, name: str, value: int) -> None:
        path = INOTIFY_SYSCTL / name
        old = path.read_text().strip()
        try:
            path.write_text(f"{value}\n")
        except OSError as exc:
            pytest.skip(f"cannot write {path}: {exc}")
        self.saved.setdefault(path, old)

    @contextlib.contextmanager
    def limit(self, name: str, value: int) -> Iterator[None]:
        """Holds the limit only for the body of the ``with``, since it is
        machine-wide and other processes may be making watches too."""
        path = INOTIFY_SYSCTL / name
        self.set(name, value)
        try:
            yield
        finally:
            path.write_text(self.saved.pop(path) + "\n")

    def restore(self) -> None:
        while self.saved:
            path, old = self.saved.popitem()
            path.write_text(old + "\n")


@pytest.fixture
def inotify_sysctl() -> Iterator[InotifySysctl]:
    sysctl = InotifySysctl()
    try:
        yield sysctl
    finally:
        sysctl.restore()


# ---- child processes ---------------------------------------------------------


class Child:
    """A child process with piped output, read against deadlines."""

    def __init__(self, args: list[str], **kwargs: Any) -> None:
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **kwargs,
        )
        self._pending = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_watching(self, deadline: float = DEFAULT_DEADLINE) -> None:
        """Returns once the child has an inotify fd with at least one watch."""
        end = time.monotonic() + scaled(deadline)
        fdinfo = f"/proc/{self.pid}/fdinfo"
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"child exited early: {self.finish()}")
            for name in _listdir_or_empty(fdinfo):
                try:
                    with open(f"{fdinfo}/{name}") as f:
                        if "inotify wd:" in f.read():
                            return
                except OSError:
                    pass  # the fd closed while we looked
            if time.monotonic() > end:
                pytest.fail("child never watched anything")
            time.sleep(0.01)  # polls a condition, against the deadline above

    def read_lines(self, count: int, deadline: float = DEFAULT_DEADLINE) -> list[str]:
        """Reads ``count`` lines of stdout; fails the test at the deadline."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + scaled(deadline)
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while self._pending.count(b"\n") < count:
                remaining = end - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    pytest.fail(f"deadline passed; stdout so far: {self._pending!r}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    pytest.fail(f"stdout ended early: {self._pending!r}")
                self._pending += chunk
        lines = self._pending.split(b"\n")
        self._pending = b"\n".join(lines[count:])
        return [line.decode() for line in lines[:count]]

    def finish(self, deadline: float = DEFAULT_DEADLINE) -> tuple[int, str, str]:
        """Waits for the child to exit; returns (status, stdout, stderr),
        stdout being what ``read_lines`` has not taken yet."""
        try:
            out, err = self.proc.communicate(timeout=scaled(deadline))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"child did not exit; stderr: {err.decode()!r}")
        return self.proc.returncode, (self._pending + out).decode(), err.decode()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def _listdir_or_empty(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


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
