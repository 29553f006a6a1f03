"""The measurements: one method of Bench per phase, run in the order of
PHASES, with the sizes of a full and of a smoke run.  Each phase returns
its raw numbers, per contender a list of one record per repetition."""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from bench import HERE, instr, log
from bench.contenders import (
    NO_TREE,
    NOT_APPLICABLE,
    OURS,
    RAW,
    SAME_WATCHER,
    TREE_HOW,
)
from bench import index
from bench.env import clean_env
from bench.limits import QUEUE_SYSCTL, WATCHES_SYSCTL, SysctlLimit, read_int
from bench.proc import Failed, Proc, kill_children, proc_usage

# Sizes: the full run and the smoke run.
FULL = dict(
    drain_events=200_000,
    drain_reps=5,
    live_seconds=1.0,
    live_reps=3,
    live_trials=6,
    live_max_events=10**8,
    latency_samples=1000,
    latency_seconds=3.0,
    latency_reps=3,
    idle_seconds=10.0,
    mem_watches=20_000,
    mem_events=100_000,
    mem_reps=3,
    tree_sizes=(10_000, 100_000),
    tree_fanout=10,
    tree_reps=3,
    # The index phases (bench/index.py): shapes are (directories, files
    # per directory[, "mixed" for names of mixed lengths]), 10
    # subdirectories per directory.
    index_mem_shapes=(
        (10_000, 10),
        (10_000, 10, "mixed"),
        (1_000, 100),
        (1_000, 100, "mixed"),
        (10_000, 0),
        (100_000, 0),
    ),
    index_mem_reps=3,
    tree_files_shapes=((10_000, 0), (10_000, 10), (1_000, 100)),
    tree_files_reps=7,
    # 10,000 and 100,000 entries below the root.
    heal_shapes=((1_000, 9), (10_000, 9)),
    heal_reps=7,
    heal_queue=1024,  # max_queued_events for the healing watcher (root)
    # Instructions per event (bench/instr.py): (N1, N2) events per mode,
    # and the live mode's pace in events/s.
    instr_drain=(10_000, 50_000),
    instr_live=(100, 500),
    instr_pace=100,
)
SMOKE = dict(
    drain_events=4_000,
    drain_reps=1,
    live_seconds=10.0,
    live_reps=1,
    live_trials=1,
    live_max_events=4_000,
    latency_samples=50,
    latency_seconds=1.0,
    latency_reps=1,
    idle_seconds=0.5,
    mem_watches=500,
    mem_events=2_000,
    mem_reps=1,
    tree_sizes=(300, 2_000),
    tree_fanout=10,
    tree_reps=1,
    index_mem_shapes=((100, 10), (100, 10, "mixed"), (100, 0)),
    index_mem_reps=1,
    tree_files_shapes=((100, 10),),
    tree_files_reps=1,
    heal_shapes=((40, 9),),
    heal_reps=1,
    heal_queue=None,  # the machine's max_queued_events, left alone
    instr_drain=(500, 1_500),
    instr_live=(20, 60),
    instr_pace=100,
)
# Room in max_user_watches beyond the largest tree, for the other inotify
# users of this uid.
WATCH_HEADROOM = 32768


class Bench:
    """One run's measurements: who runs (a contenders.Lineup), the sizes
    (CFG, as FULL), the helpers' executables and a scratch directory."""

    def __init__(self, cfg, lineup, bins, workdir):
        self.cfg = cfg
        self.contenders = lineup.names
        self.tree_peers = lineup.tree_peers
        self.pythons = lineup.pythons
        self.errors = lineup.errors
        self.bins = bins
        self.workdir = workdir
        self.counter = 0
        cpus = sorted(os.sched_getaffinity(0))
        self.cpu_consumer = cpus[0]
        self.cpu_gen = cpus[1] if len(cpus) > 1 else cpus[0]

    # -- helpers

    def fresh_dir(self) -> Path:
        self.counter += 1
        d = self.workdir / f"w{self.counter:05d}"
        d.mkdir()
        return d

    def errlog(self, name: str) -> str:
        return str(self.workdir / f"{name}.stderr")

    def consumer(
        self,
        name,
        mode,
        d,
        *,
        n=0,
        ack_fd=-1,
        cpu=None,
        flag=None,
        paths=None,
        wrap=(),
        errlog=None,
        env_extra=None,
    ) -> Proc:
        """One contender's consumer.py (or the raw C reader) in MODE on D;
        WRAP runs it under another program (valgrind), ENV_EXTRA adds to
        its environment."""
        cpu = self.cpu_consumer if cpu is None else cpu
        if name == RAW:
            argv = [self.bins["raw_reader"], mode, d, n, ack_fd, cpu]
            env = None
        else:
            argv = [
                self.pythons[name],
                HERE / "consumer.py",
                name,
                mode,
                d,
                "--n",
                n,
                "--ack-fd",
                ack_fd,
                "--cpu",
                cpu,
            ]
            if flag:
                argv += ["--flag", flag]
            if paths:
                argv += ["--paths", paths]
            env = None if name in OURS else clean_env()
        if env_extra:
            env = {**(os.environ if env is None else env), **env_extra}
        return Proc(
            list(wrap) + argv,
            env=env,
            pass_fds=(ack_fd,) if ack_fd >= 0 else (),
            errlog=errlog or self.errlog(name),
        )

    def gen_stream(
        self, d, rate, seconds, max_events, end, single=False
    ) -> Proc:
        return Proc(
            [
                self.bins["gen"],
                "stream",
                d,
                rate,
                seconds,
                max_events,
                1 if end else 0,
                self.cpu_gen,
            ]
            + (["single"] if single else []),
            errlog=self.errlog("gen"),
        )

    def queue_limit(self) -> SysctlLimit:
        """max_queued_events as the drain and mem_queue phases need it."""
        need = max(self.cfg["drain_events"], self.cfg["mem_events"]) + 1024
        return SysctlLimit(QUEUE_SYSCTL, need, "the drain run")

    def guarded(self, phase, name, fn):
        """Runs one measurement; a failure is recorded, not fatal."""
        try:
            return fn()
        except Failed as e:
            msg = f"{phase} {name}: {e}"
            log("  FAILED " + msg)
            self.errors.append(msg)
            kill_children()
            return {"error": str(e)}

    def rounds(self, phase, names, reps, once, show):
        """REPS rounds of ONCE(name) over NAMES, each round starting one
        contender further on, so that none always runs first; SHOW(name,
        record) logs a record.  Returns {name: [record per round]}."""
        out = {}
        for rep in range(reps):
            k = rep % len(names) if names else 0
            for name in names[k:] + names[:k]:
                r = self.guarded(phase, name, functools.partial(once, name))
                out.setdefault(name, []).append(r)
                show(name, r)
        return out

    def mem_contenders(self):
        # One entry for ours: the three variants share one Watcher.
        return [c for c in self.contenders if c not in SAME_WATCHER]

    # -- drain

    def drain_once(self, name) -> dict:
        n = self.cfg["drain_events"]
        d = self.fresh_dir()
        flag = None
        if name == "watchdog":
            flag = self.workdir / f"flag{self.counter:05d}"
            flag.write_bytes(b"\0")
        c = self.consumer(name, "drain", d, n=n, flag=flag)
        try:
            c.expect("READY")
            g = self.gen_stream(d, 0, 600, n, False)
            made = g.json(300)
            g.wait(10)
            g.kill()
            if made["events"] != n:
                raise Failed(f"generator made {made['events']} events")
            if flag:
                with open(flag, "r+b") as f:
                    f.write(b"\1")
            c.send("GO\n")
            r = c.json(600)
        finally:
            c.kill()
        if "skipped" in r:
            return r
        if r.get("overflow"):
            raise Failed("overflow during drain")
        return {"seconds": r["seconds"], "rate": n / r["seconds"]}

    def phase_drain(self) -> dict:
        log(
            f"drain: {self.cfg['drain_events']} events queued in the "
            f"kernel, {self.cfg['drain_reps']} reps"
        )
        names = [
            c for c in self.contenders if (c, "drain") not in NOT_APPLICABLE
        ]

        def show(name, r):
            if "rate" in r:
                log(f"  drain {name:<16} {r['rate']:12.0f} ev/s")

        return self.rounds(
            "drain", names, self.cfg["drain_reps"], self.drain_once, show
        )

    # -- memory per queued event

    def mem_queue_once(self, name) -> dict:
        n = self.cfg["mem_events"]
        d = self.fresh_dir()
        c = self.consumer(name, "mem_queue", d, n=n)
        try:
            c.expect("READY")
            g = self.gen_stream(d, 0, 600, n, False)
            g.json(300)
            g.wait(10)
            g.kill()
            c.send("GO\n")
            r = c.json(300)
        finally:
            c.kill()
        return r

    def phase_mem_queue(self) -> dict:
        log(f"memory per queued event: {self.cfg['mem_events']} events")
        return self.each_until_skipped("mem_queue", self.mem_queue_once)

    def each_until_skipped(self, phase, once) -> dict:
        """mem_reps runs of ONCE(name) per contender but the raw C
        reader, contender after contender, stopping at a skip."""
        out = {}
        for name in self.mem_contenders():
            if name == RAW:
                continue
            for _ in range(self.cfg["mem_reps"]):
                r = self.guarded(phase, name, functools.partial(once, name))
                out.setdefault(name, []).append(r)
                if "skipped" in r:
                    break
        return out

    # -- live

    def live_trial(self, name, rate) -> dict:
        d = self.fresh_dir()
        c = self.consumer(name, "live", d)
        g = None
        try:
            c.expect("READY")
            g = self.gen_stream(
                d,
                rate,
                self.cfg["live_seconds"],
                self.cfg["live_max_events"],
                True,
            )
            made = g.json(120)
            r = c.json(120)
        finally:
            if g is not None:
                g.close_stdin()
                g.kill()
            c.kill()
        if "skipped" in r:
            return r
        elapsed = (r["t_end_ns"] - made["start_ns"]) / 1e9
        gen_rate = made["events"] / ((made["end_ns"] - made["start_ns"]) / 1e9)
        lost = made["events"] - r["events"]
        ok = not r["overflow"] and lost == 0
        return {
            "asked": rate,
            "generated": made["events"],
            "gen_rate": gen_rate,
            "received": r["events"],
            "overflow": r["overflow"],
            "ok": ok,
            "delivered_rate": r["events"] / elapsed if elapsed > 0 else 0.0,
            "cpu_s": r["cpu_s"],
            "cpu_s_per_million": r["cpu_s"] / max(r["events"], 1) * 1e6,
        }

    def live_search(self, name) -> dict:
        """Unthrottled first; if anything was lost, a search for the
        highest rate with no loss (a bracket, then geometric bisection)."""
        trials = [self.live_trial(name, 0)]
        first = trials[0]
        if "skipped" in first or first["ok"]:
            return self.live_result(trials)
        hi = first["gen_rate"]
        lo = None
        rate = min(first["delivered_rate"] * 0.9, hi * 0.9)
        while len(trials) < self.cfg["live_trials"]:
            t = self.live_trial(name, max(rate, 1000.0))
            trials.append(t)
            if t["ok"]:
                lo = rate
            else:
                hi = rate
            if lo is None:
                rate *= 0.7
            elif hi / lo < 1.08:
                break
            else:
                rate = math.sqrt(lo * hi)
        return self.live_result(trials)

    @staticmethod
    def live_result(trials) -> dict:
        if "skipped" in trials[0]:
            return trials[0]
        good = [t for t in trials if t["ok"]]
        best = max(good, key=lambda t: t["delivered_rate"]) if good else None
        return {
            "sustained_rate": best["delivered_rate"] if best else 0.0,
            "cpu_s_per_million": best["cpu_s_per_million"] if best else None,
            "limited_by_generator": best is trials[0],
            "trials": trials,
        }

    def phase_live(self) -> dict:
        log(
            f"live: {self.cfg['live_seconds']:.1f} s trials at "
            f"max_queued_events={read_int(QUEUE_SYSCTL)}, "
            f"{self.cfg['live_reps']} reps"
        )

        def show(name, r):
            if "sustained_rate" in r:
                cpu = r["cpu_s_per_million"] or float("nan")
                bound = (
                    "  (generator-bound)" if r["limited_by_generator"] else ""
                )
                log(
                    f"  live  {name:<16} {r['sustained_rate']:12.0f} ev/s  "
                    f"{cpu:6.2f} CPU s/Mev{bound}"
                )

        return self.rounds(
            "live",
            self.contenders,
            self.cfg["live_reps"],
            self.live_search,
            show,
        )

    # -- latency

    def latency_once(self, name) -> dict:
        d = self.fresh_dir()
        target = d / "lat"
        target.write_bytes(b"x")
        rfd, wfd = os.pipe()
        g = c = None
        try:
            g = Proc(
                [
                    self.bins["gen"],
                    "latency",
                    target,
                    self.cfg["latency_samples"],
                    self.cfg["latency_seconds"],
                    rfd,
                    self.cpu_gen,
                ],
                pass_fds=(rfd,),
                errlog=self.errlog("gen"),
            )
            g.expect("OPEN")
            c = self.consumer(name, "latency", d, ack_fd=wfd)
            os.close(wfd)
            wfd = -1
            c.expect("READY")
            g.send("GO\n")
            r = g.json(self.cfg["latency_seconds"] + 30)
        finally:
            os.close(rfd)
            if wfd >= 0:
                os.close(wfd)
            for p in (c, g):
                if p is not None:
                    p.kill()
        lat = sorted(r["latency_ns"])
        if not lat:
            raise Failed("no latency samples")
        return {
            "samples": len(lat),
            "p50_us": pct(lat, 50) / 1e3,
            "p99_us": pct(lat, 99) / 1e3,
            "max_us": lat[-1] / 1e3,
        }

    def phase_latency(self) -> dict:
        log(
            f"latency: {self.cfg['latency_samples']} samples, "
            f"{self.cfg['latency_reps']} reps"
        )

        def show(name, r):
            if "p50_us" in r:
                log(
                    f"  latency {name:<14} p50 {r['p50_us']:9.1f} us  "
                    f"p99 {r['p99_us']:9.1f} us  ({r['samples']})"
                )

        return self.rounds(
            "latency",
            self.contenders,
            self.cfg["latency_reps"],
            self.latency_once,
            show,
        )

    # -- idle

    def phase_idle(self) -> dict:
        seconds = self.cfg["idle_seconds"]
        log(f"idle: {seconds:.1f} s, all watchers at once")
        procs = {}
        out = {}
        try:
            for name in self.mem_contenders():
                procs[name] = self.consumer(
                    name, "idle", self.fresh_dir(), cpu=-1
                )
            for name, p in procs.items():
                try:
                    p.expect("READY")
                except Failed as e:
                    out[name] = [{"error": str(e)}]
                    self.errors.append(f"idle {name}: {e}")
            time.sleep(min(1.0, seconds))
            before = {n: proc_usage(p.p.pid) for n, p in procs.items()}
            time.sleep(seconds)
            after = {n: proc_usage(p.p.pid) for n, p in procs.items()}
        finally:
            for p in procs.values():
                p.kill()
        for name in procs:
            if name not in out:
                out[name] = [idle_record(before[name], after[name], seconds)]
        return out

    # -- memory per watch

    def phase_mem_watch(self) -> dict:
        w = self.cfg["mem_watches"]
        log(f"memory per watch: {w} watches")
        base = self.workdir / "tree"
        base.mkdir()
        paths = []
        for i in range(w):
            p = base / f"d{i:06d}"
            p.mkdir()
            paths.append(str(p))
        listing = self.workdir / "paths.txt"
        listing.write_text("\n".join(paths))

        def once(name):
            c = self.consumer(name, "mem_watch", base, paths=listing)
            try:
                return c.json(300)
            finally:
                c.kill()

        out = self.each_until_skipped("mem_watch", once)
        shutil.rmtree(base)
        return out

    # -- trees

    def tree_contenders(self):
        return (
            [RAW]
            + [
                c
                for c in self.mem_contenders()
                if c != RAW and c not in NO_TREE
            ]
            + [c for c in self.tree_peers if c in self.pythons]
        )

    def tree_once(self, name, root: Path, n: int) -> dict:
        if name == RAW:
            c = Proc(
                [self.bins["raw_tree"], root, self.cpu_consumer],
                errlog=self.errlog(name),
            )
        else:
            c = self.consumer(name, "tree", root)
        try:
            r = c.json(600)
        finally:
            c.kill()
        if "seconds" in r:
            r["bytes_per_dir"] = r["rss_growth"] / n
            r["dirs_per_s"] = n / r["seconds"]
            counts = [r["watches"]] + (
                [r["watch_count"]] if "watch_count" in r else []
            )
            if any(x != n for x in counts) and r.get("watches_moving"):
                r["watch_mismatch"] = True
            elif any(x != n for x in counts):
                raise Failed(
                    f"{name} watched "
                    f"{'/'.join(map(str, counts))} of {n} "
                    "directories"
                )
        return r

    def tree_attempts(self, name, root: Path, n: int, tries: int = 3):
        """tree_once, tried again when watches were refused: the limit
        (max_user_watches) is one for the whole uid, and other work on the
        machine (this project's own tests lower it for a moment) can make
        a run lose watches (ENOSPC; pyinotify and watchdog skip the
        directory silently, which the watch count catches).  Failed
        attempts are kept in the run's record."""
        failed = []
        for i in range(tries):
            before = read_int(WATCHES_SYSCTL)
            try:
                r = self.tree_once(name, root, n)
            except Failed as e:
                after = read_int(WATCHES_SYSCTL)
                failed.append(
                    {
                        "error": str(e)[-300:],
                        "max_user_watches": [before, after],
                    }
                )
                log(
                    f"  trees {n} {name}: attempt {i + 1} failed: "
                    f"{str(e)[-200:]}"
                )
                kill_children()
                continue
            if failed:
                r["failed_attempts"] = failed
            return r
        msg = f"trees {n} {name}: {failed[-1]['error']}"
        log("  FAILED " + msg)
        self.errors.append(msg)
        return {"error": failed[-1]["error"], "failed_attempts": failed}

    def tree_rounds(self, names, n: int) -> dict:
        """Every contender on a tree of N directories, tree_reps times.
        Repetitions outside, contenders inside: a busy spell on the
        machine hits one repetition of everyone, not every repetition of
        one."""
        fan, reps = self.cfg["tree_fanout"], self.cfg["tree_reps"]
        root = self.workdir / f"tree{n}"
        depth = make_tree(root, n, fan)
        log(
            f"  {n} directories ({fan} per directory, depth {depth}), "
            f"{reps} reps"
        )
        runs = {}
        for _ in range(reps):
            for name in names:
                if "skipped" in (runs.get(name) or [{}])[-1]:
                    continue
                runs.setdefault(name, []).append(
                    self.tree_attempts(name, root, n)
                )
        shutil.rmtree(root)
        return {"depth": depth, "runs": runs}

    def phase_trees(self) -> dict:
        """Watching a tree of directories: the time the recursive watch
        call takes and RSS per directory, ours (Watcher.watch_tree())
        against the raw C walk and the peers' recursive modes, each in a
        process of its own (its watches go with it), on trees of every
        size in tree_sizes.  The place to add tree event streams (events
        made across the tree, drain and live as above)."""
        sizes = list(self.cfg["tree_sizes"])
        log("trees: " + " and ".join(f"{n:,}" for n in sizes) + " directories")
        code = "import inotipy; print(hasattr(inotipy.Watcher, 'watch_tree'))"
        r = subprocess.run(
            [self.pythons["inotipy-for"], "-c", code],
            capture_output=True,
            text=True,
        )
        if r.stdout.strip() != "True":
            return {
                "status": "skipped",
                "reason": "inotipy.Watcher has no watch_tree() yet",
            }
        names = self.tree_contenders()
        out = {
            "status": "ran",
            "sizes": sizes,
            "fanout": self.cfg["tree_fanout"],
            "reps": self.cfg["tree_reps"],
            "depth": {},
            "how": {n: TREE_HOW.get(n, "") for n in names},
            "runs": {},
        }
        with SysctlLimit(
            WATCHES_SYSCTL, max(sizes) + WATCH_HEADROOM, "the trees phase"
        ):
            out["max_user_watches"] = read_int(WATCHES_SYSCTL)
            for n in sizes:
                done = self.tree_rounds(names, n)
                out["depth"][str(n)] = done["depth"]
                out["runs"][str(n)] = done["runs"]
        return out


class Phase(NamedTuple):
    """A phase: the Bench method that runs it, and whether it runs with
    max_queued_events raised (Bench.queue_limit())."""

    run: Callable[[Bench], object]
    big_queue: bool = False


# The phases in the order they run.  The raw numbers of all but those of
# OWN_KEY go under "raw" in the results, in this order.
PHASES = {
    "drain": Phase(Bench.phase_drain, big_queue=True),
    "mem_queue": Phase(Bench.phase_mem_queue, big_queue=True),
    "live": Phase(Bench.phase_live),
    "latency": Phase(Bench.phase_latency),
    "idle": Phase(Bench.phase_idle),
    "mem_watch": Phase(Bench.phase_mem_watch),
    "trees": Phase(Bench.phase_trees),
    "index_mem": Phase(index.phase_index_mem),
    "tree_files": Phase(index.phase_tree_files),
    "heal": Phase(index.phase_heal),
    "instructions": Phase(instr.phase, big_queue=True),
}
# The phases whose results are saved under their own key, not "raw".
OWN_KEY = ("trees", "index_mem", "tree_files", "heal")


def idle_record(before, after, seconds) -> dict:
    """One idle contender's record from proc_usage() at both ends."""
    cpu = max(after[0] - before[0], 0)
    sw = after[1] - before[1]
    return {
        "seconds": seconds,
        "cpu_ms": cpu / 1e6,
        # Counted on the threads alive at both ends: a library whose
        # threads come and go shows fewer than it had.
        "wakeups_per_s": max(sw, 0) / seconds,
        "threads": len(after[2]),
        "threads_changed": before[2] != after[2],
    }


def make_tree(root: Path, n: int, fan: int) -> int:
    """Exactly N directories under and including ROOT, breadth first, FAN
    subdirectories per directory (the last level partly filled).  Returns
    the depth."""
    os.mkdir(root)
    level, made, depth = [str(root)], 1, 0
    while made < n:
        nxt = []
        for parent in level:
            for k in range(fan):
                if made == n:
                    break
                d = f"{parent}/d{k}"
                os.mkdir(d)
                nxt.append(d)
                made += 1
        level = nxt
        depth += 1
    return depth


def pct(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (
        k - lo
    )
