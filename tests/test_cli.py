"""`python -m inotipy PATH... [--timeout SECONDS]`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

EVENT_LINE = re.compile(r"^Event\((\d+|None), \[.*\], \d+, .*\)$")


def test_prints_events_and_exits_after_timeout(spawn, tmp_dir: Path) -> None:
    child = spawn([sys.executable, "-m", "inotipy", str(tmp_dir), "--timeout", "2"])
    child.wait_watching()
    (tmp_dir / "f1").mkdir()
    [line] = child.read_lines(1)
    assert EVENT_LINE.match(line), line
    assert "<EVENT_BIT.CREATE: 8>" in line and line.endswith(", 0, 'f1')")
    status, rest, err = child.finish(deadline=10)
    assert status == 0, err
    for line in rest.splitlines():
        assert EVENT_LINE.match(line), line
    assert "Traceback" not in err


def test_timeout_without_events_exits_zero(tmp_dir: Path, scaled) -> None:
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "inotipy", str(tmp_dir), "--timeout", "0.3"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert time.monotonic() - start >= 0.3


def test_missing_path_exits_one_without_traceback(tmp_dir: Path, scaled) -> None:
    missing = str(tmp_dir / "no-such-dir")
    result = subprocess.run(
        [sys.executable, "-m", "inotipy", missing, "--timeout", "5"],
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert result.returncode == 1
    assert missing in result.stderr
    assert "Traceback" not in result.stderr


def test_sigint_exits_without_traceback(spawn, tmp_dir: Path) -> None:
    child = spawn([sys.executable, "-m", "inotipy", str(tmp_dir)])
    child.wait_watching()
    child.signal(signal.SIGINT)
    _, _, err = child.finish(deadline=10)
    assert "Traceback" not in err, err
