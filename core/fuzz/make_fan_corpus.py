"""Writes the seed corpus of fuzz_fan.c (core/fuzz/corpus/fan/).

Each seed is a mode byte and operations of four bytes, as the header
comment of fuzz_fan.c describes (mode 1: records built from operations;
mode 0: raw bytes).  Run from the repository's root:

    python core/fuzz/make_fan_corpus.py
"""

from __future__ import annotations

import struct
from pathlib import Path

OUT = Path(__file__).parent / "corpus" / "fan"

# byte 0: kind | flags
CREATE, DELETE, MODIFY, ATTRIB, CLOSE_WRITE, RENAME, MERGED, OVERFLOW = range(
    8
)
SELF, HALF = 8, 9
ONDIR, TARGET, READ, DRAIN = 16, 32, 64, 128
# objects (byte 1, a nibble each)
TREE, A, B, C, F, G, OUT_, D, BASE, ABOVE = range(10)
# names (byte 2, a nibble each)
NA, NB, NC, ND, NF, NG, NX, NY, DOT, EMPTY, DOTDOT, SLASH = range(12)
LONG = 15


def op(
    kind: int, dir_: int, other: int, name: int, name2: int = 0, spoil: int = 0
) -> bytes:
    return bytes([kind, dir_ | other << 4, name | name2 << 4, spoil])


def records(*ops: bytes) -> bytes:
    return b"\x01" + b"".join(ops)


SEEDS = {
    # A directory made in the tree, with and without its own handle.
    "create-dir": records(op(CREATE | ONDIR | READ, TREE, A, NA)),
    "create-dir-target": records(
        op(CREATE | ONDIR | TARGET | READ | DRAIN, TREE, A, NA)
    ),
    # Its handle is another directory's: the name leads elsewhere now.
    "create-dir-other-target": records(
        op(CREATE | ONDIR | TARGET | READ | DRAIN, TREE, OUT_, NA)
    ),
    "create-files": records(
        op(CREATE | READ, TREE, 0, NX),
        op(CREATE, A, 0, NY),
        op(MODIFY, A, 0, NG),
        op(CLOSE_WRITE | READ, TREE, 0, NF),
    ),
    "delete-dir-target": records(
        op(DELETE | ONDIR | TARGET | READ | DRAIN, TREE, A, NA)
    ),
    "delete-dir-other-target": records(
        op(DELETE | ONDIR | TARGET | READ | DRAIN, TREE, B, NA)
    ),
    "merged-create-delete": records(
        op(MERGED | READ, TREE, 0, NF), op(MERGED | ONDIR | READ, TREE, 0, NB)
    ),
    # Renames: within the tree, out of it, into it, and one end alone.
    "rename-dir-within": records(
        op(RENAME | ONDIR | TARGET | READ | DRAIN, TREE, B, NA, NC)
    ),
    "rename-dir-out": records(
        op(RENAME | ONDIR | TARGET | READ | DRAIN, A, OUT_, NC, ND)
    ),
    "rename-dir-in": records(
        op(RENAME | ONDIR | TARGET | READ | DRAIN, OUT_, A, ND, NX)
    ),
    "rename-file": records(op(RENAME | READ, A, TREE, NG, NY)),
    "half-renames": records(
        op(HALF | ONDIR | READ, TREE, 0, NA),
        op(HALF | ONDIR | READ, 0, TREE, 1),
    ),
    # The root renamed or removed, heard in its parent.
    "root-renamed": records(
        op(RENAME | ONDIR | READ | DRAIN, BASE, BASE, 0, 0)
    ),
    "self-events": records(
        op(SELF | ONDIR | READ, TREE, 0, 0), op(SELF | ONDIR | READ, A, 0, 0)
    ),
    "overflow-then-records": records(
        op(OVERFLOW, 0, 0, 0),
        op(CREATE | ONDIR | TARGET, TREE, A, NA),
        op(DELETE | READ | DRAIN, A, 0, NG),
    ),
    # Names no kernel gives: "..", "a/b", "", ".", NAME_MAX + 1 bytes.
    "bad-names": records(
        op(CREATE | ONDIR | READ, TREE, 0, DOTDOT),
        op(CREATE | READ, TREE, 0, SLASH),
        op(CREATE | READ, TREE, 0, EMPTY),
        op(RENAME | ONDIR | READ, TREE, TREE, DOT, NA),
        op(CREATE | READ | DRAIN, TREE, 0, LONG),
    ),
    # Each way of spoiling a record.
    "spoiled": records(
        *(
            op(CREATE | ONDIR | TARGET | READ, TREE, A, NA, 0, 1 << bit)
            for bit in range(8)
        ),
        op(RENAME | ONDIR | TARGET | READ, TREE, B, NA, NC, 0x12),
    ),
}


def raw_seeds() -> dict[str, bytes]:
    # A record cut short, and one whose event_len is below the metadata.
    meta = struct.pack("=IBBHQii", 24, 3, 0, 24, 0x4000, -1, 1)  # overflow
    short = struct.pack("=IBBHQii", 8, 3, 0, 24, 0x100, -1, 1)
    return {
        "raw-overflow": b"\x00" + meta,
        "raw-cut": b"\x00" + meta + meta[:10],
        "raw-short-event-len": b"\x00" + short + meta,
        "raw-info-past-end": b"\x00"
        + struct.pack("=IBBHQii", 28, 3, 0, 24, 0x100, -1, 1)
        + struct.pack("=BBH", 2, 0, 200),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in {**SEEDS, **raw_seeds()}.items():
        (OUT / name).write_bytes(data)
    print(f"{len(SEEDS) + len(raw_seeds())} seeds in {OUT}")


if __name__ == "__main__":
    main()
