"""The tables and targets of the index phases (bench/index.py): memory
per directory and per file, setup of trees with files, heals.  Every
figure is the median of the repetitions with their range beside it
(min-max), since the machine these run on is shared."""

from __future__ import annotations

from bench.index import (
    HEAL_WHO,
    TREE_FILES_WHO,
    heal_seconds,
    spread,
)
from bench.report import fmt_num, markdown, thousands

# Setup with the index on, over the raw C walk: issue 10's bound.
SETUP_GOAL = 1.2
# Index bytes per file beyond its name: issue 10's bound.
FILE_GOAL = 64
# Bytes per directory with the index on: issue 14's bound.
DIR_GOAL = 200


def rng(s: dict, scale=1.0, digits=3, unit="") -> str:
    """'median (min-max)' of a spread(), scaled; '(N equal)' when every
    repetition gave the same."""
    if s["median"] is None:
        return "n/a"
    m, lo, hi = (
        fmt_num(s[k] * scale, digits=digits) for k in ("median", "min", "max")
    )
    if s["n"] == 1:
        return m + unit
    if lo == hi:
        return f"{m}{unit} ({s['n']} equal)"
    return f"{m}{unit} ({lo}-{hi})"


def mb(x) -> str:
    return "n/a" if x is None else f"{x / 1e6:.2f} MB"


def ratio_of(a, b) -> float | None:
    if a is None or not b:
        return None
    return a / b


def fmt_ratio(r) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


# ---- memory ----------------------------------------------------------------


def mem_summary(r: dict) -> dict:
    """Per shape: bytes per directory (files off), all bytes per directory
    (on), bytes per file ((on - off) / files) and beyond the name."""
    out = {}
    for key, s in r["runs"].items():
        on = [x["heap_growth"] for x in s["on"] if "heap_growth" in x]
        off = [x["heap_growth"] for x in s["off"] if "heap_growth" in x]
        per_file = (
            [(a - b) / s["files"] for a, b in zip(on, off, strict=True)]
            if s["files"]
            else []
        )
        out[key] = {
            "dirs": s["dirs"],
            "files": s["files"],
            "file_name_len": s["file_name_len"],
            "mixed": s.get("mixed_names", False),
            "dir_off": spread([b / s["dirs"] for b in off]),
            "dir_on": spread([a / s["dirs"] for a in on])
            if not s["files"]
            else None,
            "all_on": spread([a / s["dirs"] for a in on]),
            "file": spread(per_file),
            "rss_on": spread(
                [
                    x["rss_growth"] / s["dirs"]
                    for x in s["on"]
                    if "rss_growth" in x
                ]
            ),
        }
    return out


def mem_text(r: dict) -> str:
    ms = mem_summary(r)
    rows = []
    for v in ms.values():
        per = v["file"]
        beyond = (
            per["median"] - v["file_name_len"]
            if per["median"] is not None
            else None
        )
        rows.append(
            [
                thousands(v["dirs"]),
                thousands(v["files"]) + (" (mixed)" if v["mixed"] else ""),
                rng(v["dir_off"], unit=" B"),
                rng(v["all_on"], unit=" B"),
                rng(per, unit=" B") if v["files"] else "-",
                f"{v['file_name_len']:.3g}" if v["files"] else "-",
                (fmt_num(beyond) + " B") if beyond is not None else "-",
            ]
        )
    lines = [
        f"Index memory (C core alone, index_mem.c: heap growth by "
        f"mallinfo2() over ino_add_tree(), median (min-max) of "
        f"{r['reps']})",
        "",
    ]
    lines += markdown(
        [
            "dirs",
            "files",
            "per dir, files off",
            "per dir, all (files on)",
            "per file",
            "name",
            "per file beyond the name",
        ],
        "rrrrrrr",
        rows,
    )
    lines += [
        "",
        "per dir, files off: growth with INO_TREE_NO_FILES / directories "
        "(the directory's node, its watch-table slot, its name-map slot); "
        "per file: (growth with files on - growth off) / files (the entry "
        "and its share of its directory's table); name: bytes in each "
        "file's name (mean; (mixed): names of 6 to 21 bytes, each length "
        "as often, so that malloc's 16-byte rounding averages out).  "
        "malloc's headers and rounding are counted.",
    ]
    return "\n".join(lines)


def mem_targets(r: dict) -> list[dict]:
    t = []
    for v in mem_summary(r).values():
        d, f = v["dirs"], v["files"] // v["dirs"]
        names = ", names of mixed lengths" if v["mixed"] else ""
        per = v["file"]["median"]
        if v["files"] and per is not None:
            beyond = per - v["file_name_len"]
            t.append(
                {
                    "target": f"index: bytes per file beyond the name "
                    f"({thousands(d)} dirs x {f} files{names})",
                    "value": round(beyond, 1),
                    "goal": f"<= {FILE_GOAL}",
                    "met": beyond <= FILE_GOAL,
                }
            )
        on = (v["dir_on"] or v["dir_off"])["median"]
        if not v["files"] and on is not None:
            t.append(
                {
                    "target": f"index: bytes per directory, index on "
                    f"({thousands(d)} dirs, C heap)",
                    "value": round(on, 1),
                    "goal": f"<= {DIR_GOAL} (issue 14)",
                    "met": on <= DIR_GOAL,
                }
            )
    return t


# ---- trees with files ------------------------------------------------------


def tree_files_summary(r: dict) -> dict:
    out = {}
    for key, s in r["runs"].items():
        out[key] = {
            "dirs": s["dirs"],
            "files": s["files"],
            **{
                n: {
                    "wall": spread([x.get("seconds") for x in s.get(n, [])]),
                    "cpu": spread([x.get("cpu_s") for x in s.get(n, [])]),
                    "heap": spread(
                        [x.get("heap_growth") for x in s.get(n, [])]
                    ),
                    "errors": sum(1 for x in s.get(n, []) if "error" in x),
                }
                for n in TREE_FILES_WHO
            },
        }
    return out


TREE_FILES_LABELS = {
    "raw-walk": "raw C walk",
    "raw-walk-stat": "raw C walk + fstatat",
    "core-on": "core, index on",
    "core-off": "core, index off",
    "py-on": "watch_tree(), index on",
    "py-off": "watch_tree(index_files=False)",
}


def both_ratios(c: dict, base: dict) -> str:
    """'median ratio / best ratio' of two spread()s: the ratio of the
    medians, and of the minima (the least disturbed repetitions, the
    steadier figure when other work shares the machine)."""
    med = ratio_of(c["median"], base["median"])
    best = ratio_of(c["min"], base["min"])
    return f"{fmt_ratio(med)} / {fmt_ratio(best)}"


def tree_files_text(r: dict) -> str:
    ts = tree_files_summary(r)
    lines = [
        f"Trees with files: setup time, median (min-max) of {r['reps']}; "
        "CPU: the process's own user+system seconds over the call; ratios "
        "to raw_tree.c without (walk) and with an fstatat of every file "
        "(walk+stat), as median / best: the ratio of the medians, and of "
        "the fastest repetitions",
        "",
    ]
    head = [
        "tree",
        "contender",
        "wall s",
        "CPU s",
        "CPU vs walk",
        "CPU vs walk+stat",
        "wall vs walk+stat",
        "heap",
    ]
    rows = []
    for v in ts.values():
        walk, stat = v["raw-walk"], v["raw-walk-stat"]
        for n in TREE_FILES_WHO:
            c = v[n]
            rows.append(
                [
                    f"{thousands(v['dirs'])} x {v['files'] // v['dirs']}",
                    TREE_FILES_LABELS[n]
                    + (f" ({c['errors']} failed)" if c["errors"] else ""),
                    rng(c["wall"]),
                    rng(c["cpu"]),
                    both_ratios(c["cpu"], walk["cpu"]),
                    both_ratios(c["cpu"], stat["cpu"]),
                    both_ratios(c["wall"], stat["wall"]),
                    mb(c["heap"]["median"]),
                ]
            )
    lines += markdown(head, "llrrrrrr", rows)
    lines.append("")
    lines.append(
        "heap: malloc()'s growth over the call (mallinfo2()), for the "
        "contenders that link the core: what the tree's index and watches "
        "cost in C memory, the Python objects' arenas not included."
    )
    lines.append("")
    lines += [f"- {TREE_FILES_LABELS[n]}: {h}" for n, h in r["how"].items()]
    return "\n".join(lines)


def tree_files_targets(r: dict) -> list[dict]:
    """watch_tree() with the index on against both raw walks, by CPU time
    (on a loaded machine the steadier clock): the ratio of the medians and
    of the fastest repetitions."""
    t = []
    for v in tree_files_summary(r).values():
        what = f"{thousands(v['dirs'])} dirs x {v['files'] // v['dirs']} files"
        ours = v["py-on"]["cpu"]
        for base, label in (
            ("raw-walk", "raw C walk"),
            ("raw-walk-stat", "raw C walk + fstatat"),
        ):
            for key, how in (("median", "medians"), ("min", "best")):
                x = ratio_of(ours[key], v[base]["cpu"][key])
                if x is not None:
                    t.append(
                        {
                            "target": f"setup {what}: watch_tree() index "
                            f"on vs {label} (CPU, {how})",
                            "value": round(x, 2),
                            "goal": f"<= {SETUP_GOAL}x",
                            "met": x <= SETUP_GOAL,
                        }
                    )
    return t


# ---- heals -----------------------------------------------------------------


HEAL_LABELS = {
    "raw-rescan": "raw C rescan",
    "raw-rescan-watch": "raw C rescan + watch",
    "heal-core": "heal, core in C",
    "heal-python": "heal, get_batch()",
}


def heal_summary(r: dict) -> dict:
    out = {}
    for key, s in r["runs"].items():
        row = {
            "entries": s["entries"],
            "dirs": s["dirs"],
            "expected": s["expected_events"],
        }
        for n in HEAL_WHO:
            runs = s.get(n, [])
            row[n] = {
                "wall": spread([heal_seconds(x) for x in runs]),
                "cpu": spread([x.get("cpu_s") for x in runs]),
                "runs": len(runs),
                "exact": sum(
                    1 for x in runs if "problems" in x and not x["problems"]
                ),
                "errors": sum(1 for x in runs if "error" in x),
            }
        out[key] = row
    return out


def heal_text(r: dict) -> str:
    if r.get("status") == "skipped":
        return f"Heals: skipped ({r['reason']})"
    hs = heal_summary(r)
    queue = r["queue_limit"]
    how = (
        f"max_queued_events {queue} for the watcher"
        if r["queue_lowered"]
        else f"the machine's max_queued_events ({queue})"
    )
    lines = [
        f"Heals after a real IN_Q_OVERFLOW ({how}); time from the first "
        "read after the blind window to IN.SYNCED, median (min-max) of "
        f"{r['reps']}; CPU: the process's own user+system seconds; ratios "
        "to the raw C rescan of the same tree, as median / best (the "
        "ratio of the medians, and of the fastest repetitions)",
        "",
    ]
    head = [
        "entries",
        "contender",
        "wall ms",
        "CPU ms",
        "CPU vs rescan",
        "CPU vs rescan+watch",
        "wall vs rescan",
        "events exact",
    ]
    rows = []
    for v in hs.values():
        base, base_w = v["raw-rescan"], v["raw-rescan-watch"]
        for n in HEAL_WHO:
            c = v[n]
            heal = n.startswith("heal")
            rows.append(
                [
                    thousands(v["entries"]),
                    HEAL_LABELS[n]
                    + (f" ({c['errors']} failed)" if c["errors"] else ""),
                    rng(c["wall"], 1e3),
                    rng(c["cpu"], 1e3),
                    both_ratios(c["cpu"], base["cpu"]),
                    both_ratios(c["cpu"], base_w["cpu"]),
                    both_ratios(c["wall"], base["wall"]),
                    f"{c['exact']}/{c['runs']} ({v['expected']} events)"
                    if heal
                    else "",
                ]
            )
    lines += markdown(head, "llrrrrrr", rows)
    lines += [
        "",
        "The blind window: more IN_ATTRIB records than the queue holds "
        "(chmod of two directories in turn), then five files deleted, "
        "five modified, five moved to other directories, five created, a "
        "directory made with three files, one renamed, one removed with "
        "its files.  events exact: heals whose INO_RESCAN events were "
        "exactly the expected ones, and whose index before them, with them "
        "applied, equalled the index after and the disk.",
    ]
    lines += [f"- {HEAL_LABELS[n]}: {h}" for n, h in r["how"].items()]
    return "\n".join(lines)


def heal_targets(r: dict) -> list[dict]:
    if r.get("status") == "skipped":
        return []
    t = []
    for v in heal_summary(r).values():
        for n in ("heal-core", "heal-python"):
            c = v[n]
            t.append(
                {
                    "target": f"heal {thousands(v['entries'])} entries "
                    f"({HEAL_LABELS[n]}): events exact",
                    "value": f"{c['exact']}/{c['runs']}",
                    "goal": "all",
                    "met": c["runs"] > 0 and c["exact"] == c["runs"],
                }
            )
    return t


# ---- all three -------------------------------------------------------------


def index_text(done: dict) -> str:
    parts = []
    if done.get("index_mem"):
        parts.append(mem_text(done["index_mem"]))
    if done.get("tree_files"):
        parts.append(tree_files_text(done["tree_files"]))
    if done.get("heal"):
        parts.append(heal_text(done["heal"]))
    return "\n\n".join(parts)


def index_targets(done: dict) -> list[dict]:
    t = []
    if done.get("index_mem"):
        t += mem_targets(done["index_mem"])
    if done.get("tree_files"):
        t += tree_files_targets(done["tree_files"])
    if done.get("heal"):
        t += heal_targets(done["heal"])
    return t
