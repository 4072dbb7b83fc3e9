"""What an executor's session host is configured with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.objectstore.base import ObjectStore
from executor.outputs import DEFAULT_CAPACITY


@dataclass(frozen=True)
class HostConfig:
    executor_id: str
    data_dir: Path
    slots: int = 4
    replay_capacity: int = DEFAULT_CAPACITY
    detached_timeout: float = 600.0
    close_timeout: float = 30.0
    # On SIGTERM, how long live sessions may take to end on their own.
    shutdown_grace: float = 30.0
    # Where agent thread state is saved after each turn and found for resume;
    # shared by the executors of one host (default: <data_dir>/threads).
    threads_dir: Path | None = None
    # Where workspaces and thread state live; None: sessions work in local
    # directories only (no restore, no sync).
    objects: ObjectStore | None = None

    @property
    def thread_state_dir(self) -> Path:
        return self.threads_dir or self.data_dir / "threads"

    @property
    def blob_cache_dir(self) -> Path:
        return self.data_dir / "blob-cache"
