"""watchfiles.main: the change sets."""

from inotipy import Change, FileChange, awatch, watch

__all__ = ("watch", "awatch", "Change", "FileChange")
