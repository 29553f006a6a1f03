"""The inotify sysctls a phase needs raised (or, for the heal phase's
overflows, lowered): changed as little and as briefly as possible (root
only), and always put back."""

from __future__ import annotations

from bench import log

QUEUE_SYSCTL = "/proc/sys/fs/inotify/max_queued_events"
WATCHES_SYSCTL = "/proc/sys/fs/inotify/max_user_watches"


def read_int(path: str):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class SysctlLimit:
    """Makes sure the sysctl at PATH is at least NEEDED while held (at
    most NEEDED with lower=True), setting it if it must, and puts the old
    value back on release unless someone else changed it meanwhile.  WHO
    names the part of the run that needs it, for the error when it cannot
    be set.

    A context manager; or hold() and release() for a stretch of several
    phases (both may be called again: a second hold() of a raised limit
    and a release() of one not raised do nothing).  The kernel reads
    max_queued_events when an inotify instance is made, so only the
    consumers started while it is held get the larger queue."""

    def __init__(self, path: str, needed: int, who: str, lower=False):
        self.path = path
        self.needed = needed
        self.who = who
        self.lower = lower
        self.old = None
        self.set_to = None

    def hold(self) -> None:
        if self.old is not None:
            return
        cur = read_int(self.path)
        if cur is None or (
            cur <= self.needed if self.lower else cur >= self.needed
        ):
            return
        try:
            with open(self.path, "w") as f:
                f.write(str(self.needed))
        except OSError as e:
            op, verb = ("<=", "lower") if self.lower else (">=", "raise")
            raise SystemExit(
                f"{self.who} needs {self.path} {op} {self.needed} (it is "
                f"{cur}) and cannot {verb} it ({e}): run as root"
            ) from None
        self.old, self.set_to = cur, self.needed
        if not self.lower:  # lowered for a moment at a time: not logged
            log(f"  {self.path} raised from {cur} to {self.needed}")

    def release(self) -> None:
        if self.old is None:
            return
        cur = read_int(self.path)
        if cur == self.set_to:
            with open(self.path, "w") as f:
                f.write(str(self.old))
            if not self.lower:
                log(f"  {self.path} restored to {self.old}")
        else:
            log(
                f"  {self.path} was changed by someone else meanwhile "
                f"({cur}); left alone"
            )
        self.old = self.set_to = None

    def __enter__(self):
        self.hold()
        return self

    def __exit__(self, *exc):
        self.release()
        return False
