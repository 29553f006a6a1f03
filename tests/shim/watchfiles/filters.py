"""watchfiles.filters: the filters."""

from inotipy import BaseFilter, DefaultFilter, PythonFilter

__all__ = ("BaseFilter", "DefaultFilter", "PythonFilter")
