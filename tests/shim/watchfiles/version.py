"""watchfiles.version."""

from inotipy import VERSION

__all__ = ("VERSION",)
