"""The package type-checks, and its stub of the extension is right.

- The package's source passes ``mypy --strict`` with the configuration in
  pyproject.toml: its .py files are typed, and python/inotipy/_inotipy.pyi
  stands for the C extension.
- The stub matches the built extension, and the installed package is
  consistent (mypy's stubtest over ``inotipy`` and its submodules).
- The installed package accepts typical code (tests/typing_examples.py),
  so the public API types the way users ordinarily write.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).with_name("typing_examples.py")
PACKAGE = ROOT / "python" / "inotipy"


def mypy(args: list[str], cwd: Path, scaled, module: str = "mypy"):
    pytest.importorskip("mypy")
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=scaled(110),
    )


def test_examples_pass_mypy_strict(tmp_path: Path, scaled) -> None:
    result = mypy(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            str(EXAMPLES),
        ],
        tmp_path,
        scaled,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_passes_mypy_strict(tmp_path: Path, scaled) -> None:
    result = mypy(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            str(PACKAGE),
        ],
        tmp_path,
        scaled,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stub_matches_the_extension(tmp_path: Path, scaled) -> None:
    options = [
        "--concise",
        "--allowlist",
        str(ROOT / "tests" / "stubtest_allowlist.txt"),
    ]
    # PEP 800's @disjoint_base is too new for the stub: mypy releases
    # before it would not read it.  Newer stubtests check it unless told.
    usage = mypy(["--help"], tmp_path, scaled, module="mypy.stubtest")
    if "--ignore-disjoint-bases" in usage.stdout:
        options.append("--ignore-disjoint-bases")
    # The whole installed package: the extension against its stub, and
    # the Python modules against themselves (every submodule).
    result = mypy(
        [*options, "inotipy"],
        tmp_path,
        scaled,
        module="mypy.stubtest",
    )
    assert result.returncode == 0, result.stdout + result.stderr
