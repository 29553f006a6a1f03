"""run_process() and arun_process(): run a command or a Python function
in a process of its own and start it again each time files change, with
the arguments and behaviour of watchfiles' functions of those names.

The changes that caused a start are in the environment variable
``WATCHFILES_CHANGES`` of the new process, as JSON (``[["modified",
"/path"], ...]``, ``[]`` the first time).  A function runs in a process
made by ``multiprocessing``'s spawn method, so that it imports the code
afresh; a command is split as a shell would split it and run without a
shell.  Stopping is SIGINT, then after ``sigint_timeout`` seconds
SIGKILL, then after ``sigkill_timeout`` seconds an error.  Everything is
logged on the logger named ``watchfiles.main``, as watchfiles logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import multiprocessing
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from importlib import import_module
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, Literal

from ._changes import FileChange, awatch, watch
from ._constants import Change
from ._filters import DefaultFilter

__all__ = ["arun_process", "detect_target_type", "run_process"]

logger = logging.getLogger("watchfiles.main")

TargetType = Literal["function", "command", "auto"]

# A dotted path of at least two names: a function to import and call.
_DOTTED = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+")


def detect_target_type(
    target: str | Callable[..., Any],
) -> Literal["function", "command"]:
    """What ``target_type="auto"`` takes a target for: anything but a
    string is a function; a string ending in ``.py`` or ``.sh`` is a
    command; a dotted path (``pkg.module.func``) is a function to import;
    anything else is a command."""
    if not isinstance(target, str):
        return "function"
    if target.endswith((".py", ".sh")):
        return "command"
    return "function" if _DOTTED.fullmatch(target) else "command"


def _resolve_type(
    target: str | Callable[..., Any], target_type: str
) -> Literal["function", "command"]:
    if target_type == "auto":
        return detect_target_type(target)
    if target_type == "function":
        return "function"
    if target_type == "command":
        if not isinstance(target, str):
            raise TypeError(
                f"a command target is a string, not {type(target).__name__}"
            )
        return "command"
    raise ValueError(
        f"target_type must be 'function', 'command' or 'auto', not "
        f"{target_type!r}"
    )


def _changes_json(changes: set[FileChange] | None) -> str:
    return json.dumps(
        [[Change(kind).raw_str(), path] for kind, path in changes or ()]
    )


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """name=value in os.environ while a process starts (a spawned
    process copies the environment then), as it was afterwards."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


class _Process:
    """One run of the target: a spawned process or a command's."""

    def __init__(
        self,
        target: str | Callable[..., Any],
        target_type: Literal["function", "command"],
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        changes: set[FileChange] | None = None,
    ) -> None:
        self.proc: SpawnProcess | subprocess.Popen[bytes]
        with _environ("WATCHFILES_CHANGES", _changes_json(changes)):
            if target_type == "function":
                self.proc = _spawn(target, args, kwargs or {})
            else:
                if args or kwargs:
                    logger.warning(
                        'ignoring args and kwargs for "command" target'
                    )
                assert isinstance(target, str)  # _resolve_type saw to it
                self.proc = subprocess.Popen(shlex.split(target))

    @property
    def pid(self) -> int:
        pid = self.proc.pid
        assert pid is not None  # started in __init__
        return pid

    def exitcode(self) -> int | None:
        if isinstance(self.proc, subprocess.Popen):
            return self.proc.poll()
        return self.proc.exitcode

    def _wait(self, seconds: float) -> bool:
        """Waits up to seconds for the process to end; True if it did."""
        if isinstance(self.proc, subprocess.Popen):
            try:
                self.proc.wait(seconds)
            except subprocess.TimeoutExpired:
                return False
            return True
        self.proc.join(seconds)
        return self.proc.exitcode is not None

    def stop(
        self, sigint_timeout: float = 5, sigkill_timeout: float = 1
    ) -> None:
        """SIGINT, then SIGKILL after sigint_timeout s; an error if it is
        still there sigkill_timeout s later."""
        code = self.exitcode()
        if code is not None:
            logger.warning("process already dead, exit code: %d", code)
            return
        logger.debug("stopping process...")
        os.kill(self.pid, signal.SIGINT)
        if self._wait(sigint_timeout):
            logger.debug("process stopped")
            return
        logger.warning("process has not terminated, sending SIGKILL")
        os.kill(self.pid, signal.SIGKILL)
        if not self._wait(sigkill_timeout):
            raise TimeoutError(
                f"process {self.pid} still running {sigkill_timeout} s "
                "after SIGKILL"
            )


def _spawn(
    target: str | Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> SpawnProcess:
    context = multiprocessing.get_context("spawn")
    if isinstance(target, str):
        proc = context.Process(
            target=_run_function, args=(target, _tty_path(), args, kwargs)
        )
    else:
        proc = context.Process(target=target, args=args, kwargs=kwargs)
    proc.start()
    return proc


def _tty_path() -> str | None:
    """The terminal of our stdin, for a function's stdin: a spawned
    process gets /dev/null, and a debugger in it wants the terminal."""
    try:
        return os.ttyname(sys.stdin.fileno())
    except (OSError, AttributeError, ValueError):
        return None


def import_string(dotted_path: str) -> Any:
    """The object a dotted path names: ``pkg.module.attr``.  ImportError
    when the module or the attribute is not there."""
    module_path, _, name = dotted_path.strip().rpartition(".")
    if not module_path:
        raise ImportError(f'"{dotted_path}" is not a dotted path')
    module = import_module(module_path)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ImportError(
            f'module "{module_path}" has no attribute "{name}"'
        ) from None


def _run_function(
    path: str,
    tty_path: str | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """In the spawned process: imports path and calls it, stdin being
    the terminal when there is one."""
    tty = None
    if tty_path is not None:
        with contextlib.suppress(OSError):
            tty = open(tty_path)  # noqa: SIM115 (closed below)
    try:
        if tty is not None:
            sys.stdin = tty
        import_string(path)(*args, **kwargs)
    finally:
        if tty is not None:
            tty.close()


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While watching, SIGTERM (``docker stop``, a service manager) is
    a KeyboardInterrupt, so the process started is stopped too rather
    than left behind.  Only the main thread can set a signal handler:
    elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: Any) -> None:
        logger.warning(
            "received signal %s, raising KeyboardInterrupt",
            signal.Signals(signum).name,
        )
        raise KeyboardInterrupt

    logger.debug("registering handler for SIGTERM on process %d", os.getpid())
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_process(
    *paths: Path | str,
    target: str | Callable[..., Any],
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    target_type: TargetType = "auto",
    callback: Callable[[set[FileChange]], None] | None = None,
    # One filter for every call, as watchfiles has it: nothing changes it.
    watch_filter: Callable[[Change, str], bool] | None = DefaultFilter(),  # noqa: B008
    grace_period: float = 0,
    debounce: int = 1_600,
    step: int = 50,
    debug: bool | None = None,
    sigint_timeout: float = 5,
    sigkill_timeout: float = 1,
    recursive: bool = True,
    ignore_permission_denied: bool = False,
) -> int:
    """Runs target (a command line, a callable, or the dotted path of
    one) and runs it again each time the paths change, until Ctrl-C or
    SIGTERM; returns how many times it was started again.

    ``args`` and ``kwargs`` go to a function.  ``callback`` is called
    with each set of changes before the restart.  Watching starts
    ``grace_period`` seconds after the first start.  The other arguments
    are those of ``watch()``."""
    kind = _resolve_type(target, target_type)
    logger.debug('running "%s" as %s', target, kind)
    reloads = 0
    with _sigterm_interrupts():
        process = _Process(target, kind, args, kwargs)
        try:
            if grace_period:
                logger.debug(
                    "sleeping for %s seconds before watching for changes",
                    grace_period,
                )
                time.sleep(grace_period)
            for changes in watch(
                *paths,
                watch_filter=watch_filter,
                debounce=debounce,
                step=step,
                raise_interrupt=False,
                recursive=recursive,
                ignore_permission_denied=ignore_permission_denied,
            ):
                if callback is not None:
                    callback(changes)
                process.stop(sigint_timeout, sigkill_timeout)
                process = _Process(target, kind, args, kwargs, changes)
                reloads += 1
        finally:
            process.stop(sigint_timeout, sigkill_timeout)
    return reloads


async def arun_process(
    *paths: Path | str,
    target: str | Callable[..., Any],
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    target_type: TargetType = "auto",
    callback: Callable[[set[FileChange]], Any] | None = None,
    # One filter for every call, as watchfiles has it: nothing changes it.
    watch_filter: Callable[[Change, str], bool] | None = DefaultFilter(),  # noqa: B008
    grace_period: float = 0,
    debounce: int = 1_600,
    step: int = 50,
    debug: bool | None = None,
    recursive: bool = True,
    ignore_permission_denied: bool = False,
    sigint_timeout: float = 5,
    sigkill_timeout: float = 1,
) -> int:
    """run_process() for a running asyncio loop: the same arguments, and
    ``callback`` may be a coroutine function.  Starting and stopping the
    process happen in a thread, so the loop goes on meanwhile.  Ends when
    cancelled (the process is stopped); returns the restarts."""
    kind = _resolve_type(target, target_type)
    logger.debug('running "%s" as %s', target, kind)

    def start(changes: set[FileChange] | None = None) -> _Process:
        return _Process(target, kind, args, kwargs, changes)

    def stop(process: _Process) -> None:
        process.stop(sigint_timeout, sigkill_timeout)

    with _sigterm_interrupts():
        process = await asyncio.to_thread(start)
        return await _arun(
            process,
            start,
            stop,
            grace_period,
            callback,
            paths,
            {
                "watch_filter": watch_filter,
                "debounce": debounce,
                "step": step,
                "recursive": recursive,
                "ignore_permission_denied": ignore_permission_denied,
            },
        )


async def _arun(
    process: _Process,
    start: Callable[[set[FileChange]], _Process],
    stop: Callable[[_Process], None],
    grace_period: float,
    callback: Callable[[set[FileChange]], Any] | None,
    paths: tuple[Path | str, ...],
    options: dict[str, Any],
) -> int:
    """arun_process() once the first process runs: its restarts."""
    reloads = 0
    try:
        if grace_period:
            logger.debug(
                "sleeping for %s seconds before watching for changes",
                grace_period,
            )
            await asyncio.sleep(grace_period)
        async for changes in awatch(*paths, **options):
            if callback is not None:
                result = callback(changes)
                if inspect.isawaitable(result):
                    await result
            await asyncio.to_thread(stop, process)
            process = await asyncio.to_thread(start, changes)
            reloads += 1
    finally:
        # Also when cancelled: the thread stops the process even if this
        # wait is cancelled again.
        await asyncio.to_thread(stop, process)
    return reloads
