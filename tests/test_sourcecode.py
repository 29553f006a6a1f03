"""The source is as the linters want it: ruff for the Python, clang-format
for the C (the checks of .ci/lint, when the tools are installed).

The paths and files checked are .ci/lint's: INOTIPY_RUFF_PATHS and
INOTIPY_CLANG_FORMAT choose them here too, and the list of C files already
formatted is read from that script, so the two never disagree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = ROOT / ".ci" / "lint"


def _lint_setting(name: str) -> str:
    """The value .ci/lint assigns to `name` (a scalar)."""
    match = re.search(
        rf'^{name}="\$\{{\w+:-([^}}]*)\}}"$', LINT.read_text(), re.MULTILINE
    )
    assert match, f"no {name} in {LINT}"
    return match.group(1)


def _clang_format_files() -> list[str]:
    scope = os.environ.get(
        "INOTIPY_CLANG_FORMAT", _lint_setting("clang_format_scope")
    )
    if scope == "all":
        out = subprocess.run(
            ["git", "ls-files", "core/*.[ch]", "binding/*.[ch]"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.split()
    block = re.search(
        r"^clang_format_listed=\((.*?)^\)",
        LINT.read_text(),
        re.MULTILINE | re.DOTALL,
    )
    assert block, f"no clang_format_listed in {LINT}"
    return block.group(1).split()


def _ruff() -> list[str] | None:
    path = shutil.which("ruff") or shutil.which(
        "ruff", path=str(Path(sys.executable).parent)
    )
    return [path] if path else None


def test_python_passes_ruff() -> None:
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff not installed")
    if "[tool.ruff" not in (ROOT / "pyproject.toml").read_text():
        pytest.skip("no [tool.ruff] in pyproject.toml yet")
    paths = os.environ.get(
        "INOTIPY_RUFF_PATHS", _lint_setting("ruff_paths")
    ).split()
    proc = subprocess.run(
        ruff + ["check", *paths],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_c_passes_clang_format() -> None:
    tool = re.search(
        r"^clang_format=(\S+)$", LINT.read_text(), re.MULTILINE
    ).group(1)
    if shutil.which(tool) is None:
        pytest.skip(
            f"{tool} not installed (its output differs between versions)"
        )
    files = _clang_format_files()
    assert files
    for name in files:
        assert (ROOT / name).is_file(), f"{LINT} lists a missing file: {name}"
    proc = subprocess.run(
        [tool, "--dry-run", "-Werror", *files],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
