"""The example of the 0.1.1 project page, run unchanged.

tests/seed_script.py is the page's script with its lost loop body restored
(`watcher.watch(path, inotipy.IN.ALL_EVENTS)`) and with the closing
`loop.run_until_complete(mainline())` that the page's copy also lost.  It
runs with PYTHONUNBUFFERED so that its lines reach the pipe as they are
written; the script itself never flushes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SEED_SCRIPT = Path(__file__).with_name("seed_script.py")

# The page's actions, in the order it gives them.
ACTIONS = [
    "echo hi >test/f1",
    "mv test/f1 test/f2",
    "cat test/f2",
    "rm test/f2",
    "rmdir test",
]

# The page's event stream, without the wd and cookie numbers.
EXPECTED = [
    ("<EVENT_BIT.CREATE: 8>", "'f1'"),
    ("<EVENT_BIT.OPEN: 5>", "'f1'"),
    ("<EVENT_BIT.MODIFY: 1>", "'f1'"),
    ("<EVENT_BIT.CLOSE_WRITE: 3>", "'f1'"),
    ("<EVENT_BIT.MOVED_FROM: 6>", "'f1'"),
    ("<EVENT_BIT.MOVED_TO: 7>", "'f2'"),
    ("<EVENT_BIT.OPEN: 5>", "'f2'"),
    ("<EVENT_BIT.ACCESS: 0>", "'f2'"),
    ("<EVENT_BIT.CLOSE_NOWRITE: 4>", "'f2'"),
    ("<EVENT_BIT.DELETE: 9>", "'f2'"),
    ("<EVENT_BIT.DELETE_SELF: 10>", "''"),
    ("<EVENT_BIT.IGNORED: 15>", "''"),
]

LINE = re.compile(r"^Got event: Event\((\d+), \[(.*)\], (\d+), ('.*')\)$")


@pytest.mark.skipif(
    sys.version_info >= (3, 14),
    reason="the seed script calls asyncio.get_event_loop() with no loop set, "
    "which raises from Python 3.14 on",
)
def test_seed_script_prints_the_page_stream(tmp_path: Path, spawn) -> None:
    (tmp_path / "test").mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = spawn([sys.executable, str(SEED_SCRIPT)], cwd=tmp_path, env=env)
    child.wait_watching()

    for action in ACTIONS:
        subprocess.run(
            action,
            shell=True,
            cwd=tmp_path,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    lines = child.read_lines(len(EXPECTED))

    parsed = []
    for line in lines:
        match = LINE.match(line)
        assert match, f"unexpected line: {line!r}"
        parsed.append(match.groups())
    assert [(bits, name) for _, bits, _, name in parsed] == EXPECTED
    assert len({wd for wd, _, _, _ in parsed}) == 1

    cookies = [int(cookie) for _, _, cookie, _ in parsed]
    assert cookies[4] == cookies[5] != 0
    assert cookies[:4] == [0] * 4
    assert cookies[6:] == [0] * 6
