"""watchfiles.run: running a process again on changes."""

from inotipy import arun_process, detect_target_type, run_process
from inotipy._run import import_string

__all__ = (
    "run_process",
    "arun_process",
    "detect_target_type",
    "import_string",
)
