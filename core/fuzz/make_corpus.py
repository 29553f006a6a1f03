#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_decode.c into core/fuzz/corpus/decode/.

Two kinds of seed:

- captured: what read(2) really returned on an inotify descriptor while this
  script created, wrote, renamed and deleted files in a temporary directory
  (so the cookies differ from one run to the next);
- crafted: edge cases the kernel does not make on demand (an overflow
  record, the longest name field, truncated and oversized records,
  unknown wds, events after IN_IGNORED).

Each seed starts with the three header bytes that fuzz_decode.c describes.
Run it again only to change the seeds; the files are committed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "decode"

IN_ALL_EVENTS = 0x00000FFF
IN_CREATE = 0x00000100
IN_MODIFY = 0x00000002
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

KERNEL = 0x80  # byte 0: kernel mode
ALL_WDS = 0xFF  # byte 2: wds 1..8 in the table


def header(
    kernel: bool,
    max_queued: int = 0,
    take: int = 1,
    piece: int = 0,
    wds: int = ALL_WDS,
) -> bytes:
    """The three header bytes: mode and bound, take and piece, wd bitmap."""
    assert 0 <= max_queued < 64 and 1 <= take <= 8 and 0 <= piece < 32
    return bytes(
        [
            (KERNEL if kernel else 0) | max_queued,
            (piece << 3) | (take - 1),
            wds,
        ]
    )


def record(
    wd: int,
    mask: int,
    cookie: int = 0,
    name: bytes = b"",
    field: int | None = None,
) -> bytes:
    """One kernel record; the name NUL-padded to a multiple of 16 (or to
    field bytes), as the kernel lays it out."""
    if field is None:
        field = 0 if not name else (len(name) + 1 + 15) // 16 * 16
    return struct.pack("=iIII", wd, mask, cookie, field) + name.ljust(
        field, b"\0"
    )


def capture() -> list[bytes]:
    """Runs file operations under a real watch; returns the raw reads."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    top = Path(tempfile.mkdtemp(prefix="inotipy-corpus-"))
    reads = []

    def drain() -> None:
        data = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            data += chunk
        if data:
            reads.append(data)

    try:
        watched = top / "w"
        watched.mkdir()
        wd = libc.inotify_add_watch(fd, bytes(watched), IN_ALL_EVENTS)
        assert wd == 1, wd
        (watched / "a.txt").write_text("hello\n")
        drain()
        (watched / "a.txt").rename(watched / "b.txt")
        (watched / "sub").mkdir()
        os.chmod(watched / "b.txt", 0o600)
        drain()
        for name in ("line\nbreak", "\x1b[31mred", "x" * 255):
            (watched / name).touch()
        (watched / os.fsdecode(b"bad\xff\xfe")).touch()
        drain()
        for child in list(watched.iterdir()):
            if child.is_dir():
                child.rmdir()
            else:
                child.unlink()
        drain()
        watched.rmdir()  # DELETE_SELF, then IGNORED
        drain()
    finally:
        os.close(fd)
        shutil.rmtree(top, ignore_errors=True)
    return reads


def crafted() -> dict[str, bytes]:
    long_name = b"n" * 256  # fills the field: no NUL at all
    events = (
        record(1, IN_CREATE, name=b"f1")
        + record(3, IN_MOVED_FROM, 77, b"old")
        + record(3, IN_MOVED_TO, 77, b"new")
        + record(1, IN_MODIFY, name=b"f1")
    )
    return {
        "empty": header(True),
        "overflow": header(True) + record(-1, IN_Q_OVERFLOW),
        "events-then-overflow": header(True)
        + events
        + record(-1, IN_Q_OVERFLOW),
        "name-field-max": header(True)
        + record(4, IN_CREATE, name=long_name, field=256),
        "name-field-too-long": header(False)
        + record(4, IN_CREATE, name=b"n" * 257, field=257),
        "name-field-huge": header(False)
        + struct.pack("=iIII", 4, IN_CREATE, 0, 0xFFFFFFFF),
        "truncated-header": header(False) + record(4, IN_CREATE)[:10],
        "truncated-name": header(False)
        + record(4, IN_CREATE, name=b"abc")[:20],
        "good-then-truncated": header(False) + events + b"\x01\x00\x00",
        "unknown-wds": header(True, wds=0x0F)
        + b"".join(
            record(wd, IN_CREATE, name=b"x")
            for wd in (0, -2, 5, 9, 1000, 2**31 - 1)
        ),
        "after-ignored": header(True)
        + record(5, IN_CREATE, name=b"a")
        + record(5, IN_IGNORED)
        + record(5, IN_CREATE, name=b"late"),
        "removed-then-ignored": header(True, wds=0x03)
        + record(1, IN_CREATE, name=b"a")
        + record(1, IN_IGNORED)
        + record(2, IN_IGNORED),
        "isdir-and-odd-names": header(True)
        + record(6, IN_CREATE | IN_ISDIR, name=b"d")
        + record(6, IN_CREATE, name=b"line\nbreak")
        + record(6, IN_CREATE, name=b"\x1b[2J")
        + record(6, IN_CREATE, name=b"bad\xff\xfe"),
        "small-bound-many": header(True, max_queued=1, take=1) + events * 20,
        "small-bound-hostile": header(False, max_queued=3, take=2, piece=0)
        + events * 8,
        "split-records": header(False, take=8, piece=1) + events * 4,
    }


def main() -> int:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    for i, data in enumerate(capture()):
        (OUT / f"captured-{i}-kernel").write_bytes(header(True) + data)
        (OUT / f"captured-{i}-hostile").write_bytes(
            header(False, take=3, piece=2) + data
        )
    for name, data in crafted().items():
        (OUT / f"crafted-{name}").write_bytes(data)
    print(f"wrote {len(list(OUT.iterdir()))} seeds to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
