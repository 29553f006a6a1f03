"""watchfiles.cli: the command line, as ``inotipy run``."""

import sys

from inotipy._run_cli import main


def cli(*args: str) -> None:
    """watchfiles' entry point: exits with inotipy run's status."""
    status = main(list(args) or sys.argv[1:])
    if status:
        sys.exit(status)


__all__ = ("cli",)
