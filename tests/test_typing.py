"""The type stubs accept typical code (tests/typing_examples.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).with_name("typing_examples.py")


def test_examples_pass_mypy_strict(tmp_path: Path, scaled) -> None:
    pytest.importorskip("mypy")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            str(EXAMPLES),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(110),
    )
    assert result.returncode == 0, result.stdout + result.stderr
