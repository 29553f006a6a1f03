"""The exception of a state file that cannot be used (save_state() and
watch_tree(since=...) are in the C binding, binding/state_file.c)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["InvalidStateFile"]


class InvalidStateFile(ValueError):
    """A state file that cannot be caught up from: not a state file, cut
    short, damaged (its checksum or a record), of a newer version, or of
    another tree (another root, or the root on another file system).

    ``filename`` is the file's path as given, ``reason`` one of
    ``"not-a-state-file"``, ``"truncated"``, ``"corrupt"``, ``"too-new"``,
    ``"foreign-root"``, ``"other-file-system"``, and ``detail`` says what is
    wrong in a sentence.  Nothing of such a file is used: start without
    ``since`` (a full scan) and save a new state."""

    __module__ = "inotipy"

    def __init__(
        self,
        filename: str | bytes | os.PathLike[Any],
        reason: str,
        detail: str,
    ) -> None:
        super().__init__(filename, reason, detail)
        self.filename = filename
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"state file {os.fsdecode(self.filename)!r}: {self.detail}"
