"""A session's workspace on the executor: restore before, sync after turns.

:class:`WorkspaceSession` ties restore, sync and thread state together for
``executor.sessions``: ``open`` restores the version the run starts from
into its directory, ``sync`` stages the changes of a turn and returns the
events that report them (``workspace.synced``, and a ``warning`` when new
paths had to be skipped), ``save_thread`` keeps the Codex thread resumable
elsewhere. :class:`StoreRetryReport` turns the object store's retries into
the ``warning`` that tells the run's user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ccplane.v1 import events_pb2
from common.objectstore import ObjectStore, RetryNotice
from common.objectstore.manifest import Manifest
from executor.workspace.restore import RestoreResult, load_manifest, restore
from executor.workspace.sync import SyncResult, sync
from executor.workspace.threads import restore_thread_state, save_thread_state

log = logging.getLogger(__name__)

# Why a run's restore or sync waited, and why a run failed to start.
OBJECT_STORE_UNAVAILABLE = "OBJECT_STORE_UNAVAILABLE"
# Why a run failed: its changes could not be saved.
WORKSPACE_SYNC_FAILED = "WORKSPACE_SYNC_FAILED"


class StoreRetryReport:
    """A retry listener (``common.objectstore.reporting_retries``) for one
    restore or sync of a run: the first retry becomes one ``warning``
    event, handed to ``emit`` at once (when the run is reporting events
    yet); later ones are counted."""

    def __init__(
        self,
        run_id: str,
        doing: str,
        emit: Callable[[events_pb2.RunEvent], None] | None = None,
        turn_id: str = "",
    ) -> None:
        self.run_id = run_id
        self.doing = doing
        self.turn_id = turn_id
        self.retries = 0
        self._emit = emit

    def __call__(self, notice: RetryNotice) -> None:
        self.retries += 1
        if self.retries == 1 and self._emit is not None:
            self._emit(
                self._warning(
                    f"{self.doing}: the object store is unreachable ({notice.error}); retrying for up "
                    f"to {notice.max_wait_s:.3g} s"
                )
            )

    def recovered(self) -> events_pb2.RunEvent | None:
        """For an operation that succeeded after retries, reported only
        afterwards: a ``warning`` that says so (None without retries)."""
        if not self.retries:
            return None
        return self._warning(
            f"{self.doing}: the object store was unreachable for a while; it answered after "
            f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}"
        )

    def _warning(self, message: str) -> events_pb2.RunEvent:
        return events_pb2.RunEvent(
            run_id=self.run_id,
            type="warning",
            turn_id=self.turn_id,
            warning=events_pb2.RunWarning(message=message, reason=OBJECT_STORE_UNAVAILABLE),
        )


@dataclass
class WorkspaceSession:
    objects: ObjectStore
    workspace_id: str
    run_id: str
    workspace_dir: Path
    cache_dir: Path
    # The version the directory holds (restored, or last synced).
    manifest: Manifest
    max_file_bytes: int | None = None
    restored: RestoreResult | None = None
    # Events that report how the restore went (the object store answering
    # only after retries), for the session to emit first.
    startup_events: list[events_pb2.RunEvent] = field(default_factory=list)
    _reported_skips: set[str] = field(default_factory=set)

    @classmethod
    async def open(
        cls,
        objects: ObjectStore,
        *,
        workspace_id: str,
        version: int,
        run_id: str,
        workspace_dir: Path,
        cache_dir: Path,
        max_file_bytes: int | None = None,
    ) -> WorkspaceSession:
        manifest = await load_manifest(objects, workspace_id, version)
        restored = await restore(objects, manifest, workspace_dir, cache_dir)
        log.info(
            "workspace restored",
            extra={"run_id": run_id, "workspace_id": workspace_id, "version": str(version)},
        )
        return cls(
            objects,
            workspace_id,
            run_id,
            Path(workspace_dir),
            Path(cache_dir),
            manifest,
            max_file_bytes,
            restored,
        )

    async def sync(self, turn_id: str = "") -> tuple[SyncResult, list[events_pb2.RunEvent]]:
        result = await sync(
            self.objects,
            self.workspace_dir,
            self.manifest,
            run_id=self.run_id,
            cache_dir=self.cache_dir,
            max_file_bytes=self.max_file_bytes,
        )
        events: list[events_pb2.RunEvent] = []
        new_skips = sorted(set(result.skipped) - self._reported_skips)
        if new_skips:
            self._reported_skips.update(new_skips)
            shown = "; ".join(f"{p}: {result.skipped[p]}" for p in new_skips[:20])
            more = f" (and {len(new_skips) - 20} more)" if len(new_skips) > 20 else ""
            events.append(
                events_pb2.RunEvent(
                    run_id=self.run_id,
                    type="warning",
                    turn_id=turn_id,
                    warning=events_pb2.RunWarning(
                        message=f"not saved to the workspace: {shown}{more}", reason="WORKSPACE_PATHS_SKIPPED"
                    ),
                )
            )
        if result.changed:
            self.manifest = result.manifest
            events.append(
                events_pb2.RunEvent(
                    run_id=self.run_id,
                    type="workspace.synced",
                    turn_id=turn_id,
                    workspace_synced=events_pb2.WorkspaceSynced(
                        workspace_id=self.workspace_id,
                        version=result.manifest.version,
                        changed_paths=result.changed_paths,
                        deleted_paths=result.deleted_paths,
                    ),
                )
            )
        return result, events

    async def save_thread(self, thread_state_dir: Path, thread_id: str) -> str | None:
        return await save_thread_state(self.objects, thread_state_dir, thread_id)


async def prepare_resume(objects: ObjectStore, thread_id: str, thread_state_dir: Path) -> Path | None:
    """Bring a thread's saved state onto this executor before resuming it."""
    return await restore_thread_state(objects, thread_id, thread_state_dir)
