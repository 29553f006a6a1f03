"""The command line's output: one line per event in the format asked for,
and the stream it goes to.

Formats: the default (``%w%f %e``, what a person reads), inotifywait's
``--format`` with its %-conversions and ``--csv``, and ours: ``--repr``,
``--json`` and ``--pyformat`` (``str.format`` fields).  Every format
escapes control characters and undecodable bytes, so a name cannot break
a line or drive the terminal, except the two made for exact names:
``--csv`` (quoted as inotifywait quotes) and a ``--format`` holding
``%0`` (NUL-separated), which write the name's bytes as they are.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Collection, Sequence
from typing import IO, Any, Protocol

from ._constants import EVENT_BIT, IN, decode_mask
from ._inotipy import Event

__all__ = [
    "DIM",
    "PYFORMAT_FIELDS",
    "RESET",
    "Formatter",
    "Output",
    "bad_format",
    "bad_pyformat",
    "colour_of",
    "compile_printf",
    "event_names",
    "formatter",
    "lines_of",
    "safe",
    "split_event",
    "text",
]

# ANSI colours by the kind of event, for terminals.
_COLOURS = (
    (IN.CREATE | IN.MOVED_TO, "\x1b[32m"),  # green
    (IN.DELETE | IN.DELETE_SELF | IN.MOVED_FROM, "\x1b[31m"),  # red
    (IN.MODIFY | IN.CLOSE_WRITE | IN.ATTRIB, "\x1b[33m"),  # yellow
    (IN.MOVE_SELF | IN.Q_OVERFLOW | IN.UNMOUNT, "\x1b[35m"),  # magenta
)
DIM, RESET = "\x1b[2m", "\x1b[0m"

# inotifywait's names, in its order: CLOSE follows either close, as it
# prints it (CLOSE_WRITE,CLOSE), and scripts compare these strings.
_INOTIFYWAIT_NAMES = (
    (IN.ACCESS, "ACCESS"),
    (IN.MODIFY, "MODIFY"),
    (IN.ATTRIB, "ATTRIB"),
    (IN.CLOSE_WRITE, "CLOSE_WRITE"),
    (IN.CLOSE_NOWRITE, "CLOSE_NOWRITE"),
    (IN.OPEN, "OPEN"),
    (IN.MOVED_FROM, "MOVED_FROM"),
    (IN.MOVED_TO, "MOVED_TO"),
    (IN.CREATE, "CREATE"),
    (IN.DELETE, "DELETE"),
    (IN.DELETE_SELF, "DELETE_SELF"),
    (IN.UNMOUNT, "UNMOUNT"),
    (IN.Q_OVERFLOW, "Q_OVERFLOW"),
    (IN.IGNORED, "IGNORED"),
    (IN.CLOSE, "CLOSE"),
    (IN.MOVE_SELF, "MOVE_SELF"),
    (IN.ISDIR, "ISDIR"),
    (IN.ONESHOT, "ONESHOT"),
)
_NAMED = functools.reduce(lambda a, b: a | b[0], _INOTIFYWAIT_NAMES, 0)

# The fields of --pyformat, with a sample of each to check a format on.
PYFORMAT_FIELDS = {
    "path": "",
    "name": "",
    "events": "",
    "mask": 0,
    "cookie": 0,
    "wd": 0,
    "src": "",
    "time": "",
}
_PYFORMAT_FIELD = re.compile(
    r"\{(?:" + "|".join(PYFORMAT_FIELDS) + r")(?:![rsa])?(?::[^{}]*)?\}"
)


@functools.lru_cache(maxsize=256)
def event_names(mask: int) -> tuple[str, ...]:
    """The names inotifywait prints for a mask, in its order."""
    names = tuple(name for bit, name in _INOTIFYWAIT_NAMES if mask & bit)
    rest = mask & ~_NAMED
    return (*names, f"0x{rest:08x}") if rest else names


def _bit_names(mask: int) -> list[str]:
    """decode_mask()'s names: every bit once, in bit order (--json and
    --pyformat, as before inotifywait's names)."""
    return [
        b.name if isinstance(b, EVENT_BIT) else b for b in decode_mask(mask)
    ]


def text(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def safe(value: str | bytes) -> str:
    """Text for one output line: control characters, backslashes and
    undecodable bytes escaped, nothing else touched."""
    value = text(value)
    if value.isprintable() and "\\" not in value:
        return value
    out = []
    for ch in value:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif not ch.isprintable():
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def split_event(event: Event[Any], dirs: Collection[str]) -> tuple[str, str]:
    """inotifywait's %w and %f: the directory the event is in (with a
    trailing slash) and the name in it, or the watched path itself (a
    directory with a trailing slash) and ''.  dirs holds the watched
    paths that are directories."""
    watch = event.watch
    if watch is None:
        return "", ""
    path = text(event.path)
    if event.pathname:
        cut = path.rfind("/") + 1
        return path[:cut], path[cut:]
    if text(watch.pathname) in dirs and not path.endswith("/"):
        path += "/"
    return path, ""


def colour_of(mask: int) -> str:
    for bits, colour in _COLOURS:
        if mask & bits:
            return colour
    return DIM


# ---- formats ----------------------------------------------------------------


class Formatter:
    """Turns an event into its line (without the line's end)."""

    # Whether lines carry names as they are (bytes through
    # surrogateescape) rather than escaped.
    raw = False
    # Whether lines may be coloured on a terminal.
    colourable = True
    end = "\n"

    def __init__(self, dirs: Collection[str]) -> None:
        self.dirs = dirs

    def line(self, event: Event[Any]) -> str:
        w, f = split_event(event, self.dirs)
        names = ",".join(event_names(event.mask))
        if not (w or f):
            return names  # Q_OVERFLOW: no path
        return f"{safe(w)}{safe(f)} {names}"


class _Repr(Formatter):
    def line(self, event: Event[Any]) -> str:
        # repr() escapes newlines, escape sequences and invalid UTF-8.
        return repr(event)


class _Json(Formatter):
    colourable = False

    def line(self, event: Event[Any]) -> str:
        src = event.src_path
        return json.dumps(
            {
                "time": time.time(),
                "path": text(event.path),
                "name": text(event.pathname),
                "events": _bit_names(event.mask),
                "mask": event.mask,
                "cookie": event.cookie,
                "wd": event.wd,
                "src_path": None if src is None else text(src),
            }
        )


class _Csv(Formatter):
    """inotifywait's --csv: watched path, events, name."""

    raw = True
    colourable = False

    def line(self, event: Event[Any]) -> str:
        w, f = split_event(event, self.dirs)
        names = ",".join(event_names(event.mask))
        return f"{_csv_field(w)},{_csv_field(names)},{_csv_field(f)}"


def _csv_field(value: str) -> str:
    """Quoted as inotifywait quotes (and \\r too): when it holds a quote,
    a comma or a line break, or starts or ends with a space."""
    if not value or not (
        any(c in value for c in '",\n\r')
        or value[0] == " "
        or value[-1] == " "
    ):
        return value
    return '"' + value.replace('"', '""') + '"'


class _PyFormat(Formatter):
    def __init__(self, dirs: Collection[str], fmt: str, end: str) -> None:
        super().__init__(dirs)
        # \t and \n as the shell gave them.
        self.fmt = fmt.encode("latin-1", "backslashreplace").decode(
            "unicode_escape"
        )
        self.end = end

    def line(self, event: Event[Any]) -> str:
        return self.fmt.format(
            path=safe(event.path),
            name=safe(event.pathname),
            events=",".join(_bit_names(event.mask)),
            mask=event.mask,
            cookie=event.cookie,
            wd=event.wd,
            src=safe(event.src_path or ""),
            time=datetime.datetime.now().isoformat(timespec="milliseconds"),
        )


# A compiled --format: literal text, or a conversion ("w", "f", "c", "T",
# or "e" with its separator).
_Part = str | tuple[str, str]


class _Printf(Formatter):
    """inotifywait's --format: %w %f %e %Xe %c %T %n %0 %%."""

    def __init__(
        self,
        dirs: Collection[str],
        parts: list[_Part],
        timefmt: str,
        end: str,
    ) -> None:
        super().__init__(dirs)
        self.parts = parts
        self.timefmt = timefmt
        self.end = end
        # NUL-separated output is for exact names: no escaping.
        self.raw = any("\0" in p for p in parts if isinstance(p, str))
        self.colourable = not self.raw

    def line(self, event: Event[Any]) -> str:
        w, f = split_event(event, self.dirs)
        if not self.raw:
            w, f = safe(w), safe(f)
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(self._convert(part, event, w, f))
        return "".join(out)

    def _convert(
        self, part: tuple[str, str], event: Event[Any], w: str, f: str
    ) -> str:
        kind, sep = part
        if kind == "w":
            return w
        if kind == "f":
            return f
        if kind == "e":
            return sep.join(event_names(event.mask))
        if kind == "c":
            return f"{event.cookie:x}"  # hexadecimal, as inotifywait
        return time.strftime(self.timefmt, time.localtime())


def compile_printf(fmt: str) -> list[_Part]:
    """inotifywait's --format, parsed once: raises ValueError for a
    conversion it does not know (and a lone % at the end)."""
    parts: list[_Part] = []
    literal: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            literal.append(ch)
            i += 1
            continue
        conv = fmt[i + 1 : i + 2]
        simple = {"%": "%", "0": "\0", "n": "\n"}
        if conv in simple:
            literal.append(simple[conv])
            i += 2
            continue
        if conv in ("w", "f", "e", "c", "T"):
            part: _Part = (conv, ",")
            i += 2
        elif conv and fmt[i + 2 : i + 3] == "e":
            part = ("e", conv)  # %Xe: events separated by X
            i += 3
        else:
            shown = fmt[i : i + 2]
            raise ValueError(
                f"unknown conversion {shown!r} (%w %f %e %Xe %c %T %n "
                "%0, and %% for a %)"
            )
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(part)
    if literal:
        parts.append("".join(literal))
    return parts


def bad_format(fmt: str) -> str | None:
    """Why a --format cannot be used, or None."""
    try:
        parts = compile_printf(fmt)
    except ValueError as e:
        return str(e)
    has_conversion = any(not isinstance(p, str) for p in parts)
    if not has_conversion and _PYFORMAT_FIELD.search(fmt):
        return (
            "it has no %-conversion but {field}s: --format is "
            "inotifywait's (%w %f %e ...); {path} {name} {events} ... are "
            "--pyformat's"
        )
    return None


def bad_pyformat(fmt: str) -> str | None:
    try:
        fmt.format(**PYFORMAT_FIELDS)
    except (KeyError, IndexError, ValueError) as e:
        return (
            f"{e} (fields: "
            + " ".join("{" + name + "}" for name in PYFORMAT_FIELDS)
            + ")"
        )
    return None


def formatter(
    *,
    dirs: Collection[str],
    style: str,
    fmt: str | None,
    timefmt: str | None,
    newline: bool,
) -> Formatter:
    """The formatter for --csv, --json, --repr, --format, --pyformat or
    the default (style "text")."""
    end = "\n" if newline else ""
    if style == "csv":
        return _Csv(dirs)
    if style == "json":
        return _Json(dirs)
    if style == "repr":
        return _Repr(dirs)
    if style == "format" and fmt is not None:
        parts = compile_printf(fmt)
        return _Printf(dirs, parts, timefmt or "%Y-%m-%dT%H:%M:%S", end)
    if style == "pyformat" and fmt is not None:
        return _PyFormat(dirs, fmt, end)
    return Formatter(dirs)


# ---- where lines go ---------------------------------------------------------


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class Output:
    """Standard output or --outfile, written as bytes: escaped lines in
    the output's encoding (a character it lacks becomes an escape, never
    an error), raw ones as the names' own bytes."""

    def __init__(self, stream: _Sink, encoding: str, tty: bool) -> None:
        self.stream = stream
        self.encoding = encoding
        self.tty = tty

    @classmethod
    def stdout(cls) -> Output:
        out = sys.stdout
        encoding = getattr(out, "encoding", None) or "utf-8"
        buffer = getattr(out, "buffer", None)
        isatty = getattr(out, "isatty", None)
        tty = bool(isatty and isatty())
        out.flush()
        if buffer is None:  # a text-only stream put in place of stdout
            return cls(_TextAsBytes(out, encoding), encoding, tty)
        return cls(buffer, encoding, tty)

    @classmethod
    def outfile(cls, path: str) -> Output:
        """Appends to path, created 0600 as inotifywait creates it;
        raises OSError."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        return cls(os.fdopen(fd, "ab"), encoding, os.isatty(fd))

    def write(self, lines: Sequence[str], raw: bool = False) -> None:
        if not lines:
            return
        data = "".join(lines)
        if raw:
            self.stream.write(os.fsencode(data))
        else:
            self.stream.write(data.encode(self.encoding, "backslashreplace"))
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not getattr(sys.stdout, "buffer", None):
            self.stream.close()


class _TextAsBytes:
    """A bytes writer over a text stream (for a stdout without .buffer)."""

    def __init__(self, out: IO[str], encoding: str) -> None:
        self.out = out
        self.encoding = encoding

    def write(self, data: bytes) -> int:
        self.out.write(data.decode(self.encoding, "surrogateescape"))
        return len(data)

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


def lines_of(fmt: Formatter, colour: bool) -> Callable[[Event[Any]], str]:
    """The function giving an event's full line (end and colour)."""
    end = fmt.end
    if colour and fmt.colourable:

        def coloured(event: Event[Any]) -> str:
            return colour_of(event.mask) + fmt.line(event) + RESET + end

        return coloured
    if end:

        def ended(event: Event[Any]) -> str:
            return fmt.line(event) + end

        return ended
    return fmt.line
