"""The API's enums: inotify's bits (IN, EVENT_BIT, with decode_mask()),
STOP_ON and get_event_loop() of inotipy 0.1.1, and watchfiles' Change."""

from __future__ import annotations

import asyncio
import enum
import os

__all__ = [
    "EVENT_BIT",
    "IN",
    "STOP_ON",
    "Change",
    "decode_mask",
    "get_event_loop",
]


class IN(enum.IntFlag):
    """The kernel's inotify bits, values as in ``<sys/inotify.h>``."""

    ACCESS = 0x00000001
    MODIFY = 0x00000002
    ATTRIB = 0x00000004
    CLOSE_WRITE = 0x00000008
    CLOSE_NOWRITE = 0x00000010
    CLOSE = 0x00000018
    OPEN = 0x00000020
    MOVED_FROM = 0x00000040
    MOVED_TO = 0x00000080
    MOVE = 0x000000C0
    CREATE = 0x00000100
    DELETE = 0x00000200
    DELETE_SELF = 0x00000400
    MOVE_SELF = 0x00000800
    ALL_EVENTS = 0x00000FFF
    UNMOUNT = 0x00002000
    Q_OVERFLOW = 0x00004000
    IGNORED = 0x00008000
    # inotipy's own, on a tree's events: made by a heal after an overflow,
    # and the tree whole again after one.
    RESCAN = 0x00010000
    SYNCED = 0x00020000
    ONLYDIR = 0x01000000
    DONT_FOLLOW = 0x02000000
    EXCL_UNLINK = 0x04000000
    MASK_CREATE = 0x10000000
    MASK_ADD = 0x20000000
    ISDIR = 0x40000000
    ONESHOT = 0x80000000
    # inotify_init1() flags; NONBLOCK shares its value with MOVE_SELF.
    CLOEXEC = os.O_CLOEXEC
    NONBLOCK = os.O_NONBLOCK


class EVENT_BIT(enum.IntEnum):
    """The bit *number* of each single-bit IN name: CREATE is 8."""

    ACCESS = 0
    MODIFY = 1
    ATTRIB = 2
    CLOSE_WRITE = 3
    CLOSE_NOWRITE = 4
    OPEN = 5
    MOVED_FROM = 6
    MOVED_TO = 7
    CREATE = 8
    DELETE = 9
    DELETE_SELF = 10
    MOVE_SELF = 11
    UNMOUNT = 13
    Q_OVERFLOW = 14
    IGNORED = 15
    RESCAN = 16
    SYNCED = 17
    ONLYDIR = 24
    DONT_FOLLOW = 25
    EXCL_UNLINK = 26
    MASK_CREATE = 28
    MASK_ADD = 29
    ISDIR = 30
    ONESHOT = 31
    CLOEXEC = os.O_CLOEXEC.bit_length() - 1
    NONBLOCK = os.O_NONBLOCK.bit_length() - 1

    @property
    def mask(self) -> int:
        """The bit as a mask: ``1 << value``."""
        return 1 << self.value


_BITS = {member.value: member for member in EVENT_BIT}


def decode_mask(mask: int) -> list[EVENT_BIT | str]:
    """The set bits of mask, lowest first, as EVENT_BIT members; a bit
    with no name appears as the string ``'?N'``."""
    mask = int(mask)
    if mask < 0:
        raise ValueError("mask must not be negative")
    bits: list[EVENT_BIT | str] = []
    n = 0
    while mask:
        if mask & 1:
            bits.append(_BITS.get(n, f"?{n}"))
        mask >>= 1
        n += 1
    return bits


class STOP_ON(enum.Enum):
    """Conditions that end Watcher.iter_async()."""

    TIMEOUT = 1


def get_event_loop() -> asyncio.AbstractEventLoop:
    """The running loop if there is one, else the policy's loop."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


class Change(enum.IntEnum):
    """The kind of a change, as watchfiles numbers them; ``closed`` is
    ours, and comes only to those who ask for it (``report_closed``)."""

    added = 1
    modified = 2
    deleted = 3
    closed = 4
    """A file open for writing was closed: its writer has finished."""

    def raw_str(self) -> str:
        """The name: ``'added'``, ``'modified'``, ``'deleted'`` or
        ``'closed'``."""
        return self.name
