"""The command line side by side with inotify-tools: inotifywait and
`inotipy` given the same options watch the same directory, the same
changes are made, and they print the same bytes; inotifywatch and
`inotipy watch-stats` print the same table.  Skipped when inotify-tools
is not installed (`apt-get install inotify-tools`; .ci/run installs it).

The scenarios avoid what differs on purpose: a directory made inside a
tree (inotifywait can miss what is made in it before it watches it,
inotipy scans it) and names that need escaping outside --csv and %0.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from support import scaled, wait_idle

pytestmark = pytest.mark.skipif(
    shutil.which("inotifywait") is None
    or shutil.which("inotifywatch") is None,
    reason="inotify-tools is not installed",
)

END = b"zz-end"


def inotipy(*args: str) -> list[str]:
    return [sys.executable, "-m", "inotipy", *args]


def changes(root: Path) -> None:
    """Each step makes known events: no reads of the directory, no
    editor-like writes."""
    base = os.fsencode(root) + b"/"
    for name in (b"plain", b'b c,"d"', b" sp ", b"new\nline", b"caf\xe9"):
        fd = os.open(base + name, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, b"x")
        os.close(fd)
    os.rename(base + b"plain", base + b"renamed")
    os.mkdir(base + b"dir")
    os.rmdir(base + b"dir")
    os.chmod(base + b"renamed", 0o600)
    os.unlink(base + b"renamed")
    os.mkdir(base + END)  # one event, the last


def read_until_end(child) -> bytes:
    """stdout up to and with the line that names END."""
    fd = child.proc.stdout.fileno()
    got = b""
    deadline = time.monotonic() + scaled(10)
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while END not in got or not got.endswith((b"\n", b"\0")):
            remaining = deadline - time.monotonic()
            assert remaining > 0 and sel.select(remaining), got
            chunk = os.read(fd, 65536)
            assert chunk, got
            got += chunk
    return got


@pytest.mark.parametrize(
    "options, compare",
    [
        (["-m", "-e", "create,close_write,moved_to,delete,attrib"], "line"),
        (["-m", "--format", "%w|%f|%e|%;e|%c|%%"], "escaped"),
        (
            ["-m", "--format", "%w%f%0", "--no-newline", "-e", "create"],
            "bytes",
        ),
        (["-m", "--csv"], "bytes"),
        (
            ["-m", "-c", "--exclude", r"c,|\.swp$", "-e", "create,delete"],
            "bytes",
        ),
        (
            ["-m", "-c", "--includei", "(CAF|PLAIN|END)", "-e", "create"],
            "bytes",
        ),
    ],
    ids=["default", "format", "nul", "csv", "exclude", "includei"],
)
def test_inotifywait_and_inotipy_print_the_same(
    spawn, tmp_dir: Path, options: list[str], compare: str
) -> None:
    children = [
        spawn(["inotifywait", *options, str(tmp_dir)]),
        spawn(inotipy(*options, str(tmp_dir))),
    ]
    for child in children:
        child.wait_watching()
    changes(tmp_dir)
    theirs, ours = (read_until_end(child) for child in children)
    assert theirs.count(END) == 1 and len(theirs) > 100, theirs
    if compare == "bytes":  # --csv and %0: exact names, both
        assert ours == theirs
        return
    # inotifywait prints names raw, inotipy escapes them: the two names
    # that need it are left out.
    theirs_lines = [x for x in theirs.split(b"\n") if not _escaped(x)]
    ours_lines = [x for x in ours.split(b"\n") if not _escaped(x)]
    if compare == "line":
        # inotifywait's default line is "%w %e %f", ours "%w%f %e".
        theirs_lines = [_as_ours(line) for line in theirs_lines]
    assert ours_lines == theirs_lines


def _escaped(line: bytes) -> bool:
    return any(part in line for part in (b"new", b"line", b"caf"))


def _as_ours(line: bytes) -> bytes:
    if not line:
        return line
    where, events, name = line.split(b" ", 2)
    return where + name + b" " + events


def test_one_event_and_timeouts_as_inotifywait(tmp_dir: Path) -> None:
    """-t alone: one event, or status 2; -m -t: 2 after the quiet time."""
    import subprocess

    for options in (["-t", "1"], ["-m", "-t", "1"]):
        codes = [
            subprocess.run(
                [*tool, *options, str(tmp_dir)],
                capture_output=True,
                timeout=scaled(30),
            ).returncode
            for tool in (["inotifywait"], inotipy())
        ]
        assert codes == [2, 2], options


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["-e", "create,delete,moved_to", "-a", "create"],
        ["-z", "-e", "create,attrib", "-d", "attrib"],
    ],
    ids=["all", "ascending", "zero"],
)
def test_inotifywatch_and_watch_stats_print_the_same(
    spawn, tmp_dir: Path, tmp_path: Path, options: list[str]
) -> None:
    """Flat directories (no -r: inotifywatch's own walk of a tree makes
    events it then counts), ended by SIGINT once both have handled every
    change."""
    other = tmp_path / "other"
    other.mkdir()
    children = [
        spawn(["inotifywatch", *options, str(tmp_dir), str(other)]),
        spawn(inotipy("watch-stats", *options, str(tmp_dir), str(other))),
    ]
    for child in children:
        child.wait_watching()
    changes(tmp_dir)
    (other / "x").touch()
    # The table is printed from what each counted when SIGINT arrives.
    for child in children:
        wait_idle(child.pid)
    tables = []
    for child in children:
        child.signal(signal.SIGINT)
        status, out, err = child.finish()
        assert status == 0, err
        tables.append(out)
    assert tables[0].startswith("total  ") and tables[0].count("\n") == 3
    assert tables[1] == tables[0]
