"""Builds the C helpers (gen, raw_reader, raw_tree, raw_rescan, and
index_mem and heal_core on the core library) with meson, the one
description of how this project compiles C (meson.build, under
`if get_option('benchmarks')`), in a build directory of their own."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import REPO

HELPERS = (
    "gen",
    "raw_reader",
    "raw_tree",
    "raw_rescan",
    "index_mem",
    "heal_core",
)


def build_helpers(build_dir: Path) -> dict[str, Path]:
    """Sets up BUILD_DIR (empty or new) with -Dbenchmarks=true, builds the
    helpers only (not the extension), and returns {name: executable}."""
    meson = _meson()
    _run(meson + ["setup", str(build_dir), str(REPO), "-Dbenchmarks=true"])
    _run(meson + ["compile", "-C", str(build_dir), *HELPERS])
    r = _run(meson + ["introspect", "--targets", str(build_dir)])
    built = {
        t["name"]: Path(t["filename"][0])
        for t in json.loads(r.stdout)
        if t["type"] == "executable"
    }
    missing = [name for name in HELPERS if name not in built]
    if missing:
        raise SystemExit(
            f"meson.build built no {', '.join(missing)}: is "
            "its benchmarks block there?"
        )
    return {name: built[name] for name in HELPERS}


def _meson() -> list[str]:
    """The meson command: $MESON, meson on PATH, or this Python's."""
    found = os.environ.get("MESON") or shutil.which("meson")
    if found:
        return [found]
    if importlib.util.find_spec("mesonbuild") is not None:
        return [sys.executable, "-m", "mesonbuild.mesonmain"]
    raise SystemExit(
        "meson builds the generator and the raw C reader: "
        "pip install meson ninja (and have a C compiler)"
    )


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stdout + r.stderr)[-3000:]
        raise SystemExit(f"{' '.join(argv[:3])} failed:\n{tail}")
    return r
