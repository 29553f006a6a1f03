"""Build and run the C core's own unit tests (core/tests/test_*.c).

meson builds them (tests/c_build.py: one `meson setup -Dtests=true` per
session, the flags are meson.build's).  Each program is run and must exit
0 after printing its "N passed, 0 failed" line.  When valgrind is on PATH
each program also runs under it, failing on any memory error or leak.

$INOTIPY_C_TEST_SANITIZE (meson's b_sanitize) and $INOTIPY_C_TEST_CFLAGS
choose a sanitized build (.ci/sanitize passes address,undefined); a
sanitized program does not run under valgrind, whose tests are then
skipped.
"""

import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import c_build
from c_build import SANITIZED
from support import scaled

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "core" / "tests"
TEST_SOURCES = sorted(TESTS_DIR.glob("test_*.c"))

VALGRIND = [
    "valgrind",
    "--error-exitcode=99",
    "--leak-check=full",
    "--errors-for-leak-kinds=all",
    "-q",
]
SUMMARY = re.compile(r"^(\d+) passed, 0 failed$", re.MULTILINE)
# The programs take well under a second natively; valgrind is ~20x slower.
RUN_TIMEOUT = 60
VALGRIND_TIMEOUT = 300


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    """Return build(source) -> the program meson built from that source
    (named after it: core/tests/test_tree_moves.c is test_tree_moves)."""

    def _build(source):
        return c_build.program(tmp_path_factory, source.stem)

    return _build


def run(argv, tmp_path, timeout):
    """Run a test program with its temp directories under tmp_path."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    return subprocess.run(
        argv,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def describe(proc):
    return (
        f"exit {proc.returncode}\n--- stdout\n{proc.stdout}"
        f"--- stderr\n{proc.stderr}"
    )


def test_sources_present():
    assert TEST_SOURCES, f"no core/tests/test_*.c found under {ROOT}"


@pytest.mark.parametrize("source", TEST_SOURCES, ids=lambda p: p.stem)
def test_c_unit(source, build, tmp_path):
    proc = run([str(build(source))], tmp_path, RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    match = SUMMARY.search(proc.stdout)
    assert match and int(match.group(1)) > 0, describe(proc)


@pytest.mark.parametrize("source", TEST_SOURCES, ids=lambda p: p.stem)
def test_c_unit_valgrind(source, build, tmp_path):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind not on PATH")
    if SANITIZED:
        pytest.skip("built with a sanitizer, which valgrind cannot host")
    proc = run(VALGRIND + [str(build(source))], tmp_path, VALGRIND_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert SUMMARY.search(proc.stdout), describe(proc)


# ---- the C core as a library: core/examples/inowatch.c ---------------------
#
# A C program that uses the core with its own poll() loop, no Python
# involved; these tests build it like the unit tests and drive it with
# real files.

EXAMPLE = ROOT / "core" / "examples" / "inowatch.c"
# IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
NAME_EVENTS = "0x3c0"


def wait_started(child, deadline=5.0):
    """Waits for the program's "watching N" line: its watches (and a
    tree's first scan) are all in place."""
    fd = child.proc.stderr.fileno()
    end = time.monotonic() + scaled(deadline)
    seen = b""
    while b"\n" not in seen:
        ready, _, _ = select.select(
            [fd], [], [], max(0.0, end - time.monotonic())
        )
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            pytest.fail(f"no 'watching' line; stderr: {seen!r}")
        seen += chunk
    assert seen.startswith(b"watching "), seen
    return seen.decode()


def example_lines(child, count, deadline=5.0):
    return [
        tuple(line.split("\t")) for line in child.read_lines(count, deadline)
    ]


def test_example_watch_prints_events(build, spawn, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    child = spawn([str(build(EXAMPLE)), "-m", NAME_EVENTS, "-n", "4", str(d)])
    assert wait_started(child) == "watching 1\n"
    (d / "f1").touch()
    os.rename(d / "f1", d / "f2")
    os.unlink(d / "f2")
    lines = example_lines(child, 4)
    cookie = lines[1][2]
    assert lines == [
        (f"{d}/f1", "CREATE", "0"),
        (f"{d}/f1", "MOVED_FROM", cookie),
        (f"{d}/f2", "MOVED_TO", cookie),
        (f"{d}/f2", "DELETE", "0"),
    ]
    assert cookie != "0"
    status, out, err = child.finish()
    assert (status, out, err) == (0, "", "")


def run_example_tree(binary, spawn, tmp_path, prefix=(), deadline=5.0):
    """A tree from the C program: new directories watched and scanned,
    true paths after a rename, a paired move with its source, excludes."""
    d = tmp_path / "tree"
    d.mkdir()
    child = spawn(
        list(prefix)
        + [
            str(binary),
            "-r",
            "-x",
            ".git",
            "-m",
            NAME_EVENTS,
            "-n",
            "6",
            str(d),
        ]
    )
    wait_started(child, deadline)
    (d / ".git").mkdir()
    (d / ".git" / "index").touch()
    (d / "a" / "b").mkdir(parents=True)
    (d / "a" / "b" / "f").touch()
    lines = example_lines(child, 3, deadline)
    assert sorted(lines) == [
        (f"{d}/a", "CREATE|ISDIR", "0"),
        (f"{d}/a/b", "CREATE|ISDIR", "0"),
        (f"{d}/a/b/f", "CREATE", "0"),
    ]
    os.rename(d / "a" / "b", d / "a" / "c")
    (d / "a" / "c" / "g").touch()
    lines = example_lines(child, 3, deadline)
    cookie = lines[0][2]
    assert lines == [
        (f"{d}/a/b", "MOVED_FROM|ISDIR", cookie),
        (f"{d}/a/c", "MOVED_TO|ISDIR", cookie, f"{d}/a/b"),
        (f"{d}/a/c/g", "CREATE", "0"),
    ]
    return child.finish(deadline)


def test_example_tree(build, spawn, tmp_path):
    status, out, err = run_example_tree(build(EXAMPLE), spawn, tmp_path)
    assert (status, out) == (0, ""), err


def test_example_tree_under_valgrind(build, spawn, tmp_path):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind not on PATH")
    if SANITIZED:
        pytest.skip("built with a sanitizer, which valgrind cannot host")
    status, out, err = run_example_tree(
        build(EXAMPLE), spawn, tmp_path, prefix=VALGRIND, deadline=60.0
    )
    assert (status, out) == (0, ""), err


@pytest.mark.parametrize("tool", ["native", "valgrind"])
def test_example_once_removes_each_watch(build, spawn, tmp_path, tool):
    """-o: ino_rm_watch() after a path's first event; its IN_IGNORED hands
    the watch's pointer back; with no watch left the program ends."""
    if tool == "valgrind" and (shutil.which("valgrind") is None or SANITIZED):
        pytest.skip("valgrind not usable here")
    prefix = VALGRIND if tool == "valgrind" else []
    deadline = 60.0 if prefix else 5.0
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    child = spawn(
        prefix + [str(build(EXAMPLE)), "-o", "-m", "0x100", str(a), str(b)]
    )
    assert wait_started(child, deadline) == "watching 2\n"
    (a / "x").touch()
    (a / "y").touch()  # after the removal: not printed
    lines = example_lines(child, 2, deadline)
    assert lines == [(f"{a}/x", "CREATE", "0"), (str(a), "IGNORED", "0")]
    (b / "z").touch()
    lines = example_lines(child, 2, deadline)
    assert lines == [(f"{b}/z", "CREATE", "0"), (str(b), "IGNORED", "0")]
    status, out, err = child.finish(deadline)
    assert (status, out, err) == (0, "", "")


def test_example_timeout_and_errors(build, tmp_path):
    binary = str(build(EXAMPLE))
    proc = run([binary, "-t", "0.1", str(tmp_path)], tmp_path, RUN_TIMEOUT)
    assert (proc.returncode, proc.stdout) == (2, ""), describe(proc)
    missing = tmp_path / "missing"
    proc = run([binary, str(missing)], tmp_path, RUN_TIMEOUT)
    assert proc.returncode == 1, describe(proc)
    assert f"{missing}: No such file or directory" in proc.stderr
    proc = run([binary], tmp_path, RUN_TIMEOUT)
    assert proc.returncode == 1 and "usage:" in proc.stderr, describe(proc)


def test_readme_c_example_compiles(build):
    """The program in core/README.md builds, warning-free, against ino.h
    (meson.build takes it out of the Markdown: readme_example)."""
    assert build(Path("readme_example.c")).is_file()
