"""Names are data: whatever bytes a file name holds (newlines, terminal
escape sequences, invalid UTF-8) reach the program exactly, and
`python -m inotipy` prints them escaped, one line per event."""

from __future__ import annotations

import ast
import os
import re
import sys
import unicodedata
from pathlib import Path

import pytest

from inotipy import IN, Watcher

# Every name is a valid Linux file name: any bytes but "/" and NUL, at most
# NAME_MAX (255) of them.
NAMES: dict[str, bytes] = {
    "newline": b"two\nlines",
    "only-newlines": b"\n\n",
    "carriage-return": b"over\rwrite",
    "tab-and-vt": b"a\tb\vc\fd",
    "csi-colour": b"\x1b[31mred\x1b[0m",
    "csi-clear-screen": b"\x1b[2J\x1b[H",
    "osc-title": b"\x1b]0;pwned\x07",
    "backspace-and-bell": b"ab\x08\x08\x07",
    "c1-controls": "\u0085\u009b31m".encode(),
    "delete": b"x\x7f",
    "invalid-utf8": b"bad\xff\xfe",
    "lone-continuation": b"\x80",
    "overlong-slash": b"\xc0\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",
    "truncated-sequence": b"caf\xc3",
    "right-to-left-override": "evil\u202etxt.exe".encode(),
    "zero-width": "a\u200bb\ufeff".encode(),
    "valid-utf8": "Grüße, 世界 🎉".encode(),
    "backslash-and-quotes": b"a\\b'c\"d",
    "looks-like-repr": b"Event(1, [], 0, 'x')",
    "dash": b"-e",
    "spaces": b"  ",
    "longest-ascii": b"n" * 255,
    "longest-multibyte": "é".encode() * 127 + b"x",
}


@pytest.fixture(params=sorted(NAMES))
def raw_name(request: pytest.FixtureRequest) -> bytes:
    return NAMES[request.param]


def _make(directory: Path, raw: bytes) -> None:
    fd = os.open(
        os.path.join(os.fsencode(directory), raw),
        os.O_CREAT | os.O_WRONLY,
        0o644,
    )
    os.close(fd)


def test_str_watch_delivers_the_name_exactly(
    run, tmp_dir: Path, wait_for_events, raw_name: bytes
) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watch = watcher.watch(str(tmp_dir), IN.CREATE)
            _make(tmp_dir, raw_name)
            [event] = await wait_for_events(watcher, 1)
            assert event.watch is watch
            assert isinstance(event.pathname, str)
            assert event.pathname == os.fsdecode(raw_name)
            assert os.fsencode(event.pathname) == raw_name
            assert os.fsencode(event.path) == os.path.join(
                os.fsencode(tmp_dir), raw_name
            )
            # The path names the real file.
            assert os.path.exists(event.path)

    run(main)


def test_bytes_watch_delivers_the_name_exactly(
    run, tmp_dir: Path, wait_for_events, raw_name: bytes
) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(os.fsencode(tmp_dir), IN.CREATE)
            _make(tmp_dir, raw_name)
            [event] = await wait_for_events(watcher, 1)
            assert event.pathname == raw_name
            assert event.path == os.path.join(os.fsencode(tmp_dir), raw_name)

    run(main)


def test_repr_is_one_printable_line(
    run, tmp_dir: Path, wait_for_events
) -> None:
    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.CREATE)
            for raw in NAMES.values():
                _make(tmp_dir, raw)
            events = await wait_for_events(watcher, len(NAMES))
            for event in events:
                text = repr(event)
                assert _is_safe_line(text), text
                assert _name_from_line(text) == event.pathname

    run(main)


def test_moves_pair_odd_names(run, tmp_dir: Path, wait_for_events) -> None:
    src, dst = NAMES["invalid-utf8"], NAMES["csi-colour"]
    _make(tmp_dir, src)

    async def main() -> None:
        with Watcher() as watcher:
            watcher.watch(tmp_dir, IN.MOVE)
            os.rename(
                os.path.join(os.fsencode(tmp_dir), src),
                os.path.join(os.fsencode(tmp_dir), dst),
            )
            moved_from, moved_to = await wait_for_events(watcher, 2)
            assert os.fsencode(moved_from.pathname) == src
            assert os.fsencode(moved_to.pathname) == dst
            assert moved_from.cookie == moved_to.cookie != 0

    run(main)


# ---- the command line -------------------------------------------------------

EVENT_LINE = re.compile(r"^Event\((\d+|None), \[[^\]]*\], (\d+), (.*)\)$")


def _is_safe_line(text: str) -> bool:
    """No character a terminal would act on: printable (repr's promise),
    so no C0/C1 control, no bidi override, no line separator."""
    return text.isprintable() and not any(
        unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text
    )


def _name_from_line(line: str) -> str:
    match = EVENT_LINE.match(line)
    assert match, line
    name = ast.literal_eval(match.group(3))
    assert isinstance(name, str)
    return name


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_cli_prints_each_event_on_one_escaped_line(
    spawn, tmp_dir: Path, encoding: str
) -> None:
    env = dict(os.environ, PYTHONIOENCODING=encoding)
    child = spawn(
        [
            sys.executable,
            "-m",
            "inotipy",
            str(tmp_dir),
            "-e",
            "CREATE",
            "-m",
            "-t",
            "10",
            # The default output is now the path and the events; the
            # repr form reads back as the exact name.
            "--repr",
        ],
        env=env,
    )
    child.wait_watching()
    for raw in NAMES.values():
        _make(tmp_dir, raw)
    lines = child.read_lines(len(NAMES), deadline=10)
    raw_lines = [line.encode() for line in lines]
    for line in lines:
        assert _is_safe_line(line), line
        if encoding != "utf-8":
            assert line.isascii(), line
    # A character the output encoding lacks is escaped by the stream
    # (backslashreplace) as \xe9 or \u4e16, which inside the repr's
    # string literal is the same character again: every line still reads
    # back as the exact name.
    names = [_name_from_line(line) for line in lines]
    assert [os.fsencode(n) for n in names] == list(NAMES.values())
    assert all(b"\x1b" not in line and b"\r" not in line for line in raw_lines)
    child.signal(2)
    status, rest, err = child.finish(deadline=10)
    assert "Traceback" not in err, err
    assert rest == ""


@pytest.mark.parametrize("style", [[], ["--format", "%w%f %e"]])
def test_cli_default_and_format_lines_are_safe(
    spawn, tmp_dir: Path, style: list[str]
) -> None:
    """The default output and --format (without %0) escape every name:
    one printable line per event, nothing a terminal acts on."""
    child = spawn(
        [sys.executable, "-m", "inotipy", str(tmp_dir), "-e", "create"]
        + ["-n", str(len(NAMES)), *style]
    )
    child.wait_watching()
    for raw in NAMES.values():
        _make(tmp_dir, raw)
    lines = child.read_lines(len(NAMES), deadline=10)
    for line in lines:
        assert _is_safe_line(line), line
        assert line.startswith(f"{tmp_dir}/") and line.endswith(" CREATE")
    status, rest, err = child.finish(deadline=10)
    assert (status, rest) == (0, ""), err
