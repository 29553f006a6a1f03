"""The benchmark suite's smoke mode still runs end to end.

`python benchmarks/run.py --smoke` measures a few thousand events with the
installed package and the raw C reader only: no peer venvs, no network, a
few seconds.  This keeps benchmarks/ from rotting; it asserts nothing about
speed.
"""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="inotify is Linux only"
    ),
    pytest.mark.skipif(
        shutil.which("cc") is None,
        reason="the benchmarks compile C helpers with cc",
    ),
    pytest.mark.skipif(
        shutil.which("meson") is None
        and importlib.util.find_spec("mesonbuild") is None,
        reason="meson builds the benchmarks' C helpers",
    ),
]


def test_smoke_run_prints_the_tables():
    before = sorted(p.name for p in (ROOT / "benchmarks").iterdir())
    r = subprocess.run(
        [sys.executable, str(RUN), "--smoke"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=str(ROOT),
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = r.stdout
    assert "| contender | drain ev/s |" in out
    assert "| contender | latency p50 |" in out
    for row in (
        "| raw C reader |",
        "| inotipy get() |",
        "| inotipy async for |",
        "| inotipy get_batch() |",
    ):
        assert row in out
    assert "| target | value | goal | met |" in out
    # The index phases: memory per directory and per file, trees with
    # files, heals after a real overflow whose events were all exact
    # (correctness, not speed).
    assert "| dirs | files | per dir, files off |" in out
    assert "| tree | contender | wall s |" in out
    assert "| watch_tree(), index on |" in out
    if "Heals: skipped" not in out:
        assert "| entries | contender | wall ms |" in out
        for who in ("heal, core in C", "heal, get_batch()"):
            assert f"({who}): events exact | 1/1 | all | yes |" in out, out
    assert "smoke run" in out
    # The smoke run writes nothing into the repository (no results, no
    # venvs).
    assert sorted(p.name for p in (ROOT / "benchmarks").iterdir()) == before


def test_changes_smoke_run():
    """benchmarks/changes.py --smoke: ours only, 2,000 files; every one of
    them must be reported (that is correctness, not speed)."""
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "changes.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=str(ROOT),
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "| inotipy | 2000 |" in r.stdout, r.stdout


def test_catchup_smoke_run():
    """benchmarks/catchup.py on 1,000 files, one repetition: it checks
    that the catch-up tells exactly the changes made (correctness, not
    speed)."""
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "catchup.py"),
            "--files",
            "1000",
            "--reps",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=str(ROOT),
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "| 1,000 |" in r.stdout and "25 events" in r.stdout, r.stdout
