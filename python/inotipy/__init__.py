"""inotipy: Linux inotify for asyncio, with its engine in C.

    watcher = inotipy.Watcher.create()
    watcher.watch("some/dir", inotipy.IN.ALL_EVENTS)
    async for event in watcher:
        print(event)

This module only gathers the public names: the C binding (_inotipy), the
Watcher on top of it (_watcher), the enums (_constants), the filters
(_filters), change sets (_changes), processes run again on changes
(_run, _run_cli) and the protocols of arguments (_types).  _trio is where
a get() waits when it runs on trio.
"""

from __future__ import annotations

from importlib import metadata as _metadata

from ._changes import FileChange, awatch, watch
from ._constants import (
    EVENT_BIT,
    IN,
    STOP_ON,
    Change,
    decode_mask,
    get_event_loop,
)
from ._filters import BaseFilter, DefaultFilter, PythonFilter
from ._inotipy import (
    DEFAULT_MAX_QUEUED,
    Event,
    EventBatch,
    TreeWarning,
    Watch,
    WatcherClosedError,
)
from ._run import arun_process, detect_target_type, run_process
from ._state import InvalidStateFile
from ._types import StopEvent
from ._watcher import Watcher, WatcherStats

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "EVENT_BIT",
    "BaseFilter",
    "Change",
    "DefaultFilter",
    "Event",
    "EventBatch",
    "FileChange",
    "IN",
    "InvalidStateFile",
    "PythonFilter",
    "STOP_ON",
    "StopEvent",
    "TreeWarning",
    "VERSION",
    "Watch",
    "Watcher",
    "WatcherClosedError",
    "WatcherStats",
    "arun_process",
    "awatch",
    "decode_mask",
    "detect_target_type",
    "get_event_loop",
    "run_process",
    "watch",
]

try:
    # One source: meson.build's project version, which the build puts in
    # the distribution's metadata.
    __version__ = _metadata.version("inotipy")
except _metadata.PackageNotFoundError:
    # Installed without it: by `meson install` itself (as a distribution
    # may package it), or copied into an application.
    __version__ = "0+unknown"

# watchfiles' name for it.
VERSION = __version__
