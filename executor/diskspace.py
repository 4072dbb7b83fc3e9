"""Telling a full disk from other failures, and saying which disk.

A session's files (``workspace/``, ``codex-home/``, ``home/``) live on the
filesystem of the session root; the executor's own (blob cache, thread
state) on its data directory's, often the same one. When it fills up, every
write there fails with ENOSPC (EDQUOT under a quota): the agent's commands,
Codex saving its transcript, and the executor's restore and sync. None of
that can be fixed from inside the run, so the session ends failed with
:data:`WORKSPACE_DISK_FULL` and a message naming the filesystem and its free
space (see ``executor.hosted_session``).

Two kinds of evidence: an ``OSError`` of our own with that errno, or an
event that reports one (a command's output, a Codex warning), confirmed by
measuring the session's filesystem: the text alone might quote an old log,
or speak of the session's private ``/tmp``, which is not the workspace.
Blocking functions; callers run them in a thread.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ccplane.v1 import events_pb2

WORKSPACE_DISK_FULL = "WORKSPACE_DISK_FULL"
# A filesystem with less than this available to unprivileged users (the
# session's uid) is full: a write that failed for lack of space leaves at
# most a few blocks, and nothing useful fits in less.
FULL_BELOW_BYTES = 1024 * 1024
_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# How ENOSPC and EDQUOT read in tools' output (strerror; Rust's io::Error adds "(os error 28)").
_SIGNS = ("no space left on device", "disk quota exceeded")
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class FilesystemSpace:
    """The space of the filesystem holding ``path``, as statvfs saw it."""

    path: Path
    mount_point: Path
    fs_type: str
    free_bytes: int  # available to unprivileged users
    total_bytes: int

    @property
    def full(self) -> bool:
        return self.free_bytes < FULL_BELOW_BYTES

    def describe(self) -> str:
        kind = f"{self.fs_type} " if self.fs_type else ""
        return (
            f"the {kind}filesystem mounted on {self.mount_point} (holding {self.path}) has "
            f"{human_size(self.free_bytes)} free of {human_size(self.total_bytes)}"
        )


def space_of(path: Path) -> FilesystemSpace:
    """The space of the filesystem holding ``path`` (its nearest existing
    ancestor, when it is gone)."""
    existing = Path(os.path.abspath(path))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    st = os.statvfs(existing)
    mount = mount_point(existing)
    return FilesystemSpace(
        path=Path(path),
        mount_point=mount,
        fs_type=_fs_type(mount),
        free_bytes=st.f_bavail * st.f_frsize,
        total_bytes=st.f_blocks * st.f_frsize,
    )


def full_filesystem(paths: Iterable[Path]) -> FilesystemSpace | None:
    """The first of ``paths`` whose filesystem is full, if any."""
    for path in paths:
        try:
            space = space_of(path)
        except OSError:
            continue
        if space.full:
            return space
    return None


def where_space_ran_out(exc: BaseException, paths: Sequence[Path]) -> str:
    """Which disk a write failed on for lack of space, for a message: the
    first of ``paths`` that is full; or, when the failed write's cleanup has
    freed its space again, the one the error names (else the first), with
    the error."""
    full = full_filesystem(paths)
    if full is not None:
        return full.describe()
    error = disk_full_error(exc)
    # A copy names its source, then its destination: the one without space.
    target = (error.filename2 or error.filename) if error is not None else None
    named = Path(target) if isinstance(target, str) else None
    try:
        space = space_of(named or paths[0])
    except (OSError, IndexError):
        return str(error or exc)
    return f"{error.strerror if error is not None else exc}; {space.describe()}"


def disk_full_error(exc: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT ``OSError`` behind ``exc`` (itself, or what it was
    raised from), if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _ERRNOS:
            return current
        current = current.__cause__ or current.__context__
    return None


def mentions_disk_full(text: str) -> bool:
    lowered = text.lower()
    return any(sign in lowered for sign in _SIGNS)


def reports_disk_full(event: events_pb2.RunEvent) -> bool:
    """Whether ``event`` reports a write that failed for lack of space: a
    command's output, a failed file change, an error or warning."""
    if event.type == "command.completed":
        return mentions_disk_full(event.command_completed.output)
    if event.type == "file_change.completed":
        return event.file_change_completed.status == events_pb2.PATCH_STATUS_FAILED
    if event.type == "error":
        return event.error.reason != WORKSPACE_DISK_FULL and mentions_disk_full(event.error.message)
    if event.type == "warning":
        return mentions_disk_full(event.warning.message)
    return False


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding the existing ``path``."""
    current = Path(os.path.abspath(path))
    device = os.stat(current).st_dev
    while current != current.parent:
        parent = current.parent
        if os.stat(parent).st_dev != device:
            return current
        current = parent
    return current


def _fs_type(mount: Path) -> str:
    """The type of the filesystem mounted on ``mount`` ("" when unknown)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.readlines()
    except OSError:
        return ""
    found = ""
    for line in lines:
        # id parent major:minor root mount-point options [optional...] - type source super-options
        fields = line.split()
        if len(fields) < 7 or "-" not in fields:
            continue
        point = _OCTAL_ESCAPE.sub(lambda m: chr(int(m[1], 8)), fields[4])  # mountinfo writes " " as \040
        if point == str(mount):
            found = fields[fields.index("-") + 1]  # the last mount on a point is the visible one
    return found


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
