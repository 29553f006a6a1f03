"""The migration guides' examples run (docs/migrating/*.md).

Each guide has a block marked ``<!-- test: before PEER -->``, one marked
``<!-- test: after -->`` and the output both give, ``<!-- test: prints
-->``.  The "after" always runs, with inotipy; the "before" runs with the
real peer, installed from PyPI by the test extras, when it can be imported
(or, for inotifywait, found) here, and is skipped with the reason
otherwise.  A shell guide also has ``<!-- test: changes -->``: the
commands run once the watcher watches, with $DIR the watched directory.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support import Child, scaled

ROOT = Path(__file__).resolve().parent.parent
GUIDES = sorted((ROOT / "docs" / "migrating").glob("*.md"))
MARKED = re.compile(
    r"<!-- test: (before|after|changes|prints) ?(\S*) -->\n```(\w+)\n(.*?)```",
    re.S,
)
BIN = Path(sys.executable).parent


def blocks(guide: Path) -> dict[str, tuple[str, str, str]]:
    """{role: (peer, language, code)} of one guide."""
    found: dict[str, tuple[str, str, str]] = {}
    for role, peer, lang, code in MARKED.findall(guide.read_text()):
        assert role not in found, f"{guide.name}: two '{role}' blocks"
        found[role] = (peer, lang, code)
    return found


def test_every_peer_has_a_guide() -> None:
    peers = {blocks(g)["before"][0] for g in GUIDES}
    assert peers == {
        "watchfiles",
        "watchdog",
        "pyinotify",
        "asyncinotify",
        "inotifywait",
    }


@pytest.mark.parametrize("guide", GUIDES, ids=lambda g: g.stem)
def test_a_guide_has_before_after_and_output(guide: Path) -> None:
    found = blocks(guide)
    assert {"before", "after", "prints"} <= set(found)
    assert found["before"][1] == found["after"][1]
    assert found["prints"][1] == "text"


def peer_missing(peer: str) -> str | None:
    """Why the peer cannot run here, or None when it can."""
    if peer == "inotifywait":
        if shutil.which("inotifywait") is None:
            return "inotifywait is not installed (apt install inotify-tools)"
        return None
    probe = subprocess.run(
        [sys.executable, "-c", f"import {peer}"],
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    if probe.returncode == 0:
        return None
    here = f"Python {sys.version_info[0]}.{sys.version_info[1]}"
    if peer == "pyinotify" and sys.version_info >= (3, 12):
        return f"pyinotify cannot run on {here}: it needs asyncore (removed)"
    last = (probe.stderr.strip().splitlines() or ["?"])[-1]
    if last == f"ModuleNotFoundError: No module named '{peer}'":
        return f"{peer} is not installed (it comes with inotipy[test])"
    return f"{peer} cannot be imported on {here}: {last}"


def run_python(code: str, cwd: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=scaled(60),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout.splitlines()


def run_shell(command: str, changes: str, watched: Path, lines: int) -> list:
    """Starts the command, waits until it watches, makes the changes and
    reads as many lines as expected; then interrupts it."""
    env = {
        **os.environ,
        "DIR": str(watched),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    child = Child(["sh", "-c", "exec " + command.strip()], env=env)
    try:
        child.wait_watching(deadline=30)
        subprocess.run(
            ["sh", "-e", "-c", changes],
            env=env,
            check=True,
            timeout=scaled(30),
        )
        got = child.read_lines(lines, deadline=30)
        child.signal(signal.SIGINT)
        _, _, err = child.finish(deadline=30)
        assert "Traceback" not in err, err
        return got
    finally:
        child.close()


@pytest.mark.parametrize("role", ["before", "after"])
@pytest.mark.parametrize("guide", GUIDES, ids=lambda g: g.stem)
def test_the_example_prints_what_the_guide_says(
    guide: Path, role: str, tmp_path: Path
) -> None:
    found = blocks(guide)
    peer, lang, code = found[role]
    if role == "before" and (why := peer_missing(peer)) is not None:
        pytest.skip(why)
    watched = tmp_path / "watched"
    watched.mkdir()
    expected = found["prints"][2].replace("$DIR", str(watched)).splitlines()
    if lang == "python":
        got = run_python(code, tmp_path)
    else:
        assert lang == "sh"
        got = run_shell(code, found["changes"][2], watched, len(expected))
    assert got == expected
