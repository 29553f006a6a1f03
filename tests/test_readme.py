"""The README's examples run, and its commands are the ones CI uses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import scaled

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
PYTHON_BLOCKS = [code for lang, code in BLOCKS if lang == "python"]
SHELL_BLOCKS = [code.strip() for lang, code in BLOCKS if lang == "sh"]


def test_readme_has_python_examples() -> None:
    assert PYTHON_BLOCKS


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_example_runs(index: int, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PYTHON_BLOCKS[index]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


# Each example followed by "prints" and a text block must print that.
PRINTED = re.findall(
    r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", README, re.S
)


def test_readme_shows_output() -> None:
    assert PRINTED


@pytest.mark.parametrize("index", range(len(PRINTED)))
def test_example_prints_what_the_readme_says(
    index: int, tmp_path: Path
) -> None:
    code, shown = PRINTED[index]
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(30),
    )
    strip = re.compile(r" /\S+/")  # temp dir names differ run to run
    expected = [strip.sub(" ", line) for line in shown.splitlines()]
    got = [strip.sub(" ", line) for line in proc.stdout.splitlines()]
    assert got == expected, proc.stderr


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(b for b in SHELL_BLOCKS if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_the_first_command_makes_a_venv_before_pip_install(
    tmp_path: Path,
) -> None:
    """PEP 668: a system Python may refuse `pip install`; the first
    command installs into a venv it makes and activates.  Its steps up to
    `pip install` are run here, and pip must then be the venv's."""
    first = SHELL_BLOCKS[0]
    setup, sep, _ = first.partition(" && pip install .")
    assert sep, first
    assert setup == "python3 -m venv .venv && . .venv/bin/activate"
    venv_python = subprocess.run(
        [
            "sh",
            "-c",
            f"{setup} && command -v pip && python -c "
            "'import sys; print(sys.prefix)'",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(120),
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )
    assert venv_python.returncode == 0, venv_python.stderr
    pip, prefix = venv_python.stdout.split()
    assert pip == str(tmp_path / ".venv" / "bin" / "pip")
    assert Path(prefix) == tmp_path / ".venv"


def api_table(text: str, heading: str) -> list[str]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_the_docs_home_page_has_the_readmes_api_table() -> None:
    """docs/index.md repeats the README's table: they must not drift."""
    index = (ROOT / "docs" / "index.md").read_text()
    readme_rows = api_table(README, "## The API in brief")
    assert readme_rows
    assert api_table(index, "## The API on one page") == readme_rows


def test_the_docs_home_page_has_the_readmes_first_command() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    assert f"```sh\n{SHELL_BLOCKS[0]}\n```" in index
