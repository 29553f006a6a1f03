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

Prints tables (medians of the repetitions; ratios to the raw C reader and
to the best peer), saves benchmarks/results.json (raw numbers, machine) and
benchmarks/results.png.  See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENVS = HERE / ".venvs"
QUEUE_SYSCTL = "/proc/sys/fs/inotify/max_queued_events"
WATCHES_SYSCTL = "/proc/sys/fs/inotify/max_user_watches"

# The peers, pinned so that runs stay comparable; each gets its own venv.
PEERS = {
    "asyncinotify": "asyncinotify==4.4.4",
    "aionotify": "aionotify==0.3.1",
    "pyinotify": "pyinotify==0.9.6",
    "inotify_simple": "inotify_simple==2.0.1",
    "watchdog": "watchdog==7.1.0",
    "watchfiles": "watchfiles==1.3.0",
    # Shares our module name, hence a venv of its own like every peer.
    "inotipy-0.1.1": "inotipy==0.1.1",
}
# Peers that take part in the trees phase only.
TREE_PEERS = {
    "inotifyrecursive": "inotifyrecursive==0.3.5",
}
PLOT_REQUIREMENT = "matplotlib==3.10.8"

OURS = ["inotipy-get", "inotipy-for", "inotipy-batch"]
RAW = "raw-c"
LABELS = {
    RAW: "raw C reader",
    "inotipy-get": "inotipy get()",
    "inotipy-for": "inotipy async for",
    "inotipy-batch": "inotipy get_batch()",
}
# Contenders that cannot take part in a phase, and why.
NOT_APPLICABLE = {
    ("watchfiles", "drain"): "reads in its own thread from the moment the "
    "watch exists: nothing can be queued before it starts",
}

# Peers with no recursive mode.
NO_TREE = {"aionotify", "inotify_simple", "inotipy-0.1.1"}
# What each contender's tree time is the time of.
TREE_HOW = {
    RAW: "raw_tree.c: opendir/readdir/d_type walk, inotify_add_watch on "
    "every directory",
    "inotipy-for": "Watcher().watch_tree(root) until it returns",
    "asyncinotify": "RecursiveInotify().add_recursive_watch(root, mask)",
    "pyinotify": "WatchManager().add_watch(root, mask, rec=True, "
    "auto_add=True)",
    "watchdog": "Observer().schedule(h, root, recursive=True) + start() "
    "(start() adds the watches before it returns)",
    "watchfiles": "RustNotify([root], ..., recursive=True), what watch() and "
    "awatch() build first (its constructor adds every watch)",
    "inotifyrecursive": "INotify().add_watch_recursive(root, mask)",
}

# Sizes: the full run and the smoke run.
FULL = dict(
    drain_events=200_000, drain_reps=5,
    live_seconds=1.0, live_reps=3, live_trials=6, live_max_events=10**8,
    latency_samples=1000, latency_seconds=3.0, latency_reps=3,
    idle_seconds=10.0,
    mem_watches=20_000, mem_events=100_000, mem_reps=3,
    tree_sizes=(10_000, 100_000), tree_fanout=10, tree_reps=3,
)
SMOKE = dict(
    drain_events=4_000, drain_reps=1,
    live_seconds=10.0, live_reps=1, live_trials=1, live_max_events=4_000,
    latency_samples=50, latency_seconds=1.0, latency_reps=1,
    idle_seconds=0.5,
    mem_watches=500, mem_events=2_000, mem_reps=1,
    tree_sizes=(300, 2_000), tree_fanout=10, tree_reps=1,
)

CHILDREN: list[subprocess.Popen] = []


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Failed(Exception):
    pass


# ---- processes -------------------------------------------------------------


class Proc:
    """A child with line-based output read under a timeout."""

    def __init__(self, argv, *, env=None, pass_fds=(), stdin=True,
                 errlog=None):
        self.argv = [str(a) for a in argv]
        self.errlog = errlog
        err = open(errlog, "ab") if errlog else subprocess.DEVNULL
        self.p = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=err, env=env, pass_fds=pass_fds)
        if errlog:
            err.close()
        CHILDREN.append(self.p)
        self.buf = b""

    def readline(self, timeout: float) -> str:
        import select

        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed("timed out waiting for %s" % self.describe())
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise Failed("%s exited (%s)" % (self.describe(),
                                                     self.stderr_tail()))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def expect(self, word: str, timeout: float = 60) -> None:
        line = self.readline(timeout)
        if line.strip() != word:
            raise Failed("%s said %r, not %s (%s)" % (
                self.describe(), line, word, self.stderr_tail()))

    def json(self, timeout: float) -> dict:
        line = self.readline(timeout)
        try:
            return json.loads(line)
        except ValueError:
            raise Failed("%s printed %r (%s)" % (
                self.describe(), line, self.stderr_tail())) from None

    def send(self, text: str) -> None:
        try:
            self.p.stdin.write(text.encode())
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def close_stdin(self) -> None:
        try:
            self.p.stdin.close()
        except (BrokenPipeError, OSError, AttributeError):
            pass

    def wait(self, timeout: float) -> int:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failed("%s did not exit" % self.describe()) from None

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.close_stdin()
        self.p.stdout.close()
        if self.p in CHILDREN:
            CHILDREN.remove(self.p)

    def describe(self) -> str:
        return " ".join(Path(a).name if "/" in a else a
                        for a in self.argv[:4])

    def stderr_tail(self) -> str:
        if not self.errlog or not os.path.exists(self.errlog):
            return "no stderr"
        with open(self.errlog, errors="replace") as f:
            tail = f.read()[-600:].strip()
        return tail.replace("\n", " | ") or "no stderr"


def kill_children() -> None:
    for p in list(CHILDREN):
        if p.poll() is None:
            p.kill()
            p.wait()
    CHILDREN.clear()


# ---- environments ----------------------------------------------------------


def ensure_venv(name: str, requirement: str) -> Path:
    """benchmarks/.venvs/NAME with REQUIREMENT installed; reused while the
    requirement is unchanged.  Returns its python."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirement"
    if python.exists() and stamp.exists() and \
            stamp.read_text().strip() == requirement:
        return python
    log("  installing %s into %s" % (requirement, venv.relative_to(REPO)))
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", requirement],
                   check=True, env=clean_env())
    stamp.write_text(requirement + "\n")
    return python


def clean_env() -> dict:
    """The environment for a peer: nothing that could bring our inotipy
    (or anything else) into its path."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
                "PYTHONUSERBASE", "VIRTUAL_ENV"):
        env.pop(key, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def installed_version(python, module: str) -> str:
    code = ("import importlib.metadata as m, sys\n"
            "try: print(m.version(sys.argv[1]))\n"
            "except Exception: print('?')")
    r = subprocess.run([str(python), "-c", code, module], capture_output=True,
                       text=True, env=clean_env())
    return r.stdout.strip() or "?"


def ours_info(python: str) -> dict:
    code = ("import inotipy, os, json; print(json.dumps({'version': "
            "inotipy.__version__, 'file': os.path.dirname(inotipy.__file__)"
            "}))")
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("cannot import inotipy with %s: install it first "
                         "(pip install %s)\n%s" % (python, REPO, r.stderr))
    info = json.loads(r.stdout)
    # A meson dev build (build/dev) may be unoptimized: say so loudly.
    opts = Path(info["file"]).parent.parent / "meson-info" / \
        "intro-buildoptions.json"
    if opts.exists():
        try:
            o = {x["name"]: x["value"] for x in json.loads(opts.read_text())}
            info["build"] = "%s, -O%s" % (o.get("buildtype"),
                                          o.get("optimization"))
            if str(o.get("optimization")) in ("0", "g"):
                log("WARNING: %s is an unoptimized build (%s): numbers for "
                    "ours will be low; pip install the package instead" % (
                        info["file"], info["build"]))
        except (ValueError, KeyError, TypeError):
            pass
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short",
                          "HEAD"], capture_output=True, text=True)
    if git.returncode == 0:
        info["git"] = git.stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status",
                                "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True)
        info["dirty"] = bool(dirty.stdout.strip())
    return info


def compile_c(workdir: Path) -> dict:
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        raise SystemExit("a C compiler (cc) is needed for the generator and "
                         "the raw C reader")
    out = {}
    for name in ("gen", "raw_reader", "raw_tree"):
        exe = workdir / name
        subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-o", str(exe),
                        str(HERE / (name + ".c"))], check=True)
        out[name] = exe
    return out


def machine_info() -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
        "max_queued_events": read_int(QUEUE_SYSCTL),
        "max_user_watches": read_int("/proc/sys/fs/inotify/max_user_watches"),
    }


def read_int(path: str):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class QueueLimit:
    """Raises max_queued_events for the drain phases and always restores
    it.  The kernel reads it when an inotify instance is made, so only the
    consumers started inside the block get the larger queue."""

    def __init__(self, needed: int):
        self.needed = needed
        self.old = None
        self.set_to = None

    def __enter__(self):
        cur = read_int(QUEUE_SYSCTL)
        if cur is None or cur >= self.needed:
            return self
        try:
            with open(QUEUE_SYSCTL, "w") as f:
                f.write(str(self.needed))
        except OSError as e:
            raise SystemExit(
                "the drain run needs %s >= %d (it is %d) and cannot raise "
                "it (%s): run as root" % (QUEUE_SYSCTL, self.needed, cur, e))
        self.old, self.set_to = cur, self.needed
        log("  %s raised from %d to %d" % (QUEUE_SYSCTL, cur, self.needed))
        return self

    def __exit__(self, *exc):
        if self.old is None:
            return False
        cur = read_int(QUEUE_SYSCTL)
        if cur == self.set_to:
            with open(QUEUE_SYSCTL, "w") as f:
                f.write(str(self.old))
            log("  %s restored to %d" % (QUEUE_SYSCTL, self.old))
        else:
            log("  %s was changed by someone else meanwhile (%s); left "
                "alone" % (QUEUE_SYSCTL, cur))
        return False


class WatchLimit:
    """Makes sure max_user_watches leaves room for the largest tree (plus
    headroom for the other inotify users of this uid), raising it if it
    must (root only) and always restoring it."""

    HEADROOM = 32768

    def __init__(self, dirs: int):
        self.needed = dirs + self.HEADROOM
        self.old = None
        self.set_to = None

    def __enter__(self):
        cur = read_int(WATCHES_SYSCTL)
        if cur is None or cur >= self.needed:
            return self
        try:
            with open(WATCHES_SYSCTL, "w") as f:
                f.write(str(self.needed))
        except OSError as e:
            raise SystemExit(
                "the trees phase needs %s >= %d (it is %d) and cannot raise "
                "it (%s): run as root" % (WATCHES_SYSCTL, self.needed, cur,
                                          e))
        self.old, self.set_to = cur, self.needed
        log("  %s raised from %d to %d" % (WATCHES_SYSCTL, cur, self.needed))
        return self

    def __exit__(self, *exc):
        if self.old is None:
            return False
        cur = read_int(WATCHES_SYSCTL)
        if cur == self.set_to:
            with open(WATCHES_SYSCTL, "w") as f:
                f.write(str(self.old))
            log("  %s restored to %d" % (WATCHES_SYSCTL, self.old))
        else:
            log("  %s was changed by someone else meanwhile (%s); left "
                "alone" % (WATCHES_SYSCTL, cur))
        return False


# ---- the bench -------------------------------------------------------------


class Bench:
    def __init__(self, args, cfg, contenders, pythons, bins, workdir):
        self.args = args
        self.cfg = cfg
        self.contenders = contenders
        self.pythons = pythons
        self.bins = bins
        self.workdir = workdir
        self.counter = 0
        cpus = sorted(os.sched_getaffinity(0))
        self.cpu_consumer = cpus[0]
        self.cpu_gen = cpus[1] if len(cpus) > 1 else cpus[0]
        self.errors: list[str] = []
        self.tree_peers: list[str] = []

    # -- helpers

    def fresh_dir(self) -> Path:
        self.counter += 1
        d = self.workdir / ("w%05d" % self.counter)
        d.mkdir()
        return d

    def errlog(self, name: str) -> str:
        return str(self.workdir / ("%s.stderr" % name))

    def consumer(self, name, mode, d, *, n=0, ack_fd=-1, cpu=None,
                 flag=None, paths=None) -> Proc:
        cpu = self.cpu_consumer if cpu is None else cpu
        if name == RAW:
            argv = [self.bins["raw_reader"], mode, d, n, ack_fd, cpu]
            env = None
        else:
            argv = [self.pythons[name], HERE / "consumer.py", name, mode, d,
                    "--n", n, "--ack-fd", ack_fd, "--cpu", cpu]
            if flag:
                argv += ["--flag", flag]
            if paths:
                argv += ["--paths", paths]
            env = None if name in OURS else clean_env()
        return Proc(argv, env=env, pass_fds=(ack_fd,) if ack_fd >= 0 else (),
                    errlog=self.errlog(name))

    def gen_stream(self, d, rate, seconds, max_events, end) -> Proc:
        return Proc([self.bins["gen"], "stream", d, rate, seconds,
                     max_events, 1 if end else 0, self.cpu_gen],
                    errlog=self.errlog("gen"))

    def applicable(self, name, phase) -> bool:
        return (name, phase) not in NOT_APPLICABLE

    def guarded(self, phase, name, fn):
        """Runs one measurement; a failure is recorded, not fatal."""
        try:
            return fn()
        except Failed as e:
            msg = "%s %s: %s" % (phase, name, e)
            log("  FAILED " + msg)
            self.errors.append(msg)
            kill_children()
            return {"error": str(e)}

    # -- drain

    def drain_once(self, name) -> dict:
        n = self.cfg["drain_events"]
        d = self.fresh_dir()
        flag = None
        if name == "watchdog":
            flag = self.workdir / ("flag%05d" % self.counter)
            flag.write_bytes(b"\0")
        c = self.consumer(name, "drain", d, n=n, flag=flag)
        try:
            c.expect("READY")
            g = self.gen_stream(d, 0, 600, n, False)
            made = g.json(300)
            g.wait(10)
            g.kill()
            if made["events"] != n:
                raise Failed("generator made %d events" % made["events"])
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
        out = {}
        names = [c for c in self.contenders if self.applicable(c, "drain")]
        for rep in range(self.cfg["drain_reps"]):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                r = self.guarded("drain", name, lambda: self.drain_once(name))
                out.setdefault(name, []).append(r)
                if "rate" in r:
                    log("  drain %-16s %12.0f ev/s" % (name, r["rate"]))
        return out

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
        out = {}
        for name in self.mem_contenders():
            if name == RAW:
                continue
            for _ in range(self.cfg["mem_reps"]):
                r = self.guarded("mem_queue", name,
                                 lambda: self.mem_queue_once(name))
                out.setdefault(name, []).append(r)
                if "skipped" in r:
                    break
        return out

    def mem_contenders(self):
        # One entry for ours: the three variants share one Watcher.
        return [c for c in self.contenders
                if c not in ("inotipy-get", "inotipy-batch")]

    # -- live

    def live_trial(self, name, rate) -> dict:
        d = self.fresh_dir()
        c = self.consumer(name, "live", d)
        g = None
        try:
            c.expect("READY")
            g = self.gen_stream(d, rate, self.cfg["live_seconds"],
                                self.cfg["live_max_events"], True)
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
            "asked": rate, "generated": made["events"], "gen_rate": gen_rate,
            "received": r["events"], "overflow": r["overflow"], "ok": ok,
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
        out = {}
        for rep in range(self.cfg["live_reps"]):
            names = self.contenders
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                r = self.guarded("live", name, lambda: self.live_search(name))
                out.setdefault(name, []).append(r)
                if "sustained_rate" in r:
                    log("  live  %-16s %12.0f ev/s  %6.2f CPU s/Mev%s" % (
                        name, r["sustained_rate"],
                        r["cpu_s_per_million"] or float("nan"),
                        "  (generator-bound)" if r["limited_by_generator"]
                        else ""))
        return out

    # -- latency

    def latency_once(self, name) -> dict:
        d = self.fresh_dir()
        target = d / "lat"
        target.write_bytes(b"x")
        rfd, wfd = os.pipe()
        g = c = None
        try:
            g = Proc([self.bins["gen"], "latency", target,
                      self.cfg["latency_samples"],
                      self.cfg["latency_seconds"], rfd, self.cpu_gen],
                     pass_fds=(rfd,), errlog=self.errlog("gen"))
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
        return {"samples": len(lat), "p50_us": pct(lat, 50) / 1e3,
                "p99_us": pct(lat, 99) / 1e3, "max_us": lat[-1] / 1e3}

    def phase_latency(self) -> dict:
        out = {}
        for rep in range(self.cfg["latency_reps"]):
            names = self.contenders
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                r = self.guarded("latency", name,
                                 lambda: self.latency_once(name))
                out.setdefault(name, []).append(r)
                if "p50_us" in r:
                    log("  latency %-14s p50 %9.1f us  p99 %9.1f us  (%d)" % (
                        name, r["p50_us"], r["p99_us"], r["samples"]))
        return out

    # -- idle

    def phase_idle(self) -> dict:
        names = self.mem_contenders()
        procs = {}
        out = {}
        try:
            for name in names:
                procs[name] = self.consumer(name, "idle", self.fresh_dir(),
                                            cpu=-1)
            for name, p in procs.items():
                try:
                    p.expect("READY")
                except Failed as e:
                    out[name] = [{"error": str(e)}]
                    self.errors.append("idle %s: %s" % (name, e))
            time.sleep(min(1.0, self.cfg["idle_seconds"]))
            before = {n: proc_usage(p.p.pid) for n, p in procs.items()}
            time.sleep(self.cfg["idle_seconds"])
            after = {n: proc_usage(p.p.pid) for n, p in procs.items()}
        finally:
            for p in procs.values():
                p.kill()
        for name in procs:
            if name in out:
                continue
            cpu = max(after[name][0] - before[name][0], 0)
            sw = after[name][1] - before[name][1]
            out[name] = [{
                "seconds": self.cfg["idle_seconds"],
                "cpu_ms": cpu / 1e6,
                # Counted on the threads alive at both ends: a library
                # whose threads come and go shows fewer than it had.
                "wakeups_per_s": max(sw, 0) / self.cfg["idle_seconds"],
                "threads": len(after[name][2]),
                "threads_changed": before[name][2] != after[name][2],
            }]
        return out

    # -- memory per watch

    def phase_mem_watch(self) -> dict:
        w = self.cfg["mem_watches"]
        base = self.workdir / "tree"
        base.mkdir()
        paths = []
        for i in range(w):
            p = base / ("d%06d" % i)
            p.mkdir()
            paths.append(str(p))
        listing = self.workdir / "paths.txt"
        listing.write_text("\n".join(paths))
        out = {}
        for name in self.mem_contenders():
            if name == RAW:
                continue
            for _ in range(self.cfg["mem_reps"]):
                def once():
                    c = self.consumer(name, "mem_watch", base, paths=listing)
                    try:
                        return c.json(300)
                    finally:
                        c.kill()
                r = self.guarded("mem_watch", name, once)
                out.setdefault(name, []).append(r)
                if "skipped" in r:
                    break
        shutil.rmtree(base)
        return out

    # -- trees

    def tree_contenders(self):
        return [RAW] + [c for c in self.mem_contenders()
                        if c != RAW and c not in NO_TREE] + \
            [c for c in self.tree_peers if c in self.pythons]

    @staticmethod
    def make_tree(root: Path, n: int, fan: int) -> int:
        """Exactly N directories under and including ROOT, breadth first,
        FAN subdirectories per directory (the last level partly filled).
        Returns the depth."""
        os.mkdir(root)
        level, made, depth = [str(root)], 1, 0
        while made < n:
            nxt = []
            for parent in level:
                for k in range(fan):
                    if made == n:
                        break
                    d = "%s/d%d" % (parent, k)
                    os.mkdir(d)
                    nxt.append(d)
                    made += 1
            level = nxt
            depth += 1
        return depth

    def tree_once(self, name, root: Path, n: int) -> dict:
        if name == RAW:
            c = Proc([self.bins["raw_tree"], root, self.cpu_consumer],
                     errlog=self.errlog(name))
        else:
            c = self.consumer(name, "tree", root)
        try:
            r = c.json(600)
        finally:
            c.kill()
        if "seconds" in r:
            r["bytes_per_dir"] = r["rss_growth"] / n
            r["dirs_per_s"] = n / r["seconds"]
            counts = [r["watches"]] + ([r["watch_count"]]
                                       if "watch_count" in r else [])
            if any(x != n for x in counts) and r.get("watches_moving"):
                r["watch_mismatch"] = True
            elif any(x != n for x in counts):
                raise Failed("%s watched %s of %d directories" % (
                    name, "/".join(map(str, counts)), n))
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
                failed.append({"error": str(e)[-300:],
                               "max_user_watches": [before, after]})
                log("  trees %d %s: attempt %d failed: %s" % (
                    n, name, i + 1, str(e)[-200:]))
                kill_children()
                continue
            if failed:
                r["failed_attempts"] = failed
            return r
        msg = "trees %d %s: %s" % (n, name, failed[-1]["error"])
        log("  FAILED " + msg)
        self.errors.append(msg)
        return {"error": failed[-1]["error"], "failed_attempts": failed}

    def phase_trees(self) -> dict:
        """Watching a tree of directories: the time the recursive watch
        call takes and RSS per directory, ours (Watcher.watch_tree())
        against the raw C walk and the peers' recursive modes, each in a
        process of its own (its watches go with it), on trees of every
        size in tree_sizes.  The place to add tree event streams (events
        made across the tree, drain and live as above)."""
        code = "import inotipy; print(hasattr(inotipy.Watcher, 'watch_tree'))"
        r = subprocess.run([self.pythons["inotipy-for"], "-c", code],
                           capture_output=True, text=True)
        if r.stdout.strip() != "True":
            return {"status": "skipped",
                    "reason": "inotipy.Watcher has no watch_tree() yet"}
        sizes = list(self.cfg["tree_sizes"])
        fan = self.cfg["tree_fanout"]
        reps = self.cfg["tree_reps"]
        names = self.tree_contenders()
        out = {"status": "ran", "sizes": sizes, "fanout": fan, "reps": reps,
               "depth": {}, "how": {n: TREE_HOW.get(n, "") for n in names},
               "runs": {}}
        with WatchLimit(max(sizes)):
            out["max_user_watches"] = read_int(WATCHES_SYSCTL)
            for n in sizes:
                root = self.workdir / ("tree%d" % n)
                depth = self.make_tree(root, n, fan)
                out["depth"][str(n)] = depth
                log("  %d directories (%d per directory, depth %d), %d reps"
                    % (n, fan, depth, reps))
                runs = {}
                # Repetitions outside, contenders inside: a busy spell on
                # the machine hits one repetition of everyone, not every
                # repetition of one.
                for _ in range(reps):
                    for name in names:
                        if "skipped" in (runs.get(name) or [{}])[-1]:
                            continue
                        r = self.tree_attempts(name, root, n)
                        runs.setdefault(name, []).append(r)
                out["runs"][str(n)] = runs
                shutil.rmtree(root)
        return out


def proc_usage(pid: int):
    """(CPU ns, context switches, thread ids) of a process.  CPU is the sum
    of the live threads' schedstat (ns) plus, for threads that have exited,
    what the process's utime + stime (clock ticks) adds beyond it."""
    cpu = switches = 0
    tids = set()
    try:
        names = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return (0, 0, frozenset())
    for tid in names:
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "schedstat") as f:
                cpu += int(f.read().split()[0])
            with open(base + "status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches",
                                        "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
            tids.add(tid)
        except (OSError, ValueError):
            pass
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        cpu = max(cpu, ticks * 10**9 // os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        pass
    return (cpu, switches, frozenset(tids))


def pct(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


# ---- summary ---------------------------------------------------------------


def med(runs, key):
    vals = [r[key] for r in runs or [] if isinstance(r, dict)
            and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def summarize(raw: dict, contenders) -> dict:
    s = {}
    for name in contenders:
        row = {
            "drain_rate": med(raw["drain"].get(name), "rate"),
            "live_rate": med(raw["live"].get(name), "sustained_rate"),
            "live_cpu_s_per_million": med(raw["live"].get(name),
                                          "cpu_s_per_million"),
            "latency_p50_us": med(raw["latency"].get(name), "p50_us"),
            "latency_p99_us": med(raw["latency"].get(name), "p99_us"),
        }
        lives = [x for x in raw["live"].get(name) or []
                 if isinstance(x, dict) and "sustained_rate" in x]
        row["live_generator_bound"] = bool(lives) and all(
            x["limited_by_generator"] for x in lives)
        key = "inotipy-for" if name in OURS else name
        row["idle_cpu_ms"] = med(raw["idle"].get(key), "cpu_ms")
        row["idle_wakeups_per_s"] = med(raw["idle"].get(key), "wakeups_per_s")
        row["mem_bytes_per_watch"] = med(raw["mem_watch"].get(key),
                                         "bytes_per_watch")
        row["mem_bytes_per_queued_event"] = med(raw["mem_queue"].get(key),
                                                "bytes_per_event")
        s[name] = row
    return s


def best_peer(summary, metric, higher_is_better=True):
    vals = [(v[metric], k) for k, v in summary.items()
            if k not in OURS and k != RAW and v.get(metric) is not None]
    if not vals:
        return None, None
    return (max if higher_is_better else min)(vals)[::-1]


def fmt_num(x, unit="", digits=3):
    if x is None:
        return "n/a"
    if x == 0:
        return "0" + unit
    a = abs(x)
    if a >= 1e6:
        return "%.*gM%s" % (digits, x / 1e6, unit)
    if a >= 1e4:
        return "%.*gk%s" % (digits, x / 1e3, unit)
    if a >= 100:
        return "%.0f%s" % (x, unit)
    return "%.*g%s" % (digits, x, unit)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    r = a / b
    return "%.2fx" % r if r < 10 else "%.0fx" % r


def tables(summary, contenders, raw) -> str:
    c_raw = summary.get(RAW, {})
    bp_drain, bp_drain_v = best_peer(summary, "drain_rate")
    bp_live, bp_live_v = best_peer(summary, "live_rate")
    lines = []
    lines.append("| contender | drain ev/s | vs C | vs best peer | live ev/s "
                 "| vs C | vs best peer | CPU s/Mev |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in contenders:
        r = summary[name]
        drain = r["drain_rate"]
        live = r["live_rate"]
        note = ""
        if (name, "drain") in NOT_APPLICABLE:
            note = "n/a (*)"
        gen_bound = r.get("live_generator_bound")
        lines.append("| %s | %s | %s | %s | %s%s | %s | %s | %s |" % (
            LABELS.get(name, name),
            note or fmt_num(drain),
            ratio(drain, c_raw.get("drain_rate")),
            ratio(drain, bp_drain_v) if name not in (RAW,) else "",
            fmt_num(live), " (g)" if gen_bound else "",
            ratio(live, c_raw.get("live_rate")),
            ratio(live, bp_live_v) if name not in (RAW,) else "",
            fmt_num(r["live_cpu_s_per_million"])))
    lines.append("")
    bp_p50, bp_p50_v = best_peer(summary, "latency_p50_us", False)
    lines.append("| contender | latency p50 | p99 | p50 vs C | idle CPU ms/10 s "
                 "| idle wake-ups/s | RSS/watch | RSS/queued event |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in contenders:
        r = summary[name]
        shared = name in ("inotipy-get", "inotipy-batch")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABELS.get(name, name),
            fmt_num(r["latency_p50_us"], " us"),
            fmt_num(r["latency_p99_us"], " us"),
            ratio(r["latency_p50_us"], c_raw.get("latency_p50_us")),
            '"' if shared else fmt_num(scale_idle(r["idle_cpu_ms"])),
            '"' if shared else fmt_num(r["idle_wakeups_per_s"]),
            '"' if shared else fmt_num(r["mem_bytes_per_watch"], " B"),
            '"' if shared else fmt_num(r["mem_bytes_per_queued_event"],
                                       " B")))
    lines.append("")
    lines.append("Best peer: drain %s, live %s, latency %s.  (g): the "
                 "consumer kept up with the generator's top speed, so the "
                 "number is the generator's.  (*) %s." % (
                     bp_drain or "n/a", bp_live or "n/a", bp_p50 or "n/a",
                     NOT_APPLICABLE[("watchfiles", "drain")]))
    return "\n".join(lines)


_IDLE_SECONDS = [10.0]


def scale_idle(ms):
    """Idle CPU per 10 s, whatever the run's idle time was."""
    if ms is None:
        return None
    return ms * 10.0 / _IDLE_SECONDS[0]


def targets(summary) -> list[dict]:
    t = []

    def get(name, metric):
        return summary.get(name, {}).get(metric)

    def add(what, value, goal, met):
        t.append({"target": what, "value": value, "goal": goal,
                  "met": met})

    ours_for = get("inotipy-for", "drain_rate")
    for peer, factor in (("asyncinotify", 10), ("inotipy-0.1.1", 20)):
        p = get(peer, "drain_rate")
        if ours_for and p:
            add("drain: async for vs %s" % peer, round(ours_for / p, 2),
                ">= %dx" % factor, ours_for / p >= factor)
    c = get(RAW, "drain_rate")
    b = get("inotipy-batch", "drain_rate")
    if c and b:
        add("drain: get_batch() vs raw C reader", round(b / c, 3),
            ">= 0.5 (within 2x)", b / c >= 0.5)
    c = get(RAW, "live_rate")
    for name in OURS:
        v = get(name, "live_rate")
        if c and v is not None:
            kept_up = summary[name].get("live_generator_bound")
            add("live: %s vs raw C reader%s" % (
                LABELS[name], " (kept up with the generator)" if kept_up
                else ""), round(v / c, 3), ">= 0.8", v / c >= 0.8 or
                bool(kept_up and summary[RAW].get("live_generator_bound")))
    for name in OURS:
        v = get(name, "latency_p50_us")
        if v is not None:
            add("latency p50: %s (us)" % LABELS[name], round(v, 1), "< 100",
                v < 100)
    v = get("inotipy-for", "idle_cpu_ms")
    if v is not None:
        w = get("inotipy-for", "idle_wakeups_per_s")
        add("idle: CPU ms (wake-ups/s %s)" % fmt_num(w), v, "0",
            v == 0 and not w)
    v = get("inotipy-for", "mem_bytes_per_watch")
    if v is not None:
        add("memory: bytes per watch (name not included)", round(v, 1),
            "< 200", v < 200)
    return t


def tree_label(name):
    if name == "inotipy-for":
        return "inotipy watch_tree()"
    return LABELS.get(name, name).replace("reader", "walk")


def tree_summary(trees):
    """{size: {name: (median seconds, median bytes/dir, runs ok, runs)}}
    for a trees result of this format (sizes), else None."""
    if not trees or trees.get("status") != "ran" or "sizes" not in trees:
        return None
    out = {}
    for n in trees["sizes"]:
        runs = trees["runs"].get(str(n), {})
        out[n] = {}
        for name, rs in runs.items():
            ok = [x for x in rs if "seconds" in x]
            out[n][name] = {
                "seconds": med(rs, "seconds"),
                "bytes_per_dir": med(rs, "bytes_per_dir"),
                "ok": len(ok), "runs": len(rs),
                "moving": sum(1 for x in rs if x.get("watch_mismatch")),
                "skipped": next((x["skipped"] for x in rs
                                 if "skipped" in x), None),
                "error": next((x["error"] for x in rs if "error" in x),
                              None),
            }
    return out


def tree_targets(trees) -> list[dict]:
    ts = tree_summary(trees)
    if not ts:
        return []
    t = []
    for n, row in ts.items():
        ours = row.get("inotipy-for", {}).get("seconds")
        c = row.get(RAW, {}).get("seconds")
        if ours and c:
            t.append({"target": "trees %s dirs: watch_tree() vs raw C walk "
                      "(time ratio)" % "{:,}".format(n),
                      "value": round(ours / c, 2), "goal": "<= 1.3x",
                      "met": ours / c <= 1.3})
        peers = [(v["seconds"], k) for k, v in row.items()
                 if k not in OURS and k != RAW and v.get("seconds")]
        if ours and peers:
            best, who = min(peers)
            t.append({"target": "trees %s dirs: fastest peer (%s) / "
                      "watch_tree() (time)" % ("{:,}".format(n), who),
                      "value": round(best / ours, 2), "goal": "> 1x",
                      "met": best > ours})
    return t


def trees_text(trees) -> str:
    if trees.get("status") != "ran":
        return "Trees: %s (%s)" % (trees["status"], trees["reason"])
    ts = tree_summary(trees)
    if ts is None:      # the older format: one tree, no raw C walk
        lines = ["Trees: one recursive watch on a tree of %d directories" %
                 trees["dirs"], "",
                 "| contender | setup ms | dirs/s | RSS/dir |",
                 "|---|---:|---:|---:|"]
        for name, runs in trees["runs"].items():
            secs = med(runs, "seconds")
            lines.append("| %s | %s | %s | %s |" % (
                tree_label(name),
                fmt_num(secs * 1e3 if secs is not None else None),
                fmt_num(med(runs, "dirs_per_s")),
                fmt_num(med(runs, "bytes_per_dir"), " B")))
        return "\n".join(lines)
    sizes = trees["sizes"]
    names = []
    for n in sizes:
        names += [k for k in ts[n] if k not in names]
    head = "| contender |"
    rule = "|---|"
    for n in sizes:
        k = "{:,}".format(n)
        head += " %s dirs: s | RSS/dir | vs C |" % k
        rule += "---:|---:|---:|"
    lines = ["Trees: one recursive watch on a balanced tree (%d "
             "subdirectories per directory) of %s directories; median of %d"
             % (trees["fanout"], " and of ".join("{:,}".format(n)
                                                 for n in sizes),
                trees["reps"]), "", head, rule]
    for name in names:
        cells = [tree_label(name)]
        for n in sizes:
            v = ts[n].get(name)
            c = ts[n].get(RAW, {}).get("seconds")
            if v is None or v["seconds"] is None:
                why = "n/a" if v is None else \
                    "not measured" if v["skipped"] else "failed"
                cells += [why, "", ""]
                continue
            secs = v["seconds"]
            cells += ["%.3g" % secs + ("" if v["ok"] == v["runs"] else
                                       " (%d/%d ok)" % (v["ok"], v["runs"]))
                      + (" (m)" if v.get("moving") else ""),
                      fmt_num(v["bytes_per_dir"], " B"),
                      ratio(secs, c)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if any(v.get("moving") for row in ts.values() for v in row.values()):
        lines.append("(m): the watch count read after the call was not the "
                     "number of directories in some repetitions: the "
                     "library's own thread, on IN_Q_OVERFLOW (its walk "
                     "queues open/access/close events on the directories it "
                     "has watched, past the kernel queue's size), walks the "
                     "tree again after the call returned.")
    lines.append("vs C: time over the raw C walk's (lower is better).  "
                 "Every contender runs in a process of its own, watches "
                 "every directory (checked from /proc/self/fdinfo, and "
                 "watch_count for ours) and exits before the next starts.  "
                 "RSS/dir: RSS growth over the call / directories (kernel "
                 "memory for the watches, the same for all, is not in "
                 "RSS).  What is timed:")
    for name in names:
        how = trees.get("how", {}).get(name)
        if how:
            lines.append("- %s: %s" % (tree_label(name), how))
    return "\n".join(lines)


def targets_text(ts) -> str:
    if not ts:
        return ""
    lines = ["| target | value | goal | met |", "|---|---:|---:|---|"]
    for t in ts:
        lines.append("| %s | %s | %s | %s |" % (
            t["target"], t["value"], t["goal"], "yes" if t["met"] else "NO"))
    return "\n".join(lines)


# ---- main ------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true",
                   help="a few thousand events, ours and the raw C reader "
                   "only: no peers, no network, a few seconds")
    p.add_argument("--quick", action="store_true",
                   help="the smoke run's sizes, with every contender")
    p.add_argument("--only", default=None,
                   help="comma-separated contenders (default: all)")
    p.add_argument("--phases", default="drain,mem_queue,live,latency,idle,"
                   "mem_watch,trees", help="comma-separated phases")
    p.add_argument("--reps", type=int, default=None,
                   help="repetitions of drain, live and latency")
    p.add_argument("--ours-python", default=sys.executable,
                   help="the Python that has this inotipy installed")
    p.add_argument("--ours-note", default=None,
                   help="where ours was built from, kept in the results")
    p.add_argument("--out", default=None,
                   help="results JSON (full run default: "
                   "benchmarks/results.json; smoke: none)")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--report", metavar="JSON", default=None,
                   help="print the tables of a saved results file and exit")
    args = p.parse_args(argv)
    if args.report:
        return report(Path(args.report))
    if not sys.platform.startswith("linux"):
        raise SystemExit("inotify benchmarks need Linux")

    cfg = dict(SMOKE if args.smoke or args.quick else FULL)
    if args.reps:
        for k in ("drain_reps", "live_reps", "latency_reps", "mem_reps"):
            cfg[k] = args.reps
    _IDLE_SECONDS[0] = cfg["idle_seconds"]
    phases = set(args.phases.split(","))
    names = [RAW] + OURS + ([] if args.smoke else list(PEERS))
    tree_peers = [] if args.smoke or "trees" not in phases else \
        list(TREE_PEERS)
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - set(names) - set(tree_peers)
        if unknown:
            raise SystemExit("unknown contenders: %s (known: %s)" % (
                ", ".join(sorted(unknown)), ", ".join(names + tree_peers)))
        names = [n for n in names if n in wanted]
        tree_peers = [n for n in tree_peers if n in wanted]
    out_path = Path(args.out) if args.out else (
        None if args.smoke else HERE / "results.json")

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    t_start = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    workroot = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    workdir = Path(tempfile.mkdtemp(prefix="inotipy-bench-", dir=workroot))
    # The helpers are built outside /dev/shm, which may be mounted noexec.
    bindir = Path(tempfile.mkdtemp(prefix="inotipy-bench-bin-"))
    try:
        log("inotipy benchmarks (%s) in %s" % (mode, workdir))
        load = os.getloadavg()[0]
        if load > 0.5:
            log("WARNING: load average %.2f: other work on this machine "
                "makes the numbers (latency p99 above all) noisy" % load)
        bins = compile_c(bindir)
        pythons = {n: args.ours_python for n in OURS}
        versions = {"inotipy": ours_info(args.ours_python)}
        if args.ours_note:
            versions["inotipy"]["note"] = args.ours_note
        setup_errors = []
        for name in list(names):
            if name in PEERS:
                try:
                    pythons[name] = ensure_venv(name, PEERS[name])
                except (subprocess.CalledProcessError, OSError) as e:
                    log("  cannot install %s: %s; left out" % (name, e))
                    setup_errors.append("setup %s: %s" % (name, e))
                    names.remove(name)
                    continue
                module = PEERS[name].split("==")[0]
                versions[name] = installed_version(pythons[name], module)
        for name in list(tree_peers):
            try:
                pythons[name] = ensure_venv(name, TREE_PEERS[name])
            except (subprocess.CalledProcessError, OSError) as e:
                log("  cannot install %s: %s; left out" % (name, e))
                setup_errors.append("setup %s: %s" % (name, e))
                tree_peers.remove(name)
                continue
            versions[name] = installed_version(
                pythons[name], TREE_PEERS[name].split("==")[0])
        raw = {k: {} for k in ("drain", "mem_queue", "live", "latency",
                               "idle", "mem_watch")}
        bench = Bench(args, cfg, names, pythons, bins, workdir)
        bench.errors.extend(setup_errors)
        bench.tree_peers = tree_peers
        need = max(cfg["drain_events"], cfg["mem_events"]) + 1024
        if "drain" in phases or "mem_queue" in phases:
            with QueueLimit(need):
                if "drain" in phases:
                    log("drain: %d events queued in the kernel, %d reps" % (
                        cfg["drain_events"], cfg["drain_reps"]))
                    raw["drain"] = bench.phase_drain()
                if "mem_queue" in phases:
                    log("memory per queued event: %d events" %
                        cfg["mem_events"])
                    raw["mem_queue"] = bench.phase_mem_queue()
        if "live" in phases:
            log("live: %.1f s trials at max_queued_events=%s, %d reps" % (
                cfg["live_seconds"], read_int(QUEUE_SYSCTL), cfg["live_reps"]))
            raw["live"] = bench.phase_live()
        if "latency" in phases:
            log("latency: %d samples, %d reps" % (cfg["latency_samples"],
                                                  cfg["latency_reps"]))
            raw["latency"] = bench.phase_latency()
        if "idle" in phases:
            log("idle: %.1f s, all watchers at once" % cfg["idle_seconds"])
            raw["idle"] = bench.phase_idle()
        if "mem_watch" in phases:
            log("memory per watch: %d watches" % cfg["mem_watches"])
            raw["mem_watch"] = bench.phase_mem_watch()
        trees = None
        if "trees" in phases:
            log("trees: %s directories" % " and ".join(
                "{:,}".format(n) for n in cfg["tree_sizes"]))
            trees = bench.phase_trees()

        summary = summarize(raw, names)
        table = tables(summary, names, raw)
        ts = targets(summary) + tree_targets(trees)
        print()
        print(table)
        print()
        print(targets_text(ts))
        if trees:
            print("\n" + trees_text(trees))
        elapsed = time.monotonic() - t_start
        print("\n%s run, %.0f s, %s" % (mode, elapsed, machine_line()))
        if bench.errors:
            print("\nERRORS:\n  " + "\n  ".join(bench.errors))
        result = {
            "schema": 1,
            "date": datetime.datetime.now(datetime.timezone.utc)
            .isoformat(timespec="seconds"),
            "mode": mode,
            "seconds": round(elapsed, 1),
            "machine": machine_info(),
            "loadavg_at_start": load,
            "config": cfg,
            "versions": versions,
            "stream": "symlink(2) + unlink(2) of unique 8-byte names in one "
                      "watched tmpfs directory: IN_CREATE, IN_DELETE",
            "summary": summary,
            "targets": ts,
            "trees": trees,
            "errors": bench.errors,
            "table": table,
            "raw": raw,
        }
        if out_path:
            out_path.write_text(json.dumps(result, indent=1) + "\n")
            log("wrote %s" % out_path)
            if not args.no_plot and mode != "smoke":
                plot(out_path)
        return 1 if bench.errors else 0
    finally:
        kill_children()
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(bindir, ignore_errors=True)


def report(path: Path) -> int:
    r = json.loads(path.read_text())
    names = list(r["summary"])
    _IDLE_SECONDS[0] = r["config"]["idle_seconds"]
    summary = summarize(r["raw"], names)
    print(tables(summary, names, r["raw"]))
    print()
    print(targets_text(targets(summary) + tree_targets(r.get("trees"))))
    if r.get("trees"):
        print("\n" + trees_text(r["trees"]))
    m = r["machine"]
    print("\n%s run of %s, %s s, %s, %s CPUs, Linux %s, Python %s; ours: %s"
          % (r["mode"], r["date"], r["seconds"], m["cpu_model"], m["cpus"],
             m["kernel"], m["python"], r["versions"]["inotipy"]))
    return 0


def machine_line() -> str:
    m = machine_info()
    return "%s, %s CPUs, Linux %s, Python %s" % (
        m["cpu_model"], m["cpus"], m["kernel"], m["python"])


def plot(results: Path) -> None:
    try:
        python = ensure_venv("plot", PLOT_REQUIREMENT)
        png = results.with_suffix(".png")
        subprocess.run([str(python), str(HERE / "plot.py"), str(results),
                        str(png)], check=True, env=clean_env())
        log("wrote %s" % png)
    except (subprocess.CalledProcessError, OSError) as e:
        log("no plot: %s" % e)


if __name__ == "__main__":
    sys.exit(main())
