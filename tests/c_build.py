"""The C programs of the tests, built by meson (meson.build, -Dtests=true).

meson.build is the only description of how C is built here: the unit
tests of the C core, the fuzz targets' replay programs and the example
program come from one `meson setup` and one `ninja` per test session, in a
build directory under pytest's temporary directory.  Nothing here repeats
a compiler flag.

Two environment variables choose the variant, for .ci/sanitize:

    INOTIPY_C_TEST_SANITIZE   meson's b_sanitize, e.g. "address,undefined"
    INOTIPY_C_TEST_CFLAGS     more compiler flags (meson's c_args, and
                              c_link_args), e.g. "-fno-sanitize-recover=all"

A sanitized program cannot run under valgrind: SANITIZED says so.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SANITIZE = os.environ.get("INOTIPY_C_TEST_SANITIZE", "").strip()
EXTRA_CFLAGS = shlex.split(os.environ.get("INOTIPY_C_TEST_CFLAGS", ""))
SANITIZED = bool(SANITIZE) or any(
    f.startswith("-fsanitize") for f in EXTRA_CFLAGS
)
# Configuring and building every C program takes seconds; a loaded machine
# (or a sanitized build) may need much more.
BUILD_TIMEOUT = 600

_built: dict[str, Path] = {}


def have_compiler() -> bool:
    """Whether meson will find a C compiler ($CC wins when set)."""
    cc = shlex.split(os.environ.get("CC", ""))
    if cc:
        return shutil.which(cc[0]) is not None
    return any(shutil.which(n) for n in ("cc", "gcc", "clang"))


def _tool_env() -> dict[str, str]:
    """The environment for meson and ninja: this interpreter's scripts
    directory first, where pip put them, even if the venv is not
    activated."""
    scripts = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=scripts + os.pathsep + os.environ["PATH"])


def _meson(env: dict[str, str]) -> list[str]:
    meson = shutil.which("meson", path=env["PATH"])
    if meson is None:
        pytest.fail("meson is a test dependency: pip install 'inotipy[test]'")
    return [meson]


def _run(cmd: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(
        cmd,
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    if proc.returncode != 0:
        out, err = proc.stdout[-4000:], proc.stderr[-4000:]
        pytest.fail(f"{shlex.join(cmd)} failed:\n{out}\n{err}")
    return proc.stdout


def _setup_args() -> list[str]:
    # buildtype=debug: -O0 -g, for readable valgrind and sanitizer stacks.
    args = ["-Dtests=true", "-Dwerror=true", "-Dbuildtype=debug"]
    if SANITIZE:
        # b_lundef=false: the extension, also in this build, leaves
        # Python's symbols undefined, which meson refuses to combine with
        # sanitizers unless told.
        args += ["-Db_sanitize=" + SANITIZE, "-Db_lundef=false"]
    if EXTRA_CFLAGS:
        flags = shlex.join(EXTRA_CFLAGS)
        args += ["-Dc_args=" + flags, "-Dc_link_args=" + flags]
    return args


def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every C executable meson.build declares, by target name
    (test_tree_moves, replay_decode, inowatch, ...), built once per
    session."""
    if _built:
        return _built
    if not have_compiler():
        cc = os.environ.get("CC", "").strip()
        pytest.skip(
            f"no C compiler: $CC={cc!r} not found"
            if cc
            else "no C compiler (cc, gcc or clang) on PATH"
        )
    env = _tool_env()
    meson = _meson(env)
    build = tmp_path_factory.mktemp("meson-c")
    _run(meson + ["setup", str(build)] + _setup_args(), env)
    targets = json.loads(
        _run(meson + ["introspect", "--targets", str(build)], env)
    )
    exes = {
        t["name"]: Path(t["filename"][0])
        for t in targets
        if t["type"] == "executable"
    }
    # Only these: the extension module (also declared) is not needed.
    _run(meson + ["compile", "-C", str(build)] + sorted(exes), env)
    _built.update(exes)
    return _built


def program(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """The executable meson builds for target `name`."""
    exes = programs(tmp_path_factory)
    if name not in exes:
        known = ", ".join(sorted(exes))
        pytest.fail(
            f"meson.build declares no executable {name!r} (it has: {known})"
        )
    return exes[name]
