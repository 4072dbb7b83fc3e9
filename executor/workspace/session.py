"""A session's workspace on the executor: restore before, sync after turns.

:class:`WorkspaceSession` ties restore, sync and thread state together for
``executor.sessions``: ``open`` restores the version the run starts from
into its directory, ``sync`` stages the changes of a turn and returns the
events that report them (``workspace.synced``, and a ``warning`` when new
paths had to be skipped), ``save_thread`` keeps the Codex thread resumable
elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ccplane.v1 import events_pb2
from common.objectstore import ObjectStore
from common.objectstore.manifest import Manifest
from executor.workspace.restore import RestoreResult, load_manifest, restore
from executor.workspace.sync import SyncResult, sync
from executor.workspace.threads import restore_thread_state, save_thread_state

log = logging.getLogger(__name__)


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
