"""Change sets under a burst: inotipy.awatch() against watchfiles.awatch().

    python benchmarks/changes.py [--files N] [--dirs D] [--reps R] [--quick]

A reloader or a sync tool cares about two things when a burst lands (a
`git checkout`, an `npm install`, an unpacked archive): that every changed
file is reported, and how soon and at what cost.  Each repetition makes an
empty watched directory, starts the consumer (one `async for changes in
awatch(root, watch_filter=None)` in a process of its own, the library's
defaults otherwise: debounce 1600 ms, step 50 ms), waits until it is
watching, then makes D new directories holding N files in all, each
written with one byte, as fast as Python can, and reports:

- files reported: how many of the N files appeared in the change sets;
- seconds from the start of the burst until the last of them was
  reported (or until 3 s passed without a new set);
- the consumer's CPU seconds over that time.

watchfiles comes from PyPI into benchmarks/.venvs/watchfiles, as in
run.py; ours is the inotipy the running Python imports.  Results go to
benchmarks/results-changes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # --smoke writes nothing in the tree

from bench.env import clean_env, ensure_venv, installed_version  # noqa: E402

WATCHFILES = "watchfiles==1.3.0"

# The consumer, run by the contender's own Python.  It prints READY once
# its first (empty, timed-out) set shows the watch is in place, then
# collects the added files' paths until it has them all or 3 s pass
# without a set, and prints one JSON line.
CONSUMER = r"""
import asyncio, json, os, resource, sys, time
lib, root, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
if lib == "inotipy":
    from inotipy import awatch
else:
    from watchfiles import awatch

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

async def main():
    files, sets, done_at, last = set(), 0, None, None
    cpu0 = None
    async for changes in awatch(root, watch_filter=None, rust_timeout=100,
                                yield_on_timeout=True):
        now = time.monotonic()
        if cpu0 is None:
            cpu0 = cpu()
            print("READY", flush=True)
            last = now
            continue
        if changes:
            sets += 1
            last = now
            for change, path in changes:
                if os.path.basename(path).startswith("f"):
                    files.add(path)
            if len(files) >= want:
                done_at = now
                break
        elif last is not None and now - last > 3.0 and sets:
            break
    print(json.dumps({"files": len(files), "sets": sets,
                      "done_at": done_at if done_at is not None else last,
                      "cpu": cpu() - cpu0}), flush=True)

asyncio.run(main())
"""


def burst(root: Path, files: int, dirs: int) -> float:
    """Makes the directories and files; returns when it started."""
    per_dir = files // dirs
    start = time.monotonic()
    for d in range(dirs):
        sub = root / f"d{d:03d}" / "src"
        os.makedirs(sub)
        for f in range(per_dir):
            with open(sub / f"f{f:05d}.py", "wb") as out:
                out.write(b"x")
    return start


def one_run(python: str, lib: str, files: int, dirs: int, env: dict) -> dict:
    with tempfile.TemporaryDirectory(
        dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    ) as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        proc = subprocess.Popen(
            [
                python,
                "-c",
                CONSUMER,
                lib,
                str(root),
                str(files - files % dirs),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "READY":
                raise RuntimeError(f"{lib} consumer failed: {line!r}")
            start = burst(root, files, dirs)
            made = time.monotonic() - start
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        result = json.loads(out.strip().splitlines()[-1])
        result["seconds"] = result.pop("done_at") - start
        result["burst_seconds"] = made
        return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--dirs", type=int, default=200)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument(
        "--quick",
        action="store_true",
        help="2,000 files in 20 directories, one repetition",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="--quick with ours only: no venv, no network, "
        "nothing written (what CI runs)",
    )
    p.add_argument("--out", default=str(HERE / "results-changes.json"))
    args = p.parse_args()
    if args.quick or args.smoke:
        args.files, args.dirs, args.reps = 2_000, 20, 1
    ours_env = dict(os.environ)
    contenders = [("inotipy", sys.executable, ours_env)]
    wf = None
    if not args.smoke:
        wf = ensure_venv("watchfiles", WATCHFILES)
        contenders.append(("watchfiles", str(wf), clean_env()))
    results: dict[str, list[dict]] = {}
    for rep in range(args.reps):
        for lib, python, env in contenders:
            r = one_run(python, lib, args.files, args.dirs, env)
            results.setdefault(lib, []).append(r)
            print(
                f"  {lib:<10} rep {rep + 1}: {r['files']:5d}/{args.files} "
                f"files, {r['seconds']:.2f} s, {r['sets']} sets, CPU "
                f"{r['cpu']:.2f} s (burst {r['burst_seconds']:.2f} s)",
                file=sys.stderr,
            )
    print(
        f"\n| contender | files reported (of {args.files}) | seconds to "
        "the last | CPU s | sets |"
    )
    print("|---|---:|---:|---:|---:|")
    for lib, runs in results.items():
        files = " / ".join(str(r["files"]) for r in runs)
        seconds = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        sets = int(statistics.median(r["sets"] for r in runs))
        print(f"| {lib} | {files} | {seconds:.2f} | {cpu:.2f} | {sets} |")
    burst_median = statistics.median(
        r["burst_seconds"] for runs in results.values() for r in runs
    )
    print(
        f"\nmedians of {args.reps}; burst: {args.files} files in "
        f"{args.dirs} new directories, {burst_median:.2f} s (median)"
    )
    if not (args.quick or args.smoke) and wf is not None:
        Path(args.out).write_text(
            json.dumps(
                {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "machine": {
                        "platform": platform.platform(),
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "loadavg": os.getloadavg(),
                    },
                    "config": {
                        "files": args.files,
                        "dirs": args.dirs,
                        "reps": args.reps,
                    },
                    "versions": {
                        "watchfiles": installed_version(wf, "watchfiles")
                    },
                    "runs": results,
                },
                indent=1,
            )
            + "\n"
        )
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
