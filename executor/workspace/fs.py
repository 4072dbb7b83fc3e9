"""File-system access confined to a workspace directory.

Every path is opened one component at a time relative to a directory file
descriptor with ``O_NOFOLLOW``, so a symlink anywhere in a workspace — one
the agent planted, or one swapped in while we work — is never followed out
of it: reading refuses it, writing replaces it. Linux semantics (``dir_fd``,
``O_NOFOLLOW``, ``O_DIRECTORY``). Blocking; callers run these in a thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_PREFIX = ".ccplane-tmp-"


class UnsafePathError(OSError):
    """A path component is a symlink or not a directory where one is needed."""


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, '/'-separated
    size: int
    mtime_ns: int
    mode: int  # permission bits


@contextlib.contextmanager
def open_root(root: Path) -> Iterator[int]:
    """A descriptor of the workspace root, which must be a real directory."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(exc.errno, f"workspace root {root} is not a real directory") from None
        raise
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_dir(root_fd: int, parts: list[str], *, create: bool) -> Iterator[int]:
    """The directory ``parts`` below the root. With ``create``, missing
    directories are made and anything in the way (a file, a symlink) is
    removed first; without, a symlink or file in the way is UnsafePathError."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if not create:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UnsafePathError(exc.errno, f"{part!r} is not a directory") from None
                    raise
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    os.unlink(part, dir_fd=fd)
                elif exc.errno != errno.ENOENT:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        yield fd
    finally:
        os.close(fd)


def split(path: str) -> tuple[list[str], str]:
    parts = path.split("/")
    return parts[:-1], parts[-1]


def scan(root: Path) -> tuple[list[LocalFile], dict[str, str]]:
    """Regular files below ``root`` and, for everything else, why it was
    skipped. Symlinks are reported, never followed."""
    files: list[LocalFile] = []
    skipped: dict[str, str] = {}

    def walk(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = prefix + entry.name
                if entry.name.startswith(TEMP_PREFIX):
                    continue
                if entry.is_symlink():
                    skipped[rel] = "symbolic links are not synced"
                elif entry.is_dir(follow_symlinks=False):
                    walk(Path(entry.path), rel + "/")
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    files.append(LocalFile(rel, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode) & 0o777))
                else:
                    skipped[rel] = "only regular files are synced"

    with open_root(root):  # refuses a symlinked root
        walk(root, "")
    return files, skipped


def open_file_beneath(root_fd: int, path: str) -> int:
    """A read descriptor of the regular file ``path``; UnsafePathError when
    any component is a symlink or the file is not regular."""
    parents, name = split(path)
    with open_dir(root_fd, parents, create=False) as dir_fd:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePathError(exc.errno, f"{path!r} is a symbolic link") from None
            raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(errno.EINVAL, f"{path!r} is not a regular file")
    return fd


def write_beneath(root_fd: int, path: str, source: Path, *, mode: int, mtime_ns: int) -> None:
    """Put a copy of ``source`` at ``path`` with ``mode`` and ``mtime_ns``,
    atomically (temporary file, then rename over whatever was there: a
    symlink is replaced, never written through; a directory is removed)."""
    parents, name = split(path)
    with open_dir(root_fd, parents, create=True) as dir_fd:
        tmp = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        out = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd
        )
        try:
            with open(source, "rb") as src, open(out, "wb", closefd=False) as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            os.fchmod(out, mode)
            os.utime(out, ns=(mtime_ns, mtime_ns))
        except BaseException:
            os.close(out)
            os.unlink(tmp, dir_fd=dir_fd)
            raise
        os.close(out)
        try:
            existing = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            shutil.rmtree(name, dir_fd=dir_fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def matches(root_fd: int, path: str, *, size: int, mtime_ns: int, mode: int) -> bool:
    """Whether ``path`` is already a regular file with this size, time and mode."""
    parents, name = split(path)
    try:
        with open_dir(root_fd, parents, create=False) as dir_fd:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (OSError, UnsafePathError):
        return False
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_size == size
        and st.st_mtime_ns == mtime_ns
        and stat.S_IMODE(st.st_mode) & 0o777 == mode
    )


def remove_extraneous(root: Path, keep_files: set[str]) -> list[str]:
    """Delete everything below ``root`` that is not one of ``keep_files`` or
    a directory holding one; returns what was removed. Symlinks are removed
    as links, never followed."""
    keep_dirs = {"/".join(p.split("/")[:i]) for p in keep_files for i in range(1, p.count("/") + 1)}
    removed: list[str] = []

    def prune(dir_fd: int, prefix: str) -> None:
        for name in sorted(os.listdir(dir_fd)):
            rel = prefix + name
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if rel in keep_dirs:
                    child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                    try:
                        prune(child, rel + "/")
                    finally:
                        os.close(child)
                else:
                    shutil.rmtree(name, dir_fd=dir_fd)
                    removed.append(rel)
            elif rel not in keep_files:
                os.unlink(name, dir_fd=dir_fd)
                removed.append(rel)

    with open_root(root) as root_fd:
        prune(root_fd, "")
    return removed
