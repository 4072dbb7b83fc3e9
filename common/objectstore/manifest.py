"""A workspace version's manifest: every file's path, content hash, size,
permission bits and modification time.

Manifests are immutable JSON documents (see :mod:`common.objectstore.layout`
for where they live). Directories are implicit: a directory exists while a
file below it does, so empty directories are not kept. Reading a manifest
back re-checks every path and rejects a tree where a path is both a file and
a directory, so a tampered manifest cannot make a restore write outside the
workspace.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from common.objectstore.layout import is_sha256
from common.objectstore.paths import InvalidPathError, check_path, parent_dirs

FORMAT = "ccplane.manifest/1"
DEFAULT_FILE_MODE = 0o644
MAX_MODE = 0o777


class InvalidManifestError(ValueError):
    """A manifest that does not parse or breaks the rules above."""


@dataclass(frozen=True)
class FileMeta:
    sha256: str
    size: int
    mode: int = DEFAULT_FILE_MODE
    # Nanoseconds since the epoch; restores set it on disk so that a sync
    # can tell unchanged files by size, mode and time without reading them.
    mtime_ns: int = 0

    def same_content(self, other: FileMeta) -> bool:
        return self.sha256 == other.sha256 and self.mode == other.mode


@dataclass(frozen=True)
class Manifest:
    workspace_id: str
    version: int
    parent_version: int | None = None
    files: Mapping[str, FileMeta] = field(default_factory=dict)

    @classmethod
    def empty(cls, workspace_id: str) -> Manifest:
        """Version 0: the workspace before anything was written."""
        return cls(workspace_id=workspace_id, version=0)

    @property
    def size_bytes(self) -> int:
        return sum(meta.size for meta in self.files.values())

    @property
    def file_count(self) -> int:
        return len(self.files)

    def successor(self, files: Mapping[str, FileMeta], *, version: int | None = None) -> Manifest:
        """The next version, derived from this one, with ``files``."""
        check_tree(files)
        return Manifest(
            workspace_id=self.workspace_id,
            version=self.version + 1 if version is None else version,
            parent_version=self.version,
            files=dict(sorted(files.items())),
        )

    def diff(self, newer: Manifest) -> tuple[list[str], list[str]]:
        """(changed, deleted) paths from this manifest to ``newer``; a change
        is a new file or other content or mode (not only a new mtime)."""
        changed = [
            path
            for path, meta in newer.files.items()
            if path not in self.files or not self.files[path].same_content(meta)
        ]
        deleted = [path for path in self.files if path not in newer.files]
        return sorted(changed), sorted(deleted)

    def is_dir(self, path: str) -> bool:
        if path == "":
            return True
        prefix = path + "/"
        return any(p.startswith(prefix) for p in self.files)

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "workspace_id": self.workspace_id,
            "version": self.version,
            "parent_version": self.parent_version,
            "files": {
                path: {"sha256": m.sha256, "size": m.size, "mode": m.mode, "mtime_ns": m.mtime_ns}
                for path, m in sorted(self.files.items())
            },
        }
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidManifestError(f"manifest is not JSON: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise InvalidManifestError(f"manifest format is not {FORMAT}")
        workspace_id = document.get("workspace_id")
        version = document.get("version")
        parent = document.get("parent_version")
        raw_files = document.get("files")
        if not isinstance(workspace_id, str) or not _is_int(version) or version < 0:
            raise InvalidManifestError("manifest lacks a workspace id or version")
        if parent is not None and (not _is_int(parent) or parent < 0):
            raise InvalidManifestError("manifest has an invalid parent version")
        if not isinstance(raw_files, dict):
            raise InvalidManifestError("manifest lacks its files")
        files = {path: _file_meta(path, raw) for path, raw in raw_files.items()}
        check_tree(files)
        return cls(workspace_id=workspace_id, version=version, parent_version=parent, files=files)


def check_tree(files: Mapping[str, FileMeta] | Iterable[str]) -> None:
    """Every path valid, and none both a file and another file's directory."""
    paths = set(files)
    for path in paths:
        try:
            check_path(path)
        except InvalidPathError as exc:
            raise InvalidManifestError(f"invalid path {path!r}: {exc}") from None
        for directory in parent_dirs(path):
            if directory in paths:
                raise InvalidManifestError(f"{directory!r} is both a file and a directory")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _file_meta(path: str, raw: Any) -> FileMeta:
    if not isinstance(raw, dict):
        raise InvalidManifestError(f"invalid entry for {path!r}")
    sha, size, mode, mtime = raw.get("sha256"), raw.get("size"), raw.get("mode"), raw.get("mtime_ns", 0)
    if not isinstance(sha, str) or not is_sha256(sha):
        raise InvalidManifestError(f"invalid sha256 for {path!r}")
    if not _is_int(size) or size < 0 or not _is_int(mode) or not 0 <= mode <= MAX_MODE or not _is_int(mtime):
        raise InvalidManifestError(f"invalid size, mode or time for {path!r}")
    return FileMeta(sha256=sha, size=size, mode=mode, mtime_ns=mtime)
