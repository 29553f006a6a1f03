"""The drop-in check: real programs written for watchfiles, on inotipy.

A virtual environment of its own gets uvicorn and its test requirements
from PyPI; uvicorn's source distribution brings its tests.  A
``watchfiles`` package that re-exports inotipy (tests/shim/watchfiles)
comes first on the path, with a copy of the inotipy under test beside it,
and uvicorn's reloader tests run as uvicorn runs them: every test of its
WatchFilesReload must pass, none skipped.

aiohttp-devtools and arq are installed too, but only checked to bind the
shim: aiohttp-devtools' sdist ships tests that import a conftest.py it
does not ship, and arq's need a Redis server in a container (its one
watch test replaces awatch with a mock anyway).

Slow for the suite (about a minute, most of it pip): it runs when
INOTIPY_SHIM_CHECK=1, which CI's shim leg (.ci/run) sets, and skips with
the reason when PyPI cannot be reached.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import inotipy
import inotipy._inotipy
from support import scaled

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("INOTIPY_SHIM_CHECK") != "1",
        reason="the shim check runs with INOTIPY_SHIM_CHECK=1 (CI sets it)",
    ),
    pytest.mark.timeout(scaled(900)),
]

SHIM = Path(__file__).parent / "shim"
UVICORN = "uvicorn==0.54.0"
# uvicorn's own pins for its test run (its pyproject's dev group).
UVICORN_TESTS = ["pytest>=8", "pytest-mock==3.15.1"]
OTHERS = ["aiohttp-devtools==1.1.2", "arq==0.28.0"]


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "-q", *args],
        capture_output=True,
        text=True,
        timeout=scaled(600),
    )


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without what would bring this venv's packages."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def shim_venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The venv, uvicorn's unpacked sdist, and the PYTHONPATH that puts
    the shim and the inotipy under test first."""
    root = tmp_path_factory.mktemp("shim")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    got = pip(
        venv,
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "-d",
        str(root / "sdist"),
        UVICORN,
    )
    if got.returncode != 0:
        pytest.skip(
            f"PyPI unreachable: {(got.stderr.strip() or '?').splitlines()[-1]}"
        )
    got = pip(venv, "install", UVICORN, *UVICORN_TESTS, *OTHERS)
    assert got.returncode == 0, got.stderr
    (sdist,) = (root / "sdist").glob("uvicorn-*.tar.gz")
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.10.12, 3.11.4 and later
            tar.extractall(root, filter="data")
        else:
            tar.extractall(root)  # noqa: S202 (PyPI's sdist, pinned)
    # The inotipy under test, alone: its package and its extension.
    stage = root / "stage" / "inotipy"
    shutil.copytree(
        Path(inotipy.__file__).parent,
        stage,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    ext = Path(inotipy._inotipy.__file__)
    if not (stage / ext.name).exists():  # an editable install builds apart
        shutil.copy2(ext, stage)
    return {
        "venv": venv,
        "uvicorn": root / sdist.name.removesuffix(".tar.gz"),
        "path": Path(f"{SHIM}{os.pathsep}{stage.parent}"),
    }


def python(shim: dict[str, Path], *args: str, cwd: Path | None = None) -> str:
    got = subprocess.run(
        [str(shim["venv"] / "bin" / "python"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(PYTHONPATH=str(shim["path"])),
        timeout=scaled(600),
    )
    assert got.returncode == 0, got.stdout + got.stderr
    return got.stdout


def test_the_shim_is_what_watchfiles_imports(
    shim_venv: dict[str, Path],
) -> None:
    out = python(
        shim_venv,
        "-c",
        "import inotipy, watchfiles, watchfiles.main, watchfiles.run\n"
        "assert watchfiles.watch is inotipy.watch\n"
        "assert watchfiles.main.awatch is inotipy.awatch\n"
        "print(inotipy.__file__)",
    )
    assert out.strip().endswith("stage/inotipy/__init__.py")


def test_uvicorn_reloader_tests_pass(shim_venv: dict[str, Path]) -> None:
    out = python(
        shim_venv,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        # uvicorn's addopts ask for pytest-xdist: its other options only.
        "-o",
        "addopts=",
        "--strict-markers",
        "-v",
        "-rs",
        "tests/supervisors/test_reload.py",
        cwd=shim_venv["uvicorn"],
    )
    ours = re.findall(r"^\S*WatchFiles\S* (\w+)", out, re.MULTILINE)
    ours += re.findall(r"^\S*test_should_watch_\S* (\w+)", out, re.MULTILINE)
    # uvicorn 0.54.0 has 14 tests that run WatchFilesReload or watch().
    assert len(ours) == 14 and set(ours) == {"PASSED"}, out
    assert re.search(r"\b\d+ passed", out) and "skipped" not in out, out


def test_aiohttp_devtools_and_arq_bind_the_shim(
    shim_venv: dict[str, Path],
) -> None:
    python(
        shim_venv,
        "-c",
        "import inotipy, arq.cli\n"
        "from aiohttp_devtools.runserver import watch\n"
        "assert watch.awatch is inotipy.awatch\n",
    )
