"""A ``watchfiles`` that is inotipy: put the directory above this one
first on ``PYTHONPATH`` and a program written for watchfiles runs on
inotipy unchanged.  tests/test_shim.py runs real programs' own reloader
tests this way; nothing here is installed with inotipy."""

from inotipy import (
    VERSION,
    BaseFilter,
    Change,
    DefaultFilter,
    PythonFilter,
    arun_process,
    awatch,
    run_process,
    watch,
)

__version__ = VERSION
__all__ = (
    "watch",
    "awatch",
    "run_process",
    "arun_process",
    "Change",
    "BaseFilter",
    "DefaultFilter",
    "PythonFilter",
    "VERSION",
)
