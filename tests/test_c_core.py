"""Build and run the C core's own unit tests (core/tests/test_*.c).

Each test program is compiled together with core/src/*.c, run, and must
exit 0 after printing its "N passed, 0 failed" line.  When valgrind is on
PATH each program also runs under it, failing on any memory error or leak.

$INOTIPY_C_TEST_CFLAGS adds compiler flags (.ci/sanitize passes
-fsanitize=address,undefined); a sanitized program does not run under
valgrind, whose tests are then skipped.
"""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "core" / "tests"
TEST_SOURCES = sorted(TESTS_DIR.glob("test_*.c"))

# Paths are relative to ROOT, the compiler's working directory.
CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-g",
          "-Icore/include"]
EXTRA_CFLAGS = shlex.split(os.environ.get("INOTIPY_C_TEST_CFLAGS", ""))
SANITIZED = any(f.startswith("-fsanitize") for f in EXTRA_CFLAGS)
VALGRIND = ["valgrind", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=all", "-q"]
SUMMARY = re.compile(r"^(\d+) passed, 0 failed$", re.MULTILINE)
# The programs take well under a second natively; valgrind is ~20x slower.
RUN_TIMEOUT = 60
VALGRIND_TIMEOUT = 300


def find_compiler():
    """Return the compiler command as a list, or None if there is none.

    $CC wins when set (it may carry arguments, e.g. "ccache gcc").
    """
    cc = os.environ.get("CC", "").strip()
    if cc:
        argv = shlex.split(cc)
        return argv if shutil.which(argv[0]) else None
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    """Return build(source) -> binary path, compiling each source once."""
    compiler = find_compiler()
    if compiler is None:
        reason = ("no C compiler: $CC=%r not found" % os.environ["CC"]
                  if os.environ.get("CC", "").strip()
                  else "no C compiler (cc, gcc or clang) on PATH")
        pytest.skip(reason)
    outdir = tmp_path_factory.mktemp("c-core")
    built = {}

    def _build(source):
        if source not in built:
            sources = sorted((ROOT / "core" / "src").glob("*.c"))
            binary = outdir / source.stem
            cmd = (compiler + CFLAGS + EXTRA_CFLAGS
                   + [str(s.relative_to(ROOT)) for s in [source] + sources]
                   + ["-o", str(binary)])
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True,
                                  text=True, timeout=RUN_TIMEOUT)
            if proc.returncode != 0:
                pytest.fail("compiling %s failed:\n%s\n%s"
                            % (source.name, " ".join(cmd), proc.stderr))
            built[source] = binary
        return built[source]

    return _build


def run(argv, tmp_path, timeout):
    """Run a test program with its temp directories under tmp_path."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def describe(proc):
    return "exit %d\n--- stdout\n%s--- stderr\n%s" % (
        proc.returncode, proc.stdout, proc.stderr)


def test_sources_present():
    assert TEST_SOURCES, "no core/tests/test_*.c found under %s" % ROOT


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
