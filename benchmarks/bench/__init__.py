"""The benchmark driver, one job per module; benchmarks/run.py is its CLI.

    contenders  who takes part: names, labels, pinned peers, what each
                cannot do
    proc        child processes: start, read under a timeout, measure, kill
    env         the Pythons: peer venvs, ours, the environment they get
    machine     what the run ran on
    build       the C helpers, built by meson in a directory of their own
    limits      inotify sysctls raised for a phase and always put back
    phases      the measurements, one method per phase, and their sizes
    index       the index phases: memory per file and directory, trees
                with files, heals after a real overflow
    report      from raw numbers to summary, targets, tables and the plot
    index_report  the index phases' tables and targets

This module holds the two paths and the log function they all use.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # benchmarks/
REPO = HERE.parent


def log(msg: str) -> None:
    """Progress goes to standard error; standard output is the tables."""
    print(msg, file=sys.stderr, flush=True)
