"""The Pythons the contenders run under: a venv of its own per peer
(benchmarks/.venvs/NAME, reused while its pin is unchanged), the clean
environment a peer gets, and what ours is (version, build, commit)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import HERE, REPO, log

VENVS = HERE / ".venvs"


def ensure_venv(name: str, requirement: str) -> Path:
    """benchmarks/.venvs/NAME with REQUIREMENT installed; reused while the
    requirement is unchanged.  Returns its python."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirement"
    if (
        python.exists()
        and stamp.exists()
        and stamp.read_text().strip() == requirement
    ):
        return python
    log(f"  installing {requirement} into {venv.relative_to(REPO)}")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            requirement,
        ],
        check=True,
        env=clean_env(),
    )
    stamp.write_text(requirement + "\n")
    return python


def clean_env() -> dict:
    """The environment for a peer: nothing that could bring our inotipy
    (or anything else) into its path."""
    env = dict(os.environ)
    for key in (
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "VIRTUAL_ENV",
    ):
        env.pop(key, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def installed_version(python, module: str) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except Exception: print('?')"
    )
    r = subprocess.run(
        [str(python), "-c", code, module],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    return r.stdout.strip() or "?"


def ours_info(python: str) -> dict:
    """Version and place of the inotipy PYTHON imports, its build options
    when it is a meson build tree, and the repository's commit."""
    code = (
        "import inotipy, os, json; print(json.dumps({'version': "
        "inotipy.__version__, 'file': os.path.dirname(inotipy.__file__)"
        "}))"
    )
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(
            f"cannot import inotipy with {python}: install it "
            f"first (pip install {REPO})\n{r.stderr}"
        )
    info = json.loads(r.stdout)
    _add_build(info)
    _add_git(info)
    return info


def _add_build(info: dict) -> None:
    """A meson dev build (build/dev) may be unoptimized: say so loudly."""
    opts = (
        Path(info["file"]).parent.parent
        / "meson-info"
        / "intro-buildoptions.json"
    )
    if not opts.exists():
        return
    try:
        o = {x["name"]: x["value"] for x in json.loads(opts.read_text())}
        info["build"] = f"{o.get('buildtype')}, -O{o.get('optimization')}"
        if str(o.get("optimization")) in ("0", "g"):
            log(
                f"WARNING: {info['file']} is an unoptimized build "
                f"({info['build']}): numbers for ours will be low; pip "
                "install the package instead"
            )
    except (ValueError, KeyError, TypeError):
        pass


def _add_git(info: dict) -> None:
    git = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    )
    if git.returncode != 0:
        return
    info["git"] = git.stdout.strip()
    dirty = subprocess.run(
        [
            "git",
            "-C",
            str(REPO),
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
        capture_output=True,
        text=True,
    )
    info["dirty"] = bool(dirty.stdout.strip())
