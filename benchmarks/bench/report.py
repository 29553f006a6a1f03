"""From raw numbers to what people read: the summary (medians), the
targets, the Markdown tables, a saved run's report, and the plot.

Building a table's rows (lists of cells) is kept apart from rendering
them (markdown()), which every table shares."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path

from bench import HERE, log
from bench.contenders import (
    FLOOR,
    LABELS,
    NOT_APPLICABLE,
    OURS,
    RAW,
    SAME_WATCHER,
)
from bench.env import clean_env, ensure_venv

PLOT_REQUIREMENT = "matplotlib==3.10.8"


# ---- summary ---------------------------------------------------------------


def med(runs, key):
    vals = [
        r[key]
        for r in runs or []
        if isinstance(r, dict) and r.get(key) is not None
    ]
    return statistics.median(vals) if vals else None


def summarize(raw: dict, contenders) -> dict:
    return {name: summary_row(raw, name) for name in contenders}


def summary_row(raw: dict, name: str) -> dict:
    """One contender's medians.  Ours' three variants share the idle and
    memory numbers of inotipy-for, which alone is measured there."""
    row = {
        "drain_rate": med(raw["drain"].get(name), "rate"),
        "live_rate": med(raw["live"].get(name), "sustained_rate"),
        "live_cpu_s_per_million": med(
            raw["live"].get(name), "cpu_s_per_million"
        ),
        "latency_p50_us": med(raw["latency"].get(name), "p50_us"),
        "latency_p99_us": med(raw["latency"].get(name), "p99_us"),
    }
    lives = [
        x
        for x in raw["live"].get(name) or []
        if isinstance(x, dict) and "sustained_rate" in x
    ]
    row["live_generator_bound"] = bool(lives) and all(
        x["limited_by_generator"] for x in lives
    )
    key = "inotipy-for" if name in OURS else name
    row["idle_cpu_ms"] = med(raw["idle"].get(key), "cpu_ms")
    row["idle_wakeups_per_s"] = med(raw["idle"].get(key), "wakeups_per_s")
    row["mem_bytes_per_watch"] = med(
        raw["mem_watch"].get(key), "bytes_per_watch"
    )
    row["mem_bytes_per_queued_event"] = med(
        raw["mem_queue"].get(key), "bytes_per_event"
    )
    return row


def best_peer(summary, metric, higher_is_better=True):
    vals = [
        (v[metric], k)
        for k, v in summary.items()
        if k not in OURS
        and k not in (RAW, FLOOR)
        and v.get(metric) is not None
    ]
    if not vals:
        return None, None
    return (max if higher_is_better else min)(vals)[::-1]


# ---- cells -----------------------------------------------------------------


def fmt_num(x, unit="", digits=3):
    if x is None:
        return "n/a"
    if x == 0:
        return "0" + unit
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.{digits}g}M{unit}"
    if a >= 1e4:
        return f"{x / 1e3:.{digits}g}k{unit}"
    if a >= 100:
        return f"{x:.0f}{unit}"
    return f"{x:.{digits}g}{unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    r = a / b
    return f"{r:.2f}x" if r < 10 else f"{r:.0f}x"


def scale_idle(ms, idle_seconds):
    """Idle CPU per 10 s, whatever the run's idle time was."""
    if ms is None:
        return None
    return ms * 10.0 / idle_seconds


def thousands(n) -> str:
    return f"{n:,}"


# ---- rendering -------------------------------------------------------------


def markdown(head, align, rows) -> list[str]:
    """A Markdown table: HEAD the column titles, ALIGN one letter per
    column (l: left, r: right), ROWS lists of cells."""
    rule = {"l": "---", "r": "---:"}
    return [cells_line(head), "|" + "|".join(rule[a] for a in align) + "|"] + [
        cells_line(r) for r in rows
    ]


def cells_line(cells) -> str:
    return "| " + " | ".join(cells) + " |"


# ---- the event tables ------------------------------------------------------


SPEED_HEAD = [
    "contender",
    "drain ev/s",
    "vs C",
    "vs best peer",
    "live ev/s",
    "vs C",
    "vs best peer",
    "CPU s/Mev",
]
LATENCY_HEAD = [
    "contender",
    "latency p50",
    "p99",
    "p50 vs C",
    "idle CPU ms/10 s",
    "idle wake-ups/s",
    "RSS/watch",
    "RSS/queued event",
]


def speed_rows(summary, contenders) -> list[list[str]]:
    """Drain and live: rate, ratios to the raw C reader and the best
    peer, CPU per million events."""
    c_raw = summary.get(RAW, {})
    drain_best = best_peer(summary, "drain_rate")[1]
    live_best = best_peer(summary, "live_rate")[1]
    rows = []
    for name in contenders:
        r = summary[name]
        drain, live = r["drain_rate"], r["live_rate"]
        gen_bound = " (g)" if r.get("live_generator_bound") else ""
        rows.append(
            [
                LABELS.get(name, name),
                "n/a (*)"
                if (name, "drain") in NOT_APPLICABLE
                else fmt_num(drain),
                ratio(drain, c_raw.get("drain_rate")),
                ratio(drain, drain_best) if name != RAW else "",
                fmt_num(live) + gen_bound,
                ratio(live, c_raw.get("live_rate")),
                ratio(live, live_best) if name != RAW else "",
                fmt_num(r["live_cpu_s_per_million"]),
            ]
        )
    return rows


def latency_rows(summary, contenders, idle_seconds) -> list[list[str]]:
    """Latency, then idle and memory (a ditto mark for ours' variants
    that share inotipy-for's numbers)."""
    c_raw = summary.get(RAW, {})
    rows = []
    for name in contenders:
        r = summary[name]
        shared = [
            fmt_num(scale_idle(r["idle_cpu_ms"], idle_seconds)),
            fmt_num(r["idle_wakeups_per_s"]),
            fmt_num(r["mem_bytes_per_watch"], " B"),
            fmt_num(r["mem_bytes_per_queued_event"], " B"),
        ]
        rows.append(
            [
                LABELS.get(name, name),
                fmt_num(r["latency_p50_us"], " us"),
                fmt_num(r["latency_p99_us"], " us"),
                ratio(r["latency_p50_us"], c_raw.get("latency_p50_us")),
            ]
            + (['"'] * len(shared) if name in SAME_WATCHER else shared)
        )
    return rows


def tables(summary, contenders, idle_seconds) -> str:
    """The two event tables and their notes.  IDLE_SECONDS is how long
    the run's idle phase lasted (idle CPU is shown per 10 s)."""
    bp_drain = best_peer(summary, "drain_rate")[0]
    bp_live = best_peer(summary, "live_rate")[0]
    bp_p50 = best_peer(summary, "latency_p50_us", False)[0]
    lines = markdown(SPEED_HEAD, "lrrrrrrr", speed_rows(summary, contenders))
    lines.append("")
    lines += markdown(
        LATENCY_HEAD,
        "lrrrrrrr",
        latency_rows(summary, contenders, idle_seconds),
    )
    lines.append("")
    lines.append(
        f"Best peer: drain {bp_drain or 'n/a'}, live {bp_live or 'n/a'}, "
        f"latency {bp_p50 or 'n/a'}.  (g): the consumer kept up with the "
        "generator's top speed, so the number is the generator's.  (*) "
        f"{NOT_APPLICABLE[('watchfiles', 'drain')]}."
    )
    return "\n".join(lines)


# ---- targets ---------------------------------------------------------------


def targets(summary) -> list[dict]:
    """The goals for ours, each with its value and whether it is met."""
    t = []

    def get(name, metric):
        return summary.get(name, {}).get(metric)

    def add(what, value, goal, met):
        t.append({"target": what, "value": value, "goal": goal, "met": met})

    drain_targets(get, add)
    live_targets(summary, get, add)
    limit_targets(get, add)
    for name in OURS:
        v = get(name, "latency_p50_us")
        if v is not None:
            add(
                f"latency p50: {LABELS[name]} (us)",
                round(v, 1),
                "< 100",
                v < 100,
            )
    v = get("inotipy-for", "idle_cpu_ms")
    if v is not None:
        w = get("inotipy-for", "idle_wakeups_per_s")
        add(
            f"idle: CPU ms (wake-ups/s {fmt_num(w)})", v, "0", v == 0 and not w
        )
    v = get("inotipy-for", "mem_bytes_per_watch")
    if v is not None:
        add(
            "memory: bytes per watch (name not included)",
            round(v, 1),
            "< 200",
            v < 200,
        )
    return t


def drain_targets(get, add) -> None:
    ours_for = get("inotipy-for", "drain_rate")
    for peer, factor in (("asyncinotify", 10), ("inotipy-0.1.1", 20)):
        p = get(peer, "drain_rate")
        if ours_for and p:
            add(
                f"drain: async for vs {peer}",
                round(ours_for / p, 2),
                f">= {factor}x",
                ours_for / p >= factor,
            )
    c = get(RAW, "drain_rate")
    b = get("inotipy-batch", "drain_rate")
    if c and b:
        add(
            "drain: get_batch() vs raw C reader",
            round(b / c, 3),
            ">= 0.5 (within 2x)",
            b / c >= 0.5,
        )


def limit_targets(get, add) -> None:
    """Issue 14's goals: every figure within a small factor of the raw C
    reader's, in the same run."""

    def vs_raw(what, name, metric, goal, higher_is_better):
        v, c = get(name, metric), get(RAW, metric)
        if v is None or not c:
            return
        r = v / c
        met = r >= goal if higher_is_better else r <= goal
        sign = ">=" if higher_is_better else "<="
        add(f"{what} vs raw C reader", round(r, 3), f"{sign} {goal}", met)

    vs_raw("drain: async for", "inotipy-for", "drain_rate", 0.85, True)
    vs_raw("drain: get_batch()", "inotipy-batch", "drain_rate", 0.90, True)
    vs_raw(
        "live: async for CPU s/Mev",
        "inotipy-for",
        "live_cpu_s_per_million",
        1.5,
        False,
    )
    vs_raw(
        "latency p50: async for", "inotipy-for", "latency_p50_us", 1.3, False
    )
    vs_raw(
        "latency p99: async for", "inotipy-for", "latency_p99_us", 2.0, False
    )


def live_targets(summary, get, add) -> None:
    c = get(RAW, "live_rate")
    for name in OURS:
        v = get(name, "live_rate")
        if c and v is not None:
            kept_up = summary[name].get("live_generator_bound")
            note = " (kept up with the generator)" if kept_up else ""
            add(
                f"live: {LABELS[name]} vs raw C reader{note}",
                round(v / c, 3),
                ">= 0.8",
                v / c >= 0.8
                or bool(kept_up and summary[RAW].get("live_generator_bound")),
            )


def target_rows(ts) -> list[list[str]]:
    return [
        [
            str(t["target"]),
            str(t["value"]),
            str(t["goal"]),
            "yes" if t["met"] else "NO",
        ]
        for t in ts
    ]


def targets_text(ts) -> str:
    if not ts:
        return ""
    return "\n".join(
        markdown(["target", "value", "goal", "met"], "lrrl", target_rows(ts))
    )


# ---- instructions per event -----------------------------------------------


INSTR_GOAL = 700  # async for, per event (drain and live), issue 14


def instr_per_event(instructions, name, mode):
    if not instructions or instructions.get("status") != "ran":
        return None
    return instructions["runs"].get(name, {}).get(mode, {}).get("per_event")


def instr_rows(instructions) -> list[list[str]]:
    c_drain = instr_per_event(instructions, RAW, "drain")
    c_live = instr_per_event(instructions, RAW, "live")
    rows = []
    for name in instructions["runs"]:
        d = instr_per_event(instructions, name, "drain")
        lv = instr_per_event(instructions, name, "live")
        rows.append(
            [
                LABELS.get(name, name),
                fmt_num(d),
                ratio(d, c_drain),
                fmt_num(lv),
                ratio(lv, c_live),
            ]
        )
    return rows


def instr_text(instructions) -> str:
    if instructions.get("status") != "ran":
        return (
            f"Instructions: {instructions['status']} "
            f"({instructions.get('reason', '')})"
        )
    sz = instructions["sizes"]
    lines = [
        "User-space instructions per event (callgrind; the difference "
        f"between {sz['instr_drain'][0]:,} and {sz['instr_drain'][1]:,} "
        "events drained, and between "
        f"{sz['instr_live'][0]:,} and {sz['instr_live'][1]:,} live events "
        f"at {sz['instr_pace']}/s, each waking the consumer alone; the "
        "consumer's own loop included, the kernel not)",
        "",
    ]
    lines += markdown(
        ["contender", "drain instr/ev", "vs C", "live instr/ev", "vs C"],
        "lrrrr",
        instr_rows(instructions),
    )
    return "\n".join(lines)


def instr_targets(instructions) -> list[dict]:
    t = []
    # The goal is the drain's; a live event's wake-up is the event loop's
    # iterations, shown in the table.
    for mode in ("drain",):
        v = instr_per_event(instructions, "inotipy-for", mode)
        if v is not None:
            t.append(
                {
                    "target": f"instructions per event, async for, {mode}",
                    "value": round(v),
                    "goal": f"<= {INSTR_GOAL}",
                    "met": v <= INSTR_GOAL,
                }
            )
    return t


# ---- trees -----------------------------------------------------------------


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
        out[n] = {name: tree_cell_summary(rs) for name, rs in runs.items()}
    return out


def tree_cell_summary(rs) -> dict:
    ok = [x for x in rs if "seconds" in x]
    return {
        "seconds": med(rs, "seconds"),
        "bytes_per_dir": med(rs, "bytes_per_dir"),
        "ok": len(ok),
        "runs": len(rs),
        "moving": sum(1 for x in rs if x.get("watch_mismatch")),
        "skipped": next((x["skipped"] for x in rs if "skipped" in x), None),
        "error": next((x["error"] for x in rs if "error" in x), None),
    }


def tree_targets(trees) -> list[dict]:
    ts = tree_summary(trees)
    if not ts:
        return []
    t = []
    for n, row in ts.items():
        ours = row.get("inotipy-for", {}).get("seconds")
        c = row.get(RAW, {}).get("seconds")
        if ours and c:
            t.append(
                {
                    "target": f"trees {thousands(n)} dirs: watch_tree() "
                    "vs raw C walk (time ratio)",
                    "value": round(ours / c, 2),
                    "goal": "<= 1.1x",
                    "met": ours / c <= 1.1,
                }
            )
        mem = row.get("inotipy-for", {}).get("bytes_per_dir")
        if mem is not None:
            t.append(
                {
                    "target": f"trees {thousands(n)} dirs: watch_tree() "
                    "RSS per directory (B)",
                    "value": round(mem),
                    "goal": "<= 200",
                    "met": mem <= 200,
                }
            )
        peers = [
            (v["seconds"], k)
            for k, v in row.items()
            if k not in OURS and k != RAW and v.get("seconds")
        ]
        if ours and peers:
            best, who = min(peers)
            t.append(
                {
                    "target": f"trees {thousands(n)} dirs: fastest peer "
                    f"({who}) / watch_tree() (time)",
                    "value": round(best / ours, 2),
                    "goal": "> 1x",
                    "met": best > ours,
                }
            )
    return t


def tree_rows(ts, sizes, names) -> list[list[str]]:
    """Per contender, per size: seconds, RSS per directory, time ratio to
    the raw C walk."""
    rows = []
    for name in names:
        cells = [tree_label(name)]
        for n in sizes:
            cells += tree_cells(
                ts[n].get(name), ts[n].get(RAW, {}).get("seconds")
            )
        rows.append(cells)
    return rows


def tree_cells(v, raw_seconds) -> list[str]:
    if v is None or v["seconds"] is None:
        why = (
            "n/a"
            if v is None
            else "not measured"
            if v["skipped"]
            else "failed"
        )
        return [why, "", ""]
    secs = v["seconds"]
    ok = "" if v["ok"] == v["runs"] else f" ({v['ok']}/{v['runs']} ok)"
    moving = " (m)" if v.get("moving") else ""
    return [
        f"{secs:.3g}{ok}{moving}",
        fmt_num(v["bytes_per_dir"], " B"),
        ratio(secs, raw_seconds),
    ]


def old_tree_rows(trees) -> list[list[str]]:
    """The older format's rows: one tree, no raw C walk."""
    rows = []
    for name, runs in trees["runs"].items():
        secs = med(runs, "seconds")
        rows.append(
            [
                tree_label(name),
                fmt_num(secs * 1e3 if secs is not None else None),
                fmt_num(med(runs, "dirs_per_s")),
                fmt_num(med(runs, "bytes_per_dir"), " B"),
            ]
        )
    return rows


TREE_NOTES = (
    "vs C: time over the raw C walk's (lower is better).  Every contender "
    "runs in a process of its own, watches every directory (checked from "
    "/proc/self/fdinfo, and watch_count for ours) and exits before the "
    "next starts.  RSS/dir: RSS growth over the call / directories (kernel "
    "memory for the watches, the same for all, is not in RSS).  What is "
    "timed:"
)
MOVING_NOTE = (
    "(m): the watch count read after the call was not the number of "
    "directories in some repetitions: the library's own thread, on "
    "IN_Q_OVERFLOW (its walk queues open/access/close events on the "
    "directories it has watched, past the kernel queue's size), walks the "
    "tree again after the call returned."
)


def trees_text(trees) -> str:
    if trees.get("status") != "ran":
        return f"Trees: {trees['status']} ({trees['reason']})"
    ts = tree_summary(trees)
    if ts is None:
        return "\n".join(
            [
                f"Trees: one recursive watch on a tree of {trees['dirs']} "
                "directories",
                "",
            ]
            + markdown(
                ["contender", "setup ms", "dirs/s", "RSS/dir"],
                "lrrr",
                old_tree_rows(trees),
            )
        )
    sizes = trees["sizes"]
    names = []
    for n in sizes:
        names += [k for k in ts[n] if k not in names]
    head = ["contender"]
    for n in sizes:
        head += [f"{thousands(n)} dirs: s", "RSS/dir", "vs C"]
    lines = [
        f"Trees: one recursive watch on a balanced tree "
        f"({trees['fanout']} subdirectories per directory) of "
        f"{' and of '.join(thousands(n) for n in sizes)} directories; "
        f"median of {trees['reps']}",
        "",
    ]
    lines += markdown(
        head, "l" + "rrr" * len(sizes), tree_rows(ts, sizes, names)
    )
    lines.append("")
    if any(v.get("moving") for row in ts.values() for v in row.values()):
        lines.append(MOVING_NOTE)
    lines.append(TREE_NOTES)
    for name in names:
        how = trees.get("how", {}).get(name)
        if how:
            lines.append(f"- {tree_label(name)}: {how}")
    return "\n".join(lines)


# ---- a saved run, and the plot ---------------------------------------------


def print_saved(path: Path) -> int:
    """Prints the tables of the results file PATH, as the run did."""
    r = json.loads(path.read_text())
    names = list(r["summary"])
    summary = summarize(r["raw"], names)
    print(tables(summary, names, r["config"]["idle_seconds"]))
    print()
    # Imported here: index_report builds on this module.
    from bench.index_report import index_targets, index_text

    print(
        targets_text(
            targets(summary)
            + instr_targets(r.get("instructions"))
            + tree_targets(r.get("trees"))
            + index_targets(r)
        )
    )
    if r.get("instructions"):
        print("\n" + instr_text(r["instructions"]))
    if r.get("trees"):
        print("\n" + trees_text(r["trees"]))
    if index_text(r):
        print("\n" + index_text(r))
    m = r["machine"]
    print(
        f"\n{r['mode']} run of {r['date']}, {r['seconds']} s, "
        f"{m['cpu_model']}, {m['cpus']} CPUs, Linux {m['kernel']}, "
        f"Python {m['python']}; ours: {r['versions']['inotipy']}"
    )
    return 0


def plot(results: Path) -> None:
    """RESULTS.png from RESULTS, by plot.py in a venv with matplotlib."""
    try:
        python = ensure_venv("plot", PLOT_REQUIREMENT)
        png = results.with_suffix(".png")
        subprocess.run(
            [str(python), str(HERE / "plot.py"), str(results), str(png)],
            check=True,
            env=clean_env(),
        )
        log(f"wrote {png}")
    except (subprocess.CalledProcessError, OSError) as e:
        log(f"no plot: {e}")
