"""python -m watchfiles: inotipy run."""

from .cli import cli

cli()
