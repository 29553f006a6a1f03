"""Which mounts inotify cannot fully see: /proc/self/mountinfo, parsed.

inotify reports what this kernel does through its VFS.  On a network file
system (NFS, SMB, Ceph, AFS...), a host share in a virtual machine (9p,
virtiofs, vboxsf...) or a FUSE file system whose daemon serves another
directory or a remote (sshfs, bindfs, rclone...), changes made by the
server, another client, the host or the directory behind the mount reach
this kernel as nothing at all.  watch_tree(backend="auto") polls the
directories of a tree on such mounts (docs/backends.md says why each type
is on the list), and inotify serves the rest.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Sequence

__all__ = [
    "BLIND_FS_TYPES",
    "Mount",
    "is_blind",
    "mount_of",
    "parse_mountinfo",
    "poll_dirs",
    "read_mounts",
]

MOUNTINFO = "/proc/self/mountinfo"

#: File system types whose changes inotify may never hear of: network
#: file systems, hosts' shares in virtual machines, cluster file systems.
BLIND_FS_TYPES = frozenset(
    {
        # Network file systems: the server and other clients change files.
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "coda",
        "ceph",
        "glusterfs",
        "lustre",
        "beegfs",
        "gpfs",
        "pvfs2",
        "orangefs",
        "davfs",
        # Cluster file systems on shared disks: other nodes change files.
        "ocfs2",
        "gfs2",
        # Hosts' shares in virtual machines and WSL: the host changes files.
        "9p",
        "virtiofs",
        "vboxsf",
        "vmhgfs",
        "prl_fs",
        "drvfs",
        # FUSE without a subtype (bindfs as root, say): the daemon serves
        # what something else may change.
        "fuse",
    }
)

# FUSE file systems with nothing behind them that changes unseen: read-only
# images (snaps), and lxcfs, whose files change as /proc's do (no polling
# tells more of those).  fuseblk (ntfs-3g, exfat-fuse) is a type of its
# own: a local disk that only this kernel writes.
_LOCAL_FUSE = frozenset(
    {"fuse.snapfuse", "fuse.squashfuse", "fuse.squashfuse_ll", "fuse.lxcfs"}
)

_ESCAPE = re.compile(rb"\\([0-7]{3})")


def _unescape(field: bytes) -> str:
    """A mountinfo field as the kernel escapes it (space, tab, newline and
    backslash as three octal digits: \\040), decoded as os.fsdecode()."""
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8) & 0xFF]), field)
    return os.fsdecode(raw)


@dataclasses.dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo (see proc_pid_mountinfo(5))."""

    mount_id: int
    parent_id: int
    #: "major:minor", as st_dev shows it.
    dev: str
    #: The directory of the file system mounted here (not "/" for a bind
    #: mount of a subdirectory).
    root: str
    mount_point: str
    fs_type: str
    source: str

    @property
    def blind(self) -> bool:
        """True when inotify cannot see every change in this mount."""
        return is_blind(self.fs_type)


def is_blind(fs_type: str) -> bool:
    """True for a file-system type whose changes inotify may not hear of
    (BLIND_FS_TYPES, and every fuse.* but read-only images and lxcfs)."""
    if fs_type in BLIND_FS_TYPES:
        return True
    return fs_type.startswith("fuse.") and fs_type not in _LOCAL_FUSE


def parse_mountinfo(text: bytes | str) -> list[Mount]:
    """The mounts of a mountinfo text, in its order; lines that are not
    well-formed are skipped."""
    data = os.fsencode(text) if isinstance(text, str) else text
    mounts = []
    for line in data.split(b"\n"):
        fields = line.split(b" ")
        try:
            sep = fields.index(b"-", 6)
            mounts.append(
                Mount(
                    mount_id=int(fields[0]),
                    parent_id=int(fields[1]),
                    dev=fields[2].decode("ascii"),
                    root=_unescape(fields[3]),
                    mount_point=_unescape(fields[4]),
                    fs_type=_unescape(fields[sep + 1]),
                    source=_unescape(fields[sep + 2]),
                )
            )
        except (ValueError, IndexError, UnicodeDecodeError):
            continue
    return mounts


def read_mounts(path: str = MOUNTINFO) -> list[Mount]:
    """The mounts of this process (an empty list where they cannot be
    read: no /proc)."""
    try:
        with open(path, "rb") as f:
            return parse_mountinfo(f.read())
    except OSError:
        return []


def _visible(mounts: Iterable[Mount]) -> dict[str, Mount]:
    """The mount seen at each mount point: the last one mounted there."""
    return {m.mount_point: m for m in mounts}


def _below(path: str, top: str) -> str | None:
    """path relative to top when it is top or below it, else None."""
    if path == top:
        return ""
    prefix = top.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def mount_of(path: str, mounts: Sequence[Mount] | None = None) -> Mount | None:
    """The mount that holds path (made absolute and real first)."""
    real = os.path.realpath(path)
    best: Mount | None = None
    for point, mount in _visible(
        read_mounts() if mounts is None else mounts
    ).items():
        if _below(real, point) is not None and (
            best is None or len(point) > len(best.mount_point)
        ):
            best = mount
    return best


def poll_dirs(
    root: str | bytes | os.PathLike[str] | os.PathLike[bytes],
    mounts: Sequence[Mount] | None = None,
) -> list[str]:
    """The directories of a tree at root that backend="auto" polls, as
    paths below root ("" for root itself): root when its own mount is
    blind, else the blind mounts below it, the outermost of each nest."""
    real = os.path.realpath(os.fsdecode(os.fspath(root)))
    if mounts is None:
        mounts = read_mounts()
    home = mount_of(real, mounts)
    if home is not None and home.blind:
        return [""]
    found = sorted(
        rel
        for point, mount in _visible(mounts).items()
        if mount.blind and (rel := _below(point, real))
    )
    outer: list[str] = []
    for rel in found:
        if not any(_below(rel, o) is not None for o in outer):
            outer.append(rel)
    return outer
