"""Reading a workspace's first version from a .tar.gz or .zip archive.

Nothing in an archive is trusted. Every entry name must be a valid
workspace path (after dropping a leading ``./`` and a directory's trailing
``/``), so absolute names and ``..`` (zip-slip) are refused; symlinks, hard
links, devices, FIFOs and encrypted entries are refused; duplicate names and
file/directory clashes are refused. Sizes are counted as content is
decompressed, never taken from headers, so a decompression bomb stops at
the first limit it crosses, and the entry count is read from the zip's end
record (or counted in the tar) before it can exhaust memory. Any refusal
names the ``archive`` field and the entry; nothing is stored unless the
whole archive is acceptable.

The archive is extracted into a temporary directory, content-addressed
(in a thread), then the distinct blobs are uploaded.
"""

from __future__ import annotations

import asyncio
import calendar
import gzip
import hashlib
import io
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from common.errors import ServiceError, invalid_argument, resource_exhausted
from common.objectstore import ObjectStore
from common.objectstore.layout import blob_key
from common.objectstore.manifest import DEFAULT_FILE_MODE, FileMeta
from common.objectstore.paths import InvalidPathError, check_path, parent_dirs
from control_plane.workspaces.limits import WorkspaceLimits
from control_plane.workspaces.objects import store_errors

FIELD = "archive"
_CHUNK = 1024 * 1024
# Tar headers (pax, GNU long names) are read whole; no honest one is this big.
_MAX_HEADER_READ = 8 * 1024 * 1024


@dataclass(frozen=True)
class _Entry:
    path: str
    sha256: str
    size: int
    mode: int
    mtime_ns: int


async def files_from_archive(
    objects: ObjectStore, data: bytes, limits: WorkspaceLimits
) -> dict[str, FileMeta]:
    """Check and extract ``data``, store its blobs; returns the files."""
    with tempfile.TemporaryDirectory(prefix="ccplane-archive-") as spool:
        entries = await asyncio.to_thread(_extract, data, Path(spool), limits)
        uploaded: set[str] = set()
        with store_errors("storing archive content"):
            for entry in entries:
                if entry.sha256 in uploaded:
                    continue
                if not await objects.exists(blob_key(entry.sha256)):
                    await objects.put_file(blob_key(entry.sha256), Path(spool) / entry.sha256)
                uploaded.add(entry.sha256)
    return {e.path: FileMeta(e.sha256, e.size, e.mode, e.mtime_ns) for e in entries}


def _bad(entry: str, description: str) -> ServiceError:
    return invalid_argument(FIELD, f"entry {entry!r}: {description}")


def _extract(data: bytes, spool: Path, limits: WorkspaceLimits) -> list[_Entry]:
    if data[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as raw:
            return _Extraction(spool, limits).tar(_BoundedReader(raw, limits))
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _Extraction(spool, limits).zip(data)
    if data[257:262] == b"ustar":
        return _Extraction(spool, limits).tar(_BoundedReader(io.BytesIO(data), limits))
    raise invalid_argument(FIELD, "must be a .tar.gz or .zip archive")


class _BoundedReader(io.RawIOBase):
    """The decompressed tar stream, refusing oversized header reads and
    stopping once more has been decompressed than any acceptable archive
    could hold."""

    def __init__(self, inner: io.BufferedIOBase, limits: WorkspaceLimits) -> None:
        self._inner = inner
        # Content (plus one read past the limit, so that the content count
        # reports it) and a generous allowance for headers and padding.
        self._max_position = (
            limits.max_workspace_bytes + 2 * _CHUNK + (limits.max_archive_entries + 16) * 2048
        )

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > max(_MAX_HEADER_READ, _CHUNK):
            raise invalid_argument(FIELD, "has a tar header too large to be genuine")
        data = self._inner.read(size)
        self._check()
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self._inner.seek(offset, whence)
        self._check()
        return position

    def tell(self) -> int:
        return self._inner.tell()

    def _check(self) -> None:
        if self._inner.tell() > self._max_position:
            raise resource_exhausted(
                "ARCHIVE_TOO_LARGE", "the archive expands beyond the workspace size limit"
            )


class _Extraction:
    def __init__(self, spool: Path, limits: WorkspaceLimits) -> None:
        self._spool = spool
        self._limits = limits
        self._entries: dict[str, _Entry] = {}
        self._dirs: set[str] = set()
        self._seen = 0
        self._total = 0
        self._counter = 0

    # -- formats ----------------------------------------------------------------

    def tar(self, reader: _BoundedReader) -> list[_Entry]:
        try:
            archive = tarfile.open(fileobj=reader, mode="r:")  # noqa: SIM115 - closed below
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise invalid_argument(FIELD, f"is not a readable .tar.gz archive: {exc}") from None
        with archive:
            while True:
                try:
                    member = archive.next()
                except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                    raise invalid_argument(FIELD, f"is not a readable .tar.gz archive: {exc}") from None
                if member is None:
                    break
                # Members are not needed afterwards; a long archive must not
                # accumulate them in memory.
                archive.members.clear()  # type: ignore[attr-defined]
                self._count_entry()
                self._tar_member(archive, member)
        return self._finish()

    def _tar_member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name
        if member.issym() or member.islnk():
            raise _bad(name, "links are not allowed")
        if member.isdir():
            self._directory(name)
            return
        if not member.isfile():
            raise _bad(name, "only regular files and directories are allowed")
        path = self._file_path(name)
        source = archive.extractfile(member)
        if source is None:
            raise _bad(name, "has no content")
        with source:
            self._add(path, source, member.mode & 0o777 or DEFAULT_FILE_MODE, int(member.mtime) * 10**9)

    def zip(self, data: bytes) -> list[_Entry]:
        count = _zip_entry_count(data)
        if count is None:
            raise invalid_argument(FIELD, "is not a readable .zip archive")
        if count > self._limits.max_archive_entries:
            raise self._too_many_entries()
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise invalid_argument(FIELD, f"is not a readable .zip archive: {exc}") from None
        with archive:
            for info in archive.infolist():
                self._count_entry()
                self._zip_member(archive, info)
        return self._finish()

    def _zip_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        name = info.filename
        if info.orig_filename != name or not name:
            # zipfile cuts names at a NUL byte; such a name was never valid.
            raise _bad(info.orig_filename, "must be a non-empty name without NUL bytes")
        unix_mode = info.external_attr >> 16 if info.create_system == 3 else 0
        kind = stat.S_IFMT(unix_mode)
        if kind == stat.S_IFLNK:
            raise _bad(name, "links are not allowed")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _bad(name, "only regular files and directories are allowed")
        if info.flag_bits & 0x1:
            raise _bad(name, "encrypted entries are not supported")
        if name.endswith("/") or kind == stat.S_IFDIR:
            self._directory(name)
            return
        path = self._file_path(name)
        mtime = calendar.timegm((*info.date_time, 0, 0, 0)) * 10**9
        try:
            with archive.open(info) as source:
                self._add(path, source, unix_mode & 0o777 or DEFAULT_FILE_MODE, mtime)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
            raise _bad(name, f"cannot be read: {exc}") from None

    # -- entries -----------------------------------------------------------------

    def _count_entry(self) -> None:
        self._seen += 1
        if self._seen > self._limits.max_archive_entries:
            raise self._too_many_entries()

    def _too_many_entries(self) -> ServiceError:
        limit = self._limits.max_archive_entries
        return resource_exhausted(
            "ARCHIVE_TOO_MANY_ENTRIES", f"an archive holds at most {limit} entries", limit=str(limit)
        )

    @staticmethod
    def _normalise(name: str) -> str:
        while name.startswith("./"):
            name = name[2:]
        return name

    def _directory(self, name: str) -> None:
        path = self._normalise(name)
        if path.endswith("/"):
            path = path[:-1]
        if path in ("", "."):
            return
        try:
            check_path(path)
        except InvalidPathError as exc:
            raise _bad(name, str(exc)) from None
        self._dirs.add(path)

    def _file_path(self, name: str) -> str:
        path = self._normalise(name)
        try:
            check_path(path)
        except InvalidPathError as exc:
            raise _bad(name, str(exc)) from None
        if path in self._entries:
            raise _bad(name, "appears twice")
        if len(self._entries) >= self._limits.max_files:
            raise resource_exhausted(
                "TOO_MANY_FILES",
                f"a workspace holds at most {self._limits.max_files} files",
                limit=str(self._limits.max_files),
            )
        return path

    def _add(self, path: str, source: IO[bytes], mode: int, mtime_ns: int) -> None:
        self._counter += 1
        tmp = self._spool / f"part-{self._counter}"
        digest = hashlib.sha256()
        size = 0
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                size += len(chunk)
                self._total += len(chunk)
                if size > self._limits.max_file_bytes:
                    raise resource_exhausted(
                        "FILE_TOO_LARGE",
                        f"archive entry {path!r} is larger than {self._limits.max_file_bytes} bytes",
                        limit=str(self._limits.max_file_bytes),
                        path=path,
                    )
                if self._total > self._limits.max_workspace_bytes:
                    raise resource_exhausted(
                        "WORKSPACE_TOO_LARGE",
                        f"the archive holds more than {self._limits.max_workspace_bytes} bytes",
                        limit=str(self._limits.max_workspace_bytes),
                    )
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        target = self._spool / sha
        if target.exists():
            tmp.unlink()
        else:
            tmp.rename(target)
        self._entries[path] = _Entry(path, sha, size, mode, mtime_ns)

    def _finish(self) -> list[_Entry]:
        for path in self._entries:
            for directory in parent_dirs(path):
                if directory in self._entries:
                    raise _bad(directory, "is both a file and a directory")
        for directory in self._dirs:
            if directory in self._entries:
                raise _bad(directory, "is both a file and a directory")
        return sorted(self._entries.values(), key=lambda e: e.path)


def _zip_entry_count(data: bytes) -> int | None:
    """The entry count from the zip's end of central directory record
    (zip64 aware), read before any entry is parsed."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if end < 0 or len(data) < end + 22:
        return None
    count = int(struct.unpack_from("<H", data, end + 10)[0])
    if count != 0xFFFF:
        return count
    locator = end - 20
    if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
        return None
    offset = int(struct.unpack_from("<Q", data, locator + 8)[0])
    if offset + 56 > len(data) or data[offset : offset + 4] != b"PK\x06\x06":
        return None
    return int(struct.unpack_from("<Q", data, offset + 32)[0])
