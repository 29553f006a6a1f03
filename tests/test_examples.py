"""The programs in examples/ do what their docstrings say, each run as a
process of its own against real files, and end quietly on Ctrl-C."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
from pathlib import Path

from support import Child

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def example(name: str, *args: object) -> list[str]:
    return [sys.executable, str(EXAMPLES / name), *map(str, args)]


def interrupt(child: Child) -> None:
    """Ctrl-C: exits 130 with no traceback."""
    child.signal(signal.SIGINT)
    status, _, err = child.finish(deadline=30)
    assert status == 130, err
    assert "Traceback" not in err, err


def read_until(child: Child, last: str) -> list[str]:
    """Reads lines up to and including the line ``last``."""
    lines: list[str] = []
    while not lines or lines[-1] != last:
        lines += child.read_lines(1, deadline=30)
    return lines


def test_every_example_is_tested() -> None:
    tested = {"tail.py", "dropfolder.py", "mirror.py", "reloader.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_tail_follows_appends_rotation_and_truncation(
    spawn, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    log.write_text("written before: not shown\n")
    child = spawn(example("tail.py", log))
    child.wait_watching()
    with log.open("a") as f:
        f.write("one\n")
    assert child.read_lines(1) == ["one"]
    with log.open("a") as f:
        f.write("tw")
        f.flush()
        f.write("o\n")
    assert child.read_lines(1) == ["two"]
    # Rotation: the old file renamed away, a new one under the name.
    log.rename(tmp_path / "app.log.1")
    log.write_text("three\n")
    assert child.read_lines(1) == ["three"]
    # Truncation: the same file, written again from its start.
    log.write_text("four\n")
    assert child.read_lines(1) == ["four"]
    interrupt(child)


def test_tail_waits_for_a_file_that_does_not_exist_yet(
    spawn, tmp_path: Path
) -> None:
    log = tmp_path / "later.log"
    child = spawn(example("tail.py", log))
    child.wait_watching()
    log.write_text("first\n")
    assert child.read_lines(1) == ["first"]
    interrupt(child)


def test_dropfolder_processes_each_complete_file_once(
    spawn, tmp_path: Path
) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    early = b"there at start\n"
    (inbox / "early.csv").write_bytes(early)
    (inbox / "skip.part").write_bytes(b"still being written")
    child = spawn(example("dropfolder.py", inbox, done))
    assert child.read_lines(2) == [
        f"dropfolder: watching {inbox}",
        f"processed early.csv: 15 bytes, sha256 {sha(early)}",
    ]
    # Written in place: processed when its writer closes it.
    with (inbox / "inplace.txt").open("wb") as f:
        f.write(b"abc")
        f.flush()
        f.write(b"def")
    # Delivered safely: written as .part, renamed when complete.
    (inbox / "report.json.part").write_bytes(b"{}")
    (inbox / "report.json.part").rename(inbox / "report.json")
    assert child.read_lines(2) == [
        f"processed inplace.txt: 6 bytes, sha256 {sha(b'abcdef')}",
        f"processed report.json: 2 bytes, sha256 {sha(b'{}')}",
    ]
    interrupt(child)
    assert sorted(os.listdir(done)) == [
        "early.csv",
        "inplace.txt",
        "report.json",
    ]
    assert os.listdir(inbox) == ["skip.part"]


def sha(data: bytes) -> str:
    """The start of the digest the drop folder prints."""
    return hashlib.sha256(data).hexdigest()[:16]


def snapshot(top: Path) -> dict[str, object]:
    """Every path below top: a directory, a link's target, or the bytes."""
    seen: dict[str, object] = {}
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(dirpath) / name
            rel = str(path.relative_to(top))
            if path.is_symlink():
                seen[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[rel] = "dir"
            else:
                seen[rel] = path.read_bytes()
    return seen


def test_mirror_copies_then_follows_every_change(
    spawn, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "docs").mkdir(parents=True)
    (src / "docs" / "a.txt").write_text("a\n")
    (src / "docs" / "c.txt").write_text("c\n")
    (src / "old.txt").write_text("to be deleted\n")
    (src / "link").symlink_to("docs/a.txt")
    child = spawn(example("mirror.py", src, dst))
    assert child.read_lines(1) == [f"mirror: {src} -> {dst}, watching"]
    assert snapshot(dst) == snapshot(src)

    (src / "new" / "deep").mkdir(parents=True)
    (src / "new" / "deep" / "b.txt").write_text("b\n")
    (src / "docs" / "a.txt").write_text("a, edited\n")
    # Renamed in dst, not copied again; a.txt's new text reaches dst
    # whether the mirror copies it before the rename or after.
    (src / "docs").rename(src / "manual")
    (src / "old.txt").unlink()
    (src / "manual" / "c.txt").rename(tmp_path / "moved-out.txt")
    (src / "done").mkdir()
    lines = read_until(child, "mkdir done")
    assert "move docs -> manual" in lines
    assert "delete old.txt" in lines
    assert "delete manual/c.txt" in lines
    assert snapshot(dst) == snapshot(src)
    interrupt(child)


def test_reloader_restarts_the_command_on_a_change(
    spawn, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text("print('app version 1', flush=True)\n")
    server = "import runpy, time; runpy.run_path('app.py'); time.sleep(3600)"
    child = spawn(
        example(
            "reloader.py",
            "--path",
            tmp_path,
            "--",
            sys.executable,
            "-c",
            server,
        ),
        cwd=tmp_path,
    )
    first = child.read_lines(2)
    assert first[0].startswith(f"reloader: started {sys.executable}")
    assert first[1] == "app version 1"
    child.wait_watching()
    app.write_text("print('app version 2', flush=True)\n")
    again = child.read_lines(3, deadline=30)
    assert again[0] == "reloader: app.py changed; restarting"
    assert again[1].startswith(f"reloader: started {sys.executable}")
    assert again[2] == "app version 2"
    interrupt(child)
