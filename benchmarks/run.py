#!/usr/bin/env python3
"""The inotipy benchmark suite: one command, every contender, one run.

    python benchmarks/run.py            # full run (about 10 minutes, root)
    python benchmarks/run.py --smoke    # a few thousand events, ours and
                                        # the raw C reader only, no network

Measures, on the same event streams (benchmarks/gen.c), this package (the
inotipy installed for the running Python, or --ours-python), a raw C reader
(benchmarks/raw_reader.c, the limit) and the peers, each installed from
PyPI into its own venv under benchmarks/.venvs/:

    drain    N events already queued in the kernel: time until they are
             all received
    live     a generator making events as fast as asked: the highest rate
             delivered with no event lost, and CPU seconds per million
    latency  a write in another process to the consumer resuming: p50, p99
    idle     CPU time and wake-ups of a watcher with nothing happening
    memory   RSS per watch, and per event read into the library's memory
    trees    watching a balanced tree of 10,000 and of 100,000 directories:
             time of the recursive watch call and RSS per directory, ours
             (Watcher.watch_tree()) against a raw C walk
             (benchmarks/raw_tree.c, the limit) and the peers' recursive
             modes
    index_mem   a tree's index in the C core: heap bytes per directory
                and per file (benchmarks/index_mem.c)
    tree_files  watching trees with files, the index of files on and off,
                against the raw C walk with and without an fstatat of
                every file
    heal        a tree's heal after a real IN_Q_OVERFLOW, in C and through
                Python, against a raw C rescan (benchmarks/raw_rescan.c);
                every heal's events checked

Prints tables (medians of the repetitions; ratios to the raw C reader and
to the best peer), saves benchmarks/results.json (raw numbers, machine) and
benchmarks/results.png.  See benchmarks/README.md for the method.

This file is the command line only; the work is in benchmarks/bench/.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # the smoke run writes nothing in the tree

from bench import HERE, log, report  # noqa: E402
from bench.build import build_helpers  # noqa: E402
from bench.contenders import (  # noqa: E402
    OURS,
    FLOOR,
    PEERS,
    RAW,
    REQUIREMENTS,
    TREE_PEERS,
    Lineup,
    module_of,
)
from bench.env import ensure_venv, installed_version, ours_info  # noqa: E402
from bench.machine import machine_info, machine_line  # noqa: E402
from bench.index_report import index_targets, index_text  # noqa: E402
from bench.phases import FULL, OWN_KEY, PHASES, SMOKE, Bench  # noqa: E402
from bench.proc import kill_children  # noqa: E402

ALL_PHASES = ",".join(PHASES)
# Phases apart from the event tables' (their own records and tables).
APART = ("trees", "instructions")
# The smoke run leaves out the instruction counts (valgrind takes
# minutes); --phases instructions asks for them.
SMOKE_PHASES = ",".join(p for p in PHASES if p != "instructions")
STREAM = (
    "symlink(2) + unlink(2) of unique 8-byte names in one watched "
    "tmpfs directory: IN_CREATE, IN_DELETE"
)


@dataclass
class Run:
    """What one run is: its mode, its sizes, when it started, the load."""

    mode: str
    cfg: dict
    started: float = field(default_factory=time.monotonic)
    load: float = 0.0


def main(argv=None) -> int:
    """One run, step by step (or, with --report, a saved run's tables)."""
    args = parse_args(argv)
    if args.report:
        return report.print_saved(Path(args.report))
    if not sys.platform.startswith("linux"):
        raise SystemExit("inotify benchmarks need Linux")
    run = Run(
        "smoke" if args.smoke else "quick" if args.quick else "full",
        sizes(args),
    )
    phases = args.phases or (SMOKE_PHASES if args.smoke else ALL_PHASES)
    wanted = set(phases.split(","))
    lineup = choose_contenders(args, wanted)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    with scratch() as (workdir, bindir):
        log(f"inotipy benchmarks ({run.mode}) in {workdir}")
        run.load = check_load()
        bins = build_helpers(bindir)
        install_envs(lineup, args)
        bench = Bench(run.cfg, lineup, bins, workdir)
        done = run_phases(bench, wanted)
        return write_results(args, run, lineup, done)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a few thousand events, ours and the raw C reader "
        "only: no peers, no network, a few seconds",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the smoke run's sizes, with every contender",
    )
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated contenders (default: all)",
    )
    p.add_argument(
        "--phases",
        default=None,
        help=f"comma-separated phases (default: {ALL_PHASES}; the smoke "
        "run leaves out instructions)",
    )
    p.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions of drain, live and latency",
    )
    p.add_argument(
        "--tree-sizes",
        default=None,
        help="comma-separated directory counts of the trees phase "
        "(default 10000,100000; 1000000 works too: max_user_watches is "
        "raised for the phase as root and put back)",
    )
    p.add_argument(
        "--tree-reps",
        type=int,
        default=None,
        help="repetitions of the trees phase (default 3)",
    )
    p.add_argument(
        "--ours-python",
        default=sys.executable,
        help="the Python that has this inotipy installed",
    )
    p.add_argument(
        "--ours-note",
        default=None,
        help="where ours was built from, kept in the results",
    )
    p.add_argument(
        "--out",
        default=None,
        help="results JSON (full run default: "
        "benchmarks/results.json; smoke: none)",
    )
    p.add_argument("--no-plot", action="store_true")
    p.add_argument(
        "--report",
        metavar="JSON",
        default=None,
        help="print the tables of a saved results file and exit",
    )
    return p.parse_args(argv)


def sizes(args) -> dict:
    cfg = dict(SMOKE if args.smoke or args.quick else FULL)
    if args.reps:
        for k in ("drain_reps", "live_reps", "latency_reps", "mem_reps"):
            cfg[k] = args.reps
    if args.tree_reps:
        cfg["tree_reps"] = args.tree_reps
    if args.tree_sizes:
        try:
            cfg["tree_sizes"] = tuple(
                int(n.replace("_", "")) for n in args.tree_sizes.split(",")
            )
        except ValueError:
            raise SystemExit(
                f"--tree-sizes: not a list of numbers: {args.tree_sizes}"
            ) from None
        if min(cfg["tree_sizes"]) < 1:
            raise SystemExit("--tree-sizes: every size must be at least 1")
    return cfg


def choose_contenders(args, wanted) -> Lineup:
    """The raw C reader and ours, the peers unless --smoke, the tree-only
    peers when the trees phase runs; --only narrows them."""
    names = [RAW] + OURS + ([] if args.smoke else [FLOOR] + list(PEERS))
    tree_peers = (
        [] if args.smoke or "trees" not in wanted else list(TREE_PEERS)
    )
    if args.only:
        only = args.only.split(",")
        unknown = set(only) - set(names) - set(tree_peers)
        if unknown:
            raise SystemExit(
                f"unknown contenders: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(names + tree_peers)})"
            )
        names = [n for n in names if n in only]
        tree_peers = [n for n in tree_peers if n in only]
    return Lineup(names, tree_peers)


@contextlib.contextmanager
def scratch():
    """(work directory, build directory), both removed at the end, when
    every child is killed too.  The work directory is on tmpfs when there
    is one; the helpers are built outside it, as /dev/shm may be mounted
    noexec."""
    workroot = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    workdir = Path(tempfile.mkdtemp(prefix="inotipy-bench-", dir=workroot))
    bindir = Path(tempfile.mkdtemp(prefix="inotipy-bench-bin-"))
    try:
        yield workdir, bindir
    finally:
        kill_children()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(bindir, ignore_errors=True)


def check_load() -> float:
    load = os.getloadavg()[0]
    if load > 0.5:
        log(
            f"WARNING: load average {load:.2f}: other work on this machine "
            "makes the numbers (latency p99 above all) noisy"
        )
    return load


def install_envs(lineup: Lineup, args) -> None:
    """The Python of every contender and the versions to record: ours
    from --ours-python, each peer from its venv (made on first use).  A
    peer that cannot be installed is left out, and that is recorded."""
    lineup.pythons.update({n: args.ours_python for n in OURS + [FLOOR]})
    lineup.versions["inotipy"] = ours_info(args.ours_python)
    if args.ours_note:
        lineup.versions["inotipy"]["note"] = args.ours_note
    for name in [
        n for n in lineup.names + lineup.tree_peers if n in REQUIREMENTS
    ]:
        requirement = REQUIREMENTS[name]
        try:
            python = ensure_venv(name, requirement)
        except (subprocess.CalledProcessError, OSError) as e:
            log(f"  cannot install {name}: {e}; left out")
            lineup.drop(name, str(e))
            continue
        lineup.pythons[name] = python
        lineup.versions[name] = installed_version(
            python, module_of(requirement)
        )


def run_phases(bench: Bench, wanted) -> dict:
    """The wanted phases, in the order of PHASES: {phase: raw numbers}.
    Those that need it run with max_queued_events raised; it is put back
    before the others (the live phase runs at the machine's value)."""
    queue = bench.queue_limit()
    done = {}
    try:
        for name, phase in PHASES.items():
            if name in wanted:
                (queue.hold if phase.big_queue else queue.release)()
                done[name] = phase.run(bench)
    finally:
        queue.release()
    return done


def write_results(args, run: Run, lineup: Lineup, done: dict) -> int:
    """Prints the tables, saves the results (and the plot) where they go,
    and returns the exit status: 1 if any measurement failed."""
    names = lineup.names
    raw = {
        k: done.get(k, {})
        for k in PHASES
        if k not in OWN_KEY and k not in APART
    }
    trees = done.get("trees")
    instructions = done.get("instructions")
    summary = report.summarize(raw, names)
    table = report.tables(summary, names, run.cfg["idle_seconds"])
    ts = (
        report.targets(summary)
        + report.instr_targets(instructions)
        + report.tree_targets(trees)
        + index_targets(done)
    )
    print()
    print(table)
    if instructions:
        print("\n" + report.instr_text(instructions))
    print()
    print(report.targets_text(ts))
    if trees:
        print("\n" + report.trees_text(trees))
    if index_text(done):
        print("\n" + index_text(done))
    elapsed = time.monotonic() - run.started
    print(f"\n{run.mode} run, {elapsed:.0f} s, {machine_line()}")
    if lineup.errors:
        print("\nERRORS:\n  " + "\n  ".join(lineup.errors))
    out = (
        Path(args.out)
        if args.out
        else (None if run.mode == "smoke" else HERE / "results.json")
    )
    if out:
        result = {
            "schema": 1,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
            "mode": run.mode,
            "seconds": round(elapsed, 1),
            "machine": machine_info(),
            "loadavg_at_start": run.load,
            "config": run.cfg,
            "versions": lineup.versions,
            "stream": STREAM,
            "summary": summary,
            "targets": ts,
            "trees": trees,
            "index_mem": done.get("index_mem"),
            "tree_files": done.get("tree_files"),
            "heal": done.get("heal"),
            "instructions": instructions,
            "errors": lineup.errors,
            "table": table,
            "raw": raw,
        }
        out.write_text(json.dumps(result, indent=1) + "\n")
        log(f"wrote {out}")
        if not args.no_plot and run.mode != "smoke":
            report.plot(out)
    return 1 if lineup.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
