"""How soon a reloader hears of an edit while a log is written beside it,
and how soon it stops: inotipy.watch() against watchfiles.watch().

    python benchmarks/busy_log.py [--runs N]

Each run: a fresh directory with app.py; a thread appends a line to
app.log every 20 ms (a server's log, in the directory uvicorn's --reload
watches by default); 0.5 s in, app.py is saved; the time from the save to
the set that holds it is the edit's latency (the filter keeps .py files
only, as uvicorn's does).  Then, with a new file made every 20 ms (a set
that keeps growing), the stop event is set; the time until the iteration
ends is the stop latency.  step and debounce are the defaults (50 ms,
1.6 s).  watchfiles must be importable (it is in the test extras).
Prints the runs and the median of each, in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any


def _writer(directory: str, stop: threading.Event, new_files: bool) -> None:
    with open(os.path.join(directory, "app.log"), "a") as log:
        i = 0
        while not stop.is_set():
            log.write("a line of log\n")
            log.flush()
            if new_files:
                open(os.path.join(directory, f"new{i}"), "w").close()
            i += 1
            stop.wait(0.02)


def _after(seconds: float, action: Callable[[], None]) -> list[float]:
    """Runs action in a thread after seconds; returns [when it ran]."""
    at: list[float] = []

    def run() -> None:
        time.sleep(seconds)
        at.append(time.monotonic())
        action()

    threading.Thread(target=run, daemon=True).start()
    return at


def edit_latency(mod: Any) -> float:
    with tempfile.TemporaryDirectory() as d:
        app = os.path.join(d, "app.py")
        with open(app, "w") as f:
            f.write("v = 1\n")
        stop = threading.Event()
        writer = threading.Thread(target=_writer, args=(d, stop, False))
        writer.start()
        gen = mod.watch(
            d, watch_filter=lambda _c, p: p.endswith(".py"), rust_timeout=0
        )

        def save() -> None:
            with open(app, "w") as f:
                f.write("v = 2\n")

        at = _after(0.5, save)
        next(gen)
        took = time.monotonic() - at[0]
        gen.close()
        stop.set()
        writer.join()
        return took


def stop_latency(mod: Any) -> float:
    with tempfile.TemporaryDirectory() as d:
        stop, writing = threading.Event(), threading.Event()
        writer = threading.Thread(target=_writer, args=(d, writing, True))
        writer.start()
        gen = mod.watch(d, watch_filter=None, rust_timeout=0, stop_event=stop)
        at = _after(0.5, stop.set)
        for _ in gen:
            pass
        took = time.monotonic() - at[0]
        writing.set()
        writer.join()
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    import watchfiles

    import inotipy

    for name, mod in (("inotipy", inotipy), ("watchfiles", watchfiles)):
        for what, measure in (("edit", edit_latency), ("stop", stop_latency)):
            ms = [measure(mod) * 1000 for _ in range(runs)]
            shown = " ".join(f"{m:.0f}" for m in ms)
            print(
                f"{name:10} {what}: {shown} ms; "
                f"median {statistics.median(ms):.0f} ms"
            )


if __name__ == "__main__":
    main()
