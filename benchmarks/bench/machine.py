"""What the run ran on: CPU, memory, kernel, Python, load and the inotify
limits, as saved with the results and printed under the tables."""

from __future__ import annotations

import os
import platform

from bench.limits import QUEUE_SYSCTL, WATCHES_SYSCTL, read_int


def machine_info() -> dict:
    return {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory": _memory(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
        "max_queued_events": read_int(QUEUE_SYSCTL),
        "max_user_watches": read_int(WATCHES_SYSCTL),
    }


def machine_line() -> str:
    m = machine_info()
    return (
        f"{m['cpu_model']}, {m['cpus']} CPUs, Linux {m['kernel']}, "
        f"Python {m['python']}"
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            return f"{int(f.readline().split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "?"
