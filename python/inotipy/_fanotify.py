"""backend="fanotify": a watcher's trees heard by one fanotify mark per
file system instead of an inotify watch per directory (the core's
ino_fan.c), and the errors that say what it needs.

What each piece needs of the kernel:

- FAN_REPORT_FID (records naming objects by file handle): Linux 5.1;
- FAN_REPORT_DFID_NAME (a directory's handle and the entry's name) and
  directory events (create, delete, move) on a FAN_MARK_FILESYSTEM mark:
  Linux 5.9;
- FAN_RENAME (a rename as one record with both ends, which pairs moves):
  Linux 5.17;
- a file system whose inodes give file handles and that has an fsid
  (ext4, xfs, btrfs but not on a subvolume; tmpfs on recent kernels only,
  ENODEV on older ones);
- CAP_SYS_ADMIN (root) for a file system mark (FAN_MARK_FILESYSTEM);
  since Linux 5.13 anyone may make a group reporting file handles, but
  only mark inodes, one by one, which is what inotify already does.

A kernel without one of these fails fanotify_init() or the first mark
with EINVAL (EOPNOTSUPP, ENODEV or EXDEV for the file system); the
errors raised here name what was missing.  backend="auto" never needs
them: it takes fanotify only where inotify cannot hold the tree.
"""

from __future__ import annotations

import errno
import os
import platform
from typing import Any

from . import _inotipy

__all__ = ["KERNEL_NEEDS", "ensure", "mark_error", "usable"]

#: The Linux version each piece needs (docs/backends.md).
KERNEL_NEEDS = {
    "FAN_REPORT_FID": (5, 1),
    "FAN_REPORT_DFID_NAME": (5, 9),
    "FAN_MARK_FILESYSTEM directory events": (5, 9),
    "FAN_RENAME": (5, 17),
}

# CAP_SYS_ADMIN's bit in /proc/self/status's CapEff.
_CAP_SYS_ADMIN = 21

_NO_CAP = (
    "backend='fanotify' needs CAP_SYS_ADMIN (root): a fanotify mark of a "
    "whole file system is privileged; use backend='inotify' or 'auto' "
    "without it"
)

_NEEDS = (
    "backend='fanotify' needs Linux 5.17 or later (FAN_REPORT_DFID_NAME "
    "since 5.9, FAN_RENAME since 5.17)"
)


def _kernel() -> str:
    return platform.release()


def ensure(watcher: _inotipy.Watcher) -> None:
    """Makes watcher a fanotify watcher, or raises what says why not:
    PermissionError without CAP_SYS_ADMIN, OSError naming the kernel
    version on an older kernel, ValueError when the watcher already has
    inotify watches."""
    if watcher._is_fanotify():
        return
    if not usable():
        # Told before the watcher changes: fanotify_init() alone may
        # succeed (Linux 5.13) where the mark will not.
        raise PermissionError(errno.EPERM, _NO_CAP)
    try:
        watcher._use_fanotify()
    except PermissionError as e:
        raise PermissionError(e.errno, _NO_CAP) from None
    except OSError as e:
        if e.errno == errno.EBUSY:
            raise ValueError(
                "backend='fanotify' needs a watcher of its own: this one "
                "already has inotify watches"
            ) from None
        if e.errno in (errno.EINVAL, errno.ENOSYS):
            raise OSError(
                e.errno,
                f"{_NEEDS}, built with CONFIG_FANOTIFY; this is Linux "
                f"{_kernel()} (fanotify_init() failed: {e.strerror})",
            ) from None
        raise


def mark_error(e: OSError, path: Any) -> OSError:
    """The error of a tree's first mark on a file system, saying what is
    missing; e itself when it is no such error."""
    if e.errno == errno.EPERM:
        return PermissionError(e.errno, _NO_CAP, os.fsdecode(os.fspath(path)))
    if e.errno == errno.EINVAL:
        return OSError(
            e.errno,
            f"{_NEEDS}; this is Linux {_kernel()} (fanotify_mark() with "
            f"FAN_MARK_FILESYSTEM and FAN_RENAME failed)",
            os.fsdecode(os.fspath(path)),
        )
    if e.errno in (errno.EOPNOTSUPP, errno.ENODEV, errno.EXDEV):
        return OSError(
            e.errno,
            "backend='fanotify' cannot mark this file system: it needs one "
            "that gives file handles and an fsid (not a btrfs subvolume, "
            "FUSE, network or pseudo file systems); use backend='inotify' "
            f"({e.strerror})",
            os.fsdecode(os.fspath(path)),
        )
    return e


def usable() -> bool:
    """True when this process has CAP_SYS_ADMIN, which a file system mark
    needs; whether the kernel has what it needs shows only when trying."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    caps = int(line.split()[1], 16)
                    return bool(caps >> _CAP_SYS_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0
