"""Helpers the tests share; tests/conftest.py holds only the fixtures.

- ``scaled``: a deadline scaled for the machine the suite runs on.  Every
  deadline is multiplied by the environment variable
  INOTIPY_TEST_TIMEOUT_SCALE (a float, 1 by default) for slow machines.
- ``wait_for_events``: collects events against a deadline; tests never sleep
  to wait for something to happen.
- ``LoopRunner``: runs a coroutine function on a fresh loop of one kind
  (``LOOP_KINDS``), recording what reaches the loop's exception handler.
- ``open_fds``, ``kernel_watches``: the descriptors this process holds, and
  the watches the kernel holds on an inotify descriptor.
- ``InotifySysctl``: changes /proc/sys/fs/inotify limits and puts them back.
- ``Child``: a child process whose output is read line by line against a
  deadline; ``wait_idle``: waits until a process has handled its events.

Test modules import these by name (``from support import scaled``): pytest
advises against importing from conftest.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import ctypes
import fcntl
import gc
import os
import selectors
import subprocess
import termios
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# ---- deadlines --------------------------------------------------------------

TIMEOUT_SCALE = float(os.environ.get("INOTIPY_TEST_TIMEOUT_SCALE") or "1")

# How long a test waits for something that should happen at once.
DEFAULT_DEADLINE = 5.0

INOTIFY_SYSCTL = Path("/proc/sys/fs/inotify")


def scaled(seconds: float) -> float:
    """Returns a deadline scaled for the machine the suite runs on."""
    return seconds * TIMEOUT_SCALE


# ---- event loops ------------------------------------------------------------

# The asyncio loops, and trio (which has none: LoopRunner calls trio.run).
ASYNCIO_KINDS = ("asyncio", "uvloop")
LOOP_KINDS = (*ASYNCIO_KINDS, "trio")


def loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        pytest.fail("uvloop is a test dependency: pip install 'inotipy[test]'")
    return uvloop.new_event_loop


class LoopRunner:
    """Calls ``run(coro_fn, *args)``: runs ``coro_fn(*args)`` on a new loop.

    The loop is closed before ``run`` returns (pending tasks are cancelled and
    async generators finalised, as ``asyncio.run`` does).  Whatever reaches the
    loop's exception handler is recorded and fails the test at teardown.
    For the kind "trio" it is ``trio.run(coro_fn, *args)``, which raises
    whatever a task left unhandled.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.errors: list[dict[str, Any]] = []
        if kind == "trio":
            try:
                import trio
            except ImportError:
                pytest.fail(
                    "trio is a test dependency: pip install 'inotipy[test]'"
                )
            self.trio = trio
            return
        self.factory = loop_factory(kind)

    @property
    def on_trio(self) -> bool:
        return self.kind == "trio"

    def _record(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        self.errors.append(context)

    def __call__(
        self, coro_fn: Callable[..., Awaitable[Any]], *args: Any
    ) -> Any:
        if self.on_trio:
            return self.trio.run(coro_fn, *args)
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


# ---- waiting for events -----------------------------------------------------


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


# ---- file descriptors and watches -------------------------------------------


def open_fds() -> dict[int, str]:
    """The descriptors this process holds, as {fd: what it points to}."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        # OSError: the descriptor that listed the directory, now closed.
        with contextlib.suppress(OSError):
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return fds


def kernel_watches(fd: int, pid: int | str = "self") -> dict[int, int]:
    """The watches the kernel holds on an inotify fd, as {wd: mask}."""
    watches = {}
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("inotify "):
                fields = dict(p.split(":", 1) for p in line.split()[1:])
                watches[int(fields["wd"])] = int(fields["mask"], 16)
    return watches


# ---- limits -----------------------------------------------------------------


class InotifySysctl:
    """Sets /proc/sys/fs/inotify limits; ``restore()`` puts back the old
    ones."""

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


# ---- child processes --------------------------------------------------------


def wait_idle(pid: int, deadline: float = DEFAULT_DEADLINE) -> None:
    """Returns once a process has handled every event it was given:
    nothing is queued on its inotify descriptors (looked at through a
    copy, pidfd_getfd, asked with FIONREAD) and it sleeps, waiting for
    more.  Skips the test where pidfd_getfd is not available."""
    end = time.monotonic() + scaled(deadline)
    while _inotify_queued(pid) or not _sleeping(pid):
        if time.monotonic() > end:
            pytest.fail(f"process {pid} never got through its events")
        time.sleep(0.01)  # polls a condition, against the deadline


def _sleeping(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"


def _inotify_queued(pid: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target != "anon_inode:inotify":
                continue
            fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd
            if fd < 0:
                pytest.skip("pidfd_getfd is not available")
            try:
                size = array.array("i", [0])
                fcntl.ioctl(fd, termios.FIONREAD, size)
                if size[0]:
                    return True
            finally:
                os.close(fd)
    finally:
        os.close(pidfd)
    return False


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

    def read_lines(
        self, count: int, deadline: float = DEFAULT_DEADLINE
    ) -> list[str]:
        """Reads ``count`` lines of stdout; fails the test at the deadline."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + scaled(deadline)
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while self._pending.count(b"\n") < count:
                remaining = end - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    pytest.fail(
                        f"deadline passed; stdout so far: {self._pending!r}"
                    )
                chunk = os.read(fd, 65536)
                if not chunk:
                    pytest.fail(f"stdout ended early: {self._pending!r}")
                self._pending += chunk
        lines = self._pending.split(b"\n")
        self._pending = b"\n".join(lines[count:])
        return [line.decode() for line in lines[:count]]

    def finish(
        self, deadline: float = DEFAULT_DEADLINE
    ) -> tuple[int, str, str]:
        """Waits for the child to exit; returns (status, stdout, stderr),
        stdout being what ``read_lines`` has not taken yet."""
        try:
            out, err = self.proc.communicate(timeout=scaled(deadline))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"child did not exit; stderr: {err.decode()!r}")
        return (
            self.proc.returncode,
            (self._pending + out).decode(),
            err.decode(),
        )

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


# ---- events a scan made (heals, catch-ups) ---------------------------------


def synced(events: list[Any]) -> bool:
    """Whether an IN.SYNCED (a tree whole again) is among the events."""
    from inotipy import IN

    return any(e.mask & IN.SYNCED for e in events)


def rescanned(events: list[Any]) -> list[tuple[str, str, str | None]]:
    """(kind, pathname, src_path below the root) of the events marked
    IN.RESCAN: what a heal or a catch-up told."""
    from inotipy import IN

    out = []
    for e in events:
        if not e.mask & IN.RESCAN:
            continue
        kind = next(
            k
            for k in ("CREATE", "DELETE", "MOVED_FROM", "MOVED_TO", "MODIFY")
            if e.mask & IN[k]
        )
        src = None
        if e.src_path is not None:
            src = os.path.relpath(e.src_path, e.watch.pathname)
        out.append(
            (kind + ("|ISDIR" if e.mask & IN.ISDIR else ""), e.pathname, src)
        )
    return out
