"""Instructions per event: the figure that machine load does not move.

Seconds drift with whatever else the machine runs; the user-space
instructions a reader executes per event do not.  Each contender runs its
drain and live modes under valgrind's callgrind (this machine's kernel
gives no hardware counters to `perf stat -e instructions`), twice, with
N1 and with N2 events, and the figure is

    (instructions at N2 - instructions at N1) / (N2 - N1)

which takes away start-up, imports and the watch's setup and leaves what
each further event costs, the consumer's own loop included.  The kernel's
side of a read() is not counted (callgrind sees user space only): it is
the same for every reader.

    drain  the events are queued in the kernel first, as in the drain
           phase: the cost of an event when every read() brings 2,048
    live   the generator makes one event per tick (gen's single mode),
           slowly enough that the consumer, even under callgrind, has
           taken each before the next comes: the cost of an event that
           wakes the consumer on its own, the loop's wake-up included (the
           worst case of the live phase, where a wake-up brings one to a
           few events)
"""

from __future__ import annotations

import os
import re
import shutil

from bench import log
from bench.contenders import OURS, RAW
from bench.proc import Failed

COLLECTED = re.compile(rb"Collected\s*:\s*(\d+)")


def valgrind_argv(out_file) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out_file}",
        "--dump-line=no",
    ]


def collected(errlog) -> int:
    with open(errlog, "rb") as f:
        found = COLLECTED.findall(f.read())
    if not found:
        raise Failed(f"callgrind printed no total in {errlog}")
    return int(found[-1])


class Instructions:
    """The instruction counts of one run: bench is the run's Bench."""

    def __init__(self, bench, sizes):
        self.bench = bench
        self.sizes = sizes
        self.count = 0

    def run_once(self, name, mode, n) -> int:
        """Instructions of one consumer taking N events in MODE."""
        b = self.bench
        self.count += 1
        tag = f"instr-{name}-{mode}-{self.count}"
        errlog = b.workdir / f"{tag}.stderr"
        out = b.workdir / f"{tag}.callgrind"
        d = b.fresh_dir()
        c = b.consumer(
            name,
            mode,
            d,
            n=n,
            wrap=valgrind_argv(out),
            errlog=str(errlog),
            env_extra={"PYTHONHASHSEED": "0"},
        )
        g = None
        try:
            c.expect("READY", timeout=300)
            if mode == "drain":
                g = b.gen_stream(d, 0, 600, n, False)
                made = g.json(300)
                g.wait(10)
                c.send("GO\n")
            else:
                g = b.gen_stream(
                    d, self.sizes["instr_pace"], 600, n, True, single=True
                )
                made = g.json(600)
            r = c.json(600)
            if g is not None and mode == "live":
                g.close_stdin()
            c.p.wait(120)
        finally:
            if g is not None:
                g.kill()
            c.kill()
        if made["events"] != n:
            raise Failed(f"generator made {made['events']} events")
        if r.get("overflow") or r.get("events", n) != n:
            raise Failed(f"{name} {mode}: {r}")
        total = collected(errlog)
        os.unlink(out)
        return total

    def per_event(self, name, mode) -> dict:
        n1, n2 = self.sizes[f"instr_{mode}"]
        i1 = self.run_once(name, mode, n1)
        i2 = self.run_once(name, mode, n2)
        return {
            "n": [n1, n2],
            "instructions": [i1, i2],
            "per_event": (i2 - i1) / (n2 - n1),
        }


def phase(bench) -> dict:
    """{contender: {"drain": {...}, "live": {...}}} for the raw C reader
    and ours, or a skip when valgrind is not installed."""
    if shutil.which("valgrind") is None:
        return {"status": "skipped", "reason": "valgrind is not installed"}
    sizes = {
        k: bench.cfg[k] for k in ("instr_drain", "instr_live", "instr_pace")
    }
    names = [n for n in bench.contenders if n == RAW or n in OURS]
    log(
        "instructions per event (callgrind): drain "
        f"{sizes['instr_drain']}, live {sizes['instr_live']} events at "
        f"{sizes['instr_pace']}/s, for {', '.join(names)}"
    )
    counter = Instructions(bench, sizes)
    out = {"status": "ran", "sizes": sizes, "runs": {}}
    for name in names:
        rec = {}
        for mode in ("drain", "live"):
            r = bench.guarded(
                "instructions",
                f"{name} {mode}",
                lambda name=name, mode=mode: counter.per_event(name, mode),
            )
            rec[mode] = r
            if "per_event" in r:
                log(
                    f"  instr {name:<16} {mode:<5} "
                    f"{r['per_event']:8.0f} instructions/event"
                )
        out["runs"][name] = rec
    return out
