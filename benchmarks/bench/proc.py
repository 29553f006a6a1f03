"""Child processes: start them, read their line-based output under a
timeout, measure their CPU time and wake-ups, and kill every one left."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path

# Every child still running, so that a failure or the end of the run can
# kill them all.  Process state, not configuration.
_CHILDREN: list[subprocess.Popen] = []


class Failed(Exception):
    """One measurement went wrong; the run records it and goes on."""


class Proc:
    """A child with line-based output read under a timeout."""

    def __init__(
        self, argv, *, env=None, pass_fds=(), stdin=True, errlog=None
    ):
        self.argv = [str(a) for a in argv]
        self.errlog = errlog
        # The child keeps its own copy of the log's descriptor.
        with (
            open(errlog, "ab")
            if errlog
            else contextlib.nullcontext(subprocess.DEVNULL)
        ) as err:
            self.p = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                pass_fds=pass_fds,
            )
        _CHILDREN.append(self.p)
        self.buf = b""

    def readline(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"timed out waiting for {self.describe()}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise Failed(
                        f"{self.describe()} exited ({self.stderr_tail()})"
                    )
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def expect(self, word: str, timeout: float = 60) -> None:
        line = self.readline(timeout)
        if line.strip() != word:
            raise Failed(
                f"{self.describe()} said {line!r}, not {word} "
                f"({self.stderr_tail()})"
            )

    def json(self, timeout: float) -> dict:
        line = self.readline(timeout)
        try:
            return json.loads(line)
        except ValueError:
            raise Failed(
                f"{self.describe()} printed {line!r} ({self.stderr_tail()})"
            ) from None

    def send(self, text: str) -> None:
        try:
            self.p.stdin.write(text.encode())
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def close_stdin(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, AttributeError):
            self.p.stdin.close()

    def wait(self, timeout: float) -> int:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failed(f"{self.describe()} did not exit") from None

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.close_stdin()
        self.p.stdout.close()
        if self.p in _CHILDREN:
            _CHILDREN.remove(self.p)

    def describe(self) -> str:
        return " ".join(Path(a).name if "/" in a else a for a in self.argv[:4])

    def stderr_tail(self) -> str:
        if not self.errlog or not os.path.exists(self.errlog):
            return "no stderr"
        with open(self.errlog, errors="replace") as f:
            tail = f.read()[-600:].strip()
        return tail.replace("\n", " | ") or "no stderr"


def kill_children() -> None:
    for p in list(_CHILDREN):
        if p.poll() is None:
            p.kill()
            p.wait()
    _CHILDREN.clear()


def proc_usage(pid: int):
    """(CPU ns, context switches, thread ids) of a process.  CPU is the sum
    of the live threads' schedstat (ns) plus, for threads that have exited,
    what the process's utime + stime (clock ticks) adds beyond it."""
    cpu = switches = 0
    tids = set()
    try:
        names = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return (0, 0, frozenset())
    for tid in names:
        base = f"/proc/{pid}/task/{tid}/"
        try:
            with open(base + "schedstat") as f:
                cpu += int(f.read().split()[0])
            with open(base + "status") as f:
                for line in f:
                    if line.startswith(
                        (
                            "voluntary_ctxt_switches",
                            "nonvoluntary_ctxt_switches",
                        )
                    ):
                        switches += int(line.split()[1])
            tids.add(tid)
        except (OSError, ValueError):
            pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        cpu = max(cpu, ticks * 10**9 // os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        pass
    return (cpu, switches, frozenset(tids))
