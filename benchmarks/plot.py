"""Draws benchmarks/results.png from benchmarks/results.json.

    python plot.py results.json results.png

run.py runs it in benchmarks/.venvs/plot (matplotlib from PyPI).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OURS = ("inotipy-get", "inotipy-for", "inotipy-batch")
SHORT = {
    "raw-c": "raw C",
    "inotipy-get": "inotipy\nget()",
    "inotipy-for": "inotipy\nasync for",
    "inotipy-batch": "inotipy\nget_batch()",
    "inotipy-0.1.1": "inotipy\n0.1.1",
    "inotify_simple": "inotify_\nsimple",
    "asyncinotify": "async-\ninotify",
}


def color(name):
    if name == "raw-c":
        return "#777777"
    if name in OURS:
        return "#1f77b4"
    return "#ff7f0e"


def short(y):
    if y >= 1e6:
        return f"{y / 1e6:.2f}M"
    if y >= 1e3:
        return f"{y / 1e3:.0f}k"
    return f"{y:.0f}"


def panel(
    ax, summary, names, metric, title, *, log=False, fmt=".3g", scale=1.0
):
    """One bar per contender; FMT is the bars' label format (a format
    spec, or "si" for k and M)."""
    xs, ys, cs = [], [], []
    for n in names:
        v = summary[n].get(metric)
        if v is None:
            continue
        xs.append(SHORT.get(n, n))
        ys.append(v * scale)
        cs.append(color(n))
    bars = ax.bar(range(len(xs)), ys, color=cs)
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels(xs, fontsize=7, rotation=0)
    ax.set_title(title, fontsize=10)
    if log and ys and min(ys) > 0:
        ax.set_yscale("log")
    for b, y in zip(bars, ys, strict=True):
        ax.annotate(
            short(y) if fmt == "si" else format(y, fmt),
            (b.get_x() + b.get_width() / 2, b.get_height()),
            ha="center",
            va="bottom",
            fontsize=6,
        )
    ax.tick_params(axis="y", labelsize=7)


def trees(axes, t):
    """Seconds to watch each tree size, one panel per size."""
    if not t or t.get("status") != "ran" or "sizes" not in t:
        for ax in axes:
            ax.set_visible(False)
        return
    for ax, n in zip(axes, t["sizes"], strict=False):
        runs = t["runs"].get(str(n), {})
        s = {}
        for name, rs in runs.items():
            v = sorted(x["seconds"] for x in rs if "seconds" in x)
            if v:
                s[name] = {
                    "seconds": v[len(v) // 2]
                    if len(v) % 2
                    else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
                }
        names = list(s)
        SHORT.setdefault("inotifyrecursive", "inotify-\nrecursive")
        panel(
            ax,
            s,
            names,
            "seconds",
            f"trees: seconds to watch {n:,} directories (one recursive call)",
            fmt=".3g",
        )
        ax.set_xticklabels(
            [
                (
                    "inotipy\nwatch_tree()"
                    if x == "inotipy-for"
                    else SHORT.get(x, x)
                )
                for x in names
            ],
            fontsize=7,
        )


def main(src, dst):
    with open(src) as f:
        r = json.load(f)
    s = r["summary"]
    names = list(s)
    single = [n for n in names if n not in ("inotipy-get", "inotipy-batch")]
    fig, axes = plt.subplots(4, 2, figsize=(14, 16))
    panel(
        axes[0][0],
        s,
        names,
        "drain_rate",
        "drain: events/s from a full kernel queue (log)",
        log=True,
        fmt="si",
    )
    panel(
        axes[0][1],
        s,
        names,
        "live_rate",
        "live: events/s delivered with no loss",
        fmt="si",
    )
    panel(
        axes[1][0],
        s,
        names,
        "live_cpu_s_per_million",
        "live: CPU seconds per million events",
        fmt=".2f",
    )
    panel(
        axes[1][1],
        s,
        names,
        "latency_p50_us",
        "latency p50, microseconds (log)",
        log=True,
        fmt=".0f",
    )
    panel(
        axes[2][0],
        s,
        single,
        "idle_wakeups_per_s",
        "idle: wake-ups per second",
        fmt=".1f",
    )
    panel(
        axes[2][1],
        s,
        single,
        "mem_bytes_per_watch",
        "RSS bytes per watch",
        fmt=".0f",
    )
    trees(axes[3], r.get("trees"))
    m = r["machine"]
    fig.suptitle(
        f"inotipy benchmarks, {r['date'][:10]}: {m['cpu_model']}, "
        f"{m['cpus']} CPUs, Linux {m['kernel']}, Python "
        f"{m['python']}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(dst, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
