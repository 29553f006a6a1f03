"""The filters of change sets, as watchfiles has them: BaseFilter,
DefaultFilter, PythonFilter, and which directories a filter lets a tree
leave unwatched."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ._constants import Change

__all__ = ["BaseFilter", "DefaultFilter", "PythonFilter"]


class BaseFilter:
    """A filter by directory names, name patterns and path prefixes.

    Subclass it and set ``ignore_dirs`` (names: a path with one of them
    as a component is ignored), ``ignore_entity_patterns`` (regular
    expressions searched in the last component) and ``ignore_paths``
    (prefixes).  Calling it with ``(change, path)`` returns True to keep
    the change.  Trees watched through ``awatch()``/``watch()`` do not
    even watch the directories named in ``ignore_dirs``.
    """

    # As in watchfiles: the compiled state is all an instance holds, and
    # all its repr shows (subclasses may add attributes of their own).
    __slots__ = ("_ignore_dirs", "_ignore_entity_regexes", "_ignore_paths")

    ignore_dirs: Sequence[str] = ()
    ignore_entity_patterns: Sequence[str] = ()
    ignore_paths: Sequence[str | Path] = ()

    def __init__(self) -> None:
        self._ignore_dirs = set(self.ignore_dirs)
        # One regex each: a pattern may carry its own flags or groups.
        self._ignore_entity_regexes = tuple(
            re.compile(p) for p in self.ignore_entity_patterns
        )
        self._ignore_paths = tuple(str(p) for p in self.ignore_paths)

    @property
    def ignored_dir_names(self) -> frozenset[str]:
        """The directory names the filter rejects, wherever they appear in
        a path: ``ignore_dirs`` as it was when the filter was made."""
        return frozenset(self._ignore_dirs)

    def __call__(self, change: Change, path: str) -> bool:
        parts = path.lstrip(os.sep).split(os.sep)
        if not self._ignore_dirs.isdisjoint(parts):
            return False
        name = parts[-1]
        if any(r.search(name) for r in self._ignore_entity_regexes):
            return False
        return not (self._ignore_paths and path.startswith(self._ignore_paths))

    def __repr__(self) -> str:
        """As watchfiles prints a filter: its class and compiled state,
        ``DefaultFilter(_ignore_dirs={...}, _ignore_entity_regexes=(...),
        _ignore_paths=(...))``."""
        fields = ", ".join(
            f"{name}={getattr(self, name, None)!r}"
            for name in BaseFilter.__slots__
        )
        return f"{type(self).__name__}({fields})"


class DefaultFilter(BaseFilter):
    """Ignores what editors, VCSs, caches and package managers leave."""

    ignore_dirs: Sequence[str] = (
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".venv",
        ".idea",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".hypothesis",
    )
    ignore_entity_patterns: Sequence[str] = (
        r"\.py[cod]$",  # compiled Python
        r"\.___jb_...___$",  # JetBrains safe-write copies
        r"\.sw.$",  # vim swap files
        r"~$",  # backup files
        r"^\.\#",  # emacs lock files
        r"^\.DS_Store$",
        r"^flycheck_",
    )

    def __init__(
        self,
        *,
        ignore_dirs: Sequence[str] | None = None,
        ignore_entity_patterns: Sequence[str] | None = None,
        ignore_paths: Sequence[str | Path] | None = None,
    ) -> None:
        if ignore_dirs is not None:
            self.ignore_dirs = ignore_dirs
        if ignore_entity_patterns is not None:
            self.ignore_entity_patterns = ignore_entity_patterns
        if ignore_paths is not None:
            self.ignore_paths = ignore_paths
        super().__init__()


class PythonFilter(DefaultFilter):
    """DefaultFilter, and only files ending in .py, .pyx, .pyd (and
    ``extra_extensions``)."""

    def __init__(
        self,
        *,
        ignore_paths: Sequence[str | Path] | None = None,
        extra_extensions: Sequence[str] = (),
    ) -> None:
        self.extensions = (".py", ".pyx", ".pyd") + tuple(extra_extensions)
        super().__init__(ignore_paths=ignore_paths)

    def __call__(self, change: Change, path: str) -> bool:
        return path.endswith(self.extensions) and super().__call__(
            change, path
        )


def dirs_never_watched(watch_filter: object) -> tuple[str, ...]:
    """The names a filter rejects wherever they appear in a path, when we
    know its call does (ours, not overridden): those directories need no
    watch.  Glob characters are escaped: the names are matched as they
    are."""
    if not isinstance(watch_filter, BaseFilter) or type(
        watch_filter
    ).__call__ not in (BaseFilter.__call__, PythonFilter.__call__):
        return ()
    return tuple(
        re.sub(r"([*?\[])", r"[\1]", name)
        for name in sorted(watch_filter.ignored_dir_names)
    )
