"""Polling's CPU cost (issue 11): inotipy's poller against watchfiles'
force_polling and watchdog's PollingObserver, on the same idle trees, in
one run.

    python benchmarks/poll.py                      # 10,000 and 100,000 files
    python benchmarks/poll.py --files 10000 --seconds 5 --out FILE

For each tree size a tree of that many files (100 to a directory) is made
once, in a tmpfs when run as root (else under /tmp), and each contender
runs in a child process of its own: it sets up its poller with a delay of
300 ms (watchfiles' default), lets it run one second, then measures the
CPU time its process spends (user + system, every thread: getrusage)
over --seconds seconds of idle polling.  The figure is CPU seconds per
second of wall time, which with one delay for all is the cost of keeping
the tree polled; the ratio is to inotipy's.  Nothing changes in the tree
while it is measured: each poller walks and stats everything each round,
finds nothing, and reports nothing.

The peers come from their venvs (benchmarks/.venvs/, pinned as for
run.py).  inotipy polls with backend="poll": it also holds its inotify
watches (one per directory), which cost nothing while nothing happens.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

DELAY_MS = 300
PER_DIR = 100
CONTENDERS = ("inotipy", "watchfiles", "watchdog")


# ---- the child: one poller, measured ----------------------------------------


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _measure(seconds: float, wait: object) -> dict[str, float]:
    """CPU over `seconds` of wall time spent in wait(seconds), after one
    second of warm-up in wait(1.0)."""
    wait(1.0)  # type: ignore[operator]
    cpu, wall = _cpu(), time.monotonic()
    wait(seconds)  # type: ignore[operator]
    wall = time.monotonic() - wall
    return {"cpu": _cpu() - cpu, "wall": wall}


def child_inotipy(root: str, seconds: float) -> dict[str, float]:
    import asyncio

    import inotipy

    async def main() -> dict[str, float]:
        with inotipy.Watcher() as w:
            w.watch_tree(root, backend="poll", poll_delay_ms=DELAY_MS)
            loop = asyncio.get_running_loop()

            async def idle(s: float) -> None:
                # Waiting as a consumer does, while the timer polls.
                assert await w.get(s) is None

            results: dict[str, float] = {}
            await idle(1.0)
            cpu, wall = _cpu(), loop.time()
            await idle(seconds)
            results["cpu"] = _cpu() - cpu
            results["wall"] = loop.time() - wall
            return results

    return asyncio.run(main())


def child_watchfiles(root: str, seconds: float) -> dict[str, float]:
    from watchfiles._rust_notify import RustNotify

    # (paths, debug, force_polling, poll_delay_ms, recursive,
    # ignore_permission_denied), as watchfiles.watch() makes it.
    with RustNotify([root], False, True, DELAY_MS, True, False) as notify:

        def wait(s: float) -> None:
            r = notify.watch(50, 50, int(s * 1000), None)
            assert r == "timeout", r

        return _measure(seconds, wait)


def child_watchdog(root: str, seconds: float) -> dict[str, float]:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.polling import PollingObserver

    obs = PollingObserver(timeout=DELAY_MS / 1000)
    obs.schedule(FileSystemEventHandler(), root, recursive=True)
    obs.start()
    try:
        return _measure(seconds, time.sleep)
    finally:
        obs.stop()
        obs.join()


def child_main(argv: list[str]) -> int:
    name, root, seconds = argv[0], argv[1], float(argv[2])
    fn = {
        "inotipy": child_inotipy,
        "watchfiles": child_watchfiles,
        "watchdog": child_watchdog,
    }[name]
    print(json.dumps(fn(root, seconds)))
    return 0


# ---- the parent -------------------------------------------------------------


def make_tree(base: str, files: int) -> str:
    root = os.path.join(base, f"tree-{files}")
    os.mkdir(root)
    for i in range(files):
        d = os.path.join(root, f"d{i // PER_DIR:05d}")
        if i % PER_DIR == 0:
            os.mkdir(d)
        with open(os.path.join(d, f"f{i % PER_DIR:03d}.py"), "w") as f:
            f.write("x = 1\n")
    return root


def python_of(name: str) -> str:
    if name == "inotipy":
        return sys.executable
    from bench.contenders import PEERS
    from bench.env import ensure_venv

    return str(ensure_venv(name, PEERS[name]))


def run_child(name: str, root: str, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [python_of(name), __file__, "--child", name, root, str(seconds)],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


class _Base:
    """A tmpfs as root (unmounted at the end), else a temporary
    directory."""

    def __enter__(self) -> str:
        self.path = tempfile.mkdtemp(prefix="inotipy-poll-bench-")
        self.mounted = False
        if os.geteuid() == 0:
            r = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=2g", "none", self.path]
            )
            self.mounted = r.returncode == 0
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", self.path])
        shutil.rmtree(self.path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", default="10000,100000")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--only", default=",".join(CONTENDERS))
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    from bench.machine import machine_info

    results: dict[str, object] = {
        "delay_ms": DELAY_MS,
        "seconds": args.seconds,
        "machine": machine_info(),
        "runs": [],
    }
    names = args.only.split(",")
    with _Base() as base:
        for files in (int(n) for n in args.files.split(",")):
            root = make_tree(base, files)
            row = {}
            for name in names:
                row[name] = run_child(name, root, args.seconds)
                print(f"{files:>7} files  {name:<10}  "
                      f"{row[name]['cpu'] / row[name]['wall'] * 1000:8.1f} "
                      "ms CPU per s", flush=True)  # fmt: skip
            results["runs"].append({"files": files, "results": row})  # type: ignore[attr-defined]
            shutil.rmtree(root)
    results["loadavg_after"] = os.getloadavg()
    print()
    print(report(results))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def report(results: dict) -> str:
    lines = [
        "| files | contender | CPU per second of polling | ratio to inotipy |",
        "|---:|---|---:|---:|",
    ]
    for run in results["runs"]:
        row = run["results"]
        ours = row.get("inotipy")
        base = ours["cpu"] / ours["wall"] if ours else None
        for name, r in row.items():
            frac = r["cpu"] / r["wall"]
            ratio = f"{frac / base:.1f}x" if base else "-"
            files = f"{run['files']:,}"
            lines.append(
                f"| {files} | {name} | {frac * 1000:.1f} ms | {ratio} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
