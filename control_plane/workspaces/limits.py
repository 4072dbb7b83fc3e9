"""Limits of workspaces: sizes, checked on every write, upload, archive and
sync, and how long an upload may stall."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class WorkspaceLimits:
    # One file, however it arrives.
    max_file_bytes: int = 1 * GiB
    # All files of one version together.
    max_workspace_bytes: int = 10 * GiB
    max_files: int = 100_000
    # ReadFile answers in one message; larger files need another way out.
    max_read_bytes: int = 32 * MiB
    # An archive may hold directories and files; beyond this it is refused
    # before anything is extracted.
    max_archive_entries: int = 200_000
    # An upload that sends nothing for this long is abandoned and its staged
    # data removed (a client may vanish without its cancellation arriving).
    upload_idle_timeout: float = 60.0
